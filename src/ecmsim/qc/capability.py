"""Process capability: Cp, Cpk, Pp, Ppk, Cpm with confidence intervals, normality, non-normal data.

Pure NumPy/SciPy functions of arrays (no I/O).  Formulas and references are
in ``docs/spc.md``; in short, with specification limits L (LSL) and U (USL),
mean x̄, short-term ("within") sigma σ_w and overall sample sigma s:

* ``Cp = (U − L)/(6 σ_w)``, ``Cpu = (U − x̄)/(3 σ_w)``, ``Cpl = (x̄ − L)/(3 σ_w)``,
  ``Cpk = min(Cpu, Cpl)``; ``Pp``, ``Ppu``, ``Ppl``, ``Ppk`` the same with s
  (Montgomery, *Introduction to Statistical Quality Control*, ch. 8;
  NIST/SEMATECH e-Handbook §6.1.6);
* ``Cpm = (U − L)/(6 √(s² + (x̄ − T)²))`` (Chan, Cheng & Spiring 1988; NIST §6.1.6);
* **one-sided specifications**: with only U, ``Cpk = Cpu`` and ``Ppk = Ppu``;
  Cp, Pp and Cpm need both limits and are *undefined* (``None``), never
  computed against an invented limit;
* confidence intervals (level 1 − α, two-sided): Cp and Pp from the χ²
  distribution of s² (Chou, Owen & Borrego 1990):
  ``Ĉp √(χ²_{α/2,ν}/ν) ≤ Cp ≤ Ĉp √(χ²_{1−α/2,ν}/ν)``, ν = n − 1;
  Cpk, Cpu, Cpl, Ppk by Bissell's (1990) normal approximation
  ``Ĉ ± z_{1−α/2} √(1/(9n) + Ĉ²/(2(n − 1)))``; Cpm by Boyles (1991):
  χ² with ν = n (1 + ξ²)² / (1 + 2ξ²), ξ = (x̄ − T)/s;
* normality: Anderson–Darling with the p-value of D'Agostino & Stephens
  (1986, Table 4.9) for the modified statistic A*² = A² (1 + 0.75/n + 2.25/n²);
* non-normal data, ISO 22514-2 percentile method:
  ``Pp = (U − L)/(X₉₉.₈₆₅ − X₀.₁₃₅)``, ``Ppk = min((U − X₅₀)/(X₉₉.₈₆₅ − X₅₀), (X₅₀ − L)/(X₅₀ − X₀.₁₃₅))``
  with the quantiles of the best-fitting (smallest AIC) of normal, lognormal,
  Weibull and gamma, the last three with their threshold at 0 or fitted
  (3-parameter), and by the Box–Cox transform (λ by maximum likelihood,
  limits transformed with the data); both need the *measured values*, not
  deviations from a nominal (a deviation ≤ 0 has no lognormal, Weibull,
  gamma or Box–Cox image);
* expected fraction out of specification from the normal model (within and
  overall) or from the fitted distribution / the Box–Cox normal model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

#: Quantiles of the ISO 22514-2 percentile method (the ±3σ points of a normal distribution).
P_LOW, P_HIGH = 0.00135, 0.99865


# --------------------------------------------------------------------------- control-chart constants
def c4(n: float | np.ndarray) -> np.ndarray:
    """c4(n) = E[s]/σ for samples of n normal values: √(2/(n−1)) Γ(n/2)/Γ((n−1)/2)."""
    from scipy.special import gammaln

    n = np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.sqrt(2.0 / (n - 1.0)) * np.exp(gammaln(n / 2.0) - gammaln((n - 1.0) / 2.0))
    return np.where(n >= 2, out, np.nan)


_GRID = np.linspace(-9.0, 9.0, 1801)


def _d2_d3(n: int) -> tuple[float, float]:
    """Mean and standard deviation of the range of n standard normal values (Tippett 1925), by quadrature."""
    from scipy.special import ndtr

    x = _GRID
    f = ndtr(x)
    d2 = float(np.trapezoid(1.0 - f**n - (1.0 - f) ** n, x))
    # E[R²] = 2 ∬_{x<y} 1 − F(y)^n − (1 − F(x))^n + (F(y) − F(x))^n dx dy
    fx, fy = f[:, None], f[None, :]
    g = 1.0 - fy**n - (1.0 - fx) ** n + np.clip(fy - fx, 0.0, 1.0) ** n
    # the triangle x < y; the diagonal gets half weight (the boundary cuts the trapezoid cells in half)
    g = np.where(x[:, None] < x[None, :], g, np.where(x[:, None] == x[None, :], 0.5 * g, 0.0))
    er2 = 2.0 * float(np.trapezoid(np.trapezoid(g, x, axis=1), x))
    return d2, math.sqrt(max(er2 - d2 * d2, 0.0))


_D_CACHE: dict[int, tuple[float, float]] = {}


def d2(n: int) -> float:
    """d2(n) = E[R]/σ (mean range of n normal values in units of σ); d2(5) = 2.326."""
    return _d(n)[0]


def d3(n: int) -> float:
    """d3(n) = sd(R)/σ; d3(5) = 0.864."""
    return _d(n)[1]


def _d(n: int) -> tuple[float, float]:
    n = int(n)
    if n < 2:
        raise ValueError(f"subgroup size {n}: ranges need at least 2 values")
    if n not in _D_CACHE:
        _D_CACHE[n] = _d2_d3(n)
    return _D_CACHE[n]


# --------------------------------------------------------------------------- sigma estimators
def sigma_within(x: np.ndarray, method: str = "auto") -> tuple[float, str, int]:
    """Short-term sigma of ``x`` and the estimator used, with its degrees of freedom.

    ``x`` is 1-D (individual values in time order) or 2-D (subgroups × values,
    NaN-padded).  Methods: ``mr`` (MR̄/d2(2), 1-D), ``rbar`` (mean of Rᵢ/d2(nᵢ)),
    ``sbar`` (mean of sᵢ/c4(nᵢ)), ``pooled`` (pooled s / c4(ν + 1)); ``auto``:
    ``mr`` for 1-D, ``rbar`` for subgroups of ≤ 10, ``pooled`` above.
    """
    a = np.asarray(x, float)
    if a.ndim == 1:
        v = a[np.isfinite(a)]
        if method not in ("auto", "mr"):
            raise ValueError(f"sigma method {method!r} needs subgroups (a 2-D array)")
        if v.size < 2:
            return math.nan, "mr", 0
        return float(np.mean(np.abs(np.diff(v))) / d2(2)), "mr", v.size - 1
    ok = np.isfinite(a)
    n_i = ok.sum(axis=1)
    use = n_i >= 2
    if not use.any():
        return math.nan, method, 0
    nmax = int(n_i.max())
    if method == "auto":
        method = "rbar" if nmax <= 10 else "pooled"
    with np.errstate(invalid="ignore"):
        if method == "rbar":
            r = np.fmax.reduce(np.where(ok, a, -np.inf), axis=1) - np.fmin.reduce(np.where(ok, a, np.inf), axis=1)
            dd = np.array([d2(k) if k >= 2 else np.nan for k in range(nmax + 1)])
            return float(np.mean(r[use] / dd[n_i[use]])), "rbar", int((n_i[use] - 1).sum())
        mean = np.where(ok, a, 0.0).sum(axis=1) / np.maximum(n_i, 1)
        ss = np.where(ok, (a - mean[:, None]) ** 2, 0.0).sum(axis=1)
        if method == "sbar":
            s = np.sqrt(ss[use] / (n_i[use] - 1))
            return float(np.mean(s / c4(n_i[use]))), "sbar", int((n_i[use] - 1).sum())
        if method == "pooled":
            nu = int((n_i[use] - 1).sum())
            return float(math.sqrt(ss[use].sum() / nu) / c4(nu + 1)), "pooled", nu
    raise ValueError(f"unknown sigma method {method!r} (mr, rbar, sbar, pooled, auto)")


def pooled_sigma(count: np.ndarray, total: np.ndarray, sumsq_dev: np.ndarray) -> tuple[float, int]:
    """Pooled within-subgroup sigma from per-subgroup counts and sums of squared deviations (/ c4(ν+1))."""
    use = count >= 2
    nu = int((count[use] - 1).sum())
    if nu < 1:
        return math.nan, 0
    return float(math.sqrt(float(sumsq_dev[use].sum()) / nu) / c4(nu + 1)), nu


# --------------------------------------------------------------------------- normality
def anderson_darling(x: np.ndarray) -> dict[str, Any]:
    """Anderson–Darling test of normality (mean and sigma estimated).

    Returns the statistic A², the modified A*² and the p-value of D'Agostino &
    Stephens (1986), Table 4.9; ``normal`` is ``p ≥ 0.05``.
    """
    from scipy.special import log_ndtr

    v = np.sort(np.asarray(x, float)[np.isfinite(x)])
    n = v.size
    if n < 8 or np.ptp(v) == 0:
        return {"test": "Anderson-Darling", "n": int(n), "statistic": None, "p_value": None, "normal": None}
    z = (v - v.mean()) / v.std(ddof=1)
    i = np.arange(1, n + 1)
    lf = log_ndtr(z)
    lsf = log_ndtr(-z[::-1])
    a2 = float(-n - np.sum((2 * i - 1) * (lf + lsf)) / n)
    a = a2 * (1.0 + 0.75 / n + 2.25 / n**2)
    if a >= 10.0:  # far beyond the table (the quadratic term of the fit would turn upwards)
        p = 0.0
    elif a >= 0.6:
        p = math.exp(1.2937 - 5.709 * a + 0.0186 * a * a)
    elif a >= 0.34:
        p = math.exp(0.9177 - 4.279 * a - 1.38 * a * a)
    elif a >= 0.2:
        p = 1.0 - math.exp(-8.318 + 42.796 * a - 59.938 * a * a)
    else:
        p = 1.0 - math.exp(-13.436 + 101.14 * a - 223.73 * a * a)
    p = min(max(p, 0.0), 1.0)
    return {"test": "Anderson-Darling", "n": int(n), "statistic": a2, "modified": a, "p_value": p, "normal": p >= 0.05}


# --------------------------------------------------------------------------- indices
#: The within (short-term) sigma of Cp, Cpk (ISO 22514-2 and Minitab: "within"), by estimator.
SIGMA_WITHIN_NAMES = {
    "pooled": "within: pooled within-part standard deviation / c4(ν + 1) (each part a rational subgroup)",
    "mr": "within: average moving range of the parts MR̄/d2(2) (one value per part; as the I-MR chart)",
    "rbar": "within: mean of Rᵢ/d2(nᵢ) over the subgroups of parts (one value per part; as the X̄-R chart)",
    "sbar": "within: mean of sᵢ/c4(nᵢ) over the subgroups of parts (one value per part; as the X̄-S chart)",
    "given": "within: given",
}
#: The overall (long-term) sigma of Pp, Ppk, Cpm.
SIGMA_OVERALL_NAME = "overall: sample standard deviation of all values (n − 1)"


@dataclass
class Capability:
    """Capability of one characteristic (indices ``None`` where undefined; see the module docstring)."""

    n: int
    mean: float
    sigma_within: float
    sigma_overall: float
    sigma_method: str
    lsl: float | None
    usl: float | None
    target: float | None
    confidence: float
    cp: float | None = None
    cpu: float | None = None
    cpl: float | None = None
    cpk: float | None = None
    pp: float | None = None
    ppu: float | None = None
    ppl: float | None = None
    ppk: float | None = None
    cpm: float | None = None
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    expected_out_of_spec_within: float | None = None
    expected_out_of_spec_overall: float | None = None
    observed_out_of_spec: float | None = None
    normality: dict[str, Any] = field(default_factory=dict)
    percentile: dict[str, Any] | None = None
    box_cox: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ci"] = {k: [lo, hi] for k, (lo, hi) in self.ci.items()}
        d["sigma_within_estimator"] = SIGMA_WITHIN_NAMES.get(self.sigma_method, self.sigma_method)
        d["sigma_overall_estimator"] = SIGMA_OVERALL_NAME
        return d

    @property
    def one_sided(self) -> bool:
        return (self.lsl is None) != (self.usl is None)


def _ratio(num: float, den: float) -> float | None:
    if not (math.isfinite(num) and math.isfinite(den)) or den <= 0:
        return None
    return num / den


def indices(
    mean: float,
    sigma_w: float,
    sigma_o: float,
    n: int,
    lsl: float | None,
    usl: float | None,
    target: float | None = None,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Cp…Cpm and their confidence intervals from summary statistics (see the module docstring)."""
    from scipy import stats

    two = lsl is not None and usl is not None
    out: dict[str, Any] = {}
    out["cp"] = _ratio(usl - lsl, 6 * sigma_w) if two else None  # type: ignore[operator]
    out["pp"] = _ratio(usl - lsl, 6 * sigma_o) if two else None  # type: ignore[operator]
    out["cpu"] = _ratio(usl - mean, 3 * sigma_w) if usl is not None else None
    out["cpl"] = _ratio(mean - lsl, 3 * sigma_w) if lsl is not None else None
    out["ppu"] = _ratio(usl - mean, 3 * sigma_o) if usl is not None else None
    out["ppl"] = _ratio(mean - lsl, 3 * sigma_o) if lsl is not None else None
    ks = [v for v in (out["cpu"], out["cpl"]) if v is not None]
    out["cpk"] = min(ks) if ks else None
    ks = [v for v in (out["ppu"], out["ppl"]) if v is not None]
    out["ppk"] = min(ks) if ks else None
    t = target if target is not None else ((lsl + usl) / 2 if two else None)  # type: ignore[operator]
    out["cpm"] = None
    if two and t is not None:
        out["cpm"] = _ratio(usl - lsl, 6 * math.sqrt(sigma_o**2 + (mean - t) ** 2))  # type: ignore[operator]
    ci: dict[str, tuple[float, float]] = {}
    alpha = 1.0 - confidence
    if n >= 3:
        nu = n - 1
        lo_f = math.sqrt(stats.chi2.ppf(alpha / 2, nu) / nu)
        hi_f = math.sqrt(stats.chi2.ppf(1 - alpha / 2, nu) / nu)
        for k in ("cp", "pp"):
            if out[k] is not None:
                ci[k] = (out[k] * lo_f, out[k] * hi_f)
        z = float(stats.norm.ppf(1 - alpha / 2))
        for k in ("cpk", "cpu", "cpl", "ppk", "ppu", "ppl"):
            c = out[k]
            if c is not None:
                h = z * math.sqrt(1.0 / (9 * n) + c * c / (2.0 * (n - 1)))
                ci[k] = (c - h, c + h)
        if out["cpm"] is not None and sigma_o > 0:
            xi = (mean - t) / sigma_o  # type: ignore[operator]
            nu_b = n * (1 + xi * xi) ** 2 / (1 + 2 * xi * xi)
            ci["cpm"] = (
                out["cpm"] * math.sqrt(stats.chi2.ppf(alpha / 2, nu_b) / nu_b),
                out["cpm"] * math.sqrt(stats.chi2.ppf(1 - alpha / 2, nu_b) / nu_b),
            )
    out["ci"] = ci
    out["target"] = t
    return out


