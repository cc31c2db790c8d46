"""The shared input checks: the area union's fast path agrees with the general union."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from psa_geo.checks import area_union

CASES = {
    "coverage": [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)],
    "overlap": [shapely.box(0, 0, 2, 2), shapely.box(1, 1, 3, 3)],
    "gap": [shapely.box(0, 0, 1, 1), shapely.box(1.1, 0, 2, 1)],
    "badly-noded": [
        shapely.box(0, 0, 1, 1),
        shapely.Polygon([(1, 0), (2, 0), (2, 1), (1, 1), (1, 0.5)]),
    ],
    "one": [shapely.box(0, 0, 1, 1)],
}


@pytest.mark.parametrize("polygons", list(CASES.values()), ids=list(CASES))
def test_area_union_equals_the_general_union(polygons):
    union = area_union(gpd.GeoSeries(polygons, crs="EPSG:27700"), "area")
    expected = shapely.union_all(polygons)
    assert union.is_valid and union.equals(expected)
    assert union.area == pytest.approx(expected.area, rel=1e-12)


@pytest.mark.data
def test_lsoas_union_by_coverage(areas):
    """The LSOAs form a coverage: their union (by the fast path) equals the general one."""
    union = area_union(areas, "area")
    assert union.symmetric_difference(areas.union_all()).area < 1e-3
