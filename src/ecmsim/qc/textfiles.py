"""Atomic writes of text outputs (CSV, TOML, JSON, HTML): temporary file, fsync, rename, folder fsync."""

from __future__ import annotations

from pathlib import Path

from ecmsim.errors import OutputError


def check_output_folder(path: str | Path) -> Path:
    """Fail early (before any work) when the folder of an output does not exist."""
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"{p}: folder {folder} does not exist")
    if p.is_dir():
        raise OutputError(f"{p}: is a folder, expected a file name")
    return p


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` so that it is either the old or the complete new file.

    Through :func:`ecmsim.io.common.atomic_write` (file and folder fsynced, mode 0644).
    """
    from ecmsim.io.common import atomic_write  # here: importing textfiles stays free of numpy

    p = check_output_folder(path)
    try:
        with atomic_write(p) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
    except OSError as exc:
        raise OutputError(f"{p}: cannot write: {exc.strerror or exc}") from None
