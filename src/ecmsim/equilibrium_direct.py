"""The direct equilibrium solver: a shape iteration on the anode surface in the tool frame.

Seen from a tool feeding at rate f, the steady anode surface satisfies
η(j) ω d j_n = f n_z at every point: the metal flows towards the tool at f
and dissolves at the Faraday speed v_n.  On a window fixed to the tool the
surface is written as one curve from the axis to the top of the window,
in two parametrisations:

* under the tool, where the surface is flatter than 45°, as the depth
  Z(r_i) of every grid column; there the condition is v_n √(1 + Z'²) = f, and
  since v_n ∝ 1/g for a local gap g (the distance to the tool), the update
  Z ← Z + g (v_n √(1 + Z'²) / f − 1) is a Newton step of the planar gap;
* beside the tool, where it is steeper than 45°, as the wall radius R(y) of
  every grid row; there the condition fixes the slope, dR/dy = s/√(1 − s²) with
  s = v_n / f, and the wall is integrated upwards (Heun's method) from the
  point where the two parts meet: the wall every metal point has reached
  after being dissolved on its way past the tool.

Each iteration builds the level set of the curve (exact distances to its
segments), solves the potential with the same step functions as a transient
run (:meth:`~ecmsim.stepper.Stepper.classify`,
:meth:`~ecmsim.stepper.Stepper.anode_flux`: edge corrections, the extended
speed field and, with ``[physics] secondary = true``, the quasi-steady channel
model that sets the gap's conductivity), and updates the curve from the speed
field.  It starts from the analytic shape (frontal gap h_e under the face, side
gap √(h_e² + 2 h_e y) beside the bare tip) and stops when the largest move of
the surface in an iteration is below the tolerance; that move is the
residual reported.  Everything is SI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ecmsim.domain import Domain
from ecmsim.errors import SolverError
from ecmsim.geometry import FloatArray, bottom_depth, wall_radius
from ecmsim.state import DrillingState, Window
from ecmsim.stepper import Stepper
from ecmsim.units import A_PER_CM2, MM, UM

#: Largest ratio v_n / f used for the wall's slope (above it the surface is flatter than the rows resolve).
MAX_SLOPE_RATIO = 0.98
#: Largest move of the surface under the tool in one update, as a fraction of the local gap.
MAX_STEP = 0.25
#: Relaxation of the first update, and the smallest one Aitken's method may choose.
START_RELAXATION = 0.3
MIN_RELAXATION = 0.1
#: Width of the filter on the update under the tool, in local gaps.
SMOOTHING = 0.5
#: Largest move of the surface in the last update at convergence, in cells (below it the
#: surface only jitters as the columns under the tool gain or lose the one at 45°).
SURFACE_TOLERANCE = 0.1
#: Most points of the wall's march (steps of half a cell).
MAX_WALL_POINTS = 100_001
#: Most shape iterations before the solve gives up.
MAX_ITERATIONS = 80


class Cramped(SolverError):
    """The surface came within the level set's reach of the edge of a tight domain."""


@dataclass
class Curve:
    """The anode surface in the tool frame (m).

    Attributes
    ----------
    front : ndarray, shape (n_front,)
        Depth Z of the surface in grid columns 0 .. n_front - 1 (r_i = i h).
    wall_z, wall_r : ndarray
        Depth and radius of the wall points above the last column, upwards (z decreasing).
    """

    front: FloatArray
    wall_z: FloatArray
    wall_r: FloatArray

    def points(self, h: float) -> tuple[FloatArray, FloatArray]:
        """(r, z) of the whole curve from the axis up the wall, m."""
        r = np.concatenate([np.arange(self.front.size) * h, self.wall_r])
        z = np.concatenate([self.front, self.wall_z])
        return r, z


@dataclass
class ShapeReport:
    """How the shape iteration ended.

    Attributes
    ----------
    converged : bool
        The largest move of the surface fell below the tolerance.
    iterations : int
        Potential solves (one per shape update).
    residual : float
        Largest move of the surface in the last update, m.
    flux_residual : float
        Largest |η ω d j_n − f n_z| / f over the surface under the tool in the last solve.
    residuals : list of float
        The largest move of every update, m.
    current : float
        Cell current of the last solve, A.
    """

    converged: bool
    iterations: int
    residual: float
    flux_residual: float
    residuals: list[float]
    current: float


