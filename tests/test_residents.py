"""Residents spread from polygons to raster cells by area share."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from affine import Affine

from psa_geo.residents import spread_residents, subcells_per_side

RASTER = Affine(100, 0, 0, 0, -100, 1000)  # 10 x 10 cells of 100 m, from (0, 0) to (1000, 1000)


def polygons(geoms, population) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"population": population}, geometry=geoms, crs="EPSG:27700")


def exact_shares(geoms, population, transform, shape) -> np.ndarray:
    """Residents per cell by exact area share (polygon overlay), for comparison."""
    size = transform.a
    rows, cols = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    x0, y1 = transform.c + cols * size, transform.f - rows * size
    cells = shapely.box(x0, y1 - size, x0 + size, y1)
    out = np.zeros(shape)
    for geom, pop in zip(geoms, population, strict=True):
        out += pop * shapely.area(shapely.intersection(cells, geom)) / geom.area
    return out


def test_sub_cells_are_about_25_m():
    assert [subcells_per_side(s) for s in (20, 50, 100, 200, 250, 1000)] == [1, 2, 4, 8, 10, 16]


def test_cells_wholly_inside_a_polygon_share_its_residents_equally():
    geoms = [shapely.box(0, 0, 500, 1000), shapely.box(500, 0, 1000, 1000)]
    cells = spread_residents(polygons(geoms, [5000, 100]), RASTER, (10, 10))
    np.testing.assert_allclose(cells[:, :5], 100, rtol=1e-12)
    np.testing.assert_allclose(cells[:, 5:], 2, rtol=1e-12)


def test_shares_follow_the_area_to_the_resolution_of_the_sub_cells():
    """A triangle and the rest of the square, edges crossing cells at odd angles: every
    resident is placed, and each cell's residents are within the error of 25 m sub-cells of
    the exact area share. A cell crossed by an edge has at most 2k − 1 of its k² sub-cells
    cut (k = 4), each misplaced at most whole: an error of at most 7/16 of a cell's share
    of the denser polygon; over all cells, the misplaced sub-cells lie along the edges."""
    triangle = shapely.Polygon([(31, 22), (970, 313), (263, 990)])
    rest = shapely.box(0, 0, 1000, 1000).difference(triangle)
    population = [10_000, 2_000]
    cells = spread_residents(polygons([triangle, rest], population), RASTER, (10, 10))
    exact = exact_shares([triangle, rest], population, RASTER, (10, 10))
    assert cells.sum() == pytest.approx(12_000, rel=1e-12)
    densest = 10_000 / triangle.area * 100 * 100  # residents per whole cell of the triangle
    error = np.abs(cells - exact)
    assert error.max() <= 7 / 16 * densest
    assert error.sum() / 12_000 < 0.05
    assert error.sum() > 0  # the sub-cells are an approximation, not the overlay itself


def test_a_polygon_reaching_beyond_the_raster_is_shared_over_its_whole_area():
    wide = shapely.box(-1000, 0, 1000, 1000)  # half of it west of the raster
    cells = spread_residents(polygons([wide], [2000]), RASTER, (10, 10))
    assert cells.sum() == pytest.approx(1000, rel=1e-12)
    np.testing.assert_allclose(cells, 10, rtol=1e-12)


def test_a_polygon_smaller_than_a_sub_cell_is_placed_at_its_point():
    tiny = shapely.box(431, 652, 434, 655)  # holds no 25 m sub-cell centre
    big = shapely.box(0, 0, 1000, 400)
    cells = spread_residents(polygons([tiny, big], [7, 400]), RASTER, (10, 10))
    assert cells.sum() == pytest.approx(407, rel=1e-12)
    assert cells[3, 4] == pytest.approx(7)  # the cell of x 400-500, y 600-700


@pytest.mark.parametrize("kept", [True, False])
def test_large_rasters_are_done_in_bands(monkeypatch, kept):
    import psa_geo.residents as residents

    triangle = shapely.Polygon([(31, 22), (970, 313), (263, 990)])
    one = spread_residents(polygons([triangle], [1000]), RASTER, (10, 10))
    monkeypatch.setattr(residents, "BAND_SUBCELLS", 3 * 16 * 10)  # three cell rows a band
    monkeypatch.setattr(residents, "KEPT_SUBCELLS", 16 * 100 if kept else 3 * 16 * 10)
    banded = spread_residents(polygons([triangle], [1000]), RASTER, (10, 10))
    np.testing.assert_allclose(banded, one, rtol=1e-12)


def test_sub_cells_are_counted_and_shared_in_chunks_of_rows(monkeypatch):
    """Chunks of cell rows give the very same sums as a whole band at once."""
    import psa_geo.residents as residents

    shapes = [shapely.Polygon([(31, 22), (970, 313), (263, 990)]), shapely.box(0, 0, 400, 300)]
    frame = polygons(shapes, [1000, 333])
    whole = spread_residents(frame, RASTER, (10, 10))
    monkeypatch.setattr(residents, "CHUNK_SUBCELLS", 2 * 16 * 10)  # two cell rows a chunk
    np.testing.assert_array_equal(spread_residents(frame, RASTER, (10, 10)), whole)
    monkeypatch.setattr(residents, "CHUNK_SUBCELLS", 1)  # one cell row a chunk
    np.testing.assert_array_equal(spread_residents(frame, RASTER, (10, 10)), whole)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (
            gpd.GeoDataFrame({"people": [1]}, geometry=[shapely.box(0, 0, 9, 9)], crs=27700),
            "'population' should have a 'population' column",
        ),
        (
            polygons([shapely.box(0, 0, 9, 9)], ["12"]),
            "'population' column 'population' should be numeric",
        ),
        (
            polygons([shapely.Point(5, 5)], [3]),
            "'population' should hold polygons only, but 1 rows are not",
        ),
        (
            polygons([shapely.box(0, 0, 9, 9), None], [3, 4]),
            "'population' has 1 rows with residents but no geometry",
        ),
        (polygons([], []), "'population' has no rows"),
        (
            polygons([shapely.box(0, 0, 9, 9)], [0]),
            "'population' has no residents within the bandwidth",
        ),
    ],
    ids=["no-column", "text", "points", "lost-residents", "no-rows", "no-residents"],
)
def test_bad_population_is_one_clear_error(frame, message):
    from psa_geo.errors import PsaGeoError

    with pytest.raises(PsaGeoError, match=message):
        spread_residents(frame, RASTER, (10, 10))
