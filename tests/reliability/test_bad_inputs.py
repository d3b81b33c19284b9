"""The catalogue of bad inputs: each one fails cleanly and damages nothing.

One row per entry of the corpus under ``tests/data/bad/`` (configs, CSV files,
specs, damaged HDF5 files; the HDF5 ones are rebuilt by
``tests/data/make_bad_corpus.py``).  Each row runs the real command line in a
fresh process, in a folder of its own holding copies of its inputs, and checks:

* the documented exit code;
* a one-paragraph message on stderr (``error: ...``, no traceback, no blank
  line) that contains the given fragments: the file name and the key, row or
  dataset at fault;
* nothing on stdout and no output at all: after the run the folder holds
  exactly the files it held before (so no partial output, no temporary file,
  no store folder), and pre-existing output targets are byte-identical;
* every input unchanged (SHA-256 before and after, and equal to the
  committed corpus file).

``docs/reliability.md`` lists the catalogue with the messages.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import pytest

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bad"
CLI = [sys.executable, "-c", "from ecmsim.cli.main import main; main()"]
IMPORT_META = ("--batch-id", "B1", "--part-number", "P1", "--drawing-revision", "A")
CHECK_OUT = ("--store", "%store", "--report", "%report.html", "--json", "%out.json")
PREVIOUS = b"previous output: must survive a failed run byte for byte\n"


@dataclass(frozen=True)
class Case:
    """One catalogue entry.

    ``args`` tokens: ``@rel`` an input copied from the corpus (hashed before
    and after), ``%name`` an output path in ``out/`` that must not appear,
    ``!store:rel`` a QC store whose ``results/`` holds the corpus file ``rel``.
    ``existing`` outputs are created (``out/NAME``) before the run and must
    be byte-identical after it.
    """

    id: str
    args: tuple[str, ...]
    code: int
    fragments: tuple[str, ...]
    existing: tuple[str, ...] = ()
    xfail: str = ""
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


def _config(name: str, *fragments: str, xfail: str = "") -> Case:
    return Case(f"config-{name}", ("config", "validate", f"@configs/{name}.toml"), 2,
                (f"{name}.toml", *fragments), xfail=xfail)  # fmt: skip


def _csv(name: str, *fragments: str) -> Case:
    return Case(f"csv-{name}", ("qc", "import", f"@csv/{name}.csv", "--design", "@csv/design.csv",
                                "-o", "%batch.h5", *IMPORT_META), 2, (f"{name}.csv", *fragments))  # fmt: skip


def _design(name: str, *fragments: str) -> Case:
    return Case(f"csv-{name}", ("qc", "import", "@csv/measurements.csv", "--design", f"@csv/{name}.csv",
                                "-o", "%batch.h5", *IMPORT_META), 2, (f"{name}.csv", *fragments))  # fmt: skip


def _spec(name: str, *fragments: str) -> Case:
    return Case(f"spec-{name}", ("qc", "check", "@base/batch.h5", "--spec", f"@specs/{name}.toml", *CHECK_OUT), 2,
                (f"{name}.toml", *fragments))  # fmt: skip


def _batch(name: str, *fragments: str, existing: tuple[str, ...] = ()) -> Case:
    return Case(f"h5-{name}", ("qc", "check", f"@h5/{name}.h5", "--spec", "@base/spec.toml", *CHECK_OUT), 2,
                (f"{name}.h5", *fragments), existing=existing)  # fmt: skip


def _prediction(name: str, *fragments: str) -> Case:
    return Case(f"h5-{name}", ("qc", "check", "@base/batch.h5", "--spec", "@base/spec.toml", "--predictions",
                               f"@h5/{name}.h5", *CHECK_OUT), 2, (f"{name}.h5", *fragments))  # fmt: skip


def _store(name: str, *fragments: str) -> Case:
    """A damaged QC results file, read by the command that reads one directly (``qc export``)."""
    return Case(f"h5-{name}", ("qc", "export", f"@h5/{name}.h5", "--format", "aqdef", "-o", "%x.dfq"), 2,
                (f"{name}.h5", *fragments))  # fmt: skip


CASES: list[Case] = [
    # ------------------------------------------------------------------ process configs
    _config("syntax_error", "TOML syntax error", "line 3"),
    _config("not_utf8", "not UTF-8"),
    _config("binary", "not UTF-8"),
    _config("empty", "missing table [workpiece]"),
    _config("unknown_table", "unknown table [tol]", "did you mean 'tool'"),
    _config("unknown_key", "unknown key 'voltge_V' in [electrical]", "did you mean 'voltage_V'"),
    _config("wrong_type_string", "[electrical] voltage_V = '8 V'", "expected a number"),
    _config("wrong_type_bool", "[motion] depth_mm = True", "expected a number"),
    _config("wrong_type_table", "[tool] must be a table"),
    _config("unknown_choice", "[workpiece] valence_set = 'medium'", "'low', 'high'"),
    _config("negative_size", "[tool] outer_diameter_mm = -1.0", ">= 0.05"),
    _config("zero_size", "[motion] depth_mm = 0", "> 0"),
    _config("zero_cell_size", "[numerics] cell_size_mm = 0.0", ">= 0.0005"),
    _config("nan_value", "[electrical] voltage_V = nan"),
    _config("inf_value", "[motion] feed_rate_mm_per_min = inf"),
    _config("missing_key", "[motion] depth_mm (mm) is required"),
    _config("missing_table", "missing table [tool]"),
    _config("bore_too_large", "[tool] inner_diameter_mm = 1.2", "outer_diameter_mm = 1.0"),
    _config("coating_too_thick", "[tool] coating_thickness_mm = 0.6", "tool radius"),
    _config("depth_beyond_plate", "[motion] depth_mm = 2.0", "thickness_mm = 1.5"),
    _config("cell_too_coarse", "[numerics] cell_size_mm = 0.2", "tube wall"),
    _config("overpotential_above_voltage", "[electrical] overpotential_V = 2.5", "voltage_V = 2.0"),
    _config("pulse_unpaired", "pulse_on_ms and pulse_off_ms must be given together"),
    _config("unknown_alloy", "[workpiece] alloy", "'Unobtainium 9'"),
    _config("huge_integer", "[motion] depth_mm"),
    _config("valence_infinite", "[workpiece] valences"),
    _config("valence_huge", "[workpiece] valences", "1e+300", "<= 8"),
    _config("pulse_duty_near_zero", "[electrical] pulse_on_ms = 0.001 ms", "duty cycle of 1e-09", "at least 0.001"),
    _config("pulse_too_short", "[electrical] pulse_on_ms = 1e-09 ms", ">= 0.001"),
    _config("solver_tolerance_tiny", "[numerics] solver_tolerance = 1e-300", ">= 1e-13"),
    _config("steady_tolerance_zero", "[numerics] steady_tolerance_mm = 0.0", "> 0 and <= 0.01"),
    _config("deeply_nested", "TOML nested too deeply"),
    Case("config-device-file", ("config", "validate", "/dev/zero"), 2, ("/dev/zero", "not a regular file")),
    Case("simulate-device-file", ("simulate", "/dev/zero", "-o", "%hole.h5"), 2,
         ("CONFIG /dev/zero", "not a regular file")),
    Case("simulate-pulse-duty-near-zero", ("simulate", "@configs/pulse_duty_near_zero.toml", "-o", "%hole.h5"), 2,
         ("pulse_duty_near_zero.toml", "duty cycle")),
    Case("simulate-valence-huge", ("simulate", "@configs/valence_huge.toml", "-o", "%hole.h5"), 2,
         ("valence_huge.toml", "[workpiece] valences")),
    Case("simulate-bad-config-keeps-existing-output",
         ("simulate", "@configs/bore_too_large.toml", "-o", "%hole.h5"), 2,
         ("bore_too_large.toml", "inner_diameter_mm"), existing=("hole.h5",)),
    Case("simulate-syntax-error-default-output", ("simulate", "@configs/syntax_error.toml"), 2,
         ("syntax_error.toml", "TOML syntax error")),
    Case("simulate-unknown-override", ("simulate", "example:stem-in718", "--set", "electrical.voltge_V=9",
                                       "-o", "%hole.h5"), 2, ("--set", "voltge_V", "did you mean 'voltage_V'")),
    Case("simulate-huge-integer", ("simulate", "@configs/huge_integer.toml", "-o", "%hole.h5"), 2,
         ("huge_integer.toml", "[motion] depth_mm")),
    # machine control: current-controlled supply, servo feed
    _config("current_control_no_current", '[electrical] control = "current" needs current_A'),
    _config("current_control_no_max_voltage", '[electrical] control = "current" needs max_voltage_V'),
    _config("max_voltage_below_overpotential", "[electrical] max_voltage_V = 2.0 V", "overpotential_V = 2.5 V"),
    _config("servo_no_target", '[motion] feed_control = "servo" needs servo_target'),
    _config("servo_target_value_missing", '[motion] servo_target = "frontal_gap" needs target_frontal_gap_mm'),
    _config("servo_no_max_feed", '[motion] feed_control = "servo" needs max_feed_rate_mm_per_min'),
    _config("servo_min_above_max", "min_feed_rate_mm_per_min = 3.0 mm/min", "max_feed_rate_mm_per_min = 2.0 mm/min"),
    _config("servo_start_outside_limits", "feed_rate_mm_per_min = 1.5 mm/min", "[2, 4] mm/min"),
    _config("servo_current_with_current_control", 'servo_target = "current"', "already holds the current"),
    _config("servo_gap_under_two_cells", "target_frontal_gap_mm = 0.015 mm", "under two cells"),
    Case("simulate-equilibrium-current-control",
         ("simulate", "@configs/current_control.toml", "--equilibrium", "-o", "%hole.h5"), 2,
         ("current_control.toml", "equilibrium mode", 'control = "voltage"')),
    # ------------------------------------------------------------------ CSV: measurements
    _csv("bad_number", "bad_number.csv:5", "expected 10 fields, found 11", "decimal"),
    _csv("negative_diameter", "negative_diameter.csv:7", "diameter_mm = '-0.9957'", "must be > 0"),
    _csv("nan_diameter", "nan_diameter.csv:4", "diameter_mm = 'nan'", "finite"),
    _csv("inf_position", "inf_position.csv:6", "x_dev_mm = 'inf'", "finite"),
    _csv("short_row", "short_row.csv:8", "expected 10 fields, found 9"),
    _csv("unknown_hole", "unknown_hole.csv:9", "hole_id 'H02'", "did you mean 'H002'"),
    _csv("duplicate_row", "duplicate_row.csv:7", "duplicate measurement", "first on line 4"),
    _csv("long_serial", "long_serial.csv:6", "38 characters long", "at most 32"),
    _csv("bad_serial", "bad_serial.csv:6", "serial = 'SN01 00002'", "letters, digits"),
    _csv("station_not_in_design", "station_not_in_design.csv:3", "2.5 is not a station of hole H001"),
    _csv("station_too_deep", "station_too_deep.csv:3", "deeper than hole H001"),
    _csv("depth_contradiction", "depth_contradiction.csv:3", "contradicts line 2"),
    _csv("bad_timestamp", "bad_timestamp.csv:8", "measured_at = '04/03/2024 08:06'", "ISO 8601"),
    _csv("timestamp_out_of_range", "timestamp_out_of_range.csv:2", "measured_at", "ISO 8601"),
    _csv("xy_unpaired", "xy_unpaired.csv:2", "x_dev_mm and y_dev_mm must be given together"),
    _csv("missing_column", "missing_column.csv:1", "missing required column diameter_mm"),
    _csv("unknown_column", "unknown_column.csv:1", "unknown column 'diametre_mm'", "did you mean 'diameter_mm'"),
    _csv("wrong_delimiter", "wrong_delimiter.csv:1", "separated by semicolons", "--delimiter ';'"),
    _csv("unclosed_quote", "unclosed_quote.csv:9", "malformed CSV"),
    _csv("stray_carriage_return", "stray_carriage_return.csv:5", "carriage return", "quote the field"),
    _csv("header_only", "no data rows"),
    _csv("blank_header", "no header row"),
    _csv("empty", "the file is empty"),
    _csv("latin1", "latin1.csv:4", "not utf-8 text", "--encoding"),
    _csv("utf16", "utf16.csv:1", "not utf-8 text"),
    _csv("digit_separator", "digit_separator.csv:4", "diameter_mm = '1_0' is not a number"),
    _csv("year_2999", "year_2999.csv:6", "measured_at = '2999-03-04T08:06:00Z' is implausible", "in the future"),
    _csv("diameter_huge", "diameter_huge.csv:8", "diameter_mm = '1e30' is implausible", "nominal 1 mm"),
    _csv("diameter_in_microns", "diameter_in_microns.csv:3", "diameter_mm = '994.3' is implausible", "unit"),
    # ------------------------------------------------------------------ CSV: design
    _design("design_duplicate_hole", "design_duplicate_hole.csv:4", "'H001' already defined on line 2"),
    _design("design_negative_diameter", "design_negative_diameter.csv:3", "nominal_diameter_mm = '-1.0'"),
    _design("design_missing_column", "design_missing_column.csv:1", "missing required column depth_mm"),
    _design("design_bad_hole_id", "design_bad_hole_id.csv:3", "hole_id = 'H 002'"),
    _design("design_station_too_deep", "design_station_too_deep.csv:2", "station 3.7 mm is deeper"),
    # ------------------------------------------------------------------ CSV: command line and outputs
    Case("import-existing-output",
         ("qc", "import", "@csv/measurements.csv", "--design", "@csv/design.csv", "-o", "%batch.h5", *IMPORT_META),
         4, ("batch.h5", "never overwritten", "--supersedes"), existing=("batch.h5",)),
    Case("import-output-is-input",
         ("qc", "import", "@csv/measurements.csv", "--design", "@csv/design.csv", "-o", "@csv/measurements.csv",
          *IMPORT_META), 2, ("measurements.csv", "would overwrite the input")),
    Case("import-unknown-encoding",
         ("qc", "import", "@csv/measurements.csv", "--design", "@csv/design.csv", "-o", "%batch.h5",
          "--encoding", "klingon", *IMPORT_META), 2, ("design.csv", "unknown encoding 'klingon'", "--encoding")),
    Case("import-negative-uncertainty",
         ("qc", "import", "@csv/measurements.csv", "--design", "@csv/design.csv", "-o", "%batch.h5",
          "--uncertainty-mm", "-1", *IMPORT_META), 2, ("--uncertainty-mm -1.0", "≥ 0")),
    Case("import-infinite-uncertainty",
         ("qc", "import", "@csv/measurements.csv", "--design", "@csv/design.csv", "-o", "%batch.h5",
          "--uncertainty-mm", "inf", *IMPORT_META), 2, ("--uncertainty-mm inf", "finite")),
    Case("import-device-file",
         ("qc", "import", "/dev/zero", "--design", "@csv/design.csv", "-o", "%batch.h5", *IMPORT_META), 2,
         ("/dev/zero", "not a regular file")),
    Case("synth-existing-batch", ("qc", "synth", "-o", "%syn", "--parts", "3", "--holes", "2", "--stations", "2",
                                  "--no-faults"), 4, ("batch.h5", "never overwritten"), existing=("syn/batch.h5",)),
    Case("synth-bad-arguments-make-no-folder", ("qc", "synth", "-o", "%syn", "--parts", "3"), 2,
         ("at least 10 parts",)),
    Case("import-bad-delimiter-option",
         ("qc", "import", "@csv/measurements.csv", "--design", "@csv/design.csv", "-o", "%batch.h5",
          "--delimiter", ";;", *IMPORT_META), 2, ("--delimiter", "one character")),
    # ------------------------------------------------------------------ tolerance specs
    _spec("crossed_limits", "[[tolerance]] #1 (diameter)", "lower_mm = 0.06 must be < upper_mm = 0.05"),
    _spec("crossed_min_max", "[[tolerance]] #1 (diameter)", "min_mm = 1.05 must be < max_mm = 0.95"),
    _spec("crossed_after_nominal", "[[tolerance]] #1 (diameter)", "crossed limits for hole 'H001'"),
    _spec("empty_limits", "[[tolerance]] #1 (diameter)", "crossed or empty limits"),
    _spec("unknown_characteristic", "characteristic = 'diametre'", "did you mean 'diameter'"),
    _spec("unknown_key", "unknown key 'uper_mm'", "did you mean 'upper_mm'"),
    _spec("unknown_table", "unknown table [decisions]", "did you mean 'decision'"),
    _spec("unknown_rule", "[decision] rule = 'guard-banded'", "did you mean 'guarded'"),
    _spec("no_tolerance", "no [[tolerance]] entries"),
    _spec("unknown_hole", "hole 'H999' is not in the design"),
    _spec("unknown_group", "group 'Z' is not in the design"),
    _spec("unknown_station", "station 1.5 mm is not a station of the design"),
    _spec("position_lower", "[[tolerance]] #1 (position)", "only max_mm"),
    _spec("negative_uncertainty", "uncertainty_mm = -0.002", "≥ 0"),
    _spec("wrong_type", "upper_mm = '0.05'", "must be a finite number"),
    _spec("nan_limit", "upper_mm = nan", "must be a finite number"),
    _spec("taper_without_nominal", "[[tolerance]] #1 (taper)", "need nominal_deg"),
    _spec("wrong_part_number", "batch.h5", "part number 'SYN-NGV-01'", "'NGV-9999'"),
    _spec("syntax_error", "not valid TOML", "line 13"),
    _spec("not_utf8", "not UTF-8 text"),
    # ------------------------------------------------------------------ inspection batch files
    _batch("batch_not_hdf5", "not a readable HDF5 file", "signature not found"),
    _batch("batch_truncated", "not a readable HDF5 file", "truncated file"),
    _batch("batch_missing_dataset", "missing dataset /measurements/diameter"),
    _batch("batch_wrong_shape", "/measurements/diameter has shape (3, 2), expected (3, 2, 2)"),
    _batch("batch_wrong_dtype", "/measurements/diameter holds |S8 values", "floating-point"),
    _batch("batch_nan_nominal", "/design/nominal_diameter of hole H002 = nan mm", "finite number > 0"),
    _batch("batch_inf_diameter", "/measurements/diameter of part SN01-00002, hole H001, station 2.7 mm = inf mm"),
    _batch("batch_negative_diameter", "/measurements/diameter of part SN01-00003, hole H002, station 0.3 mm",
           "-1.0043 mm", "> 0", existing=("report.html", "out.json")),
    _batch("batch_wrong_units", "/measurements/diameter has units 'in', expected units 'mm'"),
    _batch("batch_missing_units", "/measurements/depth has no units attribute, expected units 'mm'"),
    _batch("batch_duplicate_serial", "/parts/serial", "'SN01-00001' occurs more than once"),
    _batch("batch_long_serial", "/parts/serial[1]", "38 characters long; at most 32"),
    _batch("batch_external_link", "refused", "/measurements/diameter is an external link"),
    _batch("batch_virtual_dataset", "refused", "/measurements/diameter is a virtual dataset reading other_batch.h5"),
    _batch("batch_damaged_chunk", "damaged data in /measurements/diameter", "SN01-00001"),
    Case("h5-result-as-batch", ("qc", "check", "@base/result.h5", "--spec", "@base/spec.toml", *CHECK_OUT), 2,
         ("result.h5", "not an ecmsim inspection batch", "ecmsim-simulation-result")),
    # ------------------------------------------------------------------ simulation results as predictions
    _prediction("result_empty", "not a readable HDF5 file"),
    _prediction("result_truncated", "not a readable HDF5 file", "truncated file"),
    _prediction("result_missing_dataset", "missing dataset /profile/wall_radius"),
    _prediction("result_wrong_units", "/profile/depth has units 'mm', expected units 'm'"),
    _prediction("result_negative_radius", "/profile/wall_radius", "must be a finite number ≥ 0"),
    _prediction("result_bad_json", "/config_json is not valid JSON"),
    _prediction("result_external_link", "refused", "/profile/wall_radius is an external link"),
    _prediction("result_no_wall", "the simulated profile has no hole wall"),
    Case("h5-batch-as-prediction", ("qc", "check", "@base/batch.h5", "--spec", "@base/spec.toml", "--predictions",
                                    "@base/batch.h5", *CHECK_OUT), 2,
         ("batch.h5", "not an ecmsim simulation result")),
    # ------------------------------------------------------------------ QC store
    _store("store_truncated", "not a readable HDF5 file"),
    _store("store_not_hdf5", "not a readable HDF5 file"),
    _store("store_missing_dataset", "missing dataset /parts/serial"),
    Case("trace-not-a-store", ("qc", "trace", "SN01-00001", "--store", "%nostore"), 2,
         ("nostore", "no QC store here")),
]  # fmt: skip


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones included) with its SHA-256."""
    return {str(p.relative_to(folder)): sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def prepare(case: Case, work: Path) -> tuple[list[str], dict[str, str]]:
    """Copy the inputs of ``case`` into ``work``; return the argument list and the inputs' hashes."""
    args: list[str] = []
    inputs: dict[str, str] = {}
    (work / "out").mkdir(parents=True)
    for name in case.existing:
        target = work / "out" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(PREVIOUS)
    for a in case.args:
        if a.startswith("@"):
            src = CORPUS / a[1:]
            dest = work / "in" / a[1:]
            if not dest.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest)
                inputs[str(dest)] = sha256(src)
            args.append(str(dest))
        elif a.startswith("%"):
            args.append(str(work / "out" / a[1:]))
        elif a.startswith("!store:"):
            src = CORPUS / a[len("!store:") :]
            dest = work / "in" / "store" / "results" / src.name
            dest.parent.mkdir(parents=True)
            shutil.copyfile(src, dest)
            inputs[str(dest)] = sha256(src)
            args.append(str(work / "in" / "store"))
        else:
            args.append(a)
    return args, inputs


