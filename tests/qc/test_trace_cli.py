"""Traceability (qc trace), synthesis and the demo through the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from qc_helpers import run_cli


def test_trace_lists_every_check_of_a_part(synth_files: dict[str, Path], tmp_path: Path) -> None:
    store = tmp_path / "store"
    spec2 = tmp_path / "simple.toml"
    spec2.write_text(synth_files["spec"].read_text().replace('rule = "non-binary"', 'rule = "simple"'))
    truth = json.loads(synth_files["truth"].read_text())
    unc = next(f for f in truth["faults"] if f["type"] == "uncertainty_zone")["serial"]
    for spec in (synth_files["spec"], spec2):
        code, _, err = run_cli(["qc", "check", synth_files["batch"], "--spec", spec, "--store", store])
        assert code == 1, err
    code, out, err = run_cli(["qc", "trace", unc, "--store", store, "--json"])
    assert code == 0, err
    recs = json.loads(out)
    assert [r["decision_rule"] for r in recs] == ["non-binary", "simple"]
    assert [r["verdict"] for r in recs] == ["conditional pass", "pass"]
    assert [r["accepted"] for r in recs] == [False, True]
    assert recs[0]["batch_id"] == "SYN-0001" and len(recs[0]["inspection_sha256"]) == 64
    assert recs[0]["measured_at"].startswith("2024-03-04T")
    code, out, _ = run_cli(["qc", "trace", unc, "--store", store])
    assert code == 0 and "2 record(s)" in out and "REJECTED" in out and "ACCEPTED" in out
    code, _, err = run_cli(["qc", "trace", "NO-SUCH-1", "--store", store])
    assert code == 2 and "no record" in err and "(2 records)" in err
    code, _, err = run_cli(["qc", "trace", unc, "--store", tmp_path / "nostore"])
    assert code == 2 and "no QC store" in err


def test_synth_cli_writes_everything(tmp_path: Path) -> None:
    out = tmp_path / "syn"
    code, stdout, err = run_cli(["qc", "synth", "-o", out, "--parts", "12", "--holes", "10", "--stations", "4"])
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["batch.h5", "design.csv", "measurements.csv", "spec.toml",
                                                     "truth.json"]  # fmt: skip
    assert "5 injected faults" in stdout
    lines = (out / "measurements.csv").read_text().splitlines()
    assert len(lines) == 1 + 12 * 10 * 4 and "blocked" in "".join(lines)
    code, _, err = run_cli(["qc", "synth", "-o", out, "--parts", "5"])
    assert code == 2 and "at least 10 parts" in err


def test_help_imports_no_numpy_with_qc_registered() -> None:
    code = "import sys; from ecmsim.cli.main import cli; print('numpy' in sys.modules or 'h5py' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    from ecmsim.cli.main import cli

    assert {"qc", "demo"} <= set(cli.commands) and {"import", "check", "trace", "synth"} <= set(
        cli.commands["qc"].commands  # type: ignore[attr-defined]
    )


def test_demo_runs_the_whole_loop(tmp_path: Path) -> None:
    """simulate → synth → check → report, verdicts against the ground truth (its speed: benchmarks/test_bench_qc.py)."""
    # A generous timeout: the first run in a fresh cache compiles the kernels.
    code, out, err = run_cli(["demo", "-o", tmp_path / "demo"], timeout=600)
    assert code == 0, err
    assert "verdicts agree with the ground truth" in out
    for name in ("report.html", "check.json", "stem-in718.h5", "batch/batch.h5", "batch/truth.json"):
        assert (tmp_path / "demo" / name).exists(), name
    assert len(list((tmp_path / "demo" / "store" / "results").glob("*.h5"))) == 1
