"""Potential in the electrolyte: 3D Laplace equation on an embedded boundary, with a mirror plane.

Grid contract shared by every function here
-------------------------------------------
Uniform Cartesian grid of spacing ``h`` (m); arrays have shape ``(nx, ny, nz)`` and are
indexed ``[i, j, k]`` with ``x_i = x0 + i h``, ``y_j = j h`` and ``z_k = z0 + k h``.
The plane ``y = 0`` (``j = 0``) is a mirror plane: the grid holds the half ``y >= 0`` of
a domain symmetric about it, and the plane is a symmetry (zero-flux) boundary through
the nodes.  ``kind`` (int8) marks each node as in the axisymmetric kernels
(:mod:`ecmsim.kernels.potential`): 0 electrolyte (unknown), 1 anode metal (Dirichlet
``u_anode`` on ``psi_w = 0``), 2 cathode metal (Dirichlet 0 on ``psi_t = 0``), 3
insulator and 4 outside the domain.  The insulating walls themselves are the zero set
of ``psi_n`` (> 0 in the electrolyte): a node is only marked 3 or 4 when its whole
control volume lies inside the insulator (e.g. ``psi_n < -h``); a node with
``-h <= psi_n <= 0`` stays an unknown whose control volume is the sliver of electrolyte
it still holds (or nothing, then it is decoupled).  Links leaving the array are
dropped (zero-flux walls half a cell out).

Discretisation
--------------
Cut-cell finite volumes, everything divided by ``h``: the control volume of node
``(i, j, k)`` is the cube of side ``h`` centred on it, cut by the insulating walls, and
for an electrolyte node

    sum_links w_l (phi_nb - phi_ijk) = 0,

where ``w`` is the open area (in ``h^2``) of the face the link crosses, its
:func:`aperture`: ``psi_n`` at the face's centre (mean of the two nodes) and corners
(mean of the eight nodes around each) is interpolated linearly over four triangles and
the part where it is positive is taken exactly.  The insulating wall carries no flux,
so it simply closes the control volume; for a potential that is linear and tangential
to a planar wall, the fluxes through the open parts of the faces balance exactly (the
divergence theorem on the cut cell), so a planar gap between tilted insulating walls is
solved exactly, and curved walls are second order.  On the mirror plane ``j = 0`` every
x- and z-face is halved (the half domain holds half of it; corners below the plane
take mirrored values) and there is no link to ``j - 1``: the row there is the
full-domain row halved (with ``phi_{j=-1} = phi_{j=1}``), so the half-domain solution is
the full-domain one restricted to ``y >= 0``.  A link to a Dirichlet node (kind 1 or 2)
is cut at the fraction ``theta`` of its length given by linear interpolation of the
level set (``psi_w`` for the anode, ``psi_t`` for the cathode), clamped to
``[theta_min, 1]``; its term becomes ``w (phi_b - phi) / theta`` (the shortened arm of
Gibou, Fedkiw, Cheng & Kang, JCP 176 (2002) 205, as in the axisymmetric kernels), which
adds only to the diagonal and the right-hand side and keeps the potential second-order
accurate.  Links to kinds 3 and 4 are dropped.

Stencil contract
----------------
The matrix is stored as one float64 array ``stencil`` of shape ``(7, nx, ny, nz)``
(C-contiguous), indexed by the constants of this module; the row of electrolyte node
``(i, j, k)`` reads::

    stencil[DIAG] phi_ijk - stencil[XM] phi_{i-1} - stencil[XP] phi_{i+1}
        - stencil[YM] phi_{j-1} - stencil[YP] phi_{j+1} - stencil[ZM] phi_{k-1}
        - stencil[ZP] phi_{k+1} = rhs_ijk  (V)

(every entry at ``[i, j, k]``, neighbours shifted in one index).  ``DIAG`` is the sum of
the link weights, cut links counted as ``w / theta``; the other six are the positive
weights of the links to electrolyte neighbours (0 to any other node or off the array).
Every entry is 0 on non-electrolyte nodes.  ``A`` is symmetric
(``stencil[XM, i] = stencil[XP, i - 1]`` and so on) and positive definite on the
electrolyte nodes when every connected pocket of them links to an electrode; the caller
marks sealed pockets kind 4.  ``rhs`` is a separate float64 ``(nx, ny, nz)`` array (V).

Every kernel computes each node from its own neighbourhood only (no recurrence across
nodes), so each loop nest is one array-wide operation.
"""

