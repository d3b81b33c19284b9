"""The one atomic-write helper: fsync of the file and its folder, rename last, nothing left on failure.

Every output of ecmsim goes through :func:`ecmsim.io.common.atomic_write`:
HDF5 files (``atomic_h5``), text outputs (``write_text_atomic``), plots and
the inputs archived in a QC store.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ecmsim.errors import OutputError
from ecmsim.io import common
from ecmsim.io.common import atomic_h5, atomic_write


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Record every fsync (of a file or a folder) and rename, in order."""
    log: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        log.append(("fsync", "folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"))
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        log.append(("replace", Path(dst).name))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return log


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_file_fsync_rename_folder_fsync_in_that_order(tmp_path: Path, events: list[tuple[str, str]]) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_write(target) as tmp:
        tmp.write_text("new")
        assert target.read_text() == "old"  # the target is untouched while the file is written
    assert events == [("fsync", "file"), ("replace", "out.txt"), ("fsync", "folder")]
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_target_changes_only_at_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    seen: list[str] = []
    real_replace = os.replace

    def replace(src: str | Path, dst: str | Path) -> None:
        seen.append(Path(dst).read_text())  # just before the rename: still the old file
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with atomic_write(target) as tmp:
        tmp.write_text("new")
    assert seen == ["old"] and target.read_text() == "new"


@pytest.mark.parametrize("where", ["body", "fsync", "chmod", "replace"])
def test_exception_leaves_target_unchanged_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")

    def boom(*a: object, **k: object) -> None:
        raise OSError(5, "Input/output error")

    if where == "fsync":
        monkeypatch.setattr(common, "fsync_path", boom)
    elif where != "body":
        monkeypatch.setattr(os, where, boom)
    with pytest.raises(OSError, match="Input/output error"), atomic_write(target) as tmp:
        tmp.write_text("new")
        if where == "body":
            boom()
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_missing_folder_is_an_output_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not exist"), atomic_write(tmp_path / "nope" / "x.txt"):
        pass


def test_mode_as_given_or_reduced_by_the_umask(tmp_path: Path) -> None:
    with atomic_write(tmp_path / "a", mode=0o444) as tmp:
        tmp.write_bytes(b"x")
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o444
    old = os.umask(0o027)
    try:
        with atomic_write(tmp_path / "b", mode=0o644, umask=True) as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "b").stat().st_mode) == 0o640


def test_stale_temporaries_removed_after_a_successful_write(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    stale = tmp_path / ".out.txt.abcd1234.tmp"
    stale.write_text("left by a killed writer")
    os.utime(stale, (0, 0))
    with atomic_write(target) as tmp:
        tmp.write_text("new")
    assert not stale.exists()


def test_hdf5_outputs_are_fsynced(tmp_path: Path, events: list[tuple[str, str]]) -> None:
    with atomic_h5(tmp_path / "x.h5") as f:
        f.attrs["a"] = 1
    assert events == [("fsync", "file"), ("replace", "x.h5"), ("fsync", "folder")]


def test_text_outputs_are_fsynced(tmp_path: Path, events: list[tuple[str, str]]) -> None:
    from ecmsim.qc.textfiles import write_text_atomic

    write_text_atomic(tmp_path / "r.json", "{}")
    assert events == [("fsync", "file"), ("replace", "r.json"), ("fsync", "folder")]
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o644


def test_text_output_failure_is_an_output_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ecmsim.qc.textfiles import write_text_atomic

    (tmp_path / "r.json").write_text("old")

    def boom(*a: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OutputError, match=r"r\.json: cannot write: the disk is full.*No space left on device"):
        write_text_atomic(tmp_path / "r.json", "new")
    assert (tmp_path / "r.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_plots_are_fsynced(tmp_path: Path, events: list[tuple[str, str]]) -> None:
    from ecmsim.engineering.plots import _figure, _save

    fig = _figure()
    fig.add_subplot().plot([0, 1], [0, 1])
    _save(fig, tmp_path / "p.svg")
    assert events == [("fsync", "file"), ("replace", "p.svg"), ("fsync", "folder")]
    assert [p.name for p in tmp_path.iterdir()] == ["p.svg"]


def test_archived_inputs_are_fsynced_and_read_only(tmp_path: Path, events: list[tuple[str, str]]) -> None:
    from ecmsim.io.store import open_store

    src = tmp_path / "spec.toml"
    src.write_text("x = 1\n")
    qs = open_store(tmp_path / "store", create=True)
    with qs.staging() as stg:
        staged = qs.stage_copy(stg, "spec", src, ".toml")
        events.clear()
        qs.area.place(staged)  # type: ignore[union-attr]
    dest = tmp_path / "store" / staged.path
    assert events == [("replace", dest.name), ("fsync", "folder")]  # the staged copy was fsynced when made
    assert dest.read_text() == "x = 1\n" and stat.S_IMODE(dest.stat().st_mode) == 0o444
    with qs.staging() as stg:
        again = qs.stage_copy(stg, "spec", src, ".toml")
        events.clear()
        qs.area.place(again)  # type: ignore[union-attr]
    assert events == []  # already there (its full hash checked): not copied again


def test_records_get_their_modes(tmp_path: Path) -> None:
    """Inspection batches 0644 and QC results 0444, both less the umask; results 0644."""
    import numpy as np

    from ecmsim.io.common import RESULT_FILE, write_header
    from ecmsim.io.qc_results import qc_result_file

    with qc_result_file(
        tmp_path / "q.h5", attrs={}, texts={}, inputs=[], serials=["A1"], measured_at=[""], hole_id=["H1"],
        station_depth=np.array([0.5]), characteristics=["diameter"], arrays=[],
    ):  # fmt: skip
        pass
    assert stat.S_IMODE((tmp_path / "q.h5").stat().st_mode) == 0o444 & ~_umask()
    with atomic_h5(tmp_path / "r.h5") as f:
        write_header(f, RESULT_FILE)
    assert stat.S_IMODE((tmp_path / "r.h5").stat().st_mode) == 0o644
