"""The QC store: a folder of QC results files and content-addressed copies of their inputs.

Layout (``docs/inspection-schema.md``): ``results/`` holds the QC results
files (:mod:`ecmsim.io.qc_results`); ``inspections/``, ``specs/`` and
``predictions/`` hold read-only copies of every input, named by its SHA-256
(:func:`archive_input`, written through
:func:`ecmsim.io.common.atomic_write`).  :func:`trace_serial` scans the
results for every record of one serial number.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecmsim.errors import InputDataError, OutputError
from ecmsim.io.common import QC_RESULT_FILE, atomic_write, attr_text, check_header, get_dataset, open_h5, read_dataset
from ecmsim.io.qc_results import VERDICT_LEGEND, VERDICT_NAMES
from ecmsim.io.strings import HOLE_ID_LEN, ID_RE, SERIAL_LEN, TIME_LEN, read_strings

if TYPE_CHECKING:
    import h5py

STORE_SUBDIRS = ("results", "inspections", "specs", "predictions")
LEDGER_NAME = "ledger.sqlite"


def is_store_folder(path: str | Path) -> bool:
    """True when ``path`` is an ecmsim QC store folder (its ledger, or the results and specs folders)."""
    p = Path(path)
    return (p / "results").is_dir() and ((p / LEDGER_NAME).is_file() or (p / "specs").is_dir())


def store_containing(path: str | Path) -> Path | None:
    """The QC store folder that holds ``path`` (resolved through symlinks), or None.

    Output commands use it to refuse writing into a store: records and archived
    inputs are written only by the store itself.
    """
    p = Path(path).resolve()
    for folder in (p, *p.parents) if p.is_dir() else p.parents:
        if is_store_folder(folder):
            return folder
    return None


def prepare_store(store: str | Path) -> Path:
    """Create the store folder (and its sub-folders) if needed; its parent must exist."""
    s = Path(store)
    if not s.parent.is_dir() and str(s.parent):
        raise OutputError(f"{s}: cannot create the QC store, folder {s.parent} does not exist")
    try:
        s.mkdir(exist_ok=True)
        for sub in STORE_SUBDIRS:
            (s / sub).mkdir(exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{s}: cannot create the QC store: {exc}") from None
    return s


def archive_input(store: Path, kind: str, src: str | Path, sha256: str, suffix: str) -> Path:
    """Copy an input file into ``store/kind/<sha256><suffix>`` unless it is there already.

    The copy is written through :func:`~ecmsim.io.common.atomic_write` (fsynced, renamed, folder
    fsynced) and is read-only (0444); the source is only read.
    """
    dest = store / kind / f"{sha256}{suffix}"
    if dest.exists() and dest.stat().st_size == Path(src).stat().st_size:
        return dest
    try:
        with atomic_write(dest, mode=0o444) as tmp:
            shutil.copyfile(src, tmp)
    except OSError as exc:
        raise OutputError(f"{dest}: cannot archive {src}: {exc}") from None
    return dest


def result_file_name(batch_id: str, checked_at: str, digest: str) -> str:
    """``<batch id>_<time>_<hash12>.h5`` with unsafe characters replaced by ``_``."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", batch_id)[:64] or "batch"
    stamp = re.sub(r"[^0-9TZ]", "", checked_at)
    return f"{safe}_{stamp}_{digest[:12]}.h5"


def trace_serial(serial: str, store: str | Path) -> tuple[list[dict[str, Any]], int]:
    """Every QC record of ``serial`` in the store, oldest first; and the number of files scanned.

    A results file that cannot be read (damaged, truncated, hand-edited) is an
    :class:`InputDataError` naming it: it might hold a record of the serial,
    so the trace would be incomplete without it.
    """
    s = Path(store)
    res = s / "results"
    if not res.is_dir():
        raise InputDataError(f"{s}: not an ecmsim QC store (no results/ folder)")
    records: list[dict[str, Any]] = []
    files = sorted(res.glob("*.h5"))  # hidden temporary files (.NAME.XXXX.tmp) never match
    for path in files:
        try:
            with open_h5(path, "QC results file") as f:
                rec = _trace_record(f, path, serial)
        except InputDataError as exc:
            raise InputDataError(
                f"{exc} (QC store {s}: this results file is damaged; restore it from a backup, the trace "
                "of a serial is incomplete without it)"
            ) from None
        if rec is not None:
            records.append(rec)
    records.sort(key=lambda r: (r["checked_at"], r["results_file"]))
    return records, len(files)


def _trace_record(f: h5py.Group, path: Path, serial: str) -> dict[str, Any] | None:
    """The record of ``serial`` in one QC results file (None if the file does not hold it)."""
    check_header(f, path, QC_RESULT_FILE)
    serials = read_strings(f, "parts/serial", path, SERIAL_LEN, "serial number", ID_RE, unique=True)
    if serial not in serials:
        return None
    i = serials.index(serial)
    p_ = len(serials)
    chars = read_strings(f, "design/characteristic", path, 32, "characteristic", ID_RE)
    hole_ids = read_strings(f, "design/hole_id", path, HOLE_ID_LEN, "hole id", ID_RE)
    measured_at = read_strings(f, "parts/measured_at", path, TIME_LEN, "measured_at", None, shape=(p_,))[i]

    def part(name: str, kind: str, shape: tuple[int, ...] = (p_,)) -> Any:
        return read_dataset(get_dataset(f, f"parts/{name}", path, kind=kind, shape=shape), path, i)

    verdict = int(part("verdict", "int"))
    if verdict not in VERDICT_NAMES:
        raise InputDataError(f"{path}: /parts/verdict of {serial} = {verdict}: not a verdict code ({VERDICT_LEGEND})")
    nbc = part("n_rejected_holes_by_characteristic", "int", (p_, len(chars)))
    hv = get_dataset(f, "holes/verdict", path, kind="int", shape=(p_, len(hole_ids)))
    hr = read_dataset(get_dataset(f, "holes/rejected", path, kind="flag", shape=(p_, len(hole_ids))), path, i)

    def text(name: str) -> str:
        return attr_text(f, name, path)

    return {
        "serial": serial,
        "results_file": str(path),
        "checked_at": text("checked_at"),
        "batch_id": text("batch_id"),
        "part_number": text("part_number"),
        "drawing_revision": text("drawing_revision"),
        "inspection_file": text("inspection_file"),
        "inspection_sha256": text("inspection_sha256"),
        "spec_sha256": text("spec_sha256"),
        "decision_rule": text("decision_rule"),
        "measured_at": measured_at,
        "verdict": VERDICT_NAMES[verdict],
        "accepted": bool(part("accepted", "flag")),
        "rejected_holes": [hole_ids[j] for j in np.nonzero(hr)[0][:20]],
        "n_holes": int(hv.shape[1]),
        "n_undecided": int(part("n_undecided", "int")),
        "rejected_by_characteristic": {c: int(n) for c, n in zip(chars, nbc, strict=True) if n},
        "model_deviation": bool(part("model_deviation", "flag")),
        "ecmsim_version": text("ecmsim_version"),
    }
