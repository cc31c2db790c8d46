"""Plain CSVs read block by block (psa_geo._fastcsv): the same frame whatever the blocks,
and a file that stops being plain (or grows past the cap) in a late block is refused."""

from __future__ import annotations

import gzip
import io

import pandas as pd
import pyarrow as pa
import pytest

from psa_geo import _fastcsv


def csv_bytes(n: int, *, late: str = "") -> bytes:
    lines = ["id,word,town"] + [f"{i:08d},w{i % 7},t{(i * 13) % 301}" for i in range(n)]
    if late:
        lines[-1] = late
    return ("\n".join(lines) + "\n").encode()


def read(data: bytes, **options) -> pd.DataFrame:
    return _fastcsv.read_plain(lambda: pa.BufferReader(data), keep_text=("id",), **options)


def small_segments(monkeypatch) -> None:
    """Segments of about 1,000 bytes, read 300 bytes at a time (pyarrow's blocks)."""
    monkeypatch.setattr(_fastcsv, "SEGMENT_BYTES", 1_000)
    monkeypatch.setattr(_fastcsv, "BLOCK_BYTES", 300)


def test_the_frame_is_the_same_whatever_the_blocks(monkeypatch):
    data = csv_bytes(5_000)
    whole = read(data, cap=len(data))
    small_segments(monkeypatch)
    monkeypatch.setattr(_fastcsv, "FOLD_SEGMENTS", 4)  # dictionaries united many times
    pieces = read(data, cap=len(data))
    pd.testing.assert_frame_equal(whole, pieces)
    expected = pd.read_csv(io.BytesIO(data), dtype=str)
    # the categories in order of first appearance, whatever the pieces
    assert list(pieces["town"].cat.categories) == list(expected["town"].unique())
    pd.testing.assert_frame_equal(pieces.astype(str), expected, check_dtype=False)


@pytest.mark.parametrize("late", ['00000001,"w",t1', "00000001,w\x00,t1", "00000001,w",
                                  ",,"])  # fmt: skip
def test_a_late_block_that_is_not_plain_refuses_the_file(monkeypatch, late):
    small_segments(monkeypatch)
    with pytest.raises(_fastcsv.NotPlain):
        read(csv_bytes(5_000, late=late), cap=10**9)


@pytest.mark.parametrize("column", [0, 1], ids=["text-kept", "dictionary-word"])
def test_a_late_byte_that_is_not_utf8_refuses_the_file_and_utf8_is_read(monkeypatch, column):
    small_segments(monkeypatch)
    lines = csv_bytes(5_000).split(b"\n")
    fields = lines[-2].split(b",")
    for accent, ok in ((b"\xc3\xa9", True), (b"\xe9", False), (b"\xc3", False)):
        changed = [*fields[:column], fields[column] + accent, *fields[column + 1 :]]
        data = b"\n".join([*lines[:-2], b",".join(changed), b""])
        if ok:
            assert read(data, cap=10**9).iloc[-1, column] == fields[column].decode() + "\u00e9"
        else:
            with pytest.raises(_fastcsv.NotPlain, match="UTF-8"):
                read(data, cap=10**9)


def test_a_file_larger_than_the_cap_is_refused(monkeypatch):
    small_segments(monkeypatch)
    data = csv_bytes(5_000)
    read(data, cap=len(data))
    with pytest.raises(_fastcsv.NotPlain, match="cap"):
        read(data, cap=len(data) // 2)


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_broken_gzip_is_named_in_one_line(tmp_path, damage):
    from test_police_uk import HEADER, row

    import psa_geo
    from psa_geo.errors import InputFileError

    text = ",".join(HEADER) + "\n" + "".join(",".join(row(crime_id=f"c{i}")) + "\n"
                                               for i in range(20_000))  # fmt: skip
    data = gzip.compress(text.encode())
    cut = len(data) // 2
    data = data[:cut] if damage == "truncated" else data[:100] + b"\xff" * 200 + data[300:]
    path = tmp_path / "2019-01-devon-and-cornwall-street.csv.gz"
    path.write_bytes(data)
    with pytest.raises(InputFileError, match="not a readable CSV") as error:
        psa_geo.read_police_uk(path, use_cache=False)
    assert path.name in str(error.value) and "\n" not in str(error.value)
