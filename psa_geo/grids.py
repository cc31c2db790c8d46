"""Square and hexagonal grids over a study area, clipped to land, and point counts per cell.

Every grid lives on a lattice anchored at the British National Grid origin, so the same
``cell_size`` always gives the same cells (and the same ``row``/``col``) whatever the area:

* square: cell (``row``, ``col``) covers x in [col·s, (col+1)·s) and y in [row·s, (row+1)·s);
  ``row`` grows northwards.
* hexagonal: pointy-topped hexagons in horizontal rows; ``cell_size`` s is the distance
  between neighbouring centres (the width across the flats), so a hexagon covers √3/2·s²
  and has sides of s/√3. Row r has centres at y = r·s·√3/2 and x = (col + r mod 2 / 2)·s,
  so odd rows are shifted east by half a cell.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .checks import (
    CRS,
    area_union,
    check_layer,
    check_overlap,
    layer_bounds,
    located_points,
    positive_metres,
)
from .errors import PsaGeoError

log = logging.getLogger(__name__)

SHAPES = ("square", "hex")
CELLS_ACROSS = 50
"""The default cell size puts about this many cells across the short side of the area."""
MIN_CELL_SIZE = 50.0
MAX_CELL_SIZE = 1000.0
MAX_CELLS = 50_000_000
"""A lattice larger than this over the area's bounding box is refused (cell_size too small)."""
LEAF_CELLS = 1024
"""Lattice blocks of at most this many cells are clipped cell by cell (vectorised)."""
SQRT3 = math.sqrt(3.0)
GRID_ATTR = "grid"
"""``attrs`` key of a grid's lattice: ``{"shape": ..., "cell_size": ...}``."""


def default_cell_size(area: gpd.GeoDataFrame | gpd.GeoSeries) -> float:
    """The default cell size in metres for a study area.

    The shorter side of the area's bounding box divided by 50, rounded to 10 m and clipped
    to [50 m, 1,000 m]. About 50 cells across the short side resolves streets and
    neighbourhoods without leaving most cells empty: a town 3–5 km across gets 50–100 m
    cells, a city such as Plymouth about 300 m, and a county or the whole Peninsula the
    1 km maximum. Below 50 m, cells are finer than police.uk's snap-point anonymisation.

    Parameters
    ----------
    area
        Polygons in EPSG:27700.

    Returns
    -------
    float
        The cell size in metres, a multiple of 10.
    """
    check_layer(area, "area")
    xmin, ymin, xmax, ymax = layer_bounds(area, "area")
    short = min(xmax - xmin, ymax - ymin)
    size = math.floor(short / CELLS_ACROSS / 10 + 0.5) * 10
    return float(min(max(size, MIN_CELL_SIZE), MAX_CELL_SIZE))


def make_grid(
    area: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    cell_size: float | None = None,
    shape: str = "square",
) -> gpd.GeoDataFrame:
    """A square or hexagonal grid over ``area``, clipped to it.

    ``area``'s polygons are unioned; lattice cells that overlap it (by more than a shared
    edge) are kept and clipped to it, so cells on the coast show land only. The lattice is
    anchored at the National Grid origin (see the module docstring), so grids are
    reproducible. Built with vectorised shapely over blocks of the lattice: blocks wholly
    inside the area are kept without clipping, so Cornwall at 100 m takes about a second.

    Parameters
    ----------
    area
        Polygons in EPSG:27700 (e.g. LSOAs, or one CSP from ``dissolve_areas``).
    cell_size
        Square side, or hexagon centre spacing (width across the flats), in metres;
        None for :func:`default_cell_size`.
    shape
        "square" or "hex" (pointy-topped hexagons).

    Returns
    -------
    GeoDataFrame
        One row per cell, ordered by ``row`` then ``col``: ``cell_id`` (0, 1, …, also the
        index), ``row`` and ``col`` (lattice indices), ``x`` and ``y`` (the unclipped cell
        centre), ``area_km2`` (of the clipped cell) and ``geometry`` (the clipped cell).
        ``attrs["grid"]`` records the shape and cell size for :func:`count_points`.
    """
    if shape not in SHAPES:
        raise PsaGeoError(f"'shape' should be 'square' or 'hex', got {shape!r}")
    union = area_union(area, "area")
    size = positive_metres(default_cell_size(area) if cell_size is None else cell_size, "cell_size")
    return _build_grid(union, _Lattice(shape, size))


