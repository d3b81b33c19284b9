"""Potential in the electrolyte: axisymmetric Laplace equation on an embedded boundary.

Grid contract shared by every function here
-------------------------------------------
Uniform axisymmetric (r, z) grid of spacing ``h`` (m); arrays have shape ``(nr, nz)``
and are indexed ``[i, j]`` with ``r_i = i h`` (``i = 0`` on the axis) and
``z_j = z0 + j h``.  ``kind`` (int8) marks each node: 0 electrolyte (unknown),
1 anode metal (Dirichlet ``u_anode`` on ``psi_w = 0``), 2 cathode metal (Dirichlet 0
on ``psi_t = 0``), 3 insulator and 4 outside the domain (both zero flux on
``psi_n = 0``: links to them are dropped and the wall cuts the control volume).
Links leaving the array are dropped (zero-flux walls half a cell out); the axis is
a symmetry line.

Discretisation
--------------
Finite volumes weighted by radius, everything divided by ``h``: for an electrolyte
node ``(i, j)``

    sum_links w_l (phi_nb - phi_ij) = 0,

with ``w = i - 1/2`` for the link to ``i - 1`` (absent at ``i = 0``), ``w = i + 1/2``
to ``i + 1`` and ``w = i`` (``1/8`` on the axis) to ``j - 1`` and ``j + 1``, on a
grid without insulators.

Insulating walls (kinds 3 and 4) are embedded Neumann boundaries at the zero of
their level set ``psi_n``: the control volume of a node reaches from the node to
distances ``e_rm, e_rp, e_zm, e_zp`` (in ``h``) on each side, ``1/2`` normally
(``e_rm = 0`` on the axis), and ``theta = psi_n0 / (psi_n0 - psi_nb)`` (clamped to
``[theta_min, 1]``) towards an insulating neighbour whose ``psi_n <= 0``, i.e. to
where the wall is rather than half a cell out (an insulating neighbour with
``psi_n > 0`` keeps the half-way face).  A link's weight is the radius-weighted
area of the face it crosses, shared by the two control volumes: an r-link between
``i`` and ``i + 1`` has ``w = (i + 1/2) (min(e_zm) + min(e_zp))`` over the two
nodes, a z-link ``w = ((i + e_p)^2 - (i - e_m)^2) / 2`` with ``e_m = min(e_rm)``,
``e_p = min(e_rp)``.  The weights stay symmetric, and the wall's flux balance holds
where the wall is, which makes the potential second-order accurate next to walls
that cut the grid between nodes (dropping the links alone puts every wall on the
nearest cell face, up to half a cell off: first order).  On the
axis the row reads ``(phi_1 - phi_0)/2 + (phi_{j+1} - 2 phi_j + phi_{j-1})/8 = 0``,
i.e. ``4 (phi_1 - phi_0) + ...``, the axisymmetric Laplacian ``2 phi_rr + phi_zz``.
A link to a Dirichlet node (kind 1 or 2) is cut at the fraction ``theta`` of its
length given by linear interpolation of the level set, clamped to
``[theta_min, 1]``; its term becomes ``w_c (phi_b - phi_ij) / theta`` (Gibou, Fedkiw,
Cheng & Kang, JCP 176 (2002) 205), which only adds to the diagonal and the right-hand
side and so keeps the matrix symmetric.  For a cut r-link the radius weight is taken
at the middle of the cut part, ``w_c = (i +- theta/2) (e_zm + e_zp)``, instead of at
the cell face ``i +- 1/2``: the flux ``r dphi/dr`` through the cut link is then
second-order accurate, which makes the anode normal gradient and the boundary
current converge at second order (with ``i +- 1/2`` they are first order; measured
on the coaxial case).  Cut z-links have ``w_c = ((i + e_rp)^2 - (i - e_rm)^2) / 2``,
the node's own radius-weighted width.

Stencil contract
----------------
The matrix ``A`` is stored as one float64 array ``stencil`` of shape ``(5, nr, nz)``
(C-contiguous, so each ``stencil[k]`` is a C-contiguous ``(nr, nz)`` block).  The row of
electrolyte node ``(i, j)`` reads (dimensionless; the equation was divided by ``h``)::

    stencil[DIAG, i, j] phi_ij - stencil[RM, i, j] phi_{i-1,j} - stencil[RP, i, j] phi_{i+1,j}
                               - stencil[ZM, i, j] phi_{i,j-1} - stencil[ZP, i, j] phi_{i,j+1}
        = rhs_ij  (V)

with the index constants of this module:

``DIAG`` (0)
    Diagonal: the sum of the link weights, cut links counted as ``w_c / theta``.
``RM``, ``RP`` (1, 2)
    Positive weights of the links to ``(i - 1, j)`` and ``(i + 1, j)``.
``ZM``, ``ZP`` (3, 4)
    Positive weights of the links to ``(i, j - 1)`` and ``(i, j + 1)``.

``A`` has ``-stencil[k]`` off the diagonal; every entry is zero on non-electrolyte
nodes and the link weights are zero on links to non-electrolyte nodes.  ``A`` is
symmetric, ``stencil[RM, i, j] = stencil[RP, i - 1, j]`` and
``stencil[ZM, i, j] = stencil[ZP, i, j - 1]``, so kernels that need only the upper
links (MIC(0) here, every multigrid kernel) read ``DIAG, RP, ZP``.  ``rhs`` is a
separate float64 ``(nr, nz)`` array (V).  ``A`` is symmetric and positive definite on
the electrolyte nodes provided every 4-connected pocket of electrolyte nodes has at
least one link to an electrode (kind 1 or 2); on a pocket sealed by insulator or walls
it is only semidefinite (Neumann problem).  The caller should mark such pockets kind 4;
:func:`pcg` tolerates them (MIC(0) falls back to the diagonal, the pocket keeps a
bounded value and the rest converges).
"""

