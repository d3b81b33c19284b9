"""The QC store: records in a ledger database, results files and archived inputs beside them.

A store is either a folder (the embedded default: the ledger is
``FOLDER/ledger.sqlite``, SQLite in WAL mode, and the files lie in
``results/``, ``inspections/``, ``specs/`` and ``predictions/``) or a
PostgreSQL database (``postgresql://…``, where the files are kept in the
database itself).  ``docs/store.md`` describes the model and the audit.

A record becomes visible in one transaction together with its parts, its
failed characteristics and the hashes of its files (:meth:`QCStore.commit`);
the records form a hash chain (:mod:`ecmsim.io.ledger`), and
:meth:`QCStore.verify` re-hashes everything.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecmsim.errors import InputDataError, OutputError
from ecmsim.io import ledger
from ecmsim.io.common import fsync_folder, fsync_path, write_failure

if TYPE_CHECKING:
    import sqlalchemy as sa

STORE_SUBDIRS = ("results", "inspections", "specs", "predictions")
LEDGER_NAME = "ledger.sqlite"
STAGING = ".staging"
#: Environment variable naming the store when ``--store`` is not given.
STORE_ENV = "ECMSIM_STORE"
DEFAULT_STORE = "ecmsim-qc-store"
#: A staging folder older than this is a killed check's and is removed by the next one.
STALE_STAGING_S = 3600.0
_KIND_DIR = {"results": "results", "inspection": "inspections", "spec": "specs", "prediction": "predictions"}


def is_url(location: str | Path) -> bool:
    """True for a PostgreSQL store address (``postgresql://…`` or ``postgres://…``)."""
    return str(location).startswith(("postgresql://", "postgresql+psycopg://", "postgres://"))


def is_store_folder(path: str | Path) -> bool:
    """True when ``path`` is an ecmsim QC store folder (its ledger, or the results and specs folders)."""
    p = Path(path)
    return (p / "results").is_dir() and ((p / LEDGER_NAME).is_file() or (p / "specs").is_dir())


def store_containing(path: str | Path) -> Path | None:
    """The QC store folder that holds ``path`` (resolved through symlinks), or None.

    Output commands use it to refuse writing into a store: records and archived
    inputs are written only by the store itself.
    """
    p = Path(path).resolve()
    for folder in (p, *p.parents) if p.is_dir() else p.parents:
        if is_store_folder(folder):
            return folder
    return None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hash_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
            n += len(block)
    return h.hexdigest(), n


@dataclass(frozen=True)
class StagedFile:
    """A file ready to enter the store: its place there, its staged copy, its hash and size (bytes)."""

    kind: str
    path: str
    source: Path
    sha256: str
    size: int


@dataclass
class RecordDraft:
    """One batch's record before it is committed: fields, part rows and failed-characteristic rows.

    ``fields`` holds the :data:`ecmsim.io.ledger.RECORD_FIELDS` that the check
    knows (batch, spec, rule, counts, file places and hashes); the store adds
    the chain fields.  ``parts`` rows have :data:`~ecmsim.io.ledger.PART_FIELDS`
    but ``serial_key`` and ``supersedes``; ``failures`` rows have
    :data:`~ecmsim.io.ledger.FAILURE_FIELDS`.
    """

    fields: dict[str, Any]
    parts: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    files: list[StagedFile]
    uid: str = field(default_factory=lambda: uuid.uuid4().hex)


def serial_key(serial: str) -> str:
    """How serial numbers are compared in the store: stripped and upper case (``docs/store.md``)."""
    return serial.strip().upper()


def result_file_name(batch_id: str, checked_at: str, uid: str) -> str:
    """``results/<batch id>_<time>_<uid12>.h5``: unsafe characters and leading dots replaced by ``_``."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", batch_id)[:64]
    safe = re.sub(r"^[.]+", lambda m: "_" * len(m.group()), safe) or "batch"
    stamp = re.sub(r"[^0-9TZ]", "", checked_at)
    return f"results/{safe}_{stamp}_{uid[:12]}.h5"


# --------------------------------------------------------------------------- file areas
class FolderArea:
    """Files of a folder store, in its sub-folders, written by atomic rename and read-only (0444)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self, relpath: str) -> str:
        return str(self.root / relpath)

    def place(self, f: StagedFile) -> None:
        """Move one staged file into place (see :meth:`place_all`)."""
        self.place_all([f])

    def place_all(self, files: Sequence[StagedFile]) -> None:
        """Move staged files into place, then fsync each folder once.

        An archived input already there is not copied again, but it must hash as
        its name says (the full file is read: never trusted by its size).
        """
        folders: set[Path] = set()
        for f in files:
            dest = self.root / f.path
            if f.kind != "results" and dest.exists():
                have, _ = _hash_file(dest)
                if have != f.sha256:
                    raise OutputError(
                        f"{dest}: this archived copy has been changed (sha256 {have[:16]}…, its record says "
                        f"{f.sha256[:16]}…); the store needs an audit: run `ecmsim qc verify`"
                    )
                continue
            os.chmod(f.source, 0o444)
            _move(f.source, dest)
            folders.add(dest.parent)
        for d in sorted(folders):
            fsync_folder(d)

    def read_hash(self, relpath: str, conn: sa.Connection | None = None) -> tuple[str, int] | None:
        """sha256 and size of a stored file (None: missing); ``conn`` is unused (the file is on disk)."""
        p = self.root / relpath
        if not p.is_file():
            return None
        return _hash_file(p)

    def listing(self) -> set[str]:
        out: set[str] = set()
        for sub in STORE_SUBDIRS:
            d = self.root / sub
            if d.is_dir():
                out.update(f"{sub}/{e.name}" for e in os.scandir(d))
        return out

    @contextlib.contextmanager
    def open_path(self, relpath: str) -> Iterator[Path]:
        yield self.root / relpath


