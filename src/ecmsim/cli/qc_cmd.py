"""``ecmsim qc``: import inspection data, check batches against a spec, trace parts, synthesise batches."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from ecmsim.cli.options import choice_option, echo_json, json_flag, paper_option, qc_inputs, qc_outputs

F = TypeVar("F", bound=Callable[..., Any])


def store_option(help: str) -> Callable[[F], F]:
    """``--store FOLDER|postgresql://…``: the QC store (default ``$ECMSIM_STORE``, else ``ecmsim-qc-store``)."""
    return click.option(
        "--store",
        default=None,
        metavar="FOLDER|URL",
        help=help + " A folder (SQLite ledger inside) or postgresql://user@host/db; "
        "default: $ECMSIM_STORE, else ./ecmsim-qc-store.",
    )


def output_dir_option(default: str, help: str) -> Callable[[F], F]:
    """``-o/--output-dir FOLDER``: where a command writes its set of files."""
    return click.option(
        "-o", "--output-dir", default=default, show_default=True, type=click.Path(file_okay=False), help=help
    )


#: ``qc import``'s choices of how the measurements are written: (option, choices, default, help, parameter).
_TEXT_FORMAT_CHOICES = (
    ("--decimal", ("point", "comma"), "point",
     "Decimal separator of the CSV numbers: comma reads 1,234 as 1.234 and implies --delimiter ';'.", None),
    ("--serial-case", ("upper", "preserve"), "upper",
     "Store serial numbers in upper case, or as written; spellings differing only in case are an error.", None),
    ("--format", ("auto", "csv", "qif"), "auto",
     "MEASUREMENTS format: a CSV file or QIF 3.0 measurement results (auto: .qif/.xml are QIF).", "fmt"),
)  # fmt: skip


def _text_format_options(f: F) -> F:
    """``--decimal``, ``--serial-case`` and ``--format`` of ``qc import``."""
    for name, choices, default, help, dest in reversed(_TEXT_FORMAT_CHOICES):
        f = choice_option(name, choices, default, help, dest)(f)
    return f


def make_output_dir(output_dir: str) -> Path:
    """The output folder, created if its parent exists."""
    from ecmsim.errors import OutputError

    out = Path(output_dir)
    if not out.is_dir():
        if not (out.parent if str(out.parent) else Path(".")).is_dir():
            raise OutputError(f"{out}: folder {out.parent} does not exist")
        out.mkdir()
    return out


def refuse_overwrite(
    outputs: Sequence[tuple[str, str | None]], inputs: Sequence[tuple[str, str | None]], store: str | None = None
) -> None:
    """Stop before anything is computed if an output would replace an input or a store file, or cannot be written.

    ``outputs`` and ``inputs`` are ``(option, path)`` pairs (:func:`ecmsim.io.guard.refuse_unsafe_outputs`).
    """
    from ecmsim.io.guard import refuse_unsafe_outputs
    from ecmsim.qc.textfiles import check_output_folder

    refuse_unsafe_outputs(outputs, inputs, stores=[store])
    for _, out in outputs:
        if out and out != "-":
            check_output_folder(out)


def emit_outputs(
    report: str | None,
    html: str | None,
    json_out: str | None,
    data: Mapping[str, Any] | None,
    lines: Sequence[str],
) -> None:
    """Write the HTML report and the JSON file, then print ``lines`` and where the report is.

    The lines go to stderr when the JSON goes to stdout (``--json -``), so stdout stays valid JSON.
    """
    import json

    from ecmsim.qc.textfiles import write_text_atomic

    if html is not None and report:
        write_text_atomic(report, html)
    if data is not None and json_out and json_out != "-":
        write_text_atomic(json_out, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    to_err = json_out == "-"
    for line in lines:
        click.echo(line, err=to_err)
    if report:
        click.echo(f"report written to {report}", err=to_err)
    if data is not None and json_out == "-":
        echo_json(data)


@click.group("qc")
def qc_group() -> None:
    """Quality control of drilled parts: inspection data, tolerance specs, verdicts, traceability.

    \b
      ecmsim qc synth -o demo                         a synthetic batch with faults
      ecmsim qc import meas.csv --design design.csv -o batch.h5 --batch-id B1 ...
      ecmsim qc check batch.h5 --spec spec.toml --report report.html
      ecmsim qc trace SERIAL                          every inspection and verdict of a part
      ecmsim qc verify                                audit the store: hashes, chain, files
      ecmsim qc history --part-number P               batches of a part number
    """


@qc_group.command("import")
@click.argument("measurements", type=click.Path(dir_okay=False))
@click.option(
    "--design", "design", required=True, type=click.Path(dir_okay=False), help="Design CSV (one row per hole)."
)
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="New inspection batch file (HDF5)."
)
@click.option("--batch-id", required=True, help="Batch (lot) identifier.")
@click.option("--part-number", required=True, help="Part number of the drawing.")
@click.option("--drawing-revision", required=True, help="Revision of the drawing.")
@click.option("--machine", default="", help="Drilling machine.")
@click.option("--electrode", default="", help="Electrode(s) / tool(s).")
@click.option("--electrolyte-lot", default="", help="Electrolyte lot.")
@click.option("--drilled-on", default="", help="Drilling date(s).")
@click.option("--device", default="", help="Measuring device for rows that leave `device` empty.")
@click.option(
    "--uncertainty-mm",
    type=float,
    default=None,
    help="Expanded uncertainty U (k=2) for rows that leave `uncertainty_mm` empty.",
)
@click.option(
    "--supersedes",
    type=click.Path(dir_okay=False),
    default=None,
    help="Batch file this one corrects (its sha256 is recorded).",
)
@click.option(
    "--delimiter", default=None, help="Field separator of the CSV files [default: ',', or ';' with --decimal comma]."
)
@click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of the CSV files.")
@_text_format_options
@click.option("--mapping", type=click.Path(dir_okay=False), default=None,
              help="QIF only: CSV mapping characteristic names to hole, characteristic and station "
              "(docs/formats.md).")  # fmt: skip
