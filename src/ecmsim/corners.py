"""Re-entrant corners of the tool: singular-function correction of the potential (NumPy, SI).

The tube's face meets its outer and bore walls at right angles, and the coating's end
face meets its outer face at a right angle, so the electrolyte wraps 270° around each
of these edges.  Near such an edge the potential behaves like ``c ρ^(2/3)``
(ρ the distance to the edge): its gradient is infinite there, the 5-point scheme's
truncation error at the few nodes around the edge is O(1), and it pollutes the whole
solution at order ``h^(4/3)``, with a constant that depends on where the edge sits
inside its cell.  Uncorrected, this made the cell current vary by 0.2 % peak to peak
at 10 µm cells as the tool crossed grid rows, and every current converge at order
about 1.3.

The correction makes the scheme exact for the singular term.  With ``S`` the planar
singular function of an edge (Dirichlet edges of the metal tube:
``S = ρ^(2/3) sin(2ϑ/3)``, zero on both faces; the Neumann edge of the coating:
``S = ρ^(2/3) cos(2ϑ/3)``, zero normal derivative on both faces; ϑ measured through
the electrolyte from one face), the row residual of ``S`` in the assembled system,
``τ = A S + h r L S`` with the axisymmetric Laplacian ``L S = S_r / r`` (``S`` is
harmonic in the plane), is the scheme's truncation error for ``S``.  Solving
``A φ = b + Σ c τ χ`` (χ a smooth cut-off, 1 near the edge, 0 beyond ``radius``) removes
the leading error of every edge; ``c`` is fitted from the solution near the edge
(least squares on the first terms of the corner expansion) and iterated to a fixed
point.  What is left converges at second order.

An edge is corrected only where its neighbourhood is resolved: ``radius`` (the
largest disc around the edge that meets only the edge's own two faces, the anode
kept 25 % further away) must span at least :data:`MIN_CELLS` cells; a tool with an
edge the grid cannot resolve that way (a 50 µm coating on 20 µm cells) is not
corrected at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ecmsim.geometry import ELECTROLYTE, FloatArray, Tool

#: Smallest correction radius, in cells, at which an edge is corrected.
MIN_CELLS = 4.0

_KINDS = ("outer", "bore", "coating")


@dataclass(frozen=True)
class Edge:
    """A re-entrant edge of the tool in the (r, z) plane.

    Attributes
    ----------
    name : str
        ``"outer"`` (tube face and outer wall, Dirichlet), ``"bore"`` (tube face and
        bore wall, Dirichlet) or ``"coating"`` (coating end and outer face, Neumann).
    r, z : float
        Position of the edge, m.
    radius : float
        Radius of the disc around the edge where the correction acts, m.
    """

    name: str
    r: float
    z: float
    radius: float

    @property
    def dirichlet(self) -> bool:
        return self.name != "coating"

    def angle(self, x: FloatArray, y: FloatArray) -> FloatArray:
        """ϑ in [0, 3π/2], measured through the electrolyte from one face (x = r − r_e, y = z − z_e)."""
        a = np.arctan2(y, x)
        if self.name == "bore":  # metal at x > 0, y < 0
            th = np.mod(a, 2 * np.pi)
        else:  # metal or coating at x < 0, y < 0
            th = np.mod(a + 0.5 * np.pi, 2 * np.pi)
        return np.asarray(np.clip(th, 0.0, 1.5 * np.pi))

    def singular(self, rr: FloatArray, zz: FloatArray, h: float) -> tuple[FloatArray, FloatArray]:
        """(S, ∂S/∂r) at the nodes; ρ is taken at least h/2 in ∂S/∂r (its cell mean near the edge)."""
        x, y = rr - self.r, zz - self.z
        rho = np.hypot(x, y)
        th = self.angle(x, y)
        a = np.arctan2(y, x)
        rho_s = np.maximum(rho, 0.5 * h)
        if self.dirichlet:
            s = rho ** (2 / 3) * np.sin(2 * th / 3)
            s_r = (2 / 3) * rho_s ** (-1 / 3) * np.sin(2 * th / 3 - a)
        else:
            s = rho ** (2 / 3) * np.cos(2 * th / 3)
            s_r = (2 / 3) * rho_s ** (-1 / 3) * np.cos(2 * th / 3 - a)
        return s, s_r

    def basis(self, rr: FloatArray, zz: FloatArray) -> list[FloatArray]:
        """The first terms of the corner expansion (the singular one second for Neumann)."""
        x, y = rr - self.r, zz - self.z
        rho = np.hypot(x, y)
        th = self.angle(x, y)
        if self.dirichlet:
            return [rho ** (2 / 3) * np.sin(2 * th / 3), rho ** (4 / 3) * np.sin(4 * th / 3), rho**2 * np.sin(2 * th)]
        return [np.ones_like(rho), rho ** (2 / 3) * np.cos(2 * th / 3), rho ** (4 / 3) * np.cos(4 * th / 3),
                rho**2 * np.cos(2 * th)]  # fmt: skip


def cutoff(rho: FloatArray, radius: float) -> FloatArray:
    """Smooth cut-off: 1 for ρ ≤ radius/2, 0 for ρ ≥ radius (C² quintic step)."""
    t = np.clip((rho - 0.5 * radius) / (0.5 * radius), 0.0, 1.0)
    return np.asarray(1.0 - t**3 * (10.0 - 15.0 * t + 6.0 * t * t))


def _sample(a: FloatArray, rr: FloatArray, zz: FloatArray, h: float, r: float, z: float) -> float:
    """Bilinear value of a nodal field at (r, z) (clamped to the array)."""
    nr, nz = a.shape
    fi = min(max((r - rr[0, 0]) / h, 0.0), nr - 1.000001)
    fj = min(max((z - zz[0, 0]) / h, 0.0), nz - 1.000001)
    i, j = int(fi), int(fj)
    u, v = fi - i, fj - j
    return float(
        (1 - u) * (1 - v) * a[i, j] + u * (1 - v) * a[i + 1, j] + (1 - u) * v * a[i, j + 1] + u * v * a[i + 1, j + 1]
    )


def tool_edges(
    tool: Tool, z_tip: float, h: float, rr: FloatArray, zz: FloatArray, psi_w: FloatArray, psi_outside: FloatArray
) -> list[Edge]:
    """The tool's re-entrant edges that the grid resolves, with their correction radii.

    Parameters
    ----------
    tool
        The tool (m).
    z_tip
        Depth of the tool face, m.
    h
        Grid spacing, m.
    rr, zz : float64 arrays (nr, nz)
        Node coordinates of the window, m.
    psi_w, psi_outside : float64 arrays (nr, nz)
        Signed distances to the workpiece and to the region without electrolyte, m.

    Returns
    -------
    list of Edge
        Those whose radius spans at least :data:`MIN_CELLS` cells.
    """
    wall = tool.r_outer - tool.r_inner
    edges = [("outer", tool.r_outer, z_tip, [wall if tool.r_inner > 0 else tool.r_outer,
                                             tool.bare_tip if tool.coated else math.inf])]  # fmt: skip
    if tool.r_inner > 0:
        edges.append(("bore", tool.r_inner, z_tip, [wall, tool.r_inner]))
    if tool.coated:
        edges.append(("coating", tool.r_outer + tool.coating, z_tip - tool.bare_tip, [tool.coating]))
    # half the distance to the next edge of the tool (the coating's edge: 0.9 of its
    # thickness); a tool the grid cannot resolve is left uncorrected as a whole, since
    # correcting some of its edges only undoes the partial cancellation of their errors
    own = [0.9 * limits[0] if name == "coating" else 0.5 * min(limits) for name, _, _, limits in edges]
    if min(own) < MIN_CELLS * h:
        return []
    out = []
    for (name, r, z, _), radius in zip(edges, own, strict=True):
        # the anode 25 % beyond the disc, no wall of the electrolyte's outside inside it
        radius = min(radius, 0.8 * _sample(psi_w, rr, zz, h, r, z), _sample(psi_outside, rr, zz, h, r, z))
        if radius >= MIN_CELLS * h:
            out.append(Edge(name, r, z, radius))
    return out


def _patch(edge: Edge, rr: FloatArray, zz: FloatArray, h: float) -> tuple[slice, slice]:
    nr, nz = rr.shape
    reach = edge.radius + 2 * h
    i0 = max(int(math.floor((edge.r - reach - rr[0, 0]) / h)), 0)
    i1 = min(int(math.ceil((edge.r + reach - rr[0, 0]) / h)) + 1, nr)
    j0 = max(int(math.floor((edge.z - reach - zz[0, 0]) / h)), 0)
    j1 = min(int(math.ceil((edge.z + reach - zz[0, 0]) / h)) + 1, nz)
    return slice(i0, i1), slice(j0, j1)


def truncation(
    edge: Edge, kind: np.ndarray, stencil: FloatArray, rr: FloatArray, zz: FloatArray, h: float
) -> FloatArray:
    """χ τ of one edge, ``τ = A S + h r L S``, on the window (zero outside its disc).

    Parameters
    ----------
    edge
        The edge.
    kind : int8 array (nr, nz)
    stencil : float64 array (5, nr, nz)
        The assembled system (:func:`ecmsim.kernels.potential.assemble`).
    rr, zz : float64 arrays (nr, nz)
        Node coordinates, m.
    h
        Grid spacing, m.

    Returns
    -------
    float64 array (nr, nz)
        Per unit coefficient ``c`` (V/m^(2/3)); add ``c`` times it to the right-hand side.
    """
    from ecmsim.kernels import potential

    si, sj = _patch(edge, rr, zz, h)
    k = kind[si, sj]
    st = stencil[:, si, sj]
    s, s_r = edge.singular(rr[si, sj], zz[si, sj], h)
    s = np.where(k == ELECTROLYTE, s, 0.0)
    a_s = st[potential.DIAG] * s
    a_s[1:, :] -= st[potential.RM, 1:, :] * s[:-1, :]
    a_s[:-1, :] -= st[potential.RP, :-1, :] * s[1:, :]
    a_s[:, 1:] -= st[potential.ZM, :, 1:] * s[:, :-1]
    a_s[:, :-1] -= st[potential.ZP, :, :-1] * s[:, 1:]
    rho = np.hypot(rr[si, sj] - edge.r, zz[si, sj] - edge.z)
    out = np.zeros(kind.shape)
    out[si, sj] = np.where(k == ELECTROLYTE, cutoff(rho, edge.radius) * (a_s + h * s_r), 0.0)
    return out


def coefficient(edge: Edge, phi: FloatArray, kind: np.ndarray, rr: FloatArray, zz: FloatArray, h: float) -> float:
    """The coefficient ``c`` of ρ^(2/3) in ``phi`` near the edge (V/m^(2/3)), by least squares.

    Fitted on the electrolyte nodes between 1.5 h and the edge's radius with the first
    terms of the corner expansion (:meth:`Edge.basis`).
    """
    si, sj = _patch(edge, rr, zz, h)
    r, z = rr[si, sj], zz[si, sj]
    rho = np.hypot(r - edge.r, z - edge.z)
    m = (kind[si, sj] == ELECTROLYTE) & (rho > 1.5 * h) & (rho < edge.radius)
    cols = [b[m] for b in edge.basis(r, z)]
    if m.sum() < 2 * len(cols):
        return 0.0
    coef, *_ = np.linalg.lstsq(np.array(cols).T, phi[si, sj][m], rcond=None)
    return float(coef[0 if edge.dirichlet else 1])
