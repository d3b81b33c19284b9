"""Level-set kernels: advection of the anode surface, velocity extension,
redistancing and the enclosed volume.

Grid contract (as in :mod:`ecmsim.kernels.potential`)
-----------------------------------------------------
Uniform axisymmetric (r, z) grid of spacing ``h`` (m); arrays have shape ``(nr, nz)``
and are indexed ``[i, j]`` with ``r_i = i h`` (``i = 0`` on the axis).  Level sets are
signed distances (m), positive in the electrolyte, negative in the metal.  Across the
axis every field is mirrored, ``a[-1, j] = a[1, j]``; at the other edges one-sided
differences are used.  The geometric kernels (``advance``, ``extend_velocity``,
``redistance``) carry no radius weight; only ``electrolyte_volume`` does.  These
kernels take no stencil: the potential's ``(5, nr, nz)`` stencil and node kinds stay in
:mod:`ecmsim.kernels.potential`.

Argument contract
-----------------
Every array argument is a C-contiguous ``(nr, nz)`` array of the grid above (``nr, nz
>= 1``); an ``out`` array is written and must not be an input of the same call.

==============  =======  =====  ==============================================
name            dtype    unit   meaning
==============  =======  =====  ==============================================
``psi``         float64  m      level set (``redistance`` accepts any
                                sign-preserving scale of a distance)
``speed``       float64  m/s    normal speed of the receding metal, >= 0
                                (``extend_velocity``: in/out)
``known``       bool     --     nodes whose ``speed`` is data
``out``         float64  m      result level set (``advance``, ``redistance``)
``h``           float    m      grid spacing
``dt``          float    s      time step, ``dt <= 0.5 h / max(speed)``
``band``        float    m      half-width of the band around ``psi = 0`` that
                                ``extend_velocity`` fills and ``redistance``
                                caps ``|out|`` at
``n_sweeps``    int      --     fast-sweeping passes (each four orderings)
==============  =======  =====  ==============================================

Kernels::

    advance(psi, speed, dt, h, out)
    extend_velocity(psi, speed, known, band, n_sweeps)
    redistance(psi, h, band, n_sweeps, out)
    electrolyte_volume(psi, h) -> float (m^3)
"""

import math

import numpy as np
from numba import njit


@njit(cache=True)
def _one_sided(a, i, j, nr, nz, h):
    # Backward and forward differences (m/m) in r and z with the axis mirror and
    # the missing difference copied from the other one at the outer edges.
    c = a[i, j]
    if nr < 2:
        drm = 0.0
        drp = 0.0
    elif i == 0:
        drp = (a[1, j] - c) / h
        drm = -drp
    elif i == nr - 1:
        drm = (c - a[i - 1, j]) / h
        drp = drm
    else:
        drm = (c - a[i - 1, j]) / h
        drp = (a[i + 1, j] - c) / h
    if nz < 2:
        dzm = 0.0
        dzp = 0.0
    elif j == 0:
        dzp = (a[i, 1] - c) / h
        dzm = dzp
    elif j == nz - 1:
        dzm = (c - a[i, j - 1]) / h
        dzp = dzm
    else:
        dzm = (c - a[i, j - 1]) / h
        dzp = (a[i, j + 1] - c) / h
    return drm, drp, dzm, dzp


