"""Counts tables as a source (issue 14, item 3): read_counts, placement by LSOA code (a merged
2021 LSOA at the level that wholly holds it), "no data" areas, street files winning on overlap,
and the Done-when build of the real counts file for FY2024/25."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import re
import tomllib
from collections import defaultdict

import pandas as pd
import pytest
from conftest import REPO, csv_line, run_cli, write_lines
from test_months import COUNTS_FILE, _data_dir
from test_overview import grid_cells

import psa_geo
from psa_geo.build import load_records
from psa_geo.counts import ALL_RECORDS, LEVEL_RANK, counts_coverage
from psa_geo.errors import InputFileError

SCILLY_LSOA = "E01019077"
LOOE_2021 = "E01034858"
LOOE_PARTS = {"E01018775", "E01018776"}  # Cornwall 037C and 037D
HEADER = ["LSOA21CD", "LSOA21NM", "LAD22CD", "LAD22NM", "MONTH", "CRIME_COUNT"]


@pytest.fixture(scope="module")
def real_counts(mirror):
    return mirror / "crime" / COUNTS_FILE


@pytest.fixture(scope="module")
def file_rows(real_counts):
    """The real counts file read with the csv module, independently of psa_geo."""
    with real_counts.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def counts_read(real_counts):
    return psa_geo.read_counts(real_counts, return_report=True)


@pytest.fixture(scope="module")
def placed(counts_read, areas):
    return psa_geo.assign_areas(counts_read[0], areas, return_report=True)


def test_real_file_is_read_whole(counts_read, file_rows):
    events, report = counts_read
    assert report.rows_read == len(file_rows) == report.accepted
    assert not report.rejected
    assert events["weight"].sum() == sum(int(r["CRIME_COUNT"]) for r in file_rows)
    assert set(events["category"]) == {ALL_RECORDS}
    assert report.months == sorted({r["MONTH"] for r in file_rows})
    assert events.geometry.isna().all()
    assert report.lines_read == report.header_lines + report.row_lines + report.blank_lines


def test_codes_place_rows_and_merged_lsoa_goes_to_its_lad(placed, counts_read, areas):
    events, report = placed
    assert report.events == len(counts_read[0]) == report.inside
    looe = events[events["published_lsoa_code"] == LOOE_2021]
    assert len(looe) and set(looe["placed_level"]) == {"lad"}
    assert looe["lsoa_code"].isna().all() and looe["ward_code"].isna().all()
    assert set(looe["lad_code"]) == {"E06000052"} and set(looe["csp_name"]) == {"Cornwall"}
    # The Looe parts lie in two wards, so the LAD is the lowest level that holds them.
    assert areas.set_index("lsoa_code").loc[sorted(LOOE_PARTS), "ward_code"].nunique() == 2
    assert report.placed_above_lsoa == len(looe)


def test_coverage_no_data_and_known_above_lsoa(placed, areas):
    coverage = counts_coverage(placed[0], areas)
    assert coverage[coverage.isna()].index.tolist() == [SCILLY_LSOA]
    assert set(coverage[coverage > 0].index) == LOOE_PARTS
    assert (coverage[sorted(LOOE_PARTS)] == LEVEL_RANK["lad"]).all()


def test_hostile_rows_are_rejected_with_reasons(tmp_path):
    rows = [
        ["E01015023", "Plymouth 003A", "", "", "2024-01", "5"],
        ["E01015023", "Plymouth 003A", "", "", "2024-01", "7"],  # duplicate
        ["", "", "", "", "2024-02", "1"],  # blank code
        ["=cmd|x", "", "", "", "2024-02", "1"],  # not a code
        ["E01015023", "", "", "", "2024-13", "1"],  # no such month
        ["E01015023", "", "", "", "2009-05", "1"],  # before police.uk
        ["E01015023", "", "", "", "2031-01", "1"],  # future
        ["E01015023", "", "", "", "2024-03", "-1"],
        ["E01015023", "", "", "", "2024-04", "1.5"],
        ["E01015023", "", "", "", "2024-05", "1e308"],
        ["E01015023", "", "", "", "2024-06", "0"],  # zero: kept
        ["E01015024", "", "", "", "2024-06-01", "3"],  # first of month: kept
    ]
    path = write_lines(tmp_path / "counts.csv", [csv_line(HEADER), *map(csv_line, rows), "\n"])
    events, report = psa_geo.read_counts(path, return_report=True, today=dt.date(2026, 12, 2))
    assert report.rejected == {
        "duplicate_row": 1, "blank_code": 1, "bad_code": 1, "bad_month": 1, "early_month": 1,
        "future_month": 1, "bad_count": 3,
    }  # fmt: skip
    assert report.rows_read == 12 and report.accepted == 3 and report.blank_lines == 1
    assert sorted(events["weight"]) == [0, 3, 5]
    assert set(report.rejected_rows["reason"]) == set(report.rejected)
    report.check()


def test_a_file_without_the_columns_is_one_line(tmp_path, small_data):
    path = write_lines(tmp_path / "counts.csv", ["area,when,n\n", "E01015023,2024-01,3\n"])
    with pytest.raises(InputFileError, match="missing columns code, month"):
        psa_geo.read_counts(path)
    # The street files are read first: the cut-down data gets to the counts file sooner.
    done = run_cli("--quiet", "--data-dir", str(small_data), "--out", str(tmp_path / "o"),
                   "tables", "--counts", str(path))  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and str(path) in done.stderr


def test_street_files_win_where_both_cover_a_month(mirror, tmp_path):
    data = _data_dir(mirror, tmp_path / "data")
    (data / "crime" / "street_2019.csv.gz").symlink_to(
        mirror / "crime" / "policeuk_street_devon_cornwall_2019.csv.gz"
    )
    rows = [["E01015023", "", "", "", month, "4"] for month in
            ("2019-11", "2019-12", "2020-01", "2020-02")]  # fmt: skip
    counts = write_lines(tmp_path / "c.csv", [csv_line(HEADER), *map(csv_line, rows)])
    records = load_records(data, {}, counts=[counts])
    assert records.overlap == ["2019-11", "2019-12"]
    assert records.counts.rejected == {"superseded_by_street_files": 2}
    records.counts.check()
    used = records.events[records.events["source"] == "police_uk_counts"]
    assert sorted(used["date"].dt.strftime("%Y-%m")) == ["2020-01", "2020-02"]
    assert {f"2020-0{m}" for m in (1, 2)} <= {f"{m:%Y-%m}" for m in records.months}


@pytest.fixture(scope="module")
def counts_build(mirror, real_counts, tmp_path_factory):
    """``psa-geo build --counts`` of the real counts file with no street files."""
    root = tmp_path_factory.mktemp("counts_build")
    data = _data_dir(mirror, root / "data")
    out = root / "maps"
    done = run_cli("--data-dir", str(data), "--out", str(out), "build",
                   "--counts", str(real_counts), timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def _csp_of_lad() -> dict[str, str]:
    """LAD code → CSP label, read from the force definition file with tomllib."""
    force = tomllib.loads((REPO / "boundaries" / "devon_and_cornwall.toml").read_text("utf-8"))
    return {lad: csp["label"] for csp in force["csp"] for lad in csp["lads"]}


def test_counts_build_csp_totals_equal_the_file(counts_build, file_rows):
    csp = pd.read_csv(counts_build / "tables" / "rates_csp.csv")
    assert set(csp["period"]) == {"2024/25"} and set(csp["category"]) == {ALL_RECORDS}
    expected = defaultdict(int)
    csp_of = _csp_of_lad()
    for row in file_rows:
        if "2024-04" <= row["MONTH"] <= "2025-03":
            expected[csp_of[row["LAD22CD"]]] += int(row["CRIME_COUNT"])
    got = csp.dropna(subset=["count"]).set_index("area_name")["count"].astype(int).to_dict()
    assert got == dict(expected)
    pen = pd.read_csv(counts_build / "tables" / "rates_peninsula.csv").iloc[0]
    assert pen["count"] == sum(expected.values())


def test_counts_build_withholds_the_trend_and_shows_scilly_as_no_data(counts_build, areas):
    csp = pd.read_csv(counts_build / "tables" / "rates_csp.csv").set_index("area_name")
    scilly = csp.loc["Isles of Scilly"]
    assert pd.isna(scilly["count"]) and pd.isna(scilly["rate_per_1000"])
    assert scilly["trend_word"] == "no data" and scilly["population"] == 0
    others = csp.drop(index="Isles of Scilly")
    assert others["change_pct"].isna().all()
    assert others["trend_word"].str.contains("2023-04 to 2023-11 look incomplete").all()
    pen = pd.read_csv(counts_build / "tables" / "rates_peninsula.csv").iloc[0]
    scilly_residents = areas.loc[areas["lsoa_code"] == SCILLY_LSOA, "population"].sum()
    assert pen["population"] == areas["population"].sum() - scilly_residents
    lsoa = pd.read_csv(counts_build / "tables" / "rates_lsoa.csv").set_index("area_code")
    assert lsoa.loc[sorted(LOOE_PARTS | {SCILLY_LSOA}), "trend_word"].eq("no data").all()
    page = (counts_build / "index.html").read_text(encoding="utf-8")
    cells = re.search(r"Isles of Scilly</td>(.*?)</tr>", page, re.S).group(1)
    assert re.findall(r"<td[^>]*>([^<]*)</td>", cells)[:4] == ["no data"] * 4
    assert "2023-04 to 2023-11" in page and ALL_RECORDS in page
    assert "No data" in (counts_build / "peninsula_map.html").read_text(encoding="utf-8")


def test_counts_build_overview_grid_has_its_one_group(counts_build):
    page = (counts_build / "index.html").read_text(encoding="utf-8")
    columns, cells = grid_cells(page)
    assert columns == [ALL_RECORDS]
    assert cells[("Isles of Scilly", ALL_RECORDS)] == "no data"
    assert cells[("Plymouth", ALL_RECORDS)] in {f"{w} not comparable" for w in ("higher", "lower")}
    assert "<li>Isles of Scilly: no data</li>" in page and "of 7, " in page
    assert "Trend not comparable: 2023-04 to 2023-11 look incomplete" in page


def test_counts_build_accounts_for_every_row(counts_build, file_rows):
    report = json.loads((counts_build / "run_report.json").read_text(encoding="utf-8"))
    counts = report["sources"]["police_uk_counts"]
    ingest, placed = counts["ingest"], counts["assignment"]
    assert ingest["rows_read"] == len(file_rows)
    assert ingest["rows_read"] == ingest["accepted"] + sum(ingest["rejected"].values())
    assert placed["events"] == ingest["accepted"] == placed["inside_area"] + placed["outside_area"]
    assert counts["lsoas_without_data"] == [SCILLY_LSOA]
    flagged = [row["month"] for row in report["incomplete_months"]["police_uk_counts"]]
    assert flagged == [f"2023-{m:02d}" for m in range(4, 12)]
    assert any(note.startswith("no hotspot maps:") for note in report["notes"])


def test_counts_build_says_there_are_no_outcomes(counts_build):
    report = json.loads((counts_build / "run_report.json").read_text(encoding="utf-8"))
    reason = report["outcomes"]["no_outcomes"]
    assert "counts tables carry no outcome" in reason and report["outcomes"]["crimes"] == 0
    page = (counts_build / "outcomes" / "index.html").read_text(encoding="utf-8")
    assert f"There are no crime outcomes for 2024/25: {reason}." in page
    assert "<table" not in page and "<svg" not in page
    index = (counts_build / "index.html").read_text(encoding="utf-8")
    assert f"no crime outcomes: {reason}" in index and 'href="outcomes/index.html"' in index


def test_hotspots_of_counts_alone_say_there_are_no_points(counts_build, mirror, real_counts,
                                                          tmp_path):  # fmt: skip
    data = _data_dir(mirror, tmp_path / "data")
    done = run_cli("--quiet", "--data-dir", str(data), "--out", str(tmp_path / "o"), "hotspots",
                   "--area", "Plymouth", "--counts", str(real_counts))  # fmt: skip
    assert done.returncode == 2 and "have no points" in done.stderr
    assert done.stderr.count("\n") == 1


def test_gzip_counts_are_read(real_counts, tmp_path, counts_read):
    packed = tmp_path / "counts.csv.gz"
    packed.write_bytes(gzip.compress(real_counts.read_bytes()))
    events = psa_geo.read_counts(packed)
    assert events["weight"].sum() == counts_read[0]["weight"].sum()


def test_data_status_describes_a_counts_table_in_crime(mirror, real_counts):
    done = run_cli("data", "status", "--data-dir", str(mirror))
    assert done.returncode == 0, done.stderr
    [line] = [x for x in done.stdout.splitlines() if x.startswith("  counts table ")]
    assert str(real_counts) in line and "months 2022-05 to 2025-04" in line
    assert "incomplete months: 2023-04 to 2023-11 look incomplete" in line
    assert f"read it with --counts {real_counts}" in done.stdout
