"""Reading the small files users write (town definitions, category groups, corridor specs,
point configs): one set of checks and one-line errors for all of them.

Every file must be UTF-8 text, with or without a byte-order mark (what Excel writes for
"CSV UTF-8"). Anything else, such as a latin-1 or UTF-16 file, is an
:class:`~psa_geo.errors.InputFileError` naming the file and saying how to save it, never a
``UnicodeDecodeError``. So are a missing file, a folder, an empty file, a CSV that does not
parse and a CSV without the expected columns.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from pathlib import Path

import pandas as pd

from .errors import InputFileError

#: The largest file read (bytes): these files are a few hundred lines at most.
MAX_BYTES = 50_000_000


def read_user_text(path, *, kind: str = "CSV", label: str | None = None) -> str:
    """The text of ``path`` (a Path or an importlib resource), decoded as UTF-8 with or
    without a BOM; ``kind`` ("CSV", "TOML") is used in the advice of the error message, and
    ``label`` names the file in errors (default: ``path``)."""
    label = str(path) if label is None else label
    if isinstance(path, str):
        path = Path(path)
    if isinstance(path, Path):
        if not path.exists():
            raise InputFileError(label, "no such file")
        if path.is_dir():
            raise InputFileError(label, "is a folder, not a file")
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise InputFileError(label, f"cannot read the file ({exc.strerror})") from None
        if size > MAX_BYTES:
            raise InputFileError(label, f"is {size:,} bytes; at most {MAX_BYTES:,} are read")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputFileError(label, f"cannot read the file ({exc.strerror or exc})") from None
    advice = f"save it as UTF-8 {kind}"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputFileError(label, f"not UTF-8 text (it is UTF-16; {advice})")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputFileError(
            label, f"not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}; {advice})"
        ) from None
    if "\x00" in text:
        raise InputFileError(
            label, f"not UTF-8 text (it holds NUL bytes, as UTF-16 does; {advice})"
        )
    return text


def read_user_csv(
    path, columns: list[str] | tuple[str, ...], *, label: str | None = None
) -> pd.DataFrame:
    """A user's CSV as text columns (cells as written; a short row is padded with ``""``),
    checked: UTF-8 (:func:`read_user_text`), not empty, parses as CSV (no row with more
    fields than the header, no quote left open), has ``columns`` (others are kept). Blank
    lines are skipped.

    A header without rows is returned as an empty frame: the caller says what it needed.
    """
    label = str(path) if label is None else label
    text = read_user_text(path, kind="CSV", label=label)
    expected = ",".join(columns)
    if not text.strip():
        raise InputFileError(label, f"the file is empty; expected the columns {expected}")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
        rows = []
        for row in reader:
            if len(row) > len(header):
                raise InputFileError(
                    label, f"not a readable CSV (line {reader.line_num} has {len(row)} fields, "
                    f"the header {len(header)}; quote a value that holds a comma)"
                )  # fmt: skip
            if any(cell.strip() for cell in row):
                rows.append(row + [""] * (len(header) - len(row)))
    except csv.Error as exc:
        raise InputFileError(label, f"not a readable CSV (line {reader.line_num}: {exc})") from None
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    frame.columns = [str(c).strip() for c in frame.columns]
    repeated = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
    if repeated:
        raise InputFileError(label, f"the header names {', '.join(repeated)} more than once")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        found = ", ".join(frame.columns[:8]) + (", ..." if len(frame.columns) > 8 else "")
        raise InputFileError(
            label, f"missing columns {', '.join(missing)} (expected {expected}; found {found})"
        )
    return frame


def header_key(header) -> str:
    """A column header as a lookup key: lower case, each run of other characters one "_"
    (``"LSOA code"``, ``"lsoa-code"`` and ``"LSOA_CODE"`` all give ``lsoa_code``)."""
    return re.sub(r"[^0-9a-z]+", "_", str(header).strip().lower()).strip("_")


def match_columns(headers, aliases: dict[str, str], path, *, known=None) -> dict[str, str]:
    """``{column: header}`` of the ``headers`` whose :func:`header_key` ``aliases`` maps to a
    column (of ``known`` only, when given); two headers giving one column are a one-line
    :class:`InputFileError` naming ``path``."""
    columns: dict[str, str] = {}
    for header in headers:
        name = aliases.get(header_key(header))
        if name is None or (known is not None and name not in known):
            continue
        if name in columns:
            raise InputFileError(path, f"columns {columns[name]!r} and {header!r} both give {name}")
        columns[name] = header
    return columns
