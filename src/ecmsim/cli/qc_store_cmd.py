"""``ecmsim qc verify`` and ``ecmsim qc history``: audit a QC store and list a part number's batches."""

from __future__ import annotations

import click

from ecmsim.cli.options import echo_json, json_flag
from ecmsim.cli.qc_cmd import qc_group, store_option


@qc_group.command("verify")
@store_option("QC store to audit.")
@json_flag
def verify_command(store: str | None, as_json: bool) -> None:
    """Audit the QC store: re-hash every record and file and walk the hash chain.

    Reports every changed, missing or extra file, every record whose rows no
    longer match its hash and every broken link.  Exit 0 when the store is
    intact, 1 when anything was found.
    """
    from ecmsim.io.store import open_store

    qs = open_store(store)
    rep = qs.verify()
    if as_json:
        echo_json(
            {
                "store": rep.location,
                "ok": rep.ok,
                "records": rep.n_records,
                "files": rep.n_files,
                "head_hash": rep.head_hash,
                "findings": [{"what": f.what, "where": f.where, "detail": f.detail} for f in rep.findings],
                "notes": rep.notes,
            }
        )
    else:
        for f in rep.findings:
            click.echo(f.line())
        for n in rep.notes:
            click.echo(f"note: {n}")
        verdict = "INTACT" if rep.ok else f"{len(rep.findings)} finding(s): NOT INTACT"
        click.echo(f"QC store {rep.location}: {rep.n_records} records, {rep.n_files} files re-hashed; {verdict}")
        if rep.head_hash:
            # Written down outside the store (an audit log, a signed report), the head hash
            # also shows a later rewrite of the whole chain.
            click.echo(f"chain head: record {rep.n_records}, sha256 {rep.head_hash}")
    if not rep.ok:
        raise SystemExit(1)


@qc_group.command("history")
@click.option("--part-number", required=True, help="Part number of the drawing.")
@click.option("--since", default=None, help="Only batches checked on or after this date (YYYY-MM-DD).")
@store_option("QC store to look in.")
@json_flag
def history_command(part_number: str, since: str | None, store: str | None, as_json: bool) -> None:
    """List the checked batches of a part number with their verdict counts, oldest first."""
    from ecmsim.errors import InputDataError
    from ecmsim.io.store import open_store

    rows = open_store(store).history(part_number, since)
    if not rows:
        raise InputDataError(
            f"part number {part_number!r}: no batch in the QC store" + (f" since {since}" if since else "")
        )
    if as_json:
        echo_json(rows)
        return
    click.echo(f"part number {part_number}: {len(rows)} batch record(s)")
    click.echo(f"{'record':>7}  {'checked at':<27} {'batch':<20} {'rev':<5} {'parts':>6} {'accepted':>8} "
               f"{'rejected':>8} {'re-checked':>10}")  # fmt: skip
    for r in rows:
        click.echo(
            f"{r['record']:>7}  {r['checked_at']:<27} {r['batch_id']:<20} {r['drawing_revision']:<5} "
            f"{r['parts']:>6} {r['accepted']:>8} {r['rejected']:>8} {r['rechecked_parts']:>10}"
        )
