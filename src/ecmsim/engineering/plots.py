"""Plots for process engineers (matplotlib, Agg backend; PNG, SVG or PDF by the file suffix).

* :func:`plot_profile`: predicted hole diameter against depth (a result file),
  with measured diameters of an inspection batch (every value, and the mean
  ± one standard deviation per station);
* :func:`plot_field`: potential and current-density magnitude |j| = κ |∇φ|
  in the electrolyte at the end of a run, percentile-clipped (or logarithmic)
  colour scales, the hole wall and the tool outlined, current lines on the |j|
  panel, fields rasterised in SVG/PDF;
* :func:`plot_history`: current, voltage, gaps and feed against time and depth;
* :func:`plot_flow_path`: pressure, temperature, void fraction and conductivity along
  the electrolyte path at the end of a run with the secondary physics (the bore on the
  left, the gap from the tool face to the exit on the right, segments marked);
* :func:`plot_window`: a process-window map from a sweep: one metric over two
  varied parameters (filled contours on a grid, coloured points for a Latin
  hypercube), failed points marked by status, and the target band.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ecmsim.errors import ConfigError, InputDataError, OutputError

if TYPE_CHECKING:  # matplotlib is imported when a plot is drawn
    from matplotlib.axes import Axes
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    from ecmsim.io.result import ResultFlowPath

FORMATS = ("png", "svg", "pdf")
#: Fields are drawn with colour scales clipped to these percentiles of their values (a few corner
#: nodes of a singular current density would otherwise set the scale).
CLIP_PERCENTILES = (1.0, 99.0)


def _figure(figsize: tuple[float, float] = (6.4, 4.8)) -> Figure:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def _save(fig: Figure, path: str | Path, dpi: int = 150) -> None:
    """Save atomically through :func:`ecmsim.io.common.atomic_write` (the temporary file keeps the format's suffix)."""
    from ecmsim.io.common import atomic_write
    from ecmsim.qc.textfiles import check_output_folder

    p = check_output_folder(path)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ConfigError(f"{p}: unknown plot format {p.suffix!r} (use {', '.join('.' + f for f in FORMATS)})")
    try:
        with atomic_write(p, suffix=f".{fmt}") as tmp:
            meta = {"Creator": "ecmsim"} if fmt in ("svg", "pdf") else None
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata=meta)
    except OSError as exc:
        raise OutputError(f"{p}: cannot write the plot: {exc.strerror or exc}") from None


def plot_profile(
    result: str | Path,
    output: str | Path,
    measurements: str | Path | None = None,
    target: tuple[float, float] | None = None,
) -> None:
    """Predicted diameter against depth, with measured diameters and their stations if given.

    ``target`` (nominal, tol) in mm draws the nominal diameter and the tolerance band.
    An equilibrium result (``simulate --equilibrium``) is drawn against the
    distance behind the tool face: the steady wall the tool leaves.
    """
    eq = _equilibrium_profile(result)
    fig = _figure()
    ax = fig.add_subplot()
    if eq is not None:
        y_mm, dia_mm, title = eq
        ax.plot(y_mm, dia_mm, color="C0", lw=2, label="predicted (equilibrium)")
        ax.set_xlabel("distance behind the tool face (mm)")
        ax.set_ylabel("hole diameter (mm)")
        ax.set_title(title)
        _profile_overlays(ax, None, target)
        ax.grid(alpha=0.3)
        ax.legend()
        _save(fig, output)
        return
    from ecmsim.io import read_result

    res = read_result(result)
    prof = res.profile
    ax.plot(prof.hole_depth * 1e3, prof.diameter * 1e3, color="C0", lw=2, label="predicted")
    _profile_overlays(ax, measurements, target)
    s = res.summary
    ax.set_xlabel("depth below the entry surface (mm)")
    ax.set_ylabel("hole diameter (mm)")
    ax.set_title(f"Hole profile: {Path(str(res.provenance.get('config_source', result))).name} ({s.get('status')})")
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, output)


def _equilibrium_profile(result: str | Path) -> tuple[np.ndarray, np.ndarray, str] | None:
    """(distance behind the face mm, diameter mm, title) of an equilibrium result file; None for other files."""
    from ecmsim.io.common import EQUILIBRIUM_FILE, check_header, open_h5

    with open_h5(Path(result), "result file") as f:
        if f.attrs.get("schema") not in (EQUILIBRIUM_FILE.schema, EQUILIBRIUM_FILE.schema.encode()):
            return None
        check_header(f, result, EQUILIBRIUM_FILE)
        y = np.asarray(f["profile/y"][()], float) * 1e3
        dia = 2.0 * np.asarray(f["profile/wall_radius"][()], float) * 1e3
    order = np.argsort(y)
    return y[order], dia[order], f"Equilibrium hole wall: {Path(result).name}"