class DatabaseArea:
    """Files of a PostgreSQL store, kept in the ledger's ``stored_file`` table beside their hashes."""

    def __init__(self, engine: sa.Engine, where: str) -> None:
        self.engine = engine
        self.where = where

    def describe(self, relpath: str) -> str:
        return f"{self.where}#{relpath}"

    def read_hash(self, relpath: str, conn: sa.Connection | None = None) -> tuple[str, int] | None:
        import sqlalchemy as sa

        q = sa.text("SELECT encode(sha256(content), 'hex'), length(content) FROM stored_file WHERE path = :p")
        with contextlib.ExitStack() as st:
            c = conn or st.enter_context(ledger.reader(self.engine))
            row = c.execute(q, {"p": relpath}).first()
        if row is None or row[0] is None:
            return None
        return str(row[0]), int(row[1])

    def listing(self) -> set[str]:
        return set()  # files live in the ledger rows: there is nothing beside them

    @contextlib.contextmanager
    def open_path(self, relpath: str) -> Iterator[Path]:
        import sqlalchemy as sa

        with ledger.reader(self.engine) as c:
            row = c.execute(sa.text("SELECT content FROM stored_file WHERE path = :p"), {"p": relpath}).first()
        if row is None or row[0] is None:
            raise InputDataError(f"{self.describe(relpath)}: not in the QC store")
        with tempfile.TemporaryDirectory(prefix="ecmsim-store-") as d:
            p = Path(d) / Path(relpath).name
            p.write_bytes(bytes(row[0]))
            yield p


def _move(src: Path, dest: Path) -> None:
    """Rename ``src`` to ``dest``; across file systems, copy beside ``dest`` (fsynced) and rename."""
    try:
        os.replace(src, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        tmp = Path(tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)[1])
        try:
            shutil.copyfile(src, tmp)
            fsync_path(tmp)
            os.chmod(tmp, 0o444)
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise


# --------------------------------------------------------------------------- the store
class QCStore:
    """An open QC store (see the module docstring); use :func:`open_store`."""

    def __init__(self, location: str, engine: sa.Engine, root: Path | None) -> None:
        self.location = location
        self.engine = engine
        self.root = root
        self.area: FolderArea | DatabaseArea = FolderArea(root) if root is not None else DatabaseArea(engine, location)

    def __repr__(self) -> str:
        return f"QCStore({self.location!r})"

    @property
    def is_folder(self) -> bool:
        return self.root is not None

    def describe(self, relpath: str) -> str:
        """Where a stored file is, for people (a path, or the database address and the file's place)."""
        return self.area.describe(relpath)

    # ------------------------------------------------------------------ staging
    def staging(self) -> contextlib.AbstractContextManager[Path]:
        """A private folder for the copies a check makes before it commits (see :func:`staging`)."""
        return staging(self.location if self.root is None else self.root)

    def stage_copy(self, staging: Path, kind: str, src: str | Path, suffix: str) -> StagedFile:
        """See :func:`stage_copy`."""
        return stage_copy(staging, kind, src, suffix)

    def stage_bytes(self, staging: Path, kind: str, data: bytes, suffix: str) -> StagedFile:
        """See :func:`stage_bytes`."""
        return stage_bytes(staging, kind, data, suffix)

    def stage_results(self, tmp: Path, relpath: str) -> StagedFile:
        """See :func:`stage_results`."""
        return stage_results(tmp, relpath)

    # ------------------------------------------------------------------ commit
    def commit(self, drafts: Sequence[RecordDraft]) -> list[dict[str, Any]]:
        """Make records visible, each with its files, in one transaction; the committed record rows.

        Folder stores move the files into place first, under a pending-check
        entry, so files a killed check leaves are known as such to
        :meth:`verify`; the records appear only at the commit.
        """
        from ecmsim.io.store_commit import commit_records

        return commit_records(self, drafts)

    # ------------------------------------------------------------------ queries
    def n_records(self) -> int:
        """How many records the store holds."""
        import sqlalchemy as sa

        with ledger.reader(self.engine) as conn:
            return int(conn.execute(sa.text("SELECT COUNT(*) FROM qc_record")).scalar_one())

    def trace(self, serial: str, *, check_files: bool = True) -> list[dict[str, Any]]:
        """Every record of ``serial`` (compared by :func:`serial_key`), oldest first, each verified."""
        from ecmsim.io.store_query import trace_records

        return trace_records(self, serial, check_files=check_files)

    def history(self, part_number: str, since: str | None = None) -> list[dict[str, Any]]:
        """Batches of ``part_number`` checked at or after ``since`` (ISO date), with verdict counts."""
        from ecmsim.io.store_query import part_history

        return part_history(self, part_number, since)

    def verify(self) -> VerifyReport:
        """Re-hash every file and record; every changed, missing or extra file and broken link."""
        from ecmsim.io.store_verify import verify_store

        return verify_store(self)


