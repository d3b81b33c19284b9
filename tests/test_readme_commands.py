"""Every command the README shows in its indented examples is a real command with valid options.

The commands are parsed by the command line itself (options, choices, arguments), not run:
running them all would take minutes.  Optional parts written ``[...]`` are left out.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _commands() -> list[str]:
    lines = README.read_text(encoding="utf-8").splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("    ecmsim "):
            text = line.strip()
            while text.endswith("\\") and i + 1 < len(lines):
                i += 1
                text = text[:-1] + " " + lines[i].strip()
            out.append(text)
        i += 1
    return out


COMMANDS = _commands()


def test_the_readme_has_indented_examples() -> None:
    assert len(COMMANDS) >= 7 and any(c.startswith("ecmsim tune ") for c in COMMANDS)


@pytest.mark.parametrize("text", COMMANDS)
def test_readme_command_parses(text: str) -> None:
    from ecmsim.cli.main import cli

    text = re.sub(r"\s+#.*$", "", text)  # a trailing comment
    text = re.sub(r"\[[^\[\]]*\]", "", text)  # optional parts
    args = shlex.split(text)[1:]
    cmd: click.Command = cli
    ctx = cli.make_context("ecmsim", list(args), resilient_parsing=False)
    # Walk down the groups as Click does (sweep also takes CONFIG directly).
    while isinstance(cmd, click.Group):
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        name, sub, rest = cmd.resolve_command(ctx, rest)
        assert sub is not None, f"{text}: no command {name!r}"
        cmd = sub
        ctx = sub.make_context(name or "", rest, parent=ctx)
    assert not ctx.args, f"{text}: unexpected arguments {ctx.args}"
