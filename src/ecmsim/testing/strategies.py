"""Hypothesis strategies shared by the tests: random geometries on the grid and TOML values.

Import this module only where hypothesis is installed (the ``test`` extra):
``ecmsim.testing`` itself does not import it.

Geometry strategies follow the grid contract of :mod:`ecmsim.testing.problems`
(arrays ``(nr, nz)``, ``r_i = i h``, level sets > 0 in the electrolyte).  They draw
small grids in grid units (``h = 1``) unless they draw ``h`` too; random arrays come
from a NumPy generator seeded by a drawn integer, so a failing example shrinks and
replays.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st

from ecmsim.geometry import OUTSIDE
from ecmsim.testing.problems import floating_pockets, grid, grid_tool_in_hole, node_kinds

__all__ = [
    "electrode_geometries",
    "finite_floats",
    "level_sets",
    "odd_floats",
    "seeds",
    "short_texts",
    "toml_integers",
    "toml_scalars",
    "toml_values",
    "tool_in_hole_geometries",
]

FloatArray = npt.NDArray[np.float64]
KindArray = npt.NDArray[np.int8]

#: Seeds of the NumPy generators that fill random arrays.
seeds = st.integers(0, 2**31 - 1)


# ------------------------------------------------------------------------- geometry
@st.composite
def level_sets(draw: st.DrawFn, max_nodes: int = 12) -> tuple[FloatArray, float, np.random.Generator]:
    """A level set on a small grid: a plane, a circle or noise.

    Returns
    -------
    psi : float64 array (nr, nz), 2 <= nr, nz <= max_nodes
        Signed distance to a plane at a random angle, to a circle of radius
        0.5-5 h (positive inside), or Gaussian noise of scale ``h``.
    h : float
        Spacing, 0.1 to 2.
    rng : numpy.random.Generator
        Seeded generator for the test's own random data (speeds, masks).
    """
    nr = draw(st.integers(2, max_nodes))
    nz = draw(st.integers(2, max_nodes))
    h = draw(st.floats(0.1, 2.0))
    r, z = grid(nr, nz, h)
    rng = np.random.default_rng(draw(seeds))
    shape = draw(st.sampled_from(["plane", "circle", "noise"]))
    if shape == "plane":
        a = rng.uniform(0, 2 * math.pi)
        psi = math.cos(a) * r + math.sin(a) * z - rng.uniform(0, nz * h)
    elif shape == "circle":
        psi = rng.uniform(0.5, 5) * h - np.hypot(r - rng.uniform(0, nr * h), z - rng.uniform(0, nz * h))
    else:
        psi = rng.standard_normal((nr, nz)) * h
    return psi, h, rng


def _plane_or_circle(draw: st.DrawFn, r: FloatArray, z: FloatArray, sign: float) -> FloatArray:
    # A plane at a random angle and offset from the middle of the grid, or a circle:
    # with sign -1 a cavity (positive inside), with +1 a disc (positive outside).
    nr, nz = r.shape
    if draw(st.booleans()):
        a = draw(st.floats(0.0, 2 * math.pi))
        c = draw(st.floats(-3.0, 3.0))
        return np.asarray(math.cos(a) * (r - nr / 2) + math.sin(a) * (z - nz / 2) + c)
    rc = draw(st.floats(0.0, nr))
    zc = draw(st.floats(0.0, nz))
    rad = draw(st.floats(1.0, 8.0))
    return np.asarray(sign * (np.hypot(r - rc, z - zc) - rad))


@st.composite
def electrode_geometries(
    draw: st.DrawFn, min_nodes: int = 3, max_nodes: int = 14
) -> tuple[KindArray, FloatArray, FloatArray, float, float]:
    """A small grid with a planar or circular anode and tool, and blocked nodes.

    Returns
    -------
    kind : int8 array (nr, nz)
        Node kinds; 0, 10 or 30 % of the electrolyte nodes blocked (insulator or
        outside), floating pockets marked outside.
    psi_w, psi_t : float64 arrays (nr, nz)
        Workpiece and tool level sets, grid units.
    u : float
        Anode potential, 0.5-20 V.
    h : float
        Spacing, 1 (grid units).
    """
    nr = draw(st.integers(min_nodes, max_nodes))
    nz = draw(st.integers(min_nodes, max_nodes))
    h = 1.0
    r, z = grid(nr, nz, h)
    psi_w = _plane_or_circle(draw, r, z, -1.0)
    psi_t = _plane_or_circle(draw, r, z, 1.0)
    seed = draw(seeds)
    frac = draw(st.sampled_from([0.0, 0.1, 0.3]))
    blocked = np.random.default_rng(seed).random((nr, nz)) < frac
    kind = node_kinds(psi_w, psi_t, blocked, draw(st.sampled_from([3, 4])))
    kind[floating_pockets(kind)] = OUTSIDE  # the caller's job: A is singular on floating pockets
    u = draw(st.floats(0.5, 20.0))
    return kind, psi_w, psi_t, u, h


@st.composite
def tool_in_hole_geometries(draw: st.DrawFn) -> tuple[KindArray, FloatArray, FloatArray, float]:
    """Embedded geometries for the solvers: a tool in a hole, or planes and circles.

    Half the examples are a tube tool in a round-bottomed hole (:func:`~ecmsim.testing.problems.grid_tool_in_hole`)
    with side gaps often under one cell, coatings and the axis; the other half a
    planar anode and a circular tool with 0-30 % of the nodes blocked.

    Returns
    -------
    kind : int8 array (nr, nz), 5 <= nr <= 36, 5 <= nz <= 44
    psi_w, psi_t : float64 arrays (nr, nz), grid units
    u : float
        Anode potential, 0.5-20 V.
    """
    nr = draw(st.integers(5, 36))
    nz = draw(st.integers(5, 44))
    u = draw(st.floats(0.5, 20.0))
    if draw(st.booleans()):
        hole_r = draw(st.floats(2.0, max(2.5, nr - 1.0)))
        bottom = -draw(st.floats(2.0, max(2.5, nz - 6.0)))
        tool_ro = hole_r - draw(st.floats(0.2, 3.0))  # side gap, often under one cell
        tool_ri = draw(st.floats(0.0, max(0.0, tool_ro - 1.0)))
        face = bottom + draw(st.floats(0.2, 4.0))
        coat = draw(st.sampled_from([0.0, 0.6, 1.5]))
        bare = draw(st.floats(0.0, 5.0))
        kind, psi_w, psi_t = grid_tool_in_hole(nr, nz, hole_r, bottom, tool_ri, tool_ro, face, coat, bare)
    else:
        r, z = grid(nr, nz, 1.0)
        a = draw(st.floats(0.0, 2 * math.pi))
        psi_w = math.cos(a) * (r - nr / 2) + math.sin(a) * (z - nz / 2) + draw(st.floats(-3.0, 3.0))
        rc, zc, rad = draw(st.floats(0.0, nr)), draw(st.floats(0.0, nz)), draw(st.floats(1.0, 8.0))
        psi_t = np.hypot(r - rc, z - zc) - rad
        seed = draw(seeds)
        blocked = np.random.default_rng(seed).random((nr, nz)) < draw(st.sampled_from([0.0, 0.1, 0.3]))
        kind = node_kinds(psi_w, psi_t, blocked, draw(st.sampled_from([3, 4])))
        kind[floating_pockets(kind)] = OUTSIDE
    return kind, psi_w, psi_t, u


# ---------------------------------------------------------------------- TOML values
#: Any finite float64.
finite_floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
#: Floats that break careless parsers: NaN, infinities, signed zero, extremes, a subnormal.
odd_floats = st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, -1.0, 1e-300, 1e300, 5e-324])
#: TOML integers are 64-bit (``tomllib`` keeps bigger ones; a config must refuse them).
toml_integers = st.integers(min_value=-(2**63), max_value=2**63 - 1)
#: Short strings, any characters.
short_texts = st.text(max_size=12)
#: Every TOML scalar type, odd values included.
toml_scalars = st.one_of(
    toml_integers, finite_floats, odd_floats, st.booleans(), short_texts, st.dates(), st.datetimes(), st.times()
)
#: TOML values: scalars, and lists and tables of them nested a few levels (at most 8 scalars).
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(short_texts, inner, max_size=3),
    max_leaves=8,
)
