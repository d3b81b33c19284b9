"""Property tests (hypothesis) over the parsers and readers of ecmsim.

Whatever the input, the config parser, the spec parser, the CSV importer and
the HDF5 readers either return valid data or raise the documented domain
error (``ConfigError`` / ``InputDataError``): never a raw ``KeyError``,
``ValueError``, ``OSError``, h5py or NumPy exception (those reach the user as
"internal error", exit 70).  Inputs come from random documents and from
mutations of valid files: values, rows, bytes, and the HDF5 structure.

Byte-level damage to HDF5 files is read in a forked child: a damaged datatype
message can crash libhdf5 itself (a segmentation fault, see
``test_damaged_vlen_string_attribute_crashes_libhdf5``), which must not take the test
run down.  ``docs/reliability.md`` describes the strategies and findings.
"""

from __future__ import annotations

import copy
import faulthandler
import math
import os
import select
import shutil
import signal
import tempfile
import time
import tomllib
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from ecmsim.config import ProcessConfig, config_from_dict, load_config, schema_fields
from ecmsim.errors import ConfigError, EcmsimError, InputDataError
from ecmsim.io import read_batch, read_result, write_batch
from ecmsim.io.batch import open_batch
from ecmsim.qc.check import load_predictions, run_check
from ecmsim.qc.importer import import_csv
from ecmsim.qc.spec import parse_spec
from ecmsim.testing.strategies import finite_floats as finite
from ecmsim.testing.strategies import short_texts as texts
from ecmsim.testing.strategies import toml_values

DATA = Path(__file__).resolve().parents[1] / "data"
BAD = DATA / "bad"
BATCH = BAD / "base" / "batch.h5"
RESULT = BAD / "base" / "result.h5"
SPEC = BAD / "base" / "spec.toml"
DESIGN_CSV = (BAD / "csv" / "design.csv").read_text(encoding="utf-8")
MEAS_CSV = (BAD / "csv" / "measurements.csv").read_text(encoding="utf-8")
META = {"batch_id": "B1", "part_number": "P1", "drawing_revision": "A"}
MINIMAL = tomllib.loads((DATA / "minimal.toml").read_text(encoding="utf-8"))


needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def fuzz(n: int) -> settings:
    return settings(
        max_examples=n,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
    )


@pytest.fixture(scope="module")
def work() -> Any:
    with tempfile.TemporaryDirectory(prefix="ecmsim-fuzz-") as d:
        yield Path(d)


# ---------------------------------------------------------------------------- values
# TOML values (ecmsim.testing.strategies): integers are 64-bit, as TOML's; tomllib keeps
# bigger ones (see test_config_huge_integers_are_refused).
FIELDS = [(t, k) for t, k, _, _ in schema_fields()]
TABLE_NAMES = sorted({t for t, _ in FIELDS} | {"current_efficiency"})


def _check_config(doc: Any) -> None:
    try:
        cfg = config_from_dict(doc)
    except ConfigError:
        return
    assert isinstance(cfg, ProcessConfig)


# ---------------------------------------------------------------------------- process configs
@fuzz(250)
@given(st.dictionaries(st.sampled_from(TABLE_NAMES) | texts, toml_values | st.dictionaries(texts, toml_values)))
def test_config_random_documents(doc: dict[str, Any]) -> None:
    _check_config(doc)


@st.composite
def mutated_configs(draw: st.DrawFn) -> dict[str, Any]:
    doc = copy.deepcopy(MINIMAL)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["set", "set", "set", "delete", "unknown", "table"]))
        table, key = draw(st.sampled_from(FIELDS))
        if kind == "set":
            value = draw(st.one_of(toml_values, finite.map(abs), st.sampled_from([0, -1, 1e-9, 1e9])))
            sub = doc.setdefault(table, {})
            if isinstance(sub, dict):
                sub[key] = value
        elif kind == "delete":
            t = draw(st.sampled_from(sorted(doc)))
            if isinstance(doc[t], dict) and doc[t] and draw(st.booleans()):
                doc[t].pop(draw(st.sampled_from(sorted(doc[t]))))
            else:
                doc.pop(t)
        elif kind == "unknown":
            sub = doc.setdefault(table, {})
            if isinstance(sub, dict):
                sub[draw(texts)] = draw(toml_values)
        else:
            doc[table] = draw(toml_values)
    return doc


@fuzz(300)
@given(mutated_configs())
def test_config_mutations_of_a_valid_config(doc: dict[str, Any]) -> None:
    _check_config(doc)


