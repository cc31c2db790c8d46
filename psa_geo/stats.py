"""Confidence intervals, benchmark comparison, change tests and funnel plots for rates, and
the Wilson interval and benchmark comparison for shares.

The methods are those of the UK public-health profiles (PHE/OHID Fingertips technical
guidance) and Spiegelhalter (2005), "Funnel plots for comparing institutional performance",
Statistics in Medicine 24:1185-1202. They are implemented here from the published formulas.
Every function takes numpy arrays, pandas Series or scalars; scalars in give scalars out.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ._figures import figure_with_margins
from .errors import PsaGeoError

log = logging.getLogger(__name__)

FLAGS = ("above 99.8%", "above 95%", "within", "below 95%", "below 99.8%")
BYAR_FROM = 10  # counts below this use exact limits, counts from it Byar's approximation


def _array(values, name: str, *, positive: bool = False, whole: bool = False) -> np.ndarray:
    """Values as a float array; raise ValueError naming the first bad item."""
    if isinstance(values, pd.Series):
        arr = values.to_numpy(dtype=float, na_value=np.nan)
    else:
        arr = np.asarray(values, dtype=float)
    flat = arr.ravel()
    bad = ~np.isfinite(flat) | ((flat <= 0) if positive else (flat < 0))
    rule = "positive" if positive else "finite and 0 or more"
    if whole and not bad.any():
        bad, rule = flat != np.round(flat), "a whole number"
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        where = repr(values.index[i]) if isinstance(values, pd.Series) else f"item {i}"
        got = "missing" if np.isnan(flat[i]) else f"{flat[i]:g}"
        raise PsaGeoError(f"{name} must be {rule}; got {got} for {where} ({bad.sum()} bad)")
    return arr


def _alpha(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.95); got {level}")
    return 1.0 - level


def _out(values, *inputs):
    """Plain floats/str when every input was a scalar, arrays otherwise."""
    if all(np.ndim(x) == 0 for x in inputs):
        return tuple(np.asarray(v).item() for v in values)
    return tuple(np.asarray(v) for v in values)


def poisson_ci(counts, *, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Confidence limits for a Poisson count (the expected count, not a rate).

    Exact limits for counts below 10: lower = χ²(α/2; 2O)/2 (0 when O = 0),
    upper = χ²(1-α/2; 2O+2)/2. Byar's approximation from 10: lower = O(1 - 1/(9O) - z/(3√O))³,
    upper = (O+1)(1 - 1/(9(O+1)) + z/(3√(O+1)))³, z = Φ⁻¹(1-α/2).

    Non-integer counts (e.g. weighted counts) are accepted and use the same formulas. For whole
    counts both limits rise with the count; for fractional counts just below 10 the exact lower
    limit is above Byar's at 10 (by 0.16% at 95%, 1.5% at 99.8%), a step left in place.

    Raises
    ------
    ValueError
        If a count is negative, missing or infinite, or ``level`` is not in (0, 1).
    """
    obs = _array(counts, "counts")
    alpha = _alpha(level)
    z = stats.norm.ppf(1 - alpha / 2)
    small = obs < BYAR_FROM
    lower, upper = np.empty_like(obs), np.empty_like(obs)
    o = obs[small]
    lower[small] = np.where(o > 0, stats.chi2.ppf(alpha / 2, np.maximum(2 * o, 1e-300)) / 2, 0.0)
    upper[small] = stats.chi2.ppf(1 - alpha / 2, 2 * o + 2) / 2
    o, o1 = obs[~small], obs[~small] + 1
    lower[~small] = np.maximum(o * (1 - 1 / (9 * o) - z / (3 * np.sqrt(o))) ** 3, 0.0)
    upper[~small] = o1 * (1 - 1 / (9 * o1) + z / (3 * np.sqrt(o1))) ** 3
    return _out((lower, upper), counts)


