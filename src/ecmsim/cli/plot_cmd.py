"""``ecmsim plot``: hole profiles, fields, histories, flow paths and process-window maps as PNG, SVG or PDF."""

from __future__ import annotations

import click

from ecmsim.cli.options import output_option
from ecmsim.cli.progress import notice

_OUT = output_option("Image file: .png, .svg or .pdf.", required=True)


@click.group("plot")
def plot_group() -> None:
    """Draw hole profiles, potential and current-density fields, run histories, flow paths and process windows."""


@plot_group.command("profile")
@click.argument("result", type=click.Path(dir_okay=False))
@click.option("--measurements", type=click.Path(dir_okay=False), default=None, help="Inspection batch to overlay.")
@click.option("--target", default=None, metavar="NOMINAL:TOL", help="Nominal diameter and tolerance (mm) to draw.")
@_OUT
def profile_command(result: str, measurements: str | None, target: str | None, output: str) -> None:
    """Predicted diameter against depth from RESULT (ecmsim simulate), with measured holes and stations,
    and the nominal diameter with its tolerance band."""
    from ecmsim.engineering.plots import plot_profile
    from ecmsim.io.guard import refuse_unsafe_outputs

    refuse_unsafe_outputs([("-o", output)], [("RESULT", result), ("--measurements", measurements)])
    plot_profile(result, output, measurements, _band(target))
    notice(f"  profile plot written to {output}")


@plot_group.command("field")
@click.argument("result", type=click.Path(dir_okay=False))
@click.option("--log", "log", is_flag=True, help="Logarithmic colour scale for the current density.")
@_OUT
def field_command(result: str, log: bool, output: str) -> None:
    """Potential and current density at the end of the run in RESULT, with the tool and workpiece outlines.

    Colour scales are clipped to the 1st-99th percentiles of the values; the
    current-density panel carries current lines.
    """
    from ecmsim.engineering.plots import plot_field
    from ecmsim.io.guard import refuse_unsafe_outputs

    refuse_unsafe_outputs([("-o", output)], [("RESULT", result)])
    plot_field(result, output, log=log)
    notice(f"  field plot written to {output}")


@plot_group.command("history")
@click.argument("result", type=click.Path(dir_okay=False))
@_OUT
def history_command(result: str, output: str) -> None:
    """Current, applied voltage, frontal gap and feed against time and tool depth from RESULT."""
    from ecmsim.engineering.plots import plot_history
    from ecmsim.io.guard import refuse_unsafe_outputs

    refuse_unsafe_outputs([("-o", output)], [("RESULT", result)])
    plot_history(result, output)
    notice(f"  history plot written to {output}")


@plot_group.command("flow")
@click.argument("result", type=click.Path(dir_okay=False))
@_OUT
def flow_command(result: str, output: str) -> None:
    """Pressure, temperature, void fraction and conductivity along the electrolyte path at the end of the run
    in RESULT (simulated with [physics] secondary = true)."""
    from ecmsim.engineering.plots import plot_flow_path
    from ecmsim.io.guard import refuse_unsafe_outputs

    refuse_unsafe_outputs([("-o", output)], [("RESULT", result)])
    plot_flow_path(result, output)
    notice(f"  flow-path plot written to {output}")


@plot_group.command("window")
@click.argument("sweep", type=click.Path(dir_okay=False))
@click.option("--metric", default="diameter_mm", show_default=True, help="Metric to map (a sweep column).")
@click.option("--x", "x", default=None, help="Parameter on the x axis (default: the first varied).")
@click.option("--y", "y", default=None, help="Parameter on the y axis (default: the second varied).")
@click.option("--target", default=None, metavar="VALUE:TOL", help="Outline the band VALUE ± TOL of the metric.")
@_OUT
def window_command(sweep: str, metric: str, x: str | None, y: str | None, target: str | None, output: str) -> None:
    """Process-window map of METRIC over two parameters of SWEEP (ecmsim sweep)."""
    from ecmsim.engineering.plots import plot_window
    from ecmsim.io.guard import refuse_unsafe_outputs
    from ecmsim.io.sweep import journal_path

    refuse_unsafe_outputs([("-o", output)], [("SWEEP", sweep), ("SWEEP (its journal)", journal_path(sweep))])
    plot_window(sweep, output, metric=metric, x=x, y=y, target=_band(target))
    notice(f"  process-window map written to {output}")


def _band(target: str | None) -> tuple[float, float] | None:
    """``VALUE:TOL`` of ``--target`` as numbers (None when not given)."""
    if target is None:
        return None
    try:
        v, t = (float(s) for s in target.split(":"))
    except ValueError:
        raise click.BadParameter(f"{target!r}: expected VALUE:TOL, e.g. 0.90:0.02", param_hint="--target") from None
    if t <= 0:
        raise click.BadParameter(f"{target!r}: the tolerance must be positive", param_hint="--target")
    return v, t
