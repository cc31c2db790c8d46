"""The columnar cache of police.uk street files: each file's rows, as parsed, in Parquet.

The first read of a file writes its parsed rows (text columns dictionary-encoded, with where
each row lies in the file) to ``<folder>/police_uk-r<READER_FORMAT>-<sha256>.parquet``, keyed
by the SHA-256 of the file's bytes (a zip member's, decompressed) and :data:`READER_FORMAT`,
not the package version. Later reads of the same bytes load that instead of parsing the CSV;
every check, the events and the report are computed from it as from the CSV. The folder is
``$XDG_CACHE_HOME/psa_geo`` (``~/.cache/psa_geo``) unless given; where it cannot be written
(a read-only mirror or home) the cache is skipped without a word.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import _csvlines, _fastcsv

log = logging.getLogger(__name__)

#: The version of what the reader caches: raise it whenever the parsed rows would differ.
READER_FORMAT = 2  # 2: Longitude and Latitude of plain files as numbers
_HASH_BLOCK = 1024**2
_META = b"psa_geo"


def cache_folder(cache_dir: str | Path | None = None) -> Path:
    """``cache_dir``, else ``$XDG_CACHE_HOME/psa_geo``, else ``~/.cache/psa_geo``."""
    if cache_dir is not None:
        return Path(cache_dir)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "psa_geo"


def content_key(open_bytes: Callable) -> str:
    """The cache key of the bytes ``open_bytes()`` streams: reader format and SHA-256."""
    digest = hashlib.sha256()
    with open_bytes() as stream:
        while block := stream.read(_HASH_BLOCK):
            digest.update(block)
    return f"police_uk-r{READER_FORMAT}-{digest.hexdigest()}"


def cache_path(folder: Path, key: str) -> Path:
    return folder / f"{key}.parquet"


def load_rows(folder: Path, key: str, label: str):
    """The cached (rows, lines, line reasons) of ``key``, ``source_file`` set to ``label``;
    None when not cached or unreadable."""
    path = cache_path(folder, key)
    if not path.is_file():
        return None
    try:
        table = pq.read_table(path).unify_dictionaries()
        meta = json.loads(table.schema.metadata[_META])
    except (OSError, pa.ArrowException, KeyError, ValueError) as exc:
        log.info("police.uk cache %s unreadable (%s): reading the file", path, exc)
        return None
    columns = {name: _fastcsv.column_values(table.column(name)) for name in table.column_names}
    line = columns.pop("_line").to_numpy(dtype=object)
    row_lines = columns.pop("_row_lines").to_numpy(dtype=np.int64)
    n = len(line)
    source = _fastcsv.constant_categorical(label, n)
    rows = {}
    for name, values in columns.items():
        if name == "source_row":
            rows["source_file"] = pd.Series(source)
        rows[name] = values
    frame = pd.DataFrame(rows, copy=False)
    blank = meta["blank_lines"]
    lines = _csvlines.Lines(
        np.r_[frame["source_row"].to_numpy(), np.zeros(blank, dtype=np.int64)],
        np.r_[row_lines, np.ones(blank, dtype=np.int64)],
        np.r_[np.zeros(n, dtype=bool), np.ones(blank, dtype=bool)],
        meta["lines_read"],
        meta["header_lines"],
    )
    log.info("police.uk: %s read from the cache (%s)", label, path.name)
    return frame, lines, line


def save_rows(folder: Path, key: str, rows: pd.DataFrame, lines, line: np.ndarray) -> None:
    """Cache ``rows`` (one file's, as :func:`load_rows` gives them back); skipped without a
    word where the folder cannot be written."""
    frame = rows.drop(columns="source_file").assign(
        _line=pd.Series(line, dtype="str", index=rows.index),
        _row_lines=lines.row_lines[~lines.blank].astype(np.int32),
    )
    meta = {"lines_read": int(lines.lines_read), "header_lines": int(lines.header_lines),
            "blank_lines": int(lines.blank_lines), "reader_format": READER_FORMAT}  # fmt: skip
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = table.replace_schema_metadata({_META: json.dumps(meta)})
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".part", delete=False) as part:
            pass
        try:
            pq.write_table(table, part.name)
            os.replace(part.name, cache_path(folder, key))
        finally:
            Path(part.name).unlink(missing_ok=True)
    except (OSError, pa.ArrowException) as exc:
        log.debug("police.uk cache not written in %s (%s)", folder, exc)


def cached_files(folder: Path) -> list[Path]:
    """The cache files in ``folder`` of this reader format."""
    if not folder.is_dir():
        return []
    return sorted(folder.glob(f"police_uk-r{READER_FORMAT}-*.parquet"))


def cache_status(
    files: list[str], cache_dir: str | Path | None = None, *, use_cache: bool = True,
    force: str | None = None,
) -> str:  # fmt: skip
    """Lines for ``data status``: the cache folder, and which of the police.uk street
    files ``files`` (CSVs, or the ``force``'s members of zips) it holds."""
    if not use_cache:
        return "\npolice.uk cache: not used (--no-cache)"
    from .police_uk import _iter_csvs

    folder = cache_folder(cache_dir)
    held, lines = 0, []
    for path in files:
        with contextlib.suppress(OSError, ValueError, EOFError, zlib.error, zipfile.BadZipFile):
            for label, _, open_bytes in _iter_csvs(path, force=force):
                cached = cache_path(folder, content_key(open_bytes)).is_file()
                held += cached
                lines.append(f"  {'cached' if cached else 'not cached'}: {label}")
    size = sum(p.stat().st_size for p in cached_files(folder)) / 1024**2
    head = (f"\npolice.uk cache: {folder}: {held} of {len(lines)} street files cached "
            f"({len(cached_files(folder))} cache files, {size:.1f} MB)")  # fmt: skip
    return "\n".join([head, *lines])
