"""Quartic kernel density as a raster: brute force, the grid form, mass, bandwidth rule, the
risk-adjusted (dual) density, bad input."""

from __future__ import annotations

import logging
import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from affine import Affine

import psa_geo
from psa_geo.errors import PsaGeoError
from psa_geo.grids import count_points, make_grid
from psa_geo.kde import QUARTIC_FACTOR, bandwidth_rule, kde

AREA = gpd.GeoSeries([shapely.box(0, 0, 2000, 2000)], crs="EPSG:27700")


def points(xy, weights=None) -> gpd.GeoDataFrame:
    """Points (None for no location) with a ``weight`` column (1 each unless given)."""
    geoms = [shapely.Point(p) if p is not None else shapely.Point() for p in xy]
    w = np.ones(len(geoms), dtype="int64") if weights is None else weights
    return gpd.GeoDataFrame({"weight": w}, geometry=geoms, crs="EPSG:27700")


def lsoas(population, at=(0, 0)) -> gpd.GeoDataFrame:
    """One 2 km square per population figure, side by side from ``at``."""
    x, y = at
    squares = [
        shapely.box(x + 2000 * i, y, x + 2000 * (i + 1), y + 2000) for i in range(len(population))
    ]
    return gpd.GeoDataFrame({"population": population}, geometry=squares, crs="EPSG:27700")


def brute_force(xy: np.ndarray, w: np.ndarray, cx: np.ndarray, cy: np.ndarray, h: float):
    """Σ w·3/(πh²)·(1 − d²/h²)² over points within h of each centre, per km²."""
    d2 = (cx[:, None] - xy[None, :, 0]) ** 2 + (cy[:, None] - xy[None, :, 1]) ** 2
    k = np.where(d2 < h * h, 3 / (math.pi * h * h) * (1 - d2 / (h * h)) ** 2, 0.0)
    return (k * w[None, :]).sum(axis=1) * 1e6


def test_matches_brute_force_for_points_at_cell_centres():
    rng = np.random.default_rng(42)
    # cell centres, some outside the area (they still add density near its edge)
    xy = (rng.integers(-4, 24, (60, 2)) + 0.5) * 100.0
    w = rng.integers(1, 4, len(xy))
    cells = kde(points(xy.tolist(), w), area=AREA, cell_size=100, bandwidth=430.0).to_cells()
    assert len(cells) == 400
    expected = brute_force(xy, w.astype(float), cells["x"].to_numpy(), cells["y"].to_numpy(), 430)
    assert expected.max() > 0 and (expected == 0).any()
    np.testing.assert_allclose(cells["kde"], expected, rtol=1e-9, atol=1e-12 * expected.max())
    assert cells.attrs["kde"] == {"bandwidth": 430.0, "bandwidth_rule": "given", "cell_size": 100}


def test_columns_and_counts_follow_the_grid():
    xy = [(50, 50), (50, 50), (1950, 1950), (5000, 5000), None]
    cells = kde(points(xy), area=AREA, cell_size=100, bandwidth=300).to_cells()
    grid = make_grid(AREA, cell_size=100)
    assert list(cells.columns) == [*grid.columns, "n", "kde"]
    assert cells.drop(columns=["n", "kde"]).equals(grid)
    assert cells["n"].dtype == "int64"
    assert cells["n"].sum() == 3  # the point at (5000, 5000) is in no grid cell
    assert cells.set_index(["row", "col"])["n"][(0, 0)] == 2
    assert cells["n"].tolist() == count_points(points(xy), grid)["n"].tolist()


def test_density_integrates_to_the_total_weight():
    rng = np.random.default_rng(7)
    xy = rng.normal(2500, 300, (500, 2))
    w = rng.uniform(0.5, 2.0, len(xy))
    area = gpd.GeoSeries([shapely.box(0, 0, 5000, 5000)], crs=27700)
    surface = kde(points(xy.tolist(), w), area=area, cell_size=50, bandwidth=1000)
    assert surface.total() == pytest.approx(w.sum(), rel=1e-3)
    cells = surface.to_cells()
    mass = float((cells["kde"] * cells["area_km2"]).sum())
    assert mass == pytest.approx(w.sum(), rel=1e-3)
    assert cells["n"].sum() == pytest.approx(w.sum())
    assert (cells["kde"] >= 0).all()


