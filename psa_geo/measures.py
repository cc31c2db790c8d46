"""Counts, rates per 1,000 residents, change and the assessment's trend arrows."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd

from .areas import LEVELS, PENINSULA
from .periods import Period

ASB = "Anti-social behaviour"
ALL_CRIME = "All crime (excl. ASB)"
UP, DOWN, STABLE = "▲", "▼", "▶"
TREND_WORDS = {UP: "increasing", DOWN: "decreasing", STABLE: "stable"}
NOTE_WITHOUT_LOCATION = (
    "Events without a location count in the Peninsula total only; every smaller area counts "
    "located events."
)


def trend_arrow(current: float, previous: float, *, threshold: float = 0.05) -> str:
    """The assessment's trend arrow: ▲ up, ▼ down, ▶ stable (change within ±threshold).

    A rise from zero is ▲; zero to zero is ▶.
    """
    if threshold < 0:
        raise ValueError(f"'threshold' should be 0 or more, got {threshold}")
    if previous == 0:
        return UP if current > 0 else STABLE
    change = (current - previous) / previous
    if change >= threshold:
        return UP
    if change <= -threshold:
        return DOWN
    return STABLE


def change_pct(current: float, previous: float) -> float:
    """Percentage change from ``previous`` to ``current`` (NaN when previous is 0)."""
    return math.nan if previous == 0 else 100.0 * (current - previous) / previous


def default_category_groups(categories) -> dict[str, list[str]]:
    """All crime excluding ASB, ASB, then each category on its own."""
    cats = sorted(set(categories))
    groups = {ALL_CRIME: [c for c in cats if c != ASB]}
    if ASB in cats:
        groups[ASB] = [ASB]
    groups.update({c: [c] for c in cats if c != ASB})
    return groups


def rate_table(
    events: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame,
    *,
    level: str,
    study: Period,
    comparison: Period,
    groups: dict[str, list[str]] | None = None,
    threshold: float = 0.05,
    months_covered: set[pd.Timestamp] | None = None,
) -> pd.DataFrame:
    """Counts and rates per 1,000 residents for every area of ``level`` and category group.

    ``events`` are assigned events (:func:`assign_areas`). Located events inside the area
    count at every level; events without a location count at ``peninsula`` level only,
    where the table also gives ``located_count`` and ``without_location``. Areas with no
    events appear with a count of 0.

    Change and trend are left blank, with the reason in ``trend_word``, when the data do not
    cover every month of both periods. ``months_covered`` (first days of months) says which
    months the source covers; by default, the months with at least one event.
    """
    if level not in LEVELS:
        raise ValueError(f"'level' should be one of {LEVELS}, got {level!r}")
    groups = groups or default_category_groups(events["category"])
    period = pd.Series(None, index=events.index, dtype=object)
    period[study.contains(events["date"])] = "study"
    period[comparison.contains(events["date"])] = "comparison"
    in_time = events.assign(_period=period)[period.notna()]
    parent = _area_index(areas, level)
    code_col = "area_code"
    located = in_time[in_time["area_status"] == "inside"]
    located = located.assign(area_code=located["lsoa_code"].map(parent["lsoa_to_area"]))
    counts = _group_counts(located, groups)
    out = parent["areas"].merge(pd.Series(list(groups), name="category"), how="cross")
    for name in ("study", "comparison"):
        out[f"{name}_count"] = _lookup(counts, out, name)
    if level == "peninsula":
        unlocated = in_time[in_time["area_status"] == "no_location"].assign(area_code=PENINSULA[0])
        extra = _group_counts(unlocated, groups)
        out["located_count"] = out["study_count"]
        out["without_location"] = _lookup(extra, out, "study")
        out["study_count"] += out["without_location"]
        out["comparison_count"] += _lookup(extra, out, "comparison")
    out["rate_per_1000"] = 1000.0 * out["study_count"] / out["population"]
    out["comparison_rate_per_1000"] = 1000.0 * out["comparison_count"] / out["population"]
    pairs = list(zip(out["study_count"], out["comparison_count"], strict=True))
    out["change_pct"] = [change_pct(c, p) for c, p in pairs]
    out["trend"] = [trend_arrow(c, p, threshold=threshold) for c, p in pairs]
    out["trend_word"] = out["trend"].map(TREND_WORDS)
    if months_covered is None:
        months_covered = months_with_data(events)
    gap = coverage_gap(months_covered, study, comparison)
    if gap:
        out["change_pct"] = math.nan
        out["trend"] = ""
        out["trend_word"] = gap
    out.insert(0, "level", level)
    out["period"] = study.label
    out["comparison_period"] = comparison.label
    cols = [
        "level",
        code_col,
        "area_name",
        "category",
        "period",
        "population",
        "study_count",
        "rate_per_1000",
        "comparison_period",
        "comparison_count",
        "comparison_rate_per_1000",
        "change_pct",
        "trend",
        "trend_word",
    ]
    if level == "peninsula":
        cols[7:7] = ["located_count", "without_location"]
    out = out[cols].rename(columns={"study_count": "count"})
    return out.sort_values([code_col, "category"], ignore_index=True)


def months_with_data(events: pd.DataFrame) -> set[pd.Timestamp]:
    """The first day of every month in which ``events`` has at least one event."""
    dates = events["date"].dropna()
    return set(dates.dt.to_period("M").dt.to_timestamp().unique())


def coverage_gap(months_covered: set[pd.Timestamp], *periods: Period) -> str | None:
    """A sentence naming any period the covered months do not fill, else None."""
    have = {pd.Timestamp(m) for m in months_covered}
    gaps = []
    for period in periods:
        months = pd.date_range(period.start, period.end, freq="MS", inclusive="left")
        present = sum(m in have for m in months)
        if present < len(months):
            gaps.append(f"{period.label} has data for {present} of {len(months)} months")
    return ("not comparable: " + "; ".join(gaps)) if gaps else None


def _area_index(areas: gpd.GeoDataFrame, level: str) -> dict:
    if level == "peninsula":
        table = pd.DataFrame(
            {
                "area_code": [PENINSULA[0]],
                "area_name": [PENINSULA[1]],
                "population": [int(areas["population"].sum())],
            }
        )
        return {"areas": table, "lsoa_to_area": pd.Series(PENINSULA[0], index=areas["lsoa_code"])}
    code, name = f"{level}_code", f"{level}_name"
    table = (
        areas.groupby([code, name], as_index=False)["population"]
        .sum()
        .rename(columns={code: "area_code", name: "area_name"})
    )
    lsoa_to_area = pd.Series(areas[code].to_numpy(), index=areas["lsoa_code"].to_numpy())
    return {"areas": table, "lsoa_to_area": lsoa_to_area}


def _group_counts(events: pd.DataFrame, groups: dict[str, list[str]]) -> pd.Series:
    """Summed weight by (area_code, category group, period)."""
    base = events.groupby(["area_code", "category", "_period"])["weight"].sum()
    parts = []
    for group, members in groups.items():
        sub = base[base.index.get_level_values("category").isin(members)]
        part = sub.groupby(level=["area_code", "_period"]).sum()
        parts.append(pd.concat({group: part}, names=["category"]))
    if not parts:
        return pd.Series(dtype="float64")
    return pd.concat(parts).reorder_levels(["area_code", "category", "_period"])


def _lookup(counts: pd.Series, table: pd.DataFrame, period: str) -> np.ndarray:
    if counts.empty:
        return np.zeros(len(table), dtype="int64")
    key = pd.MultiIndex.from_arrays([table["area_code"], table["category"], [period] * len(table)])
    return counts.reindex(key, fill_value=0).to_numpy().astype("int64")
