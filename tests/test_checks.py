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


def test_a_kept_union_is_only_given_for_the_same_polygons():
    """Unions are kept (a hotspot study unions its outline per group): the same polygons in
    the same order get the same one back; moved or reordered polygons get their own."""
    polygons = CASES["gap"]
    first = area_union(gpd.GeoSeries(polygons, crs="EPSG:27700"), "area")
    again = area_union(gpd.GeoSeries(polygons, crs="EPSG:27700"), "area")
    assert again is first
    moved = [shapely.affinity.translate(p, 5, 0) for p in polygons]
    union = area_union(gpd.GeoSeries(moved, crs="EPSG:27700"), "area")
    assert union.equals(shapely.union_all(moved)) and not union.equals(first)
    reordered = area_union(gpd.GeoSeries(polygons[::-1], crs="EPSG:27700"), "area")
    assert reordered is not first and reordered.equals(first)
