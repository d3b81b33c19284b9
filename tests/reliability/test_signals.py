"""SIGINT, SIGTERM and SIGHUP end a command with exit 130, 143 or 129, one line, nothing half-written.

Real processes are stopped while they work; the atomic write's part (the
temporary file removed, the target untouched, a swallowed signal still
honoured before the rename) is tested in this process, where the moment of
the signal can be chosen exactly.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ecmsim import interrupt
from ecmsim.interrupt import Interrupted

DATA = Path(__file__).resolve().parents[1] / "data"
CLI = [sys.executable, "-c", "from ecmsim.cli.main import main; main()"]
PREVIOUS = b"previous result: must survive an interrupted run\n"
#: Seconds after the handlers are installed when the signal is sent: the command is at work by then (a
#: finer grid than the example's keeps it busy for much longer).
DELAY_S = 1.5
SLOW = ["--set", "numerics.cell_size_mm=0.005", "--no-progress"]


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def wait_for_handlers(pid: int, timeout: float = 120.0) -> None:
    """Wait until process ``pid`` catches SIGTERM and SIGHUP (``SigCgt`` in ``/proc``): the command has started.

    A signal sent earlier, while Python still imports the command line, would have its default effect.
    """
    want = (1 << (signal.SIGTERM - 1)) | (1 << (signal.SIGHUP - 1))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status").read_text()
        caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
        if caught & want == want:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} never installed its signal handlers")


def test_each_signal_stops_simulate_with_its_code_and_leaves_the_target(tmp_path: Path) -> None:
    runs = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        work = tmp_path / sig.name
        work.mkdir()
        (work / "hole.h5").write_bytes(PREVIOUS)
        argv = [*CLI, "simulate", "example:stem-in718", *SLOW, "-o", "hole.h5"]
        runs[sig] = (work, subprocess.Popen(argv, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for _, proc in runs.values():
        wait_for_handlers(proc.pid)
    time.sleep(DELAY_S)
    for sig, (_, proc) in runs.items():
        assert proc.poll() is None, proc.communicate()  # still at work
        proc.send_signal(sig)
    for sig, (work, proc) in runs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 128 + sig, (proc.returncode, err)
        assert err.count("\n") == 1 and err.startswith(f"interrupted: stopped by {sig.name}"), err
        assert "Traceback" not in err and out == ""
        assert sorted(p.name for p in work.iterdir()) == ["hole.h5"]  # no temporary file
        assert (work / "hole.h5").read_bytes() == PREVIOUS


def test_ctrl_c_stops_a_parallel_sweep_and_its_workers(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text((DATA / "minimal.toml").read_text(encoding="utf-8"), encoding="utf-8")
    argv = [*CLI, "sweep", str(cfg), "--vary", "numerics.cell_size_mm=0.004,0.0045,0.005,0.0055", "--workers", "2",
            "--no-progress", "-o", "sw.h5"]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    wait_for_handlers(proc.pid)
    time.sleep(3 * DELAY_S)  # the workers have started
    assert proc.poll() is None
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: to every process of the group
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.startswith("interrupted: stopped by SIGINT") and "Traceback" not in err, err
    deadline = time.monotonic() + 30
    while True:  # the workers are gone with it
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "sweep workers still running"
        time.sleep(0.2)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert not (tmp_path / "sw.h5").exists()


@pytest.fixture
def handlers():  # type: ignore[no-untyped-def]
    restore = interrupt.install_handlers()
    yield
    restore()
    interrupt._received.clear()


def test_a_signal_while_writing_removes_the_temporary_file(tmp_path: Path, handlers: None) -> None:
    from ecmsim.io.common import atomic_write

    target = tmp_path / "out.txt"
    target.write_bytes(PREVIOUS)
    with pytest.raises(Interrupted) as info, atomic_write(target) as tmp:
        tmp.write_text("half")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)  # the handler runs here
    assert info.value.exit_code == 143
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"] and target.read_bytes() == PREVIOUS


def test_a_swallowed_signal_still_stops_the_rename(tmp_path: Path, handlers: None) -> None:
    """A signal whose exception a finaliser swallowed is remembered: the target is not replaced."""
    from ecmsim.io.common import atomic_write

    class Finaliser:
        def __del__(self) -> None:
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.5)  # Interrupted is raised here, inside __del__, and swallowed by Python

    target = tmp_path / "out.txt"
    target.write_bytes(PREVIOUS)
    with pytest.raises(Interrupted) as info, atomic_write(target) as tmp:
        tmp.write_text("whole but stopped")
        Finaliser()  # collected at once
    assert info.value.exit_code == 129
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"] and target.read_bytes() == PREVIOUS


def test_a_second_signal_does_not_interrupt_the_clean_up(handlers: None) -> None:
    with pytest.raises(Interrupted):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)
    os.kill(os.getpid(), signal.SIGTERM)  # recorded, not raised
    time.sleep(0.2)
    assert interrupt.received() == signal.SIGINT and interrupt._received[1:] == [signal.SIGTERM]
