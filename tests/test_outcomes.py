"""Crime outcomes (issue 16, item 1): every police.uk outcome text in a group; FY2018/19 shares
of the Peninsula, the CSPs and the Safer Towns equal a direct count of the street files, with
their Wilson intervals and their comparison with the Peninsula; maturity by month and file;
extract dates from archive names and the option; texts in no group counted and named; and the
outcomes page of the shared build, in a browser too."""

from __future__ import annotations

import json
import re
import zipfile

import browser_support
import pandas as pd
import pytest
from conftest import REPO, run_cli
from scipy.stats import binomtest
from test_profiles import tables_of

import psa_geo
from psa_geo.errors import InputFileError, PsaGeoError
from psa_geo.outcomes import NOT_GROUPED, UNKNOWN

ASB = "Anti-social behaviour"
ALL = "All crime (excl. ASB)"
FY = psa_geo.financial_year("2018/19")
FILES = {y: f"policeuk_street_devon_cornwall_{y}.csv.gz" for y in (2018, 2019)}
GROUPS = ["Charged or summonsed", "Out-of-court disposal",
          "Evidential difficulties / unable to prosecute", "No suspect identified",
          "Not in the public interest", "Action by another organisation", "Under investigation",
          "Status unavailable"]  # fmt: skip
# The outcome texts police.uk documents (its API's outcome categories and the CSV labels,
# current and those renamed in 2014), whether or not the mirror holds them.
DOCUMENTED = [
    "Investigation complete; no suspect identified", "Unable to prosecute suspect",
    "Under investigation", "Status update unavailable", "Awaiting court outcome",
    "Court result unavailable", "Court case unable to proceed", "Local resolution",
    "Offender given a caution", "Offender given a drugs possession warning",
    "Offender given penalty notice", "Offender given a penalty notice",
    "Formal action is not in the public interest", "Further action is not in the public interest",
    "Further investigation is not in the public interest",
    "Action to be taken by another organisation", "Suspect charged",
    "Suspect charged as part of another case", "Defendant found not guilty",
    "Defendant sent to Crown Court", "Offender sent to prison",
    "Offender given suspended prison sentence", "Offender given community sentence",
    "Offender fined", "Offender given conditional discharge", "Offender given absolute discharge",
    "Offender ordered to pay compensation", "Offender deprived of property",
    "Offender otherwise dealt with", "Offender sentenced as part of another case",
    "Offender imprisoned", "Offender given community penalty", "Suspect found not guilty",
]  # fmt: skip
PENDING = {"Under investigation", "Awaiting court outcome"}

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def mapping() -> dict[str, str]:
    """Outcome text → group, read from the shipped CSV with pandas."""
    frame = pd.read_csv(REPO / "psa_geo" / "resources" / "outcome_groups.csv", dtype=str)
    assert not frame["outcome"].duplicated().any()
    return dict(zip(frame["outcome"], frame["group"], strict=True))


@pytest.fixture(scope="module")
def raw(mirror, mapping) -> pd.DataFrame:
    """Both street files as published (crimes only), with the file and the outcome group."""
    frames = [
        pd.read_csv(mirror / "crime" / name, dtype=str, keep_default_na=False).assign(file=name)
        for name in FILES.values()
    ]
    frame = pd.concat(frames, ignore_index=True)
    frame = frame[frame["Crime type"] != ASB]
    return frame.assign(group=frame["Last outcome category"].map(mapping))


@pytest.fixture(scope="module")
def events(mirror, areas):
    paths = [mirror / "crime" / name for name in FILES.values()]
    return psa_geo.assign_areas(psa_geo.read_police_uk(paths), areas)


@pytest.fixture(scope="module")
def lookup(mirror) -> pd.DataFrame:
    return pd.read_csv(mirror / "lookups" / "lsoa11_master_lookup_devon_cornwall.csv", dtype=str)


def in_fy(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["Month"].between("2018-04", "2019-03")]


