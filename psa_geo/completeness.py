"""Incomplete months: months whose total is far below a source's usual month.

police.uk is extracted once a month from each force's systems; when a force's submission is
incomplete, whole months come out a third or more below normal (the Devon & Cornwall counts of
April to November 2023). A change or trend across such months is an artefact, so the months are
flagged here and the measures that span them are withheld (:func:`psa_geo.rate_table`).

The rule, for one source's monthly totals (every month it has, whatever the area):

- a run of ``min_run`` (3) or more consecutive calendar months, each below ``run_below``
  (80%) of the source's median month, is flagged, every month of the run;
- any single month below ``single_below`` (50%) of the median month is flagged.

The median is taken over the months the source has. A month absent from the totals is not
judged (it is a gap in coverage, reported by :func:`psa_geo.measures.coverage_gap`) and breaks a
run. With fewer than ``min_months`` (6) months the median is no yardstick: nothing is flagged and
the log says so. A share of 0 turns its rule off.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import pandas as pd

from .errors import PsaGeoError
from .periods import Period

log = logging.getLogger(__name__)

RULE = {"run_below": 0.8, "min_run": 3, "single_below": 0.5, "min_months": 6}
"""The defaults of :func:`incomplete_months`'s options."""

COLUMNS = ["month", "total", "share_of_median", "rule", "limit", "reason"]
"""The columns of :func:`incomplete_months`: ``month`` "YYYY-MM", the month's ``total``, its
``share_of_median`` (0-1), the ``rule`` that flagged it ("run" or "single"), that rule's
``limit`` (a share of the median) and the ``reason`` as a sentence."""


def monthly_totals(events: pd.DataFrame) -> pd.Series:
    """Summed ``weight`` (1 per row without one) by month of ``date``, indexed by the first
    day of each month that has at least one row, in order."""
    if "date" not in events:
        raise PsaGeoError("'events' should have a 'date' column")
    weight = events["weight"] if "weight" in events else pd.Series(1, index=events.index)
    dates = pd.to_datetime(events["date"])
    keep = dates.notna()
    month = dates[keep].dt.to_period("M").dt.to_timestamp()
    return weight[keep].groupby(month.to_numpy()).sum().sort_index().rename("total")


def incomplete_months(
    totals: pd.Series | pd.DataFrame,
    *,
    run_below: float = 0.8,
    min_run: int = 3,
    single_below: float = 0.5,
    min_months: int = 6,
) -> pd.DataFrame:
    """The months of one source that look incomplete, with the reason for each.

    ``totals`` is the source's monthly totals, a Series indexed by month (timestamps, periods
    or "YYYY-MM" text), or events with ``date`` and optional ``weight`` columns
    (:func:`monthly_totals`). A month is flagged when it is one of a run of ``min_run`` or more
    consecutive months each below ``run_below`` of the median month, or is below
    ``single_below`` of it on its own (see the module's docstring for the whole rule). Returns
    one row per flagged month, in order, with :data:`COLUMNS`; none flagged is an empty frame.
    """
    if not 0 <= single_below <= 1 or not 0 <= run_below <= 1:
        raise PsaGeoError(
            f"'run_below' and 'single_below' should be shares of the median month from 0 to 1, "
            f"got {run_below} and {single_below}"
        )
    if min_run < 1 or min_months < 1:
        raise PsaGeoError(
            f"'min_run' and 'min_months' should be 1 or more, got {min_run} and {min_months}"
        )
    if isinstance(totals, pd.DataFrame):
        totals = monthly_totals(totals)
    totals = _by_month(totals)
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    if len(totals) < min_months:
        log.info(
            "incomplete months not checked: %d months of totals, fewer than %d",
            len(totals),
            min_months,
        )
        return empty
    median = float(totals.median())
    if median <= 0:
        log.info("incomplete months not checked: the median month is %g", median)
        return empty
    share = totals / median
    rows = {}
    for run in _runs(share[share < run_below].index):
        if len(run) >= min_run:
            span = _span(run[0], run[-1])
            for month in run:
                reason = (
                    f"one of {len(run)} consecutive months ({span}) below "
                    f"{_pct(run_below)} of the median month"
                )
                rows[month] = ("run", run_below, reason)
    for month in share[share < single_below].index:
        if month not in rows:
            rows[month] = (
                "single",
                single_below,
                f"below {_pct(single_below)} of the median month",
            )
    out = pd.DataFrame(
        [
            {
                "month": f"{month:%Y-%m}",
                "total": totals[month].item(),
                "share_of_median": round(float(share[month]), 4),
                "rule": rule,
                "limit": limit,
                "reason": reason,
            }
            for month, (rule, limit, reason) in sorted(rows.items())
        ],
        columns=COLUMNS,
    )
    if len(out):
        log.warning("incomplete months (median month %g): %s", median, describe_incomplete(out))
    return out if len(out) else empty


