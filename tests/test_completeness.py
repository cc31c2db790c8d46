import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import make_events, run_cli_together

import psa_geo
from psa_geo.completeness import (
    COLUMNS,
    describe_incomplete,
    incomplete_gap,
    incomplete_months,
    monthly_totals,
    report_rows,
)
from psa_geo.measures import ALL_CRIME

COUNTS_FILE = "policeuk_crime_counts_lsoa21_monthly_2022-05_2025-04_devon_cornwall.csv"


def series(shares: dict[str, float], *, months: int = 12, start: str = "2023-01") -> pd.Series:
    """``months`` months of 1,000 each from ``start``, with the months in ``shares`` scaled."""
    index = pd.period_range(start, periods=months, freq="M").strftime("%Y-%m")
    values = [1000.0 * shares.get(month, 1.0) for month in index]
    return pd.Series(values, index=index)


def flagged(frame: pd.DataFrame) -> list[str]:
    return frame["month"].tolist()


@pytest.mark.parametrize(
    ("shares", "expected"),
    [
        ({"2023-04": 0.79, "2023-05": 0.79, "2023-06": 0.79}, ["2023-04", "2023-05", "2023-06"]),
        ({"2023-04": 0.79, "2023-05": 0.79}, []),
        ({"2023-04": 0.79, "2023-05": 0.79, "2023-07": 0.79}, []),  # not consecutive
        ({"2023-04": 0.8, "2023-05": 0.8, "2023-06": 0.8}, []),  # at 80% is not below it
        ({"2023-04": 0.49}, ["2023-04"]),
        ({"2023-04": 0.5}, []),
        ({}, []),
    ],
    ids=["run-of-3", "run-of-2", "broken-run", "at-80", "single-49", "single-50", "none"],
)
def test_rule_on_hand_made_series(shares, expected):
    out = incomplete_months(series(shares))
    assert list(out.columns) == COLUMNS
    assert flagged(out) == expected


def test_reasons_and_shares():
    shares = {"2023-04": 0.7, "2023-05": 0.7, "2023-06": 0.7, "2023-09": 0.4}
    out = incomplete_months(series(shares)).set_index("month")
    assert out.loc["2023-04", "rule"] == "run"
    assert out.loc["2023-04", "reason"] == (
        "one of 3 consecutive months (2023-04 to 2023-06) below 80% of the median month"
    )
    assert out.loc["2023-09", "rule"] == "single"
    assert out.loc["2023-09", "reason"] == "below 50% of the median month"
    assert out.loc["2023-09", "share_of_median"] == pytest.approx(0.4)
    assert out.loc["2023-09", "total"] == pytest.approx(400)
    assert describe_incomplete(out.reset_index()) == (
        "2023-04 to 2023-06 look incomplete (below 80% of the median month); "
        "2023-09 looks incomplete (below 50% of the median month)"
    )


def test_thresholds_are_options():
    run = {"2023-04": 0.85, "2023-05": 0.85}
    assert flagged(incomplete_months(series(run))) == []
    assert flagged(incomplete_months(series(run), run_below=0.9, min_run=2)) == [
        "2023-04",
        "2023-05",
    ]
    single = {"2023-04": 0.6}
    assert flagged(incomplete_months(series(single))) == []
    assert flagged(incomplete_months(series(single), single_below=0.7)) == ["2023-04"]
    assert incomplete_months(series({"2023-04": 0.1}), single_below=0, run_below=0).empty
    with pytest.raises(psa_geo.PsaGeoError, match="run_below"):
        incomplete_months(series({}), run_below=1.5)
    with pytest.raises(psa_geo.PsaGeoError, match="min_run"):
        incomplete_months(series({}), min_run=0)


def test_fewer_than_six_months_are_not_checked(caplog):
    """With under ``min_months`` (6) months the median is no yardstick: nothing is flagged
    and the log says so."""
    short = series({"2023-02": 0.1}, months=5)
    with caplog.at_level("INFO", logger="psa_geo.completeness"):
        assert incomplete_months(short).empty
    assert "fewer than 6" in caplog.text
    assert flagged(incomplete_months(short, min_months=5)) == ["2023-02"]


def test_absent_month_is_not_judged_and_breaks_a_run():
    totals = series({"2023-04": 0.7, "2023-05": 0.7, "2023-07": 0.7}).drop("2023-06")
    assert flagged(incomplete_months(totals)) == []


def test_events_with_date_and_weight_are_totalled():
    dates = [f"2023-{m:02d}-01" for m in range(1, 13) for _ in range(10 if m != 5 else 4)]
    events = make_events([None] * len(dates), dates=dates)
    totals = monthly_totals(events)
    assert totals.loc[pd.Timestamp("2023-05-01")] == 4
    assert flagged(incomplete_months(events)) == ["2023-05"]
    assert flagged(incomplete_months(events.assign(weight=2))) == ["2023-05"]


def test_real_counts_file_flags_april_to_november_2023(mirror):
    counts = pd.read_csv(mirror / "crime" / COUNTS_FILE, usecols=["MONTH", "CRIME_COUNT"])
    totals = counts.groupby("MONTH")["CRIME_COUNT"].sum()
    out = incomplete_months(totals)
    expected = [f"2023-{m:02d}" for m in range(4, 12)]
    assert flagged(out) == expected
    assert (out["month"] < "2023-12").all()  # none from December 2023 on
    assert out["share_of_median"].between(0.6, 0.8).all()
    fy24, fy23 = psa_geo.financial_year("2024/25"), psa_geo.financial_year("2023/24")
    assert incomplete_gap(out, fy24, fy23) == (
        "not comparable: 2023-04 to 2023-11 look incomplete (below 80% of the median month)"
    )
    assert incomplete_gap(out, fy24, psa_geo.financial_year("2022/23")) is None
    rows = report_rows(out)
    assert rows[0] == {
        "month": "2023-04",
        "total": int(totals["2023-04"]),
        "share_of_median": pytest.approx(totals["2023-04"] / totals.median(), abs=1e-4),
        "reason": out["reason"].iloc[0],
    }


