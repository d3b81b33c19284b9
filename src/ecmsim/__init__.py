"""ecmsim: simulation and quality control of electrochemical drilling."""

from __future__ import annotations

__version__ = "0.1.0"