def initial_curve(domain: Domain, z_tip: float, z_top: float) -> Curve:
    """Analytic start: frontal gap h_e under the face, side gap √(h_e² + 2 h_e y) beside the bare tip.

    Parameters
    ----------
    domain
        The flooded domain of the solve.
    z_tip
        Tool face depth, m.
    z_top
        Depth of the top of the window, m.
    """
    h, h_e, t = domain.h, domain.gap_scale, domain.tool
    n_front = int(t.r_outer / h) + 1
    front = np.full(n_front, z_tip + h_e)
    g = domain.grid
    rows = g.z[(g.z < z_tip + h_e - 0.5 * h) & (g.z >= z_top)][::-1]
    y = np.clip(z_tip - rows, 0.0, t.bare_tip)
    radius = t.r_outer + np.sqrt(h_e**2 + 2.0 * h_e * y)
    # the quarter circle of radius h_e around the face's outer edge joins the two
    below = rows > z_tip
    radius[below] = t.r_outer + np.sqrt(np.maximum(h_e**2 - (rows[below] - z_tip) ** 2, 0.0))
    keep = radius > (n_front - 1) * h
    return Curve(front, rows[keep], radius[keep])


def signed_distance(curve: Curve, rr: FloatArray, zz: FloatArray, h: float, reach: float) -> FloatArray:
    """Level set of ``curve`` at the nodes (rr, zz) of a grid (``rr[i, j] = i h``), > 0 in the electrolyte, m.

    Exact distances to the curve's segments within ``reach`` of it; ±``reach``
    beyond (only the sign matters there).
    """
    from ecmsim.kernels.curve import polyline_distance

    pr, pz = curve.points(h)
    # the wall goes on straight up beyond the window (the finished wall is frozen there)
    top = min(float(zz.min()), float(pz[-1])) - 2 * h
    dist = np.empty(rr.shape)
    polyline_distance(np.append(pr, pr[-1]), np.append(pz, top), float(zz[0, 0]), h, reach, dist)
    # inside: above the front in its columns, inside the wall above the front's last point
    r_last = (curve.front.size - 1) * h
    z_front = np.interp(rr, np.arange(curve.front.size) * h, curve.front)
    wz, wr = curve.wall_z[::-1], curve.wall_r[::-1]  # increasing z for interp
    r_wall = np.interp(zz, np.concatenate([wz, [curve.front[-1]]]), np.concatenate([wr, [r_last]]), left=wr[0])
    inside = np.where(rr <= r_last, zz < z_front, (rr < r_wall) & (zz < curve.front[-1]))
    return np.ascontiguousarray(np.where(inside, dist, -dist))


def resample(curve: Curve, h: float, h_new: float) -> Curve:
    """``curve`` (columns of ``h``) with its part under the tool in columns of ``h_new``, m."""
    r, z = curve.points(h)
    r_last = (curve.front.size - 1) * h
    cols = np.arange(int(r_last / h_new + 1e-9) + 1) * h_new
    keep = curve.wall_r > cols[-1]
    return Curve(np.interp(cols, r, z), curve.wall_z[keep], curve.wall_r[keep])


def _sample(win: Window, field: FloatArray, r: FloatArray, z: FloatArray, h: float) -> FloatArray:
    """Bilinear interpolation of a window field at points (r, z), m."""
    nr, nz = field.shape
    x = np.clip(r / h, 0.0, nr - 1.000001)
    y = np.clip((z - win.zz[0, 0]) / h, 0.0, nz - 1.000001)
    i, j = x.astype(int), y.astype(int)
    fx, fy = x - i, y - j
    return (
        field[i, j] * (1 - fx) * (1 - fy)
        + field[i + 1, j] * fx * (1 - fy)
        + field[i, j + 1] * (1 - fx) * fy
        + field[i + 1, j + 1] * fx * fy
    )


def _update(
    curve: Curve, state: DrillingState, psi_t: FloatArray, feed: float, h: float, z_top: float
) -> tuple[Curve, float]:
    """One shape update from the last solve's speed field.

    Returns the target curve and the flux residual max |v_n √(1 + Z'²) / f − 1| under the tool.
    """
    from scipy.ndimage import gaussian_filter1d

    win = state.window
    assert win is not None

    front = curve.front
    n_front = front.size
    cols = np.arange(n_front) * h
    v = _sample(win, win.speed, cols, front, h)
    gap = np.maximum(_sample(win, psi_t, cols, front, h), h)
    stretch = np.sqrt(1.0 + np.gradient(front, h) ** 2)
    ratio = v * stretch / feed
    step = np.clip(gap * (ratio - 1.0), -MAX_STEP * gap, MAX_STEP * gap)
    # A bump shorter than the gap changes the local current far more than a planar
    # gap change would (the Newton step above assumes the latter), so such bumps are
    # smoothed away: the step is filtered over half a gap.
    new_front = front + gaussian_filter1d(step, SMOOTHING * float(gap.mean()) / h, mode="reflect")
    wall_z, wall_r = _march_outer(win, new_front[-1], (n_front - 1) * h, feed, h, z_top)
    return Curve(new_front, wall_z, wall_r), float(np.abs(ratio - 1.0).max())


