"""Study periods: financial years, calendar years and rolling 12-month windows."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Period:
    """A half-open span of time ``[start, end)`` with a label for tables."""

    label: str
    start: pd.Timestamp
    end: pd.Timestamp

    def contains(self, dates: pd.Series) -> pd.Series:
        return (dates >= self.start) & (dates < self.end)

    @property
    def months(self) -> int:
        return (self.end.year - self.start.year) * 12 + self.end.month - self.start.month

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return _months(self.start - pd.DateOffset(months=self.months), self.start)


def financial_year(year: int | str) -> Period:
    """April to March: ``financial_year(2018)`` or ``financial_year("2018/19")``."""
    if isinstance(year, str):
        match = re.fullmatch(r"(\d{4})/(\d{2})", year.strip())
        if not match or (int(match[1]) + 1) % 100 != int(match[2]):
            raise ValueError(f"a financial year looks like '2018/19', got {year!r}")
        year = int(match[1])
    start = pd.Timestamp(year=year, month=4, day=1)
    return Period(
        f"{year}/{(year + 1) % 100:02d}", start, pd.Timestamp(year=year + 1, month=4, day=1)
    )


def calendar_year(year: int) -> Period:
    """January to December of ``year``."""
    return Period(
        str(year),
        pd.Timestamp(year=year, month=1, day=1),
        pd.Timestamp(year=year + 1, month=1, day=1),
    )


def _months(start: pd.Timestamp, end: pd.Timestamp) -> Period:
    """Whole months ``[start, end)``, labelled as a year or financial year where it is one."""
    if end == start + pd.DateOffset(months=12) and start.month in (1, 4):
        return calendar_year(start.year) if start.month == 1 else financial_year(start.year)
    last = end - pd.DateOffset(months=1)
    label = f"{start:%b %Y} – {last:%b %Y}" if last != start else f"{start:%b %Y}"
    return Period(label, start, end)


def parse_period(text: str) -> Period:
    """``2018/19`` (financial year), ``2019`` (calendar year) or ``2019-01:2019-12`` (months)."""
    text = text.strip()
    if "/" in text:
        return financial_year(text)
    if re.fullmatch(r"\d{4}", text):
        return calendar_year(int(text))
    match = re.fullmatch(r"(\d{4}-\d{2}):(\d{4}-\d{2})", text)
    if match:
        start, last = pd.Timestamp(match[1] + "-01"), pd.Timestamp(match[2] + "-01")
        if last < start:
            raise ValueError(f"period {text!r} ends before it starts")
        return _months(start, last + pd.DateOffset(months=1))
    raise ValueError(f"a period looks like '2018/19', '2019' or '2019-01:2019-12', got {text!r}")


def latest_complete_months(events: pd.DataFrame, *, months: int = 12) -> tuple[Period, Period]:
    """The latest ``months`` complete months in the data, and the ``months`` before them.

    A month counts as complete when the data's precision is a month or coarser, or when the
    data reach its last day.
    """
    dates = events["date"].dropna()
    if dates.empty:
        raise ValueError("the events have no dates, so no study period can be chosen")
    latest = dates.max()
    month_start = pd.Timestamp(year=latest.year, month=latest.month, day=1)
    coarse = set(events["date_precision"].unique()) <= {"month", "year"}
    if coarse or latest.normalize() == month_start + pd.offsets.MonthEnd(0):
        end = month_start + pd.DateOffset(months=1)
    else:
        end = month_start
    study = _months(end - pd.DateOffset(months=months), end)
    return study, study.previous()


#: How :func:`default_periods` chose the study period (for the index and the run report).
RULE_FINANCIAL_YEAR = "the latest complete financial year in the data, compared with the one before"
RULE_LATEST_MONTHS = (
    "the latest 12 complete months in the data, compared with the 12 before "
    "(the data do not cover two whole financial years)"
)
RULE_GIVEN = "chosen with --study"


def latest_financial_years(covered) -> tuple[Period, Period] | None:
    """The latest financial year whose 12 months are all in ``covered`` (month starts),
    and the one before, when that is covered too; else None."""
    months = {pd.Timestamp(m).to_period("M") for m in covered}
    if not months:
        return None
    last = max(months)
    year = last.year if last.month >= 3 else last.year - 1  # FY year starts by April
    for start_year in range(year, min(months).year - 1, -1):
        fy = pd.period_range(f"{start_year}-04", f"{start_year + 1}-03", freq="M")
        if all(m in months for m in fy):
            before = pd.period_range(f"{start_year - 1}-04", f"{start_year}-03", freq="M")
            if all(m in months for m in before):
                return financial_year(start_year), financial_year(start_year - 1)
            return None
    return None


def default_periods(events: pd.DataFrame, covered=None) -> tuple[Period, Period, str]:
    """The default study and comparison periods and the rule that chose them: the latest
    complete financial year and the one before when ``covered`` (month starts; default:
    the events' months) has both, else :func:`latest_complete_months`."""
    if covered is None:
        covered = pd.to_datetime(events["date"].dropna()).dt.to_period("M").dt.start_time
    years = latest_financial_years(covered)
    if years is not None:
        return *years, RULE_FINANCIAL_YEAR
    return *latest_complete_months(events), RULE_LATEST_MONTHS
