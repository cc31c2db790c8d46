"""Read point records kept by councils and outreach teams into the canonical events table.

Needle (drug-litter) finds, rough-sleeping street reports, needle-bin sites and any point CSV
of the user's own. One row is one record; every file is checked the same way as the police.uk
and STATS19 files: rows read = accepted + rejected (each with a reason code).

Accepted columns
----------------
Headers are matched case-insensitively, with spaces and punctuation read as ``_``
(``Date Found`` = ``date_found``); the aliases in :data:`ALIASES` are accepted too.

``date`` (required; not for ``needle_bins``)
    ``YYYY-MM-DD`` or ``DD/MM/YYYY`` (day first, never month first), optionally followed by a
    time ``HH:MM[:SS]``, from :data:`FIRST_DATE` (1 January 2000) to today. A time of
    exactly ``00:00`` inside the date is read as "no time" (Excel adds it to plain dates).
``time`` (optional)
    ``HH:MM`` or ``HH:MM:SS``. With a time the date's precision is ``minute``, else ``day``.
``longitude`` and ``latitude`` (WGS84 degrees), or ``easting`` and ``northing`` (British
National Grid metres, EPSG:27700)
    A file needs at least one of the two pairs; a row may fill either (both: easting and
    northing are used). A row with no coordinate at all is kept without a location.
``items`` (``drug_litter``)
    Needles or other items found, a whole number from 1 to :data:`MAX_ITEMS` (10,000); blank
    means 1. It is the event's ``weight``.
``reported_by`` (``drug_litter``, optional)
    Read as ``public``, ``outreach``, ``council`` or ``police`` when the text names one of
    them (``Member of the public``, ``Council staff``, ``PCSO``); other text becomes
    ``other`` and a blank ``unknown`` (never rejected, and never carried as free text).
``collected`` (``drug_litter``, optional)
    ``yes``/``no`` (also ``y``/``n``, ``true``/``false``, ``1``/``0``); anything else is
    left missing and counted in the report's notes.
``people`` (``rough_sleeping``)
    People seen, a whole number from 1 to :data:`MAX_PEOPLE` (500); blank means 1. It is the
    event's ``weight``.
``person_id`` (``rough_sleeping``, optional)
    An anonymous id (never a name) given to the same person at every contact, so that
    distinct people can be counted; blank when unknown.
``bin_id``, ``site`` (``needle_bins``, optional)
    The bin's reference and place name; ``date`` (installation) is optional for bins.
``category``, ``weight`` (a user's own source, optional)
    The category (default: the source's name) and a finite weight above 0 (default 1).
``synthetic``
    Written by :func:`psa_geo.synth.write_synth`: "synthetic example data" on every row.

Other columns are kept (snake_cased; ``file_`` prefixed where a name is taken) for sources
that are not sensitive, and dropped on reading for sensitive ones, from the rejected rows too:
free text from a sensitive source is never carried into any output.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import tomllib
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import _csvlines
from .areas import ASSIGNED_COLUMNS
from .errors import InputFileError, PsaGeoError
from .events import CANONICAL_COLUMNS, CRS, IngestReport, to_national_grid
from .userfiles import header_key, match_columns, read_user_text

log = logging.getLogger(__name__)

SYNTHETIC_STAMP = "synthetic example data"
#: The most needles or other items one find may record, and people one street report may
#: count; beyond them the row is rejected (``bad_items``, ``bad_people``).
MAX_ITEMS = 10_000
MAX_PEOPLE = 500
#: The earliest date a point record may carry (psa_geo's floor: no council or outreach record
#: it reads goes back further); earlier dates are rejected (``early_date``).
FIRST_DATE = dt.date(2000, 1, 1)


@dataclass(frozen=True)
class SourceSpec:
    """What one kind of point file holds: its category, weight column and further columns."""

    category: str
    weight: str | None
    fields: tuple[str, ...] = ()
    date_required: bool = True
    always_sensitive: bool = False


SOURCES = {
    "drug_litter": SourceSpec("needle_find", "items", ("reported_by", "collected")),
    "rough_sleeping": SourceSpec(
        "rough_sleeper_report", "people", ("person_id",), always_sensitive=True
    ),
    "needle_bins": SourceSpec("needle_bin", None, ("bin_id", "site"), date_required=False),
}
_USER_SPEC = SourceSpec("", "weight", ("category",))
#: Accepted header (normalised) -> column name.
ALIASES = {
    **dict.fromkeys(("date", "date_found", "found_date", "date_reported", "report_date",
                     "contact_date"), "date"),
    **dict.fromkeys(("time", "time_found", "time_reported", "contact_time"), "time"),
    **dict.fromkeys(("longitude", "lon", "long", "lng"), "longitude"),
    **dict.fromkeys(("latitude", "lat"), "latitude"),
    **dict.fromkeys(("easting", "eastings", "os_easting"), "easting"),
    **dict.fromkeys(("northing", "northings", "os_northing"), "northing"),
    **dict.fromkeys(("items", "item_count", "number_of_items", "needles", "quantity"), "items"),
    **dict.fromkeys(("people", "people_count", "number_of_people", "persons"), "people"),
    **dict.fromkeys(("person_id", "client_id", "anonymous_id"), "person_id"),
    **dict.fromkeys(("reported_by", "reporter"), "reported_by"),
    **dict.fromkeys(("collected", "removed"), "collected"),
    **dict.fromkeys(("weight", "count"), "weight"),
    "bin_id": "bin_id",
    "site": "site",
    "category": "category",
    "synthetic": "synthetic",
}  # fmt: skip
_COMMON = ("date", "time", "longitude", "latitude", "easting", "northing", "synthetic")
REPORTERS = ("public", "outreach", "council", "police", "other", "unknown")
_REPORTER_WORDS = (
    ("public", ("public", "resident")),
    ("outreach", ("outreach",)),
    ("council", ("council", "cleansing")),
    ("police", ("police", "pcso")),
)
_YES = {"yes", "y", "true", "1", "collected"}
_NO = {"no", "n", "false", "0", "not collected"}

REJECT_REASONS = {
    "missing_date": "the date is blank",
    "bad_date": "the date is not YYYY-MM-DD or DD/MM/YYYY, or not a real day",
    "future_date": "the date is after today",
    "early_date": f"the date is before {FIRST_DATE:%d %B %Y} (the earliest psa_geo reads)",
    **_csvlines.LINE_REASONS,
    "partial_coordinates": "only one coordinate of a pair is given",
    "non_numeric_coordinates": "a coordinate is not a number",
    "outside_great_britain": "the coordinates are nowhere in Great Britain, even read the "
    "other way round",
    "bad_items": f"items is not a whole number from 1 to {MAX_ITEMS:,}",
    "bad_people": f"people is not a whole number from 1 to {MAX_PEOPLE:,}",
    "bad_weight": "weight is not a finite number above 0",
}
#: Location mistakes that are corrected (and counted) rather than rejected.
FIXES = {
    "swapped_lat_lon": "latitude and longitude were in each other's columns",
    "swapped_easting_northing": "easting and northing were in each other's columns",
    "grid_in_lonlat_columns": "easting/northing metres were in the longitude/latitude columns",
    "lonlat_in_grid_columns": "longitude/latitude degrees were in the easting/northing columns",
}
# Great Britain and Northern Ireland, as in the police.uk reader; grid values under 1,000 m
# are the sea off Scilly, so such "metres" are taken for degrees.
_LON, _LAT = (-8.8, 2.0), (49.8, 61.0)
_EASTING, _NORTHING = (1_000, 700_000), (1_000, 1_300_000)
_DATE = re.compile(
    r"(?:(?P<iso>\d{4}-\d{1,2}-\d{1,2})|(?P<uk>\d{1,2}/\d{1,2}/\d{4}))"
    r"(?:[ T](?P<time>\d{1,2}:\d{2}(?::\d{2})?))?"
)
_TIME = re.compile(r"\d{1,2}:\d{2}(?::\d{2})?")
_RESERVED = {*CANONICAL_COLUMNS, *ASSIGNED_COLUMNS, "area_status", "assignment_basis",
             "spatial_lsoa_code", "published_lsoa_code", "town", "corridor", "sensitive",
             "synthetic", "location_fix", "outside_area", "source_file", "source_row",
             "reason"}  # fmt: skip


@dataclass
class PointsReport(IngestReport):
    """What :func:`read_points` did with every row (see :class:`IngestReport`).

    ``fixed`` counts location mistakes corrected (:data:`FIXES`), ``outside_area`` the
    located rows outside ``area`` (None when no area was given), ``dropped_columns`` the
    columns not carried (free text of a sensitive source), ``columns`` the file header read
    for each column.
    """

    sensitive: bool = False
    synthetic: bool = False
    fixed: dict[str, int] = field(default_factory=dict)
    outside_area: int | None = None
    dropped_columns: list[str] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            **super().to_dict(),
            "sensitive": self.sensitive,
            "synthetic": self.synthetic,
            "fixed": dict(sorted(self.fixed.items())),
            "outside_area": self.outside_area,
            "dropped_columns": self.dropped_columns,
        }


def read_points(
    paths: str | Path | Iterable[str | Path],
    *,
    source: str,
    sensitive: bool | None = None,
    area: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    return_report: bool = False,
    today: dt.date | None = None,
) -> gpd.GeoDataFrame | tuple[gpd.GeoDataFrame, PointsReport]:
    """Read point CSVs (``.csv`` or ``.csv.gz``, UTF-8 or Windows-1252) into canonical events.

    Parameters
    ----------
    paths
        One or more files, or a folder (its ``*.csv`` and ``*.csv.gz`` files).
    source
        ``"drug_litter"``, ``"rough_sleeping"``, ``"needle_bins"`` or a name of the user's own
        (lower-case letters, digits and ``_``); it picks the columns (module docstring).
    sensitive
        Drop every column but the documented ones and mark the events sensitive. Default:
        True for ``rough_sleeping`` (which is always sensitive), else False.
    area
        The study area (e.g. :func:`load_areas`, EPSG:27700). With it, a point outside the
        area whose swapped reading falls inside is corrected, and the rest are flagged in an
        ``outside_area`` column and counted (they are kept: :func:`assign_areas` places them).
    return_report
        Also return the :class:`PointsReport`.
    today
        The last date a record may carry (default: the real date); for tests.

    Returns
    -------
    geopandas.GeoDataFrame
        ``source``, ``event_id`` (file name and line, ``finds.csv:2``), ``date``,
        ``date_precision`` (``day`` or ``minute``), ``category`` (``needle_find``,
        ``rough_sleeper_report``, ``needle_bin`` or the user's), ``weight`` (items, people,
        else 1), the source's columns, ``location_fix`` (:data:`FIXES` code or None),
        ``sensitive``, ``synthetic``, ``source_file``, ``source_row``, [``outside_area``],
        further columns (not for sensitive sources), ``geometry`` (EPSG:27700; empty without
        a location). ``attrs["sensitive"]`` and ``attrs["synthetic"]`` repeat the flags.

    Notes
    -----
    Rows are rejected with a reason code (:data:`REJECT_REASONS`) and kept in
    ``report.rejected_rows``. Location mistakes are corrected and counted in ``report.fixed``
    when only one reading is a place in Great Britain (or, with ``area``, inside it):
    latitude/longitude swapped, easting/northing swapped, degrees in the grid columns or
    metres in the degree columns. Files stamped "synthetic example data" (:mod:`psa_geo.synth`)
    cannot be read together with real files. ``source_row`` is the row's first physical line
    (header = line 1) and every line is counted (``report.lines_read``, ``blank_lines``). A
    line break inside a column psa_geo reads rejects the row (``line_break_in_field``; one in
    any other column is accepted); a quote left open over several rows rejects the row that
    swallowed them (``unclosed_quote``).
    """
    today = dt.date.today() if today is None else today
    spec = _spec(source)
    if sensitive is None:
        sensitive = spec.always_sensitive
    elif spec.always_sensitive and not sensitive:
        raise PsaGeoError(f"{source} reports are always sensitive; drop sensitive=False")
    tree = _area_tree(area)
    files = _files(paths)
    report = PointsReport(source=source, sensitive=bool(sensitive))
    frames, rejected, stamps = [], [], {}
    for path in files:
        raw, columns, encoding, lines = _read_file(path, spec, source)
        report.files.append(str(path))
        report.add_lines(lines)
        raw, line = _csvlines.located_rows(
            raw, lines, list(columns.values()), source_file=str(path)
        )
        report.rows_read += len(raw)
        if encoding != "utf-8":
            report.notes.append(f"{path.name} is not UTF-8: read as Windows-1252")
        stamps[str(path)] = _synthetic_stamp(raw, path)
        for name, header in columns.items():
            report.columns.setdefault(name, header)
        extra = [c for c in raw.columns if c not in columns.values()]
        extra = [c for c in extra if c not in ("source_file", "source_row")]
        if sensitive and extra:
            report.dropped_columns += [c for c in extra if c not in report.dropped_columns]
            raw = raw.drop(columns=extra)
            extra = []
        if sensitive and "reported_by" in columns:  # not even rejected rows keep its text
            raw[columns["reported_by"]] = raw[columns["reported_by"]].map(_reporter)
        frame, reason = _parse(raw, columns, spec, tree, today=today)
        reason[line == "unclosed_quote"] = "unclosed_quote"
        reason[(line == "line_break_in_field") & reason.isna().to_numpy()] = "line_break_in_field"
        bad = reason.notna().to_numpy()
        if bad.any():
            rejected.append(raw[bad].assign(reason=reason[bad].to_numpy()))
        kept = frame[~bad].copy()
        for column in extra:
            name = header_key(column)
            kept[f"file_{name}" if name in _RESERVED or name in kept else name] = raw.loc[
                ~bad, column
            ].to_numpy()
        frames.append(kept)
    _check_stamps(stamps)
    report.synthetic = any(stamps.values())
    events = _to_events(frames, source, spec, report)
    _finish_report(report, events, rejected, tree is not None)
    return (events, report) if return_report else events


def parse_points_option(text: str) -> tuple[str, Path]:
    """``"drug_litter=finds.csv"`` (as given to ``--points``) -> ``("drug_litter", Path)``."""
    source, sep, path = text.partition("=")
    if not sep or not source.strip() or not path.strip():
        raise PsaGeoError(
            f"--points should look like SOURCE=FILE (drug_litter=finds.csv), got {text!r}"
        )
    check_source_name(source.strip())
    return source.strip(), Path(path.strip())


#: The longest source name: it starts the file names of the source's tables and map.
MAX_SOURCE_NAME = 40


def check_source_name(source: str) -> None:
    """Refuse a source name that is not snake_case, is one of the built-in readers' or is
    longer than :data:`MAX_SOURCE_NAME` (it names files: ``points/<source>_map.html``)."""
    _spec(source)
    if len(source) > MAX_SOURCE_NAME:
        raise PsaGeoError(
            f"'source' should be at most {MAX_SOURCE_NAME} characters (it names the output "
            f"files), got {source[:MAX_SOURCE_NAME]}... ({len(source)} characters)"
        )


def load_points_config(path: str | Path) -> list[tuple]:
    """The point files of a TOML config file, as ``--points`` pairs::

        [points]
        drug_litter = "finds.csv"          # a file or a folder, relative to this file
        rough_sleeping = { file = "outreach/", coverage = ["Plymouth", "Torbay"] }

    ``coverage`` names the local authorities (names or codes) the file covers: areas outside
    them have "no data supplied", not 0 (default: the authorities with at least one record).
    A source with a coverage comes as ``(source, path, coverage)``.

    A source named twice in the file is a TOML error; an unknown source or a value that is
    not a path is a one-line error naming the file."""
    path = Path(path)
    text = read_user_text(path, kind="TOML")
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(path, f"not valid TOML ({exc})") from None
    points = config.get("points")
    if not isinstance(points, dict) or not points:
        raise InputFileError(path, 'no [points] table (e.g. drug_litter = "finds.csv")')
    out = []
    for source, value in points.items():
        file, coverage = (value.get("file"), value.get("coverage")) if isinstance(
            value, dict) else (value, None)  # fmt: skip
        if not isinstance(file, str) or not file.strip():
            raise InputFileError(path, f"points.{source} should be a file or folder name")
        if isinstance(value, dict) and set(value) - {"file", "coverage"}:
            extra = sorted(set(value) - {"file", "coverage"})[0]
            raise InputFileError(path, f"points.{source} has {extra!r}; give file and coverage")
        try:
            check_source_name(source)
        except PsaGeoError as exc:
            raise InputFileError(path, str(exc)) from None
        if coverage is None:
            out.append((source, path.parent / file))
            continue
        if not (isinstance(coverage, list) and coverage and
                all(isinstance(c, str) and c.strip() for c in coverage)):  # fmt: skip
            raise InputFileError(
                path, f"points.{source}.coverage should be a list of local authority names"
            )
        out.append((source, path.parent / file, tuple(c.strip() for c in coverage)))
    return out


def is_synthetic(frame: pd.DataFrame) -> bool:
    """True when ``frame`` holds rows built from synthetic example data (attrs or column)."""
    if frame.attrs.get("synthetic"):
        return True
    return "synthetic" in frame and bool(frame["synthetic"].fillna(False).astype(bool).any())


def _spec(source: str) -> SourceSpec:
    if not isinstance(source, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", source):
        raise PsaGeoError(
            f"'source' should be drug_litter, rough_sleeping, needle_bins or a snake_case "
            f"name of your own, got {source!r}"
        )
    if source in ("police_uk", "stats19"):
        raise PsaGeoError(f"{source} files have their own reader (read_{source})")
    return SOURCES.get(source, _USER_SPEC)


def _area_tree(area) -> shapely.STRtree | None:
    if area is None:
        return None
    if not isinstance(area, gpd.GeoDataFrame | gpd.GeoSeries):
        raise PsaGeoError(
            f"'area' should be a GeoDataFrame or GeoSeries, got {type(area).__name__}"
        )
    if area.crs is None or area.crs != gpd.GeoSeries(crs=CRS).crs:
        got = area.crs.name if area.crs else "no CRS"
        raise PsaGeoError(f"'area' should be in EPSG:27700, got {got} (use to_crs('EPSG:27700'))")
    return shapely.STRtree(area.geometry.to_numpy())


def _files(paths) -> list[Path]:
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    if not items:
        raise InputFileError("(no paths)", "no point files given")
    files = []
    for path in map(Path, items):
        if not path.exists():
            raise InputFileError(path, "no such file or folder")
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.name.endswith((".csv", ".csv.gz")))
            if not found:
                raise InputFileError(path, "the folder holds no .csv or .csv.gz files")
            files += found
        else:
            files.append(path)
    return files


def _read_file(
    path: Path, spec: SourceSpec, source: str
) -> tuple[pd.DataFrame, dict, str, _csvlines.Lines]:
    """The rows as stripped strings (blank lines kept, as empty rows), {column: header} of
    the known columns, the encoding and where each row lies."""
    for encoding in ("utf-8", "cp1252"):
        try:
            text = "utf-8-sig" if encoding == "utf-8" else encoding
            with _csvlines.open_counted(path) as stream:
                frame = pd.read_csv(
                    stream, dtype=str, keep_default_na=False, skip_blank_lines=False,
                    encoding=text,
                )  # fmt: skip
            lines = _csvlines.place_rows(frame, stream.lines, label=str(path))
            break
        except UnicodeDecodeError:
            continue
        except pd.errors.EmptyDataError:
            raise InputFileError(path, "the file is empty") from None
        except (pd.errors.ParserError, OSError, EOFError, zlib.error) as exc:
            msg = str(exc).splitlines()[0]
            raise InputFileError(path, f"not a readable CSV ({msg})") from None
    else:  # pragma: no cover - cp1252 decodes almost any byte
        raise InputFileError(path, "neither UTF-8 nor Windows-1252 text")
    frame = frame.apply(lambda col: col.str.strip())
    known = {*_COMMON, *spec.fields, *([spec.weight] if spec.weight else [])}
    columns = match_columns(frame.columns, ALIASES, path, known=known)
    missing = [] if "date" in columns or not spec.date_required else ["date"]
    pairs = ({"longitude", "latitude"} <= columns.keys(), {"easting", "northing"} <= columns.keys())
    if not any(pairs):
        missing.append("longitude/latitude or easting/northing")
    if missing:
        raise InputFileError(path, f"not a {source} file: missing columns {', '.join(missing)}")
    return frame, columns, encoding, lines


def _synthetic_stamp(raw: pd.DataFrame, path: Path) -> bool:
    column = next((c for c in raw.columns if header_key(c) == "synthetic"), None)
    if column is None:
        return False
    if not raw[column].str.lower().eq(SYNTHETIC_STAMP).all():
        raise InputFileError(
            path,
            f"the synthetic column should read {SYNTHETIC_STAMP!r} on every "
            "row: a file never mixes synthetic and real rows",
        )
    return True


def _check_stamps(stamps: dict[str, bool]) -> None:
    if any(stamps.values()) and not all(stamps.values()):
        fake = next(p for p, s in stamps.items() if s)
        real = next(p for p, s in stamps.items() if not s)
        raise InputFileError(
            fake, f"synthetic example data cannot be read together with real data ({real})"
        )


def _parse(
    raw: pd.DataFrame, columns: dict, spec: SourceSpec, tree, *, today: dt.date
) -> tuple[pd.DataFrame, pd.Series]:
    """The parsed columns and a reason code per row (NaN for usable rows)."""
    reason = pd.Series(np.nan, index=raw.index, dtype=object)

    def col(name: str) -> pd.Series:
        return raw[columns[name]] if name in columns else pd.Series("", index=raw.index)

    def flag(mask, code) -> None:
        mask = np.asarray(mask, dtype=bool) & reason.isna().to_numpy()
        reason[mask] = code[mask] if isinstance(code, pd.Series) else code

    date, precision, date_reason = _dates(col("date"), col("time"), spec.date_required, today=today)
    flag(date_reason.notna(), date_reason)
    x, y, fix, outside, loc_reason = _locations(
        col("longitude"), col("latitude"), col("easting"), col("northing"), tree
    )
    flag(loc_reason.notna(), loc_reason)
    out = pd.DataFrame(
        {"date": date, "date_precision": precision, "x": x, "y": y, "location_fix": fix},
        index=raw.index,
    )
    out["source_file"], out["source_row"] = raw["source_file"], raw["source_row"]
    if tree is not None:
        out["outside_area"] = outside
    if spec.weight:
        if spec.weight == "weight":
            weight, bad = parse_counts(col("weight"), whole=False, minimum=0, maximum=np.inf,
                                       exclusive_minimum=True)  # fmt: skip
        else:
            maximum = MAX_ITEMS if spec.weight == "items" else MAX_PEOPLE
            weight, bad = parse_counts(col(spec.weight), minimum=1, maximum=maximum)
        flag(bad, f"bad_{spec.weight}")
        out["weight"] = weight
        if spec.weight != "weight":
            out["_blank_weight"] = col(spec.weight) == ""
    else:
        out["weight"] = 1
    if "reported_by" in spec.fields:
        out["reported_by"] = col("reported_by").map(_reporter)
    if "collected" in spec.fields:
        text = col("collected").str.lower()
        out["collected"] = pd.array(
            np.where(text.isin(_YES), True, np.where(text.isin(_NO), False, None)), dtype="boolean"
        )
        out["_bad_collected"] = (text != "") & ~text.isin(_YES | _NO)
    for name in ("person_id", "bin_id", "site"):
        if name in spec.fields:
            value = col(name).to_numpy(dtype=object)
            out[name] = pd.Series(np.where(value != "", value, None), index=raw.index, dtype=object)
    if "category" in spec.fields:
        out["category"] = col("category")
    return out, reason


def _dates(text: pd.Series, time: pd.Series, required: bool, *, today: dt.date):
    """Dates, their precision and a reject reason per row."""
    parts = text.str.fullmatch(_DATE.pattern)
    found = text.str.extract(_DATE.pattern + "$")
    iso = pd.to_datetime(found["iso"], format="%Y-%m-%d", errors="coerce")
    uk = pd.to_datetime(found["uk"], format="%d/%m/%Y", errors="coerce")
    day = iso.fillna(uk)
    embedded = found["time"].fillna("")
    embedded = embedded.where(~embedded.isin(["00:00", "00:00:00"]), "")
    clock = time.where(time != "", embedded)
    good_clock = clock.str.fullmatch(_TIME.pattern)
    delta = pd.to_timedelta(clock.where(good_clock, "").map(_as_hms), errors="coerce")
    delta = delta.where(delta < pd.Timedelta(days=1))
    date = day + delta.fillna(pd.Timedelta(0))
    precision = pd.Series(np.where(delta.notna(), "minute", "day"), index=text.index, dtype=object)
    reason = pd.Series(None, index=text.index, dtype=object)
    blank = text == ""
    reason[blank & required] = "missing_date"
    reason[~blank & (~parts | day.isna())] = "bad_date"
    reason[reason.isna() & (date > pd.Timestamp(today) + pd.Timedelta(days=1))] = "future_date"
    reason[reason.isna() & (date < pd.Timestamp(FIRST_DATE))] = "early_date"
    precision[day.isna()] = None
    return date, precision, reason


def _as_hms(clock: str) -> str:
    if not clock:
        return ""
    parts = clock.split(":")
    return ":".join([*parts, "00"][:3]) if len(parts) == 2 else clock


def parse_counts(
    text: pd.Series,
    *,
    minimum: float,
    maximum: float,
    whole: bool = True,
    exclusive_minimum: bool = False,
    blank: float | None = 1,
) -> tuple[pd.Series, pd.Series]:
    """Numbers read from text, and a mask of the rows whose number is unusable.

    Usable: a finite number from ``minimum`` (above it with ``exclusive_minimum``) to
    ``maximum``, whole when ``whole``. Blank text reads as ``blank`` (None: unusable).
    Unusable rows read 1, so the column stays numeric. Used for items, people and weights;
    counts of aggregated tables would use ``minimum=0``.
    """
    filled = text if blank is None else text.where(text != "", str(blank))
    value = pd.to_numeric(filled, errors="coerce").astype(float)
    with np.errstate(invalid="ignore"):
        low = value <= minimum if exclusive_minimum else value < minimum
        bad = value.isna() | ~np.isfinite(value) | low | (value > maximum)
        if whole:
            bad |= value != np.floor(value)
    return value.where(~bad, 1), bad


def _reporter(text: str) -> str:
    if not text:
        return "unknown"
    lower = text.lower()
    for label, words in _REPORTER_WORDS:
        if any(word in lower for word in words):
            return label
    return "other"


def _locations(lon_t, lat_t, east_t, north_t, tree):
    """Grid x, y, the fix code, outside-area flag and reject reason per row.

    Each row's pair is read four ways (as given, swapped, in the other system as given and
    swapped); the first reading inside the area (with one) or in Great Britain wins.
    """
    n = len(lon_t)
    grid = ((east_t != "") & (north_t != "")).to_numpy()
    lonlat = ((lon_t != "") & (lat_t != "")).to_numpy() & ~grid
    given = ((lon_t != "") | (lat_t != "") | (east_t != "") | (north_t != "")).to_numpy()
    a = pd.to_numeric(np.where(grid, east_t, lon_t), errors="coerce")
    b = pd.to_numeric(np.where(grid, north_t, lat_t), errors="coerce")
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    reason = np.full(n, None, dtype=object)
    reason[given & ~grid & ~lonlat] = "partial_coordinates"
    numeric = (grid | lonlat) & ~np.isnan(a) & ~np.isnan(b)
    reason[(grid | lonlat) & ~numeric] = "non_numeric_coordinates"
    readings = {"G": _as_grid(a, b), "Gs": _as_grid(b, a), "L": _as_lonlat(a, b),
                "Ls": _as_lonlat(b, a)}  # fmt: skip
    order = {
        True: [("G", None), ("Gs", "swapped_easting_northing"),
               ("L", "lonlat_in_grid_columns"), ("Ls", "lonlat_in_grid_columns")],
        False: [("L", None), ("Ls", "swapped_lat_lon"),
                ("G", "grid_in_lonlat_columns"), ("Gs", "grid_in_lonlat_columns")],
    }  # fmt: skip
    xs, ys, oks, codes = [], [], [], []
    for (kg, cg), (kl, cl) in zip(order[True], order[False], strict=True):
        xs.append(np.where(grid, readings[kg][0], readings[kl][0]))
        ys.append(np.where(grid, readings[kg][1], readings[kl][1]))
        oks.append(numeric & np.where(grid, readings[kg][2], readings[kl][2]))
        codes.append(np.where(grid, cg, cl))
    xs, ys, oks, codes = map(np.column_stack, (xs, ys, oks, codes))
    choice = np.argmax(oks, axis=1)
    inside = np.zeros(oks.shape, dtype=bool)
    if tree is not None:
        for k in range(4):
            rows = np.flatnonzero(oks[:, k])
            hit = tree.query(shapely.points(xs[rows, k], ys[rows, k]), predicate="intersects")[0]
            inside[rows[np.unique(hit)], k] = True
        choice = np.where(inside.any(axis=1), np.argmax(inside, axis=1), choice)
    rows = np.arange(n)
    located = oks.any(axis=1)
    reason[numeric & ~located] = "outside_great_britain"
    x = np.where(located, xs[rows, choice], np.nan)
    y = np.where(located, ys[rows, choice], np.nan)
    fix = np.where(located, codes[rows, choice], None)
    outside = located & ~inside[rows, choice]
    index = lon_t.index
    return (
        pd.Series(x, index=index),
        pd.Series(y, index=index),
        pd.Series(fix, index=index, dtype=object),
        pd.Series(outside, index=index),
        pd.Series(reason, index=index, dtype=object),
    )


def _as_grid(e: np.ndarray, n: np.ndarray):
    with np.errstate(invalid="ignore"):
        ok = (e >= _EASTING[0]) & (e <= _EASTING[1]) & (n >= _NORTHING[0]) & (n <= _NORTHING[1])
    return e, n, ok


def _as_lonlat(lon: np.ndarray, lat: np.ndarray):
    with np.errstate(invalid="ignore"):
        ok = (lon >= _LON[0]) & (lon <= _LON[1]) & (lat >= _LAT[0]) & (lat <= _LAT[1])
    x = np.full(len(lon), np.nan)
    y = np.full(len(lon), np.nan)
    if ok.any():
        x[ok], y[ok] = to_national_grid().transform(lon[ok], lat[ok])
    return x, y, ok


def _to_events(
    frames: list[pd.DataFrame], source: str, spec: SourceSpec, report
) -> gpd.GeoDataFrame:
    good = pd.concat(frames, ignore_index=True)
    n = len(good)
    located = good["x"].notna().to_numpy()
    geometry = np.full(n, shapely.Point(), dtype=object)
    geometry[located] = shapely.points(good.loc[located, "x"], good.loc[located, "y"])
    if "category" in good:
        category = good["category"].where(good["category"] != "", source)
    else:
        category = pd.Series(spec.category, index=good.index)
    event_id = (
        good["source_file"].map(lambda f: Path(f).name) + ":" + good["source_row"].astype(str)
    )
    frame = pd.DataFrame(
        {
            "source": source,
            "event_id": event_id,
            "date": pd.to_datetime(good["date"]),
            "date_precision": good["date_precision"],
            "category": category,
            "weight": good["weight"].astype(int) if spec.weight != "weight" else good["weight"],
        }
    )
    for name in ("reported_by", "collected", "person_id", "bin_id", "site"):
        if name in good:
            frame[name] = good[name]
    frame["location_fix"] = good["location_fix"]
    frame["sensitive"] = report.sensitive
    frame["synthetic"] = report.synthetic
    frame["source_file"] = good["source_file"]
    frame["source_row"] = good["source_row"].astype(int)
    if "outside_area" in good:
        frame["outside_area"] = good["outside_area"].astype(bool)
    internal = {"date", "date_precision", "x", "y", "location_fix", "outside_area", "weight",
                "category", "source_file", "source_row", "_blank_weight", "_bad_collected",
                *frame.columns}  # fmt: skip
    for column in good.columns:
        if column not in internal:
            frame[column] = good[column]
    for flag, note in (
        ("_blank_weight", f"rows with no {spec.weight} count: weight 1"),
        ("_bad_collected", "rows whose 'collected' is not yes or no: left missing"),
    ):
        count = int(good[flag].fillna(False).sum()) if flag in good else 0
        if count:
            report.notes.append(f"{count} {note}")
    events = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometry, crs=CRS), crs=CRS)
    events.attrs.update(sensitive=report.sensitive, synthetic=report.synthetic)
    return events


def _finish_report(report: PointsReport, events, rejected, with_area: bool) -> None:
    report.accepted = len(events)
    report.without_location = int(events.geometry.is_empty.sum())
    report.located = report.accepted - report.without_location
    dated = events["date"].dropna()
    report.months = sorted(dated.dt.strftime("%Y-%m").unique().tolist())
    fixes = events["location_fix"].dropna().value_counts()
    report.fixed = {str(k): int(v) for k, v in fixes.items()}
    if with_area:
        report.outside_area = int(events["outside_area"].sum())
    if rejected:
        rows = pd.concat(rejected, ignore_index=True)
        report.rejected = {k: int(v) for k, v in rows["reason"].value_counts().items()}
        report.rejected_rows = rows
    else:
        report.rejected_rows = pd.DataFrame(columns=["source_file", "source_row", "reason"])
    name = report.source
    for code, count in sorted(report.rejected.items()):
        log.warning("%s: %d rows rejected: %s", name, count, REJECT_REASONS[code])
    for code, count in sorted(report.fixed.items()):
        report.notes.append(f"{count} rows corrected: {FIXES[code]}")
        log.warning("%s: %d rows corrected: %s", name, count, FIXES[code])
    if report.outside_area:
        report.notes.append(f"{report.outside_area} points lie outside the study area")
        log.warning("%s: %d points lie outside the study area", name, report.outside_area)
    if report.without_location:
        report.notes.append(
            f"{report.without_location} rows have no location: they count in totals only"
        )
    if report.dropped_columns:
        report.notes.append(
            f"sensitive source: columns not carried: {', '.join(report.dropped_columns)}"
        )
        log.info("%s: sensitive: dropped columns %s", name, ", ".join(report.dropped_columns))
    log.info("%s: %s", name, report.summary())
    report.check()
