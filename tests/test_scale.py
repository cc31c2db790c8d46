"""The hotspot scale from the data: Moran's I by FFT against esda, synthetic patterns with a
known clustering distance, the defaults, and the town centres of Cornwall on real data."""

from __future__ import annotations

import math
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.spatial import cKDTree

import psa_geo
from psa_geo.scale import BAND_TOLERANCE, morans_i_by_band

SIDE = 20_000.0
ORIGIN = (200_000.0, 50_000.0)
R90_PER_SIGMA = math.sqrt(2 * math.log(10))
"""A 2-D Gaussian cluster of sd σ per axis holds 90% of its events within 2.146σ."""


def square_area(side: float = SIDE) -> gpd.GeoSeries:
    x0, y0 = ORIGIN
    return gpd.GeoSeries([shapely.box(x0, y0, x0 + side, y0 + side)], crs="EPSG:27700")


def as_points(x: np.ndarray, y: np.ndarray) -> gpd.GeoSeries:
    return gpd.GeoSeries(shapely.points(x + ORIGIN[0], y + ORIGIN[1]), crs="EPSG:27700")


def thomas_pattern(r90: float, seed: int, clusters: int = 25, per_cluster: int = 80,
                   background: int = 1000) -> gpd.GeoSeries:  # fmt: skip
    """Gaussian clusters whose 90% radius is ``r90``, at random centres in a 20 km square,
    over uniform background noise (a Thomas cluster process plus noise)."""
    rng = np.random.default_rng(seed)
    sigma = r90 / R90_PER_SIGMA
    cx, cy = rng.uniform(0, SIDE, (2, clusters, 1))
    x = (cx + rng.normal(0, sigma, (clusters, per_cluster))).ravel()
    y = (cy + rng.normal(0, sigma, (clusters, per_cluster))).ravel()
    x = np.concatenate([x, rng.uniform(0, SIDE, background)])
    y = np.concatenate([y, rng.uniform(0, SIDE, background)])
    keep = (x > 0) & (x < SIDE) & (y > 0) & (y < SIDE)
    return as_points(x[keep], y[keep])


# --- Moran's I by FFT ----------------------------------------------------------------------


def esda_moran(values: np.ndarray, mask: np.ndarray, size: float, band: float):
    """esda's Moran on the masked cells with binary distance-band weights (same slack)."""
    import esda
    import libpysal

    rows, cols = np.nonzero(mask)
    xy = np.column_stack([cols * size, rows * size])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = libpysal.weights.DistanceBand(
            xy, threshold=band * (1 + BAND_TOLERANCE), binary=True, silence_warnings=True
        )
        return esda.Moran(values[rows, cols], w, transformation="B", permutations=0)


def test_fft_moran_matches_esda_on_an_irregular_grid():
    rng = np.random.default_rng(11)
    mask = np.ones((16, 19), dtype=bool)
    mask[:5, :6] = False  # a bay in one corner
    mask[9:11, 12:15] = False  # and a lake
    mask[15, 10:] = False
    counts = rng.poisson(1.0, mask.shape).astype(float)
    counts[6:9, 3:7] += rng.poisson(6.0, (3, 4))
    counts[~mask] = 99  # ignored
    bands = np.array([100.0, 150.0, 230.0, 330.0, 470.0])
    profile = morans_i_by_band(counts, mask, 100.0, bands)
    for k, band in enumerate(bands):
        reference = esda_moran(counts, mask, 100.0, band)
        assert profile.i[k] == pytest.approx(reference.I, abs=1e-6)
        assert profile.expected == pytest.approx(reference.EI, abs=1e-9)
        assert profile.variance[k] == pytest.approx(reference.VI_norm, abs=1e-6)
        assert profile.z[k] == pytest.approx(reference.z_norm, abs=1e-6)
    assert profile.cells == mask.sum()


