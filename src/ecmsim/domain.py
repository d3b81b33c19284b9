"""The fixed part of a drilling run: grid, tool, masks and lengths, built once.

A :class:`Domain` is what does not change while the tool feeds in: the grid
sized for the expected hole, the tool, the nodes that lie outside the
electrolyte, and the lengths the stepper uses (flood radius, window lengths,
level-set band, short-circuit gap, ...).  It is built from a resolved
:class:`~ecmsim.process.Process` (SI units) by :meth:`Domain.build` and is
frozen; what changes step by step lives in
:class:`~ecmsim.state.DrillingState`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from ecmsim.geometry import FloatArray, Grid, Tool
from ecmsim.process import Process

BoolArray = npt.NDArray[np.bool_]

#: Value of a wall level set far from any wall, m (no insulating face nearby).
NO_WALL = 1.0

#: Equilibrium gaps above the bare tip after which the wall behind the coating has
#: stopped dissolving: where the default window ends above the tool face.
FROZEN_WALL_GAPS = 8.0
#: Equilibrium gaps of metal the window keeps below the tool face (beyond the initial gap).
WINDOW_AHEAD_GAPS = 3.0


@dataclass(frozen=True)
class Domain:
    """Grid, tool and the fixed lengths of one run (SI units).

    Attributes
    ----------
    process : Process
        The resolved process (SI).
    grid : Grid
        The axisymmetric grid.
    tool : Tool
        The tool electrode.
    rr, zz : ndarray, shape (nr, nz)
        Node radius and depth, m.
    outside : ndarray of bool, shape (nr, nz)
        Nodes without electrolyte: above the surface beyond the flooded film,
        and below a plate's far face (zero-flux).
    psi_outside : ndarray, shape (nr, nz)
        Signed distance to the region without electrolyte, m (> 0 in the film and
        the hole, < 0 outside): places its insulating faces for the potential.
    gap_scale : float
        A length scale of the gaps: h_e with feed, the final gap of a dwell
        without, m.
    flood_radius : float
        Radius of the flooded electrolyte film around the hole entry above
        the surface, m.
    window_behind : float or None
        Window length above the tool face, m (None: every step uses the whole grid).
    window_ahead : float
        Window length below the tool face, m.
    i_mid : int
        Grid column where the frontal gap is read: the axis for a solid rod,
        mid-wall for a tube.
    band : float
        Half-width of the narrow band of the level set around the surface, m.
    short_gap : float
        Gap below which the run stops as a short circuit, m.
    j_limit : float
        Current density that stops the run, A/m² (``inf``: no limit).
    """

    process: Process
    grid: Grid
    tool: Tool
    rr: FloatArray
    zz: FloatArray
    outside: BoolArray
    psi_outside: FloatArray
    gap_scale: float
    flood_radius: float
    window_behind: float | None
    window_ahead: float
    i_mid: int
    band: float
    short_gap: float
    j_limit: float

    @classmethod
    def build(cls, process: Process) -> Domain:
        """Size the grid and fix the masks and lengths for ``process``."""
        p, tool, h = process, process.tool, process.cell_size
        gap_scale = _gap_scale(p)
        grid = _grid(p, gap_scale)
        rr, zz = grid.mesh()
        flood_radius = _flood_radius(p, gap_scale, grid)
        # Above the surface the electrolyte is a flooded film around the hole
        # entry (radius flood_radius, height film_height); beyond it, and below
        # a plate, there is no electrolyte (zero-flux).  Both are physical
        # lengths, so the film does not change with the cell size.
        psi_outside = _outside_distance(rr, zz, flood_radius, film_height(p), p.thickness)
        outside = psi_outside < -1e-12
        n = p.config.numerics
        behind, ahead = window_extent(p, gap_scale)
        use_window = n.window == "on" or (n.window == "auto" and tool.coated)
        return cls(
            process=p,
            grid=grid,
            tool=tool,
            rr=rr,
            zz=zz,
            outside=outside,
            psi_outside=psi_outside,
            gap_scale=gap_scale,
            flood_radius=flood_radius,
            window_behind=behind if use_window else None,
            window_ahead=ahead,
            # Frontal gap: read on the axis for a solid rod, at mid-wall for a tube.
            i_mid=0 if tool.r_inner == 0 else round(0.5 * (tool.r_inner + tool.r_outer) / h),
            band=6.0 * h,
            short_gap=p.short_circuit_gap,
            j_limit=p.max_current_density,
        )

    def flooded(self) -> Domain:
        """The same domain with electrolyte at every node (no ``outside`` nodes).

        For problems posed away from the plate's surfaces: the equilibrium
        iteration in the frame of the tool, verification cases.
        """
        far = np.full_like(self.psi_outside, NO_WALL)
        return replace(self, outside=np.zeros_like(self.outside), psi_outside=far)

    @property
    def h(self) -> float:
        """Grid spacing, m."""
        return self.grid.h

    @property
    def z_start(self) -> float:
        """Tool face position at the start (above the surface: negative), m."""
        return -self.process.initial_gap

    @property
    def dwell_end(self) -> float:
        """Time at which the run ends: feed to depth, then dwell, s."""
        p = self.process
        if p.feed > 0:
            return (p.depth - self.z_start) / p.feed + p.dwell
        return p.dwell

    def window_rows(self, z_tip: float) -> tuple[int, int]:
        """Grid rows ``j0:j1`` active with the tool face at ``z_tip`` (m)."""
        g = self.grid
        if self.window_behind is None:
            return 0, g.nz
        # A fixed number of rows, so every step costs the same and buffers are reused.
        size = min(g.nz, math.ceil((self.window_behind + self.window_ahead) / g.h) + 2)
        j0 = max(0, math.floor((z_tip - self.window_behind - g.z0) / g.h))
        j0 = min(j0, g.nz - size)
        return j0, j0 + size


def window_extent(p: Process, gap_scale: float) -> tuple[float, float]:
    """Lengths of the window that follows the tool, above and below its face, m.

    The one place that sets where the window ends.  Above the face: the bare tip,
    then :data:`FROZEN_WALL_GAPS` equilibrium gaps of wall that still widens a little
    from stray current through the coating gap, then the domain margin
    (``[numerics] window_behind_mm`` replaces the whole length).  Below the face:
    the initial gap, :data:`WINDOW_AHEAD_GAPS` equilibrium gaps and the margin.
    All are physical lengths, so the window does not change with the cell size.

    Parameters
    ----------
    p
        The resolved process.
    gap_scale
        The run's gap length scale (:func:`_gap_scale`), m.

    Returns
    -------
    behind, ahead : float
        Window length above and below the tool face, m.
    """
    margin = p.domain_margin
    behind = p.window_behind
    if behind is None:
        behind = p.tool.bare_tip + FROZEN_WALL_GAPS * gap_scale + margin
    return behind, WINDOW_AHEAD_GAPS * gap_scale + p.initial_gap + margin


def _gap_scale(p: Process) -> float:
    """A length scale of the gaps: h_e with feed, the final gap of a dwell without."""
    if p.feed > 0:
        return p.equilibrium_gap
    return math.sqrt(max(p.initial_gap, p.cell_size) ** 2 + 2 * p.machining_constant * p.dwell)


def _grid(p: Process, h_e: float) -> Grid:
    """A grid wide enough for the expected side gap and deep enough for the hole."""
    h, tool = p.cell_size, p.tool
    r_tool = tool.r_outer + tool.coating
    if p.domain_radius is not None:
        radius = p.domain_radius
    else:
        # Side wall estimate (verification.md case 4): a bare tool cuts the
        # wall over the whole depth, a coated one only beside its bare tip.
        exposure = p.depth + h_e if not tool.coated else tool.bare_tip + h_e
        if p.feed == 0:
            exposure = h_e
        radius = _coaxial_radius(tool.r_outer, tool.r_outer + h_e, h_e * exposure)
        radius = max(radius * 1.25, r_tool + 4 * h_e) + p.domain_margin
    # two rows of no electrolyte above the film
    above = film_height(p) + 2 * h
    below = p.depth + WINDOW_AHEAD_GAPS * h_e + p.domain_margin
    if p.thickness is not None:
        below = p.thickness + 3 * h
    k_above = math.ceil(above / h)
    nz = k_above + math.ceil(below / h) + 1
    nr = math.ceil(radius / h) + 1
    return Grid(h=h, nr=nr, nz=nz, z0=-k_above * h)


def _outside_distance(
    rr: FloatArray, zz: FloatArray, flood_radius: float, height: float, thickness: float | None
) -> FloatArray:
    """Signed distance to the region without electrolyte, m (> 0 where there is electrolyte).

    The union of the air beside the film (r ≥ flood_radius, z ≤ 0), above it
    (z ≤ −height) and, for a plate, below its far face (z ≥ thickness): the minimum
    of the three distances.
    """
    ur, uz = flood_radius - rr, zz
    beside = np.hypot(np.maximum(ur, 0.0), np.maximum(uz, 0.0)) + np.minimum(np.maximum(ur, uz), 0.0)
    d = np.minimum(beside, zz + height)
    if thickness is not None:
        d = np.minimum(d, thickness - zz)
    return np.asarray(d, dtype=np.float64)


def film_height(p: Process) -> float:
    """Height of the flooded electrolyte film above the surface, m.

    ``[numerics] electrolyte_above_surface_mm``, raised to twice the initial gap
    so that the tool face starts inside the film.
    """
    return max(p.electrolyte_above_surface, 2.0 * p.initial_gap)


def _flood_radius(p: Process, gap_scale: float, grid: Grid) -> float:
    """Radius of the flooded film: tool + coating + 2 max(h_e, initial gap), m (within the grid)."""
    t, h = p.tool, p.cell_size
    h_e = gap_scale if p.feed > 0 else 0.0
    r = t.r_outer + t.coating + 2.0 * max(h_e, p.initial_gap)
    return min(r, grid.r[-1] - 3 * h)


def _coaxial_radius(r_c: float, r_0: float, target: float) -> float:
    """Solve G(r) − G(r_0) = target for r, G(r) = (r²/2)(ln(r/r_c) − ½) (verification case 1)."""

    def g(r: float) -> float:
        return 0.5 * r * r * (math.log(r / r_c) - 0.5)

    goal = g(r_0) + target
    lo, hi = r_0, r_0 * 2
    while g(hi) < goal:
        hi *= 2
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if g(mid) < goal else (lo, mid)
    return 0.5 * (lo + hi)
