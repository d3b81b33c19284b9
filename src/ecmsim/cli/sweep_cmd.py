"""``ecmsim sweep``: run a grid or a Latin hypercube of process configs; ``ecmsim sweep show``: its points."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ecmsim.cli.options import echo_json, json_flag, mode_option, output_option, repeatable, set_option
from ecmsim.cli.progress import notice

if TYPE_CHECKING:
    from pathlib import Path

    from ecmsim.io.sweep import SweepData

#: Points listed on the terminal after a run (all of them: ``ecmsim sweep show FILE``).
TABLE_ROWS = 30

_CSV = click.option(
    "--csv", "csv_out", type=click.Path(dir_okay=False), default=None,
    help="Also write every point (parameters, status, every metric) to this CSV file.",
)  # fmt: skip


class _SweepGroup(click.Group):
    """``ecmsim sweep CONFIG ...`` runs a sweep (``sweep run``); ``ecmsim sweep show FILE`` lists one."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group("sweep", cls=_SweepGroup)
def sweep_command() -> None:
    """Run CONFIG over a grid or a Latin hypercube of parameters (ecmsim sweep CONFIG --vary ...),
    or list the points of a sweep file (ecmsim sweep show FILE).

    \b
    ecmsim sweep my.toml --vary electrical.voltage_V=8:14:7 \\
        --vary motion.feed_rate_mm_per_min=0.5:3:6 -o window.h5 [--csv window.csv]
    ecmsim sweep show window.h5 [--json] [--csv window.csv]
    """


@sweep_command.command("run")
@click.argument("config")
@repeatable("--vary", "vary", "TABLE.KEY=START:STOP:N", required=True,
            help="Parameter to vary: start:stop:n (grid), a,b,c (list) or lo:hi (with --samples). "
            "Repeatable.")  # fmt: skip
@output_option("Sweep file (HDF5).", required=True)
@click.option(
    "--samples", type=click.IntRange(min=1), default=None, help="Latin hypercube of N points instead of a grid."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the Latin hypercube.")
@mode_option(("transient", "equilibrium", "auto"), "transient",
             "transient: drill every hole in time (entry diameter, taper); equilibrium: steady shape, coated tools, "
             "much faster; auto: equilibrium where it applies.")  # fmt: skip
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Local worker processes (default: CPUs).")
@click.option(
    "--scheduler", metavar="tcp://HOST:PORT", default=None,
    help="Run the points on this Dask distributed scheduler instead of local processes.",
)  # fmt: skip
@_CSV
@set_option
@json_flag
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def sweep_run_command(
    config: str,
    vary: tuple[str, ...],
    output: str,
    csv_out: str | None,
    samples: int | None,
    seed: int,
    mode: str,
    workers: int | None,
    scheduler: str | None,
    overrides: tuple[str, ...],
    as_json: bool,
    no_progress: bool,
) -> None:
    """Run CONFIG over a grid (or Latin hypercube) of parameters; record the hole at every point.

    \b
    ecmsim sweep my.toml --vary electrical.voltage_V=8:14:7 \\
        --vary motion.feed_rate_mm_per_min=0.5:3:6 -o window.h5

    An interrupted sweep resumes where it stopped: run the same command again.
    Prints a table of the points (all of them: ecmsim sweep show FILE); --json prints every
    metric of every point.
    """
    from ecmsim.cli.progress import progress_bar
    from ecmsim.engineering.sweep import run_sweep
    from ecmsim.engineering.sweep_results import point_records, status_counts, write_sweep_csv
    from ecmsim.io.guard import config_inputs, refuse_unsafe_outputs
    from ecmsim.io.sweep import journal_path, read_sweep

    outputs: list[tuple[str, str | Path | None]] = [
        ("-o", output), ("-o (its journal)", journal_path(output)), ("--csv", csv_out),
    ]  # fmt: skip
    refuse_unsafe_outputs(outputs, config_inputs("CONFIG", config))
    with progress_bar("sweep", unit="points", enabled=not no_progress) as bar:
        outcome = run_sweep(
            config, vary, output, samples=samples, seed=seed, mode=mode, overrides=overrides,
            workers=workers, scheduler=scheduler, progress=bar,
        )  # fmt: skip
    sweep = read_sweep(outcome.path)
    if csv_out:
        write_sweep_csv(csv_out, sweep)
    counts = status_counts(sweep)
    info = {
        "output": str(outcome.path), "mode": sweep.mode, "design": sweep.design, "parameters": sweep.parameters,
        "units": sweep.units, "planned": outcome.planned, "skipped": outcome.skipped, "computed": outcome.computed,
        "points_in_file": sweep.n_points, "status_counts": counts, "executor": outcome.executor,
        "wall_clock_s": outcome.wall_clock_s, "csv": csv_out, "points": point_records(sweep),
    }  # fmt: skip
    if as_json:
        echo_json(info)
        return
    click.echo(f"  {outcome.planned} points ({sweep.design}, {sweep.mode}) over {', '.join(sweep.parameters)}")
    if outcome.skipped:
        click.echo(f"  {outcome.skipped} already in {outcome.path}: not recomputed")
    click.echo(f"  computed {outcome.computed} on {outcome.executor} in {outcome.wall_clock_s:.1f} s")
    _echo_points(sweep, TABLE_ROWS, outcome.path)
    notice(f"  sweep written to {outcome.path}")
    if csv_out:
        notice(f"  points written to {csv_out}")


@sweep_command.command("show")
@click.argument("sweep_file", metavar="FILE", type=click.Path(dir_okay=False))
@_CSV
@json_flag
def sweep_show_command(sweep_file: str, csv_out: str | None, as_json: bool) -> None:
    """List every point of the sweep FILE (ecmsim sweep): parameters, outcome, predicted hole.

    --json prints every metric of every point; --csv writes them to a file.
    """
    from ecmsim.engineering.sweep_results import point_records, status_counts, write_sweep_csv
    from ecmsim.io.guard import refuse_unsafe_outputs
    from ecmsim.io.sweep import journal_path, read_sweep

    refuse_unsafe_outputs(
        [("--csv", csv_out)], [("FILE", sweep_file), ("FILE (its journal)", journal_path(sweep_file))]
    )
    sweep = read_sweep(sweep_file)
    if csv_out:
        write_sweep_csv(csv_out, sweep)
    if as_json:
        echo_json({
            "file": sweep_file, "mode": sweep.mode, "design": sweep.design, "parameters": sweep.parameters,
            "units": sweep.units, "points_in_file": sweep.n_points, "planned": int(sweep.plan.shape[0]),
            "status_counts": status_counts(sweep), "base_config_hash": sweep.base_config_hash,
            "config_source": sweep.config_source, "csv": csv_out, "points": point_records(sweep),
        })  # fmt: skip
        return
    click.echo(f"  {sweep_file}: {sweep.n_points} points ({sweep.design}, {sweep.mode}) of {sweep.config_source}")
    _echo_points(sweep, None, sweep_file)
    if csv_out:
        notice(f"  points written to {csv_out}")


def _echo_points(sweep: SweepData, max_rows: int | None, path: object) -> None:
    """The table of points and the count of each outcome."""
    from ecmsim.engineering.sweep_results import status_counts, table_lines

    if sweep.n_points:
        for line in table_lines(sweep, max_rows=max_rows):
            click.echo(line)
        if max_rows is not None and sweep.n_points > max_rows:
            click.echo(f"  (all points: ecmsim sweep show {path})")
    counts = status_counts(sweep)
    click.echo("  outcomes: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))
