"""Tests of ecmsim.kernels.multigrid against NumPy/SciPy twins, and of ecmsim.solvers."""

from __future__ import annotations

import kernel_twins as tw
import numpy as np
import pytest
import scipy.sparse.linalg as spla
from ecmsim.kernels import multigrid as mg
from ecmsim.kernels import potential
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ecmsim.solvers import MICCGSolver, MultigridCGSolver, SolveStats, make_solver, solver_names
from ecmsim.testing import problems
from ecmsim.testing.strategies import seeds, tool_in_hole_geometries

THETA_MIN = 1e-3


# ------------------------------------------------------------------ geometry
def _assemble(kind, psi_w, psi_t, u):
    """(stencil (5, nr, nz), rhs (nr, nz)) of potential.assemble."""
    stencil = np.zeros((potential.N_COEF, *kind.shape))
    rhs = np.zeros(kind.shape)
    potential.assemble(kind, psi_w, psi_t, tw.no_walls(kind), u, THETA_MIN, stencil, rhs)
    return stencil, rhs


def _drawn_system(geom):
    """(kind, stencil, rhs) of a geometry drawn by ``tool_in_hole_geometries``."""
    return (geom[0], *_assemble(*geom))


def hier_level(hier, lev):
    """Kinds, 9-point stencil (None on level 0) and row spans of one level."""
    nr, nz, voff, soff, roff = (int(v) for v in hier.levels[lev])
    n = nr * nz
    k = hier.kinds[voff : voff + n].reshape(nr, nz)
    a = hier.sten[soff : soff + 9 * n].reshape(nr, 9, nz) if soff >= 0 else None
    return k, a, hier.spans[roff : roff + nr]


def mgcg(kind, system, x, tol, maxiter=200, nu=2, dtype=np.float64):
    """mg.mgcg on a fresh hierarchy (min_size 3) of the given precision."""
    hier = mg.allocate(*kind.shape, min_size=3, dtype=dtype)
    return mg.mgcg(kind, system[0], system[1], x, tol, maxiter, nu, hier)


def _spans(kind):
    sp = np.zeros((kind.shape[0], 2), dtype=np.int64)
    mg.row_spans(kind, sp)
    return sp


# ------------------------------------------------------------------- hierarchy
@pytest.mark.parametrize(("nr", "nz", "min_size"), [(1, 1, 3), (4, 50, 3), (9, 9, 3), (668, 1557, 6), (20, 8, 6)])
def test_hierarchy_shapes_and_offsets(nr, nz, min_size):
    levels = mg.hierarchy(nr, nz, min_size)
    shapes = tw.mg_shapes(nr, nz, min_size)
    assert [tuple(row[:2]) for row in levels] == shapes
    sizes = [a * b for a, b in shapes]
    np.testing.assert_array_equal(levels[:, 2], np.cumsum([0, *sizes[:-1]]))
    np.testing.assert_array_equal(levels[:, 4], np.cumsum([0, *[a for a, _ in shapes[:-1]]]))
    assert levels[0, 3] == -1
    np.testing.assert_array_equal(levels[1:, 3], np.cumsum([0, *[9 * n for n in sizes[1:-1]]])[: len(sizes) - 1])
    nn, ns, nrow, nc, bw = mg.storage_sizes(levels)
    assert (nn, nrow, nc, bw) == (sum(sizes), sum(a for a, _ in shapes), sizes[-1], min(shapes[-1]) + 1)
    assert ns == max(1, 9 * sum(sizes[1:]))


def test_row_spans():
    kind = np.array([[4, 0, 4, 0, 4], [4, 4, 4, 4, 4], [0, 0, 0, 0, 0]], dtype=np.int8)
    np.testing.assert_array_equal(_spans(kind), [[1, 4], [0, 0], [0, 5]])


