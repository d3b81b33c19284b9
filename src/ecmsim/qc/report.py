"""The conformity report: one self-contained HTML file (inline CSS and SVG, no scripts).

It opens offline in any browser and prints on paper: batch summary and
provenance, verdicts by characteristic, rejected parts and why, parts in
tolerance that deviate from the prediction, measured against predicted
diameter profiles per hole group, histograms of the deviation from
nominal and of the residuals, and the per-part mean deviation in part
order (where a drifting electrode shows).  The charts are drawn here as
SVG; nothing is loaded from the network.
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Sequence
from typing import TypedDict

import numpy as np

from ecmsim.io.qc_results import VERDICT_NAMES
from ecmsim.qc.check import CHARS, BatchOutcome, CheckRun
from ecmsim.qc.spec import CHARACTERISTICS, RULE_REFERENCES

MAX_ROWS = 200
_IDS = itertools.count()
_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:24px;color:#222;max-width:1150px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ccc}
h3{font-size:15px;margin:18px 0 6px}table{border-collapse:collapse;font-size:13px;margin:6px 0}
td,th{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}th{background:#f3f3f3}
td.n{text-align:right;font-variant-numeric:tabular-nums}.cards{display:flex;gap:12px;flex-wrap:wrap;margin:10px 0}
.card{border:1px solid #ccc;border-radius:6px;padding:8px 14px;min-width:120px}.card b{display:block;font-size:24px}
.ok{color:#1a7f37}.bad{color:#c62828}.warn{color:#a15c00}.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.charts{display:flex;flex-wrap:wrap;gap:10px}svg{background:#fff;border:1px solid #e5e5e5}
.small{font-size:12px;color:#555}
.warnbox{border:2px solid #a15c00;background:#fff6e5;padding:6px 12px;margin:10px 0}
td,th{overflow-wrap:anywhere}.signoff td{height:54px;width:33%;vertical-align:bottom;color:#555;font-size:11px}
.tl-green{background:#d7f0dc}.tl-amber{background:#ffe8b8}.tl-red{background:#f8cfcf}
@page{size:A4;margin:12mm}
@media print{body{margin:0;max-width:none;font-size:10px}table{width:100%;table-layout:fixed;font-size:9px}
tr,figure,svg,img,.card,.signoff{break-inside:avoid}thead{display:table-header-group}h2,h3{break-after:avoid}
svg,img{max-width:100%;height:auto}.charts{display:block}.cards{gap:6px}}
"""

#: The sign-off block of every report (inspected by, released by, date).
SIGNOFF_HTML = (
    "<h2>Release</h2><table class='signoff'><thead><tr><th>Inspected by</th><th>Released by</th><th>Date</th>"
    "</tr></thead><tbody><tr><td>name and signature</td><td>name and signature</td><td>YYYY-MM-DD</td></tr>"
    "</tbody></table>"
)


def serial_range(serials: Sequence[str]) -> str:
    """``first … last (n parts)`` for titles and headers."""
    if not serials:
        return "no parts"
    return f"{serials[0]} … {serials[-1]} ({len(serials)} parts)" if len(serials) > 1 else serials[0]


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step + 1e-9) + 1)]


def _fmt_tick(v: float) -> str:
    return f"{v:.4g}" if abs(v) >= 1e-9 else "0"


#: Values a chart series carries: an array or a sequence of numbers (x, y, lo, hi, edges, counts), or one number
#: (the ``y`` of an hline, the ``x`` of a vline).
Values = np.ndarray | Sequence[float] | float


class Series(TypedDict, total=False):
    """One series of :func:`svg_chart` (``kind`` is required; which values it needs depends on the kind)."""

    kind: str  # line | band | hline | vline | bars | points
    x: Values
    y: Values
    lo: Values
    hi: Values
    edges: Values
    counts: Values
    label: str
    color: str
    dash: bool
    r: float  # radius of a point (px)


def _arr(v: Values) -> np.ndarray:
    return np.asarray(v, float)


