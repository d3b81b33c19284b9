"""Full disks and read-only targets: exit 4 with a message naming the output, for every command that writes.

A full disk is simulated portably, without a privileged mount: each command
runs in a subprocess whose file-size limit (``RLIMIT_FSIZE``) is smaller than
its output, so every write beyond it fails as a write to a full disk does
(Python ignores ``SIGXFSZ``; the write returns ``EFBIG``).  The same path is
taken by ``ENOSPC`` (tested in-process by making the write itself fail, and
by a folder whose free space is smaller than the file).  Read-only targets
are a folder in which no file can be created (``EROFS`` injected in-process,
as permissions do not stop the root user).

Each case asserts exit 4, ``error: `` and one paragraph naming the output, no
traceback, and the working folder byte for byte as before (no temporary or
partial file).
"""

from __future__ import annotations

import errno
import hashlib
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ecmsim.errors import OutputError

DATA = Path(__file__).resolve().parents[1] / "data"
BAD = DATA / "bad"
CLI = [sys.executable, "-c", "from ecmsim.cli.main import main; main()"]
SIM = ["--set", "motion.depth_mm=0.3", "--set", "numerics.cell_size_mm=0.04"]
META = ["--batch-id", "B9", "--part-number", "P1", "--drawing-revision", "A"]
SPC = ["qc", "spc", "batch.h5", "--spec", "spec.toml"]
LIMIT = 1024  # bytes: below the size of every output below (HDF5 files start at about 2 KB)

# (id, argv, the output the message must name); every output is new in the folder
CASES = [
    ("simulate", ["simulate", "example:stem-in718", *SIM, "-o", "out.h5"], "out.h5"),
    ("simulate-equilibrium", ["simulate", "cfg.toml", "--equilibrium", "-o", "eq.h5"], "eq.h5"),
    ("sweep", ["sweep", "cfg.toml", "--mode", "equilibrium", "--vary", "electrical.voltage_V=8,9", "--workers", "1",
               "-o", "sw.h5"], "sw.h5"),
    ("plot-profile", ["plot", "profile", "result.h5", "-o", "p.svg"], "p.svg"),
    ("qc-import", ["qc", "import", "measurements.csv", "--design", "design.csv", "-o", "new.h5", *META], "new.h5"),
    ("qc-check-new-store", ["qc", "check", "batch.h5", "--spec", "spec.toml", "--store", "st"], "st"),
    ("qc-check-store", ["qc", "check", "batch.h5", "--spec", "spec.toml", "--store", "store", "--report", "r.html"],
     "store"),  # the record comes first, and it does not fit
    ("qc-export", ["qc", "export", "record.h5", "--format", "aqdef", "-o", "x.dfq"], "x.dfq"),
    ("qc-synth", ["qc", "synth", "-o", "syn", "--parts", "3", "--holes", "2", "--stations", "2", "--no-faults"],
     "syn"),
    ("qc-spc-freeze", [*SPC, "--freeze", "lim.h5"], "lim.h5"),
    ("qc-spc-json", [*SPC, "--json", "spc.json"], "spc.json"),
]  # fmt: skip


def _snapshot(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _run(argv: list[str], cwd: Path, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    def lower_limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    pre = lower_limit if limit is not None else None
    return subprocess.run([*CLI, *argv], cwd=cwd, capture_output=True, text=True, timeout=600, preexec_fn=pre)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Inputs of every case, and the kernels compiled (so that no cache file needs writing under the limit)."""
    root = tmp_path_factory.mktemp("disk-full")
    shutil.copyfile(DATA / "minimal.toml", root / "cfg.toml")
    for name in ("measurements.csv", "design.csv"):
        shutil.copyfile(BAD / "csv" / name, root / name)
    for name in ("batch.h5", "spec.toml", "result.h5"):
        shutil.copyfile(BAD / "base" / name, root / name)
    for warm in (["simulate", "example:stem-in718", *SIM, "-o", "warm.h5"], ["simulate", "cfg.toml", "--equilibrium",
                 "-o", "warm.h5"]):  # fmt: skip
        proc = _run(warm, root)
        assert proc.returncode == 0, proc.stderr
    check = _run(["qc", "check", "batch.h5", "--spec", "spec.toml", "--store", "store"], root)
    assert check.returncode in (0, 1), check.stderr
    shutil.copyfile(next((root / "store" / "results").glob("*.h5")), root / "record.h5")
    (root / "warm.h5").unlink()
    return root


@pytest.fixture(scope="module")
def outcomes(template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every case run once under the limit, a few at a time (each is a fresh interpreter)."""
    from concurrent.futures import ThreadPoolExecutor

    root = tmp_path_factory.mktemp("disk-full-runs")

    def one(case: tuple[str, list[str], str]) -> tuple[Path, dict[str, str], subprocess.CompletedProcess[str]]:
        work = root / case[0]
        shutil.copytree(template, work)
        before = _snapshot(work)
        return work, before, _run(case[1], work, limit=LIMIT)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip([c[0] for c in CASES], pool.map(one, CASES), strict=True))


@pytest.mark.parametrize(("case", "argv", "output"), [pytest.param(i, a, o, id=i) for i, a, o in CASES])
def test_a_full_disk_is_exit_4_with_a_message_and_leaves_nothing(
    outcomes: dict[str, Any], case: str, argv: list[str], output: str
) -> None:
    work, before, proc = outcomes[case]
    err = proc.stderr
    assert proc.returncode == 4, f"exit {proc.returncode}:\n{err}"
    assert err.startswith("error: ") and "Traceback" not in err and "internal error" not in err, err
    assert "\n\n" not in err.strip(), err
    assert output in err and "size" in err, err  # names the output and the file-size limit
    after = _snapshot(work)
    if argv[0] == "sweep":  # finished points stay in the journal, for the rerun that resumes the sweep
        assert after.pop("sw.h5.journal", None) is not None and "journal" in err, err
    assert after == before


def _h5_write(path: Path) -> None:
    import numpy as np

    from ecmsim.io.common import atomic_h5, write_dataset

    with atomic_h5(path) as f:
        write_dataset(f, "x", np.arange(10_000.0), "m", "test values")


def test_enospc_while_writing_is_an_output_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "x.h5"
    target.write_bytes(b"old")
    real_write = os.write

    def full(fd: int, data: bytes) -> int:
        if len(data) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OutputError, match=r"x\.h5: cannot write: the disk is full.*nothing was written"):
        _h5_write(target)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["x.h5"]


def test_too_little_free_space_is_refused_before_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.statvfs

    class Full:
        def __init__(self, st: os.statvfs_result) -> None:
            self.f_frsize, self.f_bavail = st.f_frsize, 1

    monkeypatch.setattr(os, "statvfs", lambda p: Full(real(p)))
    with pytest.raises(OutputError, match=r"x\.h5: cannot write: the disk is full \(0\.0\d+ MB needed"):
        _h5_write(tmp_path / "x.h5")
    assert list(tmp_path.iterdir()) == []


def test_a_read_only_folder_is_refused_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    from ecmsim.io.guard import refuse_unsafe_outputs

    def read_only(*a: object, **k: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(OutputError, match=r"out\.h5: cannot write into .*: the file system is read-only"):
        refuse_unsafe_outputs([("-o", tmp_path / "out.h5")])
    with pytest.raises(OutputError, match=r"st: cannot write into .*: the file system is read-only"):
        refuse_unsafe_outputs([], stores=[tmp_path / "st"])
    assert list(tmp_path.iterdir()) == []
