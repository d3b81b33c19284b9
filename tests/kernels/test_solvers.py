"""Tests of ecmsim.solvers: the registry, the shared return triple and the array checks."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import kernel_twins as tw
import numpy as np
import pytest
import scipy.sparse.linalg as spla
from ecmsim.kernels import potential

from ecmsim import solvers
from ecmsim.config import NumericsConfig
from ecmsim.solvers import SolveStats, add_solver, check_system, make_solver, solver_names

THETA_MIN = 1e-3


def coated_tube(nr=28, nz=40, u=8.0):
    """A small tube tool in a hole: kinds, stencil, rhs and the scipy system."""
    r, z = tw.grid(nr, nz, 1.0, -30.0)
    psi_w = np.maximum(z, np.minimum(17.5 - r, z + 24.5))
    psi_t = np.maximum(np.maximum(6.2 - r, r - 12.4), -20.3 - z)
    blocked = (r > 12.4) & (r < 13.6) & (z > -14.0)
    kind = tw.make_kind(psi_w, psi_t, blocked, tw.INSULATOR)
    kind[tw.floating(kind)] = tw.OUTSIDE
    stencil = np.zeros((potential.N_COEF, nr, nz))
    rhs = np.zeros((nr, nz))
    potential.assemble(kind, psi_w, psi_t, tw.no_walls(kind), u, THETA_MIN, stencil, rhs)
    a, b, _ = tw.assemble_sparse(kind, psi_w, psi_t, tw.no_walls(kind), u, THETA_MIN)
    return kind, stencil, rhs, a, b


# ------------------------------------------------------------------ registry
def test_registry_feeds_the_config_choices():
    assert solver_names() == ("mg-cg", "mic-cg")
    field = next(f for f in dataclasses.fields(NumericsConfig) if f.name == "solver")
    assert field.metadata["choices"] == solver_names()
    assert field.default == solver_names()[0]
    assert isinstance(make_solver("mic-cg"), solvers.MICCGSolver)
    assert isinstance(make_solver("mg-cg"), solvers.MultigridCGSolver)
    with pytest.raises(ValueError, match="unknown potential solver 'spsolve'; valid: mg-cg, mic-cg"):
        make_solver("spsolve")


def test_add_solver_registers_a_class_once(monkeypatch):
    monkeypatch.setattr(solvers, "_REGISTRY", dict(solvers._REGISTRY))

    @add_solver
    class Plain(solvers.MICCGSolver):
        name = "plain-cg"

    assert solver_names()[-1] == "plain-cg"
    assert isinstance(make_solver("plain-cg"), Plain)
    assert add_solver(Plain) is Plain  # registering the same class again is harmless

    class Other(solvers.MICCGSolver):
        name = "plain-cg"

    with pytest.raises(ValueError, match="'plain-cg' is already registered"):
        add_solver(Other)


def test_config_and_solver_names_do_not_import_numpy():
    code = (
        "import sys; import ecmsim.config, ecmsim.solvers; "
        "print(ecmsim.solvers.solver_names()); "
        "print(','.join(m for m in ('numpy', 'numba') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    names, heavy = out.stdout.splitlines()
    assert names == "('mg-cg', 'mic-cg')"
    assert heavy == ""


# ------------------------------------------------------- every registered solver
@pytest.mark.parametrize("name", solver_names())
def test_every_solver_matches_spsolve_and_returns_the_triple(name):
    kind, stencil, rhs, a, b = coated_tube()
    solver = make_solver(name)
    sentinel = 77.0
    x = np.where(kind == 0, 0.5, sentinel)
    m = kind == 0
    q = np.zeros(kind.shape)
    potential.apply(kind, stencil, x, q)
    rel0 = np.linalg.norm((rhs - q)[m]) / np.linalg.norm(rhs[m])
    stats = solver.solve(kind, stencil, rhs, x, 1e-11, 5000)
    assert isinstance(stats, SolveStats)
    assert np.all(x[~m] == sentinel)
    np.testing.assert_allclose(x[m], spla.spsolve(a.tocsc(), b), rtol=0, atol=1e-8 * np.abs(b).max())
    assert 0 < stats.iterations < 200
    assert stats.relative_residual <= 1e-11
    assert stats.initial_relative_residual == pytest.approx(rel0, rel=1e-12)
    factor = (stats.relative_residual / stats.initial_relative_residual) ** (1 / stats.iterations)
    assert stats.convergence_factor == pytest.approx(factor, rel=1e-12)
    # a good enough guess: no iteration, factor 0; a zero right-hand side: x = 0
    again = solver.solve(kind, stencil, rhs, x, 1e-10, 5000)
    assert (again.iterations, again.convergence_factor) == (0, 0.0)
    assert again.relative_residual == again.initial_relative_residual <= 1e-10
    zero = np.zeros_like(rhs)
    assert solver.solve(kind, stencil, zero, x, 1e-10, 5000) == SolveStats(0, 0.0, 0.0, 0.0)
    assert np.all(x[m] == 0.0)


def test_solve_stats_from_kernel():
    assert SolveStats.from_kernel(4, 1e-8, 1.0) == SolveStats(4, 1e-8, pytest.approx(1e-2), 1.0)
    assert SolveStats.from_kernel(0, 0.5, 0.5).convergence_factor == 0.0
    assert SolveStats.from_kernel(3, 0.0, 1.0).convergence_factor == 0.0


# -------------------------------------------------------------- array checks
def _good(nr=6, nz=5):
    kind = np.zeros((nr, nz), dtype=np.int8)
    return kind, np.zeros((5, nr, nz)), np.zeros((nr, nz)), np.zeros((nr, nz))


BAD = {
    "kind dtype": (0, lambda a: a.astype(np.int64), TypeError, "kind must be a C-contiguous int8 array of shape"
                   r" \(6, 5\), got dtype int64"),
    "kind 1-D": (0, lambda a: a.ravel(), ValueError, r"kind must be .* of shape \(nr, nz\), got shape \(30,\)"),
    "kind list": (0, lambda a: a.tolist(), TypeError, r"kind must be .*, got list"),
    "kind strided": (0, lambda a: np.zeros((6, 10), np.int8)[:, ::2], ValueError, "kind must be .* non-contiguous"),
    "stencil six planes": (1, lambda a: np.zeros((6, 6, 5)), ValueError,
                           r"stencil must be a C-contiguous float64 array of shape \(5, 6, 5\), got shape \(6, 6, 5\)"),
    "stencil last axis": (1, lambda a: np.zeros((6, 5, 5)), ValueError, r"stencil .*got shape \(6, 5, 5\)"),
    "stencil float32": (1, lambda a: a.astype(np.float32), TypeError, "stencil .*got dtype float32"),
    "stencil Fortran": (1, lambda a: np.asfortranarray(a), ValueError, "stencil .*non-contiguous"),
    "stencil list": (1, lambda a: list(a), TypeError, "stencil .*got list"),
    "rhs shape": (2, lambda a: a.T, ValueError, r"rhs must be .* of shape \(6, 5\), got shape \(5, 6\)"),
    "rhs dtype": (2, lambda a: a.astype(np.float32), TypeError, "rhs .*got dtype float32"),
    "x shape": (3, lambda a: a[:, :4], ValueError, r"x must be .*\(6, 5\), got shape \(6, 4\)"),
    "x dtype": (3, lambda a: a.astype(np.int64), TypeError, "x .*got dtype int64"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
@pytest.mark.parametrize("name", solver_names())
def test_solve_rejects_a_wrong_array_with_a_message(name, case):
    pos, spoil, error, message = BAD[case]
    args = list(_good())
    args[pos] = spoil(args[pos])
    with pytest.raises(error, match=message):
        make_solver(name).solve(*args, 1e-8, 10)


def test_check_system_accepts_the_contract_and_refuses_a_read_only_x():
    kind, stencil, rhs, x = _good()
    assert check_system(kind, stencil, rhs, x) == (6, 5)
    x.setflags(write=False)
    with pytest.raises(ValueError, match="x must be writeable"):
        check_system(kind, stencil, rhs, x)
