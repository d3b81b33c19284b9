"""One progress bar for every long command, on stderr when it is a terminal.

Usage in a command::

    from ecmsim.cli.progress import progress_bar

    with progress_bar("grid study", total=3, unit="runs") as bar:
        for i, cell in enumerate(cells):
            run(cell)
            bar.update(i + 1, detail=f"{cell * 1e3:g} µm")

``bar`` is also a callable ``bar(done, total, seconds_left=None)``, the
progress callback of :func:`ecmsim.engineering.sweep.run_sweep`,
:func:`ecmsim.engineering.tune.tune` and :func:`ecmsim.engineering.calibrate.calibrate`.

The bar draws nothing when stderr is not a terminal (a pipe, a file, a CI
log), with ``ecmsim -q`` or when the command is given ``--no-progress``;
drawing is then a no-op, so commands call it unconditionally.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import IO

#: Seconds between two redraws of the bar (the last one is always drawn).
REFRESH_S = 0.2
BAR_WIDTH = 24

_state = {"quiet": False}


def set_quiet(quiet: bool) -> None:
    """``ecmsim -q``: no progress bars and no notices, only results and errors."""
    _state["quiet"] = bool(quiet)


def is_quiet() -> bool:
    """True under ``ecmsim -q``."""
    return _state["quiet"]


def notice(text: str) -> None:
    """Print a line that is neither a result nor an error (``... written to FILE``), unless ``-q``."""
    import click

    if not is_quiet():
        click.echo(text)


def clock(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss``) of a duration in seconds."""
    s = max(0, int(round(seconds)))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class ProgressBar:
    """A one-line bar: label, done/total, elapsed time and time left, on a terminal.

    Parameters
    ----------
    label
        What runs, e.g. ``"tune"`` or ``"grid study"``.
    total
        Number of steps expected (evaluations, runs, points); ``None`` when unknown.
        A total that is only a budget (the search may stop earlier) is shown as ``≤ N``.
    unit
        What a step is, e.g. ``"evaluations"``; ``""`` shows a percentage of ``total``.
    enabled
        ``False`` (``--no-progress``) draws nothing; so does ``-q`` and a stream that is not a terminal.
    stream
        Where to draw (default: ``sys.stderr`` at the time of the call).
    at_most
        ``total`` is an upper bound (a budget), not an exact count.
    """

    def __init__(
        self, label: str, total: float | None = None, unit: str = "evaluations", *, enabled: bool = True,
        stream: IO[str] | None = None, at_most: bool = False,
    ) -> None:  # fmt: skip
        self.label, self.total, self.unit, self.at_most = label, total, unit, at_most
        self._stream = stream if stream is not None else sys.stderr
        isatty = getattr(self._stream, "isatty", None)
        self.active = enabled and not is_quiet() and bool(isatty and isatty())
        self.done: float = 0
        self._start = time.monotonic()
        self._last_draw = -1.0
        self._drawn = False
        self._width = 0

    # The callback protocol of the engineering functions: (done, total, seconds_left).
    def __call__(self, done: float, total: float | None = None, seconds_left: float | None = None) -> None:
        self.update(done, total, seconds_left=seconds_left)

    def update(
        self, done: float, total: float | None = None, *, seconds_left: float | None = None, detail: str = ""
    ) -> None:
        """Set the steps done (and the total, if it changed); redraw at most every 0.2 s.

        ``seconds_left`` overrides the estimate from the mean rate so far.
        """
        self.done = done
        if total is not None:
            self.total = total
        if not self.active:
            return
        now = time.monotonic()
        final = self.total is not None and done >= self.total
        if not final and now - self._last_draw < REFRESH_S:
            return
        self._last_draw = now
        self._draw(now, seconds_left, detail)

    def advance(self, steps: float = 1, detail: str = "") -> None:
        """One more step (or ``steps``) done."""
        self.update(self.done + steps, detail=detail)

    def _draw(self, now: float, seconds_left: float | None, detail: str) -> None:
        elapsed = now - self._start
        total = self.total
        if total:
            frac = min(1.0, max(0.0, self.done / total))
            n = int(BAR_WIDTH * frac)
            bar = "[" + "#" * n + "-" * (BAR_WIDTH - n) + "] "
            if seconds_left is None and self.done > 0:
                seconds_left = elapsed / self.done * max(0.0, total - self.done)
        else:
            bar = ""
        if self.unit:
            bound = "≤ " if self.at_most else ""
            count = f"{self.done:g}" + (f"/{bound}{total:g}" if total else "") + f" {self.unit}"
        else:
            count = f"{100 * self.done / total:5.1f} %" if total else ""
        left = "" if seconds_left is None else f"  left {clock(seconds_left)}"
        line = f"{self.label} {bar}{count}  elapsed {clock(elapsed)}{left}" + (f"  {detail}" if detail else "")
        pad = " " * max(0, self._width - len(line))
        self._width = len(line)
        self._stream.write("\r" + line + pad)
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        """End the line of the bar (if one was drawn), so that what follows starts on its own line."""
        if self.active and self._drawn:
            self._stream.write("\n")
            self._stream.flush()
        self._drawn = False
        self.active = False

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def progress_bar(
    label: str, total: float | None = None, unit: str = "evaluations", *, enabled: bool = True, at_most: bool = False
) -> ProgressBar:
    """A :class:`ProgressBar` on stderr (drawn only on a terminal, never under ``-q``)."""
    return ProgressBar(label, total, unit, enabled=enabled, at_most=at_most)
