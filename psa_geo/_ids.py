"""Event ids from a source's own ids, in Arrow, holding the text once.

An event's id is its source id with the spaces around it stripped, or, where that is blank, a
*fallback id* built from where the row lies (the caller's); the 2nd, 3rd, ... event of an id is
suffixed ``#2``, ``#3``, ... The source ids are kept as they are, blank ones missing.

The two columns share one text buffer: a reader can store each block's fallback ids beneath
its blank (missing) source ids (:func:`hide_fallback_ids`), and then the event ids are the same
buffer with every value shown, the source ids that buffer with the blanks hidden, and only
the repeats (few) are held apart. Anything else (ids with spaces around them, a cached file,
rows filtered out) is built the slower way, with a copy; the values are the same.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.lib.stride_tricks import sliding_window_view

from ._fastcsv import text_bytes, text_offsets

#: How many threads work on the chunks (one per file, as read) at once.
THREADS = 2
#: Beyond this many repeats, the event ids are rebuilt in one buffer rather than held in
#: pieces around each repeat.
MAX_PIECES = 1_000
#: Beyond this many distinct id lengths in a block, repeats are found by the text itself
#: (slower, more memory) rather than by a hash of each length's ids.
MAX_LENGTHS = 64
#: How many fallback ids are checked at a time (:func:`_lie_beneath`).
CHECK_ROWS = 65_536
#: At most 2 ** this buckets (8 bytes each) sort out the ids that may repeat (:func:`_repeated`).
MAX_BUCKET_BITS = 20

Fallback = Callable[[np.ndarray], pa.Array]
"""Given positions (in the block or column), the fallback ids of those rows."""


def hide_fallback_ids(ids: pa.Array, fallback: Fallback) -> pa.Array:
    """``ids`` (large_string, none missing) with each empty one missing and its fallback id
    stored beneath; ``ids`` as they are if none is empty or one may have spaces around it."""
    offsets = text_offsets(ids)
    blank = offsets[1:] == offsets[:-1]
    if not blank.any() or _maybe_padded(ids, offsets, ~blank).any():
        return ids
    where = np.flatnonzero(blank)
    filled = pc.replace_with_mask(ids, pa.array(blank), fallback(where))
    return _with_valid(filled, ~blank)


def event_ids(
    ids: pa.ChunkedArray, fallback: Fallback
) -> tuple[pa.ChunkedArray, pa.ChunkedArray, int]:
    """The event ids of the source ids ``ids`` (large_string; missing = blank), the source
    ids as they are with the empty ones missing (see the module docstring), and how many
    event ids are numbered repeats."""
    starts = np.cumsum([0, *(len(chunk) for chunk in ids.chunks)])

    def chunk_ids(chunk: pa.Array, start: int) -> tuple[pa.Array, pa.Array]:
        return _chunk_ids(chunk, lambda where: fallback(where + start))

    with ThreadPoolExecutor(THREADS) as pool:  # Arrow and numpy let go of the GIL
        done = list(pool.map(chunk_ids, ids.chunks, starts[:-1]))
    events = pa.chunked_array([event for event, _ in done], pa.large_string())
    sources = pa.chunked_array([source for _, source in done], pa.large_string())
    rows, numbers = repeats(events)
    if len(rows):
        events = _numbered(events, rows, numbers)
    return events, sources, len(rows)


def _chunk_ids(chunk: pa.Array, fallback: Fallback) -> tuple[pa.Array, pa.Array]:
    """One chunk's (event ids before numbering, source ids with blanks missing)."""
    missing = chunk.is_null().to_numpy(zero_copy_only=False)
    shown = _with_valid(chunk, None)
    offsets = text_offsets(shown)
    empty = offsets[1:] == offsets[:-1]
    padded = _maybe_padded(shown, offsets, ~missing & ~empty).any()
    if padded:
        text = pc.fill_null(chunk, "")
        stripped = pc.utf8_trim_whitespace(text)
        blank = _lengths(stripped) == 0
        source = _with_valid(text, _lengths(text) > 0)
    else:
        stripped, blank = shown, missing | empty
        source = chunk if (blank == missing).all() else _with_valid(shown, ~blank)
    if not blank.any():
        return stripped, source
    where = np.flatnonzero(blank)
    if not padded and missing[where].all() and _lie_beneath(shown, where, fallback):
        return shown, source
    return pc.replace_with_mask(stripped, pa.array(blank), fallback(where)), source


