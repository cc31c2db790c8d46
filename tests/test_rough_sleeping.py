"""The official rough-sleeping snapshot: read as published, CSP and Peninsula sums and rates,
the page's numbers, and clear errors for bad files."""

import pandas as pd
import pytest
from test_profiles import tables_of

from psa_geo.errors import InputFileError
from psa_geo.rough_sleeping import (
    PENINSULA,
    PUBLISHED,
    SUMMED,
    read_snapshot,
    snapshot_chart_svg,
    snapshot_table,
    write_snapshot,
)

pytestmark = pytest.mark.data

CORNWALL = [65, 80, 50, 77, 40, 65, 99, 68, 53, 24, 29, 28, 43]  # PROVENANCE.md, 2010 -> 2022


@pytest.fixture(scope="module")
def path(mirror):
    return mirror / "rough_sleeping" / "rough_sleeping_snapshot_autumn2010_2022_devon_cornwall.csv"


@pytest.fixture(scope="module")
def table(path, areas):
    return snapshot_table(read_snapshot(path), areas)


def test_lad_figures_are_as_published(path, table):
    raw = pd.read_csv(path)
    lads = table[table["level"] == "lad"]
    assert lads.loc[lads["area_name"] == "Cornwall", "count"].tolist() == CORNWALL
    merged = lads.merge(raw, left_on=["area_code", "year"], right_on=["AREA_CODE", "YEAR"])
    assert len(merged) == 12 * 13
    assert (merged["count"] == merged["ROUGH_SLEEPERS_COUNT"]).all()
    assert (merged["rate_per_100k"] == merged["RATE_PER_100K_PEOPLE"]).all()
    assert (lads["rate_basis"] == PUBLISHED).all()


def test_csp_and_peninsula_sum_their_lads(path, table, areas):
    raw = pd.read_csv(path)
    raw = raw[raw["AREA_LEVEL"] == "LAD"]
    groups = {
        "East and Mid Devon": ["East Devon", "Mid Devon"],
        "North Devon (with Torridge)": ["North Devon", "Torridge"],
        "South Devon and Dartmoor": ["South Hams", "Teignbridge", "West Devon"],
    }
    for csp, lads in groups.items():
        expected = raw[raw["AREA_NAME"].isin(lads)].groupby("YEAR")["ROUGH_SLEEPERS_COUNT"].sum()
        rows = table[(table["level"] == "csp") & (table["area_name"] == csp)].set_index("year")
        assert rows["count"].to_dict() == expected.to_dict(), csp
        assert (rows["rate_basis"] == SUMMED).all()
    pen = table[table["area_code"] == PENINSULA[0]].set_index("year")
    totals = raw.groupby("YEAR")["ROUGH_SLEEPERS_COUNT"].sum()
    assert pen["count"].to_dict() == totals.to_dict()
    assert pen.loc[2018, "count"] == 149  # the assessment's "149 people"
    rate = 100_000 * totals[2018] / areas["population"].sum()
    assert pen.loc[2018, "rate_per_100k"] == pytest.approx(rate)
    assert pen.loc[2018, "change_pct_from_previous"] == pytest.approx(100 * (149 - 196) / 196)
    assert pen.loc[2018, "trend"] == "▼"


def test_page_numbers_equal_the_table(mirror, areas, tmp_path, table):
    written = write_snapshot(mirror, tmp_path, areas)
    page = tables_of(written[-1])
    latest = table[table["year"] == 2022].set_index(["area_name", "level"])
    assert len(page["latest"]) - 1 == len(latest)
    for row in page["latest"][1:]:
        key = (row[0], row[1].lower())
        assert row[2] == f"{latest.loc[key, 'count']:,}", row
        assert row[3] == f"{latest.loc[key, 'rate_per_100k']:,.1f}", row
    years = page["by-year"]
    assert years[0][1:] == [str(y) for y in range(2010, 2023)]
    cornwall = next(r for r in years if r[0] == "Cornwall")
    assert cornwall[1:] == [str(c) for c in CORNWALL]
    html = written[-1].read_text(encoding="utf-8")
    assert "undercounts" in html and "<title>People sleeping rough" in html
    assert pd.read_csv(written[0])["count"].sum() == table["count"].sum()


def test_chart_names_every_line_in_text(table):
    svg = snapshot_chart_svg(table)
    for name in ("Cornwall 43", "Plymouth 24", "Peninsula 156", "Isles of Scilly 0"):
        assert name in svg, name
    assert svg.startswith("<svg") and "<desc>" in svg


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="YEAR"), "missing columns YEAR"),
        (lambda f: f.assign(YEAR=f["YEAR"].where(f.index != 3, 1999)), "line 5 has a year"),
        (lambda f: f.assign(ROUGH_SLEEPERS_COUNT=-1), "line 2 has a count"),
        (lambda f: f.assign(ROUGH_SLEEPERS_COUNT=1e308), "line 2 has a count"),
        (lambda f: f.assign(ROUGH_SLEEPERS_COUNT=float("inf")), "line 2 has a count"),
        (lambda f: f.assign(RATE_PER_100K_PEOPLE=float("inf")), "line 2 has a rate"),
        (lambda f: pd.concat([f, f.iloc[[0]]]), "given twice"),
    ],
)
def test_bad_files_give_one_line_naming_the_file(path, tmp_path, change, message):
    bad = tmp_path / "snapshot.csv"
    change(pd.read_csv(path)).to_csv(bad, index=False)
    with pytest.raises(InputFileError, match=message) as err:
        read_snapshot(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_page_escapes_names(path, areas, tmp_path):
    data = tmp_path / "data"
    copy = data / path.relative_to(path.parents[1])
    copy.parent.mkdir(parents=True)
    frame = pd.read_csv(path)
    frame.loc[frame["AREA_NAME"] == "Torbay", "AREA_NAME"] = "<b>Torbay & Co</b>"
    frame.to_csv(copy, index=False)
    page = write_snapshot(data, tmp_path / "out", areas)[-1].read_text(encoding="utf-8")
    assert "&lt;b&gt;Torbay &amp; Co&lt;/b&gt;" in page and "<b>Torbay" not in page
