"""Read data.police.uk street-level crime and ASB files into the canonical events table."""

from __future__ import annotations

import datetime as dt
import logging
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import _csvlines
from .errors import InputFileError
from .events import CRS, IngestReport

log = logging.getLogger(__name__)

SOURCE = "police_uk"
REQUIRED_COLUMNS = (
    "Crime ID",
    "Month",
    "Falls within",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "LSOA name",
    "Crime type",
)
_RENAME = {
    "Crime ID": "crime_id",
    "Month": "month",
    "Reported by": "reported_by",
    "Falls within": "falls_within",
    "Location": "location",
    "LSOA code": "published_lsoa_code",
    "LSOA name": "published_lsoa_name",
    "Crime type": "category",
    "Last outcome category": "last_outcome_category",
    "Context": "context",
}
# Great Britain and Northern Ireland, generously (police.uk covers both).
_LON_RANGE = (-8.8, 2.0)
_LAT_RANGE = (49.8, 61.0)
#: The first month of police.uk street-level crime data (December 2010); earlier months and
#: months after the current one are rejected.
FIRST_MONTH = "2010-12"

REJECT_REASONS = {
    "bad_month": "Month is not YYYY-MM",
    "early_month": f"Month is before {FIRST_MONTH}, when police.uk street-level data begin",
    "future_month": "Month is after the current month",
    **_csvlines.LINE_REASONS,
    "unknown_force": "'Falls within' is not a police.uk force",
    "non_numeric_coordinates": "Longitude or Latitude is not a number",
    "partial_coordinates": "only one of Longitude and Latitude is given",
    "outside_great_britain": "coordinates lie outside Great Britain and Northern Ireland",
    "missing_crime_type": "Crime type is blank",
    "overlapping_file": "the same force and month was already read from an earlier file",
}


def police_forces() -> pd.DataFrame:
    """The police.uk forces: ``slug`` (as in file names) and ``name`` (as in 'Falls within')."""
    with (
        resources.files("psa_geo.resources")
        .joinpath("police_forces.csv")
        .open(encoding="utf-8") as f
    ):
        return pd.read_csv(f, dtype=str)


def read_police_uk(
    paths: str | Path | Iterable[str | Path],
    *,
    return_report: bool = False,
    today: dt.date | None = None,
    force: str | None = None,
) -> gpd.GeoDataFrame | tuple[gpd.GeoDataFrame, IngestReport]:
    """Read police.uk street-level files into canonical events (EPSG:27700).

    Parameters
    ----------
    paths
        One or more CSVs (``.csv`` or ``.csv.gz``), folders of monthly
        ``YYYY-MM/YYYY-MM-<force>-street.csv`` files, or ``.zip`` archives as police.uk
        serves them.
    return_report
        Also return the :class:`IngestReport` (counts, reasons, overlaps, rejected rows).
    today
        The date months may not pass (default: the real date); for tests.
    force
        A police.uk force slug (``devon-and-cornwall``): from folders and zips, read only
        that force's ``*-<force>-street.csv`` files (files named directly are always read).

    Notes
    -----
    ``category`` is the Crime type (ASB included). Rows without coordinates are kept as
    events with an empty geometry. Unusable rows are rejected with a reason code and kept in
    ``report.rejected_rows``. The same force and month in two files is read once and the
    overlap reported. Rows are never de-duplicated by content: identical ASB rows are
    distinct incidents. Months before :data:`FIRST_MONTH` or after ``today``'s month are
    rejected. ``source_row`` is the row's first physical line (header = line 1); every
    physical line is counted (``report.lines_read``, ``blank_lines``). A line break inside
    a column psa_geo carries rejects the row (``line_break_in_field``); a quote left open over
    several rows rejects the row that swallowed them (``unclosed_quote``). Zip members are
    streamed; one beyond ``psa_geo._csvlines.MAX_UNCOMPRESSED_BYTES`` (4 GiB) is refused.
    """
    today = dt.date.today() if today is None else today
    report = IngestReport(source=SOURCE)
    seen: dict[tuple[str, str], tuple[int, str]] = {}
    frames, rejected = [], []
    known_forces = set(police_forces()["name"])
    for label, handle in _iter_csvs(paths, force=force):
        raw, lines = _read_csv(label, handle)
        report.files.append(label)
        report.add_lines(lines)
        used = [c for c in raw.columns if c in REQUIRED_COLUMNS or c in _RENAME]
        raw, line = _csvlines.located_rows(raw, lines, used, source_file=label)
        report.rows_read += len(raw)
        reason = _reject_reasons(raw, known_forces, today=today)
        reason[line == "unclosed_quote"] = "unclosed_quote"
        reason[(line == "line_break_in_field") & reason.isna().to_numpy()] = "line_break_in_field"
        reason = _mark_overlaps(raw, reason, seen, (len(report.files), label), report)
        bad = reason.notna()
        if bad.any():
            rejected.append(raw[bad].assign(reason=reason[bad]))
        frames.append(raw[~bad])
    if not report.files:
        raise InputFileError(_describe(paths), "no police.uk street-level CSV files found")
    good = pd.concat(frames, ignore_index=True)
    events = _to_events(good)
    report.accepted = len(events)
    report.months = sorted(events["month"].unique().tolist())
    report.without_location = int(events.geometry.is_empty.sum())
    report.located = report.accepted - report.without_location
    columns = [*frames[0].columns, "reason"] if frames else ["reason"]
    report.rejected_rows = pd.DataFrame(columns=columns)
    if rejected:
        rows = pd.concat(rejected, ignore_index=True)
        report.rejected = {k: int(v) for k, v in rows["reason"].value_counts().items()}
        report.rejected_rows = rows
        for reason_code, n in sorted(report.rejected.items()):
            log.warning("police.uk: %d rows rejected: %s", n, REJECT_REASONS[reason_code])
    repeats = int(events["event_id"].str.contains("#", regex=False).sum())
    if repeats:
        report.notes.append(
            f"{repeats} rows repeat a Crime ID already read: kept as distinct events, "
            "their event_id suffixed #2, #3, ..."
        )
    if report.without_location:
        report.notes.append(
            f"{report.without_location} crimes have no location: they count in force totals only"
        )
    log.info("police.uk: %s", report.summary())
    report.check()
    return (events, report) if return_report else events