# ----------------------------------------------------- transfers and smoothers
@settings(deadline=None, max_examples=40, database=None)
@given(tool_in_hole_geometries(), seeds)
def test_fine_level_kernels_match_twins(geom, seed):
    kind, stencil, _ = _drawn_system(geom)
    nr, nz = kind.shape
    rng = np.random.default_rng(seed)
    f = rng.standard_normal(kind.shape)
    v = rng.standard_normal(kind.shape)
    uc = rng.standard_normal((nr // 2 + 1, nz // 2 + 1))
    sp = _spans(kind)
    a = tw.full_matrix5(kind, stencil)
    p = tw.interpolation(kind)
    act = kind == 0
    scale = 1.0 + np.abs(stencil[potential.DIAG]).max()
    # prolongation: u += P uc on unknowns
    out = v.copy()
    mg.prolong_add(kind, sp, uc, out)
    np.testing.assert_allclose(out.ravel(), v.ravel() + p @ uc.ravel(), rtol=1e-13, atol=1e-13)
    # restricted residual P^T (f - A v)
    fc = np.full(uc.shape, np.nan)
    mg.restrict_residual5(kind, stencil, sp, f, v, fc)
    r = np.where(act.ravel(), f.ravel() - a @ v.ravel(), 0.0)
    np.testing.assert_allclose(fc.ravel(), p.T @ r, rtol=1e-12, atol=1e-12 * scale)
    # red-black Gauss-Seidel, both orders
    for reverse in (False, True):
        out = v.copy()
        mg.smooth_rb(kind, stencil, sp, f, out, 2, reverse)
        ref = v.ravel()
        for _ in range(2):
            ref = tw.gauss_seidel(a, f, ref, tw.red_black_order(nr, nz, int(reverse)), act)
        np.testing.assert_allclose(out.ravel(), ref, rtol=1e-12, atol=1e-12 * (1 + np.abs(ref).max()))
    # fused fine-level kernels equal the compositions
    for nu in (1, 2):
        zero = np.where(act, 0.0, v)
        out = v.copy()
        fc2 = np.full(uc.shape, np.nan)
        mg.presmooth_restrict5(kind, stencil, sp, f, out, nu, fc2)
        ref = zero.copy()
        mg.smooth_rb(kind, stencil, sp, f, ref, nu, False)
        mg.restrict_residual5(kind, stencil, sp, f, ref, fc)
        np.testing.assert_array_equal(out, ref)
        np.testing.assert_array_equal(fc2, fc)
        out = v.copy()
        fu = mg.prolong_postsmooth5(kind, stencil, sp, f, uc, out, nu)
        ref = v.copy()
        mg.prolong_add(kind, sp, uc, ref)
        mg.smooth_rb(kind, stencil, sp, f, ref, nu, True)
        np.testing.assert_array_equal(out, ref)
        assert fu == pytest.approx(np.sum((f * ref)[act]), rel=1e-12, abs=1e-12 * np.abs(f * ref).sum())


@settings(deadline=None, max_examples=40, database=None)
@given(tool_in_hole_geometries(), seeds)
def test_galerkin_and_coarse_kernels_match_twins(geom, seed):
    kind, stencil, _ = _drawn_system(geom)
    assume(min(kind.shape) > 3)
    hier = mg.allocate(*kind.shape, min_size=3, dtype=np.float64)
    mg.setup(kind, stencil, hier)
    shapes, mats, interps, actives = tw.galerkin_hierarchy(kind, stencil, min_size=3)
    rng = np.random.default_rng(seed)
    for lev in range(1, len(shapes)):
        k, a, sp = hier_level(hier, lev)
        nr, nz = shapes[lev]
        scale = 1.0 + abs(mats[lev]).max()
        np.testing.assert_array_equal(k == 0, actives[lev])
        np.testing.assert_array_equal(sp, _spans(k))
        # kernels store the stencil as (nr, 9, nz), the twins as (nr, nz, 9)
        ref = tw.stencil9_from_matrix(mats[lev], nr, nz)
        np.testing.assert_allclose(np.moveaxis(a, 1, 2), ref, rtol=1e-12, atol=1e-12 * scale)
        a_full = tw.full_matrix9(k, np.moveaxis(a, 1, 2))
        assert abs(a_full - a_full.T).max() == 0.0  # exactly symmetric
        f = rng.standard_normal((nr, nz))
        v = np.where(k == 0, rng.standard_normal((nr, nz)), 0.0)
        for reverse in (False, True):
            out = v.copy()
            mg.smooth9(k, a, sp, f, out, 2, reverse)
            order = list(range(nr * nz))[:: -1 if reverse else 1]
            ref = tw.gauss_seidel(a_full, f, tw.gauss_seidel(a_full, f, v, order, k == 0), order, k == 0)
            np.testing.assert_allclose(out.ravel(), ref, rtol=1e-11, atol=1e-11 * (1 + np.abs(ref).max()))
        if lev + 1 < len(shapes):
            fc = np.full(shapes[lev + 1], np.nan)
            mg.restrict_residual9(k, a, sp, f, v, fc)
            r = np.where(k.ravel() == 0, f.ravel() - a_full @ v.ravel(), 0.0)
            np.testing.assert_allclose(fc.ravel(), interps[lev].T @ r, rtol=1e-12, atol=1e-12 * scale * 10)
            # fused 9-point kernels equal the compositions
            uc = rng.standard_normal(shapes[lev + 1])
            for nu in (1, 2):
                out = rng.standard_normal((nr, nz))  # overwritten on the spans
                fc2 = np.full(shapes[lev + 1], np.nan)
                mg.presmooth_restrict9(k, a, sp, f, out, nu, fc2)
                ref = out.copy()
                for i in range(nr):
                    ref[i, sp[i, 0] : sp[i, 1]] = 0.0
                mg.smooth9(k, a, sp, f, ref, nu, False)
                mg.restrict_residual9(k, a, sp, f, ref, fc)
                np.testing.assert_array_equal(out, ref)
                np.testing.assert_array_equal(fc2, fc)
                out = v.copy()
                mg.prolong_postsmooth9(k, a, sp, f, uc, out, nu)
                ref = v.copy()
                mg.prolong_add(k, sp, uc, ref)
                mg.smooth9(k, a, sp, f, ref, nu, True)
                np.testing.assert_array_equal(out, ref)


@settings(deadline=None, max_examples=30, database=None)
@given(tool_in_hole_geometries(), seeds)
def test_vcycle_matches_twin_and_is_symmetric_positive(geom, seed):
    kind, stencil, _ = _drawn_system(geom)
    act = kind == 0
    assume(act.sum() > 0)
    shapes, mats, interps, actives = tw.galerkin_hierarchy(kind, stencil, min_size=3)
    last = mats[-1][actives[-1].ravel()][:, actives[-1].ravel()].toarray()
    assume(last.size == 0 or np.linalg.cond(last) < 1e8)  # the twin solves the coarsest exactly
    hier = mg.allocate(*kind.shape, min_size=3, dtype=np.float64)
    mg.setup(kind, stencil, hier)
    n0 = kind.size
    rng = np.random.default_rng(seed)

    def m_apply(f):
        hier.vec[1, :n0] = f.ravel()
        fu = mg.vcycle(kind, stencil, hier, 2)
        mf = np.where(act.ravel(), hier.vec[0, :n0], 0.0)
        assert fu == pytest.approx(f.ravel() @ mf, rel=1e-12, abs=1e-13 * np.abs(f.ravel() * mf).sum())
        return mf

    f = np.where(act, rng.standard_normal(kind.shape), 0.0)
    g = np.where(act, rng.standard_normal(kind.shape), 0.0)
    mf = m_apply(f)
    ref = np.where(act.ravel(), tw.vcycle(shapes, mats, interps, actives, f, 2).ravel(), 0.0)
    np.testing.assert_allclose(mf, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())
    mg_ = m_apply(g)
    fm = f.ravel() @ mg_
    gm = g.ravel() @ mf
    assert fm == pytest.approx(gm, rel=1e-9, abs=1e-12 * np.linalg.norm(f) * np.linalg.norm(mg_))
    assert f.ravel() @ mf > 0.0


def random_stencil9(kind, rng):
    """A random symmetric, diagonally dominant 9-point stencil on the unknowns."""
    nr, nz = kind.shape
    a = np.zeros((nr, nz, 9))
    for i, j in np.argwhere(kind == 0):
        for di, dj in ((0, 1), (1, -1), (1, 0), (1, 1)):
            p, q = i + di, j + dj
            if 0 <= p < nr and 0 <= q < nz and kind[p, q] == 0:
                v = -rng.random()
                a[i, j, 3 * (di + 1) + dj + 1] = v
                a[p, q, 3 * (1 - di) + 1 - dj] = v
    a[:, :, 4] = np.where(kind == 0, 1.0 - a.sum(axis=2), 0.0)
    return a


@settings(deadline=None, max_examples=40, database=None)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**31 - 1))
def test_band_cholesky_matches_dense_solve(nr, nz, seed):
    rng = np.random.default_rng(seed)
    kind = np.where(rng.random((nr, nz)) < 0.2, 4, 0).astype(np.int8)
    a = random_stencil9(kind, rng)
    band = np.zeros((nr * nz, min(nr, nz) + 2))
    mg.band_from9(kind, np.ascontiguousarray(np.moveaxis(a, 2, 1)), band)  # kernel layout (nr, 9, nz)
    mg.band_factor(band)
    b = rng.standard_normal(nr * nz)
    x = b.copy()
    mg.band_solve(band, x)
    dense = tw.full_matrix9(kind, a).toarray()
    dense[kind.ravel() != 0, kind.ravel() != 0] = 1.0  # identity rows on non-unknowns
    # band numbering: lexicographic with the shorter axis inner
    perm = np.arange(nr * nz) if nz <= nr else np.arange(nr * nz).reshape(nr, nz).T.ravel()
    ref = np.linalg.solve(dense[np.ix_(perm, perm)], b)
    np.testing.assert_allclose(x, ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max())


