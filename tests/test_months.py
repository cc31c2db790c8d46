"""Any police.uk months (issue 14, items 1 and 7): crime/ is read by header, --crime adds
more, data status lists months, forces, gaps and skipped files, and the default period
follows the assessment (latest complete financial year, else the latest 12 months)."""

from __future__ import annotations

import json
import zipfile

import pandas as pd
import pytest
from conftest import run_cli

from psa_geo.build import load_study
from psa_geo.crime_files import crime_status, find_crime_files, is_street_header
from psa_geo.errors import InputFileError
from psa_geo.periods import (
    RULE_FINANCIAL_YEAR,
    RULE_LATEST_MONTHS,
    calendar_year,
    default_periods,
    financial_year,
)
from psa_geo.police_uk import REQUIRED_COLUMNS

COUNTS_FILE = "policeuk_crime_counts_lsoa21_monthly_2022-05_2025-04_devon_cornwall.csv"
#: Cornwall 037B, 037C and 037D: 037C and 037D merged into one 2021 LSOA (Looe), whose rows
#: are placed by their points instead; a few of those points lie in Cornwall 028E
#: (E01018774), Looe's neighbour, so its figures move too (found on the real data).
LOOE = {"E01018773", "E01018775", "E01018776", "E01018774"}
#: What a figure is, apart from its period labels.
FIGURES = ["area_code", "category", "population", "count", "rate_per_1000", "comparison_count",
           "change_pct", "trend"]  # fmt: skip
HEADER = ["Crime ID", "Month", "Reported by", "Falls within", "Longitude", "Latitude",
          "Location", "LSOA code", "LSOA name", "Crime type", "Last outcome category",
          "Context"]  # fmt: skip


def _data_dir(mirror, dest):
    """A data directory linking the mirror's folders, with an empty crime/ of its own."""
    dest.mkdir(parents=True, exist_ok=True)
    for folder in mirror.iterdir():
        if folder.is_dir() and folder.name != "crime":
            (dest / folder.name).symlink_to(folder)
    (dest / "crime").mkdir()
    return dest


def _street_rows(month, n, *, force="Devon & Cornwall Police"):
    rows = [[f"id-{month}-{i}", month, force, force, "-4.14", "50.37", "On or near X",
             "E01015023", "Plymouth 003A", "Burglary", "", ""] for i in range(n)]  # fmt: skip
    return pd.DataFrame(rows, columns=HEADER)


def _write_month(folder, month, n, *, slug="devon-and-cornwall", **kwargs):
    path = folder / month / f"{month}-{slug}-street.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    _street_rows(month, n, **kwargs).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def moved(mirror, tmp_path_factory):
    """``psa-geo tables`` on the real 2018 and 2019 rows moved to 2024 and 2025, with 2021
    LSOA codes, as monthly police.uk files in crime/ (no manifest edit): the output folder."""
    base = tmp_path_factory.mktemp("moved")
    data = _data_dir(mirror, base / "data")
    pairs = pd.read_csv(mirror / "lookups" / "lsoa11_lsoa21_all_pairs_devon_cornwall.csv",
                        dtype=str).sort_values(["LSOA11CD", "LSOA21CD"])  # fmt: skip
    to_2021 = pairs.drop_duplicates("LSOA11CD").set_index("LSOA11CD")["LSOA21CD"]
    folder = data / "crime" / "police_uk_2024_2025"
    for year in (2018, 2019):
        path = mirror / "crime" / f"policeuk_street_devon_cornwall_{year}.csv.gz"
        rows = pd.read_csv(path, dtype=str, keep_default_na=False)
        rows["Month"] = rows["Month"].str.replace(f"{year}-", f"{year + 6}-", regex=False)
        rows["LSOA code"] = rows["LSOA code"].map(to_2021).fillna(rows["LSOA code"])
        for month, part in rows.groupby("Month"):
            target = folder / month / f"{month}-devon-and-cornwall-street.csv"
            target.parent.mkdir(parents=True)
            part.to_csv(target, index=False)
    out = base / "out"
    result = run_cli("tables", "--data-dir", data, "--out", out)
    assert result.returncode == 0, result.stderr
    return out


