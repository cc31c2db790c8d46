"""Inequality: located crime by national deprivation decile (IMD 2019) and by rural-urban class
(2011), the share of crime in England's most deprived LSOAs, and the slope and relative
indices of inequality (SII, RII).

:func:`inequality_table` gives rates with 95% intervals per class for the Peninsula and each
CSP; :func:`inequality_summary` gives, per area and group, the deprived share beside the
residents' share, the decile 1 to decile 10 rate ratio, and the SII and RII with simulated
intervals (:func:`slope_index`, the OHID/PHE method). :mod:`psa_geo.inequality_pages` draws
and writes them. Every figure counts located events in LSOAs of known figures, over their
residents, as :func:`psa_geo.rate_table` at level ``lsoa`` does.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import stats

from .areas import check_level, parent_area
from .errors import PsaGeoError
from .stats import compare_with_benchmark, rate_ci

log = logging.getLogger(__name__)

DIMENSIONS = {
    "imd_decile": "national IMD 2019 decile",
    "rural_urban": "rural-urban class (2011)",
}
"""The LSOA classes an inequality table is by, and their names in words."""
DEPRIVATION_COLUMNS = ("imd_rank", "imd_decile", "idaci_score", "idaci_rank", "rural_urban")
"""The deprivation and rurality columns of the areas (:func:`psa_geo.load_areas`) that the LSOA
rate table and GeoPackage layer carry."""
DECILES = tuple(range(1, 11))
MOST_DEPRIVED = 2
"""Deciles 1 and 2: the LSOAs among England's most deprived 20%."""
MIN_DECILES = 5
"""The fewest deciles with residents for an SII (as OHID's ``phe_sii``: 5 to 100 quantiles)."""
RURAL_URBAN_ORDER = (
    "Urban major conurbation",
    "Urban minor conurbation",
    "Urban city and town",
    "Urban city and town in a sparse setting",
    "Rural town and fringe",
    "Rural town and fringe in a sparse setting",
    "Rural village and dispersed",
    "Rural village and dispersed in a sparse setting",
)
"""The ONS 2011 rural-urban classes of LSOAs, most urban first (codes A1 to E2)."""
NOT_CLASSIFIED = "not classified"
"""The rural-urban class of an LSOA the classification does not list."""
NO_RESIDENTS = "no residents"


@dataclass(frozen=True)
class SlopeIndex:
    """The slope and relative indices of inequality of one area (:func:`slope_index`).

    ``sii``: the modelled rate at the most deprived end minus that at the least deprived end
    (per ``per`` residents; positive when the most deprived have more). ``rii``: the modelled
    rate at the most deprived end divided by that at the least deprived end; NaN when the
    latter is 0 or below, in the fit or in (1 - level)/2 or more of the simulated fits (a
    steep, curved gradient that a straight line takes below 0). Each with its ``_lower`` and
    ``_upper`` limits at ``level``.
    """

    sii: float
    sii_lower: float
    sii_upper: float
    rii: float
    rii_lower: float
    rii_upper: float
    level: float
    repetitions: int


def _relative_rank(populations: np.ndarray) -> np.ndarray:
    """The mid-point of each quantile's range in the cumulative population share."""
    share = populations / populations.sum()
    return np.cumsum(share) - share / 2


