"""Outputs never overwrite inputs or QC store records: every command, every output option.

Each case points one output option of one command at one of the command's inputs (directly,
through a symlink or through a hard link) or at a file inside a QC store, runs the real command
line (``ecmsim.cli.main.main``) and asserts: exit 2, a message naming the option, the path and
the input or store; and the whole working folder (inputs, the store, every other file) byte for
byte as before, with no file added or removed.  A last test walks the Click tree so that an
output option added later without a case here fails.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
from reliability_helpers import run_in

from ecmsim.config import resolve_config_path

DATA = Path(__file__).resolve().parents[1] / "data"
BASE = DATA / "bad" / "base"
META = ["--batch-id", "B9", "--part-number", "P1", "--drawing-revision", "A"]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder: config, CSVs, batch, spec, result, sweep, limits and a QC store with one record."""
    from ecmsim.qc.check import run_check
    from ecmsim.qc.synth import synthesize, write_synthetic

    root = tmp_path_factory.mktemp("guard")
    (root / "cfg.toml").write_text((DATA / "minimal.toml").read_text(encoding="utf-8"), encoding="utf-8")
    write_synthetic(root, synthesize(n_parts=3, n_holes=2, n_stations=2, seed=1, faults=False))
    shutil.copyfile(BASE / "result.h5", root / "result.h5")
    (root / "sweep.h5").write_bytes(b"a sweep file: refused before it is read\n")
    (root / "limits.h5").write_bytes(b"a limits file: refused before it is read\n")
    run_check([root / "batch.h5"], root / "spec.toml", [], store=root / "store")
    shutil.copyfile(store_record(root), root / "record.h5")  # a QC results file outside the store (qc export)
    return root


@pytest.fixture
def work(template: Path, tmp_path: Path) -> Path:
    root = tmp_path / "w"
    shutil.copytree(template, root, symlinks=True)
    return root


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root``: a file's SHA-256, a symlink's target, a folder's mark."""
    out: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(folder) / name
            key = str(p.relative_to(root))
            if p.is_symlink():
                out[key] = "-> " + os.readlink(p)
            elif p.is_dir():
                out[key] = "dir"
            else:
                out[key] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def store_record(root: Path) -> Path:
    return next((root / "store" / "results").glob("*.h5"))


def store_spec(root: Path) -> Path:
    return next((root / "store" / "specs").glob("*"))


@dataclass(frozen=True)
class Command:
    """One output option of one command: argv with ``{OUT}`` for the output and its inputs by file name."""

    name: str
    option: str
    argv: list[str]
    inputs: list[str] = field(default_factory=list)


CHECK = ["qc", "check", "batch.h5", "--spec", "spec.toml", "--predictions", "result.h5", "--store", "own-store"]
SPC = ["qc", "spc", "batch.h5", "--spec", "spec.toml", "--predictions", "result.h5"]
# fmt: off
FILE_COMMANDS = [
    Command("simulate", "-o", ["simulate", "cfg.toml", "-o", "{OUT}"], ["cfg.toml"]),
    Command("sweep run", "-o", ["sweep", "cfg.toml", "--vary", "electrical.voltage_V=8,9", "-o", "{OUT}"],
            ["cfg.toml"]),
    Command("sweep run", "--csv", ["sweep", "cfg.toml", "--vary", "electrical.voltage_V=8,9", "-o", "new.h5",
                                   "--csv", "{OUT}"], ["cfg.toml"]),
    Command("sweep show", "--csv", ["sweep", "show", "sweep.h5", "--csv", "{OUT}"], ["sweep.h5"]),
    Command("calibrate", "-o", ["calibrate", "cfg.toml", "--measurements", "batch.h5@electrical.voltage_V=8",
                                "-o", "{OUT}"], ["cfg.toml", "batch.h5"]),
    Command("tune", "-o", ["tune", "cfg.toml", "--target", "diameter_mm=0.9:0.02", "-o", "{OUT}"], ["cfg.toml"]),
    Command("plot profile", "-o", ["plot", "profile", "result.h5", "--measurements", "batch.h5", "-o", "{OUT}"],
            ["result.h5", "batch.h5"]),
    Command("plot field", "-o", ["plot", "field", "result.h5", "-o", "{OUT}"], ["result.h5"]),
    Command("plot history", "-o", ["plot", "history", "result.h5", "-o", "{OUT}"], ["result.h5"]),
    Command("plot window", "-o", ["plot", "window", "sweep.h5", "-o", "{OUT}"], ["sweep.h5"]),
    Command("plot flow", "-o", ["plot", "flow", "result.h5", "-o", "{OUT}"], ["result.h5"]),
    Command("qc import", "-o", ["qc", "import", "measurements.csv", "--design", "design.csv", "--supersedes",
                                "truth.json", "-o", "{OUT}", *META],
            ["measurements.csv", "design.csv", "truth.json"]),
    Command("qc check", "--report", [*CHECK, "--report", "{OUT}"], ["batch.h5", "spec.toml", "result.h5"]),
    Command("qc check", "--json", [*CHECK, "--json", "{OUT}"], ["batch.h5", "spec.toml", "result.h5"]),
    Command("qc spc", "--report", [*SPC, "--limits", "limits.h5", "--report", "{OUT}"],
            ["batch.h5", "spec.toml", "result.h5", "limits.h5"]),
    Command("qc spc", "--json", [*SPC, "--limits", "limits.h5", "--json", "{OUT}"],
            ["batch.h5", "spec.toml", "result.h5", "limits.h5"]),
    Command("qc spc", "--freeze", [*SPC, "--freeze", "{OUT}"], ["batch.h5", "spec.toml", "result.h5"]),
    Command("qc export", "-o", ["qc", "export", "record.h5", "--format", "aqdef", "--store", "store", "-o", "{OUT}"],
            ["record.h5"]),
]
# fmt: on

