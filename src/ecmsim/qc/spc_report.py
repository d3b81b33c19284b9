"""The process-statistics report: one self-contained HTML file with matplotlib charts as PNG data URIs.

Nothing is loaded from the network and there are no scripts: the charts are
PNG images embedded as ``data:image/png;base64,…``, the tables are plain
HTML.  matplotlib is used with the Agg backend (no display needed).
"""

from __future__ import annotations

import base64
import html
import io
import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ecmsim.qc.charts import RULES, Chart, ChartPanel
from ecmsim.qc.report import _CSS, SIGNOFF_HTML, serial_range
from ecmsim.qc.spc import SeriesResult, SpcRun

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_INDICES = ("cp", "cpk", "pp", "ppk", "cpm", "cpu", "cpl")


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _n(x: float | np.floating | None, nd: int = 3) -> str:
    if x is None:
        return "–"
    v = float(x)
    return "–" if not math.isfinite(v) else f"{v:.{nd}f}"


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class PanelStyle(NamedTuple):
    """Sizes of a chart panel's marks, in points: values, lines, control limits, signal rings."""

    marker: float
    line: float
    limit: float
    ring: float
    ring_edge: float


#: On screen (the HTML report) and on paper (the PDF report, smaller panels).
SCREEN_STYLE = PanelStyle(marker=3, line=1.0, limit=1.2, ring=6, ring_edge=1.5)
PAPER_STYLE = PanelStyle(marker=2, line=0.8, limit=1.0, ring=5, ring_edge=1.2)


def plot_panel(ax: Axes, p: ChartPanel, style: PanelStyle, zones: bool) -> None:
    """One statistic of a chart: its values, centre line, control limits, signals ringed in red.

    ``zones`` adds the ±1σ and ±2σ lines of the run rules (not for the limits-only rule).
    """
    x = np.arange(1, p.values.size + 1)
    ax.plot(x, p.values, "-o", ms=style.marker, lw=style.line, color="#1f77b4")
    ax.plot(x, p.center, "-", lw=style.line, color="#555")
    for lim in (p.lcl, p.ucl):
        if np.isfinite(lim).any():
            ax.plot(x, lim, "--", lw=style.limit, color="#c62828")
    if zones and p.rules != ("limits",):
        for k in (1, 2):
            for sgn in (-1, 1):
                ax.plot(x, p.center + sgn * k * p.sigma, ":", lw=0.8, color="#999")
    sig = p.any_signal()
    if sig.any():
        ax.plot(x[sig], p.values[sig], "o", ms=style.ring, mfc="none", mec="#c62828", mew=style.ring_edge)


def chart_figure(c: Chart, title: str, unit: str) -> Figure:
    """A matplotlib figure of a chart: one panel per plotted statistic, signals marked in red."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.6, 1.9 + 1.6 * len(c.panels)))
    axes = fig.subplots(len(c.panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, p in zip(axes, c.panels, strict=True):
        plot_panel(ax, p, SCREEN_STYLE, zones=True)
        if p.name in ("I", "Xbar", "EWMA", "MR", "R", "S"):
            ax.set_ylabel(f"{p.name} ({unit})")
        elif p.name.startswith("CUSUM"):
            ax.set_ylabel(f"{p.name} (σ)")
        else:
            ax.set_ylabel(p.name)
        ax.grid(alpha=0.3)
    axes[0].set_title(title, fontsize=10)
    axes[-1].set_xlabel("point (part or subgroup, in production order)")
    fig.tight_layout()
    return fig


def histogram_figure(s: SeriesResult) -> Figure:
    """Histogram of the per-part values with the specification limits (deviation from nominal)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.6, 3.0))
    ax = fig.subplots()
    v = s.values[np.isfinite(s.values)]
    if v.size:
        ax.hist(v, bins=min(40, max(8, int(math.sqrt(v.size)))), color="#1f77b4", alpha=0.8)
    c = s.capability
    if c is not None:
        for lim in (c.lsl, c.usl):
            if lim is not None:
                ax.axvline(lim, color="#c62828", ls="--", lw=1.2)
    ax.set_title(f"{s.key}: per-part mean", fontsize=9)
    ax.set_xlabel(f"measured value ({s.unit})")
    fig.tight_layout()
    return fig