def _fit(rates: np.ndarray, x: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares of ``rates`` (one fit per row) on ``x``: (intercept, slope).

    The sums over each row are numpy's own (``einsum``), not a BLAS matrix product, whose
    threads stall for milliseconds a call when other processes hold the cores.
    """
    mean_x = np.sum(weights * x)
    dx = x - mean_x
    slope = np.einsum("...j,j->...", rates, weights * dx) / np.sum(weights * dx**2)
    intercept = np.einsum("...j,j->...", rates, weights) - slope * mean_x
    return intercept, slope


@lru_cache(maxsize=4)
def _seeded_normals(seed: int, repetitions: int, quantiles: int) -> np.ndarray:
    normals = np.random.default_rng(seed).standard_normal((repetitions, quantiles))
    normals.flags.writeable = False
    return normals


def _standard_normals(seed: int | None, repetitions: int, quantiles: int) -> np.ndarray:
    """Standard normal draws, (repetitions, quantiles): the same for the same ``seed`` (kept
    for the next call: a build draws for every area and group), new ones for None."""
    if seed is None:
        return np.random.default_rng().standard_normal((repetitions, quantiles))
    return _seeded_normals(seed, repetitions, quantiles)


def slope_index(
    counts,
    populations,
    *,
    per: float = 1000,
    level: float = 0.95,
    repetitions: int = 100_000,
    seed: int | None = 1,
) -> SlopeIndex:
    """The slope index of inequality (SII) and relative index (RII) of rates by quantile.

    ``counts`` and ``populations`` are per quantile, ordered from the most deprived (decile 1)
    to the least deprived. Each quantile's rate is regressed on its relative rank x (the
    mid-point of its range in the cumulative population share, 0 = most deprived end),
    weighted by its population share (the fit of OHID's ``phe_sii``, Low & Low 2004).
    SII = fitted(0) - fitted(1) = -slope; RII = fitted(0) / fitted(1).

    Limits by simulation, as OHID's method for rates: in each of ``repetitions`` draws every
    quantile's log rate is drawn from a normal distribution centred on its log rate with the
    standard error implied by its 95% interval (:func:`psa_geo.rate_ci`), the fit is repeated,
    and the limits are the (1 - level)/2 and (1 + level)/2 quantiles of the simulated SII and
    RII. ``seed`` makes the draws reproducible (None: different each run).

    Raises
    ------
    ValueError
        With fewer than 2 quantiles, a population of 0 or less, a count of 0 (its log rate
        has no distribution), a negative count, or fewer than 1,000 repetitions.
    """
    obs = np.asarray(counts, dtype=float).ravel()
    pop = np.asarray(populations, dtype=float).ravel()
    if obs.shape != pop.shape or obs.size < 2:
        raise ValueError(f"slope_index needs 2 or more quantiles; got {obs.size} counts and "
                         f"{pop.size} populations")  # fmt: skip
    if not (np.isfinite(obs).all() and np.isfinite(pop).all()):
        raise ValueError("counts and populations must be finite numbers")
    if (pop <= 0).any():
        raise ValueError(f"every quantile needs residents; populations {pop.tolist()}")
    if (obs <= 0).any():
        raise ValueError(f"every quantile needs at least one event; counts {obs.tolist()}")
    if repetitions < 1000:
        raise ValueError(f"'repetitions' should be 1,000 or more, got {repetitions}")
    if not 0 < level < 1:
        raise ValueError(f"'level' should be between 0 and 1, got {level}")
    rate, lower, upper = rate_ci(obs, pop, per=per, level=0.95)
    weights, x = pop / pop.sum(), _relative_rank(pop)
    intercept, slope = _fit(rate, x, weights)
    end = intercept + slope
    log_se = (np.log(upper) - np.log(lower)) / (2 * stats.norm.ppf(0.975))
    draws = _standard_normals(seed, repetitions, obs.size) * log_se  # in place from here on:
    draws += np.log(rate)  # a build draws for every area and group
    np.exp(draws, out=draws)
    sim_intercept, sim_slope = _fit(draws, x, weights)
    sim_end = sim_intercept + sim_slope
    tails = [(1 - level) / 2, (1 + level) / 2]
    sii_lower, sii_upper = np.quantile(-sim_slope, tails)
    rii, rii_lower, rii_upper = math.nan, math.nan, math.nan
    # The RII needs the least deprived end above 0, in the fit and in all but a tail of draws.
    if end > 0 and (sim_end <= 0).mean() < tails[0]:
        rii = float(intercept / end)
        ratios = sim_intercept / np.where(sim_end > 0, sim_end, np.nan)
        rii_lower, rii_upper = np.quantile(np.nan_to_num(ratios, nan=np.inf), tails)
    return SlopeIndex(
        sii=float(-slope),
        sii_lower=float(sii_lower),
        sii_upper=float(sii_upper),
        rii=rii,
        rii_lower=float(rii_lower),
        rii_upper=float(rii_upper),
        level=level,
        repetitions=repetitions,
    )


def deprived_share(counts, populations, deciles, *, most_deprived: int = MOST_DEPRIVED) -> tuple:
    """(share of the count, share of the residents) in LSOAs of national deciles 1 to
    ``most_deprived``, in per cent (NaN when there are no events or no residents)."""
    counts = np.asarray(counts, dtype=float)
    populations = np.asarray(populations, dtype=float)
    deprived = np.asarray(deciles, dtype=float) <= most_deprived
    total, residents = np.nansum(counts), np.nansum(populations)
    count_share = 100.0 * np.nansum(counts[deprived]) / total if total > 0 else math.nan
    population_share = (
        100.0 * np.nansum(populations[deprived]) / residents if residents else math.nan
    )
    return count_share, population_share


def with_deprivation(lsoa_rates: pd.DataFrame, areas: pd.DataFrame) -> pd.DataFrame:
    """The LSOA rate table with each LSOA's :data:`DEPRIVATION_COLUMNS` (those the areas carry
    and the table does not) added at the end."""
    fresh = [c for c in DEPRIVATION_COLUMNS if c in areas and c not in lsoa_rates]
    columns = pd.DataFrame(areas[["lsoa_code", *fresh]]).rename(columns={"lsoa_code": "area_code"})
    return lsoa_rates.merge(columns, on="area_code", how="left")


def _class_of(areas: pd.DataFrame, by: str) -> pd.Series:
    """Each LSOA's class (an LSOA missing from the rural-urban file is :data:`NOT_CLASSIFIED`)."""
    values = areas.set_index("lsoa_code")[by]
    return values.fillna(NOT_CLASSIFIED) if by == "rural_urban" else values


