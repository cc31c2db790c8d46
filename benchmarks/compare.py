"""Benchmark: psa_geo against the libraries it is measured by, side by side in one run.

Each row times ours and theirs alternately, best of ``--repeats``, on the same inputs, and
prints both and the ratio (theirs / ours: above 1 means psa_geo is faster). Rows:

- ``read_police_uk`` of the two real street files (281,720 rows; fresh copies each time, no
  cache) against ``pyarrow.csv.read_csv`` and ``pandas.read_csv`` of the same files (which
  check nothing and build no events; the target is ours within 2x of pyarrow);
- ``locate_lsoa`` of the real located points, and of 1M points (the real points resampled
  with 200 m jitter), against ``geopandas.sjoin(predicate="intersects")``;
- ``gistar`` over Plymouth's 100 m grid against ``esda.G_Local(star=True)`` (its weights,
  a libpysal DistanceBand with the same band, built and timed too).

Then the issue's absolute targets, each a fresh process (wall time and its peak resident set):
``psa-geo tables`` and ``psa-geo build`` on the real 24 months, cold (``--no-cache``), and
the peak memory per row of ``read_police_uk`` at ``--memory-rows`` (as
``bench_read_memory.py``, with this interpreter: a venv installed from pyproject.toml).

Prints figures; asserts nothing. From the repository root (esda and libpysal are test
dependencies):

    .venv/bin/python benchmarks/compare.py [--mirror ../shared/data] [--points 1000000]
        [--memory-rows 1500000 5600000] [--no-targets]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow
import pyarrow.csv as pacsv
import shapely

import psa_geo
from psa_geo.gistar import BAND_TOLERANCE

REPO = Path(__file__).resolve().parent.parent


def alternate(repeats: int, **runs: Callable[[], object]) -> dict[str, float]:
    """The best wall time of each of ``runs``, run in turn ``repeats`` times."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def row(what: str, ours: float, theirs_name: str, theirs: float) -> None:
    print(f"{what:<44} {ours:>7.3f} s  {theirs_name:<32} {theirs:>7.3f} s  {theirs / ours:>6.2f}x")


def machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor() or "unknown CPU",
    )  # fmt: skip
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"machine: {os.cpu_count()} cores ({cpu}), load average {load} at the start; "
        f"Python {platform.python_version()}, psa_geo {psa_geo.__version__}, pandas "
        f"{pd.__version__}, geopandas {gpd.__version__}, shapely {shapely.__version__}, "
        f"pyarrow {pyarrow.__version__}"
    )


def fresh_copies(files: list[Path], folder: Path) -> list[Path]:
    """New copies of ``files`` (new names, so nothing is reused between runs)."""
    stamp = time.time_ns()
    copies = [folder / f"{stamp}_{i}_{f.name}" for i, f in enumerate(files)]
    for source, copy in zip(files, copies, strict=True):
        shutil.copyfile(source, copy)
    return copies


def compare_reader(files: list[Path], repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)

        def on_copies(read):
            def run():
                copies = fresh_copies(files, folder)
                start = time.perf_counter()
                read(copies)
                elapsed = time.perf_counter() - start
                for copy in copies:
                    copy.unlink()
                return elapsed

            return run

        runs = {
            "ours": on_copies(lambda c: psa_geo.read_police_uk(c, use_cache=False)),
            "pyarrow": on_copies(lambda c: [pacsv.read_csv(f) for f in c]),
            "pandas": on_copies(lambda c: [pd.read_csv(f, dtype=str) for f in c]),
        }
        best = dict.fromkeys(runs, float("inf"))
        for _ in range(repeats):
            for name, run in runs.items():
                best[name] = min(best[name], run())  # the read only, not the copying
    what = "read_police_uk, 2 real files (281,720 rows)"
    row(what, best["ours"], "pyarrow.csv.read_csv", best["pyarrow"])
    row(what, best["ours"], "pandas.read_csv(dtype=str)", best["pandas"])


def compare_locate(points: gpd.GeoSeries, areas: gpd.GeoDataFrame, what: str, repeats: int):
    frame = gpd.GeoDataFrame(geometry=points)
    lsoas = areas[["lsoa_code", "geometry"]]
    best = alternate(
        repeats,
        ours=lambda: psa_geo.locate_lsoa(points, areas),
        sjoin=lambda: gpd.sjoin(frame, lsoas, how="left", predicate="intersects"),
    )
    row(what, best["ours"], "geopandas.sjoin", best["sjoin"])


