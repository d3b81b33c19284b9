"""Control-chart statistics and run rules (pure NumPy/SciPy; no plotting, no I/O).

Charts (Montgomery, *Introduction to Statistical Quality Control*, ch. 6 and 9):

* **I-MR**: individual values x and moving ranges |xᵢ − xᵢ₋₁|; σ̂ = MR̄/d2(2);
  I limits μ ± 3σ̂, MR limits [0, D4(2)·MR̄] (D4(2)·MR̄ = (d2 + 3d3)(2)·σ̂);
* **X̄-R**: subgroup means and ranges; σ̂ = mean of Rᵢ/d2(nᵢ) (= R̄/d2 for equal n);
  X̄ limits μ ± 3σ̂/√nᵢ (= x̿ ± A2 R̄), R limits (d2 ± 3d3)(nᵢ)·σ̂ clipped at 0 (= D3 R̄, D4 R̄);
* **X̄-S**: as X̄-R with σ̂ = mean of sᵢ/c4(nᵢ) (= s̄/c4), S limits (c4 ± 3√(1 − c4²))·σ̂ (= B3 s̄, B4 s̄);
* **EWMA** (Roberts 1959): zᵢ = λ uᵢ + (1 − λ) zᵢ₋₁, z₀ = 0 on standardised
  values uᵢ = (x̄ᵢ − μ)/(σ/√nᵢ); limits ±L √(λ/(2 − λ) (1 − (1 − λ)^{2i})) (exact, time-varying);
* **CUSUM** (tabular, Page 1954): Cᵢ⁺ = max(0, uᵢ − k + Cᵢ₋₁⁺), Cᵢ⁻ = max(0, −uᵢ − k + Cᵢ₋₁⁻),
  signal when either exceeds h (standardised units; k = ½ detects a 1σ shift).

Every chart is described by the process parameters it was computed from
(``mu``, ``sigma``: the *process* mean and short-term sigma), so Phase I
limits can be frozen as two numbers per characteristic and applied to new
subgroups of any size in Phase II.

Run rules act on the standardised plotted statistic z = (stat − centre)/σ_stat,
so the zones are ±1, ±2, ±3 sigma *of the plotted statistic* (σ/√n for X̄).
Western Electric (1956) ``we1``–``we4`` and Nelson (1984) ``n1``–``n8`` can be
selected individually; range, S and MR charts use only "beyond limits"
(their distributions are skewed and their limits not ±3σ symmetric), as do
EWMA and CUSUM (their statistics are autocorrelated).  A signal is marked at
the point that completes the pattern.  The recursions are vectorised:
EWMA with ``scipy.signal.lfilter``, CUSUM as a reflected random walk
(Cᵢ = Sᵢ − min(0, minⱼ≤ᵢ Sⱼ) with Sᵢ the cumulative sum of uᵢ − k).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecmsim.qc.capability import c4, d2, d3

#: Rule id → (description, window length).
RULES: dict[str, str] = {
    "we1": "1 point beyond 3σ (Western Electric 1)",
    "we2": "2 of 3 consecutive points beyond 2σ on the same side (Western Electric 2)",
    "we3": "4 of 5 consecutive points beyond 1σ on the same side (Western Electric 3)",
    "we4": "8 consecutive points on the same side of the centre line (Western Electric 4)",
    "n1": "1 point beyond 3σ (Nelson 1)",
    "n2": "9 consecutive points on the same side of the centre line (Nelson 2)",
    "n3": "6 consecutive points steadily increasing or decreasing (Nelson 3)",
    "n4": "14 consecutive points alternating up and down (Nelson 4)",
    "n5": "2 of 3 consecutive points beyond 2σ on the same side (Nelson 5)",
    "n6": "4 of 5 consecutive points beyond 1σ on the same side (Nelson 6)",
    "n7": "15 consecutive points within 1σ of the centre line, either side (Nelson 7)",
    "n8": "8 consecutive points beyond 1σ, either side, none within 1σ (Nelson 8)",
    "limits": "point beyond a control limit",
    "auto": "point beyond a probability limit (per-point rate from the family-wise false-alarm rate)",
}
#: ``auto``: every panel's "beyond the limits" rule only, with probability limits whose per-point rate is
#: allocated from a family-wise false-alarm rate (:func:`family_alpha`).
AUTO = "auto"
RULE_SETS = {
    "auto": (AUTO,),
    "we": ("we1", "we2", "we3", "we4"),
    "nelson": ("n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8"),
}
CHARTS = ("imr", "xbar-r", "xbar-s", "ewma", "cusum")
#: Default EWMA and CUSUM parameters (Montgomery §9.1–9.2: λ = 0.2, L = 3; k = 0.5, h = 5).
EWMA_LAMBDA, EWMA_L = 0.2, 3.0
CUSUM_K, CUSUM_H = 0.5, 5.0


def parse_rules(text: str) -> tuple[str, ...]:
    """``we`` | ``nelson`` | comma-separated rule ids (``we1,we2,n3``) → rule ids; ``ValueError`` otherwise."""
    out: list[str] = []
    for tok in (t.strip().lower() for t in text.split(",")):
        if not tok:
            continue
        if tok in RULE_SETS:
            out += RULE_SETS[tok]
        elif tok in RULES and tok not in ("limits", AUTO):
            out.append(tok)
        else:
            allowed = ", ".join([*RULE_SETS, *(r for r in RULES if r not in ("limits", AUTO))])
            raise ValueError(f"unknown run rule {tok!r}; allowed: {allowed}")
    if not out:
        raise ValueError("no run rule selected")
    if AUTO in out and len(out) > 1:
        raise ValueError("'auto' chooses the rules itself: give it alone")
    return tuple(dict.fromkeys(out))


# --------------------------------------------------------------------------- run rules
def _windows(a: np.ndarray, k: int) -> np.ndarray:
    """Sliding windows of length k (rows end at index k−1 … N−1); empty when N < k."""
    if a.shape[0] < k:
        return np.zeros((0, k), a.dtype)
    return np.lib.stride_tricks.sliding_window_view(a, k)


def _at_end(flags: np.ndarray, n: int, k: int) -> np.ndarray:
    out = np.zeros(n, bool)
    if flags.size:
        out[k - 1 :] = flags
    return out


def _run(cond: np.ndarray, k: int) -> np.ndarray:
    """True where ``cond`` has held for the last k points."""
    return _at_end(np.asarray(_windows(cond, k).all(axis=1)), cond.size, k)


def _k_of_m(cond: np.ndarray, k: int, m: int) -> np.ndarray:
    """True where at least k of the last m points satisfy ``cond`` and the last one does."""
    w = _windows(cond, m)
    return _at_end(w.sum(axis=1) >= k, cond.size, m) & cond


def run_rules(z: np.ndarray, rules: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Boolean signal arrays (one per rule) for the standardised statistic ``z`` (NaN: no point).

    ``z`` = (statistic − centre line)/sigma of the statistic.  A point on the
    centre line breaks "same side" runs; NaN points break every pattern.
    """
    z = np.asarray(z, float)
    n = z.size
    ok = np.isfinite(z)
    zz = np.where(ok, z, 0.0)
    up, dn = ok & (zz > 0), ok & (zz < 0)
    out: dict[str, np.ndarray] = {}
    d = np.diff(zz)
    dok = ok[1:] & ok[:-1]
    inc = np.concatenate([[False], dok & (d > 0)])
    dec = np.concatenate([[False], dok & (d < 0)])
    for r in rules:
        if r in ("we1", "n1"):
            s = ok & (np.abs(zz) > 3.0)
        elif r in ("we2", "n5"):
            s = _k_of_m(ok & (zz > 2.0), 2, 3) | _k_of_m(ok & (zz < -2.0), 2, 3)
        elif r in ("we3", "n6"):
            s = _k_of_m(ok & (zz > 1.0), 4, 5) | _k_of_m(ok & (zz < -1.0), 4, 5)
        elif r == "we4":
            s = _run(up, 8) | _run(dn, 8)
        elif r == "n2":
            s = _run(up, 9) | _run(dn, 9)
        elif r == "n3":  # 6 points: 5 consecutive increases (or decreases)
            s = _run(inc, 5) | _run(dec, 5)
        elif r == "n4":  # 14 points: 13 differences alternating in sign
            alt = np.zeros(n, bool)
            if n >= 3:
                alt[2:] = dok[1:] & dok[:-1] & (np.sign(d[1:]) * np.sign(d[:-1]) < 0)
            s = _run(alt, 12)
        elif r == "n7":
            s = _run(ok & (np.abs(zz) < 1.0), 15)
        elif r == "n8":
            s = _run(ok & (np.abs(zz) > 1.0), 8)
        else:
            raise ValueError(f"unknown run rule {r!r}")
        out[r] = s
    return out


