"""Hot spot change between two periods: a planted doubling, constructed classes, the exposure
ratio, real Plymouth crime and its map, and bad input."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from scipy.stats import binomtest

import psa_geo
from psa_geo.errors import PsaGeoError
from psa_geo.gistar import gistar
from psa_geo.grids import make_grid
from psa_geo.hotspot_change import CHANGE_CLASSES
from psa_geo.hotspot_maps import CHANGE_LAYER

STUDY = psa_geo.calendar_year(2019)
COMPARISON = psa_geo.calendar_year(2018)


def _grid(width: int, height: int) -> gpd.GeoDataFrame:
    area = gpd.GeoDataFrame(
        geometry=[shapely.box(0, 0, 100 * width, 100 * height)], crs="EPSG:27700"
    )
    return make_grid(area, cell_size=100)


def _events(grid: gpd.GeoDataFrame, counts: dict[str, np.ndarray]) -> gpd.GeoDataFrame:
    """``counts[date]`` events at each cell's centre, dated ``date``."""
    frames = []
    for date, n in counts.items():
        x = np.repeat(grid["x"].to_numpy(), n)
        y = np.repeat(grid["y"].to_numpy(), n)
        frames.append(
            gpd.GeoDataFrame(
                {"date": np.full(len(x), np.datetime64(date, "ns")), "weight": 1},
                geometry=gpd.points_from_xy(x, y),
                crs="EPSG:27700",
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def grid() -> gpd.GeoDataFrame:
    """2,000 cells of 100 m (50 columns × 40 rows)."""
    return _grid(50, 40)


RATE = 60.0
"""Poisson mean per cell in the comparison period (and in the study period outside the block)."""


def _doubling(grid: gpd.GeoDataFrame, seed: int, factor: float) -> tuple:
    """Poisson counts, RATE everywhere in 2018 and in 2019 RATE × ``factor`` in a 10 × 10
    block (100 of the 2,000 cells), RATE elsewhere; the change and the block's mask."""
    rng = np.random.default_rng(seed)
    block = (grid["row"].between(10, 19) & grid["col"].between(20, 29)).to_numpy()
    study = rng.poisson(np.where(block, RATE * factor, RATE))
    events = _events(grid, {"2018-06-15": rng.poisson(RATE, len(grid)), "2019-06-15": study})
    return psa_geo.hotspot_change(events, grid, study=STUDY, comparison=COMPARISON), block


def test_planted_doubling_is_found_within_the_fdr(grid):
    """About 120 events against 60 in a doubled cell: the exact test gives p ≤ 0.0025 (the
    BH threshold with about 100 discoveries among 2,000 cells) with probability 0.92 (by
    simulation), so about 92% of the block should be flagged. Benjamini-Hochberg keeps the
    expected share of false discoveries at 5% × 1,900/2,000; pooled over four seeds (about
    380 discoveries) the share may exceed that by chance by at most 3 standard errors."""
    found = discoveries = false = cells = 0
    for seed in range(4):
        out, block = _doubling(grid, seed, factor=2.0)
        classes = out["change_class"]
        increase = classes.str.endswith("(significant increase)").to_numpy()
        flagged = classes.str.contains("significant").to_numpy()
        found += int((increase & block).sum())
        cells += int(block.sum())
        discoveries += int(flagged.sum())
        false += int((flagged & ~(block & increase)).sum())
        # the doubled block is a Gi* hot spot in 2019 only: its inner cells are new hot spots
        inner = (out["row"].between(12, 17) & out["col"].between(22, 27)).to_numpy()
        assert classes[inner].str.startswith("New hot spot").all()
    assert found / cells >= 0.85
    assert false / discoveries <= 0.05 + 3 * np.sqrt(0.05 / discoveries)


def test_no_change_finds_few_or_none(grid):
    """With no change anywhere, BH at 5% flags anything at all in at most 5% of runs."""
    flagged = 0
    for seed in range(10, 13):
        out, _ = _doubling(grid, seed, factor=1.0)
        flagged += int(out["change_class"].str.contains("significant").sum())
    assert flagged <= 2


BLOCKS = {"new": (4, 4), "persistent": (10, 10), "no longer": (16, 16)}
"""Centres (row, col) of 3 × 3 blocks on a 20 × 20 grid."""


@pytest.fixture(scope="module")
def constructed() -> tuple:
    """A 20 × 20 grid with 5 events a cell in each year, and 30 more in each cell of a 3 × 3
    block in 2019 only ("new"), in both years ("persistent") or in 2018 only ("no longer")."""
    grid = _grid(20, 20)
    study_n = np.full(len(grid), 5)
    comparison_n = np.full(len(grid), 5)
    blocks = {}
    for name, (r, c) in BLOCKS.items():
        cells = (grid["row"].between(r - 1, r + 1) & grid["col"].between(c - 1, c + 1)).to_numpy()
        blocks[name] = cells
        if name != "no longer":
            study_n[cells] += 30
        if name != "new":
            comparison_n[cells] += 30
    events = _events(grid, {"2019-03-01": study_n, "2018-11-30": comparison_n})
    return grid, events, study_n, comparison_n, blocks


def test_classes_of_constructed_hot_blocks(constructed):
    grid, events, study_n, comparison_n, blocks = constructed
    before = events.copy()
    out = psa_geo.hotspot_change(events, grid, study=STUDY, comparison=COMPARISON)
    pd.testing.assert_frame_equal(events, before)
    assert "change_class" not in grid
    assert out["study_n"].tolist() == study_n.tolist()
    assert out["comparison_n"].tolist() == comparison_n.tolist()
    assert (out["change"] == study_n - comparison_n).all()
    assert out.loc[blocks["new"], "change_pct"].tolist() == [600.0] * 9
    classes = out["change_class"]
    assert (classes[blocks["new"]] == "New hot spot (significant increase)").all()
    assert (classes[blocks["persistent"]] == "Persistent hot spot").all()
    assert (classes[blocks["no longer"]] == "No longer hot (significant decrease)").all()
    # the levels are those of Gi* on each period's counts alone
    for counts, column in ((study_n, "study_level"), (comparison_n, "comparison_level")):
        alone = gistar(grid.assign(n=counts), distance=100 * np.sqrt(2))
        assert out[column].tolist() == alone["hotspot_level"].tolist()
    # far from every block nothing is hot and nothing changed
    far = np.ones(len(grid), bool)
    for r, c in BLOCKS.values():
        far &= ((grid["row"] - r).abs() > 3).to_numpy() | ((grid["col"] - c).abs() > 3).to_numpy()
    assert (classes[far] == "Not hot in either period").all()
    assert set(classes) <= set(CHANGE_CLASSES)


def test_change_layer_on_a_hotspot_map(constructed, tmp_path):
    grid, events, *_ = constructed
    out = psa_geo.hotspot_change(events, grid, study=STUDY, comparison=COMPARISON)
    outline = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 2000, 2000)], crs="EPSG:27700")
    m = psa_geo.hotspot_map(outline, title="Change",
                            more_layers=lambda m: psa_geo.change_layer(out, m))  # fmt: skip
    text = psa_geo.save_map(m, tmp_path / "map.html", index_href="index.html").read_text("utf-8")
    assert text.count(CHANGE_LAYER) >= 2  # the layer control and the legend
    for name in ("New hot spot (significant increase)", "Persistent hot spot",
                 "No longer hot (significant decrease)"):  # fmt: skip
        assert f"<td>{name}</td>" in text
        cells = int((out["change_class"] == name).sum())  # the block, and for persistent
        assert f"{name}: {cells} cell(s)" in text  # its ring's 4 edge-neighbours: the tooltip
    assert "2019 (study) against 2018 (comparison)." in text


