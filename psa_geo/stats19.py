"""Read DfT STATS19 road collision, casualty and vehicle files (every column-name vintage).

Collisions become canonical events (EPSG:27700); casualties and vehicles are tables linked to
them by ``collision_index``. Columns take DfT's current names (:data:`RENAMES`); coded columns
keep their codes and gain a ``<column>_label`` from DfT's data guide (kept as data in
``psa_geo/resources/stats19_codes.csv``: Department for Transport, Road Safety Open Dataset
Data Guide 2023, Open Government Licence v3.0). As in the R package stats19, ``-1`` ("data
missing or out of range") becomes a missing value.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import _csvlines
from .errors import InputFileError
from .events import CRS, IngestReport
from .userfiles import header_key

log = logging.getLogger(__name__)

SOURCE = "stats19"
TABLES = ("collisions", "casualties", "vehicles")
#: The index column names DfT has used, and the column-name vintage each marks.
SCHEMAS = {
    "Accident_Index": "capitalised (DfT files to 2020)",
    "accident_index": "accident_* (DfT files 2021-2023)",
    "collision_index": "collision_* (DfT files from 2024)",
}
#: Older names -> DfT's current names. Any other name is snake-cased first: lower case, runs
#: of other characters to "_" ("Local_Authority_(District)" -> "local_authority_district",
#: "Engine_Capacity_(CC)" -> "engine_capacity_cc"); this table then renames the result.
RENAMES = {
    "accident_index": "collision_index",
    "accident_year": "collision_year",
    "accident_reference": "collision_ref_no",
    "accident_ref_no": "collision_ref_no",
    "collision_reference": "collision_ref_no",
    "accident_severity": "collision_severity",
    "1st_road_class": "first_road_class",
    "1st_road_number": "first_road_number",
    "2nd_road_class": "second_road_class",
    "2nd_road_number": "second_road_number",
    "1st_point_of_impact": "first_point_of_impact",
    "was_vehicle_left_hand_drive": "vehicle_left_hand_drive",
    "did_police_officer_attend_scene_of_collision": "did_police_officer_attend_scene_of_accident",
    "lsoa_of_collision_location": "lsoa_of_accident_location",
}
#: DfT's severity-adjustment files name these columns without the table's prefix.
TABLE_RENAMES = {
    table: {
        "adjusted_serious": f"{prefix}_adjusted_severity_serious",
        "adjusted_slight": f"{prefix}_adjusted_severity_slight",
        "injury_based": f"{prefix}_injury_based",
    }
    for table, prefix in (("collisions", "collision"), ("casualties", "casualty"))
}
_GUIDE_TABLE = {"collisions": "Accident", "casualties": "Casualty", "vehicles": "Vehicle"}
# Each table's row key (rows repeating a key are rejected) and the columns it cannot do without.
_KEYS = {
    "collisions": ["collision_index"],
    "casualties": ["collision_index", "vehicle_reference", "casualty_reference"],
    "vehicles": ["collision_index", "vehicle_reference"],
}
_REQUIRED = {
    "collisions": [
        "collision_index", "collision_severity", "date",
        "location_easting_osgr", "location_northing_osgr",
    ],
    "casualties": _KEYS["casualties"] + ["casualty_severity"],
    "vehicles": _KEYS["vehicles"],
}  # fmt: skip
_SEVERITY = {"collisions": "collision_severity", "casualties": "casualty_severity"}
_FIRST = ["collision_index", "collision_year", "collision_ref_no", "police_force"]
_TEXT = {
    "collision_index", "collision_ref_no", "date", "time", "local_authority_ons_district",
    "local_authority_highway", "local_authority_highway_current", "generic_make_model",
}  # fmt: skip
_COORDINATES = ("location_easting_osgr", "location_northing_osgr", "longitude", "latitude")
#: Columns read as numbers whatever their values (besides those with codes in the data guide):
#: a value that is not a number rejects its row instead of turning the column into text.
_NUMERIC = {
    "collision_year", "police_force", "collision_severity", "casualty_severity",
    "vehicle_reference", "casualty_reference", "number_of_vehicles", "number_of_casualties",
    "speed_limit", "first_road_number", "second_road_number", "age_of_casualty",
    "age_of_driver", "age_of_vehicle", "engine_capacity_cc",
}  # fmt: skip
#: Codes and counts are numbers from -1 ("missing") to this; beyond (or inf, 1e308) the row is
#: rejected (``bad_number``). The real files' largest is an engine of 16,353 cc.
MAX_NUMBER = 1_000_000
#: STATS19 open data begin with 1979: dates and collision years before it, or after today,
#: are rejected.
FIRST_YEAR = 1979
_MISSING_TEXT = ("", "NULL", "-1")
# British National Grid extent (metres); coordinates outside it are not a location.
_EASTING, _NORTHING = (0, 700_000), (0, 1_300_000)

REJECT_REASONS = {
    "missing_index": "the collision index is blank",
    "bad_severity": "the severity is not 1 (fatal), 2 (serious) or 3 (slight)",
    "bad_date": "the date is unreadable and the collision year unknown",
    "bad_year": f"the collision year (column or characters 1-4 of the index) is before "
    f"{FIRST_YEAR} or after this year",
    "date_out_of_range": f"the date is before {FIRST_YEAR} or after today",
    "bad_number": f"a code or count is not a number from -1 to {MAX_NUMBER:,} (the notes "
    "name the column)",
    **_csvlines.LINE_REASONS,
    "duplicate": "the row repeats the key (index and references) of an earlier row",
}


@dataclass
class Stats19Report(IngestReport):
    """What :func:`read_stats19` did with every row (see :class:`IngestReport`).

    ``table`` and ``schema`` (the column-name vintage) say what was read; ``rows_by_year``
    counts accepted rows by ``collision_year``; ``derived_columns`` were not in the files and
    were taken from the collision index. Casualty and vehicle tables have no location:
    ``located`` and ``without_location`` stay 0 for them.
    """

    table: str = ""
    schema: str = ""
    rows_by_year: dict[int, int] = field(default_factory=dict)
    derived_columns: list[str] = field(default_factory=list)

    def check(self) -> None:
        """Raise AssertionError if the counts do not add up."""
        assert self.rows_read == self.accepted + sum(self.rejected.values()), self
        if self.table == "collisions":
            assert self.accepted == self.located + self.without_location, self

    def to_dict(self) -> dict:
        return {
            **super().to_dict(),
            "table": self.table,
            "schema": self.schema,
            "rows_by_year": {str(k): v for k, v in sorted(self.rows_by_year.items())},
            "derived_columns": self.derived_columns,
        }


def read_stats19(
    paths: str | Path | Iterable[str | Path],
    *,
    table: str,
    return_report: bool = False,
    today: dt.date | None = None,
) -> gpd.GeoDataFrame | pd.DataFrame | tuple[pd.DataFrame, Stats19Report]:
    """Read STATS19 CSV files (``.csv`` or ``.csv.gz``) of one table and one column layout.

    Parameters
    ----------
    paths
        One file or several of the same table and the same column-name vintage (older
        capitalised ``Accident_Index``, ``accident_*`` or current ``collision_*`` names).
    table
        ``"collisions"`` (canonical events, EPSG:27700), ``"casualties"`` or ``"vehicles"``
        (DataFrames linked to the collisions by ``collision_index``).
    return_report
        Also return the :class:`Stats19Report`.
    today
        The last date a collision may carry (default: the real date); for tests.

    Notes
    -----
    Columns take DfT's current names (:data:`RENAMES`). Codes become nullable integers with
    ``-1`` as missing, and each coded column gains ``<column>_label`` from DfT's data guide.
    ``collision_year`` and ``police_force``, when a file lacks them, come from the collision
    index (characters 1-4 and 5-6). Collision events: ``event_id`` is the collision index,
    ``category`` the severity label, ``weight`` 1, ``date`` the parsed date and time
    (``date_precision`` "minute"; "day" without a time; "year", dated 1 January of
    ``collision_year``, when the date is unreadable: such rows are kept and counted in the
    report's notes), ``published_lsoa_code`` DfT's LSOA (used by :func:`assign_areas`).
    Collisions without usable easting/northing are kept with an empty geometry. Rows without
    an index, with an unknown severity, or repeating a row key are rejected with a reason
    code (:data:`REJECT_REASONS`) and kept in ``report.rejected_rows``, as are rows whose
    collision year (column or index) or date lies before :data:`FIRST_YEAR` or after ``today``,
    whose code or count is not a number from -1 to :data:`MAX_NUMBER`, or with a line break
    in a field. ``source_row`` is the row's first physical line (header = line 1) and every
    line is counted (``report.lines_read``). Files mixing column layouts or columns, and files
    that give no usable row at all (a header only), raise InputFileError: so an optional
    STATS19 table either reads or fails in one line, never later.
    """
    today = dt.date.today() if today is None else today
    if table not in TABLES:
        raise ValueError(f"'table' should be one of {TABLES}, got {table!r}")
    files = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    if not files:
        raise InputFileError("(no paths)", f"no STATS19 {table} files given")
    report = Stats19Report(source=SOURCE, table=table)
    frames = []
    first: tuple[str, str, list[str]] | None = None
    line_reasons = []
    for path in files:
        raw, schema, lines = _read_csv(path, table)
        if first is None:
            first = (str(path), schema, list(raw.columns))
        _check_same_layout(str(path), schema, list(raw.columns), first)
        report.files.append(str(path))
        report.add_lines(lines)
        raw, line = _csvlines.located_rows(raw, lines, list(raw.columns), source_file=str(path))
        report.rows_read += len(raw)
        line_reasons.append(line)
        frames.append(raw)
    report.schema = first[1]
    raw = pd.concat(frames, ignore_index=True)
    if raw.empty:
        raise InputFileError(_describe(files), "the file has a header but no rows")
    frame, report.derived_columns, bad_numbers = _typed(raw, table, report)
    reason = _reject_reasons(
        frame, table, today=today, bad_numbers=bad_numbers, lines=np.concatenate(line_reasons)
    )
    bad = reason.notna()
    if bad.any():
        rows = raw[bad.to_numpy()].assign(reason=reason[bad].to_numpy())
        report.rejected = {k: int(v) for k, v in rows["reason"].value_counts().items()}
        report.rejected_rows = rows.reset_index(drop=True)
        for code, n in sorted(report.rejected.items()):
            log.warning("STATS19 %s: %d rows rejected: %s", table, n, REJECT_REASONS[code])
    else:
        report.rejected_rows = pd.DataFrame(columns=[*raw.columns, "reason"])
    frame = frame[~bad].reset_index(drop=True)
    report.accepted = len(frame)
    if not report.accepted:
        reasons = ", ".join(f"{n} {code}" for code, n in sorted(report.rejected.items()))
        raise InputFileError(_describe(files), f"no usable STATS19 {table} rows ({reasons})")
    years = frame["collision_year"].value_counts().sort_index()
    report.rows_by_year = {int(k): int(v) for k, v in years.items()}
    no_year = report.accepted - int(years.sum())
    if no_year:
        report.notes.append(f"{no_year} rows have no collision year (none in the file or index)")
    if report.derived_columns:
        report.notes.append(
            f"{' and '.join(report.derived_columns)} not in the file: taken from the collision "
            "index (year = characters 1-4, police force = characters 5-6)"
        )
    out = _to_events(frame, report) if table == "collisions" else frame
    log.info(
        "STATS19 %s: read %d rows from %d files (%s names): %d accepted, %d rejected",
        table,
        report.rows_read,
        len(report.files),
        report.schema,
        report.accepted,
        sum(report.rejected.values()),
    )
    report.check()
    return (out, report) if return_report else out


def _describe(files: list[Path]) -> str:
    return str(files[0]) if len(files) == 1 else ", ".join(map(str, files))


def canonical_name(name: str, table: str) -> str:
    """DfT's current name for a column name of any vintage (:data:`RENAMES`,
    :data:`TABLE_RENAMES`)."""
    snake = header_key(name)
    return TABLE_RENAMES.get(table, {}).get(snake) or RENAMES.get(snake, snake)


@cache
def _code_labels(table: str) -> dict[str, dict[str, str]]:
    """Column (current name) -> {code: label} for ``table``, from the packaged data guide
    (the collision table's lists serve columns other tables share, such as police_force)."""
    text = resources.files("psa_geo.resources").joinpath("stats19_codes.csv").read_text("utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    codes = pd.read_csv(io.StringIO(body), dtype=str, keep_default_na=False)
    codes = codes[codes["table"].isin([_GUIDE_TABLE[table], "Accident"]) & (codes["code"] != "-1")]
    codes = codes.sort_values("table", key=lambda t: t != _GUIDE_TABLE[table], kind="stable")
    labels: dict[str, dict[str, str]] = {}
    for variable, code, label in codes[["variable", "code", "label"]].itertuples(index=False):
        labels.setdefault(canonical_name(variable, table), {}).setdefault(code, label)
    return labels


def _read_csv(path: Path, table: str) -> tuple[pd.DataFrame, str, _csvlines.Lines]:
    """The file's rows as stripped strings (blank lines kept, as empty rows), columns
    renamed, its column-name vintage and where each row lies."""
    frame, lines = _csvlines.read_rows(path, not_utf8="not UTF-8 text (DfT's STATS19 files are)")
    frame.columns = [c.strip() for c in frame.columns]
    schema = next((SCHEMAS[c] for c in frame.columns if c in SCHEMAS), None)
    if schema is None:
        raise InputFileError(
            path,
            f"not a STATS19 {table} table: no collision index column ({', '.join(SCHEMAS)})",
        )
    names = [canonical_name(c, table) for c in frame.columns]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputFileError(path, f"several columns mean the same: {', '.join(repeated)}")
    frame.columns = names
    missing = [c for c in _REQUIRED[table] if c not in names]
    if missing:
        raise InputFileError(
            path, f"not a STATS19 {table} table: missing columns {', '.join(missing)}"
        )
    return frame.apply(lambda col: col.str.strip()), schema, lines


def _check_same_layout(label: str, schema: str, columns: list[str], first) -> None:
    first_label, first_schema, first_columns = first
    if schema != first_schema:
        raise InputFileError(
            label,
            f"{schema} column names, but {first_label} has {first_schema} names; read each "
            "layout in its own call (DfT changed code lists between layouts)",
        )
    if set(columns) != set(first_columns):
        here = sorted(set(columns) - set(first_columns)) or ["none"]
        there = sorted(set(first_columns) - set(columns)) or ["none"]
        raise InputFileError(
            label,
            f"its columns differ from those of {first_label} (only here: {', '.join(here)}; "
            f"only there: {', '.join(there)}); read them in separate calls",
        )


def _typed(
    raw: pd.DataFrame, table: str, report: Stats19Report
) -> tuple[pd.DataFrame, list, np.ndarray]:
    """Typed columns with ``_label`` columns, year and force from the index where absent,
    and a mask of the rows with a code or count that is not a number in range."""
    labels = _code_labels(table)
    columns: dict[str, pd.Series] = {}
    bad_numbers = np.zeros(len(raw), dtype=bool)
    for name in raw.columns:
        if name in ("source_file", "source_row"):
            continue
        columns[name], bad = _typed_column(name, raw[name], numeric=name in labels)
        if bad.any():
            bad_numbers |= bad
            report.notes.append(
                f"{int(bad.sum())} values of {name} are not a number from -1 to "
                f"{MAX_NUMBER:,}: their rows rejected (bad_number)"
            )
    frame = pd.DataFrame(columns)
    derived = []
    for name, chars, pattern in (("collision_year", slice(0, 4), r"\d{4}"),
                                 ("police_force", slice(4, 6), r"\d{2}")):  # fmt: skip
        if name not in frame:
            part = frame["collision_index"].str[chars]
            number = pd.to_numeric(part.where(part.str.fullmatch(pattern)), errors="coerce")
            frame[name] = number.astype("Int64")
            derived.append(name)
    order = []
    first = [c for c in _FIRST + _KEYS[table] if c in frame]
    for name in list(dict.fromkeys(first + list(frame.columns))):
        order.append(name)
        if name in labels:
            label = frame[name].astype("string").map(labels[name]).astype("string")
            unlabelled = int((frame[name].notna() & label.isna()).sum())
            if unlabelled:
                report.notes.append(
                    f"{unlabelled} values of {name} have no label in DfT's data guide"
                )
            frame[f"{name}_label"] = label
            order.append(f"{name}_label")
    frame[["source_file", "source_row"]] = raw[["source_file", "source_row"]]
    return frame[[*order, "source_file", "source_row"]], derived, bad_numbers


def _typed_column(name: str, col: pd.Series, *, numeric: bool) -> tuple[pd.Series, np.ndarray]:
    """Coordinates as floats; codes and counts as nullable numbers (-1 missing); else text.
    Also a mask of the values of a number column that are not a number from -1 to
    :data:`MAX_NUMBER` (they become missing; their rows are rejected)."""
    missing = col.isin(_MISSING_TEXT)
    none = np.zeros(len(col), dtype=bool)
    if name in _COORDINATES:
        values = pd.to_numeric(col.mask(missing), errors="coerce").astype(float)
        return values.where(np.isfinite(values)).astype("Float64"), none
    if name in _TEXT or name.startswith("lsoa_"):
        return col.mask(missing).astype("string"), none
    blank = col.isin(("", "NULL"))
    numbers = pd.to_numeric(col.mask(blank), errors="coerce").astype(float)
    unreadable = (numbers.isna() & ~blank).to_numpy()
    if unreadable.any() and not (numeric or name in _NUMERIC):
        return col.mask(missing).astype("string"), none
    with np.errstate(invalid="ignore"):
        bad = unreadable | (numbers.notna() & ~numbers.between(-1, MAX_NUMBER)).to_numpy()
    numbers = numbers.mask(bad)
    whole = numbers.dropna().mod(1).eq(0).all()
    return numbers.astype("Int64" if whole else "Float64").mask(lambda s: s == -1), bad


def _reject_reasons(
    frame: pd.DataFrame,
    table: str,
    *,
    today: dt.date,
    bad_numbers: np.ndarray,
    lines: np.ndarray,
) -> pd.Series:
    """A reason code per row (missing for usable rows); the first failing check wins."""
    reason = pd.Series(pd.NA, index=frame.index, dtype="string")

    def flag(mask, code):
        reason[np.asarray(mask, dtype=bool) & reason.isna().to_numpy()] = code

    for code in ("unclosed_quote", "line_break_in_field"):
        flag(lines == code, code)
    flag(frame["collision_index"].isna(), "missing_index")
    flag(bad_numbers, "bad_number")
    if table in _SEVERITY:
        flag(~frame[_SEVERITY[table]].isin([1, 2, 3]).fillna(False), "bad_severity")
    index_year = frame["collision_index"].str[:4]
    index_year = pd.to_numeric(index_year.where(index_year.str.fullmatch(r"\d{4}")))
    for year in (frame["collision_year"].astype("Float64"), index_year):
        flag(year.notna() & ~year.between(FIRST_YEAR, today.year), "bad_year")
    if table == "collisions":
        date, precision = _collision_dates(frame)
        flag(date.isna(), "bad_date")
        first, last = pd.Timestamp(FIRST_YEAR, 1, 1), pd.Timestamp(today) + pd.Timedelta(days=1)
        flag((precision != "year") & ((date < first) | (date >= last)), "date_out_of_range")
    usable = reason.isna()
    repeat = frame[usable].duplicated(_KEYS[table]).reindex(frame.index, fill_value=False)
    flag(repeat, "duplicate")
    return reason


def _collision_dates(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(date, date_precision): minute from date and time, day without a time, else 1 January
    of ``collision_year`` ("year"); NaT where not even the year is known."""
    date = frame["date"].fillna("")
    day = pd.to_datetime(date, format="%d/%m/%Y", errors="coerce")
    day = day.fillna(pd.to_datetime(date, format="%Y-%m-%d", errors="coerce"))
    time = frame["time"].fillna("") if "time" in frame else pd.Series("", index=frame.index)
    clock = pd.to_timedelta(
        time.where(time.str.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d")) + ":00", errors="coerce"
    )
    year = pd.to_datetime(
        frame["collision_year"].astype("string") + "-01-01", format="%Y-%m-%d", errors="coerce"
    )
    out = (day + clock).fillna(day).fillna(year)
    precision = pd.Series(
        np.select([clock.notna() & day.notna(), day.notna()], ["minute", "day"], "year"),
        index=frame.index,
    )
    return out, precision


def _to_events(frame: pd.DataFrame, report: Stats19Report) -> gpd.GeoDataFrame:
    date, precision = _collision_dates(frame)
    x = frame["location_easting_osgr"].to_numpy(dtype=float, na_value=np.nan)
    y = frame["location_northing_osgr"].to_numpy(dtype=float, na_value=np.nan)
    inside = (x >= _EASTING[0]) & (x <= _EASTING[1]) & (y >= _NORTHING[0]) & (y <= _NORTHING[1])
    geometry = np.full(len(frame), shapely.Point(), dtype=object)
    geometry[inside] = shapely.points(x[inside], y[inside])
    report.located = int(inside.sum())
    report.without_location = len(frame) - report.located
    blank = int((np.isnan(x) & np.isnan(y)).sum())
    if report.without_location:
        report.notes.append(
            f"{report.without_location} collisions have no usable easting/northing ({blank} "
            f"blank, {report.without_location - blank} partial or off the grid): kept without "
            "a location; they count in force totals only"
        )
    for level, what in (("day", "no time"), ("year", "an unreadable date")):
        n = int((precision == level).sum())
        if n:
            report.notes.append(
                f"{n} collisions have {what}: date_precision '{level}'"
                + (" (dated 1 January of collision_year)" if level == "year" else "")
            )
    dated = date[precision != "year"]
    report.months = sorted(dated.dt.strftime("%Y-%m").dropna().unique().tolist())
    events = pd.DataFrame(
        {
            "source": SOURCE,
            "event_id": frame["collision_index"].astype(str),
            "date": date,
            "date_precision": precision,
            "category": frame["collision_severity_label"],
            "weight": 1,
        }
    )
    events = pd.concat([events, frame.drop(columns="date")], axis=1)
    if "lsoa_of_accident_location" in frame:
        events["published_lsoa_code"] = frame["lsoa_of_accident_location"]
    return gpd.GeoDataFrame(events, geometry=gpd.GeoSeries(geometry, crs=CRS), crs=CRS)


def link_casualties(casualties: pd.DataFrame, collisions: pd.DataFrame) -> pd.DataFrame:
    """Every casualty (or vehicle) linked to its collision or reported, per year.

    Parameters
    ----------
    casualties
        A casualty (or vehicle) table from :func:`read_stats19`.
    collisions
        Collisions from :func:`read_stats19` (events or any frame with ``collision_index``
        and ``collision_year``).

    Returns
    -------
    DataFrame
        One row per ``collision_year`` (and one for rows without a year, if any):
        ``casualties``, ``linked`` and ``unlinked`` (``linked + unlinked == casualties``),
        ``collisions`` (rows in the collision table), ``collisions_without_casualties`` and a
        ``note`` for years with gaps.
    """
    for name, frame in (("casualties", casualties), ("collisions", collisions)):
        missing = {"collision_index", "collision_year"} - set(frame.columns)
        if missing:
            raise ValueError(f"'{name}' lacks columns {sorted(missing)}; use read_stats19()")
    linked = casualties["collision_index"].isin(collisions["collision_index"])
    has_rows = collisions["collision_index"].isin(casualties["collision_index"])
    both = pd.concat([casualties["collision_year"], collisions["collision_year"]])
    years = sorted(both.dropna().unique()) + ([pd.NA] if both.isna().any() else [])
    years = pd.Index(pd.array(years, dtype="Int64"))

    def per_year(frame, mask=None):
        sub = frame if mask is None else frame[mask]
        counts = sub["collision_year"].astype("Int64").value_counts(dropna=False)
        return counts.reindex(years, fill_value=0).astype("int64")

    out = pd.DataFrame(
        {
            "collision_year": years,
            "casualties": per_year(casualties).to_numpy(),
            "linked": per_year(casualties, linked).to_numpy(),
            "collisions": per_year(collisions).to_numpy(),
            "collisions_without_casualties": per_year(collisions, ~has_rows).to_numpy(),
        }
    )
    out.insert(3, "unlinked", out["casualties"] - out["linked"])
    notes = []
    for row in out.itertuples(index=False):
        if pd.isna(row.collision_year):
            notes.append(f"{row.casualties} casualties have no collision year")
        elif row.collisions == 0 and row.casualties:
            notes.append(
                f"no collision rows for {row.collision_year}: its {row.casualties} casualties "
                "cannot be linked to a collision or located"
            )
        elif row.unlinked:
            notes.append(f"{row.unlinked} casualties have no collision row")
        else:
            notes.append("")
    out["note"] = notes
    for note in filter(None, notes):
        log.warning("STATS19: %s", note)
    return out
