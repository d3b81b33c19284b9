"""The conformity report as a paginated PDF: summary first, then one page per rejected part.

Page 1: the verdict, the warnings, a traffic-light table per batch and characteristic (decisions,
parts rejected), the check's provenance and the sign-off block (inspected by, released by, date).
Then the rejected parts (every one, paginated) and a page per rejected part (the first
:data:`MAX_PART_PAGES`) with its hole map — the design positions coloured by the hole's verdict —
and each failed characteristic's value, limits and uncertainty.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ecmsim.io.qc_results import VERDICT_NAMES
from ecmsim.qc.pdf import AMBER, GREEN, RED, PdfDocument, serial_range

if TYPE_CHECKING:
    import io

    from matplotlib.figure import Figure

    from ecmsim.qc.check import BatchOutcome, CheckRun

#: Rejected parts that get a page of their own (the table lists them all).
MAX_PART_PAGES = 100
#: Hole-map colour of each verdict code.
VERDICT_COLOURS = {-1: "#bbbbbb", 0: "#2e9d4f", 1: "#9acd32", 2: "#f0a030", 3: "#7e57c2", 4: "#d32f2f"}
_REASON_RE = re.compile(r"^(?P<hole>\S+) (?P<char>\w+)")


def hole_verdicts(o: BatchOutcome, part: int) -> np.ndarray:
    """Verdict code of every hole of one part, from the results file (the reasons if it cannot be read)."""
    import h5py

    try:
        with h5py.File(o.results_file, "r") as f:
            return np.asarray(f["holes/verdict"][part], int)
    except (OSError, KeyError, ValueError, TypeError):
        out = np.zeros(o.design.n_holes, int)
        index = {h: i for i, h in enumerate(o.design.hole_id)}
        for r in o.reasons.get(part, []):
            m = _REASON_RE.match(r)
            if m and m["hole"] in index:
                out[index[m["hole"]]] = 4
        return out


def hole_map_figure(o: BatchOutcome, part: int, verdicts: np.ndarray) -> Figure:
    """Design positions (nominal x, y) coloured by the hole verdicts of one part."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    d = o.design
    x = np.asarray(d.nominal_x, float)
    y = np.asarray(d.nominal_y, float)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):  # no positions in the design: holes in a row
        x, y = np.arange(d.n_holes, dtype=float), np.zeros(d.n_holes)
    fig = Figure(figsize=(7.2, 3.2))
    ax = fig.subplots()
    colours = [VERDICT_COLOURS.get(int(v), "#bbbbbb") for v in verdicts]
    ax.scatter(x, y, s=120, c=colours, edgecolors="#333", linewidths=0.6, zorder=3)
    bad = verdicts >= 2
    for i in np.nonzero(bad)[0].tolist():
        ax.annotate(d.hole_id[i], (x[i], y[i]), textcoords="offset points", xytext=(0, 9), ha="center", fontsize=7)
    ax.set_aspect("equal", adjustable="datalim")
    ax.margins(0.12)
    ax.set_xlabel("nominal x (mm)")
    ax.set_ylabel("nominal y (mm)")
    ax.grid(alpha=0.3)
    handles = [Line2D([], [], marker="o", ls="", color=c, markeredgecolor="#333", label=VERDICT_NAMES[k])
               for k, c in VERDICT_COLOURS.items() if k >= 0]  # fmt: skip
    ax.legend(handles=handles, fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"hole map of {o.serials[part]}", fontsize=9)
    fig.tight_layout()
    return fig


def summary_rows(run: CheckRun) -> tuple[list[list[object]], list[list[str | None]]]:
    """Per batch and characteristic: decisions by zone and parts rejected, with the traffic-light fills."""
    from ecmsim.qc.check import CHARS
    from ecmsim.qc.spec import CHARACTERISTICS

    rows, fills = [], []
    names = [VERDICT_NAMES[c] for c in (0, 1, 2, 3, 4)]
    for o in run.outcomes:
        for ch in CHARS:
            vc = o.verdict_counts.get(ch, {})
            if sum(vc.get(n, 0) for n in names) == 0:
                continue
            n_rej = int((o.n_rejected_by_char[:, CHARS.index(ch)] > 0).sum())
            und = vc.get("conditional pass", 0) + vc.get("conditional fail", 0)
            colour = RED if n_rej else (AMBER if und else GREEN)
            rows.append([o.meta["batch_id"], f"{ch} ({CHARACTERISTICS[ch]})", *(vc.get(n, 0) for n in names), n_rej])
            counts = [vc.get(n, 0) for n in names]
            zone = (GREEN, AMBER, AMBER, AMBER, RED)  # a count outside "pass" is worth a look
            fills.append([None, None, *(z if k else None for z, k in zip(zone, counts, strict=True)), colour])
    return rows, fills


