"""Whole holes: cost against depth, the 30 mm target, the equilibrium shape, the README run.

The full set (10, 20, 40 mm and 30 mm deep Ø1 mm STEM holes at 10 µm cells)
takes several minutes; it runs with ``ECMSIM_BENCH_FULL=1``.  Without it
(as in CI's smoke run) the same benchmarks run at a tenth of the depth and
twice the cell size, so they still exercise every code path.

    ECMSIM_BENCH_FULL=1 pytest benchmarks/test_bench_holes.py --benchmark-columns=min,median,rounds
"""

from __future__ import annotations

import os

import pytest

from ecmsim.config import load_config
from ecmsim.equilibrium import solve_equilibrium
from ecmsim.simulation import simulate
from ecmsim.testing import tube_tool_overrides

FULL = os.environ.get("ECMSIM_BENCH_FULL") == "1"
SCALE = 1.0 if FULL else 0.1
CELL = 0.01 if FULL else 0.02
TUBE = tube_tool_overrides(cell_size_mm=CELL)


@pytest.fixture(scope="module", autouse=True)
def warm_jit() -> None:
    simulate("example:stem-in718", overrides=[*TUBE, "motion.depth_mm=0.3"])


@pytest.mark.parametrize("depth_mm", [10, 20, 40])
def test_hole_depth_scaling(benchmark, depth_mm: int) -> None:
    """time(40 mm) / time(20 mm) <= 2.2 is the target (linear in depth)."""
    depth = depth_mm * SCALE
    result = benchmark.pedantic(
        simulate, args=("example:stem-in718",), kwargs={"overrides": [*TUBE, f"motion.depth_mm={depth}"]},
        rounds=1, iterations=1,
    )  # fmt: skip
    benchmark.group = "hole depth scaling"
    benchmark.extra_info.update(depth_mm=depth, steps=int(result.time.size),
                                mean_solver_iterations=float(result.solver_iterations.mean()))  # fmt: skip
    assert result.status == "completed"


def test_hole_30mm_target(benchmark) -> None:
    """Target: a Ø1 mm, 30 mm deep STEM hole at 10 µm cells in at most 60 s (warm JIT cache)."""
    depth = 30 * SCALE
    result = benchmark.pedantic(
        simulate, args=("example:stem-in718",), kwargs={"overrides": [*TUBE, f"motion.depth_mm={depth}"]},
        rounds=1, iterations=1,
    )  # fmt: skip
    benchmark.extra_info.update(depth_mm=depth, steps=int(result.time.size))
    assert result.status == "completed"


def test_equilibrium_shape(benchmark) -> None:
    """Target: the equilibrium shape at 10 µm cells in at most 5 s."""
    cfg = load_config("example:stem-in718", TUBE)
    result = benchmark.pedantic(solve_equilibrium, args=(cfg,), rounds=1 if not FULL else 3, iterations=1)
    benchmark.extra_info.update(steps=result.steps, converged=result.converged)
    assert result.converged


def test_readme_example_run(benchmark) -> None:
    """Target: the README's example run in at most 30 s with a warm cache."""
    overrides = [] if FULL else ["numerics.cell_size_mm=0.02"]
    result = benchmark.pedantic(simulate, args=("example:stem-in718",), kwargs={"overrides": overrides},
                                rounds=1, iterations=1)  # fmt: skip
    assert result.status == "completed"
