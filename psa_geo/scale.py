"""The hotspot scale from the data: a cell size and a Gi* distance band per area and group.

The band is the first peak of incremental spatial autocorrelation, as in ArcGIS Pro's
Optimized Hot Spot Analysis: Global Moran's I of the events counted on a square lattice, with
binary distance-band weights, over increasing distances; the first distance at which its
z-score peaks is where clustering is most pronounced. The cell is a third of that band.

Moran's I for every band from a few FFTs
----------------------------------------
Cells i of the study area (n of them, the mask M) hold counts x_i; z_i = x_i − x̄ (x̄ over M).
Weights are binary: w_ij = 1 when 0 < |c_i − c_j| ≤ d, so

    I(d) = n / S0 · Σ_ij w_ij z_i z_j / Σ_i z_i².

On a lattice, w_ij depends only on the offset δ = j − i, so with Z the raster of z (0 off M)
and A_Z(δ) = Σ_p Z_p Z_{p+δ} its autocorrelation (one FFT pair, |FFT(Z)|², zero-padded by the
largest band so that nothing wraps round):

    Σ_ij w_ij z_i z_j = Σ_{0<|δ|≤d} A_Z(δ),     S0 = Σ_ij w_ij = Σ_{0<|δ|≤d} A_M(δ)

(A_M the autocorrelation of the mask), so one FFT pair gives the numerator for every band.
For symmetric binary weights S1 = ½ Σ_ij (w_ij + w_ji)² = 2·S0 and
S2 = Σ_i (w_i· + w_·i)² = 4 Σ_{i∈M} k_i², where k_i = (1_M ⊛ D_d)_i is the number of cells
within d of cell i (D_d the disk of offsets): one FFT convolution per band. Under the
normality assumption (Cliff & Ord 1981; esda's ``VI_norm``)

    E[I] = −1/(n − 1),   Var[I] = (n²·S1 − n·S2 + 3·S0²) / ((n² − 1)·S0²) − E[I]²,

and z = (I − E[I]) / √Var[I].
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from scipy import fft, ndimage
from scipy.spatial import cKDTree
from scipy.special import ndtri

from .checks import CRS, area_union, check_layer, located_points, positive_metres
from .errors import PsaGeoError
from .grids import MAX_CELL_SIZE, MIN_CELL_SIZE, default_cell_size

log = logging.getLogger(__name__)

MIN_LOCATIONS = 60
"""Events at fewer distinct places than this get the default grid (ArcGIS's minimum for its
snapped incidents is 60)."""
BAND_FLOOR = 150.0
"""The smallest band tried, in metres: a street block."""
BAND_CEILING = 1500.0
"""The largest band tried, in metres: a 3 km circle, about a market town."""
BAND_RATIO = 1.15
"""Each band tried is this much wider than the one before (rounded to 10 m)."""
MAX_BANDS = 20
"""At most this many bands are tried (1.15¹⁹ ≈ 14 spans 150 m to 1.5 km)."""
SEARCH_CELLS = 2**17
"""The search lattice has at most about this many cells over the area's bounding box."""
SEARCH_CELLS_PER_BAND = 2
"""The smallest band tried is at least this many search cells (12 neighbours)."""
CELLS_PER_BAND = 3
"""The chosen cell is the band divided by this (about 28 cells within the band)."""
MAX_GRID_CELLS = 40_000
"""The chosen cell is no smaller than the one giving this many cells over the area's land."""
PEAK_WINDOW = 2
"""A peak is higher than this many bands either side (about ±30% in distance), so that a
wiggle of a sparse group's z-scores is not taken for the scale."""
PEAK_ALPHA = 0.05
"""A peak counts when its z-score is significant at this level, Bonferroni-corrected over
the bands tried (one-sided: z ≥ 2.81 for 20 bands)."""
KNN_SHARE, KNN_MIN, KNN_MAX = 0.05, 3, 30
"""Without a peak the band is the mean distance from each event location to its k-th nearest
other location, k = 5% of the locations, between 3 and 30 (as ArcGIS)."""
BAND_TOLERANCE = 1e-9
"""Relative slack on a band, so that cells exactly one band apart are neighbours."""