def compare_gistar(events: gpd.GeoDataFrame, areas: gpd.GeoDataFrame, repeats: int) -> None:
    import esda
    import libpysal

    plymouth = areas[areas["csp_name"] == "Plymouth"]
    cells = psa_geo.make_grid(plymouth, cell_size=100)
    cells = psa_geo.count_points(events[events["csp_name"] == "Plymouth"], cells)
    band = float(psa_geo.gistar(cells)["gistar_band_m"].iloc[0])
    centres = shapely.get_coordinates(cells.geometry.centroid.to_numpy())
    if {"x", "y"} <= set(cells.columns):
        centres = cells[["x", "y"]].to_numpy()
    counts = cells["n"].to_numpy(float)

    def theirs():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w = libpysal.weights.DistanceBand(
                centres, threshold=band * (1 + BAND_TOLERANCE), binary=True, silence_warnings=True
            )
            w = libpysal.weights.fill_diagonal(w, 1.0)
            esda.G_Local(counts, w, star=True, transform="B", permutations=0)

    best = alternate(repeats, ours=lambda: psa_geo.gistar(cells), esda=theirs)
    what = f"gistar, Plymouth 100 m grid ({len(cells):,} cells)"
    row(what, best["ours"], "esda.G_Local(star=True)+weights", best["esda"])


#: The issue's targets: (seconds, peak MB) of the commands; bytes per row of the reader
#: (a fifth of the 1,162 and 1,100 measured at 1.5M and 5.6M rows before the issue).
COMMAND_TARGETS = {"tables": (10, 1024), "build": (60, 2048)}
BYTES_PER_ROW_BEFORE = {1_500_000: 1162, 5_600_000: 1100}

TIMED = r"""
import resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
wall = time.perf_counter() - start
print(code, wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def timed_command(*args: str) -> tuple[int, float, float]:
    """(exit status, wall seconds, peak RSS in MB) of ``psa-geo ARGS`` in a fresh process."""
    done = subprocess.run([sys.executable, "-c", TIMED, sys.executable, "-m", "psa_geo", *args],
                          capture_output=True, text=True, check=True)  # fmt: skip
    code, wall, peak_kb = done.stdout.split()
    return int(code), float(wall), int(peak_kb) / 1024


def target_row(what: str, value: float, unit: str, target: float) -> None:
    verdict = "met" if value <= target else "NOT met"
    print(f"{what:<58} {value:>9,.1f} {unit:<8} target <= {target:,.0f} {unit}: {verdict}")


def check_targets(mirror: Path, memory_rows: list[int]) -> None:
    print("\ntargets (fresh processes, cold: --no-cache)")
    with tempfile.TemporaryDirectory() as tmp:
        for command, (seconds, megabytes) in COMMAND_TARGETS.items():
            out = Path(tmp) / command
            code, wall, peak = timed_command("--data-dir", str(mirror), "--out", str(out),
                                             "--quiet", command, "--no-cache")  # fmt: skip
            if code:
                print(f"psa-geo {command}: failed with exit status {code}")
                continue
            target_row(f"psa-geo {command}, real 24 months: wall", wall, "s", seconds)
            target_row(f"psa-geo {command}, real 24 months: peak RSS", peak, "MB", megabytes)
        sys.path.insert(0, str(REPO / "benchmarks"))
        from bench_read_memory import measure, write_rows

        for rows in memory_rows:
            path = write_rows(mirror, rows, Path(tmp) / f"street_{rows}.csv")
            n, per_row, wall = measure(sys.executable, path)
            path.unlink()
            before = BYTES_PER_ROW_BEFORE.get(rows, 1100)
            what = f"read_police_uk, {n:,} rows: peak RSS growth per row ({wall:.1f} s)"
            target_row(what, per_row, "B/row", before / 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_mirror = os.environ.get("PSA_GEO_MIRROR", str(REPO.parent / "shared" / "data"))
    parser.add_argument("--mirror", type=Path, default=Path(default_mirror))
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2019)
    parser.add_argument("--memory-rows", type=int, nargs="*", default=[1_500_000, 5_600_000])
    parser.add_argument("--no-targets", action="store_true", help="the comparisons only")
    args = parser.parse_args()
    print(machine())
    logging.getLogger("psa_geo").setLevel(logging.ERROR)  # figures only
    print(f"{'':<44} {'ours':>9}  {'theirs':<32} {'':>9}  theirs/ours")
    files = sorted((args.mirror / "crime").glob("policeuk_street_*.csv.gz"))
    compare_reader(files, args.repeats)

    areas = psa_geo.load_areas(args.mirror)
    events = psa_geo.read_police_uk(files, use_cache=False)
    located = events.geometry[~events.geometry.is_empty].reset_index(drop=True)
    compare_locate(located, areas, f"locate_lsoa, {len(located):,} real points", args.repeats)
    xy = shapely.get_coordinates(located.to_numpy())
    rng = np.random.default_rng(args.seed)
    sample = xy[rng.integers(0, len(xy), args.points)] + rng.normal(0, 200, (args.points, 2))
    jittered = gpd.GeoSeries(shapely.points(sample), crs=areas.crs)
    what = f"locate_lsoa, {args.points:,} points (200 m jitter)"
    compare_locate(jittered, areas, what, args.repeats)

    assigned = psa_geo.assign_areas(events, areas)
    compare_gistar(assigned[assigned["area_status"] == "inside"], areas, args.repeats)
    if not args.no_targets:
        check_targets(args.mirror, args.memory_rows)


if __name__ == "__main__":
    main()
