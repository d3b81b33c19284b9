"""Equilibrium hole shape: the steady shape seen from a tool feeding at constant rate.

Under constant parameters the hole, seen from the tool, stops changing: every
point of the dissolving surface recedes at v_n = f n_z (the feed's component
along the surface normal).  :func:`solve_equilibrium` finds that shape in one
of two ways:

* ``direct`` (default): the steady condition η(j) ω d j_n = f n_z is solved on
  the surface itself, on a window fixed to the tool
  (:mod:`ecmsim.equilibrium_direct`): a Newton step of the local gap under the
  tool, the wall integrated up from where the surface turns steeper than 45°,
  started from the analytic shape and relaxed by Aitken's method; it stops when
  the largest move of the surface in an update (the residual reported) is below
  the tolerance.
* ``march``: a free-boundary iteration in pseudo-time: the same kernels as the
  transient run, on a window that follows the tool, started from the analytic
  shape (frontal gap h_e under the tool face, side gap sqrt(h_e² + 2 h_e y)
  beside the bare tip, verification.md cases 2 and 5) and stepped until the
  frontal and side gaps stop moving, and until the wall at the reference
  distance y_ref = bare tip + 3 h_e behind the tool face has been cut during
  the iteration.  On coarse grids the iteration settles on a limit cycle
  instead (the gaps oscillate by a few µm with a period of several h_e of
  travel); the mean over the last half of the travel is then reported, with its
  spread.  Its cost grows with the gap (the travel needed is the bare tip plus
  a few h_e).

Both read the side gap at y_ref; the finished wall further up keeps
growing slowly from the stray current through the coating gap (about 2 µm,
0.5 %, for the STEM example), which a transient run shows.

A bare tool keeps cutting the side wall forever (verification.md case 4), so
only its frontal region has an equilibrium: it is refused with a clear
message.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ecmsim.config import ProcessConfig
from ecmsim.domain import Domain
from ecmsim.errors import ConfigError, SolverError
from ecmsim.geometry import FloatArray
from ecmsim.history import History
from ecmsim.process import Process, length, resolve
from ecmsim.simulation import SimulationResult
from ecmsim.state import DrillingState
from ecmsim.stepper import Stepper
from ecmsim.units import MM, mm

if TYPE_CHECKING:
    from ecmsim.equilibrium_direct import Curve, ShapeReport


@dataclass
class EquilibriumResult:
    """The equilibrium shape in the frame of the tool (SI units).

    Attributes
    ----------
    frontal_gap : float
        Tool face to hole bottom (axis for a rod, mid-wall for a tube), m.
    side_gap : float
        Wall radius minus the tube's outer radius behind the bare tip, m.
    y, radius : ndarray
        Wall radius (m) against the distance behind the tool face y (m);
        negative y lies below the face.
    converged : bool
        ``direct``: the last update moved the surface by less than max(tolerance,
        0.1 cell) and both gaps stayed within the tolerance over three iterations
        (otherwise the status is ``not_converged`` and the residual says by how much).
        ``march``: the gaps stayed within the tolerance over two relaxation
        lengths of pseudo-travel, or, at the travel limit, they oscillate within a
        quarter of a cell (the limit cycle a grid can settle on).
    frontal_gap_spread, side_gap_spread : float
        0 when the gaps settled within the tolerance; otherwise the gaps are means
        over the last half of the pseudo-travel and these are their max - min there,
        m.
    current : float
        Cell current at the last step of the fine pass, A.
    steps : int
        Pseudo-time steps of both passes (``march``), potential solves (``direct``:
        those of the start on the coarser grid and of the fine solve).
    travel : float
        Pseudo-travel of the tool in the fine pass, m (0 for ``direct``).
    method : str
        ``direct`` (the shape iteration) or ``march`` (pseudo-time).
    iterations : int
        Shape updates of the direct solve on the fine grid (0 for ``march``).
    residual : float
        Largest move of the surface in the last shape update, m (NaN for ``march``).
    flux_residual : float
        Largest |η ω d j_n − f n_z| / f under the tool in the last solve (NaN for ``march``).
    wall_clock_s : float
        Time the solve took, s.
    process : Process
        The resolved process of the fine pass.
    history : History
        The fine pass's per-step histories (:data:`~ecmsim.history.HISTORY_COLUMNS`).
    """

    converged: bool
    frontal_gap: float
    side_gap: float
    current: float
    y: FloatArray
    radius: FloatArray
    steps: int
    travel: float
    wall_clock_s: float
    process: Process
    history: History = field(default_factory=lambda: History({}))
    frontal_gap_spread: float = 0.0
    side_gap_spread: float = 0.0
    method: str = "march"
    iterations: int = 0
    residual: float = math.nan
    flux_residual: float = math.nan

    def summary(self) -> dict[str, Any]:
        """Key results in engineering units, JSON-ready."""
        tool_r = self.process.tool.r_outer
        return {
            "status": "equilibrium" if self.converged else "not_converged",
            "frontal_gap_mm": self.frontal_gap / MM,
            "side_gap_mm": self.side_gap / MM,
            "side_gap_spread_mm": self.side_gap_spread / MM,
            "diameter_mm": 2 * (tool_r + self.side_gap) / MM,
            "current_A": self.current,
            "equilibrium_frontal_gap_1d_mm": self.process.equilibrium_gap / MM,
            "steps": self.steps,
            "pseudo_travel_mm": self.travel / MM,
            "method": self.method,
            "iterations": self.iterations,
            "residual_mm": self.residual / MM if math.isfinite(self.residual) else None,
            "flux_residual": self.flux_residual if math.isfinite(self.flux_residual) else None,
            "wall_clock_s": self.wall_clock_s,
        }


def _reference_depth(domain: Domain) -> float:
    """Distance behind the tool face at which the side gap is read, m."""
    return domain.tool.bare_tip + 3.0 * domain.gap_scale


def _gaps(domain: Domain, state: DrillingState) -> tuple[float, float]:
    """(frontal gap, side gap) of the current state, m."""
    from ecmsim.equilibrium_direct import equilibrium_gaps

    return equilibrium_gaps(domain, state)


def _initial_shape(domain: Domain, z_tip: float) -> FloatArray:
    """Analytic start: the tool body offset by h_e, widened beside the bare tip."""
    h_e = domain.gap_scale
    t = domain.tool
    d_tool = t.signed_distance(domain.grid, z_tip, 0, domain.grid.nz)
    front = h_e - d_tool  # > 0 within h_e of the tool
    y = np.clip(z_tip - domain.zz, 0.0, t.bare_tip)
    r_side = t.r_outer + np.sqrt(h_e**2 + 2.0 * h_e * y)
    side = np.where(domain.zz <= z_tip, r_side - domain.rr, -np.inf)
    return np.ascontiguousarray(np.maximum(front, side))


@dataclass
class _Pass:
    domain: Domain
    state: DrillingState
    converged: bool
    travel: float
    #: (travel, frontal gap, side gap) after every step, m
    marks: FloatArray


def _start_state(domain: Domain, start: _Pass | None) -> DrillingState:
    """The state a pass starts from: the analytic shape, or the previous pass's shape resampled."""
    from ecmsim.kernels import levelset

    z_tip = domain.window_behind + 4 * domain.gap_scale if domain.window_behind else 0.0
    psi = _initial_shape(domain, z_tip) if start is None else _resample(start, domain, z_tip)
    out = np.empty_like(psi)
    levelset.redistance(psi, domain.h, domain.band * 2, 4, out)
    state = DrillingState.start(domain, psi_w=out, z_tip=z_tip, secondary=False)
    state.place_window(domain)
    return state