def _cap_table(run: SpcRun) -> str:
    head = ["series", "n", "mean", "σ within", "σ overall", "LSL", "USL"] + [
        f"{k.capitalize()} [{int(run.options.confidence * 100)}% CI]" for k in _INDICES
    ]
    head += ["expected out (ppm)", "observed out (ppm)", "normal (AD p)", "percentile Ppk", "Box-Cox Ppk (λ)"]
    rows = []
    for s in run.series:
        c = s.capability
        if c is None:
            continue
        cells = [s.key, c.n, _n(c.mean, 5), _n(c.sigma_within, 5), _n(c.sigma_overall, 5), _n(c.lsl, 4), _n(c.usl, 4)]
        for k in _INDICES:
            v = getattr(c, k)
            ci = c.ci.get(k)
            cells.append(f"{_n(v, 2)} [{_n(ci[0], 2)}, {_n(ci[1], 2)}]" if v is not None and ci else _n(v, 2))
        e = c.expected_out_of_spec_overall
        cells.append(_n(None if e is None else e * 1e6, 0))
        cells.append(_n(None if c.observed_out_of_spec is None else c.observed_out_of_spec * 1e6, 0))
        p = c.normality.get("p_value")
        cells.append(f"{'yes' if c.normality.get('normal') else 'no'} ({_n(p, 3)})" if p is not None else "–")
        cells.append(f"{_n(c.percentile['ppk'], 2)} ({c.percentile['distribution']})" if c.percentile else "–")
        bc = c.box_cox
        cells.append(f"{_n(bc['ppk'], 2)} (λ {_n(bc['lambda'], 2)})" if bc and bc.get("applicable") else "–")
        rows.append("".join(f"<td>{_e(x)}</td>" for x in cells))
    return (
        "<table><thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead><tbody>"
        + "".join(f"<tr>{r}</tr>" for r in rows) + "</tbody></table>"
    )  # fmt: skip


def _signals_table(run: SpcRun) -> str:
    rows = []
    for s in run.series:
        for kind, c in s.charts.items():
            sig = c.signal_list()
            for r in sig[:20]:
                rows.append([s.key, kind, r["panel"], s.labels[r["index"]], r["rule"], r["description"]])
            if len(sig) > 20:
                rows.append([s.key, kind, "", f"… {len(sig) - 20} more (JSON)", "", ""])
    if not rows:
        return "<p class='ok'>No signal: every chart is in statistical control.</p>"
    head = ("series", "chart", "panel", "part / subgroup", "rule", "meaning")
    return (
        "<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"
        + "".join("<tr>" + "".join(f"<td>{_e(x)}</td>" for x in r) + "</tr>" for r in rows[:400])
        + "</tbody></table>"
    )  # fmt: skip


def _residual_section(run: SpcRun) -> str:
    r = run.residuals
    if r is None:
        return "<h2>Residuals</h2><p>No predictions given: residual monitoring needs --predictions.</p>"
    att = r["attribution"]
    parts = ["<h2>Residuals measured − predicted</h2>", f"<p class='small'>{_e(r['definition'])}</p>"]
    cls = "bad" if r["drift_detected"] else "ok"
    parts.append(f"<p class='{cls}'><b>{'Drift detected' if r['drift_detected'] else 'No drift detected'}</b>. "
                 f"Attribution: {_e(att['conclusion'])}</p>")  # fmt: skip
    if r["drift_signals"]:
        parts.append(
            "<table><thead><tr><th>series</th><th>detector</th><th>first signal at</th><th>run length</th></tr>"
            "</thead><tbody>"
            + "".join(
                f"<tr><td>{_e(d['series'])}</td><td>{_e(d['chart'])}</td><td>{_e(d['subgroup'])}</td>"
                f"<td>{_e(d['run_length'])}</td></tr>"
                for d in r["drift_signals"]
            )
            + "</tbody></table>"
        )
    rows = []
    for f in att.get("factors", []):
        lv = "; ".join(f"{x['level']}: {x['drift_per_part_mm'] * 1e3:+.3f} µm/part" for x in f["levels"][:8])
        rows.append(f"<tr><td>{_e(f['factor'])}</td><td>{_n(f['p_value'], 4)}</td><td>{_e(lv)}</td></tr>")
    if rows:
        parts.append(
            "<h3>Attribution by factor</h3><p class='small'>" + _e(att["method"]) + f" (α = {att['alpha']})</p>"
            "<table><thead><tr><th>factor</th><th>p</th><th>drift of each level</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>"
        )  # fmt: skip
    ph = r["per_hole"][:200]
    parts.append(
        "<h3>Per hole (mean over parts)</h3><table><thead><tr><th>hole</th><th>group</th><th>mean offset (mm)</th>"
        "<th>taper error (mm/mm)</th><th>worst station (mm)</th><th>max |residual| (mm)</th></tr></thead><tbody>"
        + "".join(
            f"<tr><td>{_e(h['hole'])}</td><td>{_e(h['group'])}</td><td>{_n(h['mean_offset_mm'], 4)}</td>"
            f"<td>{_n(h['taper_error_mm_per_mm'], 4)}</td><td>{_n(h['worst_station_mm'], 3)}</td>"
            f"<td>{_n(h['max_abs_residual_mm'], 4)}</td></tr>"
            for h in ph
        )
        + "</tbody></table>"
    )
    return "".join(parts)


