"""Plots: valid PNG/SVG files with the expected content."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecmsim.engineering.plots import plot_field, plot_history, plot_profile, plot_window
from ecmsim.errors import ConfigError
from ecmsim.io import SweepData, write_result, write_sweep
from ecmsim.io.sweep import SWEEP_METRICS

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def result_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import tomllib

    from ecmsim.config import config_from_dict
    from ecmsim.simulation import simulate
    from ecmsim.testing import FAST_STEM_TOML

    out = tmp_path_factory.mktemp("plots") / "run.h5"
    write_result(out, simulate(config_from_dict(tomllib.loads(FAST_STEM_TOML))))
    return out


@pytest.fixture(scope="module")
def batch_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from eng_helpers import synthetic_batch

    out = tmp_path_factory.mktemp("plots") / "batch.h5"
    synthetic_batch(out, 1.55, np.random.default_rng(0), "B1")
    return out


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 × 3 grid written directly (no simulations), one short circuit."""
    u, f = np.meshgrid([6.0, 8.0, 10.0], [1.0, 2.0, 3.0], indexing="ij")
    vals = np.stack([u.ravel(), f.ravel()], axis=1)
    n = len(vals)
    dia = 0.8 + 0.1 * vals[:, 0] / vals[:, 1]
    status = ["completed"] * n
    status[2] = "short_circuit"
    sw = SweepData(
        mode="transient", design="grid", parameters=["electrical.voltage_V", "motion.feed_rate_mm_per_min"],
        units=["V", "mm/min"], base_config={}, base_config_hash="x", config_source="t.toml", plan=vals,
        plan_hash=[f"{i:064d}" for i in range(n)], param_hash=[f"{i:064d}" for i in range(n)], values=vals,
        status=status, message=[""] * n,
        metrics={k: (dia if k == "diameter_mm" else np.full(n, np.nan)) for k in SWEEP_METRICS},
    )  # fmt: skip
    out = tmp_path_factory.mktemp("plots") / "sweep.h5"
    write_sweep(out, sw)
    return out


def test_profile_png_and_svg(result_file: Path, batch_file: Path, tmp_path: Path) -> None:
    png = tmp_path / "p.png"
    plot_profile(result_file, png, batch_file)
    data = png.read_bytes()
    assert data.startswith(PNG) and len(data) > 20_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (960, 720)  # 6.4 × 4.8 in at 150 dpi
    svg = tmp_path / "p.svg"
    plot_profile(result_file, svg, batch_file)
    text = svg.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    for label in ("depth below the entry surface (mm)", "hole diameter (mm)", "predicted", "measured mean"):
        assert label in text
    assert "nominal" not in text


def test_profile_with_nominal_tolerance_band_and_stations(result_file: Path, batch_file: Path, tmp_path: Path,
                                                          run_main) -> None:  # fmt: skip
    svg = tmp_path / "p.svg"
    code, _, err = run_main(["plot", "profile", result_file, "--measurements", batch_file, "--target", "1.55:0.05",
                             "-o", svg])  # fmt: skip
    assert code == 0, err
    text = svg.read_text(encoding="utf-8")
    for label in ("nominal Ø1.55 mm", "tolerance ± 0.05 mm", "measuring stations"):
        assert label in text
    code, _, err = run_main(["plot", "profile", result_file, "--target", "1.55:0", "-o", tmp_path / "q.svg"])
    assert code == 2 and "positive" in err and not (tmp_path / "q.svg").exists()


def test_field_plot(result_file: Path, tmp_path: Path) -> None:
    svg = tmp_path / "f.svg"
    plot_field(result_file, svg)
    text = svg.read_text(encoding="utf-8")
    for label in ("potential φ (V)", "current density |j| (A/cm²)", "radius r (mm)", "depth z (mm)"):
        assert label in text


def test_field_plot_current_lines_follow_the_current(result_file: Path) -> None:
    """Current lines lie in the electrolyte and run along −∇φ (normal to the equipotentials), tool to workpiece."""
    from matplotlib.collections import LineCollection
    from scipy.interpolate import RegularGridInterpolator

    from ecmsim.engineering.plots import _potential_gradient, _read_field, field_figure

    fig = field_figure(result_file)
    ax = next(a for a in fig.axes if a.get_title().startswith("current density"))
    lines = [c for c in ax.collections if isinstance(c, LineCollection) and c.get_linewidth()[0] == 0.5]
    polylines = [np.asarray(s) for c in lines for s in c.get_segments()]
    assert len(polylines) >= 10
    segments = np.concatenate([np.stack([p[:-1], p[1:]], axis=1) for p in polylines])  # (n, 2 ends, r|z)
    assert len(segments) > 200
    field = _read_field(result_file)
    g_r, g_z = _potential_gradient(field)
    r, z = field["r"], field["z"]
    mid = segments.mean(axis=1)
    step = segments[:, 1] - segments[:, 0]
    keep = np.hypot(*step.T) > 1e-9
    mid, step = mid[keep], step[keep]
    interp = [RegularGridInterpolator((r, z), g, bounds_error=False) for g in (g_r, g_z)]
    grad = np.stack([f(mid) for f in interp], axis=1)
    ok = np.isfinite(grad).all(axis=1)
    assert ok.mean() > 0.9  # midpoints lie in the electrolyte (NaN gradient off it)
    cosine = -(step[ok] * grad[ok]).sum(axis=1) / (np.hypot(*step[ok].T) * np.hypot(*grad[ok].T))
    assert np.median(cosine) > 0.99 and (cosine > 0.9).mean() > 0.9