def _num1(v: Values) -> float:
    return float(np.asarray(v, float))


def _data_extent(series: Sequence[Series]) -> tuple[list[float], list[float]]:
    """Every x and y value the series span (unfiltered: NaN and inf are dropped by the caller)."""
    xs: list[float] = []
    ys: list[float] = []
    for s in series:
        k = s["kind"]
        if k in ("line", "points"):
            xs += list(_arr(s["x"]))
            ys += list(_arr(s["y"]))
        elif k == "band":
            xs += list(_arr(s["x"]))
            ys += list(_arr(s["lo"])) + list(_arr(s["hi"]))
        elif k == "hline":
            ys.append(_num1(s["y"]))
        elif k == "vline":
            xs.append(_num1(s["x"]))
        elif k == "bars":
            edges, counts = _arr(s["edges"]), s["counts"]
            xs += [float(edges[0]), float(edges[-1])]
            ys += [0.0, float(np.max(counts)) if len(counts) else 1.0]  # type: ignore[arg-type]
    return xs, ys


class _Frame:
    """The plot area of a chart and the mapping from data to pixel coordinates."""

    ml, mr, mt, mb = 64, 14, 30, 44

    def __init__(self, series: Sequence[Series], width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pw, self.ph = width - self.ml - self.mr, height - self.mt - self.mb
        xs, ys = _data_extent(series)
        xa = np.array([v for v in xs if math.isfinite(v)] or [0.0, 1.0])
        ya = np.array([v for v in ys if math.isfinite(v)] or [0.0, 1.0])
        x0, x1 = float(xa.min()), float(xa.max())
        y0, y1 = float(ya.min()), float(ya.max())
        if x1 <= x0:
            x0, x1 = x0 - 0.5, x1 + 0.5
        pad = 0.06 * (y1 - y0) if y1 > y0 else max(abs(y0) * 0.05, 1e-3)
        self.x0, self.x1, self.y0, self.y1 = x0, x1, y0 - pad, y1 + pad

    def px(self, x: float) -> float:
        return self.ml + (x - self.x0) / (self.x1 - self.x0) * self.pw

    def py(self, y: float) -> float:
        return self.mt + (1.0 - (y - self.y0) / (self.y1 - self.y0)) * self.ph

    def axes(self, title: str, xlabel: str, ylabel: str) -> list[str]:
        """The svg element, title, frame, ticks and axis labels."""
        ml, mt, pw, ph, width, height = self.ml, self.mt, self.pw, self.ph, self.width, self.height
        px, py = self.px, self.py
        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">',
            f'<text x="{width / 2:.0f}" y="18" text-anchor="middle" font-size="13" '
            f'font-weight="600">{_e(title)}</text>',
            f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>',
        ]
        for t in _nice_ticks(self.x0, self.x1):
            out.append(
                f'<line x1="{px(t):.1f}" y1="{mt + ph}" x2="{px(t):.1f}" y2="{mt + ph + 4}" stroke="#666"/>'
                f'<text x="{px(t):.1f}" y="{mt + ph + 16}" text-anchor="middle" font-size="11">{_fmt_tick(t)}</text>'
            )
        for t in _nice_ticks(self.y0, self.y1):
            out.append(
                f'<line x1="{ml}" y1="{py(t):.1f}" x2="{ml + pw}" y2="{py(t):.1f}" stroke="#eee"/>'
                f'<text x="{ml - 6}" y="{py(t) + 4:.1f}" text-anchor="end" font-size="11">{_fmt_tick(t)}</text>'
            )
        out.append(
            f'<text x="{ml + pw / 2:.0f}" y="{height - 8}" text-anchor="middle" font-size="12">{_e(xlabel)}</text>'
        )
        out.append(
            f'<text transform="translate(14 {mt + ph / 2:.0f}) rotate(-90)" text-anchor="middle" '
            f'font-size="12">{_e(ylabel)}</text>'
        )
        return out

    def legend(self, entries: Sequence[tuple[str, str, bool]]) -> list[str]:
        out = []
        x = self.ml + self.pw
        for j, (label, color, dashed) in enumerate(entries):
            ly = self.mt + 12 + 15 * j
            d = ' stroke-dasharray="5 4"' if dashed else ""
            out.append(
                f'<line x1="{x - 150}" y1="{ly - 4}" x2="{x - 130}" y2="{ly - 4}" stroke="{color}" '
                f'stroke-width="3"{d}/><text x="{x - 125}" y="{ly}" font-size="11">{_e(label)}</text>'
            )
        return out


