"""Category groups: the assessment's rows (all crime excl. ASB, burglary, ...) as data."""

from __future__ import annotations

import io
from importlib import resources
from pathlib import Path

import pandas as pd

from .errors import InputFileError

DEFAULT_GROUPS = "crime_groups.csv"


def load_crime_groups(path: str | Path | None = None) -> dict[str, list[str]]:
    """Group name → the categories (police.uk Crime types) it adds up, in file order.

    The default file (``psa_geo/resources/crime_groups.csv``) gives the Peninsula Strategic
    Assessment's rows. A user's own CSV with columns ``group`` and ``crime_type`` (one row per
    member; a category may be in several groups) replaces it.
    """
    source = (
        Path(path) if path is not None else resources.files("psa_geo.resources") / DEFAULT_GROUPS
    )
    label = str(path) if path is not None else DEFAULT_GROUPS
    try:
        text = source.read_text(encoding="utf-8-sig")
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputFileError(
            label, f"cannot read the category groups ({type(exc).__name__})"
        ) from None
    missing = {"group", "crime_type"} - set(frame.columns)
    if missing:
        raise InputFileError(label, f"missing columns {', '.join(sorted(missing))}")
    frame = frame.apply(lambda col: col.str.strip())
    blank = frame[(frame["group"] == "") | (frame["crime_type"] == "")]
    if not blank.empty:
        raise InputFileError(label, f"row {blank.index[0] + 2} has a blank group or crime_type")
    groups: dict[str, list[str]] = {}
    for group, crime_type in (
        frame[["group", "crime_type"]].drop_duplicates().itertuples(index=False)
    ):
        groups.setdefault(group, []).append(crime_type)
    return groups


def single_groups(categories) -> dict[str, list[str]]:
    """Each category on its own, sorted: the grouping when none is given."""
    return {c: [c] for c in sorted(set(categories))}


def unmapped_categories(categories, groups: dict[str, list[str]]) -> list[str]:
    """Categories in the data that no group counts (they would be left out of every row)."""
    members = {c for group in groups.values() for c in group}
    return sorted(set(categories) - members)
