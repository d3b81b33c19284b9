"""``qc trace``: every inspection and verdict of one part, from the QC store, each record verified."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ecmsim.errors import InputDataError


def trace(serial: str, store: str | Path | None = None) -> list[dict[str, Any]]:
    """Records of ``serial`` in the store, oldest check first (see :meth:`ecmsim.io.store.QCStore.trace`).

    Serial numbers are compared stripped and in upper case.

    Raises
    ------
    InputDataError
        The store does not exist, or holds no record of the serial.
    """
    from ecmsim.io.store import open_store

    qs = open_store(store)
    records = qs.trace(serial)
    if not records:
        raise InputDataError(f"serial {serial!r}: no record in the QC store {qs.location} ({qs.n_records()} records)")
    return records


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.4f}"


def _failure_line(f: dict[str, Any]) -> str:
    where = f"{f['hole_id']} {f['characteristic']}" + (
        f" @ {f['station_mm']:g} mm" if f["station_mm"] is not None else ""
    )
    if f["value"] is None:
        return f"      {where}: {f['verdict'] if f['verdict'] == 'blocked' else 'not measured'}"
    u = f", U {_fmt(f['uncertainty'])}" if f["uncertainty"] is not None else ""
    return (
        f"      {where}: {_fmt(f['value'])} {f['unit']} {f['verdict']} "
        f"(limits {_fmt(f['lower'])}..{_fmt(f['upper'])} {f['unit']}{u})"
    )


def trace_lines(records: list[dict[str, Any]]) -> list[str]:
    """A readable listing of :func:`trace` records."""
    out = [f"serial {records[0]['serial']}: {len(records)} record(s)"]
    for r in records:
        why = ", ".join(f"{c} {n}" for c, n in r["rejected_by_characteristic"].items())
        state = "verified" if r["verified"] else "FAILS VERIFICATION: " + "; ".join(r["verification"])
        out += [
            f"- record {r['record']} ({state})",
            f"    checked {r['checked_at']}  batch {r['batch_id']}  "
            f"part {r['part_number']} rev {r['drawing_revision']}",
            f"    measured {r['measured_at'] or '?'}  inspection {r['inspection_file']} "
            f"(sha256 {r['inspection_sha256'][:16]})",
            f"    spec {r['spec_file']} (sha256 {r['spec_sha256'][:16]})  rule {r['decision_rule']}  "
            f"ecmsim {r['ecmsim_version']}",
            f"    verdict {r['verdict']}  {'ACCEPTED' if r['accepted'] else 'REJECTED'}  undecided {r['n_undecided']}"
            + (f"  rejected holes by characteristic: {why}" if why else "")
            + ("  model deviation" if r["model_deviation"] else ""),
        ]
        out += [_failure_line(f) for f in r["failures"][:20]]
        if len(r["failures"]) > 20:
            out.append(f"      … {len(r['failures']) - 20} more failed decisions (--json lists them)")
        if r["supersedes"]:
            out.append(f"    re-check: supersedes record {r['supersedes'][:12]}")
        if r["superseded_by"]:
            out.append(f"    superseded by the later record {r['superseded_by'][:12]}")
        out.append(f"    results file {r['results_file']}")
    return out
