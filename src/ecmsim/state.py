"""The mutable state of a drilling run, and the window of rows a step works on.

A :class:`DrillingState` holds everything that changes from step to step:
the workpiece level set and the potential on the full grid, the tool face
position, time, step count, charge, removed and Faraday volumes, the wall
radius, the run's status and events, the active :class:`Window` and the
recorded histories.  The :class:`~ecmsim.stepper.Stepper` advances it; the
fixed grid and lengths are in :class:`~ecmsim.domain.Domain`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ecmsim.domain import BoolArray, Domain
from ecmsim.gap_physics import GapPhysics
from ecmsim.geometry import FloatArray, wall_radius
from ecmsim.history import SECONDARY_COLUMNS, HistoryRecorder

KindArray = npt.NDArray[np.int8]


class Window:
    """Rows ``j0:j1`` of the grid that are active in a step, as contiguous arrays.

    The kernels see only the window; the finished wall behind it (and the
    metal below it) is frozen in the full-size arrays of the state.  Buffers
    are reused while the window keeps its size.
    """

    stencil: FloatArray  # (5, nr, nz), the kernels.potential stencil layout
    rhs: FloatArray
    dphidn: FloatArray
    node_flux: FloatArray  # per-node anode cut-link flux (kernels.potential.boundary_node_flux)
    known: BoolArray
    speed: FloatArray
    psi_new: FloatArray
    kind: KindArray

    def __init__(self, domain: Domain, state: DrillingState, j0: int, j1: int, old: Window | None) -> None:
        self.j0, self.j1 = j0, j1
        shape = (domain.grid.nr, j1 - j0)
        self.shape = shape
        if old is not None and old.shape == shape:
            self.stencil, self.rhs = old.stencil, old.rhs
            self.dphidn, self.node_flux, self.known, self.speed, self.psi_new, self.kind = (
                old.dphidn, old.node_flux, old.known, old.speed, old.psi_new, old.kind,
            )  # fmt: skip
        else:
            self.stencil = np.zeros((5, *shape))  # kernels.potential stencil: DIAG, RM, RP, ZM, ZP
            self.rhs = np.zeros(shape)
            self.dphidn = np.zeros(shape)
            self.node_flux = np.zeros(shape)
            self.known = np.zeros(shape, dtype=bool)
            self.speed = np.zeros(shape)
            self.psi_new = np.zeros(shape)
            self.kind = np.zeros(shape, dtype=np.int8)
        sl = np.s_[:, j0:j1]
        self.psi = np.ascontiguousarray(state.psi_w[sl])
        self.phi = np.ascontiguousarray(state.phi[sl])
        self.rr = np.ascontiguousarray(domain.rr[sl])
        self.zz = np.ascontiguousarray(domain.zz[sl])
        self.outside = np.ascontiguousarray(domain.outside[sl])
        self.psi_outside = np.ascontiguousarray(domain.psi_outside[sl])
        # signed distance to every insulating face (outside region, coating), m;
        # filled by Stepper.classify
        self.psi_n = self.psi_outside.copy()
        # signed distance to the conducting tool surface, m; filled by Stepper.classify
        self.psi_cathode = np.ones(shape)
        # conductivity of each node relative to the primary one (secondary physics); filled by the stepper
        self.kappa = np.ones(shape)

    def store(self, state: DrillingState) -> None:
        """Write the window's level set and potential back into the full arrays."""
        state.psi_w[:, self.j0 : self.j1] = self.psi
        state.phi[:, self.j0 : self.j1] = self.phi


@dataclass
class Snapshots:
    """Wall radius per row every ``output_interval`` of tool travel (and at the end)."""

    tool_depth: list[float] = field(default_factory=list)
    wall_radius: list[FloatArray] = field(default_factory=list)
    next_depth: float = 0.0

    def take(self, z_tip: float, wall: FloatArray, interval: float) -> None:
        """Store a copy of ``wall`` (m, shape (nz,)) at tool depth ``z_tip`` (m)."""
        self.tool_depth.append(z_tip)
        self.wall_radius.append(wall.copy())
        self.next_depth = z_tip + interval