#: How the output is pointed at the protected file: (id, make the path from the working folder and an input).
Target = Callable[[Path, str], Path]


def _symlink(root: Path, name: str) -> Path:
    link = root / f"link-to-{name}"
    link.symlink_to(root / name)
    return link


def _hardlink(root: Path, name: str) -> Path:
    link = root / f"hard-{name}"
    os.link(root / name, link)
    return link


def _file_cases() -> list[object]:
    cases = []
    for c in FILE_COMMANDS:
        label = f"{c.name} {c.option}"
        for name in c.inputs:
            cases.append(pytest.param(c, "input", name, id=f"{label}=input:{name}"))
        cases.append(pytest.param(c, "symlink", c.inputs[0], id=f"{label}=symlink:{c.inputs[0]}"))
        cases.append(pytest.param(c, "hardlink", c.inputs[-1], id=f"{label}=hardlink:{c.inputs[-1]}"))
        cases.append(pytest.param(c, "store-record", "", id=f"{label}=store-record"))
        cases.append(pytest.param(c, "store-spec", "", id=f"{label}=store-spec"))
        cases.append(pytest.param(c, "store-new", "", id=f"{label}=new-file-in-store"))
    return cases


def _target(root: Path, how: str, name: str) -> tuple[Path, str]:
    """The output path and the fragment the message must hold."""
    if how == "input":
        return root / name, "would overwrite the input"
    if how == "symlink":
        return _symlink(root, name), "would overwrite the input"
    if how == "hardlink":
        return _hardlink(root, name), "would overwrite the input"
    if how == "store-record":
        return store_record(root), "inside the QC store"
    if how == "store-spec":
        return store_spec(root), "inside the QC store"
    return root / "store" / "results" / "new.out", "inside the QC store"