def _march_outer(
    win: Window, z_start: float, r_start: float, feed: float, h: float, z_top: float
) -> tuple[FloatArray, FloatArray]:
    """Integrate the surface outwards and up from (r_start, z_start) to ``z_top``, m.

    The steady condition v_n = f n_z sets the surface's angle to the horizontal,
    θ = arccos(v_n / f) (horizontal where v_n ≥ f, vertical where the metal no
    longer dissolves); the curve follows it in arclength steps of h/2 (Heun's method,
    :func:`ecmsim.kernels.curve.march_wall`).
    """
    from ecmsim.kernels.curve import march_wall

    rs, zs = np.empty(MAX_WALL_POINTS), np.empty(MAX_WALL_POINTS)
    n = march_wall(win.speed, float(win.zz[0, 0]), h, r_start, z_start, feed, z_top, rs, zs)
    return zs[:n].copy(), rs[:n].copy()


def solve_shape(
    domain: Domain, state: DrillingState, curve: Curve, z_top: float, tolerance: float, tight: bool = False
) -> tuple[ShapeReport, Curve]:
    """Iterate the shape on a fixed window until the update moves it by less than ``tolerance`` (m).

    Returns the report and the last update's shape.  ``state`` holds the tool at its
    fixed depth; the stepper's functions fill its window (node classes, potential,
    extended speed), nothing else of it moves.
    Each iteration's update (:func:`_update`) gives a target shape; the level set
    moves towards it by a factor chosen by Aitken's method from the last two
    residuals (the wall alone overshoots: a narrow wall draws a strong current that
    widens it too much in one update).

    ``tight``: the domain keeps little metal beyond the expected surface; the
    iteration raises :class:`Cramped` as soon as the surface comes within the
    level set's reach of its edge.

    Raises
    ------
    SolverError
        When the iteration stops at a fault (short circuit, current limit, gap
        physics) or the wall leaves the grid.
    Cramped
        ``tight`` and the surface came near the edge of the domain.
    """
    from ecmsim.kernels import levelset

    stepper = Stepper(domain)
    h = domain.h
    residuals: list[float] = []
    gaps: list[tuple[float, float]] = []
    flux_res, current = math.inf, 0.0
    clip = domain.band  # residuals are compared within the level set's band
    state.psi_w[:] = signed_distance(curve, domain.rr, domain.zz, h, clip + 2 * h)
    win = state.place_window(domain)
    psi = state.psi_w[:, win.j0 : win.j1].copy()
    last: FloatArray | None = None
    relax = START_RELAXATION
    target = curve
    for _ in range(MAX_ITERATIONS):
        _set_level_set(domain, state, psi)
        psi_t, current = _solve(stepper, state)
        shape = Curve(_front(domain, state, z_top), target.wall_z, target.wall_r)
        target, flux_res = _update(shape, state, psi_t, domain.process.feed, h, z_top)
        _check_room(domain, win, target, tight)
        psi_target = signed_distance(target, win.rr, win.zz, h, clip + 2 * h)
        res = np.clip(psi_target, -clip, clip) - np.clip(psi, -clip, clip)
        move = float(np.abs(res[np.abs(psi_target) < 1.5 * h]).max())
        residuals.append(move)
        gaps.append(equilibrium_gaps(domain, state))
        if move < max(tolerance, SURFACE_TOLERANCE * h) and _settled(gaps, tolerance):
            break
        if last is not None:  # Aitken's factor from the last two residuals
            d = (res - last).ravel()
            dd = float(d @ d)
            if dd > 0:
                relax = float(np.clip(-relax * float(last.ravel() @ d) / dd, MIN_RELAXATION, 1.0))
        last = res
        levelset.redistance(psi + relax * res, h, 2 * domain.band, 4, psi)
    converged = residuals[-1] < max(tolerance, SURFACE_TOLERANCE * h) and _settled(gaps, tolerance)
    return ShapeReport(converged, len(residuals), residuals[-1], flux_res, residuals, current), target


