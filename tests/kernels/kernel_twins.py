"""Slow, obviously correct NumPy/SciPy twins of the Numba kernels.

Each twin follows the docstring of its kernel literally, with plain loops or
vectorised NumPy, so that the property tests compare two independent codings of the
same contract.  Grids and node kinds come from :mod:`ecmsim.testing` (re-exported
here under the names the tests use).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

# The tests reach the node kinds, grids and node-kind makers through this module.
from ecmsim.geometry import ANODE, CATHODE, ELECTROLYTE, INSULATOR, OUTSIDE
from ecmsim.testing import floating_pockets as floating  # noqa: F401
from ecmsim.testing import grid
from ecmsim.testing import node_kinds as make_kind


# ------------------------------------------------------------------- potential
def _theta(a: float, b: float, theta_min: float) -> float:
    t = 1.0 if a - b <= 0.0 else a / (a - b)
    return min(max(t, theta_min), 1.0)


def wall_level_set(kind, seed):
    """A level set ``psi_n`` for the insulating nodes of ``kind``: > 0 on the others,
    <= 0 on most insulating nodes (a wall on the link), > 0 on a few (no wall placed)."""
    rng = np.random.default_rng(seed)
    blocked = (kind == INSULATOR) | (kind == OUTSIDE)
    psi_n = rng.uniform(0.02, 1.0, kind.shape)
    inside = blocked & (rng.random(kind.shape) < 0.8)
    psi_n[inside] = -rng.uniform(0.0, 1.0, kind.shape)[inside]
    return psi_n


def no_walls(kind):
    """``psi_n > 0`` everywhere: every insulator face half-way between nodes."""
    return np.ones(kind.shape)


def wall_fraction(psi, i, j, a, b, theta_min):
    """Cut fraction of link (i, j) -> (a, b) on a body of distance ``psi``: from the node and
    the node opposite (a, b) when the distance grows that way, else interpolated across."""
    nr, nz = psi.shape
    io, jo = 2 * i - a, 2 * j - b
    p0 = psi[i, j]
    if p0 > 0.0 and 0 <= io < nr and 0 <= jo < nz and psi[io, jo] > p0:
        return min(max(p0 / (psi[io, jo] - p0), theta_min), 1.0)
    return _theta(p0, psi[a, b], theta_min)


def extents(kind, psi_n, i, j, theta_min):
    """Distances (in h) from node (i, j) to its control-volume faces: (e_rm, e_rp, e_zm, e_zp)."""
    nr, nz = kind.shape

    def face(a, b):
        if not (0 <= a < nr and 0 <= b < nz):
            return 0.5
        if kind[a, b] in (INSULATOR, OUTSIDE) and psi_n[i, j] > 0.0 and psi_n[a, b] <= 0.0:
            return wall_fraction(psi_n, i, j, a, b, theta_min)
        return 0.5

    e_rm = 0.0 if i == 0 else face(i - 1, j)
    return e_rm, face(i + 1, j), face(i, j - 1), face(i, j + 1)


def links(kind, psi_n, i: int, j: int, theta_min: float):
    """The links of node (i, j): (neighbour i, neighbour j, face weight w, Dirichlet weight at fraction t).

    ``w`` is the radius-weighted area of the face shared with an electrolyte
    neighbour; ``wd(t)`` the cut-link weight towards a boundary at fraction ``t``.
    """
    nr, nz = kind.shape
    e = extents(kind, psi_n, i, j, theta_min)

    def area(em, ep):
        return 0.5 * ((i + ep) ** 2 - (i - em) ** 2)

    out = []
    for s, (a, b) in ((-1, (i - 1, j)), (1, (i + 1, j))):
        if 0 <= a < nr:
            f = extents(kind, psi_n, a, b, theta_min)
            w = (i + 0.5 * s) * (min(e[2], f[2]) + min(e[3], f[3]))
            out.append((a, b, w, lambda t, s=s: (i + 0.5 * s * t) * (e[2] + e[3])))
    for a, b in ((i, j - 1), (i, j + 1)):
        if 0 <= b < nz:
            f = extents(kind, psi_n, a, b, theta_min)
            w = area(min(e[0], f[0]), min(e[1], f[1]))
            out.append((a, b, w, lambda t: area(e[0], e[1])))
    return out


def assemble_sparse(kind, psi_w, psi_t, psi_n, u_anode, theta_min):
    """Matrix (CSR, on electrolyte nodes numbered in C order), rhs and node index."""
    nr, nz = kind.shape
    idx = -np.ones((nr, nz), dtype=np.int64)
    cells = np.argwhere(kind == ELECTROLYTE)
    idx[kind == ELECTROLYTE] = np.arange(len(cells))
    rows, cols, vals = [], [], []
    rhs = np.zeros(len(cells))
    for n, (i, j) in enumerate(cells):
        dg = 0.0
        for a, b, w, wd in links(kind, psi_n, i, j, theta_min):
            k = kind[a, b]
            if k == ELECTROLYTE:
                dg += w
                rows.append(n)
                cols.append(idx[a, b])
                vals.append(-w)
            elif k in (ANODE, CATHODE):
                if k == ANODE:
                    t = _theta(psi_w[i, j], psi_w[a, b], theta_min)
                else:
                    t = wall_fraction(psi_t, i, j, a, b, theta_min)
                dg += wd(t) / t
                if k == ANODE:
                    rhs[n] += wd(t) * u_anode / t
        if dg == 0.0:
            dg = 1.0
            rhs[n] = 0.0
        rows.append(n)
        cols.append(n)
        vals.append(dg)
    m = len(cells)
    a = sp.csr_matrix((vals, (rows, cols)), shape=(m, m))
    return a, rhs, idx


def insulated_pocket(n: int, anode_r: float, rows: tuple[int, int], cols: tuple[int, int]):
    """Kinds and level sets of an ``n x n`` grid (h = 1): cathode ``r < 2.6``, anode
    ``r > anode_r``, and a square insulator ring on rows ``rows[0]..rows[1]`` and
    columns ``cols[0]..cols[1]`` (inclusive) that seals a pocket of electrolyte."""
    r, _ = grid(n, n, 1.0)
    psi_w = anode_r - r
    psi_t = r - 2.6
    kind = make_kind(psi_w, psi_t)
    (i0, i1), (j0, j1) = rows, cols
    kind[i0 : i1 + 1, j0] = INSULATOR
    kind[i0 : i1 + 1, j1] = INSULATOR
    kind[i0, j0 : j1 + 1] = INSULATOR
    kind[i1, j0 : j1 + 1] = INSULATOR
    return kind, psi_w, psi_t


def stencil_to_sparse(kind, stencil):
    """Kernel stencil ``(5, nr, nz)`` as a CSR matrix on electrolyte nodes (C order)."""
    act = (kind == ELECTROLYTE).ravel()
    return sp.csr_matrix(full_matrix5(kind, stencil)[act][:, act])


def boundary_node_flux(kind, psi, psi_n, phi, target_kind, phi_b, theta_min):
    """Per-node cut-link flux into nodes of ``target_kind`` (the terms of ``boundary_flux``)."""
    out = np.zeros(kind.shape)
    for i, j in np.argwhere(kind == ELECTROLYTE):
        for a, b, _, wd in links(kind, psi_n, i, j, theta_min):
            if kind[a, b] == target_kind:
                if target_kind == CATHODE:
                    t = wall_fraction(psi, i, j, a, b, theta_min)
                else:
                    t = _theta(psi[i, j], psi[a, b], theta_min)
                out[i, j] += wd(t) * (phi_b - phi[i, j]) / t
    return out


def boundary_flux(kind, psi, psi_n, phi, target_kind, phi_b, theta_min):
    return float(boundary_node_flux(kind, psi, psi_n, phi, target_kind, phi_b, theta_min).sum())


def _dir_component(kind, psi_w, psi_n, phi, h, u_anode, theta_min, i, j, di, dj):
    """Gradient component along (di, dj) (a unit grid direction) at node (i, j)."""
    nr, nz = kind.shape

    def inside(a, b):
        return 0 <= a < nr and 0 <= b < nz

    cuts = []
    for s in (1, -1):
        a, b = i + s * di, j + s * dj
        if inside(a, b) and kind[a, b] == ANODE:
            cuts.append((_theta(psi_w[i, j], psi_w[a, b], theta_min), s))
    if cuts:
        # closer cut; ties go to the + side as in the kernel
        t, s = min(cuts, key=lambda c: (c[0], -c[1]))
        a, b = i - s * di, j - s * dj
        xs = [t * h, 0.0]
        ys = [u_anode, phi[i, j]]
        if inside(a, b) and kind[a, b] == ELECTROLYTE:
            xs.append(-h)
            ys.append(phi[a, b])
        coef = np.polyfit(xs, ys, len(xs) - 1)
        return s * np.polyval(np.polyder(coef), t * h)
    ok_p = inside(i + di, j + dj) and kind[i + di, j + dj] == ELECTROLYTE
    ok_m = inside(i - di, j - dj) and kind[i - di, j - dj] == ELECTROLYTE

    def factor(a, b):
        # quadratic with zero slope at an insulating wall at fraction t: slope at the node
        if not inside(a, b) or kind[a, b] not in (INSULATOR, OUTSIDE):
            return 1.0
        if not (psi_n[i, j] > 0.0 and psi_n[a, b] <= 0.0):
            return 1.0
        t = wall_fraction(psi_n, i, j, a, b, theta_min)
        # phi(x) = p0 + g x + c x^2, g + 2 c t h = 0, through the node on the other side
        return 1.0 + 1.0 / (2.0 * t)

    if ok_p and ok_m:
        return (phi[i + di, j + dj] - phi[i - di, j - dj]) / (2 * h)
    if ok_p:
        return (phi[i + di, j + dj] - phi[i, j]) / (h * factor(i - di, j - dj))
    if ok_m:
        return (phi[i, j] - phi[i - di, j - dj]) / (h * factor(i + di, j + dj))
    return 0.0


def anode_normal_gradient(kind, psi_w, psi_n, phi, h, u_anode, theta_min):
    nr, nz = kind.shape
    dphidn = np.zeros((nr, nz))
    known = np.zeros((nr, nz), dtype=bool)
    dr = np.gradient(psi_w, h, axis=0) if nr > 1 else np.zeros((nr, nz))
    dz = np.gradient(psi_w, h, axis=1) if nz > 1 else np.zeros((nr, nz))
    dr[0, :] = 0.0  # mirror image across the axis
    for i, j in np.argwhere(kind == ELECTROLYTE):
        nbs = [(a, b) for a, b in ((i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)) if 0 <= a < nr and 0 <= b < nz]
        if not any(kind[a, b] == ANODE for a, b in nbs):
            continue
        gr = 0.0 if i == 0 else _dir_component(kind, psi_w, psi_n, phi, h, u_anode, theta_min, i, j, 1, 0)
        gz = _dir_component(kind, psi_w, psi_n, phi, h, u_anode, theta_min, i, j, 0, 1)
        g = math.hypot(dr[i, j], dz[i, j])
        dphidn[i, j] = -(gr * dr[i, j] + gz * dz[i, j]) / g if g > 0 else math.hypot(gr, gz)
        known[i, j] = True
    return dphidn, known


# --------------------------------------------------------------------- geometry
def box_distance(rr, zz, r0, r1, z1):
    """Signed distance to ``r0 <= r <= r1, z <= z1`` (``r0 <= 0``: a rod)."""
    dr = rr - r1 if r0 <= 0.0 else np.maximum(r0 - rr, rr - r1)
    dz = zz - z1
    return np.hypot(np.maximum(dr, 0.0), np.maximum(dz, 0.0)) + np.minimum(np.maximum(dr, dz), 0.0)


def tool_signed_distance(h, z0, nr, nz, r_in, r_out, coating, bare_tip, z_tip):
    """The tube's box, united with the coating's box when ``coating > 0`` (minimum)."""
    rr, zz = grid(nr, nz, h, z0)
    d = box_distance(rr, zz, r_in, r_out, z_tip)
    if coating > 0:
        d = np.minimum(d, box_distance(rr, zz, r_out, r_out + coating, z_tip - bare_tip))
    return d


# -------------------------------------------------------------------- level set
def advance(psi, speed, dt, h):
    # ghost layer: mirror across the axis, linear extrapolation elsewhere (so the
    # missing one-sided difference equals the other one)
    p = np.pad(psi, 1, mode="reflect", reflect_type="odd")
    p[0, :] = np.pad(psi, 1, mode="reflect")[0, :]
    drm = (p[1:-1, 1:-1] - p[:-2, 1:-1]) / h
    drp = (p[2:, 1:-1] - p[1:-1, 1:-1]) / h
    dzm = (p[1:-1, 1:-1] - p[1:-1, :-2]) / h
    dzp = (p[1:-1, 2:] - p[1:-1, 1:-1]) / h
    g = np.sqrt(np.minimum(drm, 0) ** 2 + np.maximum(drp, 0) ** 2 + np.minimum(dzm, 0) ** 2 + np.maximum(dzp, 0) ** 2)
    return np.where(speed == 0.0, psi, psi + dt * speed * g)


def _clip_area(poly, nx, ny, c):
    """Area of the part of polygon ``poly`` where nx x + ny y > c (Sutherland-Hodgman)."""
    out = []
    m = len(poly)
    for k in range(m):
        p, q = poly[k], poly[(k + 1) % m]
        fp = nx * p[0] + ny * p[1] - c
        fq = nx * q[0] + ny * q[1] - c
        if fp > 0:
            out.append(p)
        if (fp > 0) != (fq > 0):
            t = fp / (fp - fq)
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    if len(out) < 3:
        return 0.0
    x = np.array([o[0] for o in out])
    y = np.array([o[1] for o in out])
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def electrolyte_volume(psi, h):
    nr, nz = psi.shape
    dr = np.gradient(psi, h, axis=0) if nr > 1 else np.zeros((nr, nz))
    dz = np.gradient(psi, h, axis=1) if nz > 1 else np.zeros((nr, nz))
    dr[0, :] = 0.0
    square = [(-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)]
    v = 0.0
    for i in range(nr):
        rw = 0.125 if i == 0 else float(i)
        for j in range(nz):
            g = math.hypot(dr[i, j], dz[i, j])
            if g == 0.0:
                f = 1.0 if psi[i, j] > 0 else 0.0
            else:
                # psi(x) ~ psi_ij + n.x (x in cell sides) > 0
                f = _clip_area(square, dr[i, j] / g, dz[i, j] / g, -psi[i, j] / h)
            v += rw * f
    return 2 * math.pi * h**3 * v


# -------------------------------------------------------------------- multigrid
def mg_shapes(nr: int, nz: int, min_size: int) -> list[tuple[int, int]]:
    """Level shapes of the multigrid hierarchy: halve (n -> n // 2 + 1) both axes while
    the shorter one exceeds ``max(min_size, 3)``."""
    shapes = [(nr, nz)]
    while min(shapes[-1]) > max(min_size, 3):
        a, b = shapes[-1]
        shapes.append((a // 2 + 1, b // 2 + 1))
    return shapes


def full_matrix5(kind, stencil):
    """The 5-point operator of a kernel stencil ``(5, nr, nz)`` on all ``nr nz`` nodes
    (C order) as CSR; rows and columns of non-unknowns are zero.

    The stencil planes are, in this order, the diagonal and the positive link weights
    to ``(i - 1, j)``, ``(i + 1, j)``, ``(i, j - 1)``, ``(i, j + 1)`` (the kernels'
    ``DIAG, RM, RP, ZM, ZP``); ``A`` has ``-c`` off the diagonal."""
    nr, nz = kind.shape
    diag, c_rm, c_rp, c_zm, c_zp = stencil
    rows, cols, vals = [], [], []
    for i, j in np.argwhere(kind == ELECTROLYTE):
        n = i * nz + j
        rows.append(n)
        cols.append(n)
        vals.append(diag[i, j])
        for a, b, c in ((i - 1, j, c_rm), (i + 1, j, c_rp), (i, j - 1, c_zm), (i, j + 1, c_zp)):
            if 0 <= a < nr and 0 <= b < nz and c[i, j] != 0.0:
                rows.append(n)
                cols.append(a * nz + b)
                vals.append(-c[i, j])
    return sp.csr_matrix((vals, (rows, cols)), shape=(nr * nz, nr * nz))


def full_matrix9(kind, a):
    """A 9-point stencil ``a[i, j, 3 (di + 1) + dj + 1]`` (matrix entries) as CSR on all
    nodes; rows of non-unknowns are zero."""
    nr, nz = kind.shape
    rows, cols, vals = [], [], []
    for i, j in np.argwhere(kind == ELECTROLYTE):
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                p, q = i + di, j + dj
                v = a[i, j, 3 * (di + 1) + dj + 1]
                if 0 <= p < nr and 0 <= q < nz and v != 0.0:
                    rows.append(i * nz + j)
                    cols.append(p * nz + q)
                    vals.append(v)
    return sp.csr_matrix((vals, (rows, cols)), shape=(nr * nz, nr * nz))


def stencil9_from_matrix(a_full, nr: int, nz: int) -> np.ndarray:
    """Inverse of :func:`full_matrix9` for a matrix with 9-point structure."""
    a = np.zeros((nr, nz, 9))
    coo = a_full.tocoo()
    for n, m, v in zip(coo.row, coo.col, coo.data, strict=True):
        i, j = divmod(int(n), nz)
        p, q = divmod(int(m), nz)
        assert abs(p - i) <= 1 and abs(q - j) <= 1
        a[i, j, 3 * (p - i + 1) + q - j + 1] += v
    return a


def linear_interpolation_1d(n: int) -> np.ndarray:
    """1-D vertex-centred linear interpolation from ``n // 2 + 1`` coarse nodes: fine
    ``i`` even takes coarse ``i / 2``, odd takes the mean of ``(i -+ 1) / 2``."""
    w = np.zeros((n, n // 2 + 1))
    for i in range(n):
        if i % 2 == 0:
            w[i, i // 2] = 1.0
        else:
            w[i, (i - 1) // 2] = 0.5
            w[i, (i + 1) // 2] = 0.5
    return w


def interpolation(kind: np.ndarray) -> sp.csr_matrix:
    """Masked bilinear interpolation ``P`` (fine nodes x coarse nodes, C order): the
    tensor product of the 1-D interpolations with the rows of non-unknowns zeroed."""
    nr, nz = kind.shape
    p = sp.kron(sp.csr_matrix(linear_interpolation_1d(nr)), sp.csr_matrix(linear_interpolation_1d(nz)))
    mask = sp.diags((kind.ravel() == ELECTROLYTE).astype(float))
    return sp.csr_matrix(mask @ p)


def gauss_seidel(a_full, f: np.ndarray, u: np.ndarray, order, active: np.ndarray) -> np.ndarray:
    """Gauss-Seidel updates ``u_n = (f_n - sum_{m != n} A_nm u_m) / A_nn`` at the active
    nodes, one by one in ``order`` (flat indices); returns the new ``u``."""
    a = a_full.tocsr()
    u = u.ravel().copy()
    f = f.ravel()
    act = active.ravel()
    for n in order:
        if not act[n]:
            continue
        lo, hi = a.indptr[n], a.indptr[n + 1]
        cols = a.indices[lo:hi]
        vals = a.data[lo:hi]
        diag = vals[cols == n].sum()
        off = vals[cols != n] @ u[cols[cols != n]]
        u[n] = (f[n] - off) / diag
    return u


def red_black_order(nr: int, nz: int, first: int) -> list[int]:
    """Flat indices of the nodes of colour ``first`` (``(i + j) % 2``), then the other."""
    i, j = np.meshgrid(np.arange(nr), np.arange(nz), indexing="ij")
    colour = ((i + j) % 2).ravel()
    flat = np.arange(nr * nz)
    return [*flat[colour == first], *flat[colour != first]]


def galerkin_hierarchy(kind, stencil, min_size: int):
    """Matrices ``A_l``, interpolations ``P_l`` and unknown masks of every level, built
    with sparse products ``A_{l+1} = P_l^T A_l P_l``; a coarse node is an unknown where
    its diagonal is positive."""
    shapes = mg_shapes(*kind.shape, min_size)
    mats = [full_matrix5(kind, stencil)]
    actives = [kind == ELECTROLYTE]
    interps = []
    for shape in shapes[1:]:
        k = np.where(actives[-1], ELECTROLYTE, OUTSIDE).astype(np.int8)
        p = interpolation(k)
        ac = sp.csr_matrix(p.T @ mats[-1] @ p)
        interps.append(p)
        mats.append(ac)
        actives.append((ac.diagonal() > 0.0).reshape(shape))
    return shapes, mats, interps, actives


def vcycle(shapes, mats, interps, actives, f: np.ndarray, nu: int) -> np.ndarray:
    """One V(nu, nu)-cycle from zero, written with the matrices of
    :func:`galerkin_hierarchy`: red-black Gauss-Seidel (red first, black first after the
    correction) on level 0, lexicographic forward/backward Gauss-Seidel on coarser
    levels, exact solve on the coarsest."""

    def cycle(lev, f):
        nr, nz = shapes[lev]
        a = mats[lev]
        act = actives[lev].ravel()
        if lev == len(shapes) - 1:
            u = np.zeros(nr * nz)
            idx = np.flatnonzero(act)
            if idx.size:
                u[idx] = np.linalg.solve(a[idx][:, idx].toarray(), f.ravel()[idx])
            return u
        if lev == 0:
            pre = red_black_order(nr, nz, 0)
            post = red_black_order(nr, nz, 1)
        else:
            pre = list(range(nr * nz))
            post = pre[::-1]
        u = np.zeros(nr * nz)
        for _ in range(nu):
            u = gauss_seidel(a, f, u, pre, act)
        r = np.where(act, f.ravel() - a @ u, 0.0)
        p = interps[lev]
        u = u + np.where(act, p @ cycle(lev + 1, p.T @ r), 0.0)
        for _ in range(nu):
            u = gauss_seidel(a, f, u, post, act)
        return u

    return cycle(0, f.ravel()).reshape(shapes[0])


# --------------------------------------------------------------------- channel
R_GAS = 8.314462618


def march_temperature(length, perimeter, joule, n_mid, p_mid, q_l, t_in, cap, k_ref, a_t, t_ref, exponent, wall_h):
    """Face temperatures and cell void fractions: each cell's linear ODE solved in closed form,
    T_{k+1} = T_w + (T_k − T_w) e^x ... written as the exponential of the affine right-hand side."""
    n = len(length)
    temp = np.empty(n + 1)
    void = np.empty(n)
    temp[0] = t_in
    for k in range(n):
        q_g = n_mid[k] * R_GAS * temp[k] / p_mid[k]
        void[k] = q_g / (q_g + q_l)
        gas = (1.0 - void[k]) ** exponent
        g = joule[k] / length[k]
        loss = wall_h * perimeter[k]
        # cap dT/ds = c0 + c1 T
        c1 = k_ref * a_t * gas * g - loss
        c0 = k_ref * (1.0 - a_t * t_ref) * gas * g + loss * t_in
        x = c1 * length[k] / cap
        if abs(x) < 1e-8:  # the closed form below cancels; its series to second order
            temp[k + 1] = temp[k] + (c0 + c1 * temp[k]) * length[k] / cap * (1.0 + 0.5 * x)
        else:
            fixed = -c0 / c1
            temp[k + 1] = fixed + (temp[k] - fixed) * math.exp(min(c1 * length[k] / cap, 50.0))
    return temp, void


def march_pressure(length, area, dh, resistance, entry_loss, exit_loss, mu, temp, n_faces, q_l, rho, p_out):
    """Face pressures upstream from the outlet, the mean cell pressure by plain fixed point."""
    n = len(length)
    p = np.empty(n + 1)
    re = np.empty(n)
    q_g = n_faces[n] * R_GAS * temp[n] / p_out
    p[n] = p_out + exit_loss * 0.5 * rho * q_l * (q_l + q_g) / area[n - 1] ** 2
    for k in reversed(range(n)):
        pk = p[k + 1]
        for _ in range(3):
            q_g = 0.5 * (n_faces[k] + n_faces[k + 1]) * R_GAS * 0.5 * (temp[k] + temp[k + 1]) / (0.5 * (pk + p[k + 1]))
            re[k] = rho * q_l * dh[k] / (area[k] * mu[k])
            mix = rho * q_l * (q_l + q_g) / area[k] ** 2
            friction = mu[k] * resistance[k] * (q_l + q_g) * length[k]
            if re[k] > 2300.0:
                friction = max(friction, 0.316 * re[k] ** -0.25 * length[k] / dh[k] * 0.5 * mix)
            pk = p[k + 1] + friction + entry_loss[k] * 0.5 * mix
        p[k] = pk
    return p, re


def march_profile(length, perimeter, area, dh, resistance, entry_loss, exit_loss, joule, n_faces, q_l, t_in, rho,
                  cap, k_ref, a_t, t_ref, exponent, wall_h, mu_scale, p_out, max_iterations):  # fmt: skip
    """The two marches alternated from a uniform outlet pressure until the pressures stop
    changing (1e-12 relative; once without gas), the viscosity from Vogel's law at the cells'
    mean temperatures, then the temperature marched again at the final pressures."""
    n = len(length)
    n_mid = 0.5 * (n_faces[:-1] + n_faces[1:])
    p = np.full(n + 1, p_out)
    iterations = 0
    for _ in range(max_iterations):
        iterations += 1
        temp, _void = march_temperature(
            length, perimeter, joule, n_mid, 0.5 * (p[:-1] + p[1:]), q_l, t_in, cap, k_ref, a_t, t_ref, exponent, wall_h
        )
        t_mid = 0.5 * (temp[:-1] + temp[1:])
        mu = mu_scale * 2.414e-5 * 10.0 ** (247.8 / (t_mid - 140.0))
        p_new, re = march_pressure(
            length, area, dh, resistance, entry_loss, exit_loss, mu, temp, n_faces, q_l, rho, p_out
        )
        change = np.max(np.abs(p_new - p)) / np.max(p_new)
        p = p_new
        if n_faces[-1] == 0.0 or change < 1e-12:
            break
    temp, void = march_temperature(
        length, perimeter, joule, n_mid, 0.5 * (p[:-1] + p[1:]), q_l, t_in, cap, k_ref, a_t, t_ref, exponent, wall_h
    )
    return p, temp, void, re, iterations


def station_sources(kind, stencil, rhs, phi, u_anode, station, n):
    """Per node: Σ over its links of w Δφ² (half to each end), the cut-link powers w_a (U − φ)²
    and w_c φ² (w_a = rhs/U, w_c the rest of the diagonal) and the currents w_c φ and
    w_a (U − φ); then summed per station with ``np.bincount``."""
    from ecmsim.kernels import potential as kp

    e = kind == ELECTROLYTE
    diag, c_rm, c_rp, c_zm, c_zp = (stencil[k] for k in (kp.DIAG, kp.RM, kp.RP, kp.ZM, kp.ZP))
    w_a = np.where(e, rhs / u_anode, 0.0) if u_anode != 0 else np.zeros(kind.shape)
    w_c = np.where(e, diag - (c_rm + c_rp + c_zm + c_zp) - w_a, 0.0)
    d_r = np.zeros(kind.shape)
    d_r[:-1] = c_rp[:-1] * (phi[1:] - phi[:-1]) ** 2
    d_z = np.zeros(kind.shape)
    d_z[:, :-1] = c_zp[:, :-1] * (phi[:, 1:] - phi[:, :-1]) ** 2
    power = 0.5 * (d_r + d_z)
    power[1:] += 0.5 * d_r[:-1]
    power[:, 1:] += 0.5 * d_z[:, :-1]
    power = np.where(e, power + w_a * (u_anode - phi) ** 2 + w_c * phi**2, 0.0)
    cells = np.where(e, station, 0).ravel()

    def per_station(values):
        return np.bincount(cells, weights=np.where(e, values, 0.0).ravel(), minlength=n)

    return per_station(power), per_station(w_c * phi), per_station(w_a * (u_anode - phi))


def scale_conductivity_sparse(kind, stencil, rhs, kappa):
    """The matrix and right-hand side of ∇·(κ∇φ) built from an assembled Laplacian: each
    link between electrolyte nodes times the harmonic mean of their κ, every cut link to an
    electrode (the diagonal minus the node's link weights, and the right-hand side) times the
    node's own κ."""
    a = stencil_to_sparse(kind, stencil).tolil()
    idx = -np.ones(kind.shape, dtype=np.int64)
    nodes = np.argwhere(kind == 0)
    idx[tuple(nodes.T)] = np.arange(len(nodes))
    k_nodes = kappa[tuple(nodes.T)]
    out = a.copy()
    for n in range(len(nodes)):
        links = 0.0
        for col in a.rows[n]:
            if col != n:
                links += -a[n, col]
                ka, kb = k_nodes[n], k_nodes[col]
                out[n, col] = a[n, col] * 2.0 * ka * kb / (ka + kb)
        diag_links = sum(-out[n, col] for col in out.rows[n] if col != n)
        out[n, n] = diag_links + k_nodes[n] * (a[n, n] - links)
    return out.tocsr(), rhs[kind == 0] * k_nodes


# ------------------------------------------------------------------- potential 3D
def _open_fraction_triangle(tri, vals) -> float:
    """Area fraction of a triangle where the linear interpolant of ``vals`` is > 0, by
    clipping the triangle (in barycentric-free 2D coordinates) with Sutherland-Hodgman."""
    (x0, y0), (x1, y1), (x2, y2) = tri
    # the plane v = a x + b y + c through the three vertices
    m = np.array([[x0, y0, 1.0], [x1, y1, 1.0], [x2, y2, 1.0]])
    a, b, c = np.linalg.solve(m, np.asarray(vals, dtype=float))
    full = _clip_area(list(tri), 0.0, 0.0, -1.0)
    if a == 0.0 and b == 0.0:
        return 1.0 if c > 0.0 else 0.0
    return _clip_area(list(tri), a, b, -c) / full


def aperture3d(psi_n, i, j, k, axis) -> float:
    """Open fraction of the face between (i, j, k) and its +1 neighbour along ``axis``:
    corner values are means of the eight surrounding nodes (mirrored below index 0,
    clamped at the top), the centre the mean of the two nodes, four triangles clipped."""
    n = psi_n.shape

    def idx(v, a):
        v = -v if v < 0 else v
        return min(v, n[a] - 1)

    e = [0, 0, 0]
    e[axis] = 1
    others = [a for a in range(3) if a != axis]

    def corner(s1, s2):
        off = [0, 0, 0]
        off[axis] = 1
        off[others[0]] = s1
        off[others[1]] = s2
        pts = [
            (idx(i + a, 0), idx(j + b, 1), idx(k + c, 2)) for a in (0, off[0]) for b in (0, off[1]) for c in (0, off[2])
        ]
        return float(np.mean([psi_n[p] for p in pts]))

    centre = 0.5 * (psi_n[i, j, k] + psi_n[i + e[0], j + e[1], k + e[2]])
    pts = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
    vals = [corner(*p) for p in pts]
    total = 0.0
    for q in range(4):
        p1, p2 = pts[q], pts[(q + 1) % 4]
        tri = [(0.0, 0.0), (0.5 * p1[0], 0.5 * p1[1]), (0.5 * p2[0], 0.5 * p2[1])]
        total += 0.25 * _open_fraction_triangle(tri, [centre, vals[q], vals[(q + 1) % 4]])
    return total


def assemble3d_sparse(kind, psi_w, psi_t, psi_n, u_anode, theta_min):
    """The 3D system of ``potential3d.assemble`` as a CSR matrix on all nodes (C order)
    and the right-hand side: link weight = aperture (halved for x- and z-faces on
    j = 0), a link to an electrode w / theta, links to kinds 3 and 4 dropped."""
    flat = np.arange(kind.size).reshape(kind.shape)
    rows, cols, vals = [], [], []
    rhs = np.zeros(kind.shape)
    for i, j, k in np.argwhere(kind == ELECTROLYTE):
        dg = 0.0
        for axis in range(3):
            for s in (-1, 1):
                nb = [int(i), int(j), int(k)]
                nb[axis] += s
                if not all(0 <= nb[a] < kind.shape[a] for a in range(3)):
                    continue
                kn = kind[tuple(nb)]
                if kn in (INSULATOR, OUTSIDE):
                    continue
                low = (int(i), int(j), int(k)) if s > 0 else tuple(nb)
                w = aperture3d(psi_n, *low, axis)
                if j == 0 and axis != 1:
                    w *= 0.5
                if kn == ELECTROLYTE:
                    rows.append(flat[i, j, k])
                    cols.append(flat[tuple(nb)])
                    vals.append(-w)
                    dg += w
                else:
                    psi = psi_w if kn == ANODE else psi_t
                    t = _theta(psi[i, j, k], psi[tuple(nb)], theta_min)
                    dg += w / t
                    if kn == ANODE:
                        rhs[i, j, k] += w * u_anode / t
        if dg == 0.0:
            dg, rhs[i, j, k] = 1.0, 0.0
        rows.append(flat[i, j, k])
        cols.append(flat[i, j, k])
        vals.append(dg)
    return sp.csr_matrix((vals, (rows, cols)), shape=(kind.size, kind.size)), rhs


def full_matrix7(kind, stencil):
    """A 7-point kernel stencil ``(7, nx, ny, nz)`` (DIAG, XM, XP, YM, YP, ZM, ZP) as CSR
    on all nodes; rows of non-unknowns are zero."""
    flat = np.arange(kind.size).reshape(kind.shape)
    rows, cols, vals = [], [], []
    offsets = [(-1, 0, 0), (1, 0, 0), (0, -1, 0), (0, 1, 0), (0, 0, -1), (0, 0, 1)]
    for i, j, k in np.argwhere(kind == ELECTROLYTE):
        rows.append(flat[i, j, k])
        cols.append(flat[i, j, k])
        vals.append(stencil[0, i, j, k])
        for q, (a, b, c) in enumerate(offsets):
            p = (i + a, j + b, k + c)
            if all(0 <= p[d] < kind.shape[d] for d in range(3)) and stencil[1 + q, i, j, k] != 0.0:
                rows.append(flat[i, j, k])
                cols.append(flat[p])
                vals.append(-stencil[1 + q, i, j, k])
    return sp.csr_matrix((vals, (rows, cols)), shape=(kind.size, kind.size))


def full_matrix27(kind, a):
    """A 27-point stencil ``a[d, i, j, k]``, ``d = 9 (di + 1) + 3 (dj + 1) + dk + 1``, as
    CSR on all nodes; rows of non-unknowns are zero."""
    flat = np.arange(kind.size).reshape(kind.shape)
    rows, cols, vals = [], [], []
    for i, j, k in np.argwhere(kind == ELECTROLYTE):
        for d in range(27):
            p = (i + d // 9 - 1, j + (d // 3) % 3 - 1, k + d % 3 - 1)
            if all(0 <= p[q] < kind.shape[q] for q in range(3)) and a[d, i, j, k] != 0.0:
                rows.append(flat[i, j, k])
                cols.append(flat[p])
                vals.append(a[d, i, j, k])
    return sp.csr_matrix((vals, (rows, cols)), shape=(kind.size, kind.size))


def boundary_flux3d(kind, psi, psi_n, phi, target_kind, phi_b, theta_min):
    """Sum of w (phi_b - phi) / theta over links from electrolyte nodes into ``target_kind``."""
    s = 0.0
    for i, j, k in np.argwhere(kind == ELECTROLYTE):
        for axis in range(3):
            for d in (-1, 1):
                nb = [int(i), int(j), int(k)]
                nb[axis] += d
                if not all(0 <= nb[a] < kind.shape[a] for a in range(3)) or kind[tuple(nb)] != target_kind:
                    continue
                low = (int(i), int(j), int(k)) if d > 0 else tuple(nb)
                w = aperture3d(psi_n, *low, axis) * (0.5 if j == 0 and axis != 1 else 1.0)
                s += w * (phi_b - phi[i, j, k]) / _theta(psi[i, j, k], psi[tuple(nb)], theta_min)
    return s


# ------------------------------------------------------------------ multigrid 3D
def mg3_shapes(shape, min_size: int):
    """Level shapes and per-axis coarsening flags of the 3D hierarchy: every axis with
    more than ``max(min_size, 3)`` nodes goes to n // 2 + 1, the others stay."""
    m = max(min_size, 3)
    shapes = [tuple(shape)]
    while any(n > m for n in shapes[-1]):
        shapes.append(tuple(n // 2 + 1 if n > m else n for n in shapes[-1]))
    flags = [tuple(int(c != f) for f, c in zip(shapes[q], shapes[q + 1], strict=True)) for q in range(len(shapes) - 1)]
    return shapes, flags


def interpolation3d(active, flags) -> sp.csr_matrix:
    """Masked trilinear interpolation: the Kronecker product of the 1D interpolations
    (identity along a kept axis), rows of inactive fine nodes zeroed."""
    mats = [
        sp.csr_matrix(linear_interpolation_1d(n)) if c else sp.identity(n, format="csr")
        for n, c in zip(active.shape, flags, strict=True)
    ]
    p = sp.kron(sp.kron(mats[0], mats[1]), mats[2])
    return sp.csr_matrix(sp.diags(active.ravel().astype(float)) @ p)


def galerkin_hierarchy3d(kind, stencil, min_size: int):
    """Matrices, interpolations and unknown masks of every 3D level, by sparse products."""
    shapes, flags = mg3_shapes(kind.shape, min_size)
    mats = [full_matrix7(kind, stencil)]
    actives = [kind == ELECTROLYTE]
    interps = []
    for lev in range(1, len(shapes)):
        p = interpolation3d(actives[-1], flags[lev - 1])
        ac = sp.csr_matrix(p.T @ mats[-1] @ p)
        interps.append(p)
        mats.append(ac)
        actives.append((ac.diagonal() > 0.0).reshape(shapes[lev]))
    return shapes, mats, interps, actives


def _colour_sweep(a, f, u, mask):
    # Gauss-Seidel on a set of mutually uncoupled nodes is a Jacobi update of that set.
    d = a.diagonal()
    r = f - a @ u
    u = u.copy()
    u[mask] += r[mask] / d[mask]
    return u


def vcycle3d(shapes, mats, interps, actives, f, nu: int):
    """One V(nu, nu)-cycle from zero with the matrices of :func:`galerkin_hierarchy3d`:
    red-black on level 0 (red first, then black first after the correction), eight
    colours on coarse levels (0..7, then 7..0), exact solve on the coarsest."""

    def colours(shape, n_col):
        i, j, k = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
        c = ((i + j + k) % 2) if n_col == 2 else (4 * (i % 2) + 2 * (j % 2) + k % 2)
        return [(c == q).ravel() for q in range(n_col)]

    def cycle(lev, f):
        a = mats[lev]
        act = actives[lev].ravel()
        u = np.zeros(a.shape[0])
        if lev == len(shapes) - 1:
            idx = np.flatnonzero(act)
            if idx.size:
                u[idx] = np.linalg.solve(a[idx][:, idx].toarray(), f[idx])
            return u
        cols = colours(shapes[lev], 2 if lev == 0 else 8)
        for _ in range(nu):
            for c in cols:
                u = _colour_sweep(a, f, u, c & act)
        r = np.where(act, f - a @ u, 0.0)
        p = interps[lev]
        u = u + np.where(act, p @ cycle(lev + 1, p.T @ r), 0.0)
        for _ in range(nu):
            for c in cols[::-1]:
                u = _colour_sweep(a, f, u, c & act)
        return u

    return cycle(0, f.ravel()).reshape(shapes[0])


# ----------------------------------------------------------------------- curve
def polyline_distance(pr, pz, z0, h, reach, nr, nz):
    """Brute force: every node against every segment (a single vertex: a point), capped at ``reach``."""
    rr, zz = grid(nr, nz, h, z0)
    p = np.column_stack([pr, pz])
    q = p[1:] if p.shape[0] > 1 else p
    p = p[:-1] if p.shape[0] > 1 else p
    best = np.full((nr, nz), reach, dtype=float)
    for (ar, az), (br, bz) in zip(p, q, strict=True):
        dr, dz = br - ar, bz - az
        dd = dr * dr + dz * dz
        t = np.zeros_like(rr) if dd == 0 else np.clip(((rr - ar) * dr + (zz - az) * dz) / dd, 0.0, 1.0)
        best = np.minimum(best, np.hypot(rr - ar - t * dr, zz - az - t * dz))
    return best


def _bilinear(field, r, z, z0, h):
    """SciPy's linear interpolation in grid units, clamped just inside the last node."""
    from scipy.interpolate import RegularGridInterpolator

    nr, nz = field.shape
    x = np.clip(r / h, 0.0, nr - 1.000001)
    y = np.clip((z - z0) / h, 0.0, nz - 1.000001)
    return float(RegularGridInterpolator((np.arange(nr), np.arange(nz)), field)([[x, y]])[0])


def march_wall(speed, z0, h, r_start, z_start, feed, z_top, n_max):
    """Heun's method on (dr, dz)/ds = (s, -sqrt(1 - s^2)), s = clip(v / f, 0, 1), steps of h/2."""

    def f(r, z):
        s = float(np.clip(_bilinear(speed, r, z, z0, h) / feed, 0.0, 1.0))
        return np.array([s, -math.sqrt(1.0 - s * s)])

    ds = 0.5 * h
    x = np.array([r_start, z_start])
    rs, zs = [], []
    while x[1] > z_top and len(rs) < n_max:
        k1 = f(*x)
        k2 = f(*(x + ds * k1))
        x = x + 0.5 * ds * (k1 + k2)
        rs.append(x[0])
        zs.append(max(x[1], z_top))
    return np.array(rs), np.array(zs)
