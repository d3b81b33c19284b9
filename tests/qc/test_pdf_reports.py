"""PDF reports of ``qc check`` and ``qc spc``: pages rendered to images (pypdfium2) and their text extracted
(pypdf): header, batch id and serial range and "page i of N" on every page, the sign-off block, every text
inside the page (nothing clipped), a page with a hole map per rejected part, the capability sixpack."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pypdf
import pypdfium2
import pytest

from ecmsim.qc.check import run_check
from ecmsim.qc.check_pdf import render_check_pdf
from ecmsim.qc.pdf import PAPER, PdfDocument
from ecmsim.qc.spc import run_spc
from ecmsim.qc.spc_pdf import render_spc_pdf
from ecmsim.qc.synth import synthesize, write_synthetic

PT = 72.0


def _texts(page: pypdf.PageObject) -> list[tuple[str, float, float]]:
    """Every text run of a page with its position (points)."""
    out: list[tuple[str, float, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], _font: object, _size: object) -> None:
        if text.strip():
            m = np.array([[tm[0], tm[1], 0], [tm[2], tm[3], 0], [tm[4], tm[5], 1]]) @ np.array(
                [[cm[0], cm[1], 0], [cm[2], cm[3], 0], [cm[4], cm[5], 1]]
            )
            out.append((text, float(m[2, 0]), float(m[2, 1])))

    page.extract_text(visitor_text=visit)
    return out


def _check_pages(data: bytes, paper: str, covers: list[str], label: str = "page {i} of {n}") -> list[str]:
    """Every page: paper size, header and footer texts, texts inside the paper; the page texts."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    n = len(reader.pages)
    w, h = (x * PT for x in PAPER[paper])
    texts = []
    for i, page in enumerate(reader.pages, start=1):
        box = page.mediabox
        assert float(box.width) == pytest.approx(w, abs=1) and float(box.height) == pytest.approx(h, abs=1)
        text = page.extract_text()
        assert label.format(i=i, n=n) in text
        for c in covers:
            assert c in text, (i, c)
        for t, x, y in _texts(page):
            assert -1 <= x <= w and 0 <= y <= h, (i, t, x, y)  # nothing drawn off the paper
        texts.append(text)
    return texts


def _render(data: bytes, index: int) -> np.ndarray:
    """Page ``index`` rendered at 100 dpi: (H, W, 3) uint8."""
    pdf = pypdfium2.PdfDocument(data)
    img = pdf[index].render(scale=100 / 72).to_pil().convert("RGB")
    return np.asarray(img)


def _red(img: np.ndarray) -> int:
    r, g, b = (img[:, :, k].astype(int) for k in range(3))
    return int(((r > 170) & (g < 90) & (b < 90)).sum())


def _green(img: np.ndarray) -> int:
    r, g, b = (img[:, :, k].astype(int) for k in range(3))
    return int(((g > 120) & (r < 100) & (b < 110)).sum())


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pdf")
    return write_synthetic(root, synthesize(30, seed=7, faults=True), csv=False)


@pytest.mark.parametrize("paper", ["a4", "letter"])
def test_check_pdf_summary_first_and_a_page_per_rejected_part(faulty: dict[str, Path], tmp_path: Path,
                                                               paper: str) -> None:  # fmt: skip
    run = run_check([faulty["batch"]], faulty["spec"], store=tmp_path / "store")
    buf = io.BytesIO()
    n = render_check_pdf(run, buf, paper, warnings=["a test warning"])
    data = buf.getvalue()
    texts = _check_pages(data, paper, ["Conformity report", "SYN-0007", "SN07-00001 … SN07-00030 (30 parts)"])
    assert len(texts) == n
    first = " ".join(texts[0].split())
    for needle in ("PARTS REJECTED", "warning: a test warning", "Summary by batch and characteristic",
                   "Inspected by", "Released by", "Date", "decision rule"):  # fmt: skip
        assert needle in first, needle
    rejected = [s for s, a in zip(run.outcomes[0].serials, run.outcomes[0].accepted, strict=True) if not a]
    assert len(rejected) >= 5
    for s in rejected:
        (k,) = [k for k, t in enumerate(texts) if f"Part {s} —" in t]
        assert "limits" in texts[k] or "blocked" in texts[k]  # the failed characteristic with value and limits
        img = _render(data, k)
        assert _red(img) > 20 and _green(img) > 200  # the hole map: failing hole(s) red, the others green
    img = _render(data, 0)
    assert _red(img) > 50 and len({tuple(p) for p in img[::7, ::7].reshape(-1, 3)}) > 30