import math

from numba import njit

#: Index of the diagonal in a stencil array of shape ``(5, nr, nz)`` (module docstring).
DIAG = 0
#: Index of the link weight to ``(i - 1, j)``.
RM = 1
#: Index of the link weight to ``(i + 1, j)``.
RP = 2
#: Index of the link weight to ``(i, j - 1)``.
ZM = 3
#: Index of the link weight to ``(i, j + 1)``.
ZP = 4
#: Number of coefficients of a stencil (its leading dimension).
N_COEF = 5


@njit(cache=True, inline="always")
def _split(stencil):
    # The five (nr, nz) views of a stencil, in index order DIAG, RM, RP, ZM, ZP.
    return stencil[DIAG], stencil[RM], stencil[RP], stencil[ZM], stencil[ZP]


@njit(cache=True)
def _theta(a, b, theta_min):
    # Cut fraction from the node (level set a > 0) towards the neighbour (b <= 0).
    # Inconsistent inputs (b >= a) fall back to a full link rather than dividing by 0.
    d = a - b
    if d <= 0.0:
        t = 1.0
    else:
        t = a / d
    if t < theta_min:
        t = theta_min
    elif t > 1.0:
        t = 1.0
    return t


@njit(cache=True)
def _theta_body(psi, i, j, ia, ja, theta_min):
    # Cut fraction of the link (i, j) -> (ia, ja) on a body given by its distance psi
    # (> 0 at the node, <= 0 at the neighbour): psi_0 / (psi_opp - psi_0) from the node
    # and its opposite neighbour, both outside the body, where the distance is exact.
    # For a flat face crossed by the link that is the exact fraction, also next to a
    # corner, where interpolating into the body is not (its interior value is the
    # distance to the nearest face, not along the link).  Falls back to _theta.
    nr, nz = psi.shape
    a = psi[i, j]
    io = 2 * i - ia
    jo = 2 * j - ja
    if a > 0.0 and io >= 0 and io < nr and jo >= 0 and jo < nz:
        c = psi[io, jo]
        if c > a:
            t = a / (c - a)
            if t < theta_min:
                t = theta_min
            elif t > 1.0:
                t = 1.0
            return t
    return _theta(a, psi[ia, ja], theta_min)


@njit(cache=True)
def _wall(kind, psi_n, i, j, ia, ja, theta_min):
    # Distance (in h) from node (i, j) to its cell face towards neighbour (ia, ja).
    # An insulating neighbour (3 or 4) whose level set psi_n places the wall on the
    # link (psi_n > 0 at the node, <= 0 at the neighbour) moves the face to the wall,
    # at the fraction of _theta_body; otherwise the face is half-way.
    kn = kind[ia, ja]
    if (kn == 3 or kn == 4) and psi_n[i, j] > 0.0 and psi_n[ia, ja] <= 0.0:
        return _theta_body(psi_n, i, j, ia, ja, theta_min)
    return 0.5


@njit(cache=True)
def _extents(kind, psi_n, i, j, theta_min):
    # (e_rm, e_rp, e_zm, e_zp): distances (in h) from node (i, j) to the faces of its
    # control volume; e_rm = 0 on the axis, 1/2 towards the array edges.
    nr, nz = kind.shape
    e_rm = 0.0 if i == 0 else _wall(kind, psi_n, i, j, i - 1, j, theta_min)
    e_rp = 0.5 if i + 1 >= nr else _wall(kind, psi_n, i, j, i + 1, j, theta_min)
    e_zm = 0.5 if j == 0 else _wall(kind, psi_n, i, j, i, j - 1, theta_min)
    e_zp = 0.5 if j + 1 >= nz else _wall(kind, psi_n, i, j, i, j + 1, theta_min)
    return e_rm, e_rp, e_zm, e_zp


@njit(cache=True)
def _extents_z(kind, psi_n, i, j, theta_min):
    # (e_zm, e_zp) of _extents alone: what an r-link to node (i, j) needs
    nz = kind.shape[1]
    e_zm = 0.5 if j == 0 else _wall(kind, psi_n, i, j, i, j - 1, theta_min)
    e_zp = 0.5 if j + 1 >= nz else _wall(kind, psi_n, i, j, i, j + 1, theta_min)
    return e_zm, e_zp


@njit(cache=True)
def _extents_r(kind, psi_n, i, j, theta_min):
    # (e_rm, e_rp) of _extents alone: what a z-link to node (i, j) needs
    nr = kind.shape[0]
    e_rm = 0.0 if i == 0 else _wall(kind, psi_n, i, j, i - 1, j, theta_min)
    e_rp = 0.5 if i + 1 >= nr else _wall(kind, psi_n, i, j, i + 1, j, theta_min)
    return e_rm, e_rp