def _profile_overlays(ax: Axes, measurements: str | Path | None, target: tuple[float, float] | None) -> None:
    """Measured diameters and stations, the nominal diameter and its tolerance band."""
    if measurements is not None:
        from ecmsim.io import read_batch

        b = read_batch(measurements)
        depth = np.asarray(b.design.station_depth, float)
        dia = np.asarray(b.diameter, float).reshape(-1, depth.size)
        xs = np.broadcast_to(depth, dia.shape)
        ok = np.isfinite(dia)
        ax.scatter(xs[ok], dia[ok], s=6, color="C1", alpha=0.3, label=f"measured ({int(ok.sum())} values)")
        cols = [dia[ok[:, k], k] for k in range(depth.size)]
        have = np.array([c.size > 0 for c in cols])
        mean = np.array([c.mean() for c in cols if c.size])
        sd = np.array([c.std(ddof=1) if c.size > 1 else 0.0 for c in cols if c.size])
        ax.errorbar(depth[have], mean, yerr=sd, fmt="s", color="C3", capsize=3, label="measured mean ± 1 s.d.")
        for k, d in enumerate(depth):
            ax.axvline(d, color="C7", lw=0.6, ls=":", label="measuring stations" if k == 0 else None)
    if target is not None:
        nominal, tol = target
        ax.axhspan(nominal - tol, nominal + tol, color="C2", alpha=0.15, label=f"tolerance ± {tol:g} mm")
        ax.axhline(nominal, color="C2", lw=1.2, ls="--", label=f"nominal Ø{nominal:g} mm")


def plot_field(result: str | Path, output: str | Path, log: bool = False) -> None:
    """Potential and current-density magnitude at the end of a run, with the tool and workpiece outlines.

    Colour scales are clipped to the 1st and 99th percentiles of the electrolyte's
    values (``log``: a logarithmic scale for |j|); the fields are rasterised
    inside SVG and PDF files, so those stay small. The current-density panel
    carries current lines (tangent to j = −κ∇φ, so normal to the equipotentials).
    """
    _save(field_figure(result, log), output)


def field_figure(result: str | Path, log: bool = False) -> Figure:
    """The figure :func:`plot_field` saves: two panels, potential and |j|, the second with current lines."""
    field = _read_field(Path(result))
    g_r, g_z = _potential_gradient(field)
    j = field["conductivity"] * np.hypot(g_r, g_z) * 1e-4  # A/m² → A/cm²
    fig = _figure((9.0, 4.8))
    panels = ((field["potential"], "potential φ (V)", "viridis", False),
              (j, "current density |j| (A/cm²)", "inferno", log))  # fmt: skip
    for i, (data, label, cmap, use_log) in enumerate(panels):
        ax = fig.add_subplot(1, 2, i + 1)
        _field_panel(fig, ax, field, data, label, cmap, use_log)
        if i == 1:
            _current_lines(ax, field, g_r, g_z)
        ax.set_title(label.split(" (")[0] + ("" if i == 0 else " (wall white, tool cyan)"), fontsize="medium")
    return fig


def _read_field(res_path: Path) -> dict[str, np.ndarray | float]:
    """Grid (mm), potential (V), node kinds, workpiece level set and κ (S/m) of a result file's ``field`` group."""
    import json

    from ecmsim.io.common import open_h5

    with open_h5(res_path, "result file") as f:
        if "field" not in f:
            raise InputDataError(
                f"{res_path}: no fields in this file (an equilibrium result holds only its wall: draw it with "
                "ecmsim plot profile); plot a simulation result"
            )
        field: dict[str, np.ndarray | float] = {
            "r": f["field/r"][()] * 1e3,
            "z": f["field/z"][()] * 1e3,
            "potential": f["field/potential"][()],
            "kind": f["field/node_kind"][()],
            "psi": f["field/workpiece_level_set"][()],
        }
        derived = f["derived_json"][()] if "derived_json" in f else None
    field["conductivity"] = float(json.loads(derived)["conductivity"]["value"]) if derived is not None else 1.0
    return field


