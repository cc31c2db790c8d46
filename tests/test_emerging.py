"""Emerging hot spots: the Mann-Kendall test and the classes on a synthetic 24-month grid."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.stats import kendalltau

from psa_geo.emerging import emerging_hotspots, mann_kendall
from psa_geo.errors import PsaGeoError
from psa_geo.grids import make_grid

MONTHS = 24
BACKGROUND = 10.0
"""Poisson mean per cell and month outside the blocks."""
LIFT = 10.0
"""Extra mean per cell in an active block."""
SWING = 13.0
"""Intensifying and diminishing blocks get SWING·cos θ and SWING·sin θ, θ from 65° to 25°:
the sum of their squares is constant, so the grid's variance (which scales every Gi* z)
does not drift and the persistent block shows no trend."""
BLOCKS = {
    "persistent": (3, 3),
    "intensifying": (3, 10),
    "new": (3, 16),
    "consecutive": (10, 3),
    "historical": (10, 10),
    "diminishing": (10, 16),
    "filler": (16, 3),
    "persistent cold": (16, 10),
    "new cold": (16, 16),
}
"""Centre (row, col) of each 3×3 block. The filler block is on exactly when one of the
consecutive, historical and new blocks is off, so two of them are always active."""


def _lift(name: str, t: int) -> float:
    theta = math.radians(65 - 40 * t / (MONTHS - 1))
    return {
        "persistent": LIFT,
        "intensifying": SWING * math.cos(theta),
        "diminishing": SWING * math.sin(theta),
        "new": LIFT * (t == MONTHS - 1),
        "consecutive": LIFT * (t >= MONTHS - 5),
        "historical": LIFT * (t < MONTHS - 2),
        "filler": LIFT * (t < MONTHS - 5 or t == MONTHS - 2),
        "persistent cold": -BACKGROUND,
        "new cold": -BACKGROUND * (t == MONTHS - 1),
    }[name]


@pytest.fixture(scope="module")
def grid() -> gpd.GeoDataFrame:
    area = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 2000, 2000)], crs="EPSG:27700")
    return make_grid(area, cell_size=100)


def synthetic_events(months: int = MONTHS, seed: int = 0) -> gpd.GeoDataFrame:
    """Points at cell centres of a 20×20 grid of 100 m cells, one batch per month."""
    rng = np.random.default_rng(seed)
    xs, ys, dates = [], [], []
    for t, month in enumerate(pd.date_range("2022-01-01", periods=months, freq="MS")):
        lam = np.full((20, 20), BACKGROUND)
        for name, (r, c) in BLOCKS.items():
            lam[r - 1 : r + 2, c - 1 : c + 2] += _lift(name, t)
        n = rng.poisson(lam)
        rows, cols = np.nonzero(n)
        k = n[rows, cols]
        xs.append(np.repeat(cols * 100 + 50.0, k))
        ys.append(np.repeat(rows * 100 + 50.0, k))
        dates.append(np.full(k.sum(), month + pd.Timedelta(days=9, hours=t % 24)))
    return gpd.GeoDataFrame(
        {"date": pd.to_datetime(np.concatenate(dates)), "weight": 1},
        geometry=gpd.points_from_xy(np.concatenate(xs), np.concatenate(ys)),
        crs="EPSG:27700",
    )


def test_mann_kendall_by_hand_with_ties() -> None:
    x = [1, 2, 2, 3, 1]
    # pairs (i<j): from 1: +,+,+,0; from 2: 0,+,-; from 2: +,-; from 3: -  → S = 5 - 3 = 2
    # ties: the value 1 twice, 2 twice → Σ t(t−1)(2t+5) = 2·18 = 36
    # Var(S) = (5·4·15 − 36)/18 = 264/18
    result = mann_kendall(x)
    assert result.s == 2
    assert result.var_s == pytest.approx(264 / 18)
    z = (2 - 1) / math.sqrt(264 / 18)
    assert result.z == pytest.approx(z)
    assert result.p == pytest.approx(math.erfc(z / math.sqrt(2)))


def test_mann_kendall_all_tied_and_rows() -> None:
    flat = mann_kendall([3.0] * 6)
    assert (flat.s, flat.var_s, flat.z, flat.p) == (0, 0, 0, 1)
    rows = mann_kendall(np.array([[1.0, 2, 2, 3, 1], [5.0, 4, 3, 2, 1]]))
    assert rows.s.tolist() == [2, -10]
    assert rows.var_s[1] == pytest.approx(5 * 4 * 15 / 18)


def test_mann_kendall_agrees_with_kendalltau() -> None:
    rng = np.random.default_rng(3)
    for trend in (0.0, 0.15, -0.15):
        x = np.arange(30) * trend + rng.normal(size=30)
        mk = mann_kendall(x)
        tau = kendalltau(np.arange(30), x)
        assert np.sign(mk.s) == np.sign(tau.statistic)
        assert mk.s == pytest.approx(tau.statistic * 30 * 29 / 2)
        assert (mk.p < 0.05) == (tau.pvalue < 0.05)
        assert mk.p == pytest.approx(tau.pvalue, abs=0.02)


def test_mann_kendall_rejects_short_or_missing() -> None:
    with pytest.raises(PsaGeoError, match="at least two"):
        mann_kendall([1.0])
    with pytest.raises(PsaGeoError, match="missing"):
        mann_kendall([1.0, np.nan, 2.0])


def test_classes_on_synthetic_grid(grid: gpd.GeoDataFrame) -> None:
    events = synthetic_events()
    before = events.copy()
    out = emerging_hotspots(events, grid)
    pd.testing.assert_frame_equal(events, before)
    assert "slices_hot" not in grid
    assert len(out) == len(grid)
    assert out.attrs["emerging"]["band_m"] == pytest.approx(100 * math.sqrt(2))
    assert len(out.attrs["emerging"]["slices"]) == MONTHS

    def centre(name: str) -> pd.Series:
        r, c = BLOCKS[name]
        return out[(out["row"] == r) & (out["col"] == c)].iloc[0]

    expected = {
        "persistent": "Persistent hot spot",
        "intensifying": "Intensifying hot spot",
        "new": "New hot spot",
        "consecutive": "Consecutive hot spot",
        "historical": "Historical hot spot",
        "persistent cold": "Persistent cold spot",
        "new cold": "New cold spot",
    }
    for name, label in expected.items():
        assert centre(name)["emerging_class"] == label, name
    assert centre("new")["slices_hot"] == 1
    assert centre("new cold")["slices_cold"] == 1 and centre("new cold")["final_cold"]
    assert centre("consecutive")["slices_hot"] == 5
    assert centre("historical")["slices_hot"] == 22
    assert not centre("historical")["final_hot"]
    assert centre("intensifying")["trend_z"] > 0 and centre("intensifying")["trend_p"] < 0.05
    assert centre("diminishing")["trend_z"] < 0
    assert centre("persistent")["trend_p"] >= 0.05
    assert centre("intensifying")["count_trend_z"] > 0
    assert set(out["emerging_class"]) <= {
        "No pattern",
        *expected.values(),
        "Diminishing hot spot",
        "Sporadic hot spot",
        "Oscillating hot spot",
        "Sporadic cold spot",
        "Oscillating cold spot",
    }


def test_too_few_slices(grid: gpd.GeoDataFrame) -> None:
    with pytest.raises(PsaGeoError, match="fewer than min_slices=10"):
        emerging_hotspots(synthetic_events(months=9), grid)


def test_quiet_slices_are_not_significant(grid: gpd.GeoDataFrame) -> None:
    events = synthetic_events(months=12)
    # an extra, nearly empty month at the end: Gi* cannot run, so nothing is hot in it
    extra = events.iloc[:3].copy()
    extra["date"] = pd.Timestamp("2023-01-15")
    out = emerging_hotspots(pd.concat([events, extra]), grid)
    assert out.attrs["emerging"]["slices_skipped"] == ["2023-01-01 00:00:00"]
    assert not out["final_hot"].any()


def test_bad_inputs(grid: gpd.GeoDataFrame) -> None:
    events = synthetic_events(months=10)
    with pytest.raises(PsaGeoError, match="'date'"):
        emerging_hotspots(events.drop(columns="date"), grid)
    with pytest.raises(PsaGeoError, match="freq"):
        emerging_hotspots(events, grid, freq="not a freq")
    with pytest.raises(PsaGeoError, match="distance"):
        emerging_hotspots(events, grid, distance=-1)


def test_events_outside_the_grid(grid: gpd.GeoDataFrame) -> None:
    events = synthetic_events(months=10)
    moved = events.set_geometry(events.translate(50_000, 0))
    with pytest.raises(PsaGeoError, match="do not overlap"):
        emerging_hotspots(moved, grid)


def test_cold_history_gives_cold_classes() -> None:
    from psa_geo.emerging import _classify

    #  slices:      0      1      2      3
    hot = np.array([[0, 0, 0, 0], [1, 1, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]], bool)
    cold = np.array([[0, 0, 1, 1], [0, 0, 0, 1], [1, 0, 1, 1], [1, 0, 1, 0]], bool)
    z = np.zeros(4)
    p = np.ones(4)
    # a run of two final cold slices; once hot, now cold (final cold wins); cold before the
    # final run and hot once, so oscillating; cold on and off but not in the final slice
    assert _classify(hot, cold, z, p).tolist() == [
        "Consecutive cold spot",
        "New cold spot",
        "Oscillating cold spot",
        "No pattern",
    ]


def test_isolated_cells_are_not_tested(grid: gpd.GeoDataFrame) -> None:
    rock = make_grid(
        gpd.GeoDataFrame(geometry=[shapely.box(5000, 5000, 5100, 5100)], crs="EPSG:27700"),
        cell_size=100,
    )
    cells = pd.concat([grid, rock], ignore_index=True)
    cells.attrs = grid.attrs
    out = emerging_hotspots(synthetic_events(months=10), cells)
    assert out["emerging_class"].iloc[-1] == "Not tested (no neighbouring cell)"
    assert (out["emerging_class"].iloc[:-1] != "Not tested (no neighbouring cell)").all()