@dataclass(frozen=True)
class Scale:
    """The cell size and Gi* band chosen for one area and group, and why.

    Attributes
    ----------
    cell_size
        Square cell side in metres (a multiple of 10 unless given).
    band
        The Gi* distance band in metres.
    rule
        A short phrase: "first peak of Moran's I z at 1,240 m", "given", ...
    reason
        One plain-English sentence for a partner, for the map.
    events
        The total weight of the located events inside the area.
    locations
        The number of distinct places those events are at.
    search_cell
        The lattice (metres) on which Moran's I was computed; None when no search ran.
    bands
        The bands tried, in metres.
    z_scores
        Moran's I z-score at each band tried.
    """

    cell_size: float
    band: float
    rule: str
    reason: str
    events: float
    locations: int
    search_cell: float | None = None
    bands: tuple[float, ...] = ()
    z_scores: tuple[float, ...] = ()

    def to_metadata(self) -> dict[str, str]:
        """The scale as ``{name: text}`` for GeoPackage layer metadata."""
        return {
            "scale_cell_size_m": f"{self.cell_size:g}",
            "scale_band_m": f"{self.band:g}",
            "scale_rule": self.rule,
            "scale_reason": self.reason,
            "scale_events": f"{self.events:.12g}",
            "scale_locations": str(self.locations),
            "scale_search_cell_m": "" if self.search_cell is None else f"{self.search_cell:g}",
            "scale_bands_m": ",".join(f"{b:g}" for b in self.bands),
            "scale_moran_z": ",".join(f"{z:.2f}" for z in self.z_scores),
        }


@dataclass(frozen=True)
class MoranProfile:
    """Global Moran's I of lattice counts at each band (binary weights, normality).

    Attributes
    ----------
    bands
        The bands in metres.
    i, expected, variance, z
        Moran's I, E[I], Var[I] under normality, and the z-score, per band.
    cells
        n, the number of cells in the mask.
    """

    bands: np.ndarray
    i: np.ndarray
    expected: float
    variance: np.ndarray
    z: np.ndarray
    cells: int