@njit(cache=True)
def _zarea(i, e_m, e_p):
    # Radius-weighted width of a control volume from r = i - e_m to i + e_p (in h):
    # the weight of its z-faces, int r dr / h^2 (i on the interior, 1/8 on the axis).
    lo = i - e_m
    hi = i + e_p
    return 0.5 * (hi * hi - lo * lo)


@njit(cache=True)
def _rlink(kind, psi_w, psi_t, psi_n, i, j, ia, wf, s, dz_own, e_zm, e_zp, u_anode, theta_min):
    # r-link from (i, j) to (ia, j); wf = radius of the cell face (i +- 1/2), s = +-1.
    kn = kind[ia, j]
    if kn == 0:
        fm, fp = _extents_z(kind, psi_n, ia, j, theta_min)
        w = wf * (min(e_zm, fm) + min(e_zp, fp))
        return w, 0.0, w
    if kn == 1:
        t = _theta(psi_w[i, j], psi_w[ia, j], theta_min)
        wc = (i + 0.5 * s * t) * dz_own
        return wc / t, wc * u_anode / t, 0.0
    if kn == 2:
        t = _theta_body(psi_t, i, j, ia, j, theta_min)
        wc = (i + 0.5 * s * t) * dz_own
        return wc / t, 0.0, 0.0
    return 0.0, 0.0, 0.0


@njit(cache=True)
def _zlink(kind, psi_w, psi_t, psi_n, i, j, ja, area_own, e_rm, e_rp, u_anode, theta_min):
    # z-link from (i, j) to (i, ja).
    kn = kind[i, ja]
    if kn == 0:
        fm, fp = _extents_r(kind, psi_n, i, ja, theta_min)
        w = _zarea(i, min(e_rm, fm), min(e_rp, fp))
        return w, 0.0, w
    if kn == 1:
        t = _theta(psi_w[i, j], psi_w[i, ja], theta_min)
        return area_own / t, area_own * u_anode / t, 0.0
    if kn == 2:
        t = _theta_body(psi_t, i, j, i, ja, theta_min)
        return area_own / t, 0.0, 0.0
    return 0.0, 0.0, 0.0


@njit(cache=True)
def assemble(kind, psi_w, psi_t, psi_n, u_anode, theta_min, stencil, rhs):
    """Assemble the 5-point axisymmetric Laplacian with Dirichlet cut links and embedded insulators.

    Fills the stencil of the module docstring (``stencil[DIAG]``, the link weights
    ``stencil[RM], stencil[RP], stencil[ZM], stencil[ZP]``) and ``rhs``, with the
    weights of the module docstring: control volumes cut by the insulating walls
    that ``psi_n`` places, r-links weighted by the shared z-extent, z-links by the
    shared radius-weighted width, a link to an anode node adding ``w_c/theta`` to
    ``diag`` and ``w_c u_anode/theta`` to ``rhs``, a link to a cathode node adding
    ``w_c/theta`` to ``diag``, links to kinds 3 and 4 or off the array dropped.  An
    electrolyte node with no link at all gets ``diag = 1, rhs = 0``.  With ``psi_n > 0``
    everywhere (no wall placed) every face is half-way and the weights are the plain
    ones ``i -+ 1/2`` and ``i`` (``1/8`` on the axis).

    Parameters
    ----------
    kind : int8 array (nr, nz)
        Node kinds (0 electrolyte, 1 anode, 2 cathode, 3 insulator, 4 outside).
    psi_w, psi_t : float64 arrays (nr, nz), m
        Signed distances to the workpiece and the tool, positive in the electrolyte.
    psi_n : float64 array (nr, nz), m
        Signed distance to the insulating surfaces (kinds 3 and 4), positive in the
        electrolyte, <= 0 inside the insulators.
    u_anode : float
        Anode potential (V); the cathode is at 0 V.
    theta_min : float
        Lower clamp of the cut fraction (e.g. 1e-3).
    stencil : float64 array (5, nr, nz), out
        Filled on return (dimensionless); zero on non-electrolyte nodes.
    rhs : float64 array (nr, nz), out, V
        Filled on return; zero on non-electrolyte nodes.
    """
    nr, nz = kind.shape
    diag, c_rm, c_rp, c_zm, c_zp = _split(stencil)
    for i in range(nr):
        for j in range(nz):
            diag[i, j] = 0.0
            c_rm[i, j] = 0.0
            c_rp[i, j] = 0.0
            c_zm[i, j] = 0.0
            c_zp[i, j] = 0.0
            rhs[i, j] = 0.0
            if kind[i, j] != 0:
                continue
            e_rm, e_rp, e_zm, e_zp = _extents(kind, psi_n, i, j, theta_min)
            dz_own = e_zm + e_zp
            area_own = _zarea(i, e_rm, e_rp)
            dg = 0.0
            b = 0.0
            if i > 0:
                dd, rr, cc = _rlink(
                    kind, psi_w, psi_t, psi_n, i, j, i - 1, i - 0.5, -1.0, dz_own, e_zm, e_zp, u_anode, theta_min
                )
                dg += dd
                b += rr
                c_rm[i, j] = cc
            if i + 1 < nr:
                dd, rr, cc = _rlink(
                    kind, psi_w, psi_t, psi_n, i, j, i + 1, i + 0.5, 1.0, dz_own, e_zm, e_zp, u_anode, theta_min
                )
                dg += dd
                b += rr
                c_rp[i, j] = cc
            if j > 0:
                dd, rr, cc = _zlink(kind, psi_w, psi_t, psi_n, i, j, j - 1, area_own, e_rm, e_rp, u_anode, theta_min)
                dg += dd
                b += rr
                c_zm[i, j] = cc
            if j + 1 < nz:
                dd, rr, cc = _zlink(kind, psi_w, psi_t, psi_n, i, j, j + 1, area_own, e_rm, e_rp, u_anode, theta_min)
                dg += dd
                b += rr
                c_zp[i, j] = cc
            if dg == 0.0:
                # Isolated node: decouple it (phi = 0) so the matrix stays SPD.
                dg = 1.0
                b = 0.0
            diag[i, j] = dg
            rhs[i, j] = b


