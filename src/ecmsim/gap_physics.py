"""Secondary physics of a drilling step: flow, heating and gas along the gap set the conductivity.

With ``[physics] secondary = true`` every step of the :class:`~ecmsim.stepper.Stepper`
works with a conductivity per node instead of one value (gap-physics.md):

1. :meth:`GapPhysics.conductivity` gives each node of the window the κ of its station
   on the electrolyte path (:mod:`ecmsim.channel`) from the previous step's profile:
   under the tool face by radius, beside the tool by height; the bore takes the bore
   exit's state and the film above the surface the last cell's.  The potential is
   solved with these (:func:`ecmsim.kernels.potential.scale_conductivity`), a one-step
   lag that is enough because flow, heat and gas are quasi-steady on the time scale
   of the shape.
2. :meth:`GapPhysics.update` takes from the solved field each node's Joule power
   (the discrete Σ G (Δφ)² of its links, which adds up to I U exactly), its current
   into the cathode (hydrogen) and its anodic current not used for dissolution
   (oxygen), sums them per station, rebuilds the path for the present hole (frontal
   gap from the bottom under the tube wall, side gaps from the wall radius) and solves
   the channel for the next step.

Everything is SI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ecmsim import channel as ch
from ecmsim.errors import SolverError
from ecmsim.geometry import FloatArray, Grid, Tool

_HISTORY_NAMES = (
    "flow_rate", "inlet_pressure", "tip_pressure", "outlet_temperature", "max_temperature",
    "max_void_fraction", "joule_power", "tip_conductivity",
)  # fmt: skip


@dataclass(frozen=True)
class Supply:
    """The electrolyte supply and the settings of the secondary physics, SI.

    Attributes
    ----------
    fluid : channel.Fluid
        Electrolyte properties; ``fluid.conductivity`` is the primary model's κ
        (at ``fluid.reference_temperature``), the scale of the relative κ per node.
    inlet_pressure : float or None
        Absolute inlet pressure, Pa (None: the flow rate is given).
    flow_rate : float or None
        Liquid flow, m³/s (None: the inlet pressure is given).
    inlet_temperature : float
        K.
    outlet_pressure : float
        Absolute, Pa.
    tube_length : float
        Length of the bore from the inlet to the tip, m.
    wall_heat_transfer : float
        W/(m²·K) (0: adiabatic).
    losses : channel.MinorLosses
        Minor-loss coefficients.
    heating, gas : bool
        Whether Joule heating and gas evolution act.
    boiling_elevation : float
        Boiling-point elevation of the electrolyte over water, K.
    boiling_margin : float
        Fault when the temperature comes within this of the boiling point, K.
    max_void_fraction : float
        Fault when the void fraction exceeds this.
    min_flow_rate : float
        Fault when the liquid flow falls below this, m³/s.
    """

    fluid: ch.Fluid
    inlet_pressure: float | None
    flow_rate: float | None
    inlet_temperature: float
    outlet_pressure: float
    tube_length: float
    wall_heat_transfer: float
    losses: ch.MinorLosses
    heating: bool
    gas: bool
    boiling_elevation: float
    boiling_margin: float = 5.0
    max_void_fraction: float = 0.6
    min_flow_rate: float = 0.0


def _segment_cells(length: float, h: float, most: int) -> int:
    """Cells of a segment: about two grid cells each, at least 2, at most ``most``."""
    return int(min(max(round(length / (2.0 * h)), 2), most))


def _bottom_depths(psi_w: FloatArray, z: FloatArray, h: float, cols: np.ndarray, z_from: float) -> FloatArray:
    """Depth (m) of the first metal crossing below ``z_from`` in each column of ``cols`` (inf: none).

    :func:`ecmsim.geometry.bottom_depth` for several columns at once.
    """
    j0 = max(int(np.searchsorted(z, z_from)), 1)
    block = psi_w[cols, j0:]
    metal = block <= 0.0
    found = metal.any(axis=1)
    j = j0 + np.argmax(metal, axis=1)
    p0, p1 = psi_w[cols, j - 1], psi_w[cols, j]
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.where(p0 <= 0.0, z[j - 1], z[j - 1] + h * p0 / (p0 - p1))
    return np.where(found, depth, np.inf)


def _running_sums(wall: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Running sums (length nz + 1) of the finite wall radii (m) and of their count."""
    ok = np.isfinite(wall)
    total = np.concatenate([[0.0], np.cumsum(np.where(ok, wall, 0.0))])
    count = np.concatenate([[0], np.cumsum(ok)])
    return total, count


