"""docs/api.md is generated from the docstrings and must be up to date."""

from __future__ import annotations

import difflib
import importlib.util
import re
from pathlib import Path
from types import ModuleType

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_api", DOCS / "gen_api.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_reference_is_up_to_date() -> None:
    gen = _generator()
    expected = gen.render()
    current = (DOCS / "api.md").read_text(encoding="utf-8") if (DOCS / "api.md").exists() else ""
    if current != expected:
        lines = difflib.unified_diff(current.splitlines(True), expected.splitlines(True), "docs/api.md", "docstrings")
        diff = "".join(list(lines)[:40])
        raise AssertionError(f"docs/api.md is out of date: regenerate it with `{gen.COMMAND}`\n{diff}")


def test_api_reference_is_stable_and_complete() -> None:
    gen = _generator()
    text = gen.render()
    assert text == gen.render()  # same text twice in one process
    assert not re.search(r"0x[0-9a-fA-F]{6,}", text), "a memory address in docs/api.md"
    assert str(Path.home()) not in text and str(DOCS.parent) not in text, "a local path in docs/api.md"
    for name in ("config", "simulation", "io", "qc", "engineering", "kernels"):
        assert f"## `ecmsim.{name}`" in text
    assert "### `load_config`" in text and "**Parameters**" in text
