"""Road casualty tables for the Peninsula Strategic Assessment: severity, KSI, road users,
areas, rates per 100,000 residents and the casualties' home areas.

Counts come from the STATS19 casualty table (:func:`psa_geo.read_stats19`): KSI is fatal plus
serious *casualties* (``casualty_severity``), never collisions by collision severity. Areas
count casualties through their collision's location: casualties *in* an area, wherever they
live.
"""

from __future__ import annotations

import io
import math
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from .areas import check_level
from .errors import InputFileError
from .force import force_of
from .measures import change_pct, trend_arrow
from .periods import calendar_year
from .population import base_estimates, population_for
from .stats import compare_with_benchmark, rate_ci

MEASURES = ("Fatal", "Serious", "Slight", "KSI", "All casualties")
ADJUSTED_MEASURES = ("Serious (adjusted)", "Slight (adjusted)", "KSI (adjusted)")
#: Measures that injury-based severity recording changes (fatal and all casualties it does not).
SEVERITY_SPLIT = ("Serious", "Slight", "KSI")
#: First full year of injury-based severity recording (CRASH) by Devon & Cornwall Police,
#: which phased it in during 2015.
INJURY_BASED_FROM = 2016
CRASH_CAVEAT = (
    "Devon & Cornwall Police moved to injury-based severity recording (CRASH) during 2015, so "
    "more injuries have been recorded as serious since: serious, slight and KSI casualties "
    f"before {INJURY_BASED_FROM} are not comparable with later years unless DfT's "
    "severity-adjusted figures are used. Fatal and all-casualty counts are not affected."
)
#: ``by`` shortcuts of :func:`casualty_table`.
BY_ALIASES = {
    "age_band": "age_band_of_casualty_label",
    "sex": "sex_of_casualty_label",
    "casualty_class": "casualty_class_label",
    "severity": "casualty_severity_label",
    "home_imd_decile": "casualty_imd_decile_label",
    "home_area_type": "casualty_home_area_type_label",
}
UNKNOWN = "Unknown"
#: DfT's label of code -1, the group of casualties without a value in :func:`casualty_shares`.
MISSING = "Data missing or out of range"
NOT_PLACED = "(not placed in an area)"
NOT_PLACED_NOTE = "collision without a location, outside the areas or not in the collision table"
#: Rates are per this many residents.
PER = 100_000
_ADJUSTED = ("casualty_adjusted_severity_serious", "casualty_adjusted_severity_slight")
_ROAD_USERS = "stats19_road_users.csv"