def import_command(
    measurements: str,
    design: str,
    output: str,
    batch_id: str,
    part_number: str,
    drawing_revision: str,
    machine: str,
    electrode: str,
    electrolyte_lot: str,
    drilled_on: str,
    device: str,
    uncertainty_mm: float | None,
    supersedes: str | None,
    delimiter: str | None,
    encoding: str,
    decimal: str,
    serial_case: str,
    fmt: str,
    mapping: str | None,
) -> None:
    """Import MEASUREMENTS into a new batch file: a long-format CSV (one row per part × hole × station)
    or QIF 3.0 measurement results (docs/formats.md).

    Bad rows or elements are reported with file, line and reason, and nothing is written.
    An existing batch file is never overwritten (batch files are records);
    write a corrected batch to a new file with --supersedes OLD.h5.
    """
    from pathlib import Path

    from ecmsim.errors import InputDataError, OutputError
    from ecmsim.io.batch import write_batch
    from ecmsim.io.common import output_lock, sha256_file
    from ecmsim.qc.importer import csv_separators, import_csv
    from ecmsim.qc.textfiles import check_output_folder

    if delimiter == "\\t":
        delimiter = "\t"
    dec, delimiter = csv_separators(decimal, delimiter)
    is_qif = fmt == "qif" or (fmt == "auto" and Path(measurements).suffix.lower() in (".qif", ".xml"))
    if mapping and not is_qif:
        raise InputDataError(f"--mapping {mapping}: only QIF measurement results take a mapping file")
    inputs = [
        ("MEASUREMENTS", measurements),
        ("--design", design),
        ("--mapping", mapping),
        ("--supersedes", supersedes),
    ]
    refuse_overwrite([("-o", output)], inputs)
    if Path(output).exists():
        raise OutputError(
            f"{output}: exists; batch files are never overwritten (write a new file, "
            "with --supersedes OLD.h5 for a correction)"
        )
    check_output_folder(output)
    meta = {
        "batch_id": batch_id,
        "part_number": part_number,
        "drawing_revision": drawing_revision,
        "machine": machine,
        "electrode": electrode,
        "electrolyte_lot": electrolyte_lot,
        "drilled_on": drilled_on,
    }
    if is_qif:
        from ecmsim.qc.qif import import_qif

        batch = import_qif(
            measurements, design, meta, mapping=mapping, device=device, uncertainty_mm=uncertainty_mm,
            delimiter=delimiter, encoding=encoding, decimal=dec, serial_case=serial_case,
        )  # fmt: skip
    else:
        batch = import_csv(
            measurements, design, meta, device=device, uncertainty_mm=uncertainty_mm, delimiter=delimiter,
            encoding=encoding, decimal=dec, serial_case=serial_case,
        )  # fmt: skip
    if supersedes:
        batch.supersedes = sha256_file(supersedes)
    with output_lock(output, new=True):  # a concurrent import of the same file: one wins, the others fail
        write_batch(output, batch)
    n = int((~(batch.diameter != batch.diameter)).sum())
    click.echo(
        f"{len(batch.serials)} parts, {batch.design.n_holes} holes, {batch.design.n_stations} stations, "
        f"{n} diameters, devices: {', '.join(batch.devices)}"
    )
    click.echo(f"inspection batch written to {output}")