def _potential_gradient(field: dict) -> tuple[np.ndarray, np.ndarray]:
    """∂φ/∂r and ∂φ/∂z (V/m) at the electrolyte nodes, shape (nr, nz); NaN off the electrolyte.

    Differences use only electrolyte nodes (the file holds no physical potential
    inside the electrodes or the coating): central where both neighbours are
    electrolyte, one-sided where one is, zero where neither is, so values inside
    the metal or the coating never reach the plot.
    """
    r, kind, phi = field["r"], field["kind"], field["potential"]
    h = (r[1] - r[0]) * 1e-3 if r.size > 1 else 1.0
    valid = kind == 0
    grads = []
    for axis in (0, 1):
        lo_ok = np.zeros_like(valid)
        hi_ok = np.zeros_like(valid)
        lo_phi = np.zeros_like(phi)
        hi_phi = np.zeros_like(phi)
        inner = [slice(None)] * 2
        lower = [slice(None)] * 2
        inner[axis], lower[axis] = slice(1, None), slice(None, -1)
        lo_ok[tuple(inner)], lo_phi[tuple(inner)] = valid[tuple(lower)], phi[tuple(lower)]
        hi_ok[tuple(lower)], hi_phi[tuple(lower)] = valid[tuple(inner)], phi[tuple(inner)]
        both = lo_ok & hi_ok
        g = np.where(both, (hi_phi - lo_phi) / (2 * h), 0.0)
        g = np.where(hi_ok & ~lo_ok, (hi_phi - phi) / h, g)
        g = np.where(lo_ok & ~hi_ok, (phi - lo_phi) / h, g)
        grads.append(np.where(kind == 0, g, np.nan))
    return grads[0], grads[1]


def _field_panel(fig: Figure, ax: Axes, field: dict, data: np.ndarray, label: str, cmap: str, use_log: bool) -> None:
    """One field over the electrolyte with its clipped colour scale, the wall (white) and the tool (cyan)."""
    r, z, elec = field["r"], field["z"], field["kind"] == 0
    norm = clipped_norm(data[elec & np.isfinite(data)], use_log)
    masked = np.ma.masked_where(~elec | ~np.isfinite(data) | ((data <= 0) if use_log else False), data)
    mesh = ax.pcolormesh(r, z, masked.T, shading="auto", cmap=cmap, norm=norm, rasterized=True)
    ax.contour(r, z, field["psi"].T, levels=[0.0], colors="w", linewidths=1)
    tool = ((field["kind"] == 2) | (field["kind"] == 3)).astype(float)
    if tool.any():
        ax.contour(r, z, tool.T, levels=[0.5], colors="c", linewidths=1)
    fig.colorbar(mesh, ax=ax, label=label, extend="both")
    ax.set_xlabel("radius r (mm)")
    ax.set_ylabel("depth z (mm)")
    ax.invert_yaxis()
    ax.set_aspect("equal", adjustable="box")


def _current_lines(ax: Axes, field: dict, g_r: np.ndarray, g_z: np.ndarray) -> None:
    """Current lines in the electrolyte, from the workpiece to the tool (direction of j = −κ∇φ).

    The direction field is normalised so that lines are drawn as densely in the
    weak side gap as beside the tip; they stop where the electrolyte ends.
    """
    mag = np.hypot(g_r, g_z)
    with np.errstate(invalid="ignore", divide="ignore"):
        u, v = -g_r / mag, -g_z / mag
    u, v = np.ma.masked_invalid(u.T), np.ma.masked_invalid(v.T)
    if u.count() < 4:
        return
    ax.streamplot(field["r"], field["z"], u, v, density=2.0, color="0.85", linewidth=0.5, arrowsize=0.6,
                  broken_streamlines=True, zorder=3)  # fmt: skip


def clipped_norm(values: np.ndarray, log: bool = False) -> Normalize:
    """A colour scale over the 1st–99th percentiles of ``values`` (positive values only when ``log``)."""
    from matplotlib.colors import LogNorm, Normalize

    vals = values[values > 0] if log else values
    lo, hi = (float(v) for v in np.percentile(vals, CLIP_PERCENTILES)) if vals.size else (0.0, 1.0)
    hi = hi if hi > lo else lo + 1e-12
    return LogNorm(vmin=max(lo, hi * 1e-6), vmax=hi) if log else Normalize(vmin=lo, vmax=hi)


