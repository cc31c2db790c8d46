import pandas as pd
import pytest
from conftest import make_events

import psa_geo


def monthly_events(tiny_areas, per_month: dict[str, int]):
    points, dates = [], []
    for month, n in per_month.items():
        points += [(50, 50)] * n
        dates += [f"{month}-01"] * n
    return psa_geo.assign_areas(make_events(points, dates=dates), tiny_areas)


def test_monthly_series_fills_empty_months_and_rolls(tiny_areas):
    counts = {f"2018-{m:02d}": 1 for m in range(1, 13)} | {"2019-01": 3}
    counts["2018-05"] = 0
    events = monthly_events(tiny_areas, counts)
    series = psa_geo.monthly_series(events, tiny_areas, level="lsoa")
    left = series[series["area_code"] == "E01000002"].set_index("month")
    assert len(left) == 13
    assert left.loc["2018-05-01", "count"] == 0
    assert pd.isna(left.loc["2018-11-01", "rolling_12m"])
    assert left.loc["2018-12-01", "rolling_12m"] == 11
    assert left.loc["2019-01-01", "rolling_12m"] == 13  # 11 - 1 (Jan 2018) + 3
    other = series[series["area_code"] == "E01000003"]
    assert other["count"].sum() == 0  # areas with no events are listed with zeros


def test_summer_uplift(tiny_areas):
    counts = {f"2019-{m:02d}": (4 if m in (7, 8, 9) else 2) for m in range(1, 13)}
    counts["2019-08"] = 6
    events = monthly_events(tiny_areas, counts)
    series = psa_geo.monthly_series(events, tiny_areas, level="csp")
    table = psa_geo.seasonality(series, period=psa_geo.calendar_year(2019)).set_index("area_code")
    row = table.loc["E22000001"]
    assert row.jul_sep_avg == pytest.approx(14 / 3)
    assert row.other_avg == pytest.approx(2)
    assert row.summer_uplift_pct == pytest.approx(100 * (14 / 3 - 2) / 2)
    assert row.peak_month == "August"
    assert pd.isna(table.loc["E22000002", "summer_uplift_pct"])  # no events: no uplift


def test_seasonality_needs_twelve_whole_months(tiny_areas):
    events = monthly_events(tiny_areas, {"2019-01": 1, "2019-06": 1})
    series = psa_geo.monthly_series(events, tiny_areas, level="csp")
    with pytest.raises(ValueError, match="all 12 months"):
        psa_geo.seasonality(series, period=psa_geo.calendar_year(2019))
    with pytest.raises(ValueError, match="12-month period"):
        psa_geo.seasonality(series, period=psa_geo.parse_period("2019-01:2019-06"))
