"""``ecmsim simulate``: drill one hole in silico."""

from __future__ import annotations

import click

from ecmsim.cli.options import echo_json, json_flag, output_option, set_option


@click.command("simulate")
@click.argument("config")
@output_option("HDF5 result file (default: <config name>.h5 in the current folder).")
@set_option
@json_flag
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option(
    "--equilibrium", is_flag=True,
    help="Solve for the steady hole shape seen from the tool (coated tool, constant feed) instead of "
    "drilling in time; much faster, for sweeps and parameter searches.",
)  # fmt: skip
def simulate_command(
    config: str, output: str | None, overrides: tuple[str, ...], as_json: bool, no_progress: bool, equilibrium: bool
) -> None:
    """Simulate drilling one hole with process CONFIG (a TOML file or example:NAME).

    Prints a summary (or JSON with --json) and writes the HDF5 result.
    """
    import sys
    from pathlib import Path

    from ecmsim.config import load_config
    from ecmsim.io.guard import config_inputs, refuse_unsafe_outputs

    suffix = "-equilibrium.h5" if equilibrium else ".h5"
    out = Path(output) if output else Path(Path(config.split(":")[-1]).stem + suffix)
    refuse_unsafe_outputs([("-o", out)], config_inputs("CONFIG", config))
    cfg = load_config(config, overrides)
    if equilibrium:
        from ecmsim.equilibrium import solve_equilibrium
        from ecmsim.io import write_equilibrium

        eq = solve_equilibrium(cfg)
        write_equilibrium(out, eq)
        if as_json:
            echo_json({**eq.summary(), "output": str(out)})
        else:
            for key, value in eq.summary().items():
                text = f"{value:.4g}" if isinstance(value, float) else str(value)
                click.echo(f"  {key:<32} {text}")
            click.echo(f"  result written to {out}")
        return

    from ecmsim.io import write_result
    from ecmsim.simulation import simulate

    show_bar = not no_progress and not as_json and sys.stderr.isatty()
    progress = _ProgressBar() if show_bar else None
    result = simulate(cfg, progress=progress)
    if progress is not None:
        progress.close()
    write_result(out, result)
    summary = result.summary()
    if as_json:
        echo_json({**summary, "output": str(out)})
    else:
        _print_summary(summary, out)


class _ProgressBar:
    """Depth, time and current on one refreshed terminal line."""

    def __init__(self) -> None:
        self._last = 0.0

    def __call__(self, info: dict[str, float]) -> None:
        import time

        now = time.monotonic()
        if now - self._last < 0.2:
            return
        self._last = now
        frac = info["fraction"]
        bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
        click.echo(
            f"\r[{bar}] {100 * frac:5.1f}%  depth {info['depth_mm']:.3f} mm  "
            f"t {info['time_s']:.1f} s  I {info['current_A']:.3f} A",
            nl=False,
            err=True,
        )

    def close(self) -> None:
        click.echo("", err=True)


#: The lines of the summary: label, key of ``SimulationResult.summary()``, unit.
_SUMMARY_ROWS = (
    ("status", "status", ""), ("depth", "depth_mm", "mm"), ("entry diameter", "entry_diameter_mm", "mm"),
    ("exit diameter", "exit_diameter_mm", "mm"), ("entry edge rounding", "entry_edge_mm", "mm"),
    ("min diameter", "min_diameter_mm", "mm"),
    ("max diameter", "max_diameter_mm", "mm"), ("taper (half angle)", "taper_deg", "°"),
    ("side gap (overcut)", "side_gap_mm", "mm"), ("frontal gap", "frontal_gap_mm", "mm"),
    ("machining time", "machining_time_s", "s"), ("charge", "charge_C", "C"),
    ("removed volume", "removed_volume_mm3", "mm³"), ("peak current", "peak_current_A", "A"),
)  # fmt: skip


def _print_summary(summary: dict[str, object], out: object) -> None:
    for label, key, unit in _SUMMARY_ROWS:
        v = summary.get(key)
        text = "-" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))
        click.echo(f"  {label:<22} {text:>12} {unit}")
    if summary.get("message"):
        click.echo(f"  {summary['message']}")
    click.echo(f"  result written to {out}")
