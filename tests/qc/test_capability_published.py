"""Capability and X̄-R/X̄-S charts against published worked examples (sources cited per test).

Montgomery's piston-ring inside diameters (Introduction to Statistical Quality
Control, Table 6.3: 25 subgroups of 5, mm).  The 125 values are taken from
KDE LabPlot's test suite, which transcribes the table for its own X̄-S test:
repository KDE/labplot, tests/cartesianplot/plots/statisticalplots/StatisticalPlotsTest.cpp
(commit 1024f95c8e01e38a80dd957998eca4d3d38be39c), StatisticalPlotsTest::testPBChartXBarS.
That transcription is checked here against every number the book prints
for this table: each subgroup mean x̄ᵢ (3 decimals) and standard deviation
sᵢ (4 decimals) as listed in the same LabPlot test, ΣR = 0.581 (R̄ = 0.023),
x̿ = 74.001, s̄ = 0.0094.  (The R package qcc's ``pistonrings`` differs in
subgroup 21 and gives R̄ = 0.02276; it is not used.)
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from ecmsim.qc.capability import (
    anderson_darling,
    box_cox_indices,
    c4,
    capability,
    d2,
    d3,
    indices,
    percentile_method,
)
from ecmsim.qc.charts import chart

# Montgomery Table 6.3 (via KDE LabPlot, see the module docstring), one row per subgroup.
PISTON_RINGS = np.loadtxt(Path(__file__).resolve().parents[1] / "data" / "montgomery_table_6_3.csv", delimiter=",")
# The book's x̄ᵢ and sᵢ columns (as listed in the LabPlot test).
BOOK_XBAR = [74.010, 74.001, 74.008, 74.003, 74.003, 73.996, 74.000, 73.997, 74.004, 73.998, 73.994, 74.001,
             73.998, 73.990, 74.006, 73.997, 74.001, 74.007, 73.998, 74.009, 74.000, 74.002, 74.002, 74.005,
             73.998]  # fmt: skip
BOOK_S = [0.0148, 0.0075, 0.0147, 0.0091, 0.0122, 0.0087, 0.0055, 0.0123, 0.0055, 0.0063, 0.0029, 0.0042, 0.0105,
          0.0153, 0.0073, 0.0078, 0.0106, 0.0070, 0.0085, 0.0080, 0.0122, 0.0074, 0.0119, 0.0087, 0.0162]  # fmt: skip


def test_piston_ring_transcription_matches_every_published_number() -> None:
    x = PISTON_RINGS
    assert x.shape == (25, 5)
    np.testing.assert_allclose(np.round(x.mean(axis=1), 3), BOOK_XBAR, atol=1e-9)
    np.testing.assert_allclose(np.round(x.std(axis=1, ddof=1), 4), BOOK_S, atol=1e-9)
    assert np.ptp(x, axis=1).sum() == pytest.approx(0.581, abs=1e-9)  # ΣR printed in Table 6.3
    assert round(float(np.sum(BOOK_XBAR)), 3) == pytest.approx(1850.028)  # Σx̄ printed in Table 6.3


def test_control_chart_constants_match_the_tables() -> None:
    # Montgomery Appendix Table VI (n = 5): d2 2.326, d3 0.864, c4 0.9400, A2 0.577, D4 2.114, A3 1.427, B4 2.089
    assert d2(5) == pytest.approx(2.326, abs=5e-4) and d3(5) == pytest.approx(0.864, abs=5e-4)
    assert float(c4(5)) == pytest.approx(0.9400, abs=5e-5)
    assert 3 / (d2(5) * math.sqrt(5)) == pytest.approx(0.577, abs=5e-4)  # A2
    assert 1 + 3 * d3(5) / d2(5) == pytest.approx(2.114, abs=1e-3)  # D4 (tables: from d3 rounded to 0.864)
    assert 3 / (float(c4(5)) * math.sqrt(5)) == pytest.approx(1.427, abs=5e-4)  # A3
    assert 1 + 3 * math.sqrt(1 - float(c4(5)) ** 2) / float(c4(5)) == pytest.approx(2.089, abs=5e-4)  # B4
    for n, dd2, dd3 in ((2, 1.128, 0.853), (3, 1.693, 0.888), (10, 3.078, 0.797), (25, 3.931, 0.708)):
        assert d2(n) == pytest.approx(dd2, abs=6e-4) and d3(n) == pytest.approx(dd3, abs=6e-4)


def test_piston_ring_xbar_r_chart_montgomery() -> None:
    """Montgomery Example 6.x: x̿ = 74.001, R̄ = 0.023, X̄ limits 73.988 / 74.014, R limits 0 / 0.049."""
    c = chart("xbar-r", PISTON_RINGS)
    xbar, r = c.panels
    assert round(c.mu, 3) == 74.001
    assert r.center[0] == pytest.approx(0.02324, abs=1e-9)  # R̄ (book: 0.581/25 = 0.023)
    assert c.sigma == pytest.approx(0.02324 / d2(5), rel=1e-12)
    # exact values from the data (the book rounds x̿ and R̄ before multiplying)
    assert xbar.lcl[0] == pytest.approx(73.98777, abs=1e-5) and xbar.ucl[0] == pytest.approx(74.01458, abs=1e-5)
    assert r.lcl[0] == 0.0 and r.ucl[0] == pytest.approx(0.04914, abs=1e-5)
    assert round(xbar.lcl[0], 3) == 73.988 and round(r.ucl[0], 3) == 0.049
    # with the book's rounded x̿ = 74.001 and R̄ = 0.023 the formulas give the printed limits
    b = chart("xbar-r", PISTON_RINGS, mu=74.001, sigma=0.023 / d2(5))
    assert round(b.panels[0].lcl[0], 3) == 73.988 and round(b.panels[0].ucl[0], 3) == 74.014
    assert round(b.panels[1].ucl[0], 3) == 0.049
    assert c.in_control  # the book finds Phase I in control


def test_piston_ring_xbar_s_chart_montgomery() -> None:
    """Montgomery Example 6.3 (X̄-S): s̄ = 0.0094, S chart UCL 0.0196, X̄ limits 73.988 / 74.014 (book rounding)."""
    c = chart("xbar-s", PISTON_RINGS)
    xbar, s = c.panels
    assert round(s.center[0], 4) == 0.0094 and round(s.ucl[0], 4) == 0.0196 and s.lcl[0] == 0.0
    assert round(xbar.lcl[0], 3) == 73.988
    b = chart("xbar-s", PISTON_RINGS, mu=74.001, sigma=0.0094 / float(c4(5)))
    assert round(b.panels[0].ucl[0], 3) == 74.014 and round(b.panels[0].lcl[0], 3) == 73.988


def test_piston_ring_capability_montgomery() -> None:
    """Spec 74.000 ± 0.05: Montgomery uses σ̂ = R̄/d2 = 0.0099 and finds Cp = 0.10/(6 × 0.0099) = 1.68."""
    book = capability(PISTON_RINGS, 73.95, 74.05, sigma_w=0.0099)
    assert round(book.cp, 2) == 1.68
    cap = capability(PISTON_RINGS, 73.95, 74.05, sigma_method="rbar")
    assert cap.sigma_within == pytest.approx(0.009992, abs=1e-6)  # R̄/d2 unrounded (book rounds to 0.0099)
    assert cap.cp == pytest.approx(1.668, abs=1e-3)  # the book's 1.68 comes from the rounded σ̂
    assert cap.cpk == pytest.approx(min(74.05 - cap.mean, cap.mean - 73.95) / (3 * cap.sigma_within))
    assert cap.ppk is not None and cap.pp is not None and cap.n == 125
    assert cap.normality["normal"] is True  # the book treats the diameters as normal


def test_nist_handbook_capability_example() -> None:
    """NIST/SEMATECH e-Handbook §6.1.6 "What is Process Capability?".

    Worked example: USL 20, LSL 8, mean 16, s 2 → Cp 1.0, Cpk 0.6667.
    """
    ix = indices(16.0, 2.0, 2.0, 100, 8.0, 20.0)
    assert ix["cp"] == pytest.approx(1.0)
    assert ix["cpu"] == pytest.approx(0.6667, abs=5e-5) and ix["cpl"] == pytest.approx(1.3333, abs=5e-5)
    assert ix["cpk"] == pytest.approx(0.6667, abs=5e-5)
    # §6.1.6 defines Cpm = (USL − LSL)/(6 √(σ² + (μ − T)²)); with T the mid-point 14: 12/(6√8) (computed, not printed)
    assert ix["cpm"] == pytest.approx(12 / (6 * math.sqrt(8)))


def test_confidence_intervals_follow_the_handbook_formulas_and_a_published_example() -> None:
    # §6.1.6 "Confidence intervals for indices": Cp with χ² (Chou et al. 1990), Cpk normal approximation (Bissell 1990)
    from scipy import stats

    n = 50
    ix = indices(16.0, 2.0, 2.0, n, 8.0, 20.0, confidence=0.95)
    lo, hi = ix["ci"]["cp"]
    assert lo == pytest.approx(math.sqrt(stats.chi2.ppf(0.025, n - 1) / (n - 1)))
    assert hi == pytest.approx(math.sqrt(stats.chi2.ppf(0.975, n - 1) / (n - 1)))
    c = 2 / 3
    h = stats.norm.ppf(0.975) * math.sqrt(1 / (9 * n) + c * c / (2 * (n - 1)))
    assert ix["ci"]["cpk"] == pytest.approx((c - h, c + h))
    # Published: SAS/QC User's Guide, PROC CAPABILITY Example 5.3 "Displaying a Confidence Interval for Cpk"
    # (sample library CAPSPEC3, telephone amplifier data, LSL 4, USL 6): 90 % interval 0.328 to 0.496.
    amps = np.array(
        """4.54 4.87 4.66 4.90 4.68 5.22 4.43 5.14 3.07 4.22 5.09 3.41 5.75 5.16 3.96 5.37 5.70 4.11 4.83 4.51
        4.57 4.16 5.73 3.64 5.48 4.95 4.57 4.46 4.75 5.38 5.19 4.35 4.98 4.87 3.53 4.46 4.57 4.69 5.27 4.67
        5.03 4.50 5.35 4.55 4.05 6.63 5.32 5.24 5.73 5.08 5.07 5.42 5.05 5.70 4.79 4.34 5.06 4.64 4.82 3.24
        4.79 4.46 3.84 5.05 5.46 4.64 6.13 4.31 4.81 4.98 4.95 5.57 4.11 4.15 5.95""".split(),
        float,
    )
    ix = indices(float(amps.mean()), float(amps.std(ddof=1)), float(amps.std(ddof=1)), amps.size, 4.0, 6.0,
                 confidence=0.90)  # fmt: skip
    lo, hi = ix["ci"]["cpk"]
    assert (round(lo, 3), round(hi, 3)) == (0.328, 0.496)


@pytest.mark.parametrize("side", ["upper", "lower"])
def test_one_sided_specification(side: str) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(10.0, 1.0, 400)
    cap = capability(x, usl=14.0) if side == "upper" else capability(x, lsl=6.0)
    assert cap.cp is None and cap.pp is None and cap.cpm is None  # undefined, never against an invented limit
    assert "cp" not in cap.ci and "pp" not in cap.ci
    if side == "upper":
        assert cap.cpl is None and cap.cpk == cap.cpu == pytest.approx((14.0 - cap.mean) / (3 * cap.sigma_within))
        assert cap.ppk == cap.ppu
    else:
        assert cap.cpu is None and cap.cpk == cap.cpl == pytest.approx((cap.mean - 6.0) / (3 * cap.sigma_within))
    assert any("one-sided" in n for n in cap.notes)
    # the expected fraction counts only the specified side
    from scipy.stats import norm

    want = (
        norm.sf((14.0 - cap.mean) / cap.sigma_overall)
        if side == "upper"
        else norm.cdf((6.0 - cap.mean) / cap.sigma_overall)
    )
    assert cap.expected_out_of_spec_overall == pytest.approx(want)
    with pytest.raises(ValueError, match="at least one specification limit"):
        capability(x)


def _lognormal_sample(n: int = 4000) -> np.ndarray:
    """exp of the normal quantiles at (i − ½)/n: a sample whose distribution is exactly lognormal(0, 1)."""
    from scipy.stats import norm

    return np.exp(norm.ppf((np.arange(1, n + 1) - 0.5) / n))


def test_percentile_method_and_box_cox_on_a_skewed_sample_with_known_answer() -> None:
    x = _lognormal_sample()
    lsl, usl = 0.01, 40.0
    pm = percentile_method(x, lsl, usl)
    assert pm["distribution"] == "lognormal"
    assert pm["x_0_135"] == pytest.approx(math.exp(-3), rel=2e-3) and pm["x_99_865"] == pytest.approx(
        math.exp(3), rel=2e-3
    )
    # ISO 22514-2: Ppk = min((U − X50)/(X99.865 − X50), (X50 − L)/(X50 − X0.135)) = min(39/(e³−1), 0.99/(1−e⁻³))
    assert pm["ppk"] == pytest.approx(min(39 / (math.exp(3) - 1), 0.99 / (1 - math.exp(-3))), rel=3e-3)
    assert pm["pp"] == pytest.approx((usl - lsl) / (math.exp(3) - math.exp(-3)), rel=3e-3)
    bc = box_cox_indices(x, lsl, usl)
    assert bc["applicable"] and abs(bc["lambda"]) < 0.02  # the log transform
    # after log: N(0, 1) against [ln 0.01, ln 40] → Ppk = min(ln 40, −ln 0.01)/3
    assert bc["ppk"] == pytest.approx(math.log(40) / 3, rel=2e-2)
    assert bc["normality_after"]["normal"] is True
    # the normal indices are misleading here and the normality test says so
    assert anderson_darling(x)["normal"] is False
    cap = capability(x, lsl, usl)
    assert cap.percentile is not None and cap.box_cox is not None


def test_anderson_darling_statistic_matches_scipy() -> None:
    from scipy import stats

    rng = np.random.default_rng(11)
    x = rng.normal(size=300)
    ad = anderson_darling(x)
    assert ad["statistic"] == pytest.approx(stats.anderson(x, dist="norm", method="interpolate").statistic, rel=1e-9)
    assert ad["normal"] is True and 0.05 < ad["p_value"] <= 1.0


def test_box_cox_on_data_far_from_zero_does_not_overflow() -> None:
    bc = box_cox_indices(PISTON_RINGS.ravel(), 73.95, 74.05)
    assert bc["applicable"] and math.isfinite(bc["ppk"])
    assert box_cox_indices(np.array([-1.0, 2.0, 3.0] * 5), None, 4.0)["applicable"] is False
