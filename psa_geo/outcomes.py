"""Crime outcomes: the police.uk ``Last outcome category`` of each crime in outcome groups, as
shares of the crimes of a period by area and crime group, and by month of the crime and file.

police.uk gives each crime the latest outcome known when its file was extracted, and outcomes
mature: most crimes of the last months before an extract are still "Under investigation" or
"Awaiting court outcome", most of a year before are closed. Each file is its own extract, so a
month's shares depend on when its file was taken: :func:`outcomes_by_month` and
:func:`outcomes_by_file` show it, and :func:`file_extracts` says when each file was taken,
where that is known.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from .areas import area_codes, check_level, parent_area
from .errors import InputFileError, PsaGeoError
from .force import force_of
from .groups import load_crime_groups
from .measures import ASB, beyond_located
from .periods import Period
from .police_uk import SOURCE
from .stats import compare_share_with_benchmark, proportion_ci
from .towns import with_towns
from .userfiles import read_user_csv

log = logging.getLogger(__name__)

DEFAULT_OUTCOME_GROUPS = "outcome_groups.csv"
#: The events' column of police.uk's "Last outcome category".
OUTCOME = "last_outcome_category"
#: The outcome group of a text no group lists (counted, never dropped).
NOT_GROUPED = "Not in any outcome group"
#: How a blank outcome text is named.
BLANK = "(blank)"
#: The outcomes that are not final yet: the maturity measure of :func:`outcomes_by_month`.
PENDING = ("Under investigation", "Awaiting court outcome")
#: The extract date of a file when neither the user nor the file's name gives it.
UNKNOWN = "unknown"
NO_CRIMES = "no crimes"
_ARCHIVE = re.compile(r"\d{4}-\d{2}")  # data.police.uk/data/archive/YYYY-MM.zip
#: An extract date: YYYY-MM or YYYY-MM-DD.
EXTRACT_DATE = re.compile(r"\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?")
_ZIP_MEMBER = re.compile(r"^(.*\.zip)!(.+)$", re.IGNORECASE)
_SHARE_COLUMNS = ["count", "crimes", "share_pct", "share_lower_95", "share_upper_95"]
_COLUMNS = (
    "date",
    "category",
    "weight",
    "source_file",
    OUTCOME,
    "falls_within",
    "area_status",
    "lsoa_code",
    "placed_level",
)


def load_outcome_groups(path: str | Path | None = None) -> dict[str, list[str]]:
    """Outcome group → the police.uk outcome texts it holds, in file order.

    The default file (``psa_geo/resources/outcome_groups.csv``, columns ``group`` and
    ``outcome``) maps every police.uk outcome text, current and earlier labels, to the
    groups charged or summonsed (with "Awaiting court outcome" and every court result),
    out-of-court disposal, evidential difficulties / unable to prosecute, no suspect
    identified, not in the public interest, action by another organisation, under
    investigation and status unavailable. A user's own CSV replaces it. Texts match ignoring
    case and surrounding spaces; a text in two groups, a blank cell or a group named
    :data:`NOT_GROUPED` is a one-line :class:`InputFileError` naming the file.
    """
    source = (
        Path(path)
        if path is not None
        else resources.files("psa_geo.resources") / DEFAULT_OUTCOME_GROUPS
    )
    label = str(path) if path is not None else DEFAULT_OUTCOME_GROUPS
    frame = read_user_csv(source, ["group", "outcome"], label=label)
    frame = frame.apply(lambda col: col.str.strip())
    if frame.empty:
        raise InputFileError(
            label,
            "the file defines no outcome groups (a header but no rows); "
            "expected rows of group,outcome",
        )
    blank = frame[(frame["group"] == "") | (frame["outcome"] == "")]
    if not blank.empty:
        raise InputFileError(label, f"row {blank.index[0] + 2} has a blank group or outcome")
    groups: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    for group, outcome in frame[["group", "outcome"]].itertuples(index=False):
        if group == NOT_GROUPED:
            raise InputFileError(
                label, f"{NOT_GROUPED!r} is kept for texts in no group; name the group otherwise"
            )
        first = owner.setdefault(outcome.casefold(), group)
        if first != group:
            raise InputFileError(
                label,
                f"the outcome {outcome!r} is in two groups ({first!r} "
                f"and {group!r}); each outcome belongs to one group",
            )
        if outcome not in groups.setdefault(group, []):
            groups[group].append(outcome)
    return groups


def outcome_texts(
    events: pd.DataFrame,
    *,
    period: Period | None = None,
    outcome_groups: dict[str, list[str]] | None = None,
) -> pd.DataFrame:
    """Every outcome text of the street files' crimes (ASB left out) with its group and the
    crimes that carry it (``period``: of that period only), most frequent first; a text no
    group lists has the group :data:`NOT_GROUPED`, a blank one the text :data:`BLANK`."""
    crimes = _crimes(events, outcome_groups or load_outcome_groups())
    if period is not None:
        crimes = crimes[period.contains(crimes["date"])]
    table = crimes.groupby(["outcome_text", "outcome_group"], as_index=False)["weight"].sum()
    table = table.rename(columns={"outcome_text": "outcome", "weight": "crimes"})
    return table.sort_values(["crimes", "outcome"], ascending=[False, True], ignore_index=True)


def unmapped_outcomes(
    events: pd.DataFrame, outcome_groups: dict[str, list[str]] | None = None
) -> dict[str, int]:
    """The outcome texts of the street files' crimes that no outcome group lists, with how
    many crimes carry each (they count as :data:`NOT_GROUPED`, never dropped)."""
    texts = outcome_texts(events, outcome_groups=outcome_groups)
    texts = texts[texts["outcome_group"] == NOT_GROUPED]
    return {str(t): int(n) for t, n in zip(texts["outcome"], texts["crimes"], strict=True)}


def outcome_table(
    events: pd.DataFrame,
    areas: pd.DataFrame,
    *,
    period: Period,
    level: str = "csp",
    groups: dict[str, list[str]] | None = None,
    outcome_groups: dict[str, list[str]] | None = None,
    towns: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Each outcome group's share of the crimes of ``period``, for every area of ``level`` and
    crime group, with its 95% Wilson interval, compared with the Peninsula.

    - The crimes are the police.uk street files' (ASB left out: it has no outcome), with the
      outcome of their file (:func:`outcomes_by_file`). Every outcome counts, "Status update
      unavailable" too, so an area's shares add up to 100%; a text in no group counts as
      :data:`NOT_GROUPED` (a row only when some crime of the period has one).
    - ``level``: ``peninsula`` is the force total (located crimes, those without a location and
      the force's own placed outside, as in :func:`rate_table`); ``csp``, ``lad``, ``ward``,
      ``lsoa``, ``town`` (with ``towns``: ``town, lsoa_code`` rows, :func:`load_towns`) or a
      level the areas carry as ``<level>_code`` and ``<level>_name`` count located crimes.
      ``events`` are assigned (:func:`assign_areas`).
    - ``groups``: crime groups (default :func:`load_crime_groups`) without ASB.
    - ``peninsula_share_pct`` is the Peninsula's share of located crimes, the benchmark (as
      rates compare with located events); ``vs_peninsula_95`` is higher, similar or lower
      (:func:`compare_share_with_benchmark`), blank for the Peninsula itself and
      :data:`NO_CRIMES` for an area and crime group without crimes (shares blank too).

    Columns: ``level, area_code, area_name, crime_group, outcome_group, period, count,
    crimes, share_pct, share_lower_95, share_upper_95, peninsula_share_pct,
    vs_peninsula_95``; shares in per cent.
    """
    if towns is not None:
        areas = with_towns(areas, towns)
    check_level(areas, level)
    if "area_status" not in events:
        raise PsaGeoError("'events' have no area_status column; run assign_areas() first")
    groups = _crime_groups(groups or load_crime_groups())
    outcome_groups = outcome_groups or load_outcome_groups()
    crimes = _crimes(events, outcome_groups)
    crimes = crimes[period.contains(crimes["date"])]
    names = _names(outcome_groups, crimes)
    located = _by_crime_group(crimes[crimes["area_status"] == "inside"], groups)
    code, name = parent_area(areas)
    if level == "peninsula":
        index = pd.DataFrame({"area_code": [code], "area_name": [name]})
        counted = _by_crime_group(crimes[_force_total(crimes, areas)], groups)
        counted = counted.assign(area_code=code)
    else:
        index = (
            areas[[f"{level}_code", f"{level}_name"]]
            .dropna()
            .drop_duplicates(f"{level}_code")
            .set_axis(["area_code", "area_name"], axis=1)
            .sort_values("area_code")
        )
        lsoa_to_area = pd.Series(areas[f"{level}_code"].to_numpy(), index=areas["lsoa_code"])
        counted = located.assign(
            area_code=area_codes(located, lsoa_to_area.dropna(), level, parent_code=code)
        )
    keys = pd.MultiIndex.from_product(
        [index["area_code"], list(groups)], names=["area_code", "crime_group"]
    )
    table = _shares(counted, keys, names)
    table = table.merge(index, on="area_code", how="left")
    bench = _shares(
        located, pd.MultiIndex.from_product([list(groups)], names=["crime_group"]), names
    )
    bench = bench.set_index(["crime_group", "outcome_group"])["share_pct"]
    pairs = pd.MultiIndex.from_frame(table[["crime_group", "outcome_group"]])
    table["peninsula_share_pct"] = bench.reindex(pairs).to_numpy()
    table["vs_peninsula_95"] = "" if level == "peninsula" else NO_CRIMES
    if level != "peninsula":
        has = (table["crimes"] > 0) & table["peninsula_share_pct"].notna()
        table.loc[has, "vs_peninsula_95"] = compare_share_with_benchmark(
            table.loc[has, "count"],
            table.loc[has, "crimes"],
            table.loc[has, "peninsula_share_pct"] / 100,
        )
    table.insert(0, "level", level)
    table["period"] = period.label
    columns = [
        "level",
        "area_code",
        "area_name",
        "crime_group",
        "outcome_group",
        "period",
        *_SHARE_COLUMNS,
        "peninsula_share_pct",
        "vs_peninsula_95",
    ]
    return table[columns]


