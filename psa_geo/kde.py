"""Kernel density of events on a square grid, with the quartic kernel crime analysts use."""

from __future__ import annotations

import logging
import math

import geopandas as gpd
import numpy as np
import shapely
from scipy.signal import fftconvolve

from .checks import CRS, area_union, located_points, positive_metres
from .errors import PsaGeoError
from .grids import _as_counts, _build_grid, _Lattice, default_cell_size

log = logging.getLogger(__name__)

QUARTIC_FACTOR = (2304 / 5) ** (1 / 6)
"""≈ 2.779: the quartic radius with the same AMISE-optimal smoothing as a Gaussian of sd 1,
the ratio of (R(K) / μ₂(K)²)^(1/6) for the 2-D quartic (R = 9/(5π), μ₂ = 1/8) and the
2-D Gaussian (R = 1/(4π), μ₂ = 1) kernels."""
MIN_BANDWIDTH_CELLS = 2.0
"""The bandwidth is at least this many cells, so the kernel covers more than one cell."""
NOISE = 1e-12
"""Densities below this fraction of the peak are FFT round-off and are set to 0."""


def kde(
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    area: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    cell_size: float | None = None,
    bandwidth: float | None = None,
    weight: str | None = "weight",
) -> gpd.GeoDataFrame:
    """Quartic kernel density of points, in events per km², on a square grid.

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

    Computed by binning the points to the grid's lattice and convolving with the kernel
    evaluated at lattice offsets (FFT). Binning moves each point to its cell centre, so
    positions are off by at most half a cell diagonal; the result equals the direct sum of
    the kernel over the binned points at each cell centre.

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

    Returns
    -------
    GeoDataFrame
        The grid of ``make_grid(area, cell_size=...)`` (columns ``cell_id``, ``row``,
        ``col``, ``x``, ``y``, ``area_km2``, ``geometry``) plus ``n`` (weight of the points
        in each lattice cell) and ``kde`` (events per km² at the cell centre).
        ``attrs["kde"]`` holds ``bandwidth``, ``bandwidth_rule`` and ``cell_size``.
    """
    xy, w = located_points(points, "points", weight)
    total = float(w.sum())
    if total <= 0:
        raise PsaGeoError(f"'points' weights ({weight!r}) sum to 0, so there is no density")
    if cell_size is not None:
        cell_size = positive_metres(cell_size, "cell_size")
    if bandwidth is not None:
        bandwidth = positive_metres(bandwidth, "bandwidth")
    if area is not None:
        union = area_union(area, "area")
        inside = _inside(xy, union)
        if bandwidth is None and w[inside].sum() <= 0:
            raise PsaGeoError(
                "the 'points' inside 'area' have zero total weight, so no bandwidth can be "
                "derived from them; pass bandwidth="
            )
        size = cell_size if cell_size is not None else default_cell_size(area)
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
    grid = _build_grid(union, _Lattice("square", size))
    n, density = _density(xy, w, grid, size, h)
    out = grid.copy()
    out["n"] = _as_counts(n, w)
    out["kde"] = density
    out.attrs["kde"] = {"bandwidth": h, "bandwidth_rule": rule, "cell_size": size}
    log.info(
        "kde: %d points (%d in the area), bandwidth %.0f m (%s), %d cells of %g m, "
        "peak %.1f per km²",
        len(xy),
        len(xy) if area is None else int(inside.sum()),
        h,
        rule,
        len(out),
        size,
        float(density.max()) if len(density) else 0.0,
    )
    return out


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


def _inside(xy: np.ndarray, union: shapely.Geometry) -> np.ndarray:
    """Which points lie in the area; raise when none does."""
    xmin, ymin, xmax, ymax = union.bounds
    x, y = xy[:, 0], xy[:, 1]
    inside = (x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax)
    shapely.prepare(union)
    inside[inside] = shapely.intersects_xy(union, x[inside], y[inside])
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


def _density(
    xy: np.ndarray, w: np.ndarray, grid: gpd.GeoDataFrame, size: float, h: float
) -> tuple[np.ndarray, np.ndarray]:
    """(weight per grid cell, density per km² at grid cell centres) by binning + FFT."""
    if len(grid) == 0:
        return np.zeros(0), np.zeros(0)
    rows, cols = grid["row"].to_numpy(), grid["col"].to_numpy()
    pad = math.ceil(h / size)
    r0, c0 = int(rows.min()) - pad, int(cols.min()) - pad
    shape = (int(rows.max()) + pad + 1 - r0, int(cols.max()) + pad + 1 - c0)
    pr = np.floor(xy[:, 1] / size).astype("int64") - r0
    pc = np.floor(xy[:, 0] / size).astype("int64") - c0
    inside = (pr >= 0) & (pr < shape[0]) & (pc >= 0) & (pc < shape[1])
    flat = pr[inside] * shape[1] + pc[inside]
    binned = np.bincount(flat, weights=w[inside].astype("float64"), minlength=shape[0] * shape[1])
    binned = binned.reshape(shape)
    offsets = np.arange(-pad, pad + 1) * size
    d2 = offsets[:, None] ** 2 + offsets[None, :] ** 2
    kernel = np.where(d2 < h * h, 3 / (math.pi * h * h) * (1 - d2 / (h * h)) ** 2, 0.0)
    surface = fftconvolve(binned, kernel, mode="same") * 1e6
    peak = surface.max()
    surface[surface < peak * NOISE] = 0.0
    return binned[rows - r0, cols - c0], surface[rows - r0, cols - c0]