def _draw_bars(f: _Frame, s: Series, color: str, dash: str) -> list[str]:
    e, c = _arr(s["edges"]), _arr(s["counts"])
    return [
        f'<rect x="{f.px(e[j]):.1f}" y="{f.py(c[j]):.1f}" '
        f'width="{max(f.px(e[j + 1]) - f.px(e[j]) - 0.5, 0.5):.1f}" '
        f'height="{f.py(0) - f.py(c[j]):.1f}" fill="{color}" fill-opacity="0.8"/>'
        for j in range(c.size)
        if c[j] > 0
    ]


def _draw_band(f: _Frame, s: Series, color: str, dash: str) -> list[str]:
    x, lo, hi = (_arr(s[n]) for n in ("x", "lo", "hi"))
    ok = np.isfinite(x) & np.isfinite(lo) & np.isfinite(hi)
    if ok.sum() < 1:
        return []
    pts = [f"{f.px(a):.1f},{f.py(b):.1f}" for a, b in zip(x[ok], hi[ok], strict=True)]
    pts += [f"{f.px(a):.1f},{f.py(b):.1f}" for a, b in zip(x[ok][::-1], lo[ok][::-1], strict=True)]
    return [f'<polygon points="{" ".join(pts)}" fill="{color}" fill-opacity="0.18" stroke="none"/>']


def _draw_line(f: _Frame, s: Series, color: str, dash: str) -> list[str]:
    """Points, or a line broken where a value is missing (a lone finite value shows as a point)."""
    out = []
    k = s["kind"]
    x, y = _arr(s["x"]), _arr(s["y"])
    ok = np.isfinite(x) & np.isfinite(y)
    if k == "points" or ok.sum() == 1:
        for a, b in zip(x[ok], y[ok], strict=True):
            out.append(f'<circle cx="{f.px(a):.1f}" cy="{f.py(b):.1f}" r="{s.get("r", 2.5)}" fill="{color}"/>')
    if k == "line":
        seg: list[str] = []
        for a, b, good in zip(x, y, ok, strict=True):
            if good:
                seg.append(f"{f.px(a):.1f},{f.py(b):.1f}")
            elif seg:
                out.append(_polyline(seg, color, dash))
                seg = []
        if seg:
            out.append(_polyline(seg, color, dash))
    return out