from numba import njit

#: Index of the diagonal in a stencil array of shape ``(7, nx, ny, nz)``.
DIAG = 0
#: Index of the link weight to ``(i - 1, j, k)``.
XM = 1
#: Index of the link weight to ``(i + 1, j, k)``.
XP = 2
#: Index of the link weight to ``(i, j - 1, k)``.
YM = 3
#: Index of the link weight to ``(i, j + 1, k)``.
YP = 4
#: Index of the link weight to ``(i, j, k - 1)``.
ZM = 5
#: Index of the link weight to ``(i, j, k + 1)``.
ZP = 6
#: Number of coefficients of a stencil (its leading dimension).
N_COEF = 7


@njit(cache=True)
def _theta(a, b, theta_min):
    # Cut fraction from the node (level set a > 0) towards the neighbour (b <= 0),
    # clamped to [theta_min, 1]; inconsistent inputs (b >= a) give a full link.
    d = a - b
    t = 1.0 if d <= 0.0 else a / d
    if t < theta_min:
        t = theta_min
    elif t > 1.0:
        t = 1.0
    return t


@njit(cache=True, inline="always")
def _clamp(i, n):
    # Index i on an axis of n nodes: mirrored across 0 (a dual-cell corner reaches below
    # 0 only across the mirror plane or an array edge), clamped at n - 1.
    if i < 0:
        i = -i
    if i >= n:
        i = n - 1
    return i


@njit(cache=True)
def _corner(psi_n, i, j, k, sx, sy, sz):
    # psi_n at the dual-cell corner (i + sx/2, j + sy/2, k + sz/2): the mean of the eight
    # nodes around it (indices mirrored across 0 and clamped at the array edges).
    nx, ny, nz = psi_n.shape
    s = 0.0
    for a in (0, sx):
        for b in (0, sy):
            for c in (0, sz):
                s += psi_n[_clamp(i + a, nx), _clamp(j + b, ny), _clamp(k + c, nz)]
    return 0.125 * s


@njit(cache=True, inline="always")
def _tri(a, b, c):
    # Fraction of a triangle where the linear interpolant of its vertex values is > 0.
    n_pos = int(a > 0.0) + int(b > 0.0) + int(c > 0.0)
    if n_pos == 3:
        return 1.0
    if n_pos == 0:
        return 0.0
    if n_pos == 1:
        if a > 0.0:
            p, m1, m2 = a, b, c
        elif b > 0.0:
            p, m1, m2 = b, a, c
        else:
            p, m1, m2 = c, a, b
        return p * p / ((p - m1) * (p - m2))
    if a <= 0.0:
        m, p1, p2 = a, b, c
    elif b <= 0.0:
        m, p1, p2 = b, a, c
    else:
        m, p1, p2 = c, a, b
    return 1.0 - m * m / ((p1 - m) * (p2 - m))


