"""Equilibrium hole shape: the steady shape seen from a tool feeding at constant rate.

Under constant parameters the hole, seen from the tool, stops changing: every
point of the dissolving surface recedes at v_n = f n_z (the feed's component
along the surface normal).  :func:`solve_equilibrium` finds that shape by a
free-boundary iteration in pseudo-time: the same kernels as the transient
run, on a window that follows the tool, started from an analytic shape
(frontal gap h_e under the tool face, side gap sqrt(h_e² + 2 h_e y) beside
the bare tip, verification.md cases 2 and 5) and stepped until the frontal
and side gaps stop moving, and until the wall at the reference distance
y_ref = bare tip + 3 h_e behind the tool face has been cut during the
iteration.  On coarse grids the iteration settles on a limit cycle instead
(the gaps oscillate by a few µm with a period of several h_e of travel); the
mean over the last half of the travel is then reported, with its spread.
The side gap is read at y_ref; the finished wall further up keeps
growing slowly from the stray current through the coating gap (about 2 µm,
0.5 %, for the STEM example), which a transient run shows.

A bare tool keeps cutting the side wall forever (verification.md case 4), so
only its frontal region has an equilibrium: it is refused with a clear
message.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecmsim.config import ProcessConfig
from ecmsim.domain import Domain
from ecmsim.errors import ConfigError, SolverError
from ecmsim.geometry import FloatArray, bottom_depth
from ecmsim.history import History
from ecmsim.process import Process, resolve
from ecmsim.simulation import SimulationResult
from ecmsim.state import DrillingState
from ecmsim.stepper import Stepper
from ecmsim.units import MM


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
        The gaps settled: they stayed within the tolerance over two relaxation
        lengths of pseudo-travel, or, at the travel limit, they oscillate within a
        quarter of a cell (the limit cycle a grid can settle on).
    frontal_gap_spread, side_gap_spread : float
        0 when the gaps settled within the tolerance; otherwise the gaps are means
        over the last half of the pseudo-travel and these are their max - min there,
        m.
    current : float
        Cell current at the last step of the fine pass, A.
    steps : int
        Pseudo-time steps of both passes.
    travel : float
        Pseudo-travel of the tool in the fine pass, m.
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
            "wall_clock_s": self.wall_clock_s,
        }


def _reference_depth(domain: Domain) -> float:
    """Distance behind the tool face at which the side gap is read, m."""
    return domain.tool.bare_tip + 3.0 * domain.gap_scale


def _gaps(domain: Domain, state: DrillingState) -> tuple[float, float]:
    """(frontal gap, side gap) of the current state, m."""
    bottom = bottom_depth(domain.grid, state.psi_w, domain.i_mid, state.z_tip)
    z_ref = state.z_tip - _reference_depth(domain)
    side = float(np.interp(z_ref, domain.grid.z, state.wall)) - domain.tool.r_outer
    return bottom - state.z_tip, side


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


def solve_equilibrium(
    config: ProcessConfig,
    tolerance_mm: float = 2e-4,
    coarse: bool = True,
) -> EquilibriumResult:
    """Find the equilibrium hole shape for ``config`` (constant voltage and feed).

    Parameters
    ----------
    config
        A validated process config with a coated tool and a feed > 0.
    tolerance_mm
        Convergence: both gaps stay within this band over two relaxation
        lengths (h_e, at least 10 cells) of pseudo-travel.  A pass that reaches its
        travel limit first (coarse grids settle on a limit cycle of a few µm)
        reports the mean gaps over the last half of its travel, with their spread,
        and counts as converged if that spread is below a quarter of a cell.
    coarse
        Start with a pass on a grid twice as coarse: the far wall then starts
        close to its equilibrium, so the fine pass converges as soon as it has
        regenerated the wall up to the reference distance.

    Raises
    ------
    ConfigError
        For a bare tool or zero feed (no equilibrium shape exists).
    """
    start_clock = time.perf_counter()
    _check_config(config)
    _check_memory(config)
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


def _check_memory(config: ProcessConfig) -> None:
    """Refuse a grid beyond the memory budget before any pass allocates it."""
    from ecmsim.resources import check_budget, estimate_grid, simulation_hint

    proc = resolve(config)
    check_budget(estimate_grid(proc, "the equilibrium solve"), simulation_hint(proc))


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

    def domain(self, cell_mm: float) -> Domain:
        """The flooded domain of a pass on a grid of ``cell_mm`` cells.

        Flooded: seen from the tool there is no plate surface above the
        window, so no node is outside the electrolyte.
        """
        cfg = self.config.replace(
            {
                "motion.depth_mm": self.depth_mm,
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
    behind = b + 7 * h_e / MM + config.numerics.domain_margin_mm
    max_travel_mm = b + 30 * h_e / MM
    depth = behind + 4 * h_e / MM + max_travel_mm + 1.0
    return _Plan(config, behind, depth, max_travel=max_travel_mm * MM, tol=tolerance_mm * MM)


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