# ------------------------------------------------------------------- MG-CG
# The preconditioner runs in float64 or float32 (MultigridCGSolver's default); CG is
# float64 either way and must reach the same tolerances.
PRECISIONS = [np.float64, np.float32]


@pytest.mark.parametrize("dtype", PRECISIONS)
@settings(deadline=None, max_examples=60, database=None)
@given(geom=tool_in_hole_geometries())
def test_mgcg_matches_spsolve(dtype, geom):
    kind, psi_w, psi_t, u = geom
    stencil, rhs = _assemble(kind, psi_w, psi_t, u)
    sentinel = 123.0
    x = np.full(kind.shape, sentinel)
    x[kind == 0] = 0.0
    it, rel, rel0 = mgcg(kind, (stencil, rhs), x, 1e-12, dtype=dtype)
    assert np.all(x[kind != 0] == sentinel)
    a, rhs, _ = tw.assemble_sparse(kind, psi_w, psi_t, tw.no_walls(kind), u, THETA_MIN)
    if a.shape[0] == 0:
        return
    if np.linalg.norm(rhs) == 0.0:
        assert (it, rel, rel0) == (0, 0.0, 0.0)
        assert np.all(x[kind == 0] == 0.0)
        return
    ref = spla.spsolve(a.tocsc(), rhs) if a.shape[0] > 1 else rhs / a.toarray()[0]
    assert rel <= 1e-12
    assert rel0 == pytest.approx(1.0)
    np.testing.assert_allclose(x[kind == 0], ref, rtol=1e-8, atol=1e-8 * np.abs(ref).max())
    # A sanity bound, not a pinned count (test_iterations_flat_on_tool_in_hole pins those):
    # over 1500 geometries drawn from this strategy, 1e-12 from zero took at most 27
    # iterations in both precisions (99th percentile 23; the worst have 30 % of the nodes
    # randomly blocked).  The bound was 25 until CI drew such a geometry.
    assert it <= 40