def outcomes_by_month(
    events: pd.DataFrame,
    areas: pd.DataFrame,
    *,
    outcome_groups: dict[str, list[str]] | None = None,
    extracts: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Each outcome group's share of the crimes of each month (the force total, all crime
    excl. ASB), as the file holding that month gives them: the shares of one extract's last
    months are mostly not final yet.

    Columns: ``month`` (YYYY-MM), ``source_file``, ``extract_date`` (``extracts``, a file →
    date mapping from :func:`file_extracts`; default: from the files' names),
    ``outcome_group``, ``count``, ``crimes``, ``share_pct`` and its 95% Wilson limits, and
    ``pending_pct``: the share still "Under investigation" or "Awaiting court outcome"
    (:data:`PENDING`), the same on every row of a month.
    """
    crimes = _force_crimes(events, areas, outcome_groups)
    crimes = crimes.assign(month=crimes["date"].dt.strftime("%Y-%m"))
    keys = crimes[["month", "source_file"]].drop_duplicates().sort_values(["month", "source_file"])
    table = _shares(crimes, pd.MultiIndex.from_frame(keys), _names(outcome_groups, crimes))
    pending = crimes["outcome_text"].str.casefold().isin([p.casefold() for p in PENDING])
    sums = (
        crimes.assign(_pending=crimes["weight"].where(pending, 0))
        .groupby(["month", "source_file"], as_index=False)[["_pending", "weight"]]
        .sum()
    )
    sums["pending_pct"] = 100 * sums["_pending"] / sums["weight"]
    table = table.merge(sums[["month", "source_file", "pending_pct"]], on=["month", "source_file"])
    return _with_extracts(table, extracts, after="source_file")


def outcomes_by_file(
    events: pd.DataFrame,
    areas: pd.DataFrame,
    *,
    outcome_groups: dict[str, list[str]] | None = None,
    extracts: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Each outcome group's share of the crimes of each police.uk file (the force total, all
    crime excl. ASB): ``source_file``, ``extract_date`` (as :func:`outcomes_by_month`),
    ``first_month``, ``last_month``, ``outcome_group``, ``count``, ``crimes``, ``share_pct``
    and its 95% Wilson limits."""
    crimes = _force_crimes(events, areas, outcome_groups)
    files = sorted(crimes["source_file"].unique())
    table = _shares(
        crimes,
        pd.MultiIndex.from_product([files], names=["source_file"]),
        _names(outcome_groups, crimes),
    )
    months = crimes.groupby("source_file")["date"].agg(["min", "max"])
    table.insert(1, "first_month", table["source_file"].map(months["min"].dt.strftime("%Y-%m")))
    table.insert(2, "last_month", table["source_file"].map(months["max"].dt.strftime("%Y-%m")))
    return _with_extracts(table, extracts, after="source_file")


def file_extracts(
    files: Iterable[str], *, dates: Mapping[str | Path, str] | None = None
) -> dict[str, str]:
    """When each police.uk file was extracted: ``files`` are the labels of
    :attr:`IngestReport.files` (the events' ``source_file``).

    The date is the one ``dates`` gives for the file, or for the folder or zip that holds it
    (the nearest wins; YYYY-MM or YYYY-MM-DD); else, for a file read from a police.uk archive
    ``YYYY-MM.zip`` (as data.police.uk names them), that month; else :data:`UNKNOWN`. A date
    that is not one, or a path of ``dates`` that holds none of ``files``, is a one-line
    :class:`PsaGeoError`.
    """
    given = {}
    for path, date in (dates or {}).items():
        if not EXTRACT_DATE.fullmatch(str(date).strip()):
            raise PsaGeoError(
                f"the extract date of {path} should be YYYY-MM or YYYY-MM-DD, got {date!r}"
            )
        given[Path(path).expanduser().resolve()] = str(date).strip()
    used, out = set(), {}
    for label in files:
        member = _ZIP_MEMBER.match(label)
        path = Path(member[1] if member else label).resolve()
        holders = [p for p in (path, *path.parents) if p in given]
        if holders:
            used.add(holders[0])
            out[label] = given[holders[0]]
        elif member and _ARCHIVE.fullmatch(path.stem):
            out[label] = path.stem
        else:
            out[label] = UNKNOWN
    unused = [str(p) for p in given if p not in used]
    if unused:
        raise PsaGeoError(
            f"an extract date is given for {unused[0]}, but no police.uk file "
            "read is that file or in that folder or zip"
        )
    return out


def file_name(label: str) -> str:
    """A police.uk file's name for pages and tables, without its folders: the file's name, or
    for a zip member ``archive.zip!member``."""
    member = _ZIP_MEMBER.match(label)
    if member:
        return f"{Path(member[1]).name}!{Path(member[2]).name}"
    return Path(label).name


def extract_key(label: str, extract: str) -> str:
    """What makes files one extract: the same known extract date; a file of unknown date is
    an extract of its own (a zip's members together)."""
    if extract != UNKNOWN:
        return extract
    member = _ZIP_MEMBER.match(label)
    return member[1] if member else label


_kept_crimes: dict | None = None


@contextmanager
def crimes_kept() -> Iterator[None]:
    """Within the block, the crimes of one events frame and set of outcome groups
    (:func:`_crimes`) are made once, not once per table: the events must not change in it."""
    global _kept_crimes
    previous, _kept_crimes = _kept_crimes, {}
    try:
        yield
    finally:
        _kept_crimes = previous


def _crimes(events: pd.DataFrame, outcome_groups: dict[str, list[str]]) -> pd.DataFrame:
    """The street files' crimes (ASB left out) with ``outcome_text`` and ``outcome_group``
    (kept within :func:`crimes_kept`)."""
    if _kept_crimes is None:
        return _outcome_crimes(events, outcome_groups)
    key = (id(events), tuple((group, tuple(texts)) for group, texts in outcome_groups.items()))
    if key not in _kept_crimes:  # the events are kept too, so their id is not reused
        _kept_crimes[key] = (events, _outcome_crimes(events, outcome_groups))
    return _kept_crimes[key][1]


def _outcome_crimes(events: pd.DataFrame, outcome_groups: dict[str, list[str]]) -> pd.DataFrame:
    keep = [c for c in _COLUMNS if c in events]
    crimes = pd.DataFrame(
        events.loc[(events["source"] == SOURCE) & (events["category"] != ASB), keep]
    ).reindex(columns=list(_COLUMNS))
    crimes["source_file"] = crimes["source_file"].astype(object)  # also with no crimes at all
    codes, texts = pd.factorize(crimes[OUTCOME].astype(object).fillna(""), use_na_sentinel=False)
    texts = [str(t).strip() for t in texts]
    owner = {o.casefold(): g for g, members in outcome_groups.items() for o in members}
    groups = np.array([owner.get(t.casefold(), NOT_GROUPED) for t in texts] or [""], dtype=object)
    shown = np.array([t or BLANK for t in texts] or [""], dtype=object)
    return crimes.assign(outcome_text=shown[codes], outcome_group=groups[codes])


def _force_crimes(events, areas, outcome_groups) -> pd.DataFrame:
    """:func:`_crimes` of the force total (as the ``peninsula`` level counts them)."""
    if "area_status" not in events:
        raise PsaGeoError("'events' have no area_status column; run assign_areas() first")
    crimes = _crimes(events, outcome_groups or load_outcome_groups())
    return crimes[_force_total(crimes, areas)]


def _force_total(crimes: pd.DataFrame, areas: pd.DataFrame) -> pd.Series:
    """The crimes a force total counts: located ones and :func:`beyond_located`."""
    unlocated, outside = beyond_located(crimes, force_of(areas))
    return (crimes["area_status"] == "inside") | unlocated | outside


def _crime_groups(groups: dict[str, list[str]]) -> dict[str, list[str]]:
    """The crime groups without ASB (which has no outcome); a group of ASB alone is left out."""
    out = {g: [c for c in members if c != ASB] for g, members in groups.items()}
    return {g: members for g, members in out.items() if members}


def _names(outcome_groups: dict[str, list[str]] | None, crimes: pd.DataFrame) -> list[str]:
    """The outcome groups in file order, then :data:`NOT_GROUPED` when some crime has it."""
    names = list(outcome_groups or load_outcome_groups())
    return names + [NOT_GROUPED] * bool((crimes["outcome_group"] == NOT_GROUPED).any())


def _by_crime_group(crimes: pd.DataFrame, groups: dict[str, list[str]]) -> pd.DataFrame:
    """One row per crime and crime group it is in, with ``crime_group``."""
    parts = [
        crimes[crimes["category"].isin(members)].assign(crime_group=group)
        for group, members in groups.items()
    ]
    return pd.concat(parts, ignore_index=True) if parts else crimes.assign(crime_group=None)


def _shares(crimes: pd.DataFrame, keys: pd.MultiIndex, names: list[str]) -> pd.DataFrame:
    """Count, crimes and share (with 95% Wilson limits, per cent) of each outcome group in
    ``names`` for every combination of ``keys`` (its names are columns of ``crimes``)."""
    by = [*keys.names, "outcome_group"]
    counts = crimes.groupby(by)["weight"].sum()
    full = pd.MultiIndex.from_tuples(
        [(*(k if isinstance(k, tuple) else (k,)), n) for k in keys for n in names], names=by
    )
    if not len(full):
        return pd.DataFrame(columns=[*by, *_SHARE_COLUMNS])
    out = counts.reindex(full, fill_value=0).astype("int64").rename("count").reset_index()
    out["crimes"] = out.groupby(list(keys.names), sort=False)["count"].transform("sum")
    for column in _SHARE_COLUMNS[2:]:
        out[column] = np.nan
    has = out["crimes"] > 0
    if has.any():
        shares = proportion_ci(out.loc[has, "count"], out.loc[has, "crimes"])
        out.loc[has, _SHARE_COLUMNS[2:]] = 100 * np.column_stack(shares)
    return out


def _with_extracts(table: pd.DataFrame, extracts, *, after: str) -> pd.DataFrame:
    """``table`` with ``extract_date`` after the column ``after`` (the source file)."""
    files = table["source_file"].unique()
    known = dict(extracts or {})
    missing = [f for f in files if f not in known]
    known.update(file_extracts(missing))
    table.insert(table.columns.get_loc(after) + 1, "extract_date", table["source_file"].map(known))
    return table