LINE_VALUES = ["1", "-1", "0", "nan", "inf", '"a"', "true", "[1,2]", "{a=1}", "1979-05-27", "0x10", "1e999", "'", '"""']
toml_lines = st.lists(
    st.one_of(
        st.sampled_from(["[workpiece]", "[tool]", "[motion]", "[electrical]", "[numerics]", "[[tool]]", "[", "]"]),
        st.builds(
            lambda t, k, v: f"{t}{k} = {v}",
            st.sampled_from(["", "tool."]),
            st.sampled_from([k for _, k in FIELDS] + ["x"]),
            st.sampled_from(LINE_VALUES),
        ),
        st.text(max_size=20),
    ),
    max_size=12,
)


@fuzz(120)
@given(toml_lines)
def test_config_text_files(work: Path, lines: list[str]) -> None:
    p = work / "fuzz.toml"
    p.write_text("\n".join((DATA / "minimal.toml").read_text(encoding="utf-8").splitlines() + lines), "utf-8")
    try:
        load_config(p)
    except ConfigError:
        pass


@fuzz(5)
@given(st.integers(min_value=2**1024, max_value=2**1100), st.sampled_from(["depth_mm", "feed_rate_mm_per_min"]))
def test_config_huge_integers_are_refused(value: int, key: str) -> None:
    doc = copy.deepcopy(MINIMAL)
    doc["motion"][key] = value
    with pytest.raises(ConfigError):
        config_from_dict(doc)


# ---------------------------------------------------------------------------- tolerance specs
SPEC_DOC = tomllib.loads(SPEC.read_text(encoding="utf-8"))
SPEC_KEYS = [
    "characteristic", "holes", "groups", "stations_mm", "note", "nominal_mm", "lower_mm", "upper_mm", "min_mm",
    "max_mm", "uncertainty_mm", "min_deg", "max_deg", "nominal_deg", "lower_deg", "upper_deg",
]  # fmt: skip


@st.composite
def mutated_specs(draw: st.DrawFn) -> dict[str, Any]:
    doc = copy.deepcopy(SPEC_DOC)
    for _ in range(draw(st.integers(1, 3))):
        tols = doc.get("tolerance")
        if isinstance(tols, list) and tols and draw(st.booleans()):
            t = draw(st.sampled_from(tols))
            if isinstance(t, dict):
                t[draw(st.sampled_from(SPEC_KEYS))] = draw(
                    toml_values | st.lists(st.sampled_from(["H001", "H002", "A", "B", ""]), max_size=3)
                )
        else:
            table = draw(st.sampled_from(["spec", "decision", "model", "tolerance", "x"]))
            doc[table] = draw(toml_values) if draw(st.booleans()) else {draw(texts): draw(toml_values)}
    return doc


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return '"' + "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in v) + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_value(str(k))} = {_toml_value(x)}" for k, x in v.items()) + "}"
    return v.isoformat()  # dates and times


def toml_text(doc: dict[str, Any]) -> str:
    """TOML text of a document: tables as [table], lists of tables as [[table]], the rest inline."""
    top = [f"{_toml_value(k)} = {_toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict | list)]
    top += [f"{_toml_value(k)} = {_toml_value(v)}" for k, v in doc.items()
            if isinstance(v, list) and not (v and all(isinstance(x, dict) for x in v))]  # fmt: skip
    body: list[str] = []
    for k, v in doc.items():
        table_list = isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)
        rows = [v] if isinstance(v, dict) else v if table_list else []
        for row in rows:
            body.append(f"[{_toml_value(k)}]" if isinstance(v, dict) else f"[[{_toml_value(k)}]]")
            body += [f"{_toml_value(kk)} = {_toml_value(vv)}" for kk, vv in row.items()]
    return "\n".join(top + body) + "\n"


@pytest.fixture(scope="module")
def design() -> Any:
    return read_batch(BATCH).design


@fuzz(200)
@given(mutated_specs())
def test_spec_mutations(design: Any, doc: dict[str, Any]) -> None:
    text = toml_text(doc)
    try:
        spec = parse_spec(text, "fuzz.toml")
        spec.resolve(design)
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.toml: ")


# ---------------------------------------------------------------------------- CSV importer
LINE_RE = __import__("re").compile(r"^  (?P<file>\S+):(?P<line>\d+): ", __import__("re").M)


def _import(work: Path, meas: bytes, design: bytes = DESIGN_CSV.encode()) -> tuple[Any, str]:
    m, d = work / "m.csv", work / "d.csv"
    m.write_bytes(meas)
    d.write_bytes(design)
    try:
        return import_csv(m, d, META), ""
    except InputDataError as exc:
        return None, str(exc)