def test_default_area_is_the_hull_buffered_by_the_bandwidth():
    rng = np.random.default_rng(3)
    xy = rng.normal([250_000, 60_000], 400, (300, 2))
    cells = kde(points(xy.tolist()), cell_size=50, bandwidth=600).to_cells()
    hull = shapely.convex_hull(shapely.multipoints(xy)).buffer(600)
    assert cells.union_all().area == pytest.approx(hull.area, rel=1e-9)
    mass = float((cells["kde"] * cells["area_km2"]).sum())
    assert mass == pytest.approx(300, rel=5e-3)


def test_bandwidth_rule_on_a_known_sample():
    # an 8 x 8 lattice 100 m apart: sd = sqrt(100² · 5.25 · 64/63), IQR/1.349 = 400/1.349
    xs, ys = np.meshgrid(np.arange(8) * 100.0, np.arange(8) * 100.0)
    xy = np.column_stack([xs.ravel(), ys.ravel()])
    sd = math.sqrt(100**2 * 5.25 * 64 / 63)
    expected = QUARTIC_FACTOR * sd * 64 ** (-1 / 6)
    assert round(QUARTIC_FACTOR, 4) == 2.7792
    assert bandwidth_rule(xy) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(320.91, abs=0.01)
    surface = kde(points(xy.tolist()), area=AREA, cell_size=20)
    assert surface.bandwidth == pytest.approx(expected, rel=1e-12)
    assert surface.bandwidth_rule == "normal reference (quartic)"
    # weights act as repeated points
    doubled = np.vstack([xy, xy[:10]])
    weights = np.r_[np.full(10, 2.0), np.ones(54)]
    assert bandwidth_rule(xy, weights) == pytest.approx(bandwidth_rule(doubled), rel=1e-12)


def test_bandwidth_rule_resists_outliers_and_has_a_floor():
    rng = np.random.default_rng(11)
    xy = rng.normal(0, 100, (1000, 2))
    outliers = np.vstack([xy, [[50_000, 50_000]] * 5])
    # the IQR-based spread ignores the 5 far points; the sd would be ~30 times larger
    assert bandwidth_rule(outliers) == pytest.approx(bandwidth_rule(xy), rel=0.05)
    tight = points((rng.normal(0, 10, (50, 2)) + 1000).tolist())
    surface = kde(tight, area=AREA, cell_size=100)
    assert surface.bandwidth == 200.0
    assert surface.bandwidth_rule == "2-cell floor"


def test_only_points_inside_the_area_set_the_bandwidth(caplog):
    rng = np.random.default_rng(5)
    inside = rng.normal(1000, 150, (400, 2))
    far = rng.normal(100_000, 20_000, (400, 2))
    both = points(np.vstack([inside, far]).tolist())
    with caplog.at_level(logging.INFO, logger="psa_geo"):
        surface = kde(both, area=AREA, cell_size=50)
    assert surface.bandwidth == pytest.approx(bandwidth_rule(inside), rel=1e-12)
    assert "800 points (400 in the area)" in caplog.text


def test_inputs_are_not_modified():
    events = points([(500, 500), (700, 900), None])
    area = gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.box(0, 0, 2000, 2000)], crs=27700)
    before_events, before_area = events.copy(), area.copy()
    kde(events, area=area, cell_size=100, bandwidth=300)
    assert events.equals(before_events)
    assert area.equals(before_area)


