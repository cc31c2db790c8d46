"""Aggregated counts tables (LSOA code × month × optional category × count) as a source.

Each usable row becomes one canonical event: ``weight`` is the count, the geometry is empty
and ``published_lsoa_code`` holds the row's LSOA (2011 or 2021 code), by which
:func:`psa_geo.assign_areas` places it. A table without a category column is one group,
:data:`ALL_RECORDS`. :func:`counts_coverage` says which LSOAs such a source covers: an LSOA
with no row at all is "no data", never 0.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import zlib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from . import _csvlines
from .errors import InputFileError
from .events import CRS, IngestReport, validate_events
from .police_uk import FIRST_MONTH
from .userfiles import header_key, match_columns

log = logging.getLogger(__name__)

SOURCE = "police_uk_counts"
ALL_RECORDS = "All police.uk records (crime and ASB together)"
#: The largest count one row may hold (an LSOA's records in one month and category).
MAX_COUNT = 100_000
#: Accepted header (lower case, runs of other characters as "_") -> column.
ALIASES = {
    **dict.fromkeys(("lsoa21cd", "lsoa11cd", "lsoa_code", "lsoa", "area_code", "code",
                     "lsoa_2021_code", "lsoa_2011_code", "lsoa_code_2021", "lsoa_code_2011"),
                    "code"),
    **dict.fromkeys(("month", "date", "year_month"), "month"),
    **dict.fromkeys(("category", "crime_type", "type"), "category"),
    **dict.fromkeys(("count", "crime_count", "records", "n", "value", "number"), "count"),
}  # fmt: skip
REJECT_REASONS = {
    **_csvlines.LINE_REASONS,
    "blank_code": "no area code",
    "bad_code": "the area code is not an LSOA code (a letter and 8 digits, e.g. E01015023)",
    "bad_month": "the month is not YYYY-MM",
    "early_month": f"the month is before {FIRST_MONTH}, when police.uk street-level data begin",
    "future_month": "the month is after the current month",
    "bad_count": f"the count is not a whole number from 0 to {MAX_COUNT:,}",
    "duplicate_row": "the same area, month and category as an earlier row",
    "superseded_by_street_files": "street-level files cover this month; they are used instead",
}
LEVEL_RANK = {"lsoa": 0, "ward": 1, "lad": 2, "csp": 3, "peninsula": 4}
_CODE = re.compile(r"[EW]0\d{7}")
_MONTH = re.compile(r"(\d{4})-(\d{2})(?:-01)?")


def read_counts(
    paths: str | Path | list[str | Path],
    *,
    today: dt.date | None = None,
    return_report: bool = False,
) -> gpd.GeoDataFrame | tuple[gpd.GeoDataFrame, IngestReport]:
    """Read counts tables into canonical events (source ``police_uk_counts``).

    Columns are matched by header, ignoring case and punctuation: the LSOA code
    (``LSOA21CD``, ``LSOA11CD``, ``lsoa_code``, ...), ``month`` (``YYYY-MM``), an optional
    ``category`` (``crime_type``) and ``count`` (``CRIME_COUNT``, ``n``, ...); other columns
    are ignored. Counts are whole numbers from 0 to :data:`MAX_COUNT`; zeros are kept (they
    show that the area is covered). Unusable rows, and a second row of the same code, month
    and category, are rejected with a reason (:data:`REJECT_REASONS`).
    """
    today = today or dt.date.today()
    paths = [Path(p) for p in ([paths] if isinstance(paths, str | Path) else paths)]
    report = IngestReport(source=SOURCE)
    frames, rejected = [], []
    for path in paths:
        rows, reasons = _read_file(path, report)
        reasons = _reasons(rows, reasons, today)
        frames.append(rows[reasons == ""])
        rejected.append(rows[reasons != ""].assign(reason=reasons[reasons != ""]))
    good = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    bad = pd.concat(rejected, ignore_index=True) if rejected else pd.DataFrame()
    if len(good):
        repeated = good.duplicated(["code", "month", "category"])
        bad = pd.concat([bad, good[repeated].assign(reason="duplicate_row")], ignore_index=True)
        good = good[~repeated]
    events = gpd.GeoDataFrame(
        {
            "source": SOURCE,
            "event_id": good["source_file"] + ":" + good["source_row"].astype(str),
            "date": pd.to_datetime(good["month"].str[:7] + "-01"),
            "date_precision": "month",
            "category": good["category"],
            "weight": good["count"].astype("int64"),
            "published_lsoa_code": good["code"],
        },
        geometry=gpd.GeoSeries([None] * len(good), crs=CRS),
        crs=CRS,
    ).reset_index(drop=True)
    report.rows_read = len(good) + len(bad)
    report.accepted = report.without_location = len(events)
    report.rejected = (
        {k: int(v) for k, v in bad["reason"].value_counts().items()} if len(bad) else {}
    )
    report.months = sorted(set(good["month"].str[:7]))
    keep = ["source_file", "source_row", "reason", "code", "month", "category", "count_text"]
    report.rejected_rows = bad[[c for c in keep if c in bad]] if len(bad) else pd.DataFrame()
    report.check()
    validate_events(events)
    log.info("counts: %s", report.summary())
    return (events, report) if return_report else events


def is_counts_table(path: Path) -> bool:
    """True when ``path``'s header has an LSOA code, month and count column (:data:`ALIASES`)."""
    try:
        with _csvlines.open_counted(path) as stream:
            header = pd.read_csv(stream, nrows=0, encoding="utf-8-sig").columns
    except (ValueError, OSError, EOFError, zlib.error, UnicodeDecodeError):
        return False
    names = {ALIASES.get(header_key(h)) for h in header}
    return {"code", "month", "count"} <= names