def _check_batch(batch: Any) -> None:
    """A successfully imported batch is valid: it writes and reads back (the reader's checks are stricter)."""
    p_, h_, s_ = len(batch.serials), batch.design.n_holes, batch.design.n_stations
    assert batch.diameter.shape == (p_, h_, s_)
    d = batch.diameter[np.isfinite(batch.diameter)]
    assert (d > 0).all()
    assert not np.isinf(batch.diameter).any() and not np.isinf(batch.x_dev).any()


def _reported_lines(msg: str, n_lines: int) -> set[int]:
    """Line numbers of the ``file:line:`` rows of an importer message, all within the file."""
    lines = {int(m["line"]) for m in LINE_RE.finditer(msg)}
    head = __import__("re").match(r"^\S+?:(\d+): ", msg)
    if head:
        lines.add(int(head.group(1)))
    assert all(1 <= n <= max(n_lines, 1) for n in lines), (lines, n_lines, msg)
    return lines


csv_fields = st.one_of(
    st.sampled_from(["", "nan", "inf", "-1", "0", "1e999", "1,5", '"', "blocked", "H001", "H9", "SN01-00001",
                     "SN 1", "x" * 40, "µm", "2024-13-01", "0001-01-01T00:00:00+05:00", "-0.0", "3.5", "2.7"]),
    st.text(max_size=8),
    finite.map(lambda x: f"{x:g}"),
)  # fmt: skip


@st.composite
def mutated_rows(draw: st.DrawFn, text: str) -> tuple[str, set[int]]:
    """``text`` with some data rows changed; returns the text and the changed line numbers (1-based)."""
    lines = text.splitlines()
    changed: set[int] = set()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(1, len(lines) - 1))
        fields = lines[i].split(",")
        kind = draw(st.sampled_from(["field", "field", "field", "drop", "extra", "dup", "blank"]))
        if kind == "field":
            fields[draw(st.integers(0, len(fields) - 1))] = draw(csv_fields)
        elif kind == "drop":
            fields.pop(draw(st.integers(0, len(fields) - 1)))
        elif kind == "extra":
            fields.append(draw(csv_fields))
        elif kind == "dup":
            lines.insert(i, lines[i])
            changed = {c + 1 if c > i else c for c in changed} | {i + 1, i + 2}
            continue
        else:
            fields = [""] * len(fields)
        lines[i] = ",".join(fields)
        changed.add(i + 1)
    # A replaced field may itself hold a line break, which starts a new line of the file:
    # name every line of the file that a changed row spans.
    first = [1]
    for row in lines:
        first.append(first[-1] + 1 + row.count("\n"))
    physical = {n for c in changed for n in range(first[c - 1], first[c])}
    return "\n".join(lines) + "\n", physical


def _serial_with_a_line_break() -> tuple[str, set[int]]:
    # found by a test loop: a serial replaced by "\n" moves the rest of its row to the next line
    lines = MEAS_CSV.splitlines()
    lines[1] = "\n" + lines[1][lines[1].index(",") :]
    return "\n".join(lines) + "\n", {2, 3}


@fuzz(150)
@given(mutated_rows(MEAS_CSV))
@example(_serial_with_a_line_break())
def test_csv_measurement_row_mutations(work: Path, mutated: tuple[str, set[int]]) -> None:
    text, changed = mutated
    batch, msg = _import(work, text.encode())
    if batch is not None:
        _check_batch(batch)
        return
    lines = _reported_lines(msg, text.count("\n"))
    if "bad row" in msg:  # a row is at fault: it is named (a duplicate may name its twin)
        assert lines & changed or any(f"line {c}" in msg for c in changed), (changed, msg)


@fuzz(80)
@given(mutated_rows(DESIGN_CSV))
def test_csv_design_row_mutations(work: Path, mutated: tuple[str, set[int]]) -> None:
    text, _changed = mutated
    batch, msg = _import(work, MEAS_CSV.encode(), text.encode())
    if batch is not None:
        _check_batch(batch)
        return
    _reported_lines(msg, max(text.count("\n"), MEAS_CSV.count("\n")))


@fuzz(80)
@given(st.lists(st.tuples(st.integers(0, len(MEAS_CSV) - 1), st.binary(max_size=3)), min_size=1, max_size=4),
       st.integers(0, len(MEAS_CSV)))  # fmt: skip
