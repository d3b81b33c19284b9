"""Target-driven parameter search: which voltage and feed give the hole on the drawing?

``tune`` varies config keys within ranges (default: voltage 5–15 V and feed
0.5–3 mm/min, the STEM window of process-physics.md) so that predicted
metrics meet targets ``key = value ± tol``, the run ends well (no short
circuit, no current-density limit, frontal gap at least ``min_gap``), and,
optionally, a parameter or a metric is maximised or minimised.

The model is evaluated in equilibrium mode when every target is available
from it (coated tools; ``diameter_mm``, ``side_gap_mm``, ``frontal_gap_mm``,
``machining_time_s``, ...), otherwise in transient mode.  Predictions are
only piecewise smooth (grid-scale jitter of 1–2 µm), so every search step
uses finite differences over a few per cent of each parameter's range:

1. the start: the 1D theory (frontal gap h_e from :mod:`ecmsim.process`,
   side gap sqrt(h_e² + 2 h_e b) beside the bare tip b) on a dense design
   over the ranges, no solves: the point that meets the targets (and is best
   for the objective);
2. :func:`scipy.optimize.least_squares` on the normalised parameters,
   residuals (y − target)/tol, the model itself, from that start;
3. with an objective, :func:`scipy.optimize.minimize` (COBYQA,
   derivative-free, bounds and constraints) from the feasible point, with the
   targets as constraints |y − target| <= 0.9 tol;
4. the best feasible point evaluated is the optimum (never an unchecked
   optimiser end point); the sensitivity of every reported metric to every
   parameter by central differences (5 % of the range); and, after an
   equilibrium search, a transient run at the optimum as a check.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np

from ecmsim.config import ProcessConfig
from ecmsim.engineering.common import (
    USABLE_STATUSES,
    ConfigLike,
    Evaluation,
    Key,
    Metrics,
    TargetNotReachedError,
    choose_mode,
    evaluate_config,
    key_changes,
    load,
    resolve_key,
    surrogate_metrics,
)
from ecmsim.errors import ConfigError
from ecmsim.jsonable import to_jsonable

#: Progress callback: ``progress(done, total, seconds_left or None)``.
ProgressFn = Callable[[int, int, float | None], None]

#: Search ranges used when no --vary is given (STEM, process-physics.md).
DEFAULT_RANGES = {"electrical.voltage_V": (5.0, 15.0), "motion.feed_rate_mm_per_min": (0.5, 3.0)}
#: Fraction of the tolerance kept as a margin against model jitter in the objective phase.
MARGIN = 0.9
DIFF_STEP = 0.05
#: The search solves on cells this many times the config's, then confirms on the config's grid.
SEARCH_COARSENING = 2
#: Solves of the space mapping on the search grid, and of the confirmation on the config's grid.
MAP_ITERATIONS = 4
CONFIRM_ITERATIONS = 2
#: The corrected estimate aims inside this fraction of each tolerance, so that the solve lands in the band.
MAP_BAND = 0.5
#: Two estimate optima closer than this (normalised) are the same point.
MAP_STEP = 0.02
#: Evaluations of the (instant) corrected estimate per optimisation.
ESTIMATE_EVALUATIONS = 120


@dataclass(frozen=True)
class Target:
    """A predicted metric and its tolerance band: ``value ± tol``."""

    key: str
    value: float
    tol: float

    def met(self, y: float) -> bool:
        return math.isfinite(y) and abs(y - self.value) <= self.tol


def metric_names() -> list[str]:
    from ecmsim.io.sweep import SWEEP_METRICS

    return [k for k in SWEEP_METRICS if k != "wall_clock_s"]


def check_metric(name: str, what: str) -> str:
    """Return ``name`` if it is a metric, else raise with the nearest one."""
    import difflib

    names = metric_names()
    if name in names:
        return name
    near = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    raise ConfigError(f"{what}: unknown metric {name!r}{hint} (metrics: {', '.join(names)})")


def _split(text: str, what: str, usage: str) -> tuple[str, str]:
    """``NAME=SPEC`` → (NAME, SPEC); ``usage`` says what was expected."""
    if "=" not in text:
        raise ConfigError(f"{what}: expected {usage}")
    name, _, spec = text.partition("=")
    return name, spec


def _two_numbers(spec: str, what: str, usage: str, names: str) -> tuple[float, float, list[str]]:
    """``A:B`` → (A, B, the two texts); ``names`` are those of A and B in the message."""
    parts = spec.split(":")
    if len(parts) != 2:
        raise ConfigError(f"{what}: expected {usage}")
    try:
        return float(parts[0]), float(parts[1]), parts
    except ValueError:
        raise ConfigError(f"{what}: {names} must be numbers") from None


def parse_target(text: str) -> Target:
    """Parse ``metric=value:tol`` (e.g. ``entry_diameter_mm=0.90:0.02``)."""
    what = f"--target {text!r}"
    name, spec = _split(text, what, "metric=value:tol, e.g. entry_diameter_mm=0.90:0.02")
    key = check_metric(name.strip(), what)
    usage = f"value:tol (the tolerance is ±tol), e.g. {key}=0.90:0.02"
    value, tol, parts = _two_numbers(spec, what, usage, "value and tolerance")
    if not (math.isfinite(value) and math.isfinite(tol)) or tol <= 0:
        raise ConfigError(f"{what}: the tolerance must be a positive number (got {parts[1]!r})")
    return Target(key, value, tol)


def parse_range(text: str) -> tuple[Key, float, float]:
    """Parse ``table.key=lo:hi`` (a search range)."""
    what = f"--vary {text!r}"
    name, spec = _split(text, what, "table.key=lo:hi, e.g. electrical.voltage_V=6:14")
    key = resolve_key(name, f"{what}:")
    lo, hi, parts = _two_numbers(spec, what, f"a range lo:hi, e.g. {key.path}=6:14", "lo and hi")
    if not lo < hi:
        raise ConfigError(f"{what}: the range {parts[0]}:{parts[1]} is empty (need lo < hi)")
    key.check(lo, what)
    key.check(hi, what)
    return key, lo, hi


class Sensitivity(TypedDict):
    """How the predictions move with one parameter at the optimum (JSON-ready)."""

    parameter: str
    unit: str
    step: float
    derivative: dict[str, float | None]
    tolerance_span: dict[str, float | None]


class TransientCheck(TypedDict):
    """The transient run at the optimum of an equilibrium search (JSON-ready)."""

    status: str
    message: str
    metrics: dict[str, float | None]
    targets_met: dict[str, bool]


@dataclass
class TuneResult:
    """Outcome of :func:`tune` (engineering units)."""

    feasible: bool
    mode: str
    parameters: list[str]
    units: list[str]
    bounds: list[tuple[float, float]]
    optimum: dict[str, float]
    predicted: Metrics
    status: str
    targets: list[Target]
    objective: str | None
    sense: str | None
    sensitivity: list[Sensitivity] = field(default_factory=list)
    check: TransientCheck | None = None
    evaluations: int = 0
    wall_clock_s: float = 0.0
    message: str = ""
    config_doc: dict[str, Any] = field(default_factory=dict)
    at_bounds: list[str] = field(default_factory=list)
    binding: list[str] = field(default_factory=list)
    search_cell_mm: float | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-ready report."""
        return {
            "feasible": self.feasible,
            "message": self.message,
            "mode": self.mode,
            "objective": None if self.objective is None else f"{self.sense} {self.objective}",
            "optimum": self.optimum,
            "units": dict(zip(self.parameters, self.units, strict=True)),
            "bounds": {p: list(b) for p, b in zip(self.parameters, self.bounds, strict=True)},
            "at_bounds": self.at_bounds,
            "binding": self.binding,
            "search_cell_size_mm": self.search_cell_mm,
            "status": self.status,
            "predicted": to_jsonable(self.predicted),
            "targets": [
                {
                    "key": t.key,
                    "value": t.value,
                    "tol": t.tol,
                    "predicted": to_jsonable(self.predicted.get(t.key)),
                    "met": t.met(self.predicted.get(t.key, math.nan)),
                }
                for t in self.targets
            ],
            "sensitivity": self.sensitivity,
            "transient_check": self.check,
            "evaluations": self.evaluations,
            "wall_clock_s": self.wall_clock_s,
        }


