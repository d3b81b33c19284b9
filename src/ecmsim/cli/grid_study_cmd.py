"""``ecmsim simulate CONFIG --grid-study``: the config at several cell sizes, and what it says."""

from __future__ import annotations

from typing import Any

import click

from ecmsim.cli.options import echo_json


def parse_cells_um(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[float, ...] | None:
    """``--grid-cells-um 20,10,5`` → cell sizes in mm."""
    from ecmsim.units import MM_PER_UM

    if value is None:
        return None
    try:
        cells = tuple(float(v) * MM_PER_UM for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: give cell sizes in µm separated by commas, e.g. 20,10,5", ctx=ctx, param=param
        ) from None
    if len(cells) < 2 or any(not c > 0 for c in cells):
        raise click.BadParameter(f"{value!r}: give at least two positive cell sizes in µm, e.g. 20,10", ctx, param)
    return cells


def run_grid_study(
    config: str,
    overrides: tuple[str, ...],
    output: str | None,
    as_json: bool,
    show_progress: bool,
    options: dict[str, Any],
) -> None:
    """Run the grid study, print it (text or JSON) and write it as JSON to ``output`` if given."""
    import json
    from pathlib import Path

    from ecmsim.config import load_config
    from ecmsim.grid_study import Tolerances, grid_study
    from ecmsim.io.guard import config_inputs, refuse_unsafe_outputs
    from ecmsim.jsonable import to_jsonable
    from ecmsim.qc.textfiles import check_output_folder, write_text_atomic

    if output is not None:
        refuse_unsafe_outputs([("-o", Path(output))], config_inputs("CONFIG", config))
        check_output_folder(output)
    cfg = load_config(config, overrides)
    tol = Tolerances(options["tolerance_mm"], options["tolerance_pct"], options["tolerance_deg"])
    from ecmsim.cli.progress import progress_bar

    mode = "equilibrium" if options["equilibrium"] else "transient"
    bar = progress_bar("grid study", total=1.0, unit="", enabled=show_progress and not as_json)

    def report(info: dict[str, float]) -> None:
        runs = info["runs"]
        bar.update(
            (info["run"] - 1 + info["fraction"]) / runs,
            detail=f"grid {int(info['run'])}/{int(runs)}, {1000 * info['cell_mm']:g} µm cells, "
            f"depth {info['depth_mm']:.3f} mm",
        )

    with bar:
        study = grid_study(cfg, options["cells_mm"], tol, mode=mode, progress=report if bar.active else None)
    doc = study.to_dict()
    if output is not None:
        write_text_atomic(output, json.dumps(to_jsonable(doc), indent=2, ensure_ascii=False) + "\n")
        doc["output"] = output
    if as_json:
        echo_json(doc)
        return
    for line in format_study(doc):
        click.echo(line)
    if output is not None:
        click.echo(f"  grid study written to {output}")


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.5g}"


def format_study(doc: dict[str, Any]) -> list[str]:
    """The grid study as lines of text: one row per quantity, then the recommendation."""
    cells = [f"{1000 * c:g}" for c in doc["cell_sizes_mm"]]
    head = " / ".join(cells)
    lines = [
        f"grid study of {doc['config']} ({doc['mode']}), cells {head} µm: "
        + ", ".join(sorted(set(doc["statuses"]))),
        f"tolerances: {doc['tolerance_mm']:g} mm on lengths, {doc['tolerance_pct']:g} % on current, charge, "
        f"time and volume, {doc['tolerance_deg']:g}° on taper",
        "",
        f"  {'quantity':<21} {'unit':<4} " + " ".join(f"{c + ' µm':>10}" for c in cells)
        + f" {'order':>6} {'h→0':>10}  estimated error at {head} µm; needs h ≤",
    ]  # fmt: skip
    for q in doc["quantities"].values():
        row = f"  {q['label']:<21} {q['unit']:<4} " + " ".join(f"{_num(v):>10}" for v in q["values"])
        order = "-" if q["order"] is None else f"{q['order']:.2f}" + ("*" if q["order_assumed"] else "")
        row += f" {order:>6} {_num(q['estimate']):>10}  "
        if q["errors"] is not None:
            row += " / ".join(f"{e:.2g}" for e in q["errors"])
            if q["needed_cell_mm"] is not None:
                row += f"; {1000 * q['needed_cell_mm']:.3g} µm"
        else:
            row += q["note"]
        lines.append(row)
    if any(q["order_assumed"] for q in doc["quantities"].values()):
        lines.append("  * two grids: first order assumed, not observed")
    lines.append("")
    rec = doc["recommended_cell_mm"]
    if rec is None:
        lines.append("  no recommendation: no quantity's convergence could be judged")
    else:
        which = "recommended cell size" if doc["recommendation_covers_all"] else "cell size for the judged quantities"
        by = ", ".join(doc["limiting"]) or "none (every judged quantity is within tolerance on the coarsest grid)"
        lines.append(f"  {which}: {1000 * rec:g} µm (numerics.cell_size_mm = {rec:g}), set by {by}")
    if doc["not_judged"]:
        lines.append(
            "  not judged: " + ", ".join(doc["not_judged"]) + ": they do not converge regularly on these grids; "
            "study finer grids before relying on them"
        )
    lines.extend(f"  warning: {w}" for w in doc["warnings"])
    return lines
