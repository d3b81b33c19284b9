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

#: What h5py raises when a damaged file's metadata cannot be decoded (object
#: headers, B-trees, heaps, attribute messages, names).  Readers catch these
#: only around HDF5 calls, never around ecmsim's own computations.
H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError, UnicodeDecodeError)


#: A temporary file of an atomic write this old was left by a writer that was killed:
#: ecmsim writes a file in seconds, so a live writer's temporary file is never this old.
STALE_TEMP_AGE_S = 3600.0
_TEMP_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def remove_stale_temps(target: str | Path, suffix: str = ".tmp") -> list[Path]:
    """Delete temporary files that interrupted atomic writes of ``target`` left beside it.

    A writer killed with SIGKILL (or by a power cut) cannot remove its hidden temporary
    file; the next successful write of the same target does.  Only regular files named
    exactly as ``tempfile.mkstemp`` names ours (``.NAME.XXXXXXXX`` + ``suffix``) and
    older than :data:`STALE_TEMP_AGE_S` are deleted, so a concurrent writer's file is
    left alone.  Failures are ignored: cleaning is a courtesy, never an error.

    Returns
    -------
    list of Path
        The files deleted.
    """
    import stat
    import time

    t = Path(target)
    folder = t.parent if str(t.parent) else Path(".")
    prefix = f".{t.name}."
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for e in entries:
        name = e.name
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        middle = name[len(prefix) : len(name) - len(suffix)]
        if len(middle) != 8 or not set(middle) <= _TEMP_CHARS:
            continue
        try:
            st = e.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and now - st.st_mtime >= STALE_TEMP_AGE_S:
                os.unlink(e.path)
                removed.append(Path(e.path))
        except OSError:
            continue
    return removed


@contextlib.contextmanager
def atomic_h5(path: str | Path) -> Iterator[Any]:
    """Open a temporary HDF5 file beside ``path``; rename it into place on success.

    On any exception the temporary file is removed and ``path`` is untouched.  After a
    successful write, stale temporary files of ``path`` are removed
    (:func:`remove_stale_temps`).
    """
    import h5py

    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"{target}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes it private (0600); a record is readable like any output
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
    remove_stale_temps(target)


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
    """Refuse files whose data lives elsewhere or is not plain: external links, virtual or external datasets."""
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
                    # ecmsim never writes virtual datasets: one reading another file makes a record
                    # change when that file does, and one mapping itself crashes libhdf5 on reading.
                    srcs = obj.virtual_sources()
                    outside = sorted({src.file_name for src in srcs if src.file_name != "."})
                    if outside:
                        problems.append(f"{full} is a virtual dataset reading {', '.join(outside)}")
                    else:
                        inside = ", ".join(sorted({src.dset_name for src in srcs})) or "nothing"
                        problems.append(f"{full} is a virtual dataset (mapping {inside}); ecmsim files hold none")
                if obj.external:
                    problems.append(f"{full} keeps its data in external files")

    try:
        walk(f, "")
    except H5_ERRORS as exc:
        raise InputDataError(f"{path}: damaged HDF5 file structure ({type(exc).__name__}: {exc})") from None
    if problems:
        outside = any("external" in m or "reading" in m for m in problems)
        why = "the file points outside itself" if outside else "the file is not plain HDF5 data"
        raise InputDataError(f"{path}: refused, {why}: {'; '.join(problems[:3])}")


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
    except IsADirectoryError:
        raise InputDataError(f"{p}: is a folder, expected an HDF5 file") from None
    except H5_ERRORS as exc:
        raise InputDataError(f"{p}: not a readable HDF5 file ({exc})") from None
    with f:
        check_self_contained(f, p)
        yield f


# --------------------------------------------------------------------------- validating readers
#: ``numpy.dtype.kind`` codes accepted by :func:`get_dataset`, by name (used in messages).
DTYPE_KINDS = {
    "float": ("f", "a floating-point number"),
    "int": ("iu", "an integer"),
    "number": ("fiu", "a number"),
    "flag": ("iub", "0 or 1 (integer)"),
    "text": ("S", "fixed-length ASCII text"),
    "json": ("SOU", "a scalar text (JSON)"),
}


def attr_text(obj: Any, name: str, path: str | Path, default: str | None = "") -> str:
    """Attribute ``name`` of ``obj`` as text (``bytes`` decoded); ``default`` if absent (None: required)."""
    where = obj.name if getattr(obj, "name", "/") != "/" else ""
    try:
        if name not in obj.attrs:
            if default is None:
                raise InputDataError(f"{path}: attribute {where}@{name} is missing")
            return default
        v = obj.attrs[name]
    except H5_ERRORS as exc:  # undecodable attribute types, damaged attribute messages
        raise InputDataError(f"{path}: attribute {where}@{name} cannot be read ({exc})") from None
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v[()]
    if isinstance(v, bytes):
        try:
            return v.decode("utf-8")
        except UnicodeDecodeError:
            raise InputDataError(f"{path}: attribute {where}@{name} is not UTF-8 text") from None
    if isinstance(v, str):
        return str(v)
    raise InputDataError(f"{path}: attribute {where}@{name} = {v!r} must be text")


