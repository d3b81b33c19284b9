"""``ecmsim simulate``: drill one hole in silico."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ecmsim.cli.grid_study_cmd import parse_cells_um, run_grid_study
from ecmsim.cli.options import choice_option, echo_json, json_flag, output_option, positive_option, set_option
from ecmsim.cli.progress import notice

if TYPE_CHECKING:
    from ecmsim.cli.progress import ProgressBar


@click.command("simulate")
@click.argument("config")
@output_option("HDF5 result file (default: <config name>.h5 in the current folder).")
@set_option
@json_flag
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option(
    "--equilibrium",
    is_flag=True,
    help="Solve for the steady hole shape seen from the tool (coated tool, constant feed) instead of "
    "drilling in time; much faster, for sweeps and parameter searches.",
)
@choice_option(
    "--equilibrium-method",
    ["auto", "direct", "march"],
    "auto",
    "--equilibrium: direct solves the steady shape by a shape iteration on the surface; march steps "
    "pseudo-time until the shape stops changing (slower on fine grids, the travel grows with the gap, but "
    "smoother on coarse ones); auto takes direct from 8 cells per planar gap h_e.",
)
@click.option(
    "--grid-study",
    is_flag=True,
    help="Run the config at several cell sizes (default: its own, 2x and 4x coarser) and print each summary "
    "quantity with its observed order, Richardson estimate and error, and a recommended cell size; "
    "-o writes the study as JSON (no HDF5 results).",
)
@click.option(
    "--grid-cells-um",
    "cells_mm",
    callback=parse_cells_um,
    metavar="H1,H2,...",
    help="Cell sizes of --grid-study in µm, e.g. 20,10,5 (2 to 5 values).",
)
@positive_option("--tolerance-mm", 0.005, "--grid-study: acceptable error of lengths (gaps, diameters, depth), mm.")
@positive_option("--tolerance-pct", 1.0, "--grid-study: acceptable error of current, charge, time and volume, %.")
@positive_option("--tolerance-deg", 0.1, "--grid-study: acceptable error of the taper, degrees.")
def simulate_command(
    config: str,
    output: str | None,
    overrides: tuple[str, ...],
    as_json: bool,
    no_progress: bool,
    equilibrium: bool,
    equilibrium_method: str,
    grid_study: bool,
    **study: Any,
) -> None:
    """Simulate drilling one hole with process CONFIG (a TOML file or example:NAME).

    Prints a summary (or JSON with --json) and writes the HDF5 result.
    With --grid-study: the config at several cell sizes and the grid error of every summary value.
    """
    from pathlib import Path

    from ecmsim.config import load_config
    from ecmsim.io.guard import config_inputs, refuse_unsafe_outputs

    if grid_study:
        run_grid_study(config, overrides, output, as_json, not no_progress, {**study, "equilibrium": equilibrium})
        return
    _refuse_study_options(study)
    if equilibrium_method != "auto" and not equilibrium:
        raise click.UsageError("--equilibrium-method is an option of --equilibrium: add --equilibrium or leave it out")
    suffix = "-equilibrium.h5" if equilibrium else ".h5"
    out = Path(output) if output else Path(Path(config.split(":")[-1]).stem + suffix)
    refuse_unsafe_outputs([("-o", out)], config_inputs("CONFIG", config))
    cfg = load_config(config, overrides)
    if equilibrium:
        from ecmsim.equilibrium import solve_equilibrium
        from ecmsim.io import write_equilibrium

        eq = solve_equilibrium(cfg, method=equilibrium_method)
        write_equilibrium(out, eq)
        if as_json:
            echo_json({**eq.summary(), "output": str(out)})
        else:
            for key, value in eq.summary().items():
                text = f"{value:.4g}" if isinstance(value, float) else str(value)
                click.echo(f"  {key:<32} {text}")
            notice(f"  result written to {out}")
        return

    from ecmsim.io import write_result
    from ecmsim.simulation import simulate

    _announce_long_run(cfg)
    bar, report = _simulation_bar(no_progress)
    with bar:
        result = simulate(cfg, progress=report if bar.active else None)
    write_result(out, result)
    summary = result.summary()
    if as_json:
        echo_json({**summary, "output": str(out)})
    else:
        _print_summary(summary, out)


#: A transient run estimated to take longer than this (s) is announced before it starts.
LONG_RUN_S = 60.0


def _announce_long_run(cfg: Any) -> None:
    """Say on stderr, before any work, what a long run will need (memory, time order), unless ``-q``.

    A run over the memory budget is refused here (exit 2).  The line lets an engineer stop a
    run of days at once instead of finding out from the progress bar.
    """
    from ecmsim.cli.progress import is_quiet
    from ecmsim.process import resolve
    from ecmsim.resources import check_simulation

    est = check_simulation(resolve(cfg))  # over the budget: refused here, with the value to change
    if est.seconds_order >= LONG_RUN_S and not is_quiet():
        click.echo(f"estimate: {est.what} needs {est.describe()}; Ctrl-C stops it", err=True)


def _refuse_study_options(study: dict[str, Any]) -> None:
    """The grid study's options mean nothing without --grid-study."""
    defaults = {"cells_mm": None, "tolerance_mm": 0.005, "tolerance_pct": 1.0, "tolerance_deg": 0.1}
    for key, default in defaults.items():
        if study[key] != default:
            name = "--grid-cells-um" if key == "cells_mm" else "--" + key.replace("_", "-")
            raise click.UsageError(f"{name} is an option of --grid-study: add --grid-study or leave it out")


def _simulation_bar(no_progress: bool) -> tuple[ProgressBar, Callable[[dict[str, float]], None]]:
    """The shared bar and the simulation's progress callback drawing depth, time and current on it."""
    from ecmsim.cli.progress import progress_bar

    bar = progress_bar("simulate", total=1.0, unit="", enabled=not no_progress)

    def report(info: dict[str, float]) -> None:
        bar.update(
            info["fraction"],
            detail=f"depth {info['depth_mm']:.3f} mm  t {info['time_s']:.1f} s  I {info['current_A']:.3f} A",
        )

    return bar, report


#: The lines of the secondary physics (printed when the summary has them).
_SECONDARY_ROWS = (
    ("flow rate", "flow_rate_l_per_min", "L/min"), ("inlet pressure", "inlet_pressure_MPa", "MPa"),
    ("tip pressure", "tip_pressure_MPa", "MPa"), ("outlet temperature", "outlet_temperature_C", "°C"),
    ("max temperature", "max_temperature_C", "°C"), ("max void fraction", "max_void_fraction", ""),
    ("Joule power", "joule_power_W", "W"), ("tip conductivity", "tip_conductivity_S_per_m", "S/m"),
)  # fmt: skip


#: The lines of the machine control (current control or a servo feed).
_CONTROL_ROWS = (
    ("mean voltage", "mean_voltage_V", "V"), ("mean feed rate", "mean_feed_rate_mm_per_min", "mm/min"),
)  # fmt: skip


def _print_summary(summary: dict[str, object], out: object) -> None:
    from ecmsim.grid_study import TRANSIENT_QUANTITIES

    rows = (("status", "status", ""), *((label, key, unit) for key, label, unit, _ in TRANSIENT_QUANTITIES))
    rows += _SECONDARY_ROWS if "flow_rate_l_per_min" in summary else ()
    rows += _CONTROL_ROWS if "mean_voltage_V" in summary else ()
    for label, key, unit in rows:
        v = summary.get(key)
        text = "-" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))
        click.echo(f"  {label:<22} {text:>12} {unit}")
    if summary.get("message"):
        click.echo(f"  {summary['message']}")
    notice(f"  result written to {out}")
