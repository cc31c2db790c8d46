"""Hot spots on a grid of cells: Getis-Ord Gi* with a Benjamini-Hochberg FDR correction."""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.spatial import cKDTree
from scipy.special import ndtr

from .checks import cell_centres, cell_values, gistar_problem, positive_metres
from .errors import PsaGeoError

log = logging.getLogger(__name__)

NOT_TESTED = "Not tested (no neighbouring cell)"
"""The class of a cell with no other cell within the band, where a caller skips it."""

DEFAULT_NEIGHBOURS = 8
"""The default band gives the median cell this many neighbours (the queen ring of a grid)."""

BAND_TOLERANCE = 1e-9
"""Relative slack on the band, so centroids exactly one band apart are neighbours whatever
the rounding of their coordinates (a grid's diagonal neighbours are √2·s apart)."""


def gistar(
    cells: gpd.GeoDataFrame,
    *,
    column: str = "n",
    distance: float | None = None,
    fdr: bool = True,
    alpha_levels: Sequence[float] = (0.10, 0.05, 0.01),
) -> gpd.GeoDataFrame:
    """Getis-Ord Gi* hot and cold spots over grid cells, with a fixed distance band.

    Weights are binary: cell j counts for cell i when their centroids are at most the band
    apart (with a 1e-9 relative slack for rounding), and every cell counts for itself
    (w_ii = 1). A cell with no other cell within the band is an error. The z-score is the
    analytic one of Ord & Getis (1995), with the mean and population standard deviation over
    all cells; p-values are two-sided, from the normal distribution.

    Parameters
    ----------
    cells
        Grid cells (polygons) in EPSG:27700 with a count per cell. Distances are between
        the cells' ``x``/``y`` columns when both are present, else between their centroids.
    column
        The column of non-negative counts (or rates).
    distance
        The band in metres. None (the default) takes the median over cells of the distance
        to each cell's 8th nearest other cell, so at least half the cells have 8 or more
        neighbours: √2·s on a square grid of side s (the 8 queen neighbours) and √3·s
        (12 neighbours) on a hexagonal grid of spacing s, as long as most cells are not on
        the grid's edge (there a mean-based rule would jump to the next ring).
    fdr
        Classify cells by Benjamini-Hochberg corrected significance (as ArcGIS's "Apply
        False Discovery Rate (FDR) Correction"): a cell is significant at level α when its
        p-value is at most the BH threshold for α, computed separately at each level.
    alpha_levels
        Significance levels; the default gives the 90%, 95% and 99% confidence classes.

    Returns
    -------
    GeoDataFrame
        A copy of ``cells`` with ``gistar_z``, ``p_value``, ``p_value_fdr`` (BH-adjusted,
        computed whether or not ``fdr`` is set), ``hotspot_class`` (e.g. "Hot spot, 99%
        confidence", "Not significant", "Cold spot, 90% confidence"), ``hotspot_level``
        (the number of levels passed, negative for cold spots: 3 = 99%, 2 = 95%, 1 = 90%,
        0 = not significant with the default levels) and ``gistar_band_m`` (the band used,
        the same on every row).
    """
    x, xy, alphas = _validate(cells, column, alpha_levels)
    scores = gistar_scores(x, xy, distance=distance, fdr=fdr, alphas=alphas, index=cells.index)
    labels = np.array(_labels(alphas), dtype=object)
    out = cells.copy()
    out["gistar_z"] = scores.z
    out["p_value"] = scores.p
    out["p_value_fdr"] = bh_adjust(scores.p)
    out["hotspot_class"] = pd.Series(labels[scores.levels + len(alphas)], index=cells.index,
                                     dtype=str)  # fmt: skip
    out["hotspot_level"] = scores.levels
    out["gistar_band_m"] = scores.band
    return out


class GistarScores(NamedTuple):
    """Gi* of one set of counts: ``z``, two-sided ``p``, ``levels`` (as
    :func:`gistar`'s ``hotspot_level``) and the ``band`` used."""

    z: np.ndarray
    p: np.ndarray
    levels: np.ndarray
    band: float