def direct_shares(frame: pd.DataFrame) -> pd.DataFrame:
    """Count, crimes and share (%) of each outcome group in ``frame``."""
    counts = frame["group"].value_counts().reindex(GROUPS, fill_value=0)
    return pd.DataFrame({"count": counts, "crimes": len(frame), "share": 100 * counts / len(frame)})


def rows_of(table: pd.DataFrame, crime_group: str = ALL) -> pd.DataFrame:
    return table[table["crime_group"] == crime_group].set_index(["area_name", "outcome_group"])


def test_every_outcome_text_is_in_one_group(raw, mapping):
    assert sorted(set(mapping.values())) == sorted(GROUPS)
    assert list(psa_geo.load_outcome_groups()) == GROUPS
    assert set(raw["Last outcome category"]) <= set(mapping)  # every text of the mirror
    assert set(DOCUMENTED) <= set(mapping)
    court = [t for t in DOCUMENTED if t.startswith(("Defendant", "Court", "Suspect charged"))]
    court += [t for t in DOCUMENTED if t.startswith("Offender") and "given a" not in t
              and "penalty notice" not in t]  # fmt: skip
    assert {mapping[t] for t in [*court, "Awaiting court outcome"]} == {"Charged or summonsed"}


def test_fy2018_19_shares_equal_a_direct_count_of_the_files(events, areas, raw):
    table = psa_geo.outcome_table(events, areas, period=FY, level="peninsula")
    assert set(table["period"]) == {"2018/19"} and set(table["vs_peninsula_95"]) == {""}
    fy = in_fy(raw)
    assert len(fy) == 105_632  # PROVENANCE.md's count of the crimes of 2018/19
    expected = direct_shares(fy)
    got = rows_of(table).droplevel("area_name")
    assert list(got.index) == GROUPS  # every outcome of the mirror is in a group
    assert (got["count"] == expected["count"]).all() and (got["crimes"] == len(fy)).all()
    assert got["share_pct"].to_numpy() == pytest.approx(expected["share"].to_numpy(), abs=1e-9)
    assert round(got.loc["No suspect identified", "share_pct"], 1) == 34.3
    assert got["share_pct"].sum() == pytest.approx(100)
    for group in GROUPS:
        k, n = int(expected.loc[group, "count"]), len(fy)
        wilson = binomtest(k, n).proportion_ci(method="wilson")
        assert got.loc[group, "share_lower_95"] == pytest.approx(100 * wilson.low, abs=1e-9)
        assert got.loc[group, "share_upper_95"] == pytest.approx(100 * wilson.high, abs=1e-9)
    for crime_group in ("Burglary", "Shoplifting"):
        got = rows_of(table, crime_group).droplevel("area_name")["count"]
        assert (got == direct_shares(fy[fy["Crime type"] == crime_group])["count"]).all()


def _flag(count: int, crimes: int, benchmark: float) -> str:
    """Higher, similar or lower: the benchmark against the area's 95% Wilson interval."""
    interval = binomtest(count, crimes).proportion_ci(method="wilson")
    if benchmark < interval.low:
        return "higher"
    return "lower" if benchmark > interval.high else "similar"