@pytest.mark.parametrize("dtype", PRECISIONS)
@settings(deadline=None, max_examples=20, database=None)
@given(geom=tool_in_hole_geometries())
def test_warm_start_from_the_solution(dtype, geom):
    kind, stencil, rhs = _drawn_system(geom)
    assume(np.any(rhs != 0.0))
    hier = mg.allocate(*kind.shape, min_size=3, dtype=dtype)
    x = np.zeros(kind.shape)
    mg.mgcg(kind, stencil, rhs, x, 1e-13, 200, 2, hier)
    it, rel, _ = mg.mgcg(kind, stencil, rhs, x, 1e-10, 200, 2, hier)
    assert it <= 1
    assert rel <= 1e-10


@pytest.mark.parametrize("dtype", PRECISIONS)
def test_tolerates_a_floating_pocket(dtype):
    # as potential.pcg: a sealed electrolyte pocket (A only semidefinite) must not break
    # the coarse factorisation, and the rest converges
    kind, psi_w, psi_t = tw.insulated_pocket(24, 19.3, (6, 14), (5, 13))
    assert tw.floating(kind).sum() == 49
    stencil, rhs = _assemble(kind, psi_w, psi_t, 5.0)
    x = np.zeros(kind.shape)
    x[tw.floating(kind)] = np.arange(49.0)
    it, rel, _ = mgcg(kind, (stencil, rhs), x, 1e-10, dtype=dtype)
    assert rel <= 1e-10
    assert it < 30
    assert np.all(np.isfinite(x))
    sealed = kind.copy()
    sealed[tw.floating(kind)] = tw.OUTSIDE  # the pocket is decoupled: same solution elsewhere
    a, rhs, _ = tw.assemble_sparse(sealed, psi_w, psi_t, tw.no_walls(sealed), 5.0, THETA_MIN)
    np.testing.assert_allclose(x[sealed == 0], spla.spsolve(a.tocsc(), rhs), rtol=0, atol=1e-8)


