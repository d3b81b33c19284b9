"""``ecmsim tune``: find the voltage, feed, ... that give the hole on the drawing."""

from __future__ import annotations

from typing import Any

import click

from ecmsim.cli.options import echo_json, json_flag, mode_option, output_option, repeatable, set_option
from ecmsim.cli.progress import notice


@click.command("tune")
@click.argument("config")
@repeatable("--target", "targets", "METRIC=VALUE:TOL", required=True,
            help="Predicted metric to meet within ±TOL, e.g. diameter_mm=0.90:0.02 (repeatable).")  # fmt: skip
@repeatable("--vary", "vary", "TABLE.KEY=LO:HI",
            help="Search range of a parameter (repeatable; default voltage 5:15 V and feed 0.5:3 mm/min).")  # fmt: skip
@click.option("--maximize", default=None, metavar="NAME", help="Parameter (feed_rate) or metric to maximise.")
@click.option("--minimize", default=None, metavar="NAME", help="Parameter or metric (machining_time_s) to minimise.")
@mode_option(("auto", "equilibrium", "transient"), "auto",
             "auto: the equilibrium shape when every target is available from it (coated tool), "
             "else transient runs.")  # fmt: skip
@click.option("--min-gap", "min_gap", type=click.FloatRange(min=0), default=None,
              help="Smallest acceptable frontal gap, mm (default: the short-circuit gap).")  # fmt: skip
@click.option("--max-current-density", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Current-density limit, A/cm² (default: the config's).")  # fmt: skip
@click.option("--no-check", is_flag=True, help="Skip the transient run at the optimum of an equilibrium search.")
@output_option("Write the tuned config (TOML).")
@set_option
@json_flag
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def tune_command(
    config: str, targets: tuple[str, ...], vary: tuple[str, ...], maximize: str | None, minimize: str | None,
    mode: str, min_gap: float | None, max_current_density: float | None, no_check: bool, output: str | None,
    overrides: tuple[str, ...], as_json: bool, no_progress: bool,
) -> None:  # fmt: skip
    """Find parameters of CONFIG whose predicted hole meets the targets.

    \b
    ecmsim tune my.toml --target diameter_mm=0.90:0.02 --maximize feed_rate

    Exit code 1 when no parameters within the ranges meet the targets.
    """
    from ecmsim.cli.progress import progress_bar
    from ecmsim.engineering.common import write_config_toml
    from ecmsim.engineering.tune import require_feasible, tune
    from ecmsim.io.guard import config_inputs, refuse_unsafe_outputs
    from ecmsim.qc.textfiles import check_output_folder

    refuse_unsafe_outputs([("-o", output)], config_inputs("CONFIG", config))
    if output:
        check_output_folder(output)
    with progress_bar("tune", unit="solves", enabled=not no_progress, at_most=True) as bar:
        res = tune(
            config, targets, vary=vary, maximize=maximize, minimize=minimize, mode=mode, overrides=overrides,
            min_gap_mm=min_gap, max_current_density=max_current_density, check=not no_check, progress=bar,
        )  # fmt: skip
    if output and res.feasible:
        header = [f"Tuned by ecmsim tune from {config}: {res.message}.",
                  "Targets: " + ", ".join(targets)]  # fmt: skip
        write_config_toml(output, res.config_doc, header)
    summary = res.summary()
    if output and res.feasible:
        summary["output"] = output
    if as_json:
        echo_json(summary)
    else:
        _print(summary)
    require_feasible(res)


def _print(s: dict[str, Any]) -> None:
    click.echo(f"  search: {s['mode']} model, {s['evaluations']} evaluations, {s['wall_clock_s']:.1f} s"
               + (f", {s['objective']}" if s["objective"] else ""))  # fmt: skip
    click.echo("  parameters" + ("" if s["feasible"] else " (closest point found)") + ":")
    for p, v in s["optimum"].items():
        lo, hi = s["bounds"][p]
        click.echo(f"    {p:<36} {v:10.4g} {s['units'][p]:<7} range {lo:g}–{hi:g}")
    click.echo(f"  predicted ({s['status']}):")
    for t in s["targets"]:
        got = "-" if t["predicted"] is None else f"{t['predicted']:.4g}"
        verdict = "ok" if t["met"] else "MISSED"
        click.echo(f"    {t['key']:<36} {got:>10} target {t['value']:g} ± {t['tol']:g} {verdict}")
    shown = {t["key"] for t in s["targets"]}
    for k in ("diameter_mm", "frontal_gap_mm", "machining_time_s", "max_current_density_A_per_cm2"):
        v = s["predicted"].get(k)
        if v is not None and k not in shown:
            click.echo(f"    {k:<36} {v:10.4g}")
    if s["sensitivity"]:
        click.echo("  sensitivity at the optimum (per unit of the parameter; span: drift that uses the tolerance):")
        for e in s["sensitivity"]:
            parts = [f"d{m}={g:+.3g}" for m, g in e["derivative"].items() if g is not None]
            spans = [f"span {m}: ±{v:.3g} {e['unit']}" for m, v in e["tolerance_span"].items() if v is not None]
            click.echo(f"    {e['parameter']}: " + ", ".join(parts + spans))
    chk = s.get("transient_check")
    if chk:
        met = ", ".join(f"{k} {'ok' if v else 'MISSED'}" for k, v in chk["targets_met"].items())
        m = chk["metrics"]
        click.echo(f"  transient check: {chk['status']}; diameter {m.get('diameter_mm') or float('nan'):.4g} mm, "
                   f"entry {m.get('entry_diameter_mm') or float('nan'):.4g} mm, "
                   f"taper {m.get('taper_deg') or float('nan'):.3g}°; targets: {met}")  # fmt: skip
    if s.get("output"):
        notice(f"  tuned config written to {s['output']}")
    if s["feasible"]:
        click.echo(f"  {s['message']}")
