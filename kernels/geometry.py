"""Tool geometry on the grid: the signed distance to a coated tubular electrode.

Grid contract (as in :mod:`ecmsim.kernels.potential`)
-----------------------------------------------------
Arrays of shape ``(nr, nz)`` indexed ``[i, j]``, ``r_i = i h`` (``i = 0`` on the axis),
``z_j = z0 + j h`` with z pointing down into the workpiece.  Signed distances are in
metres, positive outside the body (in the electrolyte), as every level set of the
kernels.

Argument contract
-----------------
``tool_signed_distance(h, z0, r_in, r_out, coating, bare_tip, z_tip, out)``: every
length is a float in metres (``0 <= r_in < r_out``, ``coating >= 0``, ``bare_tip >=
0``; ``r_in = 0`` is a solid rod); ``out`` is a C-contiguous float64 ``(nr, nz)`` array,
written, whose shape sets the grid.
"""

import math

from numba import njit


@njit(cache=True)
def _box(r, z, r0, r1, z1):
    # Signed distance to the box r0 <= r <= r1, z <= z1 (open upward); r0 <= 0 is a
    # solid rod (the axis lies inside).
    if r0 <= 0.0:
        dr = r - r1
    else:
        dr = max(r0 - r, r - r1)
    dz = z - z1
    a = max(dr, 0.0)
    b = max(dz, 0.0)
    return math.sqrt(a * a + b * b) + min(max(dr, dz), 0.0)


@njit(cache=True)
def tool_signed_distance(h, z0, r_in, r_out, coating, bare_tip, z_tip, out):
    """Signed distance (m) to the tool body, > 0 outside, written into ``out``.

    The body is the union of the metal tube ``r_in <= r <= r_out, z <= z_tip`` and,
    when ``coating > 0``, the coating ``r_out <= r <= r_out + coating,
    z <= z_tip - bare_tip``; both reach up beyond the grid.  The union's distance
    is the minimum of the two boxes' distances: exact outside the body, a good
    approximation inside (only the sign and the values next to the surface are
    used).

    Parameters
    ----------
    h : float
        Grid spacing (m).
    z0 : float
        z of the first column of ``out`` (m).
    r_in, r_out, coating, bare_tip, z_tip : float
        Bore and outer radius, coating thickness, bare length behind the tip face
        and depth of the tip face (m).
    out : float64 array (nr, nz)
    """
    nr, nz = out.shape
    for i in range(nr):
        r = i * h
        for j in range(nz):
            z = z0 + j * h
            d = _box(r, z, r_in, r_out, z_tip)
            if coating > 0.0:
                d = min(d, _box(r, z, r_out, r_out + coating, z_tip - bare_tip))
            out[i, j] = d


@njit(cache=True)
def insulator_signed_distance(h, z0, r0, r1, z_end, base, out):
    """Signed distance (m) to the insulators, ``min(base, box)``, written into ``out``.

    ``box`` is the signed distance to the insulating part of a coated tool,
    ``r0 <= r <= r1, z <= z_end`` (mid-wall to the coating's outer face, down to the
    coating's end); ``base`` the distance to the other insulators (the region
    without electrolyte).  Positive in the electrolyte.

    Parameters
    ----------
    h, z0 : float
        Grid spacing and z of the first column of ``out`` (m), as in
        :func:`tool_signed_distance`.
    r0, r1, z_end : float
        The insulating box (m), ``0 < r0 < r1``.
    base : float64 array (nr, nz), m
    out : float64 array (nr, nz)
    """
    nr, nz = out.shape
    for i in range(nr):
        r = i * h
        for j in range(nz):
            out[i, j] = min(base[i, j], _box(r, z0 + j * h, r0, r1, z_end))
