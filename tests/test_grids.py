"""Square and hexagonal grids, clipped to an area, and point counts per cell."""

from __future__ import annotations

import logging
import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from psa_geo.errors import PsaGeoError
from psa_geo.grids import count_points, default_cell_size, make_grid

SQRT3 = math.sqrt(3)


def layer(*geoms, crs="EPSG:27700") -> gpd.GeoSeries:
    return gpd.GeoSeries(list(geoms), crs=crs)


def points(xy, weights=None) -> gpd.GeoDataFrame:
    """Points (None for no location) with a ``weight`` column (1 each unless given)."""
    geoms = [shapely.Point(p) if p is not None else shapely.Point() for p in xy]
    w = np.ones(len(geoms), dtype="int64") if weights is None else weights
    return gpd.GeoDataFrame({"weight": w}, geometry=geoms, crs="EPSG:27700")


KM_SQUARE = layer(shapely.box(0, 0, 1000, 1000))
TRIANGLE = layer(shapely.Polygon([(0, 0), (1000, 0), (0, 1000)]))


# default_cell_size


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (1_000, 1_000, 50.0),  # 20 m, raised to the 50 m floor
        (4_000, 9_000, 80.0),  # short side 4 km: 80 m
        (12_340, 30_000, 250.0),  # 246.8 m rounds to 250 m
        (15_000, 12_000, 240.0),  # the shorter side decides
        (140_000, 100_000, 1000.0),  # 2 km, capped at 1 km
    ],
)
def test_default_cell_size_rule(width, height, expected):
    area = layer(shapely.box(200_000, 50_000, 200_000 + width, 50_000 + height))
    assert default_cell_size(area) == expected


# make_grid: squares


def test_one_km_square_at_100_m_is_exactly_100_cells():
    grid = make_grid(KM_SQUARE, cell_size=100)
    assert len(grid) == 100
    assert list(grid.columns) == ["cell_id", "row", "col", "x", "y", "area_km2", "geometry"]
    assert grid["cell_id"].tolist() == list(range(100))
    assert grid.crs == "EPSG:27700"
    np.testing.assert_allclose(grid["area_km2"], 0.01, rtol=1e-12)
    assert sorted(set(grid["row"])) == list(range(10)) == sorted(set(grid["col"]))
    first = grid.iloc[0]
    assert (first["row"], first["col"], first["x"], first["y"]) == (0, 0, 50.0, 50.0)
    assert first.geometry.equals(shapely.box(0, 0, 100, 100))
    # ordered by row (south to north), then col (west to east)
    assert list(zip(grid["row"], grid["col"], strict=True)) == sorted(
        zip(grid["row"], grid["col"], strict=True)
    )


def test_square_origin_is_snapped_to_the_national_grid():
    area = layer(shapely.box(230, 470, 1230, 1470))
    grid = make_grid(area, cell_size=100)
    assert len(grid) == 11 * 11
    np.testing.assert_allclose(np.mod(grid["x"], 100), 50)
    np.testing.assert_allclose(np.mod(grid["y"], 100), 50)
    assert grid["area_km2"].sum() == pytest.approx(1.0, rel=1e-12)
    corner = grid[(grid["row"] == 4) & (grid["col"] == 2)].iloc[0]
    assert corner["area_km2"] == pytest.approx(0.7 * 0.3 * 0.01)
    # the same cells whatever the area: a sub-area's grid is a subset of the larger one
    small = make_grid(layer(shapely.box(500, 500, 800, 800)), cell_size=100)
    big = grid.set_index(["row", "col"])
    for _, cell in small.iterrows():
        match = big.loc[(cell["row"], cell["col"])]
        assert (match["x"], match["y"]) == (cell["x"], cell["y"])


def test_triangle_clips_the_diagonal_cells_and_drops_corner_touches():
    grid = make_grid(TRIANGLE, cell_size=100)
    # 45 whole cells below the diagonal and 10 halved on it; cells meeting it at a corner go
    assert len(grid) == 55
    halves = grid[grid["row"] + grid["col"] == 9]
    assert len(halves) == 10
    np.testing.assert_allclose(halves["area_km2"], 0.005, rtol=1e-12)
    np.testing.assert_allclose(grid.loc[grid["row"] + grid["col"] < 9, "area_km2"], 0.01)
    assert grid["area_km2"].sum() == pytest.approx(0.5, rel=1e-12)
    assert shapely.covers(TRIANGLE.iloc[0].buffer(1e-6), grid.geometry.values).all()
    assert (grid.geom_type == "Polygon").all()
    # centres are unclipped
    assert set(halves["x"] + halves["y"]) == {1000.0}