def _classes(classes: pd.Series, by: str) -> list:
    """The classes in table order: deciles 1 to 10; rural-urban classes most urban first."""
    if by == "imd_decile":
        return list(DECILES)
    present = set(classes)
    ordered = [c for c in RURAL_URBAN_ORDER if c in present]
    others = sorted(present - set(ordered) - {NOT_CLASSIFIED})
    return [*ordered, *others, *([NOT_CLASSIFIED] if NOT_CLASSIFIED in present else [])]


def inequality_table(
    lsoa_rates: pd.DataFrame,
    areas: pd.DataFrame,
    *,
    by: str = "imd_decile",
    levels: tuple[str, ...] = ("peninsula", "csp"),
) -> pd.DataFrame:
    """Counts and rates per 1,000 with 95% intervals by LSOA class, per area and group.

    ``lsoa_rates`` is an LSOA rate table (:func:`psa_geo.rate_table` with ``level="lsoa"``):
    its located counts and residents are summed over the LSOAs of each national IMD 2019
    decile (``by="imd_decile"``, 1 = England's most deprived 10%) or rural-urban class
    (``by="rural_urban"``) within each area of ``levels``; LSOAs with no data (a counts table's
    gaps) are left out. Every area has a row for every decile (or every class in the areas),
    with residents 0 and blank rates where it has none.

    Columns: ``level``, ``area_code``, ``area_name``, ``category``, ``period``, the class
    (``imd_decile`` or ``rural_urban``), ``lsoas``, ``population``, ``population_share_pct``,
    ``count``, ``count_share_pct``, ``rate_per_1000``, ``rate_lower_95``, ``rate_upper_95``,
    ``area_rate_per_1000`` (the area's rate over all its classes) and ``vs_area_95`` (higher,
    similar or lower than that, or "no residents"); by decile also
    ``cumulative_population_share_pct`` and ``cumulative_count_share_pct`` from decile 1 (the
    points of the concentration curve).
    """
    if by not in DIMENSIONS:
        raise ValueError(f"'by' should be one of {tuple(DIMENSIONS)}, got {by!r}")
    needed = {"area_code", "category", "period", "population", "count"}
    if not isinstance(lsoa_rates, pd.DataFrame) or not needed <= set(lsoa_rates.columns):
        raise PsaGeoError("'lsoa_rates' should be an LSOA rate table (rate_table, level 'lsoa')")
    if "level" in lsoa_rates and set(lsoa_rates["level"]) - {"lsoa"}:
        raise PsaGeoError(f"'lsoa_rates' should be of level 'lsoa', got {set(lsoa_rates['level'])}")
    if by not in areas or areas[by].isna().all():
        raise PsaGeoError(f"the areas carry no {DIMENSIONS[by]} ('{by}')")
    for level in levels:
        check_level(areas, level)
    known = lsoa_rates[(lsoa_rates["population"] > 0) & lsoa_rates["count"].notna()]
    lsoas = areas.set_index("lsoa_code")
    class_of = _class_of(areas, by)
    unknown = set(known["area_code"]) - set(lsoas.index)
    if unknown:
        raise PsaGeoError(f"'lsoa_rates' has LSOAs not in the areas (first: {min(unknown)})")
    base = pd.DataFrame(
        {
            "category": known["category"].to_numpy(),
            "period": known["period"].to_numpy(),
            "population": known["population"].astype(float).to_numpy(),
            "count": known["count"].astype(float).to_numpy(),
            by: class_of.loc[known["area_code"]].to_numpy(),
        }
    )
    classes = _classes(class_of, by)
    groups = list(dict.fromkeys(lsoa_rates["category"]))
    period = lsoa_rates["period"].iloc[0] if len(lsoa_rates) else ""
    parts = []
    for level in levels:
        if level == "peninsula":
            code, name = parent_area(areas)
            codes = pd.Series(code, index=lsoas.index)
            names = {code: name}
        else:
            codes = lsoas[f"{level}_code"]
            names = dict(zip(lsoas[f"{level}_code"], lsoas[f"{level}_name"], strict=True))
        frame = base.assign(area_code=codes.loc[known["area_code"]].to_numpy(), lsoas=1)
        sums = frame.groupby(["area_code", "category", by])[["lsoas", "population", "count"]].sum()
        grid = pd.MultiIndex.from_product([sorted(names), groups, classes],
                                          names=["area_code", "category", by])  # fmt: skip
        out = sums.reindex(grid, fill_value=0).reset_index()
        out.insert(0, "level", level)
        out.insert(2, "area_name", out["area_code"].map(names))
        out.insert(4, "period", period)
        parts.append(out)
    out = pd.concat(parts, ignore_index=True)
    return _rates_and_shares(out, by)


