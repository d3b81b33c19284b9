"""Calibration: fit model parameters to measured holes by least squares.

Each measurement set is an inspection batch (``ecmsim qc import``) drilled
under one set of process conditions, given as ``BATCH.h5`` (the config as
is) or ``BATCH.h5@table.key=value,table.key=value`` (the conditions that
differ from the config, e.g. the voltage of that batch).  Parameters that
are not separable from one operating point (the conductivity factor and the
overpotential both scale the gap through κ (U − ΔU)) need sets at several
voltages or feeds.

Residuals are measured − predicted diameter at every measured station of
every hole of every part.  The model is the transient run (its profile at
every station depth) unless every batch was measured where the wall is at
equilibrium (``auto``, :func:`choose_calibration_mode`); the equilibrium
shape (coated tools) gives one diameter per set, compared with the interior
stations (a hole's first and last station are left out when it has at least
three).

The fit is a Gauss–Newton / Levenberg–Marquardt iteration with
forward-difference Jacobians (10 % steps: the predictions jitter by 1–2 µm on
the grid), bounded by the schema, on a coarser grid where one resolves the
planar gap h_e with at least :data:`COARSE_CELLS_PER_GAP` cells (the
config's cell size × 4 or × 2), then corrected by one Gauss–Newton step at
the config's own cell size (the values returned hold for that cell size; how
far the step moved them is the reported cell-size dependence).  Without a
coarser level the fit runs at the config's cell size and one step at half
the cell size is computed and reported, not applied.

Confidence intervals: with the Jacobian J of the residuals (at the last
iterate, within a tenth of a standard error of the optimum), s² = RSS / (n − p)
and cov = s² (JᵀJ)⁻¹, the 95 % interval of parameter i is
x̂ᵢ ± t₀.₉₇₅,ₙ₋ₚ √covᵢᵢ (independent errors of equal variance; a
linearisation at the optimum).  The prediction itself jitters on the grid by
τ (:data:`MODEL_UNCERTAINTY_MM`: 2 µm for the equilibrium solve, 0.5 µm for a
transient run), an error shared by all values of one set; its share,
(JᵀJ)⁻¹ [Σₖ τ² gₖgₖᵀ] (JᵀJ)⁻¹ with gₖ the column sums of J over set k, is
added to cov.
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
#: The fit stops after a step shorter than this many standard errors: the grid jitter of the
#: predictions (τ, about 0.5 µm for a set of a transient run) alone moves the Gauss–Newton step by
#: about half a standard error for 40 values of 5 µm noise per set.
CONVERGED_STEP = 1.0
#: Repeatability of a predicted diameter by model (grid jitter between nearby parameters), mm: the
#: equilibrium solve 0.8–1.8 µm rms, up to 4 µm, measured at 0.01–0.04 mm cells; a transient run
#: 0.2–0.8 µm rms about a straight line through conductivity factors 1.19–1.21 in steps of 0.005
#: (test config, 40 µm cells, stations 0.1–0.95 mm).
MODEL_UNCERTAINTY_MM = {"equilibrium": 0.002, "transient": 0.0005}


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
    mode_reason: str = ""
    cell_size_mm: float = math.nan  # the cell size the fitted values hold for (the config's)
    fit_cell_size_mm: float = math.nan  # the cell size of the iteration (coarser, then one step at cell_size_mm)
    second_cell_size_mm: float | None = None  # the other cell size of the cell-size dependence
    at_second_cell: np.ndarray | None = None  # the values at that cell size
    model_runs: int = 0

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
            "model_runs": self.model_runs,
            "wall_clock_s": self.wall_clock_s,
            "warnings": self.warnings,
            "mode_reason": self.mode_reason,
            "cell_size_mm": self.cell_size_mm,
            "fit_cell_size_mm": self.fit_cell_size_mm,
            "cell_size_dependence": self.cell_dependence(),
        }

    def cell_dependence(self) -> dict[str, Any] | None:
        """The values at the second cell size and how far the fitted ones are from them (JSON-ready)."""
        if self.second_cell_size_mm is None or self.at_second_cell is None:
            return None
        moved = self.fitted - self.at_second_cell
        return to_jsonable({
            "cell_size_mm": self.second_cell_size_mm, "values": self.at_second_cell, "fitted_minus_values": moved,
            "in_std_errors": moved / self.std_error,
        })  # fmt: skip


class _BudgetSpent(Exception):
    """The evaluation budget of the fit is used up: the best point so far is the result."""


class _Problem:
    """Measured minus predicted diameters as a function of the fitted parameters, with a cache.

    ``cache`` maps (set, cell size, parameters) to the predicted wall profile;
    a dict shared between calls reuses the model runs where the values coincide.
    """

    def __init__(
        self, cfg: ProcessConfig, keys: Sequence[Key], sets: Sequence[MeasurementSet], mode: str,
        cache: dict[Any, Any] | None = None,
    ) -> None:  # fmt: skip
        self.cfg = cfg
        self.keys, self.sets, self.mode = list(keys), list(sets), mode
        self.cell_mm = float(cfg.numerics.cell_size_mm)
        self.measured = np.concatenate([s.diameter for s in sets])
        self.cache: dict[Any, Any] = {} if cache is None else cache
        self.seen: set[tuple[float, ...]] = set()  # parameter points evaluated by this fit
        self.runs = 0  # model runs of this fit (one per set and new point)
        self.notes: set[str] = set()
        self.failures: dict[str, str] = {}
        self.budget: int | None = None
        self.progress: Callable[[int, int, float | None], None] | None = None
        self.expected = 0

    def predict(self, x: np.ndarray, cell_mm: float | None = None) -> np.ndarray:
        """Predicted diameters (mm) at every measurement for parameters ``x`` (at ``cell_mm`` cells)."""
        cell = self.cell_mm if cell_mm is None else float(cell_mm)
        point = (cell, *np.round(np.asarray(x, float), 12))
        new = point not in self.seen
        if new and self.budget is not None and len(self.seen) >= self.budget:
            raise _BudgetSpent
        out = np.concatenate([self._predict_set(s, point) for s in self.sets])
        self.seen.add(point)
        if new and self.progress is not None:
            self.progress(len(self.seen), max(self.expected, len(self.seen)), None)
        return out

    def _predict_set(self, s: MeasurementSet, point: tuple[float, ...]) -> np.ndarray:
        key = (self.mode, self.cfg.source, repr(self.cfg.raw), tuple(s.overrides), point)
        if key not in self.cache:
            self.runs += 1
            try:
                conditions = [*s.overrides, f"numerics.cell_size_mm={point[0]!r}"]
                cfg = set_config(self.cfg, conditions).replace(key_changes(self.keys, np.array(point[1:])))
                self.cache[key] = self._run(cfg, s)
            except (ConfigError, SolverError) as exc:
                # The model fails here (e.g. a short circuit): NaN, turned into a large residual.
                self.failures[s.label] = str(exc)
                self.cache[key] = None
        prof = self.cache[key]
        if prof is None:
            return np.full(s.diameter.size, np.nan)
        if np.ndim(prof) == 0:
            return np.full(s.diameter.size, float(prof))
        return np.interp(s.station_depth, prof[0], prof[1])

    def _run(self, cfg: ProcessConfig, s: MeasurementSet) -> Any:
        """The equilibrium diameter (mm) or the transient profile ((depth, diameter) in mm)."""
        if self.mode == "equilibrium":
            from ecmsim.equilibrium import solve_equilibrium

            eq = solve_equilibrium(cfg)
            if not eq.converged:
                self.notes.add("not_converged")
            return float(eq.summary()["diameter_mm"])
        from ecmsim.process import resolve
        from ecmsim.simulation import Simulation

        res = Simulation(resolve(cfg)).run()
        if res.status not in USABLE_STATUSES:
            raise SolverError(f"{s.label}: the transient run ended as {res.status} ({res.message})")
        depth, dia = res.profile()
        if depth.size < 2:
            raise SolverError(f"{s.label}: the transient run left no hole wall to compare with")
        return np.stack([depth * 1e3, dia * 1e3])

    def residuals(self, x: np.ndarray, cell_mm: float | None = None) -> np.ndarray:
        """Measured − predicted diameters, mm (1 mm where the model fails)."""
        r = self.measured - self.predict(x, cell_mm)
        return np.where(np.isfinite(r), r, 1.0)  # 1 mm: far worse than any real misfit

    def rss(self, x: np.ndarray, cell_mm: float | None = None) -> float:
        """Residual sum of squares at ``x``, mm²."""
        return float(np.sum(self.residuals(x, cell_mm) ** 2))


def set_config(cfg: ProcessConfig, conditions: Sequence[str], source: str | None = None) -> ProcessConfig:
    """``cfg`` under the conditions a batch was drilled under (``table.key=value`` overrides)."""
    return config_from_dict(cfg.raw, source=source or cfg.source, base_dir=cfg.base_dir, overrides=conditions)


def _jacobian(
    problem: _Problem, x: np.ndarray, r: np.ndarray, lo: np.ndarray, hi: np.ndarray, cell_mm: float | None = None
) -> np.ndarray:
    """d(residual)/d(x), (n, p), by forward differences of 10 % of |x| (backward at an upper bound)."""
    cols = []
    for i in range(x.size):
        h = DIFF_STEP * max(abs(x[i]), 1e-3)
        xs = x.copy()
        xs[i] = x[i] + h if x[i] + h <= hi[i] else max(lo[i], x[i] - h)
        cols.append((problem.residuals(xs, cell_mm) - r) / (xs[i] - x[i]))
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
    model_uncertainty_mm: float | None = None,
    progress: Callable[[int, int, float | None], None] | None = None,
    cell_check: bool = True,
    start: Sequence[float] | None = None,
    cache: dict[Any, Any] | None = None,
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
        ``auto`` (the equilibrium shape where every set was measured on wall at
        equilibrium, :func:`choose_calibration_mode`; else transient runs),
        ``equilibrium`` or ``transient``.
    overrides
        ``table.key=value`` strings applied to a config read from a file.
    max_evaluations
        Budget of model evaluations of the fit (each runs the model once per set).
    model_uncertainty_mm
        Standard uncertainty of a predicted diameter from grid jitter, the same
        for all values of one set; added to the confidence intervals (default:
        :data:`MODEL_UNCERTAINTY_MM` of the model).
    progress
        Called as ``progress(done, at_most, None)`` after every model evaluation
        (each runs the model once per measurement set); ``at_most`` is the
        budget of the fit plus the evaluations of the intervals and the second cell size.
    cell_check
        Fit (or check) at a second cell size and report how far the values move.
        Off: one level, at the config's cell size.
    start
        Starting values of the fitted parameters (default: the config's values).
    cache
        A dict shared between calls: model runs at coinciding parameters are reused.
    """
    t0 = time.perf_counter()
    cfg = load(config, overrides)
    keys = _fit_keys(fit)
    if not measurements:
        raise ConfigError("give at least one --measurements BATCH.h5")
    mode, reason, sets = _mode_and_sets(cfg, mode, measurements)
    n = int(sum(s.diameter.size for s in sets))
    if n <= len(keys):
        raise InputDataError(f"{n} measured values cannot determine {len(keys)} parameters; measure more holes")
    x0 = np.array([_initial(cfg, k) for k in keys] if start is None else start, float)
    lo, hi = _bounds(cfg, keys, sets)
    x0 = np.clip(x0, lo, hi)
    problem = _Problem(cfg, keys, sets, mode, cache)
    problem.progress = progress
    problem.expected = max_evaluations + len(keys) + 2
    levels = _cell_levels(cfg, sets, mode, cell_check)
    tau = MODEL_UNCERTAINTY_MM[mode] if model_uncertainty_mm is None else model_uncertainty_mm
    fit_ = _two_level_fit(problem, x0, lo, hi, max_evaluations, levels, tau)
    warnings = fit_.warnings + _edge_warnings(keys, fit_.x, lo, hi)
    if "not_converged" in problem.notes:
        warnings.append("some equilibrium solves stopped at their travel limit (coarse grid jitter); refine the grid")
    ci = fit_.t_quantile * fit_.std_error
    doc = cfg.changed_document({**key_changes(keys, fit_.x), "numerics.cell_size_mm": problem.cell_mm})
    return CalibrationResult(
        parameters=[k.path for k in keys], units=[k.unit for k in keys], initial=x0, fitted=fit_.x,
        std_error=fit_.std_error, ci_low=fit_.x - ci, ci_high=fit_.x + ci, correlation=fit_.correlation,
        rms_before=fit_.rms_before, rms_after=float(np.sqrt(np.mean(fit_.residuals**2))), n_measurements=n,
        mode=mode, sets=_set_summaries(problem, fit_.pred_before, problem.measured - fit_.residuals),
        evaluations=len(problem.seen), wall_clock_s=time.perf_counter() - t0, warnings=warnings,
        config_doc=doc, success=fit_.converged, mode_reason=reason, cell_size_mm=problem.cell_mm,
        fit_cell_size_mm=levels[0], second_cell_size_mm=fit_.second_cell, at_second_cell=fit_.at_second_cell,
        model_runs=problem.runs,
    )  # fmt: skip


