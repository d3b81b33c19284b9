"""Options shared by several commands, defined once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def _check_sets(ctx: click.Context, param: click.Parameter, value: Sequence[str]) -> tuple[str, ...]:
    from ecmsim.config import parse_override
    from ecmsim.errors import ConfigError

    for text in value:
        try:
            parse_override(text)
        except ConfigError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return tuple(value)


def set_option(f: F) -> F:
    """``--set table.key=value`` (repeatable) overrides of a process config."""
    return click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="TABLE.KEY=VALUE",
        callback=_check_sets,
        help="Override a config value, e.g. --set electrical.voltage_V=12 (repeatable).",
    )(f)


def output_option(help: str, required: bool = False) -> Callable[[F], F]:
    """``-o/--output FILE``: where a command writes its result."""
    return click.option("-o", "--output", type=click.Path(dir_okay=False), required=required, default=None, help=help)


def repeatable(name: str, dest: str, metavar: str, help: str, required: bool = False) -> Callable[[F], F]:
    """A repeatable option (``--vary``, ``--target``, ...) collected into the tuple ``dest``."""
    return click.option(name, dest, multiple=True, required=required, metavar=metavar, help=help)


def choice_option(
    name: str, choices: Sequence[str], default: str, help: str, dest: str | None = None
) -> Callable[[F], F]:
    """An option that takes one of ``choices`` (its default shown in ``--help``); ``dest``: the parameter name."""
    decls = (name,) if dest is None else (name, dest)
    return click.option(*decls, type=click.Choice(list(choices)), default=default, show_default=True, help=help)


def positive_option(name: str, default: float, help: str) -> Callable[[F], F]:
    """A number option that must be > 0 (its default shown in ``--help``)."""
    return click.option(
        name, type=click.FloatRange(min=0, min_open=True), default=default, show_default=True, help=help
    )


def mode_option(choices: Sequence[str], default: str, help: str) -> Callable[[F], F]:
    """``--mode``: the model an engineering command evaluates (transient, equilibrium, auto)."""
    return choice_option("--mode", choices, default, help)


paper_option = choice_option("--paper", ("a4", "letter"), "a4", "Paper of a PDF report (--report FILE.pdf).")


def data_option(f: F) -> F:
    """``--data FILE`` (repeatable) extra materials/electrolyte data files."""
    return click.option(
        "--data",
        "data_files",
        multiple=True,
        type=click.Path(dir_okay=False),
        help="Extra TOML data file with alloys/electrolytes (repeatable).",
    )(f)


def json_flag(f: F) -> F:
    """``--json``: machine-readable output on stdout."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")(f)


def echo_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON (NaN as null, NumPy values as numbers)."""
    import json

    from ecmsim.jsonable import to_jsonable

    click.echo(json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False))


def qc_inputs(f: F) -> F:
    """``BATCHES...``, ``--spec`` and ``--predictions``: the inputs of ``qc check`` and ``qc spc``."""
    f = click.option(
        "--predictions",
        multiple=True,
        type=click.Path(dir_okay=False),
        help="Simulation result file (repeatable; several files: one per hole group, named like the group).",
    )(f)
    f = click.option("--spec", "spec", required=True, type=click.Path(dir_okay=False), help="Tolerance spec (TOML).")(f)
    return click.argument("batches", nargs=-1, required=True, type=click.Path(dir_okay=False))(f)


def qc_outputs(f: F) -> F:
    """``--report`` (HTML) and ``--json`` outputs of ``qc check`` and ``qc spc``."""
    f = click.option(
        "--json",
        "json_out",
        type=click.Path(dir_okay=False, allow_dash=True),
        default=None,
        help="Write the results as JSON here ('-': stdout).",
    )(f)
    return click.option("--report", type=click.Path(dir_okay=False), default=None, help="Write the HTML report here.")(
        f
    )