def test_area_is_unioned_holes_and_gaps_are_left_out():
    ring = shapely.box(0, 0, 1000, 1000).difference(shapely.box(300, 300, 700, 700))
    island = shapely.box(2000, 0, 2200, 200)
    overlapping = shapely.box(0, 0, 300, 300)  # overlaps the ring: counted once
    area = gpd.GeoDataFrame(geometry=[ring, island, overlapping], crs=27700)
    before = area.copy()
    grid = make_grid(area, cell_size=100)
    union = shapely.union_all(area.geometry.values)
    assert grid["area_km2"].sum() == pytest.approx(union.area / 1e6, rel=1e-12)
    assert len(grid) == 100 - 16 + 4  # the hole 300–700 is free of 100 m cells
    assert not ((grid["x"] == 350) & (grid["y"] == 350)).any()
    assert ((grid["x"] == 2150) & (grid["y"] == 150)).any()
    assert area.equals(before)


@pytest.mark.parametrize("cell_size", [100, 70.5, 333])
def test_squares_tile_an_irregular_area(cell_size):
    area = layer(shapely.Point(500_123, 100_456).buffer(1_234, quad_segs=7))
    grid = make_grid(area, cell_size=cell_size)
    assert grid["area_km2"].sum() == pytest.approx(area.area.sum() / 1e6, rel=1e-9)
    assert shapely.union_all(grid.geometry.values).area == pytest.approx(grid.area.sum(), rel=1e-9)


# make_grid: hexagons


def test_hexagons_are_pointy_topped_with_centre_spacing_cell_size():
    grid = make_grid(layer(shapely.box(0, 0, 2000, 2000)), cell_size=100, shape="hex")
    whole = grid[np.isclose(grid["area_km2"], SQRT3 / 2 * 100**2 / 1e6)]
    assert len(whole) > 200
    cell = whole.iloc[len(whole) // 2]
    ys = shapely.get_coordinates(cell.geometry)[:, 1]
    assert ys.max() - cell["y"] == pytest.approx(100 / SQRT3)  # a vertex at the top
    xs = shapely.get_coordinates(cell.geometry)[:, 0]
    assert xs.max() - cell["x"] == pytest.approx(50)  # a flat side east
    row = whole[whole["row"] == cell["row"]].sort_values("col")
    np.testing.assert_allclose(np.diff(row["x"]), 100)
    rows = grid["y"] / (100 * SQRT3 / 2)
    np.testing.assert_allclose(rows, grid["row"], atol=1e-9)
    odd = grid["row"] % 2 == 1
    np.testing.assert_allclose(np.mod(grid.loc[odd, "x"], 100), 50)
    np.testing.assert_allclose(np.mod(grid.loc[~odd, "x"], 100), 0)


@pytest.mark.parametrize(
    "area",
    [
        KM_SQUARE,
        TRIANGLE,
        layer(
            shapely.Point(250_000, 60_000)
            .buffer(2_500)
            .difference(shapely.box(249_000, 59_000, 250_500, 60_200))
        ),
    ],
    ids=["square", "triangle", "disc-with-notch"],
)
def test_hexagons_tile_the_area(area):
    grid = make_grid(area, cell_size=100, shape="hex")
    total = area.area.sum() / 1e6
    assert grid["area_km2"].sum() == pytest.approx(total, rel=1e-6)
    # no overlaps: the union is as large as the sum
    assert shapely.union_all(grid.geometry.values).area / 1e6 == pytest.approx(total, rel=1e-6)
    assert grid["cell_id"].tolist() == list(range(len(grid)))
    assert not grid.duplicated(["row", "col"]).any()


@settings(max_examples=40, deadline=None)
@given(
    x0=st.floats(-5_000, 5_000),
    y0=st.floats(-5_000, 5_000),
    width=st.floats(10, 3_000),
    height=st.floats(10, 3_000),
    cell_size=st.floats(25, 400),
    shape=st.sampled_from(["square", "hex"]),
)
def test_any_box_is_covered_exactly_once(x0, y0, width, height, cell_size, shape):
    area = layer(shapely.Polygon([(x0, y0), (x0 + width, y0), (x0 + width / 3, y0 + height)]))
    grid = make_grid(area, cell_size=cell_size, shape=shape)
    assert grid["area_km2"].sum() == pytest.approx(area.area.sum() / 1e6, rel=1e-6)
    assert (grid["area_km2"] > 0).all()
    unclipped = max(cell_size**2, SQRT3 / 2 * cell_size**2) / 1e6
    assert (grid["area_km2"] <= unclipped * (1 + 1e-9)).all()


# make_grid: bad input


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shape": "triangle"}, "'shape' should be 'square' or 'hex'"),
        ({"cell_size": 0}, "'cell_size' should be a positive number"),
        ({"cell_size": -5}, "'cell_size' should be a positive number"),
        ({"cell_size": float("nan")}, "'cell_size' should be a positive number"),
        ({"cell_size": True}, "'cell_size' should be a positive number"),
        ({"cell_size": "100"}, "'cell_size' should be a positive number"),
        ({"cell_size": 0.01}, "choose a larger cell_size"),
    ],
)
def test_bad_options_are_named(kwargs, message):
    with pytest.raises(PsaGeoError, match=message):
        make_grid(KM_SQUARE, **kwargs)


