"""Synthetic example files: seeded, in the documented formats, stamped, following the town."""

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli
from scipy.spatial import cKDTree

import psa_geo
from psa_geo.errors import InputFileError, PsaGeoError
from psa_geo.point_counts import report_counts
from psa_geo.points import SYNTHETIC_STAMP, is_synthetic, read_points
from psa_geo.synth import PROCESS, SYNTH_SOURCES, synth_job, synth_points, write_synth

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def police(events_2019):
    return events_2019[0]


@pytest.fixture(scope="module")
def towns(areas):
    return psa_geo.load_towns(areas=areas)


def make(areas, police, source, *, seed=1, town="Penzance", **options):
    return synth_points(areas, police, source=source, town=town, seed=seed, **options)


@pytest.mark.parametrize("source", SYNTH_SOURCES)
def test_same_seed_same_rows(areas, police, source):
    first, again = make(areas, police, source), make(areas, police, source)
    pd.testing.assert_frame_equal(first, again)
    assert first.attrs["synth"]["seed"] == 1
    assert first.attrs["synth"]["process"] == PROCESS[source]
    if source != "needle_bins":  # bins are the busiest real places, whatever the seed
        assert not first.equals(make(areas, police, source, seed=2))


@pytest.mark.parametrize("source", SYNTH_SOURCES)
def test_files_read_back_without_rejections_and_stamped(tmp_path, areas, police, towns, source):
    rows = make(areas, police, source)
    csv_path, readme = write_synth(rows, tmp_path / f"{source}.csv")
    text = csv_path.read_text(encoding="utf-8-sig").splitlines()
    assert text[0].startswith("synthetic,")
    assert all(line.startswith(SYNTHETIC_STAMP + ",") for line in text[1:])
    assert readme.read_text(encoding="utf-8").startswith("SYNTHETIC EXAMPLE DATA")
    assert "seed: 1" in readme.read_text(encoding="utf-8")
    events, report = read_points(csv_path, source=source, area=areas, return_report=True)
    assert report.rows_read == report.accepted == report.located == len(rows)
    assert not report.rejected and not report.fixed and report.outside_area == 0
    assert report.synthetic and events.attrs["synthetic"] and is_synthetic(events)
    placed = psa_geo.assign_towns(psa_geo.assign_areas(events, areas), towns)
    assert is_synthetic(placed)
    assert (placed["town"] == "Penzance").mean() >= 0.95


def test_default_period_is_the_latest_twelve_months_of_the_crime_data(areas, police):
    info = make(areas, police, "drug_litter").attrs["synth"]
    assert (info["start"], info["end_exclusive"]) == ("2019-01-01", "2020-01-01")


def test_finds_have_a_summer_peak_and_follow_drug_and_asb_places(areas, police):
    rows = make(areas, police, "drug_litter", n=4000, start="2019-01-01", end="2020-01-01")
    month = pd.to_datetime(rows["date"]).dt.month
    summer, winter = month.isin([6, 7, 8]).sum(), month.isin([12, 1, 2]).sum()
    assert summer / winter > 1.6
    assert set(rows["reported_by"]) == {
        "Member of the public", "Outreach team", "Council staff", "Police"
    }  # fmt: skip
    items = rows["items"].astype(int)
    assert items.min() == 1 and items.median() <= 2 and items.max() >= 10
    public = rows["reported_by"] == "Member of the public"
    assert (rows.loc[public, "longitude"] != "").all()
    assert (rows.loc[~public, "easting"] != "").all()
    # 70% of finds are drawn within a few tens of metres of a Drugs or ASB record.
    drugs = police[police["category"].isin(["Drugs", "Anti-social behaviour"])]
    drugs = drugs[~drugs.geometry.is_empty]
    xy = np.column_stack([drugs.geometry.x, drugs.geometry.y])
    grid = rows[~public]
    found = grid[["easting", "northing"]].astype(float).to_numpy()

    near = cKDTree(xy).query(found)[0] <= 120
    assert near.mean() > 0.6