@njit(cache=True)
def apply(kind, stencil, x, out):
    """Matrix-vector product ``out = A x`` on electrolyte nodes, 0 elsewhere.

    Parameters
    ----------
    kind : int8 array (nr, nz)
    stencil : float64 array (5, nr, nz)
        Stencil from :func:`assemble`.
    x : float64 array (nr, nz)
        Values at non-electrolyte nodes are ignored.
    out : float64 array (nr, nz), out
    """
    nr, nz = kind.shape
    diag, c_rm, c_rp, c_zm, c_zp = _split(stencil)
    for i in range(nr):
        for j in range(nz):
            if kind[i, j] != 0:
                out[i, j] = 0.0
                continue
            s = diag[i, j] * x[i, j]
            if i > 0:
                s -= c_rm[i, j] * x[i - 1, j]
            if i + 1 < nr:
                s -= c_rp[i, j] * x[i + 1, j]
            if j > 0:
                s -= c_zm[i, j] * x[i, j - 1]
            if j + 1 < nz:
                s -= c_zp[i, j] * x[i, j + 1]
            out[i, j] = s


@njit(cache=True)
def _mic0(kind, diag, c_rp, c_zp, prec):
    # Modified incomplete Cholesky MIC(0) in lexicographic (i outer, j inner) order,
    # stored as prec = 1/sqrt(E) (Bridson's formulation).  tau < 1 and the safety
    # fallback avoid the breakdown MIC shows on rows that are almost singular.
    tau = 0.97
    sigma = 0.25
    nr, nz = kind.shape
    for i in range(nr):
        for j in range(nz):
            if kind[i, j] != 0:
                prec[i, j] = 0.0
                continue
            e = diag[i, j]
            if i > 0:
                a = c_rp[i - 1, j] * prec[i - 1, j]
                e -= a * a + tau * c_rp[i - 1, j] * c_zp[i - 1, j] * prec[i - 1, j] ** 2
            if j > 0:
                a = c_zp[i, j - 1] * prec[i, j - 1]
                e -= a * a + tau * c_zp[i, j - 1] * c_rp[i, j - 1] * prec[i, j - 1] ** 2
            if e < sigma * diag[i, j]:
                e = diag[i, j]
            prec[i, j] = 1.0 / math.sqrt(e)


@njit(cache=True)
def _precondition(kind, c_rp, c_zp, prec, r, z):
    # z = (L L^T)^-1 r; the backward sweep reuses z in place.
    nr, nz = kind.shape
    for i in range(nr):
        for j in range(nz):
            if kind[i, j] != 0:
                z[i, j] = 0.0
                continue
            t = r[i, j]
            if i > 0:
                t += c_rp[i - 1, j] * prec[i - 1, j] * z[i - 1, j]
            if j > 0:
                t += c_zp[i, j - 1] * prec[i, j - 1] * z[i, j - 1]
            z[i, j] = t * prec[i, j]
    for i in range(nr - 1, -1, -1):
        for j in range(nz - 1, -1, -1):
            if kind[i, j] != 0:
                continue
            t = z[i, j]
            if i + 1 < nr:
                t += c_rp[i, j] * prec[i, j] * z[i + 1, j]
            if j + 1 < nz:
                t += c_zp[i, j] * prec[i, j] * z[i, j + 1]
            z[i, j] = t * prec[i, j]


@njit(cache=True)
def _dot(kind, a, b):
    nr, nz = kind.shape
    s = 0.0
    for i in range(nr):
        for j in range(nz):
            if kind[i, j] == 0:
                s += a[i, j] * b[i, j]
    return s


