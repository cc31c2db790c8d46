"""The police.uk street files of the data directory's ``crime/`` folder, and ``--crime``.

Every file in ``crime/`` whose first line is a police.uk street-level header is read: plain
or gzipped CSVs, folders of monthly ``YYYY-MM/YYYY-MM-<force>-street.csv`` files and the
zips police.uk serves (from folders and zips only the force's own street files). Anything
else there (a counts table, outcomes files, notes) is skipped and listed by ``data status``.
"""

from __future__ import annotations

import csv
import gzip
import logging
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .completeness import describe_incomplete, incomplete_months
from .counts import is_counts_table, read_counts
from .errors import InputFileError, MissingDataError
from .police_uk import REQUIRED_COLUMNS, street_suffix

log = logging.getLogger(__name__)

#: The police.uk slug of the force whose files are read (psa_geo/resources/police_forces.csv).
FORCE = "devon-and-cornwall"
#: The data directory's folder of police.uk files.
CRIME_FOLDER = "crime"
_SNIFF_BYTES = 64 * 1024


@dataclass
class CrimeFiles:
    """What ``crime/`` holds: ``files`` to read (CSV, ``.csv.gz`` or zip paths),
    ``unreadable`` ``(path, why)`` for a ``.csv``, ``.csv.gz`` or zip that cannot be opened (a
    damaged download: an error for the commands that read them), and ``skipped``
    ``(path, why)`` for everything else (other files, other forces', counts tables)."""

    folder: Path
    files: list[Path] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def is_street_header(line: bytes | str) -> bool:
    """True when ``line`` (a file's first line) is a police.uk street-level header."""
    if isinstance(line, bytes):
        line = line.decode("utf-8-sig", errors="replace")
    line = line.lstrip("\ufeff")
    try:
        header = next(csv.reader([line.rstrip("\r\n")]), [])
    except csv.Error:
        return False
    return set(REQUIRED_COLUMNS) <= {h.strip() for h in header}


def _first_line(path: Path) -> bytes:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as f:
        return f.readline(_SNIFF_BYTES)


def _sniff_file(path: Path) -> str | None:
    """None when ``path`` is a police.uk street CSV, else why it is skipped."""
    if not path.name.lower().endswith((".csv", ".csv.gz")):
        return "not a .csv, .csv.gz or .zip file"
    try:
        line = _first_line(path)
    except (OSError, EOFError, zlib.error) as exc:
        return f"unreadable ({exc})"
    return None if is_street_header(line) else "not a police.uk street-level file (header)"


def _sniff_zip(path: Path, force: str) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = [n for n in archive.namelist() if n.endswith(street_suffix(force))]
            if not members:
                return f"the zip holds no *{street_suffix(force)} files"
            with archive.open(sorted(members)[0]) as member:  # streamed: one line only
                line = member.readline(_SNIFF_BYTES)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
        return f"unreadable zip ({exc})"
    return None if is_street_header(line) else "not a police.uk street-level file (header)"


def find_crime_files(data_dir: str | Path, *, force: str = FORCE) -> CrimeFiles:
    """The police.uk street files of ``data_dir/crime/`` (an absent folder holds none)."""
    found = CrimeFiles(folder=Path(data_dir) / CRIME_FOLDER)
    if not found.folder.is_dir():
        return found
    ending = street_suffix(force)
    for entry in sorted(found.folder.iterdir()):
        inner = sorted(p for p in entry.rglob("*") if p.is_file()) if entry.is_dir() else [entry]
        for path in inner:
            if path.suffix.lower() == ".zip":
                why = _sniff_zip(path, force)
            elif entry.is_dir() and not path.name.endswith((ending, f"{ending}.gz")):
                why = f"in a folder, only *{ending} files are read"
            else:
                why = _sniff_file(path)
            if why is None:
                found.files.append(path)
            elif why.startswith("unreadable"):
                found.unreadable.append((str(path), why))
            else:
                found.skipped.append((str(path), why))
    for path, why in found.skipped:
        log.info("crime: skipped %s: %s", path, why)
    return found


