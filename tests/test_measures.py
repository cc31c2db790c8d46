import math

import pandas as pd
import pytest
from conftest import make_events

import psa_geo
from psa_geo.measures import ALL_CRIME, ASB


@pytest.mark.parametrize(
    ("current", "previous", "arrow"),
    # The assessment's own table: +7% ▲, +4% ▶, −2% ▶, −5% ▼, −6% ▼.
    [
        (107, 100, "▲"),
        (104, 100, "▶"),
        (98, 100, "▶"),
        (95, 100, "▼"),
        (94, 100, "▼"),
        (105, 100, "▲"),
        (3, 0, "▲"),
        (0, 0, "▶"),
    ],
)
def test_trend_arrow(current, previous, arrow):
    assert psa_geo.trend_arrow(current, previous) == arrow


def test_trend_arrow_threshold_is_an_option():
    assert psa_geo.trend_arrow(104, 100, threshold=0.03) == "▲"
    assert psa_geo.trend_arrow(110, 100, threshold=0.2) == "▶"
    with pytest.raises(ValueError, match="threshold"):
        psa_geo.trend_arrow(1, 1, threshold=-0.1)


def test_change_pct():
    assert psa_geo.change_pct(110, 100) == pytest.approx(10.0)
    assert math.isnan(psa_geo.change_pct(5, 0))


TINY_GROUPS = {ALL_CRIME: ["Burglary", "Drugs"], ASB: [ASB], "Burglary": ["Burglary"],
               "Drugs": ["Drugs"]}  # fmt: skip


@pytest.fixture
def tiny_assigned(tiny_areas):
    points = [(50, 50), (50, 60), (150, 50), (250, 50), None, (150, 50), (50, 50)]
    categories = ["Burglary", "Burglary", ASB, "Drugs", "Burglary", "Burglary", "Drugs"]
    dates = ["2019-02-01"] * 5 + ["2018-03-01", "2018-04-01"]
    events = make_events(points, categories=categories, dates=dates)
    return psa_geo.assign_areas(events, tiny_areas)


def test_rate_table_counts_rates_and_zero_areas(tiny_assigned, tiny_areas):
    study, comparison = psa_geo.calendar_year(2019), psa_geo.calendar_year(2018)
    lsoa = psa_geo.rate_table(
        tiny_assigned,
        tiny_areas,
        groups=TINY_GROUPS,
        level="lsoa",
        study=study,
        comparison=comparison,
    ).set_index(["area_code", "category"])
    assert lsoa.loc[("E01000002", "Burglary"), "count"] == 2
    assert lsoa.loc[("E01000002", "Burglary"), "rate_per_1000"] == pytest.approx(2.0)
    assert lsoa.loc[("E01000002", ALL_CRIME), "count"] == 2
    assert lsoa.loc[("E01000002", ALL_CRIME), "comparison_count"] == 1  # Drugs, April 2018
    assert lsoa.loc[("E01000001", ASB), "count"] == 1
    assert lsoa.loc[("E01000001", ALL_CRIME), "count"] == 0  # ASB is not crime
    assert lsoa.loc[("E01000003", "Burglary"), "count"] == 0  # zero rows are present
    assert len(lsoa) == 3 * 4  # 3 LSOAs x (all crime, ASB, Burglary, Drugs)


def test_unlocated_events_count_in_the_peninsula_only(tiny_assigned, tiny_areas):
    study, comparison = psa_geo.calendar_year(2019), psa_geo.calendar_year(2018)
    csp = psa_geo.rate_table(
        tiny_assigned,
        tiny_areas,
        groups=TINY_GROUPS,
        level="csp",
        study=study,
        comparison=comparison,
    )
    every_month = set(pd.date_range("2018-01-01", "2019-12-01", freq="MS"))
    pen = psa_geo.rate_table(
        tiny_assigned,
        tiny_areas,
        level="peninsula",
        study=study,
        comparison=comparison,
        months_covered=every_month,
    ).set_index("category")
    burglary_csp = csp[csp["category"] == "Burglary"]["count"].sum()
    assert burglary_csp == 2
    assert pen.loc["Burglary", "count"] == 3
    assert pen.loc["Burglary", "located_count"] == 2
    assert pen.loc["Burglary", "without_location"] == 1
    assert pen.loc["Burglary", "population"] == 3500
    assert pen.loc["Burglary", "trend"] == "▲"  # 3 against 1


