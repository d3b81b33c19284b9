"""``ecmsim calibrate``: fit model parameters to measured holes."""

from __future__ import annotations

import click

from ecmsim.cli.options import echo_json, json_flag, mode_option, output_option, repeatable, set_option


@click.command("calibrate")
@click.argument("config")
@repeatable("--measurements", "measurements", "BATCH.h5[@TABLE.KEY=VALUE,...]", required=True,
            help="Inspection batch (ecmsim qc import) and the conditions it was drilled under, if they differ "
            "from CONFIG, e.g. b8.h5@electrical.voltage_V=8 (repeatable).")  # fmt: skip
@click.option(
    "--fit", "fit", default="conductivity_factor,overpotential_V", show_default=True, metavar="KEY,KEY",
    help="Comma-separated config keys to fit.",
)  # fmt: skip
@mode_option(("auto", "equilibrium", "transient"), "auto",
             help="Model: transient runs, or the equilibrium shape (auto: where every batch was measured on wall "
             "at equilibrium).")  # fmt: skip
@click.option(
    "--max-evaluations", type=click.IntRange(min=2), default=40, show_default=True,
    help="Budget of model evaluations (each runs the model once per measurement set).",
)  # fmt: skip
@output_option("Calibrated config (TOML); default: <config name>-calibrated.toml.")
@set_option
@json_flag
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def calibrate_command(
    config: str, measurements: tuple[str, ...], fit: str, mode: str, max_evaluations: int, output: str | None,
    overrides: tuple[str, ...], as_json: bool, no_progress: bool,
) -> None:  # fmt: skip
    """Fit parameters of CONFIG to measured hole diameters (least squares) and write a calibrated config.

    \b
    ecmsim calibrate my.toml --measurements b8.h5@electrical.voltage_V=8 \\
        --measurements b12.h5@electrical.voltage_V=12 --fit conductivity_factor,overpotential_V
    """
    from pathlib import Path

    from ecmsim.cli.progress import notice, progress_bar
    from ecmsim.engineering.calibrate import calibrate, calibrated_header
    from ecmsim.engineering.common import write_config_toml
    from ecmsim.io.guard import config_inputs, measurement_inputs, refuse_unsafe_outputs
    from ecmsim.qc.textfiles import check_output_folder

    out = Path(output) if output else Path(Path(config.split(":")[-1]).stem + "-calibrated.toml")
    inputs = [*config_inputs("CONFIG", config), *measurement_inputs("--measurements", measurements)]
    refuse_unsafe_outputs([("-o", out)], inputs)
    check_output_folder(out)
    names = [f.strip() for f in fit.split(",") if f.strip()]
    with progress_bar("calibrate", unit="evaluations", enabled=not no_progress, at_most=True) as bar:
        res = calibrate(
            config, measurements, fit=names, mode=mode, overrides=overrides, max_evaluations=max_evaluations,
            progress=bar,
        )  # fmt: skip
    write_config_toml(out, res.config_doc, calibrated_header(res, config))
    summary = {**res.summary(), "output": str(out)}
    if as_json:
        echo_json(summary)
        return
    click.echo(f"  {summary['n_measurements']} measured diameters in {len(res.sets)} sets, {res.mode} model, "
               f"{res.evaluations} evaluations, {res.wall_clock_s:.1f} s")  # fmt: skip
    click.echo(f"  model: {res.mode} ({res.mode_reason})")
    if res.fit_cell_size_mm != res.cell_size_mm:
        click.echo(f"  fitted at {res.fit_cell_size_mm:g} mm cells, one Gauss-Newton step at {res.cell_size_mm:g} mm")
    click.echo(f"  {'parameter':<40} {'initial':>10} {'fitted':>10}   95 % confidence interval")
    for p in summary["parameters"]:
        lo, hi = p["ci95"]
        ci = "-" if lo is None or hi is None else f"[{lo:.4g}, {hi:.4g}]"
        click.echo(f"  {p['name']:<40} {p['initial']:10.4g} {p['fitted']:10.4g}   {ci} {p['unit']}")
    click.echo(f"  residual RMS: {res.rms_before * 1e3:.2f} µm before, {res.rms_after * 1e3:.2f} µm after")
    dep = summary["cell_size_dependence"]
    if dep is not None:
        vals = ", ".join(f"{v:.4g}" for v in dep["values"])
        click.echo(f"  the values hold for {res.cell_size_mm:g} mm cells; at {dep['cell_size_mm']:g} mm: {vals}")
    for s in res.sets:
        click.echo(f"    {s['label']:<20} measured {s['measured_mean_mm']:.4f} mm, predicted "
                   f"{s['predicted_before_mm']:.4f} → {s['predicted_after_mm']:.4f} mm")  # fmt: skip
    for w in res.warnings:
        click.echo(f"  warning: {w}")
    notice(f"  calibrated config written to {out}")
