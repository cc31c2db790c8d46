"""Benchmark: the kernel density raster of 1,000,000 points over the Peninsula beside the
histogram + FFT floor, the risk-adjusted density, the residents' area shares against an exact
overlay, the density image's bytes, and the 100 m grids.

Run from the repository root (prints figures; asserts nothing):

    .venv/bin/python benchmarks/bench_hotspots_kde.py [--mirror ../shared/data] [--points 1000000]

The floor is what any raster KDE of these points must do: ``numpy.histogram2d`` of the
points on the same extent (the Peninsula's bounding box on the 100 m lattice, padded by the
kernel radius) and ``scipy.signal.fftconvolve`` with the same kernel, from coordinates
already in memory. Each is timed as the best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from scipy.signal import fftconvolve

import psa_geo
from psa_geo.grids import default_cell_size, make_grid
from psa_geo.hotspot_maps import KDE_COLOURS, _classify, _top_half_edges
from psa_geo.kde import kde
from psa_geo.residents import spread_residents, subcells_per_side
from psa_geo.surface_image import class_image

REPO = Path(__file__).resolve().parent.parent


def jittered_points(mirror: Path, n: int, seed: int) -> gpd.GeoDataFrame:
    """Real 2019 snap points, resampled and jittered by 200 m: the density of real crime."""
    events = psa_geo.read_police_uk(mirror / "crime" / "policeuk_street_devon_cornwall_2019.csv.gz")
    located = events.geometry[~events.geometry.is_empty]
    xy = shapely.get_coordinates(located.to_numpy())
    rng = np.random.default_rng(seed)
    sample = xy[rng.integers(0, len(xy), n)] + rng.normal(0, 200, (n, 2))
    weights = np.ones(n, dtype="int64")
    return gpd.GeoDataFrame({"weight": weights}, geometry=shapely.points(sample), crs="EPSG:27700")


def best_of(repeat: int, func, *args, **kwargs):
    """(best wall time in s, the last result)."""
    best, result = math.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best, result


def floor(xy: np.ndarray, bounds, size: float, h: float) -> np.ndarray:
    """histogram2d + fftconvolve over ``bounds`` on the lattice, padded by ``h``."""
    pad = math.ceil(h / size)
    xmin, ymin, xmax, ymax = bounds
    xe = np.arange(math.floor(xmin / size) - pad, math.ceil(xmax / size) + pad + 1) * size
    ye = np.arange(math.floor(ymin / size) - pad, math.ceil(ymax / size) + pad + 1) * size
    counts, _, _ = np.histogram2d(xy[:, 1], xy[:, 0], bins=[ye, xe])
    offsets = np.arange(-pad, pad + 1) * size
    d2 = offsets[:, None] ** 2 + offsets[None, :] ** 2
    kernel = np.where(d2 < h * h, 3 / (math.pi * h * h) * (1 - d2 / (h * h)) ** 2, 0.0)
    return fftconvolve(counts, kernel, mode="same")


def exact_residents(lsoas: gpd.GeoDataFrame, surface) -> np.ndarray:
    """Residents per raster cell by exact area share (cells ∩ LSOAs)."""
    x, y = surface.centres()
    cx, cy = np.meshgrid(x, y)
    half = surface.cell_size / 2
    cells = shapely.box(cx - half, cy - half, cx + half, cy + half).ravel()
    geoms = lsoas.geometry.to_numpy()
    share = lsoas["population"].to_numpy() / shapely.area(geoms)
    lsoa_i, cell_i = shapely.STRtree(cells).query(geoms, predicate="intersects")
    pieces = shapely.area(shapely.intersection(geoms[lsoa_i], cells[cell_i]))
    out = np.bincount(cell_i, weights=pieces * share[lsoa_i], minlength=len(cells))
    return out.reshape(surface.shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_mirror = os.environ.get("PSA_GEO_MIRROR", str(REPO.parent / "shared" / "data"))
    parser.add_argument("--mirror", type=Path, default=Path(default_mirror))
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2019)
    parser.add_argument("--cell-size", type=float, default=100.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    areas = psa_geo.load_areas(args.mirror)
    points = jittered_points(args.mirror, args.points, args.seed)
    size, n = args.cell_size, args.points
    peninsula = areas[["geometry"]]

    print(f"kde: {n:,} points over the Peninsula at {size:g} m, grid pinned to the Peninsula")
    for bandwidth in (None, 500.0):
        ours, surface = best_of(args.repeat, kde, points, area=peninsula, cell_size=size,
                                bandwidth=bandwidth)  # fmt: skip
        h = surface.bandwidth
        xy = shapely.get_coordinates(points.geometry.to_numpy())
        bounds = shapely.total_bounds(peninsula.geometry.to_numpy())
        base, _ = best_of(args.repeat, floor, xy, bounds, size, h)
        print(
            f"  bandwidth {h:,.0f} m ({surface.bandwidth_rule}): kde {ours:.2f} s, "
            f"histogram2d + fftconvolve {base:.2f} s, ratio {ours / base:.2f}; raster "
            f"{surface.shape[0]:,} x {surface.shape[1]:,}, {int(surface.mask.sum()):,} cells in "
            f"the area; sum(density x cell area) = {surface.total():,.0f}"
        )
    risk, dual = best_of(1, kde, points, area=peninsula, cell_size=size, population=areas)
    shown = int(np.isfinite(dual.per_1000).sum())
    print(f"kde with population= (risk-adjusted, LSOA residents): {risk:.2f} s; "
          f"{shown:,} of {int(dual.mask.sum()):,} cells given a rate")  # fmt: skip
    cells_s, cells = best_of(1, surface.to_cells)
    print(f"Surface.to_cells (the grid form, polygons): {cells_s:.2f} s, {len(cells):,} cells")

    print("residents by area share on sub-cells, against the exact overlay (cells ∩ LSOAs):")
    for csp, cell in (("Plymouth", 100.0), ("Cornwall", 500.0), ("Exeter", 50.0)):
        lsoas = areas[areas["csp_name"] == csp]
        probe = kde(points, area=lsoas, cell_size=cell, bandwidth=2 * cell)
        spread = spread_residents(lsoas, probe.transform, probe.shape)
        exact = exact_residents(lsoas, probe)
        error = np.abs(spread - exact)
        k = subcells_per_side(cell)
        print(
            f"  {csp} at {cell:g} m ({k} x {k} sub-cells of {cell / k:g} m): total "
            f"{spread.sum():,.0f} vs {exact.sum():,.0f}; sum |error| = "
            f"{error.sum() / exact.sum():.2%} of residents; worst cell {error.max():,.1f} "
            f"residents ({error.max() / exact.max():.2%} of the fullest cell)"
        )

    print("density image (PNG in the page), 4 classes:")
    csps = psa_geo.dissolve_areas(areas, level="csp")
    for name in ["Cornwall", *sorted(set(csps["area_name"]) - {"Cornwall"})]:
        outline = csps[csps["area_name"] == name]
        for cell in sorted({default_cell_size(outline), 100.0}):
            s = kde(points, area=outline, cell_size=cell)
            edges = _top_half_edges(s.values[s.mask], 4)
            classes = np.where(s.mask, _classify(s.values, edges), 0)
            seconds, image = best_of(1, class_image, classes, s, KDE_COLOURS)
            print(f"  {name} at {cell:g} m: {image.png_bytes:,} bytes "
                  f"({len(image.url):,} characters), {seconds:.2f} s")  # fmt: skip

    def timed(label, func, *a, **kw):
        seconds, result = best_of(1, func, *a, **kw)
        print(f"{label}: {seconds:.2f} s")
        return result

    timed(f"make_grid: Peninsula at {size:g} m, square", make_grid, peninsula, cell_size=size)
    cornwall = areas[areas["lad_name"] == "Cornwall"]
    for shape in ("square", "hex"):
        grid = timed(f"make_grid: Cornwall at {size:g} m, {shape}", make_grid, cornwall,
                     cell_size=size, shape=shape)  # fmt: skip
        print(f"  {len(grid):,} cells, {float(grid['area_km2'].sum()):,.1f} km²")


if __name__ == "__main__":
    main()
