"""Benchmark fixtures: problems built once per session, JIT warmed before timing."""

from __future__ import annotations

import pytest

from ecmsim.numba_cache import use_keyed_cache_dir

# Before Numba is imported (see tests/conftest.py and docs/numerics-cache.md).
use_keyed_cache_dir()

from ecmsim.config import load_config  # noqa: E402
from ecmsim.process import resolve  # noqa: E402
from ecmsim.simulation import Simulation  # noqa: E402


@pytest.fixture(scope="session")
def postgres_server():  # type: ignore[no-untyped-def]
    """A real PostgreSQL server for the session (see ecmsim.testing.postgres)."""
    from ecmsim.testing.postgres import session_server

    yield from session_server()


@pytest.fixture(scope="session")
def stem_sim() -> Simulation:
    """A STEM set-up (Ø1 mm tube, 10 µm cells) drilled 1 mm deep, ready to step."""
    cfg = load_config(
        "example:stem-in718",
        ["tool.outer_diameter_mm=1.0", "tool.inner_diameter_mm=0.5", "motion.depth_mm=5.0"],
    )
    sim = Simulation(resolve(cfg))
    while sim.z_tip < 1.0e-3:
        sim.step()
    return sim
