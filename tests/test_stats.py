"""psa_geo.stats against oracles computed independently with scipy (root-finding, binomtest)."""

import itertools
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import optimize
from scipy.stats import binomtest, poisson

from psa_geo import stats

LEVELS = [0.95, 0.998]


def exact_limits(count: int, level: float) -> tuple[float, float]:
    """Garwood limits by root-finding: P(X >= O | L) = α/2 and P(X <= O | U) = α/2."""
    half = (1 - level) / 2
    lower = 0.0
    if count > 0:
        lower = optimize.brentq(lambda m: poisson.sf(count - 1, m) - half, 1e-12, count, xtol=1e-14)
    upper = optimize.brentq(
        lambda m: poisson.cdf(count, m) - half, count, 10 * count + 50, xtol=1e-14
    )
    return lower, upper


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("count", range(10))
def test_small_counts_are_exact(count, level):
    lower, upper = stats.poisson_ci(count, level=level)
    assert isinstance(lower, float)
    assert (lower, upper) == pytest.approx(exact_limits(count, level), rel=1e-9, abs=1e-12)


def test_textbook_values_for_ten():
    # Exact (Garwood) 95% limits for O = 10 are 4.7954 and 18.3904 (standard tables); Byar's
    # approximation, which the profiles use from 10, gives 4.7874 and 18.3915 (by hand).
    assert exact_limits(10, 0.95) == pytest.approx((4.7954, 18.3904), abs=1e-4)
    assert stats.poisson_ci(10) == pytest.approx((4.7874, 18.3915), abs=1e-4)


@pytest.mark.parametrize("level", LEVELS)
def test_byar_approaches_exact(level):
    errors = []
    for count in (10, 50, 500, 5000):
        got = np.array(stats.poisson_ci(count, level=level))
        errors.append(np.max(np.abs(got / exact_limits(count, level) - 1)))
    assert errors[0] < 0.02  # 0.1% at 95%, 1.5% at 99.8%
    assert all(a > b for a, b in itertools.pairwise(errors))
    assert errors[-1] < 1e-5


def test_vectorised_and_series():
    counts = pd.Series([0, 3, 10, 250])
    lower, upper = stats.poisson_ci(counts)
    assert isinstance(lower, np.ndarray) and lower.shape == (4,)
    for i, c in enumerate(counts):
        assert (lower[i], upper[i]) == pytest.approx(stats.poisson_ci(c))


@pytest.mark.parametrize("bad", [-1, np.nan, np.inf, [3, -2]])
def test_poisson_ci_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match="counts must be finite and 0 or more"):
        stats.poisson_ci(bad)


@pytest.mark.parametrize("level", [0, 1, 95])
def test_level_must_be_a_fraction(level):
    with pytest.raises(ValueError, match="level"):
        stats.poisson_ci(5, level=level)


@given(st.integers(0, 20_000))
def test_limits_bracket_the_count(count):
    lower, upper = stats.poisson_ci(count, level=0.95)
    assert lower <= count <= upper
    wide_lower, wide_upper = stats.poisson_ci(count, level=0.998)
    assert wide_lower <= lower and upper <= wide_upper


@given(st.integers(0, 20_000), st.integers(1, 50))
def test_limits_rise_with_the_count(count, step):
    lower, upper = stats.poisson_ci([count, count + step])
    assert lower[0] < lower[1] or (count == 0 and lower[1] > 0)
    assert upper[0] < upper[1]


@pytest.mark.parametrize("level", LEVELS)
def test_limits_rise_across_the_switch_to_byar(level):
    lower, upper = stats.poisson_ci(np.arange(0, 21), level=level)
    assert np.all(np.diff(lower) > 0) and np.all(np.diff(upper) > 0)
    # Honest note: for whole counts (crime counts) the limits rise strictly through 9 -> 10.
    # For *fractional* (weighted) counts just below 10 the exact lower limit is above Byar's
    # lower limit at 10, so the lower limit steps down there: 0.16% at 95%, 1.5% at 99.8%
    # (at 90% the upper limit also steps down, by 0.02%). We keep the published rule (exact
    # below 10, Byar from 10) rather than invent a patch; stats.poisson_ci documents this.
    below, at = stats.poisson_ci(9.9999, level=level), stats.poisson_ci(10, level=level)
    assert below[0] > at[0]
    assert (below[0] - at[0]) / at[0] < 0.02