def test_area_without_crs_or_in_another_crs():
    with pytest.raises(PsaGeoError, match=r"'area' has no CRS.*set_crs\(\)"):
        make_grid(gpd.GeoSeries([shapely.box(0, 0, 1, 1)]))
    lonlat = KM_SQUARE.set_crs(4326, allow_override=True)
    with pytest.raises(PsaGeoError, match=r"'area' is in WGS 84.*to_crs\('EPSG:27700'\)"):
        make_grid(lonlat)
    with pytest.raises(PsaGeoError, match=r"to_crs\('EPSG:27700'\)"):
        default_cell_size(lonlat)


def test_area_that_is_not_polygons_or_is_empty():
    with pytest.raises(PsaGeoError, match=r"'area' should hold polygons only.*LineString"):
        make_grid(layer(shapely.LineString([(0, 0), (1000, 1000)])))
    with pytest.raises(PsaGeoError, match="'area' has no geometry"):
        make_grid(layer(shapely.Polygon()), cell_size=100)
    with pytest.raises(PsaGeoError, match="'area' has no geometry"):
        make_grid(gpd.GeoSeries([], crs=27700), cell_size=100)
    with pytest.raises(PsaGeoError, match="'area' should be a GeoDataFrame or GeoSeries"):
        make_grid(shapely.box(0, 0, 1, 1))


# count_points


def test_point_on_a_shared_square_edge_is_counted_once():
    grid = make_grid(KM_SQUARE, cell_size=100)
    edge = [(100, 50), (300, 300), (1000 - 1e-9, 999.5)]  # an edge, a corner, just inside
    out = count_points(points(edge), grid)
    assert out["n"].sum() == 3
    cell = out.set_index(["row", "col"])["n"]
    assert cell[(0, 1)] == 1  # on x = 100: the cell to the east
    assert cell[(3, 3)] == 1  # on a corner: the cell to the north-east
    assert cell[(9, 9)] == 1


def test_point_on_a_shared_hexagon_edge_or_vertex_is_counted_once():
    grid = make_grid(layer(shapely.box(0, 0, 1000, 1000)), cell_size=100, shape="hex")
    r = 100 / SQRT3
    on_edge = (450.0, 2 * 100 * SQRT3 / 2)  # midway between centres (400, y) and (500, y)
    on_vertex = (400.0, 2 * 100 * SQRT3 / 2 + r)  # the top vertex of (400, y)
    out = count_points(points([on_edge, on_vertex]), grid)
    assert out["n"].sum() == 2
    assert (out["n"] <= 1).all()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shape=st.sampled_from(["square", "hex"]))
