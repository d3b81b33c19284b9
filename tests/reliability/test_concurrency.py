"""Real processes writing into one place at once: all succeed with distinct results or fail saying why; none lost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ecmsim.io import read_result
from ecmsim.testing import FAST_STEM_TOML

CLI = [sys.executable, "-c", "from ecmsim.cli.main import main; main()"]


def test_eight_qc_checks_into_one_store(tmp_path: Path, store_location: str) -> None:
    batch = tmp_path / "synth"
    subprocess.run([*CLI, "qc", "synth", "-o", str(batch), "--parts", "30"], check=True, capture_output=True)
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
                store_location,
                "--json",
                str(tmp_path / f"out{k}.json"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(8)
    ]
    errs = [p.communicate(timeout=600)[1] for p in procs]
    codes = [p.returncode for p in procs]
    # Synthetic batches carry injected faults: every run rejects some parts (exit 1), none fails.
    assert all(c == 1 for c in codes), (codes, errs)
    trace = subprocess.run([*CLI, "qc", "trace", "SN01-00001", "--store", store_location, "--json"],
                           capture_output=True, text=True)  # fmt: skip
    assert trace.returncode == 0, trace.stderr
    records = json.loads(trace.stdout)
    assert len({r["results_file"] for r in records}) == 8  # one record per check, none lost
    assert [r["record"] for r in records] == list(range(1, 9)) and all(r["verified"] for r in records)
    # each re-check supersedes the one before it, in the order the store committed them
    assert [r["supersedes"] for r in records[1:]] == [r["uid"] for r in records[:-1]]
    from ecmsim.io.store import open_store

    assert open_store(store_location).verify().ok


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


# --------------------------------------------------------------------------- one output file, many writers
def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(procs: list[subprocess.Popen[str]], timeout: float = 600) -> list[tuple[int, str, str]]:
    outs = [p.communicate(timeout=timeout) for p in procs]
    return [(p.returncode, o, e) for p, (o, e) in zip(procs, outs, strict=True)]


def _assert_one_record_written(runs: list[tuple[int, str, str]], ok: tuple[int, ...], tmp_path: Path) -> int:
    """Exactly one run wrote the record; every other one failed with exit 4 saying why. The winner's index."""
    won = [k for k, (code, _, _) in enumerate(runs) if code in ok]
    assert len(won) == 1, [(c, e[-300:]) for c, _, e in runs]
    for k, (code, _, err) in enumerate(runs):
        if k == won[0]:
            continue
        assert code == 4, (code, err)
        assert err.startswith("error: ") and "Traceback" not in err, err
        assert "never overwritten" in err or err.startswith("error: busy: another ecmsim process is writing"), err
    assert not [p for p in tmp_path.rglob("*.tmp")]
    return won[0]


def test_eight_qc_imports_to_one_file_one_wins_nothing_is_lost(tmp_path: Path) -> None:
    from ecmsim.io import read_batch
    from ecmsim.qc.synth import synthesize, write_synthetic

    write_synthetic(tmp_path, synthesize(n_parts=150, n_holes=20, n_stations=4))
    out = tmp_path / "lot.h5"
    meta = ["--part-number", "P1", "--drawing-revision", "A"]
    args = ["qc", "import", "measurements.csv", "--design", "design.csv", "-o", "lot.h5"]
    procs = [_start([*args, "--batch-id", f"LOT-{k}", *meta], tmp_path) for k in range(8)]
    runs = _finish(procs)
    winner = _assert_one_record_written(runs, (0,), tmp_path)
    assert "inspection batch written to lot.h5" in runs[winner][1]
    assert read_batch(out).meta["batch_id"] == f"LOT-{winner}"  # the file is the one the winner reported


def test_eight_spc_freezes_to_one_file_one_wins_nothing_is_lost(tmp_path: Path) -> None:
    from ecmsim.io.common import sha256_file
    from ecmsim.io.spc_limits import read_spc_limits
    from ecmsim.qc.synth import synthesize, write_synthetic

    for k in range(8):
        (tmp_path / f"b{k}").mkdir()
        write_synthetic(tmp_path / f"b{k}", synthesize(n_parts=40, n_holes=6, seed=k + 1, faults=False), csv=False)
    procs = [
        _start(["qc", "spc", f"b{k}/batch.h5", "--spec", f"b{k}/spec.toml", "--freeze", "limits.h5"], tmp_path)
        for k in range(8)
    ]
    runs = _finish(procs)
    winner = _assert_one_record_written(runs, (0, 1), tmp_path)
    assert "Phase I limits frozen in limits.h5" in runs[winner][1]
    limits = read_spc_limits(tmp_path / "limits.h5")
    assert [h for _, h in limits.sources] == [sha256_file(tmp_path / f"b{winner}" / "batch.h5")]


def test_three_sweeps_extending_one_file_keep_every_point(tmp_path: Path) -> None:
    from ecmsim.io.sweep import journal_path, read_sweep

    cfg = tmp_path / "fast.toml"
    cfg.write_text(FAST_STEM_TOML, encoding="utf-8")
    base = ["sweep", "fast.toml", "-o", "s.h5", "--workers", "1", "--no-progress"]
    first = subprocess.run([*CLI, *base, "--vary", "electrical.voltage_V=6"], cwd=tmp_path, capture_output=True)
    assert first.returncode == 0, first.stderr
    lists = ["6.5,7,7.5", "8,8.5,9", "9.5,10,10.5"]
    procs = [_start([*base, "--vary", f"electrical.voltage_V={v}"], tmp_path) for v in lists]
    runs = _finish(procs)
    assert [c for c, _, _ in runs] == [0, 0, 0], [e[-300:] for _, _, e in runs]
    sweep = read_sweep(tmp_path / "s.h5")
    volts = sorted(float(v[0]) for v in sweep.values)
    assert volts == [6.0, 6.5, 7.0, 7.5, 8.0, 8.5, 9.0, 9.5, 10.0, 10.5]  # nobody's points lost
    assert len(set(sweep.param_hash)) == 10 and set(sweep.status) == {"completed"}
    assert not journal_path(tmp_path / "s.h5").exists()


def test_a_held_folder_lock_makes_a_writer_busy_and_dies_with_its_holder(tmp_path: Path) -> None:
    import os
    import signal

    out = tmp_path / "synth"
    out.mkdir()
    hold = "import sys, time\nfrom ecmsim.io.common import output_lock\nwith output_lock(sys.argv[1]):\n"
    hold += "    print('held', flush=True)\n    time.sleep(120)\n"
    holder = subprocess.Popen([sys.executable, "-c", hold, str(out / "x")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        env = {**os.environ, "ECMSIM_LOCK_WAIT_S": "0.5"}
        args = [*CLI, "qc", "synth", "-o", str(out), "--parts", "2", "--holes", "2", "--stations", "2", "--no-faults"]
        busy = subprocess.run(args, capture_output=True, text=True, env=env)
        assert busy.returncode == 4, busy.stderr
        assert busy.stderr.startswith(f"error: busy: another ecmsim process is writing {out}"), busy.stderr
        assert list(out.iterdir()) == []  # nothing written, no temporary file left
        holder.send_signal(signal.SIGKILL)  # the lock goes with its process
        holder.wait(timeout=30)
        done = subprocess.run(args, capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        assert (out / "batch.h5").is_file()
    finally:
        holder.kill()
        holder.wait(timeout=30)
        if holder.stdout is not None:
            holder.stdout.close()