def test_rough_sleeping_reports_repeat_people_at_a_few_places(areas, police):
    rows = make(areas, police, "rough_sleeping")
    ids = rows.loc[rows["person_id"] != "", "person_id"]
    assert ids.value_counts().max() >= 5  # repeat contacts
    assert 0.5 < len(ids) / len(rows) < 0.95
    assert "notes" not in rows and set(rows["people"]) <= {"1", "2"}
    contacts = rows[rows["person_id"] != ""]
    assert (contacts["time"] >= "05:30").all() and (contacts["time"] <= "08:30").all()
    spots = contacts[["easting", "northing"]].astype(float).round(-2).drop_duplicates()
    assert len(spots) <= 30  # clustered: a handful of places with a few metres of scatter


def test_rough_sleeping_counts_from_a_synthetic_file(tmp_path, areas, police):
    path = write_synth(make(areas, police, "rough_sleeping"), tmp_path / "rs.csv")[0]
    events = psa_geo.assign_areas(read_points(path, source="rough_sleeping"), areas)
    table = report_counts(events, areas, level="csp", period="quarter")
    cornwall = table[table["area_name"] == "Cornwall"]
    assert cornwall["reports"].sum() == len(events)
    assert (cornwall["distinct_people"] < cornwall["reports"]).all()
    assert table.loc[table["area_name"] != "Cornwall", "reports"].eq(0).all()
    assert table["synthetic"].eq(SYNTHETIC_STAMP).all() and table.attrs["synthetic"]
    real = report_counts(psa_geo.assign_areas(police, areas), level="csp", period="year")
    assert "synthetic" not in real and not is_synthetic(real)


def test_needle_bins_cover_part_of_the_finds(tmp_path, areas, police):
    finds_path = write_synth(make(areas, police, "drug_litter"), tmp_path / "finds.csv")[0]
    bins_path = write_synth(make(areas, police, "needle_bins", n=4), tmp_path / "bins.csv")[0]
    finds = read_points(finds_path, source="drug_litter")
    bins = read_points(bins_path, source="needle_bins")
    assert bins["bin_id"].tolist() == ["BIN01", "BIN02", "BIN03", "BIN04"]
    coverage = psa_geo.point_counts.finds_near_bins(finds, bins, distance_m=200)
    assert 0 < coverage.share_within_pct < 100
    assert coverage.bins["synthetic"].eq(SYNTHETIC_STAMP).all()


def test_synthetic_and_real_files_are_never_read_together(tmp_path, areas, police):
    fake = write_synth(make(areas, police, "drug_litter"), tmp_path / "fake.csv")[0]
    real = tmp_path / "real.csv"
    real.write_text("date,easting,northing\n2019-01-01,147430,30432\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="synthetic example data"):
        read_points([real, fake], source="drug_litter")


def test_synth_checks_its_inputs(tmp_path, areas, police):
    with pytest.raises(PsaGeoError, match="no town called 'Atlantis'"):
        make(areas, police, "drug_litter", town="Atlantis")
    with pytest.raises(PsaGeoError, match="'source'"):
        make(areas, police, "burglary")
    with pytest.raises(PsaGeoError, match="after 'start'"):
        make(areas, police, "drug_litter", start="2019-06-01", end="2019-01-01")
    with pytest.raises(PsaGeoError, match="synth_points"):
        write_synth(pd.DataFrame({"date": ["2019-01-01"]}), tmp_path / "x.csv")


def test_synth_job_names_the_file(tmp_path, small_data):
    # The cut-down data (a tenth of the police.uk rows) is plenty to place five bins.
    written = synth_job(small_data, tmp_path, source="needle_bins", town="Truro", seed=4)
    assert written[0].name == "synthetic_needle_bins_truro_seed4.csv"
    events = read_points(written[0], source="needle_bins")
    assert events.attrs["synthetic"] and len(events) == 5


def test_cli_synth(tmp_path, small_data):
    """``psa-geo synth`` writes a stamped file that reads back (from the cut-down data)."""
    out = tmp_path / "finds.csv"
    result = run_cli("synth", "--data-dir", small_data, "--source", "drug_litter", "--town",
                     "Penzance", "--seed", "1", "--out", out)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert read_points(out, source="drug_litter").attrs["synthetic"]
