"""The command line, run as a user runs it: in a subprocess, on the real data."""

import json
import os
import subprocess
import sys

import pandas as pd
import pyogrio
import pytest

from psa_geo.cli import main
from psa_geo.measures import ALL_CRIME


def run(*args, cwd=None, env=None):
    return subprocess.run(
        [sys.executable, "-m", "psa_geo", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


@pytest.mark.data
def test_build_writes_every_output(built):
    out, result = built
    for name in (
        "index.html",
        "peninsula_map.html",
        "psa_geo_rates.gpkg",
        "run_report.json",
        "rejected_rows.csv",
        "tables/rates_lsoa.csv",
        "tables/rates_csp.csv",
        "tables/rates_lad.csv",
        "tables/rates_ward.csv",
        "tables/rates_peninsula.csv",
        "towns/index.html",
        "towns/penzance.html",
        "towns/penzance_map.html",
        "collisions/index.html",
        "collisions/collision_map.html",
        "collisions/casualties_by_csp.csv",
        "a38/index.html",
        "rough_sleeping/index.html",
        "rough_sleeping/rough_sleeping_snapshot.csv",
        "a38/corridor_map.html",
        "a38/links.gpkg",
    ):
        assert (out / name).is_file(), name
    assert "read police.uk: done in" in result.stderr  # progress lines with timings
    assert 'href="a38/index.html"' in (out / "index.html").read_text(encoding="utf-8")
    assert (out / "peninsula_map.html").stat().st_size < 3_000_000


@pytest.mark.data
def test_run_report_counts_add_up(built):
    out, _ = built
    report = json.loads((out / "run_report.json").read_text())
    ingest = report["sources"]["police_uk"]["ingest"]
    placed = report["sources"]["police_uk"]["assignment"]
    assert ingest["rows_read"] == ingest["accepted"] + ingest["rejected_total"]
    assert ingest["accepted"] == ingest["located"] + ingest["without_location"]
    assert placed["events"] == ingest["accepted"]
    assert (
        placed["events"]
        == placed["inside_area"] + placed["outside_area"] + placed["without_location"]
    )
    assert 0.95 < placed["published_lsoa_agreement_rate"] < 0.99
    assert report["study_period"]["label"] == "2019"  # the latest 12 months: a calendar year
    assert report["comparison_period"]["label"] == "2018"
    assert ingest["months"][0] == "2018-01" and ingest["months"][-1] == "2019-12"


@pytest.mark.data
def test_tables_open_as_excel_would_and_agree_with_the_geopackage(built):
    out, _ = built
    csp = pd.read_csv(out / "tables" / "rates_csp.csv", encoding="utf-8-sig")
    crime = csp[csp["category"] == ALL_CRIME]
    assert len(crime) == 8
    assert set(crime["trend"]) <= {"▲", "▼", "▶"}
    recomputed = 1000 * crime["count"] / crime["population"]
    assert (recomputed - crime["rate_per_1000"]).abs().max() < 0.001
    layers = dict(pyogrio.list_layers(out / "psa_geo_rates.gpkg"))
    assert set(layers) == {"lsoa", "ward", "lad", "csp"}
    gpkg = pyogrio.read_dataframe(out / "psa_geo_rates.gpkg", layer="csp")
    assert gpkg.crs.to_epsg() == 27700
    merged = gpkg.merge(crime, on="area_code")
    assert (merged["all_crime_count"] == merged["count"]).all()
    lsoa = pyogrio.read_dataframe(out / "psa_geo_rates.gpkg", layer="lsoa", read_geometry=False)
    assert len(lsoa) == 1034


@pytest.mark.data
def test_index_links_resolve(built):
    out, _ = built
    html = (out / "index.html").read_text()
    import re

    links = re.findall(r'href="([^"]+)"', html)
    assert "peninsula_map.html" in links and "towns/index.html" in links
    assert "collisions/index.html" in links
    for link in links:
        target, _, fragment = link.partition("#")
        assert (out / target).exists(), link
        if fragment:  # a section of the page: its id is there
            assert f'id="{fragment}"' in (out / target).read_text(encoding="utf-8"), link
    assert "▲" in html or "▼" in html or "▶" in html


@pytest.mark.data
def test_financial_year_option(small_built):
    # build --study 2018/19 --quiet on the cut-down data (every month, a tenth of the rows):
    # the periods and the silence are what is tested.
    out, result = small_built
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""  # --quiet
    pen = pd.read_csv(out / "tables" / "rates_peninsula.csv", encoding="utf-8-sig")
    row = pen[pen["category"] == ALL_CRIME].iloc[0]
    assert row["period"] == "2018/19"
    # 2017/18 is not in the data: no change or trend is claimed.
    assert pd.isna(row["change_pct"]) and "not comparable" in row["trend_word"]


def test_missing_data_is_one_line_naming_the_fetch_command(tmp_path):
    result = run("build", "--data-dir", tmp_path / "empty", "--out", tmp_path / "out")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "psa-geo data fetch" in lines[0] and "Traceback" not in result.stderr


@pytest.mark.data
def test_a_corrupt_crime_file_is_named(mirror, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for sub in ("boundaries", "lookups", "population", "deprivation"):
        (data / sub).symlink_to(mirror / sub)
    (data / "crime").mkdir()
    (data / "crime" / "policeuk_street_devon_cornwall_2018.csv.gz").write_bytes(b"not gzip at all")
    (data / "crime" / "policeuk_street_devon_cornwall_2019.csv.gz").symlink_to(
        mirror / "crime" / "policeuk_street_devon_cornwall_2019.csv.gz"
    )
    result = run("build", "--data-dir", data, "--out", tmp_path / "out", "--quiet")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "policeuk_street_devon_cornwall_2018.csv.gz" in result.stderr


def test_bad_period_is_one_line(tmp_path):
    result = run("build", "--study", "last year", "--data-dir", tmp_path)
    assert result.returncode == 2
    assert "a period looks like" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.data
def test_data_fetch_and_status(mirror, tmp_path):
    data = tmp_path / "raw"
    result = run("data", "status", "--data-dir", data)
    assert result.returncode == 0
    assert "MISSING" in result.stdout and "psa-geo data fetch" in result.stderr
    result = run("data", "fetch", "--data-dir", data, env={"PSA_GEO_MIRROR": str(mirror)})
    assert result.returncode == 0, result.stderr
    assert (data / "crime" / "policeuk_street_devon_cornwall_2019.csv.gz").exists()
    status = run("data", "status", "--data-dir", data)
    line = next(x for x in status.stdout.splitlines() if x.startswith("police_uk_2019"))
    assert "present" in line and "136,145" in line and "2019-01 to 2019-12" in line
    assert "MISSING" not in status.stdout


def test_fetch_without_mirror_says_what_to_do(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PSA_GEO_MIRROR"}
    result = subprocess.run(
        [sys.executable, "-m", "psa_geo", "data", "fetch", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 2 and "--mirror" in result.stderr


def test_fetch_online_skips_mirror_only_datasets_without_network(tmp_path):
    result = run("data", "fetch", "--online", "--only", "master_lookup", "--data-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "mirror" in result.stderr
    assert not any(tmp_path.rglob("*.csv"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("build", "--threshold", "nan"), "argument --threshold: should be a fraction from 0 to 1"),
        (("build", "--threshold", "inf"), "should be a fraction from 0 to 1, got 'inf'"),
        (("build", "--suppress-below", "1"), "should be a whole number from 2 to 1,000, got '1'"),
        (("tables", "--suppress-below", "1e308"), "should be a whole number from 2 to 1,000"),
        (("hotspots", "--area", "Plymouth", "--cell-size", "inf"), "from 1 to 10,000 metres"),
        (("hotspots", "--area", "Plymouth", "--cell-size", "nan"), "got 'nan'"),
        (("hotspots", "--area", "Plymouth", "--cell-size", "-5"), "got '-5'"),
        (("synth", "--source", "drug_litter", "--town", "Truro", "--seed", "-1"), "--seed"),
        (("synth", "--source", "drug_litter", "--town", "Truro", "--n", "0"), "1 to 1,000,000"),
        (("build", "--bogus"), "unrecognized arguments: --bogus"),
    ],
    ids=[
        "threshold-nan",
        "threshold-inf",
        "suppress-1",
        "suppress-huge",
        "cell-inf",
        "cell-nan",
        "cell-negative",
        "seed",
        "n",
        "unknown",
    ],
)
def test_bad_option_values_are_one_line(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        main([*map(str, args), "--data-dir", str(tmp_path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert message in err and err.startswith("psa-geo")


def test_a_bad_option_value_is_one_line_from_the_shell(tmp_path):
    result = run("build", "--threshold", "inf", "--data-dir", tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "psa-geo build: error: argument --threshold: should be a fraction from 0 to 1, "
        "got 'inf' (see 'psa-geo build --help')"
    ]


@pytest.fixture
def cli_logging():
    """main() in this process sets up the psa_geo logger: put it back afterwards."""
    import logging

    logger = logging.getLogger("psa_geo")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


@pytest.mark.parametrize(
    ("text", "encoding", "message"),
    [
        ("group,crime_type\n", "utf-8", "defines no groups"),
        ("group,crime_type\nTheft,Shoplifting\n", "utf-8", "no group 'All crime (excl. ASB)'"),
        (f"group,crime_type\n{ALL_CRIME},Vol à l'étalage\n", "latin-1", "not UTF-8 text"),
        (f"group,crime_type\n{ALL_CRIME},Burglary\n", "utf-16", "not UTF-8 text (it is UTF-16"),
    ],
    ids=["header-only", "no-all-crime", "latin-1", "utf-16"],
)
@pytest.mark.usefixtures("cli_logging")
def test_a_bad_groups_file_is_one_line_before_any_work(
    tmp_path, capsys, cli_logging, text, encoding, message
):
    groups = tmp_path / "groups.csv"
    groups.write_text(text, encoding=encoding)
    args = ["build", "--groups", groups, "--data-dir", tmp_path, "--out", tmp_path / "out"]
    assert main([str(a) for a in args]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"psa-geo: error: {groups}: ") and message in line
    assert not (tmp_path / "out").exists()


@pytest.mark.data
@pytest.mark.parametrize(
    ("text", "encoding", "message"),
    [
        ("town,lsoa_code\nPorthlevén,E01018791\n", "latin-1", "not UTF-8 text (byte 0xe9"),
        ("town,lsoa_code\nTruro,E01018791\n", "utf-16", "not UTF-8 text (it is UTF-16"),
        (
            "town,lsoa_code\nSt Ives,E01018791\nSt. Ives,E01018792\n",
            "utf-8",
            "the towns 'St Ives' and 'St. Ives' would share the file name 'st-ives'",
        ),
    ],
    ids=["latin-1", "utf-16", "st-ives"],
)
@pytest.mark.usefixtures("cli_logging")
def test_a_bad_towns_file_is_one_line(
    mirror, tmp_path, capsys, cli_logging, text, encoding, message
):
    towns = tmp_path / "towns.csv"
    towns.write_text(text, encoding=encoding)
    args = ["profile", "--all", "--towns", towns, "--data-dir", mirror, "--out", tmp_path / "out"]
    assert main([*map(str, args), "--quiet"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"psa-geo: error: {towns}: ") and message in line