def _lie_beneath(shown: pa.Array, where: np.ndarray, fallback: Fallback) -> bool:
    """Whether the fallback ids of the rows ``where`` are the text of ``shown`` there
    (compared :data:`CHECK_ROWS` rows at a time, so that little text is held apart)."""
    for start in range(0, len(where), CHECK_ROWS):
        rows = where[start : start + CHECK_ROWS]
        if not shown.take(pa.array(rows)).equals(fallback(rows)):
            return False
    return True


def _lengths(values: pa.Array) -> np.ndarray:
    return np.diff(text_offsets(values))


def _maybe_padded(ids: pa.Array, offsets: np.ndarray, which: np.ndarray) -> np.ndarray:
    """Which of the ``which`` rows (none empty) may have spaces around them: their first or
    last byte is ASCII space or control, or not ASCII (exactness is left to
    ``utf8_trim_whitespace``)."""
    data = np.frombuffer(ids.buffers()[2], dtype=np.uint8) if ids.buffers()[2] else None
    if data is None or not which.any():
        return np.zeros(len(which), dtype=bool)
    top = len(data) - 1  # the other rows' positions, kept in the buffer, do not matter
    first, last = data[np.minimum(offsets[:-1], top)], data[np.clip(offsets[1:] - 1, 0, top)]
    first -= np.uint8(0x21)  # bytes 0x00-0x20 and 0x80-0xFF become 0x5F and above
    last -= np.uint8(0x21)
    return ((first >= 0x5F) | (last >= 0x5F)) & which


def _with_valid(values: pa.Array, valid: np.ndarray | None) -> pa.Array:
    """The text array ``values``, sharing its buffers, with ``valid`` rows shown and the rest
    missing (None: all shown)."""
    bitmap, missing = None, 0
    if valid is not None and not valid.all():
        bitmap = pa.array(np.r_[np.ones(values.offset, dtype=bool), valid]).buffers()[1]
        missing = int(len(valid) - valid.sum())
    buffers = [bitmap, *values.buffers()[1:]]
    return pa.Array.from_buffers(values.type, len(values), buffers, missing, values.offset)


