"""Rebuild the HDF5 part of the bad-input corpus (tests/data/bad/).

Usage::

    python tests/data/make_bad_corpus.py [OUTDIR]      (default: tests/data/bad)

The good files are made by ecmsim itself, through its command line: a tiny
synthetic batch (``ecmsim qc synth``: 3 parts, 2 holes, 2 stations, no
faults), a short coarse simulation (``ecmsim simulate``) and a QC results
file (``ecmsim qc check``).  They are copied to ``base/``; every file under
``h5/`` is one of them with one defect.  The text files of the corpus
(``configs/``, ``csv/``, ``specs/``) are written by hand and not touched here.

Run it again when a file schema changes, then run
``pytest tests/reliability/test_bad_inputs.py``: the test checks that the
committed files have the same structure as freshly generated ones.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

CLI = [sys.executable, "-c", "from ecmsim.cli.main import main; main()"]
SIM_ARGS = ["--set", "motion.depth_mm=0.3", "--set", "numerics.cell_size_mm=0.04"]
SYNTH_ARGS = ["--parts", "3", "--holes", "2", "--stations", "2", "--seed", "1", "--no-faults"]
HERE = Path(__file__).resolve().parent


def _run(*args: str) -> None:
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ecmsim {' '.join(args)} failed (exit {proc.returncode}): {proc.stderr}")


def make_base(work: Path) -> dict[str, Path]:
    """The good files: batch and its spec, a simulation result, a QC results file."""
    _run("qc", "synth", "-o", str(work / "syn"), *SYNTH_ARGS)
    _run("simulate", "example:stem-in718", "-o", str(work / "result.h5"), *SIM_ARGS)
    store = work / "store"
    proc = subprocess.run(
        [*CLI, "qc", "check", str(work / "syn" / "batch.h5"), "--spec", str(work / "syn" / "spec.toml"),
         "--store", str(store)],
        capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode not in (0, 1):
        raise RuntimeError(proc.stderr)
    (qc,) = sorted((store / "results").glob("*.h5"))
    return {
        "batch.h5": work / "syn" / "batch.h5",
        "spec.toml": work / "syn" / "spec.toml",
        "result.h5": work / "result.h5",
        "qc_result.h5": qc,
    }


def _replace(f: Any, name: str, data: Any, **kw: Any) -> None:
    """Replace dataset ``name`` by ``data``, keeping its units and description."""
    attrs = {k: v for k, v in f[name].attrs.items() if k in ("units", "description")}
    del f[name]
    ds = f.create_dataset(name, data=data, **kw)
    for k, v in attrs.items():
        ds.attrs[k] = v


def _set(name: str, index: Any, value: Any) -> Callable[[Any], None]:
    def edit(f: Any) -> None:
        f[name][index] = value

    return edit


def _attr(name: str, key: str, value: Any) -> Callable[[Any], None]:
    def edit(f: Any) -> None:
        if value is None:
            del f[name].attrs[key]
        else:
            f[name].attrs[key] = value

    return edit


def _delete(name: str) -> Callable[[Any], None]:
    def edit(f: Any) -> None:
        del f[name]

    return edit


def _wrong_shape(f: Any) -> None:
    d = f["measurements/diameter"][()]
    _replace(f, "measurements/diameter", d[:, :, 0])  # stations axis lost


def _wrong_dtype(f: Any) -> None:
    d = f["measurements/diameter"][()]
    _replace(f, "measurements/diameter", np.char.mod("%.4f", d).astype("S8"))  # numbers stored as text


def _long_serial(f: Any) -> None:
    s = f["parts/serial"][()].tolist()
    s[1] = b"SN01-00002-REWORKED-AFTER-MRB-REVIEW-7"  # 38 characters
    _replace(f, "parts/serial", np.array(s, dtype="S40"))


def _duplicate_serial(f: Any) -> None:
    f["parts/serial"][2] = f["parts/serial"][0]


def _external_link(target: str) -> Callable[[Any], None]:
    def edit(f: Any) -> None:
        del f[target]
        f[target] = h5py.ExternalLink("//shop-share/qc/master.h5", "/" + target)

    return edit


def _virtual(f: Any) -> None:
    shape, dtype = f["measurements/diameter"].shape, f["measurements/diameter"].dtype
    layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
    layout[...] = h5py.VirtualSource("other_batch.h5", "/measurements/diameter", shape=shape)
    units = f["measurements/diameter"].attrs["units"]
    del f["measurements/diameter"]
    f["measurements"].create_virtual_dataset("diameter", layout, fillvalue=np.nan)
    f["measurements/diameter"].attrs["units"] = units


def _flip_chunk_byte(path: Path) -> None:
    with h5py.File(path, "r") as f:
        info = f["measurements/diameter"].id.get_chunk_info(0)
    raw = bytearray(path.read_bytes())
    raw[info.byte_offset + info.size // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def _bad_json(f: Any) -> None:
    del f["config_json"]
    f["config_json"] = '{"workpiece": {"alloy": "Inconel 718", '  # cut short


def _no_wall(f: Any) -> None:
    f["profile/wall_radius"][...] = np.nan


def _negative_radius(f: Any) -> None:
    r = f["profile/wall_radius"][()]
    k = int(np.nonzero(np.isfinite(r))[0][2])
    f["profile/wall_radius"][k] = -abs(r[k])


#: name -> (base file, edit of the open file or None, raw byte edit or None)
EDITS: dict[str, tuple[str, Callable[[Any], None] | None, Callable[[Path], None] | None]] = {
    "batch_missing_dataset.h5": ("batch.h5", _delete("measurements/diameter"), None),
    "batch_wrong_shape.h5": ("batch.h5", _wrong_shape, None),
    "batch_wrong_dtype.h5": ("batch.h5", _wrong_dtype, None),
    "batch_nan_nominal.h5": ("batch.h5", _set("design/nominal_diameter", 1, np.nan), None),
    "batch_inf_diameter.h5": ("batch.h5", _set("measurements/diameter", (1, 0, 1), np.inf), None),
    "batch_negative_diameter.h5": ("batch.h5", _set("measurements/diameter", (2, 1, 0), -1.0043), None),
    "batch_wrong_units.h5": ("batch.h5", _attr("measurements/diameter", "units", "in"), None),
    "batch_missing_units.h5": ("batch.h5", _attr("measurements/depth", "units", None), None),
    "batch_duplicate_serial.h5": ("batch.h5", _duplicate_serial, None),
    "batch_long_serial.h5": ("batch.h5", _long_serial, None),
    "batch_external_link.h5": ("batch.h5", _external_link("measurements/diameter"), None),
    "batch_virtual_dataset.h5": ("batch.h5", _virtual, None),
    "batch_damaged_chunk.h5": ("batch.h5", None, _flip_chunk_byte),
    "result_missing_dataset.h5": ("result.h5", _delete("profile/wall_radius"), None),
    "result_wrong_units.h5": ("result.h5", _attr("profile/depth", "units", "mm"), None),
    "result_negative_radius.h5": ("result.h5", _negative_radius, None),
    "result_bad_json.h5": ("result.h5", _bad_json, None),
    "result_external_link.h5": ("result.h5", _external_link("profile/wall_radius"), None),
    "result_no_wall.h5": ("result.h5", _no_wall, None),
    "store_missing_dataset.h5": ("qc_result.h5", _delete("parts/serial"), None),
}
#: name -> (base file, fraction kept): files cut short, as by a full disk or an interrupted copy.
TRUNCATED = {
    "batch_truncated.h5": ("batch.h5", 0.5),
    "result_truncated.h5": ("result.h5", 0.6),
    "store_truncated.h5": ("qc_result.h5", 0.5),
}
#: name -> bytes: files that are not HDF5 at all.
NOT_HDF5 = {
    "batch_not_hdf5.h5": b"serial,hole_id,station_depth_mm,diameter_mm\nSN01-00001,H001,0.3,1.0043\n",
    "result_empty.h5": b"",
    "store_not_hdf5.h5": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
}


def build(out: Path) -> list[Path]:
    """Write ``out/base/*`` and ``out/h5/*``; return the files written."""
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = make_base(Path(tmp))
        (out / "base").mkdir(parents=True, exist_ok=True)
        (out / "h5").mkdir(parents=True, exist_ok=True)
        for name, src in base.items():
            if name == "qc_result.h5":
                continue  # only its damaged copies are kept (it is large)
            dest = out / "base" / name
            shutil.copyfile(src, dest)
            written.append(dest)
        for name, (src_name, edit, raw_edit) in EDITS.items():
            dest = out / "h5" / name
            shutil.copyfile(base[src_name], dest)
            dest.chmod(0o644)
            if edit is not None:
                with h5py.File(dest, "r+") as f:
                    edit(f)
            if raw_edit is not None:
                raw_edit(dest)
            written.append(dest)
        for name, (src_name, frac) in TRUNCATED.items():
            dest = out / "h5" / name
            raw = base[src_name].read_bytes()
            dest.write_bytes(raw[: int(len(raw) * frac)])
            written.append(dest)
        for name, data in NOT_HDF5.items():
            dest = out / "h5" / name
            dest.write_bytes(data)
            written.append(dest)
    for p in written:
        p.chmod(0o644)
    return written


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "bad"
    files = build(out)
    total = sum(p.stat().st_size for p in files)
    print(f"{len(files)} files, {total / 1024:.0f} KiB written under {out}")


if __name__ == "__main__":
    main()
