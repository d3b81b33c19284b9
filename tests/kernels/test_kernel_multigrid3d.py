"""Tests of ecmsim.kernels.multigrid3d against its NumPy twin, and of MG-CG itself."""

from __future__ import annotations

import kernel_twins as tw
import numpy as np
import pytest
import scipy.sparse.linalg as spla
from ecmsim.kernels import multigrid3d as mg3
from ecmsim.kernels import potential3d as p3
from test_kernel_potential3d import THETA_MIN, _assemble, _random_case

from ecmsim.testing import problems3d


def _case(seed, shape=(11, 6, 13)):
    kind, psi_w, psi_t, psi_n = _random_case(seed, shape)
    stencil, rhs = _assemble(kind, psi_w, psi_t, psi_n)
    return kind, stencil, rhs


@pytest.mark.parametrize("shape", [(11, 6, 13), (4, 9, 20), (5, 5, 5), (33, 3, 8)])
def test_hierarchy_matches_twin(shape):
    levels = mg3.hierarchy(*shape, 5)
    shapes, flags = tw.mg3_shapes(shape, 5)
    assert [tuple(int(v) for v in row[:3]) for row in levels] == shapes
    assert [tuple(int(v) for v in row[5:]) for row in levels[:-1]] == flags
    assert max(shapes[-1]) <= 5


@pytest.mark.parametrize("seed", range(3))
def test_galerkin_operators_match_twin(seed):
    kind, stencil, _ = _case(seed)
    hier = mg3.allocate(*kind.shape, 5)
    mg3.setup(kind, stencil, hier)
    _, mats, _, actives = tw.galerkin_hierarchy3d(kind, stencil, 5)
    assert len(mats) == hier.levels.shape[0] >= 3
    for lev in range(1, len(mats)):
        kc = mg3._kview(hier, lev)
        np.testing.assert_array_equal(kc == 0, actives[lev])
        a = tw.full_matrix27(kc, mg3._aview(hier, lev))
        assert abs(a - mats[lev]).max() < 1e-12 * abs(mats[lev]).max()
        assert abs(a - a.T).max() < 1e-12 * abs(a).max()


@pytest.mark.parametrize("seed", range(2))
def test_vcycle_matches_twin_and_is_symmetric(seed):
    kind, stencil, _ = _case(seed)
    hier = mg3.allocate(*kind.shape, 5)
    mg3.setup(kind, stencil, hier)
    hs = tw.galerkin_hierarchy3d(kind, stencil, 5)
    rng = np.random.default_rng(seed)
    n = kind.size
    outs = []
    fs = [np.where(kind == 0, rng.normal(size=kind.shape), 0.0) for _ in range(2)]
    for f in fs:
        hier.vec[1, :n] = f.ravel()
        mg3.vcycle(kind, stencil, hier, 2)
        z = hier.vec[0, :n].reshape(kind.shape).copy()
        np.testing.assert_allclose(z, tw.vcycle3d(*hs, f, 2), rtol=1e-10, atol=1e-12)
        outs.append(z)
    # M symmetric: f1 . M f2 = f2 . M f1; positive: f . M f > 0
    assert np.vdot(fs[0], outs[1]) == pytest.approx(np.vdot(fs[1], outs[0]), rel=1e-10)
    assert np.vdot(fs[0], outs[0]) > 0.0


@pytest.mark.parametrize("seed", range(3))
def test_mgcg_solves_the_system(seed):
    kind, stencil, rhs = _case(seed, (15, 8, 17))
    a = tw.full_matrix7(kind, stencil)
    act = (kind == 0).ravel()
    want = spla.spsolve(a[act][:, act].tocsc(), rhs.ravel()[act])
    x = np.zeros(kind.shape)
    x[kind != 0] = 123.0  # untouched
    it, rel, rel0 = mg3.mgcg(kind, stencil, rhs, x, 1e-11, 100, 2, mg3.allocate(*kind.shape))
    assert rel <= 1e-11 and rel0 == pytest.approx(1.0)
    assert 0 < it <= 20
    np.testing.assert_allclose(x.ravel()[act], want, rtol=1e-8, atol=1e-8)
    assert (x[kind != 0] == 123.0).all()
    # warm start from the solution: no iteration; zero rhs: zero solution
    assert mg3.mgcg(kind, stencil, rhs, x, 1e-8, 100, 2, mg3.allocate(*kind.shape))[0] == 0
    assert mg3.mgcg(kind, stencil, np.zeros_like(rhs), x, 1e-8, 100, 2, mg3.allocate(*kind.shape)) == (0, 0.0, 0.0)
    assert (x[kind == 0] == 0.0).all()


def test_single_level_hierarchy_is_a_direct_solve():
    kind, stencil, rhs = _case(0, (5, 4, 5))
    hier = mg3.allocate(*kind.shape, 5)
    assert hier.levels.shape[0] == 1
    x = np.zeros(kind.shape)
    it, rel, _ = mg3.mgcg(kind, stencil, rhs, x, 1e-12, 10, 2, hier)
    assert it == 1 and rel < 1e-12


@pytest.mark.parametrize("tilt", [0.0, 30.0])
def test_iterations_stay_flat_under_refinement(tilt):
    its = []
    for n in (17, 33, 65):
        pb = problems3d.coaxial3d(n, tilt)
        stencil, rhs = _assemble(pb.kind, pb.psi_w, pb.psi_t, pb.psi_n, pb.u_anode)
        x = np.zeros(pb.kind.shape)
        it, rel, _ = mg3.mgcg(pb.kind, stencil, rhs, x, 1e-8, 100, 2, mg3.allocate(*pb.kind.shape))
        assert rel <= 1e-8
        its.append(it)
    assert max(its) <= 10, its
    assert its[-1] - its[0] <= 3, its


def test_kernels_do_not_touch_non_unknowns_of_the_correction():
    # prolongation adds nothing at non-unknowns; restriction ignores them
    kind, _, _ = _case(1)
    shapes, flags = tw.mg3_shapes(kind.shape, 5)
    uc = np.random.default_rng(0).normal(size=shapes[1])
    u = np.zeros(kind.shape)
    mg3.prolong_add(kind, uc, *flags[0], u)
    p = tw.interpolation3d(kind == 0, flags[0])
    np.testing.assert_allclose(u.ravel(), p @ uc.ravel(), atol=1e-14)
    r = np.random.default_rng(1).normal(size=kind.shape)
    fc = np.zeros(shapes[1])
    mg3.restrict(kind, r, *flags[0], fc)
    np.testing.assert_allclose(fc.ravel(), p.T @ r.ravel(), atol=1e-13)
    assert p3.N_COEF == 7 and THETA_MIN > 0