def _pass(domain: Domain, start: _Pass | None, tol: float, max_travel: float) -> _Pass:
    """One pseudo-time pass on ``domain``: step the shape until its gaps settle (m)."""
    stepper = Stepper(domain)
    state = _start_state(domain, start)
    h_e = domain.gap_scale
    z_start = state.z_tip
    lag = max(h_e, 10 * domain.h)  # compare the gaps over one relaxation length of travel
    marks: list[tuple[float, float, float]] = []
    while True:
        stepper.step(state)
        if state.status is not None:
            raise SolverError(f"equilibrium iteration stopped: {state.message}")
        fg, sg = _gaps(domain, state)
        marks.append((state.z_tip, fg, sg))
        travel = state.z_tip - z_start
        # The side gap is read at y_ref behind the face: only wall cut during this
        # pass (travel beyond y_ref) counts, else the start shape would be read.
        # Settled means both gaps stayed within tol over the last two relaxation
        # lengths: comparing just two instants also passes at the turning points of
        # the limit cycle coarse grids settle on (see _cycle_mean).
        if marks[0][0] <= state.z_tip - 2 * lag and travel > _reference_depth(domain) + h_e:
            recent = [m for m in marks if m[0] >= state.z_tip - 2 * lag]
            fgs = [m[1] for m in recent]
            sgs = [m[2] for m in recent]
            if max(fgs) - min(fgs) < tol and max(sgs) - min(sgs) < tol:
                return _Pass(domain, state, True, travel, _travel_marks(marks, z_start))
        if travel > max_travel:
            return _Pass(domain, state, False, travel, _travel_marks(marks, z_start))