def choose_scale(
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    area: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    cell_size: float | None = None,
    band: float | None = None,
    weight: str | None = "weight",
    min_locations: int = MIN_LOCATIONS,
    band_floor: float = BAND_FLOOR,
    band_ceiling: float = BAND_CEILING,
) -> Scale:
    """The hotspot cell size and Gi* band for ``points`` in ``area``, and the reason.

    1. Events at fewer than ``min_locations`` distinct places: the default grid,
       :func:`~psa_geo.grids.default_cell_size` with the 8-neighbour band (√2 cells).
    2. Otherwise the events inside the area are counted on a square lattice: the given
       ``cell_size``, or the finest multiple of 10 m with at most 131,072 cells over the area's
       bounding box. Its cells are those overlapping the area; an event in a coastal cell left
       out counts in the nearest cell kept. Global Moran's I is computed at up to 20 bands,
       each 15% wider, from ``band_floor`` (and at least 2 lattice cells) to ``band_ceiling``
       (and at most the events' standard distance).
    3. The band is the first one whose z-score is higher than at the two bands either side
       (those there are; never the last band) and significant at 5% after a Bonferroni
       correction over the bands. So a z-score falling from the start gives the first band.
    4. No peak (z rising all the way, or never significant): the band is the mean distance
       from each event place to its k-th nearest other place (k = 5% of the places, 3 to 30),
       between the floor and the ceiling.
    5. The cell is a third of the band, rounded to 10 m, within 50 m to 1 km and no smaller
       than gives 40,000 cells over the area. A band shorter than the diagonal neighbour
       (√2 cells) is widened to it.

    ``cell_size`` or ``band`` given by the caller are kept; the other is chosen for them.
    The area's lattice and the sums over its weights are cached, so the groups of one area
    share them.

    Parameters
    ----------
    points
        Events (points) in EPSG:27700; those outside ``area`` are left out.
    area
        The study area's polygons in EPSG:27700 (unioned).
    cell_size, band
        Metres, to override the rule (either or both).
    weight
        Column of non-negative weights; None counts each point once (as does a GeoSeries).
    min_locations
        Fewer distinct event places than this get the default grid.
    band_floor, band_ceiling
        The range of bands tried, in metres.

    Returns
    -------
    Scale
    """
    xy, w = located_points(points, "points", weight)
    study = _study_area(_geometry_key(area))
    if cell_size is not None:
        cell_size = positive_metres(cell_size, "cell_size")
    if band is not None:
        band = positive_metres(band, "band")
    floor = positive_metres(band_floor, "band_floor")
    ceiling = positive_metres(band_ceiling, "band_ceiling")
    if ceiling < floor:
        raise PsaGeoError(f"'band_ceiling' {ceiling:g} m is below 'band_floor' {floor:g} m")
    places, where = _places(xy)
    inside = study.contains(places)[where]
    xy, w, where = xy[inside], w[inside].astype("float64"), where[inside]
    events = float(w.sum())
    if events <= 0:
        raise PsaGeoError(f"the 'points' inside 'area' have zero total weight ({weight!r})")
    places = places[np.unique(where[w > 0])]
    facts = _Facts(events, len(places), cell_size, band)

    if band is not None:
        return _given_band(facts, study)
    if len(places) < min_locations:
        size = cell_size if cell_size is not None else default_cell_size(area)
        return facts.scale(size, _queen(size), "too few events: default cells, 8-neighbour band",
                           f"{_count(events)} events at {len(places):,} places are too few to "
                           f"measure the scale of clustering (it needs {min_locations}), so the "
                           "standard grid is used")  # fmt: skip

    lattice = _search_lattice(study.key, study.search_cell(cell_size))
    area_bands = _bands(lattice.size, max(floor, SEARCH_CELLS_PER_BAND * lattice.size), ceiling)
    bands = area_bands[area_bands <= _standard_distance(xy, w)]
    z = _moran_z(lattice, study.key, xy, w, area_bands, len(bands)) if len(bands) else []
    figures = {"search_cell": lattice.size, "bands": tuple(map(float, bands)),
               "z_scores": tuple(map(float, z))}  # fmt: skip
    peak = _first_peak(np.asarray(z)) if len(bands) >= 2 else None
    if peak == 0:
        chosen = float(bands[0])
        rule = f"clustering strongest at the first band, {_metres(chosen)}"
        why = (
            f"clustering of these {_count(events)} events is strongest at the smallest "
            "neighbourhood tried"
        )
    elif peak is not None:
        chosen = float(bands[peak])
        rule = f"first peak of Moran's I z at {_metres(chosen)}"
        why = f"the distance at which clustering of these {_count(events)} events first peaks"
    else:
        k = int(min(max(round(KNN_SHARE * len(places)), KNN_MIN), KNN_MAX))
        nearest = cKDTree(places).query(places, k=k + 1)[0][:, k]
        chosen = float(min(max(_round10(float(nearest.mean())), floor), ceiling))
        tried = f" between {_metres(bands[0])} and {_metres(bands[-1])}" if len(bands) else ""
        rule = f"no peak: mean distance to {k} nearest places"
        why = (
            f"clustering of these {_count(events)} events has no clear peak{tried}, so the "
            f"neighbourhood reaches, on average, each event's {k} nearest places"
        )
    size = cell_size if cell_size is not None else _cell_for(chosen, lattice.land)
    return facts.scale(size, chosen, rule, why, **figures)


def morans_i_by_band(
    counts: np.ndarray, mask: np.ndarray, cell_size: float, bands: np.ndarray
) -> MoranProfile:
    """Global Moran's I of lattice counts for several distance bands at once (FFT).

    Binary weights: cells whose centres are more than 0 and at most a band apart (with a 1e-9
    relative slack) are neighbours; a cell is not its own neighbour. Expected value and
    variance under the normality assumption (see the module docstring).

    Parameters
    ----------
    counts
        2-D array of values per lattice cell (row-major; cells outside ``mask`` are ignored).
    mask
        2-D boolean array, the cells of the study area.
    cell_size
        The lattice spacing in metres.
    bands
        Increasing bands in metres.

    Returns
    -------
    MoranProfile
    """
    counts = np.asarray(counts, dtype="float64")
    mask = np.asarray(mask, dtype=bool)
    bands = np.asarray(bands, dtype="float64")
    if counts.shape != mask.shape or counts.ndim != 2 or mask.sum() < 4:
        raise PsaGeoError("'counts' and 'mask' should be 2-D arrays of one shape, 4+ cells")
    if len(bands) == 0 or (np.diff(bands) <= 0).any():
        raise PsaGeoError("'bands' should be increasing distances in metres")
    s0, s2 = _weight_sums(mask, cell_size, bands)
    return _profile(counts, mask, cell_size, bands, s0, s2)