def _draw_rule(f: _Frame, s: Series, color: str, dash: str) -> list[str]:
    """A line across the plot: horizontal at ``y`` (hline) or vertical at ``x`` (vline)."""
    horizontal = s["kind"] == "hline"
    v = _num1(s["y"] if horizontal else s["x"])
    if not math.isfinite(v):
        return []
    if horizontal:
        x1, y1, x2, y2 = f"{f.ml}", f"{f.py(v):.1f}", f"{f.ml + f.pw}", f"{f.py(v):.1f}"
    else:
        x1, y1, x2, y2 = f"{f.px(v):.1f}", f"{f.mt}", f"{f.px(v):.1f}", f"{f.mt + f.ph}"
    return [f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{color}" stroke-width="1.2"{dash}/>']


_DRAW = {
    "bars": _draw_bars,
    "band": _draw_band,
    "line": _draw_line,
    "points": _draw_line,
    "hline": _draw_rule,
    "vline": _draw_rule,
}


def svg_chart(
    title: str, xlabel: str, ylabel: str, series: Sequence[Series], width: int = 540, height: int = 320
) -> str:
    """An SVG chart of ``series``: dicts with ``kind`` line | band | hline | vline | bars | points.

    line/points: ``x``, ``y``; band: ``x``, ``lo``, ``hi``; hline: ``y``; vline: ``x``;
    bars: ``edges``, ``counts``.  Optional ``label``, ``color``, ``dash``.
    """
    f = _Frame(series, width, height)
    out = f.axes(title, xlabel, ylabel)
    cid = f"clip{next(_IDS)}"
    out.append(
        f'<clipPath id="{cid}"><rect x="{f.ml}" y="{f.mt}" width="{f.pw}" height="{f.ph}"/></clipPath>'
        f'<g clip-path="url(#{cid})">'
    )
    legend = []
    for i, s in enumerate(series):
        color = s.get("color", _COLORS[i % len(_COLORS)])
        dash = ' stroke-dasharray="5 4"' if s.get("dash") else ""
        draw = _DRAW.get(s["kind"])
        if draw is not None:
            out += draw(f, s, color, dash)
        if s.get("label"):
            legend.append((s["label"], color, s.get("dash", False)))
    out.append("</g>")
    out += f.legend(legend)
    out.append("</svg>")
    return "".join(out)


def _polyline(seg: list[str], color: str, dash: str) -> str:
    return f'<polyline points="{" ".join(seg)}" fill="none" stroke="{color}" stroke-width="1.8"{dash}/>'


def _table(head: Sequence[str], rows: Sequence[Sequence[object]], numeric: Sequence[int] = ()) -> str:
    h = "".join(f"<th>{_e(c)}</th>" for c in head)
    body = []
    for r in rows:
        cells = "".join(
            f'<td class="n">{_e(v)}</td>' if i in numeric else f"<td>{v if isinstance(v, _Raw) else _e(v)}</td>"
            for i, v in enumerate(r)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{h}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class _Raw(str):
    """Already-escaped HTML for a table cell."""


def _fmtn(x: float | np.floating, nd: int = 4) -> str:
    v = float(x)
    return "–" if not math.isfinite(v) else f"{v:.{nd}f}"


def _batch_section(run: CheckRun, o: BatchOutcome, idx: int) -> str:
    """One batch of the report: summary, traceability, decisions, rejected parts, residuals, charts, parts."""
    charts = [
        *_profile_charts(o),
        _deviation_histogram(o),
        *([_residual_histogram(run, o)] if run.predictions else []),
        _part_order_chart(run, o),
    ]
    return "".join(
        [
            _batch_summary(o, idx),
            _traceability_table(o),
            _decisions_table(o),
            _rejected_table(o),
            _prediction_section(run, o) if run.predictions else "",
            "<h3>Charts</h3><div class='charts'>" + "".join(charts) + "</div>",
            _parts_table(o),
        ]
    )


def _batch_summary(o: BatchOutcome, idx: int) -> str:
    """Heading, verdict and the cards of counts."""
    n_rej = o.n_parts - o.n_accepted
    n_und = int((o.n_undecided > 0).sum())
    n_dev = int(o.model_deviation.sum())
    verdict = (
        '<span class="ok">every part conforms</span>'
        if o.accepted.all()
        else f'<span class="bad">{n_rej} of {o.n_parts} parts rejected</span>'
    )
    cards = (
        (o.n_parts, "parts", ""),
        (o.n_accepted, "accepted", "ok"),
        (n_rej, "rejected", "bad" if n_rej else ""),
        (n_und, "with undecided results", "warn" if n_und else ""),
        (n_dev, "deviating from prediction", "warn" if n_dev else ""),
    )
    return (
        f'<h2 id="batch{idx}">Batch {_e(o.meta["batch_id"])}</h2>'
        f"<p>{verdict}</p>"
        '<div class="cards">'
        + "".join(f'<div class="card {cls}"><b>{v}</b>{_e(lbl)}</div>' for v, lbl, cls in cards)
        + "</div>"
    )


def _traceability_table(o: BatchOutcome) -> str:
    d = o.design
    meta_rows: list[tuple[str, object]] = [(k.replace("_", " "), v or "–") for k, v in o.meta.items()]
    meta_rows += [
        ("holes per part", d.n_holes),
        ("stations (mm)", ", ".join(f"{z:g}" for z in d.station_depth)),
        ("hole groups", ", ".join(d.groups())),
        ("inspection file", o.path),
        ("inspection sha256", _Raw(f'<span class="mono">{o.sha256}</span>')),
        ("results file", o.results_file),
    ]
    return "<h3>Batch and traceability</h3>" + _table(("field", "value"), meta_rows)


def _decisions_table(o: BatchOutcome) -> str:
    names = [VERDICT_NAMES[c] for c in (0, 1, 2, 3, 4)]
    rows = []
    for ch in CHARS:
        vc = o.verdict_counts.get(ch, {})
        if sum(vc.get(n, 0) for n in names) == 0:
            continue
        rows.append(
            [
                f"{ch} ({CHARACTERISTICS[ch]})",
                *(vc.get(n, 0) for n in names),
                int((o.n_rejected_by_char[:, CHARS.index(ch)] > 0).sum()),
            ]
        )
    return (
        "<h3>Decisions by characteristic</h3>"
        '<p class="small">counts of decisions (diameter: one per station); last column: parts with '
        "at least one rejected hole for this characteristic</p>"
        + _table(("characteristic", *names, "parts rejected"), rows, numeric=range(1, 7))
    )


def _rejected_table(o: BatchOutcome) -> str:
    rej = np.nonzero(~o.accepted)[0]
    if not rej.size:
        return "<h3>Rejected parts and why</h3><p>None.</p>"
    rrows = []
    for i in rej[:MAX_ROWS]:
        reasons = "<br>".join(_e(r) for r in o.reasons.get(int(i), [])) or "no characteristic evaluated"
        rrows.append(
            [
                o.serials[i],
                VERDICT_NAMES[int(o.part_verdict[i])],
                int(o.n_rejected_holes[i]),
                int(o.n_undecided[i]),
                _Raw(reasons),
            ]
        )
    more = (
        f"<p class='small'>… {rej.size - MAX_ROWS} more rejected parts in the JSON output and the results file.</p>"
        if rej.size > MAX_ROWS
        else ""
    )
    return (
        "<h3>Rejected parts and why</h3>"
        + _table(("serial", "verdict", "rejected holes", "undecided", "reasons (first 5)"), rrows, numeric=(2, 3))
        + more
        + _hole_maps(o, rej[:MAX_HOLE_MAPS].tolist())
    )


#: Rejected parts whose hole map the HTML report draws.
MAX_HOLE_MAPS = 20


def _hole_maps(o: BatchOutcome, parts: list[int]) -> str:
    """Per rejected part: the design positions coloured by the hole verdict (SVG)."""
    from ecmsim.qc.check_pdf import VERDICT_COLOURS, hole_verdicts

    d = o.design
    x, y = np.asarray(d.nominal_x, float), np.asarray(d.nominal_y, float)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        x, y = np.arange(d.n_holes, dtype=float), np.zeros(d.n_holes)
    maps = []
    for i in parts:
        v = hole_verdicts(o, i)
        series: list[Series] = [
            {"kind": "points", "x": x[v == code], "y": y[v == code], "color": colour, "r": 5.0,
             "label": VERDICT_NAMES[code]}
            for code, colour in VERDICT_COLOURS.items() if (v == code).any()
        ]  # fmt: skip
        maps.append(svg_chart(f"Hole map of {o.serials[i]}", "nominal x (mm)", "nominal y (mm)", series, 420, 240))
    if not maps:
        return ""
    return "<h3>Hole maps of rejected parts</h3><div class='charts'>" + "".join(maps) + "</div>"


def _prediction_section(run: CheckRun, o: BatchOutcome) -> str:
    """Residual bounds, the parts flagged for model deviation and the holes without a prediction."""
    flagged = np.nonzero(o.model_deviation)[0]
    bounds = run.spec.model
    parts = [
        f"<h3>Measured against predicted</h3><p>Residual = measured − predicted diameter at each station; "
        f"bounds: |residual| ≤ {_e(bounds.max_residual_mm)} mm, |hole mean residual| ≤ "
        f"{_e(bounds.max_mean_residual_mm)} mm. {len(flagged)} part(s) flagged, "
        f"{o.n_holes_model_deviation} hole(s); in tolerance but flagged: "
        f"{int((o.model_deviation & o.accepted).sum())}.</p>"
    ]
    if flagged.size:
        frows = [
            [
                o.serials[i],
                "yes" if o.accepted[i] else "no",
                _fmtn(o.mean_residual[i]),
                _fmtn(o.max_abs_residual[i]),
            ]
            for i in flagged[:MAX_ROWS]
        ]
        parts.append(_table(("serial", "accepted", "mean residual (mm)", "max |residual| (mm)"), frows, numeric=(2, 3)))
    missing = o.predictions.get("holes_without_prediction", [])
    if missing:
        parts.append(f"<p class='warn'>Holes without a prediction: {_e(', '.join(missing))}</p>")
    return "".join(parts)


def _profile_charts(o: BatchOutcome) -> list[str]:
    """Per hole group: measured min–max band and mean, nominal, tolerance limits and prediction over depth."""
    d, st = o.design, o.stats
    charts = []
    z = d.station_depth
    lim = st.limits["diameter"]
    for g in st.groups:
        holes = np.asarray(d.group) == g
        cnt = st.d_cnt[holes].sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(cnt > 0, st.d_sum[holes].sum(axis=0) / np.maximum(cnt, 1), np.nan)
        dmin = np.min(np.where(np.isfinite(st.d_min[holes]), st.d_min[holes], np.inf), axis=0)
        dmax = np.max(np.where(np.isfinite(st.d_max[holes]), st.d_max[holes], -np.inf), axis=0)
        dmin[~np.isfinite(dmin)], dmax[~np.isfinite(dmax)] = np.nan, np.nan
        series: list[Series] = [
            {"kind": "band", "x": z, "lo": dmin, "hi": dmax, "color": _COLORS[0], "label": "measured min–max"},
            {"kind": "line", "x": z, "y": mean, "color": _COLORS[0], "label": "measured mean"},
            {"kind": "line", "x": z, "y": _col_mean(lim.nominal[holes]), "color": "#777", "label": "nominal"},
            {"kind": "line", "x": z, "y": _col_mean(lim.lo[holes]), "color": "#c62828", "dash": True,
             "label": "tolerance limits"},
            {"kind": "line", "x": z, "y": _col_mean(lim.hi[holes]), "color": "#c62828", "dash": True},
        ]  # fmt: skip
        pred = st.pred[holes]
        if np.isfinite(pred).any():
            series.append(
                {"kind": "line", "x": z, "y": _col_mean(pred), "color": "#2ca02c", "dash": True, "label": "predicted"}
            )
        charts.append(
            svg_chart(
                f"Diameter profile, group {g} ({int(holes.sum())} holes)", "station depth (mm)", "diameter (mm)", series
            )
        )
    return charts


def _deviation_histogram(o: BatchOutcome) -> str:
    st = o.stats
    lim = st.limits["diameter"]
    dl = lim.hi - lim.nominal
    tol = float(np.nanmax(np.where(lim.specified, dl, np.nan))) if lim.specified.any() else math.nan
    tol_lo = (
        float(np.nanmin(np.where(lim.specified, lim.lo - lim.nominal, np.nan))) if lim.specified.any() else math.nan
    )
    hist = st.dev_hist
    return svg_chart(
        f"Diameter − nominal (outside the axis: {int(hist[0])} below, {int(hist[-1])} above)",
        "deviation (mm)",
        "count",
        [
            {"kind": "bars", "edges": st.dev_edges, "counts": hist[1:-1], "color": _COLORS[0]},
            {"kind": "vline", "x": tol_lo, "color": "#c62828", "dash": True, "label": "tolerance limits"},
            {"kind": "vline", "x": tol, "color": "#c62828", "dash": True},
        ],
    )


def _residual_histogram(run: CheckRun, o: BatchOutcome) -> str:
    rh = o.stats.res_hist
    b = run.spec.model.max_residual_mm
    ser: list[Series] = [{"kind": "bars", "edges": o.stats.res_edges, "counts": rh[1:-1], "color": _COLORS[2]}]
    if b is not None:
        ser += [
            {"kind": "vline", "x": -b, "color": "#a15c00", "dash": True, "label": "model bound"},
            {"kind": "vline", "x": b, "color": "#a15c00", "dash": True},
        ]
    return svg_chart(
        f"Residual measured − predicted (outside: {int(rh[0])} below, {int(rh[-1])} above)",
        "residual (mm)",
        "count",
        ser,
    )


def _part_order_chart(run: CheckRun, o: BatchOutcome) -> str:
    """Per-part mean residual (or deviation from nominal) of each hole group, in part order: drift shows here."""
    st = o.stats
    what = "mean residual (mm)" if run.predictions else "mean diameter − nominal (mm)"
    pg = st.part_group_res if run.predictions else st.part_group_dev
    xs = np.arange(1, o.n_parts + 1)
    step = max(1, o.n_parts // 2000)  # at most ~2000 points per line
    ser: list[Series] = [
        {"kind": "line", "x": xs[::step], "y": pg[::step, gi], "label": f"group {g}", "color": _COLORS[gi % 6]}
        for gi, g in enumerate(st.groups)
    ]
    if run.predictions and run.spec.model.max_mean_residual_mm is not None:
        mb = run.spec.model.max_mean_residual_mm
        ser += [
            {"kind": "hline", "y": mb, "color": "#a15c00", "dash": True, "label": "hole-mean bound"},
            {"kind": "hline", "y": -mb, "color": "#a15c00", "dash": True},
        ]
    return svg_chart(f"Per-part {what} by hole group, in part order", "part (order in the file)", what, ser)


def _parts_table(o: BatchOutcome) -> str:
    """Every part (at most MAX_ROWS) with its verdict."""
    prow = [
        [
            o.serials[i],
            VERDICT_NAMES[int(o.part_verdict[i])],
            "yes" if o.accepted[i] else "no",
            int(o.n_rejected_holes[i]),
            int(o.n_undecided[i]),
            "yes" if o.model_deviation[i] else "",
            _fmtn(o.mean_residual[i]),
            o.measured_at[i],
        ]
        for i in range(min(o.n_parts, MAX_ROWS))
    ]
    head = (
        "serial",
        "verdict",
        "accepted",
        "rejected holes",
        "undecided",
        "model deviation",
        "mean residual (mm)",
        "measured at",
    )
    return f"<h3>Parts ({min(o.n_parts, MAX_ROWS)} of {o.n_parts} shown)</h3>" + _table(head, prow, numeric=(3, 4, 6))


def _col_mean(a: np.ndarray) -> np.ndarray:
    """Column mean over finite entries (NaN where none)."""
    ok = np.isfinite(a)
    n = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.where(ok, a, 0.0).sum(axis=0) / np.maximum(n, 1), np.nan)


def _summary_table(run: CheckRun) -> str:
    """Traffic lights per batch and characteristic: decisions by zone and the parts rejected."""
    from ecmsim.qc.check_pdf import summary_rows
    from ecmsim.qc.pdf import AMBER, GREEN, GREY, RED

    cls = {GREEN: "tl-green", AMBER: "tl-amber", RED: "tl-red", GREY: ""}
    rows, fills = summary_rows(run)
    head = ("batch", "characteristic", "pass", "cond. pass", "cond. fail", "not measured", "fail", "parts rejected")
    body = "".join(
        "<tr>" + "".join(f"<td class='{cls.get(f or '', '')}'>{_e(c)}</td>" for c, f in zip(r, fr, strict=True))
        + "</tr>"
        for r, fr in zip(rows, fills, strict=True)
    )  # fmt: skip
    return (
        "<h2>Summary by batch and characteristic</h2><table><thead><tr>"
        + "".join(f"<th>{h}</th>" for h in head) + f"</tr></thead><tbody>{body}</tbody></table>"
    )  # fmt: skip


def _warnings_box(warnings: Sequence[str]) -> str:
    if not warnings:
        return ""
    items = "".join(f"<li>{_e(w)}</li>" for w in warnings)
    return f"<div class='warnbox'><b>Warnings</b><ul>{items}</ul></div>"


def render_html(run: CheckRun, warnings: Sequence[str] = ()) -> str:
    """The whole report as one HTML string (``warnings``: :func:`ecmsim.qc.decision_warnings.check_warnings`)."""
    from ecmsim import __version__

    spec = run.spec
    dec = spec.decision
    n_parts = sum(o.n_parts for o in run.outcomes)
    n_acc = sum(o.n_accepted for o in run.outcomes)
    status = (
        '<span class="ok">ALL PARTS CONFORM</span>'
        if run.all_conform
        else f'<span class="bad">{n_parts - n_acc} OF {n_parts} PARTS REJECTED</span>'
    )
    prov = [
        ("checked at", run.checked_at),
        ("ecmsim", __version__),
        ("spec", f"{spec.source} ({spec.name})" if spec.name else spec.source),
        ("spec sha256", _Raw(f'<span class="mono">{spec.sha256}</span>')),
        ("decision rule", f"{dec.rule}: {RULE_REFERENCES[dec.rule]}"),
        ("guard band", f"w = {dec.guard_band_factor:g} × U (expanded uncertainty, k = 2)"),
        ("conditional pass", "accepted" if dec.accept_conditional_pass else "rejected (re-measure before release)"),
        ("values not measured", dec.missing),
        ("QC store", run.store),
    ]
    for p, h in zip(run.predictions.paths, run.predictions.sha256, strict=True):
        prov.append(("prediction", _Raw(f'{_e(p)} <span class="mono">{h}</span>')))
    if not run.predictions:
        prov.append(("predictions", "none"))
    toc = "".join(
        f'<li><a href="#batch{i}">{_e(o.meta["batch_id"])}</a>: {o.n_accepted}/{o.n_parts} accepted</li>'
        for i, o in enumerate(run.outcomes)
    )
    body = "".join(_batch_section(run, o, i) for i, o in enumerate(run.outcomes))
    notes = (
        "<h2>Definitions</h2><ul class='small'>"
        "<li>taper: half angle atan((D<sub>entry</sub> − D<sub>exit</sub>)/(2L)) in degrees, L between the first and "
        "last station of the hole; positive when the hole narrows with depth.</li>"
        "<li>true position: 2·√(Δx² + Δy²), largest over the stations where measured.</li>"
        "<li>non-binary zones (ILAC-G8): pass inside the limits narrowed by w; conditional pass inside the limits; "
        "conditional fail within w outside; fail beyond. Guarded acceptance accepts the pass zone only.</li>"
        "<li>a part is accepted only if every toleranced characteristic of every hole is accepted; "
        "a blocked hole fails depth.</li>"
        "<li>undecided: decisions in the conditional zones; candidates for re-measurement.</li></ul>"
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>ecmsim QC report – batch {_e(', '.join(o.meta['batch_id'] for o in run.outcomes))} – serials "
        f"{_e(serial_range([x for o in run.outcomes for x in o.serials]))}</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>Conformity report</h1><p>{status}</p>{_warnings_box(warnings)}"
        f"<ul>{toc}</ul>{_summary_table(run)}<h2>Check and provenance</h2>{_table(('field', 'value'), prov)}"
        f"{SIGNOFF_HTML}"
        f"{body}{notes}<p class='small'>Generated by ecmsim {_e(__version__)} at {_e(run.checked_at)}.</p>"
        "</body></html>\n"
    )