def test_moran_rejects_counts_without_variation():
    with pytest.raises(psa_geo.PsaGeoError, match="same count"):
        morans_i_by_band(np.ones((5, 5)), np.ones((5, 5), bool), 100.0, np.array([150.0]))


# --- the rule on synthetic patterns --------------------------------------------------------


@pytest.mark.parametrize("r90", [300.0, 800.0])
def test_band_recovers_the_radius_holding_90_percent_of_a_cluster(r90):
    """Moran's z over a disk band d peaks where the last ring's pairs stop adding signal
    faster than noise: C(d)·d² = ∫₀ᵈ C(h)·h dh for the counts' covariance C. For Gaussian
    clusters (C ∝ exp(−h²/4σ²)) that is d = 2.24σ, within 5% of the 90% radius 2.15σ: a
    band that reaches a whole cluster from its centre, as Gi* needs."""
    for seed in (1, 2):
        scale = psa_geo.choose_scale(thomas_pattern(r90, seed), square_area())
        assert scale.rule.startswith("first peak of Moran's I z at")
        assert abs(scale.band / r90 - 1) <= 0.25, (r90, seed, scale)
        assert scale.cell_size % 10 == 0
        assert math.sqrt(2) * scale.cell_size <= scale.band <= 4 * scale.cell_size
        assert len(scale.bands) == len(scale.z_scores) <= 20
        peak = scale.bands.index(scale.band)
        assert scale.z_scores[peak] == max(scale.z_scores[max(peak - 2, 0) : peak + 3])


def test_complete_spatial_randomness_has_no_peak():
    """No band stands out, so the band is the mean distance from each place to its k-th
    nearest other place, k = 5% of the places capped at 30 (computed here directly)."""
    rng = np.random.default_rng(5)
    for _ in range(3):
        x, y = rng.uniform(0, SIDE, (2, 3000))
        scale = psa_geo.choose_scale(as_points(x, y), square_area())
        assert scale.rule == "no peak: mean distance to 30 nearest places"
        tree = cKDTree(np.column_stack([x, y]))
        expected = tree.query(tree.data, k=31)[0][:, 30].mean()
        assert scale.band == pytest.approx(round(expected / 10) * 10)
        assert "no clear peak" in scale.reason


def test_too_few_events_get_the_default_grid():
    rng = np.random.default_rng(3)
    area = square_area(5000.0)
    outside = rng.uniform(6000, 9000, (2, 100))  # left out: beyond the area
    x, y = np.concatenate([rng.uniform(0, 5000, (2, 45)), outside], axis=1)
    scale = psa_geo.choose_scale(as_points(x, y), area)
    default = psa_geo.default_cell_size(area)
    assert scale.cell_size == default == 100.0
    assert scale.band == 150.0  # √2 × 100 m, rounded up to 10 m: the 8 cells around
    assert scale.rule == "too few events: default cells, 8-neighbour band"
    assert scale.reason.startswith("Cells of 100 m and a 150 m neighbourhood: 45 events")
    assert scale.bands == () and scale.search_cell is None
    assert (scale.events, scale.locations) == (45, 45)


def test_repeated_events_at_one_place_count_once_as_a_place():
    """police.uk snaps events to shared points: 200 events at 50 places are too few places."""
    rng = np.random.default_rng(4)
    x, y = rng.uniform(0, 5000, (2, 50))
    scale = psa_geo.choose_scale(as_points(np.repeat(x, 4), np.repeat(y, 4)), square_area(5000))
    assert scale.rule.startswith("too few events")
    assert (scale.events, scale.locations) == (200, 50)


# --- overrides, metadata and bad input ----------------------------------------------------


def test_a_given_cell_size_is_kept_and_the_band_chosen_for_it():
    points = thomas_pattern(800.0, 1)
    scale = psa_geo.choose_scale(points, square_area(), cell_size=250)
    assert scale.cell_size == 250.0
    assert scale.search_cell == 250.0
    assert scale.bands[0] >= 500.0  # at least 2 cells of the given size
    assert scale.rule.startswith("first peak") and scale.band in scale.bands
    assert scale.reason.startswith("Cells of 250 m (as given)")