def in_periods(flagged: pd.DataFrame | None, *periods: Period) -> pd.DataFrame:
    """The rows of ``flagged`` (:func:`incomplete_months`) whose month lies in any of
    ``periods``."""
    if flagged is None or len(flagged) == 0:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    starts = pd.to_datetime(flagged["month"] + "-01")
    inside = pd.Series(False, index=flagged.index)
    for period in periods:
        inside |= (starts >= period.start) & (starts < period.end)
    return flagged[inside]


def describe_incomplete(flagged: pd.DataFrame) -> str:
    """The flagged months as a phrase: "2023-04 to 2023-11 look incomplete (below 80% of the
    median month)"; several spans are joined with "; ". Empty text when none are flagged."""
    parts = []
    for rule_rows in _spans(flagged):
        first, last, limit = rule_rows
        months = first if first == last else f"{first} to {last}"
        verb = "looks" if first == last else "look"
        parts.append(f"{months} {verb} incomplete (below {_pct(limit)} of the median month)")
    return "; ".join(parts)


def incomplete_gap(flagged: pd.DataFrame | None, *periods: Period) -> str | None:
    """Why a change across ``periods`` is withheld ("not comparable: 2023-04 to 2023-11 look
    incomplete (below 80% of the median month)"), or None when none of their months is
    flagged."""
    inside = in_periods(flagged, *periods)
    return ("not comparable: " + describe_incomplete(inside)) if len(inside) else None


def report_rows(flagged: pd.DataFrame) -> list[dict]:
    """``flagged`` for the run report: month, total, share of the median and reason."""
    return [
        {
            "month": r.month,
            "total": float(r.total) if float(r.total) % 1 else int(r.total),
            "share_of_median": float(r.share_of_median),
            "reason": r.reason,
        }
        for r in flagged.itertuples()
    ]


def _by_month(totals: pd.Series) -> pd.Series:
    """``totals`` indexed by the first day of each month, summed per month, in order."""
    index = totals.index
    if isinstance(index, pd.PeriodIndex):
        months = index.to_timestamp()
    else:
        try:
            months = pd.to_datetime(pd.Index(index).astype(str)).to_period("M").to_timestamp()
        except (ValueError, TypeError) as exc:
            raise PsaGeoError(
                f"'totals' should be indexed by month, got {index[:3].tolist()}"
            ) from exc
    values = pd.to_numeric(pd.Series(totals.to_numpy(), index=months), errors="raise")
    return values.groupby(level=0).sum().sort_index()


def _runs(months: Iterable[pd.Timestamp]) -> list[list[pd.Timestamp]]:
    """Consecutive calendar months grouped into runs."""
    runs: list[list[pd.Timestamp]] = []
    for month in sorted(months):
        if runs and runs[-1][-1] + pd.DateOffset(months=1) == month:
            runs[-1].append(month)
        else:
            runs.append([month])
    return runs


def _spans(flagged: pd.DataFrame) -> list[tuple[str, str, float]]:
    """(first, last, limit) of each run of consecutive flagged months with the same limit."""
    spans: list[tuple[str, str, float]] = []
    previous = None
    for r in flagged.sort_values("month").itertuples():
        month = pd.Timestamp(r.month + "-01")
        if (
            spans
            and previous is not None
            and previous + pd.DateOffset(months=1) == month
            and spans[-1][2] == r.limit
        ):
            spans[-1] = (spans[-1][0], r.month, r.limit)
        else:
            spans.append((r.month, r.month, r.limit))
        previous = month
    return spans


def _span(first: pd.Timestamp, last: pd.Timestamp) -> str:
    return f"{first:%Y-%m}" if first == last else f"{first:%Y-%m} to {last:%Y-%m}"


def _pct(share: float) -> str:
    return f"{100 * share:g}%"


def incomplete_note(
    flagged: pd.DataFrame | None, *periods: Period, source: str = "police.uk"
) -> str:
    """A short line for a page whose ``periods`` hold flagged months ("police.uk months
    2023-04 to 2023-11 look incomplete (...): changes and trends that span them are
    withheld."); empty text when none of their months is flagged (or no ``periods`` given:
    then every flagged month is named)."""
    inside = in_periods(flagged, *periods) if periods else flagged
    if inside is None or len(inside) == 0:
        return ""
    return (
        f"{source} months {describe_incomplete(inside)}: changes and trends that span them "
        "are withheld."
    )
