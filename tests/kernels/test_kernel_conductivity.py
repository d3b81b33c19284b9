"""Variable conductivity in the potential: the stencil scaling against its twin, and
manufactured solutions of ∇·(κ∇φ) = 0 with κ varying in r and in z."""

from __future__ import annotations

import kernel_twins as tw
import numpy as np
import pytest
from ecmsim.kernels import potential
from hypothesis import given, settings

from ecmsim.solvers import make_solver
from ecmsim.testing import pairwise_orders, problems
from ecmsim.testing.strategies import electrode_geometries, seeds

THETA_MIN = 1e-3


def _system(kind, psi_w, psi_t, u, kappa=None):
    stencil = np.zeros((potential.N_COEF, *kind.shape))
    rhs = np.zeros(kind.shape)
    potential.assemble(kind, psi_w, psi_t, tw.no_walls(kind), u, THETA_MIN, stencil, rhs)
    if kappa is not None:
        potential.scale_conductivity(kind, kappa, stencil, rhs)
    return stencil, rhs


def _solve(kind, stencil, rhs, solver="mic-cg"):
    x = np.zeros(kind.shape)
    stats = make_solver(solver).solve(kind, stencil, rhs, x, 1e-12, 4000)
    assert stats.relative_residual <= 1e-11
    return x