@njit(cache=True)
def pcg(kind, stencil, rhs, x, tol, maxiter, work):
    """Solve ``A x = rhs`` by conjugate gradients preconditioned with MIC(0).

    Warm-started from ``x``, which is updated in place on electrolyte nodes only.
    Stops when ``||rhs - A x||_2 / ||rhs||_2 <= tol`` (recursively updated residual)
    or after ``maxiter`` iterations.  If ``rhs`` is zero the solution is ``x = 0``.

    Parameters
    ----------
    kind : int8 array (nr, nz)
    stencil : float64 array (5, nr, nz)
        Stencil from :func:`assemble`.
    rhs : float64 array (nr, nz), V
        Right-hand side from :func:`assemble`.
    x : float64 array (nr, nz), in/out
        Initial guess and solution (V); non-electrolyte values are not touched.
    tol : float
        Relative residual tolerance.
    maxiter : int
    work : float64 array (5, nr, nz)
        Scratch space; its contents are overwritten.

    Returns
    -------
    iterations : int
    relative_residual : float
    initial_relative_residual : float
        ``||rhs - A x0|| / ||rhs||`` of the initial guess (0 if ``rhs = 0``).
    """
    nr, nz = kind.shape
    c_rp = stencil[RP]
    c_zp = stencil[ZP]
    r = work[0]
    z = work[1]
    p = work[2]
    q = work[3]
    prec = work[4]
    bnorm = math.sqrt(_dot(kind, rhs, rhs))
    if bnorm == 0.0:
        for i in range(nr):
            for j in range(nz):
                if kind[i, j] == 0:
                    x[i, j] = 0.0
        return 0, 0.0, 0.0
    apply(kind, stencil, x, q)
    for i in range(nr):
        for j in range(nz):
            if kind[i, j] == 0:
                r[i, j] = rhs[i, j] - q[i, j]
            else:
                r[i, j] = 0.0
            p[i, j] = 0.0
    rel0 = math.sqrt(_dot(kind, r, r)) / bnorm
    rel = rel0
    if rel <= tol:
        return 0, rel, rel0
    _mic0(kind, stencil[DIAG], c_rp, c_zp, prec)
    _precondition(kind, c_rp, c_zp, prec, r, z)
    rz = _dot(kind, r, z)
    for i in range(nr):
        for j in range(nz):
            p[i, j] = z[i, j]
    it = 0
    while it < maxiter:
        it += 1
        apply(kind, stencil, p, q)
        pq = _dot(kind, p, q)
        if pq <= 0.0:
            break
        alpha = rz / pq
        rr = 0.0
        for i in range(nr):
            for j in range(nz):
                if kind[i, j] == 0:
                    x[i, j] += alpha * p[i, j]
                    r[i, j] -= alpha * q[i, j]
                    rr += r[i, j] * r[i, j]
        rel = math.sqrt(rr) / bnorm
        if rel <= tol:
            break
        _precondition(kind, c_rp, c_zp, prec, r, z)
        rz_new = _dot(kind, r, z)
        beta = rz_new / rz
        rz = rz_new
        for i in range(nr):
            for j in range(nz):
                if kind[i, j] == 0:
                    p[i, j] = z[i, j] + beta * p[i, j]
    return it, rel, rel0


@njit(cache=True)
def _cut(psi, target_kind, i, j, ia, ja, theta_min):
    # the cut fraction assemble uses for a link to an anode (1) or cathode (2) node
    if target_kind == 2:
        return _theta_body(psi, i, j, ia, ja, theta_min)
    return _theta(psi[i, j], psi[ia, ja], theta_min)


@njit(cache=True)
def _node_flux(kind, psi, psi_n, phi, target_kind, phi_b, theta_min, i, j):
    # Cut-link flux from electrolyte node (i, j) into its neighbours of target_kind,
    # with the weights of assemble.
    nr, nz = kind.shape
    if not (
        (i > 0 and kind[i - 1, j] == target_kind)
        or (i + 1 < nr and kind[i + 1, j] == target_kind)
        or (j > 0 and kind[i, j - 1] == target_kind)
        or (j + 1 < nz and kind[i, j + 1] == target_kind)
    ):
        return 0.0
    e_rm, e_rp, e_zm, e_zp = _extents(kind, psi_n, i, j, theta_min)
    dz_own = e_zm + e_zp
    area_own = _zarea(i, e_rm, e_rp)
    d = phi_b - phi[i, j]
    q = 0.0
    if i > 0 and kind[i - 1, j] == target_kind:
        t = _cut(psi, target_kind, i, j, i - 1, j, theta_min)
        q += (i - 0.5 * t) * dz_own * d / t
    if i + 1 < nr and kind[i + 1, j] == target_kind:
        t = _cut(psi, target_kind, i, j, i + 1, j, theta_min)
        q += (i + 0.5 * t) * dz_own * d / t
    if j > 0 and kind[i, j - 1] == target_kind:
        q += area_own * d / _cut(psi, target_kind, i, j, i, j - 1, theta_min)
    if j + 1 < nz and kind[i, j + 1] == target_kind:
        q += area_own * d / _cut(psi, target_kind, i, j, i, j + 1, theta_min)
    return q