@qc_group.command("check")
@qc_inputs
@qc_outputs
@store_option("QC store to record the results in.")
@paper_option
@click.pass_context
def check_command(
    ctx: click.Context,
    batches: tuple[str, ...],
    spec: str,
    predictions: tuple[str, ...],
    report: str | None,
    json_out: str | None,
    store: str | None,
    paper: str,
) -> None:
    """Check inspection BATCHES against a tolerance spec (and predictions).

    Exit code 0 when every part conforms, 1 when some are rejected, 2 for bad input.
    """
    from ecmsim.qc.check import run_check, summary_lines
    from ecmsim.qc.decision_warnings import check_warnings
    from ecmsim.qc.pdf import is_pdf, write_pdf
    from ecmsim.qc.report import render_html

    inputs = [*(("BATCHES", b) for b in batches), ("--spec", spec), *(("--predictions", p) for p in predictions)]
    refuse_overwrite([("--report", report), ("--json", json_out)], inputs, store=store)
    run = run_check(batches, spec, predictions, store=store)
    warnings = check_warnings(run)
    html = render_html(run, warnings) if report and not is_pdf(report) else None
    if is_pdf(report):
        from ecmsim.qc.check_pdf import render_check_pdf

        write_pdf(str(report), lambda buf: render_check_pdf(run, buf, paper, warnings))
    data = {**run.to_json(), "warnings": warnings} if json_out else None
    emit_outputs(report, html, json_out, data, [*summary_lines(run), *(f"warning: {w}" for w in warnings)])
    ctx.exit(run.exit_code)


@qc_group.command("trace")
@click.argument("serial")
@store_option("QC store to look in.")
@json_flag
def trace_command(serial: str, store: str | None, as_json: bool) -> None:
    """List every inspection and verdict of the part with engraved SERIAL.

    Each record is verified (its hash, its chain links, its files re-hashed);
    one that fails is marked.  Exit 1 when any record fails verification.
    """
    from ecmsim.qc.trace import trace, trace_lines

    records = trace(serial, store)
    if as_json:
        echo_json(records)
    else:
        for line in trace_lines(records):
            click.echo(line)
    if not all(r["verified"] for r in records):
        raise SystemExit(1)


@qc_group.command("synth")
@output_dir_option("qc-synth", "Folder for design.csv, measurements.csv, batch.h5, spec.toml, truth.json.")
@click.option("--parts", default=20, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--holes", default=30, show_default=True, type=click.IntRange(2, 10_000))
@click.option("--stations", default=6, show_default=True, type=click.IntRange(2, 1_000))
@click.option("--seed", default=1, show_default=True, type=click.IntRange(0, 2**31 - 1))
@click.option(
    "--prediction",
    type=click.Path(dir_okay=False),
    default=None,
    help="Simulation result file: the holes follow its profile (measured = predicted + noise).",
)
@click.option("--no-faults", is_flag=True, help="A clean batch (no injected faults, no drift).")
@click.option("--no-csv", is_flag=True, help="Write only the HDF5 batch (not the CSV files).")
def synth_command(
    output_dir: str,
    parts: int,
    holes: int,
    stations: int,
    seed: int,
    prediction: str | None,
    no_faults: bool,
    no_csv: bool,
) -> None:
    """Write a realistic synthetic batch with injected faults and its ground truth."""
    from ecmsim.io.guard import refuse_unsafe_outputs
    from ecmsim.qc.synth import SYNTH_FILES, synthesize, write_synthetic

    files = [("-o", Path(output_dir) / name) for name in SYNTH_FILES]
    from ecmsim.errors import OutputError

    refuse_unsafe_outputs([("-o", output_dir), *files], [("--prediction", prediction)])
    # Bad arguments are refused (exit 2) before the output is looked at, and leave no folder.
    synth = synthesize(parts, holes, stations, seed, prediction, faults=not no_faults)
    batch = Path(output_dir) / "batch.h5"
    if batch.exists():
        raise OutputError(f"{batch}: exists; an inspection batch is a record and is never overwritten "
                          "(choose another -o folder)")  # fmt: skip
    created = not Path(output_dir).is_dir()
    out = make_output_dir(output_dir)
    before = set(out.iterdir())
    try:
        paths = write_synthetic(out, synth, csv=not no_csv)
    except BaseException:  # nothing half-done: remove what this run wrote, and the folder it made
        for p in set(out.iterdir()) - before:
            p.unlink(missing_ok=True)
        if created and not any(out.iterdir()):
            out.rmdir()
        raise
    click.echo(f"{parts} parts × {holes} holes × {stations} stations, {len(synth.truth['faults'])} injected faults")
    for kind, p in paths.items():
        click.echo(f"  {kind:<13} {p}")