@njit(cache=True)
def advance(psi, speed, dt, h, out):
    """One explicit first-order Godunov upwind step of ``psi_t = v |grad psi|``.

    The metal (``psi < 0``) recedes at the normal speed ``v = speed >= 0``: ``psi``
    grows and the zero level moves towards negative ``psi``.  Written as
    ``psi_t + F |grad psi| = 0`` with ``F = -v <= 0``, the Osher--Sethian upwind
    gradient for ``F < 0`` is used::

        out = psi + dt v sqrt(min(D-r, 0)^2 + max(D+r, 0)^2
                              + min(D-z, 0)^2 + max(D+z, 0)^2)

    with the backward/forward differences ``D-``, ``D+`` of the 5-point stencil
    (axis mirrored, one-sided at the other edges).  Stable for
    ``dt <= 0.5 h / max v``.  Where ``speed == 0`` the value is copied unchanged.

    Parameters
    ----------
    psi : float64 array (nr, nz), m
    speed : float64 array (nr, nz), m/s, >= 0
    dt : float
        Time step (s).
    h : float
        Grid spacing (m).
    out : float64 array (nr, nz), out
        Must not be ``psi`` itself.
    """
    nr, nz = psi.shape
    for i in range(nr):
        for j in range(nz):
            v = speed[i, j]
            if v == 0.0:
                out[i, j] = psi[i, j]
                continue
            drm, drp, dzm, dzp = _one_sided(psi, i, j, nr, nz, h)
            g2 = min(drm, 0.0) ** 2 + max(drp, 0.0) ** 2 + min(dzm, 0.0) ** 2 + max(dzp, 0.0) ** 2
            out[i, j] = psi[i, j] + dt * v * math.sqrt(g2)


@njit(cache=True)
def _upwind_pick(d0, da, db, sa, sb, ua, ub):
    # From the two neighbours of one direction, the usable one with the smaller
    # distance: returns (weight, value, found).
    best = -1.0
    val = 0.0
    if ua and da < d0:
        best = da
        val = sa
    if ub and db < d0 and (best < 0.0 or db < best):
        best = db
        val = sb
    if best < 0.0:
        return 0.0, 0.0, False
    return d0 - best, val, True


@njit(cache=True)
def _extend_node(psi, speed, known, done, i, j, nr, nz):
    # Upwind update of one unknown node; returns True if it could be set.
    # Known nodes count as lying on the interface (distance 0): their value is the
    # interface value, and this lets the metal side draw on them even though they
    # sit a fraction of a cell into the electrolyte.
    # The four neighbours are spelled out on purpose: a helper returning the
    # neighbour's (distance, speed, usable) gives the same floats but made
    # extend_velocity 2-3.4x slower (0.62 -> 1.2-2.1 ms on 300 x 700 nodes), also
    # with inline="always".
    p0 = psi[i, j]
    d0 = abs(p0)
    pos = p0 >= 0.0
    # r direction (axis mirror: the i-1 neighbour of i = 0 is i + 1)
    im = i - 1 if i > 0 else (1 if nr > 1 else -1)
    ip = i + 1 if i + 1 < nr else -1
    da = 0.0
    sa = 0.0
    ua = False
    if im >= 0 and done[im, j]:
        if known[im, j]:
            da = 0.0
            ua = True
        elif (psi[im, j] >= 0.0) == pos:
            da = abs(psi[im, j])
            ua = True
        sa = speed[im, j]
    db = 0.0
    sb = 0.0
    ub = False
    if ip >= 0 and done[ip, j]:
        if known[ip, j]:
            db = 0.0
            ub = True
        elif (psi[ip, j] >= 0.0) == pos:
            db = abs(psi[ip, j])
            ub = True
        sb = speed[ip, j]
    wr, vr, fr = _upwind_pick(d0, da, db, sa, sb, ua, ub)
    # z direction
    da = 0.0
    sa = 0.0
    ua = False
    if j > 0 and done[i, j - 1]:
        if known[i, j - 1]:
            da = 0.0
            ua = True
        elif (psi[i, j - 1] >= 0.0) == pos:
            da = abs(psi[i, j - 1])
            ua = True
        sa = speed[i, j - 1]
    db = 0.0
    sb = 0.0
    ub = False
    if j + 1 < nz and done[i, j + 1]:
        if known[i, j + 1]:
            db = 0.0
            ub = True
        elif (psi[i, j + 1] >= 0.0) == pos:
            db = abs(psi[i, j + 1])
            ub = True
        sb = speed[i, j + 1]
    wz, vz, fz = _upwind_pick(d0, da, db, sa, sb, ua, ub)
    if not (fr or fz):
        return False
    wsum = wr + wz
    if wsum > 0.0:
        speed[i, j] = (wr * vr + wz * vz) / wsum
    elif fr and fz:
        speed[i, j] = 0.5 * (vr + vz)
    elif fr:
        speed[i, j] = vr
    else:
        speed[i, j] = vz
    return True


