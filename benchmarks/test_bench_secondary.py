"""Cost of the secondary physics: a hole with flow, heating and gas against the same hole without.

Target (issue 15): with ``[physics] secondary = true`` a 30 mm hole at 10 µm cells takes at
most 1.3× the primary-only time.  Each benchmark drills one config twice in the same
process, primary only and coupled, alternating 25 steps of each so that both see the same
load on a shared machine, and reports ``coupled_over_primary`` (the ratio of their summed
step times, set-up included) in ``extra_info``: the bundled STEM example (Ø0.8/0.4 mm
coated tube, 15 % H2SO4, 7 V, 0.5 MPa) and the ECD example (Ø1.5/0.8 mm tube, 15 % NaNO3,
15 V pulsed, a wider gap; 0.8 MPa), both at 10 µm cells.

The full set (30 mm deep, 10 µm) takes about 20 minutes on a loaded machine; it runs with
``ECMSIM_BENCH_FULL=1``.  Without it the holes are a tenth as deep at 20 µm cells, so the
benchmarks still exercise every code path.

    ECMSIM_BENCH_FULL=1 pytest benchmarks/test_bench_secondary.py --benchmark-columns=min,rounds -s
"""

from __future__ import annotations

import os
import time

import pytest

from ecmsim.config import load_config
from ecmsim.process import resolve
from ecmsim.simulation import Simulation, simulate

FULL = os.environ.get("ECMSIM_BENCH_FULL") == "1"
DEPTH_MM = 30.0 if FULL else 3.0
CELL_MM = 0.01 if FULL else 0.02

CASES = {
    "stem-in718": ("example:stem-in718", ["flow.inlet_pressure_MPa=0.5"]),
    "ecd-in625-nano3": ("example:ecd-in625-nano3", ["flow.inlet_pressure_MPa=0.8"]),
}
COUPLED = ["physics.secondary=true"]


def _overrides(depth_mm: float) -> list[str]:
    return [f"numerics.cell_size_mm={CELL_MM}", f"motion.depth_mm={depth_mm}"]


@pytest.fixture(scope="module", autouse=True)
def warm_jit() -> None:
    for config, supply in CASES.values():
        simulate(config, overrides=[*_overrides(0.3), *COUPLED, *supply])


def _drill_side_by_side(config: str, supply: list[str]) -> tuple[float, float, int, int]:
    """Drill the primary and the coupled hole in alternating chunks of steps; their times (s) and steps."""
    sims, spent = [], [0.0, 0.0]
    for k, extra in enumerate(([], [*COUPLED, *supply])):
        start = time.perf_counter()
        sims.append(Simulation(resolve(load_config(config, [*_overrides(DEPTH_MM), *extra]))))
        spent[k] += time.perf_counter() - start
    while not all(sim.finished() for sim in sims):
        for k, sim in enumerate(sims):
            start = time.perf_counter()
            for _ in range(25):
                if sim.finished():
                    break
                sim.step()
            spent[k] += time.perf_counter() - start
    for sim in sims:
        assert sim.state.status is None, sim.state.message  # both reach depth without a fault
    return spent[0], spent[1], sims[0].state.steps, sims[1].state.steps


@pytest.mark.parametrize("case", list(CASES))
def test_secondary_physics_cost(benchmark, case: str) -> None:
    """Coupled / primary time of one hole, both measured here side by side (target <= 1.3 at 30 mm)."""
    config, supply = CASES[case]
    primary_s, coupled_s, n_primary, n_coupled = benchmark.pedantic(
        _drill_side_by_side, args=(config, supply), rounds=1, iterations=1
    )
    ratio = coupled_s / primary_s
    benchmark.group = "secondary physics cost"
    benchmark.extra_info.update(
        depth_mm=DEPTH_MM, cell_mm=CELL_MM, primary_s=primary_s, coupled_s=coupled_s, coupled_over_primary=ratio,
        primary_steps=n_primary, coupled_steps=n_coupled,
    )  # fmt: skip
    print(f"\n{case}: {DEPTH_MM:g} mm at {CELL_MM * 1e3:g} µm: primary {primary_s:.1f} s ({n_primary} steps), "
          f"coupled {coupled_s:.1f} s ({n_coupled} steps), ratio {ratio:.2f}")  # fmt: skip
