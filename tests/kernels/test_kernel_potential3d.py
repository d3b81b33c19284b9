"""Tests of ecmsim.kernels.potential3d against its NumPy twin, and of its invariants."""

from __future__ import annotations

import kernel_twins as tw
import numpy as np
import pytest
import scipy.sparse.linalg as spla
from ecmsim.kernels import potential3d as p3

THETA_MIN = 1e-3


def _random_case(seed: int, shape=(7, 5, 8)):
    """Random planes and a sphere on a small grid: anode above a tilted plane, a
    spherical cathode below it, a tilted insulating wall, scattered insulator nodes."""
    rng = np.random.default_rng(seed)
    h = 1.0
    x, y, z = np.meshgrid(*(np.arange(n, dtype=float) for n in shape), indexing="ij")
    c = rng.uniform([2.0, 0.0, 1.5], [4.0, 1.5, 2.5])
    psi_t = np.sqrt((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2) - rng.uniform(0.7, 1.3)
    tilt = rng.uniform(-0.4, 0.4, 2)
    psi_w = rng.uniform(5.0, 6.0) - (z + tilt[0] * x + tilt[1] * y)
    g = np.array([1.0, rng.uniform(-0.3, 0.3), rng.uniform(-0.5, 0.5)])
    g /= np.linalg.norm(g)
    psi_n = rng.uniform(4.6, 5.4) - (g[0] * x + g[1] * y + g[2] * z)
    kind = np.zeros(shape, dtype=np.int8)
    kind[psi_n < -h] = tw.OUTSIDE
    kind[psi_w <= 0] = tw.ANODE
    kind[psi_t <= 0] = tw.CATHODE
    kind[(rng.random(shape) < 0.04) & (kind == 0)] = tw.INSULATOR
    return kind, psi_w, psi_t, psi_n


def _assemble(kind, psi_w, psi_t, psi_n, u=10.0):
    stencil = np.zeros((p3.N_COEF, *kind.shape))
    rhs = np.zeros(kind.shape)
    p3.assemble(kind, psi_w, psi_t, psi_n, u, THETA_MIN, stencil, rhs)
    return stencil, rhs


def test_stencil_index_constants():
    assert (p3.DIAG, p3.XM, p3.XP, p3.YM, p3.YP, p3.ZM, p3.ZP, p3.N_COEF) == (0, 1, 2, 3, 4, 5, 6, 7)


@pytest.mark.parametrize("seed", range(4))
def test_assemble_matches_twin_and_is_symmetric(seed):
    kind, psi_w, psi_t, psi_n = _random_case(seed)
    assert {0, 1, 2, 3}.issubset(set(np.unique(kind)))
    stencil, rhs = _assemble(kind, psi_w, psi_t, psi_n)
    a_twin, rhs_twin = tw.assemble3d_sparse(kind, psi_w, psi_t, psi_n, 10.0, THETA_MIN)
    a = tw.full_matrix7(kind, stencil)
    assert abs(a - a_twin).max() < 1e-13
    np.testing.assert_allclose(rhs, rhs_twin, rtol=1e-13, atol=1e-13)
    assert abs(a - a.T).max() == 0.0
    # some faces are partly open, so the apertures are exercised
    w = stencil[1:][stencil[1:] > 0]
    assert ((w > 0.0) & (w < 0.49)).any()


@pytest.mark.parametrize("seed", range(3))
def test_apply_and_boundary_flux_match_twin(seed):
    kind, psi_w, psi_t, psi_n = _random_case(seed)
    stencil, _ = _assemble(kind, psi_w, psi_t, psi_n)
    phi = np.random.default_rng(seed).uniform(0.0, 10.0, kind.shape)
    out = np.zeros(kind.shape)
    p3.apply(kind, stencil, phi, out)
    want = (tw.full_matrix7(kind, stencil) @ phi.ravel()).reshape(kind.shape)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)
    for target, psi, phi_b in ((tw.ANODE, psi_w, 10.0), (tw.CATHODE, psi_t, 0.0)):
        got = p3.boundary_flux(kind, psi, psi_n, phi, target, phi_b, THETA_MIN)
        assert got == pytest.approx(tw.boundary_flux3d(kind, psi, psi_n, phi, target, phi_b, THETA_MIN), rel=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_fluxes_balance_at_the_solution(seed):
    # the anode and cathode fluxes add to -sum(rhs - A phi): 0 at the exact solution
    kind, psi_w, psi_t, psi_n = _random_case(seed)
    stencil, rhs = _assemble(kind, psi_w, psi_t, psi_n)
    a = tw.full_matrix7(kind, stencil)
    act = (kind == 0).ravel()
    phi = np.zeros(kind.size)
    phi[act] = spla.spsolve(a[act][:, act].tocsc(), rhs.ravel()[act])
    phi = phi.reshape(kind.shape)
    s_a = p3.boundary_flux(kind, psi_w, psi_n, phi, tw.ANODE, 10.0, THETA_MIN)
    s_c = p3.boundary_flux(kind, psi_t, psi_n, phi, tw.CATHODE, 0.0, THETA_MIN)
    assert s_a > 0.0
    assert abs(s_a + s_c) < 1e-9 * s_a


def test_aperture_of_a_tilted_plane_is_exact():
    # psi_n linear: the open part of every face is a trapezoid known in closed form
    n = 6
    x, y, z = np.meshgrid(*(np.arange(n, dtype=float) for _ in range(3)), indexing="ij")
    g = np.array([0.3, 0.5, 0.81])
    g /= np.linalg.norm(g)
    psi_n = 2.6 - (g[0] * x + g[1] * y + g[2] * z)
    for i, j, k, axis in ((2, 2, 1, 0), (1, 2, 2, 1), (2, 1, 2, 2), (3, 2, 1, 2)):
        got = p3.aperture(psi_n, i, j, k, axis)
        assert got == pytest.approx(tw.aperture3d(psi_n, i, j, k, axis), abs=1e-13)
        # Monte Carlo-free check: integrate the indicator over the face on a fine lattice
        m = 400
        u = (np.arange(m) + 0.5) / m - 0.5
        uu, vv = np.meshgrid(u, u, indexing="ij")
        p = np.array([i, j, k], dtype=float)
        p[axis] += 0.5
        others = [a for a in range(3) if a != axis]
        pts = np.zeros((3, m, m)) + p[:, None, None]
        pts[others[0]] += uu
        pts[others[1]] += vv
        frac = np.mean(2.6 - np.tensordot(g, pts, axes=1) > 0)
        assert got == pytest.approx(frac, abs=5e-3)
        assert 0.0 < got < 1.0 or frac in (0.0, 1.0)