def _rates_and_shares(out: pd.DataFrame, by: str) -> pd.DataFrame:
    keys = ["level", "area_code", "category"]
    totals = out.groupby(keys, sort=False)[["population", "count"]].transform("sum")
    out["lsoas"] = out["lsoas"].astype("int64")
    out["population"] = out["population"].astype("int64")
    out["count"] = out["count"].astype("int64")
    out.insert(
        out.columns.get_loc("population") + 1,
        "population_share_pct",
        100.0 * out["population"] / totals["population"].where(totals["population"] > 0),
    )
    out["count_share_pct"] = 100.0 * out["count"] / totals["count"].where(totals["count"] > 0)
    has = out["population"] > 0
    for column in ("rate_per_1000", "rate_lower_95", "rate_upper_95"):
        out[column] = math.nan
    rate, lower, upper = rate_ci(out.loc[has, "count"], out.loc[has, "population"])
    out.loc[has, ["rate_per_1000", "rate_lower_95", "rate_upper_95"]] = np.column_stack(
        [rate, lower, upper]
    )
    area_rate = 1000.0 * totals["count"] / totals["population"].where(totals["population"] > 0)
    out["area_rate_per_1000"] = area_rate
    out["vs_area_95"] = NO_RESIDENTS
    out.loc[has, "vs_area_95"] = compare_with_benchmark(
        out.loc[has, "count"], out.loc[has, "population"], area_rate[has].fillna(0.0)
    )
    if by == "imd_decile":
        grouped = out.groupby(keys, sort=False)
        out["cumulative_population_share_pct"] = grouped["population_share_pct"].cumsum()
        out["cumulative_count_share_pct"] = grouped["count_share_pct"].cumsum()
    return out