def test_csp_and_town_shares_equal_direct_counts_and_compare_with_the_peninsula(
    events, areas, raw, lookup
):
    fy = in_fy(raw)
    located = fy[fy["LSOA code"].isin(set(lookup["LSOA11CD"]))]
    benchmark = direct_shares(located)["share"] / 100
    csp = psa_geo.outcome_table(events, areas, period=FY, level="csp")
    names = dict(zip(areas["csp_code"], areas["csp_name"], strict=False))
    csp_of = dict(zip(lookup["LSOA11CD"], lookup["CSP18CD"].map(names), strict=True))
    towns = pd.read_csv(REPO / "boundaries" / "safer_towns.csv", dtype=str)
    town_of = dict(zip(towns["lsoa_code"], towns["town"], strict=True))
    town = psa_geo.outcome_table(
        events, areas, period=FY, level="town", towns=psa_geo.load_towns(areas=areas)
    )
    flags = set()
    for table, area_of, size in ((csp, csp_of, 8), (town, town_of, 10)):
        got = rows_of(table)
        assert got.index.get_level_values("area_name").nunique() == size
        for name, rows in located.groupby(located["LSOA code"].map(area_of)):
            expected = direct_shares(rows)
            for group in GROUPS:
                row = got.loc[(name, group)]
                assert (row["count"], row["crimes"]) == (expected.loc[group, "count"], len(rows))
                assert row["peninsula_share_pct"] == pytest.approx(100 * benchmark[group])
                flag = _flag(int(row["count"]), len(rows), benchmark[group])
                assert row["vs_peninsula_95"] == flag, (name, group)
                flags.add(flag)
    assert flags == {"higher", "similar", "lower"}
    plymouth = rows_of(csp).loc[("Plymouth", "No suspect identified")]
    assert plymouth["share_pct"] < plymouth["peninsula_share_pct"]


def test_outcomes_mature_by_month_and_file(events, areas, raw):
    months = psa_geo.outcomes_by_month(events, areas)
    assert set(months["extract_date"]) == {UNKNOWN}
    pending = 100 * raw["Last outcome category"].isin(PENDING).groupby(raw["Month"]).mean()
    assert round(pending["2018-12"]) == 55 and round(pending["2019-01"]) == 2
    for (month, label), rows in months.groupby(["month", "source_file"]):
        direct = raw[raw["Month"] == month]
        assert label.endswith(direct["file"].iloc[0]) and direct["file"].nunique() == 1
        assert rows["pending_pct"].iloc[0] == pytest.approx(pending[month])
        counts = rows.set_index("outcome_group")["count"]
        assert (counts == direct_shares(direct)["count"]).all(), month
    files = psa_geo.outcomes_by_file(events, areas).drop_duplicates("source_file")
    per_file = raw.groupby("file").agg(crimes=("Month", "size"), first=("Month", "min"),
                                       last=("Month", "max"))  # fmt: skip
    for row in files.itertuples():
        expected = per_file.loc[row.source_file.rsplit("/", 1)[-1]]
        assert (row.crimes, row.first_month, row.last_month) == tuple(expected)


@pytest.fixture(scope="module")
def extracts_data(raw, tmp_path_factory):
    """The real crimes of January to March 2019 as police.uk serves them: January in its
    archive 2019-03.zip, February as a monthly folder, March in a download of another name."""
    root = tmp_path_factory.mktemp("extracts")
    columns = [c for c in raw.columns if c not in ("file", "group")]
    month = {m: raw.loc[raw["Month"] == m, columns] for m in ("2019-01", "2019-02", "2019-03")}
    with zipfile.ZipFile(root / "2019-03.zip", "w") as archive:
        archive.writestr("2019-01/2019-01-devon-and-cornwall-street.csv",
                         month["2019-01"].to_csv(index=False))  # fmt: skip
    (root / "monthly" / "2019-02").mkdir(parents=True)
    month["2019-02"].to_csv(root / "monthly/2019-02/2019-02-devon-and-cornwall-street.csv",
                            index=False)  # fmt: skip
    with zipfile.ZipFile(root / "download.zip", "w") as archive:
        archive.writestr("2019-03/2019-03-devon-and-cornwall-street.csv",
                         month["2019-03"].to_csv(index=False))  # fmt: skip
    return root


