"""Benchmark: Gi* over every 100 m cell of Cornwall, psa_geo.gistar against esda's G_Local.

Counts are police.uk street-level crimes 2018 and 2019 placed in Cornwall CSP. Run from the
repository root (prints figures; asserts nothing):

    .venv/bin/python benchmarks/bench_gistar.py [--mirror ../shared/data] [--cell 100]

esda and libpysal are test-only dependencies; their weights are built with the same band
(and the same 1e-9 relative slack) and an explicit diagonal of ones, as in tests/test_gistar.py.
When the full esda run would take more than about 3 minutes (projected from a subset) it is
timed on that subset only, and the output says so.
"""

from __future__ import annotations

import argparse
import math
import resource
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

import psa_geo
from psa_geo.gistar import BAND_TOLERANCE, gistar

REPO = Path(__file__).resolve().parent.parent
ESDA_BUDGET_S = 180.0
SUBSET = 40_000


def cornwall_cells(areas: gpd.GeoDataFrame, size: float) -> gpd.GeoDataFrame:
    """``size`` m squares over Cornwall's bounding box, kept where they touch Cornwall."""
    cornwall = shapely.union_all(areas.loc[areas["csp_name"] == "Cornwall", "geometry"].to_numpy())
    minx, miny, maxx, maxy = cornwall.bounds
    xs = np.arange(math.floor(minx / size) * size, maxx, size)
    ys = np.arange(math.floor(miny / size) * size, maxy, size)
    gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
    boxes = shapely.box(gx, gy, gx + size, gy + size)
    keep = np.sort(shapely.STRtree(boxes).query(cornwall, predicate="intersects"))
    cells = gpd.GeoDataFrame(
        {"x": gx[keep] + size / 2, "y": gy[keep] + size / 2}, geometry=boxes[keep], crs=27700
    )
    print(f"  {len(boxes):,} boxes over the bounding box, {len(cells):,} touch Cornwall")
    return cells


def count_events(cells: gpd.GeoDataFrame, events: gpd.GeoDataFrame, size: float) -> np.ndarray:
    """Events per cell, by the cell each point falls in (floor of its coordinates)."""
    xy = shapely.get_coordinates(events.geometry.to_numpy())
    x0, y0 = cells["x"].min() - size / 2, cells["y"].min() - size / 2
    ncols = round((cells["x"].max() - x0) / size) + 1
    col = np.round((cells["x"].to_numpy() - size / 2 - x0) / size).astype(np.int64)
    row = np.round((cells["y"].to_numpy() - size / 2 - y0) / size).astype(np.int64)
    event_col = np.floor((xy[:, 0] - x0) / size).astype(np.int64)
    event_row = np.floor((xy[:, 1] - y0) / size).astype(np.int64)
    inside = (event_col >= 0) & (event_col < ncols) & (event_row >= 0)
    which = pd.Index(row * ncols + col).get_indexer(event_row * ncols + event_col)
    hit = inside & (which >= 0)
    counts = np.bincount(which[hit], minlength=len(cells))
    print(f"  {hit.sum():,} of {len(xy):,} located events fall in a cell")
    return counts


def esda_gistar(cells: gpd.GeoDataFrame, band: float) -> tuple[np.ndarray, float, float]:
    """esda G_Local z-scores: (z, seconds to build the weights, seconds for G_Local)."""
    import esda
    import libpysal

    xy = cells[["x", "y"]].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        w = libpysal.weights.DistanceBand(
            xy, threshold=band * (1 + BAND_TOLERANCE), binary=True, silence_warnings=True
        )
        w = libpysal.weights.fill_diagonal(w, 1.0)
        built = time.perf_counter() - start
        start = time.perf_counter()
        g = esda.G_Local(cells["n"].to_numpy(float), w, star=True, transform="B", permutations=0)
        ran = time.perf_counter() - start
    return np.asarray(g.Zs), built, ran


def timed_gistar(cells: gpd.GeoDataFrame, repeats: int = 3) -> tuple[gpd.GeoDataFrame, float]:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        out = gistar(cells)
        best = min(best, time.perf_counter() - start)
    return out, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--cell", type=float, default=100.0, help="cell size in metres")
    args = parser.parse_args()

    start = time.perf_counter()
    areas = psa_geo.load_areas(args.mirror)
    crime = args.mirror / "crime"
    events = psa_geo.read_police_uk(
        [crime / f"policeuk_street_devon_cornwall_{year}.csv.gz" for year in (2018, 2019)]
    )
    events = psa_geo.assign_areas(events, areas)
    events = events[(events["csp_name"] == "Cornwall") & (events["area_status"] == "inside")]
    print(f"data: {len(events):,} Cornwall events 2018-19 ({time.perf_counter() - start:.1f} s)")

    start = time.perf_counter()
    cells = cornwall_cells(areas, args.cell)
    print(f"cells built in {time.perf_counter() - start:.1f} s")
    nearest, _ = cKDTree(cells[["x", "y"]].to_numpy()).query(cells[["x", "y"]].to_numpy(), k=2)
    isolated = nearest[:, 1] > math.sqrt(2) * args.cell * (1 + BAND_TOLERANCE)
    cells = cells[~isolated].reset_index(drop=True)
    print(f"  dropped {isolated.sum()} isolated cell(s) with no queen neighbour (rocks)")
    cells["n"] = count_events(cells, events, args.cell)
    print(f"  {len(cells):,} cells, {(cells['n'] > 0).sum():,} with events, {cells['n'].sum():,}")

    out, wall = timed_gistar(cells)
    band = float(out["gistar_band_m"].iloc[0])
    print(f"psa_geo.gistar: {wall:.2f} s (best of 3), band {band:.1f} m")
    for label, count in out["hotspot_class"].value_counts().sort_index().items():
        print(f"  {label}: {count:,}")
    print(f"  without FDR: {(gistar(cells, fdr=False)['hotspot_level'] != 0).sum():,} significant")

    subset = cells.iloc[:SUBSET].reset_index(drop=True)  # southern rows: a compact block
    z_sub, built, ran = esda_gistar(subset, band)
    sub_out, sub_wall = timed_gistar(subset)
    sub_esda = built + ran
    print(
        f"subset of {len(subset):,} cells: esda weights {built:.1f} s + G_Local {ran:.2f} s; "
        f"psa_geo {sub_wall:.2f} s; ratio {sub_esda / sub_wall:.0f}x; "
        f"max |dz| {np.abs(z_sub - sub_out['gistar_z'].to_numpy()).max():.1e}"
    )
    projected = sub_esda * len(cells) / len(subset)
    if projected > ESDA_BUDGET_S:
        print(
            f"esda on all {len(cells):,} cells: not run (projected {projected:.0f} s from the "
            "subset, over the 3-minute budget); the subset ratio above stands in for it"
        )
    else:
        z, built, ran = esda_gistar(cells, band)
        print(
            f"esda on all {len(cells):,} cells: weights {built:.1f} s + G_Local {ran:.2f} s = "
            f"{built + ran:.1f} s; ratio to psa_geo {(built + ran) / wall:.0f}x "
            f"(G_Local alone {ran / wall:.1f}x); "
            f"max |dz| {np.abs(z - out['gistar_z'].to_numpy()).max():.1e}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