@dataclass
class Finding:
    """One thing :meth:`QCStore.verify` found wrong: what, where, and the detail."""

    what: str
    where: str
    detail: str

    def line(self) -> str:
        return f"{self.what.upper()}: {self.where}: {self.detail}"


@dataclass
class VerifyReport:
    """The outcome of ``qc verify``: counts, findings (any makes it fail) and notes."""

    location: str
    n_records: int = 0
    n_files: int = 0
    head_hash: str = ""
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


@contextlib.contextmanager
def staging(location: str | Path | None) -> Iterator[Path]:
    """A private folder for the copies a check makes before it commits (removed afterwards).

    For an existing folder store it is inside the store (``.staging/``), so files
    move into place by rename; for a store not created yet it is a hidden folder
    beside it (the store is created only when the check commits); for a
    database store it is in the system's temporary folder.
    """
    loc = resolve_location(location)
    if is_url(loc):
        d = Path(tempfile.mkdtemp(prefix="ecmsim-check-"))
    else:
        root = Path(loc)
        if (root / LEDGER_NAME).is_file():
            base = root / STAGING
            base.mkdir(exist_ok=True)
            _remove_stale_staging(base)
            d = Path(tempfile.mkdtemp(prefix="check-", dir=base))
        else:
            parent = root.parent if str(root.parent) else Path(".")
            _remove_stale_staging(parent, prefix=f".{root.name}.staging-")
            try:
                d = Path(tempfile.mkdtemp(prefix=f".{root.name}.staging-", dir=parent))
            except OSError as exc:
                raise OutputError(f"{root}: cannot create the QC store here: {exc.strerror}") from None
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def stage_copy(staging: Path, kind: str, src: str | Path, suffix: str) -> StagedFile:
    """Copy an input into ``staging`` and hash the copy: what is archived is exactly what is read."""
    tmp = Path(tempfile.mkstemp(dir=staging, suffix=suffix)[1])
    try:
        shutil.copyfile(src, tmp)
    except FileNotFoundError:
        raise InputDataError(f"{src}: file not found") from None
    except OSError as exc:
        raise OutputError(
            f"{tmp}: cannot copy {src} into the QC store's staging folder: {write_failure(exc)}; nothing was recorded"
        ) from None
    fsync_path(tmp)
    digest, size = _hash_file(tmp)
    return StagedFile(kind, f"{_KIND_DIR[kind]}/{digest}{suffix}", tmp, digest, size)


def stage_bytes(staging: Path, kind: str, data: bytes, suffix: str) -> StagedFile:
    """Write ``data`` into ``staging`` as an input to archive (a spec read once, as checked)."""
    tmp = Path(tempfile.mkstemp(dir=staging, suffix=suffix)[1])
    try:
        tmp.write_bytes(data)
        fsync_path(tmp)
    except OSError as exc:
        raise OutputError(
            f"{tmp}: cannot write the {kind} into the QC store's staging folder: {write_failure(exc)}; "
            "nothing was recorded"
        ) from None
    digest = sha256_bytes(data)
    return StagedFile(kind, f"{_KIND_DIR[kind]}/{digest}{suffix}", tmp, digest, len(data))


def stage_results(tmp: Path, relpath: str) -> StagedFile:
    """A results file written into the staging folder, hashed."""
    digest, size = _hash_file(tmp)
    return StagedFile("results", relpath, tmp, digest, size)