@njit(cache=True)
def extend_velocity(psi, speed, known, band, n_sweeps):
    """Extend ``speed`` off the interface so that ``grad speed . grad psi = 0``.

    Fast sweeping (four alternating Gauss--Seidel orderings per sweep).  An unknown
    node with ``|psi| < band`` solves the upwind discretisation of
    ``grad speed . grad |psi| = 0``::

        sum_{d in r, z} (|psi_ij| - |psi_d|) (s_ij - s_d) = 0

    where, per direction, ``d`` is the already-set neighbour with the smaller
    ``|psi|`` (on the node's side of the interface, or a known node, which counts
    as distance 0).  Nodes whose upwind neighbours are not set yet wait for a later
    sweep.  Nodes the upwind rule cannot reach at all (degenerate configurations,
    e.g. a node exactly on the interface) then take the mean of their set
    4-neighbours.  ``known`` nodes are left unchanged; unknown nodes with
    ``|psi| >= band`` (and any never reached) get 0.

    Parameters
    ----------
    psi : float64 array (nr, nz), m
        Signed distance.
    speed : float64 array (nr, nz), m/s, in/out
        Values at ``known`` nodes are the data; all other values are overwritten.
    known : bool array (nr, nz)
    band : float
        Half-width (m) of the band where the speed is extended.
    n_sweeps : int
        Number of sweeps (each of four orderings); 2--3 suffice for a band of a
        few cells around a smooth interface.
    """
    nr, nz = psi.shape
    done = np.zeros((nr, nz), dtype=np.bool_)
    # Per row, the columns lo[i] <= j < hi[i] holding every node to extend: the sweeps
    # visit only those (the band is a thin strip along the surface, a few per cent of
    # the grid), in the same orders, so the result is unchanged.
    lo = np.full(nr, nz, dtype=np.int64)
    hi = np.zeros(nr, dtype=np.int64)
    for i in range(nr):
        for j in range(nz):
            if known[i, j]:
                done[i, j] = True
            else:
                speed[i, j] = 0.0
                if abs(psi[i, j]) < band:
                    lo[i] = min(lo[i], j)
                    hi[i] = j + 1
    for _ in range(n_sweeps):
        for o in range(4):
            for ii in range(nr):
                i = ii if o % 2 == 0 else nr - 1 - ii
                for jj in range(lo[i], hi[i]):
                    j = jj if o < 2 else hi[i] - 1 - (jj - lo[i])
                    if known[i, j] or abs(psi[i, j]) >= band:
                        continue
                    if _extend_node(psi, speed, known, done, i, j, nr, nz):
                        done[i, j] = True
    # Fallback for nodes the upwind rule cannot reach (e.g. a node exactly on the
    # interface whose upwind neighbours all lie across it and are not known): the
    # mean of the set 4-neighbours, so that no zero speed is left on the front.
    for _ in range(n_sweeps):
        changed = False
        for i in range(nr):
            for j in range(nz):
                if done[i, j] or abs(psi[i, j]) >= band:
                    continue
                s = 0.0
                c = 0
                for k in range(4):
                    ii = i + (k == 1) - (k == 0)
                    jj = j + (k == 3) - (k == 2)
                    if ii == -1:
                        ii = 1
                    if 0 <= ii < nr and 0 <= jj < nz and done[ii, jj]:
                        s += speed[ii, jj]
                        c += 1
                if c > 0:
                    speed[i, j] = s / c
                    done[i, j] = True
                    changed = True
        if not changed:
            break


