"""``ecmsim qc export``: check results in the formats of other quality software (AQDEF / Q-DAS)."""

from __future__ import annotations

import click


@click.command("export")
@click.argument("results", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["aqdef"]), required=True, help="Output format: aqdef (Q-DAS .dfq).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="File to write (e.g. B42.dfq).")
@click.option(
    "--store",
    default=None,
    type=click.Path(file_okay=False),
    help="QC store with the archived inspection batch [default: the store holding RESULTS].",
)
def export_command(results: str, fmt: str, output: str, store: str | None) -> None:
    """Export the check results of one QC RESULTS file (written by `qc check`) for other software.

    \b
      ecmsim qc export ecmsim-qc-store/results/B42_....h5 --format aqdef -o B42.dfq

    The measured values come from the inspection batch the results were derived from,
    found by its SHA-256 in the store and verified. Fields written: docs/formats.md.
    """
    from ecmsim.cli.qc_cmd import refuse_overwrite
    from ecmsim.qc.aqdef import export_aqdef

    refuse_overwrite([("-o", output)], [("RESULTS", results)], store=store)
    summary = export_aqdef(results, output, store=store)
    click.echo(
        f"{summary.n_parts} parts, {summary.n_characteristics} characteristics, {summary.n_values} values"
        + (f" ({summary.n_not_measured} not measured: placeholders)" if summary.n_not_measured else "")
    )
    click.echo(f"AQDEF file written to {output}")
