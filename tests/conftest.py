"""Shared fixtures, the golden-result option and the Numba cache guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecmsim.numba_cache import use_keyed_cache_dir

# Before anything imports Numba: compiled kernels are cached in a folder keyed by
# a hash of the kernel sources (Numba's own cache misses edits to a callee in
# another file; see docs/numerics-cache.md).
use_keyed_cache_dir()

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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regenerate-golden",
        action="store_true",
        default=False,
        help="rewrite tests/regression/golden.h5 from this run (only after a change meant to move the numbers)",
    )


@pytest.fixture(scope="session")
def postgres_server():  # type: ignore[no-untyped-def]
    """A real PostgreSQL server for the session (Debian's postgresql package; see ecmsim.testing.postgres)."""
    from ecmsim.testing.postgres import session_server

    yield from session_server()


@pytest.fixture(params=["folder", "postgresql"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new QC store on each backend: a folder (SQLite ledger) and a fresh PostgreSQL database."""
    if request.param == "folder":
        return str(tmp_path / "store")
    import uuid

    return str(request.getfixturevalue("postgres_server").create_database(f"t_{uuid.uuid4().hex[:16]}"))
