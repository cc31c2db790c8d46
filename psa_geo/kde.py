"""Kernel density of events as a raster, with the quartic kernel crime analysts use, and the
risk-adjusted (dual) density of events over residents."""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from dataclasses import replace

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine
from rasterio.features import geometry_mask, rasterize
from scipy.signal import fftconvolve

from .checks import CRS, area_union, located_points, positive_metres
from .errors import PsaGeoError
from .grids import MAX_CELLS, _as_counts, _Lattice, default_cell_size
from .residents import spread_residents
from .surface import Surface

log = logging.getLogger(__name__)

QUARTIC_FACTOR = (2304 / 5) ** (1 / 6)
"""≈ 2.779: the quartic radius with the same AMISE-optimal smoothing as a Gaussian of sd 1,
the ratio of (R(K) / μ₂(K)²)^(1/6) for the 2-D quartic (R = 9/(5π), μ₂ = 1/8) and the
2-D Gaussian (R = 1/(4π), μ₂ = 1) kernels."""
MIN_BANDWIDTH_CELLS = 2.0
"""The bandwidth is at least this many cells, so the kernel covers more than one cell."""
NOISE = 1e-12
"""Densities below this fraction of the peak are FFT round-off and are set to 0."""
MIN_RESIDENTS = 1000.0
"""Risk-adjusted density is shown only where the smoothed residents within the bandwidth are
at least this many: the fewest residents an LSOA is designed to hold, so no smoothed rate
rests on fewer residents than the smallest LSOA rate the assessment already publishes."""


