"""Run rules on constructed sequences (each rule fires exactly where expected), chart recursions, rule selection."""

from __future__ import annotations

import numpy as np
import pytest

from ecmsim.qc.charts import RULE_SETS, RULES, chart, parse_rules, run_rules

ALL = RULE_SETS["we"] + RULE_SETS["nelson"]


def _fired(z: list[float] | np.ndarray, rule: str) -> list[int]:
    return np.nonzero(run_rules(np.asarray(z, float), (rule,))[rule])[0].tolist()


# A quiet background: alternating ±0.5 breaks every pattern except "alternating" (n4) and "within 1σ" (n7),
# so each construction below is embedded in noise-free, rule-neutral surroundings.
def _base(n: int = 30) -> np.ndarray:
    return np.array([0.5, -0.5, 0.0] * (n // 3 + 1))[:n]


@pytest.mark.parametrize("rule", ["we1", "n1"])
def test_beyond_3_sigma(rule: str) -> None:
    z = _base()
    z[7], z[20] = 3.2, -3.01
    assert _fired(z, rule) == [7, 20]
    z[7] = 3.0  # on the limit is not beyond
    assert _fired(z, rule) == [20]


@pytest.mark.parametrize("rule", ["we2", "n5"])
def test_two_of_three_beyond_2_sigma(rule: str) -> None:
    z = _base()
    z[10], z[12] = 2.5, 2.1  # 2 of 3 (10, 11, 12) on the upper side: fires at 12, the completing point
    z[20], z[21] = -2.2, 2.2  # opposite sides: no signal
    assert _fired(z, rule) == [12]


@pytest.mark.parametrize("rule", ["we3", "n6"])
def test_four_of_five_beyond_1_sigma(rule: str) -> None:
    z = _base()
    z[5:10] = [1.5, 1.2, 0.2, 1.1, 1.3]  # 4 of 5 above 1σ, completed at 9
    z[15:20] = [-1.5, -1.2, 0.2, -1.1, 0.9]  # only 3 below
    assert _fired(z, rule) == [9]


def test_we4_eight_and_n2_nine_on_one_side() -> None:
    z = _base(40)
    z[9], z[19] = -0.5, -0.5
    z[10:19] = 0.3  # 9 points above the centre line: indices 10 … 18
    assert _fired(z, "we4") == [17, 18]  # 8th and 9th points complete runs of 8
    assert _fired(z, "n2") == [18]
    z[14] = 0.0  # a point on the centre line breaks the run
    assert _fired(z, "we4") == [] and _fired(z, "n2") == []


def test_n3_six_points_trending() -> None:
    z = _base()
    z[10:16] = [-1.0, -0.6, -0.2, 0.2, 0.6, 1.0]  # 6 increasing points: fires at 15
    assert _fired(z, "n3") == [15]
    z[20:25] = [1.0, 0.5, 0.0, -0.5, -1.0]  # only 5 decreasing: together with z[19] = 0.5 (< 1.0) no run of 6
    assert 24 not in _fired(z, "n3")


def test_n4_fourteen_alternating() -> None:
    z = np.arange(30) * 0.01  # steadily increasing: never alternating
    z[5:19] = [0.3, -0.3] * 7  # 14 alternating points, indices 5 … 18
    z[4], z[19] = 0.5, -0.5  # a fall into the block and a fall out of it: the alternation is exactly 5 … 18
    assert _fired(z, "n4") == [18]
    z[12] = z[11]  # a tie breaks the alternation
    assert _fired(z, "n4") == []


def test_n7_fifteen_within_1_sigma() -> None:
    z = np.full(40, 1.5)
    z[10:25] = [0.2, -0.3] * 7 + [0.1]  # 15 points within 1σ, indices 10 … 24
    assert _fired(z, "n7") == [24]


def test_n8_eight_beyond_1_sigma_either_side() -> None:
    z = np.zeros(30)
    z[10:18] = [1.5, -1.5] * 4  # 8 points outside ±1σ on both sides, none within
    assert _fired(z, "n8") == [17]
    z[13] = 0.5
    assert _fired(z, "n8") == []


def test_nan_points_break_patterns_and_never_fire() -> None:
    z = np.full(20, 0.5)
    z[5] = np.nan
    assert _fired(z, "n2") == [14, 15, 16, 17, 18, 19]  # the run starts again after the gap (6 … 14)
    assert not any(run_rules(np.full(10, np.nan), ALL)[r].any() for r in ALL)


def test_rule_selection_parsing() -> None:
    assert parse_rules("we") == ("we1", "we2", "we3", "we4")
    assert parse_rules("nelson")[-1] == "n8" and len(parse_rules("nelson")) == 8
    assert parse_rules("we1, n3,we1") == ("we1", "n3")
    with pytest.raises(ValueError, match=r"unknown run rule 'n9'.*allowed: auto, we, nelson"):
        parse_rules("n9")
    with pytest.raises(ValueError, match="no run rule"):
        parse_rules(" , ")
    assert set(RULES) >= set(ALL)


def test_range_charts_use_only_beyond_limits_and_zones_use_the_sigma_of_the_plotted_statistic() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(10.0, 1.0, (30, 4))
    x[20:29] += 10.6 - x[20:29].mean(axis=1, keepdims=True)  # subgroup means 10.6: a run above the centre
    c = chart("xbar-r", x, mu=10.0, sigma=1.0, rules=("we4",))
    xbar, r = c.panels
    assert xbar.rules == ("we4",) and r.rules == ("limits",) and set(r.signals) == {"limits"}
    np.testing.assert_allclose(xbar.sigma, 1.0 / 2.0)  # σ/√n: zones of the plotted statistic, not of x
    assert xbar.signals["we4"][27:29].all()
    np.testing.assert_allclose(xbar.ucl, 10.0 + 3 * 0.5)
    assert r.ucl[0] == pytest.approx(4.698, abs=2e-3)  # D4(4)·d2(4)·σ = 2.282 × 2.059
    # variable subgroup sizes: limits per point
    x[3, 2:] = np.nan
    c = chart("xbar-s", x, mu=10.0, sigma=1.0)
    assert c.panels[0].ucl[3] == pytest.approx(10 + 3 / np.sqrt(2)) and c.panels[0].ucl[0] == pytest.approx(11.5)


def _ewma_twin(u: np.ndarray, lam: float) -> np.ndarray:
    z, out = 0.0, []
    for v in u:  # the obvious recursion, for comparison with the vectorised filter
        z = lam * v + (1 - lam) * z
        out.append(z)
    return np.array(out)


def _cusum_twin(u: np.ndarray, k: float) -> tuple[np.ndarray, np.ndarray]:
    cp = cm = 0.0
    p, m = [], []
    for v in u:
        cp, cm = max(0.0, v - k + cp), max(0.0, -v - k + cm)
        p.append(cp)
        m.append(cm)
    return np.array(p), np.array(m)


def test_ewma_and_cusum_equal_their_recursions_and_detect_a_shift() -> None:
    rng = np.random.default_rng(9)
    x = rng.normal(5.0, 2.0, 200)
    x[120:] += 2.0  # a 1σ shift at point 120
    e = chart("ewma", x, mu=5.0, sigma=2.0, lam=0.1, L=2.7)
    np.testing.assert_allclose(e.panels[0].values, 5.0 + 2.0 * _ewma_twin((x - 5.0) / 2.0, 0.1), rtol=1e-12)
    i = np.arange(1, 201)
    np.testing.assert_allclose(e.panels[0].ucl, 5.0 + 2.0 * 2.7 * np.sqrt(0.1 / 1.9 * (1 - 0.9 ** (2 * i))))
    c = chart("cusum", x, mu=5.0, sigma=2.0, k=0.5, h=4.0)
    cp, cm = _cusum_twin((x - 5.0) / 2.0, 0.5)
    np.testing.assert_allclose(c.panels[0].values, cp, atol=1e-12)
    np.testing.assert_allclose(c.panels[1].values, cm, atol=1e-12)
    assert 120 <= c.first_signal() < 140 and 120 <= e.first_signal() < 140
    assert not chart("cusum", x[:120], mu=5.0, sigma=2.0, h=4.0).panels[0].any_signal().any()