def test_each_point_goes_to_a_cell_that_covers_it(seed, shape):
    rng = np.random.default_rng(seed)
    grid = make_grid(KM_SQUARE, cell_size=100, shape=shape)
    plain = grid.drop(columns=["row", "col"])  # no lattice: the STRtree path
    plain.attrs = {}
    xy = rng.uniform(0, 1000, (200, 2))
    weights = rng.integers(1, 5, len(xy))
    # off the edges (almost surely), lattice arithmetic and polygons agree exactly
    lattice = count_points(points(xy.tolist(), weights), grid)
    generic = count_points(points(xy.tolist(), weights), plain)
    assert lattice["n"].sum() == weights.sum()
    assert lattice["n"].tolist() == generic["n"].tolist()
    # on edges and corners, each point is counted once, in one of the cells it touches
    edges = np.floor(xy[:50] / 50) * 50
    counted = count_points(points(edges.tolist(), weights[:50]), grid)
    assert counted["n"].sum() == weights[:50].sum()
    touching = gpd.sjoin(grid, points(edges.tolist(), weights[:50]), predicate="intersects")
    bound = touching.groupby(level=0)["weight"].sum().reindex(grid.index, fill_value=0)
    assert (counted["n"] <= bound).all()


def test_weights_sum_and_types():
    grid = make_grid(KM_SQUARE, cell_size=250)
    xy = [(10, 10), (20, 20), (600, 600), (990, 10)]
    ints = count_points(points(xy, np.array([1, 2, 3, 4])), grid)
    assert ints["n"].dtype == "int64"
    assert ints["n"].sum() == 10
    assert ints.set_index(["row", "col"])["n"][(0, 0)] == 3
    floats = count_points(points(xy, np.array([0.5, 0.25, 1.0, 2.0])), grid)
    assert floats["n"].dtype == "float64"
    assert floats["n"].sum() == pytest.approx(3.75)
    unweighted = count_points(points(xy, np.array([9, 9, 9, 9])), grid, weight=None)
    assert unweighted["n"].sum() == 4
    series = count_points(points(xy).geometry, grid)
    assert series["n"].sum() == 4
    assert (ints["n"] == 0).sum() == 16 - 3


def test_unlocated_and_outside_points_are_logged_not_raised(caplog):
    grid = make_grid(KM_SQUARE, cell_size=100)
    before = grid.copy()
    events = points([(50, 50), None, None, (5_000, 5_000), (-1, 500)])
    with caplog.at_level(logging.INFO, logger="psa_geo"):
        out = count_points(events, grid)
    assert out["n"].sum() == 1
    assert out.attrs["points_outside"] == 2
    assert "2 of 5 rows have no location" in caplog.text
    assert "2 of 3 located points (weight 2) fall outside every cell" in caplog.text
    assert "n" not in grid.columns
    assert grid.equals(before)


def test_count_points_bad_input():
    grid = make_grid(KM_SQUARE, cell_size=100)
    with pytest.raises(PsaGeoError, match="'points' has no rows"):
        count_points(points([]), grid)
    with pytest.raises(PsaGeoError, match="none has a location"):
        count_points(points([None, None]), grid)
    lines = gpd.GeoDataFrame(
        {"weight": [1]}, geometry=[shapely.LineString([(0, 0), (1, 1)])], crs=27700
    )
    with pytest.raises(PsaGeoError, match="'points' should hold Point geometries only"):
        count_points(lines, grid)
    with pytest.raises(PsaGeoError, match=r"no column 'count'.*weight=None"):
        count_points(points([(1, 1)]), grid, weight="count")
    with pytest.raises(PsaGeoError, match="non-negative weights"):
        count_points(points([(1, 1)], np.array([-1.0])), grid)
    with pytest.raises(PsaGeoError, match="non-negative weights"):
        count_points(points([(1, 1)], np.array([np.nan])), grid)
    with pytest.raises(PsaGeoError, match=r"'points' is in WGS 84.*to_crs"):
        count_points(points([(1, 1)]).set_crs(4326, allow_override=True), grid)
    with pytest.raises(PsaGeoError, match="'cells' has no CRS"):
        count_points(points([(1, 1)]), grid.set_crs(None, allow_override=True))
    with pytest.raises(PsaGeoError, match=r"none of the 2 located points .* do not overlap"):
        count_points(points([(5_000, 5_000), (6_000, 7_000)]), grid)