@given(st.floats(0, 1e4), st.floats(1, 1e5))
def test_fractional_counts_bracket_the_count(count, population):
    rate, lower, upper = stats.rate_ci(count, population)
    assert lower <= rate * (1 + 1e-12) and rate <= upper * (1 + 1e-12)


@given(st.integers(0, 2000), st.integers(1, 10**6), st.sampled_from([1, 100, 1000, 100_000]))
def test_rate_ci_scales_with_per(count, population, per):
    base = np.array(stats.rate_ci(count, population, per=1))
    assert np.array(stats.rate_ci(count, population, per=per)) == pytest.approx(base * per)


def test_rate_ci_values_and_types():
    rate, lower, upper = stats.rate_ci(30, 1500)
    assert isinstance(rate, float) and rate == pytest.approx(20.0)
    exact = stats.poisson_ci(30)
    assert (lower, upper) == pytest.approx((exact[0] / 1.5, exact[1] / 1.5))
    rates, lowers, _ = stats.rate_ci([0, 30], pd.Series([1000, 1500]))
    assert isinstance(rates, np.ndarray) and list(rates) == [0.0, 20.0] and lowers[0] == 0.0


@pytest.mark.parametrize(
    ("population", "message"),
    [
        (0, "population must be positive; got 0 for item 0"),
        (-5, "got -5"),
        (np.nan, "got missing"),
        (pd.Series([1500.0, None], index=["E01018001", "E01018002"]), "for 'E01018002'"),
    ],
)
def test_rate_ci_refuses_bad_population(population, message):
    with pytest.raises(ValueError, match=message):
        stats.rate_ci(pd.Series([5, 5]) if isinstance(population, pd.Series) else 5, population)


def test_compare_with_benchmark():
    _, lower, upper = stats.rate_ci(30, 1500)
    assert stats.compare_with_benchmark(30, 1500, 20.0) == "similar"
    assert stats.compare_with_benchmark(30, 1500, lower) == "similar"  # limits are inside
    assert stats.compare_with_benchmark(30, 1500, upper) == "similar"
    assert stats.compare_with_benchmark(30, 1500, np.nextafter(lower, 0)) == "higher"
    assert stats.compare_with_benchmark(30, 1500, np.nextafter(upper, 99)) == "lower"
    got = stats.compare_with_benchmark([60, 30, 10, 0], [1500, 1500, 1500, 100], 20.0)
    assert list(got) == ["higher", "similar", "lower", "similar"]


@pytest.mark.parametrize(("k", "n"), [(0, 1), (0, 20), (1, 30), (3, 10), (20, 20), (3621, 10563)])
@pytest.mark.parametrize("level", LEVELS)
def test_proportion_ci_matches_scipys_wilson_interval(k, n, level):
    expected = binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
    share, lower, upper = stats.proportion_ci(k, n, level=level)
    assert share == k / n
    assert (lower, upper) == pytest.approx((expected.low, expected.high), abs=1e-12)


def test_proportion_ci_vectorised_and_refuses_bad_input():
    share, lower, upper = stats.proportion_ci(pd.Series([1, 50]), pd.Series([4, 100]))
    assert list(share) == [0.25, 0.5] and (lower < share).all() and (share < upper).all()
    for count, total, message in [(5, 4, "must not exceed"), (1, 0, "total must be positive"),
                                  (-1, 4, "count must be finite and 0 or more")]:  # fmt: skip
        with pytest.raises(ValueError, match=message):
            stats.proportion_ci(count, total)


@given(st.integers(1, 5000), st.floats(0, 1), st.floats(0.001, 0.999))
def test_compare_share_is_the_one_sample_score_test(n, fraction, benchmark):
    """Outside the Wilson interval exactly when |p - p0| / sqrt(p0(1 - p0)/n) > 1.96."""
    k = round(fraction * n)
    z = abs(k / n - benchmark) / np.sqrt(benchmark * (1 - benchmark) / n)
    if abs(z - 1.959963984540054) < 1e-6:
        return  # on the limit itself, rounding decides
    word = stats.compare_share_with_benchmark(k, n, benchmark)
    expected = "similar" if z < 1.959963984540054 else ("higher" if k / n > benchmark else "lower")
    assert word == expected


