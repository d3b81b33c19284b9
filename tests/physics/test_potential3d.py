"""3D potential solver (kernels.potential3d + multigrid3d): analytic cases, mirror symmetry
and the axisymmetric limit against the 2D solver at equal cells."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ecmsim.kernels import multigrid as mg2
from ecmsim.kernels import potential as p2
from ecmsim.kernels import potential3d as p3

from ecmsim.solvers3d import MultigridCGSolver3D
from ecmsim.testing import assert_observed_order, problems3d

THETA_MIN = 1e-3


def _solve(pb, tol=1e-11):
    """Assemble and solve a Problem3D; returns (phi, stats)."""
    stencil = np.zeros((p3.N_COEF, *pb.kind.shape))
    rhs = np.zeros(pb.kind.shape)
    p3.assemble(pb.kind, pb.psi_w, pb.psi_t, pb.psi_n, pb.u_anode, THETA_MIN, stencil, rhs)
    phi = np.zeros(pb.kind.shape)
    stats = MultigridCGSolver3D().solve(pb.kind, stencil, rhs, phi, tol, 200)
    assert stats.relative_residual <= tol
    return phi, stats


def _max_error(pb, phi):
    # over the unknowns in the electrolyte (psi_n > 0), where the exact solution applies
    m = (pb.kind == 0) & (pb.psi_n > 0.0)
    return float(np.abs(phi - pb.phi_exact)[m].max())


@pytest.mark.parametrize("tilt", [20.0, 35.0])
def test_planar_gap_between_tilted_planes_and_walls_is_exact(tilt):
    # linear potential: the shortened arms and the cut-cell apertures are both exact
    # (from 17 nodes per side the domain's corners keep clear of the array edges)
    for n in (17, 33):
        pb = problems3d.planar_gap3d(n, tilt)
        phi, _ = _solve(pb, 1e-13)
        assert _max_error(pb, phi) < 1e-9 * pb.u_anode


def test_coaxial_cylinders_axis_along_z_second_order():
    hs, errs = [], []
    for n in (33, 65, 129):
        pb = problems3d.coaxial3d(n)
        phi, _ = _solve(pb)
        hs.append(pb.h)
        errs.append(_max_error(pb, phi))
    assert_observed_order(hs, errs, 2.0, 0.2)


def test_coaxial_cylinders_tilted_30_degrees_second_order():
    # axis tilted in the mirror plane, annulus closed by insulating planes normal to it
    hs, errs = [], []
    for n in (17, 33, 65):
        pb = problems3d.coaxial3d(n, 30.0)
        phi, _ = _solve(pb)
        hs.append(pb.h)
        errs.append(_max_error(pb, phi))
    assert_observed_order(hs, errs, 2.0, 0.2)
    assert errs[-1] < 1e-3 * pb.u_anode


def test_coaxial_current_matches_the_analytic_one():
    # half domain, length nz h along the axis: I / (kappa h) = pi u nz / ln(r_a / r_c)
    pb = problems3d.coaxial3d(65)
    phi, _ = _solve(pb)
    s = p3.boundary_flux(pb.kind, pb.psi_w, pb.psi_n, phi, 1, pb.u_anode, THETA_MIN)
    want = math.pi * pb.u_anode * pb.kind.shape[2] / math.log(0.75 / 0.3)
    assert s == pytest.approx(want, rel=2e-3)


def _mirrored(pb):
    """The full domain of a half-domain problem: rows y = -(ny - 1) h .. (ny - 1) h, and below
    them one row marked outside with the level sets of the row above it, which gives the
    bottom the same zero-flux wall half a cell out as the array edge gives the top (so
    j = 0 of the full array is no mirror plane of the solution)."""

    def full(a):
        return np.concatenate([a[:, -1:], a[:, :0:-1], a], axis=1)

    kind = full(pb.kind).astype(np.int8)
    kind[:, 0] = 4
    return problems3d.Problem3D(pb.h, kind, full(pb.psi_w), full(pb.psi_t), full(pb.psi_n), pb.u_anode, None, pb.coords)


@pytest.mark.parametrize("tilt", [0.0, 30.0])
def test_mirror_plane_half_domain_equals_full_domain(tilt):
    pb = problems3d.coaxial3d(17, tilt)
    half, _ = _solve(pb, 1e-13)
    whole = _mirrored(pb)
    full, _ = _solve(whole, 1e-13)
    ny = pb.kind.shape[1]
    up = full[:, ny:, :]
    down = full[:, ny - 1 : 0 : -1, :][:, : ny - 1]
    m = pb.kind == 0
    assert np.abs(up - half)[m].max() < 1e-9 * pb.u_anode
    assert np.abs(down - half[:, 1:])[m[:, 1:]].max() < 1e-9 * pb.u_anode
    s_half = p3.boundary_flux(pb.kind, pb.psi_w, pb.psi_n, half, 1, pb.u_anode, THETA_MIN)
    s_full = p3.boundary_flux(whole.kind, whole.psi_w, whole.psi_n, full, 1, pb.u_anode, THETA_MIN)
    assert 2.0 * s_half == pytest.approx(s_full, rel=1e-9)


def _current_2d(kind, psi_w, psi_t, u_anode):
    """Anode current / (kappa h) of the axisymmetric solver (2 pi S)."""
    stencil = np.zeros((p2.N_COEF, *kind.shape))
    rhs = np.zeros(kind.shape)
    psi_n = np.ones(kind.shape)
    p2.assemble(kind, psi_w, psi_t, psi_n, u_anode, THETA_MIN, stencil, rhs)
    x = np.zeros(kind.shape)
    _, rel, _ = mg2.mgcg(kind, stencil, rhs, x, 1e-11, 200, 2, mg2.allocate(*kind.shape, 6, np.float64))
    assert rel <= 1e-11
    return 2.0 * math.pi * p2.boundary_flux(kind, psi_w, psi_n, x, 1, u_anode, THETA_MIN)


@pytest.mark.parametrize("h", [0.1, 0.05])
def test_tube_over_flat_anode_matches_the_axisymmetric_solver(h):
    # 90 degree entry: tube tool (0.2 / 0.5 mm) 0.2 mm over a flat anode, at equal cells
    pb, (kind2, psi_w2, psi_t2) = problems3d.tube_over_plate(h)
    phi, _ = _solve(pb, 1e-10)
    i3 = 2.0 * p3.boundary_flux(pb.kind, pb.psi_w, pb.psi_n, phi, 1, pb.u_anode, THETA_MIN)
    i2 = _current_2d(kind2, psi_w2, psi_t2, pb.u_anode)
    assert i3 == pytest.approx(i2, rel=0.015 if h == 0.1 else 0.01)
    # the cathode takes the same current back
    ic = -2.0 * p3.boundary_flux(pb.kind, pb.psi_t, pb.psi_n, phi, 2, 0.0, THETA_MIN)
    assert ic == pytest.approx(i3, rel=1e-8)
