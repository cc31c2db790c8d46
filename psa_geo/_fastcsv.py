"""Read a plain CSV at the speed of pyarrow's parser, or say that it is not plain.

A *plain* CSV has no quote character, no NUL byte, a header of distinct non-empty
names and no blank or all-empty row: then each physical line is one row, and pyarrow and
pandas read it the same way. Anything else raises :class:`NotPlain`, and the caller reads the
file with pandas as before (psa_geo's line accounting, error messages and rejections).

pyarrow parses the stream block by block, in threads, with quoting turned off: a quote,
NUL, missing value (short row) or all-empty row in the result then means the file was not
plain. A file larger than the cap is not plain either (pandas then refuses it). Every
column but ``keep_text`` comes back dictionary-encoded (a pandas Categorical), so the checks
run once per distinct value and the table stays small.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

#: How much of the file's start is searched for the header line.
HEADER_BYTES = 64 * 1024
_BOM = b"\xef\xbb\xbf"


class NotPlain(Exception):
    """The file is not a plain CSV (see the module docstring): read it with pandas."""


def read_plain(open_stream: Callable, *, cap: int, keep_text: tuple[str, ...] = ()) -> pd.DataFrame:
    """The rows of the CSV that ``open_stream()`` opens (binary; at most ``cap`` bytes).

    Columns are Categoricals of ``str`` categories, except those of ``keep_text`` (``str``).
    Each row is one physical line, after the header's. Raises NotPlain when the file is not
    plain (or larger than ``cap``).
    """
    with open_stream() as stream:
        header = _header(stream.read(HEADER_BYTES))
    dictionary = pa.dictionary(pa.int32(), pa.string())
    types = {name: pa.large_string() if name in keep_text else dictionary for name in header}
    try:
        with open_stream() as stream:
            table = pacsv.read_csv(
                _Capped(stream, cap),
                parse_options=pacsv.ParseOptions(quote_char=False, ignore_empty_lines=False),
                convert_options=pacsv.ConvertOptions(
                    column_types=types,
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                    check_utf8=True,
                ),
            )
    except pa.ArrowInvalid as exc:
        raise NotPlain(str(exc)) from None
    if table.column_names != header or not table.num_rows:
        raise NotPlain("another header, or no rows")
    if any(table.column(name).null_count for name in header):
        raise NotPlain("missing values (short rows)")
    table = table.unify_dictionaries()
    texts = [table.column(name) for name in header]
    texts = [c.chunks[0].dictionary if pa.types.is_dictionary(c.type) else c for c in texts]
    every = pa.chunked_array(
        [c.cast(pa.large_string()) for t in texts for c in getattr(t, "chunks", [t])]
    )
    if any(pc.any(pc.match_substring(every, mark)).as_py() for mark in ('"', "\x00")):
        raise NotPlain("quotes or NUL bytes")
    frame = pd.DataFrame({name: column_values(table.column(name)) for name in header}, copy=False)
    del table, every
    pa.default_memory_pool().release_unused()  # the parser's buffers, back to the system
    if _all_empty_rows(frame).any():
        raise NotPlain("an all-empty row (a blank line to psa_geo)")
    return frame


def _all_empty_rows(frame: pd.DataFrame) -> np.ndarray:
    empty = np.ones(len(frame), dtype=bool)
    for name in frame.columns:
        values = frame[name]
        if isinstance(values.dtype, pd.CategoricalDtype):
            where = values.cat.categories.get_indexer([""])[0]
            if where < 0:
                return np.zeros(len(frame), dtype=bool)
            empty &= values.cat.codes.to_numpy() == where
        else:
            empty &= (values == "").to_numpy()
    return empty


class _Capped(io.RawIOBase):
    """``stream``, refusing (NotPlain) to read beyond ``cap`` bytes."""

    def __init__(self, stream, cap: int) -> None:
        self._stream, self._left = stream, cap

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._stream.read(len(buffer))
        self._left -= len(chunk)
        if self._left < 0:
            raise NotPlain("larger than the cap")
        buffer[: len(chunk)] = chunk
        return len(chunk)


def _header(start: bytes) -> list[str]:
    end = start.find(b"\n")
    if end < 0:
        raise NotPlain("no line break after the header")
    line = start[:end].removeprefix(_BOM).removesuffix(b"\r")
    if b'"' in line or b"\r" in line:
        raise NotPlain("a quoted header")
    try:
        names = line.decode("utf-8").split(",")
    except UnicodeDecodeError:
        raise NotPlain("header not UTF-8") from None
    if "" in names or len(set(names)) != len(names):
        raise NotPlain("empty or repeated column names")
    return names


def column_values(column: pa.ChunkedArray) -> pd.Series:
    """An Arrow column as pandas: a dictionary as a Categorical of ``str`` categories (its
    chunks sharing one dictionary), text as ``str``, numbers as numbers; nulls missing."""
    if pa.types.is_dictionary(column.type):
        chunks = column.chunks
        codes = np.concatenate(
            [c.indices.fill_null(-1).to_numpy(zero_copy_only=False) for c in chunks]
            or [np.zeros(0, dtype=np.int32)]
        )
        words = chunks[0].dictionary.to_pylist() if chunks else []
        categories = pd.Index(words, dtype="str")
        return pd.Series(pd.Categorical.from_codes(smallest(codes), categories, validate=False))
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return pd.Series(pd.array(column, dtype="str"), copy=False)
    return pd.Series(column.to_numpy(), copy=False)


def smallest(codes: np.ndarray) -> np.ndarray:
    """``codes`` in the smallest integer type that holds them (as pandas would)."""
    top = int(codes.max()) if len(codes) else 0
    for kind in (np.int8, np.int16, np.int32):
        if top <= np.iinfo(kind).max:
            return codes.astype(kind, copy=False)
    return codes
