"""Committing QC records: files into place, then one transaction for the records and their files.

The steps (``docs/store.md``): announce the check as pending (folder stores),
move its files into place, then in one write transaction: read the chain
head, add the files' rows, link each part to the record it supersedes, add
the record with its hash, and remove the pending entry.  A process killed at
any moment leaves either the whole record or none of it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ecmsim.errors import InputDataError, OutputError
from ecmsim.io import ledger
from ecmsim.io.store import RecordDraft, StagedFile, host_pid, serial_key

if TYPE_CHECKING:
    import sqlalchemy as sa

    from ecmsim.io.store import QCStore

_IN_CHUNK = 500


def commit_records(store: QCStore, drafts: Sequence[RecordDraft]) -> list[dict[str, Any]]:
    """See :meth:`ecmsim.io.store.QCStore.commit`."""
    import sqlalchemy as sa

    files = _unique_files(drafts)
    t = ledger.tables()
    pending = drafts[0].uid if drafts else ""
    try:
        if store.is_folder:
            _announce(store, pending, files)
            store.area.place_all(files)  # type: ignore[union-attr]
        with ledger.writer(store.engine) as conn:
            _add_files(store, conn, files)
            head = conn.execute(sa.text("SELECT id, record_hash FROM qc_record ORDER BY id DESC LIMIT 1")).first()
            last_id, prev = (int(head[0]), str(head[1])) if head else (0, ledger.GENESIS_HASH)
            latest = _latest_records(conn, drafts)
            out: list[dict[str, Any]] = []
            parts: list[dict[str, Any]] = []
            failures: list[dict[str, Any]] = []
            for d in drafts:
                rec = _record_rows(d, last_id + 1, prev, latest)
                out.append(rec["record"])
                parts += rec["parts"]
                failures += rec["failures"]
                last_id, prev = last_id + 1, rec["record"]["record_hash"]
            # One statement per table (executemany): a commit of many records is one round trip each.
            for name, rows in (("qc_record", out), ("qc_part", parts), ("qc_failure", failures)):
                if rows:
                    conn.execute(sa.insert(t[name]), rows)
            if store.is_folder:
                conn.execute(sa.delete(t["pending_check"]).where(t["pending_check"].c.uid == pending))
    except (InputDataError, OutputError):
        raise
    except Exception as exc:
        if type(exc).__module__.startswith(("sqlalchemy", "sqlite3", "psycopg")):
            raise ledger.check_writable(exc, store.location) from None
        raise
    return out


def _unique_files(drafts: Sequence[RecordDraft]) -> list[StagedFile]:
    seen: dict[str, StagedFile] = {}
    for d in drafts:
        for f in d.files:
            have = seen.get(f.path)
            if have is None:
                seen[f.path] = f
            elif have.sha256 != f.sha256:
                raise OutputError(f"{f.path}: two different files for one place in the QC store")
    return list(seen.values())


def _announce(store: QCStore, uid: str, files: Sequence[StagedFile]) -> None:
    """Register the check as pending, so files it leaves if killed are known as a killed check's."""
    import sqlalchemy as sa

    host, pid = host_pid()
    with ledger.writer(store.engine) as conn:
        conn.execute(
            sa.insert(ledger.tables()["pending_check"]).values(
                uid=uid,
                started_at=ledger.utc_now(),
                host=host,
                pid=pid,
                paths=json.dumps([f.path for f in files]),
            )
        )


def _add_files(store: QCStore, conn: sa.Connection, files: Sequence[StagedFile]) -> None:
    """One ``stored_file`` row per new file (with its bytes in a database store); known ones must match."""
    import sqlalchemy as sa

    sf = ledger.tables()["stored_file"]
    known: dict[str, str] = {}
    paths = [f.path for f in files]
    for i in range(0, len(paths), _IN_CHUNK):
        q = sa.select(sf.c.path, sf.c.sha256).where(sf.c.path.in_(paths[i : i + _IN_CHUNK]))
        known.update({str(p): str(h) for p, h in conn.execute(q)})
    new: list[dict[str, Any]] = []
    for f in files:
        if f.path in known:
            if known[f.path] != f.sha256:
                raise OutputError(f"{store.describe(f.path)}: the ledger holds another file at this place")
            if not store.is_folder:
                have = store.area.read_hash(f.path, conn)
                if have is None or have[0] != f.sha256:
                    raise OutputError(
                        f"{store.describe(f.path)}: this archived copy has been changed; the store needs an "
                        "audit: run `ecmsim qc verify`"
                    )
            continue
        values: dict[str, Any] = {"path": f.path, "kind": f.kind, "sha256": f.sha256, "size": f.size}
        values["content"] = None if store.is_folder else f.source.read_bytes()
        new.append(values)
    if new:
        conn.execute(sa.insert(sf), new)


def _latest_records(conn: sa.Connection, drafts: Sequence[RecordDraft]) -> dict[str, str]:
    """The uid of the latest record of every serial in ``drafts`` (the records the new ones supersede)."""
    import sqlalchemy as sa

    keys = sorted({serial_key(p["serial"]) for d in drafts for p in d.parts})
    latest: dict[str, str] = {}
    q = sa.text(
        "SELECT p.serial_key, r.uid FROM qc_part p JOIN qc_record r ON r.id = p.record_id "
        "WHERE p.serial_key IN :keys ORDER BY p.record_id"
    ).bindparams(sa.bindparam("keys", expanding=True))
    for i in range(0, len(keys), _IN_CHUNK):
        for k, uid in conn.execute(q, {"keys": keys[i : i + _IN_CHUNK]}):
            latest[k] = uid  # ordered by record: the last one wins
    return latest


def _record_rows(d: RecordDraft, rid: int, prev: str, latest: dict[str, str]) -> dict[str, Any]:
    """The rows of one record, with the links to superseded records and the chain hash."""
    parts = []
    for p in d.parts:
        k = serial_key(p["serial"])
        parts.append({**p, "record_id": rid, "serial_key": k, "supersedes": latest.get(k)})
        latest[k] = d.uid
    failures = [{**f, "record_id": rid} for f in d.failures]
    rec = {**d.fields, "id": rid, "uid": d.uid, "prev_hash": prev}
    rec["parts_sha256"] = ledger.parts_hash(parts, failures)
    rec["record_hash"] = ledger.record_hash(rec)
    return {"record": rec, "parts": parts, "failures": failures}