@njit(cache=True)
def boundary_flux(kind, psi, psi_n, phi, target_kind, phi_b, theta_min):
    """Sum of the cut-link fluxes from electrolyte nodes into nodes of one kind.

    ``S = sum w_c (phi_b - phi_ij) / theta`` over every link from an electrolyte
    node to a node of kind ``target_kind``, with the cut weights and fractions of
    :func:`assemble`.  The current through that boundary is ``I = 2 pi kappa h S``
    (A, with kappa in S/m and h in m); with ``target_kind = 1, phi_b = u_anode`` it
    is positive for current leaving the anode, with ``target_kind = 2, phi_b = 0``
    it is the (negative) cathode current.  The two sums add to
    ``-sum(rhs - A phi)``, i.e. to zero up to the solver tolerance.

    Parameters
    ----------
    kind : int8 array (nr, nz)
    psi : float64 array (nr, nz), m
        ``psi_w`` for ``target_kind = 1``, ``psi_t`` for ``target_kind = 2``.
    psi_n : float64 array (nr, nz), m
        Signed distance to the insulating surfaces, as in :func:`assemble`.
    phi : float64 array (nr, nz), V
    target_kind : int
    phi_b : float
        Boundary potential (V).
    theta_min : float

    Returns
    -------
    float
        ``S`` in V (dimensionless weights).
    """
    nr, nz = kind.shape
    s = 0.0
    for i in range(nr):
        for j in range(nz):
            if kind[i, j] == 0:
                s += _node_flux(kind, psi, psi_n, phi, target_kind, phi_b, theta_min, i, j)
    return s


@njit(cache=True)
def boundary_node_flux(kind, psi, psi_n, phi, target_kind, phi_b, theta_min, out):
    """Cut-link flux from each electrolyte node into nodes of one kind.

    ``out[i, j] = sum w_c (phi_b - phi_ij) / theta`` over the links of node
    ``(i, j)`` to nodes of kind ``target_kind``: the terms of :func:`boundary_flux`
    node by node, so ``out.sum()`` is its ``S``.  ``2 pi kappa h out[i, j]`` is the
    current (A) through the part of the boundary next to the node; it carries the
    radius weight ``2 pi r`` of the surface, so a node-wise quantity ``q`` averaged
    as ``sum(q out) / sum(out)`` is its current-weighted surface mean.

    Parameters
    ----------
    kind, psi, psi_n, phi, target_kind, phi_b, theta_min
        As in :func:`boundary_flux`.
    out : float64 array (nr, nz), out, V
        Per-node sums; 0 at nodes without a link to ``target_kind``.

    Returns
    -------
    float
        ``S = out.sum()`` in V.
    """
    nr, nz = kind.shape
    s = 0.0
    for i in range(nr):
        for j in range(nz):
            out[i, j] = 0.0
            if kind[i, j] == 0:
                q = _node_flux(kind, psi, psi_n, phi, target_kind, phi_b, theta_min, i, j)
                out[i, j] = q
                s += q
    return s


@njit(cache=True)
def _boundary_derivative(ub, p0, pm, has_m, t, h):
    # Derivative, towards the boundary, at the boundary point s = t h of the
    # interpolant through (t h, ub), (0, p0) and, if available, (-h, pm).  Taking it
    # at the boundary rather than at the node is what makes the flux 2nd order
    # (Ng, Chen, Min & Gibou, J. Sci. Comput. 41 (2009) 300).
    if has_m:
        return ((2.0 * t + 1.0) / (t * (t + 1.0)) * ub - (t + 1.0) / t * p0 + t / (t + 1.0) * pm) / h
    return (ub - p0) / (t * h)


@njit(cache=True)
def _neumann_factor(kind, psi_n, i, j, ia, ja, theta_min):
    # One-sided difference at node (i, j) away from neighbour (ia, ja): divide it by
    # h times this factor.  When (ia, ja) is an insulator whose wall psi_n places at
    # the fraction t, the quadratic through both nodes with zero slope at the wall
    # gives 1 + 1/(2 t) (second order); otherwise 1 (the plain one-sided difference).
    nr, nz = kind.shape
    if ia < 0 or ia >= nr or ja < 0 or ja >= nz:
        return 1.0
    kn = kind[ia, ja]
    if (kn == 3 or kn == 4) and psi_n[i, j] > 0.0 and psi_n[ia, ja] <= 0.0:
        return 1.0 + 0.5 / _theta_body(psi_n, i, j, ia, ja, theta_min)
    return 1.0


@njit(cache=True)
def _edge_diff(a, i, n, h):
    # d a / dx along one grid line at index i of a 1-D view a (length n), central
    # inside, one-sided at the ends.
    if n < 2:
        return 0.0
    if i == 0:
        return (a[1] - a[0]) / h
    if i == n - 1:
        return (a[n - 1] - a[n - 2]) / h
    return (a[i + 1] - a[i - 1]) / (2.0 * h)


