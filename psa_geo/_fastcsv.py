"""Read a plain CSV at the speed of pyarrow's parser, or say that it is not plain.

A *plain* CSV has no quote character, no NUL byte, a header of distinct non-empty
names and no blank or all-empty row: then each physical line is one row, and pyarrow and
pandas read it the same way. Anything else raises :class:`NotPlain`, and the caller reads the
file with pandas as before (psa_geo's line accounting, error messages and rejections).

pyarrow reads the stream itself, in its threads (parsing blocks of :data:`BLOCK_BYTES` while
the next is read), :data:`SEGMENT_BYTES` of whole lines at a time: a real police.uk file is
one segment. Each segment is checked and kept in compact form before the next is read, so
no more than one segment's text and table are held beyond the result: a quote, NUL, missing
value (short row), text that is not UTF-8 or an all-empty row means the file was not plain.
A file larger than the cap is not plain either (pandas then refuses it). Every column but
``keep_text`` and ``numbers`` comes back as a pandas Categorical (its categories in order of
first appearance), so the checks run once per distinct value and the table stays small. A
column of ``numbers`` comes back as float64, NaN where blank; a value that is not a finite
number means the file is not plain (pandas then keeps the text).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

#: How much text (bytes, whole lines) pyarrow reads at a time; its table is kept in compact
#: form before the next segment is read.
SEGMENT_BYTES = 32 * 1024**2
#: How much text pyarrow parses at a time, in each of its threads (and reads at a time).
BLOCK_BYTES = 1024**2
#: After a file of at least this much text, the parser's buffers are given back to the
#: system (they would add to the peak of what follows); after a smaller one they are kept
#: for the next file's parser to reuse. Giving them back after each of the two real files
#: (30 MB each) cost a tenth of their read time, in page faults.
RELEASE_BYTES = 64 * 1024**2
#: Every this many segments, a column's segments are folded into one: their dictionaries
#: united, their text concatenated.
FOLD_SEGMENTS = 8
#: How much of the text is searched for the header line.
HEADER_BYTES = 64 * 1024
_BOM = b"\xef\xbb\xbf"
_DICTIONARY = pa.dictionary(pa.int32(), pa.string())


class NotPlain(Exception):
    """The file is not a plain CSV (see the module docstring): read it with pandas."""


def read_plain(
    open_stream: Callable,
    *,
    cap: int,
    keep_text: tuple[str, ...] = (),
    numbers: tuple[str, ...] = (),
    text_block: Callable[[pa.Array, int], pa.Array] | None = None,
) -> pd.DataFrame:
    """The rows of the CSV that ``open_stream()`` opens (binary; at most ``cap`` bytes).

    Columns are Categoricals of ``str`` categories (in order of first appearance), except
    those of ``keep_text`` (``str``, held as pyarrow arrays) and ``numbers`` (float64, NaN
    where blank). ``text_block(values, first_row)``, where given, is applied to each
    segment of a ``keep_text`` column (``first_row``: the rows before it) and its result is
    kept instead. Each row is one physical line, after the header's.
    Raises NotPlain when the file is not plain (or larger than ``cap``).
    """
    rows = 0
    with open_stream() as stream:
        source = _Source(stream, cap)
        header = source.header()
        types = {name: pa.large_string() if name in keep_text else
                 pa.float64() if name in numbers else _DICTIONARY
                 for name in header}  # fmt: skip
        columns = {name: _Text() if name in keep_text else _Numbers() if name in numbers
                   else _Codes() for name in header}  # fmt: skip
        first = True
        while (segment := source.segment()) is not None:
            table = _parse(segment, header, types, first=first)
            for name, column in zip(header, table.columns, strict=True):
                values = column.combine_chunks()
                if name in keep_text and text_block:
                    values = text_block(values, rows)
                columns[name].add(values)
            rows, first = rows + table.num_rows, False
            del table
            if source.size >= RELEASE_BYTES:  # a large file: its segments' buffers, given back
                pa.default_memory_pool().release_unused()
    if not rows:
        raise NotPlain("no rows")
    frame = pd.DataFrame({name: column.values() for name, column in columns.items()}, copy=False)
    if source.size >= RELEASE_BYTES:
        pa.default_memory_pool().release_unused()  # the parser's buffers, back to the system
    return frame


def _parse(segment, header: list[str], types: dict, *, first: bool) -> pa.Table:
    """The table of one segment (its dictionaries united), checked."""
    try:
        table = pacsv.read_csv(
            segment,
            read_options=pacsv.ReadOptions(
                column_names=header,
                skip_rows=1 if first else 0,
                block_size=BLOCK_BYTES,
                use_threads=True,
            ),
            parse_options=pacsv.ParseOptions(quote_char=False, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                null_values=[""],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=False,  # checked below, per distinct word: a tenth of the parse
            ),
        ).unify_dictionaries()
    except pa.ArrowInvalid as exc:
        raise NotPlain(str(exc)) from None
    _check_utf8(table)
    _check_plain(table)
    return table


class _Source:
    """The bytes of a binary stream, checked as they are read (NotPlain beyond ``cap``
    bytes, or at a quote or NUL byte), handed to pyarrow in segments of whole lines."""

    def __init__(self, stream, cap: int) -> None:
        self.stream, self.cap = stream, cap
        self.size = 0  # bytes read so far
        self.ahead = b""  # bytes read but not yet handed on

    def header(self) -> list[str]:
        """The column names (NotPlain where they are not plain)."""
        self.ahead = self._read(HEADER_BYTES)
        return header_names(self.ahead)

    def segment(self) -> _Segment | None:
        """The next :data:`SEGMENT_BYTES` or so of whole lines (None: the end)."""
        if not self.ahead:
            self.ahead = self._read(BLOCK_BYTES)
        return _Segment(self, SEGMENT_BYTES) if self.ahead else None

    def take(self, n: int) -> bytes:
        """Up to ``n`` bytes, those read ahead first."""
        if not self.ahead:
            return self._read(n)
        data, self.ahead = self.ahead[:n], self.ahead[n:]
        return data

    def _read(self, n: int) -> bytes:
        data = self.stream.read(n)
        self.size += len(data)
        if self.size > self.cap:
            raise NotPlain("larger than the cap")
        if data.find(b'"') >= 0 or data.find(b"\x00") >= 0:
            raise NotPlain("quotes or NUL bytes")
        return data


class _Segment:
    """Whole lines of a :class:`_Source`, ``budget`` bytes of them or a little more, as a
    file for pyarrow to read."""

    closed = False

    def __init__(self, source: _Source, budget: int) -> None:
        self.source, self.budget = source, budget

    def read(self, n: int = -1) -> bytes:
        if self.budget <= 0:
            return b""
        data = self.source.take(n if n >= 0 else BLOCK_BYTES)
        self.budget -= len(data)
        if self.budget <= 0 and data:  # end after the last line break
            end = data.rfind(b"\n") + 1
            if not end:  # none yet: the line goes on
                self.budget = 1
                return data
            self.source.ahead = data[end:] + self.source.ahead
            data = data[:end]
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True


class _Text:
    """A text column read segment by segment (one chunk each)."""

    def __init__(self) -> None:
        self.chunks: list[pa.Array] = []

    def add(self, values: pa.Array) -> None:
        self.chunks.append(values)

    def values(self) -> pd.Series:
        chunks = pa.chunked_array(self.chunks, pa.large_string())
        return pd.Series(pd.array(chunks, dtype="str"), copy=False)


class _Numbers:
    """A number column read segment by segment (blank: NaN), its values gathered in one growing
    buffer (grown in place, not copied again at the end)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def add(self, values: pa.Array) -> None:
        self.data += memoryview(values.fill_null(np.nan).to_numpy()).cast("B")

    def values(self) -> pd.Series:
        return pd.Series(np.frombuffer(self.data, dtype=np.float64), copy=False)