#: A station's wall is at equilibrium once the frontal gap has relaxed from the initial gap: the
#: linearised planar gap equation dh/dx = h_e/h − 1 gives a deviation decaying as exp(−x/h_e), under
#: 1 % of its initial value after 5 h_e of travel.
ENTRY_GAPS = 5.0
#: The coarse level of the fit resolves the planar gap h_e of every set with at least this many cells.
COARSE_CELLS_PER_GAP = 4.0


def equilibrium_window(cfg: ProcessConfig) -> tuple[float, float]:
    """Depths (mm) between which the finished wall of ``cfg`` is at equilibrium.

    From :data:`ENTRY_GAPS` planar gaps h_e below the entry (the frontal gap has
    relaxed from the initial gap) to the reference distance of the equilibrium
    solve, bare tip + 3 h_e, above the bottom (deeper, the bare tip was still
    cutting the wall when the feed stopped).
    """
    from ecmsim.process import resolve

    h_e = resolve(cfg).equilibrium_gap * 1e3
    return ENTRY_GAPS * h_e, cfg.motion.depth_mm - cfg.tool.bare_tip_length_mm - 3 * h_e


def choose_calibration_mode(cfg: ProcessConfig, mode: str, sets: Sequence[MeasurementSet]) -> tuple[str, str]:
    """(mode, why): ``auto`` is ``equilibrium`` only where every set's stations lie on wall at equilibrium.

    ``sets`` hold the stations the equilibrium model would compare with (interior
    stations); each is checked against :func:`equilibrium_window` of its own conditions.
    """
    if mode != "auto":
        return choose_mode(cfg, mode), "as requested"
    if choose_mode(cfg, "auto") != "equilibrium":
        return "transient", "the tool is bare or does not feed: there is no equilibrium shape"
    for s in sets:
        top, bottom = equilibrium_window(set_config(cfg, s.overrides))
        z0, z1 = float(np.min(s.station_depth)), float(np.max(s.station_depth))
        where = f"set {s.label} was measured at {z0:.2f}-{z1:.2f} mm deep (interior stations)"
        if top >= bottom:
            return "transient", (
                f"{where}; its holes have no wall at equilibrium: the wall settles {top:.2f} mm below the entry "
                f"({ENTRY_GAPS:g} h_e) but the bare tip was still cutting it deeper than {bottom:.2f} mm "
                "(bare tip + 3 h_e above the bottom)"
            )
        if z0 < top or z1 > bottom:
            return "transient", (
                f"{where}; its wall is at equilibrium only from {top:.2f} to {bottom:.2f} mm ({ENTRY_GAPS:g} h_e "
                "below the entry to bare tip + 3 h_e above the bottom)"
            )
    return "equilibrium", "every set was measured where the wall is at equilibrium"