def test_compare_share_with_benchmark_limits_are_inside():
    _, lower, upper = stats.proportion_ci(30, 100)
    assert stats.compare_share_with_benchmark(30, 100, lower) == "similar"
    assert stats.compare_share_with_benchmark(30, 100, upper) == "similar"
    assert stats.compare_share_with_benchmark(30, 100, np.nextafter(lower, 0)) == "higher"
    assert stats.compare_share_with_benchmark(30, 100, np.nextafter(upper, 1)) == "lower"
    got = stats.compare_share_with_benchmark([60, 30, 10], [100, 100, 100], 0.3)
    assert list(got) == ["higher", "similar", "lower"]


def test_change_test_examples():
    assert stats.change_test(7, 5) > 0.5
    assert stats.change_test(700, 500) < 1e-6
    assert stats.change_test(0, 0) == 1.0
    assert stats.change_test(6, 6) == 1.0
    assert list(stats.change_significance([7, 700, 500], [5, 500, 700])) == [
        "not significant",
        "significant increase",
        "significant decrease",
    ]


@pytest.mark.parametrize(("k", "n"), [(0, 1), (3, 10), (7, 12), (40, 100), (1, 30), (260, 500)])
@pytest.mark.parametrize("ratio", [1.0, 0.5, 3.0])
def test_change_test_matches_binomtest(k, n, ratio):
    expected = binomtest(k, n, ratio / (1 + ratio)).pvalue
    assert stats.change_test(k, n - k, exposure_ratio=ratio) == pytest.approx(expected, rel=1e-9)


def test_change_test_is_fast_and_matches_binomtest_in_bulk():
    rng = np.random.default_rng(7)
    n = rng.integers(1, 2000, 15_000)
    k = rng.binomial(n, 0.45)
    p = stats.change_test(k, n - k)
    expected = [binomtest(int(a), int(b)).pvalue for a, b in zip(k[:500], n[:500], strict=True)]
    assert p[:500] == pytest.approx(expected, rel=1e-9, abs=1e-15)


@given(st.integers(0, 3000), st.integers(0, 3000))
def test_change_test_properties(current, previous):
    p = stats.change_test(current, previous)
    assert 0 <= p <= 1
    assert p == stats.change_test(previous, current)


def test_change_test_wants_whole_counts():
    with pytest.raises(ValueError, match="current must be a whole number"):
        stats.change_test(2.5, 3)


POPS = np.array([200, 500, 1000, 1500, 3000, 10_000, 300_000])


def test_funnel_limits_shape():
    lo95, up95 = stats.funnel_limits(POPS, 20.0)
    lo998, up998 = stats.funnel_limits(POPS, 20.0, level=0.998)
    assert np.all(lo95 <= 20) and np.all(up95 >= 20)
    assert np.all(np.diff(up95) < 0) and np.all(np.diff(lo95) >= 0)  # widen as population falls
    assert np.all(lo998 <= lo95) and np.all(up998 > up95)
    assert np.all(lo998[:-1] < lo95[:-1]) and lo998[0] == 0  # floored at zero
    # Large expected counts: the exact limits approach θ ± z·sqrt(θ·per/pop).
    assert up95[-1] == pytest.approx(20 + 1.96 * np.sqrt(20 * 1000 / 300_000), rel=2e-3)


def test_funnel_limits_match_poisson_quantiles_at_whole_counts():
    # Where the 97.5% point is hit exactly by the cdf at a whole count r, the limit is r.
    mean = 30.0
    r = 40
    level = 1 - 2 * (1 - poisson.cdf(r, mean))
    _, upper = stats.funnel_limits(1500, 20.0, level=level)
    assert upper * 1.5 == pytest.approx(r)