def _describe(paths) -> str:
    if isinstance(paths, str | Path):
        return str(paths)
    return ", ".join(str(p) for p in paths) or "(no paths)"


def street_suffix(force: str | None) -> str:
    """How the street files of ``force`` (a slug; None: any force) end."""
    return f"-{force}-street.csv" if force else "-street.csv"


def _iter_csvs(
    paths, *, force: str | None = None
) -> Iterator[tuple[str, _csvlines.CountingReader | Path]]:
    """Yield (label, path-or-text-handle) for every police.uk CSV in ``paths``, sorted."""
    if isinstance(paths, str | Path):
        paths = [paths]
    ending = street_suffix(force)
    for path in map(Path, paths):
        if not path.exists():
            raise InputFileError(path, "no such file or folder")
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.name.endswith((ending, f"{ending}.gz", ".zip"))
            )
            if not files:
                raise InputFileError(path, f"the folder holds no *{ending} files")
            yield from _iter_csvs(files, force=force)
        elif path.suffix == ".zip":
            yield from _iter_zip(path, force=force)
        else:
            yield str(path), path


def _iter_zip(
    path: Path, *, force: str | None = None
) -> Iterator[tuple[str, _csvlines.CountingReader]]:
    ending = street_suffix(force)
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise InputFileError(path, "not a zip archive") from None
    with archive:
        members = sorted(n for n in archive.namelist() if n.endswith(ending))
        if not members:
            raise InputFileError(path, f"the archive holds no *{ending} files")
        for member in members:
            cap = _csvlines.MAX_UNCOMPRESSED_BYTES
            size = archive.getinfo(member).file_size
            if size > cap:
                raise _csvlines.TooLargeError(
                    path,
                    f"member {member} is {size:,} bytes uncompressed, more than the cap of "
                    f"{cap:,}: refused",
                )
            label = f"{path}!{member}"
            with archive.open(member) as raw:  # streamed, counted and capped as it is read
                yield label, _csvlines.CountingReader(raw, label=label, cap=cap)


