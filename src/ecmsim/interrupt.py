"""SIGINT, SIGTERM and SIGHUP as one exception: every command stops the same way.

The command line installs :func:`install_handlers` once, before a command
runs.  The first of these signals raises :class:`Interrupted` in the main
thread; the exception unwinds like any other, so every ``with`` block
cleans up on the way out (the temporary file of an atomic write is deleted,
locks are released, a QC store transaction is rolled back) and the CLI ends
with exit code 128 + the signal number (130, 143, 129) and a one-line message.

Python may swallow an exception raised while it runs a finaliser or a
callback (it prints "Exception ignored in ..." and carries on).  The signal
is therefore also remembered: :func:`raise_if_interrupted` raises it again
at the points where it matters (an atomic write checks it just before the
rename that would replace its target), and the CLI exits with the signal's
code even if the command ran to its end.  Further signals during the
clean-up are recorded but do not interrupt it.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

#: The signals that stop a command cleanly, and their names in messages.
HANDLED = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}

_received: list[int] = []


class Interrupted(BaseException):
    """A command was stopped by a signal.

    A ``BaseException`` like ``KeyboardInterrupt``, so that ``except Exception``
    clauses do not swallow it.

    Parameters
    ----------
    signum
        The signal number (``signal.SIGTERM`` ...).
    """

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        self.name = HANDLED.get(signal.Signals(self.signum), f"signal {self.signum}")
        super().__init__(f"stopped by {self.name}")

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as a shell reports a process ended by the signal."""
        return 128 + self.signum


def received() -> int | None:
    """The first signal received since :func:`install_handlers` (None: none)."""
    return _received[0] if _received else None


def raise_if_interrupted() -> None:
    """Raise :class:`Interrupted` if a handled signal has arrived (even one whose exception was swallowed)."""
    if _received:
        raise Interrupted(_received[0])


def _handler(signum: int, frame: FrameType | None) -> None:
    first = not _received
    _received.append(signum)
    if first:  # later signals must not interrupt the clean-up of the first
        raise Interrupted(signum)


def _unraisable(hook: Callable[[Any], None]) -> Callable[[Any], None]:
    def quiet(info: Any) -> None:
        if isinstance(info.exc_value, Interrupted):
            return  # remembered in _received; raised again where it matters
        hook(info)

    return quiet


def install_handlers() -> Callable[[], None]:
    """Turn SIGINT, SIGTERM and SIGHUP into :class:`Interrupted`; return a function that undoes it.

    Only the main thread can set signal handlers: called from another thread
    (the command line run inside a test's thread pool) it changes nothing.
    """
    import threading

    _received.clear()
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.signal(sig, _handler) for sig in HANDLED}
    hook = sys.unraisablehook
    sys.unraisablehook = _unraisable(hook)

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)
        sys.unraisablehook = hook

    return restore


def ignore_in_worker() -> None:
    """In a worker process of a command: leave SIGINT and SIGHUP to the parent, which stops the workers.

    A Ctrl-C reaches every process of the terminal's process group; the
    command's main process cleans up and terminates its workers.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
