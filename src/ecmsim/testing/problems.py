"""Standard problems for tests and benchmarks: grids, node kinds, potential cases, configs.

Geometry follows the kernels' grid contract (:mod:`ecmsim.kernels.potential`):
arrays of shape ``(nr, nz)`` indexed ``[i, j]``, ``r_i = i h`` with ``i = 0`` on the
axis, ``z_j = z0 + j h``; level sets are signed distances, positive in the
electrolyte; node kinds are the constants of :mod:`ecmsim.geometry`.  Lengths are in
metres unless a function says otherwise (several tests work in grid units, ``h = 1``;
the functions do not care).

The problems stop before the kernels: they return level sets, node kinds and the exact
answer, and each test or benchmark assembles and solves them with the kernel API it is
about.  Nothing here imports Numba.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.ndimage as ndi
import scipy.sparse as sp

from ecmsim.geometry import ANODE, CATHODE, ELECTROLYTE, INSULATOR, OUTSIDE

FloatArray = npt.NDArray[np.float64]
KindArray = npt.NDArray[np.int8]


# ------------------------------------------------------------------ grids and node kinds
def grid(nr: int, nz: int, h: float, z0: float = 0.0) -> tuple[FloatArray, FloatArray]:
    """Node coordinates of the grid contract.

    Parameters
    ----------
    nr, nz : int
        Nodes in r and z.
    h : float
        Spacing (m, or 1 for grid units).
    z0 : float
        z of the first column (same unit as ``h``).

    Returns
    -------
    r, z : float64 arrays (nr, nz)
        ``r[i, j] = i h`` and ``z[i, j] = z0 + j h``.
    """
    r = np.arange(nr) * h
    z = z0 + np.arange(nz) * h
    rr, zz = np.meshgrid(r, z, indexing="ij")
    return rr, zz


def node_kinds(
    psi_w: FloatArray, psi_t: FloatArray, blocked: npt.NDArray[np.bool_] | None = None, blocked_kind: int = INSULATOR
) -> KindArray:
    """Node kinds from the workpiece and tool level sets.

    Parameters
    ----------
    psi_w, psi_t : float64 arrays (nr, nz)
        Signed distances to the workpiece (anode) and the tool (cathode), > 0 in
        the electrolyte.
    blocked : bool array (nr, nz), optional
        Electrolyte nodes to take out of the domain.
    blocked_kind : int
        What ``blocked`` electrolyte nodes become: ``INSULATOR`` (3) or ``OUTSIDE`` (4).

    Returns
    -------
    int8 array (nr, nz)
        ``CATHODE`` where ``psi_t <= 0``, ``ANODE`` where ``psi_w <= 0`` (the
        workpiece wins where both are metal), ``blocked_kind`` on blocked
        electrolyte nodes, ``ELECTROLYTE`` elsewhere.
    """
    kind = np.zeros(psi_w.shape, dtype=np.int8)
    kind[psi_t <= 0.0] = CATHODE
    kind[psi_w <= 0.0] = ANODE
    if blocked is not None:
        kind[blocked & (kind == ELECTROLYTE)] = blocked_kind
    return kind


def floating_pockets(kind: KindArray) -> npt.NDArray[np.bool_]:
    """Electrolyte nodes in 4-connected pockets without any link to an electrode.

    The potential matrix is only semidefinite on such a pocket; the driver (and a
    test that wants a definite matrix) marks them ``OUTSIDE``.

    Parameters
    ----------
    kind : int8 array (nr, nz)

    Returns
    -------
    bool array (nr, nz)
    """
    lab, _ = ndi.label(kind == ELECTROLYTE)
    electrode = (kind == ANODE) | (kind == CATHODE)
    touch = np.zeros(electrode.shape, dtype=bool)
    touch[1:] |= electrode[:-1]
    touch[:-1] |= electrode[1:]
    touch[:, 1:] |= electrode[:, :-1]
    touch[:, :-1] |= electrode[:, 1:]
    grounded = np.unique(lab[touch & (lab > 0)])
    return np.asarray((lab > 0) & ~np.isin(lab, grounded))


@dataclass(frozen=True)
class PotentialProblem:
    """Geometry and boundary values of one potential problem.

    Attributes
    ----------
    h : float
        Grid spacing (m, or 1 in grid units).
    r, z : float64 arrays (nr, nz)
        Node coordinates (unit of ``h``).
    kind : int8 array (nr, nz)
        Node kinds (electrolyte 0, anode 1, cathode 2, insulator 3, outside 4).
    psi_w, psi_t : float64 arrays (nr, nz)
        Signed distances to the workpiece and the tool (unit of ``h``).
    u_anode : float
        Anode potential, V (the tool is at 0 V).
    theta_min : float
        Lower clamp of the cut-link fraction for ``assemble``.
    """

    h: float
    r: FloatArray
    z: FloatArray
    kind: KindArray
    psi_w: FloatArray
    psi_t: FloatArray
    u_anode: float
    theta_min: float = 1e-3


@dataclass(frozen=True, kw_only=True)
class CoaxialProblem(PotentialProblem):
    """The coaxial-cylinder case: cathode rod inside an anode bore, infinite in z.

    The exact potential is ``phi = U ln(r / r_c) / ln(r_a / r_c)`` between the
    cathode radius ``r_c`` and the anode radius ``r_a``.

    Attributes
    ----------
    r_cathode, r_anode : float
        Radii of the tool surface and of the anode bore (m).
    phi_exact : float64 array (nr, nz)
        Exact potential (V) at every node (``0`` inside the cathode, meaningful on
        the electrolyte nodes).
    anode_gradient : float
        Exact normal gradient magnitude at the anode, ``U / (r_a ln(r_a / r_c))``
        (V/m), what ``anode_normal_gradient`` returns on its known nodes.
    anode_flux_sum : float
        Exact value of ``boundary_flux`` at the anode, the current over
        ``2 pi kappa h``: ``U nz / ln(r_a / r_c)`` (V) for the grid's length
        ``nz h``.
    """

    r_cathode: float
    r_anode: float
    phi_exact: FloatArray
    anode_gradient: float
    anode_flux_sum: float


def coaxial_cylinders(
    h: float,
    nr: int | None = None,
    nz: int = 8,
    r_cathode: float = 0.3e-3,
    r_anode: float = 0.75e-3,
    u_anode: float = 10.0,
) -> CoaxialProblem:
    """The coaxial-cylinder potential problem (verification case 1) at spacing ``h``.

    A cathode rod ``r < r_cathode`` (0 V) inside an anode bore ``r > r_anode``
    (``u_anode``), both reaching over the whole grid in z: the potential depends on
    ``r`` only, and the z walls (zero flux) do not disturb it.  The level sets are
    exact distances, ``psi_t = r - r_c`` and ``psi_w = r_a - r``.  Choose ``h`` so
    the radii cut the links at fractions that vary with the resolution (e.g.
    ``h = 1.1 mm / n``) to see the averaged order, or at a fixed fraction
    (``h = r_a / (n + frac)``) for a clean one.

    Parameters
    ----------
    h : float
        Grid spacing (m).
    nr : int, optional
        Nodes in r; default ``ceil(r_anode / h) + 3`` (a few anode nodes beyond the bore).
    nz : int
        Nodes in z.
    r_cathode, r_anode : float
        Radii (m), ``0 < r_cathode < r_anode``.
    u_anode : float
        Anode potential (V).

    Returns
    -------
    CoaxialProblem
    """
    if not 0.0 < r_cathode < r_anode:
        raise ValueError(f"need 0 < r_cathode < r_anode, got {r_cathode} and {r_anode}")
    if nr is None:
        nr = math.ceil(r_anode / h) + 3
    r, z = grid(nr, nz, h)
    psi_t = r - r_cathode
    psi_w = r_anode - r
    log_ratio = math.log(r_anode / r_cathode)
    return CoaxialProblem(
        h=h,
        r=r,
        z=z,
        kind=node_kinds(psi_w, psi_t),
        psi_w=psi_w,
        psi_t=psi_t,
        u_anode=u_anode,
        r_cathode=r_cathode,
        r_anode=r_anode,
        phi_exact=u_anode * np.log(np.maximum(r, r_cathode) / r_cathode) / log_ratio,
        anode_gradient=u_anode / (r_anode * log_ratio),
        anode_flux_sum=u_anode * nz / log_ratio,
    )


# ------------------------------------------------------------------------- tool in a hole
def rounded_box_distance(
    r: FloatArray, z: FloatArray, r0: float, r1: float, z0: float, z1: float, corner: float
) -> FloatArray:
    """Signed distance (< 0 inside) to the box ``[r0, r1] x [z0, z1]`` with rounded corners.

    Parameters
    ----------
    r, z : float64 arrays (nr, nz)
        Node coordinates.
    r0, r1, z0, z1 : float
        Box extent (unit of ``r``; ``r0 < 0`` puts the axis inside).
    corner : float
        Corner radius, ``0 <= corner <= half the shorter side``.

    Returns
    -------
    float64 array (nr, nz)
    """
    cr, cz = 0.5 * (r0 + r1), 0.5 * (z0 + z1)
    hr, hz = 0.5 * (r1 - r0) - corner, 0.5 * (z1 - z0) - corner
    qr, qz = np.abs(r - cr) - hr, np.abs(z - cz) - hz
    inside = np.minimum(np.maximum(qr, qz), 0)
    return np.asarray(np.hypot(np.maximum(qr, 0), np.maximum(qz, 0)) + inside - corner)


def tool_in_hole(
    r: FloatArray,
    z: FloatArray,
    *,
    hole_radius: float,
    hole_bottom: float,
    hole_corner: float,
    tool_radii: tuple[float, float],
    tool_face: float,
    tool_corner: float = 0.0,
    coating: float = 0.0,
    bare_tip: float = 0.0,
    top: float,
) -> tuple[KindArray, FloatArray, FloatArray]:
    """Node kinds and level sets of a tube tool inside a round-bottomed hole.

    Here z points up, out of the workpiece: the workpiece fills ``z < 0`` except the
    hole ``r < hole_radius, z > hole_bottom`` (bottom corner rounded); the tube
    ``tool_radii[0] <= r <= tool_radii[1]`` reaches from ``tool_face`` up to ``top``;
    an insulating coating of thickness ``coating`` lies outside the tube above
    ``tool_face + bare_tip``; electrolyte elsewhere.  Electrolyte pockets sealed off
    from both electrodes are marked ``OUTSIDE`` (the matrix stays definite).

    Parameters
    ----------
    r, z : float64 arrays (nr, nz)
        Node coordinates (any length unit, the same for every argument).
    hole_radius, hole_bottom, hole_corner : float
        Hole radius, z of its bottom (< 0) and the radius of its bottom corner.
    tool_radii : (float, float)
        Inner and outer radius of the tube (inner 0: a solid rod).
    tool_face, tool_corner : float
        z of the tool face and the radius of the tube's corners.
    coating, bare_tip : float
        Coating thickness and the bare length above the face.
    top : float
        z where the hole and the tool end, well above the grid.

    Returns
    -------
    kind : int8 array (nr, nz)
    psi_w, psi_t : float64 arrays (nr, nz)
        Signed distances to the workpiece and the tool.
    """
    hole = -rounded_box_distance(r, z, -hole_radius, hole_radius, hole_bottom, top, hole_corner)
    psi_w = np.maximum(z, hole)
    r_in, r_out = tool_radii
    psi_t = rounded_box_distance(r, z, r_in, r_out, tool_face, top, tool_corner)
    blocked = (r > r_out) & (r < r_out + coating) & (z > tool_face + bare_tip)
    kind = node_kinds(psi_w, psi_t, blocked, INSULATOR)
    kind[floating_pockets(kind)] = OUTSIDE
    return kind, psi_w, psi_t


def grid_tool_in_hole(
    nr: int,
    nz: int,
    hole_r: float,
    bottom: float,
    tool_ri: float,
    tool_ro: float,
    face: float,
    coat: float = 0.0,
    bare: float = 0.0,
) -> tuple[KindArray, FloatArray, FloatArray]:
    """:func:`tool_in_hole` in grid units (``h = 1``).

    The grid starts 3 cells below the hole bottom; the bottom corner is rounded with
    half the hole radius or half its depth, whichever is less; the tube has sharp
    corners.  Returns ``(kind, psi_w, psi_t)``.
    """
    h = 1.0
    z0 = bottom - 3 * h
    r, z = grid(nr, nz, h, z0)
    return tool_in_hole(
        r, z, hole_radius=hole_r, hole_bottom=bottom, hole_corner=min(0.5 * hole_r, 0.5 * abs(bottom)),
        tool_radii=(tool_ri, tool_ro), tool_face=face, coating=coat, bare_tip=bare, top=z0 + nz * h + 100 * h,
    )  # fmt: skip


#: Grid spacings (m) of the solver benchmark: 168 x 390 (65 k), 334 x 779 (260 k) and
#: 668 x 1557 (1.04 M) nodes.
SOLVER_BENCHMARK_SPACINGS = {"65k": 7.2e-6, "260k": 3.6e-6, "1M": 1.8e-6}

_MM = 1e-3


def stem_solver_problem(h: float, u_anode: float = 10.0) -> PotentialProblem:
    """The solver benchmark's STEM-like tool-in-hole problem at spacing ``h`` (m).

    Workpiece surface at z = 0, hole of radius 0.6 mm and depth 2 mm with a 0.3 mm
    rounded bottom corner; tube tool r 0.25-0.5 mm (corners 20 µm) with its face
    0.2 mm above the bottom, insulating coating (50 µm) outside the tube above a
    0.3 mm bare tip; electrolyte in the hole, the tube and 0.5 mm above the surface;
    domain r <= 1.2 mm, z from 0.3 mm below the hole bottom.  Anode at ``u_anode``
    (V), tool at 0 V.  ``SOLVER_BENCHMARK_SPACINGS`` holds the benchmarked sizes.

    Returns
    -------
    PotentialProblem
        Arrays of shape ``(round(1.2 mm / h) + 1, round(2.8 mm / h) + 1)``.
    """
    z_bot = -2.0 * _MM
    z0, z1 = z_bot - 0.3 * _MM, 0.5 * _MM
    nr = round(1.2 * _MM / h) + 1
    nz = round((z1 - z0) / h) + 1
    r, z = grid(nr, nz, h, z0)
    face = z_bot + 0.2 * _MM
    kind, psi_w, psi_t = tool_in_hole(
        r, z, hole_radius=0.6 * _MM, hole_bottom=z_bot, hole_corner=0.3 * _MM, tool_radii=(0.25 * _MM, 0.5 * _MM),
        tool_face=face, tool_corner=0.02 * _MM, coating=0.05 * _MM, bare_tip=0.3 * _MM, top=z1 + 10 * _MM,
    )  # fmt: skip
    return PotentialProblem(h=h, r=r, z=z, kind=kind, psi_w=psi_w, psi_t=psi_t, u_anode=u_anode)


def stencil_matrix(kind: KindArray, stencil: Sequence[FloatArray] | FloatArray) -> sp.csr_matrix:
    """The 5-point potential operator as a CSR matrix over the electrolyte nodes.

    Parameters
    ----------
    kind : int8 array (nr, nz)
    stencil : five float64 arrays (nr, nz), or one array (5, nr, nz)
        ``diag, c_rm, c_rp, c_zm, c_zp`` in that order, as ``assemble`` fills them
        (the matrix has ``diag`` on the diagonal and ``-c`` off it).

    Returns
    -------
    scipy.sparse.csr_matrix (n, n)
        ``n`` = number of electrolyte nodes, numbered in C order of ``(i, j)``;
        index a right-hand side with ``rhs[kind == 0]`` to match.
    """
    diag = stencil[0]
    mask = kind == ELECTROLYTE
    idx = -np.ones(kind.shape, dtype=np.int64)
    idx[mask] = np.arange(mask.sum())
    rows, cols, vals = [idx[mask]], [idx[mask]], [diag[mask]]
    for c, di, dj in ((stencil[1], -1, 0), (stencil[2], 1, 0), (stencil[3], 0, -1), (stencil[4], 0, 1)):
        ii, jj = np.nonzero(mask & (c != 0))
        rows.append(idx[ii, jj])
        cols.append(idx[ii + di, jj + dj])
        vals.append(-c[ii, jj])
    n = int(mask.sum())
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


# --------------------------------------------------------------------- drilling configs
#: A small STEM process as TOML text, for tests that run the CLI or many solves: Inconel
#: 718, Ø0.8 mm tube (bore 0.4 mm, 50 µm coating, 0.3 mm bare tip), 15 % H2SO4 at
#: 25 °C, 7 V with 2.5 V overpotential, 2 mm/min to 1 mm depth, 40 µm cells.  A
#: transient run takes about 0.1 s, an equilibrium about 0.3 s.
FAST_STEM_TOML = """\
# Small STEM config for the tests.
[workpiece]
alloy = "Inconel 718"

