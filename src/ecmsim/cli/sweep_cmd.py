"""``ecmsim sweep``: run a grid or a Latin hypercube of process configs."""

from __future__ import annotations

import click

from ecmsim.cli.options import echo_json, json_flag, mode_option, output_option, repeatable, set_option


@click.command("sweep")
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
@set_option
@json_flag
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def sweep_command(
    config: str,
    vary: tuple[str, ...],
    output: str,
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
    """
    import sys

    from ecmsim.engineering.sweep import run_sweep
    from ecmsim.io.guard import config_inputs, refuse_unsafe_outputs
    from ecmsim.io.sweep import journal_path, read_sweep

    refuse_unsafe_outputs([("-o", output), ("-o (its journal)", journal_path(output))], config_inputs("CONFIG", config))
    bar = _Bar() if not no_progress and not as_json and sys.stderr.isatty() else None
    try:
        outcome = run_sweep(
            config, vary, output, samples=samples, seed=seed, mode=mode, overrides=overrides,
            workers=workers, scheduler=scheduler, progress=bar,
        )  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    sweep = read_sweep(outcome.path)
    counts: dict[str, int] = {}
    for s in sweep.status:
        counts[s] = counts.get(s, 0) + 1
    info = {
        "output": str(outcome.path), "mode": sweep.mode, "design": sweep.design, "parameters": sweep.parameters,
        "planned": outcome.planned, "skipped": outcome.skipped, "computed": outcome.computed,
        "points_in_file": sweep.n_points, "status_counts": counts, "executor": outcome.executor,
        "wall_clock_s": outcome.wall_clock_s,
    }  # fmt: skip
    if as_json:
        echo_json(info)
        return
    click.echo(f"  {outcome.planned} points ({sweep.design}, {sweep.mode}) over {', '.join(sweep.parameters)}")
    if outcome.skipped:
        click.echo(f"  {outcome.skipped} already in {outcome.path}: not recomputed")
    click.echo(f"  computed {outcome.computed} on {outcome.executor} in {outcome.wall_clock_s:.1f} s")
    click.echo("  outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    click.echo(f"  sweep written to {outcome.path}")


class _Bar:
    """Points done, total and time left on one refreshed terminal line."""

    def __init__(self) -> None:
        import time

        self._start = time.monotonic()

    def __call__(self, done: int, total: int, left: float | None) -> None:
        import time

        frac = done / total if total else 1.0
        bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
        eta = "--:--" if left is None else _clock(left)
        click.echo(
            f"\r[{bar}] {done}/{total} points  elapsed {_clock(time.monotonic() - self._start)}  left {eta}  ",
            nl=False,
            err=True,
        )

    def close(self) -> None:
        click.echo("", err=True)


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
