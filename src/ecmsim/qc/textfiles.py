"""Atomic writes of text outputs (CSV, TOML, JSON, HTML): temporary file, fsync, rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
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
    """Write UTF-8 ``text`` to ``path`` so that it is either the old or the complete new file."""
    p = check_output_folder(path)
    folder = p.parent if str(p.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"{p}: cannot write: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(f"{p}: cannot write: {exc.strerror or exc}") from None
    from ecmsim.io.common import remove_stale_temps  # here: textfiles stays free of numpy

    remove_stale_temps(p)