def _travel_marks(marks: list[tuple[float, float, float]], z_start: float) -> FloatArray:
    a = np.array(marks, dtype=float).reshape(-1, 3)
    a[:, 0] -= z_start
    return a


def _cycle_mean(marks: FloatArray, valid_from: float) -> tuple[float, float, float, float]:
    """Travel-weighted mean gaps over the last half of a pass that did not settle.

    On coarse grids the pseudo-time iteration does not settle on a fixed shape but on
    a limit cycle: the gaps oscillate by a few µm with a period of several h_e of
    travel (the front crossing grid cells).  The instantaneous shape where the
    iteration stops is then a random phase of that cycle, which made swept and
    fitted predictions jitter; the mean over the last half of the travel (at least
    one period here, and only wall cut during this pass) is the steady value a
    transient run's finished wall averages to.

    Returns
    -------
    frontal_gap, side_gap, frontal_spread, side_spread : float
        Means and max - min over the averaging span, m.
    """
    travel = marks[:, 0]
    keep = travel >= max(valid_from, 0.5 * travel[-1])
    if keep.sum() < 2:  # too short to average: the last state
        return float(marks[-1, 1]), float(marks[-1, 2]), 0.0, 0.0
    t, fg, sg = travel[keep], marks[keep, 1], marks[keep, 2]
    span = t[-1] - t[0]
    return (
        float(np.trapezoid(fg, t) / span),
        float(np.trapezoid(sg, t) / span),
        float(fg.max() - fg.min()),
        float(sg.max() - sg.min()),
    )


def _resample(src: _Pass, dst: Domain, z_tip: float) -> FloatArray:
    """Level set of the pass ``src`` (tool frame) on the grid of ``dst`` with the tool at ``z_tip``, bilinear."""
    from scipy.interpolate import RegularGridInterpolator

    gs = src.domain.grid
    interp = RegularGridInterpolator(
        (gs.r, gs.z - src.state.z_tip), src.state.psi_w, bounds_error=False, fill_value=None, method="linear"
    )
    pts = np.stack([dst.rr.ravel(), (dst.zz - z_tip).ravel()], axis=1)
    return np.ascontiguousarray(interp(pts).reshape(dst.rr.shape))


#: Ways to find the equilibrium: chosen by the grid, the shape iteration, or pseudo-time marching.
METHODS = ("auto", "direct", "march")
#: ``auto`` takes the direct solve from this many cells per planar gap h_e; on coarser grids its fixed
#: point jitters by up to a tenth of a cell between nearby parameters (±10 µm in diameter at 40 µm
#: cells), where the march's mean over its limit cycle is smooth.
DIRECT_MIN_CELLS_PER_GAP = 8.0


