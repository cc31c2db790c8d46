"""The Dask engine (psa_geo.dask_engine): the tally and reports of the pandas engine, from
partitions that a warm run reuses without parsing; the tables command's CSVs; a scheduler
that nobody runs; no engine for the build."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
from conftest import run_cli, write_unusable_rows

import psa_geo
from psa_geo import cache, dask_engine

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def scheduler():
    """The address of the module's one cluster: the engine's default local cluster (a worker
    per core), which every test then reaches by its address, as a remote one."""
    with dask_engine.dask_client() as client:
        yield client.scheduler.address


@pytest.fixture(scope="module")
def crime_files(mirror):
    return sorted((mirror / "crime").glob("policeuk_street_devon_cornwall_*.csv.gz"))


@pytest.fixture(scope="module")
def by_pandas(crime_files, areas):
    return psa_geo.tally_police_uk(crime_files, areas, use_cache=False)


def _same(got, expected) -> None:
    """The same tally, read report (rejected rows too) and assignment report."""
    pd.testing.assert_frame_equal(got[0], expected[0])
    assert got[1].to_dict() == expected[1].to_dict()
    pd.testing.assert_frame_equal(got[1].rejected_rows, expected[1].rejected_rows)
    assert got[2].to_dict() == expected[2].to_dict()


def _files(folder):
    return {p.name: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_the_real_files_tally_as_by_pandas_and_a_warm_run_parses_nothing(
    crime_files, areas, by_pandas, scheduler, tmp_path
):
    folder = tmp_path / "cache"
    cold = psa_geo.tally_police_uk(crime_files, areas, engine="dask", scheduler=scheduler,
                                   cache_dir=folder)  # fmt: skip
    _same(cold, by_pandas)
    tallies, ingest, placed = cold
    assert tallies["weight"].sum() == ingest.accepted == placed.events == 281_720
    parts = sorted(p.name for p in (folder / "dask-e1").glob("*.parquet"))
    assert len(parts) == 2 and all(name.startswith("police_uk-r") for name in parts)
    # parsing writes the columnar cache: without it, a run that parsed would write it again
    for path in cache.cached_files(folder):
        path.unlink()
    before = _files(folder)
    warm = psa_geo.tally_police_uk(crime_files, areas, engine="dask", scheduler=scheduler,
                                   cache_dir=folder)  # fmt: skip
    _same(warm, by_pandas)
    assert cache.cached_files(folder) == []
    assert _files(folder) == before  # no partition or summary written again


def _cut(crime_2019, path, *, every, months, duplicate=(), bad_row=False):
    """Every ``every``-th row of the real 2019 file in ``months``; the first row of each
    month of ``duplicate`` twice more (a repeated Crime ID); ``bad_row``: a row of month
    2019-13 in the middle."""
    with gzip.open(crime_2019, "rt", encoding="utf-8", newline="") as f:
        header, *rows = f.read().splitlines(keepends=True)
    kept = [row for row in rows[::every] if row.split(",")[1] in months]
    for month in duplicate:
        kept.append(next(r for r in kept if r.split(",")[1] == month and r.split(",")[0]))
    if bad_row:
        fields = kept[0].split(",")
        kept.insert(len(kept) // 2, ",".join([fields[0], "2019-13", *fields[2:]]))
    path.write_text("".join([header, *kept]), encoding="utf-8", newline="")
    return path


@pytest.mark.parametrize("use_cache", [False, True], ids=["no-cache", "cache"])
def test_overlaps_and_rejected_rows_are_reported_as_by_pandas(
    crime_2019, areas, scheduler, tmp_path, use_cache
):
    first_half = [f"2019-{m:02d}" for m in range(1, 7)]
    from_april = [f"2019-{m:02d}" for m in range(4, 13)]
    early = _cut(crime_2019, tmp_path / "early.csv", every=9, months=first_half)
    # April to June overlap the early file; the Crime ID repeated in May goes with them
    late = _cut(crime_2019, tmp_path / "late.csv", every=11, months=from_april,
                duplicate=("2019-05", "2019-08"), bad_row=True)  # fmt: skip
    copy = tmp_path / "copy_of_early.csv"  # the same bytes: one partition in the cache
    shutil.copyfile(early, copy)
    bad = write_unusable_rows(tmp_path / "bad.csv")
    paths = [early, late, copy, bad]
    expected = psa_geo.tally_police_uk(paths, areas, use_cache=False)
    options = {"cache_dir": tmp_path / "cache"} if use_cache else {"use_cache": False}
    got = psa_geo.tally_police_uk(paths, areas, engine="dask", scheduler=scheduler, **options)
    _same(got, expected)
    ingest = got[1]
    assert [(o["file"], o["month"]) for o in ingest.overlaps] == [
        *((str(late), m) for m in first_half[3:]),
        *((str(copy), m) for m in first_half),
    ]
    assert ingest.rejected == {"bad_month": 2, "missing_crime_type": 1,
                               "overlapping_file": ingest.rejected["overlapping_file"]}  # fmt: skip
    assert "1 rows repeat a Crime ID" in " ".join(ingest.notes)  # August's; May's was skipped
    assert got[0]["weight"].sum() == ingest.accepted
    if use_cache:  # again, from the partitions and their rejected rows
        assert len(list((tmp_path / "cache" / "dask-e1").glob("*.json"))) == 3
        _same(psa_geo.tally_police_uk(paths, areas, engine="dask", scheduler=scheduler,
                                      **options), expected)  # fmt: skip


def test_a_crime_id_repeated_in_another_file_is_counted_within_its_file_only(
    crime_2019, areas, scheduler, tmp_path
):
    # the documented difference: the pandas engine counts repeats within a batch of files
    early = _cut(crime_2019, tmp_path / "early.csv", every=13, months=["2019-01", "2019-02"])
    late = _cut(crime_2019, tmp_path / "late.csv", every=13, months=["2019-03"])
    row = next(r for r in early.read_text(encoding="utf-8").splitlines()[1:] if r[0] != ",")
    fields = row.split(",")
    with late.open("a", encoding="utf-8") as f:
        f.write(",".join([fields[0], "2019-03", *fields[2:]]) + "\n")
    expected = psa_geo.tally_police_uk([early, late], areas, use_cache=False)
    got = psa_geo.tally_police_uk([early, late], areas, engine="dask", scheduler=scheduler,
                                  use_cache=False)  # fmt: skip
    pd.testing.assert_frame_equal(got[0], expected[0])
    assert got[2].to_dict() == expected[2].to_dict()
    without_notes = [{**report.to_dict(), "notes": None} for report in (got[1], expected[1])]
    assert without_notes[0] == without_notes[1]
    repeats = [
        [n for n in report.notes if "repeat a Crime ID" in n] for report in (got[1], expected[1])
    ]
    assert repeats == [[], ["1 rows repeat a Crime ID already read: kept as distinct events, "
                            "their event_id suffixed #2, #3, ..."]]  # fmt: skip


def test_zip_members_are_read_by_the_workers_and_a_bad_file_is_named_as_by_pandas(
    crime_2019, areas, scheduler, tmp_path
):
    archive = tmp_path / "2019-03.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for month in ("2019-01", "2019-02"):
            cut = _cut(crime_2019, tmp_path / f"{month}.csv", every=17, months=[month])
            z.write(cut, f"{month}/{month}-devon-and-cornwall-street.csv")
        z.writestr("2019-01/2019-01-avon-and-somerset-street.csv", "not read: another force")
    options = {"force": "devon-and-cornwall", "use_cache": False}
    expected = psa_geo.tally_police_uk([archive], areas, **options)
    got = psa_geo.tally_police_uk([archive], areas, engine="dask", scheduler=scheduler, **options)
    _same(got, expected)
    assert [f.rpartition("!")[2] for f in got[1].files] == [
        "2019-01/2019-01-devon-and-cornwall-street.csv",
        "2019-02/2019-02-devon-and-cornwall-street.csv",
    ]
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("Crime ID,Month\nx1,2019-01\n", encoding="utf-8")
    with pytest.raises(psa_geo.InputFileError) as by_pandas:
        psa_geo.tally_police_uk([archive, wrong], areas, **options)
    with pytest.raises(psa_geo.InputFileError) as by_dask:
        psa_geo.tally_police_uk([archive, wrong], areas, engine="dask", scheduler=scheduler,
                                **options)  # fmt: skip
    assert str(by_dask.value) == str(by_pandas.value)
    assert by_dask.value.path == str(wrong) and "missing columns" in by_dask.value.problem


def test_the_tables_command_on_dask_writes_the_pandas_engines_tables(mirror, scheduler, tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}
    # Two groups, not the assessment's fifteen, to keep the test quick: the tables are the
    # same functions of the tallies either way, and the tallies are compared in full above.
    all_crime = psa_geo.load_crime_groups()["All crime (excl. ASB)"]
    rows = [("All crime (excl. ASB)", c) for c in all_crime] + [("Anti-social behaviour",) * 2]
    groups = tmp_path / "groups.csv"
    pd.DataFrame(rows, columns=["group", "crime_type"]).to_csv(groups, index=False)
    common = ("tables", "--data-dir", mirror, "--quiet", "--no-cache", "--groups", groups)
    with ThreadPoolExecutor(2) as pool:  # both at once
        by_pandas, by_dask = pool.map(
            lambda args: run_cli(*common, *args, env=env),
            [
                ("--out", tmp_path / "pandas"),
                ("--out", tmp_path / "dask", "--engine", "dask", "--scheduler", scheduler),
            ],
        )
    assert by_pandas.returncode == 0, by_pandas.stderr
    assert by_dask.returncode == 0, by_dask.stderr
    names = sorted(p.name for p in (tmp_path / "pandas" / "tables").glob("*.csv"))
    assert {"rates_csp.csv", "rates_lsoa.csv"} <= set(names)
    assert sorted(p.name for p in (tmp_path / "dask" / "tables").glob("*.csv")) == names
    for name in names:
        dask_bytes = (tmp_path / "dask" / "tables" / name).read_bytes()
        assert dask_bytes == (tmp_path / "pandas" / "tables" / name).read_bytes(), name
    assert not list(temp.glob("psa_geo_dask_*"))  # the partitions' temporary folder, deleted
    # each run report says which engine counted police.uk
    engines = [json.loads((tmp_path / run / "run_report.json").read_text())["engine"]
               for run in ("pandas", "dask")]  # fmt: skip
    assert engines == ["pandas", f"dask ({scheduler})"]


def test_a_scheduler_nobody_runs_is_one_line_and_exit_2(mirror, tmp_path):
    with socket.socket() as probe:  # a port free now, that nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}
    address = f"tcp://127.0.0.1:{port}"
    done = run_cli("tables", "--data-dir", mirror, "--out", tmp_path / "out", "--quiet",
                   "--engine", "dask", "--scheduler", address, env=env)  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"psa-geo: error: cannot connect to the Dask scheduler at {address}")
    assert not (tmp_path / "out").exists()


def test_the_build_has_no_engine_and_a_scheduler_needs_dask(mirror, crime_files, areas, tmp_path):
    done = run_cli("build", "--data-dir", mirror, "--out", tmp_path / "out", "--engine", "dask")
    assert done.returncode == 2 and "unrecognized arguments: --engine dask" in done.stderr
    with pytest.raises(psa_geo.PsaGeoError, match="builds the tables only"):
        psa_geo.build_study(mirror, tmp_path / "out", engine="dask")
    with pytest.raises(psa_geo.PsaGeoError, match="is for engine 'dask', not 'pandas'"):
        psa_geo.tally_police_uk(crime_files, areas, scheduler="tcp://127.0.0.1:8786")
