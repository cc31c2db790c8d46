import pandas as pd
import pytest

import psa_geo


def test_financial_year():
    fy = psa_geo.financial_year("2018/19")
    assert (fy.label, str(fy.start.date()), str(fy.end.date())) == (
        "2018/19",
        "2018-04-01",
        "2019-04-01",
    )
    assert fy == psa_geo.financial_year(2018)
    assert fy.previous().label == "2017/18"
    with pytest.raises(ValueError, match="2018/19"):
        psa_geo.financial_year("2018/20")


@pytest.mark.parametrize(
    ("text", "label", "months"),
    [
        ("2019", "2019", 12),
        ("2019/20", "2019/20", 12),
        ("2019-01:2019-06", "Jan 2019 – Jun 2019", 6),
    ],
)
def test_parse_period(text, label, months):
    period = psa_geo.parse_period(text)
    assert (period.label, period.months) == (label, months)


def test_parse_period_rejects_nonsense():
    for text in ("last year", "2019-06:2019-01"):
        with pytest.raises(ValueError):
            psa_geo.parse_period(text)


def test_latest_complete_months_for_monthly_and_daily_data():
    monthly = pd.DataFrame(
        {"date": pd.to_datetime(["2018-01-01", "2019-12-01"]), "date_precision": "month"}
    )
    study, comparison = psa_geo.latest_complete_months(monthly)
    assert (study.label, comparison.label) == ("2019", "2018")
    daily = pd.DataFrame(
        {"date": pd.to_datetime(["2019-01-05", "2019-12-14"]), "date_precision": "day"}
    )
    study, _ = psa_geo.latest_complete_months(daily)
    assert study.label == "Dec 2018 – Nov 2019"  # December 2019 is not complete
    daily.loc[1, "date"] = pd.Timestamp("2019-12-31")
    assert psa_geo.latest_complete_months(daily)[0].label == "2019"
