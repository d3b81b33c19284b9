"""Tests of ecmsim.kernels.potential against NumPy/SciPy twins and the coaxial case."""

from __future__ import annotations

import math

import kernel_twins as tw
import numpy as np
import pytest
import scipy.sparse.linalg as spla
from ecmsim.kernels import potential
from hypothesis import given, settings
from hypothesis import strategies as st

THETA_MIN = 1e-3


def _assemble(kind, psi_w, psi_t, u, theta_min=THETA_MIN):
    """(stencil (5, nr, nz), rhs (nr, nz)) of potential.assemble."""
    stencil = np.zeros((potential.N_COEF, *kind.shape))
    rhs = np.zeros(kind.shape)
    potential.assemble(kind, psi_w, psi_t, u, theta_min, stencil, rhs)
    return stencil, rhs


def _solve(kind, system, tol=1e-12, x=None):
    stencil, rhs = system
    if x is None:
        x = np.zeros(kind.shape)
    work = np.zeros((5, *kind.shape))
    it, rel, _ = potential.pcg(kind, stencil, rhs, x, tol, 2000, work)
    return x, it, rel


def test_stencil_index_constants():
    # the layout every kernel, twin and solver relies on (kernels.potential docstring)
    assert (potential.DIAG, potential.RM, potential.RP, potential.ZM, potential.ZP) == (0, 1, 2, 3, 4)
    assert potential.N_COEF == 5


@st.composite
def geometries(draw):
    """Random small grid with a planar or circular anode, a tool and blocked nodes."""
    nr = draw(st.integers(3, 14))
    nz = draw(st.integers(3, 14))
    h = 1.0
    r, z = tw.grid(nr, nz, h)

    def level_set(sign):
        if draw(st.booleans()):
            a = draw(st.floats(0.0, 2 * math.pi))
            c = draw(st.floats(-3.0, 3.0))
            ps = math.cos(a) * (r - nr / 2) + math.sin(a) * (z - nz / 2) + c
        else:
            rc = draw(st.floats(0.0, nr))
            zc = draw(st.floats(0.0, nz))
            rad = draw(st.floats(1.0, 8.0))
            ps = sign * (np.hypot(r - rc, z - zc) - rad)
        return ps

    psi_w = level_set(-1.0)
    psi_t = level_set(1.0)
    seed = draw(st.integers(0, 2**31 - 1))
    frac = draw(st.sampled_from([0.0, 0.1, 0.3]))
    blocked = np.random.default_rng(seed).random((nr, nz)) < frac
    kind = tw.make_kind(psi_w, psi_t, blocked, draw(st.sampled_from([3, 4])))
    kind[tw.floating(kind)] = 4  # the caller's job: A is singular on floating pockets
    u = draw(st.floats(0.5, 20.0))
    return kind, psi_w, psi_t, u, h