def plot_history(result: str | Path, output: str | Path) -> None:
    """Current, applied voltage, gaps and feed against time (left) and tool depth (right)."""
    from ecmsim.io import read_result

    res = read_result(result)
    hist = res.history
    t = np.asarray(hist["time"], float)
    if t.size < 2:
        raise InputDataError(f"{result}: the run has fewer than two steps; nothing to plot against time")
    depth = np.asarray(hist["tool_depth"], float) * 1e3
    if "voltage" in hist:  # recorded per step (current control follows the gap)
        volts = np.asarray(hist["voltage"], float)
        feed = np.asarray(hist["feed_rate"], float) * 6e4  # mm/min
    else:  # files written before the voltage and feed histories
        volts = np.full(t.size, float(res.config.get("electrical", {}).get("voltage_V", np.nan)))
        feed = np.gradient(depth, t) * 60.0  # mm/min
    rows = (
        (np.asarray(hist["current"], float), "current (A)"),
        (volts, "applied voltage (V)"),
        (np.asarray(hist["frontal_gap"], float) * 1e3, "frontal gap (mm)"),
        (feed, "feed rate (mm/min)"),
    )
    fig = _figure((9.0, 8.0))
    axes = fig.subplots(len(rows), 2, sharex="col")
    for k, (y, label) in enumerate(rows):
        for c, x in enumerate((t, depth)):
            ax = axes[k, c]
            ax.plot(x, y, lw=1.2, color=f"C{k}")
            if k == 2:
                ax.plot(x, np.asarray(hist["min_gap"], float) * 1e3, lw=1, ls="--", color="C7", label="smallest gap")
                ax.legend(fontsize="small")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("time (s)")
    axes[-1, 1].set_xlabel("tool depth (mm)")
    fig.suptitle(f"History: {Path(str(res.provenance.get('config_source', result))).name} ({res.status})")
    _save(fig, output)


def plot_flow_path(result: str | Path, output: str | Path) -> None:
    """Pressure, temperature, void fraction and conductivity along the electrolyte path at the end of the run.

    The left column is the tube bore (from the inlet), the right one the gap from the
    tool face (s = 0 at the bore exit) through the frontal gap, beside the bare tip and up
    the coated annulus to the exit, with the segment boundaries marked.  Needs a result
    simulated with ``[physics] secondary = true``.
    """
    from ecmsim.io.result import read_flow_path, read_result

    fp = read_flow_path(result)
    res = read_result(result)
    name = Path(str(res.provenance.get("config_source", result))).name
    title = f"Flow path at the end of the run: {name} ({res.status}, {fp.flow_rate * 6e4:.3g} L/min)"
    _save(flow_path_figure(fp, title), output)


def flow_path_figure(fp: ResultFlowPath, title: str) -> Figure:
    """The figure of :func:`plot_flow_path` for a flow path read by :func:`ecmsim.io.result.read_flow_path`.

    Axes ``[row, 0]`` hold the bore, ``[row, 1]`` the gap; rows: pressure (MPa), temperature
    (°C) and void fraction at the cell faces, conductivity (S/m) at the cell centres,
    against the distance from the bore exit (mm).
    """
    from ecmsim.channel import SEGMENT_NAMES, ZERO_CELSIUS

    first = np.flatnonzero(fp.segment != 0)
    bore_end = int(first[0]) if first.size else fp.segment.size  # faces 0..bore_end lie in the bore
    s0 = float(fp.position[bore_end])
    faces = (fp.position - s0) * 1e3  # mm from the bore exit
    cells = (fp.cell_position - s0) * 1e3
    rows = (
        (faces, fp.pressure / 1e6, "pressure (MPa)"),
        (faces, fp.temperature - ZERO_CELSIUS, "temperature (°C)"),
        (faces, fp.void_fraction, "void fraction"),
        (cells, fp.conductivity, "conductivity κ (S/m)"),
    )
    fig = _figure((9.0, 8.0))
    axes = fig.subplots(len(rows), 2, sharex="col", gridspec_kw={"width_ratios": (1, 3)})
    for k, (x, y, label) in enumerate(rows):
        for c, part in enumerate((x <= 0.0, x >= 0.0)):  # the bore exit face in both
            ax = axes[k, c]
            ax.plot(x[part], y[part], lw=1.4, color=f"C{k}", marker="." if x is cells else None, ms=3)
            ax.grid(alpha=0.3)
        axes[k, 0].set_ylabel(label)
    starts = [(int(seg), float(fp.position[i] - s0) * 1e3) for i, seg in enumerate(fp.segment)
              if i == 0 or fp.segment[i] != fp.segment[i - 1]]  # fmt: skip
    for seg, x0 in starts:
        if seg == 0:
            continue
        for ax in axes[:, 1]:
            ax.axvline(x0, color="0.5", lw=0.8, ls=":")
        axes[0, 1].annotate(SEGMENT_NAMES[seg].replace("_", " ").replace("annulus", "coated annulus"), (x0, 1.0),
                            xycoords=("data", "axes fraction"), xytext=(2, -10), textcoords="offset points",
                            fontsize="small", color="0.3")  # fmt: skip
    axes[-1, 0].set_xlabel("bore, from the tool face (mm)")
    axes[-1, 1].set_xlabel("gap path from the tool face to the exit (mm)")
    fig.suptitle(title)
    return fig


