"""Benchmark: the hotspot step of `psa-geo build` (every CSP and Safer Town, every crime group).

Runs one full build of the real data in a subprocess and prints the step timings that hold
hotspot work (the CSP maps; the town profiles, whose maps carry the same layers) and the
sections after them, the build's wall and CPU time (CPU varies less with the load of a shared
machine) and peak memory, and the size of each CSP map page and GeoPackage (budget: 2 minutes
and 2 GB for the step, 3 MB a CSP page). Run from the repository root (prints figures;
asserts nothing):

    .venv/bin/python benchmarks/bench_hotspot_step.py [--mirror ../shared/data] [--no-cache]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_mirror = os.environ.get("PSA_GEO_MIRROR", str(REPO.parent / "shared" / "data"))
    parser.add_argument("--mirror", type=Path, default=Path(default_mirror))
    parser.add_argument("--no-cache", action="store_true", help="build with --no-cache")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "maps"
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "psa_geo", "--data-dir", str(args.mirror),
                        "--out", str(out), "--quiet", "build",
                        *(["--no-cache"] if args.no_cache else [])], check=True)  # fmt: skip
        wall = time.perf_counter() - start
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu, peak_mb = usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024
        report = json.loads((out / "run_report.json").read_text(encoding="utf-8"))
        timings = report["timings_s"]
        print(f"build: {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS {peak_mb:,.0f} MB "
              "(the whole build)")  # fmt: skip
        for step in ("hotspots", "town profiles", "outcomes", "road safety", "corridor"):
            print(f"  step {step!r}: {timings.get(step, float('nan')):.1f} s")
        print(f"  hotspot work in all: {timings['hotspots'] + timings['town profiles']:.1f} s")
        for page in sorted((out / "hotspots").glob("hotspots_*.html")):
            gpkg = page.with_suffix(".gpkg")
            extras = [p for p in page.parent.glob(f"{page.stem}.*") if p.suffix not in
                      (".html", ".gpkg", ".json")]  # fmt: skip
            sizes = ", ".join(f"{p.suffix} {p.stat().st_size / 1e6:.2f} MB" for p in extras)
            print(f"  {page.name}: page {page.stat().st_size / 1e6:.2f} MB, GeoPackage "
                  f"{gpkg.stat().st_size / 1e6:.1f} MB{', ' + sizes if sizes else ''}")  # fmt: skip


if __name__ == "__main__":
    main()