# --------------------------------------------------------------------------- chart results
@dataclass
class ChartPanel:
    """One plotted statistic with its centre line and limits (arrays over points)."""

    name: str  # "I", "MR", "Xbar", "R", "S", "EWMA", "CUSUM+", "CUSUM-"
    values: np.ndarray
    center: np.ndarray
    lcl: np.ndarray
    ucl: np.ndarray
    sigma: np.ndarray  # sigma of the plotted statistic (zones)
    rules: tuple[str, ...]
    signals: dict[str, np.ndarray] = field(default_factory=dict)

    def any_signal(self) -> np.ndarray:
        out = np.zeros(self.values.size, bool)
        for s in self.signals.values():
            out |= s
        return out

    def signal_list(self) -> list[dict[str, Any]]:
        """One record per (rule, point), in point order."""
        recs = []
        for rule, s in self.signals.items():
            for i in np.nonzero(s)[0].tolist():
                recs.append({"panel": self.name, "rule": rule, "index": i, "description": RULES[rule]})
        recs.sort(key=lambda r: (r["index"], r["rule"]))
        return recs


@dataclass
class Chart:
    """A control chart: its kind, the process parameters it uses, and its panels."""

    kind: str
    mu: float
    sigma: float
    n: np.ndarray  # subgroup sizes (points)
    panels: list[ChartPanel]
    params: dict[str, float] = field(default_factory=dict)
    sigma_method: str = ""  # how sigma was estimated (or "frozen")
    alpha: float | None = None  # per-point false-alarm probability of probability limits (None: 3σ limits)
    expected_false_alarms: float = math.nan  # signals expected by chance over these points (stable process)

    @property
    def in_control(self) -> bool:
        return not any(p.any_signal().any() for p in self.panels)

    def first_signal(self) -> int | None:
        idx = [int(np.argmax(p.any_signal())) for p in self.panels if p.any_signal().any()]
        return min(idx) if idx else None

    def signal_list(self) -> list[dict[str, Any]]:
        recs = [r for p in self.panels for r in p.signal_list()]
        recs.sort(key=lambda r: (r["index"], r["panel"], r["rule"]))
        return recs


