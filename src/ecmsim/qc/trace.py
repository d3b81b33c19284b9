"""``qc trace``: every inspection and verdict of one part, from the QC store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ecmsim.errors import InputDataError
from ecmsim.io.store import trace_serial

DEFAULT_STORE = "ecmsim-qc-store"


def trace(serial: str, store: str | Path = DEFAULT_STORE) -> list[dict[str, Any]]:
    """Records of ``serial`` in the store, oldest check first.

    Raises
    ------
    InputDataError
        The store does not exist, or holds no record of the serial.
    """
    records, n_files = trace_serial(serial, store)
    if not records:
        raise InputDataError(f"serial {serial!r}: no record in the QC store {store} ({n_files} results files scanned)")
    return records


def trace_lines(records: list[dict[str, Any]]) -> list[str]:
    """A readable listing of :func:`trace` records."""
    out = [f"serial {records[0]['serial']}: {len(records)} record(s)"]
    for r in records:
        why = ", ".join(f"{c} {n}" for c, n in r["rejected_by_characteristic"].items())
        out += [
            f"- checked {r['checked_at']}  batch {r['batch_id']}  part {r['part_number']} rev {r['drawing_revision']}",
            f"    measured {r['measured_at'] or '?'}  inspection {r['inspection_file']} "
            f"(sha256 {r['inspection_sha256'][:16]})",
            f"    spec sha256 {r['spec_sha256'][:16]}  rule {r['decision_rule']}  ecmsim {r['ecmsim_version']}",
            f"    verdict {r['verdict']}  {'ACCEPTED' if r['accepted'] else 'REJECTED'}  undecided {r['n_undecided']}"
            + (f"  rejected holes by characteristic: {why}" if why else "")
            + ("  model deviation" if r["model_deviation"] else ""),
            f"    results file {r['results_file']}",
        ]
    return out