@njit(cache=True)
def _crossing(fm, f0, f1, f2, hm, h2):
    # Zero of the interpolant along a grid line between x = 0 (f0) and x = 1 (f1),
    # f0 and f1 of opposite sign, using also x = -1 (fm) and x = 2 (f2) when
    # available: a cubic is exact for any cubic profile, so a level set that is a
    # smooth monotone function of distance (5 d, d^3, ...) keeps its zero in place.
    if f0 == 0.0:
        return 0.0
    lin = f0 / (f0 - f1)
    if not (hm or h2):
        return lin
    lo = 0.0
    hi = 1.0
    flo = f0
    for _ in range(60):
        x = 0.5 * (lo + hi)
        if hm and h2:
            p = (
                -fm * x * (x - 1.0) * (x - 2.0) / 6.0
                + f0 * (x + 1.0) * (x - 1.0) * (x - 2.0) / 2.0
                - f1 * (x + 1.0) * x * (x - 2.0) / 2.0
                + f2 * (x + 1.0) * x * (x - 1.0) / 6.0
            )
        elif hm:
            p = fm * x * (x - 1.0) / 2.0 - f0 * (x + 1.0) * (x - 1.0) + f1 * (x + 1.0) * x / 2.0
        else:
            p = f0 * (x - 1.0) * (x - 2.0) / 2.0 - f1 * x * (x - 2.0) + f2 * x * (x - 1.0) / 2.0
        if (p > 0.0) == (flo > 0.0):
            lo = x
            flo = p
        else:
            hi = x
    return 0.5 * (lo + hi)


@njit(cache=True)
def _line_crossing(a, i, j, di, dj, nr, nz):
    # Crossing fraction on the link from (i, j) to (i + di, j + dj) of the 2-D
    # array a (axis mirrored in r), or -1 if the link has no sign change.
    i1 = i + di
    j1 = j + dj
    if i1 == -1:
        i1 = 1
    if i1 < 0 or i1 >= nr or j1 < 0 or j1 >= nz:
        return -1.0
    f0 = a[i, j]
    f1 = a[i1, j1]
    if (f0 > 0.0) == (f1 > 0.0) and f0 != 0.0:
        return -1.0
    im = i - di
    jm = j - dj
    if im == -1:
        im = 1
    i2 = i + 2 * di
    j2 = j + 2 * dj
    if i2 < 0:
        i2 = -i2
    hm = 0 <= im < nr and 0 <= jm < nz
    h2 = 0 <= i2 < nr and 0 <= j2 < nz
    fm = a[im, jm] if hm else 0.0
    f2 = a[i2, j2] if h2 else 0.0
    # Beyond a second sign change the extra points describe another interface.
    if hm and (fm > 0.0) != (f0 > 0.0):
        hm = False
    if h2 and (f2 > 0.0) != (f1 > 0.0):
        h2 = False
    return _crossing(fm, f0, f1, f2, hm, h2)


@njit(cache=True)
def _central(a, i, j, nr, nz, h):
    drm, drp, dzm, dzp = _one_sided(a, i, j, nr, nz, h)
    return 0.5 * (drm + drp), 0.5 * (dzm + dzp)


@njit(cache=True)
def _interface_distance(psi, i, j, nr, nz, h, a, b):
    # Step 1 of redistance for a node with a crossing at a (r) and/or b (z) cells
    # (<= 1.5): the distance (m) to the line through both crossings, or, with one
    # crossing, its distance projected on the normal from central differences.
    if a <= 1.5 and b <= 1.5:
        s = math.sqrt(a * a + b * b)
        return a * b / s * h if s > 0.0 else 0.0
    gr, gz = _central(psi, i, j, nr, nz, h)
    g = math.sqrt(gr * gr + gz * gz)
    if a <= 1.5:
        return a * h * (abs(gr) / g if g > 0.0 else 1.0)
    return b * h * (abs(gz) / g if g > 0.0 else 1.0)


