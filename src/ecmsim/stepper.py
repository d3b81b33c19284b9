"""One time step of a drilling run: :meth:`Stepper.step` advances a :class:`~ecmsim.state.DrillingState`.

The stepper is built once for a :class:`~ecmsim.domain.Domain` and holds no
state of the run; the driver (:class:`~ecmsim.simulation.Simulation`) and the
equilibrium iteration (:mod:`ecmsim.equilibrium`) call the same
:meth:`Stepper.step`.  Each step:

1. place the tool (signed distance of tube ∪ coating at the current tip
   depth) and classify the nodes of the window (electrolyte, anode, cathode,
   insulator, outside);
2. check the gap (short circuit when tool and workpiece meet);
3. solve the primary current distribution, warm-started from the last step;
4. anode current density j_n = κ ∂φ/∂n, Faraday speed v_n = η(j) ω j_n d
   (d: duty factor of pulses and polarity reversals);
5. extend v_n off the surface, advance the workpiece level set, redistance;
6. feed the tool and record current, charge, gaps and removed volume.

In current control (``[electrical] control = "current"``) step 3 rescales the
voltage to the set current; with a servo feed (``[motion] feed_control =
"servo"``) the feed of step 6 follows the gap controller (:mod:`ecmsim.control`).

Steps work on a window of grid rows that follows the tool tip (coated
tools): the finished wall behind it is frozen, so a step costs the same at
any depth.  The potential solver is chosen by ``[numerics] solver``
(:mod:`ecmsim.solvers`).  Everything is SI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ecmsim.corners import Edge, coefficient, tool_edges, truncation
from ecmsim.domain import Domain
from ecmsim.errors import SolverError
from ecmsim.geometry import (
    ANODE,
    CATHODE,
    ELECTROLYTE,
    INSULATOR,
    OUTSIDE,
    FloatArray,
    bottom_depth,
    insulator_distance,
    wall_radius,
)
from ecmsim.solvers import PotentialSolver, SolveStats, make_solver
from ecmsim.state import DrillingState, Window
from ecmsim.units import A_PER_CM2, MM, UM

#: Relative change of an edge coefficient below which its fixed-point iteration stops.
EDGE_TOLERANCE = 0.01
#: Most solves per step while the edge coefficients settle.
EDGE_SOLVES = 3


@dataclass(frozen=True)
class _Flux:
    """What the potential gives a step: cell current, largest and mean-weighted anode quantities."""

    current: float  # A
    j_max: float  # A/m²
    eta_mean: float  # current-weighted mean efficiency
    stats: SolveStats


class Stepper:
    """Advances a drilling state by one time step on a fixed domain.

    Parameters
    ----------
    domain
        Grid, tool and fixed lengths; its ``process`` gives the physics (κ, ω,
        η(j), U_eff, duty factor, feed) and the numerics settings.
    """

    #: Correct the singular terms at the tool's re-entrant edges (:mod:`ecmsim.corners`).
    correct_edges: bool = True

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.process = domain.process
        self.numerics = domain.process.config.numerics
        self.solver: PotentialSolver = make_solver(self.numerics.solver)

    # ---- the whole step -----------------------------------------------------
    def step(self, state: DrillingState) -> None:
        """Advance ``state`` by one time step (or stop it on a short circuit or the current limit)."""
        psi_t = self.classify(state)
        gap = self.gap(state, psi_t)
        if gap < self.domain.short_gap:
            state.stop(
                "short_circuit",
                f"short circuit at t = {state.t:.2f} s, tool depth {state.z_tip / MM:.4f} mm: "
                f"the tool–workpiece gap closed ({max(gap, 0.0) / UM:.1f} µm)",
            )
            return
        flux = self.anode_flux(state, psi_t)
        if state.status is not None:  # the supply reached its voltage limit
            return
        if flux.j_max > self.domain.j_limit:
            state.stop(
                "limit_exceeded",
                f"current density {flux.j_max / A_PER_CM2:.1f} A/cm² exceeds the limit "
                f"{self.domain.j_limit / A_PER_CM2:g} A/cm² at t = {state.t:.2f} s, "
                f"tool depth {state.z_tip / MM:.4f} mm",
            )
            return
        fault = state.gap.fault() if state.gap is not None else None
        if fault is not None:
            state.stop(
                fault[0],
                f"{fault[0].replace('_', ' ')} at t = {state.t:.2f} s, tool depth {state.z_tip / MM:.4f} mm: "
                + fault[1],
            )
            return
        if self.process.control.servo:
            state.feed = self.servo_feed(state, flux)
        dt = self.stable_dt(state)
        self.advance_surface(state, dt)
        feed = self.feed_tool(state, dt, flux)
        self.record(state, flux, gap, feed)
        self.check_domain(state)

    # ---- the voltage and feed of the step -----------------------------------
    def u_eff(self, state: DrillingState) -> float:
        """Voltage across the electrolyte, U − ΔU, V: the process's, or the one current control set."""
        return self.process.u_eff if state.u_eff is None else state.u_eff

    def feed(self, state: DrillingState) -> float:
        """Tool feed rate, m/s: the process's, or the one the servo set."""
        return self.process.feed if state.feed is None else state.feed

    # ---- the parts of a step ------------------------------------------------
    def classify(self, state: DrillingState) -> FloatArray:
        """Place the tool and fill the window's node classes; return the tool level set."""
        d = self.domain
        win = state.place_window(d)
        psi_t = d.tool.signed_distance(d.grid, state.z_tip, win.j0, win.j1 - win.j0)
        kind = win.kind
        kind.fill(ELECTROLYTE)
        kind[win.psi <= 0.0] = ANODE
        kind[psi_t <= 0.0] = CATHODE
        kind[d.tool.classify(win.zz, win.rr, psi_t, state.z_tip)] = INSULATOR
        kind[win.outside] = OUTSIDE
        # where the insulating and the conducting faces are, for the potential
        win.psi_n = insulator_distance(d.tool, d.grid, win.j0, win.psi_outside, state.z_tip)
        win.psi_cathode = (
            d.tool.signed_distance(d.grid, state.z_tip, win.j0, win.j1 - win.j0, with_coating=False)
            if d.tool.coated
            else psi_t
        )
        return psi_t

    def gap(self, state: DrillingState, psi_t: FloatArray) -> float:
        """Smallest distance between tool and workpiece in the window, m (≤ 0 on overlap)."""
        win = _window(state)
        psi, out, h = win.psi, win.outside, self.domain.h
        overlap = (psi <= 0.0) & (psi_t <= 0.0) & ~out
        if overlap.any():
            return float(np.minimum(psi, psi_t)[overlap].min())
        near = (psi > -h) & (psi_t > -h) & ~out
        if not near.any():
            return math.inf
        return float((psi + psi_t)[near].min())

    def solve_potential(self, state: DrillingState, psi_t: FloatArray) -> SolveStats:
        """Assemble and solve for the potential in the window (warm start)."""
        from ecmsim.kernels import potential

        win, n = _window(state), self.numerics
        potential.assemble(
            win.kind, win.psi, win.psi_cathode, win.psi_n, self.u_eff(state), n.theta_min, win.stencil, win.rhs
        )
        if state.gap is not None:
            win.kappa = state.gap.conductivity(state.psi_w, state.wall, state.z_tip, win.j0, win.j1)
            potential.scale_conductivity(win.kind, win.kappa, win.stencil, win.rhs)
        # the edge correction assumes a uniform conductivity near the tool's edges
        edges = self.tool_edges(state) if state.gap is None else []
        if not edges:
            stats = self.solver.solve(
                win.kind, win.stencil, win.rhs, win.phi, n.solver_tolerance, n.max_solver_iterations
            )
        else:
            stats = self._solve_with_edges(state, edges)
        res = stats.relative_residual
        if not (res <= 10 * n.solver_tolerance) or not np.isfinite(res):
            raise SolverError(
                f"potential solve ({self.solver.name}) did not converge at step {state.steps}, t = {state.t:.3f} s, "
                f"tool depth {state.z_tip / MM:.4f} mm: relative residual {res:.3g} after {stats.iterations} "
                f"iterations (tolerance {n.solver_tolerance:g}; raise [numerics] max_solver_iterations, "
                'refine the grid or try [numerics] solver = "mic-cg")'
            )
        return stats

    def tool_edges(self, state: DrillingState) -> list[Edge]:
        """The tool's re-entrant edges corrected in this step (:func:`ecmsim.corners.tool_edges`)."""
        if not self.correct_edges:
            return []
        win, d = _window(state), self.domain
        return tool_edges(d.tool, state.z_tip, d.h, win.rr, win.zz, win.psi, win.psi_outside)

    def _solve_with_edges(self, state: DrillingState, edges: list[Edge]) -> SolveStats:
        """Solve with the singular-term correction of ``edges``, iterating its coefficients.

        The right-hand side gets ``c τ`` per edge (:mod:`ecmsim.corners`); ``c`` starts
        from the last step's value (or a fit of the warm start), is refitted from the
        solution and the solve repeated until every ``c`` changes by less than
        :data:`EDGE_TOLERANCE` (at most :data:`EDGE_SOLVES` solves; in a steady run the
        first one usually suffices).
        """
        win, n, h = _window(state), self.numerics, self.domain.h
        rhs0 = win.rhs.copy()
        taus = [truncation(e, win.kind, win.stencil, win.rr, win.zz, h) for e in edges]
        known = state.edge_coefficients
        c = [known[e.name] if e.name in known else coefficient(e, win.phi, win.kind, win.rr, win.zz, h) for e in edges]
        iterations = 0
        for _ in range(EDGE_SOLVES):
            np.copyto(win.rhs, rhs0)
            for ck, tau in zip(c, taus, strict=True):
                win.rhs += ck * tau
            stats = self.solver.solve(
                win.kind, win.stencil, win.rhs, win.phi, n.solver_tolerance, n.max_solver_iterations
            )
            iterations += stats.iterations
            new = [coefficient(e, win.phi, win.kind, win.rr, win.zz, h) for e in edges]
            settled = all(abs(a - b) <= EDGE_TOLERANCE * abs(a) for a, b in zip(new, c, strict=True))
            c = new
            if settled:
                break
        state.edge_coefficients = {e.name: ck for e, ck in zip(edges, c, strict=True)}
        return replace(stats, iterations=iterations)

    def anode_flux(self, state: DrillingState, psi_t: FloatArray) -> _Flux:
        """Solve the potential, then the cell current and the window's surface speed.

        In current control the solved field is rescaled to the set current
        (:meth:`hold_current`); when that needs more than the supply's voltage
        limit the run stops as ``voltage_limit`` (the unscaled flux is returned).
        """
        stats = self.solve_potential(state, psi_t)
        current, j_max, eta_mean = self.measure_flux(state)
        if self.process.control.current_control:
            if not self.hold_current(state, current):
                return _Flux(current, j_max, eta_mean, stats)
            current, j_max, eta_mean = self.measure_flux(state)
        win = _window(state)
        if state.gap is not None:
            state.gap.update(win.kind, win.stencil, win.rhs, win.phi, self.u_eff(state), eta_mean)
        if not np.isfinite(current) or not np.all(np.isfinite(win.speed)):
            raise SolverError(f"non-finite current or surface speed at step {state.steps}, t = {state.t:.3f} s")
        return _Flux(current, j_max, eta_mean, stats)

    def measure_flux(self, state: DrillingState) -> tuple[float, float, float]:
        """Cell current (A), largest anode current density (A/m²) and mean efficiency of the solved field.

        Also fills the window's node flux and surface speed.
        """
        from ecmsim.kernels import potential

        win, u = _window(state), self.u_eff(state)
        flux = potential.boundary_node_flux(
            win.kind, win.psi, win.psi_n, win.phi, ANODE, u, self.numerics.theta_min, win.node_flux
        )
        if state.gap is not None:  # each node's share carries its conductivity
            win.node_flux *= win.kappa
            flux = float(win.node_flux.sum())
        current = 2.0 * math.pi * self.process.conductivity * self.domain.h * flux
        j_max, eta_mean = self.surface_speed(state)
        return current, j_max, eta_mean

    def hold_current(self, state: DrillingState, current: float) -> bool:
        """Current control: rescale the voltage and the solved field to the set current.

        The potential problem is linear with the tool at U − ΔU and the workpiece
        at 0, and the conductivity of a step is fixed before its solve, so scaling
        U − ΔU, the potential, the right-hand side and the edge coefficients by
        I*/I gives the field of the set current exactly.  Returns False (and stops
        the run as ``voltage_limit``) when the voltage needed exceeds the limit.
        """
        p, win = self.process, _window(state)
        c = p.control
        assert c.max_voltage is not None
        scale = c.voltage_scale(current)
        u_eff = self.u_eff(state) * scale
        voltage = u_eff + p.overpotential
        if not voltage <= c.max_voltage:
            state.stop(
                "voltage_limit",
                f"voltage limit at t = {state.t:.2f} s, tool depth {state.z_tip / MM:.4f} mm: holding "
                f"{c.current:g} A needs {voltage:.3g} V, above [electrical] max_voltage_V = {c.max_voltage:g} V",
            )
            return False
        state.u_eff = u_eff
        win.phi *= scale
        win.rhs *= scale
        state.edge_coefficients = {k: v * scale for k, v in state.edge_coefficients.items()}
        return True

    def servo_feed(self, state: DrillingState, flux: _Flux) -> float:
        """The gap controller's feed for this step (:meth:`ecmsim.control.Control.servo_feed`), m/s.

        The frontal gap and the dissolution speed of the hole bottom are read at
        the mid-wall radius of the tube (the frontal-gap column) before the surface moves.
        """
        d, win = self.domain, _window(state)
        bottom = bottom_depth(d.grid, state.psi_w, d.i_mid, state.z_tip)
        feed = self.feed(state)
        if not math.isfinite(bottom):
            return feed
        speed = float(np.interp(bottom, win.zz[d.i_mid, :], win.speed[d.i_mid, :]))
        return self.process.control.servo_feed(feed, bottom - state.z_tip, speed, flux.current, state.dt)

    def surface_speed(self, state: DrillingState) -> tuple[float, float]:
        """Fill the window's speed with the extended Faraday speed; return (max j, mean η).

        The mean efficiency is weighted by each node's share of the anode current
        (its cut-link flux, which carries the surface element 2πr ds), so that
        η̄ I is the Faraday rate ∫ η j dA even where η depends on j.
        """
        from ecmsim.kernels import levelset, potential

        win, p = _window(state), self.process
        potential.anode_normal_gradient(
            win.kind,
            win.psi,
            win.psi_n,
            win.phi,
            self.domain.h,
            self.u_eff(state),
            self.numerics.theta_min,
            win.dphidn,
            win.known,
        )
        known = win.known
        kappa = p.conductivity if state.gap is None else p.conductivity * win.kappa[known]
        j = np.maximum(kappa * win.dphidn[known], 0.0)
        eta = p.efficiency(j)
        speed = win.speed
        speed.fill(0.0)
        speed[known] = eta * p.omega * p.duty * j
        levelset.extend_velocity(win.psi, speed, known, self.domain.band, 1)
        np.maximum(speed, 0.0, out=speed)
        speed[win.outside] = 0.0
        jmax = float(j.max()) if j.size else 0.0
        share = win.node_flux[known]
        total = float(share.sum())
        eta_mean = float((eta * share).sum() / total) if total > 0 else 0.0
        return jmax, eta_mean

    def choose_dt(self, state: DrillingState, vmax: float) -> float:
        """CFL step: neither the surface nor the tool moves more than cfl·h."""
        p, h, feed = self.process, self.domain.h, self.feed(state)
        rate = max(vmax, feed, 1e-30)
        dt = self.numerics.cfl * h / rate
        if state.z_tip < p.depth and feed > 0:
            dt = min(dt, (p.depth - state.z_tip) / feed)
        else:
            dt = min(dt, self.run_end(state) - state.t)
        return max(dt, 1e-12)

    def run_end(self, state: DrillingState) -> float:
        """Time at which the run ends, s: at depth plus the dwell (``inf`` while a servo feed has not got there)."""
        p = self.process
        if not p.control.servo:
            return self.domain.dwell_end
        return math.inf if state.depth_time is None else state.depth_time + p.dwell

    def stable_dt(self, state: DrillingState) -> float:
        """:meth:`choose_dt` for the window's fastest surface, checked against the level-set limit."""
        win, h = _window(state), self.domain.h
        vmax = float(win.speed.max()) if win.speed.size else 0.0
        dt = self.choose_dt(state, vmax)
        if vmax * dt > 0.5 * h * (1 + 1e-9):
            # choose_dt keeps the surface within half a cell per step; anything else is a bug
            # that would make the explicit level-set step unstable.
            raise SolverError(
                f"time step {dt:.3g} s above the stability limit at step {state.steps}, t = {state.t:.3f} s: "
                f"the surface would move {vmax * dt / h:.2f} cells (limit 0.5)"
            )
        return dt

    def advance_surface(self, state: DrillingState, dt: float) -> None:
        """Move the workpiece surface by ``dt`` (s), redistance when due, store the window."""
        from ecmsim.kernels import levelset

        win, h = _window(state), self.domain.h
        before = self._window_volume(win, win.psi)
        levelset.advance(win.psi, win.speed, dt, h, win.psi_new)
        win.psi, win.psi_new = win.psi_new, win.psi
        state.steps += 1
        if state.steps % self.numerics.redistance_every == 0:
            levelset.redistance(win.psi, h, self.domain.band * 2, 2, win.psi_new)
            win.psi, win.psi_new = win.psi_new, win.psi
        if not np.isfinite(win.psi).all():
            raise SolverError(
                f"the workpiece level set became non-finite at step {state.steps}, t = {state.t:.3f} s, "
                f"tool depth {state.z_tip / MM:.4f} mm"
            )
        state.removed += self._window_volume(win, win.psi) - before
        win.store(state)

    def feed_tool(self, state: DrillingState, dt: float, flux: _Flux) -> float:
        """Feed the tool, advance time, charge and Faraday volume, update the wall radius.

        Returns the feed rate the tool moved at, m/s (0 once it is at depth).
        """
        p, win = self.process, _window(state)
        moved, feed = 0.0, self.feed(state)
        if state.z_tip < p.depth and feed > 0:
            state.z_tip = min(state.z_tip + feed * dt, p.depth)
            moved = feed
        state.t += dt
        state.dt = dt
        if state.depth_time is None and state.z_tip >= p.depth - 1e-15:
            state.depth_time = state.t
        state.charge += flux.current * dt
        state.faraday_volume += flux.eta_mean * p.omega * p.duty * flux.current * dt
        state.wall[win.j0 : win.j1] = wall_radius(self.domain.grid, win.psi, self.domain.tool.r_inner)
        return moved

    def record(self, state: DrillingState, flux: _Flux, gap: float, feed: float) -> None:
        """Append this step to the histories (one value per column) and take a due snapshot."""
        d = self.domain
        bottom = bottom_depth(d.grid, state.psi_w, d.i_mid, state.z_tip)
        thickness = self.process.thickness
        if thickness is not None and state.breakthrough_time is None:
            b0 = bottom_depth(d.grid, state.psi_w, 0, max(state.z_tip, 0.0))
            if not math.isfinite(b0) or b0 >= thickness - 1e-12:
                state.breakthrough_time = state.t
        state.history.record(
            time=state.t,
            tool_depth=state.z_tip,
            current=flux.current,
            charge=state.charge,
            frontal_gap=bottom - state.z_tip if math.isfinite(bottom) else math.nan,
            min_gap=gap,
            removed_volume=state.removed,
            faraday_volume=state.faraday_volume,
            max_current_density=flux.j_max,
            solver_iterations=flux.stats.iterations,
            solver_convergence_factor=flux.stats.convergence_factor,
            voltage=self.u_eff(state) + self.process.overpotential,
            feed_rate=feed,
            **(state.gap.history_row() if state.gap is not None else {}),
        )
        if state.z_tip >= state.snapshots.next_depth or self.finished(state):
            state.snapshots.take(state.z_tip, state.wall, self.process.output_interval)

    def check_domain(self, state: DrillingState) -> None:
        """Refuse to go on once the hole wall reaches the grid's outer edge."""
        d = self.domain
        g, zz = d.grid, d.zz
        rows = zz[g.nr - 3, :] > 5 * d.h
        if self.process.thickness is not None:
            rows &= zz[g.nr - 3, :] < self.process.thickness
        if np.any(state.psi_w[g.nr - 3, rows] > 0.0):
            raise SolverError(
                f"the hole wall reached the edge of the grid (radius {g.r[-1] / MM:.3f} mm) at t = "
                f"{state.t:.2f} s; set a larger [numerics] domain_radius_mm"
            )

    def finished(self, state: DrillingState) -> bool:
        """The run is over: stopped, or at depth (feed) and the dwell is over."""
        if state.status is not None:
            return True
        p = self.process
        if p.control.servo:
            return state.depth_time is not None and state.t >= state.depth_time + p.dwell - 1e-9
        if p.feed > 0:
            return state.z_tip >= p.depth - 1e-15 and state.t >= self.domain.dwell_end - 1e-9
        return state.t >= p.dwell - 1e-9

    def _window_volume(self, win: Window, psi: FloatArray) -> float:
        from ecmsim.kernels import levelset

        if win.outside.any():
            psi = np.where(win.outside, -self.domain.band, psi)
        return float(levelset.electrolyte_volume(psi, self.domain.h))


def _window(state: DrillingState) -> Window:
    win = state.window
    assert win is not None, "classify() places the window first"
    return win
