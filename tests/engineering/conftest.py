"""Fixtures of the process-engineering tests: a small, fast STEM config and the CLI boundary."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecmsim.testing import FAST_STEM_TOML


@pytest.fixture
def fast_config(tmp_path: Path) -> Path:
    p = tmp_path / "fast.toml"
    p.write_text(FAST_STEM_TOML, encoding="utf-8")
    return p


@pytest.fixture
def run_main(capsys: pytest.CaptureFixture[str]):
    """Run ``ecmsim ARGS`` through the real error boundary; return (exit code, stdout, stderr)."""
    from ecmsim.cli.calibrate_cmd import calibrate_command
    from ecmsim.cli.main import cli, main
    from ecmsim.cli.plot_cmd import plot_group
    from ecmsim.cli.sweep_cmd import sweep_command
    from ecmsim.cli.tune_cmd import tune_command

    for cmd in (sweep_command, tune_command, calibrate_command, plot_group):
        if cmd.name not in cli.commands:
            cli.add_command(cmd)

    def run(args: list[str]) -> tuple[int, str, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            main([str(a) for a in args])
        out = capsys.readouterr()
        return int(exc.value.code or 0), out.out, out.err

    return run