class _Codes:
    """A dictionary column read segment by segment, as a Categorical: every
    :data:`FOLD_SEGMENTS` segments, their dictionaries are united with the words so far
    (which keep their numbers) and the rows' numbers kept in the smallest integer type."""

    def __init__(self) -> None:
        self.words = pa.array([], pa.string())
        self.blocks: list[pa.DictionaryArray] = []
        self.codes: list[np.ndarray] = []

    def add(self, values: pa.DictionaryArray) -> None:
        self.blocks.append(values if values.type == _DICTIONARY else values.cast(_DICTIONARY))
        if len(self.blocks) >= FOLD_SEGMENTS:
            self._fold()

    def _fold(self) -> None:
        known = pa.DictionaryArray.from_arrays(pa.array([], pa.int32()), self.words)
        known, *chunks = pa.chunked_array([known, *self.blocks]).unify_dictionaries().chunks
        self.words, self.blocks = known.dictionary, []
        for chunk in chunks:
            indices = chunk.indices.fill_null(-1) if chunk.null_count else chunk.indices
            self.codes.append(smallest(indices.to_numpy(), top=len(self.words)))

    def values(self) -> pd.Series:
        """The Categorical: the categories (``str``) in order of first appearance; nulls
        missing."""
        self._fold()
        codes = np.concatenate(self.codes) if self.codes else np.zeros(0, dtype=np.int8)
        self.codes = []
        return pd.Series(distinct_categorical(codes, self.words), copy=False)


