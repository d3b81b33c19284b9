"""Calibration: fit model parameters to measured holes by least squares.

Each measurement set is an inspection batch (``ecmsim qc import``) drilled
under one set of process conditions, given as ``BATCH.h5`` (the config as
is) or ``BATCH.h5@table.key=value,table.key=value`` (the conditions that
differ from the config, e.g. the voltage of that batch).  Parameters that
are not separable from one operating point (the conductivity factor and the
overpotential both scale the gap through κ (U − ΔU)) need sets at several
voltages or feeds.

Residuals are measured − predicted diameter at every measured station of
every hole of every part.  The model is the equilibrium shape for coated
tools (one diameter per set, compared with the interior stations: a hole's
first and last station, the entry flare and the exit, are left out when it
has at least three) and otherwise the transient run (its profile at every
station depth).  :func:`scipy.optimize.least_squares` (trust region,
bounds from the schema) minimises the sum of squares; finite differences
use 5 % steps because the predictions jitter by 1–2 µm on the grid.

Confidence intervals: with the Jacobian J of the residuals at the optimum
(central differences), s² = RSS / (n − p) and cov = s² (JᵀJ)⁻¹, the 95 %
interval of parameter i is x̂ᵢ ± t₀.₉₇₅,ₙ₋ₚ √covᵢᵢ (independent errors of
equal variance; a linearisation at the optimum).  The prediction itself
jitters on the grid by about 2 µm (τ), an error shared by all values of one
set; its share, (JᵀJ)⁻¹ [Σₖ τ² gₖgₖᵀ] (JᵀJ)⁻¹ with gₖ the column sums of J
over set k, is added to cov.
"""

from __future__ import annotations

import datetime
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from ecmsim.config import ProcessConfig, config_from_dict
from ecmsim.engineering.common import USABLE_STATUSES, ConfigLike, Key, choose_mode, key_changes, load, resolve_key
from ecmsim.errors import ConfigError, InputDataError, SolverError
from ecmsim.jsonable import to_jsonable

#: Parameters fitted when ``fit`` is not given.
DEFAULT_FIT = ("electrolyte.conductivity_factor", "electrical.overpotential_V")
DIFF_STEP = 0.1
#: Repeatability of a predicted diameter (grid jitter of the equilibrium solve: 0.8–1.8 µm rms,
#: up to 4 µm, measured at 0.01–0.04 mm cells), mm.
MODEL_UNCERTAINTY_MM = 0.002


@dataclass
class MeasurementSet:
    """The measured diameters of one batch and the conditions it was drilled under."""

    path: str
    overrides: list[str]
    label: str
    station_depth: np.ndarray  # (n,) mm, one entry per measured value
    diameter: np.ndarray  # (n,) mm
    n_parts: int
    excluded: int = 0  # entry/exit station values left out


def parse_measurement_arg(text: str) -> tuple[str, list[str]]:
    """``BATCH.h5`` or ``BATCH.h5@table.key=value,table.key=value``."""
    from ecmsim.config import parse_override

    path, sep, rest = text.partition("@")
    overrides = [s.strip() for s in rest.split(",") if s.strip()] if sep else []
    if sep and not overrides:
        raise ConfigError(f"--measurements {text!r}: nothing after '@' (expected table.key=value,...)")
    for o in overrides:
        try:
            parse_override(o)
        except ConfigError as exc:
            raise ConfigError(f"--measurements {text!r}: {exc}") from None
    return path, overrides


def load_measurements(path: str | Path, overrides: Sequence[str] = (), interior_only: bool = True) -> MeasurementSet:
    """Read the measured diameters of an inspection batch (all parts, holes, stations)."""
    from ecmsim.io import read_batch

    b = read_batch(path)
    mask = np.asarray(b.design.station_mask, bool).copy()  # (H, S)
    excluded_mask = np.zeros_like(mask)
    if interior_only:
        for h in range(mask.shape[0]):
            idx = np.flatnonzero(mask[h])
            if idx.size >= 3:
                excluded_mask[h, idx[[0, -1]]] = True
                mask[h, idx[[0, -1]]] = False
    dia = np.asarray(b.diameter, float)  # (P, H, S)
    depth = np.broadcast_to(np.asarray(b.design.station_depth, float)[None, None, :], dia.shape)
    sel = np.isfinite(dia) & mask[None, :, :]
    excl = int((np.isfinite(dia) & excluded_mask[None, :, :]).sum())
    if not sel.any():
        raise InputDataError(f"{path}: no measured diameters to calibrate against")
    label = b.meta.get("batch_id") or Path(path).stem
    return MeasurementSet(str(path), list(overrides), label, depth[sel].copy(), dia[sel].copy(), len(b.serials), excl)