@pytest.mark.parametrize(
    ("events", "kwargs", "message"),
    [
        (points([]), {}, "'points' has no rows; has a previous step"),
        (points([None, None]), {}, "'points' has 2 rows but none has a location"),
        (
            gpd.GeoDataFrame({"weight": [1]}, geometry=[shapely.box(0, 0, 1, 1)], crs="EPSG:27700"),
            {},
            "'points' should hold Point geometries only, but 1 are Polygon",
        ),
        (
            points([(1, 1)]).set_crs(None, allow_override=True),
            {},
            r"'points' has no CRS.*set_crs\(\)",
        ),
        (
            points([(1, 1)]).set_crs(4326, allow_override=True),
            {},
            r"'points' is in WGS 84.*points.to_crs\('EPSG:27700'\)",
        ),
        (
            points([(1, 1)]),
            {"area": AREA.set_crs(3857, allow_override=True)},
            r"'area' is in WGS 84 / Pseudo-Mercator.*area.to_crs\('EPSG:27700'\)",
        ),
        (points([(5000, 5000)]), {"area": AREA}, "none of the 1 located 'points' lies inside"),
        (points([(1, 1)]), {"area": AREA, "bandwidth": 0}, "'bandwidth' should be a positive"),
        (points([(1, 1)]), {"area": AREA, "cell_size": -1}, "'cell_size' should be a positive"),
        (points([(1, 1)], np.array([0])), {"area": AREA}, "weights .* sum to 0"),
        (points([(1, 1), (1, 1)]), {}, "all at one place.*pass area= or bandwidth="),
        (points([(1, 1)]), {"weight": "count"}, "no column 'count'"),
        (
            points([(1, 1)]),
            {"area": AREA, "population": AREA.to_frame("geometry")},
            "'population' should have a 'population' column",
        ),
        (
            points([(1, 1)]),
            {"area": AREA, "population": lsoas([-5])},
            "'population' column 'population' should hold finite, non-negative",
        ),
        (
            points([(1, 1)]),
            {"area": AREA, "population": lsoas([5], at=(90_000, 90_000))},
            "'population' has no residents within the bandwidth of 'area'",
        ),
        (
            points([(1, 1)]),
            {"area": AREA, "population": lsoas([5]).to_crs(4326)},
            r"'population' is in WGS 84.*population.to_crs\('EPSG:27700'\)",
        ),
        (
            points([(1, 1)]),
            {"area": AREA, "population": lsoas([5]), "min_residents": 0},
            "'min_residents' should be a positive number, got 0",
        ),
    ],
    ids=[
        "no-rows",
        "all-empty",
        "polygons",
        "no-crs",
        "lon-lat",
        "area-crs",
        "no-overlap",
        "bandwidth",
        "cell-size",
        "zero-weight",
        "one-place",
        "no-weight-column",
        "no-population-column",
        "negative-population",
        "population-elsewhere",
        "population-crs",
        "min-residents",
    ],
)
def test_bad_input_is_one_clear_error(events, kwargs, message):
    with pytest.raises(PsaGeoError, match=message):
        kde(events, **kwargs)


@pytest.mark.data
def test_plymouth_peak_is_in_the_city_centre(areas, events_2019, caplog):
    events, _ = events_2019
    csp = psa_geo.dissolve_areas(areas, level="csp")
    plymouth = csp[csp["area_name"] == "Plymouth"]
    assert len(plymouth) == 1
    with caplog.at_level(logging.INFO, logger="psa_geo"):
        cells = kde(events, area=plymouth, cell_size=100).to_cells()
    # the points in the area (which set the bandwidth), found through the raster, are
    # exactly those the polygon holds
    xy = shapely.get_coordinates(events.geometry[~events.geometry.is_empty].to_numpy())
    held = int(shapely.intersects_xy(plymouth.union_all(), xy[:, 0], xy[:, 1]).sum())
    assert f"{len(xy)} points ({held} in the area)" in caplog.text
    peak = cells.loc[cells["kde"].idxmax()]
    assert math.hypot(peak["x"] - 247_700, peak["y"] - 54_500) < 1_000
    assert cells["n"].sum() > 20_000  # Plymouth's located 2019 events


# An L-shaped area whose edges miss the 50 m lattice lines, so "the area meets the cell"
# has one answer (no cell merely shares an edge with it).
L_AREA = gpd.GeoSeries(
    [shapely.Polygon([(13, 7), (1987, 7), (1987, 893), (893, 893), (893, 1793), (13, 1793)])],
    crs="EPSG:27700",
)