def test_real_street_files_flag_no_month(mirror):
    events = psa_geo.read_police_uk(
        [
            mirror / "crime" / f"policeuk_street_devon_cornwall_{year}.csv.gz"
            for year in (2018, 2019)
        ]
    )
    totals = monthly_totals(events)
    assert len(totals) == 24
    assert incomplete_months(totals).empty


def test_rate_table_withholds_a_change_across_a_flagged_month(tiny_areas):
    months = [f"{y}-{m:02d}-01" for y in (2018, 2019) for m in range(1, 13)]
    points = [(50, 50), (250, 50)] * len(months)  # one event a month in each CSP
    events = make_events(points, dates=[m for m in months for _ in range(2)])
    events = psa_geo.assign_areas(events, tiny_areas)
    every_month = set(pd.to_datetime(months))
    options = {
        "level": "csp",
        "study": psa_geo.calendar_year(2019),
        "comparison": psa_geo.calendar_year(2018),
        "groups": {ALL_CRIME: ["Burglary"]},
        "months_covered": every_month,
    }
    plain = psa_geo.rate_table(events, tiny_areas, **options)
    assert plain["trend"].ne("").all()
    assert plain["change_pct"].notna().all()
    flags = incomplete_months(series({"2018-04": 0.3}, start="2018-01", months=24))
    table = psa_geo.rate_table(events, tiny_areas, incomplete=flags, **options)
    reason = "not comparable: 2018-04 looks incomplete (below 50% of the median month)"
    assert table["trend"].eq("").all()
    assert table["change_pct"].isna().all()
    assert table["change_p_value"].isna().all()
    assert table["trend_word"].eq(reason).all()
    assert table["change_significance"].eq(reason).all()
    assert table["count"].tolist() == plain["count"].tolist()  # counts and rates stay
    # A flagged month outside both periods changes nothing.
    later = incomplete_months(series({"2020-04": 0.3}, start="2019-06", months=12))
    assert psa_geo.rate_table(events, tiny_areas, incomplete=later, **options).equals(plain)


@pytest.fixture(scope="module")
def thinned_data(small_data, tmp_path_factory) -> Path:
    """The cut-down data with two of every three rows of April to June 2018 left out."""
    data = tmp_path_factory.mktemp("thinned")
    for folder in small_data.iterdir():
        if folder.name != "crime":
            (data / folder.name).symlink_to(folder.resolve())
    (data / "crime").mkdir()
    for path in sorted((small_data / "crime").glob("*.csv.gz")):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        thin = frame["Month"].isin(["2018-04", "2018-05", "2018-06"])
        keep = ~thin | (pd.Series(range(len(frame)), index=frame.index) % 3 == 0)
        frame[keep].to_csv(data / "crime" / path.name, index=False)
    return data


@pytest.mark.data
def test_build_withholds_trends_and_names_the_months(thinned_data, tmp_path):
    out, town, off = tmp_path / "tables", tmp_path / "towns", tmp_path / "off"
    # The thresholds are options: at 20% nothing is flagged and the trends come back.
    options = ("--incomplete-run", "0.2", "--incomplete-single", "0.2", "--quiet")
    # Three independent commands, each into its own folder: run at once.
    result, profiled, unflagged = run_cli_together(
        ("tables", "--data-dir", thinned_data, "--out", out, "--quiet"),
        ("profile", "--data-dir", thinned_data, "--out", town, "--town", "Penzance"),
        ("tables", "--data-dir", thinned_data, "--out", off, *options),
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "run_report.json").read_text(encoding="utf-8"))
    rows = report["incomplete_months"]["police_uk"]
    assert [r["month"] for r in rows] == ["2018-04", "2018-05", "2018-06"]
    assert all(r["share_of_median"] < 0.5 and r["total"] > 0 and r["reason"] for r in rows)
    assert report["incomplete_rule"]["run_below"] == 0.8
    reason = "not comparable: 2018-04 to 2018-06 look incomplete (below 80% of the median month)"
    csp = pd.read_csv(out / "tables" / "rates_csp.csv", encoding="utf-8-sig")
    assert csp["trend_word"].eq(reason).all()
    assert csp["change_pct"].isna().all() and csp["count"].gt(0).any()
    page = (out / "assessment.html").read_text(encoding="utf-8")
    assert "Incomplete months:</strong> police.uk months 2018-04 to 2018-06 look incomplete" in page

    assert profiled.returncode == 0, profiled.stderr
    profile = (town / "towns" / "penzance.html").read_text(encoding="utf-8")
    assert "Incomplete months:</strong> police.uk months 2018-04 to 2018-06" in profile
    towns_index = (town / "towns" / "index.html").read_text(encoding="utf-8")
    assert "Incomplete months:</strong> police.uk months 2018-04 to 2018-06" in towns_index

    assert unflagged.returncode == 0, unflagged.stderr
    report = json.loads((off / "run_report.json").read_text(encoding="utf-8"))
    assert report["incomplete_months"] == {"police_uk": []}
    csp = pd.read_csv(off / "tables" / "rates_csp.csv", encoding="utf-8-sig")
    assert not csp["trend_word"].str.startswith("not comparable").any()
    assert csp["change_pct"].notna().any()
