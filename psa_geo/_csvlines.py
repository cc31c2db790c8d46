"""Read a CSV so that every physical line is accounted for (shared by the readers).

The bytes are streamed through :class:`CountingReader`, which counts the physical lines (a line
ends at LF, CRLF or a lone CR) and refuses a stream larger than a cap. pandas reads the rows
with blank lines kept; :func:`place_rows` then gives each row its first physical line
(``source_row``, header = line 1) and the number of lines it spans, and checks that
``lines = header lines + the lines of every row + blank lines``.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputFileError

#: Largest (uncompressed) CSV a reader streams, in bytes: 4 GiB. The real police.uk and STATS19
#: files are under 100 MB; a zip or gzip member beyond this is refused in one line.
MAX_UNCOMPRESSED_BYTES = 4 * 1024**3
_BREAKS = r"\r\n|\r|\n"
#: The reasons every reader gives for rows rejected because of their lines.
LINE_REASONS = {
    "line_break_in_field": "a field psa_geo uses holds a line break",
    "unclosed_quote": "a quote left open: the field runs over lines that look like rows of "
    "their own (those rows are inside this one)",
}
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


class TooLargeError(InputFileError):
    """A CSV (or archive member) larger than the cap."""


class CountingReader(io.RawIOBase):
    """A binary stream that counts bytes and line breaks as they are read, and refuses to
    read beyond ``cap`` bytes (InputFileError naming ``label``)."""

    def __init__(self, raw, *, label: str, cap: int) -> None:
        self._raw, self.label, self.cap = raw, label, cap
        self.bytes = self._lf = self._cr = self._crlf = 0
        self._last = b""

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()

    def readinto(self, buffer) -> int:
        chunk = self._raw.read(len(buffer))
        n = len(chunk)
        if not n:
            return 0
        self.bytes += n
        if self.bytes > self.cap:
            raise TooLargeError(
                self.label, f"larger than {self.cap:,} bytes uncompressed: refused (the cap)"
            )
        self._lf += chunk.count(b"\n")
        self._cr += chunk.count(b"\r")
        self._crlf += chunk.count(b"\r\n") + (self._last == b"\r" and chunk[:1] == b"\n")
        self._last = chunk[-1:]
        buffer[:n] = chunk
        return n

    @property
    def lines(self) -> int:
        """Physical lines read: line breaks, plus one for a last line without a break."""
        breaks = self._lf + self._cr - self._crlf
        return breaks + (1 if self.bytes and self._last not in (b"\n", b"\r") else 0)


def open_counted(path: Path, *, label: str | None = None, cap: int | None = None):
    """A :class:`CountingReader` over ``path`` (``.gz``, ``.bz2`` and ``.xz`` decompressed)."""
    opener = _OPENERS.get(Path(path).suffix.lower(), open)
    cap = MAX_UNCOMPRESSED_BYTES if cap is None else cap
    return CountingReader(opener(path, "rb"), label=label or str(path), cap=cap)


def read_rows(path: Path, *, not_utf8: str = "not UTF-8 text") -> tuple[pd.DataFrame, Lines]:
    """Every row of the UTF-8 CSV ``path`` as text (blank lines kept, as empty rows) and
    where each lies; a missing, empty, undecodable (``not_utf8``) or unparsable file is a
    one-line :class:`InputFileError`."""
    if not path.is_file():
        raise InputFileError(path, "no such file" if not path.exists() else "not a file")
    try:
        with open_counted(path) as stream:
            frame = pd.read_csv(
                stream, dtype=str, keep_default_na=False, skip_blank_lines=False,
                encoding="utf-8-sig",
            )  # fmt: skip
        return frame, place_rows(frame, stream.lines, label=str(path))
    except UnicodeDecodeError:
        raise InputFileError(path, not_utf8) from None
    except pd.errors.EmptyDataError:
        raise InputFileError(path, "the file is empty") from None
    except (pd.errors.ParserError, OSError, EOFError, zlib.error) as exc:
        raise InputFileError(path, f"not a readable CSV ({str(exc).splitlines()[0]})") from None


@dataclass
class Lines:
    """Where the rows of one file lie: ``source_row`` (first physical line of each row),
    ``row_lines`` (lines it spans), ``blank`` (rows that are blank lines), and the totals."""

    source_row: np.ndarray
    row_lines: np.ndarray
    blank: np.ndarray
    lines_read: int
    header_lines: int

    @property
    def blank_lines(self) -> int:
        return int(self.blank.sum())


def place_rows(frame: pd.DataFrame, lines_read: int, *, label: str) -> Lines:
    """Each row's first physical line and line count, from the line breaks inside its fields.

    ``frame`` was read with ``skip_blank_lines=False`` and ``dtype=str``: a blank line is a row
    of empty fields (a row of commas only is taken for one too: it holds nothing).
    """
    n = len(frame)
    header_lines = 1 + sum(str(c).count("\n") + str(c).count("\r") for c in frame.columns)
    row_lines = np.ones(n, dtype=np.int64)
    if lines_read != header_lines + n:  # some field holds a line break: find them
        for column in frame.columns:
            values = frame[column]
            has = values.str.contains("\r|\n", na=False)
            if has.any():
                row_lines[has.to_numpy()] += values[has].str.count(_BREAKS).to_numpy()
    source_row = header_lines + 1 + np.concatenate(([0], np.cumsum(row_lines)[:-1]))[:n]
    empty = frame.fillna("").eq("").all(axis=1).to_numpy() & (row_lines == 1)
    total = header_lines + int(row_lines.sum())
    if total != lines_read:
        raise InputFileError(
            label,
            f"{lines_read} physical lines, but the header and rows account for {total}: "
            "the CSV has a construct psa_geo cannot place",
        )
    return Lines(source_row, row_lines, empty, lines_read, header_lines)


def line_break_rows(
    frame: pd.DataFrame, lines: Lines, used: list[str], *, delimiter: str = ","
) -> tuple[np.ndarray, np.ndarray]:
    """Rows to reject: (``line_break_in_field`` mask, ``unclosed_quote`` mask).

    A line break inside a column psa_geo uses rejects the row; one inside any other column is
    accepted (legal CSV), unless a line of the field holds as many delimiters as a whole row:
    then a quote was left open and the field swallowed the rows after it (``unclosed_quote``).
    """
    n = len(frame)
    multi = lines.row_lines > 1
    in_used = np.zeros(n, dtype=bool)
    swallowed = np.zeros(n, dtype=bool)
    if not multi.any():
        return in_used, swallowed
    width = len(frame.columns) - 1
    rows = np.flatnonzero(multi)
    sub = frame.iloc[rows]
    for column in frame.columns:
        values = sub[column]
        has = values.str.contains("\r|\n", na=False).to_numpy()
        if not has.any():
            continue
        if column in used:
            in_used[rows[has]] = True
        full = values[has].map(
            lambda text: any(part.count(delimiter) >= width for part in str(text).splitlines()[1:])
        )
        swallowed[rows[has][full.to_numpy(dtype=bool)]] = True
    return in_used & ~swallowed, swallowed


def located_rows(
    frame: pd.DataFrame, lines: Lines, used: list[str], *, source_file: str
) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows of ``frame`` that are not blank lines, with ``source_file`` and
    ``source_row`` added, and each row's line reason: ``"unclosed_quote"``,
    ``"line_break_in_field"`` (a line break in a column of ``used``) or ``""``."""
    in_field, swallowed = line_break_rows(frame, lines, used)
    reasons = np.where(swallowed, "unclosed_quote", np.where(in_field, "line_break_in_field", ""))
    keep = ~lines.blank
    rows = frame.assign(source_file=source_file, source_row=lines.source_row)
    return rows[keep], reasons[keep]
