"""Helpers shared by the QC tests (a module name of its own: tests/conftest.py is also "conftest")."""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_cli(args: list[str], cwd: Path | None = None, timeout: float = 300) -> tuple[int, str, str]:
    """The real entry point (with its error boundary) in a subprocess."""
    proc = subprocess.run(
        [sys.executable, "-c", "from ecmsim.cli.main import main; main()", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )
    return proc.returncode, proc.stdout, proc.stderr


def assert_same_batch(a, b) -> None:
    for name in ("diameter", "x_dev", "y_dev", "device", "depth", "depth_device", "blocked"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.serials == b.serials and a.measured_at == b.measured_at and a.devices == b.devices
    np.testing.assert_array_equal(a.device_uncertainty, b.device_uncertainty)
    for name in ("nominal_diameter", "nominal_x", "nominal_y", "depth", "station_depth", "station_mask"):
        np.testing.assert_array_equal(getattr(a.design, name), getattr(b.design, name), err_msg=name)
    assert a.design.hole_id == b.design.hole_id and a.design.group == b.design.group
    assert {k: v for k, v in a.meta.items() if v} == {k: v for k, v in b.meta.items() if v}


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


def chromium_dom(page: Path, tmp: Path) -> str:
    """The DOM of ``page`` after headless Chromium rendered it."""
    dom = subprocess.run([_chromium(), *_chrome_args(tmp), "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert dom.returncode == 0, dom.stderr[-2000:]
    return dom.stdout


def chromium_screenshot(page: Path, tmp: Path, height: int) -> tuple[int, int, bytes, int]:
    """A 1200 px wide screenshot of ``page``: width, height, pixel bytes, bytes per pixel."""
    png = tmp / "shot.png"
    shot = subprocess.run([_chromium(), *_chrome_args(tmp), f"--screenshot={png}", f"--window-size=1200,{height}",
                           page.as_uri()], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert shot.returncode == 0 and png.exists(), shot.stderr[-2000:]
    return _png_pixels(png)


def distinct_colours(px: bytes, bpp: int) -> int:
    """Distinct colours among every 7th pixel."""
    return len({px[i : i + 3] for i in range(0, len(px), bpp * 7)})


def red_pixels(px: bytes, bpp: int) -> int:
    """Pixels of a strong red (status lines, limits)."""
    return sum(1 for i in range(0, len(px), bpp) if px[i] > 150 and px[i + 1] < 90 and px[i + 2] < 90)
