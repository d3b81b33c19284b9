"""The history columns of a drilling run: one table for the recorder, the result and its file.

:data:`HISTORY_COLUMNS` names every per-step quantity once, with its SI unit and
a description.  The stepper records one value of each per time step
(:class:`HistoryRecorder`), :class:`~ecmsim.simulation.SimulationResult` holds them
as a :class:`History`, and the result file writes each one as ``/history/NAME``
with the unit and description of this table (``docs/result-schema.md``), which
:func:`~ecmsim.io.result.read_result` checks on the way back.

Adding a column is one entry here plus the line of the stepper that computes it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from ecmsim.geometry import FloatArray


@dataclass(frozen=True)
class Column:
    """One history column.

    Attributes
    ----------
    name : str
        Key in :class:`History` and dataset name under ``/history`` in a result file.
    unit : str
        SI unit, as written to the dataset's ``units`` attribute (``"1"``: dimensionless).
    description : str
        Written to the dataset's ``description`` attribute.
    """

    name: str
    unit: str
    description: str


#: Every per-step history of a run, in the order the result file lists them.
#: ``time`` comes first: it is the dimension scale of the others.
HISTORY_COLUMNS: tuple[Column, ...] = (
    Column("time", "s", "end time of each step"),
    Column("tool_depth", "m", "depth of the tool face below the original surface (negative above it)"),
    Column("current", "A", "cell current during the step (anode flux)"),
    Column("charge", "C", "cumulative charge"),
    Column("frontal_gap", "m", "tool face to hole bottom at the mid-wall radius of the tube"),
    Column("min_gap", "m", "smallest tool–workpiece distance"),
    Column("removed_volume", "m^3", "metal removed, from the level set"),
    Column("faraday_volume", "m^3", "integral of eta*omega*duty*I dt (Faraday's law)"),
    Column("max_current_density", "A/m^2", "largest anode current density"),
    Column("solver_iterations", "1", "conjugate-gradient iterations of the potential solve"),
    Column("solver_convergence_factor", "1", "mean residual reduction per iteration of the potential solve"),
    Column("voltage", "V", "applied voltage U (electrolyte plus overpotential); follows the gap in current control"),
    Column("feed_rate", "m/s", "tool feed rate during the step (0 at depth); follows the gap controller with a servo"),
)

#: The histories of the secondary physics (``[physics] secondary = true``), recorded after
#: :data:`HISTORY_COLUMNS` only in such runs.
SECONDARY_COLUMNS: tuple[Column, ...] = (
    Column("flow_rate", "m^3/s", "liquid electrolyte flow through the tool"),
    Column("inlet_pressure", "Pa", "absolute pressure at the tool inlet"),
    Column("tip_pressure", "Pa", "absolute pressure at the bore exit (the tool face)"),
    Column("outlet_temperature", "K", "electrolyte temperature where it leaves the hole"),
    Column("max_temperature", "K", "highest electrolyte temperature along the flow path"),
    Column("max_void_fraction", "1", "largest gas void fraction along the flow path"),
    Column("joule_power", "W", "Joule heating of the electrolyte"),
    Column("tip_conductivity", "S/m", "mean conductivity in the frontal gap"),
)

#: The columns by name.
COLUMNS_BY_NAME: dict[str, Column] = {c.name: c for c in (*HISTORY_COLUMNS, *SECONDARY_COLUMNS)}

#: The column that is the dimension scale of the others.
TIME = HISTORY_COLUMNS[0].name


class History(Mapping[str, FloatArray]):
    """Per-step histories, one float64 array of shape ``(n_steps,)`` per column, SI units.

    A read-only mapping from column name to array.  Built by
    :meth:`HistoryRecorder.history` during a run, or from a result file (which
    may hold columns this version does not know; they are kept).
    """

    def __init__(self, arrays: Mapping[str, FloatArray]) -> None:
        self._arrays = dict(arrays)

    def __getitem__(self, name: str) -> FloatArray:
        return self._arrays[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)

    def __repr__(self) -> str:
        return f"History({', '.join(self._arrays)}; {self.n_steps} steps)"

    @property
    def n_steps(self) -> int:
        """Number of recorded steps (length of the ``time`` column; 0 if there is none)."""
        t = self._arrays.get(TIME)
        return 0 if t is None else int(t.size)


class HistoryRecorder:
    """Collects one value of every column of :data:`HISTORY_COLUMNS` (and ``extra``) per time step."""

    def __init__(self, extra: tuple[Column, ...] = ()) -> None:
        self._values: dict[str, list[float]] = {c.name: [] for c in (*HISTORY_COLUMNS, *extra)}

    def record(self, **values: float) -> None:
        """Append one step: a value for every column, by name.

        Raises
        ------
        KeyError
            When a column is missing or an unknown name is given (a programming
            error: the table and the stepper disagree).
        """
        if values.keys() != self._values.keys():
            missing = sorted(self._values.keys() - values.keys())
            extra = sorted(values.keys() - self._values.keys())
            raise KeyError(f"history row does not match HISTORY_COLUMNS: missing {missing}, unknown {extra}")
        for name, value in values.items():
            self._values[name].append(value)

    def extend(self, rows: Mapping[str, FloatArray]) -> None:
        """Append several steps at once: an array of the same length for every column, by name.

        Raises
        ------
        KeyError
            When the columns do not match (as :meth:`record`).
        """
        if rows.keys() != self._values.keys():
            raise KeyError(f"history rows do not match HISTORY_COLUMNS: {sorted(rows.keys() ^ self._values.keys())}")
        for name, values in rows.items():
            self._values[name].extend(float(v) for v in values)

    def column(self, name: str) -> list[float]:
        """The values of one column recorded so far (the recorder's own list: do not modify)."""
        return self._values[name]

    def last(self, name: str, default: float = 0.0) -> float:
        """The latest value of a column (``default`` before the first step)."""
        col = self._values[name]
        return col[-1] if col else default

    def __len__(self) -> int:
        return len(self._values[TIME])

    def history(self) -> History:
        """The columns recorded so far as float64 arrays."""
        return History({name: np.array(v, dtype=float) for name, v in self._values.items()})