def _check_utf8(table: pa.Table) -> None:
    """Raise NotPlain if a text value of ``table`` is not UTF-8 (pandas then names the
    file): the words of each dictionary are checked, not every row."""
    for column in table.columns:
        for chunk in column.chunks:
            values = chunk.dictionary if pa.types.is_dictionary(chunk.type) else chunk
            if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
                try:
                    values.validate(full=True)
                except pa.ArrowInvalid:
                    raise NotPlain("not UTF-8") from None


def _check_plain(table: pa.Table) -> None:
    """Raise NotPlain if ``table`` (its dictionaries united) has a missing value (a short
    row) other than a blank number, a number that is not finite (``nan``, ``inf``: left to
    pandas), or an all-empty row."""
    for column in table.columns:
        if not pa.types.is_floating(column.type):
            if column.null_count:
                raise NotPlain("missing values (short rows)")
        elif pc.any(pc.invert(pc.is_finite(column))).as_py():
            raise NotPlain("a number that is not finite")
    empty = np.ones(table.num_rows, dtype=bool)  # the rows empty in every column so far
    text_last = sorted(table.columns, key=lambda c: not pa.types.is_dictionary(c.type))
    for column in text_last:
        if not empty.any():
            return
        if pa.types.is_floating(column.type):
            empty &= column.is_null().to_numpy()
        elif pa.types.is_dictionary(column.type):
            blank = np.flatnonzero(np.diff(text_offsets(column.chunk(0).dictionary)) == 0)
            if not len(blank):
                return
            empty &= np.concatenate([c.indices.to_numpy() == blank[0] for c in column.chunks])
        else:
            empty &= np.concatenate([np.diff(text_offsets(c)) == 0 for c in column.chunks])
    if empty.any():
        raise NotPlain("an all-empty row (a blank line to psa_geo)")


def text_offsets(values: pa.Array) -> np.ndarray:
    """Where each value of the Arrow text array ``values`` starts in its data buffer (and
    the last one ends): ``len(values) + 1`` positions."""
    kind = np.int64 if pa.types.is_large_string(values.type) else np.int32
    offsets = np.frombuffer(values.buffers()[1], dtype=kind)
    return offsets[values.offset : values.offset + len(values) + 1]


def text_bytes(values: pa.Array) -> np.ndarray:
    """The data buffer of the Arrow text array ``values`` (as ``uint8``, no copy), from the
    start of its first value to the end of its last (those of missing values included)."""
    data = values.buffers()[2]
    if data is None or not len(values):
        return np.zeros(0, dtype=np.uint8)
    offsets = text_offsets(values)
    return np.frombuffer(data, dtype=np.uint8)[offsets[0] : offsets[-1]]


def header_names(start: bytes) -> list[str]:
    """The column names on the first line of ``start`` (a plain file's, BOM and CR left
    out); NotPlain where they are not plain."""
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
    """An Arrow column as pandas: a dictionary as a Categorical (:func:`categorical`), text
    as ``str`` (sharing the Arrow buffers), numbers as numbers; nulls missing."""
    if pa.types.is_dictionary(column.type):
        return categorical(column)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return pd.Series(pd.array(column, dtype="str"), copy=False)
    return pd.Series(column.to_numpy(), copy=False)


def categorical(column: pa.ChunkedArray) -> pd.Series:
    """The dictionary column ``column`` as a Categorical: its chunks' dictionaries united
    (the categories, ``str``, in order of first appearance), the codes in the smallest
    integer type; nulls missing."""
    codes = _Codes()
    for chunk in column.chunks:
        codes.add(chunk)
    return codes.values()


def distinct_categorical(codes: np.ndarray, words) -> pd.Categorical:
    """The Categorical of ``codes`` (-1: missing) over ``words`` (text, known to be distinct:
    an Arrow dictionary's, or a subset of a Categorical's categories), without pandas
    checking again that they are distinct (a hash of every word, as Python text: 3 ms for
    22,000 words, several times for each file)."""
    categories = pd.Index(pd.array(words, dtype="str"))
    try:
        dtype = pd.CategoricalDtype._from_fastpath(categories, ordered=False)
    except AttributeError:  # a pandas without it
        dtype = pd.CategoricalDtype(categories, ordered=False)
    return pd.Categorical.from_codes(codes, dtype=dtype, validate=False)


def constant_categorical(value: str, n: int) -> pd.Categorical:
    """``n`` rows of the one ``value``, as a Categorical."""
    return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), pd.Index([value], dtype="str"))


def smallest(codes: np.ndarray, *, top: int | None = None) -> np.ndarray:
    """``codes`` in the smallest integer type that holds them (as pandas would), or that
    holds ``top``."""
    top = (int(codes.max()) if len(codes) else 0) if top is None else top
    for kind in (np.int8, np.int16, np.int32):
        if top <= np.iinfo(kind).max:
            return codes.astype(kind, copy=False)
    return codes
