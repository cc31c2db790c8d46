"""The columnar cache of police.uk files (psa_geo.cache): a cached read gives the events and
report of reading the file; it is keyed by the file's content; a folder that cannot be
written is skipped; --no-cache and data status."""

from __future__ import annotations

import gzip
import shutil

import pandas as pd
import pytest
import shapely
from conftest import run_cli_together

import psa_geo
from psa_geo import cache, police_uk


def _cut(crime_2019, path, *, every=25, hostile=False, bad_month=False):
    """Every ``every``-th row of the real 2019 file; ``hostile``: with a quoted line break
    in a used field, a blank line, a bad month and a crime type of spaces too (so pandas,
    not pyarrow, reads it); ``bad_month``: with a row of a bad month whose Longitude is
    written "-4.100000" (the file still plain)."""
    with gzip.open(crime_2019, "rt", encoding="utf-8", newline="") as f:
        header, *rows = f.read().splitlines(keepends=True)
    lines = [header, *rows[::every]]
    if bad_month:
        fields = rows[1].rstrip("\r\n").split(",")
        ending = rows[1][len(rows[1].rstrip("\r\n")) :]
        lines.insert(
            2, ",".join(["x1", "2019-13", *fields[2:4], "-4.100000", *fields[5:]]) + ending
        )
    if hostile:
        fields = rows[1].rstrip("\r\n").split(",")
        lines[2:2] = ["\r\n", ",".join(["x1", "2019-13", *fields[2:]]) + "\r\n",
                      ",".join([*fields[:6], '"On or near\nPark"', *fields[7:]]) + "\r\n",
                      ",".join([*fields[:9], "  ", *fields[10:]]) + "\r\n"]  # fmt: skip
    path.write_text("".join(lines), encoding="utf-8", newline="")
    return path


def _same(a, b) -> None:
    (events_a, report_a), (events_b, report_b) = a, b
    assert list(events_a.columns) == list(events_b.columns)
    assert events_a.index.equals(events_b.index) and events_a.crs == events_b.crs
    for column in events_a.columns.drop("geometry"):  # Series.equals: fast, missing == missing
        a, b = events_a[column], events_b[column]
        assert a.dtype == b.dtype and a.equals(b), column
    wkb_a, wkb_b = (shapely.to_wkb(e.geometry.to_numpy()) for e in (events_a, events_b))
    assert (wkb_a == wkb_b).all()
    assert report_a.to_dict() == report_b.to_dict()
    pd.testing.assert_frame_equal(report_a.rejected_rows, report_b.rejected_rows)


@pytest.mark.data
@pytest.mark.parametrize(
    ("hostile", "bad_month"),
    [(False, False), (False, True), (True, False)],
    ids=["plain-pyarrow", "plain-pyarrow-rejected", "quoted-pandas"],
)
def test_a_cached_read_gives_the_events_and_report_of_the_file(
    crime_2019, tmp_path, monkeypatch, hostile, bad_month
):
    path = _cut(crime_2019, tmp_path / "2019-devon-and-cornwall-street.csv", hostile=hostile,
                bad_month=bad_month)  # fmt: skip
    folder = tmp_path / "cache"
    uncached = psa_geo.read_police_uk(path, return_report=True, use_cache=False)
    assert not folder.exists()
    first = psa_geo.read_police_uk(path, return_report=True, cache_dir=folder)
    assert len(cache.cached_files(folder)) == 1

    def no_parsing(*args):
        raise AssertionError("the file was parsed, not read from the cache")

    monkeypatch.setattr(police_uk, "_read_rows", no_parsing)
    again = psa_geo.read_police_uk(path, return_report=True, cache_dir=folder)
    _same(uncached, first)
    _same(uncached, again)
    report = again[1]
    assert report.rows_read == len(again[0]) + sum(report.rejected.values()) > 5_000
    if hostile:
        assert report.rejected == {"bad_month": 1, "line_break_in_field": 1,
                                   "missing_crime_type": 1}  # fmt: skip
        assert report.blank_lines == 1
    if bad_month:  # its coordinates read as numbers, and again as written for the rejected row
        assert report.rejected == {"bad_month": 1}
        assert report.rejected_rows["Longitude"].tolist() == ["-4.100000"]


@pytest.mark.data
def test_the_key_is_the_content_and_the_reader_format(crime_2019, tmp_path):
    folder = tmp_path / "cache"
    one = _cut(crime_2019, tmp_path / "one.csv")
    two = tmp_path / "two.csv"
    shutil.copyfile(one, two)
    psa_geo.read_police_uk(one, cache_dir=folder)
    events = psa_geo.read_police_uk(two, cache_dir=folder)  # the same bytes: one entry
    assert [p.name.split("-")[1] for p in cache.cached_files(folder)] == [f"r{cache.READER_FORMAT}"]
    assert set(events["source_file"]) == {str(two)}  # named as read, not as cached
    two.write_text(two.read_text(encoding="utf-8")[:-200], encoding="utf-8")
    psa_geo.read_police_uk(two, cache_dir=folder)
    assert len(cache.cached_files(folder)) == 2


@pytest.mark.data
def test_a_cache_folder_that_cannot_be_written_is_skipped(crime_2019, tmp_path):
    path = _cut(crime_2019, tmp_path / "a.csv", every=50)
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("", encoding="utf-8")
    read = psa_geo.read_police_uk(path, return_report=True, cache_dir=blocker / "cache")
    _same(psa_geo.read_police_uk(path, return_report=True, use_cache=False), read)


@pytest.mark.data
def test_the_read_only_mirror_is_read_with_the_cache_in_xdg_cache_home(
    mirror, crime_2019, events_2019, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    before = sorted(p.name for p in crime_2019.parent.iterdir())
    read = psa_geo.read_police_uk(crime_2019, return_report=True)
    assert len(cache.cached_files(tmp_path / "xdg" / "psa_geo")) == 1
    assert sorted(p.name for p in crime_2019.parent.iterdir()) == before
    _same(events_2019, read)


@pytest.mark.data
def test_data_status_shows_what_is_cached_and_no_cache_bypasses_it(crime_2019, tmp_path):
    crime = tmp_path / "data" / "crime"
    crime.mkdir(parents=True)
    read = _cut(crime_2019, crime / "read.csv", every=50)
    unread = _cut(crime_2019, crime / "unread.csv", every=51)
    folder = tmp_path / "cache"
    psa_geo.read_police_uk(read, cache_dir=folder)
    status, bypassed = run_cli_together(
        ("data", "status", "--data-dir", tmp_path / "data", "--cache-dir", folder),
        ("data", "status", "--data-dir", tmp_path / "data", "--no-cache"),
    )
    assert status.returncode == 0, status.stderr
    assert f"police.uk cache: {folder}: 1 of 2 street files cached" in status.stdout
    assert f"  cached: {read}\n" in status.stdout
    assert f"  not cached: {unread}\n" in status.stdout
    assert "police.uk cache: not used (--no-cache)" in bypassed.stdout
