"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def minimal_text() -> str:
    """Text of a small valid process config (tests/data/minimal.toml)."""
    return (DATA / "minimal.toml").read_text(encoding="utf-8")


@pytest.fixture
def minimal_config(tmp_path: Path, minimal_text: str) -> Path:
    """A small valid process config copied to a temporary folder."""
    p = tmp_path / "minimal.toml"
    p.write_text(minimal_text, encoding="utf-8")
    return p
