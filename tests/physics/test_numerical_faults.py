"""Numerical faults end a run with a clear error and its context, never a silent wrong answer."""

from __future__ import annotations

import numpy as np
import pytest

from ecmsim.config import load_config
from ecmsim.errors import SolverError
from ecmsim.process import resolve
from ecmsim.simulation import Simulation

SMALL = ["motion.depth_mm=0.5", "numerics.cell_size_mm=0.02"]


def sim(*extra: str) -> Simulation:
    return Simulation(resolve(load_config("example:stem-in718", [*SMALL, *extra])))


def test_solver_non_convergence_names_step_time_and_residual() -> None:
    s = sim("numerics.max_solver_iterations=1", "numerics.solver=mic-cg")
    with pytest.raises(SolverError, match=r"did not converge at step 0, t = 0\.000 s.*relative residual .* after 1"):
        s.step()


def test_nan_in_the_level_set_is_caught() -> None:
    s = sim()
    s.step()
    s.state.psi_w[5, s.win.j0 + 3] = np.nan
    s.state.window = None  # re-read the window from the damaged level set
    with pytest.raises(SolverError, match=r"non-finite|did not converge"):
        s.step()


def test_time_step_above_stability_limit_is_refused(monkeypatch) -> None:
    s = sim()
    h, feed = s.domain.h, s.process.feed
    monkeypatch.setattr(s.stepper, "choose_dt", lambda state, vmax: 10.0 * h / max(vmax, feed))
    with pytest.raises(SolverError, match=r"above the stability limit at step 0.*limit 0\.5"):
        s.step()


def test_cli_maps_solver_error_to_exit_code_3(tmp_path) -> None:
    import subprocess
    import sys

    out = tmp_path / "never.h5"
    proc = subprocess.run(
        [sys.executable, "-c", "from ecmsim.cli.main import main; main()", "simulate", "example:stem-in718",
         "-o", str(out), *[a for o in [*SMALL, "numerics.max_solver_iterations=1", "numerics.solver=mic-cg"]
                           for a in ("--set", o)]],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert "did not converge" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