@dataclass(frozen=True)
class _Space:
    """The searched parameters and their ranges."""

    keys: list[Key]
    bounds: list[tuple[float, float]]

    @property
    def paths(self) -> list[str]:
        return [k.path for k in self.keys]


@dataclass(frozen=True)
class _Goal:
    """What to maximise or minimise: a varied parameter (its index) or a metric."""

    name: str
    sense: str  # "maximize" or "minimize"
    param: int | None = None
    metric: str | None = None

    @property
    def sign(self) -> float:
        """+1 when maximising, -1 when minimising."""
        return 1.0 if self.sense == "maximize" else -1.0


class _Done(Exception):
    def __init__(self, u: np.ndarray) -> None:
        self.u = np.array(u, float)


class _Count:
    """Solves done by every model of one search (the progress bar counts them all), and the budget."""

    def __init__(self, progress: ProgressFn | None, budget: int) -> None:
        self.progress, self.budget, self.done = progress, budget, 0

    def add(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, max(self.budget, self.done), None)


class _Model:
    """The model as a function of normalised parameters u ∈ [0, 1]^d, with a cache.

    ``estimate`` replaces the solves by an instant estimate (the corrected 1D
    theory of :class:`_Correction`); ``band`` is the fraction of each
    tolerance a point must lie within to count as meeting the targets.
    """

    def __init__(
        self, cfg: ProcessConfig, space: _Space, mode: str, targets: Sequence[Target], min_gap: float,
        j_limit: float | None, *, estimate: Callable[[ProcessConfig], Evaluation] | None = None,
        band: float = 1.0, count: _Count | None = None,
    ) -> None:  # fmt: skip
        self.cfg, self.space = cfg, space
        self.keys, self.mode, self.targets = list(space.keys), mode, list(targets)
        self.lo = np.array([b[0] for b in space.bounds])
        self.hi = np.array([b[1] for b in space.bounds])
        self.min_gap, self.j_limit = min_gap, j_limit
        self.cache: dict[tuple[float, ...], Evaluation] = {}
        self.estimated_range: dict[str, tuple[float, float]] = {}
        self.estimate, self.band = estimate, band
        self.count = count or _Count(None, 0)

    def estimator(self, correction: _Correction | None, band: float) -> _Model:
        """The same search on the 1D estimate corrected by ``correction`` (no solves)."""

        def estimate(cfg: ProcessConfig) -> Evaluation:
            m = surrogate_metrics(cfg)
            return Evaluation("equilibrium", "", correction.apply(m) if correction else m)

        return _Model(self.cfg, self.space, self.mode, self.targets, self.min_gap, self.j_limit,
                      estimate=estimate, band=band)  # fmt: skip

    def x(self, u: np.ndarray) -> np.ndarray:
        x = self.lo + np.clip(u, 0.0, 1.0) * (self.hi - self.lo)
        return np.array([round(v) if k.kind == "int" else v for k, v in zip(self.keys, x, strict=True)])

    def u(self, x: Sequence[float] | np.ndarray) -> np.ndarray:
        """The normalised point of parameters ``x`` (a key of the cache)."""
        return (np.asarray(x, float) - self.lo) / (self.hi - self.lo)

    def variant(self, u: np.ndarray) -> ProcessConfig:
        """The config at ``u``, validated."""
        return self.cfg.replace(key_changes(self.keys, self.x(u)))

    def __call__(self, u: np.ndarray) -> Evaluation:
        key = tuple(np.round(self.x(u), 10))
        if key not in self.cache:
            try:
                cfg = self.variant(u)
            except ConfigError as exc:
                self.cache[key] = Evaluation("invalid", str(exc), {})
            else:
                if self.estimate is not None:
                    self.cache[key] = self.estimate(cfg)
                else:
                    self.cache[key] = evaluate_config(cfg, self.mode)
                    self.count.add()
        return self.cache[key]

    def meets(self, m: Metrics) -> bool:
        """Every target within ``band`` × its tolerance."""
        return all(abs(m.get(t.key, math.nan) - t.value) <= self.band * t.tol for t in self.targets)

    def surrogate(self, u: np.ndarray) -> Evaluation:
        """The 1D-theory estimate at ``u`` (no solve; not cached)."""
        try:
            return Evaluation("equilibrium", "", surrogate_metrics(self.variant(u)))
        except ConfigError as exc:
            return Evaluation("invalid", str(exc), {})

    def feasible(self, u: np.ndarray) -> bool:
        status, _, m = self(u)
        return status in USABLE_STATUSES and self.meets(m) and self.safe(m)

    def safe(self, m: Metrics) -> bool:
        gap = m.get("frontal_gap_mm", math.nan)
        j = m.get("max_current_density_A_per_cm2", math.nan)
        if not (math.isfinite(gap) and gap >= self.min_gap):
            return False
        return self.j_limit is None or (math.isfinite(j) and j <= self.j_limit)

    def residuals(self, u: np.ndarray, fast: bool = False) -> np.ndarray:
        status, _, m = self.surrogate(u) if fast else self(u)
        if status not in USABLE_STATUSES:
            return np.full(len(self.targets), 1e3)
        r = [(m.get(t.key, math.nan) - t.value) / t.tol for t in self.targets]
        return np.array([v if math.isfinite(v) else 1e3 for v in r])

    def misfit(self, x: Sequence[float] | np.ndarray) -> float:
        """Sum of squared residuals at the cached parameters ``x``."""
        return float(np.sum(self.residuals(self.u(x)) ** 2))

    def constraints(self, u: np.ndarray) -> np.ndarray:
        status, _, m = self(u)
        n = len(self.targets) + 2
        if status not in USABLE_STATUSES:
            return np.full(n, -1.0)
        c = [1.0 - abs(m.get(t.key, math.nan) - t.value) / (MARGIN * self.band * t.tol) for t in self.targets]
        gap = m.get("frontal_gap_mm", math.nan)
        c.append((gap - self.min_gap) / max(self.min_gap, 1e-6))
        j = m.get("max_current_density_A_per_cm2", math.nan)
        c.append(1.0 if self.j_limit is None else (self.j_limit - j) / self.j_limit)
        return np.array([v if math.isfinite(v) else -1.0 for v in c])