def test_long_tables_continue_on_new_pages_with_their_header() -> None:
    doc = PdfDocument("T", "covers X", "footer", "a4")
    rows = [[f"row {i}", "a long cell " * (i % 7 + 1)] for i in range(150)]
    doc.table(("name", "text"), rows)
    buf = io.BytesIO()
    n = doc.save(buf)
    texts = _check_pages(buf.getvalue(), "a4", ["covers X"])
    assert n >= 3 and all("name" in t and "text" in t for t in texts)  # the header row repeats
    joined = " ".join(texts)
    assert all(f"row {i}" in joined for i in range(150))  # every row is somewhere, none cut off


def test_spc_pdf_with_sixpack_per_characteristic(faulty: dict[str, Path], tmp_path: Path) -> None:
    run = run_spc([faulty["batch"]], faulty["spec"])
    buf = io.BytesIO()
    render_spc_pdf(run, buf, "letter")
    data = buf.getvalue()
    texts = _check_pages(data, "letter", ["Process statistics report", "SYN-0007", "SN07-00001 … SN07-00030"])
    first = " ".join(texts[0].split())  # wrapped lines joined
    assert "OUT OF CONTROL" in first and "expected by chance" in first and "Inspected by" in first
    for s in run.series:
        assert s.key in first  # the traffic-light table lists every series on the first page
    n_cap = sum(1 for s in run.series if s.capability is not None)
    assert len(texts) >= 2 + n_cap  # summary, details, one sixpack page per characteristic series
    img = _render(data, len(texts) - 1)  # the last sixpack: charts with red limits
    assert _red(img) > 30 and len({tuple(p) for p in img[::5, ::5].reshape(-1, 3)}) > 30


def test_cli_writes_pdf_reports_on_letter_and_a4(faulty: dict[str, Path], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from ecmsim.cli.qc_cmd import check_command
    from ecmsim.cli.spc_cmd import spc_command

    spc_pdf = tmp_path / "spc.pdf"
    res = CliRunner().invoke(spc_command, [str(faulty["batch"]), "--spec", str(faulty["spec"]), "--report",
                                           str(spc_pdf), "--paper", "letter"])  # fmt: skip
    assert res.exit_code == 1 and f"report written to {spc_pdf}" in res.output
    _check_pages(spc_pdf.read_bytes(), "letter", ["Process statistics report", "SN07-00001 … SN07-00030"])
    chk_pdf = tmp_path / "check.pdf"
    res = CliRunner().invoke(check_command, [str(faulty["batch"]), "--spec", str(faulty["spec"]), "--report",
                                             str(chk_pdf), "--store", str(tmp_path / "store")])  # fmt: skip
    assert res.exit_code == 1, res.output
    texts = _check_pages(chk_pdf.read_bytes(), "a4", ["Conformity report", "SYN-0007"])
    assert "Inspected by" in texts[0]
    # an output that cannot be written: nothing partial, exit 4
    res = CliRunner().invoke(spc_command, [str(faulty["batch"]), "--spec", str(faulty["spec"]), "--report",
                                           str(tmp_path / "nodir" / "x.pdf")])  # fmt: skip
    assert getattr(res.exception, "exit_code", None) == 4 and not (tmp_path / "nodir").exists()


def test_html_reports_print_on_a4_with_batch_serials_and_page_numbers(faulty: dict[str, Path], tmp_path: Path) -> None:
    """Chromium prints the HTML report: every page carries the title (batch and serial range) and its number,
    and no text leaves the page (tables wrap instead of clipping)."""
    import subprocess

    from qc_helpers import _chrome_args, _chromium

    from ecmsim.qc.report import render_html
    from ecmsim.qc.spc_report import render_spc_html

    check = run_check([faulty["batch"]], faulty["spec"], store=tmp_path / "store")
    spc = run_spc([faulty["batch"]], faulty["spec"])
    for name, html in (("check", render_html(check, ["w"])), ("spc", render_spc_html(spc))):
        page = tmp_path / f"{name}.html"
        page.write_text(html, encoding="utf-8")
        out = tmp_path / f"{name}.pdf"
        proc = subprocess.run([_chromium(), *_chrome_args(tmp_path), f"--print-to-pdf={out}", page.as_uri()],
                              capture_output=True, text=True, timeout=180)  # fmt: skip
        assert proc.returncode == 0 and out.exists(), proc.stderr[-2000:]
        texts = _check_pages(out.read_bytes(), "a4", ["SYN-0007", "SN07-00001 … SN07-00030"], "{i}/{n}")
        assert len(texts) >= 2
        assert "Inspected by" in " ".join(texts) and "Released by" in " ".join(texts)
