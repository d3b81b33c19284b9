"""The QC store's ledger: a database of records, parts, failed characteristics and stored files.

One schema (SQLAlchemy Core) for two backends: SQLite in WAL mode inside the
store folder (the embedded default) and PostgreSQL for a plant-wide store
(``postgresql://…``).  The schema is versioned: :data:`MIGRATIONS` lists every
step from an empty database, and :func:`migrate` applies the missing ones
under a lock, so two processes opening a new store at once create it once.

Every record carries the hash of the record before it (:func:`record_hash`):
the records form a hash chain, and a changed, removed or inserted row breaks
it (``docs/store.md``).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ecmsim.errors import InputDataError, OutputError

if TYPE_CHECKING:
    import sqlalchemy as sa

#: The schema version this ecmsim writes and reads.
SCHEMA_VERSION = 1
#: PostgreSQL advisory lock keys: the record chain and the schema migrations.
_CHAIN_LOCK = 0x45434D31  # "ECM1"
_MIGRATION_LOCK = 0x45434D30
#: Seconds a writer waits for another writer before it reports the store busy.
BUSY_TIMEOUT_S = 120.0
GENESIS_HASH = "0" * 64


def _tables(sa: Any) -> dict[str, Any]:
    """The ledger's tables (built on first use: SQLAlchemy is imported only by store commands)."""
    md = sa.MetaData()
    t = {
        "schema_migration": sa.Table(
            "schema_migration",
            md,
            sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("description", sa.Text, nullable=False),
            sa.Column("applied_at", sa.String(32), nullable=False),
        ),
        "store_info": sa.Table(
            "store_info",
            md,
            sa.Column("key", sa.String(64), primary_key=True),
            sa.Column("value", sa.Text, nullable=False),
        ),
        "stored_file": sa.Table(
            "stored_file",
            md,
            sa.Column("path", sa.String(255), primary_key=True),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("sha256", sa.String(64), nullable=False),
            sa.Column("size", sa.BigInteger, nullable=False),
            sa.Column("content", sa.LargeBinary, nullable=True),
        ),
        "qc_record": sa.Table(
            "qc_record",
            md,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("uid", sa.String(32), nullable=False, unique=True),
            sa.Column("checked_at", sa.String(32), nullable=False),
            sa.Column("batch_id", sa.String(128), nullable=False),
            sa.Column("part_number", sa.String(128), nullable=False),
            sa.Column("drawing_revision", sa.String(64), nullable=False),
            sa.Column("decision_rule", sa.String(32), nullable=False),
            sa.Column("spec_name", sa.Text, nullable=False),
            sa.Column("ecmsim_version", sa.String(32), nullable=False),
            sa.Column("inspection_file", sa.Text, nullable=False),
            sa.Column("inspection_path", sa.String(255), nullable=False),
            sa.Column("inspection_sha256", sa.String(64), nullable=False),
            sa.Column("spec_file", sa.Text, nullable=False),
            sa.Column("spec_path", sa.String(255), nullable=False),
            sa.Column("spec_sha256", sa.String(64), nullable=False),
            sa.Column("predictions", sa.Text, nullable=False),
            sa.Column("results_path", sa.String(255), nullable=False),
            sa.Column("results_sha256", sa.String(64), nullable=False),
            sa.Column("n_parts", sa.Integer, nullable=False),
            sa.Column("n_holes", sa.Integer, nullable=False),
            sa.Column("n_accepted", sa.Integer, nullable=False),
            sa.Column("n_model_deviation", sa.Integer, nullable=False),
            sa.Column("parts_sha256", sa.String(64), nullable=False),
            sa.Column("prev_hash", sa.String(64), nullable=False),
            sa.Column("record_hash", sa.String(64), nullable=False),
            sa.Index("ix_qc_record_part_number", "part_number", "checked_at"),
        ),
        "qc_part": sa.Table(
            "qc_part",
            md,
            sa.Column("record_id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("serial", sa.String(64), nullable=False),
            sa.Column("serial_key", sa.String(64), nullable=False),
            sa.Column("measured_at", sa.String(32), nullable=False),
            sa.Column("verdict", sa.String(16), nullable=False),
            sa.Column("accepted", sa.Integer, nullable=False),
            sa.Column("n_rejected_holes", sa.Integer, nullable=False),
            sa.Column("n_undecided", sa.Integer, nullable=False),
            sa.Column("model_deviation", sa.Integer, nullable=False),
            sa.Column("rejected_by_characteristic", sa.Text, nullable=False),
            sa.Column("supersedes", sa.String(32), nullable=True),
            sa.Index("ix_qc_part_serial_key", "serial_key", "record_id"),
        ),
        "qc_failure": sa.Table(
            "qc_failure",
            md,
            sa.Column("record_id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("hole_id", sa.String(64), nullable=False),
            sa.Column("characteristic", sa.String(32), nullable=False),
            sa.Column("station_mm", sa.Float(precision=53), nullable=True),
            sa.Column("value", sa.Float(precision=53), nullable=True),
            sa.Column("lower", sa.Float(precision=53), nullable=True),
            sa.Column("upper", sa.Float(precision=53), nullable=True),
            sa.Column("uncertainty", sa.Float(precision=53), nullable=True),
            sa.Column("unit", sa.String(16), nullable=False),
            sa.Column("verdict", sa.String(16), nullable=False),
        ),
        "pending_check": sa.Table(
            "pending_check",
            md,
            sa.Column("uid", sa.String(32), primary_key=True),
            sa.Column("started_at", sa.String(32), nullable=False),
            sa.Column("host", sa.Text, nullable=False),
            sa.Column("pid", sa.Integer, nullable=False),
            sa.Column("paths", sa.Text, nullable=False),
        ),
    }
    t["metadata"] = md
    return t


_TABLE_CACHE: dict[str, Any] = {}


def tables() -> dict[str, Any]:
    """The ledger's :class:`sqlalchemy.Table` objects by name (and ``metadata``)."""
    if not _TABLE_CACHE:
        import sqlalchemy as sa

        _TABLE_CACHE.update(_tables(sa))
    return _TABLE_CACHE


def utc_now() -> str:
    """The current UTC time, ISO 8601 with microseconds."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------- engines
def sqlite_engine(path: str) -> sa.Engine:
    """An engine on the SQLite ledger at ``path``: WAL, full sync, writers take the lock at BEGIN."""
    import sqlalchemy as sa

    eng = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": BUSY_TIMEOUT_S}, poolclass=sa.pool.NullPool)

    @sa.event.listens_for(eng, "connect")
    def _connect(dbapi_conn: Any, _rec: Any) -> None:
        dbapi_conn.isolation_level = None  # transactions are begun below, not by the driver
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @sa.event.listens_for(eng, "begin")
    def _begin(conn: Any) -> None:
        # A writer takes the write lock when it begins, so the chain head it
        # reads cannot move before it commits.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("writer") else "BEGIN")

    return eng


def postgresql_engine(url: str) -> sa.Engine:
    """An engine on a PostgreSQL ledger (``postgresql://…``, driver psycopg)."""
    import sqlalchemy as sa

    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise InputDataError(
            f"{redact(url)}: a PostgreSQL store needs the psycopg driver: pip install 'ecmsim[postgresql]'"
        ) from None
    u = sa.engine.make_url(url).set(drivername="postgresql+psycopg")
    return sa.create_engine(u, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 10})


def redact(url: str) -> str:
    """``url`` without its password (for messages)."""
    try:
        import sqlalchemy as sa

        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "postgresql://…"


@contextmanager
def writer(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A write transaction holding the store's write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock)."""
    with engine.connect().execution_options(writer=True) as conn, conn.begin():
        if engine.dialect.name == "postgresql":
            import sqlalchemy as sa

            conn.execute(sa.text("SET LOCAL lock_timeout = '120s'"))
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK})
        yield conn


@contextmanager
def reader(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A read transaction (one consistent snapshot)."""
    with engine.connect() as conn, conn.begin():
        if engine.dialect.name == "postgresql":
            import sqlalchemy as sa

            conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        yield conn


# --------------------------------------------------------------------------- migrations
def _migration_1(conn: sa.Connection) -> None:
    t = tables()
    t["metadata"].create_all(conn)
    import sqlalchemy as sa

    conn.execute(sa.insert(t["store_info"]).values(key="created_at", value=utc_now()))


#: ``(version, description, step)``: applied in order, each in the transaction that records it.
MIGRATIONS: tuple[tuple[int, str, Callable[[sa.Connection], None]], ...] = (
    (1, "records, parts, failed characteristics, stored files, pending checks", _migration_1),
)


def schema_version(conn: sa.Connection) -> int:
    """The ledger's schema version (0: empty database)."""
    import sqlalchemy as sa

    if not sa.inspect(conn).has_table("schema_migration"):
        return 0
    return int(conn.execute(sa.text("SELECT COALESCE(MAX(version), 0) FROM schema_migration")).scalar_one())


def migrate(engine: sa.Engine, where: str) -> int:
    """Bring the ledger to :data:`SCHEMA_VERSION`; the version found before.

    Raises
    ------
    InputDataError
        The ledger was written by a newer ecmsim (its schema is unknown here).
    """
    import sqlalchemy as sa

    with engine.connect().execution_options(writer=True) as conn, conn.begin():
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        found = schema_version(conn)
        if found > SCHEMA_VERSION:
            raise InputDataError(
                f"{where}: the QC store's schema is version {found}, this ecmsim knows versions up to "
                f"{SCHEMA_VERSION}; use a newer ecmsim"
            )
        for version, description, step in MIGRATIONS:
            if version > found:
                step(conn)
                conn.execute(
                    sa.insert(tables()["schema_migration"]).values(
                        version=version, description=description, applied_at=utc_now()
                    )
                )
    return found


# --------------------------------------------------------------------------- hashing
def canonical(obj: object) -> bytes:
    """The canonical JSON bytes that are hashed (sorted keys, no spaces, exact floats)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode("utf-8")


#: The record columns covered by its hash (everything but the hash itself).
RECORD_FIELDS = (
    "id", "uid", "checked_at", "batch_id", "part_number", "drawing_revision", "decision_rule", "spec_name",
    "ecmsim_version", "inspection_file", "inspection_path", "inspection_sha256", "spec_file", "spec_path",
    "spec_sha256", "predictions", "results_path", "results_sha256", "n_parts", "n_holes", "n_accepted",
    "n_model_deviation", "parts_sha256", "prev_hash",
)  # fmt: skip
PART_FIELDS = (
    "idx", "serial", "serial_key", "measured_at", "verdict", "accepted", "n_rejected_holes", "n_undecided",
    "model_deviation", "rejected_by_characteristic", "supersedes",
)  # fmt: skip
FAILURE_FIELDS = (
    "idx", "n", "hole_id", "characteristic", "station_mm", "value", "lower", "upper", "uncertainty", "unit",
    "verdict",
)  # fmt: skip


def parts_hash(parts: Sequence[Mapping[str, Any]], failures: Sequence[Mapping[str, Any]]) -> str:
    """sha256 of a record's part rows and failed-characteristic rows (in index order)."""
    body = {
        "parts": [[p[k] for k in PART_FIELDS] for p in sorted(parts, key=lambda p: p["idx"])],
        "failures": [[f[k] for k in FAILURE_FIELDS] for f in sorted(failures, key=lambda f: (f["idx"], f["n"]))],
    }
    return hashlib.sha256(canonical(body)).hexdigest()


def record_hash(record: Mapping[str, Any]) -> str:
    """sha256 of a record's fields, its parts' hash and the previous record's hash (the chain link)."""
    return hashlib.sha256(canonical({k: record[k] for k in RECORD_FIELDS})).hexdigest()


def check_writable(exc: Exception, where: str) -> OutputError:
    """An :class:`OutputError` for a database error while writing the store."""
    text = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else type(exc).__name__
    if "locked" in text or "lock timeout" in text or "busy" in text:
        return OutputError(f"{where}: the QC store is busy (another ecmsim process holds it): {text}; try again")
    return OutputError(f"{where}: cannot write the QC store's ledger: {text}")