def tune(
    config: ConfigLike, targets: Sequence[str | Target], *, vary: Sequence[str] = (), maximize: str | None = None,
    minimize: str | None = None, mode: str = "auto", overrides: Sequence[str] = (), min_gap_mm: float | None = None,
    max_current_density: float | None = None, check: bool = True, max_evaluations: int = 80,
    progress: ProgressFn | None = None,
) -> TuneResult:  # fmt: skip
    """Find parameters that meet the targets (and optimise an objective).

    Parameters
    ----------
    config
        Config path, ``example:NAME`` or :class:`~ecmsim.config.ProcessConfig`.
    targets
        ``metric=value:tol`` strings or :class:`Target`.
    vary
        ``table.key=lo:hi`` search ranges (default: voltage 5–15 V, feed 0.5–3 mm/min).
    maximize, minimize
        A varied parameter (``feed_rate``, ``motion.feed_rate_mm_per_min``) or a metric (``machining_time_s``).
    mode
        ``auto`` (equilibrium when every target is available from it), ``equilibrium`` or ``transient``.
    overrides
        ``table.key=value`` strings applied to a config read from a file.
    min_gap_mm
        Smallest acceptable frontal gap (default: the config's short-circuit gap, half a cell).
    max_current_density
        Current-density limit in A/cm² (default: the config's ``max_current_density_A_per_cm2``).
    check
        After an equilibrium search, drill the hole in time at the optimum as a check.
    max_evaluations
        Budget of model evaluations of the search (the sensitivities and the check come on top).
    progress
        Called as ``progress(done, at_most, None)`` after every model evaluation;
        ``at_most`` is the budget of the whole search, which usually stops earlier.

    Returns
    -------
    TuneResult
        ``feasible`` False when no evaluated point met every target and constraint
        (the result then describes the closest point).
    """
    t0 = time.perf_counter()
    cfg = load(config, overrides)
    tgts = [t if isinstance(t, Target) else parse_target(t) for t in targets]
    if not tgts:
        raise ConfigError("give at least one --target metric=value:tol, e.g. entry_diameter_mm=0.90:0.02")
    if maximize and minimize:
        raise ConfigError("give --maximize or --minimize, not both")
    space = _search_space(cfg, vary)
    goal = _goal(maximize or minimize, "maximize" if maximize else "minimize", space)
    mode = choose_mode(cfg, mode, [t.key for t in tgts] + ([goal.metric] if goal and goal.metric else []))
    limits = _limits(cfg, min_gap_mm, max_current_density)
    count = _Count(progress, MAP_ITERATIONS + CONFIRM_ITERATIONS + 2 * len(space.keys) + (1 if check else 0))
    model = _Model(cfg, space, mode, tgts, *limits, count=count)
    search_cfg = _search_config(cfg)
    search = model if search_cfg is None else _Model(search_cfg, space, mode, tgts, *limits, count=count)
    start, surrogate_best = _start(model, goal)
    search.estimated_range = model.estimated_range
    # The search: the corrected 1D estimate points the way, solves on the coarser grid correct it.
    reachable = _space_map(search, goal, start, None, MAP_ITERATIONS)
    if reachable and not any(search.feasible(search.u(k)) for k in search.cache):
        # The estimate says the targets are within reach but its solves disagree: search with the solves.
        _meet_targets(search, start, surrogate_best, goal, max_evaluations)
        if goal is not None:
            _optimise(search, goal, max_evaluations)
    u_search = _best_point(search, goal)
    if search is not model:
        # Confirm on the config's grid; where the grids disagree, correct the estimate by the fine solve.
        status, _, m = model(u_search)
        if status in USABLE_STATUSES and not model.feasible(u_search) and reachable:
            corr = _Correction.at(m, model.surrogate(u_search).metrics, cfg.tool.outer_diameter_mm)
            _space_map(model, goal, np.clip(u_search, DIFF_STEP, 1 - DIFF_STEP), corr, CONFIRM_ITERATIONS)
    u_best = _best_point(model, goal)
    result = _result(model, search, space, u_best, goal, check)
    if not result.feasible:
        result.binding = _what_binds(model, u_best)
        if result.binding:
            result.message += "; " + "; ".join(result.binding)
    result.evaluations = count.done
    result.wall_clock_s = time.perf_counter() - t0
    return result


