"""Geometric multigrid preconditioned conjugate gradients for the 3D potential operator.

Operator
--------
The fine-level system is the one of :mod:`ecmsim.kernels.potential3d` (``assemble``): a
7-point stencil ``(7, nx, ny, nz)`` indexed by ``DIAG, XM, XP, YM, YP, ZM, ZP``,
symmetric and positive definite on the unknowns (``kind == 0``); links to non-unknowns
carry 0.  Nodes with ``kind != 0`` are fixed zeros in every correction equation.

Hierarchy
---------
Vertex-centred coarsening by two along every axis that still has more than
``min_size`` nodes (``n -> n // 2 + 1``; coarse node ``I`` on fine node ``2I``); an axis
at or below ``min_size`` is kept as it is (semi-coarsening), and levels are added
while at least one axis coarsens, so the coarsest level has at most ``min_size`` nodes
along every axis and is solved exactly (dense Cholesky).

Transfer operators
------------------
Prolongation ``P`` is trilinear interpolation, masked: along a coarsened axis fine
index ``i`` has the parent ``i // 2`` (weight 1) if ``i`` is even, ``(i - 1) / 2`` and
``(i + 1) / 2`` (1/2 each) if it is odd; along a kept axis the parent ``i`` (weight
1).  The 3D weight is the product of the three 1D weights; rows of ``P`` for fine
nodes that are not unknowns are zero.  Restriction is ``R = P^T``.  Both are written
as gathers (each output node reads its own inputs), so they are array-wide operations.

Coarse operators
----------------
Galerkin, ``A_{l+1} = P^T A_l P``: a 27-point stencil on every coarse level, stored as
the matrix entries ``a[d, I, J, K]`` with ``d = 9 (dI + 1) + 3 (dJ + 1) + (dK + 1)``
for the neighbour ``(I + dI, J + dJ, K + dK)`` (centre ``d = 13``).  A coarse node is
an unknown (coarse kind 0) when its diagonal entry is positive, otherwise kind 4 with a
zero row and column.  Galerkin operators need no rescaling with embedded boundaries and
keep thin gaps represented as well as trilinear interpolation allows.

Smoothers and V-cycle
---------------------
Fine level: red-black Gauss-Seidel (red: ``i + j + k`` even), pre-smoothing red then
black, post-smoothing black then red.  Coarse levels: eight-colour Gauss-Seidel (colour
``4 (I % 2) + 2 (J % 2) + K % 2``: no two nodes of one colour are coupled by a 27-point
stencil), colours 0 to 7 before the coarse-grid correction and 7 to 0 after it.  Each
colour is one array-wide update.  Post-smoothing is the adjoint of pre-smoothing, the
coarsest level is solved exactly and the cycle starts from zero, so one V-cycle is a
fixed symmetric positive definite map ``z = M r``: a valid CG preconditioner.

Storage
-------
One :class:`Hierarchy3D` (a named tuple of flat arrays) per grid shape, from
:func:`allocate`, refilled by :func:`setup` whenever the operator changes:

``levels`` : int64 (nlev, 8)
    ``nx_l, ny_l, nz_l, voff_l, soff_l, cx_l, cy_l, cz_l``: shape, offset in the node
    arrays, offset of the 27-point stencil in ``sten`` (``-1`` on level 0), and per axis
    1 if level ``l + 1`` is coarsened along it (0 if kept; all 0 on the coarsest level).
``kinds`` : int8 (n_nodes,)
    Coarse kinds (0 unknown, 4 not); the level-0 block is unused.
``sten`` : float64 (n_stencil,)
    Level ``l >= 1`` stencil at ``sten[soff_l : soff_l + 27 n_l]`` viewed as
    ``(27, nx_l, ny_l, nz_l)``.
``dense`` : float64 (n_coarsest, n_coarsest)
    Cholesky factor (lower triangle) of the coarsest operator.
``vec`` : float64 (3, n_nodes)
    Per level: correction ``u`` (row 0), right-hand side ``f`` (row 1), residual
    (row 2); on level 0, rows 0 and 1 are CG's preconditioned residual and residual.
``work`` : float64 (3, nx, ny, nz)
    CG's vectors ``p``, ``q`` and ``r``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from ecmsim.kernels.potential3d import DIAG, apply, neighbour_sum, offset
from numba import njit

#: Index of the centre entry of a 27-point coarse stencil.
CENTRE = 13


class Hierarchy3D(NamedTuple):
    """Storage of a 3D multigrid hierarchy for one grid shape (module docstring, Storage)."""

    levels: np.ndarray  # int64 (nlev, 8)
    kinds: np.ndarray  # int8 (n_nodes,)
    sten: np.ndarray  # float64 (n_stencil,)
    dense: np.ndarray  # float64 (n_coarsest, n_coarsest)
    vec: np.ndarray  # float64 (3, n_nodes)
    work: np.ndarray  # float64 (3, nx, ny, nz)


def allocate(nx: int, ny: int, nz: int, min_size: int = 5) -> Hierarchy3D:
    """Allocate the hierarchy storage for an ``(nx, ny, nz)`` grid (zero-filled).

    Parameters
    ----------
    nx, ny, nz : int
        Fine grid shape.
    min_size : int
        Coarsening limit of :func:`hierarchy`.

    Returns
    -------
    Hierarchy3D
    """
    levels = hierarchy(nx, ny, nz, min_size)
    last = levels[-1]
    n_coarsest = int(last[0] * last[1] * last[2])
    n_nodes = int(last[3]) + n_coarsest
    n_stencil = 1 if levels.shape[0] == 1 else int(last[4]) + 27 * n_coarsest
    return Hierarchy3D(
        levels=levels,
        kinds=np.zeros(n_nodes, dtype=np.int8),
        sten=np.zeros(n_stencil),
        dense=np.zeros((n_coarsest, n_coarsest)),
        vec=np.zeros((3, n_nodes)),
        work=np.zeros((3, nx, ny, nz)),
    )


@njit(cache=True)
def hierarchy(nx, ny, nz, min_size):
    """Shapes, offsets and coarsening flags of the levels for an ``(nx, ny, nz)`` grid.

    Parameters
    ----------
    nx, ny, nz : int
        Fine grid shape (each >= 1).
    min_size : int
        An axis is coarsened (``n -> n // 2 + 1``) while it has more than this many
        nodes; values below 3 are taken as 3.

    Returns
    -------
    levels : int64 array (nlev, 8)
        Module docstring, Storage.
    """
    m = max(min_size, 3)
    shapes = np.zeros((64, 3), dtype=np.int64)
    shapes[0, 0] = nx
    shapes[0, 1] = ny
    shapes[0, 2] = nz
    nlev = 1
    while nlev < 64:
        moved = False
        for a in range(3):
            n = shapes[nlev - 1, a]
            shapes[nlev, a] = n // 2 + 1 if n > m else n
            moved = moved or n > m
        if not moved:
            break
        nlev += 1
    levels = np.zeros((nlev, 8), dtype=np.int64)
    voff = 0
    soff = 0
    for lev in range(nlev):
        n = shapes[lev, 0] * shapes[lev, 1] * shapes[lev, 2]
        for a in range(3):
            levels[lev, a] = shapes[lev, a]
            if lev + 1 < nlev:
                levels[lev, 5 + a] = 1 if shapes[lev + 1, a] != shapes[lev, a] else 0
        levels[lev, 3] = voff
        levels[lev, 4] = -1 if lev == 0 else soff
        if lev > 0:
            soff += 27 * n
        voff += n
    return levels


# ------------------------------------------------------------------ level views
@njit(cache=True, inline="always")
def _shape(hier, lev):
    return hier.levels[lev, 0], hier.levels[lev, 1], hier.levels[lev, 2]


@njit(cache=True, inline="always")
def _kview(hier, lev):
    a, b, c = _shape(hier, lev)
    v = hier.levels[lev, 3]
    return hier.kinds[v : v + a * b * c].reshape((a, b, c))


@njit(cache=True, inline="always")
def _aview(hier, lev):
    a, b, c = _shape(hier, lev)
    s = hier.levels[lev, 4]
    return hier.sten[s : s + 27 * a * b * c].reshape((27, a, b, c))


@njit(cache=True, inline="always")
def _vview(hier, lev, row):
    a, b, c = _shape(hier, lev)
    v = hier.levels[lev, 3]
    return hier.vec[row, v : v + a * b * c].reshape((a, b, c))


# ------------------------------------------------------------------ transfers
@njit(cache=True, inline="always")
def _parents(i, c):
    # Coarse parents of fine index i along one axis (c = 1 coarsened, 0 kept):
    # first index, count, weight.
    if c == 0:
        return i, 1, 1.0
    if i & 1:
        return i >> 1, 2, 0.5
    return i >> 1, 1, 1.0


@njit(cache=True)
def prolong_add(kind, uc, cx, cy, cz, u):
    """``u += P uc`` at the fine unknowns (trilinear interpolation, masked).

    Parameters
    ----------
    kind : int8 array (nx, ny, nz)
        Fine kinds (0 unknown).
    uc : float64 array (nxc, nyc, nzc)
        Coarse correction.
    cx, cy, cz : int
        1 if the coarse level is coarsened along that axis, 0 if kept.
    u : float64 array (nx, ny, nz), in/out
    """
    nx, ny, nz = kind.shape
    for i in range(nx):
        i0, ni, wi = _parents(i, cx)
        for j in range(ny):
            j0, nj, wj = _parents(j, cy)
            for k in range(nz):
                if kind[i, j, k] != 0:
                    continue
                k0, nk, wk = _parents(k, cz)
                s = 0.0
                for a in range(ni):
                    for b in range(nj):
                        for c in range(nk):
                            s += uc[i0 + a, j0 + b, k0 + c]
                u[i, j, k] += wi * wj * wk * s


@njit(cache=True, inline="always")
def _children(ic, c, n):
    # Fine children of coarse index ic along one axis (fine length n): first index and
    # count (the fine nodes whose parents include ic).
    if c == 0:
        return ic, 1
    lo = max(2 * ic - 1, 0)
    hi = min(2 * ic + 1, n - 1)
    return lo, hi - lo + 1


@njit(cache=True, inline="always")
def _cweight(i, c):
    # 1D interpolation weight of fine index i from the coarse parent it belongs to.
    if c == 0:
        return 1.0
    return 0.5 if i & 1 else 1.0


@njit(cache=True)
def restrict(kind, r, cx, cy, cz, fc):
    """``fc = P^T r`` over the fine unknowns (full weighting, masked), as a gather.

    Parameters
    ----------
    kind : int8 array (nx, ny, nz)
        Fine kinds (0 unknown).
    r : float64 array (nx, ny, nz)
        Fine residual.
    cx, cy, cz : int
        Coarsening flags, as in :func:`prolong_add`.
    fc : float64 array (nxc, nyc, nzc), out
    """
    nx, ny, nz = kind.shape
    mx, my, mz = fc.shape
    for ic in range(mx):
        i0, ni = _children(ic, cx, nx)
        for jc in range(my):
            j0, nj = _children(jc, cy, ny)
            for kc in range(mz):
                k0, nk = _children(kc, cz, nz)
                s = 0.0
                for i in range(i0, i0 + ni):
                    wi = _cweight(i, cx)
                    for j in range(j0, j0 + nj):
                        wij = wi * _cweight(j, cy)
                        for k in range(k0, k0 + nk):
                            if kind[i, j, k] == 0:
                                s += wij * _cweight(k, cz) * r[i, j, k]
                fc[ic, jc, kc] = s


# ------------------------------------------------------------------ Galerkin
@njit(cache=True, inline="always")
def _spread(ac, v, i, j, k, di, dj, dk, cx, cy, cz):
    # Add the fine matrix entry v = A[(i, j, k), (i + di, j + dj, k + dk)] to P^T A P:
    # ac[d(J - I), I] += w_I w_J v over the parents I of the node and J of the neighbour.
    i0, ni, wi = _parents(i, cx)
    j0, nj, wj = _parents(j, cy)
    k0, nk, wk = _parents(k, cz)
    a0, na, wa = _parents(i + di, cx)
    b0, nb, wb = _parents(j + dj, cy)
    c0, nc, wc = _parents(k + dk, cz)
    w = wi * wj * wk * wa * wb * wc * v
    for p in range(ni):
        for q in range(nj):
            for r in range(nk):
                ii = i0 + p
                jj = j0 + q
                kk = k0 + r
                for s in range(na):
                    for t in range(nb):
                        for u in range(nc):
                            d = 9 * (a0 + s - ii + 1) + 3 * (b0 + t - jj + 1) + (c0 + u - kk + 1)
                            ac[d, ii, jj, kk] += w


@njit(cache=True)
def _coarse_kinds(ac, kc):
    # Coarse kind 0 where the diagonal entry is positive, 4 elsewhere.
    mx, my, mz = kc.shape
    for i in range(mx):
        for j in range(my):
            for k in range(mz):
                kc[i, j, k] = 0 if ac[CENTRE, i, j, k] > 0.0 else 4


@njit(cache=True)
def galerkin7(kind, stencil, cx, cy, cz, ac, kc):
    """Galerkin coarse operator ``P^T A P`` of a fine 7-point stencil, and the coarse kinds.

    Parameters
    ----------
    kind : int8 array (nx, ny, nz)
        Fine kinds (0 unknown).
    stencil : float64 array (7, nx, ny, nz)
        Fine operator (``potential3d`` contract).
    cx, cy, cz : int
        Coarsening flags of the coarse level (1 coarsened, 0 kept).
    ac : float64 array (27, nxc, nyc, nzc), out
        Coarse matrix entries (module docstring).
    kc : int8 array (nxc, nyc, nzc), out
        Coarse kinds.
    """
    nx, ny, nz = kind.shape
    ac[:] = 0.0
    for i in range(nx):
        for j in range(ny):
            for k in range(nz):
                if kind[i, j, k] != 0:
                    continue
                _spread(ac, stencil[DIAG, i, j, k], i, j, k, 0, 0, 0, cx, cy, cz)
                for q in range(6):
                    di, dj, dk = offset(q)
                    v = stencil[1 + q, i, j, k]
                    if v != 0.0 and 0 <= i + di < nx and 0 <= j + dj < ny and 0 <= k + dk < nz:
                        _spread(ac, -v, i, j, k, di, dj, dk, cx, cy, cz)
    _coarse_kinds(ac, kc)


@njit(cache=True)
def galerkin27(kind, a, cx, cy, cz, ac, kc):
    """Galerkin coarse operator ``P^T A P`` of a 27-point coarse-level stencil, and the coarse kinds.

    Parameters
    ----------
    kind : int8 array (nx, ny, nz)
        Kinds of the finer level.
    a : float64 array (27, nx, ny, nz)
        Its matrix entries (module docstring).
    cx, cy, cz : int
        Coarsening flags of the coarser level.
    ac : float64 array (27, nxc, nyc, nzc), out
    kc : int8 array (nxc, nyc, nzc), out
    """
    nx, ny, nz = kind.shape
    ac[:] = 0.0
    for i in range(nx):
        for j in range(ny):
            for k in range(nz):
                if kind[i, j, k] != 0:
                    continue
                for d in range(27):
                    v = a[d, i, j, k]
                    if v != 0.0:
                        _spread(ac, v, i, j, k, d // 9 - 1, (d // 3) % 3 - 1, d % 3 - 1, cx, cy, cz)
    _coarse_kinds(ac, kc)


# ------------------------------------------------------------------ smoothers
@njit(cache=True)
def smooth7(kind, stencil, f, u, colour):
    """One Gauss-Seidel half-sweep of the 7-point operator on the nodes ``(i + j + k) % 2 == colour``.

    ``u = (f + sum_links c u_nb) / DIAG`` at those unknowns; nodes of one colour are not
    coupled, so the update is one array-wide operation.

    Parameters
    ----------
    kind : int8 array (nx, ny, nz)
    stencil : float64 array (7, nx, ny, nz)
    f : float64 array (nx, ny, nz)
    u : float64 array (nx, ny, nz), in/out
    colour : int
        0 (red) or 1 (black).
    """
    nx, ny, nz = kind.shape
    for i in range(nx):
        for j in range(ny):
            k0 = (colour + i + j) & 1
            for k in range(k0, nz, 2):
                if kind[i, j, k] != 0:
                    continue
                s = f[i, j, k] + neighbour_sum(stencil, u, i, j, k)
                u[i, j, k] = s / stencil[DIAG, i, j, k]


@njit(cache=True)
def smooth27(kind, a, f, u, colour):
    """One Gauss-Seidel update of a 27-point operator on the nodes of one of eight colours.

    Colour ``4 (i % 2) + 2 (j % 2) + k % 2``; ``u = (f - sum_{d != 13} a_d u_nb) / a_13``
    at those unknowns (not coupled to each other: one array-wide operation).

    Parameters
    ----------
    kind : int8 array (nx, ny, nz)
    a : float64 array (27, nx, ny, nz)
    f : float64 array (nx, ny, nz)
    u : float64 array (nx, ny, nz), in/out
    colour : int
        0 to 7.
    """
    nx, ny, nz = kind.shape
    for i in range((colour >> 2) & 1, nx, 2):
        for j in range((colour >> 1) & 1, ny, 2):
            for k in range(colour & 1, nz, 2):
                if kind[i, j, k] != 0:
                    continue
                s = f[i, j, k]
                for d in range(27):
                    if d == CENTRE:
                        continue
                    ii = i + d // 9 - 1
                    jj = j + (d // 3) % 3 - 1
                    kk = k + d % 3 - 1
                    if ii < 0 or ii >= nx or jj < 0 or jj >= ny or kk < 0 or kk >= nz:
                        continue
                    s -= a[d, i, j, k] * u[ii, jj, kk]
                u[i, j, k] = s / a[CENTRE, i, j, k]


@njit(cache=True)
def residual7(kind, stencil, f, u, r):
    """``r = f - A u`` of the 7-point operator at the unknowns, 0 elsewhere.

    Parameters
    ----------
    kind : int8 array (nx, ny, nz)
    stencil : float64 array (7, nx, ny, nz)
    f, u : float64 arrays (nx, ny, nz)
    r : float64 array (nx, ny, nz), out
    """
    nx, ny, nz = kind.shape
    for i in range(nx):
        for j in range(ny):
            for k in range(nz):
                if kind[i, j, k] != 0:
                    r[i, j, k] = 0.0
                    continue
                s = f[i, j, k] - stencil[DIAG, i, j, k] * u[i, j, k] + neighbour_sum(stencil, u, i, j, k)
                r[i, j, k] = s


@njit(cache=True)
def residual27(kind, a, f, u, r):
    """``r = f - A u`` of a 27-point operator at the unknowns, 0 elsewhere.

    Parameters
    ----------
    kind : int8 array (nx, ny, nz)
    a : float64 array (27, nx, ny, nz)
    f, u : float64 arrays (nx, ny, nz)
    r : float64 array (nx, ny, nz), out
    """
    nx, ny, nz = kind.shape
    for i in range(nx):
        for j in range(ny):
            for k in range(nz):
                if kind[i, j, k] != 0:
                    r[i, j, k] = 0.0
                    continue
                s = f[i, j, k]
                for d in range(27):
                    ii = i + d // 9 - 1
                    jj = j + (d // 3) % 3 - 1
                    kk = k + d % 3 - 1
                    if ii < 0 or ii >= nx or jj < 0 or jj >= ny or kk < 0 or kk >= nz:
                        continue
                    s -= a[d, i, j, k] * u[ii, jj, kk]
                r[i, j, k] = s


# ------------------------------------------------------------------ coarsest solve
@njit(cache=True)
def dense_factor(kind, a, out):
    """Cholesky factor of the coarsest operator, nodes numbered ``(i ny + j) nz + k``.

    Non-unknowns get an identity row.  A pivot that vanishes (a semidefinite pocket) is
    replaced by the original diagonal, which keeps the factor, and the preconditioner,
    symmetric positive definite.

    Parameters
    ----------
    kind : int8 array (nx, ny, nz)
    a : float64 array (27, nx, ny, nz)
    out : float64 array (n, n), out
        Lower triangle: ``L`` with ``A ~ L L^T``; ``n = nx ny nz``.
    """
    nx, ny, nz = kind.shape
    n = nx * ny * nz
    out[:] = 0.0
    for i in range(nx):
        for j in range(ny):
            for k in range(nz):
                p = (i * ny + j) * nz + k
                if kind[i, j, k] != 0:
                    out[p, p] = 1.0
                    continue
                for d in range(27):
                    ii = i + d // 9 - 1
                    jj = j + (d // 3) % 3 - 1
                    kk = k + d % 3 - 1
                    if 0 <= ii < nx and 0 <= jj < ny and 0 <= kk < nz and kind[ii, jj, kk] == 0:
                        out[p, (ii * ny + jj) * nz + kk] = a[d, i, j, k]
    for c in range(n):
        d0 = out[c, c]
        s = d0
        for m in range(c):
            s -= out[c, m] * out[c, m]
        if s <= 1e-12 * d0:
            s = d0
        piv = math.sqrt(s)
        out[c, c] = piv
        for r in range(c + 1, n):
            t = out[r, c]
            for m in range(c):
                t -= out[r, m] * out[c, m]
            out[r, c] = t / piv
    for r in range(n):
        for c in range(r + 1, n):
            out[r, c] = 0.0


@njit(cache=True)
def dense_solve(kind, fac, f, u):
    """``u = (L L^T)^{-1} f`` at the unknowns of the coarsest level (0 elsewhere).

    Parameters
    ----------
    kind : int8 array (nx, ny, nz)
    fac : float64 array (n, n)
        From :func:`dense_factor`.
    f : float64 array (nx, ny, nz)
    u : float64 array (nx, ny, nz), out
    """
    nx, ny, nz = kind.shape
    n = fac.shape[0]
    y = np.zeros(n)
    for i in range(nx):
        for j in range(ny):
            for k in range(nz):
                y[(i * ny + j) * nz + k] = f[i, j, k] if kind[i, j, k] == 0 else 0.0
    for r in range(n):
        t = y[r]
        for m in range(r):
            t -= fac[r, m] * y[m]
        y[r] = t / fac[r, r]
    for r in range(n - 1, -1, -1):
        t = y[r]
        for m in range(r + 1, n):
            t -= fac[m, r] * y[m]
        y[r] = t / fac[r, r]
    for i in range(nx):
        for j in range(ny):
            for k in range(nz):
                u[i, j, k] = y[(i * ny + j) * nz + k] if kind[i, j, k] == 0 else 0.0


# ------------------------------------------------------------------ setup, V-cycle
@njit(cache=True)
def setup(kind, stencil, hier):
    """Fill the hierarchy for an operator: Galerkin operators, coarse kinds, coarsest factor.

    Parameters
    ----------
    kind : int8 array (nx, ny, nz)
    stencil : float64 array (7, nx, ny, nz)
        Fine operator from ``potential3d.assemble``.
    hier : Hierarchy3D
        Storage from :func:`allocate` for ``(nx, ny, nz)``; ``kinds``, ``sten`` and
        ``dense`` are overwritten.
    """
    nlev = hier.levels.shape[0]
    if nlev == 1:
        a = np.zeros((27, *kind.shape))
        nx, ny, nz = kind.shape
        for i in range(nx):
            for j in range(ny):
                for k in range(nz):
                    a[CENTRE, i, j, k] = stencil[DIAG, i, j, k]
                    for q in range(6):
                        di, dj, dk = offset(q)
                        a[9 * (di + 1) + 3 * (dj + 1) + dk + 1, i, j, k] = -stencil[1 + q, i, j, k]
        dense_factor(kind, a, hier.dense)
        return
    lv = hier.levels
    galerkin7(kind, stencil, lv[0, 5], lv[0, 6], lv[0, 7], _aview(hier, 1), _kview(hier, 1))
    for lev in range(1, nlev - 1):
        galerkin27(
            _kview(hier, lev), _aview(hier, lev), lv[lev, 5], lv[lev, 6], lv[lev, 7],
            _aview(hier, lev + 1), _kview(hier, lev + 1),
        )  # fmt: skip
    dense_factor(_kview(hier, nlev - 1), _aview(hier, nlev - 1), hier.dense)


@njit(cache=True)
def _smooth_level(kind, stencil, hier, lev, f, u, nu, forward):
    # nu symmetric-order sweeps on one level: level 0 red-black (red first when
    # forward), coarse levels eight colours (0..7 when forward, 7..0 after).
    for _ in range(nu):
        if lev == 0:
            for c in range(2):
                smooth7(kind, stencil, f, u, c if forward else 1 - c)
        else:
            a = _aview(hier, lev)
            kc = _kview(hier, lev)
            for c in range(8):
                smooth27(kc, a, f, u, c if forward else 7 - c)


@njit(cache=True)
def vcycle(kind, stencil, hier, nu):
    """One V(nu, nu)-cycle from a zero guess: ``u_0 = M f_0``.

    Reads the fine right-hand side from ``hier.vec[1]`` (level 0, viewed as
    ``(nx, ny, nz)``) and writes ``u_0`` to ``hier.vec[0]`` (0 at non-unknowns).  ``M``
    is symmetric positive definite (module docstring).

    Parameters
    ----------
    kind : int8 array (nx, ny, nz)
    stencil : float64 array (7, nx, ny, nz)
    hier : Hierarchy3D
        Filled by :func:`setup` for this operator; ``hier.vec`` is in/out.
    nu : int
        Pre- and post-smoothing sweeps per level (at least 1).
    """
    nlev = hier.levels.shape[0]
    lv = hier.levels
    if nlev == 1:
        dense_solve(kind, hier.dense, _vview(hier, 0, 1), _vview(hier, 0, 0))
        return
    for lev in range(nlev - 1):
        kl = kind if lev == 0 else _kview(hier, lev)
        f = _vview(hier, lev, 1)
        u = _vview(hier, lev, 0)
        r = _vview(hier, lev, 2)
        u[:] = 0.0
        _smooth_level(kind, stencil, hier, lev, f, u, nu, True)
        if lev == 0:
            residual7(kind, stencil, f, u, r)
        else:
            residual27(kl, _aview(hier, lev), f, u, r)
        restrict(kl, r, lv[lev, 5], lv[lev, 6], lv[lev, 7], _vview(hier, lev + 1, 1))
    last = nlev - 1
    dense_solve(_kview(hier, last), hier.dense, _vview(hier, last, 1), _vview(hier, last, 0))
    for lev in range(nlev - 2, -1, -1):
        kl = kind if lev == 0 else _kview(hier, lev)
        u = _vview(hier, lev, 0)
        prolong_add(kl, _vview(hier, lev + 1, 0), lv[lev, 5], lv[lev, 6], lv[lev, 7], u)
        _smooth_level(kind, stencil, hier, lev, _vview(hier, lev, 1), u, nu, False)


# ------------------------------------------------------------------------- CG
@njit(cache=True)
def _dot(kind, a, b):
    nx, ny, nz = kind.shape
    s = 0.0
    for i in range(nx):
        for j in range(ny):
            for k in range(nz):
                if kind[i, j, k] == 0:
                    s += a[i, j, k] * b[i, j, k]
    return s


@njit(cache=True)
def _axpy(kind, y, alpha, x):
    # y += alpha x at the unknowns
    nx, ny, nz = kind.shape
    for i in range(nx):
        for j in range(ny):
            for k in range(nz):
                if kind[i, j, k] == 0:
                    y[i, j, k] += alpha * x[i, j, k]


@njit(cache=True)
def _xpby(kind, p, z, beta):
    # p = z + beta p at the unknowns
    nx, ny, nz = kind.shape
    for i in range(nx):
        for j in range(ny):
            for k in range(nz):
                if kind[i, j, k] == 0:
                    p[i, j, k] = z[i, j, k] + beta * p[i, j, k]


@njit(cache=True)
def _cg(kind, stencil, x, tol, maxiter, nu, hier, bnorm, rel0):
    # PCG from the residual in hier.work[2]; returns (iterations, final relative residual).
    p = hier.work[0]
    q = hier.work[1]
    r = hier.work[2]
    z = _vview(hier, 0, 0)
    fr = _vview(hier, 0, 1)
    fr[:] = r
    vcycle(kind, stencil, hier, nu)
    p[:] = z
    rz = _dot(kind, r, z)
    rel = rel0
    it = 0
    while it < maxiter:
        it += 1
        apply(kind, stencil, p, q)
        pq = _dot(kind, p, q)
        if pq <= 0.0:
            break
        alpha = rz / pq
        _axpy(kind, x, alpha, p)
        _axpy(kind, r, -alpha, q)
        rel = math.sqrt(_dot(kind, r, r)) / bnorm
        if rel <= tol:
            break
        fr[:] = r
        vcycle(kind, stencil, hier, nu)
        rz_new = _dot(kind, r, z)
        _xpby(kind, p, z, rz_new / rz)
        rz = rz_new
    return it, rel


@njit(cache=True)
def mgcg(kind, stencil, rhs, x, tol, maxiter, nu, hier):
    """Solve ``A x = rhs`` by conjugate gradients preconditioned with one 3D V-cycle.

    The 3D counterpart of ``multigrid.mgcg``: warm-started from ``x``, updated in place
    at the unknowns only; stops when ``||rhs - A x||_2 / ||rhs||_2 <= tol`` (recursively
    updated residual) or after ``maxiter`` iterations; ``rhs = 0`` gives ``x = 0`` at
    the unknowns.  The hierarchy is rebuilt by :func:`setup` unless the initial guess
    already meets the tolerance.  Everything runs in float64.

    Parameters
    ----------
    kind : int8 array (nx, ny, nz)
    stencil : float64 array (7, nx, ny, nz)
        From ``potential3d.assemble`` (symmetric).
    rhs : float64 array (nx, ny, nz), V
    x : float64 array (nx, ny, nz), in/out
        Initial guess and solution (V); non-unknown values are not touched.
    tol : float
        Relative residual tolerance.
    maxiter : int
    nu : int
        Smoothing sweeps before and after the coarse-grid correction on every level.
    hier : Hierarchy3D
        Storage for ``(nx, ny, nz)`` from :func:`allocate` (all of it is overwritten).

    Returns
    -------
    (iterations, relative_residual, initial_relative_residual) : (int, float, float)
        As ``multigrid.mgcg`` (0 and 0 if ``rhs = 0``).
    """
    r = hier.work[2]
    residual7(kind, stencil, rhs, x, r)
    bnorm = math.sqrt(_dot(kind, rhs, rhs))
    if bnorm == 0.0:
        nx, ny, nz = kind.shape
        for i in range(nx):
            for j in range(ny):
                for k in range(nz):
                    if kind[i, j, k] == 0:
                        x[i, j, k] = 0.0
        return 0, 0.0, 0.0
    rel0 = math.sqrt(_dot(kind, r, r)) / bnorm
    if rel0 <= tol:
        return 0, rel0, rel0
    setup(kind, stencil, hier)
    it, rel = _cg(kind, stencil, x, tol, maxiter, nu, hier, bnorm, rel0)
    return it, rel, rel0