@njit(cache=True)
def aperture(psi_n, i, j, k, axis):
    """Open fraction of the face between node ``(i, j, k)`` and its ``+1`` neighbour along ``axis``.

    The face is the square of side ``h`` half-way between the two nodes.  ``psi_n`` is
    taken at its centre (the mean of the two nodes) and at its four corners (the mean of
    the eight nodes around each, indices mirrored across 0 and clamped at the array
    edges); the square is split into four triangles about the centre and the part of
    each where the linear interpolant is positive is taken exactly.  On ``j = 0`` the
    corners below the plane take the mirrored values: the aperture of the whole
    symmetric face.

    Parameters
    ----------
    psi_n : float64 array (nx, ny, nz), m
        Signed distance to the insulating surfaces.
    i, j, k : int
        The lower node of the face; its ``+1`` neighbour along ``axis`` must exist.
    axis : int
        0 (x), 1 (y) or 2 (z).

    Returns
    -------
    float
        In ``[0, 1]``.
    """
    di = 1 if axis == 0 else 0
    dj = 1 if axis == 1 else 0
    dk = 1 if axis == 2 else 0
    c0 = 0.5 * (psi_n[i, j, k] + psi_n[i + di, j + dj, k + dk])
    if axis == 0:
        v0 = _corner(psi_n, i, j, k, 1, -1, -1)
        v1 = _corner(psi_n, i, j, k, 1, 1, -1)
        v2 = _corner(psi_n, i, j, k, 1, 1, 1)
        v3 = _corner(psi_n, i, j, k, 1, -1, 1)
    elif axis == 1:
        v0 = _corner(psi_n, i, j, k, -1, 1, -1)
        v1 = _corner(psi_n, i, j, k, 1, 1, -1)
        v2 = _corner(psi_n, i, j, k, 1, 1, 1)
        v3 = _corner(psi_n, i, j, k, -1, 1, 1)
    else:
        v0 = _corner(psi_n, i, j, k, -1, -1, 1)
        v1 = _corner(psi_n, i, j, k, 1, -1, 1)
        v2 = _corner(psi_n, i, j, k, 1, 1, 1)
        v3 = _corner(psi_n, i, j, k, -1, 1, 1)
    return 0.25 * (_tri(c0, v0, v1) + _tri(c0, v1, v2) + _tri(c0, v2, v3) + _tri(c0, v3, v0))


@njit(cache=True)
def face_weight(psi_n, i, j, k, di, dj, dk):
    """Area (in ``h^2``) of the face between node ``(i, j, k)`` and ``(i + di, j + dj, k + dk)``.

    The :func:`aperture` of the face, halved for an x- or z-face on the mirror plane
    (the half domain holds half of it).  Computed from the lower node of the pair, so
    both nodes get the same value and the matrix is exactly symmetric.

    Parameters
    ----------
    psi_n : float64 array (nx, ny, nz), m
    i, j, k : int
    di, dj, dk : int
        One of them +-1, the others 0; the neighbour must be on the array.

    Returns
    -------
    float
    """
    axis = 0 if di != 0 else (1 if dj != 0 else 2)
    if di + dj + dk < 0:
        w = aperture(psi_n, i + di, j + dj, k + dk, axis)
    else:
        w = aperture(psi_n, i, j, k, axis)
    if j == 0 and axis != 1:
        w *= 0.5
    return w


@njit(cache=True, inline="always")
def offset(q):
    """Index offset ``(di, dj, dk)`` of link ``q`` (0 to 5: ``XM, XP, YM, YP, ZM, ZP`` minus 1)."""
    s = -1 if q % 2 == 0 else 1
    a = q // 2
    return (s if a == 0 else 0), (s if a == 1 else 0), (s if a == 2 else 0)


@njit(cache=True, inline="always")
def neighbour_sum(stencil, u, i, j, k):
    """``sum_l c_l u_nb`` over the six links of node ``(i, j, k)`` (neighbours on the array).

    Parameters
    ----------
    stencil : float array (7, nx, ny, nz)
    u : float array (nx, ny, nz)
    i, j, k : int

    Returns
    -------
    float
    """
    nx, ny, nz = u.shape
    s = 0.0
    if i > 0:
        s += stencil[XM, i, j, k] * u[i - 1, j, k]
    if i + 1 < nx:
        s += stencil[XP, i, j, k] * u[i + 1, j, k]
    if j > 0:
        s += stencil[YM, i, j, k] * u[i, j - 1, k]
    if j + 1 < ny:
        s += stencil[YP, i, j, k] * u[i, j + 1, k]
    if k > 0:
        s += stencil[ZM, i, j, k] * u[i, j, k - 1]
    if k + 1 < nz:
        s += stencil[ZP, i, j, k] * u[i, j, k + 1]
    return s