def _search_config(cfg: ProcessConfig) -> ProcessConfig | None:
    """The config on cells SEARCH_COARSENING times coarser, where the search solves; None: not valid there."""
    h = cfg.numerics.cell_size_mm * SEARCH_COARSENING
    try:
        return cfg.replace({"numerics.cell_size_mm": h})
    except ConfigError:  # the tube wall or the gap is not resolved on the coarser grid
        return None


@dataclass(frozen=True)
class _Correction:
    """Output space mapping: the 1D estimate scaled to agree with one solve.

    Overcuts (a diameter minus the tool's) and other positive metrics are
    scaled by the ratio solve/estimate, the rest (taper) shifted by the difference.
    """

    tool_mm: float
    factors: dict[str, tuple[str, float]]

    @classmethod
    def at(cls, solved: Metrics, estimate: Metrics, tool_mm: float) -> _Correction:
        factors: dict[str, tuple[str, float]] = {}
        for name, y in solved.items():
            e = estimate.get(name, math.nan)
            if name in ("wall_clock_s", "depth_mm") or not (math.isfinite(y) and math.isfinite(e)):
                continue
            base = tool_mm if name in _OVERCUT_METRICS else 0.0
            if name != "taper_deg" and y - base > 0 and e - base > 0:
                factors[name] = ("ratio", (y - base) / (e - base))
            else:
                factors[name] = ("shift", y - e)
        return cls(tool_mm, factors)

    def apply(self, estimate: Metrics) -> Metrics:
        out = dict(estimate)
        for name, (kind, f) in self.factors.items():
            e = estimate.get(name, math.nan)
            base = self.tool_mm if name in _OVERCUT_METRICS else 0.0
            out[name] = base + (e - base) * f if kind == "ratio" else e + f
        return out


