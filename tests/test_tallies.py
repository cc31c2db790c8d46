"""Tallies: the tables from events summed file by file equal the tables from all the events."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli, write_unusable_rows

import psa_geo
from psa_geo import tallies as tallies_module
from psa_geo.periods import calendar_year
from psa_geo.police_uk import police_forces
from psa_geo.tallies import TALLY_KEYS


@pytest.fixture(scope="module")
def crime_files(mirror):
    return sorted((mirror / "crime").glob("policeuk_street_devon_cornwall_*.csv.gz"))


@pytest.fixture(scope="module")
def streamed(crime_files, areas):
    # batch_rows=1: each file is a batch of its own, as at national volume
    return psa_geo.tally_police_uk(crime_files, areas, use_cache=False, batch_rows=1)


def test_a_tally_sums_every_event_once_by_its_place_and_month(assigned_all):
    tallies = psa_geo.tally(assigned_all)
    assert tallies["weight"].sum() == len(assigned_all)
    keys = [c for c in TALLY_KEYS if c in tallies]
    assert not tallies.duplicated(keys).any()
    inside = tallies[tallies["area_status"] == "inside"]
    by_lsoa = inside.groupby("lsoa_code")["weight"].sum()
    expected = assigned_all.loc[assigned_all["area_status"] == "inside", "lsoa_code"]
    pd.testing.assert_series_equal(by_lsoa, expected.value_counts().sort_index(),
                                   check_names=False, check_index_type=False)  # fmt: skip
    # the tally of a tally is itself: summing again changes nothing
    pd.testing.assert_frame_equal(psa_geo.tally(tallies), tallies)


def test_a_tally_keeps_the_force_only_of_events_placed_outside(assigned_all):
    tallies = psa_geo.tally(assigned_all)
    outside = tallies["area_status"] == "outside"
    assert outside.any() and (tallies.loc[outside, "falls_within"] != "").all()
    assert (tallies.loc[~outside, "falls_within"] == "").all()
    # events inside said to fall within many forces (as at national volume) add no rows
    forces = police_forces()["name"].to_numpy()
    spread = assigned_all.assign(falls_within=forces[np.arange(len(assigned_all)) % len(forces)])
    spread.loc[spread["area_status"] == "outside", "falls_within"] = assigned_all["falls_within"]
    pd.testing.assert_frame_equal(psa_geo.tally(spread), tallies)


def test_a_running_tally_sums_its_parts_as_one_tally(assigned_all, monkeypatch):
    monkeypatch.setattr(tallies_module, "BATCH_ROWS", -(10**9))  # summed at every part
    running = tallies_module.RunningTally()
    for part in np.array_split(np.arange(len(assigned_all)), 5):
        running.add(psa_geo.tally(assigned_all.iloc[part]))
    assert len(running.parts) == 1
    pd.testing.assert_frame_equal(running.total(), psa_geo.tally(assigned_all))


def test_streamed_tallies_and_reports_equal_those_of_all_events_at_once(
    streamed, crime_files, areas
):
    events, ingest = psa_geo.read_police_uk(crime_files, return_report=True, use_cache=False)
    assigned, placed = psa_geo.assign_areas(events, areas, return_report=True)
    tallies, streamed_ingest, streamed_placed = streamed
    pd.testing.assert_frame_equal(tallies, psa_geo.tally(assigned))
    assert streamed_ingest.to_dict() == ingest.to_dict()
    assert streamed_placed.to_dict() == placed.to_dict()


@pytest.mark.parametrize("level", ["lsoa", "csp", "peninsula"])
def test_rate_tables_from_tallies_equal_those_from_events(streamed, assigned_all, areas, level):
    options = {"level": level, "study": calendar_year(2019), "comparison": calendar_year(2018)}
    from_events = psa_geo.rate_table(assigned_all, areas, **options)
    from_tallies = psa_geo.rate_table(streamed[0], areas, **options)
    pd.testing.assert_frame_equal(from_tallies, from_events)
    series = psa_geo.monthly_series(streamed[0], areas, level=level)
    pd.testing.assert_frame_equal(series, psa_geo.monthly_series(assigned_all, areas, level=level))


def test_streaming_keeps_the_overlap_rule_and_the_rejected_rows(crime_files, areas, tmp_path):
    # the 2019 file twice (under another name): the second copy's months are overlaps
    copy = tmp_path / "again_2019.csv.gz"
    shutil.copy(crime_files[1], copy)
    bad = write_unusable_rows(tmp_path / "bad.csv")
    paths = [crime_files[1], copy, bad]
    _, ingest = psa_geo.read_police_uk(paths, return_report=True, use_cache=False)
    tallies, streamed, _ = psa_geo.tally_police_uk(paths, areas, use_cache=False, batch_rows=1)
    assert streamed.to_dict() == ingest.to_dict()
    pd.testing.assert_frame_equal(streamed.rejected_rows, ingest.rejected_rows)
    assert streamed.rejected["overlapping_file"] == ingest.rows_read - 2 - ingest.accepted
    assert tallies["weight"].sum() == ingest.accepted


def test_an_unknown_engine_is_refused_in_one_line(crime_files, areas):
    with pytest.raises(psa_geo.PsaGeoError, match="engine should be pandas or dask"):
        psa_geo.tally_police_uk(crime_files, areas, engine="spark")


def test_the_tables_command_writes_what_the_build_writes(built, tmp_path, mirror):
    # the tables come from tallies, the build's from the events: the CSVs are the same bytes
    out = tmp_path / "tables_only"
    result = run_cli("tables", "--data-dir", mirror, "--out", out, "--quiet", "--no-cache")
    assert result.returncode == 0, result.stderr
    build_out = built[0]
    names = sorted(p.name for p in (out / "tables").glob("*.csv"))
    assert "rates_lsoa.csv" in names
    for name in names:
        assert (out / "tables" / name).read_bytes() == (build_out / "tables" / name).read_bytes()