def run_case(case: Case, work: Path) -> dict[str, Any]:
    args, inputs = prepare(case, work)
    before = snapshot(work)
    proc = subprocess.run([*CLI, *args], cwd=work / "out", capture_output=True, text=True, timeout=300)
    return {"proc": proc, "inputs": inputs, "before": before, "after": snapshot(work)}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Run every catalogue entry (a few at a time: each is a fresh interpreter)."""
    root = tmp_path_factory.mktemp("bad-inputs")
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {c.id: pool.submit(run_case, c, root / c.id) for c in CASES}
        return {k: f.result() for k, f in futures.items()}


def _param(c: Case) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else []
    return pytest.param(c, id=c.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input_fails_cleanly(case: Case, outcomes: dict[str, dict[str, Any]]) -> None:
    got = outcomes[case.id]
    proc = got["proc"]
    err = proc.stderr
    assert proc.returncode == case.code, f"exit {proc.returncode}, expected {case.code}:\n{err}"
    assert "Traceback" not in err and "internal error" not in err, err
    assert err.startswith("error: ") and err.endswith("\n"), err
    assert "\n\n" not in err.strip(), f"not one paragraph:\n{err}"
    for frag in case.fragments:
        assert frag in err, f"{frag!r} not in:\n{err}"
    assert proc.stdout == "", proc.stdout
    # no output, no temporary file, no store folder; existing targets byte-identical
    assert got["after"] == got["before"], sorted(set(got["after"].items()) ^ set(got["before"].items()))
    # inputs unchanged, and equal to the committed corpus files
    for path, digest in got["inputs"].items():
        assert sha256(Path(path)) == digest, path


def test_every_corpus_file_is_in_the_catalogue() -> None:
    used = {a.split(":", 1)[-1].lstrip("@") for c in CASES for a in c.args if a[:1] in "@!"}
    corpus = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*") if p.is_file()}
    assert corpus - used == set()
    assert used - corpus == set()


def test_corpus_is_small() -> None:
    assert sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file()) < 2 * 1024 * 1024


# ---------------------------------------------------------------------- the generator
def structure(path: Path) -> Any:
    """What makes a corpus file what it is, without values that change on every run (times, noise)."""
    raw = path.read_bytes()
    try:
        f = h5py.File(path, "r")
    except OSError:
        return ("not readable as HDF5", raw[:8], len(raw) > 0)
    keep = ("units", "schema", "schema_version")
    items: list[Any] = [("/", sorted(f.attrs), [(k, str(f.attrs[k])) for k in keep if k in f.attrs])]

    def visit(name: str) -> None:
        link = f.get(name, getlink=True)
        if isinstance(link, h5py.ExternalLink | h5py.SoftLink):
            items.append((name, type(link).__name__, getattr(link, "filename", ""), link.path))
            return
        obj = f[name]
        row: list[Any] = [name, type(obj).__name__, sorted(k for k in obj.attrs if k != "REFERENCE_LIST")]
        row.append([(k, str(obj.attrs[k])) for k in keep if k in obj.attrs])
        if isinstance(obj, h5py.Dataset):
            row += [obj.shape, str(obj.dtype), obj.is_virtual]
        items.append(tuple(row))

    with f:
        f.visit_links(visit)
    return items


def test_generator_reproduces_the_corpus_structure(tmp_path: Path) -> None:
    sys.path.insert(0, str(CORPUS.parent))
    try:
        import make_bad_corpus
    finally:
        sys.path.remove(str(CORPUS.parent))
    files = make_bad_corpus.build(tmp_path)
    assert files
    for new in files:
        rel = new.relative_to(tmp_path)
        committed = CORPUS / rel
        assert committed.exists(), f"{rel}: generated but not committed (run tests/data/make_bad_corpus.py)"
        assert structure(new) == structure(committed), f"{rel}: structure differs; regenerate the corpus"
        if new.suffix != ".h5":
            continue
        if "damaged_chunk" in new.name:  # the damage itself is part of the structure
            assert len(new.read_bytes()) == len(committed.read_bytes())
