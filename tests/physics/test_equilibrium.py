"""Equilibrium mode: the steady hole shape seen from the tool."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ecmsim.config import load_config
from ecmsim.equilibrium import solve_equilibrium, transient_gaps
from ecmsim.errors import ConfigError
from ecmsim.simulation import simulate

OVERRIDES = ["tool.outer_diameter_mm=1.0", "tool.inner_diameter_mm=0.5", "numerics.cell_size_mm=0.02"]


def test_equilibrium_agrees_with_end_of_long_transient() -> None:
    eq = solve_equilibrium(load_config("example:stem-in718", OVERRIDES))
    assert eq.converged
    long_run = simulate("example:stem-in718", overrides=[*OVERRIDES, "motion.depth_mm=6.0"])
    frontal, side = transient_gaps(long_run)
    # Measured at 20 µm cells: 0.04 µm (frontal) and 1.2 µm (side).
    assert abs(eq.frontal_gap - frontal) < 2e-6
    assert abs(eq.side_gap - side) < 2e-6
    # The 2-D frontal gap under a tube is smaller than the 1-D (planar) h_e.
    assert eq.frontal_gap < eq.process.equilibrium_gap


def test_equilibrium_refuses_a_bare_tool() -> None:
    with pytest.raises(ConfigError, match="needs a coated tool"):
        solve_equilibrium(load_config("example:ecd-marm509-nacl-bare"))


def test_cli_equilibrium_json(tmp_path) -> None:
    out = tmp_path / "eq.h5"
    proc = subprocess.run(
        [sys.executable, "-c", "from ecmsim.cli.main import main; main()", "simulate", "example:stem-in718",
         "--equilibrium", "--json", "-o", str(out), *[a for o in OVERRIDES for a in ("--set", o)]],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["status"] == "equilibrium" and data["side_gap_mm"] > 0.3 and out.exists()
