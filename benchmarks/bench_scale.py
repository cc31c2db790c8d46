"""Benchmark: choose_scale for each CSP of the real 2019 police.uk data, and the scales chosen.

For each CSP: all crime and two sparser groups (Robbery, Possession of weapons), the time of
the first call (which builds and caches the area's lattice and weight sums) and of a repeat
(the median of 5; the other groups of the area reuse the cache), then the cell, band and rule.
Last, every crime group of every CSP and Safer Town (as a build would do), timed in total,
and kde + Gi* at the chosen scale for all crime in each CSP. Run from the repository root
(prints figures; asserts nothing):

    .venv/bin/python benchmarks/bench_scale.py [--mirror ../shared/data]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

import psa_geo
from psa_geo import scale as scale_module

REPO = Path(__file__).resolve().parent.parent
GROUPS = ("All crime (excl. ASB)", "Robbery", "Possession of weapons")


def timed(call, repeat: int = 1) -> tuple[float, object]:
    """(median seconds over ``repeat`` calls, the last result)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    areas = psa_geo.load_areas(args.mirror)
    events = psa_geo.assign_areas(
        psa_geo.read_police_uk(
            args.mirror / "crime" / "policeuk_street_devon_cornwall_2019.csv.gz"
        ),
        areas,
    )
    events = events[events["area_status"].eq("inside")]
    groups = psa_geo.load_crime_groups()
    outlines = {
        csp: areas[areas["csp_name"] == csp][["geometry"]].dissolve()
        for csp in sorted(areas["csp_name"].unique())
    }
    print(f"{'CSP':<28} {'group':<22} {'events':>6} {'first':>7} {'repeat':>7}  scale")
    for csp, outline in outlines.items():
        for group in GROUPS:
            chosen = events[events["csp_name"].eq(csp) & events["category"].isin(groups[group])]
            if chosen.empty:
                print(f"{csp:<28} {group:<22} {0:>6}  (no events)")
                continue
            first, scale = timed(lambda: psa_geo.choose_scale(chosen, outline))  # noqa: B023
            again, scale = timed(lambda: psa_geo.choose_scale(chosen, outline), 5)  # noqa: B023
            times = f"{first * 1000:>5.0f}ms {again * 1000:>5.0f}ms"
            print(
                f"{csp:<28} {group:<22} {len(chosen):>6} {times}  {scale.cell_size:>4.0f} m "
                f"cells, {scale.band:>5.0f} m band: {scale.rule}"
            )

    towns = psa_geo.load_towns(areas=areas)
    studies = [(csp, outline, events["csp_name"].eq(csp)) for csp, outline in outlines.items()]
    for town, members in towns.groupby("town"):
        lsoas = areas[areas["lsoa_code"].isin(members["lsoa_code"])]
        studies.append(
            (town, lsoas[["geometry"]].dissolve(), events["lsoa_code"].isin(lsoas["lsoa_code"]))
        )
    for cached in (
        scale_module._study_area,
        scale_module._search_lattice,
        scale_module._lattice_sums,
    ):
        cached.cache_clear()
    calls, start = 0, time.perf_counter()
    for _, outline, where in studies:
        for members in groups.values():
            chosen = events[where & events["category"].isin(members)]
            if chosen.empty:
                continue
            psa_geo.choose_scale(chosen, outline)
            calls += 1
    total = time.perf_counter() - start
    print(
        f"\nevery group of {len(studies)} areas (8 CSPs and {len(studies) - 8} Safer Towns), "
        f"cold caches: {calls} calls in {total:.2f} s ({total / calls * 1000:.0f} ms a call)"
    )

    print("\nkde + Gi* for all crime at the chosen scale:")
    for csp, outline in outlines.items():
        chosen = events[events["csp_name"].eq(csp) & events["category"].isin(groups[GROUPS[0]])]
        scale = psa_geo.choose_scale(chosen, outline)

        def hotspots(chosen=chosen, outline=outline, scale=scale):
            cells = psa_geo.kde(chosen, area=outline, cell_size=scale.cell_size)
            xy = cells[["x", "y"]].to_numpy()
            near = cKDTree(xy).query_ball_point(xy, scale.band * 1.000001, return_length=True)
            return psa_geo.gistar(cells[near > 1], column="n", distance=scale.band)

        try:
            seconds, cells = timed(hotspots)
        except psa_geo.PsaGeoError as exc:
            print(f"  {csp:<28} {exc}")
            continue
        hot = int(np.sum(cells["hotspot_level"] >= 2))
        print(f"  {csp:<28} {seconds:5.2f} s  {len(cells):>6,} cells, {hot:>5,} hot (95%)")


if __name__ == "__main__":
    main()
