"""The HTML report: self-contained, and rendered by a real browser (headless Chromium)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from qc_helpers import chromium_dom, chromium_screenshot, distinct_colours, red_pixels

from ecmsim.qc.check import run_check
from ecmsim.qc.report import render_html, svg_chart


@pytest.fixture(scope="module")
def report(synth_pred_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    run = run_check([synth_pred_files["batch"]], synth_pred_files["spec"], [synth_pred_files["prediction"]],
                    store=out / "store")  # fmt: skip
    path = out / "report.html"
    path.write_text(render_html(run), encoding="utf-8")
    return path


def test_report_is_self_contained(report: Path) -> None:
    text = report.read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text, re.I)  # nothing from the network
    assert "@import" not in text and "url(http" not in text
    for needle in ("Conformity report", "Rejected parts and why", "Diameter profile, group A", "predicted",
                   "Residual measured", "SN07-00004", "ILAC-G8", "sha256", "Hole map of SN07-00004",
                   "Inspected by", "Released by", "@media print", "Summary by batch and characteristic"):  # fmt: skip
        assert needle in text, needle
    assert text.count("<svg") >= 5


def test_svg_chart_handles_nan_and_degenerate_ranges() -> None:
    svg = svg_chart("t", "x", "y", [{"kind": "line", "x": [1, 2, 3], "y": [float("nan"), 1.0, 1.0]},
                                    {"kind": "hline", "y": float("nan")}])  # fmt: skip
    assert svg.startswith("<svg") and "nan" not in svg.lower().replace("nanmax", "")


def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    dom = chromium_dom(report, tmp_path)
    assert "Conformity report" in dom and "Rejected parts and why" in dom
    assert dom.count("<svg") >= 5 and "polyline" in dom
    w, h, px, bpp = chromium_screenshot(report, tmp_path, 2000)
    assert (w, h) == (1200, 2000)
    assert distinct_colours(px, bpp) > 50  # text, tables and charts, not a blank page
    assert red_pixels(px, bpp) > 200  # the red "rejected" headline and tolerance lines are drawn