def _summary_table(run: SpcRun) -> str:
    """The traffic-light table: conformity, capability and control per series."""
    from ecmsim.qc.pdf import AMBER, GREEN, RED
    from ecmsim.qc.spc_pdf import PPK_AMBER, PPK_GREEN, traffic_light

    cls = {GREEN: "tl-green", AMBER: "tl-amber", RED: "tl-red"}
    rows = []
    for s in run.series:
        cells, fills = traffic_light(s)
        rows.append(
            "".join(f"<td class='{cls.get(f or '', '')}'>{_e(c)}</td>" for c, f in zip(cells, fills, strict=True))
        )
    head = ("series", "values", "conformity", "capability", "within", "control")
    return (
        "<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"
        + "".join(f"<tr>{r}</tr>" for r in rows) + "</tbody></table>"
        f"<p class='small'>Capability: green Ppk ≥ {PPK_GREEN}, amber ≥ {PPK_AMBER}, red below (the ISO 22514-2 "
        "percentile Ppk when the values are not normal).</p>"
    )  # fmt: skip


def _charts_html(run: SpcRun) -> str:
    """A capability sixpack per characteristic series, its other charts, and the residual charts."""
    from ecmsim.qc.spc_pdf import sixpack_figure

    out = []
    for s in run.series:
        if s.capability is not None:
            out.append(f"<figure><img alt='{_e(s.key)} capability sixpack' src='{_png(sixpack_figure(s))}'>"
                       f"<figcaption class='small'>{_e(s.description)}</figcaption></figure>")  # fmt: skip
        for kind, c in s.charts.items():
            if s.capability is not None and kind in ("imr", "xbar-r", "xbar-s"):
                continue  # in the sixpack
            fig = chart_figure(c, f"{s.key} — {kind}{' (frozen limits)' if s.frozen.get(kind) else ''}", s.unit)
            out.append(f"<figure><img alt='{_e(s.key)} {_e(kind)} chart' src='{_png(fig)}'>"
                       f"<figcaption class='small'>{_e(s.description)}</figcaption></figure>")  # fmt: skip
    return "".join(out)


def render_spc_html(run: SpcRun) -> str:
    """The whole report as one HTML string."""
    from ecmsim import __version__

    status = f'<span class="{"ok" if run.in_control else "bad"}">{_e(run.verdict_line())}</span>'
    prov = [
        ("analysed at", run.analysed_at),
        ("ecmsim", __version__),
        ("phase", "II: monitoring against frozen limits" if run.phase == "II" else "I: limits from these parts"),
        ("limits file", run.limits.path if run.limits else "–"),
        ("spec", f"{run.spec.source} (sha256 {run.spec.sha256})"),
        ("run rules", "; ".join(RULES[r] for r in run.options.rules)),
        ("subgroup", run.options.subgroup),
        ("parts", len(run.serials)),
    ]
    prov += [("batch", f"{b['batch_id']}: {b['path']} (sha256 {b['sha256']})") for b in run.batches]
    prov += run.predictions.provenance_rows()
    prov_html = (
        "<table><tbody>" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in prov) + "</tbody></table>"
    )
    charts = _charts_html(run)
    notes = "".join(f"<li>{_e(n)}</li>" for n in run.notes)
    series_notes = "".join(
        f"<li>{_e(s.key)}: {_e(n)}</li>"
        for s in run.series
        for n in (s.notes + (s.capability.notes if s.capability else []))
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>ecmsim SPC report – batch {_e(', '.join(b['batch_id'] for b in run.batches))} – serials "
        f"{_e(serial_range(run.serials))}</title>"
        f"<style>{_CSS}figure{{margin:6px 0}}img{{max-width:100%;border:1px solid #e5e5e5}}</style></head><body>"
        f"<h1>Process statistics report</h1><p>{status}</p>"
        f"<h2>Summary by characteristic and hole group</h2>{_summary_table(run)}"
        f"<h2>Analysis and provenance</h2>{prov_html}{SIGNOFF_HTML}"
        f"{_residual_section(run)}"
        f"<h2>Capability sixpacks and charts</h2><div class='charts'>{charts}</div>"
        f"<h2>Capability</h2><p class='small'>Measured values against the absolute specification limits; "
        f"capability uses every hole and station value. σ within (Cp, Cpk): pooled within-part standard "
        f"deviation / c4, or the chart's estimator when a part holds one value; σ overall (Pp, Ppk, Cpm): "
        f"standard deviation of all values. Intervals: Cp/Pp χ² (Chou, Owen &amp; "
        f"Borrego 1990), Cpk/Ppk Bissell (1990), Cpm Boyles (1991).</p>{_cap_table(run)}"
        f"<h2>Signals</h2>{_signals_table(run)}"
        f"<h2>Notes</h2><ul class='small'>{notes}{series_notes}</ul>"
        f"<p class='small'>Generated by ecmsim {_e(__version__)} at {_e(run.analysed_at)}.</p></body></html>\n"
    )