@settings(deadline=None, max_examples=40, database=None)
@given(electrode_geometries(), seeds)
def test_scaling_matches_twin_and_stays_symmetric(geom, seed) -> None:
    kind, psi_w, psi_t, u, _ = geom
    kappa = np.random.default_rng(seed).uniform(0.3, 3.0, kind.shape)
    stencil, rhs = _system(kind, psi_w, psi_t, u)
    a_twin, rhs_twin = tw.scale_conductivity_sparse(kind, stencil, rhs, kappa)
    potential.scale_conductivity(kind, kappa, stencil, rhs)
    a = tw.stencil_to_sparse(kind, stencil)
    if a.shape[0] == 0:
        return
    np.testing.assert_allclose(a.toarray(), a_twin.toarray(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(rhs[kind == 0], rhs_twin, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(a.toarray(), a.toarray().T, rtol=1e-14, atol=0)


def test_uniform_conductivity_scales_the_system_and_leaves_the_potential() -> None:
    p = problems.coaxial_cylinders(1.1e-3 / 30, nz=6)
    base = _system(p.kind, p.psi_w, p.psi_t, p.u_anode)
    scaled = _system(p.kind, p.psi_w, p.psi_t, p.u_anode, np.full(p.kind.shape, 2.5))
    np.testing.assert_allclose(scaled[0], 2.5 * base[0], rtol=1e-14)
    np.testing.assert_allclose(_solve(p.kind, *scaled), _solve(p.kind, *base), atol=1e-10)


R_C, R_A, U, C = 0.3e-3, 0.75e-3, 10.0, 3.0


def _f(r):
    # φ' = const / (r κ) with κ = 1 + C (r/R_A)²: φ ∝ ln r − ½ ln(1 + C r²/R_A²)
    return np.log(r) - 0.5 * np.log1p(C * (r / R_A) ** 2)


def radial_case(n: int, solver: str) -> tuple[float, float, float]:
    """Coaxial cylinders with κ(r) = 1 + C (r/r_a)²: (h, potential error, anode current error).

    The anode cuts its links at a fixed fraction (r_a = (n + 1/2) h), so the error constant
    is the same at every n and the order is clean.
    """
    p = problems.coaxial_cylinders(R_A / (n + 0.5), nr=n + 3, nz=6, r_cathode=R_C, r_anode=R_A, u_anode=U)
    kappa = 1.0 + C * (p.r / R_A) ** 2
    phi = _solve(p.kind, *_system(p.kind, p.psi_w, p.psi_t, U, kappa), solver)
    span = _f(R_A) - _f(R_C)
    exact = U * (_f(np.maximum(p.r, R_C)) - _f(R_C)) / span
    e_phi = np.abs(phi - exact)[p.kind == 0].max() / U
    node = np.zeros(p.kind.shape)
    potential.boundary_node_flux(p.kind, p.psi_w, tw.no_walls(p.kind), phi, 1, U, THETA_MIN, node)
    flux = float((kappa * node).sum())  # r κ φ' = U / span per unit length, times nz cells
    e_flux = abs(flux - U * 6 / span) / (U * 6 / span)
    return p.h, e_phi, e_flux


A = 2.0e3  # 1/m: κ doubles over 0.5 mm


def axial_case(n: int) -> tuple[float, float]:
    """Planar gap z_c < z < z_a (cathode below z_c, anode beyond z_a) with κ(z) = 1 + A z.

    h = 0.5 mm/(n + 1/2) with n a multiple of 4 cuts the links at fractions 1/4 and 3/4 at
    every n.
    """
    z_c, z_a = 0.25e-3, 0.75e-3
    h = 0.5e-3 / (n + 0.5)
    _, z = problems.grid(5, int(z_a / h) + 4, h)
    psi_w, psi_t = z_a - z, z - z_c
    kind = problems.node_kinds(psi_w, psi_t)
    kappa = 1.0 + A * z
    phi = _solve(kind, *_system(kind, psi_w, psi_t, U, kappa))
    g = lambda x: np.log1p(A * x) / A  # noqa: E731  φ' ∝ 1/κ
    exact = U * (g(np.clip(z, z_c, z_a)) - g(z_c)) / (g(z_a) - g(z_c))
    return h, np.abs(phi - exact)[kind == 0].max() / U


@pytest.fixture(scope="module")
def radial_results():
    return [radial_case(n, "mic-cg") for n in (20, 40, 80)]


def test_radially_varying_conductivity_converges_at_second_order(radial_results) -> None:
    h, e_phi, e_flux = (np.array(c) for c in zip(*radial_results, strict=True))
    assert min(pairwise_orders(h, e_phi)) >= 1.8
    assert min(pairwise_orders(h, e_flux)) >= 1.8
    assert e_phi[-1] < 5e-4 and e_flux[-1] < 5e-4
    # without the conductivity the same grid is far off: the test sees the κ(r) profile
    p = problems.coaxial_cylinders(R_A / 80.5, nr=83, nz=6, r_cathode=R_C, r_anode=R_A, u_anode=U)
    plain = _solve(p.kind, *_system(p.kind, p.psi_w, p.psi_t, U))
    exact = U * (_f(np.maximum(p.r, R_C)) - _f(R_C)) / (_f(R_A) - _f(R_C))
    assert np.abs(plain - exact)[p.kind == 0].max() / U > 100 * e_phi[-1]


def test_axially_varying_conductivity_converges_at_second_order() -> None:
    h, e_phi = (np.array(c) for c in zip(*[axial_case(n) for n in (20, 40, 80)], strict=True))
    assert min(pairwise_orders(h, e_phi)) >= 1.8
    assert e_phi[-1] < 1e-4


def test_multigrid_solves_the_variable_conductivity_system(radial_results) -> None:
    # Galerkin coarse operators follow from the scaled fine stencil: mg-cg reaches the same answer
    assert radial_case(40, "mg-cg") == pytest.approx(radial_results[1], rel=1e-6)


@settings(deadline=None, max_examples=40, database=None)
@given(electrode_geometries(), seeds)
def test_station_sources_match_twin_and_give_u_times_i(geom, seed) -> None:
    """Joule power and electrode currents per station against the NumPy twin; over all
    stations the solved field's power is U times its anode current (Σ G Δφ² = U I)."""
    kind, psi_w, psi_t, u, _ = geom
    rng = np.random.default_rng(seed)
    kappa = rng.uniform(0.3, 3.0, kind.shape)
    stencil, rhs = _system(kind, psi_w, psi_t, u, kappa)
    phi = _solve(kind, stencil, rhs) if (kind == 0).any() else np.zeros(kind.shape)
    n = int(rng.integers(1, 6))
    station = rng.integers(0, n, kind.shape).astype(np.int64)
    out = np.empty(n), np.empty(n), np.empty(n)
    potential.station_sources(kind, stencil, rhs, phi, u, station, *out)
    for got, want in zip(out, tw.station_sources(kind, stencil, rhs, phi, u, station, n), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * u * u)
    power, cathode, anode = out
    assert power.sum() == pytest.approx(u * anode.sum(), rel=1e-8, abs=1e-9 * u * u)
    assert cathode.sum() == pytest.approx(anode.sum(), rel=1e-8, abs=1e-9 * u)