def render_check_pdf(run: CheckRun, target: str | io.BytesIO, paper: str = "a4", warnings: Sequence[str] = ()) -> int:
    """Write the conformity report as a PDF (path or buffer); return the number of pages."""
    from ecmsim import __version__
    from ecmsim.qc.spec import RULE_REFERENCES

    serials = [s for o in run.outcomes for s in o.serials]
    batches = ", ".join(o.meta["batch_id"] for o in run.outcomes)
    doc = PdfDocument("Conformity report", f"batch {batches} · serials {serial_range(serials)}",
                      f"ecmsim {__version__} · checked {run.checked_at} · spec sha256 {run.spec.sha256[:16]}",
                      paper)  # fmt: skip
    n_parts = sum(o.n_parts for o in run.outcomes)
    n_acc = sum(o.n_accepted for o in run.outcomes)
    verdict = "ALL PARTS CONFORM" if run.all_conform else f"{n_parts - n_acc} OF {n_parts} PARTS REJECTED"
    doc.paragraph(verdict, size=11, bold=True, color="#1a7f37" if run.all_conform else "#c62828")
    for w in warnings:
        doc.paragraph(f"warning: {w}", size=8, color="#a15c00")
    doc.heading("Summary by batch and characteristic")
    rows, fills = summary_rows(run)
    head = ("batch", "characteristic", "pass", "cond. pass", "cond. fail", "not measured", "fail", "parts rejected")
    doc.table(head, rows, fills, weights=(12, 18, 7, 8, 8, 9, 7, 9))
    dec = run.spec.decision
    prov = [("spec", f"{run.spec.source} ({run.spec.name})" if run.spec.name else run.spec.source),
            ("spec sha256", run.spec.sha256), ("decision rule", f"{dec.rule}: {RULE_REFERENCES[dec.rule]}"),
            ("guard band", f"w = {dec.guard_band_factor:g} × U (k = 2)"),
            ("conditional pass", "accepted" if dec.accept_conditional_pass else "rejected (re-measure)"),
            ("values not measured", dec.missing), ("QC store", str(run.store))]  # fmt: skip
    for o in run.outcomes:
        prov += [("batch", f"{o.meta['batch_id']}: {o.n_accepted}/{o.n_parts} accepted, {o.path} (sha256 "
                           f"{o.sha256}); results {o.results_file}")]  # fmt: skip
    doc.provenance_and_release("Check and provenance", prov + run.predictions.provenance_rows())
    for o in run.outcomes:
        _rejected(doc, o)
    return doc.save(target)


def _rejected(doc: PdfDocument, o: BatchOutcome) -> None:
    """The table of every rejected part of a batch, then a page per rejected part."""
    rej = np.nonzero(~o.accepted)[0].tolist()
    doc.new_page()
    doc.heading(f"Rejected parts of batch {o.meta['batch_id']} ({len(rej)} of {o.n_parts})")
    if not rej:
        doc.paragraph("None.")
        return
    rows = [[o.serials[i], VERDICT_NAMES[int(o.part_verdict[i])], int(o.n_rejected_holes[i]), int(o.n_undecided[i]),
             "; ".join(o.reasons.get(i, [])[:2])] for i in rej]  # fmt: skip
    doc.table(("serial", "verdict", "rejected holes", "undecided", "first reasons"), rows, weights=(10, 8, 6, 6, 50))
    for i in rej[:MAX_PART_PAGES]:
        doc.new_page()
        doc.heading(f"Part {o.serials[i]} — {VERDICT_NAMES[int(o.part_verdict[i])]}")
        doc.paragraph(f"batch {o.meta['batch_id']}, measured {o.measured_at[i]}; {int(o.n_rejected_holes[i])} "
                      f"rejected hole(s), {int(o.n_undecided[i])} undecided decision(s)")  # fmt: skip
        verdicts = hole_verdicts(o, i)
        doc.figure(hole_map_figure(o, i, verdicts))
        doc.heading("Failed characteristics (value, verdict, limits, uncertainty U)", 10)
        reasons = o.reasons.get(i, [])
        doc.table(("characteristic",), [[r] for r in reasons] or [["no characteristic evaluated"]])
        n_bad = int((verdicts >= 2).sum())
        if n_bad > len(reasons):
            doc.paragraph(f"{n_bad} holes are not accepted; the first {len(reasons)} reasons are listed (the "
                          "results file holds every verdict).", size=7)  # fmt: skip
    if len(rej) > MAX_PART_PAGES:
        doc.paragraph(f"… {len(rej) - MAX_PART_PAGES} more rejected parts: see the table above and the results file.")
