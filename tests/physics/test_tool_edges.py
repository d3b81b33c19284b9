"""The singular-term correction at the tool's edges (ecmsim.corners): sawtooth and grid convergence.

A coated STEM tube (stem-in718's tool) in a fixed Ø1.58 mm hole whose bottom lies 0.183 mm
below the tool face: tube and hole moved together through a cell leave the exact current
unchanged, so what varies is the discretisation alone.
"""

from __future__ import annotations

import numpy as np
import pytest

from ecmsim.config import example_names, load_config
from ecmsim.corners import Edge
from ecmsim.domain import Domain
from ecmsim.process import resolve
from ecmsim.state import DrillingState
from ecmsim.stepper import Stepper
from ecmsim.testing import observed_order
from ecmsim.testing.problems import rounded_box_distance

MM = 1e-3
HOLE_RADIUS, FRONTAL_GAP, CORNER = 0.79 * MM, 0.183 * MM, 0.25 * MM
SIDE_GAP = 0.34 * MM  # hole wall to coating (stem-in718: HOLE_RADIUS)


def _stepper(cell_mm: float, correct: bool = True, name: str = "stem-in718", z_tip_mm: float = 3.0) -> Stepper:
    cfg = load_config(f"example:{name}", [f"numerics.cell_size_mm={cell_mm}", f"motion.depth_mm={z_tip_mm + 1.0}"])
    stepper = Stepper(Domain.build(resolve(cfg)))
    stepper.correct_edges = correct
    return stepper


def _fixed_hole(
    stepper: Stepper, z_tip: float, previous: DrillingState | None, radius: float = HOLE_RADIUS
) -> DrillingState:
    """State with the tool face at z_tip (m) in the fixed hole, potential solved; warm from ``previous``."""
    d = stepper.domain
    hole = -rounded_box_distance(d.rr, d.zz, -radius, radius, -10 * MM, z_tip + FRONTAL_GAP, CORNER)
    state = DrillingState.start(d, psi_w=np.ascontiguousarray(np.maximum(-d.zz, hole)), z_tip=z_tip)
    if previous is not None:  # the tool moving steadily: last potential and edge coefficients
        state.phi[:] = previous.phi
        state.edge_coefficients = dict(previous.edge_coefficients)
    return state


def _through_a_cell(cell_mm: float, correct: bool, name: str = "stem-in718", n: int = 11) -> tuple[np.ndarray, list]:
    """(current, or voltage in current control, at n tool positions through one cell; edges corrected).

    Tool and hole move together (hole wall SIDE_GAP outside the coating, frontal gap
    FRONTAL_GAP), the tool face at 3 mm (half a plate's thickness); the linear trend
    over exactly one cell (first and last positions) is removed, which leaves a
    sawtooth of period h unchanged and takes out the longer hole of a bare tool.
    """
    tool = load_config(f"example:{name}")
    thickness = tool.workpiece.thickness_mm
    z_tip_mm = 3.0 if thickness is None else min(3.0, 0.5 * thickness)
    radius = (0.5 * tool.tool.outer_diameter_mm + tool.tool.coating_thickness_mm) * MM + SIDE_GAP
    stepper = _stepper(cell_mm, correct, name, z_tip_mm)
    h, state, out = stepper.domain.h, None, []
    for k in range(n):
        state = _fixed_hole(stepper, z_tip_mm * MM + (k + 0.013) * h / (n - 1), state, radius)
        flux = stepper.anode_flux(state, stepper.classify(state))
        state.window.store(state)
        out.append(stepper.u_eff(state) if stepper.process.control.current_control else flux.current)
    c = np.array(out)
    return c - (c[-1] - c[0]) * np.arange(n) / (n - 1), [e.name for e in stepper.tool_edges(state)]


