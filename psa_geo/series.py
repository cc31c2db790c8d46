"""Monthly series, 12-month rolling totals and seasonality (the summer uplift)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from .areas import area_codes, check_level, parent_area
from .force import force_of
from .groups import single_groups
from .periods import Period

SUMMER_MONTHS = (7, 8, 9)


def _with_area_code(events: pd.DataFrame, areas: gpd.GeoDataFrame, level: str) -> pd.DataFrame:
    """Events that count at ``level``, with ``area_code``: located ones inside the area, and
    for the Peninsula (force) total also those without a location and the force's own
    events placed outside its area (located ones only for an area that is part of a force)."""
    if level == "peninsula":
        force = force_of(areas)
        if force.part_of_force:
            return events[events["area_status"] == "inside"].assign(area_code=force.parent_code)
        keep = events["area_status"].isin(["inside", "no_location"])
        if "falls_within" in events:
            keep |= (events["area_status"] == "outside") & (events["falls_within"] == force.name)
        return events[keep].assign(area_code=force.parent_code)
    lookup = pd.Series(areas[f"{level}_code"].to_numpy(), index=areas["lsoa_code"].to_numpy())
    inside = events[events["area_status"] == "inside"]
    return inside.assign(area_code=area_codes(inside, lookup, level))


def monthly_series(
    events: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame,
    *,
    level: str,
    groups: dict[str, list[str]] | None = None,
    months: pd.DatetimeIndex | None = None,
) -> pd.DataFrame:
    """Counts per month for every area of ``level`` and group, with a 12-month rolling total.

    ``months`` (month starts) defaults to every month from the first to the last event;
    months with no events count 0. ``rolling_12m`` is blank until 12 months are available.
    """
    check_level(areas, level)
    groups = groups or single_groups(events["category"])
    frame = _with_area_code(events, areas, level)
    month = frame["date"].dt.to_period("M").dt.to_timestamp()
    if months is None:
        months = pd.date_range(month.min(), month.max(), freq="MS")
    base = frame.assign(month=month).groupby(["area_code", "category", "month"])["weight"].sum()
    if level == "peninsula":
        codes = [parent_area(areas)[0]]
    else:
        codes = sorted(areas[f"{level}_code"].dropna().unique())
    parts = []
    for group, members in groups.items():
        sub = base[base.index.get_level_values("category").isin(members)]
        counts = sub.groupby(level=["area_code", "month"]).sum()
        grid = pd.MultiIndex.from_product([codes, months], names=["area_code", "month"])
        counts = counts.reindex(grid, fill_value=0).rename("count").reset_index()
        counts.insert(1, "category", group)
        parts.append(counts)
    out = pd.concat(parts, ignore_index=True)
    out["rolling_12m"] = (
        out.groupby(["area_code", "category"], sort=False)["count"]
        .rolling(12, min_periods=12)
        .sum()
        .reset_index(level=[0, 1], drop=True)
    )
    names = _area_names(areas, level)
    out.insert(1, "area_name", out["area_code"].map(names))
    return out


def seasonality(monthly: pd.DataFrame, *, period: Period) -> pd.DataFrame:
    """The summer uplift as the assessment measures it, per area and group.

    Average events per month in July–September against the average of the other months of
    ``period`` (which must be 12 whole months), as a % uplift; plus the peak month.
    """
    if period.months != 12:
        raise ValueError(f"seasonality needs a 12-month period; {period.label} has {period.months}")
    window = monthly[(monthly["month"] >= period.start) & (monthly["month"] < period.end)]
    found = window["month"].nunique()
    if found != 12:
        raise ValueError(
            f"seasonality needs all 12 months of {period.label}; the series has {found}"
        )
    summer = window["month"].dt.month.isin(SUMMER_MONTHS)
    keys = ["area_code", "area_name", "category"]
    grouped = window.assign(summer=summer).groupby([*keys, "summer"], sort=False)["count"].mean()
    table = grouped.unstack("summer").rename(columns={True: "jul_sep_avg", False: "other_avg"})
    table = table.reset_index()
    with np.errstate(divide="ignore", invalid="ignore"):
        uplift = 100.0 * (table["jul_sep_avg"] - table["other_avg"]) / table["other_avg"]
    table["summer_uplift_pct"] = uplift.where(table["other_avg"] > 0)
    peak = window.loc[window.groupby(keys, sort=False)["count"].idxmax(), [*keys, "month"]]
    table = table.merge(peak.rename(columns={"month": "peak_month"}), on=keys)
    table["peak_month"] = table["peak_month"].dt.strftime("%B")
    table.insert(3, "period", period.label)
    return table[[*keys, "period", "jul_sep_avg", "other_avg", "summer_uplift_pct", "peak_month"]]


def _area_names(areas: gpd.GeoDataFrame, level: str) -> dict[str, str]:
    if level == "peninsula":
        code, name = parent_area(areas)
        return {code: name}
    pairs = areas[[f"{level}_code", f"{level}_name"]].drop_duplicates(f"{level}_code")
    return dict(pairs.itertuples(index=False))
