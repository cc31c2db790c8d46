"""Shared fixtures: the real data mirror (../shared/data) and tiny geometry."""

from __future__ import annotations

import atexit
import csv
import io
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from browser_support import require

import psa_geo
from psa_geo.site import MARKER

REPO = Path(__file__).resolve().parent.parent
# The police.uk cache (psa_geo.cache) of this test session, subprocesses included: never the
# user's ~/.cache.
_CACHE_HOME = tempfile.mkdtemp(prefix="psa_geo_test_cache_")
os.environ["XDG_CACHE_HOME"] = _CACHE_HOME
atexit.register(shutil.rmtree, _CACHE_HOME, ignore_errors=True)


def _mirror() -> Path:
    env = os.environ.get("PSA_GEO_MIRROR")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The real data mirror, used as a data directory (it has the same layout)."""
    path = _mirror()
    ok = (path / "boundaries" / "lsoa2011_devon_cornwall.geojson").exists()
    require(None if ok else f"the data mirror {path} is absent (set PSA_GEO_MIRROR)")
    return path


def csv_line(values) -> str:
    """One CSV record as Python's csv writer quotes it, ending in a line feed."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def write_lines(path: Path, lines) -> Path:
    """Write ``lines`` as they are (no newline translation) to ``path``; returns it."""
    path.write_text("".join(lines), encoding="utf-8", newline="")
    return path


def write_unusable_rows(path: Path) -> Path:
    """A police.uk street file of two rows that are both rejected: a month 13 and a blank
    Crime type."""
    text = "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,"
    text += "LSOA name,Crime type,Last outcome category,Context\n"
    text += "x1,2019-13,Devon & Cornwall Police,Devon & Cornwall Police,,,,,,Burglary,,\n"
    text += "x2,2019-05,Devon & Cornwall Police,Devon & Cornwall Police,-4.1,50.4,,,,,,\n"
    path.write_text(text, encoding="utf-8")
    return path


