"""The QC store on both backends (a folder with its SQLite ledger, and a real PostgreSQL server).

Records, supersession, tamper evidence (``qc verify`` and the marks in ``qc trace``), refusal
of unsafe store folders, schema versions, and the archived copy being exactly what was checked.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import pytest
import sqlalchemy as sa
from qc_helpers import run_cli

from ecmsim.errors import InputDataError, OutputError
from ecmsim.io import ledger
from ecmsim.io.store import QCStore, open_store
from ecmsim.qc.check import run_check


def _check(synth: dict[str, Path], store: str, *batches: Path) -> None:
    run_check(list(batches) or [synth["batch"]], synth["spec"], store=store)


def _records(qs: QCStore) -> list[dict]:
    with ledger.reader(qs.engine) as c:
        return [dict(r) for r in c.execute(sa.text("SELECT * FROM qc_record ORDER BY id")).mappings()]


def _rewrite(qs: QCStore, relpath: str, change: Callable[[Path], None]) -> None:
    """Change a stored file in place, as a careless or hostile user would (on either backend)."""
    if qs.root is not None:
        p = qs.root / relpath
        os.chmod(p, 0o644)
        change(p)
        return
    with qs.area.open_path(relpath) as p:
        change(p)
        data = p.read_bytes()
    with qs.engine.begin() as c:
        c.execute(sa.text("UPDATE stored_file SET content = :d WHERE path = :p"), {"d": data, "p": relpath})


def _delete(qs: QCStore, relpath: str) -> None:
    if qs.root is not None:
        (qs.root / relpath).unlink()
    else:
        with qs.engine.begin() as c:
            c.execute(sa.text("UPDATE stored_file SET content = NULL WHERE path = :p"), {"p": relpath})


def _flip_verdict(p: Path) -> None:
    with h5py.File(p, "r+") as f:
        v = f["parts/verdict"][...]
        v[0] = 4 if v[0] != 4 else 0
        f["parts/verdict"][...] = v


def _flip_last_byte(p: Path) -> None:
    data = p.read_bytes()
    p.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))


def test_a_check_records_parts_and_failed_characteristics(synth_files, store_location) -> None:
    _check(synth_files, store_location)
    qs = open_store(store_location)
    [rec] = _records(qs)
    truth = json.loads(synth_files["truth"].read_text())
    bad = next(f for f in truth["faults"] if f["type"] == "out_of_tolerance_diameter")["serial"]
    [entry] = qs.trace(bad)
    assert entry["verified"] and not entry["accepted"] and entry["record"] == rec["id"] == 1
    f = next(x for x in entry["failures"] if x["characteristic"] == "diameter")
    assert f["value"] > f["upper"] and f["lower"] < f["upper"] and f["unit"] == "mm" and f["uncertainty"] > 0
    assert rec["prev_hash"] == ledger.GENESIS_HASH and rec["record_hash"] == ledger.record_hash(rec)
    rep = qs.verify()
    assert rep.ok and rep.n_records == 1 and rep.n_files == 3, [x.line() for x in rep.findings]


def test_a_recheck_supersedes_and_identical_files_give_two_records(synth_files, store_location, tmp_path) -> None:
    twin = tmp_path / "twin.h5"
    shutil.copyfile(synth_files["batch"], twin)
    _check(synth_files, store_location)
    _check(synth_files, store_location, synth_files["batch"], twin)
    qs = open_store(store_location)
    recs = _records(qs)
    assert len(recs) == 3 and len({r["results_path"] for r in recs}) == 3
    assert [r["prev_hash"] for r in recs[1:]] == [r["record_hash"] for r in recs[:-1]]
    entries = qs.trace("SN01-00001")
    assert [e["record"] for e in entries] == [1, 2, 3]
    assert entries[1]["supersedes"] == entries[0]["uid"] and entries[0]["superseded_by"] == entries[1]["uid"]
    assert entries[2]["supersedes"] == entries[1]["uid"] and entries[2]["superseded_by"] is None
    assert [e["serial"] for e in qs.trace("sn01-00001 ")] == ["SN01-00001"] * 3  # case and blanks do not matter
    assert qs.verify().ok


@pytest.mark.parametrize("tamper", ["verdict byte", "deleted results", "replaced spec", "ledger row", "last record"])
def test_verify_finds_every_change(synth_files, store_location, tamper) -> None:
    _check(synth_files, store_location)
    _check(synth_files, store_location)
    qs = open_store(store_location)
    first, _last = _records(qs)
    if tamper == "verdict byte":
        _rewrite(qs, first["results_path"], _flip_verdict)
        want = "changed"
    elif tamper == "deleted results":
        _delete(qs, first["results_path"])
        want = "missing"
    elif tamper == "replaced spec":
        _rewrite(qs, first["spec_path"], lambda p: p.write_text(p.read_text() + "# edited\n"))
        want = "changed"
    elif tamper == "ledger row":
        with qs.engine.begin() as c:
            c.execute(sa.text("UPDATE qc_part SET verdict = 'pass', accepted = 1 WHERE record_id = 1"))
        want = "record changed"
    else:
        with qs.engine.begin() as c:
            for t in ("qc_failure", "qc_part", "qc_record"):
                c.execute(sa.text(f"DELETE FROM {t} WHERE {'id' if t == 'qc_record' else 'record_id'} = 2"))
        want = "extra"  # its results file is still there: no record refers to it
    rep = qs.verify()
    assert not rep.ok and want in {f.what for f in rep.findings}, [f.line() for f in rep.findings]
    code, out, _ = run_cli(["qc", "verify", "--store", store_location])
    assert code == 1 and "NOT INTACT" in out
    if tamper != "last record":
        marks = {e["record"]: e["verified"] for e in qs.trace("SN01-00001")}
        assert marks[1] is False
        code, out, _ = run_cli(["qc", "trace", "SN01-00001", "--store", store_location])
        assert code == 1 and "FAILS VERIFICATION" in out


def test_truncated_sqlite_ledger_is_detected(synth_files, tmp_path) -> None:
    store = tmp_path / "store"
    _check(synth_files, str(store))
    led = store / "ledger.sqlite"
    for extra in ("-wal", "-shm"):
        assert not (store / f"ledger.sqlite{extra}").exists() or True
    size = led.stat().st_size
    with open(led, "r+b") as fh:
        fh.truncate(size // 2)
    code, out, err = run_cli(["qc", "verify", "--store", store])
    assert code in (1, 2) and ("damaged" in err or "NOT INTACT" in out or "malformed" in err), (out, err)
    assert "Traceback" not in err


def test_a_changed_archived_copy_blocks_the_next_check(synth_files, store_location) -> None:
    _check(synth_files, store_location)
    qs = open_store(store_location)
    [rec] = _records(qs)
    _rewrite(qs, rec["inspection_path"], _flip_last_byte)
    with pytest.raises(OutputError, match="has been changed"):
        _check(synth_files, store_location)
    assert len(_records(qs)) == 1


def test_the_archived_spec_is_the_text_that_was_checked(synth_files, tmp_path, monkeypatch) -> None:
    spec = tmp_path / "spec.toml"
    text = synth_files["spec"].read_text()
    spec.write_text(text)
    import ecmsim.qc.check as check

    real = check.load_predictions

    def edit_spec_meanwhile(*a, **k):  # the spec changes on disk while the check runs
        spec.write_text(text + "\n[model]\n")
        return real(*a, **k)

    monkeypatch.setattr(check, "load_predictions", edit_spec_meanwhile)
    store = tmp_path / "store"
    run_check([synth_files["batch"]], spec, store=store)
    [rec] = _records(open_store(store))
    archived = (store / rec["spec_path"]).read_text()
    assert archived == text and ledger.hashlib.sha256(archived.encode()).hexdigest() == rec["spec_sha256"]


@pytest.mark.parametrize("make", ["root", "other files", "a file"])
def test_a_store_is_created_only_in_a_new_or_empty_folder(synth_files, tmp_path, make) -> None:
    if make == "root":
        where = Path("/")
    elif make == "other files":
        where = tmp_path / "docs"
        where.mkdir()
        (where / "notes.txt").write_text("mine")
    else:
        where = tmp_path / "file"
        where.write_text("x")
    before = sorted(os.listdir(where)) if where.is_dir() else where.read_text()
    code, _, err = run_cli(["qc", "check", synth_files["batch"], "--spec", synth_files["spec"], "--store", where])
    assert code == 2 and str(where) in err and "Traceback" not in err
    assert (sorted(os.listdir(where)) if where.is_dir() else where.read_text()) == before


def test_store_from_the_environment_and_no_hidden_results(synth_files, tmp_path) -> None:
    import h5py as h

    batch = tmp_path / "dot.h5"
    shutil.copyfile(synth_files["batch"], batch)
    with h.File(batch, "r+") as f:
        f.attrs["batch_id"] = ".hidden"
    env_store = tmp_path / "env-store"
    os.environ["ECMSIM_STORE"] = str(env_store)
    try:
        run_check([batch], synth_files["spec"])
    finally:
        del os.environ["ECMSIM_STORE"]
    names = os.listdir(env_store / "results")
    assert len(names) == 1 and not names[0].startswith(".")


def test_schema_versions(tmp_path, postgres_server) -> None:
    store = tmp_path / "store"
    for loc in (str(store), postgres_server.create_database("versions")):
        qs = open_store(loc, create=True)
        with ledger.reader(qs.engine) as c:
            assert ledger.schema_version(c) == ledger.SCHEMA_VERSION
        assert ledger.migrate(qs.engine, loc) == ledger.SCHEMA_VERSION  # nothing left to apply
        with qs.engine.begin() as c:
            c.execute(sa.text("INSERT INTO schema_migration VALUES (99, 'future', 'now')"))
        with pytest.raises(InputDataError, match="version 99"):
            open_store(loc)
    with pytest.raises(InputDataError, match="no QC store"):
        open_store(tmp_path / "nothing")


def test_staging_left_by_killed_checks_is_removed_when_old(synth_files, tmp_path) -> None:
    store = tmp_path / "store"
    old, fresh = tmp_path / ".store.staging-old", tmp_path / ".store.staging-fresh"
    for d in (old, fresh):
        d.mkdir()
        (d / "copy.h5").write_bytes(b"x")
    os.utime(old, (0, os.path.getmtime(old) - 7200))
    _check(synth_files, str(store))
    assert not old.exists() and fresh.exists()  # a fresh one may belong to a check still running
    inside_old = store / ".staging" / "check-old"
    inside_old.mkdir()
    os.utime(inside_old, (0, os.path.getmtime(inside_old) - 7200))
    _check(synth_files, str(store))
    assert not inside_old.exists() and open_store(store).verify().ok
