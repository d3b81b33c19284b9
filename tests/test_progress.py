"""The shared progress bar: drawn on a terminal (a real pseudo-terminal), silent on a pipe and under -q."""

from __future__ import annotations

import io
import os
import pty
import re
import sys
from pathlib import Path

import pytest

from ecmsim.cli.progress import ProgressBar, clock, set_quiet


def _pty_stream() -> tuple[io.TextIOWrapper, int]:
    """A text stream on the slave side of a new pseudo-terminal, and the master's descriptor."""
    master, slave = pty.openpty()
    return io.TextIOWrapper(os.fdopen(slave, "wb", buffering=0), encoding="utf-8", write_through=True), master


def _read(master: int) -> str:
    os.set_blocking(master, False)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except (BlockingIOError, OSError):
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode("utf-8", "replace")


def test_bar_on_a_terminal_counts_and_estimates_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    stream, master = _pty_stream()
    now = [100.0]
    monkeypatch.setattr("ecmsim.cli.progress.time.monotonic", lambda: now[0])
    bar = ProgressBar("tune", total=8, unit="evaluations", stream=stream)
    assert bar.active
    for done in range(1, 9):
        now[0] += 2.0  # 2 s per evaluation
        bar.update(done, detail=f"point {done}")
    bar.close()
    text = _read(master)
    stream.close()
    os.close(master)
    frames = [f for f in re.split(r"[\r\n]+", text) if f.strip()]
    assert frames[0].startswith("tune [###---------------------] 1/8 evaluations  elapsed 0:02  left 0:14  point 1")
    assert "8/8 evaluations  elapsed 0:16  left 0:00" in frames[-1] and "#" * 24 in frames[-1]
    assert text.endswith("\r\n") or text.endswith("\n")  # the line is ended: what follows starts clean


def test_nothing_on_a_pipe_or_under_quiet_or_when_disabled() -> None:
    r, w = os.pipe()
    with os.fdopen(w, "w", encoding="utf-8") as pipe:
        bar = ProgressBar("sweep", total=3, stream=pipe)
        assert not bar.active
        for i in range(3):
            bar.update(i + 1)
        bar.close()
    with os.fdopen(r, encoding="utf-8") as fh:
        assert fh.read() == ""
    stream, master = _pty_stream()
    set_quiet(True)
    try:
        quiet = ProgressBar("sweep", total=3, stream=stream)
    finally:
        set_quiet(False)
    off = ProgressBar("sweep", total=3, stream=stream, enabled=False)
    for bar in (quiet, off):
        bar.update(3)
        bar.close()
        assert not bar.active
    assert _read(master) == ""
    stream.close()
    os.close(master)
    assert clock(59.6) == "1:00" and clock(3725) == "1:02:05"


def test_sweep_command_draws_the_bar_on_a_terminal_only(
    fast_config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through the real command: stderr a pseudo-terminal, then a pipe, then -q."""
    from ecmsim.cli.main import main

    def run(args: list[str], stderr: object) -> None:
        monkeypatch.setattr(sys, "stderr", stderr)
        with pytest.raises(SystemExit) as exc:
            main([str(a) for a in args])
        assert exc.value.code == 0

    argv = ["sweep", fast_config_file, "--vary", "electrical.voltage_V=6,7", "--workers", "1", "--mode", "equilibrium"]
    stream, master = _pty_stream()
    run([*argv, "-o", tmp_path / "a.h5"], stream)
    text = _read(master)
    assert re.search(r"sweep \[#{24}\] 2/2 points  elapsed \d+:\d\d  left 0:00", text), text
    out = capsys.readouterr().out
    assert "sweep written to" in out and "voltage_V" in out
    r, w = os.pipe()
    pipe = os.fdopen(w, "w", encoding="utf-8")
    run([*argv, "-o", tmp_path / "b.h5"], pipe)
    pipe.close()
    with os.fdopen(r, encoding="utf-8") as fh:
        assert "points" not in fh.read()
    capsys.readouterr()
    run(["-q", *argv, "-o", tmp_path / "c.h5"], stream)
    assert _read(master) == ""
    quiet_out = capsys.readouterr().out
    assert "voltage_V" in quiet_out and "written to" not in quiet_out  # results stay, notices go
    stream.close()
    os.close(master)
    set_quiet(False)


@pytest.fixture
def fast_config_file(tmp_path: Path) -> Path:
    from ecmsim.testing import FAST_STEM_TOML

    p = tmp_path / "fast.toml"
    p.write_text(FAST_STEM_TOML, encoding="utf-8")
    return p