def count_points(
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    cells: gpd.GeoDataFrame,
    *,
    weight: str | None = "weight",
) -> gpd.GeoDataFrame:
    """The summed weight of the points in each cell.

    For a grid from :func:`make_grid` a point is placed by lattice arithmetic: in the square
    whose lower-left corner is at or below-left of it, or the hexagon with the nearest
    centre (ties to the southern row, then the eastern cell), so a point on a shared edge
    is counted once. Lattice cells are used unclipped: a point just offshore of a coastal
    cell counts in that cell. For other polygons (no ``attrs["grid"]``) a point counts in
    the first cell (by position) whose polygon covers it. Points without a location are
    skipped, and points in no cell are counted in the log, not raised.

    Parameters
    ----------
    points
        Points in EPSG:27700, e.g. canonical events.
    cells
        Polygons in EPSG:27700, usually from :func:`make_grid`.
    weight
        Column of non-negative weights; None counts each point once (as does a GeoSeries).

    Returns
    -------
    GeoDataFrame
        A copy of ``cells`` with ``n``: the summed weight (integers when the weights are),
        0 for empty cells. ``attrs["points_outside"]`` is the number of points in no cell.
    """
    xy, w = located_points(points, "points", weight)
    where = cell_index(xy, cells)
    inside = where >= 0
    outside = int((~inside).sum())
    if outside:
        log.info(
            "count_points: %d of %d located points (weight %g) fall outside every cell",
            outside,
            len(xy),
            float(w[~inside].sum()),
        )
    counts = np.bincount(where[inside], weights=w[inside], minlength=len(cells))
    out = cells.copy()
    out["n"] = _as_counts(counts, w)
    out.attrs["points_outside"] = outside
    return out


def cell_index(xy: np.ndarray, cells: gpd.GeoDataFrame) -> np.ndarray:
    """The position in ``cells`` of the cell holding each point (as :func:`count_points`
    places them), -1 for none; raise when no point is in any cell."""
    check_layer(cells, "cells")
    lattice = _grid_lattice(cells)
    if lattice is not None:
        where = _lattice_lookup(cells, *lattice.locate(xy[:, 0], xy[:, 1]))
    else:
        where = _first_covering(cells, xy)
    check_overlap(xy, where >= 0, cells)
    return where


