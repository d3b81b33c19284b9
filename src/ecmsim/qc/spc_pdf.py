"""The process-statistics report as a paginated PDF, and the capability sixpack.

Summary first: the verdict line, a traffic-light table per series (conformity: values out of
specification; capability: Ppk, or the ISO 22514-2 percentile Ppk when the values are not normal;
control: signals), provenance and the sign-off block on page 1; then the capability details, the
signals, the residuals, one capability sixpack per characteristic series (Minitab's layout) and
the charts of the residual series.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ecmsim.qc.pdf import AMBER, GREEN, GREY, RED, PdfDocument, fmt, serial_range

if TYPE_CHECKING:
    import io

    from matplotlib.figure import Figure

    from ecmsim.qc.capability import Capability
    from ecmsim.qc.spc import SeriesResult, SpcRun

#: Capability thresholds of the traffic light (a common aerospace requirement: Ppk ≥ 1.33).
PPK_GREEN, PPK_AMBER = 1.33, 1.0


def headline_ppk(cap: Capability) -> tuple[float | None, str]:
    """The Ppk to judge by: the percentile method's when the values are not normal, else the normal one."""
    if cap.normality.get("normal") is False and cap.percentile and cap.percentile.get("ppk") is not None:
        return cap.percentile["ppk"], f"percentile ({cap.percentile['distribution']})"
    return cap.ppk, "normal"


def traffic_light(s: SeriesResult) -> tuple[list[str], list[str | None]]:
    """One summary row of a series and the fill of its cells."""
    cap = s.capability
    n_sig = sum(int(p.any_signal().sum()) for c in s.charts.values() for p in c.panels)
    control = ("in control", GREEN) if s.in_control else (f"{n_sig} signal(s)", RED)
    if cap is None:
        return [s.key, s.kind, "–", "–", "–", control[0]], [None, None, GREY, GREY, GREY, control[1]]
    obs = cap.observed_out_of_spec or 0.0
    conf = ("all in specification", GREEN) if obs == 0 else (f"{obs * 1e6:.0f} ppm out", RED)
    ppk, basis = headline_ppk(cap)
    colour = GREY if ppk is None else GREEN if ppk >= PPK_GREEN else AMBER if ppk >= PPK_AMBER else RED
    return (
        [s.key, f"n = {cap.n}", conf[0], f"Ppk {fmt(ppk, 2)} ({basis})", f"Cpk {fmt(cap.cpk, 2)}", control[0]],
        [None, None, conf[1], colour, colour, control[1]],
    )