def solve_equilibrium(
    config: ProcessConfig,
    voltage: float | None = None,
    tolerance_mm: float = 2e-4,
    method: str = "auto",
    coarse: bool = True,
) -> EquilibriumResult:
    """Find the equilibrium hole shape for ``config`` (constant voltage and feed).

    Parameters
    ----------
    config
        A validated process config with a coated tool and a feed > 0.
    voltage
        Supply voltage, V (default: the config's ``[electrical] voltage_V``).
    tolerance_mm
        ``direct``: the iteration stops when the largest move of the surface in
        one update is below this, mm (the residual reported).  ``march``: both gaps
        stay within this band over two relaxation lengths (h_e, at least 10 cells)
        of pseudo-travel; a pass that reaches its travel limit first (coarse grids
        settle on a limit cycle of a few µm) reports the mean gaps over the last
        half of its travel, with their spread, and counts as converged if that
        spread is below a quarter of a cell.
    method
        ``auto`` (default): ``direct`` with at least :data:`DIRECT_MIN_CELLS_PER_GAP`
        cells per planar gap h_e, else ``march``.  ``direct``: the shape iteration on
        a window fixed to the tool (:mod:`ecmsim.equilibrium_direct`).  ``march``:
        pseudo-time marching of a transient run in the frame of the tool (slower on
        fine grids and large gaps; the travel grows with the gap).
    coarse
        ``march`` only: start with a pass on a grid twice as coarse, so the fine
        pass converges as soon as it has regenerated the wall up to the reference
        distance.

    Raises
    ------
    ConfigError
        For a bare tool or zero feed (no equilibrium shape exists), or an unknown method.
    SolverError
        When the iteration stops at a fault (short circuit, current limit, gap physics).
    """
    start_clock = time.perf_counter()
    if voltage is not None:
        config = config.replace({"electrical.voltage_V": float(voltage)})
    _check_config(config)
    _check_memory(config)
    if method not in METHODS:
        raise ConfigError(f"equilibrium method {method!r}: use one of {', '.join(METHODS)}", config.source)
    if method == "auto":
        method = auto_method(config)
    if method == "direct":
        return _solve_direct(config, tolerance_mm, start_clock)
    plan = _plan(config, tolerance_mm)
    h = config.numerics.cell_size_mm
    start = None
    steps = 0
    if coarse:
        # The rough pass only gives the fine one its start: settled to a quarter of its
        # cell is enough (its own limit cycle, a few µm, would never meet the fine
        # tolerance and would run it to the travel limit).
        rough_domain = plan.domain(2 * h)
        start = _pass(rough_domain, None, max(2 * plan.tol, 0.25 * rough_domain.h), plan.max_travel)
        steps += start.state.steps
    fine = _pass(plan.domain(h), start, plan.tol, plan.max_travel)
    steps += fine.state.steps
    return _result(fine, steps, time.perf_counter() - start_clock)


def auto_method(config: ProcessConfig) -> str:
    """The method ``auto`` takes for ``config``: ``direct`` or ``march``.

    ``direct`` with at least :data:`DIRECT_MIN_CELLS_PER_GAP` cells per planar gap h_e.
    """
    proc = resolve(config)
    cells = proc.equilibrium_gap / proc.cell_size
    return "direct" if cells >= DIRECT_MIN_CELLS_PER_GAP else "march"


def _check_memory(config: ProcessConfig) -> None:
    """Refuse a grid beyond the memory budget before any pass allocates it."""
    from ecmsim.resources import check_budget, estimate_grid, simulation_hint

    proc = resolve(config)
    check_budget(estimate_grid(proc, "the equilibrium solve"), simulation_hint(proc))


