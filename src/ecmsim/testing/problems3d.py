"""Standard 3D potential problems on the half-domain grid of ``ecmsim.kernels.potential3d``.

Each builder returns a :class:`Problem3D`: the grid spacing, node kinds, the three level
sets and, where there is one, the exact potential.  Grids hold ``y >= 0`` (``j = 0`` on
the mirror plane); lengths are in mm (the kernels are scale-free), potentials in V.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ecmsim.geometry import ANODE, CATHODE, OUTSIDE
from ecmsim.testing.problems import rounded_box_distance

FloatArray = npt.NDArray[np.float64]
KindArray = npt.NDArray[np.int8]


@dataclass(frozen=True)
class Problem3D:
    """A 3D potential problem (arrays ``(nx, ny, nz)``).

    Attributes
    ----------
    h
        Grid spacing (mm).
    kind
        Node kinds: anode where ``psi_w <= 0``, cathode where ``psi_t <= 0``, outside
        where ``psi_n < -h`` (the whole control volume inside the insulator), else 0.
    psi_w, psi_t, psi_n
        Signed distances to the anode, the cathode and the insulating walls (mm).
    u_anode
        Anode potential (V).
    phi_exact
        Exact potential at every node (V), or None.
    coords
        ``(x, y, z)`` node coordinates (mm), each ``(nx, ny, nz)``.
    """

    h: float
    kind: KindArray
    psi_w: FloatArray
    psi_t: FloatArray
    psi_n: FloatArray
    u_anode: float
    phi_exact: FloatArray | None
    coords: tuple[FloatArray, FloatArray, FloatArray]


def box_grid(h: float, x0: float, nx: int, ny: int, z0: float, nz: int, y0: float = 0.0) -> tuple[FloatArray, ...]:
    """Node coordinates ``x = x0 + i h, y = y0 + j h, z = z0 + k h`` as ``(nx, ny, nz)`` arrays."""
    axes = (x0 + h * np.arange(nx), y0 + h * np.arange(ny), z0 + h * np.arange(nz))
    x, y, z = np.meshgrid(*axes, indexing="ij")
    return x, y, z


def _kinds(h: float, psi_w: FloatArray, psi_t: FloatArray, psi_n: FloatArray) -> KindArray:
    kind = np.zeros(psi_w.shape, dtype=np.int8)
    kind[psi_n < -h] = OUTSIDE
    kind[psi_w <= 0.0] = ANODE
    kind[psi_t <= 0.0] = CATHODE
    return kind


def coaxial3d(
    n: int, tilt_deg: float = 0.0, r_cathode: float = 0.3, r_anode: float = 0.75, u_anode: float = 10.0
) -> Problem3D:
    """Coaxial cylinders, cathode inside, axis through the origin in the x-z plane.

    With ``tilt_deg = 0`` the axis is the z axis and the grid is 4 nodes long in z
    (the solution does not vary along the axis, the array ends are exact zero-flux
    walls); otherwise the axis is tilted by ``tilt_deg`` from z towards x and the
    annulus is closed by two insulating planes normal to the axis at ``s = +-0.6``
    (exact zero-flux walls for ``phi(r)``).  ``n`` nodes span about ``2.3 r_anode`` in x.
    Exact potential ``u ln(r / r_c) / ln(r_a / r_c)``.
    """
    h = 2.3 * r_anode / (n - 1)
    t = np.radians(tilt_deg)
    ax, az = np.sin(t), np.cos(t)
    half_len = 0.6
    hx = 1.15 * r_anode + (half_len * ax if tilt_deg else 0.0)
    nx = int(np.ceil(2 * hx / h)) + 1
    nz = 4 if tilt_deg == 0.0 else int(np.ceil(2 * (half_len * az + r_anode * ax + 2 * h) / h)) + 1
    x, y, z = box_grid(h, -0.5 * (nx - 1) * h, nx, n // 2 + 1, -0.5 * (nz - 1) * h, nz)
    s = x * ax + z * az
    r = np.sqrt((x - s * ax) ** 2 + y**2 + (z - s * az) ** 2)
    psi_t = r - r_cathode
    psi_w = r_anode - r
    psi_n = np.ones_like(r) if tilt_deg == 0.0 else np.minimum(s + half_len, half_len - s)
    exact = u_anode * np.log(np.maximum(r, 1e-12) / r_cathode) / np.log(r_anode / r_cathode)
    return Problem3D(h, _kinds(h, psi_w, psi_t, psi_n), psi_w, psi_t, psi_n, u_anode, exact, (x, y, z))


def planar_gap3d(n: int, tilt_deg: float = 20.0, u_anode: float = 10.0) -> Problem3D:
    """A planar gap between tilted planes, closed by tilted insulating walls.

    On a unit box of ``n`` nodes per side (``y >= 0`` half): the cathode ``s <= -0.3``
    and the anode ``s >= 0.25`` with ``s = x sin(t) + z cos(t)``, and insulating walls
    ``q <= -0.33`` and ``q >= 0.31`` with ``q = x cos(t) - z sin(t)`` (parallel to the
    field).  Exact potential ``u (s + 0.3) / 0.55``, linear.
    """
    h = 1.0 / (n - 1)
    t = np.radians(tilt_deg)
    x, y, z = box_grid(h, -0.5, n, n // 2 + 1, -0.5, n)
    s = x * np.sin(t) + z * np.cos(t)
    q = x * np.cos(t) - z * np.sin(t)
    psi_t = s + 0.3
    psi_w = 0.25 - s
    psi_n = np.minimum(q + 0.33, 0.31 - q)
    exact = u_anode * (s + 0.3) / 0.55
    return Problem3D(h, _kinds(h, psi_w, psi_t, psi_n), psi_w, psi_t, psi_n, u_anode, exact, (x, y, z))


def tube_over_plate(
    h: float,
    radius: float = 1.5,
    top: float = 1.0,
    tool_radii: tuple[float, float] = (0.2, 0.5),
    gap: float = 0.2,
    u_anode: float = 10.0,
) -> tuple[Problem3D, tuple[KindArray, FloatArray, FloatArray]]:
    """A tube tool normal to a flat anode in a round cell, in 3D and on the axisymmetric grid.

    The anode fills ``z <= 0``, the tube ``tool_radii[0] <= r <= tool_radii[1]``,
    ``z >= gap`` (square corners), the cell ends at ``z = top`` and at the radius where
    the axisymmetric grid ends, ``(nr - 1/2) h`` (its zero-flux wall half a cell beyond
    the last node), which the 3D problem places as an insulating cylinder.  Both grids
    have ``z_k = -1.3 h + k h`` and spacing ``h``; the 3D one has the tool axis on the
    node column ``x = 0, y = 0``.

    Returns
    -------
    Problem3D
        The 3D problem (no exact solution).
    (kind, psi_w, psi_t)
        The axisymmetric problem on ``r_i = i h`` (arrays ``(nr, nz)``).
    """
    nr = int(round(radius / h + 0.5))
    z0 = -1.3 * h
    nz = int((top - z0) / h) + 1
    r_in, r_out = tool_radii
    rr, zz = np.meshgrid(h * np.arange(nr), z0 + h * np.arange(nz), indexing="ij")
    psi_w2 = zz.copy()
    psi_t2 = rounded_box_distance(rr, zz, r_in, r_out, gap, 10.0 * top, 0.0)
    kind2 = _kinds(h, psi_w2, psi_t2, np.ones_like(rr))
    nx = 2 * (nr + 2) + 1
    x, y, z = box_grid(h, -(nr + 2) * h, nx, nr + 3, z0, nz)
    r = np.hypot(x, y)
    psi_t = rounded_box_distance(r, z, r_in, r_out, gap, 10.0 * top, 0.0)
    psi_n = (nr - 0.5) * h - r
    problem = Problem3D(h, _kinds(h, z, psi_t, psi_n), z.copy(), psi_t, psi_n, u_anode, None, (x, y, z))
    return problem, (kind2, psi_w2, psi_t2)
