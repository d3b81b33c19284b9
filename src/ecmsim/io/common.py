"""The I/O spine of ecmsim: file kinds and headers, datasets, atomic writes, checked reads.

Every file ecmsim writes goes through :func:`atomic_write` (a hidden temporary
file in the target's folder; write; flush and fsync of the file; rename over
the target; fsync of the folder), so a target is always absent, the previous
file or the complete new one.  HDF5 files use :func:`atomic_h5` on top of it.

Every HDF5 file kind is a :class:`FileKind` (:data:`FILE_KINDS`): its root
attributes are written by :func:`write_header` (schema name and version,
provenance) and checked by :func:`check_header`, which gives one message for
a foreign file, a missing header and a too new version.  Every dataset is
written by :func:`write_dataset` (``units`` and ``description`` attributes,
dimension scales, and one storage policy: :func:`storage_options`).  Read
files with :func:`open_h5`, which turns every failure into an
:class:`InputDataError`, and the validating readers below it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecmsim.errors import InputDataError, OutputError, input_file

if TYPE_CHECKING:
    import h5py

#: What h5py raises when a damaged file's metadata cannot be decoded (object
#: headers, B-trees, heaps, attribute messages, names).  Readers catch these
#: only around HDF5 calls, never around ecmsim's own computations.
H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError, UnicodeDecodeError)


# --------------------------------------------------------------------------- file kinds and headers
@dataclass(frozen=True)
class FileKind:
    """One kind of ecmsim HDF5 file: the ``schema`` root attribute names it.

    Attributes
    ----------
    schema
        Value of the root attribute ``schema`` (e.g. ``"ecmsim-simulation-result"``).
    version
        The schema version this ecmsim writes; it reads ``oldest..version``.
    title
        What the file is called in messages ("not an ecmsim {title}").
    oldest
        The oldest schema version this ecmsim still reads.
    """

    schema: str
    version: int
    title: str
    oldest: int = 1


RESULT_FILE = FileKind("ecmsim-simulation-result", 1, "simulation result")
EQUILIBRIUM_FILE = FileKind("ecmsim-equilibrium-result", 1, "equilibrium result")
BATCH_FILE = FileKind("ecmsim-inspection-batch", 1, "inspection batch")
QC_RESULT_FILE = FileKind("ecmsim-qc-result", 1, "QC results file")
SPC_LIMITS_FILE = FileKind("ecmsim-spc-limits", 2, "SPC limits file", oldest=2)
SWEEP_FILE = FileKind("ecmsim-sweep", 1, "sweep file")
#: Every HDF5 file kind ecmsim writes, by schema name.
FILE_KINDS: dict[str, FileKind] = {
    k.schema: k for k in (RESULT_FILE, EQUILIBRIUM_FILE, BATCH_FILE, QC_RESULT_FILE, SPC_LIMITS_FILE, SWEEP_FILE)
}


def write_provenance(f: h5py.Group) -> None:
    """Record ecmsim, h5py, HDF5 and NumPy versions and the time of writing on ``f``."""
    import datetime

    import h5py

    from ecmsim import __version__

    f.attrs["ecmsim_version"] = __version__
    f.attrs["h5py_version"] = h5py.version.version
    f.attrs["hdf5_version"] = h5py.version.hdf5_version
    f.attrs["numpy_version"] = np.__version__
    f.attrs["written_at"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_header(f: h5py.Group, kind: FileKind, attrs: Mapping[str, Any] | None = None) -> None:
    """Write the root attributes that make a file self-describing.

    ``schema`` and ``schema_version`` (of ``kind``), the provenance of
    :func:`write_provenance` (ecmsim, h5py, HDF5 and NumPy versions,
    ``written_at``), then ``attrs`` in their order.  Units are not a root
    attribute: every numeric dataset carries its own ``units``
    (:func:`write_dataset`).

    Parameters
    ----------
    f
        The open (new) HDF5 file.
    kind
        The file kind, e.g. :data:`RESULT_FILE`.
    attrs
        Further root attributes of this kind (short text and numbers).
    """
    f.attrs["schema"] = kind.schema
    f.attrs["schema_version"] = kind.version
    write_provenance(f)
    for key, value in (attrs or {}).items():
        f.attrs[key] = value


def check_header(f: h5py.Group, path: str | Path, kind: FileKind) -> int:
    """Check that ``f`` is a file of ``kind`` in a version this ecmsim reads; return the version.

    Raises
    ------
    InputDataError
        ``"{path}: not an ecmsim {title} (schema ..., expected ...)"`` for a
        foreign file or a missing ``schema``; ``"... schema version N is not
        readable by this ecmsim (reads a..b)"`` for a missing, damaged, too old
        or too new ``schema_version``.
    """
    try:
        got: str | None = attr_text(f, "schema", path, default=None)
    except InputDataError:  # missing, or not text: either way not a header of ours
        got = None
    if got != kind.schema:
        have = f"schema {got!r}" if got is not None else "no schema attribute"
        raise InputDataError(f"{path}: not an ecmsim {kind.title} ({have}, expected {kind.schema!r})")
    version = attr_int(f, "schema_version", path, 0)
    if not kind.oldest <= version <= kind.version:
        newer = "; upgrade ecmsim for newer files" if version > kind.version else ""
        raise InputDataError(
            f"{path}: {kind.title} schema version {version} is not readable by this ecmsim "
            f"(reads {kind.oldest}..{kind.version}){newer}"
        )
    return version


# --------------------------------------------------------------------------- datasets
#: gzip level of every compressed dataset (h5py's default level, used by every ecmsim file so far).
GZIP_LEVEL = 4


def storage_options(shape: tuple[int, ...], chunks: tuple[int, ...] | None = None) -> dict[str, Any]:
    """The storage policy of every ecmsim dataset, as ``create_dataset`` keywords.

    Every array with at least one value is chunked (``chunks``, or h5py's
    choice), gzip level 4 compressed with the shuffle filter, and
    checksummed (fletcher32), so a damaged chunk is an error on reading
    instead of a silently wrong value.  Scalars (which HDF5 cannot chunk)
    and empty arrays are stored plain.
    """
    if not shape or int(np.prod(shape)) == 0:
        return {}
    return {
        "compression": "gzip",
        "compression_opts": GZIP_LEVEL,
        "shuffle": True,
        "fletcher32": True,
        "chunks": tuple(max(int(c), 1) for c in chunks) if chunks is not None else True,
    }


def write_dataset(
    group: h5py.Group,
    name: str,
    data: Any,
    units: str | None,
    description: str,
    *,
    scale: str | None = None,
    dims: Sequence[Any | None] = (),
    chunks: tuple[int, ...] | None = None,
    shape: tuple[int, ...] | None = None,
    dtype: Any = None,
    fill: Any = None,
) -> Any:
    """Create dataset ``name`` in ``group`` with its attributes, storage policy and dimension scales.

    Parameters
    ----------
    group
        The HDF5 group (or file) to create it in.
    name
        Dataset name (may contain ``/``: intermediate groups are created).
    data
        The values; None to create an empty dataset of ``shape`` and
        ``dtype`` filled with ``fill``, written later block by block.  Text
        is stored as UTF-8: a ``str`` as one scalar string (JSON, TOML: text
        that may exceed the 64 KiB attribute limit), an array or sequence of
        ``str`` as fixed-length UTF-8 bytes (variable-length strings cannot
        take HDF5's filters), padded to the longest, read back as bytes.
    units
        The ``units`` attribute (``"1"`` for counts and flags); None for text
        and codes without units.
    description
        The ``description`` attribute: what the values are.
    scale
        Make the dataset a dimension scale of this name.
    dims
        Dimension scales to attach, one per leading axis (None: leave that axis).
    chunks
        Chunk shape (default: h5py's choice); see :func:`storage_options`.
    """
    if data is None:
        if shape is None or dtype is None:
            raise ValueError(f"write_dataset {name}: give data, or shape and dtype")
        ds = group.create_dataset(name, shape=shape, dtype=dtype, fillvalue=fill, **storage_options(shape, chunks))
    elif isinstance(data, str):
        import h5py

        ds = group.create_dataset(name, data=data, dtype=h5py.string_dtype("utf-8"))
    else:
        arr = np.asarray(data) if dtype is None else np.asarray(data, dtype=dtype)
        if arr.dtype.kind in "UO":
            arr = _utf8_array(arr, name)
        ds = group.create_dataset(name, data=arr, **storage_options(arr.shape, chunks))
    if units is not None:
        ds.attrs["units"] = units
    ds.attrs["description"] = description
    if scale is not None:
        ds.make_scale(scale)
    for axis, dim_scale in enumerate(dims):
        if dim_scale is not None:
            ds.dims[axis].attach_scale(dim_scale)
    return ds


#: Target number of values in one chunk of a per-part dataset (part × hole × station).
PART_CHUNK_VALUES = 262_144


def part_chunks(n_parts: int, per_part: int) -> int:
    """Parts per chunk of a per-part dataset with ``per_part`` values per part.

    Chunks hold whole parts (about :data:`PART_CHUNK_VALUES` values), so a
    reader streams a batch part block by part block and a damaged chunk
    names its parts.
    """
    return int(max(1, min(n_parts, PART_CHUNK_VALUES // max(per_part, 1))))


def _utf8_array(arr: np.ndarray, name: str) -> np.ndarray:
    """An array of ``str`` as fixed-length UTF-8 bytes, as wide as its longest value (at least 1)."""
    values = arr.ravel().tolist()
    if not all(isinstance(v, str) for v in values):
        raise TypeError(f"write_dataset {name}: a text dataset holds str values only")
    encoded = [v.encode("utf-8") for v in values]
    width = max((len(b) for b in encoded), default=1) or 1
    return np.array(encoded, dtype=f"S{width}").reshape(arr.shape)


# --------------------------------------------------------------------------- atomic writes
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


def output_folder(path: str | Path) -> Path:
    """The folder ``path`` will be written into; an :class:`OutputError` if it does not exist."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"{target}: folder {folder} does not exist")
    return folder


def fsync_path(path: str | Path) -> None:
    """Force the contents of the file ``path`` to the storage device (``os.fsync``)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder(folder: str | Path) -> None:
    """Make a rename in ``folder`` durable (fsync of the directory).

    File systems that cannot fsync a directory (some network and Windows
    file systems refuse to open one) are skipped: the rename has already
    happened, only its durability across a power cut is then up to them.
    """
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


#: Seconds a writer waits for another ecmsim process writing into the same folder
#: before it gives up with "busy" (:func:`output_lock`); ``ECMSIM_LOCK_WAIT_S`` overrides it.
LOCK_WAIT_S = 60.0
_LOCK_POLL_S = 0.02


@dataclass
class _HeldLock:
    """One folder lock of this process: the in-process lock, the locked folder descriptor, the depth."""

    thread_lock: threading.RLock
    fd: int | None = None
    depth: int = 0


_held_locks: dict[tuple[int, int], _HeldLock] = {}
_held_guard = threading.Lock()


def lock_wait_s() -> float:
    """Seconds :func:`output_lock` waits (``ECMSIM_LOCK_WAIT_S``, else :data:`LOCK_WAIT_S`)."""
    text = os.environ.get("ECMSIM_LOCK_WAIT_S", "")
    try:
        value = float(text)
    except ValueError:
        return LOCK_WAIT_S
    return value if value >= 0 else LOCK_WAIT_S


def _flock_folder(folder: Path, deadline: float) -> int | None:
    """Open ``folder`` and take its exclusive ``flock``, polling until ``deadline`` (monotonic seconds).

    Returns the locked descriptor, or None where the folder cannot be locked (no
    ``fcntl``, a file system without ``flock`` on folders): the write then goes ahead
    unlocked, as every write did before locks existed.  Raises ``BlockingIOError``
    when another process still holds the lock at ``deadline``.
    """
    import time

    try:
        import fcntl
    except ImportError:  # not a POSIX system
        return None
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return None
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise
            time.sleep(_LOCK_POLL_S)
        except OSError:
            os.close(fd)
            return None


@contextlib.contextmanager
def output_lock(path: str | Path, *, new: bool = False, wait_s: float | None = None) -> Iterator[Path]:
    """Hold the advisory write lock of the folder of ``path`` for the ``with`` block.

    Every write of :func:`atomic_write` holds it from the temporary file to the rename;
    a command holds it longer where a write depends on what the file holds at that
    moment (a sweep merges the points already in the file; a record file must still be
    absent).  The lock is an exclusive ``flock`` on the folder itself, so no lock file is
    ever created.  It is re-entrant within the process (threads wait for each other)
    and released when the block ends or the process dies.

    Parameters
    ----------
    path
        The file about to be written; its folder must exist (:class:`OutputError`).
    new
        ``path`` is a record that is never overwritten: once the lock is held, an
        existing ``path`` (written by another process meanwhile) is an :class:`OutputError`.
    wait_s
        Seconds to wait for another process holding the lock (default :func:`lock_wait_s`).

    Yields
    ------
    Path
        ``path``.

    Raises
    ------
    OutputError
        "busy" when the lock is still held by another process after ``wait_s``;
        ``path`` exists and ``new`` is set; the folder does not exist.
    """
    import time

    target = Path(path)
    folder = output_folder(target)
    st = os.stat(folder)
    key = (st.st_dev, st.st_ino)
    wait = lock_wait_s() if wait_s is None else max(wait_s, 0.0)
    deadline = time.monotonic() + wait
    with _held_guard:
        held = _held_locks.setdefault(key, _HeldLock(threading.RLock()))
    busy = OutputError(
        f"busy: another ecmsim process is writing {target} (or another file in {folder}); "
        f"waited {wait:g} s. Run again when it has finished (ECMSIM_LOCK_WAIT_S sets the wait)."
    )
    got = held.thread_lock.acquire(timeout=wait) if wait > 0 else held.thread_lock.acquire(blocking=False)
    if not got:
        raise busy
    try:
        if held.depth == 0:
            try:
                held.fd = _flock_folder(folder, deadline)
            except BlockingIOError:
                raise busy from None
        held.depth += 1
        try:
            if new and os.path.lexists(target):
                raise OutputError(
                    f"{target}: exists: another process wrote it while this command ran; "
                    "it is a record and is never overwritten (write a new file)"
                )
            yield target
        finally:
            held.depth -= 1
            if held.depth == 0 and held.fd is not None:
                os.close(held.fd)  # closing the descriptor releases the flock
                held.fd = None
    finally:
        held.thread_lock.release()


@contextlib.contextmanager
def atomic_write(path: str | Path, *, suffix: str = ".tmp", mode: int = 0o644, umask: bool = True) -> Iterator[Path]:
    """Write a file so that ``path`` is always absent, the previous file or the complete new one.

    Yields the path of a hidden temporary file in the target's folder
    (``.NAME.XXXXXXXX`` + ``suffix``); write it and close it inside the
    ``with`` block.  On success the file is fsynced, given ``mode``, renamed
    over ``path`` (the last step that touches the target), the folder is
    fsynced and stale temporary files of ``path`` are removed
    (:func:`remove_stale_temps`).  The folder's write lock
    (:func:`output_lock`) is held from the temporary file to the folder fsync,
    so concurrent ecmsim writers of one folder take turns.  On any exception the temporary file is
    deleted and ``path`` is untouched.

    Parameters
    ----------
    path
        The target file; its folder must exist (:class:`OutputError`).
    suffix
        Ending of the temporary file's name (a plot keeps its format's suffix).
    mode
        File mode of the result, e.g. ``0o644``, or ``0o444`` for a record.
    umask
        Reduce ``mode`` by the process umask (the default, as every program
        creating a file does); False: ``mode`` exactly.

    Raises
    ------
    OutputError
        The folder does not exist; "busy" (:func:`output_lock`).
    OSError
        Creating, writing or renaming failed (callers name their file kind).
    """
    from ecmsim.interrupt import raise_if_interrupted

    target = Path(path)
    folder = output_folder(target)
    with output_lock(target):
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=folder)
        except OSError as exc:
            raise OutputError(f"{target}: cannot write into {folder}: {write_failure(exc)}") from None
        os.close(fd)
        try:
            yield Path(tmp)
            fsync_path(tmp)
            os.chmod(tmp, mode & ~_current_umask() if umask else mode)
            raise_if_interrupted()  # a stopped command never replaces its target
            os.replace(tmp, target)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if isinstance(exc, OSError) and exc.errno in _NO_ROOM:
                raise OutputError(f"{target}: cannot write: {write_failure(exc)}; nothing was written") from None
            raise
        fsync_folder(folder)
    remove_stale_temps(target, suffix)


#: ``errno`` values of a write that failed for want of room or permission (full disk, quota,
#: file-size limit, read-only file system, no permission): an :class:`OutputError`, never a crash.
_NO_ROOM = frozenset(
    getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG", "EROFS", "EACCES", "EPERM") if hasattr(errno, name)
)


def write_failure(exc: OSError) -> str:
    """What went wrong with a write, in words that say what to do (disk full, read-only, ...)."""
    text = exc.strerror or str(exc)
    hints = {
        errno.ENOSPC: "the disk is full; free space or write elsewhere",
        errno.EFBIG: "the file exceeds the size this process may write (file-size limit); raise it or write elsewhere",
        errno.EROFS: "the file system is read-only; write elsewhere",
        errno.EACCES: "no permission to write there; write elsewhere or change the folder's permissions",
        errno.EPERM: "not permitted; write elsewhere",
    }
    if hasattr(errno, "EDQUOT"):
        hints[errno.EDQUOT] = "the disk quota is exhausted; free space or write elsewhere"
    hint = hints.get(exc.errno or 0)
    return f"{hint} ({text})" if hint else text


def probe_writable(path: str | Path) -> None:
    """Fail before any work when the output ``path`` cannot be written (read-only, no permission, disk full).

    Creates, writes one byte to, and deletes a hidden temporary file in the
    folder ``path`` will be written into (``path`` itself when it is an
    existing folder, e.g. ``qc synth -o DIR``).  A folder that does not exist
    yet is probed in its parent; when neither exists the command reports that
    itself.  Passing the probe does not guarantee the room for the whole
    output: a write that later fails is still an :class:`OutputError` and
    leaves nothing behind.

    Raises
    ------
    OutputError
        Naming ``path`` and why (:func:`write_failure`).
    """
    p = Path(path)
    folder = p if p.is_dir() else (p.parent if str(p.parent) else Path("."))
    if not folder.is_dir():
        folder = folder.parent if str(folder.parent) else Path(".")
        if not folder.is_dir():
            return
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name or 'out'}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"{p}: cannot write into {folder}: {write_failure(exc)}") from None
    try:
        os.write(fd, b"\0")
        os.fsync(fd)
    except OSError as exc:
        raise OutputError(f"{p}: cannot write into {folder}: {write_failure(exc)}") from None
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_h5(path: str | Path, *, mode: int = 0o644, umask: bool = True) -> Iterator[Any]:
    """Create a new HDF5 file (earliest file format) at ``path`` through :func:`atomic_write`.

    Yields the open ``h5py.File``; on success it is flushed, closed and
    renamed into place; on any exception ``path`` is untouched.

    The file is built in memory (HDF5's core driver, no backing store) and
    its image is then written to the temporary file by ecmsim itself
    (:func:`write_image`): libhdf5 never meets a full disk, which it does not
    survive cleanly (it raises internal errors and can crash the process),
    so a full disk is an :class:`OutputError` like any other failed write.
    The price is memory of about twice the file's size while it is saved.
    """
    import h5py

    with atomic_write(path, mode=mode, umask=umask) as tmp:
        f = h5py.File(tmp.name, "w", libver="earliest", driver="core", backing_store=False)
        try:
            yield f
            f.flush()
            image = f.id.get_file_image()
        finally:
            f.close()
        write_image(tmp, image, path)


def write_image(tmp: str | Path, image: bytes, target: str | Path) -> None:
    """Write ``image`` to the temporary file ``tmp`` of ``target``; a failure is an :class:`OutputError`.

    The free space of the folder is checked first, so a full disk is named
    before a byte is written.
    """
    try:
        st = os.statvfs(Path(tmp).parent)
        free = st.f_bavail * st.f_frsize
    except (OSError, AttributeError):
        free = None
    if free is not None and free < len(image):
        raise OutputError(
            f"{target}: cannot write: the disk is full ({len(image) / 1e6:.3g} MB needed, "
            f"{free / 1e6:.3g} MB free); free space or write elsewhere; nothing was written"
        )
    view = memoryview(image)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC)
        try:
            while view:
                view = view[os.write(fd, view[: 1 << 24]) :]
        finally:
            os.close(fd)
    except OSError as exc:
        raise OutputError(f"{target}: cannot write: {write_failure(exc)}; nothing was written") from None


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks); a missing file is an :class:`InputDataError`."""
    import hashlib

    h = hashlib.sha256()
    with input_file(path, "file", "a file"), open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_self_contained(f: h5py.Group, path: str | Path) -> None:
    """Refuse files whose data lives elsewhere or is not plain: external links, virtual or external datasets."""
    import h5py

    problems: list[str] = []

    def walk(group: h5py.Group, prefix: str) -> None:
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
        with input_file(p, what, "an HDF5 file"):
            f = h5py.File(p, "r")
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


def attr_text(obj: h5py.HLObject, name: str, path: str | Path, default: str | None = "") -> str:
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


def attr_int(obj: h5py.HLObject, name: str, path: str | Path, default: int) -> int:
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
    f: h5py.Group,
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


def get_group(f: h5py.Group, name: str, path: str | Path) -> tuple[h5py.Group, list[str]]:
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


def read_dataset(ds: h5py.Dataset, path: str | Path, sel: Any = ()) -> Any:
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
