"""Emerging hot spots: Gi* in each time slice, a Mann-Kendall trend, and a class per cell.

Events are counted per cell in each time slice (calendar months by default), Getis-Ord Gi*
runs on every slice with the same distance band, and each cell gets a hot/cold history
(significant at 90% confidence or more, after the FDR correction by default). The
Mann-Kendall test on each cell's series of Gi* z-scores measures whether the intensity of
clustering rises or falls. Cells are classified following the hot-spot definitions of
ArcGIS Pro's Emerging Hot Spot Analysis ("90%" means at least 90% of all slices):

=============  ==============================================================================
Class          Rule (checked in this order; the first that applies wins)
=============  ==============================================================================
New            Hot in the final slice and in no earlier slice.
Consecutive    Hot in an uninterrupted run of two or more slices that ends with the final
               slice, never hot before that run, and hot in less than 90% of slices.
Intensifying   Hot in 90% of slices or more, including the final one, and the z-scores
               rise significantly (Mann-Kendall, two-sided p < 0.05, positive trend).
Persistent     Hot in 90% of slices or more, including the final one, with no significant
               trend in the z-scores.
Diminishing    Hot in 90% of slices or more, including the final one, and the z-scores fall
               significantly.
Sporadic       Hot in the final slice, on and off before it, in less than 90% of slices, and
               never a cold spot.
Oscillating    Hot in the final slice, a cold spot in some earlier slice, and hot in less
               than 90% of slices.
Historical     Not hot in the final slice, but hot in 90% of slices or more.
No pattern     None of the above.
=============  ==============================================================================

Cold-spot classes mirror these with "cold" for "hot" (an intensifying cold spot is one
whose z-scores fall significantly). A cell whose final slice is a cold spot takes a cold
class; otherwise a hot class applies first, so a cell that was a hot spot in 90% of slices
and is nothing now is a historical hot spot even if it was once cold.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.special import ndtr

from .checks import cell_centres, gistar_problem, located_points
from .errors import PsaGeoError
from .gistar import NOT_TESTED, band_and_isolated, gistar_scores
from .grids import cell_index
from .periods import Period

log = logging.getLogger(__name__)

MIN_SLICES = 10
"""Fewer time slices than this give the Mann-Kendall test too little to work with."""
HOT_SHARE = 0.9
"""A cell hot in at least this share of slices is a persistent-type (or historical) spot."""
TREND_ALPHA = 0.05
"""A Mann-Kendall trend with a two-sided p-value below this is significant."""
PATTERNS = (
    "New",
    "Consecutive",
    "Intensifying",
    "Persistent",
    "Diminishing",
    "Sporadic",
    "Oscillating",
    "Historical",
)
"""The patterns of the module docstring's table, in the order they are checked."""
CLASSES = (
    "No pattern",
    *(f"{pattern} hot spot" for pattern in PATTERNS),
    *(f"{pattern} cold spot" for pattern in PATTERNS),
)


class MannKendall(NamedTuple):
    """The Mann-Kendall statistic S, its variance (tie-corrected), z and two-sided p."""

    s: np.ndarray
    var_s: np.ndarray
    z: np.ndarray
    p: np.ndarray


def mann_kendall(values: np.ndarray) -> MannKendall:
    """Mann-Kendall trend test, one series per row, with the normal approximation.

    S = Σ_{i<j} sign(x_j − x_i); Var(S) = [n(n−1)(2n+5) − Σ t(t−1)(2t+5)] / 18 over the
    groups of t tied values; z = (S − sign(S)) / √Var(S) (continuity correction), 0 when
    S = 0 or every value is tied; p = 2·Φ(−|z|).

    Parameters
    ----------
    values
        A series (1-D) or one series per row (2-D), in time order, without missing values.

    Returns
    -------
    MannKendall
        ``s``, ``var_s``, ``z`` and ``p``: scalars (0-d arrays) for a 1-D input, else one
        per row.
    """
    x = np.asarray(values, dtype="float64")
    one = x.ndim == 1
    x = np.atleast_2d(x)
    if x.ndim != 2 or x.shape[1] < 2:
        raise PsaGeoError("mann_kendall needs series of at least two values (1-D or 2-D)")
    if not np.isfinite(x).all():
        raise PsaGeoError("mann_kendall needs series without missing or infinite values")
    rows, n = x.shape
    s = np.zeros(rows)
    for i in range(n - 1):  # a loop over time keeps memory at rows × n
        s += np.sign(x[:, i + 1 :] - x[:, i : i + 1]).sum(axis=1)
    ordered = np.sort(x, axis=1)
    group = np.concatenate(
        [np.zeros((rows, 1), "int64"), np.cumsum(np.diff(ordered, axis=1) != 0, axis=1)], axis=1
    )
    t = np.bincount((group + np.arange(rows)[:, None] * n).ravel(), minlength=rows * n)
    t = t.reshape(rows, n).astype("float64")
    ties = (t * (t - 1) * (2 * t + 5)).sum(axis=1)
    var_s = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    root = np.sqrt(np.where(var_s > 0, var_s, 1.0))
    z = np.where(var_s > 0, (s - np.sign(s)) / root, 0.0)
    p = 2.0 * ndtr(-np.abs(z))
    if one:
        return MannKendall(s[0], var_s[0], z[0], p[0])
    return MannKendall(s, var_s, z, p)