def test_given_band_and_cell():
    points = thomas_pattern(300.0, 1)
    both = psa_geo.choose_scale(points, square_area(), cell_size=100, band=400)
    assert (both.cell_size, both.band, both.rule) == (100.0, 400.0, "given")
    band_only = psa_geo.choose_scale(points, square_area(), band=600)
    assert (band_only.cell_size, band_only.band, band_only.rule) == (200.0, 600.0, "given band")
    with pytest.raises(psa_geo.PsaGeoError, match="'band' 120 m is shorter than the diagonal"):
        psa_geo.choose_scale(points, square_area(), cell_size=100, band=120)


def test_metadata_is_text():
    scale = psa_geo.choose_scale(thomas_pattern(300.0, 2), square_area())
    meta = scale.to_metadata()
    assert all(isinstance(v, str) for v in meta.values())
    assert meta["scale_band_m"] == f"{scale.band:g}"
    assert meta["scale_reason"] == scale.reason
    assert len(meta["scale_bands_m"].split(",")) == len(scale.bands)
    assert len(meta["scale_moran_z"].split(",")) == len(scale.z_scores)


def test_bad_input_is_one_clear_error():
    points = thomas_pattern(300.0, 1)
    far = gpd.GeoSeries([shapely.box(0, 0, 1000, 1000)], crs="EPSG:27700")
    with pytest.raises(psa_geo.PsaGeoError, match="none of the located 'points' lies inside"):
        psa_geo.choose_scale(points, far)
    with pytest.raises(psa_geo.PsaGeoError, match="'area' is in WGS 84"):
        psa_geo.choose_scale(points, square_area().to_crs(4326))
    with pytest.raises(psa_geo.PsaGeoError, match="'cell_size' should be a positive number"):
        psa_geo.choose_scale(points, square_area(), cell_size=-5)
    with pytest.raises(psa_geo.PsaGeoError, match="'band_ceiling' 100 m is below"):
        psa_geo.choose_scale(points, square_area(), band_ceiling=100)


# --- real data -----------------------------------------------------------------------------


@pytest.mark.data
def test_cornwall_town_centres_are_hot_at_the_chosen_scale(assigned_all, areas, mirror):
    events = assigned_all
    group = psa_geo.load_crime_groups()["All crime (excl. ASB)"]
    cornwall = events[
        events["csp_name"].eq("Cornwall")
        & events["area_status"].eq("inside")
        & events["category"].isin(group)
        & (events["date"].dt.year == 2019)
    ]
    outline = areas[areas["csp_name"] == "Cornwall"][["geometry"]].dissolve()
    scale = psa_geo.choose_scale(cornwall, outline)
    assert scale.cell_size < 1000  # finer than the fixed rule's 1 km
    cells = psa_geo.kde(cornwall, area=outline, cell_size=scale.cell_size).to_cells()
    xy = cells[["x", "y"]].to_numpy()
    linked = cKDTree(xy).query_ball_point(xy, scale.band * 1.000001, return_length=True) > 1
    hot = psa_geo.gistar(cells[linked], column="n", distance=scale.band)
    towns = pd.read_csv(mirror / "towns" / "safer_towns_cornwall.csv")
    towns = towns[towns["TOWN"].isin(["Truro", "Penzance", "Newquay"])]
    centres = gpd.GeoSeries(
        gpd.points_from_xy(towns["GEONAMES_LON"], towns["GEONAMES_LAT"]), crs=4326
    ).to_crs(27700)
    for town, centre in zip(towns["TOWN"], centres, strict=True):
        holding = hot[hot.geometry.covers(centre)]
        assert len(holding) == 1, town
        assert holding["hotspot_level"].iloc[0] >= 2, (town, scale)
    assert (hot["hotspot_level"] >= 2).mean() < 0.25  # hot spots, not the whole county