def test_csv_byte_mutations(work: Path, edits: list[tuple[int, bytes]], cut: int) -> None:
    raw = bytearray(MEAS_CSV.encode())
    for pos, b in edits:
        raw[pos : pos + len(b)] = b
    raw = raw[: max(cut, 1)] if cut < len(raw) // 4 else raw
    batch, msg = _import(work, bytes(raw))
    if batch is not None:
        _check_batch(batch)
    else:
        _reported_lines(msg, raw.count(b"\n") + 1)


@fuzz(60)
@given(st.text(alphabet=st.sampled_from([*list('SNH0123456789.,;"\n\r\t -_abcdefghijklmnopqrstuvwxyz'), "µ", "\x00"]),
               max_size=300))  # fmt: skip
def test_csv_random_text(work: Path, text: str) -> None:
    batch, msg = _import(work, (MEAS_CSV.splitlines()[0] + "\n" + text).encode())
    if batch is not None:
        _check_batch(batch)
    else:
        _reported_lines(msg, text.count("\n") + text.count("\r") + 2)


ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._/+-]{0,31}\Z")


@st.composite
def valid_measurements(draw: st.DrawFn) -> str:
    """The good measurements CSV with other valid serials, diameters and position deviations."""
    lines = MEAS_CSV.splitlines()
    serials = draw(st.lists(ids, min_size=2, max_size=2, unique=True))
    out = [lines[0]]
    for line in lines[1:]:
        f = line.split(",")
        f[0] = serials[0] if f[0].endswith("1") else serials[1]
        # Every hole of the design is Ø1 mm; the importer refuses diameters more than 10 times off it.
        f[3] = draw(st.sampled_from(["", f"{draw(st.floats(0.1, 10)):.6g}"]))
        if f[4]:
            f[4], f[5] = (f"{draw(st.floats(-1, 1)):.6g}" for _ in range(2))
        out.append(",".join(f))
    return "\n".join(out) + "\n"


@fuzz(25)
@given(valid_measurements())
def test_imported_batches_write_and_read_back(work: Path, text: str) -> None:
    batch, msg = _import(work, text.encode())
    assert batch is not None, msg  # valid rows are accepted ...
    out = work / "roundtrip.h5"
    out.unlink(missing_ok=True)
    write_batch(out, batch)
    back = read_batch(out)  # ... and what the importer accepts, the reader accepts
    assert back.serials == batch.serials
    np.testing.assert_array_equal(back.diameter, batch.diameter)


# ---------------------------------------------------------------------------- HDF5: structure
def _paths(path: Path) -> list[str]:
    names: list[str] = []
    with h5py.File(path, "r") as f:
        f.visit(names.append)
    return names


BATCH_PATHS = _paths(BATCH)
RESULT_PATHS = _paths(RESULT)
ODD_VALUES = [math.nan, math.inf, -math.inf, -1.0, 0.0, 1e30, 255, -2, 7, b"", b"x y", b"\xff\xfe", b"A" * 40, b"H001",
              b"SN01-00001", b"2024-99-99"]  # fmt: skip
DTYPES = ["f2", "f4", "f8", "i1", "i8", "u1", "S4", "S64", "c8", "bool", "vlen"]
ATTR_VALUES = st.sampled_from([None, "in", b"mm", 3, "", "MM", np.array([1, 2]), 2, 0, "ecmsim-simulation-result",
                               "ecmsim-inspection-batch", b"\xff", 1.5])  # fmt: skip


def _recreate(f: Any, name: str, data: Any, dtype: Any = None) -> None:
    attrs = {k: v for k, v in f[name].attrs.items() if k in ("units", "description")}
    del f[name]
    ds = f.create_dataset(name, data=data, dtype=dtype)
    for k, v in attrs.items():
        ds.attrs[k] = v


