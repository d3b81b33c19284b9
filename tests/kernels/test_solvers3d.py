"""Tests of ecmsim.solvers3d: the array checks before the 3D kernels and the returned stats."""

from __future__ import annotations

import numpy as np
import pytest
from ecmsim.kernels import potential3d as p3

from ecmsim.solvers import SolveStats
from ecmsim.solvers3d import MultigridCGSolver3D, check_system3d
from ecmsim.testing import problems3d


def _system(n=17):
    pb = problems3d.coaxial3d(n, 30.0)
    stencil = np.zeros((p3.N_COEF, *pb.kind.shape))
    rhs = np.zeros(pb.kind.shape)
    p3.assemble(pb.kind, pb.psi_w, pb.psi_t, pb.psi_n, pb.u_anode, 1e-3, stencil, rhs)
    return pb.kind, stencil, rhs, np.zeros(pb.kind.shape)


def test_solve_returns_stats_and_reuses_the_hierarchy():
    kind, stencil, rhs, x = _system()
    solver = MultigridCGSolver3D()
    assert solver.levels == 0
    stats = solver.solve(kind, stencil, rhs, x, 1e-10, 100)
    assert isinstance(stats, SolveStats)
    assert stats.relative_residual <= 1e-10 and 0 < stats.iterations <= 12
    assert 0.0 < stats.convergence_factor < 0.2
    assert solver.levels >= 3
    hier = solver._hier
    again = solver.solve(kind, stencil, rhs, x, 1e-10, 100)
    assert again.iterations == 0 and solver._hier is hier
    kind2, stencil2, rhs2, x2 = _system(33)
    assert solver.solve(kind2, stencil2, rhs2, x2, 1e-10, 100).relative_residual <= 1e-10
    assert solver._hier is not hier


@pytest.mark.parametrize(
    ("which", "bad", "error", "message"),
    [
        ("kind", lambda a: a.astype(np.int32), TypeError, "kind must be a C-contiguous int8 array .* got dtype int32"),
        ("kind", lambda a: a[:, :, 0], ValueError, r"kind must be .* \(nx, ny, nz\), got shape"),
        ("kind", lambda a: a.tolist(), TypeError, "got list"),
        ("stencil", lambda a: a[:5], ValueError, r"stencil must be .* of shape \(7, "),
        ("stencil", lambda a: a.astype(np.float32), TypeError, "stencil must be .* got dtype float32"),
        ("rhs", lambda a: np.asfortranarray(a), ValueError, "rhs must be .* non-contiguous"),
        ("x", lambda a: a[:-1], ValueError, "x must be .* got shape"),
    ],
)
def test_bad_arrays_are_refused_before_the_kernel(which, bad, error, message):
    arrays = dict(zip(("kind", "stencil", "rhs", "x"), _system(), strict=True))
    arrays[which] = bad(arrays[which])
    with pytest.raises(error, match=message):
        check_system3d(arrays["kind"], arrays["stencil"], arrays["rhs"], arrays["x"])
    with pytest.raises(error, match=message):
        MultigridCGSolver3D().solve(arrays["kind"], arrays["stencil"], arrays["rhs"], arrays["x"], 1e-8, 10)


def test_read_only_x_and_bad_parameters_are_refused():
    kind, stencil, rhs, x = _system()
    x.setflags(write=False)
    with pytest.raises(ValueError, match="x must be writeable"):
        check_system3d(kind, stencil, rhs, x)
    with pytest.raises(ValueError, match="nu must be at least 1, got 0"):
        MultigridCGSolver3D(nu=0)
    with pytest.raises(ValueError, match="min_size must be between 3 and 8, got 12"):
        MultigridCGSolver3D(min_size=12)
