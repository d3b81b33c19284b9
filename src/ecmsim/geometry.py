"""Grid, tool and workpiece geometry on the axisymmetric (r, z) grid (NumPy, SI).

Conventions (shared with the kernels): arrays have shape ``(nr, nz)``;
``r_i = i h`` with node 0 on the axis; ``z_j = z0 + j h`` with z pointing
down into the workpiece and z = 0 on its original top surface.  Level sets
are signed distances, positive in the electrolyte.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

ELECTROLYTE, ANODE, CATHODE, INSULATOR, OUTSIDE = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class Grid:
    """A uniform axisymmetric grid.

    Attributes
    ----------
    h : float
        Spacing, m.
    nr, nz : int
        Nodes in r and z.
    z0 : float
        z of the first row, m (negative: above the workpiece surface).
    """

    h: float
    nr: int
    nz: int
    z0: float

    @property
    def r(self) -> FloatArray:
        """Node radii, m, shape (nr,)."""
        return np.asarray(np.arange(self.nr) * self.h, dtype=np.float64)

    @property
    def z(self) -> FloatArray:
        """Node depths, m, shape (nz,)."""
        return np.asarray(self.z0 + np.arange(self.nz) * self.h, dtype=np.float64)

    def mesh(self) -> tuple[FloatArray, FloatArray]:
        """(R, Z) node coordinates, each of shape (nr, nz)."""
        return np.meshgrid(self.r, self.z, indexing="ij")


@dataclass(frozen=True)
class Tool:
    """A tubular tool electrode, SI units.

    Attributes
    ----------
    r_inner, r_outer : float
        Bore and outer radius of the metal tube, m (r_inner = 0: solid rod).
    coating : float
        Insulating coating thickness on the outer wall, m (0: bare tool).
    bare_tip : float
        Uncoated length of the outer wall behind the tip face, m.
    """

    r_inner: float
    r_outer: float
    coating: float
    bare_tip: float

    @property
    def coated(self) -> bool:
        return self.coating > 0.0

    def signed_distance(self, grid: Grid, z_tip: float, j0: int, nz: int, with_coating: bool = True) -> FloatArray:
        """Signed distance to the tool body (tube ∪ coating) on rows ``j0:j0+nz``, > 0 outside, m.

        With ``with_coating=False`` the distance to the metal tube alone: the
        conducting surface, whose distance places the cathode for the potential
        (next to the coating's end the body's distance is the coating's).
        Computed by :func:`ecmsim.kernels.geometry.tool_signed_distance`.
        """
        from ecmsim.kernels import geometry

        out = np.empty((grid.nr, nz))
        coating = self.coating if with_coating else 0.0
        geometry.tool_signed_distance(
            grid.h, grid.z0 + j0 * grid.h, self.r_inner, self.r_outer, coating, self.bare_tip, z_tip, out
        )
        return out

    def classify(self, zz: FloatArray, rr: FloatArray, psi_t: FloatArray, z_tip: float) -> npt.NDArray[np.bool_]:
        """Insulating tool nodes: the coated zone, outer half of the wall and the coating.

        Tool nodes in the coated zone that face the outside (r ≥ mid-wall)
        are insulators even where the coating is thinner than a cell, so the
        coating always blocks current; the bore side stays a cathode.
        """
        if not self.coated:
            return np.zeros(psi_t.shape, dtype=bool)
        mid = 0.5 * (self.r_inner + self.r_outer)
        return (psi_t <= 0.0) & (zz <= z_tip - self.bare_tip) & (rr >= mid)


def insulator_distance(tool: Tool, grid: Grid, j0: int, base: FloatArray, z_tip: float) -> FloatArray:
    """Signed distance to every insulating face on rows ``j0:``, m (> 0 in the electrolyte).

    The minimum of ``base`` (the distance to the region without electrolyte, shape
    ``(nr, nz)``) and, for a coated tool, the distance to the box of
    :meth:`Tool.classify`: mid-wall to the coating's outer face, down to the end
    of the coating (``z_tip - bare_tip``).  Its zero is where the coating faces
    really are, which the potential uses to place them between grid nodes.
    Computed by :func:`ecmsim.kernels.geometry.insulator_signed_distance`.
    """
    if not tool.coated:
        return base.copy()
    from ecmsim.kernels import geometry

    out = np.empty_like(base)
    mid = 0.5 * (tool.r_inner + tool.r_outer)
    geometry.insulator_signed_distance(
        grid.h, grid.z0 + j0 * grid.h, mid, tool.r_outer + tool.coating, z_tip - tool.bare_tip, base, out
    )
    return out


def wall_radius(grid: Grid, psi_w: FloatArray, r_start: float) -> FloatArray:
    """Radius of the hole wall in each row, m (NaN where the row has no hole).

    Scans outward from ``r_start`` (the bore radius, so that a remaining
    central core is skipped) for the first electrolyte → metal sign change
    and interpolates the crossing linearly.

    Returns
    -------
    ndarray, shape (psi_w.shape[1],)
    """
    h = grid.h
    nr, nz = psi_w.shape  # the full grid or a window of its rows
    i0 = min(int(np.ceil(r_start / h)), nr - 2)
    a = psi_w[i0:, :]
    inside = a > 0.0
    # first electrolyte node at or after i0, then first metal node after it
    out = np.full(nz, np.nan)
    has = inside.any(axis=0)
    first_e = np.argmax(inside, axis=0)
    n = a.shape[0]
    idx = np.arange(n)[:, None]
    metal_after = (~inside) & (idx > first_e[None, :])
    has_wall = has & metal_after.any(axis=0)
    k = np.argmax(metal_after, axis=0)
    cols = np.nonzero(has_wall)[0]
    kk = k[cols]
    p0 = a[kk - 1, cols]
    p1 = a[kk, cols]
    frac = p0 / (p0 - p1)
    out[cols] = (i0 + kk - 1 + frac) * h
    return out


def bottom_depth(grid: Grid, psi_w: FloatArray, i: int, z_from: float) -> float:
    """Depth (m) of the first metal crossing in column ``i`` below ``z_from``.

    Returns ``inf`` when there is no metal below (the hole broke through).
    """
    col = psi_w[i, :]
    z = grid.z
    j0 = max(int(np.searchsorted(z, z_from)), 1)
    metal = np.nonzero(col[j0:] <= 0.0)[0]
    if metal.size == 0:
        return float("inf")
    j = j0 + int(metal[0])
    p0, p1 = col[j - 1], col[j]
    if p0 <= 0.0:
        return float(z[j - 1])
    return float(z[j - 1] + grid.h * p0 / (p0 - p1))