def test_incomplete_comparison_period_is_not_compared(tiny_assigned, tiny_areas):
    fy = psa_geo.financial_year("2018/19")
    table = psa_geo.rate_table(
        tiny_assigned,
        tiny_areas,
        groups=TINY_GROUPS,
        level="csp",
        study=fy,
        comparison=fy.previous(),
    )
    assert table["trend"].eq("").all()
    assert table["change_pct"].isna().all()
    assert table["trend_word"].str.contains("2017/18 has data for 1 of 12 months").all()


@pytest.mark.data
def test_real_tables_add_up_across_levels(assigned_2019, areas):
    events, _ = assigned_2019
    study = psa_geo.calendar_year(2019)
    totals = {}
    for level in ("lsoa", "ward", "lad", "csp", "peninsula"):
        table = psa_geo.rate_table(
            events,
            areas,
            groups=psa_geo.load_crime_groups(),
            level=level,
            study=study,
            comparison=study.previous(),
        )
        crime = table[table["category"] == ALL_CRIME]
        totals[level] = int(crime["count"].sum())
        assert crime["population"].sum() == areas["population"].sum()
    pen_table = psa_geo.rate_table(
        events,
        areas,
        groups=psa_geo.load_crime_groups(),
        level="peninsula",
        study=study,
        comparison=study.previous(),
    )
    located = pen_table.loc[pen_table["category"] == ALL_CRIME, "located_count"].iloc[0]
    assert totals["lsoa"] == totals["ward"] == totals["lad"] == totals["csp"] == located
    crime = events[events["category"] != ASB]
    inside = crime[crime["area_status"] == "inside"]
    unlocated = crime[crime["area_status"] == "no_location"]
    force_outside = crime[(crime["area_status"] == "outside")
                          & (crime["falls_within"] == "Devon & Cornwall Police")]  # fmt: skip
    assert located == len(inside)
    # The Peninsula row is the force total.
    assert totals["peninsula"] == len(inside) + len(unlocated) + len(force_outside)
    assert pd.isna(pen_table["change_pct"]).all()  # only 2019 was read: 2018 is not compared


@pytest.mark.data
def test_financial_year_2018_19_matches_the_independent_counts(assigned_all, areas):
    """PROVENANCE.md: Apr 2018 - Mar 2019 has 105,632 crimes excl. ASB and 40,366 ASB."""
    events = assigned_all
    fy = psa_geo.financial_year("2018/19")
    pen = psa_geo.rate_table(
        events,
        areas,
        level="peninsula",
        study=fy,
        comparison=fy.previous(),
        groups=psa_geo.load_crime_groups(),
    ).set_index("category")
    assert pen.loc[ALL_CRIME, "count"] == 105_632
    assert pen.loc[ASB, "count"] == 40_366
    assert pen.loc[ALL_CRIME, "trend"] == ""  # 2017/18 is not in the data


def test_intervals_significance_and_parent_comparison(tiny_assigned, tiny_areas):
    every_month = set(pd.date_range("2018-01-01", "2019-12-01", freq="MS"))
    table = psa_geo.rate_table(
        tiny_assigned,
        tiny_areas,
        groups=TINY_GROUPS,
        level="lsoa",
        study=psa_geo.calendar_year(2019),
        comparison=psa_geo.calendar_year(2018),
        months_covered=every_month,
    ).set_index(["area_code", "category"])
    row = table.loc[("E01000002", "Burglary")]
    _, lower, upper = psa_geo.rate_ci(2, 1000)
    assert (row.rate_lower_95, row.rate_upper_95) == pytest.approx((lower, upper))
    assert row.rate_lower_998 < row.rate_lower_95 < row.rate_per_1000 < row.rate_upper_95
    assert row.change_significance == "not significant"  # 2 against 0
    # Parent of an LSOA is its CSP, whose located Burglary rate is 2 per 3,000 residents.
    assert row.parent_name == "Town CSP"
    assert row.parent_rate_per_1000 == pytest.approx(2 / 3)
    assert row.vs_parent_95 == "similar"


def test_overlapping_periods_are_refused(tiny_assigned, tiny_areas):
    with pytest.raises(psa_geo.PsaGeoError, match="overlap"):
        psa_geo.rate_table(
            tiny_assigned,
            tiny_areas,
            level="csp",
            study=psa_geo.calendar_year(2019),
            comparison=psa_geo.parse_period("2019-06:2020-05"),
        )