def _solve_direct(config: ProcessConfig, tolerance_mm: float, start_clock: float) -> EquilibriumResult:
    """The shape iteration (:func:`ecmsim.equilibrium_direct.solve_shape`) on a window fixed to the tool.

    The window reaches the domain margin above the reference distance y_ref = bare
    tip + 3 h_e at which the side gap is read (the wall further up does not act on
    the gaps).  Beside and below the hole it keeps only the metal the level set
    needs (:func:`_direct_domain`); should the surface come near the edge of that
    tight domain, the solve restarts on the full one.
    """
    from ecmsim.equilibrium_direct import Cramped

    plan = _direct_plan(config, tolerance_mm)
    start = _coarse_start(plan)
    try:
        domain, state, report, _ = _direct_pass(plan, tight=True, start=start)
    except Cramped:
        domain, state, report, _ = _direct_pass(plan, tight=False, start=start)
    h_e = domain.gap_scale
    # not converged within MAX_ITERATIONS: status not_converged with its residual, as the march reports
    fg, sg = _gaps(domain, state)
    z = domain.grid.z
    rows = (z >= state.z_tip - domain.window_behind) & (z <= state.z_tip + 2 * h_e)
    return EquilibriumResult(
        converged=report.converged,
        frontal_gap=fg,
        side_gap=sg,
        current=report.current,
        y=state.z_tip - z[rows],
        radius=state.wall[rows].copy(),
        steps=report.iterations + (0 if start is None else start[2]),
        travel=0.0,
        wall_clock_s=time.perf_counter() - start_clock,
        process=domain.process,
        history=state.history.history(),
        method="direct",
        iterations=report.iterations,
        residual=report.residual,
        flux_residual=report.flux_residual,
    )


#: Metal the tight direct-solve domain keeps beyond the expected surface: beside the wall, in
#: analytic side gaps √(h_e² + 2 h_e b) (the steady wall lies inside it), and below the face, in h_e.
TIGHT_SIDE_GAPS = 1.25
TIGHT_AHEAD_GAPS = 1.5
#: Cells of metal the tight domain keeps beyond those lengths (the level set's band and its reach).
TIGHT_CELLS = 10


def _direct_plan(config: ProcessConfig, tolerance_mm: float) -> _Plan:
    """The plan of the direct solve: a window from the margin above y_ref + h_e to the tool face."""
    h_e = resolve(config).equilibrium_gap
    behind_mm = config.tool.bare_tip_length_mm + 4 * mm(h_e) + config.numerics.domain_margin_mm
    return replace(_plan(config, tolerance_mm), behind_mm=behind_mm)


#: The direct solve starts from a solve on cells twice as large when those still resolve h_e with this many.
COARSE_START_CELLS_PER_GAP = 8.0


def _coarse_start(plan: _Plan) -> tuple[float, Curve, int] | None:
    """A direct solve on cells twice as large, as a start for the fine one: (its cell, m; shape; potential solves).

    Settled to a quarter of a fine cell (the fine solve takes it from there), itself
    started from a solve on cells twice as large again when those still resolve h_e.
    None when the coarse grid would resolve h_e with fewer than
    :data:`COARSE_START_CELLS_PER_GAP` cells or the coarse solve fails (the fine one
    then starts from the analytic shape).
    """
    cell_mm = plan.config.numerics.cell_size_mm
    h_e = resolve(plan.config).equilibrium_gap
    if h_e / length(2 * cell_mm) < COARSE_START_CELLS_PER_GAP:
        return None
    coarse = replace(
        plan,
        config=plan.config.replace(
            {
                "numerics.cell_size_mm": 2 * cell_mm,
                "motion.initial_gap_mm": max(4 * cell_mm, plan.config.motion.initial_gap_mm),
            }
        ),
        tol=max(plan.tol, length(0.25 * cell_mm)),
    )
    coarser = _coarse_start(coarse)  # and so on, while the grid twice as coarse resolves h_e
    try:
        domain, _, report, curve = _direct_pass(coarse, tight=True, start=coarser)
    except SolverError:
        return None
    solves = report.iterations + (0 if coarser is None else coarser[2])
    return (domain.h, curve, solves) if report.converged else None


