"""Questions asked of a QC store: every record of a serial (verified), a part number's batches."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ecmsim.errors import InputDataError
from ecmsim.io import ledger
from ecmsim.io.store import serial_key

if TYPE_CHECKING:
    import sqlalchemy as sa

    from ecmsim.io.store import QCStore


def trace_records(store: QCStore, serial: str, *, check_files: bool = True) -> list[dict[str, Any]]:
    """See :meth:`ecmsim.io.store.QCStore.trace`; each record's ``verification`` lists its problems."""
    import sqlalchemy as sa

    key = serial_key(serial)
    with ledger.reader(store.engine) as conn:
        rows = (
            conn.execute(
                sa.text(
                    "SELECT r.*, p.idx AS p_idx, p.serial, p.measured_at, p.verdict, p.accepted, p.n_rejected_holes, "
                    "p.n_undecided, p.model_deviation, p.rejected_by_characteristic, p.supersedes "
                    "FROM qc_part p JOIN qc_record r ON r.id = p.record_id WHERE p.serial_key = :k ORDER BY r.id, p.idx"
                ),
                {"k": key},
            )
            .mappings()
            .all()
        )
        out = []
        for row in rows:
            failures = (
                conn.execute(
                    sa.text("SELECT * FROM qc_failure WHERE record_id = :r AND idx = :i ORDER BY n"),
                    {"r": row["id"], "i": row["p_idx"]},
                )
                .mappings()
                .all()
            )
            problems = _record_problems(store, conn, row, check_files)
            out.append(_trace_entry(store, row, failures, problems))
    by_uid = {r["uid"]: r for r in out}
    for r in out:
        if r["supersedes"] in by_uid:
            by_uid[r["supersedes"]]["superseded_by"] = r["uid"]
    return out


#: Record and part columns a trace entry copies as they are, in its order.
_TRACE_COLUMNS = (
    "uid", "checked_at", "batch_id", "part_number", "drawing_revision", "inspection_file", "inspection_sha256",
    "spec_file", "spec_sha256", "decision_rule", "measured_at", "verdict",
)  # fmt: skip
#: Columns of a failure row in a trace entry.
_FAILURE_COLUMNS = (
    "hole_id", "characteristic", "station_mm", "value", "lower", "upper", "uncertainty", "unit", "verdict",
)  # fmt: skip


def _pick(row: Any, names: Sequence[str]) -> dict[str, Any]:
    """The named columns of a row, in that order."""
    return {k: row[k] for k in names}


def _trace_entry(store: QCStore, row: Any, failures: Any, problems: list[str]) -> dict[str, Any]:
    return {
        "serial": row["serial"],
        "record": int(row["id"]),
        **_pick(row, _TRACE_COLUMNS),
        "accepted": bool(row["accepted"]),
        "n_holes": int(row["n_holes"]),
        "n_rejected_holes": int(row["n_rejected_holes"]),
        "n_undecided": int(row["n_undecided"]),
        "rejected_by_characteristic": json.loads(row["rejected_by_characteristic"]),
        "failures": [_pick(f, _FAILURE_COLUMNS) for f in failures],
        "model_deviation": bool(row["model_deviation"]),
        "ecmsim_version": row["ecmsim_version"],
        "results_file": store.describe(row["results_path"]),
        "results_sha256": row["results_sha256"],
        "record_hash": row["record_hash"],
        "supersedes": row["supersedes"],
        "superseded_by": None,
        "verified": not problems,
        "verification": problems,
    }


def _record_problems(store: QCStore, conn: sa.Connection, row: Any, check_files: bool) -> list[str]:
    """What is wrong with one record: its hash, its links in the chain, its files (re-hashed in full)."""
    import sqlalchemy as sa

    problems = []
    rid = int(row["id"])
    q_rows = "SELECT * FROM {} WHERE record_id = :r"
    parts = [dict(r) for r in conn.execute(sa.text(q_rows.format("qc_part")), {"r": rid}).mappings()]
    fails = [dict(r) for r in conn.execute(sa.text(q_rows.format("qc_failure")), {"r": rid}).mappings()]
    rec = dict(row)
    if ledger.parts_hash(parts, fails) != rec["parts_sha256"] or ledger.record_hash(rec) != rec["record_hash"]:
        problems.append("the record's rows do not match its hash (changed in the ledger)")
    q = sa.text("SELECT record_hash, prev_hash FROM qc_record WHERE id = :i")
    before = conn.execute(q, {"i": rid - 1}).first()
    want_prev = ledger.GENESIS_HASH if rid == 1 else (before[0] if before else None)
    if want_prev != rec["prev_hash"]:
        problems.append(f"broken chain link to record {rid - 1}")
    after = conn.execute(q, {"i": rid + 1}).first()
    if after is not None and after[1] != rec["record_hash"]:
        problems.append(f"broken chain link from record {rid + 1}")
    if check_files:
        for what, path, sha in record_files(rec):
            have = store.area.read_hash(path, conn)
            if have is None:
                problems.append(f"{what} {store.describe(path)} is missing")
            elif have[0] != sha:
                problems.append(f"{what} {store.describe(path)} has been changed (sha256 {have[0][:16]}…)")
    return problems


def record_files(rec: Any) -> list[tuple[str, str, str]]:
    """``(what, place, sha256)`` of every file a record refers to."""
    out = [
        ("results file", rec["results_path"], rec["results_sha256"]),
        ("archived inspection", rec["inspection_path"], rec["inspection_sha256"]),
        ("archived spec", rec["spec_path"], rec["spec_sha256"]),
    ]
    for _file, place, sha in json.loads(rec["predictions"]):
        out.append(("archived prediction", place, sha))
    return out


def part_history(store: QCStore, part_number: str, since: str | None) -> list[dict[str, Any]]:
    """See :meth:`ecmsim.io.store.QCStore.history`."""
    import sqlalchemy as sa

    if since is not None and not _iso_date(since):
        raise InputDataError(f"--since {since!r}: not a date; give YYYY-MM-DD or an ISO 8601 time")
    q = (
        "SELECT id, uid, checked_at, batch_id, drawing_revision, n_parts, n_accepted, n_model_deviation, "
        "decision_rule, results_path FROM qc_record WHERE part_number = :p"
    )
    args: dict[str, Any] = {"p": part_number}
    if since:
        q += " AND checked_at >= :s"
        args["s"] = since
    with ledger.reader(store.engine) as conn:
        rows = conn.execute(sa.text(q + " ORDER BY checked_at, id"), args).mappings().all()
        rechecked: dict[int, int] = dict(
            conn.execute(
                sa.text(
                    "SELECT r.id, COUNT(*) FROM qc_part p JOIN qc_record r ON r.id = p.record_id "
                    "WHERE r.part_number = :p AND p.supersedes IS NOT NULL GROUP BY r.id"
                ),
                {"p": part_number},
            ).all()
        )
    return [
        {
            "record": int(r["id"]),
            **_pick(r, ("uid", "checked_at", "batch_id", "drawing_revision")),
            "parts": int(r["n_parts"]),
            "accepted": int(r["n_accepted"]),
            "rejected": int(r["n_parts"] - r["n_accepted"]),
            "model_deviation": int(r["n_model_deviation"]),
            "rechecked_parts": int(rechecked.get(r["id"], 0)),
            "decision_rule": r["decision_rule"],
            "results_file": store.describe(r["results_path"]),
        }
        for r in rows
    ]


def _iso_date(text: str) -> bool:
    import datetime

    try:
        datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