def _figures(folder, level, exclude=()):
    table = pd.read_csv(folder / "tables" / f"rates_{level}.csv", dtype={"area_code": str})
    table = table[~table["area_code"].isin(exclude)]
    return table[FIGURES].sort_values(["area_code", "category"]).reset_index(drop=True)


@pytest.mark.parametrize("level", ["lad", "csp", "peninsula", "lsoa"])
def test_moved_months_with_2021_codes_give_the_2018_19_figures(moved, built, level):
    exclude = LOOE if level == "lsoa" else ()
    expected = _figures(built[0], level, exclude)
    got = _figures(moved, level, exclude)
    assert len(got) == len(expected) > 0
    pd.testing.assert_frame_equal(got, expected)
    if level == "lsoa":  # the Looe rows only move between the Looe LSOAs and 028E
        looe = [_figures(f, level).query("area_code in @LOOE") for f in (moved, built[0])]
        sums = [x.groupby("category")[["count", "comparison_count"]].sum() for x in looe]
        pd.testing.assert_frame_equal(*sums)


def test_moved_months_keep_the_latest_12_months_and_say_why(moved, built):
    report = json.loads((moved / "run_report.json").read_text(encoding="utf-8"))
    # Apr 2023 - Mar 2024 is not in the data: no two whole financial years.
    assert report["study_period"]["label"] == "2025"
    assert report["comparison_period"]["label"] == "2024"
    assert report["period_rule"] == RULE_LATEST_MONTHS
    ingest = report["sources"]["police_uk"]["ingest"]
    assert ingest["months"][0] == "2024-01" and ingest["months"][-1] == "2025-12"
    assert report["sources"]["police_uk"]["assignment"]["lsoa_2021_codes_converted"] > 0
    index = (built[0] / "index.html").read_text(encoding="utf-8")
    assert "The study period is the latest 12 complete months in the data" in index
    old = json.loads((built[0] / "run_report.json").read_text(encoding="utf-8"))
    assert old["study_period"]["label"] == "2019" and old["period_rule"] == RULE_LATEST_MONTHS


def _months(first, last):
    return list(pd.date_range(f"{first}-01", f"{last}-01", freq="MS"))


def _events(first, last):
    return pd.DataFrame({"date": _months(first, last), "date_precision": "month"})


@pytest.mark.parametrize(
    ("first", "last", "study", "comparison", "rule"),
    [
        ("2018-01", "2019-12", calendar_year(2019), calendar_year(2018), RULE_LATEST_MONTHS),
        ("2022-05", "2025-04", financial_year(2024), financial_year(2023), RULE_FINANCIAL_YEAR),
        ("2023-04", "2025-06", financial_year(2024), financial_year(2023), RULE_FINANCIAL_YEAR),
        ("2023-05", "2025-03", financial_year(2024), financial_year(2023), RULE_LATEST_MONTHS),
    ],
)
def test_default_period_follows_the_assessment(first, last, study, comparison, rule):
    events = _events(first, last)
    got = default_periods(events, set(_months(first, last)))
    assert got == (study, comparison, rule)


def test_a_gap_in_the_financial_years_falls_back_to_12_months():
    covered = set(_months("2022-04", "2025-03")) - {pd.Timestamp("2023-06-01")}
    study, _, rule = default_periods(_events("2022-04", "2025-03"), covered)
    assert rule == RULE_LATEST_MONTHS and study.label == "2024/25"  # 12 months, by chance an FY


def test_header_sniffing():
    assert is_street_header(",".join(REQUIRED_COLUMNS).encode())
    assert is_street_header("\ufeff" + ",".join(HEADER) + "\r\n")
    assert not is_street_header(b"LSOA21CD,month,count\n")
    assert not is_street_header(b"\xff\xfe garbage")


@pytest.fixture
def crime_dir(mirror, tmp_path):
    """crime/ with monthly folders (a gap in March 2024), a gzipped file, the counts file,
    another force's file in a folder, a note and an outcomes file."""
    crime = tmp_path / "crime"
    crime.mkdir()
    monthly = crime / "download"
    for month in ("2024-01", "2024-02", "2024-04"):
        _write_month(monthly, month, 3)
    _write_month(monthly, "2024-05", 2, slug="avon-and-somerset",
                 force="Avon and Somerset Constabulary")  # fmt: skip
    (monthly / "2024-01" / "2024-01-devon-and-cornwall-outcomes.csv").write_text("a,b\n1,2\n")
    (crime / COUNTS_FILE).symlink_to(mirror / "crime" / COUNTS_FILE)
    (crime / "notes.txt").write_text("where these came from\n")
    _street_rows("2024-06", 4).to_csv(crime / "june.csv.gz", index=False)
    return tmp_path


