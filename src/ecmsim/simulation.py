"""The simulation driver: one hole, drilled in time.

The driver (:class:`Simulation`) owns the time loop: it builds the fixed
:class:`~ecmsim.domain.Domain` from the resolved process, starts a
:class:`~ecmsim.state.DrillingState`, advances it with the
:class:`~ecmsim.stepper.Stepper` (the physics of one step) until the run is
finished, and packages a :class:`SimulationResult`.  The kernels in
:mod:`ecmsim.kernels` own the math.

Everything inside is SI; :meth:`SimulationResult.summary` reports in mm.
"""

from __future__ import annotations

import logging
import math
import time as _time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ecmsim.channel import ZERO_CELSIUS, ChannelProfile
from ecmsim.config import ProcessConfig, config_from_dict, load_config
from ecmsim.domain import Domain
from ecmsim.geometry import ANODE, ELECTROLYTE, OUTSIDE, FloatArray, Grid, Tool, bottom_depth, wall_radius
from ecmsim.history import COLUMNS_BY_NAME, History
from ecmsim.process import Process, resolve
from ecmsim.state import DrillingState, Window
from ecmsim.steady import JumpRecord, SteadyJump
from ecmsim.stepper import Stepper
from ecmsim.units import MM, MM3, MM_PER_MIN

log = logging.getLogger(__name__)

ProgressCallback = Callable[[dict[str, float]], None]

#: Outcomes of a run.
STATUSES = (
    "completed", "broke_through", "short_circuit", "limit_exceeded", "max_steps",
    "boiling", "gas_choking", "flow_starvation", "voltage_limit",
)  # fmt: skip


#: The straight wall under the entry edge is fitted between these multiples of the
#: diameter station depth (``[numerics] diameter_station_mm``).
EDGE_REFERENCE = (2.0, 4.0)
#: Points of the excess integral over the edge (linear interpolation between grid rows).
EDGE_SAMPLES = 2001