def test_raster_equals_the_direct_kernel_sum_over_binned_points():
    rng = np.random.default_rng(17)
    xy = rng.uniform(-300, 2300, (150, 2))  # some outside the area, within h of it
    w = rng.integers(1, 5, len(xy))
    size, h = 50.0, 370.0
    surface = kde(points(xy.tolist(), w), area=L_AREA, cell_size=size, bandwidth=h)
    # the raster: the cells of the 50 m lattice over the area's bounding box, north up
    assert surface.transform == Affine(size, 0, 0, 0, -size, 1800)
    assert surface.shape == (36, 40)
    # binned by hand: each point moves to the centre of its lattice cell
    binned = (np.floor(xy / size) + 0.5) * size
    cx = (np.arange(40) + 0.5) * size
    cy = 1800 - (np.arange(36) + 0.5) * size
    expected = np.zeros((36, 40))
    for (px, py), weight in zip(binned, w, strict=True):
        d2 = (cx[None, :] - px) ** 2 + (cy[:, None] - py) ** 2
        expected += weight * np.where(d2 < h * h, 3 / (math.pi * h * h) * (1 - d2 / h**2) ** 2, 0)
    expected *= 1e6
    np.testing.assert_allclose(surface.values, expected, rtol=1e-9, atol=1e-12 * expected.max())
    # counts: the points' weights per cell; mask: the cells the area meets
    counts = np.zeros((36, 40), dtype="int64")
    for (px, py), weight in zip(xy, w, strict=True):
        i, j = 35 - math.floor(py / size), math.floor(px / size)
        if 0 <= i < 36 and 0 <= j < 40:
            counts[i, j] += weight
    assert surface.counts.dtype == "int64"
    np.testing.assert_array_equal(surface.counts, counts)
    cells = shapely.box(cx[None, :] - 25, cy[:, None] - 25, cx[None, :] + 25, cy[:, None] + 25)
    meets = shapely.area(shapely.intersection(cells, L_AREA.iloc[0])) > 0
    np.testing.assert_array_equal(surface.mask, meets)
    # the grid form holds the same numbers, cell for cell
    grid = surface.to_cells()
    assert len(grid) == meets.sum()
    at = (35 - grid["row"].to_numpy(), grid["col"].to_numpy())
    np.testing.assert_array_equal(grid["kde"], surface.values[at])
    np.testing.assert_array_equal(grid["n"], counts[at])


def test_surface_describes_itself():
    surface = kde(points([(510, 520), (1500, 300)]), area=L_AREA, cell_size=50, bandwidth=200)
    assert surface.crs == "EPSG:27700" and surface.units == "events per km²"
    assert surface.bounds == (0, 0, 2000, 1800)
    assert surface.lattice_index() == (35, 0)
    x, y = surface.centres()
    assert x[0] == 25 and y[0] == 1775 and len(x) == 40 and len(y) == 36
    assert surface.cell_area_km2 == 0.0025
    assert surface.total() == pytest.approx(2, rel=1e-2)  # both kernels lie in the area
    assert surface.per_1000 is None
    with pytest.raises(PsaGeoError, match=r"no risk-adjusted density.*population="):
        surface.risk_adjusted()
    far = gpd.GeoSeries([shapely.box(5000, 5000, 6000, 6000)], crs=27700)
    with pytest.raises(PsaGeoError, match="'area' reaches beyond the surface's extent"):
        surface.to_cells(far)


