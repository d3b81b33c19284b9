"""Helpers shared by the reliability tests (imported as ``from reliability_helpers import …``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def run_in(cwd: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``ecmsim ARGV`` in this process from folder ``cwd``, through the real error boundary.

    Returns the exit code and what the command wrote to stdout and to stderr (output
    captured before the call is discarded).
    """
    from ecmsim.cli.main import main

    capsys.readouterr()
    old = Path.cwd()
    os.chdir(cwd)
    try:
        with pytest.raises(SystemExit) as exc:
            main(argv)
    finally:
        os.chdir(old)
    captured = capsys.readouterr()
    return int(exc.value.code or 0), captured.out, captured.err