def _direct_pass(
    plan: _Plan, tight: bool, start: tuple[float, Curve, int] | None = None
) -> tuple[Domain, DrillingState, ShapeReport, Curve]:
    """One direct solve on the domain of :func:`_direct_domain`.

    Starts from the analytic shape, or from ``start`` (:func:`_coarse_start`: a curve
    on cells of the given size, m).  Returns the domain, the final state, the report and the last update's curve.
    """
    from ecmsim.equilibrium_direct import initial_curve, resample, solve_shape

    domain = _direct_domain(plan, tight)
    z_tip = domain.window_behind + 4 * domain.gap_scale
    j0, _ = domain.window_rows(z_tip)
    z_top = float(domain.grid.z[j0])
    state = DrillingState.start(domain, psi_w=np.zeros_like(domain.rr), z_tip=z_tip)
    curve = initial_curve(domain, z_tip, z_top) if start is None else resample(start[1], start[0], domain.h)
    report, last = solve_shape(domain, state, curve, z_top, plan.tol, tight)
    return domain, state, report, last


def _direct_domain(plan: _Plan, tight: bool) -> Domain:
    """The flooded domain of the direct solve, tool face at window_behind + 4 h_e.

    ``tight``: the grid's radius and the window's length below the tool face reach
    :data:`TIGHT_SIDE_GAPS` analytic side gaps beside the tool and
    :data:`TIGHT_AHEAD_GAPS` h_e below its face, plus :data:`TIGHT_CELLS` cells (the
    potential is fixed in the metal: the nodes further out would only cost time);
    a ``[numerics] domain_radius_mm`` given in the config is kept.  Otherwise the
    transient run's: the expected wall plus the domain margin, 4 h_e and the margin
    below the face.
    """
    config = plan.config
    h_e = resolve(config).equilibrium_gap
    cell_mm = config.numerics.cell_size_mm
    if not tight:
        ahead_mm = 4 * mm(h_e) + max(4 * cell_mm, config.motion.initial_gap_mm) + 0.05
        return plan.domain(cell_mm, depth_mm=plan.behind_mm + ahead_mm)
    t = config.tool
    side_mm = mm(math.sqrt(h_e**2 + 2 * h_e * length(t.bare_tip_length_mm)))
    radius_mm = config.numerics.domain_radius_mm
    if radius_mm is None:
        radius_mm = (
            0.5 * t.outer_diameter_mm + t.coating_thickness_mm + TIGHT_SIDE_GAPS * side_mm + TIGHT_CELLS * cell_mm
        )
    tight_plan = replace(plan, config=config.replace({"numerics.domain_radius_mm": radius_mm}))
    domain = tight_plan.domain(cell_mm, depth_mm=plan.behind_mm + 4 * mm(h_e))
    return replace(domain, window_ahead=TIGHT_AHEAD_GAPS * h_e + TIGHT_CELLS * domain.h)


def _check_config(config: ProcessConfig) -> None:
    """Refuse what has no equilibrium shape: no feed, a bare tool, or a voltage or feed that follows the gap."""
    if config.motion.feed_rate_mm_per_min <= 0:
        raise ConfigError("equilibrium mode needs [motion] feed_rate_mm_per_min > 0", config.source)
    if config.electrical.control != "voltage" or config.motion.feed_control != "constant":
        raise ConfigError(
            'equilibrium mode solves for a constant voltage and feed: it needs [electrical] control = "voltage" '
            'and [motion] feed_control = "constant" (run the transient simulation for current control or a '
            "servo feed)",
            config.source,
        )
    if config.tool.coating_thickness_mm <= 0:
        raise ConfigError(
            "equilibrium mode needs a coated tool: a bare tool keeps cutting the side wall, so the hole "
            "never reaches a steady shape ([tool] coating_thickness_mm = 0)",
            config.source,
        )