@settings(deadline=None, max_examples=150, database=None)
@given(geometries())
def test_assemble_matches_twin_and_is_spd(geom):
    kind, psi_w, psi_t, u, _ = geom
    stencil, rhs = _assemble(kind, psi_w, psi_t, u)
    a_twin, rhs_twin, _ = tw.assemble_sparse(kind, psi_w, psi_t, u, THETA_MIN)
    a = tw.stencil_to_sparse(kind, stencil)
    if a.shape[0] == 0:
        return
    np.testing.assert_allclose(a.toarray(), a_twin.toarray(), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(rhs[kind == 0], rhs_twin, rtol=1e-13, atol=1e-13)
    for arr in (*stencil, rhs):
        assert np.all(arr[kind != 0] == 0.0)
    for k in (potential.RM, potential.RP, potential.ZM, potential.ZP):
        assert np.all(stencil[k] >= 0.0)
    dense = a.toarray()
    np.testing.assert_array_equal(dense, dense.T)
    assert np.linalg.eigvalsh(dense).min() > 0.0


@settings(deadline=None, max_examples=100, database=None)
@given(geometries(), st.integers(0, 2**31 - 1))
def test_apply_matches_sparse_product(geom, seed):
    kind, psi_w, psi_t, u, _ = geom
    stencil, _ = _assemble(kind, psi_w, psi_t, u)
    x = np.random.default_rng(seed).standard_normal(kind.shape)
    out = np.full(kind.shape, np.nan)
    potential.apply(kind, stencil, x, out)
    a = tw.stencil_to_sparse(kind, stencil)
    np.testing.assert_allclose(out[kind == 0], a @ x[kind == 0], rtol=1e-12, atol=1e-12)
    assert np.all(out[kind != 0] == 0.0)


@settings(deadline=None, max_examples=100, database=None)
@given(geometries())
def test_pcg_matches_spsolve_and_conserves_current(geom):
    kind, psi_w, psi_t, u, _ = geom
    system = _assemble(kind, psi_w, psi_t, u)
    sentinel = 123.0
    x = np.full(kind.shape, sentinel)
    x[kind == 0] = 0.0
    x, it, rel = _solve(kind, system, tol=1e-12, x=x)
    assert np.all(x[kind != 0] == sentinel)  # non-electrolyte values untouched
    a, rhs, _ = tw.assemble_sparse(kind, psi_w, psi_t, u, THETA_MIN)
    if a.shape[0] == 0:
        return
    ref = spla.spsolve(a.tocsc(), rhs) if a.shape[0] > 1 else rhs / a.toarray()[0]
    scale = max(np.abs(ref).max(), 1e-300)
    if np.linalg.norm(rhs) == 0.0:
        assert it == 0
        assert np.all(x[kind == 0] == 0.0)
        return
    assert rel <= 1e-12
    np.testing.assert_allclose(x[kind == 0], ref, rtol=0, atol=1e-8 * scale)
    # discrete conservation: anode + cathode sums equal -sum(residual)
    sa = potential.boundary_flux(kind, psi_w, x, 1, u, THETA_MIN)
    sc = potential.boundary_flux(kind, psi_t, x, 2, 0.0, THETA_MIN)
    assert sa == pytest.approx(tw.boundary_flux(kind, psi_w, x, 1, u, THETA_MIN), rel=1e-12, abs=1e-12)
    assert sc == pytest.approx(tw.boundary_flux(kind, psi_t, x, 2, 0.0, THETA_MIN), rel=1e-12, abs=1e-12)
    bound = math.sqrt(a.shape[0]) * 1e-12 * np.linalg.norm(rhs)
    assert abs(sa + sc) <= 10 * bound + 1e-13


@settings(deadline=None, max_examples=100, database=None)
@given(geometries(), st.integers(0, 2**31 - 1))
def test_anode_normal_gradient_matches_twin(geom, seed):
    kind, psi_w, _, u, h = geom
    phi = u * np.random.default_rng(seed).random(kind.shape)
    g = np.full(kind.shape, np.nan)
    known = np.ones(kind.shape, dtype=np.bool_)
    potential.anode_normal_gradient(kind, psi_w, phi, h, u, THETA_MIN, g, known)
    g_twin, known_twin = tw.anode_normal_gradient(kind, psi_w, phi, h, u, THETA_MIN)
    np.testing.assert_array_equal(known, known_twin)
    np.testing.assert_allclose(g, g_twin, rtol=1e-9, atol=1e-9 * u / h)


def test_pcg_zero_rhs_and_warm_start():
    r, _ = tw.grid(12, 10, 1.0)
    psi_w = 9.3 - r
    psi_t = r - 2.6
    kind = tw.make_kind(psi_w, psi_t)
    system = _assemble(kind, psi_w, psi_t, 0.0)
    x = np.ones(kind.shape)
    x, it, rel = _solve(kind, system, x=x)
    assert (it, rel) == (0, 0.0)
    assert np.all(x[kind == 0] == 0.0)
    assert np.all(x[kind != 0] == 1.0)
    system = _assemble(kind, psi_w, psi_t, 5.0)
    exact, it, _ = _solve(kind, system, tol=1e-13)
    assert it > 3
    _, it, rel = _solve(kind, system, tol=1e-10, x=exact.copy())
    assert it <= 1
    assert rel <= 1e-10


def test_pcg_tolerates_a_floating_pocket():
    # A pocket of electrolyte sealed by insulator has no Dirichlet link: A is only
    # semidefinite there, MIC(0) must not break down and the rest must converge.
    r, _ = tw.grid(12, 12, 1.0)
    psi_w = 9.3 - r
    psi_t = r - 2.6
    kind = tw.make_kind(psi_w, psi_t)
    kind[4:9, 3] = 3
    kind[4:9, 7] = 3
    kind[4, 3:8] = 3
    kind[8, 3:8] = 3
    assert tw.floating(kind).sum() == 9
    system = _assemble(kind, psi_w, psi_t, 5.0)
    x = np.zeros(kind.shape)
    x[tw.floating(kind)] = np.arange(9.0)
    x, _, rel = _solve(kind, system, tol=1e-10, x=x)
    assert rel <= 1e-10
    assert np.all(np.isfinite(x))
    grounded = (kind == 0) & ~tw.floating(kind)
    assert np.all((x[grounded] > 0.0) & (x[grounded] < 5.0))


# ------------------------------------------------------------- coaxial cylinders
R_C, R_A, U = 0.3e-3, 0.75e-3, 10.0
L_REF = 1.1e-3  # h = L_REF / n puts r_c and r_a at varying fractions of a cell
NZ = 8


def coaxial(n):
    """Errors of the coaxial-cylinder case (verification case 1) at h = L_REF / n."""
    h = L_REF / n
    nr = math.ceil(R_A / h) + 3
    r, _ = tw.grid(nr, NZ, h)
    psi_t = r - R_C
    psi_w = R_A - r
    kind = tw.make_kind(psi_w, psi_t)
    system = _assemble(kind, psi_w, psi_t, U)
    phi, it, _ = _solve(kind, system, tol=1e-12)
    exact = U * np.log(np.maximum(r, R_C) / R_C) / math.log(R_A / R_C)
    e_phi = np.abs(phi - exact)[kind == 0].max() / U
    g = np.zeros(kind.shape)
    known = np.zeros(kind.shape, dtype=np.bool_)
    potential.anode_normal_gradient(kind, psi_w, phi, h, U, THETA_MIN, g, known)
    g_exact = U / (R_A * math.log(R_A / R_C))
    e_grad = np.abs(g[known] - g_exact).max() / g_exact
    sa = potential.boundary_flux(kind, psi_w, phi, 1, U, THETA_MIN)
    sc = potential.boundary_flux(kind, psi_t, phi, 2, 0.0, THETA_MIN)
    # I / (2 pi kappa) = h * S versus the exact U L / ln(r_a/r_c) over L = NZ h
    s_exact = U * NZ / math.log(R_A / R_C)
    e_flux = abs(sa - s_exact) / s_exact
    return h, e_phi, e_grad, e_flux, (sa + sc) / sa, it


def observed_order(h, e):
    return np.polyfit(np.log(h), np.log(e), 1)[0]


@pytest.fixture(scope="module")
def coaxial_results():
    return [coaxial(n) for n in (20, 40, 80, 160)]


def test_coaxial_convergence(coaxial_results):
    # Measured (n = 20, 40, 80, 160; cut fractions vary with n): least-squares
    # orders potential 1.84, anode normal gradient 2.10, anode current 1.93; pcg
    # iterations to 1e-12: 18, 22, 29, 36.  With the cut r-link weighted at the
    # cell face (i + 1/2) instead of i + theta/2 the gradient is only first order.
    h, e_phi, e_grad, e_flux, cons, its = (np.array(c) for c in zip(*coaxial_results, strict=True))
    assert e_phi[-1] < 1e-5
    assert observed_order(h, e_phi) >= 1.8
    assert observed_order(h, e_grad) >= 1.5
    assert observed_order(h, e_flux) >= 1.5
    assert e_grad[-1] < 1e-4
    assert e_flux[-1] < 1e-4
    assert np.all(np.abs(cons) < 1e-9)
    assert np.all(its <= 60)


@pytest.mark.parametrize("frac", [0.1, 0.5, 0.9])
def test_coaxial_gradient_order_at_fixed_cut_fraction(frac):
    # with r_a / h = n + frac fixed the error constant is fixed too and the order
    # is clean: measured 2.0 (frac 0.1), 2.4 (0.5), 2.0 (0.9).
    errs = []
    hs = []
    for n in (20, 40, 80):
        h = R_A / (n + frac)
        nr = n + 3
        r, _ = tw.grid(nr, 4, h)
        psi_t = r - R_C
        psi_w = R_A - r
        kind = tw.make_kind(psi_w, psi_t)
        system = _assemble(kind, psi_w, psi_t, U)
        phi, _, _ = _solve(kind, system)
        g = np.zeros(kind.shape)
        known = np.zeros(kind.shape, dtype=np.bool_)
        potential.anode_normal_gradient(kind, psi_w, phi, h, U, THETA_MIN, g, known)
        g_exact = U / (R_A * math.log(R_A / R_C))
        errs.append(np.abs(g[known] - g_exact).max() / g_exact)
        hs.append(h)
    assert observed_order(np.array(hs), np.array(errs)) >= 1.8


def test_pcg_returns_iterations_final_and_initial_residual():
    # the triple both solver kernels return (ecmsim.solvers builds SolveStats from it)
    r, _ = tw.grid(12, 10, 1.0)
    psi_w = 9.3 - r
    psi_t = r - 2.6
    kind = tw.make_kind(psi_w, psi_t)
    stencil, rhs = _assemble(kind, psi_w, psi_t, 0.0)
    work = np.zeros((5, *kind.shape))
    assert potential.pcg(kind, stencil, rhs, np.ones(kind.shape), 1e-10, 100, work) == (0, 0.0, 0.0)
    stencil, rhs = _assemble(kind, psi_w, psi_t, 5.0)
    x0 = np.where(kind == 0, 1.0, 0.0)
    q = np.zeros(kind.shape)
    potential.apply(kind, stencil, x0, q)
    m = kind == 0
    expected0 = np.linalg.norm((rhs - q)[m]) / np.linalg.norm(rhs[m])
    x = x0.copy()
    it, rel, rel0 = potential.pcg(kind, stencil, rhs, x, 1e-10, 100, work)
    assert rel0 == pytest.approx(expected0, rel=1e-12)
    assert it > 0
    assert rel <= 1e-10
    q2 = np.zeros(kind.shape)
    potential.apply(kind, stencil, x, q2)
    assert np.linalg.norm((rhs - q2)[m]) / np.linalg.norm(rhs[m]) == pytest.approx(rel, rel=1e-3, abs=1e-13)