def test_exposure_ratio_follows_the_months(grid):
    """Study 12 months against a comparison of 6: under no change the study holds 2/3 of a
    cell's events, and the p-values are scipy's exact binomial test of that share."""
    rng = np.random.default_rng(5)
    study_n, comparison_n = rng.poisson(8, len(grid)), rng.poisson(4, len(grid))
    events = _events(grid, {"2019-02-01": study_n, "2018-09-01": comparison_n})
    half = psa_geo.parse_period("2018-07:2018-12")
    out = psa_geo.hotspot_change(events, grid, study=STUDY, comparison=half)
    assert out.attrs["hotspot_change"]["exposure_ratio"] == 2.0
    for i in range(0, len(grid), 97):
        k, n = int(study_n[i]), int(study_n[i] + comparison_n[i])
        expected = binomtest(k, n, 2 / 3).pvalue if n else 1.0
        assert out["change_p_value"].iloc[i] == pytest.approx(expected, rel=1e-9)
    # cells whose total cannot reach p < 0.05 (every event in one period) are not tested
    tested = out["change_p_value_fdr"].notna().to_numpy()
    total = study_n + comparison_n
    smallest = {t: min(binomtest(t, t, 2 / 3).pvalue, binomtest(0, t, 2 / 3).pvalue)
                for t in set(total.tolist()) if t}  # fmt: skip
    reachable = np.array([t > 0 and smallest[t] < 0.05 for t in total])
    assert (tested == reachable).all()
    assert out.attrs["hotspot_change"]["cells_tested"] == int(reachable.sum())