def normal_out_of_spec(mean: float, sigma: float, lsl: float | None, usl: float | None) -> float | None:
    """P(X < LSL) + P(X > USL) for X ~ N(mean, sigma²)."""
    from scipy.special import ndtr

    if not (math.isfinite(sigma) and sigma > 0 and math.isfinite(mean)):
        return None
    p = 0.0
    if lsl is not None:
        p += float(ndtr((lsl - mean) / sigma))
    if usl is not None:
        p += float(ndtr(-(usl - mean) / sigma))
    return p


def capability(
    x: np.ndarray,
    lsl: float | None = None,
    usl: float | None = None,
    target: float | None = None,
    *,
    sigma_method: str = "auto",
    sigma_w: float | None = None,
    confidence: float = 0.95,
    non_normal: bool = True,
) -> Capability:
    """Capability of the values ``x`` (1-D in time order, or 2-D subgroups × values, NaN ignored).

    ``sigma_w`` overrides the short-term sigma (e.g. a frozen Phase I value);
    otherwise :func:`sigma_within` with ``sigma_method``.  With
    ``non_normal`` the ISO 22514-2 percentile method and Box–Cox indices are
    added.  Raises ``ValueError`` when both limits are missing or crossed.
    """
    if lsl is None and usl is None:
        raise ValueError("capability needs at least one specification limit")
    if lsl is not None and usl is not None and not lsl < usl:
        raise ValueError(f"crossed specification limits: LSL {lsl} ≥ USL {usl}")
    a = np.asarray(x, float)
    v = a[np.isfinite(a)]
    n = int(v.size)
    mean = float(v.mean()) if n else math.nan
    s = float(v.std(ddof=1)) if n >= 2 else math.nan
    if sigma_w is None:
        sw, method, _ = sigma_within(a, sigma_method)
    else:
        sw, method = float(sigma_w), "given"
    cap = build_capability(v, n, mean, sw, s, method, lsl, usl, target, confidence)
    if non_normal and n >= 8:
        add_non_normal_indices(cap, v, lsl, usl, confidence)
    return cap


