"""Sweep results for people and programs: a terminal table, JSON rows and CSV.

One row per evaluated point, in plan order: the varied parameters (named
``table.key`` with their unit in the name), the outcome (``status``,
``message``) and every metric of :data:`ecmsim.io.sweep.SWEEP_METRICS`.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ecmsim.io.sweep import SWEEP_METRICS, SweepData

#: Metrics shown on the terminal by default (those with a value at some point), in this order.
TABLE_METRICS = (
    "diameter_mm", "entry_diameter_mm", "exit_diameter_mm", "taper_deg", "side_gap_mm", "frontal_gap_mm",
    "machining_time_s", "peak_current_A", "max_current_density_A_per_cm2",
)  # fmt: skip
#: Short column titles of the terminal table.
_TITLES = {
    "diameter_mm": "Ø mm", "entry_diameter_mm": "entry Ø mm", "exit_diameter_mm": "exit Ø mm",
    "taper_deg": "taper °", "side_gap_mm": "side gap mm", "frontal_gap_mm": "front gap mm",
    "machining_time_s": "time s", "peak_current_A": "I peak A", "max_current_density_A_per_cm2": "j max A/cm²",
}  # fmt: skip


def point_records(sweep: SweepData) -> list[dict[str, Any]]:
    """Every evaluated point as a flat dict: parameters by ``table.key``, ``status``, ``message``, every metric.

    Metrics not available at a point are ``None``; ``param_hash`` identifies the point.
    """
    out = []
    for row in sweep.rows():
        rec: dict[str, Any] = dict(zip(sweep.parameters, row["values"], strict=True))
        rec["status"] = row["status"]
        rec["message"] = row["message"]
        for name in SWEEP_METRICS:
            rec[name] = row[name]
        rec["param_hash"] = row["param_hash"]
        out.append(rec)
    return out


def sweep_csv(sweep: SweepData) -> str:
    """CSV text of the points (header: parameters, status, message, metrics, param_hash); empty cell: no value."""
    buf = io.StringIO()
    columns = [*sweep.parameters, "status", "message", *SWEEP_METRICS, "param_hash"]
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for rec in point_records(sweep):
        writer.writerow([_csv_cell(rec[c]) for c in columns])
    return buf.getvalue()


def _csv_cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if not math.isfinite(v) else repr(v)
    return str(v)


def write_sweep_csv(path: str | Path, sweep: SweepData) -> None:
    """Write :func:`sweep_csv` to ``path`` atomically (the old file or the complete new one)."""
    from ecmsim.qc.textfiles import write_text_atomic

    write_text_atomic(path, sweep_csv(sweep))


def table_lines(sweep: SweepData, metrics: Sequence[str] | None = None, max_rows: int | None = None) -> list[str]:
    """The points as an aligned text table, one line per point (the first ``max_rows`` of them).

    ``metrics`` defaults to those of :data:`TABLE_METRICS` with a value at some point.
    """
    recs = point_records(sweep)
    if metrics is None:
        metrics = [m for m in TABLE_METRICS if any(r[m] is not None for r in recs)]
    heads = [p.split(".", 1)[-1] for p in sweep.parameters] + ["status"] + [_TITLES.get(m, m) for m in metrics]
    shown = recs if max_rows is None else recs[:max_rows]
    body = [[f"{r[p]:g}" for p in sweep.parameters] + [r["status"]] + [_number(r[m]) for m in metrics] for r in shown]
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(heads)]
    n_par = len(sweep.parameters)

    def line(cells: list[str]) -> str:
        parts = [
            c.rjust(w) if i < n_par or i > n_par else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  " + "  ".join(parts).rstrip()

    out = [line(heads)] + [line(row) for row in body]
    if max_rows is not None and len(recs) > max_rows:
        out.append(f"  … {len(recs) - max_rows} more points")
    return out


def _number(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.4g}"


def status_counts(sweep: SweepData) -> dict[str, int]:
    """How many points ended with each status."""
    counts: dict[str, int] = {}
    for s in sweep.status:
        counts[s] = counts.get(s, 0) + 1
    return counts
