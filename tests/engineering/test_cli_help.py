"""Every engineering command has --help, and importing the command modules stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "args",
    [
        ["sweep"],
        ["tune"],
        ["calibrate"],
        ["plot"],
        ["plot", "profile"],
        ["plot", "field"],
        ["plot", "window"],
        ["plot", "history"],
        ["plot", "flow"],
        ["sweep", "show"],
    ],
)
def test_help(args: list[str], run_main) -> None:
    code, out, err = run_main([*args, "--help"])
    assert code == 0, err
    assert "Usage:" in out


def test_command_modules_import_no_numpy() -> None:
    code = (
        "import sys; import ecmsim.cli.sweep_cmd, ecmsim.cli.tune_cmd, ecmsim.cli.calibrate_cmd, ecmsim.cli.plot_cmd;"
        "bad = [m for m in ('numpy', 'numba', 'scipy', 'matplotlib', 'h5py', 'distributed') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