def rate_ci(
    count, population, *, per: float = 1000, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rate per ``per`` residents with its confidence limits: ``(rate, lower, upper)``.

    The limits are :func:`poisson_ci` of the count times ``per / population``.

    Raises
    ------
    ValueError
        If a population is 0, negative or missing (never a silent NaN), or a count is invalid.
    """
    if not per > 0:
        raise ValueError(f"per must be positive; got {per}")
    obs = _array(count, "count")
    scale = per / _array(population, "population", positive=True)
    lower, upper = poisson_ci(obs, level=level)
    return _out(np.broadcast_arrays(obs * scale, lower * scale, upper * scale), count, population)


def compare_with_benchmark(
    count, population, benchmark_rate, *, per: float = 1000, level: float = 0.95
) -> np.ndarray:
    """Compare each rate with a benchmark: "higher", "similar" or "lower" (Fingertips rule).

    "similar" when the benchmark lies inside the area's own confidence interval (limits
    included), "higher" when it is below the lower limit, "lower" when above the upper limit.
    """
    _, lower, upper = rate_ci(count, population, per=per, level=level)
    bench = _array(benchmark_rate, "benchmark_rate")
    out = np.where(bench < lower, "higher", np.where(bench > upper, "lower", "similar"))
    return _out((out,), count, population, benchmark_rate)[0]


def proportion_ci(count, total, *, level: float = 0.95) -> tuple[np.ndarray, ...]:
    """A share with its Wilson score interval: ``(share, lower, upper)``, each 0 to 1.

    With k of n and z = Φ⁻¹(1-α/2): limits = (2k + z² ∓ z√(z² + 4k(1 - k/n))) / (2(n + z²))
    (Wilson 1927; the method of the public-health profiles). Unlike the plain ±z√(p(1-p)/n)
    interval it stays within 0 and 1 and is not zero-width at 0 or n.

    Raises
    ------
    ValueError
        If a total is 0, negative or missing, or a count is negative or above its total.
    """
    k = _array(count, "count")
    n = _array(total, "total", positive=True)
    k, n = np.broadcast_arrays(k, n)
    if (k > n).any():
        i = int(np.flatnonzero((k > n).ravel())[0])
        raise PsaGeoError(f"count must not exceed total; got {k.ravel()[i]:g} of {n.ravel()[i]:g}")
    z = stats.norm.ppf(1 - _alpha(level) / 2)
    half = z * np.sqrt(z**2 + 4 * k * (1 - k / n))
    lower = (2 * k + z**2 - half) / (2 * (n + z**2))
    upper = (2 * k + z**2 + half) / (2 * (n + z**2))
    return _out((k / n, np.clip(lower, 0.0, 1.0), np.clip(upper, 0.0, 1.0)), count, total)


def compare_share_with_benchmark(count, total, benchmark_share, *, level: float = 0.95):
    """Compare each share with a benchmark share (0 to 1): "higher", "similar" or "lower".

    "similar" when the benchmark lies inside the area's Wilson interval (:func:`proportion_ci`,
    limits included), "higher" when below it, "lower" when above it: the Fingertips rule, and
    the same as a two-sided one-sample score test of share = benchmark at 1 - ``level``.
    """
    _, lower, upper = proportion_ci(count, total, level=level)
    bench = _array(benchmark_share, "benchmark_share")
    out = np.where(bench < lower, "higher", np.where(bench > upper, "lower", "similar"))
    return _out((out,), count, total, benchmark_share)[0]


def change_test(current, previous, *, exposure_ratio: float = 1.0) -> np.ndarray:
    """Two-sided p-value for a change between two Poisson counts (conditional exact test).

    Given n = current + previous, current ~ Binomial(n, r/(1+r)) under no change, where
    r = ``exposure_ratio`` (current exposure / previous exposure, e.g. months or population).
    The two-sided p-value sums the probabilities of all outcomes no more likely than the one
    seen (the "minlike" definition of R's ``binom.test``/``poisson.test`` and
    ``scipy.stats.binomtest``, relative tolerance 1e-7), computed for all rows at once by
    bisection on the far tail. p = 1 when n = 0. Counts must be whole numbers.
    """
    k = _array(current, "current", whole=True)
    m = _array(previous, "previous", whole=True)
    r = _array(exposure_ratio, "exposure_ratio", positive=True)
    k, m, r = np.broadcast_arrays(k, m, r)
    n, p = k + m, r / (1 + r)
    centre = k == n * p
    flip = k > n * p  # mirror so the observed count is in the lower tail
    k, p = np.where(flip, n - k, k), np.where(flip, 1 - p, p)
    limit = stats.binom.pmf(k, n, p) * (1 + 1e-7)
    # The pmf falls from ceil(np) to n: find the first x there with pmf(x) <= limit (n+1: none).
    lo, hi = np.ceil(n * p), n + 1
    while np.any(active := lo < hi):
        mid = np.floor((lo + hi) / 2)
        small = stats.binom.pmf(mid, n, p) <= limit
        hi, lo = np.where(active & small, mid, hi), np.where(active & ~small, mid + 1, lo)
    pvalue = stats.binom.cdf(k, n, p) + stats.binom.sf(lo - 1, n, p)
    pvalue = np.where(centre, 1.0, np.clip(pvalue, 0.0, 1.0))
    return _out((pvalue,), current, previous, exposure_ratio)[0]


def change_significance(
    current, previous, *, level: float = 0.95, exposure_ratio: float = 1.0
) -> np.ndarray:
    """Label :func:`change_test`: "significant increase"/"decrease" (p < 1 - level) or "not
    significant"; the direction compares current with previous × ``exposure_ratio``."""
    alpha = _alpha(level)
    pvalue = np.asarray(change_test(current, previous, exposure_ratio=exposure_ratio))
    rising = np.asarray(current, dtype=float) > np.asarray(previous, dtype=float) * exposure_ratio
    word = np.where(rising, "significant increase", "significant decrease")
    out = np.where(pvalue < alpha, word, "not significant")
    return _out((out,), current, previous, exposure_ratio)[0]


