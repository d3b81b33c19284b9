"""Unit conversions between the user-facing units and SI (used inside).

Configs and reports use the units engineers use (mm, V, mm/min, A, S/m,
°C, A/cm²); everything inside ecmsim is SI.  Convert only at the edges.
"""

from __future__ import annotations

#: Faraday constant, C/mol (CODATA 2018, exact by the 2019 SI).
FARADAY = 96485.33212

MM = 1.0e-3  # m per mm
UM = 1.0e-6  # m per µm
MM_PER_MIN = 1.0e-3 / 60.0  # m/s per mm/min
A_PER_CM2 = 1.0e4  # A/m² per A/cm²
G_PER_CM3 = 1.0e3  # kg/m³ per g/cm³
MM3 = 1.0e-9  # m³ per mm³
MS = 1.0e-3  # s per ms
MPA_S = 1.0e-3  # Pa·s per mPa·s
MM_PER_UM = 1.0e-3  # mm per µm (command-line cell sizes in µm to the config's mm)


def mm(value_m: float) -> float:
    """Convert metres to millimetres."""
    return value_m / MM


def mm_per_min(value_m_per_s: float) -> float:
    """Convert m/s to mm/min."""
    return value_m_per_s / MM_PER_MIN
