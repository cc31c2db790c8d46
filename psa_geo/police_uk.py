"""Read data.police.uk street-level crime and ASB files into the canonical events table."""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import gc
import logging
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from geopandas.array import GeometryArray
from isal import igzip, isal_zlib

from . import _csvlines, _fastcsv, _ids, cache
from .errors import InputFileError
from .events import CRS, IngestReport, to_national_grid

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
#: The columns of a row's point (WGS 84): read as numbers from a plain file.
COORDINATES = ("Longitude", "Latitude")
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
#: How many rows :func:`read_police_uk` gathers, from one or more files, before it passes
#: their events to ``each_batch`` (about 300 MB of events).
BATCH_ROWS = 500_000
#: How many files are read at once, in threads (their inflating and parsing run in parallel).
READ_AHEAD = 2

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

_REASONS = pd.CategoricalDtype(list(REJECT_REASONS))


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
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    each_batch: Callable[[gpd.GeoDataFrame], pd.DataFrame | None] | None = None,
    batch_rows: int = BATCH_ROWS,
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
    cache_dir
        The folder of the columnar cache (:mod:`psa_geo.cache`; default
        ``$XDG_CACHE_HOME/psa_geo``): a file read before is loaded from there, by the hash of
        its bytes, with the same events and report; a folder that cannot be written is
        skipped.
    use_cache
        False: neither read nor write the cache.
    each_batch
        Stream: the events of consecutive files, once they hold ``batch_rows`` rows or more
        (or the files end), go to ``each_batch``, and the frames it returns, end to end, are
        returned instead of the events (e.g. counts from :func:`psa_geo.tally`; None where it
        returns only None), so about one batch of events is held at a time. The report is
        the same, except that a Crime ID repeated in another batch is not numbered (``#2``)
        nor counted in its note.

    Notes
    -----
    ``category`` is the Crime type (ASB included). ``source``, ``date_precision``,
    ``category`` and the other police.uk text columns are Categoricals; ``crime_id`` is the
    Crime ID as in the file, missing where it is blank (``event_id`` then names the file and
    row), and shares its text with ``event_id``. Rows without coordinates are kept as
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
    folder = cache.cache_folder(cache_dir) if use_cache else None
    files = _usable_rows(paths, report, today=today, force=force, folder=folder)
    if each_batch is None:
        frames = list(files)
        _require_files(report, paths)
        events, located, repeats = _to_events(frames)
        _count_accepted(report, events, located)
        out = events
    else:
        parts, repeats = [], 0
        for batch in _batches(files, batch_rows):
            events, located, repeated = _to_events(batch)
            _count_accepted(report, events, located)
            repeats += repeated
            parts.append(each_batch(events))
            del events
        _require_files(report, paths)
        parts = [part for part in parts if part is not None]
        out = pd.concat(parts, ignore_index=True) if parts else None
    _finish_report(report, repeats)
    return (out, report) if return_report else out


def _batches(frames: Iterator[pd.DataFrame], rows: int) -> Iterator[list[pd.DataFrame]]:
    """``frames`` gathered into lists of ``rows`` rows or more (the last may hold fewer)."""
    batch, held = [], 0
    for frame in frames:
        batch.append(frame)
        held += len(frame)
        if held >= rows:
            yield batch
            batch, held = [], 0
    if batch:
        yield batch


def _require_files(report: IngestReport, paths) -> None:
    if not report.files:
        raise InputFileError(_describe(paths), "no police.uk street-level CSV files found")


def _usable_rows(paths, report: IngestReport, *, today, force, folder) -> Iterator[pd.DataFrame]:
    """Each file's usable rows, as read (:func:`_read_cached`) and checked; the report gets
    its files, lines, rows read and rejected rows (reasons counted by :func:`_finish_report`).
    The next :data:`READ_AHEAD` files are read in threads meanwhile."""
    seen: dict[tuple[str, str], tuple[int, str]] = {}
    known_forces = set(police_forces()["name"])
    report.rejected_rows = None
    rejected = []

    def check(file: tuple[str, Callable, Callable]):
        return _checked_rows(*file, folder, known_forces=known_forces, today=today)

    with contextlib.ExitStack() as archives:  # zip archives, open until every member is read
        files = _iter_csvs(paths, force=force, archives=archives)
        with contextlib.closing(_ahead(files, check, READ_AHEAD)) as checked:
            for (label, opener, _), (raw, lines, reason) in checked:
                report.files.append(label)
                report.add_lines(lines)
                report.rows_read += len(raw)
                reason = _mark_overlaps(raw, reason, seen, (len(report.files), label), report)
                bad = reason.notna()
                if bad.any():
                    rejected.append(_rejected(raw, reason, opener))
                    raw = _used_categories(raw[~bad])
                if report.rejected_rows is None:
                    report.rejected_rows = pd.DataFrame(columns=[*raw.columns, "reason"])
                yield _numeric_coordinates(raw)  # without a copy when all are good
                del raw
    if report.rejected_rows is None:
        report.rejected_rows = pd.DataFrame(columns=["reason"])
    if rejected:
        report.rejected_rows = pd.concat(rejected, ignore_index=True)


def _ahead(items: Iterator, work: Callable, depth: int) -> Iterator[tuple]:
    """``(item, work(item))`` for each of ``items`` in order, ``work`` running in ``depth``
    threads on the items ahead. An error (of ``items`` or ``work``) is raised where it would
    be without them: after the items before it are taken."""
    with ThreadPoolExecutor(depth, thread_name_prefix="psa_geo-file") as pool:
        queue: collections.deque = collections.deque()
        try:
            while True:
                while len(queue) < depth:
                    try:
                        item = next(items)
                    except StopIteration:
                        break
                    except Exception as exc:  # e.g. the next path does not exist
                        queue.append((None, exc))
                        break
                    queue.append((item, pool.submit(work, item)))
                if not queue:
                    return
                item, done = queue.popleft()
                if item is None:
                    raise done
                yield item, done.result()
        finally:
            for _, done in queue:
                if not isinstance(done, Exception):
                    done.cancel()


def _checked_rows(
    label: str, opener: Callable, open_bytes: Callable, folder: Path | None, *,
    known_forces: set[str], today: dt.date,
) -> tuple[pd.DataFrame, _csvlines.Lines, pd.Series]:  # fmt: skip
    """One file's rows (:func:`_read_cached`), where its lines lie, and each row's reject
    reason before the overlap rule (NaN: usable)."""
    raw, lines, line = _read_cached(label, opener, open_bytes, folder)
    reason = _reject_reasons(raw, known_forces, today=today)
    reason[line == "unclosed_quote"] = "unclosed_quote"
    reason[(line == "line_break_in_field") & reason.isna().to_numpy()] = "line_break_in_field"
    return raw, lines, reason


def _count_accepted(report: IngestReport, events: gpd.GeoDataFrame, located: np.ndarray) -> None:
    """Add ``events`` (one or more files') to the report's accepted counts and months."""
    report.accepted += len(events)
    report.months = sorted(set(report.months) | set(events["month"].unique().tolist()))
    without = int((~located).sum())  # their geometry is the empty point
    report.without_location += without
    report.located += len(events) - without


def _finish_report(report: IngestReport, repeats: int) -> None:
    """Reasons counted and logged, notes written, totals checked."""
    if len(report.rejected_rows):
        counts = report.rejected_rows["reason"].value_counts()
        report.rejected = {k: int(v) for k, v in counts.items()}
        for reason_code, n in sorted(report.rejected.items()):
            log.warning("police.uk: %d rows rejected: %s", n, REJECT_REASONS[reason_code])
    if repeats:
        report.notes.append(
            f"{repeats} rows repeat a Crime ID already read: kept as distinct "
            "events, their event_id suffixed #2, #3, ..."
        )
    if report.without_location:
        report.notes.append(
            f"{report.without_location} crimes have no location: they count in force totals only"
        )
    log.info("police.uk: %s", report.summary())
    report.check()


def _describe(paths) -> str:
    if isinstance(paths, str | Path):
        return str(paths)
    return ", ".join(str(p) for p in paths) or "(no paths)"


def street_suffix(force: str | None) -> str:
    """How the street files of ``force`` (a slug; None: any force) end."""
    return f"-{force}-street.csv" if force else "-street.csv"


def _iter_csvs(
    paths, *, force: str | None = None, archives: contextlib.ExitStack | None = None
) -> Iterator[tuple[str, Callable, Callable]]:
    """Yield (label, opener, open_bytes) for every police.uk CSV in ``paths``, sorted.

    ``opener(native)`` opens the file's bytes afresh: decompressed by pyarrow where it can
    (``native``), else as a :class:`psa_geo._csvlines.CountingReader`; ``open_bytes()`` opens
    the bytes that key the cache (a file's as stored, a zip member's decompressed). A zip
    archive is closed by ``archives`` where given (its members may be read later), else once
    its members are yielded."""
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
            yield from _iter_csvs(files, force=force, archives=archives)
        elif path.suffix == ".zip":
            yield from _iter_zip(path, force=force, archives=archives)
        else:
            yield str(path), partial(_open_file, path), partial(open, path, "rb")


def _iter_zip(
    path: Path, *, force: str | None = None, archives: contextlib.ExitStack | None = None
) -> Iterator[tuple[str, Callable, Callable]]:
    ending = street_suffix(force)
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise InputFileError(path, "not a zip archive") from None
    if archives is not None:
        archives.enter_context(archive)
    opening = threading.Lock()  # members may be read in threads (:func:`_ahead`)
    with archive if archives is None else contextlib.nullcontext():
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

            def opener(native, member=member, label=label, cap=cap):
                # streamed, counted and capped as it is read
                with opening:  # members are opened one at a time (ZipFile.open counts them)
                    stream = archive.open(member)
                return stream if native else _csvlines.CountingReader(stream, label=label, cap=cap)

            yield label, opener, partial(opener, False)


def _open_file(path: Path, native: bool):
    if not native:
        return _csvlines.open_counted(path, label=str(path))
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return igzip.open(path, "rb")  # ISA-L's inflate: about twice as fast as zlib's
    if suffix in _csvlines._OPENERS:
        return _csvlines._OPENERS[suffix](path, "rb")
    return pa.input_stream(str(path))  # read by Arrow itself, not through Python


def _read_cached(label: str, opener: Callable, open_bytes: Callable, folder: Path | None):
    """:func:`_read_rows`, through the cache in ``folder`` (None: no cache)."""
    key = None
    if folder is not None:
        with contextlib.suppress(OSError, EOFError, zlib.error, zipfile.BadZipFile):
            key = cache.content_key(open_bytes)  # unreadable: the reader names the problem
    if key is not None and (cached := cache.load_rows(folder, key, label)) is not None:
        return cached
    raw, lines, line = _read_rows(label, opener)
    if key is not None:
        cache.save_rows(folder, key, raw, lines, line)
    return raw, lines, line


def _read_rows(label: str, opener: Callable) -> tuple[pd.DataFrame, _csvlines.Lines, np.ndarray]:
    """The rows of one file (blank lines left out) with ``source_file`` and ``source_row``,
    where its lines lie, and each row's line reason (:func:`psa_geo._csvlines.located_rows`).

    A plain file is read by pyarrow (:mod:`psa_geo._fastcsv`); any other by pandas, which
    places rows spanning several lines and blank lines. Text columns come back as
    Categoricals (``Crime ID`` as text), so the checks run once per distinct value, except
    that pyarrow reads Longitude and Latitude as numbers (NaN where blank; the text of
    rejected rows is read again, :func:`_rejected`). pyarrow stores each row's fallback
    event id beneath its blank (missing) Crime ID (:func:`psa_geo._ids.hide_fallback_ids`),
    so that event_id and crime_id share the text.
    """
    frame = None
    name = pa.scalar(_file_name(label), pa.large_string())

    def hide_fallback_ids(ids: pa.Array, first_row: int) -> pa.Array:
        return _ids.hide_fallback_ids(ids, lambda at: _fallback_ids(name, at + first_row + 2))

    # Not plain, or unreadable: pandas reads it, placing every line and naming any problem.
    with contextlib.suppress(_fastcsv.NotPlain, pa.ArrowException, OSError, EOFError,
                             zlib.error, isal_zlib.error, zipfile.BadZipFile):  # fmt: skip
        frame = _fastcsv.read_plain(
            partial(opener, True),
            cap=_csvlines.MAX_UNCOMPRESSED_BYTES,
            keep_text=("Crime ID",),
            numbers=COORDINATES,
            text_block=hide_fallback_ids,
        )
    if frame is None:
        raw, lines = _read_csv(label, opener(False))
        used = [c for c in raw.columns if c in REQUIRED_COLUMNS or c in _RENAME]
        raw, line = _csvlines.located_rows(raw, lines, used, source_file=label)
        keep = [c for c in raw.columns if c not in ("Crime ID", "source_row")]
        return raw.astype(dict.fromkeys(keep, "category")), lines, line
    _check_columns(label, frame.columns)
    n = len(frame)
    rows = np.arange(2, n + 2, dtype=np.int64)  # one line each, after the header
    lines = _csvlines.Lines(rows, np.broadcast_to(np.int64(1), n), np.broadcast_to(False, n),
                            n + 1, 1)  # fmt: skip
    source = _fastcsv.constant_categorical(label, n)
    frame = pd.DataFrame({**frame, "source_file": source, "source_row": rows}, copy=False)
    no_reason = _fastcsv.constant_categorical("", n)
    return frame, lines, no_reason


def _read_csv(label: str, source) -> tuple[pd.DataFrame, _csvlines.Lines]:
    """The rows as text (blank lines kept, as empty rows) and where each lies."""
    try:
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
    _check_columns(label, frame.columns)
    return frame, _csvlines.place_rows(frame, source.lines, label=label)


def _check_columns(label: str, columns) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise InputFileError(
            label, f"not a police.uk street-level CSV: missing columns {', '.join(missing)}"
        )


def _by_value(values: pd.Series, func: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``func`` (elementwise, of a ``str`` Series) of every row of the Categorical ``values``,
    computed once for each distinct value (and once for a missing value)."""
    cat = values.array
    distinct = pd.Series(cat.categories).astype("str")
    per_value = func(pd.concat([distinct, pd.Series([np.nan], dtype="str")], ignore_index=True))
    return pd.Series(per_value.to_numpy()[cat.codes], copy=False)  # code -1: the last, missing


def _mask(values: pd.Series, func: Callable[[pd.Series], pd.Series]) -> np.ndarray:
    """:func:`_by_value` as a boolean array."""
    return _by_value(values, func).to_numpy(dtype=bool)


def _reject_reasons(raw: pd.DataFrame, known_forces: set[str], *, today: dt.date) -> pd.Series:
    """A reason code per row (a Categorical of :data:`REJECT_REASONS`' codes; missing for
    usable rows); the first failing check wins."""
    codes = np.full(len(raw), -1, dtype=np.int8)
    number = {code: i for i, code in enumerate(_REASONS.categories)}

    def flag(mask, code):
        codes[mask & (codes < 0)] = number[code]

    month = raw["Month"]
    flag(_mask(month, lambda m: ~m.str.fullmatch(r"\d{4}-(0[1-9]|1[0-2])")), "bad_month")
    flag(_mask(month, lambda m: m < FIRST_MONTH), "early_month")  # YYYY-MM compares as text
    flag(_mask(month, lambda m: m > f"{today:%Y-%m}"), "future_month")
    flag(_mask(raw["Falls within"], lambda f: ~f.isin(known_forces)), "unknown_force")
    lon, lat = _coordinates(raw)
    if isinstance(raw["Longitude"].dtype, pd.CategoricalDtype):
        lon_blank = _mask(raw["Longitude"], lambda v: v.str.strip() == "")
        lat_blank = _mask(raw["Latitude"], lambda v: v.str.strip() == "")
    else:  # read as numbers: blank where missing
        lon_blank, lat_blank = np.isnan(lon), np.isnan(lat)
    flag(lon_blank != lat_blank, "partial_coordinates")
    flag(~lon_blank & ~lat_blank & (np.isnan(lon) | np.isnan(lat)), "non_numeric_coordinates")
    outside = ~_between(lon, *_LON_RANGE) | ~_between(lat, *_LAT_RANGE)
    flag(~np.isnan(lon) & ~np.isnan(lat) & outside, "outside_great_britain")
    flag(_mask(raw["Crime type"], lambda v: v.str.strip() == ""), "missing_crime_type")
    return pd.Series(pd.Categorical.from_codes(codes, dtype=_REASONS), index=raw.index)


def _coordinates(raw: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude as numbers (NaN where blank or not a number)."""
    return tuple(_coordinate(raw[c]) for c in COORDINATES)


def _numeric_coordinates(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with Longitude and Latitude as numbers (as pyarrow reads them), so that
    files read by pyarrow and by pandas join."""
    text = [c for c in COORDINATES if isinstance(rows[c].dtype, pd.CategoricalDtype)]
    return rows.assign(**{c: _coordinate(rows[c]) for c in text}) if text else rows


def _coordinate(values: pd.Series) -> np.ndarray:
    """One coordinate column (numbers, or text as pandas reads it) as numbers."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return _numbers(values.array)[values.array.codes]
    return values.to_numpy(np.float64)


def _numbers(values: pd.Categorical) -> np.ndarray:
    """The categories of ``values`` as numbers (NaN where not a number), and NaN after them
    (for code -1). As ``pd.to_numeric(errors="coerce")``; plain decimals (nearly all)
    converted by Arrow, to the same bits, the rest by pandas."""
    words = pa.array(values.categories.array, pa.string())
    plain = pc.match_substring_regex(words, r"^-?[0-9]+(\.[0-9]+)?$").to_numpy(zero_copy_only=False)
    out = np.full(len(words) + 1, np.nan)
    out[:-1][plain] = pc.cast(words.filter(plain), pa.float64()).to_numpy()
    if not plain.all():
        rest = pd.Series(words.filter(~plain), dtype="str")
        out[:-1][~plain] = pd.to_numeric(rest, errors="coerce").to_numpy(np.float64)
    return out


def _between(values: np.ndarray, low: float, high: float) -> np.ndarray:
    return (values >= low) & (values <= high)


def _mark_overlaps(raw, reason, seen, source: tuple[int, str], report) -> pd.Series:
    """Reject rows whose (force, month) an earlier file (or the same file given twice)
    already gave (:func:`_skip_overlaps`). ``source`` is (file number, label)."""
    skipped = _skip_overlaps(_usable_pairs(raw, reason.isna().to_numpy()), seen, source, report)
    return _mark_skipped(raw, reason, skipped)


def _mark_skipped(raw, reason: pd.Series, skipped: list[tuple[str, str]]) -> pd.Series:
    """``reason`` with the usable rows of the (force, month) pairs ``skipped`` rejected as
    ``overlapping_file``."""
    usable = reason.isna().to_numpy()
    reason = reason.copy()
    forces, months = raw["Falls within"].array, raw["Month"].array
    for force, month in skipped:
        force_code, month_code = forces.categories.get_loc(force), months.categories.get_loc(month)
        reason[usable & (forces.codes == force_code) & (months.codes == month_code)] = (
            "overlapping_file"
        )
    return reason


def _usable_pairs(raw: pd.DataFrame, usable: np.ndarray) -> list[tuple[str, str, int]]:
    """The (force, month, rows) of the ``usable`` rows, in order of first appearance."""
    forces, months = raw["Falls within"].array, raw["Month"].array
    width = len(months.categories) + 1
    pairs = forces.codes.astype(np.int64)[usable] * width + months.codes[usable]
    which, distinct = pd.factorize(pairs)  # in order of appearance
    counts = np.bincount(which, minlength=len(distinct))
    return [(forces.categories[pair // width], months.categories[pair % width], int(n))
            for pair, n in zip(distinct.tolist(), counts.tolist(), strict=True)]  # fmt: skip


def _skip_overlaps(pairs, seen: dict, source: tuple[int, str], report) -> list[tuple[str, str]]:
    """The "same force and month once" rule for one file's (force, month, rows) ``pairs``:
    those an earlier file (``seen``: pair -> first source) already gave, each recorded in
    ``report.overlaps`` and logged."""
    label, skipped = source[1], []
    for force, month, rows in pairs:
        first_source = seen.setdefault((force, month), source)
        if first_source != source:
            first = first_source[1]
            skipped.append((force, month))
            report.overlaps.append(
                {
                    "force": force,
                    "month": month,
                    "file": label,
                    "first_file": first,
                    "rows_skipped": rows,
                }
            )
            log.warning(
                "police.uk: %s %s in %s was already read from %s; skipped",
                force,
                month,
                label,
                first,
            )
    return skipped


def _rejected(raw: pd.DataFrame, reason: pd.Series, opener: Callable) -> pd.DataFrame | None:
    """The rows of ``raw`` (one file's, read by ``opener``) with a reject ``reason``, as the
    file writes them, with it (None: none). Coordinates read as numbers are read again as
    text (:func:`_as_written`): "-4.100" stays "-4.100"."""
    bad = reason.notna()
    if not bad.any():
        return None
    rows = _as_text(raw[bad])
    numbers = [c for c in COORDINATES if not pd.api.types.is_string_dtype(rows[c])]
    if numbers:
        rows = rows.assign(**_as_written(opener, rows["source_row"].to_numpy(), numbers))
    return rows.assign(reason=reason[bad].astype(object))


def _as_written(opener: Callable, lines: np.ndarray, columns: list[str]) -> dict[str, list]:
    """The text of ``columns`` on the physical ``lines`` (header: 1) of the plain file that
    ``opener`` opens (each of its lines one row, no quotes)."""
    wanted, found, header = set(lines.tolist()), {}, None
    with opener(True) as stream:
        number, rest, last = 0, b"", max(wanted)
        while number < last:
            chunk = stream.read(_fastcsv.BLOCK_BYTES)
            *complete, rest = (rest + chunk).split(b"\n") if chunk else (rest, b"")
            for line in complete:
                number += 1
                if header is None:
                    header = _fastcsv.header_names(line + b"\n")
                elif number in wanted:
                    found[number] = line.removesuffix(b"\r").split(b",")
            if not chunk:
                break
    return {c: [found[n][header.index(c)].decode() for n in lines.tolist()] for c in columns}


def _as_text(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with their Categoricals as text, and blank Crime IDs (read as missing) as
    empty text, as the files hold them."""
    text = rows.astype(
        {c: "str" for c in rows.columns if isinstance(rows[c].dtype, pd.CategoricalDtype)}
    )
    return text.fillna({"Crime ID": ""}) if "Crime ID" in text else text


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The rows of ``frames`` (one per file) in one frame, Categoricals kept (their
    categories united and sorted; a column a file lacks is missing there)."""
    columns = list(dict.fromkeys(c for frame in frames for c in frame.columns))

    def joined(column: str) -> pd.Series:
        parts = [frame.get(column) for frame in frames]
        present = [p for p in parts if p is not None]
        if all(isinstance(p.dtype, pd.CategoricalDtype) for p in present):
            return _united([p.array if p is not None else None for p in parts],
                           [len(f) for f in frames])  # fmt: skip
        if len(parts) == 1:
            return parts[0].reset_index(drop=True)
        dtype = present[0].dtype
        parts = [p if p is not None else pd.Series(np.nan, index=f.index, dtype=dtype)
                 for p, f in zip(parts, frames, strict=True)]  # fmt: skip
        return pd.concat(parts, ignore_index=True)

    with ThreadPoolExecutor(2) as pool:  # Arrow lets go of the GIL
        return pd.DataFrame(dict(zip(columns, pool.map(joined, columns), strict=True)), copy=False)


def _united(parts: list, lengths: list[int]) -> pd.Series:
    """The Categoricals ``parts`` (None: ``length`` missing values) end to end, their
    categories united and sorted: each part's codes renumbered only where they change."""
    texts = [_arrow_text(p.categories).combine_chunks() for p in parts if p is not None]
    words = pc.unique(pa.concat_arrays(texts)) if len(texts) > 1 else texts[0]
    words = words.take(pc.array_sort_indices(words))
    kind = _fastcsv.smallest(np.zeros(0, dtype=np.int64), top=len(words)).dtype
    codes, texts = [], iter(texts)
    for part, length in zip(parts, lengths, strict=True):
        if part is None:
            codes.append(np.full(length, -1, dtype=kind))
            continue
        number = pc.index_in(next(texts), value_set=words).to_numpy().astype(np.int64)
        if (number == np.arange(len(number))).all():  # the same numbers
            codes.append(part.codes.astype(kind))
        else:
            codes.append(np.append(number, -1).astype(kind)[part.codes])  # -1 stays missing
    return pd.Series(_fastcsv.distinct_categorical(np.concatenate(codes), words), copy=False)


def _to_events(frames: list[pd.DataFrame]) -> tuple[gpd.GeoDataFrame, np.ndarray, int]:
    """The canonical events of the usable rows of ``frames`` (one per file, joined; the list
    is emptied, so that the coordinates are let go once the points are made), which of them
    have a point, and how many repeat a Crime ID among them.

    ``source``, ``date_precision`` and ``category`` are Categoricals; ``crime_id`` is the
    Crime ID as in the file, missing where blank, and shares its text with ``event_id``.
    """
    good = _concat(frames)
    frames.clear()
    n = len(good)
    geometry, located = _points(*_coordinates(good))
    good = good.drop(columns=list(COORDINATES))
    event_id, crime_id, repeats = _event_ids(good)
    columns = {
        "source": _fastcsv.constant_categorical(SOURCE, n),
        "event_id": event_id,
        "date": _by_value(good["Month"], lambda m: pd.to_datetime(m + "-01", format="%Y-%m-%d")),
        "date_precision": _fastcsv.constant_categorical("month", n),
        "category": _stripped(good["Crime type"].array),
        "weight": np.ones(n, dtype=np.int64),
        "crime_id": crime_id,
    }
    for column in good.columns:
        name = _RENAME.get(column, column)
        if name in columns or not (name in _RENAME.values() or name.startswith("source_")):
            continue
        columns[name] = good[column]  # Categoricals: their categories sorted
    columns["geometry"] = geometry
    events = gpd.GeoDataFrame(columns, geometry="geometry", crs=CRS, copy=False)
    return events, located, repeats


def _stripped(values: pd.Categorical) -> pd.Categorical:
    """``values`` with spaces stripped from its categories (sorted; merged where they meet)."""
    words, recode = np.unique(values.categories.str.strip().to_numpy(dtype=object),
                              return_inverse=True)  # fmt: skip
    codes = np.append(recode, -1).astype(values.codes.dtype)[values.codes]
    return _fastcsv.distinct_categorical(codes, words)


def _points(lon: np.ndarray, lat: np.ndarray) -> tuple[GeometryArray, np.ndarray]:
    """Each row's point (EPSG:27700; empty without coordinates), one object shared by the
    rows of each coordinate pair (police.uk snaps crimes to few points), and which rows
    have one."""
    located = ~np.isnan(lon)
    index, first = _pairs(lon, lat)  # the rows without coordinates: groups of NaN
    placed = located[first]
    at = first[placed]
    x, y = to_national_grid().transform(lon[at], lat[at])
    with _collector_paused():
        points = gpd.array.from_shapely(shapely.points(x, y), crs=CRS)
    point_of = np.full(len(first), -1, dtype=np.intp)
    point_of[placed] = np.arange(len(at))
    np.take(point_of, index, out=index)
    return points.take(index, allow_fill=True, fill_value=shapely.Point()), located


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused (unless it was already): making tens of
    thousands of points at once otherwise sets off full collections, which cost the reader
    a tenth of its time. Points hold no cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


#: Mixes a pair's bits: ``lon * _PAIR_MIX ^ lat`` (as 64-bit integers) is the same for two
#: pairs only where their ``lon`` differs (odd: each ``lon`` gives a different product).
_PAIR_MIX = np.uint64(0x9E3779B97F4A7C15)


def _pairs(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_first_of_each` of the (lon, lat) pairs, by their bits: grouped by a mix of
    them (3 times faster than by complex numbers), checked, else by ``lon + i lat``."""
    bits = lon.view(np.uint64)
    mixed = bits * _PAIR_MIX
    mixed ^= lat.view(np.uint64)
    which, first = _first_of_each(mixed.view(np.int64))
    np.take(bits[first], which, out=mixed)  # each row's group's first lon
    if np.array_equal(mixed, bits):  # one lon in each group: so one lat
        return which, first
    del mixed, which
    return _first_of_each(lon + 1j * lat)


def _used_categories(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (some of a file's) with their Categoricals' unused categories (those of the
    rows left out) dropped. A file's own Categoricals use every category: so do the files'
    joined, and the events'."""
    return rows.assign(**{c: _used(rows[c]) for c in rows.columns
                          if isinstance(rows[c].dtype, pd.CategoricalDtype)})  # fmt: skip


def _used(values: pd.Series) -> pd.Series:
    cat = values.array
    used = np.bincount(cat.codes[cat.codes >= 0], minlength=len(cat.categories)) > 0
    if used.all():
        return values
    recode = np.append(np.cumsum(used) - 1, -1).astype(cat.codes.dtype)
    recoded = _fastcsv.distinct_categorical(recode[cat.codes], cat.categories[used].array)
    return pd.Series(recoded, index=values.index)


def _first_of_each(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each key's group number (NaN a key like any other) and where each group's first key
    lies."""
    which, _ = pd.factorize(keys, use_na_sentinel=False)  # numbered in order of appearance
    if not len(which):
        return which, np.zeros(0, dtype=np.int64)
    seen = np.maximum.accumulate(which)
    return which, np.flatnonzero(np.r_[True, which[1:] > seen[:-1]])


def _event_ids(good: pd.DataFrame) -> tuple[pd.Series, pd.Series, int]:
    """``event_id``: the Crime ID, stripped, else ``<file name>:<source_row>``; the 2nd, 3rd,
    ... row of an id suffixed ``#2``, ``#3``, ...; ``crime_id``: the Crime ID, missing
    where blank; and how many rows were suffixed. Built in Arrow, sharing one text buffer
    (:mod:`psa_geo._ids`)."""
    files = good["source_file"].array
    names = pa.array([_file_name(f) for f in files.categories], pa.large_string())
    file_codes, rows = files.codes, good["source_row"].to_numpy()

    def fallback(at: np.ndarray) -> pa.Array:
        codes = file_codes[at]
        one = len(codes) and (codes == codes[0]).all()  # one file's rows: its name once
        return _fallback_ids(names[int(codes[0])] if one else names.take(codes), rows[at])

    ids = _arrow_text(good["Crime ID"])
    event_id, crime_id, repeats = _ids.event_ids(ids, fallback)
    if ids.nbytes >= _fastcsv.RELEASE_BYTES:  # the copies made on the way, back to the system
        pa.default_memory_pool().release_unused()  # (kept for reuse after fewer ids)
    event_id, crime_id = (pd.Series(pd.array(ids, dtype="str"), index=good.index)
                          for ids in (event_id, crime_id))  # fmt: skip
    return event_id, crime_id, repeats


def _file_name(label: str) -> str:
    """The name of the file (or zip member) ``label`` (as fallback event ids give it)."""
    return Path(label.split("!")[-1]).name


def _fallback_ids(names: pa.Array | pa.Scalar, rows: np.ndarray) -> pa.Array:
    """``<file name>:<row>``: the event ids of rows without a Crime ID."""
    kind = pa.large_string()
    ids = pc.binary_join_element_wise(names, pa.array(rows).cast(kind), pa.scalar(":", kind))
    return ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids


def _arrow_text(values: pd.Series) -> pa.ChunkedArray:
    """The Arrow text (large_string) behind a ``str`` Series."""
    text = pa.array(values.array)
    if isinstance(text, pa.Array):
        text = pa.chunked_array([text])
    return text.cast(pa.large_string())