def emerging_hotspots(
    events: gpd.GeoDataFrame,
    cells: gpd.GeoDataFrame,
    *,
    freq: str = "MS",
    distance: float | None = None,
    min_slices: int = MIN_SLICES,
    fdr: bool = True,
    period: Period | None = None,
) -> gpd.GeoDataFrame:
    """Emerging hot spot classes for grid cells, from dated events (see the module docstring).

    Cells with no other cell within the band (offshore rocks) cannot be tested: their class
    is "Not tested (no neighbouring cell)". A slice in which Gi* cannot run (fewer than 30
    cells with events, or every cell with the same count) is logged and counts as not
    significant everywhere, with z = 0.

    Parameters
    ----------
    events
        Points in EPSG:27700 with a datetime ``date`` and, optionally, ``weight``.
    cells
        Grid cells from :func:`psa_geo.grids.make_grid` (or other polygons).
    freq
        A pandas frequency for the time slices; "MS" is calendar months. Without a
        ``period``, slices run from the first event's slice to the last event's, empty
        slices included.
    distance
        The Gi* band in metres, the same in every slice; None takes the band Gi* would
        choose for the whole grid.
    min_slices
        Refuse fewer time slices than this.
    fdr
        Judge significance with the Benjamini-Hochberg correction (as :func:`gistar`).
    period
        Slices cover this period (which must start on a slice boundary, e.g. the first of
        a month for "MS"), empty slices included; events outside it are left out.

    Returns
    -------
    GeoDataFrame
        A copy of ``cells`` with ``slices_hot`` and ``slices_cold`` (slices significant at
        90% or more), ``final_hot`` and ``final_cold``, ``trend_z`` and ``trend_p``
        (Mann-Kendall on the Gi* z series), ``count_trend_z`` and ``count_trend_p`` (on
        the count series) and ``emerging_class``. ``attrs["emerging"]`` records
        ``freq``, the ``slices``, the band ``band_m`` and ``slices_skipped`` (the slices
        Gi* could not test).
    """
    events = _dated(events)
    band, alone = band_and_isolated(cells, distance, what="emerging hot spots")
    weight = "weight" if "weight" in events.columns else None
    xy, w = located_points(events, "events", weight)
    where = cell_index(xy, cells)
    inside = where >= 0
    slices = _slices(events["date"], freq, period)
    if len(slices) < min_slices:
        raise PsaGeoError(
            f"the events span {len(slices)} time slice(s) of freq {freq!r}, fewer than "
            f"min_slices={min_slices}; use a longer period or a shorter freq"
        )

    n_cells, n_slices = len(cells), len(slices)
    counts = np.zeros((n_cells, n_slices))
    z = np.zeros((n_cells, n_slices))
    levels = np.zeros((n_cells, n_slices), dtype="int64")
    skipped = []
    tested, centres = cells.index[~alone], cell_centres(cells)[~alone]
    for k, (label, rows) in enumerate(slices):
        rows = rows[inside[rows]]
        x = np.bincount(where[rows], weights=w[rows], minlength=n_cells)
        counts[:, k] = x
        problem = gistar_problem(x[~alone], "n")
        if problem:
            skipped.append(label)
            log.info("emerging hot spots: slice %s is not tested: %s", label, problem)
            continue
        result = gistar_scores(x[~alone], centres, distance=band, fdr=fdr, index=tested)
        z[~alone, k] = result.z
        levels[~alone, k] = result.levels

    hot, cold = levels > 0, levels < 0
    trend = mann_kendall(z)
    count_trend = mann_kendall(counts)
    classes = _classify(hot, cold, trend.z, trend.p)
    classes[alone] = NOT_TESTED

    out = cells.copy()
    out["slices_hot"] = hot.sum(axis=1)
    out["slices_cold"] = cold.sum(axis=1)
    out["final_hot"] = hot[:, -1]
    out["final_cold"] = cold[:, -1]
    out["trend_z"] = trend.z
    out["trend_p"] = trend.p
    out["count_trend_z"] = count_trend.z
    out["count_trend_p"] = count_trend.p
    out["emerging_class"] = pd.Series(classes, index=cells.index, dtype=str)
    out.attrs["emerging"] = {
        "freq": freq,
        "slices": [str(label) for label, _ in slices],
        "band_m": band,
        "slices_skipped": [str(label) for label in skipped],
    }
    tally = out["emerging_class"].value_counts()
    log.info(
        "emerging hot spots over %d slices with a %.1f m band: %s",
        n_slices,
        band,
        ", ".join(f"{name} {count}" for name, count in tally.items()),
    )
    return out