def test_extract_dates_come_from_the_archive_name_or_the_option(extracts_data):
    root = extracts_data
    paths = [root / "2019-03.zip", root / "monthly", root / "download.zip"]
    _, report = psa_geo.read_police_uk(paths, return_report=True)
    jan, feb, mar = report.files
    assert psa_geo.file_extracts(report.files) == {jan: "2019-03", feb: UNKNOWN, mar: UNKNOWN}
    given = psa_geo.file_extracts(report.files, dates={root / "monthly": "2020-01-15"})
    assert given == {jan: "2019-03", feb: "2020-01-15", mar: UNKNOWN}
    with pytest.raises(PsaGeoError, match=r"no police\.uk file read is that file") as err:
        psa_geo.file_extracts(report.files, dates={root / "elsewhere": "2020-01"})
    assert str(root / "elsewhere") in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(PsaGeoError, match="should be YYYY-MM or YYYY-MM-DD"):
        psa_geo.file_extracts(report.files, dates={root / "monthly": "2020-13"})


def test_the_page_says_when_a_period_spans_extracts(extracts_data, areas, tmp_path):
    root = extracts_data
    paths = [root / "2019-03.zip", root / "monthly", root / "download.zip"]
    events, report = psa_geo.read_police_uk(paths, return_report=True)
    events = psa_geo.assign_areas(events, areas)
    quarter = psa_geo.parse_period("2019-01:2019-03")
    dates = psa_geo.file_extracts(report.files, dates={root / "monthly": "2019-03"})
    written, summary = psa_geo.write_outcomes(
        events, areas, tmp_path, study=quarter, extracts=dates
    )
    assert summary["study_extracts"] == 2  # the archive and the folder of 2019-03 are one
    page = " ".join(written[-1].read_text(encoding="utf-8").split())
    assert "span 2 police.uk extracts" in page
    member = "-devon-and-cornwall-street.csv"
    assert f"2019-03.zip!2019-01{member} (2019-01, extracted in 2019-03)" in page
    assert f"download.zip!2019-03{member} (2019-03, extracted at an unknown date)" in page
    assert str(root) not in page  # file names, never local folders
    by_month = pd.read_csv(tmp_path / "outcomes" / "outcomes_by_month.csv", encoding="utf-8-sig")
    assert by_month.drop_duplicates("month")["extract_date"].tolist() == ["2019-03"] * 2 + [UNKNOWN]
    one = psa_geo.write_outcomes(events, areas, tmp_path / "jan",
                                 study=psa_geo.parse_period("2019-01:2019-01"))[1]  # fmt: skip
    assert one["study_extracts"] == 1 and "come from one police.uk extract" in one["extracts"]


