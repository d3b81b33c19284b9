"""SIGKILL real ecmsim processes while they write: targets are never left corrupt.

Each process is killed the moment its temporary output file appears (that is,
while it writes), and at random moments before.  Afterwards every target is
either absent, the previous complete file (same sha256), or a new complete
file that reads back.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest

from ecmsim.io import read_result
from ecmsim.io.batch import read_batch

CLI = [sys.executable, "-c", "from ecmsim.cli.main import main; main()"]
SIM = ["--set", "motion.depth_mm=0.4", "--set", "numerics.cell_size_mm=0.02"]


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def temp_files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob(".*") if p.name.endswith(".tmp")}


def run_and_kill(args: list[str], folder: Path, delay: float | None) -> bool:
    """Start ``ecmsim args``; SIGKILL it when a new temp file appears in ``folder`` (or after ``delay``).

    Returns True when the process was killed while one of its temporary files existed.
    """
    before = temp_files(folder)
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start = time.monotonic()
    mid_write = False
    try:
        while proc.poll() is None and time.monotonic() - start < 120:
            if delay is not None and time.monotonic() - start >= delay:
                break
            if delay is None and temp_files(folder) - before:
                mid_write = True
                break
            time.sleep(0.0005)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        else:
            mid_write = False
        proc.wait()
    return mid_write


@pytest.fixture(scope="module")
def batch_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("synth")
    subprocess.run([*CLI, "qc", "synth", "-o", str(d), "--parts", "40"], check=True, capture_output=True)
    return d


def test_simulate_killed_while_writing_leaves_previous_or_new_file(tmp_path: Path) -> None:
    out = tmp_path / "hole.h5"
    subprocess.run([*CLI, "simulate", "example:stem-in718", "-o", str(out), *SIM], check=True, capture_output=True)
    previous = sha(out)
    rng = random.Random(7)
    kills_mid_write = 0
    for delay in [None, None, None, *(rng.uniform(0.2, 3.0) for _ in range(3))]:
        args = ["simulate", "example:stem-in718", "-o", str(out), *SIM, "--set", "electrical.voltage_V=7.5"]
        kills_mid_write += run_and_kill(args, tmp_path, delay)
        assert out.exists()
        if sha(out) != previous:
            data = read_result(out)  # a new file must be complete
            assert data.summary["status"] == "completed"
            previous = sha(out)
    assert kills_mid_write >= 1  # the test really hit the write
    # The killed writers' temporary files stay (SIGKILL cannot be caught) until the next
    # successful write of the same file removes those older than an hour.
    left = temp_files(tmp_path)
    assert left
    stale = time.time() - 2 * 3600
    for p in left:
        os.utime(p, (stale, stale))
    fresh = tmp_path / ".hole.h5.abcd1234.tmp"  # as if another writer were busy right now
    fresh.write_bytes(b"")
    other = tmp_path / ".hole.h5.notours.tmp"  # not a name mkstemp makes
    other.write_bytes(b"")
    os.utime(other, (stale, stale))
    subprocess.run([*CLI, "simulate", "example:stem-in718", "-o", str(out), *SIM], check=True, capture_output=True)
    assert temp_files(tmp_path) == {fresh, other}


def test_qc_import_killed_leaves_no_partial_batch(tmp_path: Path, batch_dir: Path) -> None:
    rng = random.Random(11)
    kills_mid_write = 0
    for k, delay in enumerate([None, None, *(rng.uniform(0.05, 1.5) for _ in range(3))]):
        out = tmp_path / f"batch{k}.h5"
        args = ["qc", "import", str(batch_dir / "measurements.csv"), "--design", str(batch_dir / "design.csv"),
                "-o", str(out), "--batch-id", "B1", "--part-number", "P1", "--drawing-revision", "A"]  # fmt: skip
        kills_mid_write += run_and_kill(args, tmp_path, delay)
        if out.exists():
            batch = read_batch(out)  # complete, or it would not read
            assert len(batch.serials) == 40
    assert kills_mid_write >= 1


def test_qc_check_killed_leaves_no_corrupt_outputs(tmp_path: Path, batch_dir: Path) -> None:
    store = tmp_path / "store"
    report, js = tmp_path / "report.html", tmp_path / "out.json"
    rng = random.Random(13)
    kills_mid_write = 0
    for delay in [None, None, *(rng.uniform(0.05, 1.5) for _ in range(3))]:
        args = ["qc", "check", str(batch_dir / "batch.h5"), "--spec", str(batch_dir / "spec.toml"),
                "--store", str(store), "--report", str(report), "--json", str(js)]  # fmt: skip
        kills_mid_write += run_and_kill(args, tmp_path, delay)
        if js.exists():
            json.loads(js.read_text(encoding="utf-8"))
        if report.exists():
            assert report.read_text(encoding="utf-8").rstrip().endswith("</html>")
        for f in (store / "results").glob("*.h5") if (store / "results").exists() else []:
            with h5py.File(f, "r") as h:
                assert "schema" in h.attrs
    assert kills_mid_write >= 1
