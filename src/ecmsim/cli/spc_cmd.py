"""``ecmsim qc spc``: capability, control charts, residual drift (registered under ``qc``)."""

from __future__ import annotations

import click

from ecmsim.cli.options import choice_option, paper_option, qc_inputs, qc_outputs
from ecmsim.cli.qc_cmd import emit_outputs, refuse_overwrite

_CHARTS = ("auto", "imr", "xbar-r", "xbar-s", "ewma", "cusum")
_FILE = click.Path(dir_okay=False)


@click.command("spc")
@qc_inputs
@click.option("--limits", type=_FILE, default=None, help="Phase II: monitor against the frozen limits of this file.")
@click.option("--freeze", type=_FILE, default=None,
              help="Phase I: compute the limits from these batches and store them in this new file.")  # fmt: skip
@click.option(
    "--rules",
    default="auto",
    show_default=True,
    help="auto: probability limits from the family-wise false-alarm rate (--alarm-rate); "
    "we (Western Electric 1-4), nelson (Nelson 1-8) or a list such as we1,we2,n3 on 3σ limits.",
)
@click.option(
    "--alarm-rate",
    type=click.FloatRange(0.0, 0.5, min_open=True, max_open=True),
    default=0.01,
    show_default=True,
    help="auto rules: chance that a stable process gives any signal, per characteristic family and run.",
)
@click.option(
    "--chart",
    "charts",
    multiple=True,
    type=click.Choice(_CHARTS),
    help="Chart(s) of every series (repeatable); auto: I-MR for --subgroup 1, X̄-R up to 10, X̄-S above.",
)
@click.option(
    "--subgroup",
    default="1",
    show_default=True,
    help="Parts per subgroup (1: individual parts), or a batch field (batch_id, machine, electrode, …).",
)
@choice_option("--drift", ("both", "ewma", "cusum"), "both", "Drift detector(s) on the residual series.")
@click.option("--lambda", "lam", type=float, default=0.2, show_default=True, help="EWMA weight λ.")
@click.option(
    "--ewma-l",
    "ewma_l",
    type=float,
    default=None,
    help="EWMA limit width L (sigmas); default: calibrated to --alarm-rate (auto rules), else 3.",
)
@click.option("--cusum-k", type=float, default=0.5, show_default=True, help="CUSUM reference value k (sigmas).")
@click.option(
    "--cusum-h",
    type=float,
    default=None,
    help="CUSUM decision interval h (sigmas); default: calibrated to --alarm-rate (auto rules), else 5.",
)
@click.option(
    "--confidence",
    type=click.FloatRange(0.5, 0.9999),
    default=0.95,
    show_default=True,
    help="Level of the confidence intervals of the capability indices.",
)
@qc_outputs
@paper_option
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.pass_context
def spc_command(
    ctx: click.Context,
    batches: tuple[str, ...],
    spec: str,
    predictions: tuple[str, ...],
    limits: str | None,
    freeze: str | None,
    rules: str,
    alarm_rate: float,
    charts: tuple[str, ...],
    subgroup: str,
    drift: str,
    lam: float,
    ewma_l: float | None,
    cusum_k: float,
    cusum_h: float | None,
    confidence: float,
    report: str | None,
    json_out: str | None,
    paper: str,
    no_progress: bool,
) -> None:
    """Process statistics of inspection BATCHES (in production order): capability, control charts,
    run rules, and drift of the residuals measured − predicted.

    \b
    Phase I:  ecmsim qc spc b1.h5 b2.h5 --spec spec.toml --freeze limits.h5
    Phase II: ecmsim qc spc b3.h5 --spec spec.toml --limits limits.h5 --report spc.html
    PDF:      ecmsim qc spc b3.h5 --spec spec.toml --report spc.pdf --paper letter

    By default every chart has probability limits placed so that a stable process gives any
    signal with probability --alarm-rate per characteristic family (diameter, position, depth,
    residual) over the analysed parts; the verdict line says how many signals were found on what
    and how many chance alone would give.

    Exit code 0 when every chart is in control, 1 when a chart signals or a drift is
    detected, 2 for bad input, 4 when an output cannot be written.
    """
    import io
    from pathlib import Path

    from ecmsim.cli.progress import progress_bar
    from ecmsim.errors import ConfigError, OutputError
    from ecmsim.io.common import output_lock
    from ecmsim.io.spc_limits import write_spc_limits
    from ecmsim.qc.charts import parse_rules
    from ecmsim.qc.pdf import is_pdf, write_pdf
    from ecmsim.qc.spc import SpcOptions, run_spc, summary_lines

    if limits and freeze:
        raise ConfigError("--limits (Phase II) and --freeze (Phase I) exclude each other")
    try:
        rule_ids = parse_rules(rules)
    except ValueError as exc:
        raise ConfigError(f"--rules {rules!r}: {exc}") from None
    kinds = tuple(c for c in charts if c != "auto")
    opts = SpcOptions(
        charts=kinds,
        rules=rule_ids,
        subgroup=subgroup.strip(),
        confidence=confidence,
        drift=("ewma", "cusum") if drift == "both" else (drift,),
        lam=lam,
        L=ewma_l,
        k=cusum_k,
        h=cusum_h,
        alarm_rate=alarm_rate,
    )
    opts.validate()
    inputs = [*(("BATCHES", b) for b in batches), ("--spec", spec), *(("--predictions", p) for p in predictions)]
    outputs = [("--report", report), ("--json", json_out), ("--freeze", freeze)]
    refuse_overwrite(outputs, [*inputs, ("--limits", limits)])
    if freeze and Path(freeze).exists():
        raise OutputError(f"{freeze}: exists; limits files are records and are never overwritten (give a new name)")
    html = None
    pdf_bytes = None
    with progress_bar("spc", unit="steps", enabled=not no_progress) as bar:
        extra = 1 if report else 0  # the report is one more step

        def progress(done: int, total: int, left: float | None) -> None:
            bar.update(done, total + extra)

        run = run_spc(batches, spec, predictions, limits_path=limits, options=opts, progress=progress)
        if is_pdf(report):
            from ecmsim.qc.spc_pdf import render_spc_pdf

            pdf_bytes = io.BytesIO()
            render_spc_pdf(run, pdf_bytes, paper)
        elif report:
            from ecmsim.qc.spc_report import render_spc_html

            html = render_spc_html(run)
        bar.advance(extra)
    data = run.to_json() if json_out else None
    if freeze:
        with output_lock(freeze, new=True):  # concurrent freezes to one file: one wins, the others fail
            write_spc_limits(freeze, run.frozen_limits())
    if pdf_bytes is not None and report:
        write_pdf(report, lambda buf: buf.write(pdf_bytes.getvalue()))
    lines = summary_lines(run)
    if freeze:
        lines.append(f"Phase I limits frozen in {freeze}")
        if not run.in_control:
            lines.append(
                "warning: Phase I has signals; investigate them, remove parts with assignable causes and freeze again"
            )
    emit_outputs(report, html, json_out, data, lines)
    ctx.exit(run.exit_code)