@dataclass(frozen=True)
class _Lattice:
    """The infinite lattice of cells of one shape and size, anchored at (0, 0)."""

    shape: str
    size: float

    @property
    def row_step(self) -> float:
        return self.size if self.shape == "square" else self.size * SQRT3 / 2

    @property
    def half_extent(self) -> tuple[float, float]:
        """Half the width and half the height of one cell."""
        s = self.size
        return (s / 2, s / 2) if self.shape == "square" else (s / 2, s / SQRT3)

    def centres(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = self.size
        if self.shape == "square":
            return (cols + 0.5) * s, (rows + 0.5) * s
        return (cols + 0.5 * (rows % 2)) * s, rows * self.row_step

    def locate(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The (row, col) of the cell holding each point; each point gets exactly one."""
        s = self.size
        if self.shape == "square":
            return np.floor(y / s).astype("int64"), np.floor(x / s).astype("int64")
        below = np.floor(y / self.row_step).astype("int64")
        best_row = below
        best_col = np.floor(x / s - 0.5 * (below % 2) + 0.5).astype("int64")
        cx, cy = self.centres(best_row, best_col)
        best = (x - cx) ** 2 + (y - cy) ** 2
        above = below + 1
        col = np.floor(x / s - 0.5 * (above % 2) + 0.5).astype("int64")
        cx, cy = self.centres(above, col)
        closer = (x - cx) ** 2 + (y - cy) ** 2 < best
        return np.where(closer, above, best_row), np.where(closer, col, best_col)

    def index_range(self, bounds: tuple[float, float, float, float]) -> tuple[int, ...]:
        """(row0, row1, col0, col1), end-exclusive, of every cell that may meet ``bounds``."""
        xmin, ymin, xmax, ymax = bounds
        s = self.size
        if self.shape == "square":
            r0, c0 = math.floor(ymin / s), math.floor(xmin / s)
            return r0, max(math.ceil(ymax / s), r0 + 1), c0, max(math.ceil(xmax / s), c0 + 1)
        hy = self.half_extent[1]
        r0 = math.floor((ymin - hy) / self.row_step)
        r1 = math.ceil((ymax + hy) / self.row_step) + 1
        return r0, r1, math.floor(xmin / s) - 1, math.ceil(xmax / s) + 1

    def block_box(self, r0: int, r1: int, c0: int, c1: int) -> shapely.Polygon:
        """A rectangle holding every cell of rows r0..r1-1 and columns c0..c1-1."""
        s = self.size
        if self.shape == "square":
            return shapely.box(c0 * s, r0 * s, c1 * s, r1 * s)
        hx, hy = self.half_extent
        return shapely.box(
            c0 * s - hx, r0 * self.row_step - hy, (c1 - 0.5) * s + hx, (r1 - 1) * self.row_step + hy
        )

    def polygons(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The unclipped cells as shapely polygons."""
        x, y = self.centres(rows, cols)
        hx, hy = self.half_extent
        if self.shape == "square":
            return shapely.box(x - hx, y - hy, x + hx, y + hy)
        dx = np.array([0.0, -hx, -hx, 0.0, hx, hx, 0.0])
        dy = np.array([hy, hy / 2, -hy / 2, -hy, -hy / 2, hy / 2, hy])
        ring = np.stack([x[:, None] + dx, y[:, None] + dy], axis=-1)
        return shapely.polygons(ring)


def _build_grid(union: shapely.Geometry, lattice: _Lattice) -> gpd.GeoDataFrame:
    """The cells of ``lattice`` overlapping ``union``, clipped to it."""
    r0, r1, c0, c1 = lattice.index_range(union.bounds)
    total = (r1 - r0) * (c1 - c0)
    if total > MAX_CELLS:
        raise PsaGeoError(
            f"'cell_size' {lattice.size:g} m would need {total:,} cells over the area's "
            "bounding box; choose a larger cell_size"
        )
    rows, cols, geoms = [], [], []
    for block, piece in _blocks(union, lattice, (r0, r1, c0, c1)):
        br, bc = _block_indices(*block)
        if piece is None:  # the block lies wholly inside the area
            rows.append(br)
            cols.append(bc)
            geoms.append(np.full(len(br), None, dtype=object))
            continue
        cells = lattice.polygons(br, bc)
        shapely.prepare(piece)
        covered = shapely.covers(piece, cells)
        partial = ~covered & shapely.intersects(piece, cells)
        clipped = _polygonal(shapely.intersection(cells[partial], piece))
        keep = shapely.area(clipped) > 0
        clipped = clipped[keep]
        partial[np.flatnonzero(partial)[~keep]] = False
        chosen = covered | partial
        block_geoms = np.full(len(br), None, dtype=object)
        block_geoms[partial] = clipped
        rows.append(br[chosen])
        cols.append(bc[chosen])
        geoms.append(block_geoms[chosen])
    rows_a = np.concatenate(rows) if rows else np.empty(0, "int64")
    cols_a = np.concatenate(cols) if cols else np.empty(0, "int64")
    geom_a = np.concatenate(geoms) if geoms else np.empty(0, object)
    order = np.lexsort((cols_a, rows_a))
    rows_a, cols_a, geom_a = rows_a[order], cols_a[order], geom_a[order]
    whole = shapely.is_missing(geom_a)
    geom_a[whole] = lattice.polygons(rows_a[whole], cols_a[whole])
    x, y = lattice.centres(rows_a, cols_a)
    grid = gpd.GeoDataFrame(
        {
            "cell_id": np.arange(len(rows_a), dtype="int64"),
            "row": rows_a,
            "col": cols_a,
            "x": x,
            "y": y,
            "area_km2": shapely.area(geom_a) / 1e6,
        },
        geometry=gpd.GeoSeries(geom_a, crs=CRS),
        crs=CRS,
    )
    grid.attrs[GRID_ATTR] = {"shape": lattice.shape, "cell_size": lattice.size}
    log.info(
        "grid: %d %s cells of %g m (%d clipped at the edge)",
        len(grid),
        lattice.shape,
        lattice.size,
        int((~whole).sum()),
    )
    return grid


def _blocks(
    union: shapely.Geometry, lattice: _Lattice, extent: tuple[int, int, int, int]
) -> Iterator[tuple[tuple[int, int, int, int], shapely.Geometry | None]]:
    """Split the lattice extent into blocks meeting the area, each with its part of the area.

    Yields (block, piece): piece is None when the block lies wholly inside the area, else the
    area clipped to the block's rectangle (at most ``LEAF_CELLS`` cells). Halving blocks and
    clipping as we go keeps each clip small, so the work grows with the coastline, not with
    coastline × cells.
    """
    stack = [(extent, union)]
    while stack:
        (r0, r1, c0, c1), parent = stack.pop()
        box = lattice.block_box(r0, r1, c0, c1)
        piece = shapely.intersection(parent, box)
        if shapely.is_empty(piece) or shapely.area(piece) <= 0:
            continue
        if shapely.covers(piece, box):
            yield (r0, r1, c0, c1), None
        elif (r1 - r0) * (c1 - c0) <= LEAF_CELLS:
            yield (r0, r1, c0, c1), piece
        elif r1 - r0 >= c1 - c0:
            mid = (r0 + r1) // 2
            stack += [((mid, r1, c0, c1), piece), ((r0, mid, c0, c1), piece)]
        else:
            mid = (c0 + c1) // 2
            stack += [((r0, r1, mid, c1), piece), ((r0, r1, c0, mid), piece)]


def _block_indices(r0: int, r1: int, c0: int, c1: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.meshgrid(
        np.arange(r0, r1, dtype="int64"), np.arange(c0, c1, dtype="int64"), indexing="ij"
    )
    return rows.ravel(), cols.ravel()


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Keep only the polygonal part of each geometry (an intersection may add lines/points)."""
    mixed = np.flatnonzero(shapely.get_type_id(geoms) == 7)
    out = geoms.copy()
    for i in mixed:
        parts = shapely.get_parts(geoms[i])
        parts = parts[np.isin(shapely.get_type_id(parts), [3, 6])]
        out[i] = shapely.union_all(parts) if len(parts) else shapely.Polygon()
    return out


def _as_counts(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Integer counts when the weights are integers, else floats."""
    if np.issubdtype(weights.dtype, np.integer):
        return np.rint(counts).astype("int64")
    return counts.astype("float64")


def _grid_lattice(cells: gpd.GeoDataFrame) -> _Lattice | None:
    """The lattice recorded by :func:`make_grid`, when ``cells`` still carries it."""
    spec = cells.attrs.get(GRID_ATTR)
    if not isinstance(spec, dict) or not {"row", "col"} <= set(cells.columns):
        return None
    if spec.get("shape") not in SHAPES:
        return None
    return _Lattice(spec["shape"], float(spec["cell_size"]))


def _lattice_keys(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    return rows.astype("int64") * (1 << 32) + cols.astype("int64")


def _lattice_lookup(cells: gpd.GeoDataFrame, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Position in ``cells`` of each (row, col), -1 where ``cells`` has no such cell."""
    index = pd.Index(_lattice_keys(cells["row"].to_numpy(), cells["col"].to_numpy()))
    if not index.is_unique:
        raise PsaGeoError("'cells' has the same (row, col) more than once; pass a single grid")
    return index.get_indexer(_lattice_keys(rows, cols))


def _first_covering(cells: gpd.GeoDataFrame, xy: np.ndarray) -> np.ndarray:
    """Position of the first cell covering each point, -1 for none."""
    tree = shapely.STRtree(np.asarray(cells.geometry.values))
    pt_idx, cell_idx = tree.query(shapely.points(xy), predicate="intersects")
    where = np.full(len(xy), -1, dtype="int64")
    order = np.lexsort((cell_idx, pt_idx))
    pt_idx, cell_idx = pt_idx[order], cell_idx[order]
    first = np.r_[True, pt_idx[1:] != pt_idx[:-1]] if len(pt_idx) else np.empty(0, bool)
    where[pt_idx[first]] = cell_idx[first]
    return where