@njit(cache=True)
def _link(kind, psi_w, psi_t, psi_n, i, j, k, di, dj, dk, u_anode, theta_min):
    # One link of node (i, j, k) towards (i + di, j + dj, k + dk) (on the array):
    # returns (diagonal part, rhs part, off-diagonal weight).
    a = i + di
    b = j + dj
    c = k + dk
    kn = kind[a, b, c]
    if kn != 0 and kn != 1 and kn != 2:
        return 0.0, 0.0, 0.0
    w = face_weight(psi_n, i, j, k, di, dj, dk)
    if kn == 0:
        return w, 0.0, w
    if kn == 1:
        t = _theta(psi_w[i, j, k], psi_w[a, b, c], theta_min)
        return w / t, w * u_anode / t, 0.0
    t = _theta(psi_t[i, j, k], psi_t[a, b, c], theta_min)
    return w / t, 0.0, 0.0


@njit(cache=True)
def _node_row(kind, psi_w, psi_t, psi_n, i, j, k, u_anode, theta_min, stencil, rhs):
    # Fill row (i, j, k) of an electrolyte node.
    nx, ny, nz = kind.shape
    dg = 0.0
    b = 0.0
    for q in range(6):
        di, dj, dk = offset(q)
        if i + di < 0 or i + di >= nx or j + dj < 0 or j + dj >= ny or k + dk < 0 or k + dk >= nz:
            continue
        dd, rr, cc = _link(kind, psi_w, psi_t, psi_n, i, j, k, di, dj, dk, u_anode, theta_min)
        dg += dd
        b += rr
        stencil[1 + q, i, j, k] = cc
    if dg == 0.0:
        # Isolated node: decouple it (phi = 0) so the matrix stays definite.
        dg = 1.0
        b = 0.0
    stencil[DIAG, i, j, k] = dg
    rhs[i, j, k] = b


@njit(cache=True)
def assemble(kind, psi_w, psi_t, psi_n, u_anode, theta_min, stencil, rhs):
    """Assemble the 7-point Laplacian with Dirichlet cut links, embedded insulators and the mirror plane.

    Fills ``stencil`` and ``rhs`` with the weights of the module docstring: every link
    weighted by :func:`face_weight` (the open area of its face, halved on the mirror
    plane ``j = 0``), a link to an anode node adding ``w / theta`` to ``DIAG`` and
    ``w u_anode / theta`` to ``rhs``, a link to a cathode node ``w / theta`` to ``DIAG``,
    links to kinds 3 and 4 or off the array dropped.  An electrolyte node with no link gets
    ``DIAG = 1, rhs = 0``.  With ``psi_n > 0`` everywhere the interior rows are the plain
    7-point Laplacian (every weight 1).

    Parameters
    ----------
    kind : int8 array (nx, ny, nz)
        Node kinds (0 electrolyte, 1 anode, 2 cathode, 3 insulator, 4 outside).
    psi_w, psi_t : float64 arrays (nx, ny, nz), m
        Signed distances to the workpiece and the tool, positive in the electrolyte.
    psi_n : float64 array (nx, ny, nz), m
        Signed distance to the insulating surfaces, > 0 in the electrolyte, <= 0 inside
        the insulators (``1`` everywhere: no embedded wall).
    u_anode : float
        Anode potential (V); the cathode is at 0 V.
    theta_min : float
        Lower clamp of the cut fractions (e.g. 1e-3).
    stencil : float64 array (7, nx, ny, nz), out
        Filled on return (dimensionless); zero on non-electrolyte nodes.
    rhs : float64 array (nx, ny, nz), out, V
        Filled on return; zero on non-electrolyte nodes.
    """
    nx, ny, nz = kind.shape
    for i in range(nx):
        for j in range(ny):
            for k in range(nz):
                for q in range(N_COEF):
                    stencil[q, i, j, k] = 0.0
                rhs[i, j, k] = 0.0
                if kind[i, j, k] == 0:
                    _node_row(kind, psi_w, psi_t, psi_n, i, j, k, u_anode, theta_min, stencil, rhs)