def run_cli(*args, env=None, timeout=300) -> subprocess.CompletedProcess:
    """``python -m psa_geo ARGS`` in a subprocess, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "psa_geo", *map(str, args)],
        capture_output=True,
        text=True,
        env=env if env is not None else os.environ.copy(),
        timeout=timeout,
    )


def run_cli_together(*commands, timeout=300) -> list[subprocess.CompletedProcess]:
    """:func:`run_cli` of each of ``commands`` (tuples of arguments), all at once, for
    commands that share no output folder: their results, in order."""
    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(lambda args: run_cli(*args, timeout=timeout), commands))


@pytest.fixture(scope="session")
def built(mirror, tmp_path_factory):
    """``psa-geo build`` on the real data: (output folder, completed process)."""
    out = tmp_path_factory.mktemp("maps")
    result = run_cli("build", "--data-dir", mirror, "--out", out)
    assert result.returncode == 0, result.stderr
    return out, result


def make_small_data(mirror: Path, dest: Path, *, every: int = 10) -> Path:
    """A data directory like the mirror with every ``every``-th police.uk row only: each
    dataset folder is linked, except ``crime/``, whose files are cut down under the same
    names (so all 24 months and every CSP are still there, at a tenth of the volume)."""
    dest.mkdir(parents=True, exist_ok=True)
    for folder in mirror.iterdir():
        if folder.is_dir() and folder.name != "crime":
            (dest / folder.name).symlink_to(folder)
    (dest / "crime").mkdir()
    for path in sorted((mirror / "crime").glob("policeuk_street_*.csv.gz")):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frame.iloc[::every].to_csv(dest / "crime" / path.name, index=False)
    return dest


@pytest.fixture(scope="session")
def small_data(mirror, tmp_path_factory) -> Path:
    """A cut-down data directory (:func:`make_small_data`) for builds that tests break or kill,
    and for commands whose tests need every month and crime type but not the full volume;
    read-only by convention: copy it before changing a file."""
    return make_small_data(mirror, tmp_path_factory.mktemp("small_data"))


@pytest.fixture(scope="session")
def small_built(small_data, tmp_path_factory):
    """``psa-geo build --study 2018/19 --quiet`` of :func:`small_data` into a folder holding
    what git keeps in the repository's maps/ (its README.md and the site marker): (output
    folder, completed process). The financial-year test of test_cli reads it and test_site's
    kill tests start from it. Read-only: copy the folder before running a command into it."""
    out = tmp_path_factory.mktemp("small_built") / "maps"
    out.mkdir()
    for name in ("README.md", MARKER):
        shutil.copy2(REPO / "maps" / name, out / name)
    result = run_cli("build", "--data-dir", small_data, "--out", out, "--study", "2018/19",
                     "--quiet")  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out, result


@pytest.fixture(scope="session")
def areas(mirror) -> gpd.GeoDataFrame:
    return psa_geo.load_areas(mirror)


@pytest.fixture(scope="session")
def crime_2019(mirror) -> Path:
    return mirror / "crime" / "policeuk_street_devon_cornwall_2019.csv.gz"


@pytest.fixture(scope="session")
def events_2019(crime_2019):
    return psa_geo.read_police_uk(crime_2019, return_report=True)


@pytest.fixture(scope="session")
def assigned_2019(events_2019, areas):
    return psa_geo.assign_areas(events_2019[0], areas, return_report=True)


@pytest.fixture(scope="session")
def assigned_all(mirror, areas):
    """Every police.uk street file of the mirror (2018 and 2019), read and assigned."""
    files = sorted((mirror / "crime").glob("policeuk_street_devon_cornwall_*.csv.gz"))
    return psa_geo.assign_areas(psa_geo.read_police_uk(files), areas)


def square(x0: float, y0: float, size: float = 100.0) -> shapely.Polygon:
    return shapely.box(x0, y0, x0 + size, y0 + size)


@pytest.fixture
def tiny_areas() -> gpd.GeoDataFrame:
    """Three 100 m squares in a row (A | B | C) in EPSG:27700, two LADs, one CSP each."""
    frame = pd.DataFrame(
        {
            "lsoa_code": ["E01000002", "E01000001", "E01000003"],
            "lsoa_name": ["Town 001B", "Town 001A", "Village 001C"],
            "msoa_code": ["E02000001"] * 3,
            "msoa_name": ["Town 001"] * 3,
            "ward_code": ["E05000001", "E05000001", "E05000002"],
            "ward_name": ["Centre", "Centre", "Rural"],
            "lad_code": ["E06000001", "E06000001", "E06000002"],
            "lad_name": ["Townshire", "Townshire", "Villageshire"],
            "csp_code": ["E22000001", "E22000001", "E22000002"],
            "csp_name": ["Town CSP", "Town CSP", "Village CSP"],
            "population": [1000, 2000, 500],
            "area_km2": [0.01, 0.01, 0.01],
            "imd_rank": [100, 20000, 30000],
            "imd_decile": [1, 7, 10],
        }
    )
    # E01000002 is the left square, E01000001 the middle one, E01000003 the right one.
    geoms = [square(0, 0), square(100, 0), square(200, 0)]
    areas = gpd.GeoDataFrame(frame, geometry=geoms, crs="EPSG:27700")
    areas.attrs["lsoa21_to_lsoa11"] = {
        "E01000001": "E01000001",  # unchanged
        "E01099001": "E01000002",  # a 2021 split of the left square
        "E01099009": None,  # a 2021 merge: the point decides
    }
    return areas


def make_events(points, *, categories=None, dates=None, published=None) -> gpd.GeoDataFrame:
    """A canonical events table from (x, y) tuples (None for an unlocated event)."""
    n = len(points)
    geoms = [shapely.Point(p) if p is not None else shapely.Point() for p in points]
    frame = pd.DataFrame(
        {
            "source": "test",
            "event_id": [f"e{i}" for i in range(n)],
            "date": pd.to_datetime(dates or ["2019-06-01"] * n),
            "date_precision": "month",
            "category": categories or ["Burglary"] * n,
            "weight": 1,
        }
    )
    if published is not None:
        frame["published_lsoa_code"] = published
    return gpd.GeoDataFrame(frame, geometry=geoms, crs="EPSG:27700")