def assert_refused(root: Path, argv: list[str], needles: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(root)
    code, _, err = run_in(root, argv, capsys)
    assert code == 2, (code, err)
    assert err.startswith("error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    assert snapshot(root) == before  # inputs and store byte-identical, nothing written or removed


@pytest.mark.parametrize(("command", "how", "name"), _file_cases())
def test_output_onto_an_input_or_into_a_store_is_refused(
    work: Path, command: Command, how: str, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out, why = _target(work, how, name)
    argv = [str(out) if a == "{OUT}" else a for a in command.argv]
    needles = [command.option, str(out), why]
    if why.startswith("would"):
        needles.append(name)
    assert_refused(work, argv, needles, capsys)


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        pytest.param(["qc", "synth", "-o", "store"], ["-o store", "inside the QC store"], id="qc synth -o=store"),
        pytest.param(["qc", "synth", "-o", "store/results"], ["inside the QC store"], id="qc synth -o=store/results"),
        pytest.param(
            ["qc", "synth", "-o", ".", "--prediction", "batch.h5"],
            ["-o batch.h5", "--prediction batch.h5"],
            id="qc synth -o=input:--prediction",
        ),
        pytest.param(["demo", "-o", "store"], ["-o store", "inside the QC store"], id="demo -o=store"),
        pytest.param(["demo", "-o", "store/specs"], ["inside the QC store"], id="demo -o=store/specs"),
    ],
)
def test_output_folder_in_a_store_or_over_an_input_is_refused(
    work: Path, argv: list[str], needles: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert_refused(work, argv, needles, capsys)


def test_output_into_the_commands_own_store_is_refused_before_the_store_exists(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["qc", "check", "batch.h5", "--spec", "spec.toml", "--store", "fresh", "--report", "fresh/report.html"]
    assert_refused(work, argv, ["--report fresh/report.html", "inside the QC store fresh"], capsys)
    assert not (work / "fresh").exists()


def test_bundled_example_and_config_data_files_are_inputs(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    example = resolve_config_path("example:stem-in718")
    digest = hashlib.sha256(example.read_bytes()).hexdigest()
    assert_refused(work, ["simulate", "example:stem-in718", "-o", str(example)], ["CONFIG example:stem-in718"], capsys)
    assert hashlib.sha256(example.read_bytes()).hexdigest() == digest
    text = (work / "cfg.toml").read_text(encoding="utf-8")
    (work / "extra.toml").write_text("# extra alloys\n", encoding="utf-8")
    (work / "data-cfg.toml").write_text(text + '\n[data]\nfiles = ["extra.toml"]\n', encoding="utf-8")
    assert_refused(work, ["sweep", "data-cfg.toml", "--vary", "electrical.voltage_V=8,9", "-o", "extra.toml"],
                   ["-o extra.toml", "[data] files", "extra.toml"], capsys)  # fmt: skip


def test_two_outputs_naming_one_file_are_refused(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*CHECK, "--report", "same.out", "--json", "same.out"]
    assert_refused(work, argv, ["--report same.out and --json same.out name the same file"], capsys)


#: Output options of every command (Click parameter names), and the commands that write no file.
OUTPUT_PARAMS = {"output", "output_dir", "report", "json_out", "freeze", "csv_out"}
COVERED = {(c.name, c.option) for c in FILE_COMMANDS} | {("qc synth", "-o"), ("demo", "-o")}
NO_FILE_OUTPUT = {
    "config validate", "config show", "config examples", "materials list", "materials show",
    "materials electrolytes", "qc trace", "qc verify", "qc history",
}  # fmt: skip


def _leaves(cmd: click.Command, prefix: str = "") -> list[tuple[str, click.Command]]:
    if isinstance(cmd, click.Group):
        return [leaf for name, sub in cmd.commands.items() for leaf in _leaves(sub, f"{prefix} {name}".strip())]
    return [(prefix, cmd)]


def test_every_output_option_of_every_command_has_a_case() -> None:
    """A new command or output option needs a case above (and a call of ``refuse_unsafe_outputs``)."""
    from ecmsim.cli.main import cli

    found, silent = set(), set()
    for name, cmd in _leaves(cli):
        outs = [p for p in cmd.params if isinstance(p, click.Option) and p.name in OUTPUT_PARAMS]
        paths = [p for p in cmd.params if isinstance(p.type, click.Path) and p.name not in OUTPUT_PARAMS]
        suspicious = [p.name for p in paths if any(w in (p.name or "") for w in ("out", "report", "export", "dest"))]
        assert not suspicious, f"{name}: {suspicious} look like outputs; add them to OUTPUT_PARAMS and a case"
        for p in outs:
            if isinstance(p.type, click.Path) or p.name == "json_out":
                found.add((name, "-o" if p.name in ("output", "output_dir") else f"--{p.name.split('_')[0]}"))
        if not outs or all(p.is_flag for p in outs):
            silent.add(name)
    assert found == COVERED, (found - COVERED, COVERED - found)
    assert silent == NO_FILE_OUTPUT, (silent - NO_FILE_OUTPUT, NO_FILE_OUTPUT - silent)