def _poisson_quantile(prob: float, mean: np.ndarray) -> np.ndarray:
    """Spiegelhalter (2005, appendix A.1.1) interpolated quantile r_p - a of Poisson(mean)."""
    r = stats.poisson.ppf(prob, mean)
    return r - (stats.poisson.cdf(r, mean) - prob) / stats.poisson.pmf(r, mean)


def funnel_limits(
    populations,
    benchmark_rate: float,
    *,
    per: float = 1000,
    level: float = 0.95,
    phi: float = 1.0,
    tau2: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Funnel-plot control limits ``(lower_rate, upper_rate)`` around a benchmark rate θ.

    Exact limits: with expected count E = θ·pop/per, the α/2 and 1-α/2 quantiles of
    Poisson(E), interpolated between whole counts as in Spiegelhalter (2005, appendix A.1.1),
    times per/pop. Overdispersion (Spiegelhalter 2005, section 4), with s² = θ·per/pop the
    Poisson variance of the rate: the distance of each limit from θ is multiplied by
    √(φ + τ²/s²), i.e. the normal-scale limits θ ± z·s become θ ± z·√(φs² + τ²). ``phi`` is
    the multiplicative factor, ``tau2`` the additive between-area variance in (rate per
    ``per``)². The lower limit is floored at 0.
    """
    pop = _array(populations, "populations", positive=True)
    theta = float(_array(benchmark_rate, "benchmark_rate", positive=True))
    if phi < 1 or tau2 < 0:
        raise ValueError(f"phi must be 1 or more and tau2 0 or more; got {phi} and {tau2}")
    alpha = _alpha(level)
    expected, scale = theta * pop / per, per / pop
    lower = _poisson_quantile(alpha / 2, expected) * scale
    upper = _poisson_quantile(1 - alpha / 2, expected) * scale
    widen = np.sqrt(phi + tau2 / (theta * scale))
    lower = np.maximum(theta - widen * (theta - lower), 0.0)
    upper = theta + widen * (upper - theta)
    return _out((lower, upper), populations)


def _z_scores(counts, populations, benchmark_rate, per):
    obs = _array(counts, "counts")
    pop = _array(populations, "populations", positive=True)
    theta = float(_array(benchmark_rate, "benchmark_rate", positive=True))
    if obs.shape != pop.shape:
        raise ValueError(f"counts and populations differ in shape: {obs.shape} vs {pop.shape}")
    variance = theta * per / pop
    return (obs * per / pop - theta) / np.sqrt(variance), variance


def estimate_overdispersion(
    counts,
    populations,
    benchmark_rate: float,
    *,
    per: float = 1000,
    method: str = "multiplicative",
    winsor: float = 0.1,
) -> float:
    """Overdispersion φ̂ ("multiplicative") or τ̂² ("additive"), Spiegelhalter (2005) section 4.

    z-scores z = (y - θ)/s with s² = θ·per/pop are winsorised (the lowest and highest
    ``winsor`` fraction set to those percentiles) and φ̂ = mean(z²), returned as 1 if below 1.
    Additive: τ̂² = (Iφ̂ - (I - 1)) / (Σw - Σw²/Σw) with w = 1/s² (a DerSimonian-Laird
    moment estimator), returned as 0 if negative; in (rate per ``per``)².
    """
    if method not in ("multiplicative", "additive"):
        raise ValueError(f"method must be 'multiplicative' or 'additive'; got {method!r}")
    if not 0 <= winsor < 0.5:
        raise ValueError(f"winsor must be at least 0 and below 0.5; got {winsor}")
    z, variance = _z_scores(counts, populations, benchmark_rate, per)
    z = z.ravel()
    if z.size < 2:
        raise ValueError("estimating overdispersion needs at least 2 areas")
    z = np.clip(z, *np.quantile(z, [winsor, 1 - winsor]))
    phi = float(np.mean(z**2))
    if method == "multiplicative":
        return max(phi, 1.0)
    w = 1 / variance.ravel()
    tau2 = (z.size * phi - (z.size - 1)) / (w.sum() - (w**2).sum() / w.sum())
    return max(float(tau2), 0.0)


def funnel_flags(
    counts,
    populations,
    benchmark_rate: float,
    *,
    per: float = 1000,
    phi: float = 1.0,
    tau2: float = 0.0,
) -> np.ndarray:
    """Each area's place on the funnel: one of :data:`FLAGS` (limits are exclusive)."""
    _z_scores(counts, populations, benchmark_rate, per)  # validates
    rate = _array(counts, "counts") * per / _array(populations, "populations", positive=True)
    kw = {"per": per, "phi": phi, "tau2": tau2}
    lo95, up95 = funnel_limits(populations, benchmark_rate, level=0.95, **kw)
    lo998, up998 = funnel_limits(populations, benchmark_rate, level=0.998, **kw)
    cases = [rate > up998, rate > up95, rate < lo998, rate < lo95]
    out = np.select(cases, [FLAGS[0], FLAGS[1], FLAGS[4], FLAGS[3]], FLAGS[2])
    return _out((out,), counts, populations)[0]


_STYLE = {  # flag: (marker, Okabe-Ito colour, legend words)
    "above 99.8%": ("^", "#D55E00", "Above the 99.8% limit"),
    "above 95%": ("P", "#E69F00", "Above the 95% limit"),
    "within": ("o", "#8C8C8C", "Within the limits"),
    "below 95%": ("X", "#56B4E9", "Below the 95% limit"),
    "below 99.8%": ("v", "#0072B2", "Below the 99.8% limit"),
}


_TEXT = {"textcoords": "offset points", "fontsize": 8, "parse_math": False}
_FUNNEL_MARGINS = {"left": 56, "right": 168, "top": 22, "bottom": 47}
"""In points: rate ticks of 5 digits, the note under the x axis, and on the right the legend
with its longest words ("Above the 99.8% limit (12,345)", 156 points wide at 8 points)."""


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _place_labels(fig, ax, xs, ys, names: list[str]) -> None:
    """Label points, moving each label up or down (with a leader line) to avoid earlier ones."""
    ax.get_xlim()  # fix the autoscaled limits, so data map to their final positions
    placed: list[tuple[float, float, float, float]] = []
    for x, y, name in zip(xs, ys, names, strict=True):
        px, py = ax.transData.transform((x, y)) * 72 / fig.dpi  # in points
        width = 4.8 * len(name) + 2  # about 0.6 em a character at 8 pt
        for dy in (2, -12, 13, -23, 24, -34, 35, -45, 46, 2):
            box = (px + 4, py + dy, px + 6 + width, py + dy + 10)
            if not any(_overlap(box, other) for other in placed):
                break
        placed.append(box)
        line = {"arrowstyle": "-", "lw": 0.4, "color": "0.35"} if dy not in (2, -12) else None
        ax.annotate(name, (x, y), xytext=(4, dy), arrowprops=line, **_TEXT)


def funnel_plot_svg(
    counts,
    populations,
    labels,
    benchmark_rate: float,
    path: str | Path,
    *,
    per: float = 1000,
    title: str,
    phi: float = 1.0,
    tau2: float = 0.0,
    label_outliers: int = 10,
) -> Path:
    """Write a funnel plot (rate against population, with 95% and 99.8% limits) as SVG.

    Points are marked by :func:`funnel_flags`. The ``label_outliers`` points farthest from the
    benchmark (largest |z|) are labelled: all points if they all fit, else only those outside
    the 95% limits. Labels are plain text. Returns the path written.
    """
    from matplotlib import rc_context
    from matplotlib.ticker import StrMethodFormatter

    obs = _array(counts, "counts").ravel()
    pop = _array(populations, "populations", positive=True).ravel()
    names = [str(x) for x in labels]
    if not len(obs) == len(pop) == len(names):
        raise ValueError(f"{len(obs)} counts, {len(pop)} populations and {len(names)} labels")
    theta = float(benchmark_rate)
    rate = obs * per / pop
    flags = np.asarray(funnel_flags(obs, pop, theta, per=per, phi=phi, tau2=tau2))
    z, variance = _z_scores(obs, pop, theta, per)
    z = z * np.sqrt(variance / (phi * variance + tau2))
    many = len(obs) > 50

    fig, ax = figure_with_margins((9, 5.5), **_FUNNEL_MARGINS)
    grid = np.geomspace(pop.min() * 0.9, pop.max() * 1.1, 400)
    ax.axhline(theta, color="black", lw=1.3, label=f"Benchmark: {theta:,.3g} per {per:,}")
    for level, colour, dash, words in (
        (0.95, "#E69F00", (6, 3), "95% limits"),
        (0.998, "#009E73", (1.5, 2), "99.8% limits"),
    ):
        lower, upper = funnel_limits(grid, theta, per=per, level=level, phi=phi, tau2=tau2)
        ax.plot(grid, upper, color=colour, ls=(0, dash), lw=1.6, label=words)
        ax.plot(grid, lower, color=colour, ls=(0, dash), lw=1.6)
    for flag, (marker, colour, words) in _STYLE.items():
        sel = flags == flag
        if sel.any():
            faint = many and flag == "within"
            ax.scatter(pop[sel], rate[sel], marker=marker, c=colour, s=18 if many else 55,
                       alpha=0.6 if faint else 0.9, zorder=2 if faint else 3, edgecolors="black",
                       linewidths=0.3, label=f"{words} ({sel.sum():,})")  # fmt: skip
    ax.set_title(title, parse_math=False)
    ax.set_xlabel("Resident population")
    ax.set_ylabel(f"Rate per {per:,} residents")
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_ylim(bottom=max(ax.get_ylim()[0], 0))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    note = "Limits: exact Poisson around the benchmark (Spiegelhalter 2005)."
    widened = [f"φ = {phi:.3g}"] * (phi != 1) + [f"τ² = {tau2:.3g}"] * (tau2 != 0)
    if widened:
        note += f" Widened for overdispersion: {', '.join(widened)}."
    ax.annotate(note, (0, 0), xycoords="axes fraction", xytext=(0, -34), **_TEXT, va="top")
    pool = np.arange(len(obs)) if len(obs) <= label_outliers else np.flatnonzero(flags != "within")
    chosen = pool[np.argsort(-np.abs(z[pool]), kind="stable")][:label_outliers]
    _place_labels(fig, ax, pop[chosen], rate[chosen], [names[i] for i in chosen])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "psa_geo"}):
        fig.savefig(path, format="svg", metadata={"Date": None})
    log.debug(
        "wrote funnel plot %s: %d areas, %d outside 95%%", path, len(obs), (flags != "within").sum()
    )
    return path