@njit(cache=True)
def _fix_interface_nodes(psi, h, band, out, fixed):
    # Step 1: |distance| of the nodes next to the interface (marked in ``fixed``), capped
    # at band; every other node starts at band.
    nr, nz = psi.shape
    for i in range(nr):
        for j in range(nz):
            out[i, j] = band
            # distances in cells to the nearest crossing on the r-links (a) and on
            # the z-links (b), 2 where there is none; written out here, as a helper
            # returning (a, b) made redistance 1.5-2x slower
            a = 2.0
            b = 2.0
            t = _line_crossing(psi, i, j, -1, 0, nr, nz) if i > 0 else -1.0
            if t >= 0.0:
                a = t
            t = _line_crossing(psi, i, j, 1, 0, nr, nz)
            if t >= 0.0 and t < a:
                a = t
            t = _line_crossing(psi, i, j, 0, -1, nr, nz)
            if t >= 0.0:
                b = t
            t = _line_crossing(psi, i, j, 0, 1, nr, nz)
            if t >= 0.0 and t < b:
                b = t
            if a > 1.5 and b > 1.5:
                continue
            fixed[i, j] = True
            out[i, j] = min(_interface_distance(psi, i, j, nr, nz, h, a, b), band)


@njit(cache=True)
def _eikonal_update(d, i, j, nr, nz, h, band):
    # Godunov update of |grad d| = 1 at node (i, j) from its smaller neighbours in r
    # (axis mirrored) and z.  Non-fixed nodes have all neighbours on their own side.
    if nr < 2:
        a = band
    elif i == 0:
        a = d[1, j]
    elif i == nr - 1:
        a = d[i - 1, j]
    else:
        a = min(d[i - 1, j], d[i + 1, j])
    if nz < 2:
        b = band
    elif j == 0:
        b = d[i, 1]
    elif j == nz - 1:
        b = d[i, j - 1]
    else:
        b = min(d[i, j - 1], d[i, j + 1])
    if abs(a - b) >= h:
        return min(a, b) + h
    return 0.5 * (a + b + math.sqrt(2.0 * h * h - (a - b) ** 2))


@njit(cache=True)
def _sweep_distances(d, fixed, h, band, n_sweeps):
    # Step 2: fast sweeping of |grad d| = 1 over the non-fixed nodes, four orderings per
    # sweep; a node only ever decreases.
    nr, nz = d.shape
    for _ in range(n_sweeps):
        for o in range(4):
            for ii in range(nr):
                i = ii if o % 2 == 0 else nr - 1 - ii
                for jj in range(nz):
                    j = jj if o < 2 else nz - 1 - jj
                    if fixed[i, j]:
                        continue
                    v = _eikonal_update(d, i, j, nr, nz, h, band)
                    if v < d[i, j]:
                        d[i, j] = v


@njit(cache=True)
def _copy_sign(psi, d):
    # Step 3: the distance takes the sign of psi (negative in the metal).
    nr, nz = psi.shape
    for i in range(nr):
        for j in range(nz):
            if psi[i, j] < 0.0:
                d[i, j] = -d[i, j]


