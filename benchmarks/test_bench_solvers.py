"""Potential solvers on a tool-in-hole (STEM-like) problem at about 65 k, 260 k and 1 M nodes.

Run:  pytest benchmarks/test_bench_solvers.py --benchmark-columns=min,median,rounds

Each size is one benchmark group, so the table shows the ratios between:

- ``mg-cg``: float64 CG preconditioned by a float32 geometric multigrid V(2,2)-cycle
  (``ecmsim.solvers.MultigridCGSolver``), hierarchy setup included;
- ``mic-cg``: CG with MIC(0) (``ecmsim.kernels.potential.pcg``);
- ``pyamg-rs``: pyamg Ruge-Stüben, setup + CG-accelerated solve (the ``bench`` extra);
- ``spsolve``: scipy's direct solver (SuperLU).

All solve from zero to a relative residual of 1e-8.  The JIT is warmed before timing.
Iteration counts and average convergence factors go to ``extra_info``.  The last
benchmark times a fresh process that imports and runs every kernel of
``ecmsim.kernels.multigrid`` and ``ecmsim.kernels.potential`` with an empty Numba cache
(compile) and again with the cache filled.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse.linalg as spla
from ecmsim.kernels import potential

from ecmsim.solvers import MICCGSolver, MultigridCGSolver
from ecmsim.testing import SOLVER_BENCHMARK_SPACINGS, stem_solver_problem, stencil_matrix

TOL = 1e-8
U_ANODE = 10.0
#: grid spacings giving 168 x 390 (65 k), 334 x 779 (260 k) and 668 x 1557 (1.04 M) nodes
SIZES = SOLVER_BENCHMARK_SPACINGS
#: spsolve at 1 M nodes takes a few seconds here (numerics.md: ~17 s with 1 M unknowns);
#: set ECMSIM_BENCH_SKIP_SLOW=1 to leave it out of quick runs.
SKIP_SLOW = os.environ.get("ECMSIM_BENCH_SKIP_SLOW") == "1"


def tool_in_hole(h: float):
    """Kinds and system of the STEM-like tool-in-hole problem at spacing h.

    ``ecmsim.testing.stem_solver_problem``: workpiece surface at z = 0, hole of radius
    0.6 mm and depth 2 mm with a 0.3 mm rounded bottom corner; tube tool r 0.25-0.5 mm
    with its face 0.2 mm above the bottom, insulating coating (50 µm) outside the tube
    above a 0.3 mm bare tip; electrolyte in the hole, the tube and 0.5 mm above the
    surface; domain r < 1.2 mm, z from 0.3 mm below the hole bottom.  Anode at 10 V,
    tool at 0 V.
    """
    p = stem_solver_problem(h, U_ANODE)
    system = (np.zeros((potential.N_COEF, *p.kind.shape)), np.zeros(p.kind.shape))
    potential.assemble(p.kind, p.psi_w, p.psi_t, np.ones(p.kind.shape), p.u_anode, p.theta_min, *system)
    return p.kind, system


def scipy_system(kind, stencil, rhs):
    """The same operator as a CSR matrix over the unknowns, its right-hand side and mask."""
    mask = kind == 0
    return stencil_matrix(kind, stencil), rhs[mask], mask


_PROBLEMS: dict[str, tuple] = {}


def problem(size: str):
    """Problem of one size, built once per session (kept: the 1 M one takes ~60 MB)."""
    if size not in _PROBLEMS:
        kind, system = tool_in_hole(SIZES[size])
        a, b, mask = scipy_system(kind, *system)
        _PROBLEMS[size] = (kind, system, a, b, mask)
    return _PROBLEMS[size]


def _rounds(size: str, small: int, large: int) -> int:
    return large if size == "1M" else small


def _info(benchmark, kind, iterations, factor, rel):
    benchmark.extra_info.update(
        nodes=int(kind.size),
        unknowns=int((kind == 0).sum()),
        iterations=int(iterations),
        convergence_factor=round(float(factor), 4),
        relative_residual=float(rel),
    )


def _check(a, b, mask, x):
    assert np.linalg.norm(b - a @ x[mask]) <= 1.01 * TOL * np.linalg.norm(b)


def _bench_solver(benchmark, solver, size: str, maxiter: int, rounds: int):
    """Time ``solver.solve`` from zero on the problem of one size (JIT warmed first)."""
    kind, system, a, b, mask = problem(size)
    benchmark.group = f"potential solve {size} nodes"
    x = np.zeros(kind.shape)
    solver.solve(kind, *system, x, TOL, maxiter)  # JIT warm-up, allocation of the work storage

    def reset():
        x[:] = 0.0
        return (), {}

    stats = benchmark.pedantic(
        lambda: solver.solve(kind, *system, x, TOL, maxiter), setup=reset, rounds=rounds, iterations=1
    )
    _info(benchmark, kind, stats.iterations, stats.convergence_factor, stats.relative_residual)
    _check(a, b, mask, x)


@pytest.mark.parametrize("size", list(SIZES))
def test_mg_cg(benchmark, size) -> None:
    solver = MultigridCGSolver()
    _bench_solver(benchmark, solver, size, 200, _rounds(size, 20, 10))
    benchmark.extra_info["levels"] = solver.levels


@pytest.mark.parametrize("size", list(SIZES))
def test_mic_cg(benchmark, size) -> None:
    _bench_solver(benchmark, MICCGSolver(), size, 20000, _rounds(size, 5, 3))


@pytest.mark.parametrize("size", list(SIZES))
def test_pyamg_ruge_stuben(benchmark, size) -> None:
    pyamg = pytest.importorskip("pyamg")
    kind, _, a, b, mask = problem(size)
    benchmark.group = f"potential solve {size} nodes"
    residuals: list[float] = []

    def setup_and_solve():
        residuals.clear()
        ml = pyamg.ruge_stuben_solver(a)
        # pyamg 5 stops on ||r|| <= tol ||b||, the criterion of the other solvers
        return ml.solve(b, tol=TOL, accel="cg", maxiter=200, residuals=residuals)

    setup_and_solve()
    xa = benchmark.pedantic(setup_and_solve, rounds=_rounds(size, 5, 3), iterations=1)
    its = len(residuals) - 1
    rel = residuals[-1] / np.linalg.norm(b)
    _info(benchmark, kind, its, (residuals[-1] / residuals[0]) ** (1.0 / max(its, 1)), rel)
    x = np.zeros(kind.shape)
    x[mask] = xa
    _check(a, b, mask, x)


@pytest.mark.parametrize("size", list(SIZES))
def test_scipy_spsolve(benchmark, size) -> None:
    if size == "1M" and SKIP_SLOW:
        pytest.skip("ECMSIM_BENCH_SKIP_SLOW=1")
    kind, _, a, b, mask = problem(size)
    benchmark.group = f"potential solve {size} nodes"
    a_csc = a.tocsc()
    xs = benchmark.pedantic(spla.spsolve, args=(a_csc, b), rounds=_rounds(size, 3, 2), iterations=1)
    _info(benchmark, kind, 0, 0.0, np.linalg.norm(b - a @ xs) / np.linalg.norm(b))
    x = np.zeros(kind.shape)
    x[mask] = xs
    _check(a, b, mask, x)


# ---------------------------------------------------------------- JIT start-up
_STARTUP = textwrap.dedent(
    """
    import numpy as np
    from ecmsim.kernels import multigrid as mg, potential as pt
    n = 12
    r = np.arange(n, dtype=float)[:, None] * np.ones(n)
    z = np.ones(n) * np.arange(n, dtype=float)[None, :]
    psi_w, psi_t = 9.5 - r, r + z - 2.5
    kind = np.zeros((n, n), np.int8)
    kind[psi_t <= 0] = 2
    kind[psi_w <= 0] = 1
    s, rhs = np.zeros((5, n, n)), np.zeros((n, n))
    pt.assemble(kind, psi_w, psi_t, np.ones((n, n)), 5.0, 1e-3, s, rhs)
    x = np.zeros((n, n))
    q = np.zeros((n, n))
    pt.apply(kind, s, x, q)
    pt.pcg(kind, s, rhs, x, 1e-8, 100, np.zeros((5, n, n)))
    pt.boundary_flux(kind, psi_w, np.ones((n, n)), x, 1, 5.0, 1e-3)
    pt.anode_normal_gradient(kind, psi_w, np.ones((n, n)), x, 1.0, 5.0, 1e-3, q, np.zeros((n, n), np.bool_))
    hier = mg.allocate(n, n, 3, np.float32)  # the preconditioner's precision in MultigridCGSolver
    x[:] = 0.0
    its, rel, _ = mg.mgcg(kind, s, rhs, x, 1e-8, 100, 2, hier)
    assert rel <= 1e-8, rel
    sp0 = hier.spans[:n]
    fc = np.zeros((n // 2 + 1, n // 2 + 1))
    mg.smooth_rb(kind, s, sp0, rhs, x, 1, False)
    mg.restrict_residual5(kind, s, sp0, rhs, x, fc)
    mg.prolong_add(kind, sp0, fc, x)
    """
)


def _run_startup(cache_dir: str) -> None:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    subprocess.run([sys.executable, "-c", _STARTUP], check=True, env=env, capture_output=True)


@pytest.fixture(scope="module")
def startup_cache(tmp_path_factory) -> dict[str, str]:
    """Numba cache folders of the start-up benchmarks (the cold run fills the last one)."""
    return {"root": str(tmp_path_factory.mktemp("numba-cache"))}


def test_jit_startup_cold(benchmark, startup_cache) -> None:
    """Fresh process, empty Numba cache: every kernel is compiled."""
    benchmark.group = "kernel start-up (subprocess)"
    dirs = iter(range(1000))

    def fresh():
        startup_cache["filled"] = os.path.join(startup_cache["root"], f"c{next(dirs)}")
        return (startup_cache["filled"],), {}

    benchmark.pedantic(_run_startup, setup=fresh, rounds=1, iterations=1)
    benchmark.extra_info["cache"] = "cold"


def test_jit_startup_cached(benchmark, startup_cache) -> None:
    """Fresh process, Numba cache filled: every kernel is loaded."""
    benchmark.group = "kernel start-up (subprocess)"
    cache = startup_cache.get("filled")
    if cache is None:  # the cold benchmark was deselected
        cache = os.path.join(startup_cache["root"], "filled")
        _run_startup(cache)
    benchmark.pedantic(_run_startup, args=(cache,), rounds=3, iterations=1)
    benchmark.extra_info["cache"] = "cached"
