"""``qc verify``: re-hash every record and file of a QC store and walk its hash chain.

Findings (each makes the audit fail): a record whose rows do not match its
hash, a broken or missing link of the chain, a file a record refers to that
is missing or changed, a file in the store that no record refers to, a
damaged database.  Notes (no failure): files a killed check left, which no
record refers to and which the ledger lists as that check's.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ecmsim.io import ledger
from ecmsim.io.store import Finding, VerifyReport
from ecmsim.io.store_query import record_files

if TYPE_CHECKING:
    import sqlalchemy as sa

    from ecmsim.io.store import QCStore


def verify_store(store: QCStore) -> VerifyReport:
    """See :meth:`ecmsim.io.store.QCStore.verify`."""
    rep = VerifyReport(store.location)
    try:
        with ledger.reader(store.engine) as conn:
            _check_database(store, conn, rep)
            referenced = _check_chain(store, conn, rep)
            _check_files(store, conn, rep, referenced)
    except Exception as exc:
        if not type(exc).__module__.startswith(("sqlalchemy", "sqlite3", "psycopg")):
            raise
        text = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        rep.findings.append(Finding("database", store.location, f"the ledger cannot be read: {text}"))
    return rep


def _check_database(store: QCStore, conn: sa.Connection, rep: VerifyReport) -> None:
    import sqlalchemy as sa

    if store.engine.dialect.name == "sqlite":
        res = [r[0] for r in conn.execute(sa.text("PRAGMA integrity_check"))]
        if res != ["ok"]:
            rep.findings.append(Finding("database", store.location, "; ".join(res[:5])))
    version = ledger.schema_version(conn)
    if version != ledger.SCHEMA_VERSION:
        rep.findings.append(
            Finding("database", store.location, f"schema version {version}, expected {ledger.SCHEMA_VERSION}")
        )


def _check_chain(store: QCStore, conn: sa.Connection, rep: VerifyReport) -> dict[str, tuple[str, str]]:
    """Walk the records in order: hashes, links, numbering; the files they refer to (place → (sha, what))."""
    import sqlalchemy as sa

    parts = _rows_by_record(conn, "qc_part")
    fails = _rows_by_record(conn, "qc_failure")
    prev, expect_id = ledger.GENESIS_HASH, 1
    referenced: dict[str, tuple[str, str]] = {}
    for row in conn.execute(sa.text("SELECT * FROM qc_record ORDER BY id")).mappings():
        rec = dict(row)
        rid = int(rec["id"])
        rep.n_records += 1
        where = f"record {rid} (batch {rec['batch_id']}, checked {rec['checked_at']})"
        if rid != expect_id:
            rep.findings.append(Finding("broken link", where, f"records {expect_id}..{rid - 1} are missing"))
        elif rec["prev_hash"] != prev:
            rep.findings.append(Finding("broken link", where, "its link to the record before does not match"))
        p, f = parts.pop(rid, []), fails.pop(rid, [])
        if ledger.parts_hash(p, f) != rec["parts_sha256"]:
            rep.findings.append(Finding("record changed", where, "its part or failure rows do not match its hash"))
        if ledger.record_hash(rec) != rec["record_hash"]:
            rep.findings.append(Finding("record changed", where, "its fields do not match its hash"))
        for what, place, sha in record_files(rec):
            referenced[place] = (sha, what)
        prev, expect_id = rec["record_hash"], rid + 1
    rep.head_hash = prev if rep.n_records else ""
    for rid in sorted(set(parts) | set(fails)):
        rep.findings.append(Finding("record changed", f"record {rid}", "part rows of a record that is not there"))
    return referenced


def _rows_by_record(conn: sa.Connection, table: str) -> dict[int, list[dict[str, Any]]]:
    import sqlalchemy as sa

    out: dict[int, list[dict[str, Any]]] = {}
    for r in conn.execute(sa.text(f"SELECT * FROM {table}")).mappings():
        out.setdefault(int(r["record_id"]), []).append(dict(r))
    return out


def _check_files(store: QCStore, conn: sa.Connection, rep: VerifyReport, referenced: dict[str, Any]) -> None:
    """Every referenced file present with its hash; every other file accounted for."""
    import sqlalchemy as sa

    stored = {r[0]: r[1] for r in conn.execute(sa.text("SELECT path, sha256 FROM stored_file"))}
    pending: dict[str, str] = {}
    for uid, started, paths in conn.execute(sa.text("SELECT uid, started_at, paths FROM pending_check")):
        for p in json.loads(paths):
            pending[p] = f"check {uid[:12]} started {started} and did not finish"
    for place, (sha, what) in sorted(referenced.items()):
        rep.n_files += 1
        have = store.area.read_hash(place, conn)
        if have is None:
            rep.findings.append(Finding("missing", store.describe(place), f"{what} of a record"))
        elif have[0] != sha:
            rep.findings.append(
                Finding("changed", store.describe(place), f"{what}: sha256 {have[0]}, the record says {sha}")
            )
        if stored.get(place) != sha:
            rep.findings.append(Finding("record changed", store.describe(place), "its stored-file row does not match"))
    for place in sorted(set(stored) - set(referenced)):
        if place.startswith("results/"):
            rep.findings.append(Finding("extra", store.describe(place), "a results file row that no record refers to"))
    for place in sorted(store.area.listing() - set(referenced)):
        if place in pending:
            rep.notes.append(f"{store.describe(place)}: left by a {pending[place]}; it is not part of any record")
        elif place in stored:
            continue  # an archived input that only pending checks used: harmless
        else:
            rep.findings.append(Finding("extra", store.describe(place), "a file that no record refers to"))
