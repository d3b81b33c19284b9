"""Paginated PDF reports through matplotlib's PDF backend (no other dependency).

A :class:`PdfDocument` is filled top to bottom with paragraphs, tables, images of charts and a
sign-off block; it breaks pages itself so that nothing is cut: a paragraph or a table row that
does not fit goes to the next page, a table repeats its header row there, cell text is wrapped to
its column.  Every page carries the same header (title, what the report covers, e.g. the batch ids
and the serial range) and a footer with "page i of N" and the generation time, written when the
number of pages is known.  Paper: A4 (210 × 297 mm) or US Letter (8.5 × 11 in).
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Paper sizes, inches (width, height).
PAPER = {"a4": (210 / 25.4, 297 / 25.4), "letter": (8.5, 11.0)}
_MARGIN = 0.55  # in
_HEADER = 0.55  # in, above the content
_FOOTER = 0.45  # in, below the content
_CHAR_W = 0.62  # glyph width of DejaVu Sans digits and capitals (conservative), in units of the font size
_LINE = 1.32  # line height, in units of the font size

#: Traffic-light colours (fill) for table cells.
GREEN, AMBER, RED, GREY = "#d7f0dc", "#ffe8b8", "#f8cfcf", "#eeeeee"


@dataclass
class _Op:
    kind: str  # text | cells | image | rule | signoff
    y: float  # top, inches from the top of the paper
    h: float
    data: dict[str, Any] = field(default_factory=dict)


def _wrap(text: str, width_in: float, size: float) -> list[str]:
    n = max(4, int(width_in * 72 / (size * _CHAR_W)))
    lines: list[str] = []
    for para in str(text).split("\n"):
        lines += textwrap.wrap(para, n, break_long_words=True, break_on_hyphens=False) or [""]
    return lines


class PdfDocument:
    """A report laid out on pages of ``paper`` (``a4`` or ``letter``); see the module docstring."""

    def __init__(self, title: str, covers: str, footer: str, paper: str = "a4") -> None:
        if paper not in PAPER:
            raise ValueError(f"paper {paper!r}: allowed: {', '.join(PAPER)}")
        self.title, self.covers, self.footer, self.paper = title, covers, footer, paper
        self.width, self.height = PAPER[paper]
        self.text_width = self.width - 2 * _MARGIN
        self.pages: list[list[_Op]] = [[]]
        self.y = _MARGIN + _HEADER

    # ------------------------------------------------------------------ layout
    @property
    def bottom(self) -> float:
        return self.height - _MARGIN - _FOOTER

    def new_page(self) -> None:
        """Start a new page (unless the current one is still empty)."""
        if self.pages[-1]:
            self.pages.append([])
        self.y = _MARGIN + _HEADER

    def _room(self, h: float) -> None:
        if self.y + h > self.bottom and self.pages[-1]:
            self.new_page()

    def heading(self, text: str, size: float = 12.0) -> None:
        """A bold heading, kept with at least 1 in of what follows."""
        lines = _wrap(text, self.text_width, size)
        h = len(lines) * size * _LINE / 72 + 0.08
        self._room(h + 1.0)
        self.pages[-1].append(_Op("text", self.y, h, {"lines": lines, "size": size, "bold": True, "color": "#000"}))
        self.y += h

    def paragraph(self, text: str, size: float = 8.5, color: str = "#222", bold: bool = False) -> None:
        """Wrapped text; lines that do not fit continue on the next page."""
        lines = _wrap(text, self.text_width, size)
        lh = size * _LINE / 72
        while lines:
            self._room(lh)
            n = max(1, int((self.bottom - self.y) // lh))
            chunk, lines = lines[:n], lines[n:]
            h = len(chunk) * lh
            self.pages[-1].append(_Op("text", self.y, h, {"lines": chunk, "size": size, "bold": bold, "color": color}))
            self.y += h + (0.06 if not lines else 0.0)
            if lines:
                self.new_page()

    def table(
        self,
        head: Sequence[str],
        rows: Sequence[Sequence[object]],
        fills: Sequence[Sequence[str | None]] | None = None,
        size: float = 7.0,
        weights: Sequence[float] | None = None,
    ) -> None:
        """A table whose columns share the text width; cells wrap, rows never split, the header repeats."""
        ncol = len(head)
        if weights is None:
            longest = [max([len(str(head[j]))] + [len(str(r[j])) for r in rows]) for j in range(ncol)]
            weights = [min(max(n, 4), 40) for n in longest]
        total = float(sum(weights))
        widths = [self.text_width * w / total for w in weights]
        lh = size * _LINE / 72
        pad = 0.05

        def cells(values: Sequence[object]) -> tuple[list[list[str]], float]:
            wrapped = [_wrap(str(v), w - 2 * pad, size) for v, w in zip(values, widths, strict=True)]
            return wrapped, max(len(c) for c in wrapped) * lh + 2 * pad

        head_cells, head_h = cells(head)
        self._room(head_h + lh + 2 * pad)
        self._row(head_cells, widths, head_h, size, [GREY] * ncol, bold=True)
        for i, r in enumerate(rows):
            rc, rh = cells(r)
            if self.y + rh > self.bottom:
                self.new_page()
                self._row(head_cells, widths, head_h, size, [GREY] * ncol, bold=True)
            self._row(rc, widths, rh, size, list(fills[i]) if fills else [None] * ncol, bold=False)
        self.y += 0.12

    def _row(
        self, cells: list[list[str]], widths: list[float], h: float, size: float, fill: list[str | None], bold: bool
    ) -> None:
        self.pages[-1].append(_Op("cells", self.y, h, {"cells": cells, "widths": widths, "size": size,
                                                       "fill": fill, "bold": bold}))  # fmt: skip
        self.y += h

    def figure(self, fig: Figure, width_in: float | None = None, dpi: int = 150) -> None:
        """A matplotlib figure, scaled to ``width_in`` (default: the text width), as an image."""
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        w0, h0 = fig.get_size_inches()
        w = min(width_in or self.text_width, self.text_width)
        h = w * h0 / w0
        if h > self.bottom - (_MARGIN + _HEADER):
            h = self.bottom - (_MARGIN + _HEADER)
            w = h * w0 / h0
        self._room(h)
        self.pages[-1].append(_Op("image", self.y, h, {"png": buf.getvalue(), "w": w}))
        self.y += h + 0.1

    def signoff(self, fields: Sequence[str] = ("Inspected by", "Released by", "Date")) -> None:
        """Boxes for names, signatures and the date of release."""
        h = 1.15
        self._room(h + 0.3)
        self.pages[-1].append(_Op("signoff", self.y, h, {"fields": list(fields)}))
        self.y += h + 0.15

    def provenance_and_release(self, title: str, rows: Sequence[tuple[str, object]]) -> None:
        """The closing block of a report: a two-column provenance table, then the release sign-off."""
        self.heading(title, 10)
        self.table(("field", "value"), rows, weights=(12, 60))
        self.heading("Release", 10)
        self.signoff()

    # ------------------------------------------------------------------ rendering
    def save(self, target: str | io.BytesIO) -> int:
        """Write the PDF (a path or a binary buffer); return the number of pages."""
        import matplotlib

        matplotlib.use("Agg", force=True)
        from matplotlib.backends.backend_pdf import PdfPages
        from matplotlib.figure import Figure

        n = len(self.pages)
        with PdfPages(target, metadata={"Title": self.title, "Creator": "ecmsim"}) as pdf:
            for i, ops in enumerate(self.pages):
                fig = Figure(figsize=(self.width, self.height))
                self._frame(fig, i + 1, n)
                for op in ops:
                    _DRAW[op.kind](self, fig, op)
                pdf.savefig(fig)
        return n

    def _fx(self, x_in: float) -> float:
        return x_in / self.width

    def _fy(self, y_in: float) -> float:
        return 1.0 - y_in / self.height

    def _frame(self, fig: Figure, page: int, n: int) -> None:
        top = _MARGIN
        fig.text(self._fx(_MARGIN), self._fy(top), self.title, fontsize=11, fontweight="bold", va="top")
        fig.text(self._fx(self.width - _MARGIN), self._fy(top), f"page {page} of {n}", fontsize=8, va="top",
                 ha="right")  # fmt: skip
        fig.text(self._fx(_MARGIN), self._fy(top + 0.22), self.covers, fontsize=7.5, va="top", color="#333")
        line_y = self._fy(top + _HEADER - 0.08)
        fig.add_artist(_line(fig, self._fx(_MARGIN), self._fx(self.width - _MARGIN), line_y))
        fy = self.height - _MARGIN
        fig.text(self._fx(_MARGIN), self._fy(fy), self.footer, fontsize=6.5, va="bottom", color="#555")
        fig.text(self._fx(self.width - _MARGIN), self._fy(fy), f"page {page} of {n}", fontsize=6.5,
                 va="bottom", ha="right", color="#555")  # fmt: skip


def _line(fig: Figure, x0: float, x1: float, y: float, color: str = "#999", lw: float = 0.6) -> Any:
    from matplotlib.lines import Line2D

    return Line2D([x0, x1], [y, y], transform=fig.transFigure, color=color, lw=lw)


def _draw_text(doc: PdfDocument, fig: Figure, op: _Op) -> None:
    d = op.data
    lh = d["size"] * _LINE / 72
    for k, line in enumerate(d["lines"]):
        fig.text(doc._fx(_MARGIN), doc._fy(op.y + k * lh), line, fontsize=d["size"], va="top",
                 fontweight="bold" if d["bold"] else "normal", color=d["color"])  # fmt: skip


def _draw_cells(doc: PdfDocument, fig: Figure, op: _Op) -> None:
    from matplotlib.patches import Rectangle

    d = op.data
    lh = d["size"] * _LINE / 72
    x = _MARGIN
    for lines, w, fill in zip(d["cells"], d["widths"], d["fill"], strict=True):
        corner = (doc._fx(x), doc._fy(op.y + op.h))
        box = Rectangle(corner, w / doc.width, op.h / doc.height, transform=fig.transFigure,
                        facecolor=fill or "none", edgecolor="#aaa", lw=0.4)  # fmt: skip
        fig.add_artist(box)
        for k, line in enumerate(lines):
            fig.text(doc._fx(x + 0.05), doc._fy(op.y + 0.05 + k * lh), line, fontsize=d["size"], va="top",
                     fontweight="bold" if d["bold"] else "normal")  # fmt: skip
        x += w


def _draw_image(doc: PdfDocument, fig: Figure, op: _Op) -> None:
    import matplotlib.image as mpimg

    img = mpimg.imread(io.BytesIO(op.data["png"]), format="png")
    w = op.data["w"]
    ax = fig.add_axes((doc._fx(_MARGIN), doc._fy(op.y + op.h), w / doc.width, op.h / doc.height))
    ax.imshow(img, interpolation="lanczos")
    ax.set_axis_off()


def _draw_signoff(doc: PdfDocument, fig: Figure, op: _Op) -> None:
    from matplotlib.patches import Rectangle

    fields = op.data["fields"]
    w = doc.text_width / len(fields)
    for j, name in enumerate(fields):
        x = _MARGIN + j * w
        fig.add_artist(Rectangle((doc._fx(x + 0.04), doc._fy(op.y + op.h)), (w - 0.08) / doc.width,
                                 op.h / doc.height, transform=fig.transFigure, facecolor="none", edgecolor="#555",
                                 lw=0.8))  # fmt: skip
        fig.text(doc._fx(x + 0.12), doc._fy(op.y + 0.1), name, fontsize=8.5, fontweight="bold", va="top")
        label = "date (YYYY-MM-DD)" if name.lower() == "date" else "name and signature"
        fig.text(doc._fx(x + 0.12), doc._fy(op.y + op.h - 0.1), label, fontsize=6.5, va="bottom", color="#555")
        fig.add_artist(_line(fig, doc._fx(x + 0.12), doc._fx(x + w - 0.16), doc._fy(op.y + op.h - 0.3), "#555"))


_DRAW: dict[str, Callable[[PdfDocument, Figure, _Op], None]] = {
    "text": _draw_text,
    "cells": _draw_cells,
    "image": _draw_image,
    "signoff": _draw_signoff,
}


def serial_range(serials: Sequence[str]) -> str:
    """``first … last (n parts)``."""
    if not serials:
        return "no parts"
    return f"{serials[0]} … {serials[-1]} ({len(serials)} parts)" if len(serials) > 1 else serials[0]


def fmt(x: object, nd: int = 3) -> str:
    """A number for a table cell (– for None / NaN)."""
    if x is None:
        return "–"
    if isinstance(x, (int, float)):
        v = float(x)
        return "–" if not math.isfinite(v) else f"{v:.{nd}f}"
    return str(x)


def is_pdf(path: str | None) -> bool:
    """Whether a ``--report`` path asks for a PDF (by its suffix)."""
    return bool(path) and str(path).lower().endswith(".pdf")


def write_pdf(path: str, render: Callable[[io.BytesIO], int]) -> int:
    """Render into memory, then write ``path`` atomically (the old file or the complete new one)."""
    from ecmsim.errors import OutputError
    from ecmsim.io.common import atomic_write
    from ecmsim.qc.textfiles import check_output_folder

    buf = io.BytesIO()
    n = render(buf)
    p = check_output_folder(path)
    try:
        with atomic_write(p) as tmp, open(tmp, "wb") as fh:
            fh.write(buf.getvalue())
    except OSError as exc:
        raise OutputError(f"{p}: cannot write: {exc.strerror or exc}") from None
    return n
