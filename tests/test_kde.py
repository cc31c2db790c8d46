"""Quartic kernel density on a square grid: brute force, mass, bandwidth rule, bad input."""

from __future__ import annotations

import logging
import math

import geopandas as gpd
import numpy as np
import pytest
import shapely

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
    cells = kde(points(xy.tolist(), w), area=AREA, cell_size=100, bandwidth=430.0)
    assert len(cells) == 400
    expected = brute_force(xy, w.astype(float), cells["x"].to_numpy(), cells["y"].to_numpy(), 430)
    assert expected.max() > 0 and (expected == 0).any()
    np.testing.assert_allclose(cells["kde"], expected, rtol=1e-9, atol=1e-12 * expected.max())
    assert cells.attrs["kde"] == {"bandwidth": 430.0, "bandwidth_rule": "given", "cell_size": 100}


def test_columns_and_counts_follow_the_grid():
    xy = [(50, 50), (50, 50), (1950, 1950), (5000, 5000), None]
    cells = kde(points(xy), area=AREA, cell_size=100, bandwidth=300)
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
    cells = kde(points(xy.tolist(), w), area=area, cell_size=50, bandwidth=1000)
    mass = float((cells["kde"] * cells["area_km2"]).sum())
    assert mass == pytest.approx(w.sum(), rel=1e-3)
    assert cells["n"].sum() == pytest.approx(w.sum())
    assert (cells["kde"] >= 0).all()


def test_default_area_is_the_hull_buffered_by_the_bandwidth():
    rng = np.random.default_rng(3)
    xy = rng.normal([250_000, 60_000], 400, (300, 2))
    cells = kde(points(xy.tolist()), cell_size=50, bandwidth=600)
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
    cells = kde(points(xy.tolist()), area=AREA, cell_size=20)
    assert cells.attrs["kde"]["bandwidth"] == pytest.approx(expected, rel=1e-12)
    assert cells.attrs["kde"]["bandwidth_rule"] == "normal reference (quartic)"
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
    cells = kde(tight, area=AREA, cell_size=100)
    assert cells.attrs["kde"]["bandwidth"] == 200.0
    assert cells.attrs["kde"]["bandwidth_rule"] == "2-cell floor"


def test_only_points_inside_the_area_set_the_bandwidth(caplog):
    rng = np.random.default_rng(5)
    inside = rng.normal(1000, 150, (400, 2))
    far = rng.normal(100_000, 20_000, (400, 2))
    both = points(np.vstack([inside, far]).tolist())
    with caplog.at_level(logging.INFO, logger="psa_geo"):
        cells = kde(both, area=AREA, cell_size=50)
    assert cells.attrs["kde"]["bandwidth"] == pytest.approx(bandwidth_rule(inside), rel=1e-12)
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
    ],
)
def test_bad_input_is_one_clear_error(events, kwargs, message):
    with pytest.raises(PsaGeoError, match=message):
        kde(events, **kwargs)


@pytest.mark.data
def test_plymouth_peak_is_in_the_city_centre(areas, events_2019):
    events, _ = events_2019
    csp = psa_geo.dissolve_areas(areas, level="csp")
    plymouth = csp[csp["area_name"] == "Plymouth"]
    assert len(plymouth) == 1
    cells = kde(events, area=plymouth, cell_size=100)
    peak = cells.loc[cells["kde"].idxmax()]
    assert math.hypot(peak["x"] - 247_700, peak["y"] - 54_500) < 1_000
    assert cells["n"].sum() > 20_000  # Plymouth's located 2019 events
