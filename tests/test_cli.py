"""The command line: help, exit codes, messages without tracebacks, JSON output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ecmsim.cli.main import cli, main


def run(args: list[str]) -> tuple[int, str, str]:
    """Run the real entry point (with its error boundary) in-process."""
    proc = subprocess.run(
        [sys.executable, "-c", "from ecmsim.cli.main import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, proc.stdout, proc.stderr


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out += all_commands(cmd, (*prefix, name))
        else:
            out.append((*prefix, name))
    return out


@pytest.mark.parametrize("path", all_commands(cli), ids=lambda p: " ".join(p) or "ecmsim")
def test_help_of_every_command(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys; from ecmsim.cli.main import cli; "
        "heavy = [m for m in ('numpy', 'numba', 'scipy', 'h5py') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_config_validate_ok_and_error_exit_codes(minimal_config: Path, tmp_path: Path) -> None:
    code, out, err = run(["config", "validate", str(minimal_config)])
    assert code == 0 and "valid" in out
    bad = tmp_path / "bad.toml"
    bad.write_text(minimal_config.read_text().replace("[motion]", "[motion]\nfeed_mm_per_min = 2"))
    code, out, err = run(["config", "validate", str(bad)])
    assert code == 2
    assert "Traceback" not in err
    assert "bad.toml" in err and "feed_mm_per_min" in err and "did you mean" in err
    assert len(err.strip().splitlines()) == 1  # one paragraph


def test_verbose_shows_traceback(tmp_path: Path) -> None:
    code, _, err = run(["-v", "config", "validate", str(tmp_path / "missing.toml")])
    assert code == 2 and "Traceback" in err and "not found" in err


def test_config_show_json_marks_defaults_and_derived(minimal_config: Path) -> None:
    code, out, _ = run(["config", "show", str(minimal_config), "--json", "--set", "electrical.voltage_V=10"])
    assert code == 0
    data = json.loads(out)
    assert data["config"]["electrical"]["voltage_V"] == {"value": 10.0, "unit": "V", "default": False}
    assert data["config"]["electrolyte"]["temperature_C"]["default"] is True
    d = data["derived"]
    assert d["equilibrium_frontal_gap"]["unit"] == "mm" and d["equilibrium_frontal_gap"]["value"] > 0
    assert 0.02 < d["electrochemical_equivalent"]["value"] < 0.035


def test_set_option_rejects_malformed_value(minimal_config: Path) -> None:
    code, _, err = run(["config", "show", str(minimal_config), "--set", "voltage"])
    assert code == 2 and "table.key=value" in err and "Traceback" not in err


def test_materials_list_and_show_json() -> None:
    code, out, _ = run(["materials", "list"])
    assert code == 0 and "inconel-718" in out and "stellite-6" in out
    code, out, _ = run(["materials", "show", "IN718", "--json"])
    rec = json.loads(out)
    assert rec["key"] == "inconel-718"
    low = rec["electrochemical_equivalent"]["low"]
    assert low["mm3_per_A_min"] == pytest.approx(60 * low["mm3_per_C"])
    code, _, err = run(["materials", "show", "unobtainium"])
    assert code == 2 and "unknown alloy" in err


def test_main_maps_domain_error_to_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ex:
        main(["config", "validate", str(tmp_path / "none.toml")])
    assert ex.value.code == 2
    assert "config file not found" in capsys.readouterr().err


def test_simulate_json_and_result_file(tmp_path: Path) -> None:
    out = tmp_path / "hole.h5"
    code, stdout, err = run([
        "simulate", "example:stem-in718", "--json", "-o", str(out),
        "--set", "motion.depth_mm=0.3", "--set", "numerics.cell_size_mm=0.02",
    ])  # fmt: skip
    assert code == 0, err
    data = json.loads(stdout)
    for key in (
        "status",
        "depth_mm",
        "entry_diameter_mm",
        "exit_diameter_mm",
        "min_diameter_mm",
        "max_diameter_mm",
        "taper_deg",
        "side_gap_mm",
        "frontal_gap_mm",
        "machining_time_s",
        "charge_C",
        "removed_volume_mm3",
        "peak_current_A",
    ):
        assert key in data, key
    assert data["status"] == "completed" and data["exit_diameter_mm"] is None
    assert data["entry_diameter_mm"] > 0.8  # wider than the tool
    assert out.exists() and data["output"] == str(out)


def test_simulate_bad_config_writes_nothing(tmp_path: Path, minimal_config: Path) -> None:
    out = tmp_path / "never.h5"
    before = minimal_config.read_bytes()
    code, _, err = run(["simulate", str(minimal_config), "-o", str(out), "--set", "tool.inner_diameter_mm=2"])
    assert code == 2 and "inner_diameter_mm" in err and "Traceback" not in err
    assert not out.exists()
    assert minimal_config.read_bytes() == before
