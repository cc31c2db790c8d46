"""Category groups: the assessment's rows (all crime excl. ASB, burglary, ...) as data."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .errors import InputFileError, PsaGeoError
from .filenames import unique_names
from .userfiles import read_user_csv

DEFAULT_GROUPS = "crime_groups.csv"


def load_crime_groups(
    path: str | Path | None = None, *, require_all_crime: bool = True
) -> dict[str, list[str]]:
    """Group name → the categories (police.uk Crime types) it adds up, in file order.

    The default file (``psa_geo/resources/crime_groups.csv``) gives the Peninsula Strategic
    Assessment's rows. A user's own CSV with columns ``group`` and ``crime_type`` (one row per
    member; a category may be in several groups) replaces it.

    The file must be UTF-8 (with or without a BOM) and hold at least one group; with
    ``require_all_crime`` (the default; the build's headline needs it) it must have the group
    ``"All crime (excl. ASB)"``. An optional column ``map`` (yes/no) says which groups get
    hotspot layers (:func:`load_mapped_groups`). Two group names that would share a file
    name ("Theft" and "theft") are an error. Every problem is one :class:`InputFileError`
    naming the file.
    """
    source = (
        Path(path) if path is not None else resources.files("psa_geo.resources") / DEFAULT_GROUPS
    )
    label = str(path) if path is not None else DEFAULT_GROUPS
    frame = read_user_csv(source, ["group", "crime_type"], label=label)
    frame = frame.apply(lambda col: col.str.strip())
    if frame.empty:
        raise InputFileError(
            label, "the file defines no groups (a header but no rows); expected rows of "
            "group,crime_type, or leave out --groups for the assessment's groups"
        )  # fmt: skip
    blank = frame[(frame["group"] == "") | (frame["crime_type"] == "")]
    if not blank.empty:
        raise InputFileError(label, f"row {blank.index[0] + 2} has a blank group or crime_type")
    groups: dict[str, list[str]] = {}
    for group, crime_type in (
        frame[["group", "crime_type"]].drop_duplicates().itertuples(index=False)
    ):
        groups.setdefault(group, []).append(crime_type)
    if require_all_crime:
        from .measures import ALL_CRIME, ASB

        if ALL_CRIME not in groups:
            raise InputFileError(
                label, f"no group {ALL_CRIME!r}: the headline figures, the rate maps and the "
                f"league table count it; add its rows (every police.uk crime type but {ASB})"
            )  # fmt: skip
    try:
        unique_names(groups, what="group")
    except PsaGeoError as exc:
        raise InputFileError(label, str(exc)) from None
    return groups


MAP_COLUMN = "map"
"""The optional column of a groups CSV saying which groups get hotspot layers (yes/no)."""


def load_mapped_groups(path: str | Path | None = None) -> list[str]:
    """The groups of a groups CSV (:func:`load_crime_groups`) that get hotspot layers, in file
    order: those whose optional ``map`` column says ``yes`` (or is blank or absent) on every
    row; ``no`` leaves a group out. The default file maps every group."""
    groups = load_crime_groups(path, require_all_crime=False)
    if path is None:
        return list(groups)
    label = str(path)
    frame = read_user_csv(Path(path), ["group", "crime_type"], label=label)
    if MAP_COLUMN not in frame:
        return list(groups)
    flags = frame[MAP_COLUMN].str.strip().str.lower().replace("", "yes")
    wrong = flags[~flags.isin(["yes", "no"])]
    if not wrong.empty:
        row = wrong.index[0]
        raise InputFileError(label, f"row {row + 2}: the {MAP_COLUMN} column should say yes "
                             f"or no, got {frame[MAP_COLUMN][row]!r}")  # fmt: skip
    unmapped = set(frame.loc[flags == "no", "group"].str.strip())
    return [group for group in groups if group not in unmapped]


def single_groups(categories) -> dict[str, list[str]]:
    """Each category on its own, sorted: the grouping when none is given."""
    return {c: [c] for c in sorted(set(categories))}


def unmapped_categories(categories, groups: dict[str, list[str]]) -> list[str]:
    """Categories in the data that no group counts (they would be left out of every row)."""
    members = {c for group in groups.values() for c in group}
    return sorted(set(categories) - members)