def _mode_and_sets(
    cfg: ProcessConfig, mode: str, measurements: Sequence[str | MeasurementSet]
) -> tuple[str, str, list[MeasurementSet]]:
    """The model, why, and the sets as that model compares with them (interior stations for equilibrium)."""
    choose_mode(cfg, mode)  # an invalid mode fails here, before any file is read
    interior = [_measurement_set(cfg, m, "equilibrium") for m in measurements]
    mode, reason = choose_calibration_mode(cfg, mode, interior)
    if mode == "equilibrium":
        return mode, reason, interior
    return mode, reason, [_measurement_set(cfg, m, mode) for m in measurements]


def _cell_levels(cfg: ProcessConfig, sets: Sequence[MeasurementSet], mode: str, check: bool) -> tuple[float, ...]:
    """Cell sizes (mm) of the fit, then of the one correction or check (none without ``check``)."""
    from ecmsim.process import resolve

    fine = float(cfg.numerics.cell_size_mm)
    if not check:
        return (fine,)
    h_e = min(resolve(set_config(cfg, s.overrides)).equilibrium_gap * 1e3 for s in sets)
    for k in (4, 2):
        if mode == "transient" and k * fine <= h_e / COARSE_CELLS_PER_GAP * (1 + 1e-9):
            return (k * fine, fine)
    return (fine, fine / 2)


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
def _gauss_newton(
    problem: _Problem, x0: np.ndarray, lo: np.ndarray, hi: np.ndarray, budget: int, cell: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Levenberg–Marquardt from ``x0`` at ``cell`` mm cells within ``budget`` evaluations.

    Returns (x̂, residuals at x̂, Jacobian, converged).  The Jacobian is
    re-evaluated only where the iterate has moved by more than the difference
    step (10 %) from where it was taken (a forward difference over 10 % is a
    secant over that span anyway).  It stops after a step shorter than
    :data:`CONVERGED_STEP` standard errors (δᵀJᵀJδ / s², s² from the residuals
    the step predicts; the next step would be a fraction of it), keeping the
    better of the two points, or when no damped step lowers the sum of
    squares (the optimum within the grid jitter).
    """
    problem.budget = budget
    x, r = x0.copy(), problem.residuals(x0, cell)
    jac, jac_at, lam, converged = None, x0, 0.0, False
    try:
        for _ in range(budget):
            if jac is None or np.any(np.abs(x - jac_at) > DIFF_STEP * np.maximum(np.abs(x), 1e-3)):
                jac, jac_at = _jacobian(problem, x, r, lo, hi, cell), x
            jtj, grad = jac.T @ jac, jac.T @ r
            for _retry in range(3):
                step = -np.linalg.lstsq(jtj + lam * np.diag(np.diag(jtj)), grad, rcond=None)[0]
                x_new = np.clip(x + step, lo, hi)
                # The step's length in standard errors, with s² from the residuals it predicts.
                r_lin = r + jac @ (x_new - x)
                d = x_new - x
                size = math.sqrt(max(d @ jtj @ d, 0.0) / max(r_lin @ r_lin / max(r.size - x.size, 1), 1e-30))
                r_new = problem.residuals(x_new, cell)
                if lam == 0.0 and size <= CONVERGED_STEP:  # within the noise: the better of the two points
                    if r_new @ r_new <= r @ r:
                        x, r = x_new, r_new
                    return _end(problem, x, r, jac, True)
                if r_new @ r_new <= r @ r:
                    break
                lam = max(10 * lam, 1e-2)
            else:
                converged = True  # no damped step lowers the sum of squares: the optimum within the jitter
                break
            lam = 0.0 if lam < 1e-2 else lam / 10
            x, r = x_new, r_new
    except _BudgetSpent:
        pass
    if jac is None:
        problem.budget = None
        jac = _jacobian(problem, x, r, lo, hi, cell)
    return _end(problem, x, r, jac, converged)


def _end(
    problem: _Problem, x: np.ndarray, r: np.ndarray, jac: np.ndarray, converged: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    problem.budget = None
    return x, r, jac, converged


@dataclass
class _Fit:
    """The fitted values, their residuals and uncertainty, and the cell-size dependence."""

    x: np.ndarray
    residuals: np.ndarray  # (n,) mm, at the config's cell size (linearised after a correction step)
    pred_before: np.ndarray  # (n,) mm, at the start values on the fit's grid
    rms_before: float
    std_error: np.ndarray
    correlation: np.ndarray
    t_quantile: float
    warnings: list[str]
    converged: bool
    second_cell: float | None
    at_second_cell: np.ndarray | None


def _two_level_fit(
    problem: _Problem, x0: np.ndarray, lo: np.ndarray, hi: np.ndarray, budget: int, levels: tuple[float, ...],
    tau: float,
) -> _Fit:  # fmt: skip
    """The fit at ``levels[0]``, then one Gauss–Newton step at ``levels[1]`` (applied when it is the config's)."""
    pred0 = problem.predict(x0, levels[0])
    if not np.all(np.isfinite(pred0)):
        label, msg = next(iter(problem.failures.items()))
        raise SolverError(f"the model fails at the starting parameters for measurement set {label}: {msg}")
    x, r, jac, converged = _gauss_newton(problem, x0, lo, hi, budget, levels[0])
    warnings = [] if converged else [f"the fit stopped at its budget of {budget} model evaluations before converging"]
    second, other = None, None
    if len(levels) > 1:
        second = levels[1] if levels[0] == problem.cell_mm else levels[0]
        r2 = problem.residuals(x, levels[1])
        x2 = np.clip(x - np.linalg.lstsq(jac, r2, rcond=None)[0], lo, hi)
        if levels[1] == problem.cell_mm:  # coarse-to-fine: the corrected values hold for the config's cells
            x, other, r = x2, x, r2 + jac @ (x2 - x)
        else:  # a check at half the cell size, reported, not applied
            other = x2
    unc = _Uncertainty.at(problem, jac, r, tau)
    if other is not None:
        moved = np.abs(x - other)
        for i, k in enumerate(problem.keys):
            if moved[i] > unc.std_error[i]:
                warnings.append(
                    f"{k.path} moves by {moved[i]:.3g}{' ' + k.unit if k.unit else ''} between "
                    f"{problem.cell_mm:g} and {second:g} mm cells "
                    f"(more than its standard error, {unc.std_error[i]:.2g}): the value holds for "
                    f"numerics.cell_size_mm = {problem.cell_mm:g}"
                )
    return _Fit(
        x, r, pred0, float(np.sqrt(np.mean((problem.measured - pred0) ** 2))), unc.std_error, unc.correlation,
        unc.t_quantile, warnings + unc.warnings, converged, second, other,
    )  # fmt: skip


@dataclass
class _Uncertainty:
    """Standard errors, correlations and the t quantile of the 95 % intervals at the optimum."""

    std_error: np.ndarray
    correlation: np.ndarray
    t_quantile: float
    warnings: list[str]

    @classmethod
    def at(cls, problem: _Problem, jac: np.ndarray, r: np.ndarray, tau: float) -> _Uncertainty:
        """Linearised: s² (JᵀJ)⁻¹ from the residuals ``r`` plus the set-level model error ``tau`` (mm)."""
        from scipy.stats import t as student_t

        p = jac.shape[1]
        dof = problem.measured.size - p
        s2 = float(r @ r) / dof
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


def _set_summaries(problem: _Problem, pred0: np.ndarray, pred1: np.ndarray) -> list[SetSummary]:
    out = []
    start = 0
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
    lines = [f"Calibrated by ecmsim calibrate on {now} from {source}.", f"Model: {result.mode} ({result.mode_reason}).",
             "Measurements:"]  # fmt: skip
    lines += [f"  {s['file']} {' '.join(s['conditions'])} ({s['n']} values)" for s in result.sets]
    lines.append("Fitted (95 % confidence interval):")
    rows = zip(result.parameters, result.units, result.fitted, result.ci_low, result.ci_high, strict=True)
    for p_, u, v, lo, hi in rows:
        lines.append(f"  {p_} = {v:.5g} {u} [{lo:.5g}, {hi:.5g}]")
    lines.append(f"Residual RMS {result.rms_before * 1e3:.2f} µm before, {result.rms_after * 1e3:.2f} µm after.")
    lines.append(f"The fitted values hold for [numerics] cell_size_mm = {result.cell_size_mm:g}.")
    dep = result.cell_dependence()
    if dep is not None:
        vals = ", ".join(f"{v:.5g}" for v in dep["values"])
        lines.append(f"At {dep['cell_size_mm']:g} mm cells they would be {vals} (cell-size dependence).")
    return lines
