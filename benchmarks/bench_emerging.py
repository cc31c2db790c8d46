"""Benchmark: emerging hot spots (monthly Gi* + Mann-Kendall) over Cornwall's grid.

Counts are police.uk street-level crimes Jan 2018 – Dec 2019 (24 monthly slices) placed in
Cornwall CSP. Run from the repository root (prints figures; asserts nothing):

    .venv/bin/python benchmarks/bench_emerging.py [--mirror ../shared/data] [--cell 100]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import psa_geo

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--cell", type=float, default=100.0)
    args = parser.parse_args()
    areas = psa_geo.load_areas(args.mirror)
    files = sorted((args.mirror / "crime").glob("policeuk_street_*.csv.gz"))
    events = psa_geo.assign_areas(psa_geo.read_police_uk(files), areas)
    cornwall = areas[areas["csp_name"] == "Cornwall"]
    crimes = events[(events["csp_name"] == "Cornwall") & (events["area_status"] == "inside")]
    start = time.perf_counter()
    cells = psa_geo.make_grid(cornwall, cell_size=args.cell)
    gridded = time.perf_counter() - start
    start = time.perf_counter()
    out = psa_geo.emerging_hotspots(crimes, cells)
    took = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    slices = len(out.attrs["emerging"]["slices"])
    print(f"grid: {len(cells):,} cells of {args.cell:g} m over Cornwall in {gridded:.1f} s")
    print(
        f"emerging_hotspots: {len(crimes):,} events, {slices} monthly slices, {took:.1f} s "
        f"({took / slices:.2f} s per slice); peak RSS {peak_mb:.0f} MB"
    )
    print(out["emerging_class"].value_counts().to_string())


if __name__ == "__main__":
    main()
