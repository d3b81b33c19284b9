"""Shared support for ecmsim's tests and benchmarks.

- :mod:`ecmsim.testing.problems`: standard problems (grids and node kinds, the
  coaxial-cylinder and tool-in-hole potential problems, the plain and planar-gap
  drilling configs, a fast STEM config as TOML text);
- :mod:`ecmsim.testing.order`: the observed order of accuracy and
  :func:`assert_observed_order`;
- :mod:`ecmsim.testing.inspection_csv`: large inspection CSV files (design and
  measurements) for the import's memory test and benchmark;
- :mod:`ecmsim.testing.strategies`: hypothesis strategies (random geometries, TOML
  values).  It is not imported here, so this package needs only NumPy and SciPy;
  hypothesis comes with the ``test`` extra.

Nothing in ecmsim's own code imports this package.
"""

from __future__ import annotations

from ecmsim.testing.order import assert_observed_order, observed_order, pairwise_orders
from ecmsim.testing.problems import (
    FAST_STEM_TOML,
    SOLVER_BENCHMARK_SPACINGS,
    CoaxialProblem,
    PotentialProblem,
    coaxial_cylinders,
    drilling_config,
    floating_pockets,
    grid,
    grid_tool_in_hole,
    node_kinds,
    planar_gap_config,
    rounded_box_distance,
    stem_solver_problem,
    stencil_matrix,
    tool_in_hole,
    tube_tool_overrides,
)

__all__ = [
    "FAST_STEM_TOML",
    "SOLVER_BENCHMARK_SPACINGS",
    "CoaxialProblem",
    "PotentialProblem",
    "assert_observed_order",
    "coaxial_cylinders",
    "drilling_config",
    "floating_pockets",
    "grid",
    "grid_tool_in_hole",
    "node_kinds",
    "observed_order",
    "pairwise_orders",
    "planar_gap_config",
    "rounded_box_distance",
    "stem_solver_problem",
    "stencil_matrix",
    "tool_in_hole",
    "tube_tool_overrides",
]