@st.composite
def h5_edits(draw: st.DrawFn, paths: list[str]) -> list[Callable[[Any], None]]:
    edits: list[Callable[[Any], None]] = []
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(paths))
        kind = draw(st.sampled_from(["delete", "group", "shape", "dtype", "value", "value", "value", "units",
                                     "attr", "root_attr", "link", "vds", "hardlink"]))  # fmt: skip
        other = draw(st.sampled_from(paths))
        value = draw(st.sampled_from(ODD_VALUES))
        attr_value = draw(ATTR_VALUES)
        dtype = draw(st.sampled_from(DTYPES))
        attr_key = draw(st.sampled_from(["units", "schema", "schema_version", "batch_id", "part_number", "note"]))
        shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
        where = draw(st.integers(0, 10**6))

        def edit(f: Any, name: str = name, kind: str = kind, other: str = other, value: Any = value,
                 attr_value: Any = attr_value, dtype: str = dtype, attr_key: str = attr_key,
                 shape: tuple[int, ...] = shape, where: int = where) -> None:  # fmt: skip
            obj = f.get(name)
            if obj is None:
                return
            if kind == "delete":
                del f[name]
            elif kind == "group":
                del f[name]
                f.create_group(name)
            elif kind == "link":
                del f[name]
                f[name] = h5py.ExternalLink("elsewhere.h5", "/x") if where % 2 else h5py.SoftLink("/" + other)
            elif kind == "hardlink" and name != other and isinstance(f.get(other), h5py.Dataset):
                del f[name]
                f[name] = f[other]
            elif kind in ("root_attr", "attr", "units"):
                target = f if kind == "root_attr" else obj
                key = "units" if kind == "units" else attr_key
                if attr_value is None:
                    if key in target.attrs:
                        del target.attrs[key]
                else:
                    target.attrs[key] = attr_value
            elif not isinstance(obj, h5py.Dataset):
                return
            elif kind == "shape":
                _recreate(f, name, np.zeros(shape, obj.dtype))
            elif kind == "dtype":
                data = obj[()]
                if dtype == "vlen":
                    _recreate(f, name, np.array(np.asarray(data).astype(str), dtype=object),
                              h5py.string_dtype())  # fmt: skip
                else:
                    try:
                        _recreate(f, name, np.asarray(data).astype(dtype))
                    except (ValueError, TypeError, UnicodeEncodeError):
                        return
            elif kind == "value" and obj.shape and obj.size:
                data = obj[()]
                idx = np.unravel_index(where % data.size, data.shape) if data.shape else ()
                try:
                    data[idx] = value
                except (ValueError, TypeError, OverflowError):
                    return
                if obj.shape:
                    obj[...] = data
            elif kind == "vds":
                layout = h5py.VirtualLayout(shape=obj.shape, dtype=obj.dtype)
                layout[...] = h5py.VirtualSource("." if where % 2 else "other.h5", "/" + other, shape=obj.shape)
                del f[name]
                f.create_virtual_dataset(name, layout)

        edits.append(edit)
    return edits


def _edited_copy(src: Path, work: Path, edits: list[Callable[[Any], None]]) -> Path:
    p = work / f"edited{src.suffix}"
    p.unlink(missing_ok=True)
    shutil.copyfile(src, p)
    os.chmod(p, 0o644)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"), h5py.File(p, "r+") as f:
            warnings.simplefilter("ignore")
            for e in edits:
                e(f)
    except (ValueError, TypeError, KeyError, OSError, RuntimeError, OverflowError):
        assume(False)  # h5py refused the edit itself: not an input ecmsim can get
    return p


def _valid_batch(b: Any) -> None:
    d = b.design
    assert b.diameter.shape == (len(b.serials), d.n_holes, d.n_stations)
    assert len(set(b.serials)) == len(b.serials) and all(0 < len(s) <= 32 for s in b.serials)
    assert (np.nan_to_num(b.diameter, nan=1.0) > 0).all() and not np.isinf(b.diameter).any()
    assert np.isfinite(d.nominal_diameter).all() and (d.nominal_diameter > 0).all()
    assert ((b.device >= -1) & (b.device < len(b.devices))).all()


def _run_check(path: Path, work: Path, spec: Path = SPEC, predictions: tuple[Path, ...] = ()) -> None:
    store = work / "store"
    try:
        run_check([path], spec, predictions, store=store, checked_at="2024-01-01T00:00:00.000000Z")
    except (InputDataError, ConfigError):
        pass
    finally:
        shutil.rmtree(store, ignore_errors=True)


@needs_fork
@fuzz(80)
@given(h5_edits(BATCH_PATHS))
def test_batch_structure_mutations(work: Path, edits: list[Callable[[Any], None]]) -> None:
    p = _edited_copy(BATCH, work, edits)

    def read() -> None:
        _valid_batch(read_batch(p))

    def stream() -> None:
        with open_batch(p) as r:
            for _a, _b, _m in r.iter_chunks(1):
                pass

    for fn in (read, stream, lambda: _run_check(p, work)):
        outcome = in_child(fn)
        assert outcome in ("ok", "domain error"), outcome


