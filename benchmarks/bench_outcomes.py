"""Benchmark: crime outcomes on the real 24 months (outcome_table by level, the months and
files, and the whole outcomes page with its charts), as `psa-geo build` runs them.

Run from the repository root (prints figures; asserts nothing):

    .venv/bin/python benchmarks/bench_outcomes.py [--mirror ../shared/data]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import psa_geo

REPO = Path(__file__).resolve().parent.parent


def timed(label: str, work) -> None:
    start = time.perf_counter()
    work()
    print(f"{label}: {time.perf_counter() - start:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    areas = psa_geo.load_areas(args.mirror)
    files = sorted((args.mirror / "crime").glob("policeuk_street_*.csv.gz"))
    events = psa_geo.assign_areas(psa_geo.read_police_uk(files), areas)
    towns = psa_geo.load_towns(areas=areas)
    study = psa_geo.financial_year("2018/19")
    print(f"{len(events):,} events from {len(files)} files; study period {study.label}")
    for level in ("peninsula", "csp", "lsoa"):
        timed(f"outcome_table level={level}", lambda level=level: psa_geo.outcome_table(
            events, areas, period=study, level=level))  # fmt: skip
    timed("outcome_table level=town", lambda: psa_geo.outcome_table(
        events, areas, period=study, level="town", towns=towns))  # fmt: skip
    timed("outcomes_by_month", lambda: psa_geo.outcomes_by_month(events, areas))
    with tempfile.TemporaryDirectory() as out:
        timed("write_outcomes (tables, page, two charts)", lambda: psa_geo.write_outcomes(
            events, areas, out, study=study, towns=towns))  # fmt: skip
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak_mb:.0f} MB (the events included)")


if __name__ == "__main__":
    main()