@dataclass(frozen=True)
class _Facts:
    events: float
    locations: int
    cell_size: float | None
    band: float | None

    def scale(self, size: float, band: float, rule: str, why: str, **figures) -> Scale:
        if band < math.sqrt(2) * size * (1 - BAND_TOLERANCE):
            if self.band is not None:
                raise PsaGeoError(f"'band' {band:g} m is shorter than the diagonal neighbour of "
                                  f"{size:g} m cells ({math.sqrt(2) * size:.0f} m); pass a wider "
                                  "band or smaller cells")  # fmt: skip
            band = _queen(size)
            rule += ", widened to 8 neighbours"
            why += f" (widened to {_metres(band)}, the 8 cells around each cell)"
        cells = f"Cells of {_metres(size)}{' (as given)' if self.cell_size is not None else ''}"
        reason = f"{cells} and a {_metres(band)} neighbourhood: {why}."
        log.info("scale: %s (%s)", reason, rule)
        return Scale(size, band, rule, reason, self.events, self.locations, **figures)


def _given_band(facts: _Facts, study: _StudyArea) -> Scale:
    band = facts.band
    if facts.cell_size is not None:
        return facts.scale(facts.cell_size, band, "given", "as given")
    lattice = _search_lattice(study.key, study.search_cell(None))
    size = min(_cell_for(band, lattice.land),
               max(MIN_CELL_SIZE, math.floor(band / math.sqrt(2) / 10) * 10))  # fmt: skip
    return facts.scale(size, band, "given band", "the band as given, cells a third of it")


def _geometry_key(area: gpd.GeoDataFrame | gpd.GeoSeries) -> tuple[bytes, ...]:
    """The area's geometries as WKB, after checking the layer: the cache key of its lattice."""
    check_layer(area, "area")
    return tuple(shapely.to_wkb(np.asarray(area.geometry.values)).tolist())


@dataclass(frozen=True)
class _StudyArea:
    key: tuple[bytes, ...]
    union: shapely.Geometry

    def contains(self, xy: np.ndarray) -> np.ndarray:
        """Which points lie in the area; raise when none does."""
        xmin, ymin, xmax, ymax = self.union.bounds
        x, y = xy[:, 0], xy[:, 1]
        inside = (x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax)
        inside[inside] = shapely.intersects_xy(self.union, x[inside], y[inside])
        if not inside.any():
            raise PsaGeoError(
                f"none of the located 'points' lies inside 'area' (points span "
                f"E {xy[:, 0].min():,.0f}–{xy[:, 0].max():,.0f}, N {xy[:, 1].min():,.0f}–"
                f"{xy[:, 1].max():,.0f}; area spans E {xmin:,.0f}–{xmax:,.0f}, N {ymin:,.0f}–"
                f"{ymax:,.0f}); are they for the same place?"
            )
        return inside

    def search_cell(self, cell_size: float | None) -> float:
        """The finest 10 m multiple with at most SEARCH_CELLS cells over the area's bounding
        box, and no finer than a given cell size."""
        xmin, ymin, xmax, ymax = self.union.bounds
        finest = math.ceil(math.sqrt((xmax - xmin) * (ymax - ymin) / SEARCH_CELLS) / 10) * 10
        return float(max(finest, MIN_CELL_SIZE, cell_size or 0.0))


@functools.lru_cache(maxsize=16)
def _study_area(key: tuple[bytes, ...]) -> _StudyArea:
    union = area_union(gpd.GeoSeries(shapely.from_wkb(list(key)), crs=CRS), "area")
    shapely.prepare(union)
    return _StudyArea(key, union)