def add_non_normal_indices(
    cap: Capability, v: np.ndarray, lsl: float | None, usl: float | None, confidence: float
) -> None:
    """Set ``cap``'s ISO 22514-2 percentile indices and Box–Cox indices from the finite values ``v``."""
    cap.percentile = percentile_method(v, lsl, usl)
    cap.box_cox = box_cox_indices(v, lsl, usl, confidence)


def build_capability(
    v: np.ndarray,
    n: int,
    mean: float,
    sw: float,
    s: float,
    method: str,
    lsl: float | None,
    usl: float | None,
    target: float | None,
    confidence: float,
) -> Capability:
    """Capability indices from summary statistics, with fractions and normality from the values ``v``.

    ``v`` may be all values or a sample of them (large series); ``n`` is the number of values
    the statistics ``mean``, ``sw`` (within sigma) and ``s`` (overall sigma) come from.
    """
    ix = indices(mean, sw, s, n, lsl, usl, target, confidence)
    cap = Capability(
        n=n,
        mean=mean,
        sigma_within=sw,
        sigma_overall=s,
        sigma_method=method,
        lsl=lsl,
        usl=usl,
        target=ix["target"],
        confidence=confidence,
        **{k: ix[k] for k in ("cp", "cpu", "cpl", "cpk", "pp", "ppu", "ppl", "ppk", "cpm")},
        ci=ix["ci"],
    )
    cap.expected_out_of_spec_within = normal_out_of_spec(mean, sw, lsl, usl)
    cap.expected_out_of_spec_overall = normal_out_of_spec(mean, s, lsl, usl)
    if v.size:
        out = np.zeros(v.size, bool)
        if lsl is not None:
            out |= v < lsl
        if usl is not None:
            out |= v > usl
        cap.observed_out_of_spec = float(out.mean())
    cap.normality = anderson_darling(v)
    if cap.one_sided:
        cap.notes.append("one-sided specification: Cp, Pp and Cpm are undefined; Cpk = " + ("Cpu" if usl else "Cpl"))
    if n < 30:
        cap.notes.append(f"only {n} values: the indices are rough (see the confidence intervals)")
    return cap