@dataclass
class SimulationResult:
    """Prediction of one hole: histories, final geometry, provenance.

    Histories are per time step (shape ``(n_steps,)``), SI units, one per
    column of :data:`~ecmsim.history.HISTORY_COLUMNS`; each is also an
    attribute (``result.current`` is ``result.history["current"]``).  The
    profile is the hole-wall radius in every grid row at the end.
    """

    status: str
    message: str
    process: Process
    grid: Grid
    tool: Tool
    history: History  # per step, the columns of ecmsim.history.HISTORY_COLUMNS
    wall_radius: FloatArray  # m, shape (nz,), NaN where no hole
    snapshot_tool_depth: FloatArray  # m, shape (n_snap,)
    snapshot_wall_radius: FloatArray  # m, shape (n_snap, nz)
    psi_w: FloatArray  # m, final workpiece level set (nr, nz)
    potential: FloatArray  # V, final potential (nr, nz)
    kind: np.ndarray  # int8 (nr, nz), final node classes
    event_time: float | None = None
    event_depth: float | None = None
    breakthrough_time: float | None = None
    wall_clock_s: float = 0.0
    started_at: str = ""
    flow_path: ChannelProfile | None = None  # the last step's profiles along the electrolyte path (secondary)
    steady_jump: JumpRecord | None = None  # the depth range crossed in one jump (ecmsim.steady)

    def __getattr__(self, name: str) -> FloatArray:
        # Only called when normal lookup fails: a history column by name.
        if name in COLUMNS_BY_NAME and "history" in self.__dict__:
            return self.history[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ---- derived quantities -------------------------------------------------
    @property
    def thickness(self) -> float | None:
        """Plate thickness, m (None: a thick block)."""
        return self.process.thickness

    def hole_range(self) -> tuple[float, float]:
        """(top, bottom) depth range of the finished hole wall, m.

        The wall beside the bare tip at the end of the run is still being
        cut, so the range stops a bare-tip length above the final tool face
        (for a coated tool), and at the plate's far face for a through hole.
        """
        tip = float(self.tool_depth[-1]) if self.tool_depth.size else 0.0
        bottom = tip - (self.tool.bare_tip if self.tool.coated else 0.0)
        if self.thickness is not None and self.status == "broke_through":
            bottom = min(tip, self.thickness)
        if bottom < 0.3 * tip:  # short runs: use the whole wall beside the tool
            bottom = tip
        return 0.0, max(bottom, 0.0)

    @property
    def diameter_station(self) -> float:
        """Station depth of the entry and exit diameters, m (``[numerics] diameter_station_mm``)."""
        return self.process.diameter_station

    def entry_diameter(self) -> float | None:
        """Hole diameter at the station depth below the original surface, m.

        Read where a metrologist gauges the entry: ``[numerics] diameter_station_mm``
        (default 0.2 mm) below the surface, below the rounded entry edge, by linear
        interpolation of the wall radius between grid rows, so it does not move with
        the cell size.  A hole shallower than the station gives its diameter half-way
        down the finished wall; None without a hole.
        """
        top, bottom = self.hole_range()
        return self.diameter_at(min(self.diameter_station, 0.5 * (top + bottom)))

    def exit_diameter(self) -> float | None:
        """Diameter of a through hole at the station height above the plate's far face, m (None: blind)."""
        if self.status != "broke_through" or not self.thickness:
            return None
        return self.diameter_at(max(self.thickness - self.diameter_station, 0.5 * self.thickness))

    def entry_edge(self) -> float | None:
        """Radius of the rounded entry edge, m: the circular rounding that removes the same cross-section.

        The straight wall is the least-squares line through the wall radius over
        :data:`EDGE_REFERENCE` station depths (0.4-0.8 mm at the default 0.2 mm
        station), clipped to the finished wall; the edge is what the wall stands
        out beyond that line (excess e(z) >= 0) from the surface down to the
        reference band, integrated over depth, A = ∫ e dz.  A quarter-circle
        rounding of radius R tangent to the surface and the wall removes
        A = (1 - π/4) R² from the sharp corner, so R = sqrt(A / (1 - π/4)): 0 for
        a sharp edge, R for a true circular rounding.  Integrated over many rows it
        does not hang on the top grid row, where the wall meets the edge of the
        flooded film.  None without a hole reaching the reference band's top.
        """
        z, rw = self.grid.z, self.wall_radius
        lo, hi = (k * self.diameter_station for k in EDGE_REFERENCE)
        hi = min(hi, self.hole_range()[1])
        ok = np.isfinite(rw)
        band = ok & (z >= lo - 1e-12) & (z <= hi + 1e-12)
        if band.sum() < 3:
            return None
        slope, offset = np.polyfit(z[band], rw[band], 1)
        depth = np.linspace(0.0, lo, EDGE_SAMPLES)
        excess = np.maximum(np.interp(depth, z[ok], rw[ok]) - (offset + slope * depth), 0.0)
        return float(math.sqrt(np.trapezoid(excess, depth) / (1.0 - math.pi / 4.0)))

    def diameter_at(self, depth: float) -> float | None:
        """Hole diameter at a depth below the original surface, m (None if no hole)."""
        z = self.grid.z
        rw = self.wall_radius
        ok = np.isfinite(rw)
        if not ok.any() or depth < z[ok].min() - 1e-12 or depth > z[ok].max() + 1e-12:
            return None
        return float(2.0 * np.interp(depth, z[ok], rw[ok]))

    def profile(self) -> tuple[FloatArray, FloatArray]:
        """(depth, diameter) of the hole wall over :meth:`hole_range`, m."""
        top, bottom = self.hole_range()
        z = self.grid.z
        sel = (z >= top - 1e-12) & (z <= bottom + 1e-12) & np.isfinite(self.wall_radius)
        return z[sel], 2.0 * self.wall_radius[sel]

    def taper_deg(self) -> float | None:
        """Half-angle taper from a least-squares line through the wall radius, degrees.

        Fitted over the lower 95 % of the hole (the top 5 % holds the
        rounded entry edge); positive when the hole narrows with depth.
        """
        depth, diam = self.profile()
        if depth.size < 3:
            return None
        top, bottom = self.hole_range()
        sel = depth >= top + 0.05 * (bottom - top)
        if sel.sum() < 3:
            return None
        slope = np.polyfit(depth[sel], 0.5 * diam[sel], 1)[0]
        return float(np.degrees(np.arctan(-slope)))

    def summary(self) -> dict[str, Any]:
        """Key results in engineering units (mm, s, C, A), JSON-ready."""
        depth, diam = self.profile()
        top, bottom = self.hole_range()
        sel = depth >= top + 0.05 * (bottom - top)
        hole_depth = self.hole_depth()
        entry = self.entry_diameter()
        exit_d = self.exit_diameter()
        side = float(np.mean(0.5 * diam[sel]) - self.tool.r_outer) if sel.any() else None
        solved = np.ones(self.time.size, dtype=bool)  # history rows of time steps (not of a steady jump)
        jumped = 0
        if self.steady_jump is not None:
            jumped = self.steady_jump.rows
            solved[self.steady_jump.first_row : self.steady_jump.first_row + jumped] = False

        def mm(x: float | None) -> float | None:
            return None if x is None or not math.isfinite(x) else x / MM

        return {
            "status": self.status,
            "message": self.message,
            "depth_mm": mm(hole_depth),
            "tool_depth_mm": mm(float(self.tool_depth[-1])) if self.tool_depth.size else None,
            "entry_diameter_mm": mm(entry),
            "exit_diameter_mm": mm(exit_d),
            "entry_edge_mm": mm(self.entry_edge()),
            "min_diameter_mm": mm(float(diam[sel].min())) if sel.any() else None,
            "max_diameter_mm": mm(float(diam[sel].max())) if sel.any() else None,
            "taper_deg": self.taper_deg(),
            "side_gap_mm": mm(side),
            "frontal_gap_mm": mm(float(self.frontal_gap[-1])) if self.frontal_gap.size else None,
            "machining_time_s": float(self.time[-1]) if self.time.size else 0.0,
            "charge_C": float(self.charge[-1]) if self.charge.size else 0.0,
            "removed_volume_mm3": float(self.removed_volume[-1]) / MM3 if self.removed_volume.size else 0.0,
            "peak_current_A": float(self.current.max()) if self.current.size else 0.0,
            "event_time_s": self.event_time,
            "event_depth_mm": mm(self.event_depth),
            "breakthrough_time_s": self.breakthrough_time,
            "equilibrium_frontal_gap_mm": mm(self.process.equilibrium_gap),
            "steps": int(self.time.size) - jumped,
            "mean_solver_iterations": float(self.solver_iterations[solved].mean()) if solved.any() else 0.0,
            "steady_jump_from_mm": mm(self.steady_jump.from_depth) if self.steady_jump else None,
            "steady_jump_to_mm": mm(self.steady_jump.to_depth) if self.steady_jump else None,
            "solver": self.process.config.numerics.solver,
            "wall_clock_s": self.wall_clock_s,
            **self._secondary_summary(),
            **self._control_summary(),
        }

    def _control_summary(self) -> dict[str, Any]:
        """Time-weighted mean voltage and feed (only in current control or with a servo feed)."""
        h = self.history
        if not self.process.control.active or "voltage" not in h or not h.n_steps:
            return {}
        dt = np.diff(h["time"], prepend=0.0)
        total = float(dt.sum())

        def mean(name: str) -> float:
            return float((h[name] * dt).sum() / total) if total > 0 else float(h[name][-1])

        return {
            "mean_voltage_V": mean("voltage"),
            "mean_feed_rate_mm_per_min": mean("feed_rate") / MM_PER_MIN,
        }

    def _secondary_summary(self) -> dict[str, Any]:
        """The flow, heat and gas keys of the summary (only with ``[physics] secondary = true``)."""
        h = self.history
        if self.process.supply is None or "flow_rate" not in h or not h.n_steps:
            return {}

        def last(name: str, scale: float = 1.0, offset: float = 0.0) -> float | None:
            v = float(h[name][-1])
            return v * scale + offset if math.isfinite(v) else None

        return {
            "flow_rate_l_per_min": last("flow_rate", 6e4),
            "inlet_pressure_MPa": last("inlet_pressure", 1e-6),
            "tip_pressure_MPa": last("tip_pressure", 1e-6),
            "outlet_temperature_C": last("outlet_temperature", offset=-ZERO_CELSIUS),
            "max_temperature_C": float(np.nanmax(h["max_temperature"])) - ZERO_CELSIUS,
            "max_void_fraction": float(np.nanmax(h["max_void_fraction"])),
            "joule_power_W": last("joule_power"),
            "tip_conductivity_S_per_m": last("tip_conductivity"),
        }

    def hole_depth(self) -> float:
        """Deepest point of the hole below the original surface, m."""
        if self.status == "broke_through" and self.thickness is not None:
            return self.thickness
        i_max = min(int(self.tool.r_outer / self.grid.h) + 1, self.grid.nr - 1)
        depths = [bottom_depth(self.grid, self.psi_w, i, 0.0) for i in range(0, i_max + 1)]
        finite = [d for d in depths if math.isfinite(d)]
        return max(finite) if finite else 0.0


class Simulation:
    """The driver of one drilling run: owns the time loop.  Use :func:`simulate` unless stepping by hand.

    Builds the :class:`~ecmsim.domain.Domain` (grid, tool, fixed lengths) once
    from the resolved process, starts a :class:`~ecmsim.state.DrillingState`
    and advances it with a :class:`~ecmsim.stepper.Stepper` until the tool
    reaches depth and dwells, breaks through or faults.

    With ``[numerics] window = "auto"`` and a coated tool, each step solves
    only a window of rows that follows the tool tip: from
    ``window_behind_mm`` above the tool face (where the side wall has long
    stopped dissolving behind the insulating coating) to a few equilibrium
    gaps below it.  A bare tool keeps cutting the whole wall, so it always
    uses the full grid.

    Parameters
    ----------
    process
        The resolved process (SI units).
    domain
        A domain for ``process`` (default :meth:`Domain.build`), e.g. a
        :meth:`Domain.flooded` one.
    state
        The state to start from (default :meth:`DrillingState.start`).

    Raises
    ------
    ResourceError
        When the run needs more memory than the budget
        (:func:`ecmsim.resources.check_simulation`; checked when ``domain`` is not given).
    """

    def __init__(self, process: Process, domain: Domain | None = None, state: DrillingState | None = None) -> None:
        if domain is None:
            from ecmsim.resources import check_simulation

            check_simulation(process)  # before the grid is allocated
        self.process = process
        self.domain = Domain.build(process) if domain is None else domain
        self.stepper = Stepper(self.domain)
        self.state = DrillingState.start(self.domain) if state is None else state
        self.state.place_window(self.domain)
        self.steady = SteadyJump(self.domain)

    # ---- stepping by hand ---------------------------------------------------
    @property
    def grid(self) -> Grid:
        """The grid of the domain."""
        return self.domain.grid

    @property
    def z_tip(self) -> float:
        """Tool face depth below the original surface, m."""
        return self.state.z_tip

    @property
    def win(self) -> Window | None:
        """The window of rows of the last step."""
        return self.state.window

    @property
    def kind(self) -> np.ndarray:
        """Node classes of the current window."""
        win = self.state.window
        assert win is not None
        return win.kind

    @property
    def u(self) -> float:
        """Voltage across the electrolyte, V (the last step's in current control)."""
        return self.stepper.u_eff(self.state)

    def classify(self) -> FloatArray:
        """Place the tool and classify the window's nodes (:meth:`Stepper.classify`)."""
        return self.stepper.classify(self.state)

    def step(self) -> None:
        """Advance the run by one time step."""
        self.stepper.step(self.state)

    def finished(self) -> bool:
        """The run is over (stopped, or at depth and dwelled)."""
        return self.stepper.finished(self.state)

    # ---- the whole run ------------------------------------------------------
    def run(self, progress: ProgressCallback | None = None) -> SimulationResult:
        """Step until the tool reaches depth (and dwells), breaks through or faults."""
        start = _time.perf_counter()
        started_at = _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime())
        state, max_steps = self.state, self.process.config.numerics.max_steps
        while not self.finished():
            if state.steps >= max_steps:
                state.stop("max_steps", f"stopped after [numerics] max_steps = {max_steps} steps")
                break
            self.step()
            self.steady.after_step(state)
            if progress is not None:
                progress(self._progress())
        if state.status is None:
            self._conclude()
        return self.result(_time.perf_counter() - start, started_at)

    def _progress(self) -> dict[str, float]:
        state, total = self.state, self.stepper.run_end(self.state)
        if not math.isfinite(total):  # a servo feed: the fraction of the travel
            travel = self.process.depth - self.domain.z_start
            fraction = (state.z_tip - self.domain.z_start) / travel if travel > 0 else 0.0
        else:
            fraction = min(state.t / total, 1.0) if total > 0 else 1.0
        return {
            "fraction": fraction,
            "depth_mm": state.z_tip / MM,
            "time_s": state.t,
            "current_A": state.history.last("current"),
        }

    def _conclude(self) -> None:
        """Status of a run that ended without a fault."""
        state, thickness = self.state, self.process.thickness
        if thickness is not None and state.breakthrough_time is not None:
            state.status = "broke_through"
            state.message = f"broke through the {thickness / MM:g} mm plate at t = {state.breakthrough_time:.1f} s"
        else:
            state.status = "completed"

    def result(self, wall_clock: float = 0.0, started_at: str = "") -> SimulationResult:
        """Package the current state as a :class:`SimulationResult`."""
        d, state = self.domain, self.state
        g = d.grid
        kind = np.full((g.nr, g.nz), ANODE, dtype=np.int8)
        kind[state.psi_w > 0.0] = ELECTROLYTE
        kind[d.outside] = OUTSIDE
        self.classify()
        win = state.window
        assert win is not None
        kind[:, win.j0 : win.j1] = win.kind
        snaps = state.snapshots
        return SimulationResult(
            status=state.status or "running",
            message=state.message,
            process=self.process,
            grid=g,
            tool=d.tool,
            history=state.history.history(),
            wall_radius=wall_radius(g, state.psi_w, d.tool.r_inner),
            snapshot_tool_depth=np.array(snaps.tool_depth),
            snapshot_wall_radius=(np.array(snaps.wall_radius) if snaps.wall_radius else np.zeros((0, g.nz))),
            psi_w=state.psi_w.copy(),
            potential=state.phi.copy(),
            kind=kind,
            event_time=state.event_time,
            event_depth=state.event_depth,
            breakthrough_time=state.breakthrough_time,
            wall_clock_s=wall_clock,
            started_at=started_at,
            flow_path=state.gap.profile if state.gap is not None else None,
            steady_jump=self.steady.done,
        )


def simulate(
    config: ProcessConfig | str | Path | Mapping[str, Any],
    progress: ProgressCallback | None = None,
    overrides: tuple[str, ...] | list[str] = (),
) -> SimulationResult:
    """Simulate drilling one hole.

    Parameters
    ----------
    config
        A validated :class:`~ecmsim.config.ProcessConfig`, a path to a TOML
        config (or ``"example:NAME"``), or a nested dict as read from TOML.
    progress
        Called after every step with ``fraction``, ``depth_mm``, ``time_s``
        and ``current_A``.
    overrides
        ``table.key=value`` strings applied on top of a path or dict config.

    Returns
    -------
    SimulationResult
    """
    if isinstance(config, ProcessConfig):
        cfg = config
    elif isinstance(config, Mapping):
        cfg = config_from_dict(config, overrides=overrides)
    else:
        cfg = load_config(config, overrides)
    return Simulation(resolve(cfg)).run(progress)
