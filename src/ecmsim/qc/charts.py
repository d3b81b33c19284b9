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
}
RULE_SETS = {
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
        elif tok in RULES and tok != "limits":
            out.append(tok)
        else:
            allowed = ", ".join([*RULE_SETS, *(r for r in RULES if r != "limits")])
            raise ValueError(f"unknown run rule {tok!r}; allowed: {allowed}")
    if not out:
        raise ValueError("no run rule selected")
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


def estimate(kind: str, x: np.ndarray) -> tuple[float, float]:
    """Phase I process mean and short-term sigma for a chart kind from data.

    ``imr``/``ewma``/``cusum`` on 1-D individual values (MR̄/d2(2)), or on
    subgroups (then the X̄-R estimate); ``xbar-r``: x̿, mean Rᵢ/d2(nᵢ); ``xbar-s``: x̿, mean sᵢ/c4(nᵢ).
    """
    a = np.asarray(x, float)
    if a.ndim == 1:
        v = a[np.isfinite(a)]
        if v.size < 2:
            return (float(v.mean()) if v.size else math.nan), math.nan
        return float(v.mean()), float(np.mean(np.abs(np.diff(v))) / d2(2))
    st = subgroup_stats(a)
    use = st["n"] >= 2
    w = st["n"][st["n"] > 0]
    mu = float(np.sum(st["mean"][st["n"] > 0] * w) / w.sum()) if w.size else math.nan
    if kind == "xbar-s":
        sig = float(np.mean(st["sd"][use] / c4(st["n"][use]))) if use.any() else math.nan
    else:
        dd = np.array([d2(int(k)) for k in st["n"][use]])
        sig = float(np.mean(st["range"][use] / dd)) if use.any() else math.nan
    return mu, sig


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
) -> Chart:
    """A control chart of ``x`` (1-D individual values for ``imr``; 2-D subgroups × values otherwise).

    ``mu``/``sigma`` are the process mean and short-term sigma (frozen Phase I
    values in Phase II); when not given they are estimated from ``x``
    (Phase I) with :func:`estimate`.  EWMA and CUSUM act on the subgroup
    means (individual values when ``x`` is 1-D).
    """
    if kind not in CHARTS:
        raise ValueError(f"unknown chart {kind!r}; allowed: {', '.join(CHARTS)}")
    a = np.asarray(x, float)
    if kind in ("xbar-r", "xbar-s") and a.ndim != 2:
        raise ValueError(f"{kind} needs subgroups (a 2-D array)")
    if mu is None or sigma is None:
        m0, s0 = estimate(kind, a)
        mu = m0 if mu is None else mu
        sigma = s0 if sigma is None else sigma
    if a.ndim == 1:
        v, n = a, np.where(np.isfinite(a), 1, 0)
    else:
        st = subgroup_stats(a)
        v, n = st["mean"], st["n"]
    nn = np.maximum(n, 1).astype(float)
    se = sigma / np.sqrt(nn)
    panels: list[ChartPanel] = []
    params: dict[str, float] = {}
    if kind == "imr":
        panels.append(_panel("I", v, mu, se, mu - 3 * se, mu + 3 * se, rules, True))
        mr = np.concatenate([[np.nan], np.abs(np.diff(v))])
        dd2, dd3 = d2(2), d3(2)
        panels.append(_panel("MR", mr, dd2 * sigma, dd3 * sigma, 0.0, (dd2 + 3 * dd3) * sigma, rules, False))
    elif kind in ("xbar-r", "xbar-s"):
        panels.append(_panel("Xbar", v, mu, se, mu - 3 * se, mu + 3 * se, rules, True))
        if kind == "xbar-r":
            d2n, d3n = _d_arrays(n)
            c, s_ = d2n * sigma, d3n * sigma
            panels.append(_panel("R", st["range"], c, s_, np.maximum(c - 3 * s_, 0.0), c + 3 * s_, rules, False))
        else:
            cc = c4(n)
            c, s_ = cc * sigma, np.sqrt(1 - cc**2) * sigma
            panels.append(_panel("S", st["sd"], c, s_, np.maximum(c - 3 * s_, 0.0), c + 3 * s_, rules, False))
    else:
        from scipy.signal import lfilter

        with np.errstate(invalid="ignore", divide="ignore"):
            u = (v - mu) / se
        valid = np.isfinite(u)
        uu = np.where(valid, u, 0.0)  # a missing subgroup carries the statistic forward unchanged
        i = np.cumsum(valid)
        s_ref = float(sigma / math.sqrt(float(np.median(nn[valid])) if valid.any() else 1.0))
        if kind == "ewma":
            params = {"lambda": lam, "L": L}
            # a missing subgroup carries the statistic forward: filter the valid points only
            z = np.full(v.size, np.nan)
            z[valid] = lfilter([lam], [1.0, -(1.0 - lam)], uu[valid])
            w = L * np.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * i)))
            panels.append(
                _panel("EWMA", mu + s_ref * z, mu, s_ref * w / L, mu - s_ref * w, mu + s_ref * w, rules, False)
            )
        else:
            params = {"k": k, "h": h}
            for name, sign in (("CUSUM+", 1.0), ("CUSUM-", -1.0)):
                step = np.where(valid, sign * uu - k, 0.0)
                s_cum = np.cumsum(step)
                c_ = s_cum - np.minimum(0.0, np.minimum.accumulate(s_cum))
                c_ = np.where(valid, c_, np.nan)
                panels.append(_panel(name, c_, 0.0, 1.0, -np.inf, h, rules, False))
    return Chart(kind=kind, mu=float(mu), sigma=float(sigma), n=n, panels=panels, params=params)