_OVERCUT_METRICS = ("diameter_mm", "entry_diameter_mm", "exit_diameter_mm", "min_diameter_mm", "max_diameter_mm")


def _estimate_optimum(est: _Model, goal: _Goal | None, start: np.ndarray) -> np.ndarray:
    """The best point of the corrected estimate (no solves): least squares, then the objective."""
    _meet_targets(est, start, start, goal, ESTIMATE_EVALUATIONS)
    if goal is not None:
        _optimise(est, goal, ESTIMATE_EVALUATIONS)
    return _best_point(est, goal)


def _space_map(model: _Model, goal: _Goal | None, start: np.ndarray, corr: _Correction | None, iterations: int) -> bool:
    """Solve where the corrected estimate puts the optimum, correct it there, until the solves agree.

    Returns whether the estimate itself could meet the targets (else the
    targets are out of reach within the ranges and the search stops at once).
    """
    tool = model.cfg.tool.outer_diameter_mm
    reachable = True
    solved: list[np.ndarray] = []
    for _ in range(iterations):
        est = model.estimator(corr, MAP_BAND)
        u = _estimate_optimum(est, goal, start)
        reachable = est.feasible(u)
        if any(np.max(np.abs(u - v)) < MAP_STEP for v in solved):
            break  # the estimate, corrected at the last solve, stays there: converged
        status, _, m = model(u)
        solved.append(u)
        if status not in USABLE_STATUSES or not reachable or (goal is None and model.feasible(u)):
            break
        corr = _Correction.at(m, model.surrogate(u).metrics, tool)
        start = np.clip(u, DIFF_STEP, 1 - DIFF_STEP)
    return reachable


def _what_binds(model: _Model, u_best: np.ndarray) -> list[str]:
    """Why the targets are out of reach: the corrected estimate on ranges widened by their width and by 4x.

    Says whether they are met outside the ranges (where), only with a frontal
    gap below the minimum or a current density above the limit, or not at all.
    """
    status, _, m = model(u_best)
    if status not in USABLE_STATUSES:
        return []
    corr = _Correction.at(m, model.surrogate(u_best).metrics, model.cfg.tool.outer_diameter_mm)
    # Each range widened by its width on both sides, and by a factor of 4 (values near a limit such as
    # the overpotential matter): a product grid for one or two parameters, else a Latin hypercube.
    axes = [np.unique(np.concatenate([np.linspace(lo - (hi - lo), hi + (hi - lo), 11),
                                      np.geomspace(lo / 4, hi * 4, 11) if lo > 0 else []]))
            for lo, hi in zip(model.lo, model.hi, strict=True)]  # fmt: skip
    if len(axes) <= 2:
        grid = np.meshgrid(*axes, indexing="ij")
        xs = np.stack([g.ravel() for g in grid], axis=1)
    else:
        from scipy.stats import qmc

        unit = qmc.LatinHypercube(d=len(axes), seed=np.random.default_rng(0)).random(400)
        xs = np.stack([np.quantile(a, unit[:, j]) for j, a in enumerate(axes)], axis=1)
    width = model.hi - model.lo
    meet, safe = [], []
    for x in xs:
        w = (x - model.lo) / width
        try:
            cfg = model.cfg.replace(key_changes(model.keys, x))
        except ConfigError:
            continue
        est = corr.apply(surrogate_metrics(cfg))
        if model.meets(est):
            meet.append((float(np.sum(np.clip(np.abs(w - 0.5) - 0.5, 0, None) ** 2)), x, est))
            if model.safe(est):
                safe.append(meet[-1])
    where = "by the 1D estimate corrected by the solve at the nearest point, on widened ranges"
    if safe:
        _, x, _ = min(safe, key=lambda t: t[0])
        at = ", ".join(f"{k.path} ≈ {v:.3g} {k.unit}" for k, v in zip(model.keys, x, strict=True))
        return [f"the search ranges bind: the targets are met outside them, nearest at {at} ({where})"]
    if meet:
        _, x, est = min(meet, key=lambda t: t[0])
        gap = est.get("frontal_gap_mm", math.nan)
        j = est.get("max_current_density_A_per_cm2", math.nan)
        why = []
        if not (math.isfinite(gap) and gap >= model.min_gap):
            why.append(f"a frontal gap of {gap:.3g} mm, below the minimum {model.min_gap:g} mm (short-circuit risk; "
                       "--min-gap)")  # fmt: skip
        if model.j_limit is not None and not (math.isfinite(j) and j <= model.j_limit):
            why.append(f"a current density of {j:.4g} A/cm², above the limit {model.j_limit:g} A/cm²")
        return ["the constraints bind: the targets need " + " and ".join(why) + f" ({where})"]
    return [f"the targets are out of reach of this tool and process even on widened ranges ({where})"]