@njit(cache=True)
def anode_normal_gradient(kind, psi_w, psi_n, phi, h, u_anode, theta_min, dphidn, known):
    """Normal derivative of the potential on the anode, at nodes next to it.

    For every electrolyte node with at least one cut link to an anode node, the
    gradient ``g`` is built per direction: along a direction with a link cut by the
    anode at fraction ``theta`` (the closer one if both are cut), the derivative at
    the boundary point of the quadratic through ``(theta h, u_anode)``,
    ``(0, phi_ij)`` and the opposite node ``(-h, phi_opp)`` (linear if the opposite
    node is not electrolyte); along a direction without a cut link, a central
    difference (one-sided if a neighbour is not electrolyte, divided by
    ``1 + 1/(2 t)`` when that neighbour is an insulator whose wall ``psi_n`` places at
    the fraction ``t``, the slope at the node of the quadratic with zero slope at the
    wall; 0 if neither neighbour is electrolyte, and ``g_r = 0`` on the axis).  Then ``dphidn = g . n`` with
    ``n = -grad psi_w / |grad psi_w|`` from central differences (mirrored across the
    axis, one-sided at the other edges), i.e. the normal pointing into the metal.
    ``dphidn > 0`` means current leaves the anode with density ``kappa dphidn``.

    Parameters
    ----------
    kind : int8 array (nr, nz)
    psi_w : float64 array (nr, nz), m
    psi_n : float64 array (nr, nz), m
        Signed distance to the insulating surfaces, as in :func:`assemble`.
    phi : float64 array (nr, nz), V
    h : float
        Grid spacing (m).
    u_anode : float
        Anode potential (V).
    theta_min : float
        Lower clamp of the cut fraction, as in :func:`assemble`.
    dphidn : float64 array (nr, nz), out
        Normal derivative (V/m) at flagged nodes, 0 elsewhere.
    known : bool array (nr, nz), out
        True at the nodes where ``dphidn`` was computed.
    """
    nr, nz = kind.shape
    for i in range(nr):
        for j in range(nz):
            dphidn[i, j] = 0.0
            known[i, j] = False
            if kind[i, j] != 0:
                continue
            cut_rm = i > 0 and kind[i - 1, j] == 1
            cut_rp = i + 1 < nr and kind[i + 1, j] == 1
            cut_zm = j > 0 and kind[i, j - 1] == 1
            cut_zp = j + 1 < nz and kind[i, j + 1] == 1
            if not (cut_rm or cut_rp or cut_zm or cut_zp):
                continue
            p0 = phi[i, j]
            pw0 = psi_w[i, j]
            # r component
            gr = 0.0
            if i > 0:
                ok_m = kind[i - 1, j] == 0
                ok_p = i + 1 < nr and kind[i + 1, j] == 0
                if cut_rm or cut_rp:
                    tm = _theta(pw0, psi_w[i - 1, j], theta_min) if cut_rm else 2.0
                    tp = _theta(pw0, psi_w[i + 1, j], theta_min) if cut_rp else 2.0
                    if tp <= tm:
                        pm = phi[i - 1, j] if ok_m else 0.0
                        gr = _boundary_derivative(u_anode, p0, pm, ok_m, tp, h)
                    else:
                        pp = phi[i + 1, j] if ok_p else 0.0
                        gr = -_boundary_derivative(u_anode, p0, pp, ok_p, tm, h)
                elif ok_m and ok_p:
                    gr = (phi[i + 1, j] - phi[i - 1, j]) / (2.0 * h)
                elif ok_p:
                    gr = (phi[i + 1, j] - p0) / (h * _neumann_factor(kind, psi_n, i, j, i - 1, j, theta_min))
                elif ok_m:
                    gr = (p0 - phi[i - 1, j]) / (h * _neumann_factor(kind, psi_n, i, j, i + 1, j, theta_min))
            # z component
            gz = 0.0
            ok_m = j > 0 and kind[i, j - 1] == 0
            ok_p = j + 1 < nz and kind[i, j + 1] == 0
            if cut_zm or cut_zp:
                tm = _theta(pw0, psi_w[i, j - 1], theta_min) if cut_zm else 2.0
                tp = _theta(pw0, psi_w[i, j + 1], theta_min) if cut_zp else 2.0
                if tp <= tm:
                    pm = phi[i, j - 1] if ok_m else 0.0
                    gz = _boundary_derivative(u_anode, p0, pm, ok_m, tp, h)
                else:
                    pp = phi[i, j + 1] if ok_p else 0.0
                    gz = -_boundary_derivative(u_anode, p0, pp, ok_p, tm, h)
            elif ok_m and ok_p:
                gz = (phi[i, j + 1] - phi[i, j - 1]) / (2.0 * h)
            elif ok_p:
                gz = (phi[i, j + 1] - p0) / (h * _neumann_factor(kind, psi_n, i, j, i, j - 1, theta_min))
            elif ok_m:
                gz = (p0 - phi[i, j - 1]) / (h * _neumann_factor(kind, psi_n, i, j, i, j + 1, theta_min))
            # normal of the level set; the mirror image across the axis gives 0 there
            if i == 0:
                dr = 0.0
            else:
                dr = _edge_diff(psi_w[:, j], i, nr, h)
            dz = _edge_diff(psi_w[i, :], j, nz, h)
            nrm = math.sqrt(dr * dr + dz * dz)
            if nrm > 0.0:
                dphidn[i, j] = -(gr * dr + gz * dz) / nrm
            else:
                # Degenerate level set (flat): fall back to the gradient magnitude.
                dphidn[i, j] = math.sqrt(gr * gr + gz * gz)
            known[i, j] = True


@njit(cache=True)
def _harmonic(a, b):
    # conductance of two half-links in series, per unit length: the face coefficient
    return 2.0 * a * b / (a + b)