@njit(cache=True)
def redistance(psi, h, band, n_sweeps, out):
    """Reinitialise ``psi`` to a signed distance, keeping its zero level in place.

    1. Nodes next to the interface (a sign change on a 4-neighbour link) get the
       distance to the interface reconstructed from the crossing points on their
       links (located with a cubic/quadratic interpolant along the grid line, so a
       monotone rescaling of a distance keeps its zero): with crossings at
       distances ``a`` (nearest in r) and ``b`` (nearest in z),
       ``d = a b / sqrt(a^2 + b^2)``, the distance to the line through both points;
       with crossings in one direction only, ``d = a |n_r|`` (or ``b |n_z|``) with
       ``n`` from central differences of ``psi``.
    2. All other nodes: fast sweeping (Zhao 2005) of the Godunov discretisation of
       ``|grad d| = 1`` separately on each side::

           d = min(a, b) + h                            if |a - b| >= h
           d = (a + b + sqrt(2 h^2 - (a - b)^2)) / 2    otherwise

       with ``a``, ``b`` the smaller neighbour distances in r and z (axis
       mirrored), four orderings per sweep.  Distances are capped at ``band``.

    Parameters
    ----------
    psi : float64 array (nr, nz)
        Level set (any sign-preserving scale; positive in the electrolyte).
    h : float
        Grid spacing (m).
    band : float
        Cap (m) of ``|out|``.
    n_sweeps : int
        Number of sweeps (each of four orderings).
    out : float64 array (nr, nz), out, m
        Signed distance; must not be ``psi`` itself.
    """
    nr, nz = psi.shape
    fixed = np.zeros((nr, nz), dtype=np.bool_)
    _fix_interface_nodes(psi, h, band, out, fixed)
    _sweep_distances(out, fixed, h, band, n_sweeps)
    _copy_sign(psi, out)


@njit(cache=True)
def _cut_square_fraction(d, nr_, nz_):
    """Area fraction of the unit-side square (centred at the node) where
    ``n . x < d``, for a unit normal ``n = (nr_, nz_)`` and ``d`` in cell sides.

    Closed form of Scardovelli & Zaleski, JCP 164 (2000) 228, 2-D case.
    """
    m1 = abs(nr_)
    m2 = abs(nz_)
    s = m1 + m2
    if s == 0.0:
        return 1.0 if d > 0.0 else 0.0
    if m1 > m2:
        m1, m2 = m2, m1
    m1 /= s
    m2 /= s
    alpha = d / s + 0.5
    if alpha <= 0.0:
        return 0.0
    if alpha >= 1.0:
        return 1.0
    if alpha <= m1:
        return alpha * alpha / (2.0 * m1 * m2)
    if alpha <= m2:
        return alpha / m2 - m1 / (2.0 * m2)
    return 1.0 - (1.0 - alpha) ** 2 / (2.0 * m1 * m2)


@njit(cache=True)
def electrolyte_volume(psi, h):
    """Volume (m^3) of the region ``psi > 0`` in the axisymmetric domain.

    ``V = sum_ij 2 pi rw_i h^2 f_ij`` with ``rw_i = i h`` and ``rw_0 = h/8`` (the
    axis control volume ``[0, h/2]``, as in the potential's weights).  ``f_ij`` is
    the fraction of the square ``[r_i +- h/2] x [z_j +- h/2]`` on the positive side
    of the line through the node with normal ``n = grad psi / |grad psi|`` (central
    differences, axis mirrored, one-sided at the other edges) and signed distance
    ``psi_ij``: the exact area of a square cut by a line (Scardovelli & Zaleski
    2000); ``f`` is 1 or 0 once ``|psi_ij| >= h (|n_r| + |n_z|) / 2``.  Every node
    counts its full square, also on the outer edges of the array.

    Parameters
    ----------
    psi : float64 array (nr, nz), m
        Signed distance, positive in the electrolyte.
    h : float
        Grid spacing (m).

    Returns
    -------
    float
        Volume in m^3.
    """
    nr, nz = psi.shape
    v = 0.0
    for i in range(nr):
        rw = 0.125 if i == 0 else float(i)
        for j in range(nz):
            p = psi[i, j]
            # Far from the interface the square is whole or empty: |n_r| + |n_z| <= sqrt(2).
            if p >= 0.7072 * h:
                v += rw
                continue
            if p <= -0.7072 * h:
                continue
            gr, gz = _central(psi, i, j, nr, nz, h)
            if i == 0:
                gr = 0.0
            g = math.sqrt(gr * gr + gz * gz)
            if g == 0.0:
                f = 1.0 if p > 0.0 else 0.0
            else:
                # the positive side n.x > -p has the same area as n.x < p
                f = _cut_square_fraction(p / h, gr / g, gz / g)
            v += rw * f
    return 2.0 * math.pi * h**3 * v
