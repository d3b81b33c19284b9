"""Shared HDF5 helpers: atomic writes, provenance, datasets with units.

Every ecmsim HDF5 file is written through :func:`atomic_h5` (temporary
file in the target folder, flush, fsync, rename) and every numeric dataset
through :func:`write_dataset` (units and description attributes, chunked
gzip + shuffle + fletcher32 for large arrays).  Read files with
:func:`open_h5`, which turns every failure into an :class:`InputDataError`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ecmsim.errors import InputDataError, OutputError


@contextlib.contextmanager
def atomic_h5(path: str | Path) -> Iterator[Any]:
    """Open a temporary HDF5 file beside ``path``; rename it into place on success.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    import h5py

    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"{target}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        with h5py.File(tmp, "w", libver="earliest") as f:
            yield f
            f.flush()
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_provenance(f: Any) -> None:
    """Record ecmsim, h5py, HDF5 and NumPy versions and the time of writing on ``f``."""
    import datetime

    import h5py

    from ecmsim import __version__

    f.attrs["ecmsim_version"] = __version__
    f.attrs["h5py_version"] = h5py.version.version
    f.attrs["hdf5_version"] = h5py.version.hdf5_version
    f.attrs["numpy_version"] = np.__version__
    f.attrs["written_at"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_dataset(group: Any, name: str, data: Any, units: str, description: str) -> Any:
    """Create a dataset with ``units`` and ``description`` attributes."""
    arr = np.asarray(data)
    kw: dict[str, Any] = {}
    if arr.size >= 1024:
        kw = {"compression": "gzip", "shuffle": True, "fletcher32": True, "chunks": True}
    ds = group.create_dataset(name, data=arr, **kw)
    ds.attrs["units"] = units
    ds.attrs["description"] = description
    return ds


def check_self_contained(f: Any, path: str | Path) -> None:
    """Refuse files whose data lives elsewhere: external links, virtual or external datasets."""
    import h5py

    problems: list[str] = []

    def walk(group: Any, prefix: str) -> None:
        for name in group:
            link = group.get(name, getlink=True)
            full = f"{prefix}/{name}"
            if isinstance(link, h5py.ExternalLink):
                problems.append(f"{full} is an external link to {link.filename}")
                continue
            if isinstance(link, h5py.SoftLink):
                continue  # points inside this file; its target is walked on its own
            obj = group[name]
            if isinstance(obj, h5py.Group):
                walk(obj, full)
            elif isinstance(obj, h5py.Dataset):
                if obj.is_virtual:
                    for src in obj.virtual_sources():
                        if src.file_name != ".":
                            problems.append(f"{full} is a virtual dataset reading {src.file_name}")
                if obj.external:
                    problems.append(f"{full} keeps its data in external files")

    walk(f, "")
    if problems:
        raise InputDataError(f"{path}: refused, the file points outside itself: {'; '.join(problems[:3])}")


@contextlib.contextmanager
def open_h5(path: str | Path, what: str = "HDF5 file") -> Iterator[Any]:
    """Open an HDF5 file read-only; missing or damaged files become :class:`InputDataError`.

    Files that point outside themselves (external links, virtual or external
    datasets) are refused: a record must not change when another file does.
    """
    import h5py

    p = Path(path)
    try:
        f = h5py.File(p, "r")
    except FileNotFoundError:
        raise InputDataError(f"{p}: {what} not found") from None
    except OSError as exc:
        raise InputDataError(f"{p}: not a readable HDF5 file ({exc})") from None
    with f:
        check_self_contained(f, p)
        yield f