@needs_fork
@fuzz(60)
@given(h5_edits(RESULT_PATHS))
def test_result_structure_mutations(work: Path, edits: list[Callable[[Any], None]]) -> None:
    p = _edited_copy(RESULT, work, edits)

    def read() -> None:
        r = read_result(p)
        assert np.isfinite(r.profile.depth).all()
        load_predictions([p])

    outcome = in_child(read)
    assert outcome in ("ok", "domain error"), outcome


# ---------------------------------------------------------------------------- HDF5: bytes (in a forked child)
#: A forked reader that has not answered by then is killed and reported as a hang.
CHILD_TIMEOUT_S = 60.0


def in_child(fn: Callable[[], None]) -> str:
    """Run ``fn`` in a forked process: 'ok', 'domain error', 'raw <traceback>', 'signal <n>' or 'hang ...'."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(r)
        faulthandler.disable()  # a libhdf5 crash is reported by the parent
        try:
            fn()
            msg = "ok"
        except EcmsimError:
            msg = "domain error"
        except BaseException:
            msg = "raw " + traceback.format_exc()
        os.write(w, msg.encode()[:60000])
        os._exit(0)
    os.close(w)
    chunks: list[bytes] = []
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    with os.fdopen(r, "rb", buffering=0) as fh:
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fh], [], [], max(left, 0.0))
            if not ready:  # a damaged file sent the reader into an endless loop: a known limit
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return f"hang (killed after {CHILD_TIMEOUT_S:g} s)"
            data = fh.read(65536)
            if not data:
                break
            chunks.append(data)
    out = b"".join(chunks).decode()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return out


damage = st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=8)
#: Native crashes of libhdf5 seen by the byte-level tests (reported in docs/reliability.md).
NATIVE_CRASHES: list[str] = []


def _damaged_copy(src: Path, work: Path, edits: list[tuple[float, int]], cut: float) -> Path:
    raw = bytearray(src.read_bytes())
    for frac, byte in edits:
        raw[int(frac * len(raw))] = byte
    if cut < 0.1:  # sometimes cut the file short as well
        raw = raw[: int(len(raw) * (0.5 + 4 * cut))]
    p = work / f"damaged{src.suffix}"
    p.write_bytes(bytes(raw))
    return p


def _no_raw_exception(outcome: str) -> None:
    if outcome.startswith(("signal", "hang")):
        # libhdf5 crashed, or reading hung (seen once in about 25 runs of the byte-damage
        # tests, cause not found): known limits, not an ecmsim exception
        NATIVE_CRASHES.append(outcome)
        return
    assert outcome in ("ok", "domain error"), outcome


@needs_fork
@fuzz(100)
@given(damage, st.floats(0, 1))
# found by CI: a damaged float datatype message made h5py's Dataset.dtype raise ValueError
@example([(0.27298356952425595, 64)], 1.0)
def test_batch_byte_damage(work: Path, edits: list[tuple[float, int]], cut: float) -> None:
    p = _damaged_copy(BATCH, work, edits, cut)
    _no_raw_exception(in_child(lambda: _valid_batch(read_batch(p))))
    _no_raw_exception(in_child(lambda: _run_check(p, work)))


@needs_fork
@fuzz(100)
@given(damage, st.floats(0, 1))
# found by a test loop: a damaged wall radius of ~1e308 m overflowed when turned into a diameter
@example([(0.25, 65)], 1.0)
def test_result_byte_damage(work: Path, edits: list[tuple[float, int]], cut: float) -> None:
    p = _damaged_copy(RESULT, work, edits, cut)
    _no_raw_exception(in_child(lambda: (read_result(p), load_predictions([p])) and None))


@needs_fork
@pytest.mark.xfail(strict=True, reason="libhdf5 2.0 / h5py 3.16 crash (SIGSEGV) reading a variable-length string "
                   "attribute whose datatype message is damaged; ecmsim writes text attributes as "
                   "variable-length strings")  # fmt: skip
def test_damaged_vlen_string_attribute_crashes_libhdf5(work: Path) -> None:
    raw = bytearray(BATCH.read_bytes())
    # The datatype message of the /batch@inspected_to attribute: class 9 (variable-length), then its
    # class bits (1 = string).  One damaged byte there (found by test_batch_byte_damage) crashes libhdf5.
    at = raw.find(b"inspected_to\x00\x00\x00\x00\x19")
    if at >= 0:
        raw[at + 17] = 0xCA
    p = work / "vlen.h5"
    p.write_bytes(bytes(raw))
    outcome = in_child(lambda: read_batch(p) and None)
    assert not outcome.startswith("signal"), outcome
