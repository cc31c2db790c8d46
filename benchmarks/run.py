"""Benchmarks: `psa-geo build` on the real 24 months, and point-in-LSOA throughput.

Run from the repository root (prints figures; asserts nothing):

    .venv/bin/python benchmarks/run.py [--mirror ../shared/data] [--points 1000000]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

import psa_geo

REPO = Path(__file__).resolve().parent.parent


def bench_build(mirror: Path) -> None:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "psa_geo",
                "build",
                "--data-dir",
                str(mirror),
                "--out",
                out,
                "--quiet",
            ],
            check=True,
        )
        wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"psa-geo build (24 months, 281,720 rows): wall {wall:.1f} s, peak RSS {peak_mb:.0f} MB")


def bench_assign(mirror: Path, n: int, seed: int) -> None:
    areas = psa_geo.load_areas(mirror)
    events = psa_geo.read_police_uk(sorted((mirror / "crime").glob("policeuk_street_*.csv.gz")))
    located = events.geometry[~events.geometry.is_empty]
    xy = shapely.get_coordinates(located.to_numpy())
    rng = np.random.default_rng(seed)
    # Real snap points, resampled and jittered by 200 m: the density of real crime.
    sample = xy[rng.integers(0, len(xy), n)] + rng.normal(0, 200, (n, 2))
    points = gpd.GeoDataFrame(geometry=shapely.points(sample), crs=areas.crs)

    start = time.perf_counter()
    codes = psa_geo.locate_lsoa(points.geometry, areas)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    joined = gpd.sjoin(points, areas[["lsoa_code", "geometry"]], how="left", predicate="intersects")
    theirs = time.perf_counter() - start

    placed = int(np.count_nonzero(codes != None))  # noqa: E711 (object array)
    duplicated = len(joined) - n
    print(
        f"locate_lsoa: {n:,} points in {ours:.2f} s ({n / ours:,.0f} points/s); "
        f"{placed:,} placed, each in exactly one LSOA"
    )
    print(
        f"geopandas.sjoin: {n:,} points in {theirs:.2f} s ({n / theirs:,.0f} points/s); "
        f"{duplicated:,} extra rows for points on shared edges"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_mirror = os.environ.get("PSA_GEO_MIRROR", str(REPO.parent / "shared" / "data"))
    parser.add_argument("--mirror", type=Path, default=Path(default_mirror))
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2019)
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores; psa_geo {psa_geo.__version__}, "
        f"geopandas {gpd.__version__}, shapely {shapely.__version__}"
    )
    bench_build(args.mirror)
    bench_assign(args.mirror, args.points, args.seed)


if __name__ == "__main__":
    main()