def kde(
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    area: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    cell_size: float | None = None,
    bandwidth: float | None = None,
    weight: str | None = "weight",
    population: gpd.GeoDataFrame | None = None,
    min_residents: float = MIN_RESIDENTS,
) -> Surface:
    """Quartic kernel density of points, in events per km², as a raster.

    The kernel is the quartic (biweight) K(d) = 3/(πh²)·(1 − d²/h²)² for d < h, else 0,
    as in CrimeStat and ArcGIS Kernel Density; it integrates to 1, so the density
    integrates to the total weight. Points outside ``area`` still add density to cells
    within ``h`` of them, but only the points inside it set the default bandwidth.

    The default bandwidth ``h`` (the kernel's radius) is the bivariate normal-reference
    rule (Scott's, which equals Silverman's in two dimensions) converted to the quartic
    kernel: h = 2.78 · mean(Aₓ, A_y) · n^(−1/6), with A = min(sd, IQR/1.349) per axis
    (Silverman's robust spread; weighted, quantiles by inverted CDF), n the total weight
    and 2.78 = (2304/5)^(1/6) the quartic-to-Gaussian canonical bandwidth ratio. It is
    raised to at least 2 cells. The rule suits one main cluster and oversmooths several;
    pass ``bandwidth`` to override.

    The raster covers the area's bounding box on the square lattice of
    :func:`psa_geo.make_grid` (cells anchored at the National Grid origin), so the same
    area and cell size always give the same raster, and its cells are the grid's cells
    (:meth:`Surface.to_cells`). Computed by binning the points to the lattice and convolving
    with the kernel evaluated at lattice offsets (FFT); no polygon is built. Binning moves
    each point to its cell centre, so positions are off by at most half a cell diagonal;
    the result equals the direct sum of the kernel over the binned points at each cell
    centre.

    With ``population`` (risk-adjusted or dual density, as CrimeStat's "ratio of
    densities"): the residents of each polygon are spread over the cells by area share
    (:func:`psa_geo.residents.spread_residents`), smoothed with the same kernel and
    bandwidth, and ``per_1000`` = 1,000 × event density / resident density: events per
    1,000 residents, smoothed. Cells whose smoothed residents within the bandwidth
    (resident density × πh²) are fewer than ``min_residents`` are NaN.

    Parameters
    ----------
    points
        Points in EPSG:27700, e.g. canonical events; empty geometries are skipped.
    area
        Polygons to cover (unioned); None for the points' convex hull buffered by ``h``.
    cell_size
        Square cell side in metres; None for :func:`default_cell_size` of the area.
    bandwidth
        Kernel radius ``h`` in metres; None for the rule above.
    weight
        Column of non-negative weights; None counts each point once (as does a GeoSeries).
    population
        Polygons in EPSG:27700 with a ``population`` column (e.g. :func:`load_areas`'s
        LSOAs); None for density alone.
    min_residents
        The fewest smoothed residents within the bandwidth for a cell's risk-adjusted
        density to be given (default 1,000, :data:`MIN_RESIDENTS`).

    Returns
    -------
    Surface
        ``values`` (events per km² at each cell centre), ``counts`` (weight of the points in
        each cell), ``mask`` (cells the area meets), ``bandwidth`` and ``bandwidth_rule``;
        with ``population`` also ``per_1000``, ``residents``, ``residents_in_kernel`` and
        ``min_residents``.
    """
    xy, w = located_points(points, "points", weight)
    total = float(w.sum())
    if total <= 0:
        raise PsaGeoError(f"'points' weights ({weight!r}) sum to 0, so there is no density")
    if cell_size is not None:
        cell_size = positive_metres(cell_size, "cell_size")
    if bandwidth is not None:
        bandwidth = positive_metres(bandwidth, "bandwidth")
    if population is not None:
        min_residents = _positive(min_residents, "min_residents")
    if area is not None:
        union = area_union(area, "area")
        size = cell_size if cell_size is not None else default_cell_size(area)
        transform, shape = _raster_grid(union, size)
        i, j = _cells_of(xy, transform)
        mask, edge = _area_rasters(union, transform, shape)
        inside = _inside(xy, (i, j), union, mask, edge)
        if bandwidth is None and w[inside].sum() <= 0:
            raise PsaGeoError(
                "the 'points' inside 'area' have zero total weight, so no bandwidth can be "
                "derived from them; pass bandwidth="
            )
        h, rule = _choose_bandwidth(xy[inside], w[inside], bandwidth, size)
    else:
        rule_h = bandwidth if bandwidth is not None else bandwidth_rule(xy, w)
        if rule_h <= 0 and cell_size is None:
            raise PsaGeoError(
                "'points' are all at one place, so neither a bandwidth nor an area can be "
                "derived from them; pass area= or bandwidth="
            )
        size = cell_size if cell_size is not None else _hull_cell_size(xy, rule_h)
        h, rule = _choose_bandwidth(xy, w, bandwidth, size)
        union = shapely.convex_hull(shapely.multipoints(xy)).buffer(h)
        transform, shape = _raster_grid(union, size)
        i, j = _cells_of(xy, transform)
        mask, _ = _area_rasters(union, transform, shape)
    pad = _padding(shape, size, h)
    padded = transform @ Affine.translation(-pad, -pad)
    binned = _bin(i + pad, j + pad, w, (shape[0] + 2 * pad, shape[1] + 2 * pad))
    kernel = _kernel(h, size, pad)
    density = _smooth(binned, kernel)
    counts = _as_counts(binned[pad : pad + shape[0], pad : pad + shape[1]], w)
    surface = Surface(density, transform, size, mask, counts, h, rule, union)
    if population is not None:
        surface = _risk_adjusted(surface, population, padded, binned.shape, kernel, min_residents)
    log.info(
        "kde: %d points (%d in the area), bandwidth %.0f m (%s), %d cells of %g m in the "
        "area (raster %d x %d), peak %.1f per km²",
        len(xy),
        len(xy) if area is None else int(inside.sum()),
        h,
        rule,
        int(mask.sum()),
        size,
        shape[0],
        shape[1],
        float(density[mask].max()) if mask.any() else 0.0,
    )
    return surface