def gistar_scores(
    x: np.ndarray,
    xy: np.ndarray,
    *,
    distance: float | None = None,
    fdr: bool = True,
    alphas: Sequence[float] = (0.10, 0.05, 0.01),
    index: pd.Index | None = None,
) -> GistarScores:
    """:func:`gistar` on arrays, for callers that run it many times on one grid (time
    slices, periods, groups): ``x`` the checked counts, ``xy`` the cell centres, ``alphas``
    from loosest to strictest; ``index`` names a cell in the error about isolated cells.
    The neighbours of a band are found once for a set of centres (:func:`_band_weights`)."""
    key = _key(xy)
    tree = _tree(xy, key)
    band = default_band(tree) if distance is None else positive_metres(distance, "distance")
    n = len(x)
    w, cardinality = _band_weights(key, tree, band)
    _check_neighbours(index if index is not None else pd.RangeIndex(n), tree, cardinality, band)
    log.info(
        "Gi* over %d cells with a %.1f m band: %.1f neighbours per cell on average",
        n,
        band,
        cardinality.mean() - 1,
    )

    mean = x.mean()
    sd = x.std()
    numerator = w @ x - mean * cardinality
    denominator = sd * np.sqrt((n * cardinality - cardinality**2) / (n - 1))
    z = numerator / denominator
    p = 2.0 * ndtr(-np.abs(z))

    levels = np.zeros(n, dtype="int64")
    ranked = np.sort(p) if fdr else None
    for alpha in alphas:  # loosest first: each stricter level passed adds one
        passed = p <= (_bh_threshold(ranked, alpha) if fdr else alpha)
        levels += passed
    levels *= np.sign(z).astype("int64")
    log.info(
        "Gi*: %d hot and %d cold cells at %.0f%% confidence%s",
        int((levels > 0).sum()),
        int((levels < 0).sum()),
        100 * (1 - alphas[0]),
        " after FDR correction" if fdr else "",
    )
    return GistarScores(z, p, levels, band)


_KEPT_GRIDS = 4
"""How many sets of cell centres keep their k-d tree (an area's grid, and its subsets)."""
_KEPT_WEIGHTS = 8
"""How many (centres, band) pairs keep their weights (an area's groups choose a few bands)."""
_trees: OrderedDict[tuple, cKDTree] = OrderedDict()
_nearest: OrderedDict[tuple, np.ndarray] = OrderedDict()
_weights: OrderedDict[tuple, tuple[sparse.csr_array, np.ndarray]] = OrderedDict()


def _key(xy: np.ndarray) -> tuple:
    """The cell centres' shape and a digest of their values, in order."""
    xy = np.ascontiguousarray(xy, dtype="float64")
    return xy.shape, hashlib.blake2b(xy.tobytes(), digest_size=16).digest()


def _kept(cache: OrderedDict, key, size: int, make):
    """``cache[key]``, made by ``make()`` when missing; the least recently used of more than
    ``size`` entries is dropped."""
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    cache[key] = value = make()
    while len(cache) > size:
        cache.popitem(last=False)
    return value


def _tree(xy: np.ndarray, key: tuple | None = None) -> cKDTree:
    """The k-d tree of the cell centres ``xy`` (kept for the last few grids; ``key`` is
    :func:`_key` of ``xy`` when the caller has it)."""
    return _kept(_trees, key or _key(xy), _KEPT_GRIDS, lambda: cKDTree(xy))


def _nearest_other(key: tuple, tree: cKDTree) -> np.ndarray:
    """The distance from each cell of ``tree`` (centres of :func:`_key` ``key``) to its
    nearest other cell (kept for the last few grids: it does not depend on the band)."""
    return _kept(_nearest, key, _KEPT_GRIDS, lambda: tree.query(tree.data, k=2)[0][:, 1])


def _band_weights(key: tuple, tree: cKDTree, band: float) -> tuple[sparse.csr_array, np.ndarray]:
    """Binary weights of the cells of ``tree`` (centres of :func:`_key` ``key``) within
    ``band`` of each other, the diagonal included, and each cell's number of weights; kept
    for the last few (centres, band) pairs, as Gi* runs many times on one grid with one band
    (every time slice, both periods of a change). Kept weights are the ones a new run would
    make, so they give the same scores."""

    def make():
        pairs = tree.query_pairs(band * (1 + BAND_TOLERANCE), output_type="ndarray")
        w = _binary_weights(pairs, tree.n)
        return w, np.asarray(w.sum(axis=1)).ravel()

    return _kept(_weights, (key, float(band)), _KEPT_WEIGHTS, make)


