"""Assembly and solve of the potential with a conductivity per node against one conductivity.

Run:  pytest benchmarks/test_bench_conductivity.py --benchmark-columns=min,median,rounds

The STEM-like tool-in-hole problem of ``test_bench_solvers.py`` at 65 k nodes; both
benchmarks assemble and solve with mg-cg from zero to 1e-8, one of them with
``potential.scale_conductivity`` between (κ falling by 30 % towards the hole bottom and
rising 10 % with radius, like gas and heat in the gap).  The group shows the cost ratio.
"""

from __future__ import annotations

import numpy as np
import pytest
from ecmsim.kernels import potential

from ecmsim.solvers import MultigridCGSolver
from ecmsim.testing import SOLVER_BENCHMARK_SPACINGS, stem_solver_problem


@pytest.fixture(scope="module")
def problem():
    p = stem_solver_problem(SOLVER_BENCHMARK_SPACINGS["65k"], 10.0)
    z_span = float(p.z.max() - p.z.min())
    kappa = (1.0 - 0.3 * (p.z - p.z.min()) / z_span) * (1.0 + 0.1 * p.r / p.r.max())
    return p, kappa


def _assemble_and_solve(p, kappa, solver):
    stencil = np.zeros((potential.N_COEF, *p.kind.shape))
    rhs = np.zeros(p.kind.shape)
    potential.assemble(p.kind, p.psi_w, p.psi_t, np.ones(p.kind.shape), p.u_anode, p.theta_min, stencil, rhs)
    if kappa is not None:
        potential.scale_conductivity(p.kind, kappa, stencil, rhs)
    x = np.zeros(p.kind.shape)
    return solver.solve(p.kind, stencil, rhs, x, 1e-8, 500)


@pytest.mark.parametrize("variable", [False, True], ids=["uniform", "per-node"])
def test_conductivity(benchmark, problem, variable) -> None:
    p, kappa = problem
    solver = MultigridCGSolver()
    k = kappa if variable else None
    _assemble_and_solve(p, k, solver)  # warm the JIT
    benchmark.group = "potential with conductivity 65k nodes"
    stats = benchmark.pedantic(_assemble_and_solve, args=(p, k, solver), rounds=15, iterations=1)
    benchmark.extra_info["iterations"] = stats.iterations
    assert stats.relative_residual <= 1e-8
