"""ecmsim: simulation and quality control of electrochemical drilling.

The public API is imported lazily so that ``import ecmsim`` (and the CLI's
``--help``) stays fast: ``ecmsim.simulate``, ``ecmsim.load_config``, ``ecmsim.grid_study``.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "grid_study", "load_config", "simulate"]


def __getattr__(name: str) -> Any:
    if name == "simulate":
        from ecmsim.simulation import simulate

        return simulate
    if name == "grid_study":
        from ecmsim.grid_study import grid_study

        return grid_study
    if name == "load_config":
        from ecmsim.config import load_config

        return load_config
    raise AttributeError(f"module 'ecmsim' has no attribute {name!r}")