def bh_adjust(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values: min over k ≥ rank of p₍ₖ₎·n/k, at most 1."""
    p = np.asarray(p, dtype="float64")
    n = len(p)
    order = np.argsort(p, kind="stable")
    scaled = p[order] * n / np.arange(1, n + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def _bh_threshold(ranked: np.ndarray, alpha: float) -> float:
    """The largest p₍ₖ₎ with p₍ₖ₎ ≤ k·α/n of the p-values sorted in ``ranked`` (−1 when there
    is none: nothing is significant)."""
    passing = np.nonzero(ranked <= alpha * np.arange(1, len(ranked) + 1) / len(ranked))[0]
    return float(ranked[passing[-1]]) if len(passing) else -1.0


def _labels(alphas: list[float]) -> list[str]:
    """Labels from the strictest cold level to the strictest hot level, in level order."""
    names = [f"{round(100 * (1 - a), 6):g}% confidence" for a in alphas]
    cold = [f"Cold spot, {name}" for name in reversed(names)]
    hot = [f"Hot spot, {name}" for name in names]
    return [*cold, "Not significant", *hot]


def _binary_weights(pairs: np.ndarray, n: int) -> sparse.csr_array:
    """Symmetric 0/1 weights from distinct i < j pairs, with ones on the diagonal: built in
    CSR order (by row, then column) directly, as converting from COO gives it."""
    rows = np.concatenate([pairs[:, 0], pairs[:, 1], np.arange(n)]).astype("int64")
    cols = np.concatenate([pairs[:, 1], pairs[:, 0], np.arange(n)]).astype("int64")
    if n <= np.iinfo("uint16").max:  # two stable radix sorts, by column then by row
        by_col = np.argsort(cols.astype("uint16"), kind="stable")
        order = by_col[np.argsort(rows.astype("uint16")[by_col], kind="stable")]
    else:
        order = np.argsort(rows * n + cols)
    indptr = np.zeros(n + 1, dtype="int64")
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return sparse.csr_array((np.ones(len(order)), cols[order], indptr), shape=(n, n))


def band_and_isolated(
    cells: gpd.GeoDataFrame, distance: float | None = None, *, what: str = "Gi*"
) -> tuple[float, np.ndarray]:
    """The band (``distance``, else :func:`default_band` of the whole grid) and which cells
    have no other cell within it (offshore rocks, islands cut off by a clip): Gi* cannot test
    them, so callers label them rather than stop; ``what`` names the caller in the log."""
    if not isinstance(cells, gpd.GeoDataFrame) or len(cells) < 2:
        raise PsaGeoError("'cells' should be a GeoDataFrame of at least two grid cells")
    xy = cell_centres(cells)
    key = _key(xy)
    tree = _tree(xy, key)
    band = default_band(tree) if distance is None else positive_metres(distance, "distance")
    alone = _nearest_other(key, tree) > band * (1 + BAND_TOLERANCE)
    if alone.any():
        log.info("%s: %d cells with no other cell within %.1f m are not tested", what,
                 int(alone.sum()), band)  # fmt: skip
    return band, alone


def default_band(tree: cKDTree) -> float:
    """Median distance from a cell to its 8th nearest other cell."""
    k = min(DEFAULT_NEIGHBOURS, tree.n - 1)
    distances, _ = tree.query(tree.data, k=k + 1)  # the nearest is the cell itself
    band = float(np.quantile(distances[:, k], 0.5, method="inverted_cdf"))
    if band <= 0:
        raise PsaGeoError(
            "more than half the cells share their centroid with 8 others, so no distance "
            "band can be derived; pass distance= in metres"
        )
    return band


def _check_neighbours(index: pd.Index, tree: cKDTree, cardinality: np.ndarray, band: float) -> None:
    alone = np.nonzero(cardinality == 1)[0]
    if len(alone):
        nearest, _ = tree.query(tree.data[alone], k=2)
        first = index[alone[:1]].tolist()[0]
        raise PsaGeoError(
            f"{len(alone)} cell(s) (e.g. index {first!r}) have no other cell within the "
            f"{band:.1f} m band; drop them or pass distance={nearest[:, 1].max():.1f} or more"
        )
    everything = np.nonzero(cardinality == tree.n)[0]
    if len(everything):
        raise PsaGeoError(
            f"the {band:.1f} m band reaches every cell from {len(everything)} cell(s), which "
            "leaves Gi* undefined; pass a smaller distance="
        )


def _validate(
    cells: gpd.GeoDataFrame, column: str, alpha_levels: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Check everything up front; return the values, the coordinates and the sorted levels."""
    x = cell_values(cells, column)
    problem = gistar_problem(x, column)
    if problem:
        raise PsaGeoError(problem)
    alphas = sorted({float(a) for a in alpha_levels}, reverse=True)
    if not alphas or not all(0 < a < 1 for a in alphas):
        raise PsaGeoError(f"alpha_levels should be levels between 0 and 1, got {alpha_levels!r}")
    return x, cell_centres(cells), alphas