@dataclass(frozen=True)
class _SearchLattice:
    """The square lattice of ``size`` over an area: ``mask`` (rows from ``origin``) holds the
    cells overlapping the area; ``nearest`` the (row, col) of the nearest masked cell to
    each cell; ``land`` the masked area in m²."""

    size: float
    origin: tuple[int, int]
    mask: np.ndarray
    nearest: np.ndarray
    land: float

    def counts(self, xy: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Summed weights per cell; an event in a cell outside the mask counts in the
        nearest masked cell (a coastal cell whose overlap with land is a sliver)."""
        rows = np.floor(xy[:, 1] / self.size).astype("int64") - self.origin[0]
        cols = np.floor(xy[:, 0] / self.size).astype("int64") - self.origin[1]
        rows = np.clip(rows, 0, self.mask.shape[0] - 1)
        cols = np.clip(cols, 0, self.mask.shape[1] - 1)
        moved = ~self.mask[rows, cols]
        if moved.any():
            rows[moved], cols[moved] = self.nearest[:, rows[moved], cols[moved]]
            log.debug("scale: %d events counted in the nearest cell of the area", moved.sum())
        shape = self.mask.shape
        flat = np.bincount(rows * shape[1] + cols, weights=w, minlength=shape[0] * shape[1])
        return flat.reshape(shape)


@functools.lru_cache(maxsize=32)
def _search_lattice(key: tuple[bytes, ...], size: float) -> _SearchLattice:
    """The lattice cells overlapping the area: those whose centre is in it, and of the cells
    next to them, those whose square meets it. Cached: one area serves many groups."""
    union = _study_area(key).union
    xmin, ymin, xmax, ymax = union.bounds
    r0, c0 = math.floor(ymin / size), math.floor(xmin / size)
    rows, cols = np.mgrid[r0 : math.floor(ymax / size) + 1, c0 : math.floor(xmax / size) + 1]
    x, y = (cols + 0.5) * size, (rows + 0.5) * size
    mask = shapely.intersects_xy(union, x.ravel(), y.ravel()).reshape(rows.shape)
    ring = ndimage.binary_dilation(mask, np.ones((3, 3), dtype=bool)) & ~mask
    half = size / 2
    boxes = shapely.box(x[ring] - half, y[ring] - half, x[ring] + half, y[ring] + half)
    mask[ring] = shapely.intersects(union, boxes) & ~shapely.touches(union, boxes)
    _, nearest = ndimage.distance_transform_edt(~mask, return_indices=True)
    mask.flags.writeable = False
    nearest.flags.writeable = False
    return _SearchLattice(size, (r0, c0), mask, nearest, float(mask.sum()) * size * size)


@functools.lru_cache(maxsize=64)
def _lattice_sums(
    key: tuple[bytes, ...], size: float, bands: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """S0 and S2 of the area's lattice for each band (cached, like the lattice)."""
    return _weight_sums(_search_lattice(key, size).mask, size, np.asarray(bands))


def _moran_z(
    lattice: _SearchLattice,
    key: tuple[bytes, ...],
    xy: np.ndarray,
    w: np.ndarray,
    area_bands: np.ndarray,
    used: int,
) -> np.ndarray:
    """Moran's I z-scores of the events at the first ``used`` of the area's bands."""
    s0, s2 = _lattice_sums(key, lattice.size, tuple(map(float, area_bands)))
    counts = lattice.counts(xy, w)
    profile = _profile(counts, lattice.mask, lattice.size, area_bands[:used], s0[:used],
                       s2[:used])  # fmt: skip
    return profile.z


def _weight_sums(mask: np.ndarray, size: float, bands: np.ndarray) -> tuple[np.ndarray, ...]:
    """S0 = Σ_ij w_ij and S2 = Σ_i (w_i. + w_.i)² = 4 Σ_i k_i² of binary band weights on the
    masked lattice, for each band (k_i: the cells within the band of cell i)."""
    dy, dx, which, shape = _offsets(size, bands, mask.shape)
    at = (dy % shape[0], dx % shape[1])
    mask_f = fft.rfft2(mask.astype("float64"), shape)
    s0 = _by_band(np.rint(_autocorrelation(mask_f, shape)[at]), which, len(bands))
    if (s0 <= 0).any():
        raise PsaGeoError(f"no two cells are within {bands[0]:g} m of each other")
    s2 = np.empty(len(bands))
    disk = np.zeros(shape)
    for k in range(len(bands)):  # grow the disk ring by ring; k_i = (mask ⊛ disk)_i
        ring = which == k
        disk[at[0][ring], at[1][ring]] = 1.0
        within = fft.irfft2(mask_f * fft.rfft2(disk), shape)[: mask.shape[0], : mask.shape[1]]
        s2[k] = 4.0 * float(np.sum(np.rint(within[mask]) ** 2))
    return s0, s2


def _profile(
    counts: np.ndarray,
    mask: np.ndarray,
    size: float,
    bands: np.ndarray,
    s0: np.ndarray,
    s2: np.ndarray,
) -> MoranProfile:
    """Moran's I, E[I], Var[I] and z per band from the counts and the weights' S0 and S2."""
    n = int(mask.sum())
    z = np.where(mask, counts - counts[mask].mean(), 0.0)
    spread = float(np.sum(z * z))
    if spread <= 0:
        raise PsaGeoError("every cell has the same count, so Moran's I is undefined")
    dy, dx, which, shape = _offsets(size, bands, mask.shape)
    lagged = _autocorrelation(fft.rfft2(z, shape), shape)[dy % shape[0], dx % shape[1]]
    i = n / s0 * _by_band(lagged, which, len(bands)) / spread
    expected = -1.0 / (n - 1)
    variance = (n * n * 2 * s0 - n * s2 + 3 * s0 * s0) / ((n * n - 1.0) * s0 * s0) - expected**2
    return MoranProfile(bands, i, expected, variance, (i - expected) / np.sqrt(variance), n)


def _bands(search: float, low: float, high: float) -> np.ndarray:
    """Bands from ``low`` to ``high``, each 15% wider (rounded to 10 m), at most MAX_BANDS,
    keeping only bands that add lattice neighbours (the same neighbours give the same I)."""
    if high < low:
        return np.zeros(0)
    count = min(MAX_BANDS, math.floor(math.log(high / low) / math.log(BAND_RATIO)) + 1)
    bands = np.unique(np.round(low * BAND_RATIO ** np.arange(count) / 10) * 10)
    bands = bands[(bands >= low - 5) & (bands <= high + 5)]
    reach = math.floor(bands.max() / search) + 1 if len(bands) else 0
    dy, dx = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    distances = np.sort(search * np.hypot(dy, dx).ravel())
    neighbours = np.searchsorted(distances, bands * (1 + BAND_TOLERANCE), side="right")
    keep = np.concatenate([[True], np.diff(neighbours) > 0]) if len(bands) else []
    return bands[keep]


def _offsets(
    size: float, bands: np.ndarray, grid: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """(dy, dx, band index) of every lattice offset within the largest band, the band index
    being that of the first band reaching the offset; and the FFT shape: the grid padded by
    the largest offset, so that no correlation wraps round."""
    reach = math.floor(bands[-1] * (1 + BAND_TOLERANCE) / size)
    dy, dx = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    distance = size * np.hypot(dy, dx)
    within = (distance > 0) & (distance <= bands[-1] * (1 + BAND_TOLERANCE))
    which = np.searchsorted(bands * (1 + BAND_TOLERANCE), distance[within], side="left")
    shape = tuple(fft.next_fast_len(s + reach, real=True) for s in grid)
    return dy[within], dx[within], which, shape


def _autocorrelation(transform: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return fft.irfft2(transform * np.conj(transform), shape)


def _by_band(values: np.ndarray, which: np.ndarray, count: int) -> np.ndarray:
    """Cumulative sums of per-offset values over the bands."""
    return np.cumsum(np.bincount(which, weights=values, minlength=count))


def _first_peak(z: np.ndarray) -> int | None:
    """The first band (not the last) whose z is higher than at the PEAK_WINDOW bands either
    side and Bonferroni-significant; None when there is none."""
    level = float(ndtri(1 - PEAK_ALPHA / len(z)))
    for k in range(len(z) - 1):
        near = np.r_[z[max(k - PEAK_WINDOW, 0) : k], z[k + 1 : k + 1 + PEAK_WINDOW]]
        if z[k] >= level and (z[k] > near).all():
            return k
    return None


def _places(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct places to the metre, the place of each point): police.uk snap points."""
    metres = np.rint(xy).astype("int64")
    key = (metres[:, 0] << 32) + metres[:, 1]
    unique, where = np.unique(key, return_inverse=True)
    return np.column_stack([unique >> 32, unique & 0xFFFFFFFF]).astype("float64"), where


def _standard_distance(xy: np.ndarray, w: np.ndarray) -> float:
    centre = np.average(xy, axis=0, weights=w)
    return float(np.sqrt(np.average(np.sum((xy - centre) ** 2, axis=1), weights=w)))


def _cell_for(band: float, land: float) -> float:
    """A third of the band, rounded to 10 m, within [50 m, 1 km] and no smaller than gives
    MAX_GRID_CELLS cells over ``land`` (m²)."""
    size = min(max(_round10(band / CELLS_PER_BAND), MIN_CELL_SIZE), MAX_CELL_SIZE)
    coarsest = math.ceil(math.sqrt(land / MAX_GRID_CELLS) / 10) * 10
    return float(min(max(size, coarsest), MAX_CELL_SIZE))


def _queen(size: float) -> float:
    """The 8-neighbour band of a square lattice: √2 cells, rounded up to 10 m."""
    return float(math.ceil(math.sqrt(2) * size / 10 - 1e-9) * 10)


def _round10(metres: float) -> float:
    return float(math.floor(metres / 10 + 0.5) * 10)


def _metres(value: float) -> str:
    return f"{value:,.0f} m"


def _count(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