def plot_window(
    sweep: str | Path,
    output: str | Path,
    metric: str = "diameter_mm",
    x: str | None = None,
    y: str | None = None,
    target: tuple[float, float] | None = None,
) -> None:
    """Process-window map: ``metric`` over parameters ``x`` and ``y`` of a sweep."""
    from ecmsim.engineering.common import GOOD_STATUSES, resolve_key
    from ecmsim.engineering.tune import check_metric
    from ecmsim.io.sweep import SWEEP_METRICS, read_sweep

    sw = read_sweep(sweep)
    metric = check_metric(metric, "--metric")
    if sw.n_points == 0:
        raise InputDataError(f"{sweep}: the sweep has no evaluated points yet")
    params = sw.parameters

    def index(name: str | None, default: int) -> int:
        if name is None:
            if default >= len(params):
                raise ConfigError(f"{sweep}: the sweep varies only {', '.join(params)}; a map needs two parameters")
            return default
        path = name if name in params else resolve_key(name).path
        if path not in params:
            raise ConfigError(f"{name!r} is not varied in {sweep} (parameters: {', '.join(params)})")
        return params.index(path)

    ix = index(x, 0)
    iy = index(y, 1) if (y is not None or len(params) > 1) else None
    if iy is None:
        raise ConfigError(f"{sweep}: the sweep varies only {params[0]}; a map needs two parameters")
    if ix == iy:
        raise ConfigError("--x and --y name the same parameter")
    vx, vy = sw.values[:, ix], sw.values[:, iy]
    v = sw.metrics[metric]
    good = np.array([s in (*GOOD_STATUSES, "not_converged") for s in sw.status]) & np.isfinite(v)
    unit = SWEEP_METRICS[metric][0]
    fig = _figure()
    ax = fig.add_subplot()
    ux, uy = np.unique(vx), np.unique(vy)
    is_grid = sw.design == "grid" and ux.size * uy.size == sw.n_points and ux.size > 1 and uy.size > 1
    cs: ScalarMappable | None = None
    if is_grid and good.sum() >= 4:
        zz = np.full((uy.size, ux.size), np.nan)
        for a, b, c, ok in zip(vx, vy, v, good, strict=True):
            if ok:
                zz[np.searchsorted(uy, b), np.searchsorted(ux, a)] = c
        cs = ax.pcolormesh(ux, uy, np.ma.masked_invalid(zz), shading="nearest", cmap="viridis")
        if target is not None and np.isfinite(zz).sum() >= 4:
            lo, hi = target[0] - target[1], target[0] + target[1]
            if np.nanmin(zz) < hi and np.nanmax(zz) > lo:
                ax.contour(ux, uy, np.ma.masked_invalid(zz), levels=[lo, hi], colors="w", linewidths=1.5)
    else:
        cs = ax.scatter(vx[good], vy[good], c=v[good], cmap="viridis", s=40)
    if cs is not None and good.any():
        fig.colorbar(cs, ax=ax, label=f"{metric} ({unit})")
    if target is not None:
        inside = good & (np.abs(v - target[0]) <= target[1])
        ax.scatter(vx[inside], vy[inside], marker="o", facecolors="none", edgecolors="w", s=80,
                   label=f"{metric} = {target[0]:g} ± {target[1]:g}")  # fmt: skip
    markers = {"short_circuit": "x", "limit_exceeded": "^", "error": "s", "invalid": "D", "max_steps": "v"}
    for status, mk in markers.items():
        sel = np.array([s == status for s in sw.status])
        if sel.any():
            ax.scatter(vx[sel], vy[sel], marker=mk, color="C3", s=50, label=status.replace("_", " "))
    ax.set_xlabel(f"{params[ix]} ({sw.units[ix]})")
    ax.set_ylabel(f"{params[iy]} ({sw.units[iy]})")
    ax.set_title(f"Process window: {metric} ({sw.mode}, {sw.n_points} points)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize="small")
    _save(fig, output)
