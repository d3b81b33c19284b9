"""Kernels of the direct equilibrium solve: distances to a polyline, the wall's march.

Grid contract (as in :mod:`ecmsim.kernels.potential`)
-----------------------------------------------------
Arrays of shape ``(nr, nz)`` indexed ``[i, j]``, node ``(r_i, z_j) = (i h, z0 + j h)``
(``i = 0`` on the axis), z pointing down into the workpiece; lengths in metres.

Argument contract
-----------------
``polyline_distance(pr, pz, z0, h, reach, out)``: ``pr, pz`` float64 arrays of the
same size >= 1, the polyline's vertices in order (m); ``reach > 0`` (m); ``out`` a
C-contiguous float64 ``(nr, nz)`` array, written, whose shape sets the grid.

``march_wall(speed, z0, h, r_start, z_start, feed, z_top, out_r, out_z)``: ``speed``
a float64 ``(nr, nz)`` array (m/s, ``nr, nz >= 2``), ``feed > 0`` (m/s), the other
scalars in m; ``out_r, out_z`` float64 arrays of the same size >= 1, written up to the
returned count.
"""

import math

from numba import njit


@njit(cache=True)
def polyline_distance(pr, pz, z0, h, reach, out):
    """Distance from every node to the polyline (pr, pz), capped at ``reach``, m.

    ``out[i, j] = min(reach, min_k dist((r_i, z_j), segment k))`` over the segments
    between consecutive vertices (a single vertex is a point).  Each segment visits
    only the nodes of its bounding box widened by ``reach``.
    """
    nr, nz = out.shape
    for i in range(nr):
        for j in range(nz):
            out[i, j] = reach
    n_seg = max(pr.size - 1, 1)
    for k in range(n_seg):
        k1 = min(k + 1, pr.size - 1)
        ar, az = pr[k], pz[k]
        dr, dz = pr[k1] - ar, pz[k1] - az
        dd = dr * dr + dz * dz
        i0 = max(0, int(math.floor((min(ar, ar + dr) - reach) / h)))
        i1 = min(nr - 1, int(math.ceil((max(ar, ar + dr) + reach) / h)))
        j0 = max(0, int(math.floor((min(az, az + dz) - reach - z0) / h)))
        j1 = min(nz - 1, int(math.ceil((max(az, az + dz) + reach - z0) / h)))
        for i in range(i0, i1 + 1):
            er = i * h - ar
            for j in range(j0, j1 + 1):
                ez = z0 + j * h - az
                t = 0.0
                if dd > 0.0:
                    t = min(max((er * dr + ez * dz) / dd, 0.0), 1.0)
                d = math.hypot(er - t * dr, ez - t * dz)
                if d < out[i, j]:
                    out[i, j] = d


@njit(cache=True)
def _sample(field, r, z, z0, h):
    # bilinear interpolation at (r, z), clamped to the grid
    nr, nz = field.shape
    x = min(max(r / h, 0.0), nr - 1.000001)
    y = min(max((z - z0) / h, 0.0), nz - 1.000001)
    i, j = int(x), int(y)
    fx, fy = x - i, y - j
    return (field[i, j] * (1 - fx) + field[i + 1, j] * fx) * (1 - fy) + (
        field[i, j + 1] * (1 - fx) + field[i + 1, j + 1] * fx
    ) * fy


@njit(cache=True)
def _direction(speed, r, z, z0, h, feed):
    # (dr, -dz) per unit length of a surface at angle arccos(v_n / f) to the horizontal
    s = min(max(_sample(speed, r, z, z0, h) / feed, 0.0), 1.0)
    return s, math.sqrt(1.0 - s * s)


@njit(cache=True)
def march_wall(speed, z0, h, r_start, z_start, feed, z_top, out_r, out_z):
    """Integrate the steady surface v_n = f n_z from (r_start, z_start) up to ``z_top``.

    Heun steps of arclength h/2 along the direction (s, -√(1 - s²)), s = clamp(v / f,
    0, 1) with v the bilinear interpolation of ``speed``; after each step the point
    (r, max(z, z_top)) is stored.  Stops once z <= z_top or the outputs are full.

    Returns
    -------
    int
        The number of points stored.
    """
    ds = 0.5 * h
    r, z = r_start, z_start
    n = 0
    while z > z_top and n < out_r.size:
        c1, s1 = _direction(speed, r, z, z0, h, feed)
        c2, s2 = _direction(speed, r + ds * c1, z - ds * s1, z0, h, feed)
        r += 0.5 * ds * (c1 + c2)
        z -= 0.5 * ds * (s1 + s2)
        out_r[n] = r
        out_z[n] = max(z, z_top)
        n += 1
    return n
