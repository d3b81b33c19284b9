"""``ecmsim config``: validate and show process configs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ecmsim.cli.options import echo_json, json_flag, set_option

if TYPE_CHECKING:
    from ecmsim.process import Process


@click.group("config")
def config_group() -> None:
    """Validate, show and list process configs (TOML)."""


@config_group.command("validate")
@click.argument("files", nargs=-1, required=True)
@set_option
def validate(files: tuple[str, ...], overrides: tuple[str, ...]) -> None:
    """Check config FILES (or example:NAME) against the schema and the data.

    Exits 0 when all are valid, 2 at the first invalid one.
    """
    from ecmsim.config import load_config
    from ecmsim.process import resolve
    from ecmsim.resources import estimate_simulation, format_bytes, memory_budget

    budget = memory_budget()
    for f in files:
        est = estimate_simulation(resolve(load_config(f, overrides)))
        click.echo(f"{f}: valid; simulating it needs {est.describe()}")
        if est.memory_bytes > budget.memory_bytes:
            click.echo(
                f"{f}: simulate will refuse it: more than the memory budget of "
                f"{format_bytes(budget.memory_bytes)} ({budget.source})"
            )


@config_group.command("show")
@click.argument("file")
@set_option
@json_flag
def show(file: str, overrides: tuple[str, ...], as_json: bool) -> None:
    """Print the resolved values of FILE with units, defaults and derived quantities."""
    from ecmsim.config import load_config, schema_fields
    from ecmsim.process import resolve

    cfg = load_config(file, overrides)
    proc = resolve(cfg)
    values = cfg.to_dict()
    rows = []
    for table, key, meta, _default in schema_fields():
        rows.append(
            {
                "table": table,
                "key": key,
                "value": values[table][key],
                "unit": meta["unit"],
                "default": f"{table}.{key}" in cfg.defaulted,
                "help": meta["help"],
            }
        )
    derived = {**proc.derived(), **_estimate_rows(proc)}
    if as_json:
        config: dict[str, dict[str, object]] = {}
        for r in rows:
            config.setdefault(str(r["table"]), {})[str(r["key"])] = {
                "value": r["value"], "unit": r["unit"], "default": r["default"],
            }  # fmt: skip
        if cfg.current_efficiency is not None:
            config["current_efficiency"] = {
                k: {"value": v, "unit": "", "default": False} for k, v in cfg.current_efficiency.items()
            }
        echo_json({"file": file, "config_hash": cfg.hash(), "config": config, "derived": derived})
        return
    click.echo(f"# {file}   (* = default)")
    current = ""
    for r in rows:
        if r["table"] != current:
            current = str(r["table"])
            click.echo(f"[{current}]")
        value = "-" if r["value"] is None else (str(r["value"]).lower() if isinstance(r["value"], bool) else r["value"])
        mark = "*" if r["default"] else " "
        click.echo(f" {mark} {r['key']:<38} {value!s:<14} {r['unit']}")
    if cfg.current_efficiency is not None:
        click.echo("[current_efficiency]")
        for k, v in cfg.current_efficiency.items():
            click.echo(f"   {k:<38} {v}")
    click.echo("# derived")
    for name, d in derived.items():
        v = d["value"]
        text = f"{v:.5g}" if isinstance(v, float) else ("-" if v is None else str(v))
        note = f"  ({d['note']})" if d["note"] else ""
        click.echo(f"   {name:<38} {text:<14} {d['unit']}{note}")


def _estimate_rows(proc: Process) -> dict[str, dict[str, object]]:
    """The resource estimate of a simulation as rows of the derived quantities."""
    from ecmsim.resources import GB, estimate_simulation, format_duration

    est = estimate_simulation(proc)
    return {
        "simulation_memory": {"value": est.memory_bytes / GB, "unit": "GB", "note": "estimate, before the run"},
        "simulation_time_order": {
            "value": float(f"{est.seconds_order:.1g}"), "unit": "s",
            "note": f"order of magnitude: {format_duration(est.seconds_order)}",
        },
    }  # fmt: skip


@config_group.command("examples")
def examples() -> None:
    """List the example configs bundled with ecmsim (use them as example:NAME)."""
    from importlib import resources

    from ecmsim.config import example_names

    for name in example_names():
        path = resources.files("ecmsim.configs") / f"{name}.toml"
        first = path.read_text(encoding="utf-8").splitlines()[0].lstrip("# ").strip()
        click.echo(f"example:{name:<24} {first}")