@njit(cache=True)
def scale_conductivity(kind, kappa, stencil, rhs):
    """Turn an assembled Laplacian into the operator of ∇·(κ ∇φ) for a conductivity per node.

    ``kappa`` is the conductivity of each node relative to the one the current is
    later scaled with (dimensionless, > 0 on electrolyte nodes; its value on other
    nodes is not read).  A link between two electrolyte nodes ``a, b`` takes the
    harmonic mean ``2 k_a k_b / (k_a + k_b)`` as its face coefficient (two half-cells in
    series), a cut link to an electrode the node's own ``k`` (the electrolyte it
    crosses): in the stencil of :func:`assemble`, every link weight ``RM, RP, ZM, ZP`` of
    node ``(i, j)`` is multiplied by its face coefficient, the cut-link part of the
    diagonal (``DIAG`` minus the link weights) and ``rhs`` by ``k_ij``.  The matrix stays
    symmetric (the harmonic mean is), so every solver and the Galerkin multigrid work on
    it unchanged.  Call it right after :func:`assemble`; the fluxes of
    :func:`boundary_node_flux` and the gradients of :func:`anode_normal_gradient` then
    need the node's ``k`` as a factor.

    Parameters
    ----------
    kind : int8 array (nr, nz)
        Node kinds.
    kappa : float64 array (nr, nz)
        Relative conductivity per node.
    stencil : float64 array (5, nr, nz), in/out
        As filled by :func:`assemble`; scaled in place.
    rhs : float64 array (nr, nz), in/out, V
        As filled by :func:`assemble`; scaled in place.
    """
    nr, nz = kind.shape
    diag, c_rm, c_rp, c_zm, c_zp = _split(stencil)
    for i in range(nr):
        for j in range(nz):
            if kind[i, j] != 0:
                continue
            k0 = kappa[i, j]
            links = c_rm[i, j] + c_rp[i, j] + c_zm[i, j] + c_zp[i, j]
            cut = diag[i, j] - links
            if c_rm[i, j] != 0.0:
                c_rm[i, j] *= _harmonic(k0, kappa[i - 1, j])
            if c_rp[i, j] != 0.0:
                c_rp[i, j] *= _harmonic(k0, kappa[i + 1, j])
            if c_zm[i, j] != 0.0:
                c_zm[i, j] *= _harmonic(k0, kappa[i, j - 1])
            if c_zp[i, j] != 0.0:
                c_zp[i, j] *= _harmonic(k0, kappa[i, j + 1])
            diag[i, j] = c_rm[i, j] + c_rp[i, j] + c_zm[i, j] + c_zp[i, j] + k0 * cut
            rhs[i, j] *= k0


@njit(cache=True)
def station_sources(kind, stencil, rhs, phi, u_anode, station, power, cathode, anode):
    """Joule power and electrode currents of a solved potential, summed per station of the node.

    For each electrolyte node, in stencil units (times ``2 π κ h`` they are W and A):
    every link to an electrolyte neighbour dissipates ``w (φ_a − φ_b)²``, half counted at
    each end (the ``RP`` and ``ZP`` weight of the lower node); a cut link to the anode
    ``w_a (U − φ)²`` and to the cathode ``w_c φ²``, with ``w_a = rhs / U`` (0 when
    ``U = 0``) and ``w_c`` the rest of the diagonal, ``DIAG − (RM + RP + ZM + ZP) − w_a``.
    The node's power is added to ``power[station[i, j]]``, its current into the cathode
    ``w_c φ`` to ``cathode[...]`` and out of the anode ``w_a (U − φ)`` to ``anode[...]``.
    Over all nodes the power is ``U`` times the anode current (Σ G Δφ² = U I).

    Parameters
    ----------
    kind : int8 array (nr, nz)
        Node kinds.
    stencil : float64 array (5, nr, nz)
        The solved system's stencil (after :func:`scale_conductivity` if any).
    rhs : float64 array (nr, nz), V
        Its right-hand side.
    phi : float64 array (nr, nz), V
        The solution.
    u_anode : float
        Anode potential, V.
    station : int64 array (nr, nz)
        Station (0 ≤ s < n) of every node; read on electrolyte nodes only.
    power, cathode, anode : float64 arrays (n,), in/out
        Sums per station; zeroed first.
    """
    nr, nz = kind.shape
    diag = stencil[DIAG]
    c_rm = stencil[RM]
    c_rp = stencil[RP]
    c_zm = stencil[ZM]
    c_zp = stencil[ZP]
    power[:] = 0.0
    cathode[:] = 0.0
    anode[:] = 0.0
    for i in range(nr):
        for j in range(nz):
            if kind[i, j] != 0:
                continue
            p0 = phi[i, j]
            w_a = rhs[i, j] / u_anode if u_anode != 0.0 else 0.0
            w_c = diag[i, j] - (c_rm[i, j] + c_rp[i, j] + c_zm[i, j] + c_zp[i, j]) - w_a
            d_r = c_rp[i, j] * (phi[i + 1, j] - p0) ** 2 if i < nr - 1 else 0.0
            d_z = c_zp[i, j] * (phi[i, j + 1] - p0) ** 2 if j < nz - 1 else 0.0
            e = 0.5 * (d_r + d_z)
            if i > 0:
                e += 0.5 * c_rp[i - 1, j] * (p0 - phi[i - 1, j]) ** 2
            if j > 0:
                e += 0.5 * c_zp[i, j - 1] * (p0 - phi[i, j - 1]) ** 2
            e += w_a * (u_anode - p0) ** 2 + w_c * p0 * p0
            s = station[i, j]
            power[s] += e
            cathode[s] += w_c * p0
            anode[s] += w_a * (u_anode - p0)