[tool]
outer_diameter_mm = 0.8
inner_diameter_mm = 0.4
coating_thickness_mm = 0.05
bare_tip_length_mm = 0.3

[electrolyte]
name = "H2SO4"
concentration_wt_pct = 15.0
temperature_C = 25.0

[electrical]
voltage_V = 7.0
overpotential_V = 2.5

[motion]
feed_rate_mm_per_min = 2.0
depth_mm = 1.0
initial_gap_mm = 0.1

[numerics]
cell_size_mm = 0.04
"""


def drilling_config(**tables: dict[str, Any]) -> dict[str, Any]:
    """A plain acid drilling process as a config document; tests override what they study.

    Inconel 718, Ø1 mm tube (bore 0.5 mm, 50 µm coating, 0.2 mm bare tip), 15 %
    H2SO4 at 20 °C, 8 V with 2 V overpotential, 2 mm/min feed to 1 mm depth from a
    0.1 mm gap, 20 µm cells.

    Parameters
    ----------
    **tables : dict
        Per TOML table, the keys to add or replace (units as in the config schema,
        e.g. ``motion={"depth_mm": 1.6}``).

    Returns
    -------
    dict
        A document for :func:`ecmsim.config.config_from_dict` or ``simulate``.
    """
    doc: dict[str, Any] = {
        "workpiece": {"alloy": "Inconel 718"},
        "tool": {"outer_diameter_mm": 1.0, "inner_diameter_mm": 0.5, "coating_thickness_mm": 0.05,
                 "bare_tip_length_mm": 0.2},
        "electrolyte": {"name": "H2SO4", "concentration_wt_pct": 15.0, "temperature_C": 20.0},
        "electrical": {"voltage_V": 8.0, "overpotential_V": 2.0},
        "motion": {"feed_rate_mm_per_min": 2.0, "depth_mm": 1.0, "initial_gap_mm": 0.1},
        "numerics": {"cell_size_mm": 0.02},
    }  # fmt: skip
    for name, values in tables.items():
        doc.setdefault(name, {}).update(values)
    return doc


def planar_gap_config(h_mm: float, **motion: float) -> dict[str, Any]:
    """The planar-gap case: a wide bare solid rod, so the gap on the axis is a 1-D gap.

    :func:`drilling_config` with a Ø2 mm uncoated solid rod and no electrolyte above
    the surface.

    Parameters
    ----------
    h_mm : float
        Cell size (mm).
    **motion : float
        Keys of the ``[motion]`` table (``feed_rate_mm_per_min``, ``depth_mm``,
        ``initial_gap_mm``, ``dwell_s``, ...).

    Returns
    -------
    dict
        A config document.
    """
    return drilling_config(
        tool={"outer_diameter_mm": 2.0, "inner_diameter_mm": 0.0, "coating_thickness_mm": 0.0},
        motion=motion,
        numerics={"cell_size_mm": h_mm, "electrolyte_above_surface_mm": 0.0},
    )


def tube_tool_overrides(cell_size_mm: float | None = None, depth_mm: float | None = None) -> list[str]:
    """``--set`` overrides of the bundled STEM example for the benchmarks' Ø1 mm tube.

    Parameters
    ----------
    cell_size_mm : float, optional
        Cell size (mm); the example's own when omitted.
    depth_mm : float, optional
        Drilling depth (mm); the example's own when omitted.

    Returns
    -------
    list of str
        ``table.key=value`` strings for ``load_config`` or ``simulate(overrides=...)``.
    """
    out = ["tool.outer_diameter_mm=1.0", "tool.inner_diameter_mm=0.5"]
    if cell_size_mm is not None:
        out.append(f"numerics.cell_size_mm={cell_size_mm}")
    if depth_mm is not None:
        out.append(f"motion.depth_mm={depth_mm}")
    return out
