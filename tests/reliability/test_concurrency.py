"""Two real processes writing into the same place at once: both succeed, nothing is lost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ecmsim.io import read_result

CLI = [sys.executable, "-c", "from ecmsim.cli.main import main; main()"]


def test_two_qc_checks_into_one_store(tmp_path: Path) -> None:
    batch = tmp_path / "synth"
    subprocess.run([*CLI, "qc", "synth", "-o", str(batch), "--parts", "30"], check=True, capture_output=True)
    store = tmp_path / "store"
    procs = [
        subprocess.Popen(
            [
                *CLI,
                "qc",
                "check",
                str(batch / "batch.h5"),
                "--spec",
                str(batch / "spec.toml"),
                "--store",
                str(store),
                "--json",
                str(tmp_path / f"out{k}.json"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(2)
    ]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    codes = [p.returncode for p in procs]
    # Synthetic batches carry injected faults: both runs reject some parts (exit 1), neither fails.
    assert all(c == 1 for c in codes), (codes, errs)
    results = sorted((store / "results").glob("*.h5"))
    assert len(results) == 2  # one record per check, none overwritten
    trace = subprocess.run([*CLI, "qc", "trace", "SN01-00001", "--store", str(store), "--json"],
                           capture_output=True, text=True)  # fmt: skip
    assert trace.returncode == 0, trace.stderr
    records = json.loads(trace.stdout)
    assert len({r["results_file"] for r in records}) == 2


def test_two_simulations_into_one_output(tmp_path: Path) -> None:
    out = tmp_path / "hole.h5"
    args = ["simulate", "example:stem-in718", "-o", str(out), "--set", "motion.depth_mm=0.3",
            "--set", "numerics.cell_size_mm=0.02"]  # fmt: skip
    procs = [
        subprocess.Popen(
            [*CLI, *args, "--set", f"electrical.voltage_V={v}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for v in (7.0, 7.5)
    ]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    data = read_result(out)  # the last rename wins; the file is one whole result
    assert data.config["electrical"]["voltage_V"] in (7.0, 7.5)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