# --------------------------------------------------------------------------- non-normal data
#: Candidate distributions of the percentile method: name → (scipy name, number of fitted parameters).
#: The 2-parameter positive ones have their threshold (location) at 0; the 3-parameter ones fit it, which
#: is what a skewed diameter or depth needs (values far from 0 with a one-sided tail).
DISTRIBUTIONS: dict[str, tuple[str, int]] = {
    "normal": ("norm", 2),
    "lognormal": ("lognorm", 2),
    "lognormal (3-parameter)": ("lognorm", 3),
    "weibull": ("weibull_min", 2),
    "weibull (3-parameter)": ("weibull_min", 3),
    "gamma": ("gamma", 2),
    "gamma (3-parameter)": ("gamma", 3),
}
_CANDIDATES = tuple(DISTRIBUTIONS)
#: Values a distribution is fitted to at most (a systematic sample of larger series).
MAX_FIT_VALUES = 20_000
#: Search range of the Box-Cox λ (as Minitab).
BOX_COX_RANGE = (-5.0, 5.0)


def _fit_one(name: str, v: np.ndarray) -> Any:
    """The frozen scipy distribution ``name`` fitted to ``v`` by maximum likelihood (``None``: no fit)."""
    from scipy import stats

    sp_name, k = DISTRIBUTIONS[name]
    if name == "normal":
        return stats.norm(*stats.norm.fit(v))
    if not (v > 0).all() and k == 2:
        return None
    if name == "lognormal":
        lv = np.log(v)
        return stats.lognorm(lv.std(), 0.0, math.exp(lv.mean()))
    family = getattr(stats, sp_name)
    params = family.fit(v, floc=0.0) if k == 2 else family.fit(v)
    if k == 3 and not params[-2] < float(v.min()):  # the threshold must lie below every value
        return None
    return family(*params)