def _read_file(path: Path, report: IngestReport) -> tuple[pd.DataFrame, np.ndarray]:
    """The file's rows as text with ``code``, ``month``, ``category``, ``count_text``,
    ``source_file`` and ``source_row``, and each row's line reason ("" if none)."""
    frame, lines = _csvlines.read_rows(path, not_utf8="not UTF-8 text (save it as UTF-8 CSV)")
    columns = match_columns(frame.columns, ALIASES, path)
    missing = [c for c in ("code", "month", "count") if c not in columns]
    if missing:
        raise InputFileError(
            path, f"not a counts table: missing columns {', '.join(missing)} "
            "(an LSOA code, month YYYY-MM and count; category is optional)",
        )  # fmt: skip
    report.files.append(str(path))
    report.add_lines(lines)
    rows, line_reasons = _csvlines.located_rows(
        frame, lines, list(columns.values()), source_file=str(path)
    )
    text = {name: rows[header].str.strip() for name, header in columns.items()}
    out = pd.DataFrame(
        {
            "source_file": rows["source_file"],
            "source_row": rows["source_row"],
            "code": text["code"].str.upper(),
            "month": text["month"],
            "category": text.get("category", ALL_RECORDS),
            "count_text": text["count"],
        }
    )
    out.loc[out["category"] == "", "category"] = ALL_RECORDS
    return out.reset_index(drop=True), line_reasons


def _reasons(rows: pd.DataFrame, line_reasons: np.ndarray, today: dt.date) -> np.ndarray:
    """Each row's reject reason, "" for a usable row; fills ``count`` and ``month``."""
    reasons = np.asarray(line_reasons, dtype=object).copy()

    def flag(mask, reason):
        mask = np.asarray(mask, dtype=bool) & (reasons == "")
        reasons[mask] = reason

    flag(rows["code"] == "", "blank_code")
    flag(~rows["code"].str.fullmatch(_CODE), "bad_code")
    parts = rows["month"].str.fullmatch(_MONTH)
    month = rows["month"].str[:7]
    valid_month = parts & month.str[5:7].between("01", "12")
    flag(~valid_month, "bad_month")
    flag(month < FIRST_MONTH, "early_month")
    flag(month > f"{today:%Y-%m}", "future_month")
    value = pd.to_numeric(rows["count_text"], errors="coerce")
    with np.errstate(invalid="ignore"):
        bad = value.isna() | ~np.isfinite(value) | (value < 0) | (value > MAX_COUNT)
        bad |= value != np.floor(value)
    flag(bad, "bad_count")
    rows["count"] = value.where(~bad, 0)
    rows["month"] = month
    return reasons


def counts_coverage(events: pd.DataFrame, areas: gpd.GeoDataFrame) -> pd.Series:
    """LSOA code → the rank (:data:`LEVEL_RANK`) of the smallest level at which a counts
    source's figures are known, NaN where the source has no row at all ("no data").

    An LSOA with rows of its own is known at LSOA level (0); the parts of a merged 2021 LSOA
    are known at the level where :func:`assign_areas` placed it (``placed_level``).
    """
    rank = pd.Series(np.nan, index=areas["lsoa_code"].to_numpy())
    inside = events[events["area_status"] == "inside"]
    own = inside["lsoa_code"].dropna().unique()
    rank[rank.index.isin(own)] = 0
    merged = inside[inside["lsoa_code"].isna()]
    parts = areas.attrs.get("lsoa21_to_lsoa11", {})
    for code, level in merged.groupby("published_lsoa_code")["placed_level"].first().items():
        members = [m for m in getattr(parts, "merged", {}).get(code, ()) if m in rank.index]
        rank[members] = np.fmin(rank[members], LEVEL_RANK[level])
    return rank