def require_feasible(result: TuneResult) -> None:
    """Raise :class:`TargetNotReachedError` (exit code 1) when the search failed."""
    if not result.feasible:
        raise TargetNotReachedError(result.message)


# --------------------------------------------------------------------------- the inputs
def _search_space(cfg: ProcessConfig, vary: Sequence[str]) -> _Space:
    """The ``--vary`` ranges, or the default STEM window (voltage kept above the overpotential)."""
    ranges = [parse_range(v) for v in vary]
    if not ranges:
        for path, (lo, hi) in DEFAULT_RANGES.items():
            if path == "electrical.voltage_V":
                lo = max(lo, cfg.electrical.overpotential_V + 0.5)
            ranges.append((resolve_key(path), lo, hi))
    paths = [k.path for k, _, _ in ranges]
    if len(set(paths)) != len(paths):
        raise ConfigError(f"--vary: a parameter is given twice ({', '.join(paths)})")
    return _Space([k for k, _, _ in ranges], [(lo, hi) for _, lo, hi in ranges])


def _goal(name: str | None, sense: str, space: _Space) -> _Goal | None:
    """The objective of ``--maximize``/``--minimize NAME``: a metric or a varied parameter."""
    if not name:
        return None
    names = metric_names()
    if name in names:
        return _Goal(name, sense, metric=name)
    try:
        key = resolve_key(name, f"--{sense}")
    except ConfigError:
        raise ConfigError(f"--{sense} {name!r} is neither a metric ({', '.join(names)}) nor a config key") from None
    if key.path not in space.paths:
        raise ConfigError(f"--{sense} {name!r}: {key.path} is not varied (add --vary {key.path}=lo:hi)")
    return _Goal(name, sense, param=space.paths.index(key.path))


def _limits(
    cfg: ProcessConfig, min_gap_mm: float | None, max_current_density: float | None
) -> tuple[float, float | None]:
    """The smallest acceptable frontal gap (mm) and the current-density limit (A/cm², None: none)."""
    h = cfg.numerics.cell_size_mm
    min_gap = min_gap_mm if min_gap_mm is not None else (cfg.numerics.short_circuit_gap_mm or 0.5 * h)
    j_limit = max_current_density if max_current_density is not None else cfg.electrical.max_current_density_A_per_cm2
    return min_gap, j_limit


# --------------------------------------------------------------------------- the four steps
def _start(model: _Model, goal: _Goal | None) -> tuple[np.ndarray, np.ndarray]:
    """Step 1: the 1D theory on a dense design (no solves); (start kept off the edge, the surrogate's best)."""
    d = len(model.keys)
    if d <= 3:
        n1 = {1: 41, 2: 15, 3: 7}[d]
        grid = np.meshgrid(*[np.linspace(0.0, 1.0, n1)] * d, indexing="ij")
        starts = np.stack([g.ravel() for g in grid], axis=1)
    else:
        from scipy.stats import qmc

        starts = qmc.LatinHypercube(d=d, seed=np.random.default_rng(0)).random(500)
    est = [model.surrogate(u) for u in starts]
    miss = np.array([
        float(np.sum(np.minimum(model.residuals(u, fast=True), 1e3) ** 2)) for u in starts
    ])  # fmt: skip
    best = starts[int(np.argmin(miss))]
    for t in model.targets:
        vals = [m.get(t.key, math.nan) for st, _, m in est if st in USABLE_STATUSES]
        vals = [v for v in vals if math.isfinite(v)]
        if vals:
            model.estimated_range[t.key] = (min(vals), max(vals))
    if goal is not None:
        ok_start = [
            i for i, (st, _, m) in enumerate(est)
            if st in USABLE_STATUSES and miss[i] <= 0.25 * len(model.targets) and model.safe(m)
        ]  # fmt: skip
        if ok_start:

            def est_goal(i: int) -> float:
                if goal.param is not None:
                    return float(starts[i][goal.param])
                v = est[i][2].get(goal.metric or "", math.nan)
                return v if math.isfinite(v) else -math.inf * goal.sign

            best = starts[max(ok_start, key=lambda i: goal.sign * est_goal(i))]
    # Keep off the edge so that finite differences have room on both sides.
    return np.clip(best, DIFF_STEP, 1 - DIFF_STEP), best