# ----------------------------------------------------- iteration counts (pinned)
def stem_problem(n):
    """Tube tool (r 0.25-0.5 mm) in a 0.6 mm hole, 0.2 mm frontal gap, coated above a
    0.3 mm bare tip; h = 0.05 mm / n, so the level sets cut the grid differently at
    every size."""
    mm = 1.0 / (0.05 / n)  # grid units per mm
    nr = int(1.2 * mm) + 1
    nz = int(2.0 * mm) + 1
    kind, psi_w, psi_t = problems.grid_tool_in_hole(
        nr, nz, 0.6 * mm, -1.4 * mm + 3, 0.25 * mm, 0.5 * mm, -1.2 * mm + 3, coat=0.05 * mm, bare=0.3 * mm
    )
    return kind, _assemble(kind, psi_w, psi_t, 10.0)


@pytest.mark.parametrize("precision", ["float32", "float64"])
@pytest.mark.parametrize(("n", "max_its", "max_factor"), [(2, 7, 0.035), (4, 7, 0.038), (8, 7, 0.038)])
def test_iterations_flat_on_tool_in_hole(n, max_its, max_factor, precision):
    # Measured with V(2,2), tol 1e-8, cold start, 8 levels at most (grids 49x81, 97x161,
    # 193x321; the coated side gap is 1, 2 and 4 cells wide): iterations 6, 6, 6;
    # average convergence factors 0.0273, 0.0293, 0.0300 (and 5 / 0.0177 on 25x41), the
    # same with a float32 or a float64 preconditioner.
    kind, system = stem_problem(n)
    stats = MultigridCGSolver(precision=precision).solve(kind, *system, np.zeros(kind.shape), 1e-8, 100)
    assert stats.iterations <= max_its
    assert stats.convergence_factor <= max_factor
    assert stats.relative_residual <= 1e-8


# ------------------------------------------------------------- solver layer
def test_make_solver_and_both_solvers_agree():
    assert set(solver_names()) == {"mic-cg", "mg-cg"}
    assert isinstance(make_solver("mic-cg"), MICCGSolver)
    assert isinstance(make_solver("mg-cg"), MultigridCGSolver)
    with pytest.raises(ValueError, match="mic-cg"):
        make_solver("spsolve")
    with pytest.raises(ValueError, match="float32"):
        MultigridCGSolver(precision="float16")
    kind, system = stem_problem(2)
    xs = {}
    for name in solver_names():
        solver = make_solver(name)
        x = np.zeros(kind.shape)
        stats = solver.solve(kind, *system, x, 1e-11, 5000)
        assert isinstance(stats, SolveStats)
        assert stats.relative_residual <= 1e-11
        assert stats.initial_relative_residual == pytest.approx(1.0)
        assert 0.0 < stats.convergence_factor < 1.0
        xs[name] = x
        again = solver.solve(kind, *system, x, 1e-10, 5000)  # warm start from the solution
        assert again.iterations == 0
        assert again.convergence_factor == 0.0
    np.testing.assert_allclose(xs["mg-cg"][kind == 0], xs["mic-cg"][kind == 0], rtol=0, atol=1e-7)
