"""Helpers shared by the QC tests (a module name of its own: tests/conftest.py is also "conftest")."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_cli(args: list[str], cwd: Path | None = None, timeout: float = 300) -> tuple[int, str, str]:
    """The real entry point (with its error boundary) in a subprocess."""
    proc = subprocess.run(
        [sys.executable, "-c", "from ecmsim.cli.main import main; main()", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )
    return proc.returncode, proc.stdout, proc.stderr


def assert_same_batch(a, b) -> None:
    for name in ("diameter", "x_dev", "y_dev", "device", "depth", "depth_device", "blocked"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.serials == b.serials and a.measured_at == b.measured_at and a.devices == b.devices
    np.testing.assert_array_equal(a.device_uncertainty, b.device_uncertainty)
    for name in ("nominal_diameter", "nominal_x", "nominal_y", "depth", "station_depth", "station_mask"):
        np.testing.assert_array_equal(getattr(a.design, name), getattr(b.design, name), err_msg=name)
    assert a.design.hole_id == b.design.hole_id and a.design.group == b.design.group
    assert {k: v for k, v in a.meta.items() if v} == {k: v for k, v in b.meta.items() if v}