def test_window_map_and_cli(sweep_file: Path, tmp_path: Path, run_main) -> None:
    svg = tmp_path / "w.svg"
    plot_window(sweep_file, svg, metric="diameter_mm", target=(1.2, 0.05))
    text = svg.read_text(encoding="utf-8")
    for label in ("electrical.voltage_V (V)", "motion.feed_rate_mm_per_min (mm/min)", "diameter_mm (mm)",
                  "short circuit", "Process window"):  # fmt: skip
        assert label in text
    png = tmp_path / "w.png"
    code, _, err = run_main(["plot", "window", sweep_file, "--metric", "diameter_mm", "--target", "1.2:0.05",
                               "-o", png])  # fmt: skip
    assert code == 0, err
    assert png.read_bytes().startswith(PNG)
    code, _, err = run_main(["plot", "window", sweep_file, "--metric", "diametr_mm", "-o", png])
    assert code == 2 and "did you mean 'diameter_mm'" in err
    code, _, err = run_main(["plot", "window", sweep_file, "-o", tmp_path / "w.jpg"])
    assert code == 2 and "unknown plot format '.jpg'" in err and not (tmp_path / "w.jpg").exists()


def test_bad_inputs(result_file: Path, sweep_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not varied"):
        plot_window(sweep_file, tmp_path / "x.svg", x="electrical.overpotential_V")
    from ecmsim.errors import InputDataError

    with pytest.raises(InputDataError, match="not an ecmsim sweep file"):
        plot_window(result_file, tmp_path / "x.svg")
    assert not list(tmp_path.iterdir())  # nothing half-written


def _png_pixels(path: Path) -> np.ndarray:
    import matplotlib.image

    return np.asarray(matplotlib.image.imread(path))[..., :3]


def test_field_plot_sizes_rasterised_fields_clipped_and_log_scales(result_file: Path, tmp_path: Path) -> None:
    svg, png, pdf = tmp_path / "f.svg", tmp_path / "f.png", tmp_path / "f.pdf"
    plot_field(result_file, svg)
    plot_field(result_file, png)
    plot_field(result_file, pdf, log=True)
    text = svg.read_text(encoding="utf-8")
    assert "<image" in text and text.count("<path") < 2000  # fields as embedded images, not a path per cell
    assert svg.stat().st_size <= 2_000_000 and png.stat().st_size <= 1_000_000
    assert pdf.read_bytes().startswith(b"%PDF-") and pdf.stat().st_size <= 2_000_000
    # Tool outline (cyan) is drawn.
    px = _png_pixels(png)
    cyan = (px[..., 0] < 0.3) & (px[..., 1] > 0.7) & (px[..., 2] > 0.7)
    assert cyan.sum() > 50


def test_history_plot(result_file: Path, tmp_path: Path, run_main) -> None:
    png = tmp_path / "h.png"
    code, _, err = run_main(["plot", "history", result_file, "-o", png])
    assert code == 0, err
    assert png.stat().st_size <= 1_000_000
    px = _png_pixels(png)
    assert (px.mean(axis=2) < 0.9).mean() > 0.02  # lines and labels drawn
    svg = tmp_path / "h.svg"
    plot_history(result_file, svg)
    text = svg.read_text(encoding="utf-8")
    for label in ("current (A)", "applied voltage (V)", "frontal gap (mm)", "feed rate (mm/min)", "time (s)",
                  "tool depth (mm)", "smallest gap"):  # fmt: skip
        assert label in text


def test_colour_scale_ignores_a_few_corner_nodes() -> None:
    from ecmsim.engineering.plots import clipped_norm

    j = np.random.default_rng(0).uniform(10.0, 100.0, 10_000)
    j[:20] = 1e6  # singular corner nodes
    norm = clipped_norm(j)
    assert norm.vmax == pytest.approx(np.percentile(j, 99)) and norm.vmax < 101 and norm.vmin < 12
    log = clipped_norm(np.concatenate([j, [0.0, -1.0]]), log=True)
    assert type(log).__name__ == "LogNorm" and 0 < log.vmin < 12 and log.vmax < 101


def test_equilibrium_result_is_plottable(tmp_path: Path, run_main) -> None:
    import tomllib

    from ecmsim.config import config_from_dict
    from ecmsim.equilibrium import solve_equilibrium
    from ecmsim.io import write_equilibrium
    from ecmsim.testing import FAST_STEM_TOML

    eq = solve_equilibrium(config_from_dict(tomllib.loads(FAST_STEM_TOML)))
    path = tmp_path / "eq.h5"
    write_equilibrium(path, eq)
    svg = tmp_path / "eq.svg"
    code, _, err = run_main(["plot", "profile", path, "--target", "1.5:0.05", "-o", svg])
    assert code == 0, err
    text = svg.read_text(encoding="utf-8")
    assert "predicted (equilibrium)" in text and "distance behind the tool face (mm)" in text
    assert "nominal Ø1.5 mm" in text
    code, _, err = run_main(["plot", "field", path, "-o", tmp_path / "f.svg"])
    assert code == 2 and "ecmsim plot profile" in err and not (tmp_path / "f.svg").exists()


@pytest.fixture(scope="module")
def coupled_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The STEM example with the secondary physics, 20 µm cells, 0.5 mm of travel."""
    from ecmsim.simulation import simulate

    out = tmp_path_factory.mktemp("plots") / "coupled.h5"
    overrides = ["numerics.cell_size_mm=0.02", "motion.depth_mm=0.4", "physics.secondary=true",
                 "flow.inlet_pressure_MPa=0.5"]  # fmt: skip
    write_result(out, simulate("example:stem-in718", overrides=overrides))
    return out


def test_flow_path_plot_draws_the_profiles_of_the_file(coupled_file: Path, tmp_path: Path, run_main) -> None:
    """The curves are the file's /flow_path: bore on the left, the gap from the tool face on the right."""
    import h5py

    from ecmsim.engineering.plots import flow_path_figure
    from ecmsim.io.result import read_flow_path

    fp = read_flow_path(coupled_file)
    with h5py.File(coupled_file) as f:
        pressure, kappa = f["flow_path/pressure"][()], f["flow_path/conductivity"][()]
        seg = f["flow_path/segment"][()]
    fig = flow_path_figure(fp, "t")
    axes = np.asarray(fig.axes).reshape(4, 2)
    n_bore = int(np.sum(seg == 0))  # bore cells; faces 0..n_bore in the bore
    bore_p, gap_p = axes[0, 0].lines[0].get_ydata(), axes[0, 1].lines[0].get_ydata()
    np.testing.assert_array_equal(np.concatenate([bore_p, gap_p[1:]]), pressure / 1e6)
    assert axes[0, 1].lines[0].get_xdata()[0] == 0.0 == axes[0, 0].lines[0].get_xdata()[-1]  # s = 0: bore exit
    np.testing.assert_array_equal(np.concatenate([axes[3, 0].lines[0].get_ydata(), axes[3, 1].lines[0].get_ydata()]),
                                  kappa)  # fmt: skip
    assert gap_p.size == pressure.size - n_bore
    for fmt in ("png", "svg", "pdf"):
        out = tmp_path / f"flow.{fmt}"
        code, _, err = run_main(["plot", "flow", coupled_file, "-o", out])
        assert code == 0, err
        assert 10_000 < out.stat().st_size <= 1_000_000
    assert (tmp_path / "flow.png").read_bytes().startswith(PNG)
    assert (tmp_path / "flow.pdf").read_bytes().startswith(b"%PDF")
    text = (tmp_path / "flow.svg").read_text(encoding="utf-8")
    for label in ("pressure (MPa)", "temperature (°C)", "void fraction", "conductivity κ (S/m)", "frontal gap",
                  "bare tip", "coated annulus", f"{fp.flow_rate * 6e4:.3g} L/min"):  # fmt: skip
        assert label in text


def test_flow_path_plot_needs_the_secondary_physics(result_file: Path, tmp_path: Path, run_main) -> None:
    out = tmp_path / "flow.png"
    code, _, err = run_main(["plot", "flow", result_file, "-o", out])
    assert code == 2 and "has no flow path" in err and "secondary = true" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        ("units", r"/flow_path/pressure has units 'bar', expected units 'Pa'"),
        ("length", r"/flow_path/conductivity has \d+ values, expected \d+"),
        ("negative", r"/flow_path/temperature"),
    ],
)
def test_flow_path_plot_refuses_a_damaged_flow_path(
    coupled_file: Path, tmp_path: Path, run_main, damage, words
) -> None:
    import re
    import shutil

    import h5py

    bad = tmp_path / "bad.h5"
    shutil.copy(coupled_file, bad)
    with h5py.File(bad, "r+") as f:
        g = f["flow_path"]
        if damage == "units":
            g["pressure"].attrs["units"] = "bar"
        elif damage == "length":
            data = g["conductivity"][()]
            del g["conductivity"]
            ds = g.create_dataset("conductivity", data=data[:-1])
            ds.attrs["units"] = "S/m"
        else:
            g["temperature"][0] = -1.0
    out = tmp_path / "flow.svg"
    code, _, err = run_main(["plot", "flow", bad, "-o", out])
    assert code == 2 and re.search(words, err) and "Traceback" not in err, err
    assert not out.exists()
