"""Command line interface (thin Click layer over the Python API)."""

from __future__ import annotations


def main() -> None:
    from ecmsim.cli.main import main as _main

    _main()
