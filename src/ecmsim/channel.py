"""Flow, heat and gas along the electrolyte path: a quasi-steady 1D channel model.

The electrolyte of a STEM or ECD cell enters the tube bore at the inlet
pressure, leaves at the tool face, turns outward through the frontal gap,
flows up beside the bare tip and up the annulus between the coated tube and
the hole wall, and leaves at the surface.  Along this path (coordinate s) the
flow, the temperature and the gas are quasi-steady at each time step, so a
march over cells of the path carries them (gap-physics.md):

* liquid volume flow Q_l, constant along s;
* pressure, homogeneous two-phase flow (no slip): laminar dp/ds = −μ R (Q_l + Q_g)
  with the exact laminar resistance R of the cell (pipe 128/(π d⁴), concentric
  annulus 8/(π [r₂⁴ − r₁⁴ − (r₂² − r₁²)²/ln(r₂/r₁)]), radial gap of height h
  6/(π r h³) per unit radius); above Re = 2300 the larger of that and Darcy
  with Blasius f = 0.316 Re^−0.25 on the hydraulic diameter; minor losses
  K ρ_m u_m²/2 at cell entries and at the exit;
* energy, ρ c_p Q_l dT/ds = κ(T, α) G′(s) − U_w P (T − T_in), with G′ the field's
  ∫|∇φ|² dA per unit length (the Joule power is κ G′) and an optional wall
  loss (adiabatic by default, an upper bound on the temperature);
* gas, ṅ(s) = Σ moles per second produced upstream (H₂ at the cathode,
  O₂ from the anodic charge not used for dissolution); Q_g = ṅ R T/p and
  void fraction α = Q_g/(Q_g + Q_l);
* conductivity κ = κ_ref [1 + a_T (T − T_ref)] (1 − α)^1.5 (Bruggeman).

The temperature is marched forward from the inlet (exactly over each cell:
the right-hand side is linear in T), the pressure backward from the outlet
(so it never falls below the outlet pressure), and the two are iterated to
a fixed point where gas couples them.  Given the inlet pressure, the flow is
the root of p_inlet(Q_l) (Brent); given the flow, it is used as is.

Pressures are absolute.  Everything is SI (Pa, K, m, m³/s, W).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Required, TypedDict, Unpack

import numpy as np
import numpy.typing as npt

from ecmsim.errors import SolverError
from ecmsim.units import FARADAY

FloatArray = npt.NDArray[np.float64]

#: Molar gas constant, J/(mol·K) (exact by the 2019 SI).
GAS_CONSTANT = 8.314462618
#: Standard atmosphere, Pa.
ATMOSPHERE = 101325.0
#: 0 °C in kelvin.
ZERO_CELSIUS = 273.15
#: Reynolds number above which a cell may be turbulent.
CRITICAL_REYNOLDS = 2300.0

#: Segments of the electrolyte path, in order along s.
BORE, FRONTAL_GAP, BARE_TIP, ANNULUS = 0, 1, 2, 3
SEGMENT_NAMES = ("bore", "frontal_gap", "bare_tip", "annulus")


# ---- properties -------------------------------------------------------------
def water_viscosity(temperature: FloatArray | float) -> FloatArray:
    """Dynamic viscosity of water, Pa·s, at ``temperature`` (K); Vogel's equation.

    μ = 2.414e-5 · 10^(247.8/(T − 140)) Pa·s, within about 2.5 % of the IAPWS
    values between 0 and 370 °C (1.002 mPa·s at 20 °C).
    """
    t = np.asarray(temperature, dtype=np.float64)
    return np.asarray(2.414e-5 * 10.0 ** (247.8 / (t - 140.0)))


def saturation_temperature(pressure: FloatArray | float) -> FloatArray:
    """Saturation temperature of water, K, at absolute ``pressure`` (Pa).

    The IAPWS-IF97 region-4 backward equation (valid 611 Pa to 22.064 MPa):
    100.0 °C at 0.101325 MPa, 179.9 °C at 1 MPa.
    """
    n = (
        0.11670521452767e4, -0.72421316598929e6, -0.17073846940092e2, 0.12020824702470e5,
        -0.32325550322333e7, 0.14915108613530e2, -0.48232657361591e4, 0.40511340542057e6,
        -0.23855557567849, 0.65017534844798e3,
    )  # fmt: skip
    beta = (np.asarray(pressure, dtype=np.float64) / 1e6) ** 0.25
    e = beta**2 + n[2] * beta + n[5]
    f = n[0] * beta**2 + n[3] * beta + n[6]
    g = n[1] * beta**2 + n[4] * beta + n[7]
    d = 2.0 * g / (-f - np.sqrt(f**2 - 4.0 * e * g))
    return np.asarray(0.5 * (n[9] + d - np.sqrt((n[9] + d) ** 2 - 4.0 * (n[8] + n[9] * d))))


@dataclass(frozen=True)
class Fluid:
    """Bulk properties of the electrolyte, SI.

    Attributes
    ----------
    density : float
        Liquid density ρ, kg/m³.
    viscosity : float
        Dynamic viscosity μ at ``viscosity_temperature``, Pa·s; at other
        temperatures it follows water's: μ(T) = μ · μ_w(T)/μ_w(T_μ).
    viscosity_temperature : float
        Temperature of ``viscosity``, K.
    specific_heat : float
        Specific heat capacity c_p, J/(kg·K).
    conductivity : float
        Conductivity κ_ref at ``reference_temperature`` without gas, S/m.
    temperature_coefficient : float
        a_T of κ = κ_ref [1 + a_T (T − T_ref)], 1/K.
    reference_temperature : float
        T_ref, K.
    bruggeman_exponent : float
        Exponent of (1 − α) in the conductivity of a bubbly electrolyte (1.5).
    """

    density: float
    viscosity: float
    viscosity_temperature: float
    specific_heat: float
    conductivity: float
    temperature_coefficient: float
    reference_temperature: float
    bruggeman_exponent: float = 1.5

    def conductivity_at(self, temperature: FloatArray | float, void: FloatArray | float = 0.0) -> FloatArray:
        """κ (S/m) at ``temperature`` (K) and void fraction ``void`` (any shapes that broadcast)."""
        t = np.asarray(temperature, dtype=np.float64)
        a = np.clip(np.asarray(void, dtype=np.float64), 0.0, 1.0)
        thermal = 1.0 + self.temperature_coefficient * (t - self.reference_temperature)
        return np.asarray(self.conductivity * np.maximum(thermal, 0.0) * (1.0 - a) ** self.bruggeman_exponent)

    def viscosity_at(self, temperature: FloatArray | float) -> FloatArray:
        """μ (Pa·s) at ``temperature`` (K)."""
        return np.asarray(self.viscosity * water_viscosity(temperature) / water_viscosity(self.viscosity_temperature))


# ---- the path ---------------------------------------------------------------
@dataclass(frozen=True)
class Channel:
    """Cells of an electrolyte path, in flow order; every array has shape (n,).

    Attributes
    ----------
    length : FloatArray
        Cell length along s, m.
    area : FloatArray
        Flow cross-section, m².
    hydraulic_diameter : FloatArray
        4 A / wetted perimeter, m.
    laminar_resistance : FloatArray
        R of laminar dp/ds = −μ Q R, 1/m⁴.
    wetted_perimeter : FloatArray
        Perimeter of the walls, m (for the optional wall heat loss).
    entry_loss : FloatArray
        Minor-loss coefficient K at the cell's entry (velocity of the cell).
    segment : numpy.ndarray
        int8 segment of each cell (:data:`BORE`, :data:`FRONTAL_GAP`, ...).
    exit_loss : float
        Minor-loss coefficient at the outlet (velocity of the last cell).
    """

    length: FloatArray
    area: FloatArray
    hydraulic_diameter: FloatArray
    laminar_resistance: FloatArray
    wetted_perimeter: FloatArray
    entry_loss: FloatArray
    segment: np.ndarray
    exit_loss: float = 0.0

    @property
    def size(self) -> int:
        return int(self.length.size)

    @property
    def faces(self) -> FloatArray:
        """s at the cell faces, m, shape (n + 1,): 0 at the inlet."""
        return np.concatenate([[0.0], np.cumsum(self.length)])

    @property
    def centres(self) -> FloatArray:
        """s at the cell centres, m, shape (n,)."""
        f = self.faces
        return 0.5 * (f[:-1] + f[1:])

    def first_cell(self, segment: int) -> int:
        """Index of the first cell of ``segment`` (``size`` when the path has none)."""
        hit = np.flatnonzero(self.segment == segment)
        return int(hit[0]) if hit.size else self.size


def _cells(
    n: int,
    segment: int,
    *,
    length: FloatArray | float,
    area: FloatArray | float,
    hydraulic_diameter: FloatArray | float,
    laminar_resistance: FloatArray | float,
    wetted_perimeter: FloatArray | float,
) -> Channel:
    def full(v: FloatArray | float) -> FloatArray:
        a = np.asarray(v, dtype=np.float64)
        if a.ndim == 0:
            return np.full(n, float(a))
        return a.copy() if a.shape == (n,) else np.broadcast_to(a, (n,)).copy()

    return Channel(
        length=full(length),
        area=full(area),
        hydraulic_diameter=full(hydraulic_diameter),
        laminar_resistance=full(laminar_resistance),
        wetted_perimeter=full(wetted_perimeter),
        entry_loss=np.zeros(n),
        segment=np.full(n, segment, dtype=np.int8),
    )


def pipe(diameter: float, length: float, cells: int, segment: int = BORE) -> Channel:
    """A circular pipe of ``diameter`` and ``length`` (m) in ``cells`` equal cells."""
    if not (diameter > 0 and length > 0 and cells >= 1):
        raise ValueError(f"pipe needs diameter > 0, length > 0 and cells >= 1, got {diameter}, {length}, {cells}")
    return _cells(
        cells, segment,
        length=length / cells,
        area=0.25 * math.pi * diameter**2,
        hydraulic_diameter=diameter,
        laminar_resistance=128.0 / (math.pi * diameter**4),
        wetted_perimeter=math.pi * diameter,
    )  # fmt: skip


def annulus_resistance(r_inner: FloatArray | float, r_outer: FloatArray | float) -> FloatArray:
    """Laminar resistance R (1/m⁴) of a concentric annulus r_inner < r_outer (m).

    R = 8 / (π [r₂⁴ − r₁⁴ − (r₂² − r₁²)²/ln(r₂/r₁)]); for r₁ = 0 the pipe's 8/(π r₂⁴).
    """
    r1 = np.asarray(r_inner, dtype=np.float64)
    r2 = np.asarray(r_outer, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        shape = np.where(r1 > 0, r2**4 - r1**4 - (r2**2 - r1**2) ** 2 / np.log(r2 / np.where(r1 > 0, r1, 1.0)), r2**4)
    return np.asarray(8.0 / (math.pi * shape))


def annulus(
    r_inner: FloatArray | float, r_outer: FloatArray | float, length: float, cells: int, segment: int = ANNULUS
) -> Channel:
    """A concentric annulus between radii ``r_inner`` < ``r_outer`` (m, scalars or (cells,)) over ``length``."""
    r1 = np.broadcast_to(np.asarray(r_inner, dtype=np.float64), (cells,))
    r2 = np.broadcast_to(np.asarray(r_outer, dtype=np.float64), (cells,))
    if not (length > 0 and np.all(r2 > r1) and np.all(r1 >= 0)):
        raise ValueError("annulus needs 0 <= r_inner < r_outer and length > 0")
    return _cells(
        cells, segment,
        length=length / cells,
        area=math.pi * (r2**2 - r1**2),
        hydraulic_diameter=2.0 * (r2 - r1),
        laminar_resistance=annulus_resistance(r1, r2),
        wetted_perimeter=2.0 * math.pi * (r1 + r2),
    )  # fmt: skip


def radial_gap(r_inner: float, r_outer: float, gap: FloatArray | float, cells: int) -> Channel:
    """Radial outflow between parallel faces ``gap`` apart (m, scalar or per cell) from r_inner to r_outer.

    Each cell [r_a, r_b] has the exact laminar drop 6 μ Q ln(r_b/r_a)/(π h³)
    (the gap between two discs); its area and hydraulic diameter are those at
    mid-radius, 2π r h and 2h.
    """
    h = np.broadcast_to(np.asarray(gap, dtype=np.float64), (cells,))
    if not (0 < r_inner < r_outer and np.all(h > 0)):
        raise ValueError("radial gap needs 0 < r_inner < r_outer and gap > 0")
    r = np.linspace(r_inner, r_outer, cells + 1)
    dr = np.diff(r)
    rc = 0.5 * (r[:-1] + r[1:])
    return _cells(
        cells, FRONTAL_GAP,
        length=dr,
        area=2.0 * math.pi * rc * h,
        hydraulic_diameter=2.0 * h,
        laminar_resistance=6.0 * np.log(r[1:] / r[:-1]) / (math.pi * h**3 * dr),
        wetted_perimeter=4.0 * math.pi * rc,
    )  # fmt: skip


def connect(parts: Sequence[Channel], entry_losses: Sequence[float] = (), exit_loss: float = 0.0) -> Channel:
    """Join channel parts in flow order; ``entry_losses[i]`` is K at the entry of part i."""
    losses = list(entry_losses) + [0.0] * (len(parts) - len(entry_losses))
    entry = []
    for part, k in zip(parts, losses, strict=True):
        e = part.entry_loss.copy()
        e[0] += k
        entry.append(e)
    return Channel(
        length=np.concatenate([p.length for p in parts]),
        area=np.concatenate([p.area for p in parts]),
        hydraulic_diameter=np.concatenate([p.hydraulic_diameter for p in parts]),
        laminar_resistance=np.concatenate([p.laminar_resistance for p in parts]),
        wetted_perimeter=np.concatenate([p.wetted_perimeter for p in parts]),
        entry_loss=np.concatenate(entry),
        segment=np.concatenate([p.segment for p in parts]),
        exit_loss=exit_loss,
    )


@dataclass(frozen=True)
class MinorLosses:
    """Minor-loss coefficients K of the tool path (defaults to calibrate, gap-physics.md)."""

    bore_entrance: float = 0.5
    tip_turn: float = 1.5
    exit: float = 1.0


def tool_path(
    r_inner: float,
    r_outer: float,
    coating: float,
    bare_tip: float,
    depth: float,
    tube_length: float,
    frontal_gap: FloatArray | float,
    bare_tip_wall: FloatArray | float,
    annulus_wall: FloatArray | float,
    cells: tuple[int, int, int, int] = (20, 20, 20, 40),
    losses: MinorLosses = MinorLosses(),
) -> Channel:
    """The electrolyte path of a tubular tool in its hole (all lengths m).

    Bore (``tube_length``, diameter 2 r_inner) → frontal gap (radial, r_inner to
    r_outer, height ``frontal_gap``) → bare-tip side gap (annulus r_outer to
    ``bare_tip_wall`` over ``min(bare_tip, depth)``) → coated annulus (r_outer +
    coating to ``annulus_wall`` over the rest of the depth) → exit.  Wall radii
    and the frontal gap are scalars or one value per cell of their segment;
    ``cells`` is the number of cells per segment.
    """
    n_bore, n_front, n_tip, n_ann = cells
    parts = [pipe(2.0 * r_inner, tube_length, n_bore), radial_gap(r_inner, r_outer, frontal_gap, n_front)]
    side = min(bare_tip, depth) if coating > 0 else depth
    if side > 0:
        parts.append(annulus(r_outer, bare_tip_wall, side, n_tip, segment=BARE_TIP))
    if coating > 0 and depth > side:
        parts.append(annulus(r_outer + coating, annulus_wall, depth - side, n_ann))
    return connect(parts, (losses.bore_entrance, losses.tip_turn), losses.exit)


# ---- sources ----------------------------------------------------------------
def gas_production(
    cathode_current: FloatArray | float,
    unused_anode_current: FloatArray | float = 0.0,
    hydrogen_efficiency: float = 1.0,
) -> FloatArray:
    """Moles of gas per second, η_c I_c/(2F) (H₂) + I_a,unused/(4F) (O₂).

    Parameters
    ----------
    cathode_current : FloatArray or float
        Current into the cathode of each cell, A.
    unused_anode_current : FloatArray or float
        Anodic current not used for dissolution, (1 − η) I_a, A.
    hydrogen_efficiency : float
        Fraction η_c of the cathode current that evolves hydrogen.
    """
    ic = np.asarray(cathode_current, dtype=np.float64)
    ia = np.asarray(unused_anode_current, dtype=np.float64)
    return np.asarray(hydrogen_efficiency * ic / (2.0 * FARADAY) + ia / (4.0 * FARADAY))


# ---- the march --------------------------------------------------------------
@dataclass(frozen=True)
class ChannelProfile:
    """The quasi-steady state along a path; face arrays (n + 1,), cell arrays (n,), SI.

    Attributes
    ----------
    flow_rate : float
        Liquid volume flow Q_l, m³/s.
    position : FloatArray
        s at the faces, m.
    pressure : FloatArray
        Absolute pressure at the faces, Pa (``pressure[0]`` the inlet; the exit
        loss lies between ``pressure[-1]`` and the outlet pressure).
    temperature : FloatArray
        Temperature at the faces, K.
    gas_moles : FloatArray
        Gas carried through each face, mol/s.
    gas_flow : FloatArray
        Gas volume flow through each face, m³/s.
    void_fraction : FloatArray
        α at the faces.
    conductivity : FloatArray
        κ at the cell centres, S/m (shape (n,)).
    joule_power : FloatArray
        Joule power of each cell, W (shape (n,)).
    reynolds : FloatArray
        Reynolds number of each cell (shape (n,)).
    channel : Channel
        The path.
    """

    flow_rate: float
    position: FloatArray
    pressure: FloatArray
    temperature: FloatArray
    gas_moles: FloatArray
    gas_flow: FloatArray
    void_fraction: FloatArray
    conductivity: FloatArray
    joule_power: FloatArray
    reynolds: FloatArray
    channel: Channel = field(repr=False)

    @property
    def inlet_pressure(self) -> float:
        return float(self.pressure[0])

    def pressure_at(self, segment: int) -> float:
        """Pressure at the entry face of ``segment``, Pa (the tip pressure for :data:`FRONTAL_GAP`)."""
        return float(self.pressure[self.channel.first_cell(segment)])

    @property
    def outlet_temperature(self) -> float:
        return float(self.temperature[-1])


def _void(n_moles: FloatArray, temperature: FloatArray, pressure: FloatArray, q_l: float) -> FloatArray:
    q_g = n_moles * GAS_CONSTANT * temperature / pressure
    return np.asarray(q_g / (q_g + q_l))


class Sources(TypedDict, total=False):
    """What a path carries besides its flow: the keywords of :func:`channel_state` and :func:`flow_from_pressure`.

    ``inlet_temperature`` (K) is required; ``joule_conductance`` (V²·m, shape (n,)
    or scalar, default 0), ``gas_moles`` (mol/s, shape (n,) or scalar, default 0),
    ``outlet_pressure`` (Pa, default :data:`ATMOSPHERE`) and ``wall_heat_transfer``
    (W/(m²·K), default 0: adiabatic) as in :func:`channel_state`.
    """

    joule_conductance: FloatArray | float
    gas_moles: FloatArray | float
    inlet_temperature: Required[float]
    outlet_pressure: float
    wall_heat_transfer: float


class _Path:
    """A path, its fluid and sources, ready for the march kernel: one liquid flow at a time.

    :meth:`inlet_pressure` runs :func:`ecmsim.kernels.channel.march_profile` for a flow
    (the only work per evaluation of p_inlet(Q_l), so the root finder stays cheap);
    :meth:`profile` turns the last march into a :class:`ChannelProfile`.
    """

    def __init__(self, channel: Channel, fluid: Fluid, sources: Sources, max_iterations: int) -> None:
        unknown = set(sources) - set(Sources.__annotations__)
        if unknown:
            raise TypeError(
                f"unknown channel keyword(s) {sorted(unknown)}; allowed: {', '.join(Sources.__annotations__)}"
            )
        n = channel.size
        self.channel, self.fluid, self.t_in = channel, fluid, sources["inlet_temperature"]
        self.p_out = sources.get("outlet_pressure", ATMOSPHERE)
        self.wall_h, self.max_iterations = sources.get("wall_heat_transfer", 0.0), max_iterations
        joule = np.asarray(sources.get("joule_conductance", 0.0), dtype=np.float64)
        self.joule = np.ascontiguousarray(np.broadcast_to(joule, (n,)))
        src = np.broadcast_to(np.asarray(sources.get("gas_moles", 0.0), dtype=np.float64), (n,))
        self.n_faces = np.concatenate([[0.0], np.cumsum(src)])
        self.mu_scale = fluid.viscosity / float(water_viscosity(fluid.viscosity_temperature))
        self.p, self.temp = np.empty(n + 1), np.empty(n + 1)
        self.void, self.re = np.empty(n), np.empty(n)
        self.flow_rate = math.nan

    def inlet_pressure(self, flow_rate: float) -> float:
        """March the path for a liquid flow (m³/s); the absolute inlet pressure, Pa."""
        from ecmsim.kernels import channel as kc

        ch, f = self.channel, self.fluid
        kc.march_profile(
            ch.length, ch.wetted_perimeter, ch.area, ch.hydraulic_diameter, ch.laminar_resistance, ch.entry_loss,
            ch.exit_loss, self.joule, self.n_faces, flow_rate, self.t_in, f.density,
            f.density * f.specific_heat * flow_rate, f.conductivity, f.temperature_coefficient,
            f.reference_temperature, f.bruggeman_exponent, self.wall_h, self.mu_scale, self.p_out,
            self.max_iterations, self.p, self.temp, self.void, self.re,
        )  # fmt: skip
        self.flow_rate = flow_rate
        return float(self.p[0])

    def profile(self, flow_rate: float) -> ChannelProfile:
        """The profiles for a liquid flow (m³/s), marched again unless it was the last one."""
        if flow_rate != self.flow_rate:
            self.inlet_pressure(flow_rate)
        ch, fluid, p, temp = self.channel, self.fluid, self.p.copy(), self.temp.copy()
        n_faces = self.n_faces
        n_mid = 0.5 * (n_faces[:-1] + n_faces[1:])
        p_mid, t_mid = 0.5 * (p[:-1] + p[1:]), 0.5 * (temp[:-1] + temp[1:])
        gas_flow = n_faces * GAS_CONSTANT * temp / p
        heat = fluid.density * fluid.specific_heat * flow_rate * np.diff(temp)
        heat += self.wall_h * ch.wetted_perimeter * ch.length * (t_mid - self.t_in)
        return ChannelProfile(
            flow_rate=flow_rate,
            position=ch.faces,
            pressure=p,
            temperature=temp,
            gas_moles=n_faces,
            gas_flow=gas_flow,
            void_fraction=gas_flow / (gas_flow + flow_rate),
            conductivity=fluid.conductivity_at(t_mid, _void(n_mid, t_mid, p_mid, flow_rate)),
            joule_power=heat,
            reynolds=self.re.copy(),
            channel=ch,
        )


def channel_state(
    channel: Channel, fluid: Fluid, flow_rate: float, *, max_iterations: int = 50, **sources: Unpack[Sources]
) -> ChannelProfile:
    """The quasi-steady profiles along ``channel`` for a given liquid flow.

    Parameters
    ----------
    channel
        The path (n cells).
    fluid
        Electrolyte properties.
    flow_rate
        Liquid volume flow Q_l, m³/s (> 0).
    **sources
        The keywords of :class:`Sources`:
    joule_conductance
        ∫|∇φ|² dV over each cell's region, V²·m, shape (n,) or scalar: the Joule
        power of a cell is κ times this.
    gas_moles
        Gas produced in each cell, mol/s, shape (n,) or scalar.
    inlet_temperature
        Temperature at the inlet, K.
    outlet_pressure
        Absolute pressure at the outlet, Pa.
    wall_heat_transfer
        Heat transfer coefficient to walls at the inlet temperature, W/(m²·K)
        (0: adiabatic).
    max_iterations
        Cap on the temperature–pressure fixed-point iterations (gas couples them).
    """
    if not flow_rate > 0:
        raise ValueError(f"flow_rate must be > 0, got {flow_rate}")
    return _Path(channel, fluid, sources, max_iterations).profile(flow_rate)


def flow_from_pressure(
    channel: Channel, fluid: Fluid, inlet_pressure: float, *, guess: float | None = None, **sources: Unpack[Sources]
) -> ChannelProfile:
    """The profiles for a given absolute inlet pressure (Pa): Q_l is the root of p_inlet(Q_l) (Brent).

    The other parameters are those of :func:`channel_state`; ``guess`` is a
    flow rate near the answer (m³/s), e.g. the last step's.  The bracket is
    found from above (the laminar, liquid-only flow, doubled until the drop
    exceeds the inlet pressure, then halved), so the root is the largest flow
    the pressure can drive.

    Raises
    ------
    SolverError
        When the pressure difference cannot drive a measurable flow.
    """
    from scipy.optimize import brentq

    path = _Path(channel, fluid, sources, 50)
    outlet_pressure = path.p_out

    def excess(q: float) -> float:
        return path.inlet_pressure(q) - inlet_pressure

    def no_flow() -> SolverError:
        return SolverError(
            f"an inlet pressure of {inlet_pressure / 1e6:.4g} MPa cannot drive the electrolyte through the "
            f"gap against {outlet_pressure / 1e6:.4g} MPa at the outlet (no flow)"
        )

    if not inlet_pressure > outlet_pressure:
        raise no_flow()
    mu = float(fluid.viscosity_at(path.t_in))
    laminar = (inlet_pressure - outlet_pressure) / (mu * float(np.sum(channel.laminar_resistance * channel.length)))
    grow = 1.02 if guess else 2.0  # near the last step's flow a tight bracket saves evaluations
    q_high = min(guess * grow, laminar) if guess else laminar
    for _ in range(200):
        if excess(q_high) > 0.0:
            break
        q_high *= grow
    q_low = q_high / grow
    for _ in range(200):
        if excess(q_low) < 0.0:
            break
        q_low /= grow
        if q_low < 1e-12 * laminar:
            raise no_flow()
    else:
        raise no_flow()
    q = brentq(excess, q_low, q_high, xtol=1e-13 * q_high, rtol=1e-11)
    return path.profile(q)