def test_isolated_cell_is_not_tested(grid):
    rock = make_grid(
        gpd.GeoDataFrame(geometry=[shapely.box(9000, 9000, 9100, 9100)], crs="EPSG:27700"),
        cell_size=100,
    )
    cells = pd.concat([grid, rock], ignore_index=True)
    n = np.random.default_rng(2).poisson(5, len(cells))
    events = _events(cells, {"2019-05-01": n, "2018-05-01": n[::-1]})
    out = psa_geo.hotspot_change(events, cells, study=STUDY, comparison=COMPARISON)
    assert out["change_class"].iloc[-1] == "Not tested (no neighbouring cell)"
    assert np.isnan(out["study_gistar_z"].iloc[-1])
    assert out["change_class"].iloc[:-1].ne("Not tested (no neighbouring cell)").all()


@pytest.mark.parametrize(
    ("study", "comparison", "message"),
    [
        (STUDY, psa_geo.parse_period("2018-07:2019-06"), r"periods overlap"),
        (COMPARISON, STUDY, r"comparison period \(2019\) should come before"),
        (STUDY, psa_geo.calendar_year(2017), r"no events fall in the cells in the comparison"),
        (STUDY, "2018", r"'comparison' should be a Period"),
    ],
    ids=["overlap", "order", "empty-period", "not-a-period"],
)
def test_bad_periods(grid, study, comparison, message):
    n = np.full(len(grid), 3)
    events = _events(grid, {"2019-05-01": n, "2018-05-01": n})
    with pytest.raises(PsaGeoError, match=message) as caught:
        psa_geo.hotspot_change(events, grid, study=study, comparison=comparison)
    assert "\n" not in str(caught.value)


def test_too_few_cells_with_events_for_gistar(grid):
    study_n = np.zeros(len(grid), "int64")
    study_n[:10] = 4
    events = _events(grid, {"2019-05-01": study_n, "2018-05-01": np.full(len(grid), 3)})
    with pytest.raises(PsaGeoError, match=r"Gi\* cannot run in the study period 2019: only 10"):
        psa_geo.hotspot_change(events, grid, study=STUDY, comparison=COMPARISON)


@pytest.fixture(scope="module")
def plymouth(areas, assigned_all):
    chosen = areas[areas["csp_name"] == "Plymouth"]
    outline = chosen[["geometry"]].dissolve()
    group = psa_geo.load_crime_groups()["All crime (excl. ASB)"]
    crimes = assigned_all[
        (assigned_all["csp_name"] == "Plymouth")
        & (assigned_all["area_status"] == "inside")
        & assigned_all["category"].isin(group)
    ]
    cells = make_grid(outline)
    out = psa_geo.hotspot_change(crimes, cells, study=STUDY, comparison=COMPARISON)
    return outline, crimes, out


@pytest.mark.data
def test_plymouth_all_crime_2019_against_2018(plymouth, tmp_path):
    outline, crimes, out = plymouth
    for period, column in ((STUDY, "study_n"), (COMPARISON, "comparison_n")):
        assert out[column].sum() == int(period.contains(crimes["date"]).sum()) > 10_000
    assert out.attrs["hotspot_change"]["events_outside"] == 0
    classes = set(out["change_class"])
    assert {"Persistent hot spot", "Not hot in either period"} <= classes
    # the city centre (about 247,700 E, 54,500 N) is hot in both years
    persistent = out[out["change_class"].str.startswith("Persistent hot spot")]
    centre = persistent.geometry.centroid
    assert ((centre.x - 247_700) ** 2 + (centre.y - 54_500) ** 2).min() ** 0.5 < 600
    gpkg = tmp_path / "change.gpkg"
    out.to_file(gpkg, layer="cells", driver="GPKG")
    back = pyogrio.read_dataframe(gpkg)
    assert back["change_class"].tolist() == out["change_class"].tolist()
    assert (back["study_period"] == "2019").all()

    m = psa_geo.hotspot_map(outline, title="Plymouth: change",
                            more_layers=lambda m: psa_geo.change_layer(out, m))  # fmt: skip
    page = psa_geo.save_map(m, tmp_path / "change.html", index_href="index.html")
    text = page.read_text(encoding="utf-8")
    assert CHANGE_LAYER in text
    assert "2019 (study) against 2018 (comparison)." in text
    assert "a thick black edge" in text.lower()
    shown = [name for name in CHANGE_CLASSES
             if f"<td>{name}</td>" in text]  # fmt: skip
    assert "Persistent hot spot" in shown
    assert "Not hot in either period" not in shown  # not drawn, so not in the legend


def test_change_layer_refuses_other_cells(grid):
    import folium

    with pytest.raises(PsaGeoError, match="result of hotspot_change"):
        psa_geo.change_layer(grid, folium.Map())