def load_road_user_groups(path: str | Path | None = None) -> dict[int, str]:
    """STATS19 ``casualty_type`` code -> road user group (pedestrian, cyclist, ...).

    The default, ``psa_geo/resources/stats19_road_users.csv``, groups DfT's codes into
    Pedestrian, Cyclist, Motorcyclist, Car occupant, Bus or coach occupant, Goods vehicle
    occupant and Other. A user's CSV with columns ``casualty_type`` and ``road_user``
    replaces it.
    """
    source = Path(path) if path else resources.files("psa_geo.resources") / _ROAD_USERS
    label = str(path) if path else _ROAD_USERS
    try:
        text = source.read_text(encoding="utf-8-sig")
        body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
        frame = pd.read_csv(io.StringIO(body), dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputFileError(
            label, f"cannot read the road user groups ({type(exc).__name__})"
        ) from None
    missing = {"casualty_type", "road_user"} - set(frame.columns)
    if missing:
        raise InputFileError(label, f"missing columns {', '.join(sorted(missing))}")
    codes = pd.to_numeric(frame["casualty_type"].str.strip(), errors="coerce")
    if codes.isna().any() or codes.duplicated().any():
        row = int((codes.isna() | codes.duplicated()).to_numpy().argmax()) + 2
        raise InputFileError(label, f"row {row}: casualty_type is not a number or is repeated")
    return dict(zip(codes.astype(int), frame["road_user"].str.strip(), strict=True))


def road_user(casualties: pd.DataFrame, *, groups: dict[int, str] | None = None) -> pd.Series:
    """Each casualty's road user group from ``casualty_type``; "Unknown" where missing."""
    _check(casualties, ["casualty_type"])
    groups = groups if groups is not None else load_road_user_groups()
    out = casualties["casualty_type"].map(groups).astype("string").fillna(UNKNOWN)
    return out.rename("road_user")


def severity_counts(casualties: pd.DataFrame, *, by: str | None = None) -> pd.DataFrame:
    """Fatal, serious, slight, KSI and all casualties per ``year`` (and ``by`` group).

    Every year in the data appears for every group (0 where none); casualties without a
    ``collision_year`` are left out (:func:`psa_geo.link_casualties` reports them). Where
    the casualties carry DfT's severity-adjusted probabilities
    (``casualty_adjusted_severity_serious`` and ``_slight``; ``adjusted_serious`` in DfT's
    adjustment files), ``serious_adjusted``, ``slight_adjusted`` and ``ksi_adjusted`` are
    added (missing for a year and group in which any non-fatal casualty lacks them).
    """
    _check(casualties, ["collision_year", "casualty_severity"])
    by_col, order = _by_column(casualties, by)
    dated = casualties["collision_year"].notna().to_numpy()
    casualties, by_col = casualties[dated], None if by_col is None else by_col[dated]
    severity = casualties["casualty_severity"]
    frame = pd.DataFrame(
        {
            "year": casualties["collision_year"].astype("int64"),
            "fatal": severity.eq(1).fillna(False).astype(int),
            "serious": severity.eq(2).fillna(False).astype(int),
            "slight": severity.eq(3).fillna(False).astype(int),
        }
    )
    adjusted = all(c in casualties for c in _ADJUSTED)
    if adjusted:
        injured = severity.ne(1).fillna(True)
        serious, slight = (casualties[c].astype("Float64") for c in _ADJUSTED)
        frame["serious_adjusted"] = serious.where(injured, 0.0).fillna(0.0)
        frame["slight_adjusted"] = slight.where(injured, 0.0).fillna(0.0)
        frame["_gaps"] = (injured & (serious.isna() | slight.isna())).astype(int)
    keys = ["year"]
    if by_col is not None:
        frame.insert(0, by, by_col.astype("string").fillna(UNKNOWN).to_numpy())
        keys = [by, "year"]
    counts = frame.groupby(keys).sum()
    years = sorted(frame["year"].dropna().unique())
    if by_col is not None:
        grid = pd.MultiIndex.from_product([_ordered(set(frame[by]), order), years], names=keys)
        counts = counts.reindex(grid, fill_value=0)
    counts = counts.reset_index()
    counts["ksi"] = counts["fatal"] + counts["serious"]
    counts["all_casualties"] = counts["ksi"] + counts["slight"]
    if adjusted:
        counts["ksi_adjusted"] = counts["fatal"] + counts["serious_adjusted"]
        gaps = counts.pop("_gaps") > 0
        adjusted_cols = ["serious_adjusted", "slight_adjusted", "ksi_adjusted"]
        counts[adjusted_cols] = counts[adjusted_cols].astype(float).mask(gaps, math.nan)
        return counts[
            [*keys, "fatal", "serious", "slight", "ksi", "all_casualties", *adjusted_cols]
        ]
    return counts[[*keys, "fatal", "serious", "slight", "ksi", "all_casualties"]]


def casualty_table(
    casualties: pd.DataFrame,
    *,
    by: str | None = None,
    injury_based_from: int | None = INJURY_BASED_FROM,
    threshold: float = 0.05,
) -> pd.DataFrame:
    """The assessment's casualty table: each measure per year with change and trend arrow.

    Parameters
    ----------
    casualties
        A casualty table from :func:`psa_geo.read_stats19`.
    by
        None for force totals; ``"road_user"`` (:func:`road_user`), ``"age_band"``, ``"sex"``,
        ``"casualty_class"``, ``"severity"`` or any column of ``casualties``.
    injury_based_from
        First full year of injury-based severity recording (:data:`CRASH_CAVEAT`); the year
        before is the transition year, so serious, slight and KSI changes into either year
        are not comparable. None: no recording change.
    threshold
        Change within ±threshold is "stable" (▶), as in :func:`psa_geo.trend_arrow`.

    Returns
    -------
    DataFrame
        One row per (``by`` group,) measure and year: ``casualties``, ``previous`` (the year
        before), ``change_pct``, ``trend``, ``comparable`` and ``note``. Measures are
        :data:`MEASURES`, plus :data:`ADJUSTED_MEASURES` where the file carries DfT's
        adjusted severities. Changes that are not comparable (across the recording change, or
        without figures for the year before) have a blank change and trend and say why.
    """
    counts = severity_counts(casualties, by=by)
    names = dict(
        zip(["fatal", "serious", "slight", "ksi", "all_casualties"], MEASURES, strict=True)
    )
    names |= dict(
        zip(["serious_adjusted", "slight_adjusted", "ksi_adjusted"], ADJUSTED_MEASURES, strict=True)
    )
    keys = ["year"] if by is None else [by, "year"]
    long = counts.melt(id_vars=keys, var_name="measure", value_name="casualties")
    long["measure"] = long["measure"].map(names)
    group_keys = ["measure"] if by is None else [by, "measure"]
    rank = {m: i for i, m in enumerate([*MEASURES, *ADJUSTED_MEASURES])}
    long["_rank"] = long["measure"].map(rank)
    sort = ["_rank", "year"]
    if by is not None:
        long["_group"] = long.groupby(by, sort=False).ngroup()
        sort = ["_group", *sort]
    long = long.sort_values(sort, ignore_index=True)
    grouped = long.groupby(group_keys, sort=False)
    previous = grouped["casualties"].shift(1)
    long["previous"] = previous.where(grouped["year"].shift(1) == long["year"] - 1)
    adjusted = "ksi_adjusted" in counts
    changes, trends, comparable, notes = [], [], [], []
    for row in long.itertuples(index=False):
        note = ""
        if pd.isna(row.previous) or pd.isna(row.casualties):
            note = f"no figures for {row.year - 1}" if pd.isna(row.previous) else "no figures"
        elif (
            injury_based_from is not None
            and row.measure in SEVERITY_SPLIT
            and injury_based_from - 1 <= row.year <= injury_based_from
        ):
            note = (
                f"not comparable with {row.year - 1}: injury-based severity recording (CRASH) "
                f"phased in during {injury_based_from - 1}; "
                + ("compare the adjusted rows" if adjusted else "DfT's adjusted figures needed")
            )
        ok = note == ""
        changes.append(change_pct(row.casualties, row.previous) if ok else math.nan)
        trends.append(trend_arrow(row.casualties, row.previous, threshold=threshold) if ok else "")
        comparable.append(ok)
        notes.append(note)
    long["change_pct"], long["trend"] = changes, trends
    long["comparable"], long["note"] = comparable, notes
    return long[[*group_keys, "year", "casualties", "previous", "change_pct", "trend",
                 "comparable", "note"]]  # fmt: skip


def casualties_by_area(
    casualties: pd.DataFrame,
    collisions: pd.DataFrame,
    *,
    area: str = "csp_name",
    areas: list[str] | None = None,
    by: str | None = None,
) -> pd.DataFrame:
    """Casualties per area (through their collision's location) and year, gaps explicit.

    Parameters
    ----------
    casualties
        A casualty table from :func:`psa_geo.read_stats19`.
    collisions
        Collisions already placed in areas (:func:`psa_geo.assign_areas`), with ``area``.
    area
        The collisions' area column (``csp_name``, ``lad_name``, ``town``, ...).
    areas
        Areas to list in every year (default: those the collisions name), so that an area
        with no casualties shows 0.
    by
        None, or a grouping as for :func:`casualty_table` (``"road_user"``, ``"age_band"``,
        ...): each area then has a row per group present in the casualties, 0 where none.

    Returns
    -------
    DataFrame
        ``year``, (``by``,) ``area``, ``fatal``, ``serious``, ``slight``, ``ksi``,
        ``casualties`` and ``note``. Each year (and group) has a row per area and a
        :data:`NOT_PLACED` row (collision without a location, outside the areas, or not in
        the collision table), so those rows add up to the force total. In a year without
        collision rows (no locations) the area counts are missing, not 0, and the note says so.
    """
    _check(casualties, ["collision_index", "collision_year", "casualty_severity"])
    if area not in collisions or "collision_index" not in collisions:
        raise ValueError(
            f"'collisions' lack the {area!r} or 'collision_index' column: read them with "
            "read_stats19() and place them with assign_areas() first"
        )
    if collisions["collision_index"].duplicated().any():
        raise ValueError("'collisions' repeat a collision_index: each collision must be once")
    names = sorted(collisions[area].dropna().unique()) if areas is None else list(areas)
    where = collisions.set_index("collision_index")[area]
    placed = casualties["collision_index"].map(where).astype("string")
    severity = casualties["casualty_severity"]
    frame = pd.DataFrame(
        {
            "year": casualties["collision_year"],
            "area": placed.where(placed.isin(names)).fillna(NOT_PLACED),
            "fatal": severity.eq(1).fillna(False).astype(int),
            "serious": severity.eq(2).fillna(False).astype(int),
            "slight": severity.eq(3).fillna(False).astype(int),
        }
    )
    keys = ["year", "area"]
    if by is not None:
        groups, order = _by_column(casualties, by)
        frame.insert(1, by, groups.astype("string").fillna(UNKNOWN).to_numpy())
        keys = ["year", by, "area"]
    frame = frame[frame["year"].notna().to_numpy()].astype({"year": "int64"})
    levels = [sorted(frame["year"].unique())]
    if by is not None:
        levels.append(_ordered(set(frame[by]), order))
    levels.append([*names, NOT_PLACED])
    grid = pd.MultiIndex.from_product(levels, names=keys)
    out = frame.groupby(keys).sum().reindex(grid, fill_value=0).reset_index()
    out["ksi"] = out["fatal"] + out["serious"]
    out["casualties"] = out["ksi"] + out["slight"]
    numbers = ["fatal", "serious", "slight", "ksi", "casualties"]
    out[numbers] = out[numbers].astype("Int64")
    with_rows = (
        set(collisions["collision_year"].dropna()) if "collision_year" in collisions else set()
    )
    located = out["year"].isin(with_rows)
    is_area = out["area"] != NOT_PLACED
    out.loc[~located & is_area, numbers] = pd.NA
    out["note"] = np.where(is_area, "", NOT_PLACED_NOTE)
    out.loc[~located, "note"] = out.loc[~located, "year"].map(
        lambda year: f"no collision locations for {year}: counted in the force total only"
    )
    return out[[*keys[:-1], "area", *numbers, "note"]]


def casualty_rates(
    casualties: pd.DataFrame,
    collisions: pd.DataFrame,
    areas: pd.DataFrame,
    *,
    level: str = "csp",
    estimates: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Casualties and KSI casualties per 100,000 residents by area and year, with 95% intervals.

    A casualty counts in the area of its collision's location (:func:`casualties_by_area`),
    not where the casualty lives, so areas that visitors drive through look high. Only the
    years with collision rows (locations) are given.

    Parameters
    ----------
    casualties
        A casualty table from :func:`psa_geo.read_stats19`.
    collisions
        Collisions placed in ``areas`` (:func:`psa_geo.assign_areas`).
    areas
        The LSOAs (:func:`psa_geo.load_areas`): which LSOAs make each area.
    level
        ``"csp"`` or ``"lad"`` (or any level ``areas`` carry as ``<level>_code`` and
        ``_name``).
    estimates
        Population estimates (:func:`psa_geo.load_estimates`); each year uses the mid-year
        estimate nearest it (:func:`psa_geo.population_for`). Default: the population of
        ``areas`` as the data directory's mid-2018 estimate.

    Returns
    -------
    DataFrame
        One row per year and area, then the parent (Peninsula) row of the year, whose rate is
        the benchmark: ``year``, ``area_code``, ``area_name``, ``casualties``,
        ``casualties_per_100k`` with ``_lower_95`` and ``_upper_95`` (:func:`psa_geo.rate_ci`),
        ``casualties_vs_parent`` (higher, similar or lower:
        :func:`psa_geo.compare_with_benchmark`), the same for ``ksi``, ``population``,
        ``population_year`` and ``note``.
    """
    _check(casualties, ["collision_index", "collision_year", "casualty_severity"])
    check_level(areas, level)
    if level == "peninsula":
        raise ValueError(
            "'level' should be csp, lad or another level of areas: the parent "
            "(peninsula) row is always given"
        )
    code, name = f"{level}_code", f"{level}_name"
    if code not in collisions:
        raise ValueError(
            f"'collisions' lack the {code!r} column: place them with assign_areas() first"
        )
    estimates = base_estimates(areas) if estimates is None else estimates
    members = areas[areas[code].notna()]
    names = members.drop_duplicates(code).sort_values(name)[[code, name]]
    counts = casualties_by_area(casualties, collisions, area=code, areas=list(names[code]))
    force = force_of(areas)
    parts = []
    for year in sorted(int(y) for y in collisions["collision_year"].dropna().unique()):
        residents, info = population_for(members, calendar_year(year), estimates)
        population = residents.groupby(code)["population"].sum()
        placed = counts[counts["year"] == year].set_index("area")
        table = names.rename(columns={code: "area_code", name: "area_name"}).assign(year=year)
        for measure in ("casualties", "ksi", "population"):
            values = population if measure == "population" else placed[measure]
            table[measure] = table["area_code"].map(values).astype("int64").to_numpy()
        parent = {"year": year, "area_code": force.parent_code, "area_name": force.parent_name}
        parent |= table[["casualties", "ksi", "population"]].sum().to_dict()
        table = _with_rates(pd.concat([table, pd.DataFrame([parent])], ignore_index=True))
        table["population_year"] = info["year"]
        table["note"] = f"population: mid-{info['year']} estimates"
        if info["year"] != info["wanted_year"]:
            table["note"] += f"; mid-{info['wanted_year']} would be nearest"
        not_placed = int(placed.loc[NOT_PLACED, "casualties"])
        if not_placed:
            table.loc[table.index[-1], "note"] += (
                f"; {not_placed} casualties of {year} are in no area (collision without a "
                "location or outside the areas)"
            )
        parts.append(table)
    columns = ["year", "area_code", "area_name"]
    for measure in ("casualties", "ksi"):
        columns += [measure, *(f"{measure}_per_100k{end}" for end in ("", "_lower_95",
                    "_upper_95")), f"{measure}_vs_parent"]  # fmt: skip
    return pd.concat(parts, ignore_index=True)[[*columns, "population", "population_year", "note"]]


def _with_rates(table: pd.DataFrame) -> pd.DataFrame:
    """Rates per :data:`PER` residents with 95% limits for ``casualties`` and ``ksi``, each
    compared with the last row's rate (the parent's; blank for the parent itself)."""
    out = table.copy()
    for measure in ("casualties", "ksi"):
        rate, lower, upper = rate_ci(out[measure], out["population"], per=PER)
        out[f"{measure}_per_100k"] = rate
        out[f"{measure}_per_100k_lower_95"] = lower
        out[f"{measure}_per_100k_upper_95"] = upper
        benchmark = rate[-1]
        versus = [""] * len(out)
        if benchmark > 0:
            versus = compare_with_benchmark(out[measure], out["population"], benchmark, per=PER)
        out[f"{measure}_vs_parent"] = versus
        out.loc[out.index[-1], f"{measure}_vs_parent"] = ""
    return out


def casualty_shares(casualties: pd.DataFrame, *, by: str = "home_imd_decile") -> pd.DataFrame:
    """Casualties per group and year with their shares: counts and shares only, no rates.

    ``by`` as for :func:`casualty_table`; ``"home_imd_decile"`` (DfT's Index of Multiple
    Deprivation decile of the casualty's home LSOA, ranked among all of England's; 1 = most
    deprived) and ``"home_area_type"`` (urban area, small town or rural) describe where the
    casualty lives, which may be anywhere in England, not where the collision was. Casualties
    without a value (DfT's code -1, or blank) form the group :data:`MISSING`.

    Returns
    -------
    DataFrame
        ``year``, ``by``, ``casualties``, ``share_pct`` (of the year's casualties) and
        ``share_of_known_pct`` (of those with a value; blank for :data:`MISSING`).
    """
    counts = severity_counts(casualties, by=by)
    counts[by] = counts[by].replace(UNKNOWN, MISSING)
    out = counts[["year", by, "all_casualties"]].rename(columns={"all_casualties": "casualties"})
    out = out.sort_values("year", kind="stable", ignore_index=True)
    known = out["casualties"].where(out[by] != MISSING, 0)
    out["share_pct"] = (
        100.0 * out["casualties"] / out.groupby("year")["casualties"].transform("sum")
    )
    out["share_of_known_pct"] = (100.0 * known / known.groupby(out["year"]).transform("sum")).where(
        out[by] != MISSING
    )
    return out


def _by_column(casualties: pd.DataFrame, by: str | None) -> tuple[pd.Series | None, list]:
    """The grouping column and its preferred order (code order for labels, file order for
    road users)."""
    if by is None:
        return None, []
    if by == "road_user" and "road_user" not in casualties:
        return road_user(casualties), list(dict.fromkeys(load_road_user_groups().values()))
    column = BY_ALIASES.get(by, by)
    if column not in casualties:
        raise ValueError(
            f"'by' should be road_user, {', '.join(BY_ALIASES)} or a column of the "
            f"casualties, got {by!r}"
        )
    code = column.removesuffix("_label")
    order = []
    if column.endswith("_label") and code in casualties:
        pairs = casualties[[code, column]].dropna().drop_duplicates().sort_values(code)
        order = list(dict.fromkeys(pairs[column]))
    return casualties[column], order


def _ordered(present: set[str], order: list[str]) -> list[str]:
    """The groups ``present`` in the preferred ``order``, others alphabetically, then "Other"
    and "Unknown" last."""
    last = ("Other", UNKNOWN)
    groups = [g for g in order if g in present and g not in last]
    return groups + sorted(present - {*groups, *last}) + [g for g in last if g in present]


def _check(casualties: pd.DataFrame, columns: list[str]) -> None:
    if not isinstance(casualties, pd.DataFrame):
        raise TypeError(f"'casualties' should be a DataFrame, got {type(casualties).__name__}")
    missing = [c for c in columns if c not in casualties]
    if missing:
        raise ValueError(
            f"'casualties' lack columns {missing}: read them with "
            "read_stats19(paths, table='casualties')"
        )