def bandwidth_rule(xy: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The default quartic bandwidth in metres (see :func:`kde`), before the 2-cell floor.

    Parameters
    ----------
    xy
        (n, 2) array of coordinates in metres.
    weights
        Non-negative weight per point; None for 1 each.

    Returns
    -------
    float
        2.78 · mean(Aₓ, A_y) · n^(−1/6), 0 when the points have no spread.
    """
    xy = np.asarray(xy, dtype="float64")
    w = np.ones(len(xy)) if weights is None else np.asarray(weights, dtype="float64")
    n = float(w.sum())
    if len(xy) == 0 or n <= 0:
        raise PsaGeoError("'xy' should hold at least one point with a positive weight")
    spreads = [_robust_spread(xy[:, k], w, n) for k in (0, 1)]
    return float(QUARTIC_FACTOR * np.mean(spreads) * n ** (-1 / 6))


def _robust_spread(values: np.ndarray, w: np.ndarray, n: float) -> float:
    """Silverman's A = min(sd, IQR/1.349), weighted (frequency weights)."""
    if n <= 1:
        return 0.0
    mean = float(np.average(values, weights=w))
    sd = math.sqrt(float(np.sum(w * (values - mean) ** 2)) / (n - 1))
    if (w == w[0]).all():  # equal weights: the same quantiles, by partition not sorting
        q1, q3 = np.quantile(values, [0.25, 0.75], method="inverted_cdf")
    else:
        q1, q3 = np.quantile(values, [0.25, 0.75], weights=w, method="inverted_cdf")
    iqr = float(q3 - q1)
    return min(sd, iqr / 1.349) if iqr > 0 else sd


def _choose_bandwidth(
    xy: np.ndarray, w: np.ndarray, bandwidth: float | None, cell_size: float
) -> tuple[float, str]:
    if bandwidth is not None:
        return bandwidth, "given"
    h = bandwidth_rule(xy, w)
    floor = MIN_BANDWIDTH_CELLS * cell_size
    if h < floor:
        log.info("kde: rule bandwidth %.0f m raised to 2 cells (%.0f m)", h, floor)
        return floor, "2-cell floor"
    return h, "normal reference (quartic)"


def _hull_cell_size(xy: np.ndarray, h: float) -> float:
    hull = shapely.convex_hull(shapely.multipoints(xy)).buffer(h)
    return default_cell_size(gpd.GeoSeries([hull], crs=CRS))


def _cells_of(xy: np.ndarray, transform: Affine) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of the raster cell holding each point (may be outside the raster)."""
    size = transform.a
    top, left = round(transform.f / size), round(transform.c / size)
    i = top - 1 - np.floor(xy[:, 1] / size).astype("int64")
    j = np.floor(xy[:, 0] / size).astype("int64") - left
    return i, j


def _area_rasters(
    union: shapely.Geometry, transform: Affine, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """(cells the area meets, by GDAL's "all touched" rule; cells its edge touches), copies
    of the ones kept for the last few (area, raster): a hotspot study's groups share them."""
    key = (shapely.to_wkb(union), tuple(transform), shape)
    if key in _rasters:
        _rasters.move_to_end(key)
    else:
        meets = geometry_mask([union], out_shape=shape, transform=transform, all_touched=True,
                              invert=True)  # fmt: skip
        edge = rasterize([union.boundary], out_shape=shape, transform=transform,
                         all_touched=True, dtype="uint8").astype(bool)  # fmt: skip
        _rasters[key] = (meets, edge)
        while len(_rasters) > _KEPT_RASTERS:
            _rasters.popitem(last=False)
    meets, edge = _rasters[key]
    return meets.copy(), edge.copy()


_KEPT_RASTERS = 4
"""How many (area, raster) keep their cell mask and edge cells (an area's groups share one)."""
_rasters: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()


def _inside(
    xy: np.ndarray,
    cells: tuple[np.ndarray, np.ndarray],
    union: shapely.Geometry,
    meets: np.ndarray,
    edge: np.ndarray,
) -> np.ndarray:
    """Which points lie in the area; raise when none does.

    A cell that the area's edge does not touch (GDAL's "all touched" rule, which marks every
    cell a line passes through) lies wholly inside or wholly outside the area, as ``meets``
    says; only the points in the cells on the edge are tested against the polygons."""
    i, j = cells
    shape = meets.shape
    x, y = xy[:, 0], xy[:, 1]
    xmin, ymin, xmax, ymax = union.bounds
    in_box = (i >= 0) & (i < shape[0]) & (j >= 0) & (j < shape[1])
    inside = np.zeros(len(xy), dtype=bool)
    inside[in_box] = meets[i[in_box], j[in_box]]
    near = np.zeros(len(xy), dtype=bool)
    near[in_box] = edge[i[in_box], j[in_box]]
    near |= ~in_box & (x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax)
    shapely.prepare(union)
    inside[near] = shapely.intersects_xy(union, x[near], y[near])
    if inside.any():
        return inside
    raise PsaGeoError(
        f"none of the {len(xy)} located 'points' lies inside 'area' (points span "
        f"{_span(xy)}, area spans {_span(np.array([[xmin, ymin], [xmax, ymax]]))}); "
        "are they for the same place?"
    )


def _span(xy: np.ndarray) -> str:
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    return f"E {lo[0]:,.0f}–{hi[0]:,.0f}, N {lo[1]:,.0f}–{hi[1]:,.0f}"


def _positive(value: object, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.integer | np.floating)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise PsaGeoError(f"'{name}' should be a positive number, got {value!r}")
    return float(value)


def _raster_grid(union: shapely.Geometry, size: float) -> tuple[Affine, tuple[int, int]]:
    """(transform, shape) of the lattice cells over ``union``'s bounding box, as
    :func:`psa_geo.make_grid` covers it."""
    r0, r1, c0, c1 = _Lattice("square", size).index_range(union.bounds)
    return Affine(size, 0.0, c0 * size, 0.0, -size, r1 * size), (r1 - r0, c1 - c0)


def _padding(shape: tuple[int, int], size: float, h: float) -> int:
    """The padding in cells that the kernel needs; raise when the raster would be too big."""
    pad = math.ceil(h / size)
    total = (shape[0] + 2 * pad) * (shape[1] + 2 * pad)
    if total > MAX_CELLS:
        raise PsaGeoError(
            f"'cell_size' {size:g} m would need {total:,} cells over the area's bounding box "
            "and the bandwidth around it; choose a larger cell_size"
        )
    return pad


def _bin(i: np.ndarray, j: np.ndarray, w: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The summed weight of the points in each cell (row ``i``, column ``j``) of a raster of
    ``shape``, float64; points beyond it are left out."""
    inside = (i >= 0) & (i < shape[0]) & (j >= 0) & (j < shape[1])
    flat = i[inside] * shape[1] + j[inside]
    binned = np.bincount(flat, weights=w[inside].astype("float64"), minlength=shape[0] * shape[1])
    return binned.reshape(shape)


def _kernel(h: float, size: float, pad: int) -> np.ndarray:
    """The quartic kernel (per m²) at the lattice offsets -pad..pad cells."""
    offsets = np.arange(-pad, pad + 1) * size
    d2 = offsets[:, None] ** 2 + offsets[None, :] ** 2
    return np.where(d2 < h * h, 3 / (math.pi * h * h) * (1 - d2 / (h * h)) ** 2, 0.0)


def _smooth(binned: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Σ kernel × binned weights at each cell of the unpadded raster, per km² (FFT)."""
    surface = fftconvolve(binned, kernel, mode="valid") * 1e6
    peak = surface.max() if surface.size else 0.0
    surface[surface < peak * NOISE] = 0.0
    return surface


def _risk_adjusted(
    surface: Surface,
    population: gpd.GeoDataFrame,
    padded: Affine,
    shape: tuple[int, int],
    kernel: np.ndarray,
    min_residents: float,
) -> Surface:
    """``surface`` with the events per 1,000 residents (smoothed) and the residents."""
    residents = spread_residents(population, padded, shape)
    pad = (shape[0] - surface.shape[0]) // 2
    resident_density = _smooth(residents, kernel)
    in_kernel = resident_density * math.pi * surface.bandwidth**2 / 1e6
    shown = surface.mask & (in_kernel >= min_residents)
    per_1000 = np.full(surface.shape, np.nan)
    per_1000[shown] = 1000 * surface.values[shown] / resident_density[shown]
    log.info(
        "kde: risk-adjusted density in %d of %d cells of the area (%d with fewer than %g "
        "residents within the bandwidth are not given)",
        int(shown.sum()),
        int(surface.mask.sum()),
        int((surface.mask & ~shown).sum()),
        min_residents,
    )
    return replace(
        surface,
        per_1000=per_1000,
        residents=residents[pad : pad + surface.shape[0], pad : pad + surface.shape[1]],
        residents_in_kernel=in_kernel,
        min_residents=min_residents,
    )