def test_a_text_in_no_group_is_counted_and_named(raw, areas, tmp_path):
    columns = [c for c in raw.columns if c not in ("file", "group")]
    january = raw.loc[raw["Month"] == "2019-01", columns].copy()
    january.iloc[:25, january.columns.get_loc("Last outcome category")] = "Referred to the moon"
    path = tmp_path / "2019-01-devon-and-cornwall-street.csv"
    january.to_csv(path, index=False)
    events = psa_geo.assign_areas(psa_geo.read_police_uk(path), areas)
    assert psa_geo.unmapped_outcomes(events) == {"Referred to the moon": 25}
    month = psa_geo.parse_period("2019-01:2019-01")
    table = psa_geo.outcome_table(events, areas, period=month, level="peninsula")
    got = rows_of(table).droplevel("area_name")
    assert list(got.index) == [*GROUPS, NOT_GROUPED]
    assert got.loc[NOT_GROUPED, "count"] == 25 and got["count"].sum() == len(january)
    summary = psa_geo.write_outcomes(events, areas, tmp_path, study=month)[1]
    assert summary["unmapped"] == {"Referred to the moon": 25} and summary["unmapped_total"] == 25
    texts = pd.read_csv(tmp_path / "outcomes" / "outcome_texts.csv", encoding="utf-8-sig")
    moon = texts.set_index("outcome").loc["Referred to the moon"]
    assert (moon["outcome_group"], moon["crimes"]) == (NOT_GROUPED, 25)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("group,outcome\nA,Under investigation\nB,under investigation\n", "is in two groups"),
        ("group,outcome\nA,\n", "row 2 has a blank group or outcome"),
        ("group,text\nA,Under investigation\n", "missing columns outcome"),
        ("group,outcome\n", "defines no outcome groups"),
        (f"group,outcome\n{NOT_GROUPED},Under investigation\n", "is kept for texts in no group"),
    ],
    ids=["twice", "blank", "columns", "empty", "reserved"],
)
def test_a_bad_outcome_groups_file_is_one_line_naming_it(tmp_path, rows, message):
    path = tmp_path / "groups.csv"
    path.write_text(rows, encoding="utf-8")
    with pytest.raises(InputFileError, match=message) as err:
        psa_geo.load_outcome_groups(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_a_bad_extract_date_option_is_refused_in_one_line(tmp_path):
    done = run_cli("build", "--extract-date", "crime/2019.csv=2019-13", "--out", tmp_path / "o")
    assert done.returncode == 2 and "should be PATH=YYYY-MM or PATH=YYYY-MM-DD" in done.stderr
    assert done.stderr.count("\n") == 1 and not (tmp_path / "o").exists()


# --- The page of the shared build (default study period: calendar 2019) ---------------------


def test_the_built_page_equals_a_direct_count(built, raw):
    out, _ = built
    folder = out / "outcomes"
    page = folder / "index.html"
    html = page.read_text(encoding="utf-8")
    report = json.loads((out / "run_report.json").read_text(encoding="utf-8"))
    assert report["study_period"]["label"] == "2019"
    year = raw[raw["Month"].str.startswith("2019")]
    expected = direct_shares(year)
    [pen] = [r for r in tables_of(page)["by-area"] if r[0].startswith("Peninsula")]
    assert pen[1] == f"{len(year):,}"
    shown = [float(re.match(r"([\d.]+)%", cell)[1]) for cell in pen[2:]]
    assert shown == [round(v, 1) for v in expected["share"]]
    by_area = pd.read_csv(folder / "outcomes_by_area.csv", encoding="utf-8-sig")
    assert set(by_area["level"]) == {"peninsula", "csp", "town"}
    csv_pen = by_area[(by_area["level"] == "peninsula") & (by_area["crime_group"] == ALL)]
    assert csv_pen["count"].tolist() == expected["count"].tolist()
    outcomes = report["outcomes"]
    assert outcomes["unmapped"] == {} and outcomes["study_crimes"] == len(year)
    assert [f["extract_date"] for f in outcomes["files"]] == [UNKNOWN, UNKNOWN]
    assert outcomes["study_extracts"] == 1 and "come from one police.uk extract" in html
    month = tables_of(page)["by-month"]
    assert [r[0] for r in month[1:]] == sorted(raw["Month"].unique())
    assert {r[1] for r in month[1:]} == set(FILES.values())
    assert html.count("<svg") == 2 and html.count("<desc>") == 2
    assert html.count("<caption>") == len(tables_of(page)) == 6
    assert 'href="outcomes/index.html"' in (out / "index.html").read_text(encoding="utf-8")
    assert all(f"outcomes/{p.name}" in report["outputs"] for p in folder.iterdir())


@pytest.mark.browser
def test_the_outcomes_page_in_a_browser(built):
    browser_support.require_browser()
    out, _ = built
    with browser_support.open_page(out / "outcomes" / "index.html", wait_for="table") as session:
        page = session.page
        assert page.evaluate("() => document.documentElement.lang") == "en-GB"
        for table in ("by-area", "by-crime-group", "by-town", "by-month", "by-file", "texts"):
            assert page.locator(f"#{table} tbody tr").count() > 0, table
            assert page.locator(f"#{table} caption").inner_text()
        assert page.locator("#by-area tbody tr").count() == 9  # the Peninsula and 8 CSPs
        charts = page.locator("figure svg[role=img]")
        assert charts.count() == 2 and charts.first.bounding_box()["width"] > 300
        assert page.locator("#by-area .rag").first.inner_text() in {"higher", "similar", "lower"}
        assert page.evaluate("() => document.querySelectorAll('th[scope]').length") > 50
        assert session.errors == [] and session.unexpected == [] and session.dialogs == []
