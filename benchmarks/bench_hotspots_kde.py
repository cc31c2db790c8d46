"""Benchmark: kernel density of 1,000,000 points over the Peninsula, and the Cornwall grid.

Run from the repository root (prints figures; asserts nothing):

    .venv/bin/python benchmarks/bench_hotspots_kde.py [--mirror ../shared/data] [--points 1000000]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

import psa_geo
from psa_geo.grids import make_grid
from psa_geo.kde import kde

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


def timed(label: str, func, *args, **kwargs):
    start = time.perf_counter()
    result = func(*args, **kwargs)
    print(f"{label}: {time.perf_counter() - start:.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_mirror = os.environ.get("PSA_GEO_MIRROR", str(REPO.parent / "shared" / "data"))
    parser.add_argument("--mirror", type=Path, default=Path(default_mirror))
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2019)
    parser.add_argument("--cell-size", type=float, default=100.0)
    args = parser.parse_args()

    areas = psa_geo.load_areas(args.mirror)
    points = jittered_points(args.mirror, args.points, args.seed)
    size = args.cell_size

    peninsula = areas[["geometry"]]
    cells = timed(
        f"kde: {args.points:,} points over the Peninsula at {size:g} m (default bandwidth)",
        kde,
        points,
        area=peninsula,
        cell_size=size,
    )
    info = cells.attrs["kde"]
    mass = float((cells["kde"] * cells["area_km2"]).sum())
    print(
        f"  grid {len(cells):,} cells; bandwidth {info['bandwidth']:.0f} m "
        f"({info['bandwidth_rule']}); sum(kde x cell area) = {mass:,.0f}"
    )
    timed(
        f"kde: {args.points:,} points over the Peninsula at {size:g} m, bandwidth 500 m",
        kde,
        points,
        area=peninsula,
        cell_size=size,
        bandwidth=500.0,
    )
    timed(f"make_grid: Peninsula at {size:g} m, square", make_grid, peninsula, cell_size=size)

    cornwall = areas[areas["lad_name"] == "Cornwall"]
    for shape in ("square", "hex"):
        grid = timed(
            f"make_grid: Cornwall at {size:g} m, {shape}",
            make_grid,
            cornwall,
            cell_size=size,
            shape=shape,
        )
        print(f"  {len(grid):,} cells, {float(grid['area_km2'].sum()):,.1f} km²")


if __name__ == "__main__":
    main()