def describe_location(location: str | Path | None, relpath: str) -> str:
    """Where a stored file will be, for people, before the store is open (see :meth:`QCStore.describe`)."""
    loc = resolve_location(location)
    return f"{ledger.redact(loc)}#{relpath}" if is_url(loc) else str(Path(loc) / relpath)


def preflight(location: str | Path | None) -> None:
    """Refuse a store location before any work: a folder with other files, a file, a missing parent."""
    loc = resolve_location(location)
    if not is_url(loc) and not (Path(loc) / LEDGER_NAME).is_file():
        _check_new_folder(Path(loc), create=True)


def _remove_stale_staging(base: Path, prefix: str = "check-") -> None:
    """Remove staging folders that killed checks left (older than :data:`STALE_STAGING_S`)."""
    now = time.time()
    with contextlib.suppress(OSError):
        for e in os.scandir(base):
            with contextlib.suppress(OSError):
                if e.name.startswith(prefix) and e.is_dir() and now - e.stat().st_mtime > STALE_STAGING_S:
                    shutil.rmtree(e.path, ignore_errors=True)


# --------------------------------------------------------------------------- opening
def resolve_location(store: str | Path | None) -> str:
    """The store to use: ``store`` if given, else ``$ECMSIM_STORE``, else ``ecmsim-qc-store``."""
    if store is not None and str(store) != "":
        return str(store)
    return os.environ.get(STORE_ENV) or DEFAULT_STORE


def open_store(store: str | Path | None = None, *, create: bool = False) -> QCStore:
    """Open (``create``: and if needed create) a QC store folder or PostgreSQL database.

    Raises
    ------
    InputDataError
        No store there (and ``create`` is false), a folder that holds other
        files, or a ledger of a newer ecmsim.
    OutputError
        The store cannot be created or its database cannot be reached.
    """
    loc = resolve_location(store)
    if is_url(loc):
        return _open_database(loc)
    return _open_folder(Path(loc), create)


def _open_database(url: str) -> QCStore:
    shown = ledger.redact(url)
    engine = ledger.postgresql_engine(url)
    try:
        ledger.migrate(engine, shown)
    except InputDataError:
        raise
    except Exception as exc:
        raise ledger.check_writable(exc, shown) from None
    return QCStore(shown, engine, None)


def _open_folder(root: Path, create: bool) -> QCStore:
    led = root / LEDGER_NAME
    if not led.is_file():
        _check_new_folder(root, create)
        try:
            root.mkdir(exist_ok=True)
            for sub in (*STORE_SUBDIRS, STAGING):
                (root / sub).mkdir(exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{root}: cannot create the QC store: {exc.strerror}") from None
    engine = ledger.sqlite_engine(str(led))
    try:
        ledger.migrate(engine, str(root))
    except InputDataError:
        raise
    except Exception as exc:
        text = str(getattr(exc, "orig", exc))
        if "not a database" in text or "malformed" in text:
            raise InputDataError(
                f"{led}: the QC store's ledger is damaged ({text}); restore it from a backup and run `ecmsim qc verify`"
            ) from None
        raise ledger.check_writable(exc, str(root)) from None
    return QCStore(str(root), engine, root)


def _check_new_folder(root: Path, create: bool) -> None:
    """A store is created only in a new or empty folder (never adopted over other files)."""
    if not create:
        raise InputDataError(f"{root}: no QC store here (no {LEDGER_NAME}); `ecmsim qc check --store` creates one")
    if not root.exists():
        if not root.parent.is_dir():
            raise OutputError(f"{root}: cannot create the QC store, folder {root.parent} does not exist")
        return
    if not root.is_dir():
        raise InputDataError(f"{root}: not a folder; give a new or empty folder for the QC store")
    entries = {e.name for e in os.scandir(root)}
    if entries - {*STORE_SUBDIRS, STAGING}:
        what = "an ecmsim QC store without a ledger" if (root / "results").is_dir() else "other files"
        raise InputDataError(
            f"{root}: this folder holds {what} ({', '.join(sorted(entries)[:5])}); a QC store is created only "
            "in a new or empty folder"
        )
    for sub in entries & set(STORE_SUBDIRS):
        if any(os.scandir(root / sub)):
            raise InputDataError(f"{root}: {sub}/ holds files but there is no ledger; a QC store needs both")


def host_pid() -> tuple[str, int]:
    return socket.gethostname(), os.getpid()


def dumps_predictions(preds: Sequence[tuple[str, str, str]]) -> str:
    """The record's predictions column: ``[[file, place, sha256], …]`` as canonical JSON."""
    return json.dumps([list(p) for p in preds], separators=(",", ":"))