@njit(cache=True)
def apply(kind, stencil, x, out):
    """Matrix-vector product ``out = A x`` on electrolyte nodes, 0 elsewhere.

    Parameters
    ----------
    kind : int8 array (nx, ny, nz)
    stencil : float64 array (7, nx, ny, nz)
        From :func:`assemble`.
    x : float64 array (nx, ny, nz)
        Values at non-electrolyte nodes are ignored (their links have weight 0).
    out : float64 array (nx, ny, nz), out
    """
    nx, ny, nz = kind.shape
    for i in range(nx):
        for j in range(ny):
            for k in range(nz):
                if kind[i, j, k] != 0:
                    out[i, j, k] = 0.0
                    continue
                s = stencil[DIAG, i, j, k] * x[i, j, k] - neighbour_sum(stencil, x, i, j, k)
                out[i, j, k] = s


@njit(cache=True)
def _node_flux(kind, psi, psi_n, phi, target_kind, phi_b, theta_min, i, j, k):
    # Sum of w (phi_b - phi) / theta over the links of (i, j, k) into target_kind.
    nx, ny, nz = kind.shape
    d = phi_b - phi[i, j, k]
    q = 0.0
    for n in range(6):
        di, dj, dk = offset(n)
        a = i + di
        b = j + dj
        c = k + dk
        if a < 0 or a >= nx or b < 0 or b >= ny or c < 0 or c >= nz or kind[a, b, c] != target_kind:
            continue
        w = face_weight(psi_n, i, j, k, di, dj, dk)
        q += w * d / _theta(psi[i, j, k], psi[a, b, c], theta_min)
    return q


@njit(cache=True)
def boundary_flux(kind, psi, psi_n, phi, target_kind, phi_b, theta_min):
    """Sum of the cut-link fluxes from electrolyte nodes into nodes of one kind.

    ``S = sum w (phi_b - phi_ijk) / theta`` over every link from an electrolyte node
    to a node of kind ``target_kind``, with the weights and fractions of
    :func:`assemble`.  The current through that boundary in the half domain the grid
    holds is ``kappa h S`` (A, kappa in S/m, h in m); the full, mirrored domain carries
    twice that.  With ``target_kind = 1, phi_b = u_anode`` it is positive for current
    leaving the anode; with ``target_kind = 2, phi_b = 0`` it is the (negative) cathode
    current.  The two add to ``-sum(rhs - A phi)``: zero up to the solver tolerance.

    Parameters
    ----------
    kind : int8 array (nx, ny, nz)
    psi : float64 array (nx, ny, nz), m
        ``psi_w`` for ``target_kind = 1``, ``psi_t`` for ``target_kind = 2``.
    psi_n : float64 array (nx, ny, nz), m
        Signed distance to the insulating surfaces, as in :func:`assemble`.
    phi : float64 array (nx, ny, nz), V
    target_kind : int
    phi_b : float
        Boundary potential (V).
    theta_min : float

    Returns
    -------
    float
        ``S`` in V (dimensionless weights).
    """
    nx, ny, nz = kind.shape
    s = 0.0
    for i in range(nx):
        for j in range(ny):
            for k in range(nz):
                if kind[i, j, k] == 0:
                    s += _node_flux(kind, psi, psi_n, phi, target_kind, phi_b, theta_min, i, j, k)
    return s
