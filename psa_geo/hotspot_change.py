"""Where hot spots grew or shrank between two periods: Gi* in each period on one grid, and an
exact test of the change in each cell's count.

Each cell gets one class from its Gi* hot-spot status in the two periods ("hot" = a Gi* hot
spot at 95% confidence or more, ``hotspot_level >= 2``, after the FDR correction by default):

========================  =======================================================
Class                     Rule
========================  =======================================================
New hot spot              Hot in the study period, not in the comparison period.
Persistent hot spot       Hot in both periods.
No longer hot             Hot in the comparison period, not in the study period.
Not hot in either period  Neither.
========================  =======================================================

" (significant increase)" or " (significant decrease)" is appended when the cell's count
changed significantly (:func:`psa_geo.stats.change_test`, Benjamini-Hochberg adjusted
p < 0.05 over the cells tested), in any class. Cells with no other cell within the Gi* band
are "Not tested (no neighbouring cell)".
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .checks import cell_centres, check_layer, gistar_problem, located_points
from .errors import PsaGeoError
from .gistar import NOT_TESTED, band_and_isolated, bh_adjust, gistar_scores
from .grids import cell_index
from .periods import Period
from .stats import change_test

log = logging.getLogger(__name__)

HOT_LEVEL = 2
"""A cell is hot in a period when its Gi* ``hotspot_level`` is at least this (95% or more)."""
CHANGE_ALPHA = 0.05
"""A change with an (FDR-adjusted) p-value below this is significant."""
FAMILIES = ("New hot spot", "Persistent hot spot", "No longer hot", "Not hot in either period")
INCREASE = " (significant increase)"
DECREASE = " (significant decrease)"
CHANGE_CLASSES = (
    *(family + suffix for family in FAMILIES for suffix in ("", INCREASE, DECREASE)),
    NOT_TESTED,
)
"""Every ``change_class``, family by family."""


def hotspot_change(
    events: gpd.GeoDataFrame,
    cells: gpd.GeoDataFrame,
    *,
    study: Period,
    comparison: Period,
    distance: float | None = None,
    fdr: bool = True,
) -> gpd.GeoDataFrame:
    """Hot spots that are new, persistent or no longer hot, and significant changes in count.

    Events are counted per cell in each period (as :func:`psa_geo.grids.count_points` places
    them); Gi* (:func:`psa_geo.gistar.gistar`) runs on each period's counts with the same
    band; each cell's two counts are compared by the exact conditional test of the rate
    tables (:func:`psa_geo.stats.change_test`) with exposure ratio = study months ÷
    comparison months. The p-values are Benjamini-Hochberg adjusted over the cells whose
    total could reach p < 0.05 at all (6 events or more over two periods of equal length);
    the other cells cannot be significant and are not tested. Classes: see the module
    docstring.

    Parameters
    ----------
    events
        Points in EPSG:27700 with a datetime ``date`` and, optionally, whole-number
        ``weight``; events outside both periods, without a date or a location, or in no
        cell are left out (and counted in the log).
    cells
        Grid cells from :func:`psa_geo.grids.make_grid` (or other polygons), in EPSG:27700.
    study, comparison
        The two periods; the comparison must end by the time the study starts.
    distance
        The Gi* band in metres, the same in both periods; None takes the band Gi* would
        choose for the whole grid (:func:`psa_geo.gistar.default_band`).
    fdr
        Judge Gi* and the change test by their Benjamini-Hochberg corrected p-values
        (False: the raw p-values at the same levels).

    Returns
    -------
    GeoDataFrame
        A copy of ``cells`` with ``study_n`` and ``comparison_n`` (counts), ``change``
        (study − comparison), ``change_pct`` (NaN where the comparison count is 0),
        ``change_p_value`` (1 for a cell with no events), ``change_p_value_fdr`` (NaN for
        the cells not tested), ``study_gistar_z`` and ``comparison_gistar_z`` (NaN for
        cells not tested), ``study_level`` and ``comparison_level`` (Gi* ``hotspot_level``),
        ``change_class`` and the periods' labels ``study_period`` and ``comparison_period``.
        ``attrs["hotspot_change"]`` records the periods, ``exposure_ratio``, ``band_m``,
        ``fdr``, ``cells_tested`` (by the change test) and ``events_outside`` (in no cell).

    Raises
    ------
    PsaGeoError
        If a period is not a :class:`Period`, the periods overlap or are in the wrong
        order, a period has no events in the cells or too few for Gi*, or an input is
        unusable (see :mod:`psa_geo.checks`).
    """
    ratio = _exposure_ratio(study, comparison)
    check_layer(cells, "cells")
    counts, outside = _period_counts(events, cells, (study, comparison))
    band, alone = band_and_isolated(cells, distance, what="hotspot change")
    z, levels = {}, {}
    for name, period in (("study", study), ("comparison", comparison)):
        z[name], levels[name] = _gistar_levels(cells, counts[name], alone, band, fdr,
                                               f"{name} period {period.label}")  # fmt: skip
    study_n, comparison_n = counts["study"], counts["comparison"]
    p = np.asarray(change_test(study_n, comparison_n, exposure_ratio=ratio), dtype="float64")
    tested = _testable(study_n + comparison_n, ratio)
    p_fdr = np.full(len(cells), np.nan)
    p_fdr[tested] = bh_adjust(p[tested])
    significant = tested & ((p_fdr if fdr else p) < CHANGE_ALPHA)
    rising = study_n > comparison_n * ratio
    classes = _classify(levels["study"] >= HOT_LEVEL, levels["comparison"] >= HOT_LEVEL,
                        significant, rising)  # fmt: skip
    classes[alone] = NOT_TESTED

    out = cells.copy()
    out["study_n"] = study_n
    out["comparison_n"] = comparison_n
    out["change"] = study_n - comparison_n
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = 100.0 * (study_n - comparison_n) / comparison_n
    out["change_pct"] = np.where(comparison_n > 0, pct, np.nan)
    out["change_p_value"] = p
    out["change_p_value_fdr"] = p_fdr
    out["study_gistar_z"] = z["study"]
    out["comparison_gistar_z"] = z["comparison"]
    out["study_level"] = levels["study"]
    out["comparison_level"] = levels["comparison"]
    out["change_class"] = pd.Series(classes, index=cells.index, dtype=str)
    out["study_period"] = study.label
    out["comparison_period"] = comparison.label
    out.attrs["hotspot_change"] = {
        "study": study.label,
        "comparison": comparison.label,
        "exposure_ratio": ratio,
        "band_m": band,
        "fdr": fdr,
        "cells_tested": int(tested.sum()),
        "events_outside": outside,
    }
    tally = out["change_class"].value_counts()
    log.info("hotspot change, %s against %s: %s", study.label, comparison.label,
             ", ".join(f"{name} {count}" for name, count in tally.items()))  # fmt: skip
    return out


def _exposure_ratio(study: Period, comparison: Period) -> float:
    """Study months ÷ comparison months, after checking the periods."""
    for name, period in (("study", study), ("comparison", comparison)):
        if not isinstance(period, Period):
            raise PsaGeoError(f"'{name}' should be a Period (e.g. psa_geo.calendar_year(2019)), "
                              f"got {type(period).__name__}")  # fmt: skip
        if period.months < 1:
            raise PsaGeoError(f"the {name} period {period.label} is shorter than a month")
    if study.start < comparison.end and comparison.start < study.end:
        raise PsaGeoError(
            f"the study ({study.label}) and comparison ({comparison.label}) periods overlap; "
            "choose periods with no month in common"
        )
    if comparison.start >= study.end:
        raise PsaGeoError(f"the comparison period ({comparison.label}) should come before the "
                          f"study period ({study.label})")  # fmt: skip
    return study.months / comparison.months


def _period_counts(
    events: gpd.GeoDataFrame, cells: gpd.GeoDataFrame, periods: tuple[Period, Period]
) -> tuple[dict[str, np.ndarray], int]:
    """Whole-number counts per cell in the study and comparison periods, and the number of
    events of either period in no cell."""
    if not isinstance(events, gpd.GeoDataFrame):
        raise PsaGeoError(f"'events' should be a GeoDataFrame, got {type(events).__name__}")
    if "date" not in events.columns:
        raise PsaGeoError("'events' have no 'date' column; a change between periods needs "
                          "dated events")  # fmt: skip
    dates = events["date"]
    if not pd.api.types.is_datetime64_any_dtype(dates):
        raise PsaGeoError(f"'events' column 'date' should be datetimes, got {dates.dtype}")
    geoms = np.asarray(events.geometry.values)
    located = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    in_period = [period.contains(dates).to_numpy() for period in periods]
    chosen = located & (in_period[0] | in_period[1])
    skipped = int((~chosen).sum())
    if skipped:
        log.info("hotspot change: %d event(s) outside both periods or without a location are "
                 "left out", skipped)  # fmt: skip
    weight = "weight" if "weight" in events.columns else None
    xy, w = located_points(events[chosen], "events (in the two periods)", weight)
    if (w != np.round(w)).any():
        raise PsaGeoError("'events' column 'weight' has fractional weights; the change test "
                          "needs whole-number counts")  # fmt: skip
    where = cell_index(xy, cells)
    inside = where >= 0
    outside = int((~inside).sum())
    if outside:
        log.info("hotspot change: %d event(s) fall outside every cell", outside)
    counts = {}
    for name, period, mask in zip(("study", "comparison"), periods, in_period, strict=True):
        rows = inside & mask[chosen]
        n = np.bincount(where[rows], weights=w[rows], minlength=len(cells))
        if n.sum() == 0:
            raise PsaGeoError(
                f"no events fall in the cells in the {name} period {period.label}; has a "
                "previous step (a filter by area, group or period) removed them?"
            )
        counts[name] = np.round(n).astype("int64")
    return counts, outside


def _gistar_levels(
    cells: gpd.GeoDataFrame, n: np.ndarray, alone: np.ndarray, band: float, fdr: bool, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """Gi* z-scores (NaN for isolated cells) and levels (0 for them) of one period's counts."""
    x = n[~alone].astype("float64")
    problem = gistar_problem(x, "n")
    if problem:
        raise PsaGeoError(f"Gi* cannot run in the {what}: {problem}")
    centres = cell_centres(cells)[~alone]
    result = gistar_scores(x, centres, distance=band, fdr=fdr, index=cells.index[~alone])
    z = np.full(len(cells), np.nan)
    levels = np.zeros(len(cells), dtype="int64")
    z[~alone] = result.z
    levels[~alone] = result.levels
    return z, levels


def _testable(total: np.ndarray, ratio: float) -> np.ndarray:
    """Cells whose total could give p < CHANGE_ALPHA at all (every event in one period):
    the others can never be significant, so leaving them out of the correction costs
    nothing and keeps power (Tarone 1990)."""
    totals, where = np.unique(total, return_inverse=True)
    zero = np.zeros_like(totals)
    best = np.minimum(change_test(totals, zero, exposure_ratio=ratio),
                      change_test(zero, totals, exposure_ratio=ratio))  # fmt: skip
    return ((totals > 0) & (np.asarray(best) < CHANGE_ALPHA))[where.ravel()]


def _classify(
    hot_study: np.ndarray, hot_comparison: np.ndarray, significant: np.ndarray, rising: np.ndarray
) -> np.ndarray:
    """One ``change_class`` per cell (see the module docstring)."""
    family = np.select(
        [hot_study & ~hot_comparison, hot_study & hot_comparison, hot_comparison], [0, 1, 2], 3
    )
    suffix = np.where(significant, np.where(rising, 1, 2), 0)
    return np.array(CHANGE_CLASSES, dtype=object)[3 * family + suffix]
