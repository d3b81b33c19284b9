"""Warnings where a conformity decision would surprise: sparse measurements accepted under
``missing = "ignore"``, a guard band as wide as the tolerance, zero uncertainty under the guarded rule."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ecmsim.qc.synth import synthesize, write_synthetic


def _check(batch: Path, spec: Path, tmp: Path) -> tuple[int, dict, str]:
    from ecmsim.cli.qc_cmd import check_command

    tmp.mkdir(exist_ok=True)
    out = tmp / "check.json"
    report = tmp / "report.html"
    res = CliRunner().invoke(
        check_command, [str(batch), "--spec", str(spec), "--json", str(out), "--report", str(report),
                        "--store", str(tmp / "store")]
    )  # fmt: skip
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res.exit_code, json.loads(out.read_text()), res.output + report.read_text(encoding="utf-8")


@pytest.fixture
def clean(tmp_path: Path) -> dict[str, Path]:
    s = synthesize(12, seed=5, faults=False)
    s.batch.diameter[3, 1:, :] = np.nan  # part 4: one hole of 30 measured, no positions, no depths
    s.batch.x_dev[3] = np.nan
    s.batch.y_dev[3] = np.nan
    s.batch.depth[3] = np.nan
    return write_synthetic(tmp_path, s, csv=False)


def _spec(clean: dict[str, Path], tmp: Path, old: str, new: str) -> Path:
    text = clean["spec"].read_text()
    assert old in text
    p = tmp / "spec2.toml"
    p.write_text(text.replace(old, new))
    return p


def test_sparse_part_accepted_under_ignore_is_reported(clean: dict[str, Path], tmp_path: Path) -> None:
    spec = _spec(clean, tmp_path, 'missing = "reject"', 'missing = "ignore"')
    code, data, text = _check(clean["batch"], spec, tmp_path)
    part = next(p for b in data["batches"] for p in b["part_results"] if p["serial"] == "SN05-00004")
    assert part["accepted"] is True  # what the rule says …
    # … and what the person signing must be told: 6 diameters of 30 × 6 + 30 + 30 toleranced values
    (w,) = [w for w in data["warnings"] if "SN05-00004" in w]
    assert "SN05-00004 (6 of 240)" in w and 'missing = "ignore"' in w and "1 part(s)" in w
    assert "warning:" in text and "SN05-00004 (6 of 240)" in text.split("report written")[-1]
    # under the default "reject" the part is rejected and there is nothing to warn about
    code, data, _ = _check(clean["batch"], clean["spec"], tmp_path / "b")
    assert code == 1 and not any("SN05-00004" in w for w in data["warnings"])


def test_guard_band_as_wide_as_the_tolerance_is_reported(clean: dict[str, Path], tmp_path: Path) -> None:
    spec = _spec(clean, tmp_path, "guard_band_factor = 1.0", "guard_band_factor = 10.0")
    _, data, _ = _check(clean["batch"], spec, tmp_path)
    (w,) = [w for w in data["warnings"] if w.startswith("diameter:")]
    assert "guard band w = 0.05 mm" in w and "as wide as the tolerance" in w and "no value can pass" in w


def test_zero_uncertainty_under_the_guarded_rule_is_reported(clean: dict[str, Path], tmp_path: Path) -> None:
    spec = _spec(clean, tmp_path, 'characteristic = "depth"', 'characteristic = "depth"\nuncertainty_mm = 0.0')
    _, data, _ = _check(clean["batch"], spec, tmp_path)
    (w,) = [w for w in data["warnings"] if w.startswith("depth:")]
    assert "uncertainty 0" in w and "simple acceptance" in w
    assert not any(w.startswith("diameter:") for w in data["warnings"])  # U = 5 µm there: a real guard band
