"""``ecmsim demo``: simulate, synthesise a batch, check it, write the report: one command."""

from __future__ import annotations

import click

from ecmsim.cli.qc_cmd import make_output_dir, output_dir_option


@click.command("demo")
@output_dir_option("ecmsim-demo", "Folder for every file of the demo.")
def demo_command(output_dir: str) -> None:
    """Simulate the default hole, synthesise a batch around it, check it and write the report.

    The batch carries injected faults, so some parts are rejected on purpose;
    the demo compares the verdicts with the ground truth and exits 0 when they agree.
    """
    import json
    import time
    from pathlib import Path

    from ecmsim.config import resolve_config_path
    from ecmsim.io import write_result
    from ecmsim.io.guard import refuse_unsafe_outputs
    from ecmsim.qc.check import run_check, summary_lines
    from ecmsim.qc.report import render_html
    from ecmsim.qc.synth import SYNTH_FILES, synthesize, write_synthetic
    from ecmsim.qc.textfiles import write_text_atomic
    from ecmsim.simulation import simulate

    t0 = time.monotonic()
    files = ["stem-in718.h5", "report.html", "check.json", "batch", *(f"batch/{n}" for n in SYNTH_FILES)]
    outputs: list[tuple[str, str | Path]] = [("-o", output_dir), *(("-o", Path(output_dir) / n) for n in files)]
    example = resolve_config_path("example:stem-in718")
    refuse_unsafe_outputs(outputs, [("example:stem-in718", example)], stores=[Path(output_dir) / "store"])
    out = make_output_dir(output_dir)
    click.echo("1/4 simulating example:stem-in718 …")
    result = simulate("example:stem-in718")
    pred = out / "stem-in718.h5"
    write_result(pred, result)
    click.echo("2/4 synthesising a batch around the predicted hole …")
    synth = synthesize(prediction=pred)
    (out / "batch").mkdir(exist_ok=True)
    paths = write_synthetic(out / "batch", synth)
    click.echo("3/4 checking it against the spec and the prediction …")
    run = run_check([paths["batch"]], paths["spec"], [pred], store=out / "store")
    click.echo("4/4 writing the report …")
    report = out / "report.html"
    write_text_atomic(report, render_html(run))
    write_text_atomic(out / "check.json", json.dumps(run.to_json(), indent=1) + "\n")
    for line in summary_lines(run, max_rejected=10):
        click.echo(f"  {line}")
    truth = synth.truth["parts"]
    o = run.outcomes[0]
    wrong = [s for i, s in enumerate(o.serials) if truth[s]["accepted"] != bool(o.accepted[i])]
    click.echo(
        f"verdicts {'agree' if not wrong else 'DISAGREE'} with the ground truth "
        f"({out / 'batch' / 'truth.json'})" + (f": {', '.join(wrong)}" if wrong else "")
    )
    click.echo(f"report: {report}   ({time.monotonic() - t0:.1f} s)")
    if wrong:
        from ecmsim.errors import EcmsimError

        raise EcmsimError("the demo's verdicts disagree with its ground truth (a bug: please report it)")