def repeats(ids: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``ids`` whose value an earlier row has, in order, and which repeat each
    is (2 for the second). Ids are compared by a 64-bit hash of each length's ids first, and
    the text of only those whose hash repeats."""
    hashes = _hashes(ids)
    candidates = np.arange(len(ids)) if hashes is None else _repeated(hashes)
    if not len(candidates):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    codes, _ = pd.factorize(pd.array(_take(ids, candidates), dtype="str"))
    nth = pd.Series(codes).groupby(codes).cumcount().to_numpy()
    again = nth > 0
    return candidates[again], nth[again] + 1


def _repeated(hashes: np.ndarray) -> np.ndarray:
    """Where the ``hashes`` that occur more than once lie (ascending), found by sorting
    them: only those that share a bucket (of their low bits) with another, where the
    buckets (at most 2 ** :data:`MAX_BUCKET_BITS`) outnumber the hashes twice over."""
    buckets = 1 << min(max(len(hashes).bit_length() + 1, 10), MAX_BUCKET_BITS)
    crowded = None
    if len(hashes) <= buckets // 2:
        bucket = (hashes & np.uint64(buckets - 1)).view(np.int64)
        crowded = np.flatnonzero((np.bincount(bucket, minlength=buckets) > 1)[bucket])
        del bucket
    some = hashes if crowded is None else hashes[crowded]
    ordered = np.sort(some)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]  # sorted
    del ordered
    if not len(repeated):
        return np.zeros(0, dtype=np.int64)
    found = repeated[np.minimum(np.searchsorted(repeated, some), len(repeated) - 1)] == some
    return np.flatnonzero(found) if crowded is None else crowded[found]


def _take(values: pa.ChunkedArray, rows: np.ndarray) -> pa.Array:
    """``values[rows]`` (``rows`` ascending), taken chunk by chunk (pyarrow's ``take`` of a
    chunked array first concatenates its chunks: a copy of all the text)."""
    starts = np.cumsum([0, *(len(c) for c in values.chunks)])
    chunk_of = np.searchsorted(starts, rows, side="right") - 1
    parts = [values.chunk(k).take(pa.array(rows[chunk_of == k] - starts[k]))
             for k in np.unique(chunk_of)]  # fmt: skip
    return pa.concat_arrays(parts) if parts else pa.array([], values.type)


def _hashes(ids: pa.ChunkedArray) -> np.ndarray | None:
    """A 64-bit hash of each id (none missing); None if a chunk has too many lengths. The
    chunks (one per file, as read) are hashed in threads: numpy lets go of the GIL."""
    out = np.empty(len(ids), dtype=np.uint64)
    starts = np.cumsum([0, *(len(chunk) for chunk in ids.chunks)])
    outs = [out[start:end] for start, end in itertools.pairwise(starts)]
    with ThreadPoolExecutor(THREADS) as pool:
        done = list(pool.map(_chunk_hashes, ids.chunks, outs))
    return out if all(done) else None


def _chunk_hashes(chunk: pa.Array, out: np.ndarray) -> bool:
    """Write the hash of each id of ``chunk`` to ``out``; False if it has too many lengths."""
    offsets = text_offsets(chunk)
    lengths = np.diff(offsets)
    data, starts = text_bytes(chunk), offsets[:-1] - offsets[0]
    if not len(lengths) or (lengths == lengths[0]).all():  # the text is a matrix already
        out[:] = _hash_rows(data.reshape(len(chunk), int(lengths[0]) if len(chunk) else 0))
        return True
    order = np.argsort(lengths.astype(np.uint16) if lengths.max() < 1 << 16 else lengths,
                       kind="stable")  # fmt: skip
    ordered = lengths[order]
    bounds = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    if len(bounds) >= MAX_LENGTHS:
        return False
    for group in np.split(order, bounds):  # the rows of each length
        out[group] = _hash_rows(_windows(data, starts[group], int(lengths[group[0]])))
    return True


def _windows(data: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """The ``length`` bytes of ``data`` from each of ``starts``, as the rows of a matrix."""
    if not length:
        return np.zeros((len(starts), 0), dtype=np.uint8)
    return sliding_window_view(data, length)[starts]


_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


def _hash_rows(text: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row of the ``uint8`` matrix ``text`` (splitmix64 over its words)."""
    rows, length = text.shape
    width = -(-length // 8) * 8
    if width != length:
        padded = np.zeros((rows, width), dtype=np.uint8)
        padded[:, :length] = text
        text = padded
    words = np.ascontiguousarray(text).view(np.uint64)
    out = np.full(rows, length, dtype=np.uint64)
    out *= _MIX[0]
    for j in range(words.shape[1]):
        out ^= words[:, j]
        out *= _MIX[1]
        out ^= out >> np.uint64(31)
    out *= _MIX[2]
    out ^= out >> np.uint64(29)
    return out


def _numbered(ids: pa.ChunkedArray, rows: np.ndarray, numbers: np.ndarray) -> pa.ChunkedArray:
    """``ids`` with each of ``rows`` suffixed ``#<number>``: the rest kept in place, in pieces
    around them (or rebuilt, beyond :data:`MAX_PIECES` of them)."""
    kind = pa.large_string()
    texts = pc.binary_join_element_wise(
        _take(ids, rows), pa.array(numbers).cast(kind), pa.scalar("#", kind)
    )
    if len(rows) > MAX_PIECES:
        mask = np.zeros(len(ids), dtype=bool)
        mask[rows] = True
        return pa.chunked_array([pc.replace_with_mask(ids.combine_chunks(), pa.array(mask), texts)])
    pieces, start = [], 0
    for i, row in enumerate(rows.tolist()):
        pieces += ids.slice(start, row - start).chunks
        pieces.append(texts.slice(i, 1))
        start = row + 1
    pieces += ids.slice(start).chunks
    return pa.chunked_array([p for p in pieces if len(p)], kind)