def fit_distribution(v: np.ndarray, candidates: tuple[str, ...] = _CANDIDATES) -> tuple[str, Any, float]:
    """The candidate with the smallest AIC = 2k − 2 ln L (k fitted parameters), with its log-likelihood.

    Candidates are :data:`DISTRIBUTIONS`; the positive 2-parameter ones need positive values, the
    3-parameter ones fit their threshold.  More than :data:`MAX_FIT_VALUES` values are thinned to a
    systematic sample for the fit.
    """
    v = np.asarray(v, float)
    if v.size > MAX_FIT_VALUES:
        v = v[:: math.ceil(v.size / MAX_FIT_VALUES)]
    best: tuple[str, Any, float] = ("normal", _fit_one("normal", v), -math.inf)
    best_aic = math.inf
    for name in candidates:
        with np.errstate(all="ignore"):
            try:
                dist = _fit_one(name, v)
                if dist is None:
                    continue
                ll = float(np.sum(dist.logpdf(v)))
            except (ValueError, RuntimeError, FloatingPointError, OverflowError):
                continue
        aic = 2 * DISTRIBUTIONS[name][1] - 2 * ll
        if math.isfinite(ll) and aic < best_aic - 1e-9:
            best, best_aic = (name, dist, ll), aic
    return best


def percentile_method(v: np.ndarray, lsl: float | None, usl: float | None) -> dict[str, Any]:
    """ISO 22514-2 percentile (quantile) indices from the best-fitting distribution (see the module docstring)."""
    v = np.asarray(v, float)
    name, dist, ll = fit_distribution(v)
    x_lo, x50, x_hi = (float(q) for q in dist.ppf([P_LOW, 0.5, P_HIGH]))
    two = lsl is not None and usl is not None
    pu = _ratio(usl - x50, x_hi - x50) if usl is not None else None
    pl = _ratio(x50 - lsl, x50 - x_lo) if lsl is not None else None
    ks = [k for k in (pu, pl) if k is not None]
    p = 0.0
    if lsl is not None:
        p += float(dist.cdf(lsl))
    if usl is not None:
        p += float(dist.sf(usl))
    return {
        "method": "ISO 22514-2 percentile (0.135 / 50 / 99.865 %)",
        "distribution": name,
        "log_likelihood": ll,
        "parameters": [float(x) for x in dist.args],  # scipy.stats order: shape(s), loc (threshold), scale
        "aic": 2 * DISTRIBUTIONS[name][1] - 2 * ll,
        "x_0_135": x_lo,
        "x_50": x50,
        "x_99_865": x_hi,
        "pp": _ratio(usl - lsl, x_hi - x_lo) if two else None,  # type: ignore[operator]
        "ppu": pu,
        "ppl": pl,
        "ppk": min(ks) if ks else None,
        "expected_out_of_spec": p,
    }


