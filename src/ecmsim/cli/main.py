"""The ``ecmsim`` Click group and the one boundary where errors become exit codes.

Only click is imported at module level so that ``ecmsim --help`` is
instant; each command imports what it needs when it runs.
"""

from __future__ import annotations

import logging
import sys
import traceback

import click

from ecmsim import __version__
from ecmsim.cli import qc_store_cmd  # noqa: F401  (registers qc verify and qc history)
from ecmsim.cli.calibrate_cmd import calibrate_command
from ecmsim.cli.config_cmd import config_group
from ecmsim.cli.demo_cmd import demo_command
from ecmsim.cli.materials_cmd import materials_group
from ecmsim.cli.plot_cmd import plot_group
from ecmsim.cli.qc_cmd import qc_group
from ecmsim.cli.qc_formats_cmd import export_command
from ecmsim.cli.simulate_cmd import simulate_command
from ecmsim.cli.spc_cmd import spc_command
from ecmsim.cli.sweep_cmd import sweep_command
from ecmsim.cli.tune_cmd import tune_command

_state = {"verbose": 0}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ecmsim")
@click.option("-v", "--verbose", count=True, help="More log output; tracebacks on errors.")
@click.option("-q", "--quiet", is_flag=True, help="Only results and errors: no progress bars, notices or log messages.")
def cli(verbose: int, quiet: bool) -> None:
    """ecmsim: simulate electrochemical drilling (ECD/STEM) of cooling holes in
    superalloys and check drilled parts against inspection data.

    \b
    Start with:
      ecmsim simulate example:stem-in718      simulate a bundled example
      ecmsim config show example:stem-in718   resolved values, units, derived gap
      ecmsim materials list                   alloys and their ω
    """
    from ecmsim.cli.progress import set_quiet

    _state["verbose"] = verbose
    set_quiet(quiet)
    level = logging.ERROR if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


cli.add_command(config_group)
cli.add_command(materials_group)
cli.add_command(simulate_command)
qc_group.add_command(spc_command)
qc_group.add_command(export_command)
cli.add_command(qc_group)
cli.add_command(demo_command)
cli.add_command(sweep_command)
cli.add_command(tune_command)
cli.add_command(calibrate_command)
cli.add_command(plot_group)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; map domain errors to one-paragraph messages and exit codes."""
    from ecmsim.errors import EXIT_INTERNAL, EXIT_OUTPUT, EcmsimError, shorten_message
    from ecmsim.interrupt import Interrupted, install_handlers, raise_if_interrupted

    restore = install_handlers()
    try:
        try:
            rv = cli.main(args=argv, prog_name="ecmsim", standalone_mode=False)
        finally:
            restore()
            raise_if_interrupted()  # a signal whose exception a finaliser swallowed still stops with its code
    except Interrupted as exc:
        click.echo(f"interrupted: {exc}; unfinished outputs were discarded, files already written are whole",
                   err=True)  # fmt: skip
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.message = shorten_message(exc.message)  # type: ignore[misc]
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except EcmsimError as exc:
        if _state["verbose"]:
            traceback.print_exc()
        click.echo(f"error: {shorten_message(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(0)
    except OSError as exc:
        if _state["verbose"]:
            traceback.print_exc()
        name = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"error: {name}{exc.strerror or exc}", err=True)
        sys.exit(EXIT_OUTPUT)
    except Exception as exc:  # a bug: say so plainly, keep the traceback behind -v
        if _state["verbose"]:
            traceback.print_exc()
        click.echo(
            f"internal error: {type(exc).__name__}: {shorten_message(str(exc))}\n"
            "This is a bug in ecmsim; run again with -v for the traceback and report it.",
            err=True,
        )
        sys.exit(EXIT_INTERNAL)
    sys.exit(rv if isinstance(rv, int) else 0)
