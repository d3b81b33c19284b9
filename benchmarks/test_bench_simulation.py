"""Speed of the potential solve, of one time step and of a whole STEM hole.

Run:  pytest benchmarks --benchmark-columns=min,median,rounds
Ratios against scipy's direct solver are measured in the same run.  JIT
compilation is excluded: every kernel is warmed before ``benchmark(...)``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg as spla
from ecmsim.kernels import potential

from ecmsim.simulation import simulate
from ecmsim.testing import stencil_matrix, tube_tool_overrides


def _system(sim):
    sim.classify()
    n = sim.process.config.numerics
    win = sim.win
    potential.assemble(win.kind, win.psi, win.psi_cathode, win.psi_n, sim.u, n.theta_min, win.stencil, win.rhs)
    return win.stencil, win.rhs


def test_potential_solve_pcg_cold(benchmark, stem_sim) -> None:
    kind = stem_sim.kind
    stencil, rhs = _system(stem_sim)
    work = np.zeros((5, *kind.shape))
    x = np.zeros(kind.shape)

    def solve():
        x[:] = 0.0
        return potential.pcg(kind, stencil, rhs, x, 1e-8, 5000, work)

    its, res, _ = benchmark(solve)
    benchmark.extra_info.update(nodes=int(kind.size), unknowns=int((kind == 0).sum()), iterations=int(its))
    assert res <= 1e-8


def test_potential_solve_pcg_warm(benchmark, stem_sim) -> None:
    kind = stem_sim.kind
    stencil, rhs = _system(stem_sim)
    work = np.zeros((5, *kind.shape))
    start = stem_sim.win.phi.copy()
    x = start.copy()

    def solve():
        x[:] = start
        return potential.pcg(kind, stencil, rhs, x, 1e-8, 5000, work)

    its, res, _ = benchmark(solve)
    benchmark.extra_info.update(iterations=int(its))
    assert res <= 1e-8


def test_potential_solve_scipy_spsolve_baseline(benchmark, stem_sim) -> None:
    system = _system(stem_sim)
    mask = stem_sim.kind == 0
    a, b = stencil_matrix(stem_sim.kind, system[0]), system[1][mask]
    x = benchmark(spla.spsolve, a.tocsc(), b)
    ours = np.zeros(stem_sim.kind.shape)  # the window's shape
    potential.pcg(stem_sim.kind, *system, ours, 1e-10, 5000, np.zeros((5, *ours.shape)))
    np.testing.assert_allclose(x, ours[mask], rtol=1e-6, atol=1e-5 * stem_sim.u)


def test_one_time_step(benchmark, stem_sim) -> None:
    benchmark.pedantic(stem_sim.step, rounds=20, iterations=1, warmup_rounds=1)


def test_whole_5mm_stem_hole(benchmark) -> None:
    """Issue 3 target: Ø1 mm tube, 5 mm deep, 10 µm cells, under two minutes."""
    overrides = tube_tool_overrides(depth_mm=5.0)
    result = benchmark.pedantic(
        simulate, args=("example:stem-in718",), kwargs={"overrides": overrides}, rounds=1, iterations=1
    )
    benchmark.extra_info.update(steps=int(result.time.size), wall_clock_s=result.wall_clock_s)
    assert result.status == "completed"