def _bc(x: float | np.ndarray, lam: float) -> np.ndarray:
    x = np.asarray(x, float)
    return np.log(x) if abs(lam) < 1e-12 else (x**lam - 1.0) / lam


def box_cox_indices(v: np.ndarray, lsl: float | None, usl: float | None, confidence: float = 0.95) -> dict[str, Any]:
    """Box–Cox transform (λ by maximum likelihood) of data and limits, then normal indices (overall sigma).

    Needs positive data; a limit ≤ 0 has no image and is dropped (noted).
    """
    from scipy import stats

    v = np.asarray(v, float)
    if not (v > 0).all():
        return {"method": "Box-Cox", "applicable": False, "reason": "values ≤ 0 (Box-Cox needs positive data)"}
    if np.ptp(v) == 0:
        return {"method": "Box-Cox", "applicable": False, "reason": "constant data"}
    from scipy.optimize import minimize_scalar

    # scale by the geometric mean: λ and the indices are unchanged, and x**λ cannot overflow
    gm = float(np.exp(np.mean(np.log(v))))
    w = v / gm
    with np.errstate(all="ignore"):
        res = minimize_scalar(lambda lam_: -stats.boxcox_llf(lam_, w), bounds=BOX_COX_RANGE, method="bounded")
    lam = float(res.x)
    y = _bc(w, lam)
    notes = []
    if min(abs(lam - BOX_COX_RANGE[0]), abs(lam - BOX_COX_RANGE[1])) < 1e-3:
        notes.append(f"λ at the edge of the search range {BOX_COX_RANGE}: the transform does not normalise these data")
    tl = float(_bc(lsl / gm, lam)) if lsl is not None and lsl > 0 else None
    if lsl is not None and lsl <= 0:
        notes.append(f"LSL {lsl:g} ≤ 0 has no Box-Cox image: treated as no lower limit")
    tu = float(_bc(usl / gm, lam)) if usl is not None and usl > 0 else None
    m, s = float(y.mean()), float(y.std(ddof=1))
    if tl is None and tu is None:
        return {"method": "Box-Cox", "applicable": False, "reason": "no limit left after the transform", "lambda": lam}
    ix = indices(m, s, s, int(y.size), tl, tu, None, confidence)
    return {
        "method": "Box-Cox",
        "applicable": True,
        "lambda": lam,
        "scale": gm,
        "transform": "y = ((x/scale)^λ − 1)/λ (log(x/scale) for λ = 0)",
        "lsl_transformed": tl,
        "usl_transformed": tu,
        "pp": ix["pp"],
        "ppu": ix["ppu"],
        "ppl": ix["ppl"],
        "ppk": ix["ppk"],
        "ci": {k: list(ix["ci"][k]) for k in ("pp", "ppk") if k in ix["ci"]},
        "normality_after": anderson_darling(y),
        "expected_out_of_spec": normal_out_of_spec(m, s, tl, tu),
        "notes": notes,
    }
