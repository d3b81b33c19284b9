"""Geometric multigrid preconditioned conjugate gradients for the potential operator.

Operator
--------
The fine-level system is the one of :mod:`ecmsim.kernels.potential` (see
``potential.assemble``): on a uniform ``(nr, nz)`` axisymmetric grid, for every node with
``kind == 0`` (an unknown)::

    diag_ij u_ij - c_rm u_{i-1,j} - c_rp u_{i+1,j} - c_zm u_{i,j-1} - c_zp u_{i,j+1} = f_ij

with ``diag, c_rm, c_rp, c_zm, c_zp`` the planes ``DIAG, RM, RP, ZM, ZP`` of the stencil
array ``(5, nr, nz)`` and radius-weighted, dimensionless rows (symmetric, positive
definite on the unknowns; Dirichlet boundaries are folded into ``diag`` and the
right-hand side; links to non-unknowns carry ``c = 0``).  Inside this module the planes
keep those short names once a kernel has taken them from the stencil.  Nodes with
``kind != 0`` are not unknowns: in every correction equation below they are fixed zeros.

Hierarchy
---------
Vertex-centred coarsening by two in both directions: coarse node ``(I, J)`` sits on fine
node ``(2I, 2J)``, and a level of ``n`` nodes along one axis has a coarser level of
``n // 2 + 1`` nodes (an even ``n`` gets one coarse node half outside the grid, which is
harmless: the interpolation simply has no fine node there), so no padding to ``2^k + 1``
is needed.  Levels are added while ``min(nr_l, nz_l) > min_size``.

Transfer operators
------------------
Prolongation ``P`` is bilinear interpolation, masked: along one axis fine index ``i``
has the parents ``i // 2`` (weight 1) if ``i`` is even, ``(i - 1) / 2`` and
``(i + 1) / 2`` (weight 1/2 each) if it is odd; the 2-D weight is the product of the
two 1-D weights, and rows of ``P`` for fine nodes that are not unknowns are zero.
Restriction is ``R = P^T`` (full weighting, masked).

Coarse operators
----------------
Galerkin, ``A_{l+1} = P^T A_l P``: a 9-point stencil on every coarse level, stored as
the actual matrix entries ``a[I, d, J]`` with ``d = 3 (dI + 1) + (dJ + 1)`` for the
neighbour ``(I + dI, J + dJ)`` (centre ``d = 4``; off-diagonal entries are negative or
zero).  A coarse node is an unknown (coarse kind 0) when its diagonal entry is positive,
i.e. when it interpolates to at least one fine unknown; otherwise it gets kind 4 and its
row and column are zero.  ``P`` is the tensor product of the two 1-D interpolations, so
``A_c`` is formed in two 1-D Galerkin stages (along ``z`` within each fine row, then
along ``r``) with every coarse entry summed in registers and stored once, together with
its mirror entry (so ``A_c`` is exactly symmetric); see :func:`galerkin5`.

Because the coarse operator is Galerkin, the radius weighting of the rows needs no
rescaling of the coarse right-hand side (a rediscretised operator would need the factor
2 of numerics.md), and thin gaps that vanish on coarse grids stay represented as well
as bilinear interpolation allows; the V-cycle is then used as a preconditioner for CG,
which absorbs what the coarse grids miss.

Smoothers and V-cycle
---------------------
Fine level: red-black Gauss-Seidel (red: ``i + j`` even), pre-smoothing red then black,
post-smoothing black then red.  Coarse levels: lexicographic Gauss-Seidel, forward
before the coarse-grid correction, backward after it.  On every level the
pre-smoothing and the restriction of the residual, and the prolongation and the
post-smoothing, run as one wavefront over the rows (one pass over memory each).  Each
post-smoother is the adjoint of its pre-smoother, the coarsest level is solved exactly, and the cycle starts
from a zero guess, so one V-cycle is a fixed symmetric positive definite linear map
``z = M r``: a valid preconditioner for conjugate gradients.

Precision and vectorisation: every V-cycle kernel runs in the precision of the arrays
it is given (float32 in :class:`ecmsim.solvers.MultigridCGSolver`, under float64 CG, see
:func:`mgcg`).  Row loops run over row slices indexed from 0 and the kernels use
``error_model="numpy"``: Numba's negative-index wrap-around (``u[i, j - 1]``) and its
division-by-zero check otherwise keep LLVM from vectorising them.  A red-black half-sweep
computes every node of the row in one unit-stride loop and keeps one colour; a
lexicographic row computes ``alpha, beta`` of ``u_j = alpha_j - beta_j u_(j -+ 1)`` in a
vectorised pass and runs only that recurrence serially.

Coarsest solve: banded Cholesky of the coarsest operator, nodes numbered
lexicographically with the shorter axis inner (bandwidth ``min(nr_L, nz_L) + 1``).
Pivots that vanish (a semidefinite pocket, or two coarse nodes that only see the same
fine node) are replaced by the original diagonal, which keeps the factor, and the
preconditioner, symmetric positive definite.

Storage
-------
Everything lives in one :class:`Hierarchy` (a named tuple of flat arrays, which Numba
passes and caches like any tuple) allocated once for a shape by :func:`allocate` and
refilled by :func:`setup` whenever the operator changes:

``levels`` : int64 (nlev, 5)
    ``nr_l, nz_l, voff_l, soff_l, roff_l``: shape, offset of the level in the node
    arrays, offset of its 9-point stencil in ``sten`` (``-1`` on level 0, whose operator
    is the caller's stencil), and offset of its rows in ``spans``.
``spans`` : int64 (n_rows, 2)
    Per row of every level, the range of ``j`` holding its unknowns (:func:`row_spans`).
``kinds`` : int8 (n_nodes,)
    Coarse kinds (0 unknown, 4 not), level ``l`` at ``kinds[voff_l : voff_l + nr_l nz_l]``
    (the level-0 block is unused: the caller's ``kind`` is used there).
``sten`` : float32 or float64 (n_stencil,)
    Level ``l >= 1`` stencil at ``sten[soff_l : soff_l + 9 nr_l nz_l]``, viewed as
    ``(nr_l, 9, nz_l)``: the nine entries of a row are nine contiguous rows, so loops
    along ``j`` read them with unit stride.
``band`` : float64 (n_coarsest, bandwidth + 1)
    Cholesky factor of the coarsest operator, ``band[k, d] = L[k, k - d]``.
``vec`` : (3, n_nodes), the dtype of ``sten``
    Per-level correction ``u`` (row 0), right-hand side ``f`` (row 1) and scratch
    (row 2); the level-0 blocks of rows 0 and 1 are the preconditioned CG residual and
    a copy of the CG residual in :func:`mgcg`.
``coef`` : (5, nr, nz), the dtype of ``sten``
    The fine stencil (``potential`` contract) in the preconditioner's precision; only
    ``DIAG, RP, ZP`` are filled, since ``A`` is symmetric.
``work`` : float64 (3, nr, nz)
    CG's vectors ``p``, ``q`` and ``r`` in :func:`mgcg`.

Level arguments
---------------
The kernels of one level take the same leading arguments, documented here once:

``kind`` : int8 (nr, nz)
    Node kinds of the level: 0 an unknown; on a coarse level 4 for the others.
``stencil`` : float (5, nr, nz)
    The fine level's operator, a stencil of ``ecmsim.kernels.potential`` (index
    constants ``DIAG, RM, RP, ZM, ZP``); being symmetric, only ``DIAG, RP, ZP`` are read.
``a`` : float (nr, 9, nz)
    A coarse level's operator: ``a[i, 3 (di + 1) + dj + 1, j]`` is the matrix entry
    coupling ``(i, j)`` to ``(i + di, j + dj)``.
``sp`` : int64 (nr, 2)
    Row spans of ``kind`` (:func:`row_spans`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from ecmsim.kernels.potential import DIAG, N_COEF, RP, ZP
from numba import njit


class Hierarchy(NamedTuple):
    """Storage of a multigrid hierarchy for one grid shape (module docstring, Storage).

    Allocate with :func:`allocate`; every field is overwritten by :func:`mgcg`.
    """

    levels: np.ndarray  # int64 (nlev, 5)
    kinds: np.ndarray  # int8 (n_nodes,)
    spans: np.ndarray  # int64 (n_rows, 2)
    sten: np.ndarray  # float32/64 (n_stencil,)
    band: np.ndarray  # float64 (n_coarsest, bandwidth + 1)
    vec: np.ndarray  # float32/64 (3, n_nodes)
    coef: np.ndarray  # float32/64 (5, nr, nz)
    work: np.ndarray  # float64 (3, nr, nz)


def allocate(nr: int, nz: int, min_size: int = 6, dtype: type = np.float32) -> Hierarchy:
    """Allocate the hierarchy storage for an ``(nr, nz)`` grid (zero-filled).

    Parameters
    ----------
    nr, nz : int
        Fine grid shape.
    min_size : int
        Coarsening limit of :func:`hierarchy`.
    dtype : numpy float type
        Precision of the preconditioner (``sten``, ``vec``, ``coef``): ``np.float32``
        or ``np.float64``.  CG itself is float64 either way.

    Returns
    -------
    Hierarchy
    """
    levels = hierarchy(nr, nz, min_size)
    n_nodes, n_stencil, n_rows, n_coarsest, bandwidth = storage_sizes(levels)
    return Hierarchy(
        levels=levels,
        kinds=np.zeros(n_nodes, dtype=np.int8),
        spans=np.zeros((n_rows, 2), dtype=np.int64),
        sten=np.zeros(n_stencil, dtype=dtype),
        band=np.zeros((n_coarsest, bandwidth + 1)),
        vec=np.zeros((3, n_nodes), dtype=dtype),
        coef=np.zeros((N_COEF, nr, nz), dtype=dtype),
        work=np.zeros((3, nr, nz)),
    )


# ------------------------------------------------------------------ hierarchy
@njit(cache=True, error_model="numpy")
def hierarchy(nr, nz, min_size):
    """Shapes and storage offsets of the multigrid levels for an ``(nr, nz)`` grid.

    Parameters
    ----------
    nr, nz : int
        Fine grid shape (each >= 1).
    min_size : int
        Coarsen (both axes, ``n -> n // 2 + 1``) while ``min(nr_l, nz_l) > min_size``;
        values below 3 are taken as 3.

    Returns
    -------
    levels : int64 array (nlev, 5)
        ``nr_l, nz_l, voff_l, soff_l, roff_l`` (module docstring).
    """
    m = max(min_size, 3)
    nlev = 1
    a = nr
    b = nz
    while min(a, b) > m:
        a = a // 2 + 1
        b = b // 2 + 1
        nlev += 1
    levels = np.zeros((nlev, 5), dtype=np.int64)
    a = nr
    b = nz
    voff = 0
    soff = 0
    roff = 0
    for lev in range(nlev):
        levels[lev, 0] = a
        levels[lev, 1] = b
        levels[lev, 2] = voff
        levels[lev, 4] = roff
        if lev == 0:
            levels[lev, 3] = -1
        else:
            levels[lev, 3] = soff
            soff += 9 * a * b
        voff += a * b
        roff += a
        a = a // 2 + 1
        b = b // 2 + 1
    return levels


@njit(cache=True, error_model="numpy")
def storage_sizes(levels):
    """Sizes of the flat arrays of a hierarchy.

    Parameters
    ----------
    levels : int64 array (nlev, 5)
        From :func:`hierarchy`.

    Returns
    -------
    n_nodes : int
        Length of ``kinds`` and of each row of ``vec``.
    n_stencil : int
        Length of ``sten`` (at least 1).
    n_rows : int
        Rows of ``spans``.
    n_coarsest : int
        Number of nodes of the coarsest level (rows of ``band``).
    bandwidth : int
        ``band`` has ``bandwidth + 1`` columns.
    """
    last = levels.shape[0] - 1
    ncl = levels[last, 0] * levels[last, 1]
    n_nodes = levels[last, 2] + ncl
    n_stencil = 1
    if last > 0:
        n_stencil = levels[last, 3] + 9 * ncl
    n_rows = levels[last, 4] + levels[last, 0]
    bw = min(levels[last, 0], levels[last, 1]) + 1
    return n_nodes, n_stencil, n_rows, ncl, bw


@njit(cache=True, error_model="numpy")
def row_spans(kind, sp):
    """Per row ``i``, the range ``[sp[i, 0], sp[i, 1])`` of ``j`` holding every unknown.

    Loops over a level visit only these ranges; rows without unknowns get ``(0, 0)``.

    Parameters
    ----------
    kind : int8 array (nr, nz)
    sp : int64 array (nr, 2), out
    """
    nr, nz = kind.shape
    for i in range(nr):
        lo = 0
        while lo < nz and kind[i, lo] != 0:
            lo += 1
        hi = nz
        while hi > lo and kind[i, hi - 1] != 0:
            hi -= 1
        if lo == nz:
            lo = 0
            hi = 0
        sp[i, 0] = lo
        sp[i, 1] = hi


# ------------------------------------------------------------------ row slices
# The vectorised loops of every row kernel read row slices indexed from 0 over the
# interior columns j0 <= j < j1 (0 < j0, j1 < nz): unit stride and no negative-index
# wrap-around, which is what lets LLVM vectorise them.  Inlined, so a slice a caller
# does not use costs nothing.
@njit(cache=True, inline="always", error_model="numpy")
def _links5(diag, c_rp, c_zp, i, j0, j1):
    # Diagonal and the four links (south i - 1, north i + 1, west j - 1, east j + 1) of
    # row i of the symmetric 5-point operator: c_rm[i] = c_rp[i - 1], c_zm[i, j] = c_zp[i, j - 1].
    return diag[i, j0:j1], c_rp[i - 1, j0:j1], c_rp[i, j0:j1], c_zp[i, j0 - 1 : j1 - 1], c_zp[i, j0:j1]


@njit(cache=True, inline="always", error_model="numpy")
def _cross(u, i, j0, j1):
    # Centre, south, north, west and east neighbours of row i of u.
    return u[i, j0:j1], u[i - 1, j0:j1], u[i + 1, j0:j1], u[i, j0 - 1 : j1 - 1], u[i, j0 + 1 : j1 + 1]


@njit(cache=True, inline="always", error_model="numpy")
def _entries9(a, i, j0, j1):
    # The nine entries a[i, d, :] (d = 3 (di + 1) + dj + 1) of row i of a 9-point stencil.
    return (
        a[i, 0, j0:j1], a[i, 1, j0:j1], a[i, 2, j0:j1], a[i, 3, j0:j1], a[i, 4, j0:j1],
        a[i, 5, j0:j1], a[i, 6, j0:j1], a[i, 7, j0:j1], a[i, 8, j0:j1],
    )  # fmt: skip


@njit(cache=True, inline="always", error_model="numpy")
def _block9(u, i, j0, j1):
    # The 3 x 3 neighbourhood of row i of u, in the order of the stencil entries
    # (south-west, south, south-east, west, centre, east, north-west, north, north-east).
    return (
        u[i - 1, j0 - 1 : j1 - 1], u[i - 1, j0:j1], u[i - 1, j0 + 1 : j1 + 1],
        u[i, j0 - 1 : j1 - 1], u[i, j0:j1], u[i, j0 + 1 : j1 + 1],
        u[i + 1, j0 - 1 : j1 - 1], u[i + 1, j0:j1], u[i + 1, j0 + 1 : j1 + 1],
    )  # fmt: skip


# ---------------------------------------------------------- transfer operators
@njit(cache=True, inline="always", error_model="numpy")
def _parents(i):
    # Coarse parents of fine index i along one axis: first index, count, weight.
    if i & 1:
        return i >> 1, 2, 0.5
    return i >> 1, 1, 1.0


@njit(cache=True, inline="always", error_model="numpy")
def _prolong_row(kind, sp, uc, u, i, pbuf):
    # u += P uc on row i (pbuf: scratch (2, >= nz + 2)).  The coarse row is first
    # interpolated along r into pbuf[0] (one or two coarse rows), then along z into
    # pbuf[1] (one fine value per fine column), and added where kind == 0 in a
    # unit-stride loop.
    lo = sp[i, 0]
    hi = sp[i, 1]
    if lo >= hi:
        return
    i0 = i >> 1
    jlo = lo >> 1
    jhi = min(((hi - 1) >> 1) + 1, uc.shape[1] - 1)
    m = jhi + 1 - jlo
    c = pbuf[0]
    e = pbuf[1]
    ua = uc[i0, jlo : jhi + 1]
    if i & 1:
        ub = uc[i0 + 1, jlo : jhi + 1]
        for k in range(m):
            c[k] = 0.5 * (ua[k] + ub[k])
    else:
        for k in range(m):
            c[k] = ua[k]
    for k in range(m - 1):
        e[2 * k] = c[k]
        e[2 * k + 1] = 0.5 * (c[k] + c[k + 1])
    e[2 * m - 2] = c[m - 1]
    off = lo - 2 * jlo
    ev = e[off : off + hi - lo]
    ki = kind[i, lo:hi]
    ui = u[i, lo:hi]
    for k in range(hi - lo):
        ui[k] = ui[k] + ev[k] if ki[k] == 0 else ui[k]


@njit(cache=True, error_model="numpy")
def prolong_add(kind, sp, uc, u):
    """Add the interpolated coarse correction: ``u += P uc`` on unknowns.

    ``P`` is the masked bilinear interpolation of the module docstring: for a fine node
    with ``kind == 0``, ``(P uc)_ij = sum wI wJ uc[I, J]`` over its (one, two or four)
    coarse parents; nodes with ``kind != 0`` are left untouched.

    Parameters
    ----------
    kind : int8 array (nr, nz)
        Kinds of the fine level (0 unknown).
    sp : int64 array (nr, 2)
        Row spans of ``kind`` (:func:`row_spans`).
    uc : float64 array (nr // 2 + 1, nz // 2 + 1)
        Coarse correction.
    u : float64 array (nr, nz), in/out
    """
    pbuf = np.zeros((2, kind.shape[1] + 2), u.dtype)
    for i in range(kind.shape[0]):
        _prolong_row(kind, sp, uc, u, i, pbuf)


@njit(cache=True, inline="always", error_model="numpy")
def _gather_row(buf, lo, hi, fc, i):
    # Add P^T of one fine row of residuals to fc: buf[j + 2] holds r[j] for lo <= j < hi
    # (zero at non-unknowns); the two entries either side of the span are cleared here.
    # Coarse node J of the row gathers r[2J] + (r[2J - 1] + r[2J + 1]) / 2, weighted 1
    # (i even, one coarse row) or 1/2 (i odd, two coarse rows).
    buf[lo] = 0.0
    buf[lo + 1] = 0.0
    buf[hi + 2] = 0.0
    buf[hi + 3] = 0.0
    i0 = i >> 1
    if i & 1:
        for jc in range(lo >> 1, (hi >> 1) + 1):
            v = 0.5 * (buf[2 * jc + 2] + 0.5 * (buf[2 * jc + 1] + buf[2 * jc + 3]))
            fc[i0, jc] += v
            fc[i0 + 1, jc] += v
    else:
        for jc in range(lo >> 1, (hi >> 1) + 1):
            fc[i0, jc] += buf[2 * jc + 2] + 0.5 * (buf[2 * jc + 1] + buf[2 * jc + 3])


@njit(cache=True, inline="always", error_model="numpy")
def _restrict_row5(kind, diag, c_rp, c_zp, sp, f, u, fc, buf, i):
    # Add P^T of the residual of row i to fc (buf: scratch of length nz + 4).
    nr, nz = kind.shape
    lo = sp[i, 0]
    hi = sp[i, 1]
    if lo >= hi:
        return
    if i == 0 or i + 1 == nr:
        for j in range(lo, hi):
            r = 0.0
            if kind[i, j] == 0:
                r = f[i, j] - diag[i, j] * u[i, j]
                if i > 0:
                    r += c_rp[i - 1, j] * u[i - 1, j]
                if i + 1 < nr:
                    r += c_rp[i, j] * u[i + 1, j]
                if j > 0:
                    r += c_zp[i, j - 1] * u[i, j - 1]
                if j + 1 < nz:
                    r += c_zp[i, j] * u[i, j + 1]
            buf[j + 2] = r
    else:
        for j in (lo, hi - 1):
            if j == 0 or j + 1 == nz:
                r = 0.0
                if kind[i, j] == 0:
                    r = f[i, j] - diag[i, j] * u[i, j] + c_rp[i - 1, j] * u[i - 1, j] + c_rp[i, j] * u[i + 1, j]
                    if j > 0:
                        r += c_zp[i, j - 1] * u[i, j - 1]
                    if j + 1 < nz:
                        r += c_zp[i, j] * u[i, j + 1]
                buf[j + 2] = r
        j0 = max(lo, 1)
        j1 = min(hi, nz - 1)
        n = j1 - j0
        if n > 0:
            fi = f[i, j0:j1]
            dg, cs, cn, cw, ce = _links5(diag, c_rp, c_zp, i, j0, j1)
            uc, us, un, uw, ue = _cross(u, i, j0, j1)
            ki = kind[i, j0:j1]
            b = buf[j0 + 2 : j1 + 2]
            for k in range(n):
                r = fi[k] - dg[k] * uc[k] + (cs[k] * us[k] + cn[k] * un[k]) + (cw[k] * uw[k] + ce[k] * ue[k])
                b[k] = r if ki[k] == 0 else 0.0
    _gather_row(buf, lo, hi, fc, i)


@njit(cache=True, error_model="numpy")
def restrict_residual5(kind, stencil, sp, f, u, fc):
    """Restricted residual of the fine 5-point level: ``fc = P^T (f - A u)``.

    ``A`` is the symmetric operator of ``potential.assemble``; only its upper links are
    read, since ``stencil[RM, i, j] = stencil[RP, i - 1, j]`` and
    ``stencil[ZM, i, j] = stencil[ZP, i, j - 1]``.  The residual is taken on unknowns
    only and distributed to the coarse parents with the weights of :func:`prolong_add`.

    Parameters
    ----------
    kind, stencil, sp
        The fine level (module docstring, "Level arguments").
    f, u : float64 arrays (nr, nz)
        Right-hand side and current approximation.
    fc : float64 array (nr // 2 + 1, nz // 2 + 1), out
    """
    diag = stencil[DIAG]
    c_rp = stencil[RP]
    c_zp = stencil[ZP]
    buf = np.zeros(kind.shape[1] + 4, u.dtype)
    fc[:, :] = 0.0
    for i in range(kind.shape[0]):
        _restrict_row5(kind, diag, c_rp, c_zp, sp, f, u, fc, buf, i)


@njit(cache=True, inline="always", error_model="numpy")
def _offsum9(a, u, i, j, nr, nz):
    # sum over the 8 neighbours of a[i, d, j] u[nb] (skipping those off the grid).
    if i > 0 and i + 1 < nr and j > 0 and j + 1 < nz:
        return (
            a[i, 0, j] * u[i - 1, j - 1]
            + a[i, 1, j] * u[i - 1, j]
            + a[i, 2, j] * u[i - 1, j + 1]
            + a[i, 3, j] * u[i, j - 1]
            + a[i, 5, j] * u[i, j + 1]
            + a[i, 6, j] * u[i + 1, j - 1]
            + a[i, 7, j] * u[i + 1, j]
            + a[i, 8, j] * u[i + 1, j + 1]
        )
    s = 0.0
    for k in range(max(i - 1, 0), min(i + 2, nr)):
        d0 = 3 * (k - i + 1) + 1 - j
        for m in range(max(j - 1, 0), min(j + 2, nz)):
            if k != i or m != j:
                s += a[i, d0 + m, j] * u[k, m]
    return s


@njit(cache=True, error_model="numpy")
def _restrict_row9(kind, a, sp, f, u, fc, buf, i):
    # Add P^T of the residual of row i to fc: the residual goes to buf[j + 2] (zero
    # around the span and at non-unknowns), then each coarse node of the row gathers
    # r[2J] + (r[2J - 1] + r[2J + 1]) / 2.
    nr, nz = kind.shape
    lo = sp[i, 0]
    hi = sp[i, 1]
    if lo >= hi:
        return
    if i == 0 or i + 1 == nr:
        for j in range(lo, hi):
            r = 0.0
            if kind[i, j] == 0:
                r = f[i, j] - a[i, 4, j] * u[i, j] - _offsum9(a, u, i, j, nr, nz)
            buf[j + 2] = r
    else:
        for j in (lo, hi - 1):
            if j == 0 or j + 1 == nz:
                r = 0.0
                if kind[i, j] == 0:
                    r = f[i, j] - a[i, 4, j] * u[i, j] - _offsum9(a, u, i, j, nr, nz)
                buf[j + 2] = r
        j0 = max(lo, 1)
        j1 = min(hi, nz - 1)
        n = j1 - j0
        if n > 0:
            a0, a1, a2, a3, a4, a5, a6, a7, a8 = _entries9(a, i, j0, j1)
            fi = f[i, j0:j1]
            sw, sc, se, uw, uc, ue, nw, nc, ne = _block9(u, i, j0, j1)
            ki = kind[i, j0:j1]
            b = buf[j0 + 2 : j1 + 2]
            for k in range(n):
                r = (
                    fi[k]
                    - a4[k] * uc[k]
                    - (
                        (a0[k] * sw[k] + a1[k] * sc[k] + a2[k] * se[k])
                        + (a3[k] * uw[k] + a5[k] * ue[k])
                        + (a6[k] * nw[k] + a7[k] * nc[k] + a8[k] * ne[k])
                    )
                )
                b[k] = r if ki[k] == 0 else 0.0
    _gather_row(buf, lo, hi, fc, i)


@njit(cache=True, error_model="numpy")
def restrict_residual9(kind, a, sp, f, u, fc):
    """Restricted residual of a 9-point level: ``fc = P^T (f - A u)``.

    Parameters
    ----------
    kind, a, sp
        A coarse level (module docstring, "Level arguments").
    f, u : float64 arrays (nr, nz)
    fc : float64 array (nr // 2 + 1, nz // 2 + 1), out
    """
    buf = np.zeros(kind.shape[1] + 4, u.dtype)
    fc[:, :] = 0.0
    for i in range(kind.shape[0]):
        _restrict_row9(kind, a, sp, f, u, fc, buf, i)


# ---------------------------------------------------------- coarse operators
# P = P_r (x) P_z is separable, so A_c = P^T A P is formed in two 1-D stages, each coarse
# entry summed in registers and stored once.  Stage 1 (along z, per fine row i):
# B_ii = P_z^T A_ii P_z and B_i,i+1 = P_z^T A_i,i+1 P_z, where A_ii (the couplings
# within row i) and A_i,i+1 (from row i to row i + 1) are tridiagonal in j.  For a
# tridiagonal T with centre t0[j], T[j, j+1] = up[j] and T[j+1, j] = dn[j], bilinear
# P_z gives
#     (P^T T P)[J, J]   = t0(2J) + (t0(2J-1) + t0(2J+1)) / 4 + (up + dn)(2J-1) / 2 + (up + dn)(2J) / 2
#     (P^T T P)[J, J+1] = t0(2J+1) / 4 + (up(2J) + up(2J+1)) / 2
#     (P^T T P)[J+1, J] = t0(2J+1) / 4 + (dn(2J) + dn(2J+1)) / 2
# (terms with an index off the row are 0).  Stage 2 applies the same formulas along i to
# the block-tridiagonal B, with blocks in place of numbers and B_i+1,i = B_i,i+1^T.
# Masking P on the fine non-unknowns equals zeroing their rows and columns of A.
@njit(cache=True, inline="always", error_model="numpy")
def _stage1(t, lo, hi, nzc, b):
    # Stage 1 of one fine row: t (5, nz + 3) holds t0, up (within the row), and the
    # couplings to the next row c7 (j -> j), c8 (j -> j + 1), dn (j + 1 -> j), at offset
    # 1 and zero outside the row's data; writes b (5, nzc): centre and east of B_ii,
    # centre, east (J -> J + 1) and west (J + 1 -> J) of B_i,i+1; returns the range of J
    # written (zero elsewhere).
    jlo = max(lo - 1, 0) >> 1
    jhi = min((hi >> 1) + 1, nzc)
    for jc in range(jlo, jhi):
        m = 2 * jc  # fine j - 1 at offset 1
        b[0, jc] = t[0, m + 1] + 0.25 * (t[0, m] + t[0, m + 2]) + (t[1, m] + t[1, m + 1])
        b[1, jc] = 0.25 * t[0, m + 2] + 0.5 * (t[1, m + 1] + t[1, m + 2])
        b[2, jc] = (
            t[2, m + 1] + 0.25 * (t[2, m] + t[2, m + 2]) + 0.5 * ((t[3, m] + t[4, m]) + (t[3, m + 1] + t[4, m + 1]))
        )
        b[3, jc] = 0.25 * t[2, m + 2] + 0.5 * (t[3, m + 1] + t[3, m + 2])
        b[4, jc] = 0.25 * t[2, m + 2] + 0.5 * (t[4, m + 1] + t[4, m + 2])
    return jlo, jhi


@njit(cache=True, inline="always", error_model="numpy")
def _stage2(b, rng, sa, sb, sc, ac, kc, ic):
    # Coarse row ic from the stage-1 rows 2 ic - 1 (slot sa), 2 ic (sb), 2 ic + 1 (sc):
    # A_c,ii = B_bb + (B_aa + B_cc) / 4 + (B_ab + B_ab^T) / 2 + (B_bc + B_bc^T) / 2 and
    # A_c,i,i+1 = B_cc / 4 + (B_bc + B_c,next) / 2.  Entries are stored with their mirrors
    # (exactly symmetric); ac rows ic and ic + 1 must be zero where nothing is stored.
    nrc, nzc = kc.shape
    jlo = min(rng[sa, 0], rng[sb, 0], rng[sc, 0])
    jhi = max(rng[sa, 1], rng[sb, 1], rng[sc, 1])
    if jlo >= jhi:
        jlo = 0
        jhi = 0
    for jc in range(0, jlo):
        kc[ic, jc] = 4
    for jc in range(jhi, nzc):
        kc[ic, jc] = 4
    nxt = ic + 1 < nrc
    for jc in range(jlo, jhi):
        c = b[sb, 0, jc] + 0.25 * (b[sa, 0, jc] + b[sc, 0, jc]) + (b[sa, 2, jc] + b[sb, 2, jc])
        ac[ic, 4, jc] = c
        kc[ic, jc] = 0 if c > 0.0 else 4
        east = jc + 1 < nzc
        if east:
            e = (
                b[sb, 1, jc]
                + 0.25 * (b[sa, 1, jc] + b[sc, 1, jc])
                + 0.5 * ((b[sa, 3, jc] + b[sa, 4, jc]) + (b[sb, 3, jc] + b[sb, 4, jc]))
            )
            ac[ic, 5, jc] = e
            ac[ic, 3, jc + 1] = e
        if nxt:
            v = 0.25 * b[sc, 0, jc] + 0.5 * (b[sb, 2, jc] + b[sc, 2, jc])
            ac[ic, 7, jc] = v
            ac[ic + 1, 1, jc] = v
            if east:
                v = 0.25 * b[sc, 1, jc] + 0.5 * (b[sb, 3, jc] + b[sc, 3, jc])
                ac[ic, 8, jc] = v
                ac[ic + 1, 0, jc + 1] = v
                v = 0.25 * b[sc, 1, jc] + 0.5 * (b[sb, 4, jc] + b[sc, 4, jc])
                ac[ic, 6, jc + 1] = v
                ac[ic + 1, 2, jc] = v


@njit(cache=True, inline="always", error_model="numpy")
def _fill5(kind, diag, c_rp, c_zp, sp, t, i):
    # Stage-1 input of row i of the 5-point level (masked to the unknowns); returns the span.
    nr, nz = kind.shape
    lo = sp[i, 0]
    hi = sp[i, 1]
    for j in range(lo, hi):
        if kind[i, j] == 0:
            t[0, j + 1] = diag[i, j]
            if j + 1 < nz:
                t[1, j + 1] = -c_zp[i, j]
            if i + 1 < nr:
                t[2, j + 1] = -c_rp[i, j]
    return lo, hi


@njit(cache=True, inline="always", error_model="numpy")
def _fill9(a, sp, t, i):
    # Stage-1 input of row i of a 9-point level (rows of non-unknowns are zero in a);
    # returns the range of j written.
    lo = sp[i, 0]
    hi = sp[i, 1]
    for j in range(lo, hi):
        t[0, j + 1] = a[i, 4, j]
        t[1, j + 1] = a[i, 5, j]
        t[2, j + 1] = a[i, 7, j]
        t[3, j + 1] = a[i, 8, j]
        if j > 0:
            t[4, j] = a[i, 6, j]
    if lo > 0:
        return lo - 1, hi
    return lo, hi


@njit(cache=True, inline="always", error_model="numpy")
def _galerkin_begin(ac, kc):
    nzc = kc.shape[1]
    b = np.zeros((3, 5, nzc))
    rng = np.zeros((3, 2), dtype=np.int64)
    if kc.shape[0] > 0:
        ac[0, :, :] = 0.0
    return b, rng


@njit(cache=True, inline="always", error_model="numpy")
def _galerkin_slot(t, lo, hi, b, rng, s, nzc):
    # Stage 1 of a fine row whose input t covers [lo, hi) into slot s, then clear t.
    b[s, :, rng[s, 0] : rng[s, 1]] = 0.0
    jlo, jhi = _stage1(t, lo, hi, nzc, b[s])
    rng[s, 0] = jlo
    rng[s, 1] = jhi
    t[:, lo : hi + 2] = 0.0


@njit(cache=True, inline="always", error_model="numpy")
def _galerkin_row(t, lo, hi, i, nr, b, rng, ac, kc):
    # Fine row i of the Galerkin product (its stage-1 input in t over [lo, hi), nothing
    # if i >= nr): coarse row i // 2 starts at an even i (the next coarse row is cleared
    # for the mirror entries) and is finished by stage 2 after the odd i.
    nrc, nzc = kc.shape
    ic = i >> 1
    if (i & 1) == 0 and ic + 1 < nrc:
        ac[ic + 1, :, :] = 0.0
    s = i % 3
    if i < nr:
        _galerkin_slot(t, lo, hi, b, rng, s, nzc)
    else:
        b[s, :, rng[s, 0] : rng[s, 1]] = 0.0
        rng[s, 0] = 0
        rng[s, 1] = 0
    if i & 1:
        _stage2(b, rng, (2 * ic + 2) % 3, (2 * ic) % 3, (2 * ic + 1) % 3, ac, kc, ic)


@njit(cache=True, error_model="numpy")
def galerkin5(kind, stencil, sp, ac, kc, spc):
    """Galerkin coarse operator of the fine 5-point level: ``A_c = P^T A P``.

    ``A`` is symmetric (only its diagonal and upper links ``DIAG, RP, ZP`` are read,
    at unknowns).  Computed in two separable 1-D stages (see the comment above
    :func:`_stage1`), row by row; mirror entries are stored from the same value, so
    ``A_c`` is exactly symmetric.

    Parameters
    ----------
    kind, stencil, sp
        The fine level (module docstring, "Level arguments").
    ac : float array (nr // 2 + 1, 9, nz // 2 + 1), out
        Coarse 9-point stencil (module docstring, "Level arguments").
    kc : int8 array (nr // 2 + 1, nz // 2 + 1), out
        Coarse kinds: 0 where ``ac[:, 4, :] > 0``, else 4.
    spc : int64 array (nr // 2 + 1, 2), out
        Row spans of ``kc``.
    """
    diag = stencil[DIAG]
    c_rp = stencil[RP]
    c_zp = stencil[ZP]
    nr, nz = kind.shape
    t = np.zeros((5, nz + 3))
    b, rng = _galerkin_begin(ac, kc)
    for i in range(2 * kc.shape[0]):
        lo = hi = 0
        if i < nr:
            lo, hi = _fill5(kind, diag, c_rp, c_zp, sp, t, i)
        _galerkin_row(t, lo, hi, i, nr, b, rng, ac, kc)
    row_spans(kc, spc)


@njit(cache=True, error_model="numpy")
def galerkin9(kind, a, sp, ac, kc, spc):
    """Galerkin coarse operator of a 9-point level: ``A_c = P^T A P``.

    ``A`` is symmetric with zero rows and columns at non-unknowns (as :func:`setup` builds
    it); the centre and the entries ``d = 5..8`` are read, and ``d = 6`` as the lower
    coupling ``(i, j + 1) -> (i + 1, j)``.  Computed as :func:`galerkin5`.

    Parameters
    ----------
    kind, a, sp
        A coarse level (module docstring, "Level arguments").
    ac : float array (nr // 2 + 1, 9, nz // 2 + 1), out
    kc : int8 array (nr // 2 + 1, nz // 2 + 1), out
    spc : int64 array (nr // 2 + 1, 2), out
    """
    nr, nz = kind.shape
    t = np.zeros((5, nz + 3))
    b, rng = _galerkin_begin(ac, kc)
    for i in range(2 * kc.shape[0]):
        lo = hi = 0
        if i < nr:
            lo, hi = _fill9(a, sp, t, i)
        _galerkin_row(t, lo, hi, i, nr, b, rng, ac, kc)
    row_spans(kc, spc)


# ----------------------------------------------------------------- smoothers
@njit(cache=True, inline="always", error_model="numpy")
def _rb_node(kind, diag, c_rp, c_zp, f, u, i, j):
    # Gauss-Seidel update of node (i, j), neighbours off the grid skipped.
    nr, nz = kind.shape
    if kind[i, j] != 0:
        return
    t = f[i, j]
    if i > 0:
        t += c_rp[i - 1, j] * u[i - 1, j]
    if i + 1 < nr:
        t += c_rp[i, j] * u[i + 1, j]
    if j > 0:
        t += c_zp[i, j - 1] * u[i, j - 1]
    if j + 1 < nz:
        t += c_zp[i, j] * u[i, j + 1]
    u[i, j] = t / diag[i, j]


@njit(cache=True, inline="always", error_model="numpy")
def _rb_row(kind, diag, c_rp, c_zp, f, u, i, lo, hi, colour, buf):
    # Gauss-Seidel update of the nodes of one colour ((i + j) % 2 == colour) in row i,
    # columns lo <= j < hi (buf: scratch of length nz).  The interior of the row is done
    # in two unit-stride loops that the compiler vectorises: the Jacobi value of every
    # node into buf (the other colour's neighbours are not changed by this half-sweep,
    # so this equals the Gauss-Seidel value on this colour), then a masked copy into u.
    # Computing both colours costs twice the arithmetic but runs several times faster
    # than a stride-2 scalar loop.
    nr, nz = kind.shape
    if lo >= hi:
        return
    if i == 0 or i + 1 == nr:
        for j in range(lo + ((i + lo + colour) & 1), hi, 2):
            _rb_node(kind, diag, c_rp, c_zp, f, u, i, j)
        return
    if lo == 0 and ((i + colour) & 1) == 0:
        _rb_node(kind, diag, c_rp, c_zp, f, u, i, 0)
    j0 = max(lo, 1)
    j1 = min(hi, nz - 1)
    n = j1 - j0
    if n > 0:
        fi = f[i, j0:j1]
        dg, cs, cn, cw, ce = _links5(diag, c_rp, c_zp, i, j0, j1)
        _, us, un, uw, ue = _cross(u, i, j0, j1)
        for k in range(n):
            buf[k] = (fi[k] + cs[k] * us[k] + cn[k] * un[k] + cw[k] * uw[k] + ce[k] * ue[k]) / dg[k]
        ki = kind[i, j0:j1]
        ui = u[i, j0:j1]
        par = (i + j0 + colour) & 1
        for k in range(n):
            take = (ki[k] == 0) & (((k + par) & 1) == 0)
            ui[k] = buf[k] if take else ui[k]
    if hi == nz and ((i + nz - 1 + colour) & 1) == 0 and nz - 1 >= j0:
        _rb_node(kind, diag, c_rp, c_zp, f, u, i, nz - 1)


@njit(cache=True, error_model="numpy")
def smooth_rb(kind, stencil, sp, f, u, sweeps, reverse):
    """Red-black Gauss-Seidel on the fine 5-point level.

    One sweep updates every unknown of one colour, ``u_ij = (f_ij + sum c u_nb) /
    diag_ij``, then the other; red is ``(i + j)`` even.  ``reverse = False`` does red
    then black, ``reverse = True`` black then red (the adjoint sweep).  The two
    half-sweeps run as one wavefront (first colour on row ``i``, second colour on row
    ``i - 1``), which gives the same result with one pass over memory.  Nodes with
    ``kind != 0`` are not touched; ``A`` is symmetric, so only ``DIAG, RP, ZP`` are
    read.

    Parameters
    ----------
    kind, stencil, sp
        The fine level (module docstring, "Level arguments").
    f : float64 array (nr, nz)
    u : float64 array (nr, nz), in/out
    sweeps : int
    reverse : bool
    """
    diag = stencil[DIAG]
    c_rp = stencil[RP]
    c_zp = stencil[ZP]
    nr = kind.shape[0]
    rbuf = np.zeros(kind.shape[1], u.dtype)
    first = 1 if reverse else 0
    for _ in range(sweeps):
        for i in range(nr + 1):
            if i < nr:
                _rb_row(kind, diag, c_rp, c_zp, f, u, i, sp[i, 0], sp[i, 1], first, rbuf)
            if i > 0:
                _rb_row(kind, diag, c_rp, c_zp, f, u, i - 1, sp[i - 1, 0], sp[i - 1, 1], 1 - first, rbuf)


@njit(cache=True, inline="always", error_model="numpy")
def _rb_row_from_zero(kind, diag, f, u, i, lo, hi, colour):
    # First half-sweep from a zero guess: the neighbours are all zero (unit-stride loop
    # over the row, one colour kept).
    fi = f[i, lo:hi]
    dg = diag[i, lo:hi]
    ki = kind[i, lo:hi]
    ui = u[i, lo:hi]
    par = (i + lo + colour) & 1
    for k in range(hi - lo):
        take = (ki[k] == 0) & (((k + par) & 1) == 0)
        ui[k] = fi[k] / dg[k] if take else ui[k]


@njit(cache=True, error_model="numpy")
def presmooth_restrict5(kind, stencil, sp, f, u, sweeps, fc):
    """Pre-smoothing from a zero guess and restriction on the fine level, in one pass.

    Same result as setting ``u = 0`` on unknowns, :func:`smooth_rb` (``sweeps``,
    ``reverse = False``) and :func:`restrict_residual5`, computed as a wavefront over
    the rows: half-sweep ``s`` (``s = 0 .. 2 sweeps - 1``, red when ``s`` is even)
    works on row ``i - s`` while the residual of row ``i - 2 sweeps`` is restricted,
    so that the fine arrays are streamed from memory once.  Values of ``u`` at
    unknowns are overwritten without being read.

    Parameters
    ----------
    kind, stencil, sp
        The fine level (module docstring, "Level arguments").
    f : float64 array (nr, nz)
    u : float64 array (nr, nz), out
        Must be finite at non-unknowns.
    sweeps : int
        At least 1.
    fc : float64 array (nr // 2 + 1, nz // 2 + 1), out
    """
    diag = stencil[DIAG]
    c_rp = stencil[RP]
    c_zp = stencil[ZP]
    nr = kind.shape[0]
    nst = 2 * sweeps
    rbuf = np.zeros(kind.shape[1], u.dtype)
    buf = np.zeros(kind.shape[1] + 4, u.dtype)
    fc[:, :] = 0.0
    for i in range(nr + nst):
        if i < nr:
            _rb_row_from_zero(kind, diag, f, u, i, sp[i, 0], sp[i, 1], 0)
        for st in range(1, nst):
            row = i - st
            if row >= 0 and row < nr:
                _rb_row(kind, diag, c_rp, c_zp, f, u, row, sp[row, 0], sp[row, 1], st & 1, rbuf)
        row = i - nst
        if row >= 0:
            _restrict_row5(kind, diag, c_rp, c_zp, sp, f, u, fc, buf, row)


@njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _row_dot(k, a, b):
    # sum of a b where k == 0, accumulated in float64; reassociation lets the compiler
    # vectorise the sum (a separate function: the smoothers keep strict arithmetic).
    s = 0.0
    for j in range(k.size):
        s += float(a[j]) * float(b[j]) if k[j] == 0 else 0.0
    return s


@njit(cache=True, error_model="numpy")
def prolong_postsmooth5(kind, stencil, sp, f, uc, u, sweeps):
    """Prolongation and post-smoothing on the fine level, in one pass.

    Same result as :func:`prolong_add` followed by :func:`smooth_rb` (``sweeps``,
    ``reverse = True``), computed as a wavefront over the rows (row ``i`` is
    corrected while half-sweep ``s`` works on row ``i - 1 - s``, black when ``s`` is
    even).

    Parameters
    ----------
    kind, stencil, sp
        The fine level (module docstring, "Level arguments").
    f : float64 array (nr, nz)
    uc : float64 array (nr // 2 + 1, nz // 2 + 1)
    u : float64 array (nr, nz), in/out
    sweeps : int

    Returns
    -------
    fu : float
        ``sum f_ij u_ij`` over the unknowns after smoothing.
    """
    diag = stencil[DIAG]
    c_rp = stencil[RP]
    c_zp = stencil[ZP]
    nr = kind.shape[0]
    nst = 2 * sweeps
    rbuf = np.zeros(kind.shape[1], u.dtype)
    pbuf = np.zeros((2, kind.shape[1] + 2), u.dtype)
    fu = 0.0
    for i in range(nr + nst + 1):
        if i < nr:
            _prolong_row(kind, sp, uc, u, i, pbuf)
        for st in range(nst):
            row = i - 1 - st
            if row >= 0 and row < nr:
                _rb_row(kind, diag, c_rp, c_zp, f, u, row, sp[row, 0], sp[row, 1], 1 - (st & 1), rbuf)
        row = i - 1 - nst
        if row >= 0:
            # row is final: its neighbours have had their last half-sweep too
            lo = sp[row, 0]
            hi = sp[row, 1]
            fu += _row_dot(kind[row, lo:hi], f[row, lo:hi], u[row, lo:hi])
    return fu


@njit(cache=True, inline="always", error_model="numpy")
def _gs9_node(kind, a, f, u, i, j):
    # Gauss-Seidel update of node (i, j) of a 9-point level, neighbours off the grid skipped.
    nr, nz = kind.shape
    if kind[i, j] == 0:
        u[i, j] = (f[i, j] - _offsum9(a, u, i, j, nr, nz)) * (1.0 / a[i, 4, j])


# _gs9_row and _restrict_row9 are plain calls, not inlined: each would otherwise be compiled
# again into every caller (about 6 s of the first run's compilation); they run once per row
# of a coarse level, so the call costs nothing measurable.
@njit(cache=True, error_model="numpy")
def _gs9_row(kind, a, f, u, i, lo, hi, reverse, gbuf):
    # Lexicographic Gauss-Seidel over row i, columns lo <= j < hi, ascending (or descending
    # if reverse); gbuf: scratch (2, >= nz).  Everything but the neighbour updated just
    # before is known when the row starts (the row behind is final, the row ahead and the
    # neighbour ahead are old), so a vectorised pass first writes each node's update as
    # u_j = alpha_j - beta_j u_(j -+ 1); the serial pass along the row is then one
    # multiply and one subtraction per node.
    nr, nz = kind.shape
    if lo >= hi:
        return
    if i == 0 or i + 1 == nr:
        for jj in range(lo, hi):
            _gs9_node(kind, a, f, u, i, hi - 1 - (jj - lo) if reverse else jj)
        return
    j0 = max(lo, 1)
    j1 = min(hi, nz - 1)
    n = j1 - j0
    if reverse:
        if hi == nz and nz - 1 >= j0:
            _gs9_node(kind, a, f, u, i, nz - 1)
    elif lo == 0:
        _gs9_node(kind, a, f, u, i, 0)
    if n > 0:
        a0, a1, a2, a3, a4, a5, a6, a7, a8 = _entries9(a, i, j0, j1)
        fi = f[i, j0:j1]
        sw, sc, se, uw, _, ue, nw, nc, ne = _block9(u, i, j0, j1)
        # the neighbour not yet updated (east going up, west coming down) and its link
        ao = a3 if reverse else a5
        uo = uw if reverse else ue
        # the link to the neighbour updated just before
        al = a5 if reverse else a3
        alpha = gbuf[0]
        beta = gbuf[1]
        for k in range(n):
            t = (a0[k] * sw[k] + a1[k] * sc[k] + a2[k] * se[k]) + (a6[k] * nw[k] + a7[k] * nc[k] + a8[k] * ne[k])
            t = fi[k] - t - ao[k] * uo[k]
            inv = 1.0 / a4[k]
            alpha[k] = t * inv
            beta[k] = al[k] * inv
        ki = kind[i, j0:j1]
        ui = u[i, j0:j1]
        if reverse:
            w = u[i, j1]
            for kk in range(n):
                k = n - 1 - kk
                if ki[k] != 0:
                    w = ui[k]
                else:
                    w = alpha[k] - beta[k] * w
                    ui[k] = w
        else:
            w = u[i, j0 - 1]
            for k in range(n):
                if ki[k] != 0:
                    w = ui[k]
                else:
                    w = alpha[k] - beta[k] * w
                    ui[k] = w
    if reverse:
        if lo == 0:
            _gs9_node(kind, a, f, u, i, 0)
    elif hi == nz and nz - 1 >= j0:
        _gs9_node(kind, a, f, u, i, nz - 1)


@njit(cache=True, error_model="numpy")
def smooth9(kind, a, sp, f, u, sweeps, reverse):
    """Lexicographic Gauss-Seidel on a 9-point level.

    ``u_ij = (f_ij - sum_{nb != ij} a_nb u_nb) / a_ij,ij`` node by node, ``i`` outer and
    ``j`` inner, both ascending (``reverse = False``) or both descending
    (``reverse = True``, the adjoint sweep).  Nodes with ``kind != 0`` are not touched.

    Parameters
    ----------
    kind, a, sp
        A coarse level (module docstring, "Level arguments").
    f : float64 array (nr, nz)
    u : float64 array (nr, nz), in/out
    sweeps : int
    reverse : bool
    """
    nr = kind.shape[0]
    gbuf = np.zeros((2, kind.shape[1]), u.dtype)
    for _ in range(sweeps):
        for ii in range(nr):
            i = nr - 1 - ii if reverse else ii
            _gs9_row(kind, a, f, u, i, sp[i, 0], sp[i, 1], reverse, gbuf)


@njit(cache=True, error_model="numpy")
def presmooth_restrict9(kind, a, sp, f, u, sweeps, fc):
    """Pre-smoothing from a zero guess and restriction on a 9-point level, in one pass.

    Same result as setting ``u = 0`` on the row spans, :func:`smooth9` (``sweeps``,
    ``reverse = False``) and :func:`restrict_residual9`, computed as a wavefront over
    the rows: row ``i + 1`` is cleared, sweep ``s`` (``s = 1 .. sweeps``) works on row
    ``i + 1 - s`` and the residual of row ``i - sweeps`` is restricted.

    Parameters
    ----------
    kind, a, sp
        A coarse level (module docstring, "Level arguments").
    f : float64 array (nr, nz)
    u : float64 array (nr, nz), out
        Overwritten with zeros and then the smoothed values on the row spans; must be
        finite elsewhere.
    sweeps : int
    fc : float64 array (nr // 2 + 1, nz // 2 + 1), out
    """
    nr, nz = kind.shape
    buf = np.zeros(nz + 4, u.dtype)
    gbuf = np.zeros((2, nz), u.dtype)
    fc[:, :] = 0.0
    if nr > 0:
        u[0, sp[0, 0] : sp[0, 1]] = 0.0
    for i in range(nr + sweeps):
        if i + 1 < nr:
            u[i + 1, sp[i + 1, 0] : sp[i + 1, 1]] = 0.0
        for st in range(sweeps):
            row = i - st
            if row >= 0 and row < nr:
                _gs9_row(kind, a, f, u, row, sp[row, 0], sp[row, 1], False, gbuf)
        row = i - sweeps
        if row >= 0:
            _restrict_row9(kind, a, sp, f, u, fc, buf, row)


@njit(cache=True, error_model="numpy")
def prolong_postsmooth9(kind, a, sp, f, uc, u, sweeps):
    """Prolongation and post-smoothing on a 9-point level, in one pass.

    Same result as :func:`prolong_add` followed by :func:`smooth9` (``sweeps``,
    ``reverse = True``), computed as a wavefront over the rows in descending order
    (row ``i`` is corrected while sweep ``s`` works on row ``i + s``).

    Parameters
    ----------
    kind, a, sp
        A coarse level (module docstring, "Level arguments").
    f : float64 array (nr, nz)
    uc : float64 array (nr // 2 + 1, nz // 2 + 1)
    u : float64 array (nr, nz), in/out
    sweeps : int
    """
    nr = kind.shape[0]
    pbuf = np.zeros((2, kind.shape[1] + 2), u.dtype)
    gbuf = np.zeros((2, kind.shape[1]), u.dtype)
    for i in range(nr - 1, -sweeps - 1, -1):
        if i >= 0:
            _prolong_row(kind, sp, uc, u, i, pbuf)
        for st in range(1, sweeps + 1):
            row = i + st
            if row >= 0 and row < nr:
                _gs9_row(kind, a, f, u, row, sp[row, 0], sp[row, 1], True, gbuf)


# ------------------------------------------------------------ coarsest solve
@njit(cache=True, inline="always", error_model="numpy")
def _band_index(i, j, nr, nz):
    # Lexicographic numbering with the shorter axis inner.
    if nz <= nr:
        return i * nz + j
    return j * nr + i


@njit(cache=True, error_model="numpy")
def band_from5(kind, stencil, band):
    """Lower band storage of the 5-point operator (used when there is one level).

    ``band[k, d] = A[k, k - d]`` with the nodes numbered lexicographically, the shorter
    axis inner; rows of non-unknowns are identity rows.  In both numberings the lower
    neighbours of ``(i, j)`` are ``(i - 1, j)`` and ``(i, j - 1)``.

    Parameters
    ----------
    kind, stencil
        The fine level (module docstring, "Level arguments").
    band : float64 array (nr nz, >= min(nr, nz) + 1), out
    """
    diag = stencil[DIAG]
    c_rp = stencil[RP]
    c_zp = stencil[ZP]
    nr, nz = kind.shape
    band[:, :] = 0.0
    for i in range(nr):
        for j in range(nz):
            k = _band_index(i, j, nr, nz)
            if kind[i, j] != 0:
                band[k, 0] = 1.0
                continue
            band[k, 0] = diag[i, j]
            if i > 0:
                band[k, k - _band_index(i - 1, j, nr, nz)] = -c_rp[i - 1, j]
            if j > 0:
                band[k, k - _band_index(i, j - 1, nr, nz)] = -c_zp[i, j - 1]


@njit(cache=True, error_model="numpy")
def band_from9(kind, a, band):
    """Lower band storage of a 9-point operator (numbering of :func:`band_from5`).

    Parameters
    ----------
    kind, a
        A coarse level (module docstring, "Level arguments").
    band : float64 array (nr nz, >= min(nr, nz) + 2), out
    """
    nr, nz = kind.shape
    band[:, :] = 0.0
    for i in range(nr):
        for j in range(nz):
            k = _band_index(i, j, nr, nz)
            if kind[i, j] != 0:
                band[k, 0] = 1.0
                continue
            for di in range(-1, 2):
                p = i + di
                if p < 0 or p >= nr:
                    continue
                for dj in range(-1, 2):
                    q = j + dj
                    if q < 0 or q >= nz:
                        continue
                    d = k - _band_index(p, q, nr, nz)
                    if d >= 0:
                        band[k, d] = a[i, 3 * (di + 1) + dj + 1, j]


@njit(cache=True, error_model="numpy")
def band_factor(band):
    """In-place banded Cholesky factorisation ``A = L L^T``.

    On entry ``band[k, d] = A[k, k - d]``; on return ``band[k, d] = L[k, k - d]``.  A
    pivot that falls to ``<= 1e-10`` of the original diagonal (semidefinite ``A``) is
    replaced by that diagonal, so the factor stays finite and positive definite.

    Parameters
    ----------
    band : float64 array (n, bw + 1), in/out
    """
    n, w = band.shape
    bw = w - 1
    for k in range(n):
        dmax = min(bw, k)
        for d in range(dmax, 0, -1):
            m = k - d
            s = band[k, d]
            for q in range(d + 1, dmax + 1):
                s -= band[k, q] * band[m, q - d]
            band[k, d] = s / band[m, 0]
        orig = band[k, 0]
        s = orig
        for q in range(1, dmax + 1):
            s -= band[k, q] * band[k, q]
        if s <= 1e-10 * orig:
            s = orig
        band[k, 0] = math.sqrt(s)


@njit(cache=True, error_model="numpy")
def band_solve(band, b):
    """Solve ``L L^T x = b`` in place with the factor of :func:`band_factor`.

    Parameters
    ----------
    band : float64 array (n, bw + 1)
    b : float64 array (n,), in/out
    """
    n, w = band.shape
    bw = w - 1
    for k in range(n):
        s = b[k]
        for q in range(1, min(bw, k) + 1):
            s -= band[k, q] * b[k - q]
        b[k] = s / band[k, 0]
    for k in range(n - 1, -1, -1):
        s = b[k]
        for q in range(1, min(bw, n - 1 - k) + 1):
            s -= band[k + q, q] * b[k + q]
        b[k] = s / band[k, 0]


@njit(cache=True, error_model="numpy")
def _coarse_solve(kind, band, f, u, t):
    # u = A^-1 f on the coarsest level, through the band numbering (t: scratch).
    nr, nz = kind.shape
    for i in range(nr):
        for j in range(nz):
            t[_band_index(i, j, nr, nz)] = f[i, j] if kind[i, j] == 0 else 0.0
    band_solve(band, t)
    for i in range(nr):
        for j in range(nz):
            u[i, j] = t[_band_index(i, j, nr, nz)] if kind[i, j] == 0 else 0.0


# ------------------------------------------------------------ setup and cycle
@njit(cache=True, inline="always", error_model="numpy")
def _kview(hier, lev):
    # Kinds of level lev as (nr_l, nz_l).
    nr = hier.levels[lev, 0]
    nz = hier.levels[lev, 1]
    v = hier.levels[lev, 2]
    return hier.kinds[v : v + nr * nz].reshape((nr, nz))


@njit(cache=True, inline="always", error_model="numpy")
def _aview(hier, lev):
    # 9-point stencil of level lev >= 1 as (nr_l, 9, nz_l).
    nr = hier.levels[lev, 0]
    nz = hier.levels[lev, 1]
    s = hier.levels[lev, 3]
    return hier.sten[s : s + 9 * nr * nz].reshape((nr, 9, nz))


@njit(cache=True, inline="always", error_model="numpy")
def _vview(hier, lev, row):
    # Row `row` of vec on level lev as (nr_l, nz_l).
    nr = hier.levels[lev, 0]
    nz = hier.levels[lev, 1]
    v = hier.levels[lev, 2]
    return hier.vec[row, v : v + nr * nz].reshape((nr, nz))


@njit(cache=True, inline="always", error_model="numpy")
def _sview(hier, lev):
    # Row spans of level lev as (nr_l, 2).
    r = hier.levels[lev, 4]
    return hier.spans[r : r + hier.levels[lev, 0]]


@njit(cache=True, error_model="numpy")
def setup(kind, stencil, hier):
    """Fill the hierarchy for an operator: spans, Galerkin operators, coarsest factor.

    Cost O(nr nz); to be called whenever the operator changes (every time step).

    Parameters
    ----------
    kind : int8 array (nr, nz)
    stencil : float array (5, nr, nz)
        Fine stencil from ``potential.assemble`` in the precision of ``hier.sten``
        (symmetric: only ``DIAG, RP, ZP`` are read).
    hier : Hierarchy
        Storage from :func:`allocate` for ``(nr, nz)``; ``kinds``, ``spans``, ``sten``
        and ``band`` are overwritten.
    """
    nlev = hier.levels.shape[0]
    row_spans(kind, _sview(hier, 0))
    if nlev == 1:
        band_from5(kind, stencil, hier.band)
        band_factor(hier.band)
        return
    galerkin5(kind, stencil, _sview(hier, 0), _aview(hier, 1), _kview(hier, 1), _sview(hier, 1))
    for lev in range(1, nlev - 1):
        galerkin9(
            _kview(hier, lev),
            _aview(hier, lev),
            _sview(hier, lev),
            _aview(hier, lev + 1),
            _kview(hier, lev + 1),
            _sview(hier, lev + 1),
        )
    band_from9(_kview(hier, nlev - 1), _aview(hier, nlev - 1), hier.band)
    band_factor(hier.band)


@njit(cache=True, error_model="numpy")
def vcycle(kind, stencil, hier, nu):
    """One V(nu, nu)-cycle from a zero guess: ``u_0 = M f_0``.

    Reads the fine right-hand side from ``hier.vec[1, :nr nz]`` and writes the result
    to ``hier.vec[0, :nr nz]`` (both viewed as ``(nr, nz)``) at the unknowns; values
    at non-unknowns are not written (they must be finite).  ``M`` is symmetric
    positive definite (module docstring).

    Parameters
    ----------
    kind : int8 array (nr, nz)
    stencil : float array (5, nr, nz)
        Fine stencil (only ``DIAG, RP, ZP`` are read).
    hier : Hierarchy
        Filled by :func:`setup` for this operator; ``hier.vec`` is in/out.
    nu : int
        Pre- and post-smoothing sweeps per level (at least 1).

    Returns
    -------
    fu : float
        ``f_0 . u_0`` over the unknowns (``r . z`` for CG), accumulated in the last pass.
    """
    nlev = hier.levels.shape[0]
    sp0 = _sview(hier, 0)
    u0 = _vview(hier, 0, 0)
    f0 = _vview(hier, 0, 1)
    if nlev == 1:
        _coarse_solve(kind, hier.band, f0, u0, hier.vec[2, : u0.size])
        return _dot(kind, sp0, f0, u0)
    presmooth_restrict5(kind, stencil, sp0, f0, u0, nu, _vview(hier, 1, 1))
    for lev in range(1, nlev - 1):
        presmooth_restrict9(
            _kview(hier, lev),
            _aview(hier, lev),
            _sview(hier, lev),
            _vview(hier, lev, 1),
            _vview(hier, lev, 0),
            nu,
            _vview(hier, lev + 1, 1),
        )
    last = nlev - 1
    v = hier.levels[last, 2]
    n = hier.levels[last, 0] * hier.levels[last, 1]
    _coarse_solve(_kview(hier, last), hier.band, _vview(hier, last, 1), _vview(hier, last, 0), hier.vec[2, v : v + n])
    for lev in range(nlev - 2, 0, -1):
        prolong_postsmooth9(
            _kview(hier, lev),
            _aview(hier, lev),
            _sview(hier, lev),
            _vview(hier, lev, 1),
            _vview(hier, lev + 1, 0),
            _vview(hier, lev, 0),
            nu,
        )
    return prolong_postsmooth5(kind, stencil, sp0, f0, _vview(hier, 1, 0), u0, nu)


# ------------------------------------------------------------------------- CG
@njit(cache=True, inline="always", error_model="numpy")
def _apply_row(kind, diag, c_rp, c_zp, sp, x, q, i, y):
    # q = A x on row i (0 at non-unknowns of the span), with A symmetric: the lower links
    # are read as c_rm[i, j] = c_rp[i - 1, j], c_zm[i, j] = c_zp[i, j - 1].  Returns the
    # sum over the row of y q.  Interior nodes run without bounds tests or branches
    # (callers compiled with fastmath reassociation vectorise the sum).
    nr, nz = kind.shape
    lo = sp[i, 0]
    hi = sp[i, 1]
    s = 0.0
    if lo >= hi:
        return s
    if i == 0 or i + 1 == nr:
        for j in range(lo, hi):
            t = 0.0
            if kind[i, j] == 0:
                t = diag[i, j] * x[i, j]
                if i > 0:
                    t -= c_rp[i - 1, j] * x[i - 1, j]
                if i + 1 < nr:
                    t -= c_rp[i, j] * x[i + 1, j]
                if j > 0:
                    t -= c_zp[i, j - 1] * x[i, j - 1]
                if j + 1 < nz:
                    t -= c_zp[i, j] * x[i, j + 1]
            q[i, j] = t
            s += y[i, j] * t
        return s
    j0 = max(lo, 1)
    j1 = min(hi, nz - 1)
    if lo == 0:
        t = 0.0
        if kind[i, 0] == 0:
            t = diag[i, 0] * x[i, 0] - c_rp[i - 1, 0] * x[i - 1, 0] - c_rp[i, 0] * x[i + 1, 0]
            if nz > 1:
                t -= c_zp[i, 0] * x[i, 1]
        q[i, 0] = t
        s += y[i, 0] * t
    n = j1 - j0
    if n > 0:
        dg, cs, cn, cw, ce = _links5(diag, c_rp, c_zp, i, j0, j1)
        xc, xs, xn, xw, xe = _cross(x, i, j0, j1)
        ki = kind[i, j0:j1]
        qi = q[i, j0:j1]
        yi = y[i, j0:j1]
        for k in range(n):
            t = dg[k] * xc[k] - (cs[k] * xs[k] + cn[k] * xn[k]) - (cw[k] * xw[k] + ce[k] * xe[k])
            t = t if ki[k] == 0 else 0.0
            qi[k] = t
            s += yi[k] * t
    if hi == nz and nz - 1 >= j0:
        j = nz - 1
        t = 0.0
        if kind[i, j] == 0:
            t = diag[i, j] * x[i, j] - c_rp[i - 1, j] * x[i - 1, j] - c_rp[i, j] * x[i + 1, j]
            t -= c_zp[i, j - 1] * x[i, j - 1]
        q[i, j] = t
        s += y[i, j] * t
    return s


# CG's vector passes may reorder their sums (fastmath "reassoc", "contract"): that lets
# the compiler vectorise the dot products and fuse multiply-adds; the smoothers, whose
# fused and unfused forms must agree bit for bit, are compiled without it.
_CG_FASTMATH = {"reassoc", "contract"}


@njit(cache=True, error_model="numpy", fastmath=_CG_FASTMATH)
def _residual(kind, stencil, sp, rhs, x, r, rc):
    # r = rhs - A x on unknowns (0 at non-unknowns of the spans), and its copy rc in the
    # precision of the preconditioner, in one pass; returns (r . r, rhs . rhs) over the
    # unknowns.
    diag = stencil[DIAG]
    c_rp = stencil[RP]
    c_zp = stencil[ZP]
    nr = kind.shape[0]
    rr = 0.0
    bb = 0.0
    for i in range(nr):
        _apply_row(kind, diag, c_rp, c_zp, sp, x, r, i, x)
        lo = sp[i, 0]
        hi = sp[i, 1]
        ki = kind[i, lo:hi]
        bi = rhs[i, lo:hi]
        ri = r[i, lo:hi]
        ci = rc[i, lo:hi]
        for k in range(hi - lo):
            b = bi[k] if ki[k] == 0 else 0.0
            t = b - ri[k]
            ri[k] = t
            ci[k] = t
            rr += t * t
            bb += b * b
    return rr, bb


@njit(cache=True, error_model="numpy", fastmath=_CG_FASTMATH)
def _direction_apply(kind, stencil, sp, z, beta, alpha, x, p, q):
    # x += alpha p, p = z + beta p (p = z if beta = 0), then q = A p, in one pass (the
    # product on row i - 1 follows the update of row i); x and p change on unknowns
    # only.  Returns p . q.
    diag = stencil[DIAG]
    c_rp = stencil[RP]
    c_zp = stencil[ZP]
    nr = kind.shape[0]
    s = 0.0
    for i in range(nr + 1):
        if i < nr:
            lo = sp[i, 0]
            hi = sp[i, 1]
            ki = kind[i, lo:hi]
            xi = x[i, lo:hi]
            pi = p[i, lo:hi]
            zi = z[i, lo:hi]
            for k in range(hi - lo):
                pk = pi[k]
                m = ki[k] == 0
                xi[k] = xi[k] + alpha * pk if m else xi[k]
                # beta = 0 (first step): p = z, whatever p held before
                v = zi[k] + beta * pk if beta != 0.0 else zi[k]
                pi[k] = v if m else pk
        if i > 0:
            s += _apply_row(kind, diag, c_rp, c_zp, sp, p, q, i - 1, p)
    return s


@njit(cache=True, error_model="numpy", fastmath=_CG_FASTMATH)
def _update_residual(kind, sp, alpha, q, r, rc):
    # r -= alpha q on unknowns, rc = r in the precision of the preconditioner; returns
    # r . r.
    rr = 0.0
    for i in range(kind.shape[0]):
        lo = sp[i, 0]
        hi = sp[i, 1]
        qi = q[i, lo:hi]
        ri = r[i, lo:hi]
        ci = rc[i, lo:hi]
        for k in range(hi - lo):
            t = ri[k] - alpha * qi[k]
            ri[k] = t
            ci[k] = t
            rr += t * t
    return rr


@njit(cache=True, error_model="numpy")
def _copy_operator(stencil, coef):
    # coef[DIAG, RP, ZP] = stencil[DIAG, RP, ZP] in the precision of the preconditioner
    # (whole arrays: the smoothers read links just outside the row spans, which must be
    # the current zeros).  The lower links are not read by any multigrid kernel.
    nr, nz = stencil.shape[1:]
    for i in range(nr):
        d = coef[DIAG, i]
        a = coef[RP, i]
        b = coef[ZP, i]
        di = stencil[DIAG, i]
        ai = stencil[RP, i]
        bi = stencil[ZP, i]
        for j in range(nz):
            d[j] = di[j]
            a[j] = ai[j]
            b[j] = bi[j]


@njit(cache=True, error_model="numpy")
def _dot(kind, sp, a, b):
    s = 0.0
    for i in range(kind.shape[0]):
        for j in range(sp[i, 0], sp[i, 1]):
            if kind[i, j] == 0:
                s += a[i, j] * b[i, j]
    return s


@njit(cache=True, error_model="numpy")
def _add_scaled(kind, sp, x, alpha, p):
    # x += alpha p on the unknowns (the last step of CG, not folded into a later pass).
    for i in range(kind.shape[0]):
        for j in range(sp[i, 0], sp[i, 1]):
            if kind[i, j] == 0:
                x[i, j] += alpha * p[i, j]


@njit(cache=True, error_model="numpy")
def _clear_unknowns(kind, sp, x):
    # x = 0 on the unknowns (the solution for rhs = 0).
    for i in range(kind.shape[0]):
        for j in range(sp[i, 0], sp[i, 1]):
            if kind[i, j] == 0:
                x[i, j] = 0.0


@njit(cache=True, error_model="numpy")
def _cg_iterations(kind, stencil, x, tol, maxiter, nu, hier, rhs_norm, rel0):
    # Preconditioned CG from the residual in hier.work[2] (relative residual rel0, its
    # copy in level 0 of vec row 1), the preconditioner set up for hier.coef; returns
    # (iterations, final relative residual).
    sp = _sview(hier, 0)
    z = _vview(hier, 0, 0)
    rc = _vview(hier, 0, 1)
    p = hier.work[0]
    q = hier.work[1]
    r = hier.work[2]
    pstencil = hier.coef
    rel = rel0
    rz = vcycle(kind, pstencil, hier, nu)
    alpha = 0.0
    beta = 0.0
    it = 0
    while it < maxiter:
        it += 1
        # x += alpha p of the previous step is folded into this pass
        pq = _direction_apply(kind, stencil, sp, z, beta, alpha, x, p, q)
        alpha = 0.0
        if pq <= 0.0:
            break
        alpha = rz / pq
        rel = math.sqrt(_update_residual(kind, sp, alpha, q, r, rc)) / rhs_norm
        if rel <= tol:
            break
        rz_new = vcycle(kind, pstencil, hier, nu)
        beta = rz_new / rz
        rz = rz_new
    if alpha != 0.0:
        _add_scaled(kind, sp, x, alpha, p)
    return it, rel


@njit(cache=True, error_model="numpy")
def mgcg(kind, stencil, rhs, x, tol, maxiter, nu, hier):
    """Solve ``A x = rhs`` by conjugate gradients preconditioned with one V-cycle.

    A drop-in replacement for ``potential.pcg``: warm-started from ``x``, which is
    updated in place on unknowns only; stops when ``||rhs - A x||_2 / ||rhs||_2 <= tol``
    (recursively updated residual) or after ``maxiter`` iterations; ``rhs = 0`` gives
    ``x = 0`` on unknowns.  The hierarchy is rebuilt by :func:`setup` unless the
    initial guess already meets the tolerance.  ``A`` must be symmetric (as assembled):
    the matrix-vector product and the preconditioner read only ``DIAG, RP, ZP``.  Each
    iteration makes one fused pass for ``x += alpha p`` (of the previous step),
    ``p = z + beta p`` and ``q = A p``, one for ``r -= alpha q`` and ``r . r``, and one
    V-cycle, whose last pass also returns ``r . z``.

    Mixed precision: CG (``x``, ``r``, ``p``, ``q``, the dot products and the stopping
    test) runs in float64; the preconditioner runs in the precision of ``hier.sten``,
    ``hier.vec`` and ``hier.coef`` (float32 in :class:`ecmsim.solvers.MultigridCGSolver`,
    which halves the memory the V-cycle streams and doubles the vector width).  The
    operator copied into ``hier.coef`` is rounded once; every coarse operator is the
    Galerkin product of that rounded operator, so the V-cycle is the (symmetric,
    positive definite) preconditioner of a matrix within a relative 1e-7 of ``A``, and
    its float32 rounding is far below its error reduction (about 0.04 per cycle).

    Parameters
    ----------
    kind : int8 array (nr, nz)
    stencil : float64 array (5, nr, nz)
        Stencil from ``potential.assemble``.
    rhs : float64 array (nr, nz), V
        Right-hand side from ``potential.assemble``.
    x : float64 array (nr, nz), in/out
        Initial guess and solution (V); non-unknown values are not touched.
    tol : float
        Relative residual tolerance.
    maxiter : int
    nu : int
        Smoothing sweeps before and after the coarse-grid correction on every level.
    hier : Hierarchy
        Storage for ``(nr, nz)`` from :func:`allocate` (all of it is overwritten).

    Returns
    -------
    (iterations, relative_residual, initial_relative_residual) : (int, float, float)
        The triple of ``potential.pcg``: iterations carried out, final and initial
        ``||rhs - A x|| / ||rhs||`` (0 and 0 if ``rhs = 0``).
    """
    sp = _sview(hier, 0)
    row_spans(kind, sp)
    rr, bb = _residual(kind, stencil, sp, rhs, x, hier.work[2], _vview(hier, 0, 1))
    bnorm = math.sqrt(bb)
    if bnorm == 0.0:
        _clear_unknowns(kind, sp, x)
        return 0, 0.0, 0.0
    rel0 = math.sqrt(rr) / bnorm
    if rel0 <= tol:
        return 0, rel0, rel0
    _copy_operator(stencil, hier.coef)
    setup(kind, hier.coef, hier)
    it, rel = _cg_iterations(kind, stencil, x, tol, maxiter, nu, hier, bnorm, rel0)
    return it, rel, rel0
