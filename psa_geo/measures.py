"""Counts, rates per 1,000 residents, change and the assessment's trend arrows."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd

from .areas import LEVELS, area_codes, check_level, parent_area
from .completeness import incomplete_gap
from .counts import LEVEL_RANK
from .errors import PsaGeoError
from .force import Force, force_of
from .groups import single_groups
from .periods import Period
from .stats import change_significance, change_test, compare_with_benchmark, rate_ci

ASB = "Anti-social behaviour"
ALL_CRIME = "All crime (excl. ASB)"
UP, DOWN, STABLE = "▲", "▼", "▶"
TREND_WORDS = {UP: "increasing", DOWN: "decreasing", STABLE: "stable"}
NOTE_WITHOUT_LOCATION = (
    "Events without a location count in the Peninsula (force) total only; every smaller area "
    "counts located events, and comparisons with a parent area use located events on both sides."
)


def location_note(force: Force) -> str:
    """:data:`NOTE_WITHOUT_LOCATION`, or for an area that is part of a force, that its parent
    total is of located events only."""
    if not force.part_of_force:
        return NOTE_WITHOUT_LOCATION
    return (
        f"The {force.parent_name} total counts located events only: the area is part of a "
        "police force area, so events without a location cannot be placed in it; every area "
        "counts located events."
    )


def trend_arrow(current: float, previous: float, *, threshold: float = 0.05) -> str:
    """The assessment's trend arrow: ▲ up, ▼ down, ▶ stable (change within ±threshold).

    The change is judged as shown, rounded to 0.1%, so "-5.0%" is never called stable.
    A rise from zero is ▲; zero to zero is ▶.
    """
    if threshold < 0:
        raise ValueError(f"'threshold' should be 0 or more, got {threshold}")
    if previous == 0:
        return UP if current > 0 else STABLE
    change = round(100.0 * (current - previous) / previous, 1)
    limit = round(100.0 * threshold, 1)
    if change >= limit:
        return UP
    if change <= -limit:
        return DOWN
    return STABLE


def change_pct(current: float, previous: float) -> float:
    """Percentage change from ``previous`` to ``current`` (NaN when previous is 0)."""
    return math.nan if previous == 0 else 100.0 * (current - previous) / previous


PARENT_LEVEL = {"lsoa": "csp", "ward": "lad", "lad": "peninsula", "csp": "peninsula"}
"""The parent each level is compared with; a custom level (a town) is compared with its CSP."""
FORCE_NAME = "Devon & Cornwall Police"
"""The default force definition's name; the code reads the areas' force (:func:`force_of`)."""
NO_DATA = "no data"


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
    incomplete: pd.DataFrame | None = None,
    coverage: pd.Series | None = None,
) -> pd.DataFrame:
    """Counts, rates per 1,000 with confidence intervals, change and comparison with the parent.

    One row for every area of ``level`` and every category group (default: each category
    on its own; see :func:`load_crime_groups`). ``events`` are assigned events
    (:func:`assign_areas`); areas with no events appear with a count of 0.

    - Rates carry 95% and 99.8% intervals (:func:`rate_ci`).
    - ``vs_parent_95`` / ``vs_parent_998``: higher, similar or lower than the parent area
      (LSOA vs CSP, ward vs LAD, LAD and CSP vs Peninsula), whose rate uses located events.
    - Change: %, trend arrow (±``threshold``) and an exact Poisson test of the change.
      Change and trend are left blank, with the reason in ``trend_word``, when
      ``months_covered`` (default: months with at least one event) does not fill both periods,
      or when either period holds a month of ``incomplete`` (the flagged months of
      :func:`psa_geo.completeness.incomplete_months`; default: none flagged).
    - The ``peninsula`` row is the force total: located events, plus events without a
      location and the force's own events placed outside its area (``located_count``,
      ``without_location``, ``placed_outside``); for an area that is part of a force
      (``areas.attrs["force"].part_of_force``) located events only.
    - ``coverage`` (a counts source's :func:`psa_geo.counts.counts_coverage`): each area
      counts only its LSOAs whose figures are known at its level, in events and residents
      alike; an area with none is "no data" (blank count and rate, ``trend_word`` "no data").
    """
    check_level(areas, level)
    if study.start < comparison.end and comparison.start < study.end:
        raise PsaGeoError(f"the study ({study.label}) and comparison ({comparison.label}) overlap")
    groups = groups or single_groups(events["category"])
    period = pd.Series(None, index=events.index, dtype=object)
    period[study.contains(events["date"])] = "study"
    period[comparison.contains(events["date"])] = "comparison"
    in_time = events.assign(_period=period)[period.notna()]
    located = in_time[in_time["area_status"] == "inside"]
    out = _located_counts(located, areas, level, groups, coverage)
    if level == "peninsula":
        force = force_of(areas)
        unlocated, outside = beyond_located(in_time, force)
        out["located_count"] = out["study_count"]
        for column, mask in (("without_location", unlocated), ("placed_outside", outside)):
            extra = _group_counts(in_time[mask].assign(area_code=force.parent_code), groups)
            out[column] = _lookup(extra, out, "study")
            out["study_count"] += out[column]
            out["comparison_count"] += _lookup(extra, out, "comparison")
    no_data = out["population"] == 0  # a counts table's areas with no row (coverage)
    residents = out["population"].where(~no_data, 1)  # blanked below
    out["rate_per_1000"], lo95, hi95 = rate_ci(out["study_count"], residents, level=0.95)
    _, lo998, hi998 = rate_ci(out["study_count"], residents, level=0.998)
    out["rate_lower_95"], out["rate_upper_95"] = lo95, hi95
    out["rate_lower_998"], out["rate_upper_998"] = lo998, hi998
    out["comparison_rate_per_1000"] = 1000.0 * out["comparison_count"] / residents
    pairs = list(zip(out["study_count"], out["comparison_count"], strict=True))
    out["change_pct"] = [change_pct(c, p) for c, p in pairs]
    out["trend"] = [trend_arrow(c, p, threshold=threshold) for c, p in pairs]
    out["trend_word"] = out["trend"].map(TREND_WORDS)
    ratio = study.months / comparison.months
    out["change_p_value"] = change_test(
        out["study_count"], out["comparison_count"], exposure_ratio=ratio
    )
    out["change_significance"] = change_significance(
        out["study_count"], out["comparison_count"], exposure_ratio=ratio
    )
    if months_covered is None:
        months_covered = months_with_data(events)
    gap = _withheld(
        coverage_gap(months_covered, study, comparison),
        incomplete_gap(incomplete, study, comparison),
    )
    if gap:
        out[["change_pct", "change_p_value"]] = math.nan
        out["trend"] = ""
        out["trend_word"] = out["change_significance"] = gap
    parent_columns = []
    parent_level = PARENT_LEVEL.get(level, "csp" if level not in LEVELS else None)
    if parent_level:
        parent = _located_counts(located, areas, parent_level, groups, coverage)
        parent = parent.rename(columns={"area_code": "parent_code", "area_name": "parent_name"})
        parent["parent_rate_per_1000"] = 1000.0 * parent["study_count"] / parent["population"]
        out["parent_code"] = out["area_code"].map(_parent_codes(areas, level))
        out = out.merge(
            parent[["parent_code", "parent_name", "category", "parent_rate_per_1000"]],
            on=["parent_code", "category"],
            how="left",
        )
        for lvl, suffix in ((0.95, "95"), (0.998, "998")):
            out[f"vs_parent_{suffix}"] = compare_with_benchmark(
                out["study_count"],
                out["population"].where(out["population"] > 0, 1),
                out["parent_rate_per_1000"].fillna(0.0),  # a parent with no data: blanked below
                level=lvl,
            )
        parent_columns = ["parent_name", "parent_rate_per_1000", "vs_parent_95", "vs_parent_998"]
    no_data = out["population"] == 0
    if no_data.any():
        out["study_count"] = out["study_count"].astype("Int64").mask(no_data)
        out["comparison_count"] = out["comparison_count"].astype("Int64").mask(no_data)
        numbers = [c for c in out.columns if c.startswith(("rate_", "comparison_rate", "change_"))]
        out.loc[no_data, [c for c in numbers if c != "change_significance"]] = math.nan
        out.loc[no_data, "trend"] = ""
        out.loc[no_data, ["trend_word", "change_significance"]] = NO_DATA
        for column in ("vs_parent_95", "vs_parent_998"):
            if column in out:
                out.loc[no_data, column] = NO_DATA
    out.insert(0, "level", level)
    out["period"] = study.label
    out["comparison_period"] = comparison.label
    counts = ["count"] + (
        ["located_count", "without_location", "placed_outside"] if level == "peninsula" else []
    )
    cols = [
        "level", "area_code", "area_name", "category", "period", "population", *counts,
        "rate_per_1000", "rate_lower_95", "rate_upper_95", "rate_lower_998", "rate_upper_998",
        "comparison_period", "comparison_count", "comparison_rate_per_1000", "change_pct",
        "trend", "trend_word", "change_p_value", "change_significance", *parent_columns,
    ]  # fmt: skip
    out = out.rename(columns={"study_count": "count"})[cols]
    out["category"] = pd.Categorical(out["category"], categories=list(groups), ordered=True)
    out = out.sort_values(["area_code", "category"], ignore_index=True)
    out["category"] = out["category"].astype(str)
    return out


def beyond_located(events: pd.DataFrame, force: Force) -> tuple[pd.Series, pd.Series]:
    """What a force total adds to the located (``area_status`` "inside") assigned events: the
    events without a location, and the force's own events placed outside its area (by
    ``falls_within``); neither for an area that is part of a force."""
    unlocated = events["area_status"] == "no_location"
    outside = events["area_status"] == "outside"
    if "falls_within" in events:
        outside &= events["falls_within"] == force.name
    else:
        outside &= False
    if force.part_of_force:
        unlocated &= False
        outside &= False
    return unlocated, outside


def _parent_codes(areas: gpd.GeoDataFrame, level: str) -> pd.Series:
    """Area code → the code of its parent area (a ward's LAD is that of most of its LSOAs)."""
    parent = PARENT_LEVEL.get(level, "csp")
    if parent == "peninsula":
        return pd.Series(parent_area(areas)[0], index=areas[f"{level}_code"].unique())
    sizes = areas.groupby([f"{level}_code", f"{parent}_code"]).size().rename("n").reset_index()
    sizes = sizes.sort_values(["n", f"{parent}_code"], ascending=[False, True])
    first = sizes.drop_duplicates(f"{level}_code")
    return pd.Series(first[f"{parent}_code"].to_numpy(), index=first[f"{level}_code"].to_numpy())


def _located_counts(located, areas, level, groups, coverage=None) -> pd.DataFrame:
    """Study and comparison counts of located events for every area of ``level`` × group.

    Events placed above LSOA level (``placed_level``) count at their level and above.
    With ``coverage`` (:func:`psa_geo.counts.counts_coverage`), an area's population and
    counts are those of its LSOAs known at this level or below; an area with none has
    ``population`` 0 (no data)."""
    index = _area_index(areas, level, coverage)
    area_code = area_codes(located, index["lsoa_to_area"], level, parent_code=parent_area(areas)[0])
    located = located.assign(area_code=area_code)
    counts = _group_counts(located, groups)
    out = index["areas"].merge(pd.Series(list(groups), name="category"), how="cross")
    for name in ("study", "comparison"):
        out[f"{name}_count"] = _lookup(counts, out, name)
    return out


def months_with_data(events: pd.DataFrame) -> set[pd.Timestamp]:
    """The first day of every month in which ``events`` has at least one event."""
    dates = events["date"].dropna()
    return set(dates.dt.to_period("M").dt.to_timestamp().unique())


def months_present(months_covered: set[pd.Timestamp], period: Period) -> int:
    """How many months of ``period`` are among ``months_covered`` (first days of months)."""
    have = {pd.Timestamp(m) for m in months_covered}
    return sum(
        m in have for m in pd.date_range(period.start, period.end, freq="MS", inclusive="left")
    )


def coverage_gap(months_covered: set[pd.Timestamp], *periods: Period) -> str | None:
    """A sentence naming any period the covered months do not fill, else None."""
    gaps = []
    for period in periods:
        present = months_present(months_covered, period)
        if present < period.months:
            gaps.append(f"{period.label} has data for {present} of {period.months} months")
    return ("not comparable: " + "; ".join(gaps)) if gaps else None


def _withheld(*reasons: str | None) -> str | None:
    """One "not comparable: ..." sentence from any of ``reasons`` that are given."""
    given = [r.removeprefix("not comparable: ") for r in reasons if r]
    return ("not comparable: " + "; ".join(given)) if given else None


def _area_index(areas: gpd.GeoDataFrame, level: str, coverage=None) -> dict:
    """The areas of ``level`` with their population, and LSOA code → area code (only LSOAs
    known at this level, with ``coverage``)."""
    known = pd.Series(True, index=areas.index)
    if coverage is not None:
        rank = LEVEL_RANK.get(level, 0)
        known = areas["lsoa_code"].map(coverage).le(rank).to_numpy()
    population = areas["population"].where(known, 0)
    if level == "peninsula":
        code, name = parent_area(areas)
        table = pd.DataFrame(
            {
                "area_code": [code],
                "area_name": [name],
                "population": [int(population.sum())],
            }
        )
        code_of = pd.Series(code, index=areas["lsoa_code"].to_numpy())
    else:
        code, name = f"{level}_code", f"{level}_name"
        table = (
            areas.assign(population=population)
            .groupby([code, name], as_index=False)["population"]
            .sum()
            .rename(columns={code: "area_code", name: "area_name"})
        )
        code_of = pd.Series(areas[code].to_numpy(), index=areas["lsoa_code"].to_numpy())
    return {"areas": table, "lsoa_to_area": code_of[np.asarray(known, dtype=bool)]}


def _group_counts(events: pd.DataFrame, groups: dict[str, list[str]]) -> pd.Series:
    """Summed weight by (area_code, category group, period)."""
    base = events.groupby(["area_code", "category", "_period"])["weight"].sum().reset_index()
    members = pd.DataFrame(
        [(group, category) for group, categories in groups.items() for category in categories],
        columns=["group", "category"],
    ).drop_duplicates()
    counts = base.merge(members, on="category").groupby(["area_code", "group", "_period"])
    return counts["weight"].sum().rename_axis(["area_code", "category", "_period"])


def _lookup(counts: pd.Series, table: pd.DataFrame, period: str) -> np.ndarray:
    if counts.empty:
        return np.zeros(len(table), dtype="int64")
    key = pd.MultiIndex.from_arrays([table["area_code"], table["category"], [period] * len(table)])
    return counts.reindex(key, fill_value=0).to_numpy().astype("int64")
