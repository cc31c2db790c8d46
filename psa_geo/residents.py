"""Residents spread from polygons (LSOAs) to raster cells by area share, for risk-adjusted
density (:func:`psa_geo.kde` with ``population=``)."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine
from rasterio.features import rasterize

from .checks import check_layer
from .errors import PsaGeoError

log = logging.getLogger(__name__)

POPULATION_COLUMN = "population"
SUBCELL_M = 25.0
"""Each cell is cut into square sub-cells of about this side (at most ``MAX_SUBCELLS`` a side)
to measure how much of each polygon it holds."""
MAX_SUBCELLS = 16
BAND_SUBCELLS = 1 << 24
"""Sub-cells rasterised at once (64 MB of polygon ids): larger rasters go in bands of rows."""
KEPT_SUBCELLS = 2 * BAND_SUBCELLS
"""The bands of a raster of at most this many sub-cells (128 MB of ids) are kept from the
first pass (counting each polygon's sub-cells) for the second (sharing its residents);
larger rasters are rasterised again."""
CHUNK_SUBCELLS = 1 << 20
"""Sub-cells counted or shared at once (8 MB of floats), so no step makes a temporary array
the size of a band."""


def subcells_per_side(cell_size: float) -> int:
    """How many sub-cells a side each cell is cut into: ``cell_size`` / 25 m, rounded up,
    between 1 and 16 (so 100 m cells get 4 × 4 sub-cells of 25 m, 1 km cells 16 × 16 of
    62.5 m)."""
    return int(min(MAX_SUBCELLS, max(1, math.ceil(cell_size / SUBCELL_M - 1e-9))))


def spread_residents(
    population: gpd.GeoDataFrame, transform: Affine, shape: tuple[int, int]
) -> np.ndarray:
    """The residents of each polygon spread over the cells of a north-up raster by area share.

    Each cell is cut into k × k sub-cells (:func:`subcells_per_side`); a sub-cell belongs to
    the polygon holding its centre, and a polygon's residents are shared equally among its
    sub-cells, so a cell receives each polygon's residents in proportion to the share of the
    polygon's area within it (to the resolution of the sub-cells), and every polygon's
    residents are placed in full (over its whole area, also beyond the raster). A polygon too
    small to hold a sub-cell's centre puts its residents in the cell holding its
    representative point.

    Parameters
    ----------
    population
        Polygons in EPSG:27700 with a ``population`` column (residents, non-negative).
    transform, shape
        The raster: ``affine.Affine`` of its upper-left corner and square cells, (rows, cols).

    Returns
    -------
    numpy.ndarray
        (rows, cols) float64: residents in each cell.
    """
    geoms, pop = _checked(population)
    size = transform.a
    xmin, ymax = transform.c, transform.f
    xmax, ymin = xmin + shape[1] * size, ymax - shape[0] * size
    near = shapely.intersects(geoms, shapely.box(xmin, ymin, xmax, ymax)) & (pop > 0)
    if not near.any():
        raise PsaGeoError(
            "'population' has no residents within the bandwidth of 'area'; is it for the "
            "same place?"
        )
    geoms, pop = geoms[near], pop[near]
    # the raster grown to hold every polygon that reaches it, so each is shared in full
    bx0, by0, bx1, by1 = shapely.total_bounds(geoms)
    left = max(0, math.ceil((xmin - bx0) / size))
    top = max(0, math.ceil((by1 - ymax) / size))
    right = max(0, math.ceil((bx1 - xmax) / size))
    bottom = max(0, math.ceil((ymin - by0) / size))
    grown = transform @ Affine.translation(-left, -top)
    grown_shape = (shape[0] + top + bottom, shape[1] + left + right)
    k = subcells_per_side(size)
    subcells = np.zeros(len(geoms) + 1, dtype="int64")
    kept = [] if k * k * grown_shape[0] * grown_shape[1] <= KEPT_SUBCELLS else None
    for band in _bands(geoms, grown, grown_shape, k):
        for _, ids in _chunks(band, k, grown_shape[1]):
            subcells += np.bincount(ids.ravel(), minlength=len(geoms) + 1)
        if kept is not None:
            kept.append(band)
    bands = kept if kept is not None else _bands(geoms, grown, grown_shape, k)
    share = np.zeros(len(geoms) + 1)
    share[1:] = np.divide(pop, subcells[1:], out=np.zeros(len(pop)), where=subcells[1:] > 0)
    cells = np.zeros(grown_shape)
    for band in bands:
        for row, ids in _chunks(band, k, grown_shape[1]):
            rows = ids.shape[0] // k
            spread = share[ids].reshape(rows, k, grown_shape[1], k)
            cells[row : row + rows] = spread.sum(axis=(1, 3))
    tiny = np.flatnonzero(subcells[1:] == 0)
    if len(tiny):
        where = shapely.get_coordinates(shapely.point_on_surface(geoms[tiny]))
        i = np.floor((grown.f - where[:, 1]) / size).astype("int64")
        j = np.floor((where[:, 0] - grown.c) / size).astype("int64")
        np.add.at(cells, (i, j), pop[tiny])
    log.info(
        "residents: %d polygons (%s residents) spread over cells of %g m by %d x %d "
        "sub-cells; %d too small for a sub-cell placed at a point",
        len(geoms),
        f"{pop.sum():,.0f}",
        size,
        k,
        k,
        len(tiny),
    )
    return cells[top : top + shape[0], left : left + shape[1]]


def _bands(
    geoms: np.ndarray, transform: Affine, shape: tuple[int, int], k: int
) -> Iterator[tuple[int, np.ndarray]]:
    """(first cell row, polygon ids 1.. of its sub-cells) for bands of cell rows, each at
    most ``BAND_SUBCELLS`` sub-cells (0 = in no polygon)."""
    rows_per_band = max(1, BAND_SUBCELLS // (k * k * shape[1]))
    fine = transform @ Affine.scale(1 / k)
    ids = np.arange(1, len(geoms) + 1)
    bounds = shapely.bounds(geoms)
    size = transform.a
    for row in range(0, shape[0], rows_per_band):
        rows = min(rows_per_band, shape[0] - row)
        top = transform.f - row * size
        bottom = top - rows * size
        hit = (bounds[:, 3] > bottom) & (bounds[:, 1] < top)
        out = (rows * k, shape[1] * k)
        if not hit.any():
            yield row, np.zeros(out, dtype="int32")
            continue
        yield (
            row,
            rasterize(
                zip(geoms[hit], ids[hit].tolist(), strict=True),
                out_shape=out,
                transform=fine @ Affine.translation(0, row * k),
                fill=0,
                all_touched=False,
                dtype="int32",
            ),
        )


def _chunks(band: tuple[int, np.ndarray], k: int, cols: int) -> Iterator[tuple[int, np.ndarray]]:
    """(first cell row, its sub-cells' polygon ids) of runs of whole cell rows of ``band`` (a
    :func:`_bands` item), each of about :data:`CHUNK_SUBCELLS` sub-cells (views, no copy)."""
    row, ids = band
    step = max(1, CHUNK_SUBCELLS // (k * k * cols))
    for first in range(0, ids.shape[0] // k, step):
        yield row + first, ids[first * k : (first + step) * k]


def _checked(population: object) -> tuple[np.ndarray, np.ndarray]:
    """(polygons, residents) of the rows of ``population``; raise on unusable input."""
    check_layer(population, "population")
    if not isinstance(population, gpd.GeoDataFrame) or POPULATION_COLUMN not in population:
        raise PsaGeoError(
            f"'population' should have a {POPULATION_COLUMN!r} column of residents per "
            "polygon (as load_areas gives)"
        )
    if len(population) == 0:
        raise PsaGeoError("'population' has no rows; has a previous step removed them all?")
    pop = population[POPULATION_COLUMN].to_numpy()
    if not np.issubdtype(pop.dtype, np.number) or np.issubdtype(pop.dtype, np.bool_):
        raise PsaGeoError(f"'population' column 'population' should be numeric, got {pop.dtype}")
    pop = pop.astype("float64")
    if not np.isfinite(pop).all() or (pop < 0).any():
        raise PsaGeoError(
            "'population' column 'population' should hold finite, non-negative numbers, but "
            "some are missing, infinite or negative"
        )
    geoms = np.asarray(population.geometry.values)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    kinds = shapely.get_type_id(geoms)
    bad = ~missing & ~np.isin(kinds, [3, 6])
    if bad.any():
        raise PsaGeoError(
            f"'population' should hold polygons only, but {int(bad.sum())} rows are not "
            f"(the first is row {int(np.flatnonzero(bad)[0])})"
        )
    lost = missing & (pop > 0)
    if lost.any():
        raise PsaGeoError(
            f"'population' has {int(lost.sum())} rows with residents but no geometry (the "
            f"first is row {int(np.flatnonzero(lost)[0])}); their residents cannot be placed"
        )
    return geoms[~missing], pop[~missing]