def _beyond(v: np.ndarray, lcl: np.ndarray, ucl: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isfinite(v) & ((v > ucl) | (v < lcl))


def _panel(
    name: str,
    v: np.ndarray,
    center: float | np.ndarray,
    sig: float | np.ndarray,
    lcl: float | np.ndarray,
    ucl: float | np.ndarray,
    rules: tuple[str, ...],
    zone_rules: bool,
) -> ChartPanel:
    m = v.size
    c, s, lo, hi = (np.broadcast_to(np.asarray(a, float), (m,)).copy() for a in (center, sig, lcl, ucl))
    p = ChartPanel(name, v, c, lo, hi, s, rules if zone_rules else ("limits",))
    if zone_rules:  # the "beyond 3σ" rules (we1, n1) are the control limits of these panels
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.where(s > 0, (v - c) / s, np.nan)
        p.signals = run_rules(z, rules)
    else:
        p.signals = {"limits": _beyond(v, lo, hi)}
    return p


# --------------------------------------------------------------------------- subgroup statistics
def subgroup_stats(x: np.ndarray) -> dict[str, np.ndarray]:
    """Per subgroup (rows of a NaN-padded 2-D array): n, mean, range, standard deviation."""
    a = np.atleast_2d(np.asarray(x, float))
    ok = np.isfinite(a)
    n = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.where(ok, a, 0.0).sum(axis=1) / np.maximum(n, 1), np.nan)
        rng = np.fmax.reduce(np.where(ok, a, -np.inf), axis=1) - np.fmin.reduce(np.where(ok, a, np.inf), axis=1)
        ss = np.where(ok, (a - mean[:, None]) ** 2, 0.0).sum(axis=1)
        s = np.where(n >= 2, np.sqrt(ss / np.maximum(n - 1, 1)), np.nan)
    rng = np.where(n >= 2, rng, np.nan)
    return {"n": n, "mean": mean, "range": rng, "sd": s}