@dataclass
class _Stations:
    """The path of this step and the cell of every window node."""

    path: ch.Channel
    cell: np.ndarray  # int64 (nr, nz_window): the path cell of each node


class GapPhysics:
    """The secondary physics of a run: holds the last channel profile between steps.

    Parameters
    ----------
    supply
        The resolved supply.
    grid, tool
        The run's grid and tool.
    """

    def __init__(self, supply: Supply, grid: Grid, tool: Tool) -> None:
        self.supply, self.grid, self.tool = supply, grid, tool
        self.profile: ch.ChannelProfile | None = None
        self._stations: _Stations | None = None
        self._kappa_cells = np.zeros(0)
        self._no_flow = ""
        self._r, self._z = grid.r, grid.z
        self._cell_map: tuple | None = None
        self._bore = ch.pipe(2.0 * tool.r_inner, supply.tube_length, 10)

    # ---- the path ------------------------------------------------------------
    def stations(self, psi_w: FloatArray, wall: FloatArray, z_tip: float, j0: int, j1: int) -> _Stations:
        """The path for the present hole and the path cell of every node of rows ``j0:j1``."""
        g, t, s = self.grid, self.tool, self.supply
        h, r = g.h, self._r
        ri, ro = t.r_inner, t.r_outer
        # frontal gap under the tube wall, from the hole bottom in each column
        cols = np.flatnonzero((r >= ri) & (r <= ro))
        if cols.size == 0:
            cols = np.array([int(round(0.5 * (ri + ro) / h))])
        gaps = _bottom_depths(psi_w, self._z, h, cols, z_tip) - z_tip
        gaps = np.where(np.isfinite(gaps) & (gaps > 0.25 * h), gaps, np.nan)
        fill = float(np.nanmean(gaps)) if np.isfinite(gaps).any() else 10.0 * h
        gaps = np.where(np.isfinite(gaps), gaps, fill)
        n_front = _segment_cells(ro - ri, h, 20)
        r_front = np.linspace(ri, ro, n_front + 1)
        front_gap = np.interp(0.5 * (r_front[:-1] + r_front[1:]), r[cols], gaps)
        parts = [self._bore, ch.radial_gap(ri, ro, front_gap, n_front)]
        depth_in = max(z_tip, 0.0)
        side = min(t.bare_tip, depth_in) if t.coated else depth_in
        edges_tip = edges_ann = None
        wall_sums = None
        if side > 0.5 * h:
            n_tip = _segment_cells(side, h, 30)
            edges_tip = np.linspace(z_tip, z_tip - side, n_tip + 1)  # from the face up
            wall_sums = _running_sums(wall)
            parts.append(ch.annulus(ro, self._wall_between(wall_sums, edges_tip, ro), side, n_tip, segment=ch.BARE_TIP))
        ann = depth_in - side
        if t.coated and ann > 0.5 * h:
            n_ann = _segment_cells(ann, h, 40)
            edges_ann = np.linspace(z_tip - side, 0.0, n_ann + 1)
            r1 = ro + t.coating
            wall_sums = _running_sums(wall) if wall_sums is None else wall_sums
            parts.append(ch.annulus(r1, self._wall_between(wall_sums, edges_ann, r1), ann, n_ann))
        path = ch.connect(parts, (s.losses.bore_entrance, s.losses.tip_turn), s.losses.exit)
        return _Stations(path, self._node_cells(path, z_tip, j0, j1, r_front, edges_tip, edges_ann))

    def _wall_between(self, sums: tuple[FloatArray, FloatArray], edges: FloatArray, r_inner: float) -> FloatArray:
        """Mean wall radius of the rows between successive depths ``edges`` (m), at least r_inner + h/4.

        The rows of a cell are those within half a cell of its depth span; ``sums`` are the
        running sums of the finite wall radii and of their count (:func:`_running_sums`).
        """
        z, h = self._z, self.grid.h
        top, bottom = np.minimum(edges[:-1], edges[1:]), np.maximum(edges[:-1], edges[1:])
        first = np.searchsorted(z, top - 0.5 * h, side="left")  # z >= top - h/2
        last = np.searchsorted(z, bottom + 0.5 * h, side="right")  # z <= bottom + h/2
        total, count = sums
        n = count[last] - count[first]
        mean = (total[last] - total[first]) / np.maximum(n, 1)
        return np.maximum(np.where(n > 0, mean, r_inner + 10.0 * h), r_inner + 0.25 * h)

    def _node_cells(
        self,
        path: ch.Channel,
        z_tip: float,
        j0: int,
        j1: int,
        r_front: FloatArray,
        edges_tip: FloatArray | None,
        edges_ann: FloatArray | None,
    ) -> np.ndarray:
        """The path cell of every node of rows ``j0:j1``, int64 (nr, j1 − j0).

        Below the tool face a node takes its column's cell (the frontal gap by radius,
        the first bare-tip cell outside the tube); above it, the bore's exit cell inside
        the bore and otherwise its row's cell (bare tip or annulus by height, the last
        cell above the surface).  Rows and columns are placed separately, and the map is
        rebuilt only when one of them moved to another cell.
        """
        t, r, z = self.tool, self._r, self._z[j0:j1]
        first_front = path.first_cell(ch.FRONTAL_GAP)
        n_front = r_front.size - 1
        column = first_front + np.clip(np.searchsorted(r_front, r, side="right") - 1, 0, n_front - 1)
        row = np.full(z.size, path.size - 1, dtype=np.int64)  # the film above the surface: the last cell
        surface = z >= 0.0
        if edges_tip is not None:
            k = np.clip(np.searchsorted(-edges_tip, -z, side="right") - 1, 0, edges_tip.size - 2)
            tip_rows = surface & (z >= edges_tip[-1])
            row[tip_rows] = path.first_cell(ch.BARE_TIP) + k[tip_rows]
            column[r > t.r_outer] = path.first_cell(ch.BARE_TIP)
        if edges_ann is not None:
            k = np.clip(np.searchsorted(-edges_ann, -z, side="right") - 1, 0, edges_ann.size - 2)
            ann_rows = surface & (z < edges_ann[0])
            row[ann_rows] = path.first_cell(ch.ANNULUS) + k[ann_rows]
        below = z >= z_tip
        key = (j0, first_front)
        last = self._cell_map
        if (
            last is not None
            and last[0] == key
            and np.array_equal(last[1], column)
            and np.array_equal(last[2], row)
            and np.array_equal(last[3], below)
        ):
            return last[4]
        bore = r < t.r_inner
        above = np.where(bore[:, None], first_front - 1, row[None, :])
        cell = np.ascontiguousarray(np.where(below[None, :], column[:, None], above), dtype=np.int64)
        self._cell_map = (key, column, row, below, cell)
        return cell

    def history_row(self) -> dict[str, float]:
        """This step's values of :data:`~ecmsim.history.SECONDARY_COLUMNS` (SI)."""
        prof = self.profile
        if prof is None:
            return {c: math.nan for c in _HISTORY_NAMES}
        front = prof.channel.segment == ch.FRONTAL_GAP
        return {
            "flow_rate": prof.flow_rate,
            "inlet_pressure": prof.inlet_pressure,
            "tip_pressure": prof.pressure_at(ch.FRONTAL_GAP),
            "outlet_temperature": prof.outlet_temperature,
            "max_temperature": float(prof.temperature.max()),
            "max_void_fraction": float(prof.void_fraction.max()),
            "joule_power": float(prof.joule_power.sum()),
            "tip_conductivity": float(prof.conductivity[front].mean()),
        }

    # ---- the coupling ------------------------------------------------------
    def conductivity(self, psi_w: FloatArray, wall: FloatArray, z_tip: float, j0: int, j1: int) -> FloatArray:
        """κ of every node of rows ``j0:j1`` relative to the primary κ, from the last profile (1 before any)."""
        self._stations = st = self.stations(psi_w, wall, z_tip, j0, j1)
        if self.profile is None or self.profile.conductivity.size != st.path.size:
            kappa = self._first_guess(st.path)
        else:
            kappa = self.profile.conductivity
        self._kappa_cells = kappa
        return np.ascontiguousarray(kappa[st.cell] / self.supply.fluid.conductivity)

    def _first_guess(self, path: ch.Channel) -> FloatArray:
        if self.profile is None:
            s = self.supply
            return np.full(path.size, float(s.fluid.conductivity_at(s.inlet_temperature)))
        # the path grew a segment: carry the last profile's cell values over by segment
        old = self.profile
        out = np.empty(path.size)
        for seg in range(len(ch.SEGMENT_NAMES)):
            new_cells = np.flatnonzero(path.segment == seg)
            old_cells = np.flatnonzero(old.channel.segment == seg)
            if new_cells.size:
                src = old_cells if old_cells.size else np.array([old.conductivity.size - 1])
                out[new_cells] = np.interp(
                    np.linspace(0, 1, new_cells.size), np.linspace(0, 1, src.size), old.conductivity[src]
                )
        return out

    def update(
        self,
        kind: np.ndarray,
        stencil: FloatArray,
        rhs: FloatArray,
        phi: FloatArray,
        u_anode: float,
        eta_mean: float,
    ) -> ch.ChannelProfile | None:
        """Solve the channel from the field of this step (the stencil scaled by the κ of :meth:`conductivity`)."""
        from ecmsim.kernels import potential as kp

        st = self._stations
        assert st is not None, "conductivity() builds the stations first"
        s = self.supply
        scale = 2.0 * math.pi * s.fluid.conductivity * self.grid.h  # stencil weight → conductance, S
        n = st.path.size
        power, cathode, anode = np.empty(n), np.empty(n), np.empty(n)
        kp.station_sources(kind, stencil, rhs, phi, u_anode, st.cell, power, cathode, anode)
        last = self.profile
        joule = scale * power / self._kappa_cells if s.heating else np.zeros(n)  # the power per unit κ
        if s.gas:
            gas = ch.gas_production(scale * cathode, (1.0 - eta_mean) * scale * anode)
        else:
            gas = np.zeros(n)
        common: ch.Sources = {
            "joule_conductance": joule,
            "gas_moles": gas,
            "inlet_temperature": s.inlet_temperature,
            "outlet_pressure": s.outlet_pressure,
            "wall_heat_transfer": s.wall_heat_transfer,
        }
        if s.flow_rate is not None:
            self.profile = ch.channel_state(st.path, s.fluid, s.flow_rate, **common)
        else:
            assert s.inlet_pressure is not None
            guess = last.flow_rate if last is not None else None
            try:
                self.profile = ch.flow_from_pressure(st.path, s.fluid, s.inlet_pressure, guess=guess, **common)
            except SolverError as exc:  # the pressure drives no flow: a fault of the process, not of the solver
                self._no_flow = str(exc)
        return self.profile

    def fault(self) -> tuple[str, str] | None:
        """``(status, what)`` when the last profile shows boiling, gas choking or flow starvation, else None."""
        s, prof = self.supply, self.profile
        if self._no_flow:
            return "flow_starvation", self._no_flow
        if prof is None:
            return None
        if prof.flow_rate < s.min_flow_rate:
            return "flow_starvation", (
                f"the electrolyte flow fell to {prof.flow_rate * 6e4:.4g} L/min, below [flow] min_flow_rate_l_per_min "
                f"= {s.min_flow_rate * 6e4:g}"
            )
        boiling = ch.saturation_temperature(prof.pressure) + s.boiling_elevation
        over = prof.temperature - (boiling - s.boiling_margin)
        k = int(np.argmax(over))
        if over[k] >= 0.0:
            return "boiling", (
                f"the electrolyte reaches {prof.temperature[k] - ch.ZERO_CELSIUS:.1f} °C {self._where(k)}, within "
                f"{s.boiling_margin:g} K of its boiling point {boiling[k] - ch.ZERO_CELSIUS:.1f} °C at "
                f"{prof.pressure[k] / 1e6:.4g} MPa"
            )
        k = int(np.argmax(prof.void_fraction))
        if prof.void_fraction[k] > s.max_void_fraction:
            return "gas_choking", (
                f"gas fills {100 * prof.void_fraction[k]:.0f} % of the gap {self._where(k)}, above [flow] "
                f"max_void_fraction = {s.max_void_fraction:g}"
            )
        return None

    def _where(self, face: int) -> str:
        """Where face ``face`` of the last profile lies, in words."""
        assert self.profile is not None
        path = self.profile.channel
        cell = min(face, path.size - 1)
        seg = ch.SEGMENT_NAMES[int(path.segment[cell])].replace("_", " ")
        return f"{self.profile.position[face] * 1e3:.3f} mm along the flow path (in the {seg})"