def _read_csv(label: str, source) -> tuple[pd.DataFrame, _csvlines.Lines]:
    """The rows as text (blank lines kept, as empty rows) and where each lies."""
    try:
        if isinstance(source, Path):
            source = _csvlines.open_counted(source, label=label)
        with source:
            frame = pd.read_csv(
                source,
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=False,
                encoding="utf-8-sig",
            )
    except UnicodeDecodeError:
        raise InputFileError(label, "not UTF-8 text (police.uk files are UTF-8)") from None
    except pd.errors.EmptyDataError:
        raise InputFileError(label, "the file is empty") from None
    except (pd.errors.ParserError, OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
        raise InputFileError(label, f"not a readable CSV ({str(exc).splitlines()[0]})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise InputFileError(
            label, f"not a police.uk street-level CSV: missing columns {', '.join(missing)}"
        )
    return frame, _csvlines.place_rows(frame, source.lines, label=label)


def _reject_reasons(raw: pd.DataFrame, known_forces: set[str], *, today: dt.date) -> pd.Series:
    """A reason code per row (NaN for usable rows); the first failing check wins."""
    reason = pd.Series(np.nan, index=raw.index, dtype=object)

    def flag(mask, code):
        reason[mask & reason.isna()] = code

    month = raw["Month"]
    flag(~month.str.fullmatch(r"\d{4}-(0[1-9]|1[0-2])"), "bad_month")
    flag(month < FIRST_MONTH, "early_month")  # YYYY-MM compares as text
    flag(month > f"{today:%Y-%m}", "future_month")
    flag(~raw["Falls within"].isin(known_forces), "unknown_force")
    lon_blank = raw["Longitude"].str.strip() == ""
    lat_blank = raw["Latitude"].str.strip() == ""
    flag(lon_blank != lat_blank, "partial_coordinates")
    lon = pd.to_numeric(raw["Longitude"], errors="coerce")
    lat = pd.to_numeric(raw["Latitude"], errors="coerce")
    flag(~lon_blank & ~lat_blank & (lon.isna() | lat.isna()), "non_numeric_coordinates")
    outside = ~lon.between(*_LON_RANGE) | ~lat.between(*_LAT_RANGE)
    flag(lon.notna() & lat.notna() & outside, "outside_great_britain")
    flag(raw["Crime type"].str.strip() == "", "missing_crime_type")
    return reason


def _mark_overlaps(raw, reason, seen, source: tuple[int, str], report) -> pd.Series:
    """Reject rows whose (force, month) an earlier file (or the same file given twice)
    already gave; record each overlap. ``source`` is (file number, label)."""
    label = source[1]
    usable = reason.isna()
    keys = raw.loc[usable, ["Falls within", "Month"]].drop_duplicates().itertuples(index=False)
    reason = reason.copy()
    for force, month in keys:
        first_source = seen.setdefault((force, month), source)
        if first_source != source:
            first = first_source[1]
            mask = usable & (raw["Falls within"] == force) & (raw["Month"] == month)
            reason[mask] = "overlapping_file"
            report.overlaps.append(
                {
                    "force": force,
                    "month": month,
                    "file": label,
                    "first_file": first,
                    "rows_skipped": int(mask.sum()),
                }
            )
            log.warning(
                "police.uk: %s %s in %s was already read from %s; skipped",
                force,
                month,
                label,
                first,
            )
    return reason


def _to_events(good: pd.DataFrame) -> gpd.GeoDataFrame:
    lon = pd.to_numeric(good["Longitude"], errors="coerce").to_numpy()
    lat = pd.to_numeric(good["Latitude"], errors="coerce").to_numpy()
    located = ~np.isnan(lon)
    geometry = np.full(len(good), shapely.Point(), dtype=object)
    points = gpd.GeoSeries(shapely.points(lon[located], lat[located]), crs="EPSG:4326").to_crs(CRS)
    geometry[located] = points.to_numpy()
    crime_id = good["Crime ID"].str.strip()
    fallback_id = (
        good["source_file"].map(lambda f: Path(f.split("!")[-1]).name)
        + ":"
        + good["source_row"].astype(str)
    )
    event_id = crime_id.where(crime_id != "", fallback_id)
    nth = event_id.groupby(event_id).cumcount() + 1
    event_id = event_id.where(nth == 1, event_id + "#" + nth.astype(str))
    frame = pd.DataFrame(
        {
            "source": SOURCE,
            "event_id": event_id,
            "date": pd.to_datetime(good["Month"] + "-01", format="%Y-%m-%d"),
            "date_precision": "month",
            "category": good["Crime type"].str.strip(),
            "weight": 1,
        }
    )
    extra = good.rename(columns=_RENAME).drop(
        columns=["category", "Longitude", "Latitude"], errors="ignore"
    )
    extra = extra[[c for c in extra.columns if c in _RENAME.values() or c.startswith("source_")]]
    frame = pd.concat([frame, extra.reset_index(drop=True)], axis=1)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometry, crs=CRS), crs=CRS)