def test_risk_adjusted_density_by_hand():
    """One LSOA of 40,000 residents over a 2 × 2 km square and a nearly empty one beside it:
    cells whose kernel holds fewer than 1,000 residents have no rate; elsewhere the rate is
    1,000 × the events' density over the residents' density, each computed here directly."""
    lsoas = gpd.GeoDataFrame(
        {"population": [40_000, 10]},
        geometry=[shapely.box(0, 0, 2000, 2000), shapely.box(2000, 0, 4000, 2000)],
        crs=27700,
    )
    area = gpd.GeoSeries([shapely.box(0, 0, 4000, 2000)], crs=27700)
    xy = [(700, 800), (720, 810), (1300, 1250), (2500, 500)]
    h = 400.0
    surface = kde(points(xy), area=area, cell_size=100, bandwidth=h, population=lsoas)
    # residents by area share: 100 per cell in the west, 0.025 in the east
    assert surface.residents.sum() == pytest.approx(40_010, rel=1e-12)
    np.testing.assert_allclose(surface.residents[:, :20], 100, rtol=1e-12)
    np.testing.assert_allclose(surface.residents[:, 20:], 0.025, rtol=1e-12)
    x, y = surface.centres()
    cx, cy = np.meshgrid(x, y)
    offsets = np.arange(-4, 5) * 100.0
    residents = np.zeros(surface.shape)
    for dx in offsets:  # the residents' kernel sum, cell centre to cell centre
        for dy in offsets:
            d2 = dx * dx + dy * dy
            k = 3 / (math.pi * h * h) * (1 - d2 / h**2) ** 2 if d2 < h * h else 0.0
            px, py = cx + dx, cy + dy  # a cell centre: in the west, the east or neither
            north_south = (py > 0) & (py < 2000)
            west, east = (
                north_south & (px > 0) & (px < 2000),
                north_south & (px > 2000) & (px < 4000),
            )
            residents += k * (100.0 * west + 0.025 * east)
    in_kernel = residents * math.pi * h * h
    np.testing.assert_allclose(surface.residents_in_kernel, in_kernel, rtol=1e-9)
    shown = in_kernel >= 1000
    assert shown.any() and (~shown).any()
    assert np.isnan(surface.per_1000[~shown]).all()
    expected = 1000 * surface.values[shown] / (residents[shown] * 1e6)
    np.testing.assert_allclose(surface.per_1000[shown], expected, rtol=1e-9)
    # a stricter threshold hides more cells; the risk surface carries the rates
    strict = kde(points(xy), area=area, cell_size=100, bandwidth=h, population=lsoas,
                 min_residents=5000)  # fmt: skip
    assert np.isfinite(strict.per_1000).sum() < shown.sum()
    risk = surface.risk_adjusted()
    assert risk.units == "crimes per 1,000 residents (smoothed)"
    np.testing.assert_array_equal(risk.values, surface.per_1000)


def uniform_in(polygon: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniformly distributed in ``polygon`` (by rejection)."""
    x0, y0, x1, y1 = polygon.bounds
    shapely.prepare(polygon)
    found = np.empty((0, 2))
    while len(found) < n:
        xy = rng.uniform([x0, y0], [x1, y1], (2 * (n - len(found)) + 16, 2))
        found = np.vstack([found, xy[shapely.contains_xy(polygon, xy[:, 0], xy[:, 1])]])
    return found[:n]


@pytest.mark.data
def test_dual_kde_of_points_drawn_as_residents_is_flat(areas):
    """One point per resident of each Plymouth LSOA, uniform within it: the events per
    1,000 residents should be 1,000 everywhere. Away from the edge (cells at least one
    bandwidth inside it), each cell's kernel holds n ≥ a few thousand points, whose count
    varies by sd √(1.8/n) relative (9/5 = πh²∫K² for the quartic kernel); the tolerance is 5
    such sd at the sparsest cell, plus 1% for the area shares measured on 25 m sub-cells."""
    plymouth = areas[areas["csp_name"] == "Plymouth"]
    rng = np.random.default_rng(2019)
    people = zip(plymouth.geometry, plymouth["population"], strict=True)
    xy = np.vstack([uniform_in(lsoa, int(n), rng) for lsoa, n in people])
    assert len(xy) == plymouth["population"].sum()
    h = 1500.0
    residents = gpd.GeoSeries(shapely.points(xy), crs="EPSG:27700")
    surface = kde(residents, area=plymouth, cell_size=100, bandwidth=h, population=plymouth)
    x, y = surface.centres()
    cx, cy = np.meshgrid(x, y)
    union = plymouth.union_all()
    deep = surface.mask & (shapely.distance(union.boundary, shapely.points(cx, cy)) >= h)
    deep &= shapely.contains_xy(union, cx, cy)
    assert deep.sum() > 500
    n_min = float(surface.residents_in_kernel[deep].min())
    tolerance = 5 * math.sqrt(1.8 / n_min) + 0.01
    assert tolerance < 0.15
    ratio = surface.per_1000[deep] / 1000
    assert np.abs(ratio - 1).max() <= tolerance
    assert np.median(ratio) == pytest.approx(1, abs=0.01)