class SetSummary(TypedDict):
    """One measurement set in the result: measured and predicted mean diameters (JSON-ready)."""

    file: str
    label: str
    conditions: list[str]
    n: int
    excluded_entry_exit: int
    measured_mean_mm: float
    predicted_before_mm: float
    predicted_after_mm: float


@dataclass
class CalibrationResult:
    """Fitted parameters with 95 % confidence intervals and the residuals before and after."""

    parameters: list[str]
    units: list[str]
    initial: np.ndarray
    fitted: np.ndarray
    std_error: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    correlation: np.ndarray
    rms_before: float
    rms_after: float
    n_measurements: int
    mode: str
    sets: list[SetSummary]
    evaluations: int
    wall_clock_s: float
    warnings: list[str] = field(default_factory=list)
    config_doc: dict[str, Any] = field(default_factory=dict)
    success: bool = True

    def summary(self) -> dict[str, Any]:
        """JSON-ready report (a non-finite number is ``None``)."""
        columns = (self.parameters, self.units, self.initial, self.fitted, self.std_error, self.ci_low, self.ci_high)
        return {
            "mode": self.mode,
            "parameters": [
                to_jsonable({"name": p, "unit": u, "initial": a, "fitted": b, "std_error": s, "ci95": [lo, hi]})
                for p, u, a, b, s, lo, hi in zip(*columns, strict=True)
            ],
            "correlation": to_jsonable(self.correlation),
            "rms_before_mm": self.rms_before,
            "rms_after_mm": self.rms_after,
            "n_measurements": self.n_measurements,
            "sets": self.sets,
            "evaluations": self.evaluations,
            "wall_clock_s": self.wall_clock_s,
            "warnings": self.warnings,
        }


class _BudgetSpent(Exception):
    """The evaluation budget of the fit is used up: the best point so far is the result."""


