"""Benchmark: hot spot change, 2019 against 2018, over Cornwall's grid.

Counts are police.uk street-level crimes of 2018 and 2019 placed in Cornwall CSP: two Gi*
runs and the exact change test over every cell. Run from the repository root (prints
figures; asserts nothing):

    .venv/bin/python benchmarks/bench_hotspot_change.py [--mirror ../shared/data] [--cell 100]
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
    cells = psa_geo.make_grid(cornwall, cell_size=args.cell)
    study, comparison = psa_geo.calendar_year(2019), psa_geo.calendar_year(2018)
    start = time.perf_counter()
    out = psa_geo.hotspot_change(crimes, cells, study=study, comparison=comparison)
    took = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tested = out.attrs["hotspot_change"]["cells_tested"]
    print(
        f"hotspot_change: {len(crimes):,} events, {len(cells):,} cells of {args.cell:g} m "
        f"({tested:,} tested for change), {took:.2f} s; peak RSS {peak_mb:.0f} MB"
    )
    print(out["change_class"].value_counts().to_string())


if __name__ == "__main__":
    main()