@dataclass
class DrillingState:
    """Everything that changes while drilling (SI units).

    Attributes
    ----------
    psi_w : ndarray, shape (nr, nz)
        Workpiece level set on the full grid, m (> 0 in electrolyte).
    phi : ndarray, shape (nr, nz)
        Potential on the full grid, V (warm start of the next solve).
    z_tip : float
        Tool face depth below the original surface, m (negative above it).
    wall : ndarray, shape (nz,)
        Hole wall radius per row, m (NaN: no wall).
    t : float
        Time, s.
    steps : int
        Completed time steps.
    charge : float
        Charge passed, C.
    removed : float
        Metal removed according to the level set, m³.
    faraday_volume : float
        Metal removed according to Faraday's law, ∫ η ω d I dt, m³.
    status, message : str or None, str
        Outcome once the run ended (one of ``simulation.STATUSES``), and why.
    event_time, event_depth : float or None
        Time (s) and tool depth (m) of the event that stopped the run.
    breakthrough_time : float or None
        When the hole broke through the plate's far face, s.
    window : Window or None
        The active rows of the last step (None: place it afresh).
    history : HistoryRecorder
        One row per completed step.
    snapshots : Snapshots
        Wall radius at intervals of tool travel.
    gap : GapPhysics or None
        Flow, heating and gas along the gap with ``[physics] secondary = true``
        (its last channel profile sets the next step's conductivity).
    edge_coefficients : dict
        Coefficient of the singular term at each corrected tool edge from the last
        solve, V/m^(2/3) (:mod:`ecmsim.corners`), the start of the next fit.
    u_eff : float or None
        Voltage across the electrolyte, U − ΔU, V, as set by current control
        (None: the process's, ``Stepper.u_eff``).
    feed : float or None
        Tool feed rate, m/s, as set by a servo feed (None: the process's, ``Stepper.feed``).
    depth_time : float or None
        When the tool reached its final depth, s (the dwell starts then).
    dt : float
        The last time step, s (0 before the first).
    """

    psi_w: FloatArray
    phi: FloatArray
    z_tip: float
    wall: FloatArray
    t: float = 0.0
    steps: int = 0
    charge: float = 0.0
    removed: float = 0.0
    faraday_volume: float = 0.0
    status: str | None = None
    message: str = ""
    event_time: float | None = None
    event_depth: float | None = None
    breakthrough_time: float | None = None
    window: Window | None = None
    history: HistoryRecorder = field(default_factory=HistoryRecorder)
    gap: GapPhysics | None = None
    snapshots: Snapshots = field(default_factory=Snapshots)
    edge_coefficients: dict[str, float] = field(default_factory=dict)
    u_eff: float | None = None
    feed: float | None = None
    depth_time: float | None = None
    dt: float = 0.0

    @classmethod
    def start(
        cls, domain: Domain, psi_w: FloatArray | None = None, z_tip: float | None = None, secondary: bool = True
    ) -> DrillingState:
        """The state before the first step.

        Parameters
        ----------
        domain
            The run's domain.
        psi_w
            Initial workpiece level set, m, shape (nr, nz); default the flat
            surface z = 0.
        z_tip
            Initial tool face depth, m; default the initial gap above the surface.
        secondary
            Include the process's secondary physics when it has them (False: the
            primary model regardless, as the equilibrium shape uses).
        """
        psi = np.ascontiguousarray(-domain.zz) if psi_w is None else np.ascontiguousarray(psi_w)
        g = domain.grid
        supply = domain.process.supply if secondary else None
        return cls(
            psi_w=psi,
            phi=np.zeros((g.nr, g.nz)),
            z_tip=domain.z_start if z_tip is None else z_tip,
            wall=wall_radius(g, psi, domain.tool.r_inner),
            history=HistoryRecorder(SECONDARY_COLUMNS if supply is not None else ()),
            gap=GapPhysics(supply, g, domain.tool) if supply is not None else None,
        )

    def stop(self, status: str, message: str) -> None:
        """End the run with ``status``; the event is now (time and tool depth)."""
        self.status = status
        self.message = message
        self.event_time = self.t
        self.event_depth = self.z_tip

    def place_window(self, domain: Domain) -> Window:
        """Move the window to the current tool position (copying the active rows)."""
        j0, j1 = domain.window_rows(self.z_tip)
        if self.window is None or (self.window.j0, self.window.j1) != (j0, j1):
            self.window = Window(domain, self, j0, j1, self.window)
        return self.window