class _Problem:
    """Predicted minus measured diameters as a function of the fitted parameters, with a cache."""

    def __init__(self, cfg: ProcessConfig, keys: Sequence[Key], sets: Sequence[MeasurementSet], mode: str) -> None:
        self.cfg = cfg
        self.keys, self.sets, self.mode = list(keys), list(sets), mode
        self.measured = np.concatenate([s.diameter for s in sets])
        self.cache: dict[tuple[float, ...], np.ndarray] = {}
        self.notes: set[str] = set()
        self.failures: dict[str, str] = {}
        self.budget: int | None = None
        self.progress: Callable[[int, int, float | None], None] | None = None
        self.expected = 0

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted diameters (mm) at every measurement for parameters ``x``."""
        key = tuple(np.round(np.asarray(x, float), 12))
        if key in self.cache:
            return self.cache[key]
        if self.budget is not None and len(self.cache) >= self.budget:
            raise _BudgetSpent
        out = []
        for s in self.sets:
            try:
                cfg = set_config(self.cfg, s.overrides).replace(key_changes(self.keys, np.asarray(x)))
                out.append(self._predict_set(cfg, s))
            except (ConfigError, SolverError) as exc:
                # The model fails here (e.g. a short circuit): NaN, turned into a large residual.
                self.failures[s.label] = str(exc)
                out.append(np.full(s.diameter.size, np.nan))
        pred = np.concatenate(out)
        self.cache[key] = pred
        if self.progress is not None:
            self.progress(len(self.cache), max(self.expected, len(self.cache)), None)
        return pred

    def _predict_set(self, cfg: ProcessConfig, s: MeasurementSet) -> np.ndarray:
        if self.mode == "equilibrium":
            from ecmsim.equilibrium import solve_equilibrium

            eq = solve_equilibrium(cfg)
            if not eq.converged:
                self.notes.add("not_converged")
            return np.full(s.diameter.size, eq.summary()["diameter_mm"])
        from ecmsim.process import resolve
        from ecmsim.simulation import Simulation

        res = Simulation(resolve(cfg)).run()
        if res.status not in USABLE_STATUSES:
            raise SolverError(f"{s.label}: the transient run ended as {res.status} ({res.message})")
        depth, dia = res.profile()
        if depth.size < 2:
            raise SolverError(f"{s.label}: the transient run left no hole wall to compare with")
        return np.interp(s.station_depth, depth * 1e3, dia * 1e3)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        r = self.measured - self.predict(x)
        return np.where(np.isfinite(r), r, 1.0)  # 1 mm: far worse than any real misfit

    def rss(self, x: np.ndarray) -> float:
        """Residual sum of squares at ``x``, mm²."""
        return float(np.sum(self.residuals(x) ** 2))


def set_config(cfg: ProcessConfig, conditions: Sequence[str], source: str | None = None) -> ProcessConfig:
    """``cfg`` under the conditions a batch was drilled under (``table.key=value`` overrides)."""
    return config_from_dict(cfg.raw, source=source or cfg.source, base_dir=cfg.base_dir, overrides=conditions)


def _jacobian(problem: _Problem, x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """d(residual)/d(x) by central differences (one-sided at a bound), steps of 5 % of |x|."""
    cols = []
    for i in range(x.size):
        h = DIFF_STEP * max(abs(x[i]), 1e-3)
        up, dn = x.copy(), x.copy()
        up[i] = min(hi[i], x[i] + h)
        dn[i] = max(lo[i], x[i] - h)
        cols.append((problem.residuals(up) - problem.residuals(dn)) / (up[i] - dn[i]))
    return np.stack(cols, axis=1)


def _initial(cfg: ProcessConfig, key: Key) -> float:
    v = getattr(getattr(cfg, key.table), key.name)
    if v is not None:
        return float(v)
    from ecmsim.process import resolve

    proc = resolve(cfg)
    if key.path == "workpiece.electrochemical_equivalent_mm3_per_C":
        return proc.omega * 1e9
    if key.path == "electrolyte.conductivity_S_per_m":
        return proc.conductivity / cfg.electrolyte.conductivity_factor
    raise ConfigError(f"--fit {key.path}: the config has no value to start from; set it (--set {key.path}=...)")


def calibrate(
    config: ConfigLike,
    measurements: Sequence[str | MeasurementSet],
    *,
    fit: Sequence[str] = DEFAULT_FIT,
    mode: str = "auto",
    overrides: Sequence[str] = (),
    max_evaluations: int = 40,
    model_uncertainty_mm: float = MODEL_UNCERTAINTY_MM,
    progress: Callable[[int, int, float | None], None] | None = None,
) -> CalibrationResult:
    """Fit ``fit`` parameters of ``config`` to the measured holes.

    Parameters
    ----------
    config
        Config path (or ``example:NAME``) or :class:`~ecmsim.config.ProcessConfig`.
    measurements
        ``BATCH.h5`` or ``BATCH.h5@table.key=value,...`` strings, or loaded :class:`MeasurementSet`.
    fit
        Config keys (``table.key``, bare key or alias) to fit.
    mode
        ``auto`` (the equilibrium shape for coated tools), ``equilibrium`` or ``transient``.
    overrides
        ``table.key=value`` strings applied to a config read from a file.
    max_evaluations
        Budget of model evaluations of the fit (each runs the model once per set).
    model_uncertainty_mm
        Standard uncertainty of a predicted diameter from grid jitter, the same
        for all values of one set; added to the confidence intervals.
    progress
        Called as ``progress(done, at_most, None)`` after every model evaluation
        (each runs the model once per measurement set); ``at_most`` is the
        budget of the fit plus the evaluations of the confidence intervals.
    """
    t0 = time.perf_counter()
    cfg = load(config, overrides)
    keys = _fit_keys(fit)
    if not measurements:
        raise ConfigError("give at least one --measurements BATCH.h5")
    mode = choose_mode(cfg, mode)
    sets = [_measurement_set(cfg, m, mode) for m in measurements]
    n = int(sum(s.diameter.size for s in sets))
    if n <= len(keys):
        raise InputDataError(f"{n} measured values cannot determine {len(keys)} parameters; measure more holes")
    x0 = np.array([_initial(cfg, k) for k in keys])
    lo, hi = _bounds(cfg, keys, sets)
    x0 = np.clip(x0, lo, hi)
    problem = _Problem(cfg, keys, sets, mode)
    problem.progress = progress
    problem.expected = max_evaluations + 2 * len(keys) + 1
    if not np.all(np.isfinite(problem.predict(x0))):
        label, msg = next(iter(problem.failures.items()))
        raise SolverError(f"the model fails at the starting parameters for measurement set {label}: {msg}")
    rms0 = float(np.sqrt(np.mean(problem.residuals(x0) ** 2)))
    x_hat, success = _fit(problem, x0, lo, hi, max_evaluations)
    rss = problem.rss(x_hat)
    fit_ = _Uncertainty.at(problem, x_hat, lo, hi, rss, model_uncertainty_mm)
    warnings = fit_.warnings + _edge_warnings(keys, x_hat, lo, hi)
    if not success:
        warnings.append(f"the fit stopped at its budget of {max_evaluations} model evaluations before converging")
    if "not_converged" in problem.notes:
        warnings.append("some equilibrium solves stopped at their travel limit (coarse grid jitter); refine the grid")
    return CalibrationResult(
        parameters=[k.path for k in keys], units=[k.unit for k in keys], initial=x0, fitted=x_hat,
        std_error=fit_.std_error, ci_low=x_hat - fit_.t_quantile * fit_.std_error,
        ci_high=x_hat + fit_.t_quantile * fit_.std_error, correlation=fit_.correlation, rms_before=rms0,
        rms_after=float(np.sqrt(rss / n)), n_measurements=n, mode=mode, sets=_set_summaries(problem, x0, x_hat),
        evaluations=len(problem.cache), wall_clock_s=time.perf_counter() - t0, warnings=warnings,
        config_doc=cfg.changed_document(key_changes(keys, x_hat)), success=success,
    )  # fmt: skip


# --------------------------------------------------------------------------- the inputs
def _fit_keys(fit: Sequence[str]) -> list[Key]:
    if not fit:
        raise ConfigError("--fit: give at least one parameter, e.g. conductivity_factor")
    keys = [resolve_key(f, "--fit") for f in fit]
    if len({k.path for k in keys}) != len(keys):
        raise ConfigError(f"--fit: a parameter is given twice ({', '.join(k.path for k in keys)})")
    return keys


def _measurement_set(cfg: ProcessConfig, m: str | MeasurementSet, mode: str) -> MeasurementSet:
    """A loaded set as is; ``BATCH.h5@conditions`` read, its conditions checked against ``cfg``."""
    if isinstance(m, MeasurementSet):
        return m
    path, ov = parse_measurement_arg(m)
    set_config(cfg, ov, f"--measurements {m}")  # the conditions must be valid
    return load_measurements(path, ov, interior_only=(mode == "equilibrium"))


def _bounds(cfg: ProcessConfig, keys: Sequence[Key], sets: Sequence[MeasurementSet]) -> tuple[np.ndarray, np.ndarray]:
    """Schema ranges of the fitted keys (ΔU also below every set's voltage)."""
    lo = np.array([-np.inf if k.min is None else k.min * (1 + 1e-9) + (1e-12 if k.min_exclusive else 0) for k in keys])
    hi = np.array([np.inf if k.max is None else k.max for k in keys])
    for i, k in enumerate(keys):
        if k.path == "electrical.overpotential_V":  # ΔU must stay below every set's voltage
            volts = [set_config(cfg, s.overrides).electrical.voltage_V for s in sets]
            hi[i] = min(hi[i], min(volts) - 0.1)
    return lo, hi


# --------------------------------------------------------------------------- the fit and its intervals
def _fit(problem: _Problem, x0: np.ndarray, lo: np.ndarray, hi: np.ndarray, budget: int) -> tuple[np.ndarray, bool]:
    """Trust-region least squares from ``x0`` within ``budget`` evaluations; (best point seen, converged)."""
    from scipy.optimize import least_squares

    scale = np.where(np.abs(x0) > 0, np.abs(x0), 1.0)
    # Stop after `budget` model evaluations (Jacobian columns included); the best point seen wins.
    problem.budget = budget
    success = True
    try:
        ls = least_squares(
            problem.residuals, x0, bounds=(lo, hi), x_scale=scale, diff_step=DIFF_STEP, method="trf",
            jac="3-point", xtol=5e-3, ftol=1e-3,
        )  # fmt: skip
        x_end, success = ls.x, bool(ls.success)
    except _BudgetSpent:
        x_end, success = x0, False
    problem.budget = None
    # The optimiser's end point, or any evaluated point that fits better (jitter can hide it).
    best = min(problem.cache, key=lambda k: problem.rss(np.array(k)))
    if problem.rss(np.array(best)) < problem.rss(x_end):
        return np.array(best), success
    return x_end, success


@dataclass
class _Uncertainty:
    """Standard errors, correlations and the t quantile of the 95 % intervals at the optimum."""

    std_error: np.ndarray
    correlation: np.ndarray
    t_quantile: float
    warnings: list[str]

    @classmethod
    def at(
        cls, problem: _Problem, x_hat: np.ndarray, lo: np.ndarray, hi: np.ndarray, rss: float, tau: float
    ) -> _Uncertainty:
        """Linearised at ``x_hat``: s² (JᵀJ)⁻¹ plus the set-level model error ``tau`` (mm)."""
        from scipy.stats import t as student_t

        jac = _jacobian(problem, x_hat, lo, hi)
        p = x_hat.size
        dof = problem.measured.size - p
        s2 = rss / dof
        warnings: list[str] = []
        # Set-level model error (grid jitter of the prediction, the same for every value of a set):
        # sandwich (JᵀJ)⁻¹ [Σ_k τ² (J_kᵀ1)(J_kᵀ1)ᵀ] (JᵀJ)⁻¹ added to s² (JᵀJ)⁻¹.
        meat = np.zeros((p, p))
        start = 0
        for st in problem.sets:
            g = jac[start : start + st.diameter.size].sum(axis=0)
            start += st.diameter.size
            meat += tau**2 * np.outer(g, g)
        try:
            inv = np.linalg.inv(jac.T @ jac)
            cov = s2 * inv + inv @ meat @ inv
            se = np.sqrt(np.clip(np.diag(cov), 0, None))
            corr = cov / np.outer(se, se) if np.all(se > 0) else np.full((p, p), np.nan)
        except np.linalg.LinAlgError:
            se = np.full(p, np.inf)
            corr = np.full((p, p), np.nan)
            warnings.append(
                "the measurements do not determine the parameters (singular JᵀJ): add sets at other conditions"
            )
        warnings += _correlation_warnings(problem.keys, corr)
        return cls(se, corr, float(student_t.ppf(0.975, dof)), warnings)


def _correlation_warnings(keys: Sequence[Key], corr: np.ndarray) -> list[str]:
    out = []
    for i in range(len(keys)):
        for j in range(i + 1, len(keys)):
            if math.isfinite(corr[i, j]) and abs(corr[i, j]) > 0.95:
                out.append(
                    f"{keys[i].path} and {keys[j].path} are strongly correlated (r = {corr[i, j]:+.3f}): the "
                    "measurements barely separate them; add sets at other voltages or feeds, or fit one of them"
                )
    return out


def _edge_warnings(keys: Sequence[Key], x_hat: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> list[str]:
    return [
        f"{k.path} = {x_hat[i]:.4g} ended at the edge of its allowed range"
        for i, k in enumerate(keys)
        if np.isclose(x_hat[i], lo[i]) or np.isclose(x_hat[i], hi[i])
    ]


def _set_summaries(problem: _Problem, x0: np.ndarray, x_hat: np.ndarray) -> list[SetSummary]:
    out = []
    start = 0
    pred0, pred1 = problem.predict(x0), problem.predict(x_hat)
    for s in problem.sets:
        sl = slice(start, start + s.diameter.size)
        start += s.diameter.size
        out.append(SetSummary(
            file=s.path, label=s.label, conditions=s.overrides, n=int(s.diameter.size),
            excluded_entry_exit=s.excluded, measured_mean_mm=float(np.mean(s.diameter)),
            predicted_before_mm=float(np.mean(pred0[sl])), predicted_after_mm=float(np.mean(pred1[sl])),
        ))  # fmt: skip
    return out


def calibrated_header(result: CalibrationResult, source: str) -> list[str]:
    """Comment lines for the calibrated config: what was fitted, from what, when."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [f"Calibrated by ecmsim calibrate on {now} from {source} ({result.mode} model).", "Measurements:"]
    lines += [f"  {s['file']} {' '.join(s['conditions'])} ({s['n']} values)" for s in result.sets]
    lines.append("Fitted (95 % confidence interval):")
    rows = zip(result.parameters, result.units, result.fitted, result.ci_low, result.ci_high, strict=True)
    for p_, u, v, lo, hi in rows:
        lines.append(f"  {p_} = {v:.5g} {u} [{lo:.5g}, {hi:.5g}]")
    lines.append(f"Residual RMS {result.rms_before * 1e3:.2f} µm before, {result.rms_after * 1e3:.2f} µm after.")
    return lines