def _check_room(domain: Domain, win: Window, curve: Curve, tight: bool) -> None:
    """Refuse a curve too near the edge of the grid or (``tight``) of the window's metal.

    Raises
    ------
    Cramped
        ``tight`` and the curve within the level set's reach (band + 2 cells) of the grid's
        radius or of the window's last row.
    SolverError
        The wall within 3 cells of the grid's radius.
    """
    h = domain.h
    r_edge = float(domain.grid.r[-1])
    r_max = curve.wall_r.max(initial=float(curve.front.size - 1) * h)
    if tight:
        reach = domain.band + 2 * h
        if r_max > r_edge - reach or float(curve.front.max()) > float(win.zz[0, -1]) - reach:
            raise Cramped("the equilibrium surface came near the edge of the tight domain")
    if r_max > r_edge - 3 * h:
        raise SolverError(
            f"the equilibrium hole wall reached the edge of the grid (radius {r_edge / MM:.3f} mm); "
            "set a larger [numerics] domain_radius_mm"
        )


def _solve(stepper: Stepper, state: DrillingState) -> tuple[FloatArray, float]:
    """The step functions on the state's shape: node classes, potential, extended speed.

    Returns the tool level set (window, m) and the cell current (A).
    """
    from ecmsim.kernels import levelset

    domain = stepper.domain
    psi_t = stepper.classify(state)
    gap = stepper.gap(state, psi_t)
    if gap < domain.short_gap:
        raise SolverError(f"equilibrium iteration: the tool touches the workpiece (gap {max(gap, 0) / UM:.1f} µm)")
    flux = stepper.anode_flux(state, psi_t)
    if flux.j_max > domain.j_limit:
        raise SolverError(
            f"equilibrium iteration: current density {flux.j_max / A_PER_CM2:.1f} A/cm² exceeds the limit "
            f"{domain.j_limit / A_PER_CM2:g} A/cm²"
        )
    stepper.record(state, flux, gap, domain.process.feed)
    if state.gap is not None:
        fault = state.gap.fault()
        if fault is not None:
            raise SolverError(f"equilibrium iteration stopped: {fault[0].replace('_', ' ')}: {fault[1]}")
    win = state.window
    assert win is not None
    # the update may move the surface beyond the stepper's narrow band: extend the speed further
    levelset.extend_velocity(win.psi, win.speed, win.known, 10 * domain.h, 2)
    np.maximum(win.speed, 0.0, out=win.speed)
    return psi_t, flux.current


def equilibrium_gaps(domain: Domain, state: DrillingState) -> tuple[float, float]:
    """(frontal gap, side gap) of the state, m: the frontal gap at the domain's mid column, the side gap
    at y_ref = bare tip + 3 h_e behind the tool face."""
    bottom = bottom_depth(domain.grid, state.psi_w, domain.i_mid, state.z_tip)
    z_ref = state.z_tip - (domain.tool.bare_tip + 3.0 * domain.gap_scale)
    side = float(np.interp(z_ref, domain.grid.z, state.wall)) - domain.tool.r_outer
    return bottom - state.z_tip, side


def _settled(gaps: list[tuple[float, float]], tolerance: float) -> bool:
    """The frontal and the side gap stayed within ``tolerance`` (m) over the last three iterations."""
    if len(gaps) < 3:
        return False
    last = np.array(gaps[-3:])
    return bool((last.max(axis=0) - last.min(axis=0)).max() < tolerance)


def _front(domain: Domain, state: DrillingState, z_top: float) -> FloatArray:
    """Depth of the surface in the columns from the axis to where it turns steeper than 45°, m.

    At least the columns under the tool; beyond its radius, as long as the surface
    is flatter than 45° (there the rows march of :func:`_march_outer` takes over: its
    angle θ = arccos(v_n / f) is ill-conditioned where the surface is nearly flat).
    """
    h = domain.h
    i_tool = int(domain.tool.r_outer / h)
    depths = [bottom_depth(domain.grid, state.psi_w, i, z_top) for i in range(i_tool + 1)]
    for i in range(i_tool + 1, domain.grid.nr):
        z = bottom_depth(domain.grid, state.psi_w, i, z_top)
        if not (math.isfinite(z) and abs(z - depths[-1]) <= h):
            break
        depths.append(z)
    return np.array(depths)


def _set_level_set(domain: Domain, state: DrillingState, psi: FloatArray) -> None:
    """Write the window's level set ``psi`` into the state (window and full grid) and its wall radius."""
    win = state.place_window(domain)
    win.psi[:] = psi
    win.store(state)
    state.wall[:] = wall_radius(domain.grid, state.psi_w, domain.tool.r_inner)