def attr_int(obj: Any, name: str, path: str | Path, default: int) -> int:
    """Attribute ``name`` of ``obj`` as an integer (``default`` if absent)."""
    try:
        if name not in obj.attrs:
            return default
        v = obj.attrs[name]
    except H5_ERRORS as exc:
        raise InputDataError(f"{path}: attribute @{name} cannot be read ({exc})") from None
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v[()]
    if isinstance(v, bool | np.bool_) or not isinstance(v, int | np.integer):
        raise InputDataError(f"{path}: attribute @{name} = {v!r} must be an integer")
    return int(v)


def get_dataset(
    f: Any,
    name: str,
    path: str | Path,
    *,
    kind: str,
    shape: tuple[int | None, ...] | None = None,
    units: str | None = None,
) -> Any:
    """The dataset ``name`` of ``f``, checked for kind of values, shape and ``units``.

    ``shape`` entries of None match any length (so ``(None,)`` is any 1-D
    dataset).  Every failure is an :class:`InputDataError` naming the file
    and the dataset.
    """
    import h5py

    full = "/" + name.strip("/")
    try:
        obj = f.get(name)
    except H5_ERRORS as exc:
        raise InputDataError(f"{path}: {full} cannot be opened, the file is damaged ({exc})") from None
    if obj is None:
        raise InputDataError(f"{path}: missing dataset {full}")
    if not isinstance(obj, h5py.Dataset):
        raise InputDataError(f"{path}: {full} is a {type(obj).__name__.lower()}, expected a dataset")
    kinds, text = DTYPE_KINDS[kind]
    try:  # a damaged datatype or dataspace message fails here (e.g. an impossible float layout)
        dt = obj.dtype
        ds_shape = obj.shape
    except H5_ERRORS as exc:
        raise InputDataError(f"{path}: {full} cannot be read, its type or shape is damaged ({exc})") from None
    if kind == "json":
        ok = dt.kind in "SU" or h5py.check_string_dtype(dt) is not None
    else:
        ok = dt.kind in kinds
    if not ok:
        raise InputDataError(f"{path}: {full} holds {dt} values, expected {text}")
    if shape is not None:
        bad = len(ds_shape) != len(shape) or any(w is not None and w != g for w, g in zip(shape, ds_shape, strict=True))
        if bad:
            dims = ", ".join("n" if w is None else str(w) for w in shape)
            want = f"({dims},)" if len(shape) == 1 else f"({dims})"
            raise InputDataError(f"{path}: {full} has shape {ds_shape}, expected {want}")
    if units is not None:
        got = attr_text(obj, "units", path, default="")
        if got != units:
            have = f"units {got!r}" if got else "no units attribute"
            raise InputDataError(f"{path}: {full} has {have}, expected units {units!r}")
    return obj


def get_group(f: Any, name: str, path: str | Path) -> tuple[Any, list[str]]:
    """The group ``name`` of ``f`` and the names of its members (a damaged group is an InputDataError)."""
    import h5py

    full = "/" + name.strip("/")
    try:
        grp = f.get(name) if name.strip("/") else f
        if grp is None:
            raise InputDataError(f"{path}: missing group {full}")
        if not isinstance(grp, h5py.Group):
            raise InputDataError(f"{path}: {full} is a {type(grp).__name__.lower()}, expected a group")
        return grp, list(grp)
    except H5_ERRORS as exc:
        raise InputDataError(f"{path}: group {full} cannot be read, the file is damaged ({exc})") from None


def read_dataset(ds: Any, path: str | Path, sel: Any = ()) -> Any:
    """Read ``ds[sel]``; a damaged chunk (checksum, decompression) is an :class:`InputDataError`."""
    try:
        return ds[sel]
    except H5_ERRORS as exc:
        raise InputDataError(f"{path}: damaged data in {ds.name}: {exc}") from None


def check_values(
    arr: np.ndarray,
    path: str | Path,
    name: str,
    *,
    allow_nan: bool | str = False,
    minimum: float | None = None,
    strict: bool = False,
    unit: str = "",
    where: Any = None,
    maximum: float | None = None,
) -> None:
    """Refuse non-finite values (NaN allowed with ``allow_nan``, its meaning if text), values below
    ``minimum`` and values whose magnitude exceeds ``maximum``.

    ``where(index) -> str`` describes the position of the first bad value
    (e.g. the part, hole and station); default: the array index.
    """
    with np.errstate(all="ignore"):  # odd float types (a damaged datatype) cast to inf/NaN: refused below
        a = np.asarray(arr, dtype=float)
    with np.errstate(invalid="ignore"):
        bad = np.isinf(a) | (np.isnan(a) if not allow_nan else np.zeros(a.shape, bool))
        if minimum is not None:
            bad |= (a <= minimum) if strict else (a < minimum)
        if maximum is not None:
            bad |= np.abs(a) > maximum
    if not bad.any():
        return
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    v = float(a[idx])
    at = where(idx) if where is not None else (f"[{', '.join(map(str, idx))}]" if idx else "")
    allowed = "a finite number"
    if minimum is not None:
        allowed += f" {'>' if strict else '≥'} {minimum:g}"
    if maximum is not None:
        allowed += f" of magnitude ≤ {maximum:g}"
    if allow_nan:
        allowed += f" (or NaN: {allow_nan if isinstance(allow_nan, str) else 'not given'})"
    n = int(bad.sum())
    more = f" ({n} bad values)" if n > 1 else ""
    u = f" {unit}" if unit else ""
    raise InputDataError(f"{path}: {name}{at} = {v:g}{u}: must be {allowed}{more}")