def _meet_targets(
    model: _Model, start: np.ndarray, surrogate_best: np.ndarray, goal: _Goal | None, max_evaluations: int
) -> None:
    """Step 2: least squares on the residuals (y − target)/tol with the model itself, from ``start``."""
    from scipy.optimize import least_squares

    d = len(model.keys)
    # Stop as soon as a point is well inside every band: polishing further only chases grid jitter.
    stop_at = 0.5 if goal else 0.25

    def residuals(u: np.ndarray) -> np.ndarray:
        r = model.residuals(u)
        if np.all(np.abs(r) <= stop_at) and model.feasible(u):
            raise _Done(u)
        return r

    try:
        ls = least_squares(
            residuals, start, bounds=(np.zeros(d), np.ones(d)), diff_step=DIFF_STEP, xtol=1e-3, ftol=1e-3,
            max_nfev=max(3, max_evaluations // (2 * (d + 1))),
        )  # fmt: skip
        u_fit = np.clip(ls.x, 0, 1)
    except _Done as done:
        u_fit = np.clip(done.u, 0, 1)
    if not model.feasible(u_fit) and not np.array_equal(surrogate_best, start):
        # Targets out of reach from inside the box: the surrogate's best lies on its edge,
        # where the clipped least-squares start (and a fit stopped by its tolerances) may
        # never arrive.  One evaluation there tells whether widening a range would help.
        model(surrogate_best)


def _optimise(model: _Model, goal: _Goal, max_evaluations: int) -> None:
    """Step 3: the objective by COBYQA from the best feasible point, the targets as constraints."""
    from scipy.optimize import minimize as sp_minimize

    feasible_pts = [np.array(k) for k in model.cache if model.feasible(model.u(k))]
    if not feasible_pts:
        return
    d = len(model.keys)
    sign = -goal.sign

    def objective(u: np.ndarray) -> float:
        if goal.param is not None:
            return sign * float(np.clip(u[goal.param], 0, 1))
        _, _, m = model(u)
        v = m.get(goal.metric or "", math.nan)
        return sign * v if math.isfinite(v) else 1e6

    start = model.u(max(feasible_pts, key=lambda x: -objective(model.u(x))))
    left = max(10, max_evaluations - len(model.cache))
    constraints = [{"type": "ineq", "fun": model.constraints}]
    try:
        sp_minimize(
            objective, start, method="COBYQA", bounds=[(0.0, 1.0)] * d, constraints=constraints,
            options={"maxfev": left, "initial_tr_radius": 0.1, "final_tr_radius": 0.01},
        )  # fmt: skip
    except ValueError:  # older SciPy without COBYQA
        sp_minimize(
            objective, start, method="COBYLA", constraints=constraints,
            options={"maxiter": left, "rhobeg": 0.1, "tol": 0.01},
        )  # fmt: skip


def _best_point(model: _Model, goal: _Goal | None) -> np.ndarray:
    """Step 4: the best feasible point evaluated (never an unchecked optimiser end point), else the closest."""
    evaluated = [np.array(k) for k in model.cache]
    feas = [x for x in evaluated if model.feasible(model.u(x))]
    if not feas:
        return model.u(min(evaluated, key=model.misfit))
    if goal is None:
        return model.u(min(feas, key=model.misfit))

    def score(x: np.ndarray) -> float:
        u = model.u(x)
        if goal.param is not None:
            return float(u[goal.param])
        return model(u)[2].get(goal.metric or "", math.nan)

    return model.u(max(feas, key=score) if goal.sense == "maximize" else min(feas, key=score))


# --------------------------------------------------------------------------- the result
def _result(
    model: _Model, search: _Model, space: _Space, u_best: np.ndarray, goal: _Goal | None, check: bool
) -> TuneResult:
    """The result at ``u_best``; when feasible, with sensitivities (on the search grid), the tuned config and the
    transient check."""
    status, message, metrics = model(u_best)
    x_best = model.x(u_best)
    ok = model.feasible(u_best)
    edge = 0.02  # within 2 % of the range counts as the edge
    at_bounds = [
        k.path + (" (lower)" if u <= edge else " (upper)")
        for k, u in zip(space.keys, u_best, strict=True)
        if u <= edge or u >= 1 - edge
    ]
    result = TuneResult(
        feasible=ok, mode=model.mode, parameters=space.paths, units=[k.unit for k in space.keys],
        bounds=space.bounds, optimum={p: float(v) for p, v in zip(space.paths, x_best, strict=True)},
        predicted=metrics, status=status, targets=model.targets, objective=goal.name if goal else None,
        sense=goal.sense if goal else None, at_bounds=at_bounds,
        search_cell_mm=search.cfg.numerics.cell_size_mm,
    )  # fmt: skip
    result.message = _explain(result, model, message)
    if ok:
        reported = [t.key for t in model.targets] + ([goal.metric] if goal and goal.metric else [])
        reported += ["diameter_mm", "frontal_gap_mm", "machining_time_s"]
        result.sensitivity = _sensitivity(search, u_best, list(dict.fromkeys(reported)))
        result.config_doc = model.cfg.changed_document(key_changes(space.keys, x_best))
        if check and model.mode == "equilibrium":
            result.check = _transient_check(model, u_best)
    return result


def _explain(r: TuneResult, model: _Model, run_message: str) -> str:
    where = ", ".join(f"{p} = {v:.4g}" for p, v in r.optimum.items())
    if r.feasible:
        return f"targets met at {where}"
    parts = []
    if r.status not in USABLE_STATUSES:
        parts.append(f"the closest run ended as {r.status}" + (f" ({run_message})" if run_message else ""))
    for t in r.targets:
        y = r.predicted.get(t.key, math.nan)
        if not t.met(y):
            got = "not available" if not math.isfinite(y) else f"{y:.4g}"
            rng = model.estimated_range.get(t.key)
            est = f"; the 1D estimate over the ranges spans {rng[0]:.4g} to {rng[1]:.4g}" if rng else ""
            parts.append(f"{t.key} = {got} (target {t.value:g} ± {t.tol:g}{est})")
    gap = r.predicted.get("frontal_gap_mm", math.nan)
    if math.isfinite(gap) and gap < model.min_gap:
        parts.append(f"frontal gap {gap:.4g} mm below the minimum {model.min_gap:g} mm (short-circuit risk)")
    j = r.predicted.get("max_current_density_A_per_cm2", math.nan)
    if model.j_limit is not None and math.isfinite(j) and j > model.j_limit:
        parts.append(f"current density {j:.4g} A/cm² above the limit {model.j_limit:g} A/cm²")
    bounds = f"; at the edge of the search range: {', '.join(r.at_bounds)} (widen --vary)" if r.at_bounds else ""
    return (
        f"no parameters within the search ranges meet the targets: best found at {where}: " + "; ".join(parts) + bounds
    )


def _sensitivity(model: _Model, u: np.ndarray, metrics: Sequence[str]) -> list[Sensitivity]:
    """d(metric)/d(parameter) at ``u`` by central differences over 5 % of each range."""
    out = []
    tol = {t.key: t.tol for t in model.targets}
    for j, key in enumerate(model.keys):
        up, dn = u.copy(), u.copy()
        up[j] = min(1.0, u[j] + DIFF_STEP)
        dn[j] = max(0.0, u[j] - DIFF_STEP)
        xu, xd = model.x(up)[j], model.x(dn)[j]
        su, _, mu = model(up)
        sd, _, md = model(dn)
        derivs: dict[str, float | None] = {}
        spans: dict[str, float | None] = {}
        for name in metrics:
            a, b = mu.get(name, math.nan), md.get(name, math.nan)
            usable = su in USABLE_STATUSES and sd in USABLE_STATUSES and xu != xd
            if not (usable and math.isfinite(a) and math.isfinite(b)):
                derivs[name] = None
                continue
            g = (a - b) / (xu - xd)
            derivs[name] = g
            if name in tol:
                spans[name] = tol[name] / abs(g) if g != 0 else None
        step = float(xu - xd) / 2
        out.append(Sensitivity(parameter=key.path, unit=key.unit, step=step, derivative=derivs, tolerance_span=spans))
    return out


def _transient_check(model: _Model, u: np.ndarray) -> TransientCheck:
    """Drill the hole in time at the optimum: does the transient run agree?"""
    status, message, m = evaluate_config(model.variant(u), "transient")
    model.count.add()
    return TransientCheck(
        status=status,
        message=message,
        metrics=to_jsonable(m),
        targets_met={t.key: t.met(m.get(t.key, math.nan)) for t in model.targets},
    )