def sixpack_figure(s: SeriesResult) -> Figure:
    """Minitab's capability sixpack: individuals (or X̄) chart, MR (or R/S) chart, the last 25 points
    with their within-part spread, histogram with the limits and fitted densities, normal probability
    plot, and the indices with their intervals."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure
    from scipy import stats

    fig = Figure(figsize=(10.0, 7.6))
    gs = fig.add_gridspec(3, 2, hspace=0.55, wspace=0.25)
    shew = next((c for k, c in s.charts.items() if k in ("imr", "xbar-r", "xbar-s")), None)
    for row, idx in ((0, 0), (1, 1)):
        ax = fig.add_subplot(gs[row, 0])
        if shew is not None and idx < len(shew.panels):
            _chart_panel(ax, shew.panels[idx], s.unit)
    ax = fig.add_subplot(gs[2, 0])
    _last_points(ax, s)
    cap = s.capability
    ax = fig.add_subplot(gs[0, 1])
    v = s.sample if s.sample is not None else np.zeros(0)
    if v.size and cap is not None:
        ax.hist(v, bins=min(40, max(10, int(math.sqrt(v.size)))), density=True, color="#8fb3d9", edgecolor="white")
        xs = np.linspace(float(v.min()), float(v.max()), 200)
        for lim in (cap.lsl, cap.usl):
            if lim is not None:
                ax.axvline(lim, color="#c62828", ls="--", lw=1.2)
                xs = np.linspace(min(xs[0], lim), max(xs[-1], lim), 200)
        if cap.sigma_within > 0:
            ax.plot(xs, stats.norm.pdf(xs, cap.mean, cap.sigma_within), color="#333", lw=1, label="normal, within")
        if cap.sigma_overall > 0:
            ax.plot(xs, stats.norm.pdf(xs, cap.mean, cap.sigma_overall), "--", color="#333", lw=1,
                    label="normal, overall")  # fmt: skip
        ax.legend(fontsize=6, loc="upper right")
    ax.set_title("capability histogram (LSL/USL dashed)", fontsize=8)
    ax.set_xlabel(s.unit, fontsize=7)
    ax = fig.add_subplot(gs[1, 1])
    if v.size >= 3:
        (osm, osr), (slope, icpt, _) = stats.probplot(v, dist="norm")
        ax.plot(osr, osm, ".", ms=2, color="#1f77b4")
        ax.plot(icpt + slope * osm, osm, "-", color="#c62828", lw=1)
        p = cap.normality.get("p_value") if cap else None
        ax.set_title(f"normal probability plot (Anderson-Darling p = {fmt(p, 3)})", fontsize=8)
    ax.set_xlabel(s.unit, fontsize=7)
    ax.set_ylabel("normal quantile", fontsize=7)
    ax = fig.add_subplot(gs[2, 1])
    ax.set_axis_off()
    ax.text(0.0, 1.0, "\n".join(_index_lines(cap)), va="top", ha="left", fontsize=7, family="monospace",
            transform=ax.transAxes)  # fmt: skip
    for a in fig.axes:
        a.tick_params(labelsize=6)
    fig.suptitle(f"Capability sixpack: {s.key} — {s.description}", fontsize=9)
    return fig


def _chart_panel(ax: object, p: object, unit: str) -> None:
    from matplotlib.axes import Axes

    from ecmsim.qc.charts import ChartPanel
    from ecmsim.qc.spc_report import PAPER_STYLE, plot_panel

    assert isinstance(ax, Axes) and isinstance(p, ChartPanel)
    plot_panel(ax, p, PAPER_STYLE, zones=False)
    ax.set_title(f"{p.name} chart", fontsize=8)
    ax.set_ylabel(unit, fontsize=7)


def _last_points(ax: object, s: SeriesResult) -> None:
    """The last 25 points: part (or subgroup) mean with ± the within-part standard deviation."""
    from matplotlib.axes import Axes

    assert isinstance(ax, Axes)
    n = len(s.labels)
    a = max(0, n - 25)
    w = s.charts.get("within")
    shew = next((c for k, c in s.charts.items() if k in ("imr", "xbar-r", "xbar-s")), None)
    if shew is None:
        return
    mean = shew.panels[0].values[a:]
    x = np.arange(a + 1, n + 1)
    if w is not None:
        sd = np.exp(w.panels[0].values[a:])
        ax.errorbar(x, mean, yerr=sd, fmt="o", ms=3, lw=0.8, capsize=2, color="#1f77b4")
    else:
        ax.plot(x, mean, "o", ms=3, color="#1f77b4")
    ax.set_title(f"last {n - a} points: mean ± within-part s", fontsize=8)
    ax.set_xlabel("point", fontsize=7)


def _index_lines(cap: Capability | None) -> list[str]:
    if cap is None:
        return ["no capability (no specification limits)"]
    conf = f"{cap.confidence:.0%}"
    lines = [f"n = {cap.n}, mean = {fmt(cap.mean, 5)}", f"σ within  = {fmt(cap.sigma_within, 5)} ({cap.sigma_method})",
             f"σ overall = {fmt(cap.sigma_overall, 5)}", f"LSL {fmt(cap.lsl, 4)}   USL {fmt(cap.usl, 4)}",
             f"index   value   {conf} interval"]  # fmt: skip
    for k in ("cp", "cpk", "pp", "ppk", "cpm"):
        v = getattr(cap, k)
        ci = cap.ci.get(k)
        lines.append(f"{k.capitalize():<6} {fmt(v, 2):>6}   " + (f"{fmt(ci[0], 2)} … {fmt(ci[1], 2)}" if ci else ""))
    if cap.percentile:
        lines.append(f"percentile Ppk {fmt(cap.percentile['ppk'], 2)} ({cap.percentile['distribution']})")
    bc = cap.box_cox
    if bc and bc.get("applicable"):
        lines.append(f"Box-Cox Ppk {fmt(bc['ppk'], 2)} (λ {fmt(bc['lambda'], 2)})")
    e = cap.expected_out_of_spec_overall
    o = cap.observed_out_of_spec
    ppm_e, ppm_o = fmt(None if e is None else e * 1e6, 0), fmt(None if o is None else o * 1e6, 0)
    lines.append(f"expected {ppm_e} ppm, observed {ppm_o} ppm")
    return lines


def render_spc_pdf(run: SpcRun, target: str | io.BytesIO, paper: str = "a4") -> int:
    """Write the report as a PDF (path or buffer) on A4 or Letter paper; return the number of pages."""
    from ecmsim import __version__
    from ecmsim.qc.charts import RULES
    from ecmsim.qc.spc_report import chart_figure

    batches = ", ".join(b["batch_id"] for b in run.batches)
    doc = PdfDocument(
        "Process statistics report",
        f"batch {batches} · serials {serial_range(run.serials)}",
        f"ecmsim {__version__} · analysed {run.analysed_at} · spec sha256 {run.spec.sha256[:16]}",
        paper,
    )
    doc.paragraph(run.verdict_line(), size=9.5, bold=True, color="#1a7f37" if run.in_control else "#c62828")
    doc.heading("Summary by characteristic and hole group")
    rows, fills = [], []
    for s in run.series:
        r, f = traffic_light(s)
        rows.append(r)
        fills.append(f)
    doc.table(("series", "values", "conformity", "capability", "within", "control"), rows, fills,
              weights=(18, 9, 16, 26, 9, 14))  # fmt: skip
    doc.paragraph(f"Capability: green Ppk ≥ {PPK_GREEN}, amber ≥ {PPK_AMBER}, red below (the percentile Ppk of "
                  "ISO 22514-2 when the values are not normal). Control: "
                  + ("probability limits, family-wise false-alarm rate "
                     f"{run.options.alarm_rate:g} per characteristic family." if run.options.auto_rules
                     else "rules " + "; ".join(RULES[r] for r in run.options.rules) + "."), size=7)  # fmt: skip
    prov = [("phase", "II: against frozen limits" if run.phase == "II" else "I: limits from these parts"),
            ("limits file", run.limits.path if run.limits else "–"), ("spec", f"{run.spec.source}"),
            ("spec sha256", run.spec.sha256), ("subgroup", run.options.subgroup),
            ("parts", str(len(run.serials)))]  # fmt: skip
    prov += [("batch", f"{b['batch_id']}: {b['path']} (sha256 {b['sha256']})") for b in run.batches]
    doc.provenance_and_release("Analysis and provenance", prov + run.predictions.provenance_rows())
    _details(doc, run)
    for s in run.series:
        if s.capability is not None:
            doc.new_page()
            doc.figure(sixpack_figure(s))
    for s in run.series:
        if s.kind == "residual":
            for kind, c in s.charts.items():
                doc.figure(chart_figure(c, f"{s.key} — {kind}", s.unit), width_in=doc.text_width * 0.9)
    return doc.save(target)


def _details(doc: PdfDocument, run: SpcRun) -> None:
    """Capability details, the signals and the residual summary."""
    doc.new_page()
    doc.heading("Capability")
    head = ("series", "n", "mean", "σ within", "σ overall", "LSL", "USL", "Cp", "Cpk [CI]", "Pp", "Ppk [CI]",
            "percentile Ppk", "Box-Cox Ppk", "normal (AD p)")  # fmt: skip
    rows = []
    for s in run.series:
        c = s.capability
        if c is None:
            continue
        with_ci = {}
        for k in ("cpk", "ppk"):
            ci = c.ci.get(k)
            v = getattr(c, k)
            with_ci[k] = f"{fmt(v, 2)} [{fmt(ci[0], 2)}, {fmt(ci[1], 2)}]" if ci else fmt(v, 2)
        rows.append([
            s.key, c.n, fmt(c.mean, 5), fmt(c.sigma_within, 5), fmt(c.sigma_overall, 5), fmt(c.lsl, 4), fmt(c.usl, 4),
            fmt(c.cp, 2), with_ci["cpk"], fmt(c.pp, 2), with_ci["ppk"],
            f"{fmt(c.percentile['ppk'], 2)} ({c.percentile['distribution']})" if c.percentile else "–",
            fmt(c.box_cox["ppk"], 2) if c.box_cox and c.box_cox.get("applicable") else "–",
            f"{'yes' if c.normality.get('normal') else 'no'} ({fmt(c.normality.get('p_value'), 3)})",
        ])  # fmt: skip
    doc.table(head, rows, size=6.0)
    doc.heading("Signals", 10)
    sig_rows = []
    for s in run.series:
        for kind, ch in s.charts.items():
            for r in ch.signal_list()[:20]:
                sig_rows.append([s.key, kind, r["panel"], s.labels[r["index"]], r["rule"], r["description"]])
    if sig_rows:
        doc.table(("series", "chart", "panel", "part / subgroup", "rule", "meaning"), sig_rows[:400], size=6.5)
    else:
        doc.paragraph("No signal: every chart is in statistical control.")
    if run.residuals is not None:
        doc.heading("Residuals measured − predicted", 10)
        r = run.residuals
        doc.paragraph(("Drift detected. " if r["drift_detected"] else "No drift detected. ")
                      + "Attribution: " + r["attribution"]["conclusion"])  # fmt: skip
        if r["drift_signals"]:
            drift = [[d["series"], d["chart"], d["subgroup"], d["run_length"]] for d in r["drift_signals"]]
            doc.table(("series", "detector", "first signal at", "run length"), drift)
