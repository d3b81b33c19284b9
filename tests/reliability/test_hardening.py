"""Hostile inputs beyond the corpus: damaged sweep and limits files, faulty predictions, huge echoes, modes.

These need files made on the spot (a sweep, frozen limits, a copy of the
corpus result with one change), so they live here rather than in
``tests/data/bad``.  Each runs the real command line in this process
(``ecmsim.cli.main.main``) and asserts the exit code, one ``error:``
paragraph naming the file and what is wrong, and no output written.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from reliability_helpers import run_in

DATA = Path(__file__).resolve().parents[1] / "data"
BASE = DATA / "bad" / "base"
CLI = [sys.executable, "-c", "from ecmsim.cli.main import main; main()"]
#: A change made to an HDF5 file open for appending.
Edit = Callable[[h5py.File], None]
#: The sweep that makes sweep.h5, and resumes it.
SWEEP = ["sweep", "cfg.toml", "--mode", "equilibrium", "--vary", "electrical.voltage_V=8,9", "--workers", "1",
         "-o", "sweep.h5"]  # fmt: skip


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-point equilibrium sweep and frozen SPC limits of the corpus batch."""
    root = tmp_path_factory.mktemp("hardening")
    shutil.copyfile(DATA / "minimal.toml", root / "cfg.toml")
    for name in ("batch.h5", "spec.toml", "result.h5"):
        shutil.copyfile(BASE / name, root / name)
    for argv in (SWEEP, ["qc", "spc", "batch.h5", "--spec", "spec.toml", "--freeze", "limits.h5"]):
        proc = subprocess.run([*CLI, *argv], cwd=root, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    return root


def _replace(name: str, value: Any) -> Edit:
    def edit(f: h5py.File) -> None:
        del f[name]
        f[name] = value

    return edit


def _delete(name: str) -> Edit:
    def edit(f: h5py.File) -> None:
        del f[name]

    return edit


def _truncate(path: Path) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


SWEEP_DAMAGE = {
    "bad-json": (_replace("base_config_json", "{cut short"), "JSONDecodeError"),
    "plan-shape": (_replace("plan/values", np.zeros(3)), "/plan/values has 3 entries, /plan/param_hash has 2"),
    "metric-length": (_replace("points/diameter_mm", np.zeros(5)), "/points/diameter_mm has 5 entries"),
    "status-missing": (_delete("points/status"), "missing"),
    "truncated": (None, "not a readable HDF5 file"),
}
LIMITS_DAMAGE = {
    "mu-text": (_replace("series/003/mu", "x"), "could not convert"),
    "sigma-missing": (_delete("series/003/sigma"), "lacks"),
    "sigma-nan": (_replace("series/003/sigma", np.nan), "sigma = nan"),
    "truncated": (None, "not a readable HDF5 file"),
}


def _damaged(made: Path, work: Path, name: str, edit: Edit | None) -> Path:
    work.mkdir()
    for p in made.iterdir():
        shutil.copyfile(p, work / p.name)
    if edit is None:
        _truncate(work / name)
    else:
        with h5py.File(work / name, "a") as f:
            edit(f)
    return work


def _assert_refused(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert err.startswith("error: ") and "internal error" not in err and "\n\n" not in err.strip(), err
    for n in needles:
        assert n in err, err


@pytest.mark.parametrize(("edit", "needle"), SWEEP_DAMAGE.values(), ids=list(SWEEP_DAMAGE))
def test_a_damaged_sweep_file_is_refused_by_plot_and_by_a_resumed_sweep(
    made: Path, tmp_path: Path, edit: Edit | None, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    work = _damaged(made, tmp_path / "w", "sweep.h5", edit)
    before = sorted(p.name for p in work.iterdir())
    code, _, err = run_in(work, ["plot", "window", "sweep.h5", "--x", "electrical.voltage_V", "-o", "w.svg"], capsys)
    _assert_refused(code, err, "sweep.h5", needle)
    code, _, err = run_in(work, SWEEP, capsys)
    _assert_refused(code, err, "sweep.h5", needle)
    assert sorted(p.name for p in work.iterdir()) == before


@pytest.mark.parametrize(("edit", "needle"), LIMITS_DAMAGE.values(), ids=list(LIMITS_DAMAGE))
def test_a_damaged_limits_file_is_refused(
    made: Path, tmp_path: Path, edit: Edit | None, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    work = _damaged(made, tmp_path / "w", "limits.h5", edit)
    argv = ["qc", "spc", "batch.h5", "--spec", "spec.toml", "--limits", "limits.h5", "--json", "o.json"]
    code, _, err = run_in(work, argv, capsys)
    _assert_refused(code, err, "limits.h5", needle)
    assert not (work / "o.json").exists()


@pytest.mark.parametrize("status", ["short_circuit", "limit_exceeded", "max_steps"])
def test_a_faulted_simulation_is_not_accepted_as_a_prediction(
    made: Path, tmp_path: Path, status: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def faulted(f: h5py.File) -> None:
        summary = json.loads(f["summary_json"][()])
        summary["status"] = status
        del f["summary_json"]
        f["summary_json"] = json.dumps(summary)
        f.attrs["status"] = status

    work = _damaged(made, tmp_path / "w", "result.h5", faulted)
    argv = ["qc", "check", "batch.h5", "--spec", "spec.toml", "--predictions", "result.h5", "--store", "st"]
    code, _, err = run_in(work, argv, capsys)
    _assert_refused(code, err, "result.h5", f"status {status!r}", "not a prediction")
    assert not (work / "st").exists()


def test_a_huge_echoed_value_is_cut_in_the_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (DATA / "minimal.toml").read_text(encoding="utf-8")
    (tmp_path / "c.toml").write_text(text.replace('"Inconel 718"', '"' + "X" * 5_000_000 + '"'), encoding="utf-8")
    code, _, err = run_in(tmp_path, ["config", "validate", "c.toml"], capsys)
    assert code == 2 and len(err) < 2500, len(err)
    assert "c.toml" in err and "[workpiece] alloy" in err and "characters left out" in err, err


def test_outputs_respect_the_umask(tmp_path: Path) -> None:
    from ecmsim.io.common import atomic_h5
    from ecmsim.qc.textfiles import write_text_atomic

    old = os.umask(0o077)
    try:
        write_text_atomic(tmp_path / "a.json", "{}")
        with atomic_h5(tmp_path / "r.h5") as f:
            f.attrs["x"] = 1
    finally:
        os.umask(old)
    for name in ("a.json", "r.h5"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
