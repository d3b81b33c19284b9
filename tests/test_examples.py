"""Every example in configs/ loads, validates against the data and documents itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecmsim.config import example_names, load_config
from ecmsim.process import resolve

ROOT = Path(__file__).resolve().parents[1]

FILES = sorted((ROOT / "configs").glob("*.toml"))


def test_examples_are_bundled() -> None:
    assert len(FILES) >= 4
    assert sorted(p.stem for p in FILES) == example_names()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_example_validates_and_is_commented(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# "), "first line must say what the example represents"
    proc = resolve(load_config(path))
    assert 0.02e-3 < proc.equilibrium_gap < 1e-3
    assert load_config(f"example:{path.stem}").hash() == load_config(path).hash()


def test_required_example_set() -> None:
    procs = [resolve(load_config(p)) for p in FILES]
    pairs = {(p.alloy.key, p.electrolyte.key) for p in procs}
    assert ("inconel-718", "h2so4") in pairs
    assert ("inconel-625", "nano3") in pairs
    assert any(e == "hno3" and a in ("rene-80", "cmsx-4") for a, e in pairs)
    assert any(p.alloy.base == "Co" for p in procs)
    assert any(p.efficiency.model == "threshold" for p in procs)