def test_edges_singular_functions_meet_the_face_conditions():
    h = 1e-6
    t = np.linspace(0.01, 1.0, 7) * 1e-4
    for name, faces in (("outer", ((0 * t, -t), (-t, 0 * t))), ("bore", ((t, 0 * t), (0 * t, -t))),
                        ("coating", ((0 * t, -t), (-t, 0 * t)))):  # fmt: skip
        edge = Edge(name, 0.0, 0.0, 1e-4)
        for x, y in faces:
            if edge.dirichlet:
                np.testing.assert_allclose(edge.singular(x, y, h)[0], 0.0, atol=1e-12)
            else:  # zero normal derivative: the face is x = 0 or y = 0, electrolyte on the + side
                nx, ny = (1.0, 0.0) if np.all(x == 0) else (0.0, 1.0)
                d = 1e-9
                s0, s1, s2 = (edge.singular(x + k * d * nx, y + k * d * ny, h)[0] for k in (0, 1, 2))
                np.testing.assert_allclose((-3 * s0 + 4 * s1 - s2) / (2 * d), 0.0, atol=1e-3 * np.abs(s1 / t).max())
        # harmonic in the plane, and dS/dr as stated, inside the electrolyte
        rng = np.random.default_rng(1)
        rho, th = rng.uniform(2e-5, 8e-5, 20), rng.uniform(0.2, 1.3, 20) * np.pi
        a = th - 0.5 * np.pi if name != "bore" else th
        x, y = rho * np.cos(a), rho * np.sin(a)
        d = 1e-8
        s = lambda xx, yy, e=edge: e.singular(xx, yy, h)[0]  # noqa: E731
        lap = (s(x + d, y) + s(x - d, y) + s(x, y + d) + s(x, y - d) - 4 * s(x, y)) / d**2
        assert np.abs(lap).max() < 1e-4 * np.abs(s(x, y) / rho**2).max()
        np.testing.assert_allclose(edge.singular(x, y, h)[1], (s(x + d, y) - s(x - d, y)) / (2 * d), rtol=1e-5)


# Measured at 10 µm, peak to peak of the current (the voltage in current control) with
# and without the correction, the trend over the cell removed: stem-in718 0.024 / 0.22 %,
# ecd-in625-nano3 0.027 / 0.11 %, ecd-marm509-nacl-bare (bare tube: its two metal edges)
# 0.0006 / 0.063 %, stem-rene80-hno3 0.028 / 0.12 %, stem-in718-current-control 0.025 /
# 0.22 %.  The table for 20, 15, 10 and 5 µm is in docs/model.md.
@pytest.mark.parametrize("name", example_names())
def test_current_has_no_sawtooth_as_the_tool_crosses_cells(name):
    c, edges = _through_a_cell(0.01, True, name)
    assert edges, "every example's tool edges are corrected at 10 µm"
    ptp = np.ptp(c) / c.mean()
    assert ptp < 1e-3
    u, none = _through_a_cell(0.01, False, name)
    assert not none
    assert abs(u.mean() / c.mean() - 1) < 5e-3
    assert np.ptp(u) / u.mean() > 3 * ptp  # uncorrected, the edges saw several times more


@pytest.fixture(scope="module")
def fixed_hole_convergence():
    """(cells, currents, wall current density at 0.15, 0.45, 0.8 mm behind the tool face)."""
    cells = (0.01, 0.005, 0.0025, 0.00125)
    currents, densities = [], []
    for cell in cells:
        stepper = _stepper(cell)
        d = stepper.domain
        z_tip = 3.0 * MM + 0.5 * d.h  # the coating's end half-way between rows on every grid
        state = _fixed_hole(stepper, z_tip, None)
        flux = stepper.anode_flux(state, stepper.classify(state))
        win = state.window
        j = d.process.conductivity * win.dphidn
        row = []
        for y in (0.15, 0.45, 0.8):
            z_at = z_tip - y * MM
            zs, js = [], []
            for jj in range(win.kind.shape[1]):  # the wall node of each row near z_at
                col = np.nonzero(win.known[:, jj])[0]
                if col.size and abs(win.zz[0, jj] - z_at) <= 2.5 * d.h:
                    zs.append(win.zz[0, jj] - z_at)
                    js.append(j[col.max(), jj])
            row.append(np.polyfit(zs, js, 2)[-1])
        currents.append(flux.current)
        densities.append(row)
    return np.array(cells), np.array(currents), np.array(densities)


def test_coated_tube_current_and_wall_current_density_converge_at_second_order(fixed_hole_convergence):
    # Measured against 1.25 µm (10, 5, 2.5 µm): current +0.068, +0.007, +0.002 %; wall
    # current density beside the bare tip (0.15 mm) within 0.015 %, behind the coating
    # (0.45 mm) +0.21, +0.020, +0.007 %, (0.8 mm) +0.35, +0.051, +0.014 %: orders 2.5 and
    # 2.3.  Uncorrected the current was -0.24 % off at 10 µm and both converged at about 1.3.
    cells, current, dens = fixed_hole_convergence
    e_cur = np.abs(current[:-1] / current[-1] - 1)
    assert e_cur[0] < 2e-3
    assert observed_order(cells[:-1], e_cur) >= 1.5
    assert np.abs(dens[:-1, 0] / dens[-1, 0] - 1).max() < 5e-4
    for k in (1, 2):
        e = np.abs(dens[:-1, k] / dens[-1, k] - 1)
        assert observed_order(cells[:-1], e) >= 1.5
        assert e[0] < 5e-3