@dataclass(frozen=True)
class _Plan:
    """The passes' configs and the iteration's limits.

    A pass is a transient run in config terms (its pseudo-travel is the
    config's depth, its window a fixed length behind the tool), so its
    lengths are set in the config's units, mm; the limits the iteration checks
    are in SI.
    """

    config: ProcessConfig
    behind_mm: float  # window length behind the tool face, mm
    depth_mm: float  # tool travel of a pass, mm
    max_travel: float  # m
    tol: float  # m

    def domain(self, cell_mm: float, depth_mm: float | None = None) -> Domain:
        """The flooded domain of a pass on a grid of ``cell_mm`` cells (``depth_mm``: tool travel, default the plan's).

        Flooded: seen from the tool there is no plate surface above the
        window, so no node is outside the electrolyte.
        """
        cfg = self.config.replace(
            {
                "motion.depth_mm": self.depth_mm if depth_mm is None else depth_mm,
                "motion.initial_gap_mm": max(2 * cell_mm, self.config.motion.initial_gap_mm),
                "numerics.cell_size_mm": cell_mm,
                "numerics.window": "on",
                "numerics.window_behind_mm": self.behind_mm,
                "numerics.cfl": 0.5,
            },
            remove=["workpiece.thickness_mm"],
        )
        return Domain.build(resolve(cfg)).flooded()


def _plan(config: ProcessConfig, tolerance_mm: float) -> _Plan:
    h_e = resolve(config).equilibrium_gap
    b = config.tool.bare_tip_length_mm
    # The window reaches 4 h_e and the domain margin above the reference distance
    # y_ref = b + 3 h_e: physical lengths, the same on the rough and the fine grid.
    behind = b + 7 * mm(h_e) + config.numerics.domain_margin_mm
    max_travel_mm = b + 30 * mm(h_e)
    depth = behind + 4 * mm(h_e) + max_travel_mm + 1.0
    return _Plan(config, behind, depth, max_travel=length(max_travel_mm), tol=length(tolerance_mm))


def _result(fine: _Pass, steps: int, wall_clock_s: float) -> EquilibriumResult:
    """The equilibrium shape from the fine pass: its gaps, or their mean over a limit cycle."""
    domain, state = fine.domain, fine.state
    h_e = domain.gap_scale
    fg, sg = _gaps(domain, state)
    fg_spread = sg_spread = 0.0
    converged = fine.converged
    if not converged:
        fg, sg, fg_spread, sg_spread = _cycle_mean(fine.marks, _reference_depth(domain) + h_e)
        # Settled on a limit cycle smaller than the grid can resolve: that is the
        # steady shape on this grid (its mean is reported, and its spread).
        converged = max(fg_spread, sg_spread) <= 0.25 * domain.h
    z, behind = domain.grid.z, domain.window_behind
    rows = (z >= state.z_tip - behind) & (z <= state.z_tip + 2 * h_e) if behind else z > 0
    history = state.history.history()
    return EquilibriumResult(
        converged=converged,
        frontal_gap=fg,
        side_gap=sg,
        frontal_gap_spread=fg_spread,
        side_gap_spread=sg_spread,
        current=float(history["current"][-1]),
        y=state.z_tip - z[rows],
        radius=state.wall[rows].copy(),
        steps=steps,
        travel=fine.travel,
        wall_clock_s=wall_clock_s,
        process=domain.process,
        history=history,
    )


def transient_gaps(result: SimulationResult) -> tuple[float, float]:
    """(frontal gap, side gap) at the end of a transient :class:`SimulationResult`, m.

    The side gap is read at the same distance behind the tool face as in
    :func:`solve_equilibrium` (bare tip + 3 h_e).
    """
    tip = float(result.tool_depth[-1])
    y_ref = result.tool.bare_tip + 3.0 * result.process.equilibrium_gap
    side = float(np.interp(tip - y_ref, result.grid.z, result.wall_radius)) - result.tool.r_outer
    return float(result.frontal_gap[-1]), side
