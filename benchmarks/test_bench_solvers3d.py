"""The 3D potential solver (MG-CG) against the 2D one: cost per node, iterations under refinement.

Run:  pytest benchmarks/test_bench_solvers3d.py --benchmark-columns=min,median,rounds

One group, "MG-CG cost per node", holds:

- ``3d``: ``ecmsim.solvers3d.MultigridCGSolver3D`` (float64 CG, float64 V(2,2)-cycle with
  Galerkin 27-point coarse operators, hierarchy setup included) on a tube tool (r 0.2 to
  0.5 mm) 0.2 mm over a flat anode in a round cell of radius 1.5 mm and height 1 mm,
  half domain, at h = 50, 25 and 16.7 µm (47 k, 330 k and 1.1 M nodes);
- ``2d``: ``ecmsim.solvers.MultigridCGSolver`` (the default mg-cg) on the tool-in-hole
  problem of ``test_bench_solvers.py`` at 65 k and 260 k nodes.

Every solve starts from zero and stops at a relative residual of 1e-8; the JIT is warmed
first.  ``extra_info`` holds nodes, iterations and, when timings exist (not under
``--benchmark-disable``), the minimum time per node and per node and iteration (ns), so
the 3D/2D ratio per node is read off one run.  The iteration counts are deterministic and
asserted (roughly flat as h halves).
"""

from __future__ import annotations

import numpy as np
import pytest
from ecmsim.kernels import potential, potential3d

from ecmsim.solvers import MultigridCGSolver
from ecmsim.solvers3d import MultigridCGSolver3D
from ecmsim.testing import SOLVER_BENCHMARK_SPACINGS, problems3d, stem_solver_problem

TOL = 1e-8
THETA_MIN = 1e-3
#: grid spacings (mm) of the 3D problem
SPACINGS_3D = {"47k": 0.05, "330k": 0.025, "1.1M": 1.0 / 60.0}


def system3d(h: float):
    """Kinds, stencil and right-hand side of the 3D tube-over-plate problem at spacing h (mm)."""
    pb, _ = problems3d.tube_over_plate(h)
    stencil = np.zeros((potential3d.N_COEF, *pb.kind.shape))
    rhs = np.zeros(pb.kind.shape)
    potential3d.assemble(pb.kind, pb.psi_w, pb.psi_t, pb.psi_n, pb.u_anode, THETA_MIN, stencil, rhs)
    return pb.kind, stencil, rhs


def system2d(size: str):
    """Kinds, stencil and right-hand side of the 2D tool-in-hole problem of one size."""
    p = stem_solver_problem(SOLVER_BENCHMARK_SPACINGS[size], 10.0)
    stencil = np.zeros((potential.N_COEF, *p.kind.shape))
    rhs = np.zeros(p.kind.shape)
    potential.assemble(p.kind, p.psi_w, p.psi_t, np.ones(p.kind.shape), p.u_anode, p.theta_min, stencil, rhs)
    return p.kind, stencil, rhs


def _bench(benchmark, solver, kind, stencil, rhs, rounds: int):
    benchmark.group = "MG-CG cost per node"
    x = np.zeros(kind.shape)
    solver.solve(kind, stencil, rhs, x, TOL, 200)  # JIT warm-up, allocation

    def reset():
        x[:] = 0.0
        return (), {}

    stats = benchmark.pedantic(lambda: solver.solve(kind, stencil, rhs, x, TOL, 200), setup=reset, rounds=rounds)
    assert stats.relative_residual <= TOL
    benchmark.extra_info.update(nodes=int(kind.size), unknowns=int((kind == 0).sum()), iterations=stats.iterations)
    if benchmark.stats is not None:
        t = benchmark.stats.stats.min
        benchmark.extra_info["ns_per_node"] = round(1e9 * t / kind.size, 1)
        benchmark.extra_info["ns_per_node_iteration"] = round(1e9 * t / kind.size / stats.iterations, 1)
    return stats


@pytest.mark.parametrize("size", list(SPACINGS_3D))
def test_mg_cg_3d(benchmark, size) -> None:
    kind, stencil, rhs = system3d(SPACINGS_3D[size])
    solver = MultigridCGSolver3D()
    stats = _bench(benchmark, solver, kind, stencil, rhs, 5 if size == "47k" else 2)
    benchmark.extra_info["levels"] = solver.levels
    assert stats.iterations <= 30


@pytest.mark.parametrize("size", ["65k", "260k"])
def test_mg_cg_2d(benchmark, size) -> None:
    kind, stencil, rhs = system2d(size)
    _bench(benchmark, MultigridCGSolver(), kind, stencil, rhs, 10)


def test_iterations_under_refinement(benchmark) -> None:
    # iterations of the 3D solver as h halves twice (deterministic counts), timed at the finest
    its = []
    for h in (0.1, 0.05, 0.025):
        kind, stencil, rhs = system3d(h)
        stats = MultigridCGSolver3D().solve(kind, stencil, rhs, np.zeros(kind.shape), TOL, 200)
        its.append(stats.iterations)
    benchmark.group = "3D MG-CG iterations under refinement"
    benchmark.extra_info["iterations_h_100_50_25_um"] = its
    kind, stencil, rhs = system3d(0.1)
    solver = MultigridCGSolver3D()
    benchmark.pedantic(lambda: solver.solve(kind, stencil, rhs, np.zeros(kind.shape), TOL, 200), rounds=3)
    assert max(its) <= 2 * min(its) + 2, its
