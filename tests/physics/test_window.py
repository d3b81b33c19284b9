"""The computational window that follows the tool tip (issue: deep holes fast)."""

from __future__ import annotations

import numpy as np
import pytest

from ecmsim.config import load_config
from ecmsim.process import resolve
from ecmsim.simulation import Simulation, simulate

OVERRIDES = ["motion.depth_mm=3.0", "numerics.cell_size_mm=0.02"]


def test_window_matches_full_domain_profile() -> None:
    full = simulate("example:stem-in718", overrides=[*OVERRIDES, "numerics.window=off"])
    win = simulate("example:stem-in718", overrides=[*OVERRIDES, "numerics.window=on"])
    both = np.isfinite(full.wall_radius) & np.isfinite(win.wall_radius)
    assert both.sum() > 100
    np.testing.assert_array_equal(np.isfinite(full.wall_radius), np.isfinite(win.wall_radius))
    # Measured: 1.6 µm at 20 µm cells, 3 mm deep, in the top row (the entry, see below).
    assert np.max(np.abs(full.wall_radius[both] - win.wall_radius[both])) < 2e-6
    # Diameters within 2 µm (1 µm on the radius): the full-domain run keeps
    # dissolving the entry a little from stray current the window leaves out.
    for key in ("side_gap_mm", "frontal_gap_mm", "entry_diameter_mm", "depth_mm"):
        assert abs(full.summary()[key] - win.summary()[key]) < 2e-3, key
    assert abs(full.removed_volume[-1] - win.removed_volume[-1]) < 1e-3 * full.removed_volume[-1]


def test_window_size_does_not_grow_with_depth() -> None:
    """The cost of a step is bounded: the window keeps its size as the tool goes deeper."""
    cfg = load_config("example:stem-in718", ["motion.depth_mm=12.0", "numerics.cell_size_mm=0.02"])
    sim = Simulation(resolve(cfg))
    shapes = {}
    while sim.z_tip < 4.0e-3:
        sim.step()
        shapes[round(sim.z_tip * 1e3, 1)] = sim.win.shape
    assert len(set(shapes.values())) == 1
    assert sim.win.shape[1] < 0.5 * sim.grid.nz


def test_bare_tool_uses_full_grid() -> None:
    cfg = load_config("example:ecd-marm509-nacl-bare")
    sim = Simulation(resolve(cfg))
    assert sim.domain.window_behind is None
    assert sim.domain.window_rows(sim.z_tip) == (0, sim.grid.nz)


def test_window_and_domain_extents_are_physical_lengths() -> None:
    """The window lengths and the domain's margins are the same in mm at every cell size."""
    domains = {}
    for cell in (0.04, 0.02, 0.01):
        cfg = load_config("example:stem-in718", [f"numerics.cell_size_mm={cell}"])
        domains[cell] = Simulation(resolve(cfg)).domain
    behind = {d.window_behind for d in domains.values()}
    ahead = {d.window_ahead for d in domains.values()}
    assert len(behind) == 1 and len(ahead) == 1
    p, d = domains[0.01].process, domains[0.01]
    assert d.window_behind == pytest.approx(p.tool.bare_tip + 8 * d.gap_scale + 0.2e-3)
    assert d.window_ahead == pytest.approx(3 * d.gap_scale + p.initial_gap + 0.2e-3)
    # grid extents: the same physical size within one cell
    for cell, dom in domains.items():
        assert dom.grid.r[-1] == pytest.approx(d.grid.r[-1], abs=cell)
        assert dom.grid.z[-1] == pytest.approx(d.grid.z[-1], abs=cell)
    wider = load_config("example:stem-in718", ["numerics.domain_margin_mm=0.5"])
    dw = Simulation(resolve(wider)).domain
    assert dw.window_behind == pytest.approx(d.window_behind + 0.3e-3)
    assert dw.grid.r[-1] == pytest.approx(d.grid.r[-1] + 0.3e-3, abs=1e-5)