#: Names of the sigma estimators (``Chart.sigma_method``), as in ISO 22514 and Minitab: all are
#: *within* (short-term) estimates of the sigma of the plotted per-part value.
SIGMA_METHODS = {
    "mr": "within: average moving range MR̄/d2(2)",
    "rbar": "within: mean of Rᵢ/d2(nᵢ) (R̄/d2)",
    "sbar": "within: mean of sᵢ/c4(nᵢ) (s̄/c4)",
    "poisson": "c chart: √c̄ (Poisson)",
    "trimmed-sd": "standard deviation of ln s between parts, without the points beyond the limit",
    "frozen": "frozen Phase I value",
}


def estimate(kind: str, x: np.ndarray) -> tuple[float, float]:
    """Phase I process mean and short-term sigma for a chart kind from data.

    ``imr``/``ewma``/``cusum`` on 1-D individual values (MR̄/d2(2)), or on
    subgroups (then the X̄-R estimate); ``xbar-r``: x̿, mean Rᵢ/d2(nᵢ); ``xbar-s``: x̿, mean sᵢ/c4(nᵢ).
    """
    mu, sig, _ = estimate_with_method(kind, x)
    return mu, sig


def estimate_with_method(kind: str, x: np.ndarray) -> tuple[float, float, str]:
    """:func:`estimate` and the name of the sigma estimator (a key of :data:`SIGMA_METHODS`)."""
    a = np.asarray(x, float)
    if a.ndim == 1:
        v = a[np.isfinite(a)]
        if v.size < 2:
            return (float(v.mean()) if v.size else math.nan), math.nan, "mr"
        return float(v.mean()), float(np.mean(np.abs(np.diff(v))) / d2(2)), "mr"
    st = subgroup_stats(a)
    use = st["n"] >= 2
    w = st["n"][st["n"] > 0]
    mu = float(np.sum(st["mean"][st["n"] > 0] * w) / w.sum()) if w.size else math.nan
    if kind == "xbar-s":
        sig = float(np.mean(st["sd"][use] / c4(st["n"][use]))) if use.any() else math.nan
        return mu, sig, "sbar"
    dd = np.array([d2(int(k)) for k in st["n"][use]])
    sig = float(np.mean(st["range"][use] / dd)) if use.any() else math.nan
    return mu, sig, "rbar"


# --------------------------------------------------------------------------- probability limits
def family_alpha(rate: float, tests: int) -> float:
    """Per-test false-alarm probability that gives a family-wise rate ``rate`` over ``tests`` tests (Šidák).

    1 − (1 − rate)^(1/tests): exact for independent tests, conservative for positively dependent ones
    (Šidák 1967), and never above Bonferroni's rate/tests · (1 + rate).
    """
    if tests < 1:
        return rate
    return float(-math.expm1(math.log1p(-rate) / tests))


def range_cdf(w: float, n: int) -> float:
    """P(R ≤ w) for the range R of n standard normal values (Tippett's integral, by quadrature)."""
    from scipy.special import ndtr

    if w <= 0:
        return 0.0
    x = _RANGE_GRID
    phi = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    return float(min(1.0, n * np.trapezoid(phi * (ndtr(x + w) - ndtr(x)) ** (n - 1), x)))


_RANGE_GRID = np.linspace(-9.0, 9.0, 3601)


def range_quantile(p: float, n: int) -> float:
    """The p-quantile of the range of n standard normal values."""
    from scipy.optimize import brentq

    return float(brentq(lambda w: range_cdf(w, n) - p, 1e-9, 20.0, xtol=1e-10))


def _z(p: float) -> float:
    from scipy.special import ndtri

    return float(ndtri(p))


# --------------------------------------------------------------------------- chance alarms
_MC_VALUES = 400_000  # normal values per Monte Carlo estimate (fixed seed: reproducible)
_MC_CACHE: dict[tuple[object, ...], float] = {}


def _rng() -> np.random.Generator:
    return np.random.default_rng(20_240_304)