def _dated(events: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The events with a date and a location (the others are counted in the log)."""
    if not isinstance(events, gpd.GeoDataFrame):
        raise PsaGeoError(f"'events' should be a GeoDataFrame, got {type(events).__name__}")
    if "date" not in events.columns:
        raise PsaGeoError("'events' have no 'date' column; emerging hot spots need dated events")
    dates = events["date"]
    if not pd.api.types.is_datetime64_any_dtype(dates):
        raise PsaGeoError(f"'events' column 'date' should be datetimes, got {dates.dtype}")
    geoms = events.geometry
    usable = dates.notna() & geoms.notna() & ~geoms.is_empty
    if not usable.all():
        log.info(
            "emerging hot spots: %d event(s) without a date or a location are skipped",
            int((~usable).sum()),
        )
    if len(events) and not usable.any():
        raise PsaGeoError(
            "no event has both a date and a location, so there is nothing to put in time slices"
        )
    return events[usable.to_numpy()]


def _slices(
    dates: pd.Series, freq: str, period: Period | None
) -> list[tuple[pd.Timestamp, np.ndarray]]:
    """(label, row positions) of every time slice: over ``period`` if given, else from the
    first date's slice to the last's."""
    try:
        if period is None:
            positions = pd.Series(np.arange(len(dates)), index=pd.DatetimeIndex(dates))
            resampler = positions.sort_index().resample(freq)
            return [(label, group.to_numpy()) for label, group in resampler]
        edges = pd.date_range(period.start, period.end, freq=freq)
    except (ValueError, TypeError):
        raise PsaGeoError(f"freq {freq!r} is not a pandas frequency such as 'MS'") from None
    if len(edges) == 0 or edges[0] != period.start:
        raise PsaGeoError(f"the period {period.label} does not start on a {freq!r} boundary")
    if edges[-1] != period.end:
        edges = edges.append(pd.DatetimeIndex([period.end]))
    values = pd.DatetimeIndex(dates)
    slot = edges.searchsorted(values, side="right") - 1
    slot[(values < period.start) | (values >= period.end)] = -1
    return [(edges[k], np.flatnonzero(slot == k)) for k in range(len(edges) - 1)]


def _classify(
    hot: np.ndarray, cold: np.ndarray, trend_z: np.ndarray, trend_p: np.ndarray
) -> np.ndarray:
    """One class name per cell from its hot/cold history (cells × slices) and z trend."""
    hot_pattern = _pattern(hot, cold, trend_z, trend_p)
    cold_pattern = _pattern(cold, hot, -trend_z, trend_p)
    names = np.array(CLASSES, dtype=object)
    use_hot = (hot_pattern > 0) & ~cold[:, -1]
    return np.where(
        use_hot,
        names[hot_pattern],
        np.where(cold_pattern > 0, names[cold_pattern + len(PATTERNS)], names[0]),
    )


def _pattern(
    spot: np.ndarray, opposite: np.ndarray, trend_z: np.ndarray, trend_p: np.ndarray
) -> np.ndarray:
    """1 + the index in PATTERNS of each cell's pattern of ``spot`` slices, 0 for none.

    ``trend_z`` is signed so that positive means "more intense" for this kind of spot.
    """
    n_slices = spot.shape[1]
    n_spot = spot.sum(axis=1)
    final = spot[:, -1]
    mostly = n_spot >= HOT_SHARE * n_slices - 1e-9
    # length of the run of spot slices that ends with the final slice
    not_spot = ~spot[:, ::-1]
    run = np.where(not_spot.any(axis=1), np.argmax(not_spot, axis=1), n_slices)
    before = n_spot - run  # spot slices before that run
    opposite_before = opposite[:, :-1].any(axis=1)
    rising = (trend_p < TREND_ALPHA) & (trend_z > 0)
    falling = (trend_p < TREND_ALPHA) & (trend_z < 0)
    conditions = [
        final & (n_spot == 1),
        final & (run >= 2) & (before == 0) & ~mostly,
        final & mostly & rising,
        final & mostly & ~rising & ~falling,
        final & mostly & falling,
        final & ~mostly & ~opposite_before,
        final & ~mostly & opposite_before,
        ~final & mostly,
    ]
    return np.select(conditions, list(range(1, len(PATTERNS) + 1)), default=0)