def test_funnel_overdispersion():
    plain = stats.funnel_limits(POPS, 20.0)
    same = stats.funnel_limits(POPS, 20.0, phi=1.0, tau2=0.0)
    assert np.array_equal(same, plain)
    lo2, up2 = stats.funnel_limits(POPS, 20.0, phi=2.0)
    assert np.all(up2 - 20 == pytest.approx(np.sqrt(2) * (plain[1] - 20)))
    assert np.all(lo2 <= plain[0]) and np.all(up2 > plain[1])
    _, up_t = stats.funnel_limits(POPS, 20.0, tau2=4.0)
    assert np.all(up_t > plain[1])
    # With a random effect the funnel no longer closes: limits stay about θ ± 1.96·τ apart.
    assert up_t[-1] - 20 > 1.96 * 2
    with pytest.raises(ValueError, match="phi"):
        stats.funnel_limits(POPS, 20.0, phi=0.5)


def test_estimate_overdispersion():
    rng = np.random.default_rng(2024)
    pops = rng.integers(1000, 3000, 1034)
    expected = 20.0 * pops / 1000
    poisson_counts = rng.poisson(expected)
    assert stats.estimate_overdispersion(poisson_counts, pops, 20.0) == pytest.approx(1, abs=0.1)
    assert stats.estimate_overdispersion(poisson_counts, pops, 20.0, method="additive") < 1
    extra = rng.poisson(rng.gamma(5.0, expected / 5.0))  # variance μ + μ²/5
    phi = stats.estimate_overdispersion(extra, pops, 20.0)
    assert phi > 3
    tau2 = stats.estimate_overdispersion(extra, pops, 20.0, method="additive")
    assert 40 < tau2 < 120  # the gamma adds variance θ²/5 = 80 to the rate
    with pytest.raises(ValueError, match="method"):
        stats.estimate_overdispersion(extra, pops, 20.0, method="both")


def test_funnel_flags():
    pops = np.full(5, 1500)
    counts = np.array([90, 44, 30, 18, 8])  # expected 30
    flags = stats.funnel_flags(counts, pops, 20.0)
    assert list(flags) == ["above 99.8%", "above 95%", "within", "below 95%", "below 99.8%"]
    assert list(stats.funnel_flags(counts, pops, 20.0, phi=4.0))[1:4] == ["within"] * 3


def svg_text(path) -> str:
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    return " ".join(t for el in root.iter() for t in el.itertext())


def test_funnel_plot_svg_csps(tmp_path):
    labels = [
        "Plymouth",
        "Torbay",
        "Cornwall & Scilly",
        "Exeter <city>",
        "A $5 area",
        "E",
        "F",
        "G",
    ]
    pops = [264_000, 136_000, 570_000, 130_000, 100_000, 90_000, 80_000, 70_000]
    counts = [7900, 2600, 10_000, 2700, 1900, 1800, 1600, 1400]
    out = stats.funnel_plot_svg(
        counts, pops, labels, 20.0, tmp_path / "f" / "csp.svg", title="All crime: CSPs"
    )
    assert out == tmp_path / "f" / "csp.svg"
    text = svg_text(out)
    assert "All crime: CSPs" in text and "95% limits" in text and "99.8% limits" in text
    for label in labels:  # eight points: all labelled, as plain text
        assert label in text
    assert "overdispersion" not in text


def test_funnel_plot_svg_lsoas(tmp_path):
    rng = np.random.default_rng(5)
    pops = rng.integers(1000, 3000, 1034)
    counts = rng.poisson(rng.gamma(5.0, 20.0 * pops / 1000 / 5.0))
    labels = [f"E0101{i:04d}" for i in range(1034)]
    phi = stats.estimate_overdispersion(counts, pops, 20.0)
    out = stats.funnel_plot_svg(
        counts, pops, labels, 20.0, tmp_path / "lsoa.svg", title="LSOAs", phi=phi
    )
    text = svg_text(out)
    flags = stats.funnel_flags(counts, pops, 20.0, phi=phi)
    flagged = {labels[i] for i in np.flatnonzero(flags != "within")}
    shown = {label for label in labels if label in text}
    assert shown and shown <= flagged and len(shown) == min(10, len(flagged))
    assert "overdispersion" in text


def test_funnel_plot_svg_checks_lengths(tmp_path):
    with pytest.raises(ValueError, match="labels"):
        stats.funnel_plot_svg([1, 2], [100, 200], ["a"], 5.0, tmp_path / "x.svg", title="x")
