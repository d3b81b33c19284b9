"""Domain errors of ecmsim and the exit codes the CLI maps them to.

Library code raises these; only the CLI turns them into a message and an
exit code (``ecmsim.cli.main``).  Exit codes are part of the public
interface (README, "Exit codes"), so shop scripts can gate on them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

#: Exit code: success (and, for ``qc check``, every part conforms).
EXIT_OK = 0
#: Exit code: the job ran but its verdict is negative (e.g. parts rejected).
EXIT_REJECTED = 1
#: Exit code: bad input (config, data file, command line).
EXIT_INPUT = 2
#: Exit code: the simulation could not be carried out (solver failure).
EXIT_SOLVER = 3
#: Exit code: an output could not be written.
EXIT_OUTPUT = 4
#: Exit code: an unexpected internal error (a bug: please report it).
EXIT_INTERNAL = 70


class EcmsimError(Exception):
    """Base class of every error that ecmsim reports to a user."""

    exit_code = EXIT_INPUT


class ConfigError(EcmsimError):
    """A process config (or an override) is invalid.

    Parameters
    ----------
    message
        What is wrong, naming the key, the value and what is allowed.
    source
        The file (or ``--set`` option) the value came from, if known.
    """

    def __init__(self, message: str, source: str | None = None) -> None:
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class DataError(EcmsimError):
    """A materials or electrolyte data file is invalid or lacks an entry."""


class InputDataError(EcmsimError):
    """A measurement, design or result file is invalid."""


class SolverError(EcmsimError):
    """The numerical solution failed (no convergence, NaN, instability)."""

    exit_code = EXIT_SOLVER


class OutputError(EcmsimError):
    """An output file could not be written."""

    exit_code = EXIT_OUTPUT


@contextlib.contextmanager
def input_file(path: str | Path, what: str, expected: str, error: type[EcmsimError] = InputDataError) -> Iterator[None]:
    """Opening an input: a missing file, or a folder named as the file, becomes ``error``.

    The messages read ``PATH: WHAT not found`` and ``PATH: is a folder, expected
    EXPECTED`` (``what`` names the input, e.g. ``"data file"``; ``expected`` what it
    should be, e.g. ``"an HDF5 file"``).
    """
    try:
        yield
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, expected {expected}") from None


#: Longest message the command line prints; longer ones (an input echoed whole) are shortened.
MESSAGE_LIMIT = 2000
_LONG_WORD = 200


def shorten_message(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` cut to about ``limit`` characters, saying how much was left out.

    Runs of more than 200 characters without a space (a value echoed from an
    input, such as a 50 MB CSV field) keep their start and end; a message
    still too long keeps its start and end.
    """
    if len(text) <= limit:
        return text
    import re

    def cut(m: re.Match[str]) -> str:
        word = m.group()
        return f"{word[:80]}…[{len(word) - 120} characters left out]…{word[-40:]}"

    text = re.sub(rf"\S{{{_LONG_WORD + 1},}}", cut, text)
    if len(text) > limit:
        half = limit // 2
        text = f"{text[:half]} …[{len(text) - 2 * half} characters left out]… {text[-half:]}"
    return text
