"""The HTML report: self-contained, and rendered by a real browser (headless Chromium)."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

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
                   "Residual measured", "SN07-00004", "ILAC-G8", "sha256"):  # fmt: skip
        assert needle in text, needle
    assert text.count("<svg") >= 5


def test_svg_chart_handles_nan_and_degenerate_ranges() -> None:
    svg = svg_chart("t", "x", "y", [{"kind": "line", "x": [1, 2, 3], "y": [float("nan"), 1.0, 1.0]},
                                    {"kind": "hline", "y": float("nan")}])  # fmt: skip
    assert svg.startswith("<svg") and "nan" not in svg.lower().replace("nanmax", "")


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:  # a hard failure, not a skip: the report must be checked in a real browser
        pytest.fail("headless Chromium is required for this test (apt-get install -y chromium)")
    return exe


def _chrome_args(tmp: Path) -> list[str]:
    return [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp / 'profile'}",
    ]  # fmt: skip


def _png_pixels(path: Path) -> tuple[int, int, bytes, int]:
    """Width, height, raw (unfiltered-per-row) pixel bytes and bytes per pixel of an 8-bit RGB(A) PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w = 8, b"", 0
    h = bpp = 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6)
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    out = bytearray()
    prev = bytearray(stride)
    for r in range(h):  # undo the PNG row filters
        f, line = raw[r * (stride + 1)], bytearray(raw[r * (stride + 1) + 1 : (r + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out += line
        prev = line
    return w, h, bytes(out), bpp


def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    exe = _chromium()
    dom = subprocess.run([exe, *_chrome_args(tmp_path), "--dump-dom", report.as_uri()],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "Conformity report" in dom.stdout and "Rejected parts and why" in dom.stdout
    assert dom.stdout.count("<svg") >= 5 and "polyline" in dom.stdout
    png = tmp_path / "shot.png"
    shot = subprocess.run([exe, *_chrome_args(tmp_path), f"--screenshot={png}", "--window-size=1200,2000",
                           report.as_uri()], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert shot.returncode == 0 and png.exists(), shot.stderr[-2000:]
    w, h, px, bpp = _png_pixels(png)
    assert (w, h) == (1200, 2000)
    colours = {px[i : i + 3] for i in range(0, len(px), bpp * 7)}
    assert len(colours) > 50  # text, tables and charts, not a blank page
    red = sum(1 for i in range(0, len(px), bpp) if px[i] > 150 and px[i + 1] < 90 and px[i + 2] < 90)
    assert red > 200  # the red "rejected" headline and tolerance lines are drawn