def inequality_summary(
    deciles: pd.DataFrame,
    *,
    most_deprived: int = MOST_DEPRIVED,
    level: float = 0.95,
    repetitions: int = 100_000,
    seed: int | None = 1,
) -> pd.DataFrame:
    """One row per area and group of a decile table (:func:`inequality_table`, by decile).

    Columns: ``level``, ``area_code``, ``area_name``, ``category``, ``period``,
    ``deciles_with_residents``, ``deprived_count_share_pct`` and
    ``deprived_population_share_pct`` (in deciles 1 to ``most_deprived``), ``decile_1_rate``,
    ``decile_10_rate``, ``decile_1_to_10_ratio``, and ``sii``, ``rii`` with their limits
    (``sii_lower_95`` ...; :func:`slope_index`, with ``repetitions`` and ``seed``) and
    ``sii_note``, which says why an SII is missing: residents in fewer than
    :data:`MIN_DECILES` deciles, or a decile with residents and no events.
    """
    if "imd_decile" not in deciles:
        raise PsaGeoError("'deciles' should be an inequality table by 'imd_decile'")
    suffix = f"{round(100 * level):d}"
    rows = []
    keys = ["level", "area_code", "area_name", "category", "period"]
    for key, frame in _by_group(deciles, keys):
        decile, count, population = frame["imd_decile"], frame["count"], frame["population"]
        has = population > 0
        lived = int(has.sum())
        share, residents = deprived_share(count, population, decile, most_deprived=most_deprived)
        first, last = (_at(frame["rate_per_1000"], decile == d) for d in (1, 10))
        row = dict(zip(keys, key, strict=True))
        row.update(
            deciles_with_residents=lived,
            deprived_count_share_pct=share,
            deprived_population_share_pct=residents,
            decile_1_rate=first,
            decile_10_rate=last,
            decile_1_to_10_ratio=first / last if last > 0 else math.nan,
        )
        index, note = None, ""
        empty = decile[has & (count == 0)].tolist()
        if lived < MIN_DECILES:
            some = f"{lived} decile" + ("s" if lived != 1 else "")
            note = f"not computed: residents in {some} (needs {MIN_DECILES})"
        elif empty:
            note = f"not computed: no events in decile {', '.join(map(str, empty))}"
        else:
            index = slope_index(count[has], population[has], level=level,
                                repetitions=repetitions, seed=seed)  # fmt: skip
            if math.isnan(index.rii):
                note = "RII not computed: the fitted line falls to 0 before the least deprived end"
        for name in ("sii", "rii"):
            for part, attr in (("", name), (f"_lower_{suffix}", f"{name}_lower"),
                               (f"_upper_{suffix}", f"{name}_upper")):  # fmt: skip
                row[f"{name}{part}"] = getattr(index, attr) if index else math.nan
        row["sii_note"] = note
        rows.append(row)
    return pd.DataFrame(rows)


def _by_group(table: pd.DataFrame, keys: list[str]):
    """``(key, columns)`` per group of ``table`` by ``keys``, in order of first appearance, as
    ``groupby(keys, sort=False)`` gives them: ``columns`` maps each column to a numpy array
    of the group's rows ordered by ``imd_decile``. Slices of one sort, not a frame per group."""
    codes = table.groupby(keys, sort=False).ngroup().to_numpy()
    order = np.lexsort((table["imd_decile"].to_numpy(), codes))
    order = order[codes[order] >= 0]  # rows with a missing key are in no group
    columns = {name: table[name].to_numpy()[order] for name in table.columns}
    starts = np.flatnonzero(np.diff(codes[order], prepend=-1))
    for start, end in zip(starts, [*starts[1:], len(order)], strict=True):
        yield (
            tuple(columns[k][start] for k in keys),
            {name: values[start:end] for name, values in columns.items()},
        )


def _at(values: np.ndarray, where: np.ndarray) -> float:
    """The first of ``values`` where ``where`` holds; NaN if none."""
    found = values[where]
    return found[0] if len(found) else math.nan