def test_crime_folder_reads_street_files_and_skips_the_rest(crime_dir):
    found = find_crime_files(crime_dir)
    assert [p.name for p in found.files] == [
        "2024-01-devon-and-cornwall-street.csv",
        "2024-02-devon-and-cornwall-street.csv",
        "2024-04-devon-and-cornwall-street.csv",
        "june.csv.gz",
    ]
    skipped = {path.rsplit("/", 1)[-1]: why for path, why in found.skipped}
    assert set(skipped) == {
        "2024-01-devon-and-cornwall-outcomes.csv",
        "2024-05-avon-and-somerset-street.csv",
        COUNTS_FILE,
        "notes.txt",
    }
    assert "header" in skipped[COUNTS_FILE]
    status = crime_status(crime_dir)
    assert status["months"] == ["2024-01", "2024-02", "2024-04", "2024-06"]
    assert status["gaps"] == ["2024-03", "2024-05"]
    assert status["forces"] == ["Devon & Cornwall Police"]
    assert status["rows"] == 3 * 3 + 4


def test_data_status_shows_months_forces_gaps_and_skipped(crime_dir):
    result = run_cli("data", "status", "--data-dir", crime_dir)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "months: 2024-01 to 2024-02, 2024-04, 2024-06" in out
    assert "forces: Devon & Cornwall Police" in out
    assert "gaps:   2024-03, 2024-05" in out
    assert f"skipped: {crime_dir / 'crime' / COUNTS_FILE}: " in out
    assert "police_uk_2019         MISSING" in out


def test_crime_option_adds_a_zip_of_the_force_files_only(mirror, tmp_path):
    data = _data_dir(mirror, tmp_path / "data")
    _write_month(data / "crime", "2025-01", 2)
    archive = tmp_path / "elsewhere" / "police.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        for month, slug, n in (("2025-02", "devon-and-cornwall", 5), ("2025-02", "dorset", 7),
                               ("2025-01", "devon-and-cornwall", 9)):  # fmt: skip
            force = "Devon & Cornwall Police" if slug == "devon-and-cornwall" else "Dorset Police"
            zf.writestr(f"{month}/{month}-{slug}-street.csv",
                        _street_rows(month, n, force=force).to_csv(index=False))  # fmt: skip
    _, events, ingest, _ = load_study(data, {}, crime=[archive])
    assert ingest.months == ["2025-01", "2025-02"]
    assert len(events) == 2 + 5  # Dorset left in the zip; January read once (from crime/)
    assert [o["month"] for o in ingest.overlaps] == ["2025-01"]
    assert ingest.overlaps[0]["rows_skipped"] == 9
    assert set(events["falls_within"]) == {"Devon & Cornwall Police"}
    with pytest.raises(InputFileError, match="no such file"):
        load_study(data, {}, crime=[tmp_path / "absent.zip"])


def test_no_police_uk_files_is_one_line_saying_where_to_put_them(mirror, tmp_path):
    data = _data_dir(mirror, tmp_path / "data")
    (data / "crime" / COUNTS_FILE).symlink_to(mirror / "crime" / COUNTS_FILE)
    result = run_cli("tables", "--data-dir", data, "--out", tmp_path / "out")
    assert result.returncode == 2
    lines = [x for x in result.stderr.splitlines() if "error" in x]
    assert len(lines) == 1
    assert "no police.uk street-level files" in lines[0] and "--crime" in lines[0]
    assert str(data / "crime") in lines[0]


def test_data_status_names_the_months_that_look_incomplete(mirror, tmp_path):
    data = _data_dir(mirror, tmp_path / "data")
    for i, month in enumerate(pd.period_range("2024-01", "2024-12", freq="M").strftime("%Y-%m")):
        _write_month(data / "crime", month, 3 if i in (4, 5, 6) else 10)  # May-July at 30%
    result = run_cli("data", "status", "--data-dir", data)
    assert result.returncode == 0, result.stderr
    assert "incomplete months: 2024-05 to 2024-07 look incomplete" in result.stdout