def chance_signals_of_rules(rules: tuple[str, ...], n_points: int) -> float:
    """Expected signal points from ``rules`` on ``n_points`` in-control points (Monte Carlo, cached).

    Sequences of N(0, 1) values separated by a missing point (which breaks every pattern) go through
    :func:`run_rules`, the same code that judges the data.
    """
    key = ("rules", rules, n_points)
    if key not in _MC_CACHE:
        reps = max(20, _MC_VALUES // (n_points + 1))
        z = _rng().standard_normal((reps, n_points + 1))
        z[:, -1] = np.nan
        hits = np.zeros(z.size, bool)
        for s in run_rules(z.ravel(), rules).values():
            hits |= s
        _MC_CACHE[key] = float(hits.sum() / reps)
    return _MC_CACHE[key]


def _ewma_max(lam: float, n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Simulated EWMA paths of N(0, 1) values, standardised by their exact sigma: (reps, n) |z|/c."""
    from scipy.signal import lfilter

    reps = max(2000, _MC_VALUES // n_points)
    u = _rng().standard_normal((reps, n_points))
    z = lfilter([lam], [1.0, -(1.0 - lam)], u, axis=1)
    i = np.arange(1, n_points + 1)
    c = np.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * i)))
    return np.abs(z) / c, c


def _cusum_paths(k: float, n_points: int) -> np.ndarray:
    """Simulated max(C⁺, C⁻) paths of the tabular CUSUM on N(0, 1) values: (reps, n)."""
    reps = max(2000, _MC_VALUES // n_points)
    u = _rng().standard_normal((reps, n_points))
    out = np.zeros_like(u)
    for sign in (1.0, -1.0):
        s_cum = np.cumsum(sign * u - k, axis=1)
        out = np.maximum(out, s_cum - np.minimum(0.0, np.minimum.accumulate(s_cum, axis=1)))
    return out


#: Longer series than this are calibrated by approximations instead of Monte Carlo (memory and time).
MC_MAX_POINTS = 2000


def _siegmund_arl(k: float, h: float) -> float:
    """In-control ARL of a two-sided tabular CUSUM (Siegmund's approximation, h' = h + 1.166)."""
    b = h + 1.166
    one = (math.exp(2 * k * b) - 2 * k * b - 1) / (2 * k * k) if k > 0 else b * b
    return one / 2.0  # two one-sided charts of equal ARL


def calibrate_ewma(lam: float, n_points: int, p_any: float) -> float:
    """EWMA width L whose chance of any signal over ``n_points`` in-control points is ``p_any``.

    Monte Carlo quantile of max |zᵢ|/cᵢ (fixed seed); above :data:`MC_MAX_POINTS` points the
    Bonferroni bound L = z(1 − p_any/(2n)) (conservative: neighbouring EWMA values are correlated).
    """
    key = ("ewma-L", lam, n_points, p_any)
    if key not in _MC_CACHE:
        if n_points > MC_MAX_POINTS:
            _MC_CACHE[key] = _z(1.0 - p_any / (2.0 * n_points))
        else:
            m, _ = _ewma_max(lam, n_points)
            _MC_CACHE[key] = float(np.quantile(m.max(axis=1), 1.0 - p_any))
    return _MC_CACHE[key]


def calibrate_cusum(k: float, n_points: int, p_any: float) -> float:
    """CUSUM decision interval h whose chance of any signal over ``n_points`` in-control points is ``p_any``.

    Monte Carlo quantile of max(C⁺, C⁻) (fixed seed); above :data:`MC_MAX_POINTS` points the h whose
    Siegmund ARL is n/p_any (run lengths roughly geometric).
    """
    from scipy.optimize import brentq

    key = ("cusum-h", k, n_points, p_any)
    if key not in _MC_CACHE:
        if n_points > MC_MAX_POINTS:
            target = n_points / p_any
            _MC_CACHE[key] = float(brentq(lambda h: _siegmund_arl(k, h) - target, 0.1, 200.0))
        else:
            _MC_CACHE[key] = float(np.quantile(_cusum_paths(k, n_points).max(axis=1), 1.0 - p_any))
    return _MC_CACHE[key]


def chance_signals_of_drift(kind: str, params: dict[str, float], n_points: int) -> float:
    """Expected signal points of an EWMA (λ, L) or CUSUM (k, h) chart over ``n_points`` in-control points.

    Monte Carlo of the same recursions; above :data:`MC_MAX_POINTS` points the steady state (EWMA:
    n · 2(1 − Φ(L)); CUSUM: n / ARL, Siegmund).
    """
    key = (kind, tuple(sorted(params.items())), n_points)
    if key not in _MC_CACHE and n_points > MC_MAX_POINTS:  # steady-state approximations
        if kind == "ewma":
            _MC_CACHE[key] = n_points * 2.0 * (1.0 - _ndtr(params["L"]))
        else:
            _MC_CACHE[key] = n_points / _siegmund_arl(params["k"], params["h"])
    if key not in _MC_CACHE:
        if kind == "ewma":
            m, _ = _ewma_max(params["lambda"], n_points)
            _MC_CACHE[key] = float((m > params["L"]).sum(axis=1).mean())
        else:
            _MC_CACHE[key] = float((_cusum_paths(params["k"], n_points) > params["h"]).sum(axis=1).mean())
    return _MC_CACHE[key]


def _d_arrays(n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ks = {int(k) for k in np.unique(n) if k >= 2}
    tab2 = {k: d2(k) for k in ks}
    tab3 = {k: d3(k) for k in ks}
    dd2 = np.array([tab2.get(int(k), np.nan) for k in n])
    dd3 = np.array([tab3.get(int(k), np.nan) for k in n])
    return dd2, dd3


def chart(
    kind: str,
    x: np.ndarray,
    mu: float | None = None,
    sigma: float | None = None,
    rules: tuple[str, ...] = RULE_SETS["we"],
    lam: float = EWMA_LAMBDA,
    L: float = EWMA_L,
    k: float = CUSUM_K,
    h: float = CUSUM_H,
    alpha: float | None = None,
) -> Chart:
    """A control chart of ``x`` (1-D individual values for ``imr``; 2-D subgroups × values otherwise).

    ``mu``/``sigma`` are the process mean and short-term sigma (frozen Phase I
    values in Phase II); when not given they are estimated from ``x``
    (Phase I) with :func:`estimate`.  EWMA and CUSUM act on the subgroup
    means (individual values when ``x`` is 1-D).

    ``alpha`` (the ``auto`` rules): probability limits, each panel judged only by its limits,
    placed so that a stable normal process crosses them with probability ``alpha`` per point:
    location μ ± z₁₋α/₂ σ/√n; moving range √2 z₁₋α/₂ σ; range at the α/2 and 1 − α/2 quantiles of
    the range distribution; S at σ √(χ²_{α/2 or 1−α/2, n−1}/(n − 1)).  EWMA and CUSUM keep their L
    and h (calibrate them with :func:`calibrate_ewma`, :func:`calibrate_cusum`).  Without ``alpha``:
    3σ limits and the zone ``rules`` on the location panel.
    """
    if kind not in CHARTS:
        raise ValueError(f"unknown chart {kind!r}; allowed: {', '.join(CHARTS)}")
    a = np.asarray(x, float)
    if kind in ("xbar-r", "xbar-s") and a.ndim != 2:
        raise ValueError(f"{kind} needs subgroups (a 2-D array)")
    method = "frozen"
    if mu is None or sigma is None:
        m0, s0, method = estimate_with_method(kind, a)
        mu = m0 if mu is None else mu
        sigma = s0 if sigma is None else sigma
    if a.ndim == 1:
        v, n = a, np.where(np.isfinite(a), 1, 0)
        st = None
    else:
        st = subgroup_stats(a)
        v, n = st["mean"], st["n"]
    if kind in ("ewma", "cusum"):
        panels, params = _drift_panels(kind, v, n, mu, sigma, rules, lam, L, k, h)
    else:
        panels, params = _shewhart_panels(kind, v, n, st, mu, sigma, rules, alpha), {}
    c = Chart(kind=kind, mu=float(mu), sigma=float(sigma), n=n, panels=panels, params=params,
              sigma_method=method, alpha=alpha if kind not in ("ewma", "cusum") else None)  # fmt: skip
    c.expected_false_alarms = expected_false_alarms(c, rules)
    return c


def _shewhart_panels(
    kind: str,
    v: np.ndarray,
    n: np.ndarray,
    st: dict[str, np.ndarray] | None,
    mu: float,
    sigma: float,
    rules: tuple[str, ...],
    alpha: float | None,
) -> list[ChartPanel]:
    """Location and dispersion panels of an I-MR, X̄-R or X̄-S chart (3σ or probability limits)."""
    nn = np.maximum(n, 1).astype(float)
    se = sigma / np.sqrt(nn)
    zone = alpha is None
    w = 3.0 if zone else _z(1.0 - alpha / 2)  # type: ignore[operator]
    loc = "I" if kind == "imr" else "Xbar"
    panels = [_panel(loc, v, mu, se, mu - w * se, mu + w * se, rules, zone)]
    if kind == "imr":
        mr = np.concatenate([[np.nan], np.abs(np.diff(v))])
        dd2, dd3 = d2(2), d3(2)
        ucl = (dd2 + 3 * dd3) * sigma if zone else math.sqrt(2.0) * w * sigma
        panels.append(_panel("MR", mr, dd2 * sigma, dd3 * sigma, 0.0, ucl, rules, False))
        return panels
    assert st is not None
    if kind == "xbar-r":
        d2n, d3n = _d_arrays(n)
        c, s_ = d2n * sigma, d3n * sigma
        if zone:
            lo, hi = np.maximum(c - 3 * s_, 0.0), c + 3 * s_
        else:
            q = {int(m): (range_quantile(alpha / 2, int(m)), range_quantile(1 - alpha / 2, int(m)))  # type: ignore[operator]
                 for m in np.unique(n) if m >= 2}  # fmt: skip
            lo = np.array([q[int(m)][0] * sigma if m >= 2 else np.nan for m in n])
            hi = np.array([q[int(m)][1] * sigma if m >= 2 else np.nan for m in n])
        panels.append(_panel("R", st["range"], c, s_, lo, hi, rules, False))
        return panels
    cc = c4(n)
    c, s_ = cc * sigma, np.sqrt(1 - cc**2) * sigma
    if zone:
        lo, hi = np.maximum(c - 3 * s_, 0.0), c + 3 * s_
    else:
        from scipy.stats import chi2

        nu = np.maximum(n - 1, 1)
        lo = np.where(n >= 2, sigma * np.sqrt(chi2.ppf(alpha / 2, nu) / nu), np.nan)  # type: ignore[operator]
        hi = np.where(n >= 2, sigma * np.sqrt(chi2.ppf(1 - alpha / 2, nu) / nu), np.nan)  # type: ignore[operator]
    panels.append(_panel("S", st["sd"], c, s_, lo, hi, rules, False))
    return panels


def _drift_panels(
    kind: str,
    v: np.ndarray,
    n: np.ndarray,
    mu: float,
    sigma: float,
    rules: tuple[str, ...],
    lam: float,
    L: float,
    k: float,
    h: float,
) -> tuple[list[ChartPanel], dict[str, float]]:
    """The EWMA panel or the two CUSUM panels, on the standardised subgroup means."""
    from scipy.signal import lfilter

    nn = np.maximum(n, 1).astype(float)
    se = sigma / np.sqrt(nn)
    with np.errstate(invalid="ignore", divide="ignore"):
        u = (v - mu) / se
    valid = np.isfinite(u)
    uu = np.where(valid, u, 0.0)  # a missing subgroup carries the statistic forward unchanged
    i = np.cumsum(valid)
    s_ref = float(sigma / math.sqrt(float(np.median(nn[valid])) if valid.any() else 1.0))
    if kind == "ewma":
        z = np.full(v.size, np.nan)
        z[valid] = lfilter([lam], [1.0, -(1.0 - lam)], uu[valid])
        w = L * np.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * i)))
        panel = _panel("EWMA", mu + s_ref * z, mu, s_ref * w / L, mu - s_ref * w, mu + s_ref * w, rules, False)
        return [panel], {"lambda": lam, "L": L}
    panels = []
    for name, sign in (("CUSUM+", 1.0), ("CUSUM-", -1.0)):
        step = np.where(valid, sign * uu - k, 0.0)
        s_cum = np.cumsum(step)
        c_ = s_cum - np.minimum(0.0, np.minimum.accumulate(s_cum))
        c_ = np.where(valid, c_, np.nan)
        panels.append(_panel(name, c_, 0.0, 1.0, -np.inf, h, rules, False))
    return panels, {"k": k, "h": h}


def expected_false_alarms(c: Chart, rules: tuple[str, ...]) -> float:
    """Signal points a stable normal process would give by chance on this chart's points.

    Probability limits: α per point and panel.  3σ limits: the zone ``rules`` by Monte Carlo
    (:func:`chance_signals_of_rules`) on the location panel, and the exact tail probability of the
    moving range, range or S beyond its limits.  EWMA and CUSUM by Monte Carlo of the same recursions.
    """
    from scipy.stats import chi2

    n_pts = int((c.n > 0).sum())
    if n_pts == 0:
        return 0.0
    if c.kind in ("ewma", "cusum"):
        return chance_signals_of_drift(c.kind, c.params, n_pts)
    if c.alpha is not None:
        disp = int(np.isfinite(c.panels[1].values).sum()) if len(c.panels) > 1 else 0
        return c.alpha * (n_pts + disp)
    total = chance_signals_of_rules(tuple(r for r in rules if r != AUTO) or ("we1",), n_pts)
    if c.kind == "imr":
        p_mr = 2.0 * (1.0 - float(_ndtr((d2(2) + 3 * d3(2)) / math.sqrt(2.0))))
        return total + p_mr * max(n_pts - 1, 0)
    for m in c.n[c.n >= 2].tolist():
        if c.kind == "xbar-r":
            lo = max(d2(m) - 3 * d3(m), 0.0)
            total += 1.0 - range_cdf(d2(m) + 3 * d3(m), m) + range_cdf(lo, m)
        else:
            cc = float(c4(m))
            sd = math.sqrt(1 - cc * cc)
            lo, hi = max(cc - 3 * sd, 0.0), cc + 3 * sd
            total += float(chi2.sf(hi * hi * (m - 1), m - 1) + chi2.cdf(lo * lo * (m - 1), m - 1))
    return total


def _ndtr(x: float) -> float:
    from scipy.special import ndtr

    return float(ndtr(x))


def within_chart(
    log_s: np.ndarray, mu: float | None = None, sigma: float | None = None, alpha: float | None = None
) -> Chart:
    """Chart of the within-part spread: ln of each point's within-part standard deviation.

    The third chart of Wheeler's three-way chart: a bad hole or an outlier changes the spread among
    the values of one part while the part mean barely moves.  Phase I estimate: mean and standard
    deviation of ln s over the points below the limit, starting from the median and the MAD and
    iterated (at most 5 passes), so the special causes this chart looks for do not widen its limit.
    One upper limit: μ + z₁₋α σ (3σ without ``alpha``); a smaller spread is no alarm.
    """
    v = np.asarray(log_s, float)
    w = 3.0 if alpha is None else _z(1.0 - alpha)
    method = "frozen"
    if mu is None or sigma is None:
        method = "trimmed-sd"
        fin = np.isfinite(v)
        m0 = s0 = math.nan
        if fin.sum() >= 3:  # start from the median and the MAD, then mean and sd of the points inside
            m0 = float(np.median(v[fin]))
            s0 = 1.4826 * float(np.median(np.abs(v[fin] - m0)))
            keep = fin & (v <= m0 + w * s0)
            for _ in range(5):
                if keep.sum() < 3:
                    break
                m0, s0 = float(v[keep].mean()), float(v[keep].std(ddof=1))
                nxt = fin & (v <= m0 + w * s0)
                if np.array_equal(nxt, keep):
                    break
                keep = nxt
        mu = m0 if mu is None else mu
        sigma = s0 if sigma is None else sigma
    panel = _panel("ln s within", v, mu, sigma, -np.inf, mu + w * sigma, ("limits",), False)
    n = np.where(np.isfinite(v), 1, 0)
    a = alpha if alpha is not None else 1.0 - _ndtr(3.0)
    c = Chart(kind="within", mu=float(mu), sigma=float(sigma), n=n, panels=[panel], sigma_method=method, alpha=a)
    c.expected_false_alarms = a * int(n.sum())
    return c


def count_chart(counts: np.ndarray, mu: float | None = None, alpha: float | None = None) -> Chart:
    """c chart of blocked holes per point (Poisson).  Centre c̄ (frozen in Phase II).

    Upper limit: the smallest count c with P(X > c) ≤ α for X ~ Poisson(c̄ nᵢ/n̄) (α = 0.00135
    without ``alpha``); a stable process that never blocks (c̄ = 0) signals at the first blocked hole.
    """
    from scipy.stats import poisson

    v = np.asarray(counts, float)
    ok = np.isfinite(v)
    cbar = float(v[ok].mean()) if mu is None and ok.any() else float(mu if mu is not None else math.nan)
    a = alpha if alpha is not None else 1.0 - _ndtr(3.0)
    ucl = float(poisson.isf(a, cbar)) if cbar > 0 else 0.0
    sig = math.sqrt(cbar) if cbar > 0 else 0.0
    panel = _panel("blocked holes", v, cbar, sig, -np.inf, ucl, ("limits",), False)
    n = np.where(ok, 1, 0)
    c = Chart(kind="blocked", mu=cbar, sigma=sig, n=n, panels=[panel],
              sigma_method="frozen" if mu is not None else "poisson", alpha=a)  # fmt: skip
    c.expected_false_alarms = float(poisson.sf(ucl, cbar)) * int(n.sum()) if cbar > 0 else 0.0
    return c
