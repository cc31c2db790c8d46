"""Benchmark: the inequality tables and the SII simulation for the Peninsula and every CSP.

Counts are police.uk street-level records of FY2018/19, every crime group, by national IMD
2019 decile. Run from the repository root (prints figures; asserts nothing):

    .venv/bin/python benchmarks/bench_inequality.py [--mirror ../shared/data] [--repetitions N]
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
    parser.add_argument("--repetitions", type=int, default=100_000)
    args = parser.parse_args()
    areas = psa_geo.load_areas(args.mirror)
    files = sorted((args.mirror / "crime").glob("policeuk_street_*.csv.gz"))
    events = psa_geo.assign_areas(psa_geo.read_police_uk(files), areas)
    fy = psa_geo.financial_year("2018/19")
    lsoa = psa_geo.rate_table(events, areas, level="lsoa", study=fy, comparison=fy.previous(),
                              groups=psa_geo.load_crime_groups())  # fmt: skip
    start = time.perf_counter()
    deciles = psa_geo.inequality_table(lsoa, areas, by="imd_decile")
    rural = psa_geo.inequality_table(lsoa, areas, by="rural_urban")
    tables = time.perf_counter() - start
    start = time.perf_counter()
    summary = psa_geo.inequality_summary(deciles, repetitions=args.repetitions)
    took = time.perf_counter() - start
    fitted = summary["sii"].notna().sum()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"inequality_table: {len(deciles):,} decile rows and {len(rural):,} rural-urban rows "
        f"in {tables:.2f} s"
    )
    per_sii = 1000 * took / max(fitted, 1)
    print(
        f"inequality_summary: {len(summary)} areas × groups, {fitted} SIIs of "
        f"{args.repetitions:,} simulations each, {took:.2f} s ({per_sii:.0f} ms per SII); "
        f"peak RSS {peak_mb:.0f} MB"
    )


if __name__ == "__main__":
    main()