def crime_paths(
    data_dir: str | Path,
    crime: Iterable[str | Path] | None = None,
    *,
    force: str = FORCE,
    required: bool = True,
) -> tuple[list[Path], CrimeFiles]:
    """The police.uk files to read: those of ``crime/`` and then ``crime`` (``--crime``:
    files, folders or zips anywhere). One line of error when a file of ``crime/`` cannot be
    opened (it would otherwise be left out unseen), or when there are none and they are
    ``required`` (not so when counts tables stand in for them)."""
    found = find_crime_files(data_dir, force=force)
    if found.unreadable:
        raise InputFileError(*found.unreadable[0])
    paths = [*found.files, *(Path(p) for p in crime or ())]
    if not paths and required:
        raise MissingDataError(
            f"{found.folder}: no police.uk street-level files; put police.uk street CSVs, "
            "monthly folders or zips there, or pass --crime PATH"
        )
    return paths, found


def _columns(handle) -> pd.DataFrame:
    return pd.read_csv(
        handle, usecols=["Month", "Falls within"], dtype=str, keep_default_na=False,
        encoding="utf-8-sig",
    )  # fmt: skip


def crime_status(data_dir: str | Path, *, force: str = FORCE) -> dict:
    """For ``data status``: the months and forces in ``crime/``'s police.uk files, the gaps
    (months missing between the first and the last), the months that look incomplete
    (:func:`psa_geo.completeness.incomplete_months` with its default rule, as a phrase; empty
    when none), the files skipped, and the counts tables among them with their months and
    incomplete months."""
    found = find_crime_files(data_dir, force=force)
    frames, problems = [], list(found.unreadable)
    for path in found.files:
        try:
            if path.suffix.lower() == ".zip":
                with zipfile.ZipFile(path) as archive:
                    for name in sorted(archive.namelist()):
                        if name.endswith(street_suffix(force)):
                            with archive.open(name) as member:
                                frames.append(_columns(member))
            else:
                frames.append(_columns(path))
        except (OSError, ValueError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
            problems.append((str(path), f"unreadable: {' '.join(str(exc).split())}"))
    rows = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["Month", "Falls within"])
    )
    months = sorted(m for m in rows["Month"].unique() if _is_month(m))
    gaps = []
    if months:
        every = pd.period_range(months[0], months[-1], freq="M").strftime("%Y-%m")
        gaps = [m for m in every if m not in set(months)]
    totals = rows.loc[rows["Month"].isin(months), "Month"].value_counts().sort_index()
    counts = [Path(path) for path, _ in found.skipped if is_counts_table(Path(path))]
    return {
        "counts_tables": [_counts_status(path) for path in counts],
        "folder": str(found.folder),
        "files": [str(p) for p in found.files],
        "rows": len(rows),
        "months": months,
        "forces": sorted(f for f in rows["Falls within"].unique() if f),
        "gaps": gaps,
        "incomplete": describe_incomplete(incomplete_months(totals)),
        "skipped": found.skipped,
        "problems": problems,
    }


def _counts_status(path: Path) -> dict:
    """A counts table's rows, months and incomplete months, for ``data status``."""
    try:
        events, report = read_counts(path, return_report=True)
    except InputFileError as exc:
        return {"file": str(path), "problem": str(exc)}
    return {
        "file": str(path),
        "rows": report.rows_read,
        "rejected": sum(report.rejected.values()),
        "months": report.months,
        "incomplete": describe_incomplete(incomplete_months(events)),
    }


def _is_month(text: str) -> bool:
    return len(text) == 7 and text[4] == "-" and text[:4].isdigit() and text[5:].isdigit()


def month_ranges(months: list[str]) -> str:
    """``2018-01 to 2019-12`` style runs of consecutive months, comma-separated."""
    if not months:
        return "none"
    periods = [pd.Period(m, freq="M") for m in months]
    runs, start, prev = [], periods[0], periods[0]
    for p in periods[1:]:
        if p != prev + 1:
            runs.append((start, prev))
            start = p
        prev = p
    runs.append((start, prev))
    return ", ".join(f"{a}" if a == b else f"{a} to {b}" for a, b in runs)
