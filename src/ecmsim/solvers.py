"""Linear solvers for the potential system, behind one interface the driver can switch.

Every solver takes the system that ``ecmsim.kernels.potential.assemble`` builds (the
stencil, one float64 array of shape ``(5, nr, nz)`` indexed by ``potential.DIAG, RM,
RP, ZM, ZP``, and the right-hand side on the ``(nr, nz)`` grid, unknowns where
``kind == 0``), warm-starts from ``x``, updates ``x`` in place on the unknowns only and
stops when ``||rhs - A x|| / ||rhs|| <= tol`` (or after ``maxiter`` iterations).  The
arrays are checked before a kernel sees them (:func:`check_system`); every kernel
returns ``(iterations, relative_residual, initial_relative_residual)`` and
:class:`SolveStats` is built from that triple.

Solvers are registered by name with :func:`add_solver`; :func:`solver_names` feeds the
choices of ``[numerics] solver`` and :func:`make_solver` builds one by name:

- ``"mg-cg"``: :class:`MultigridCGSolver`, conjugate gradients preconditioned by one
  geometric multigrid V-cycle with Galerkin coarse operators
  (``ecmsim.kernels.multigrid``).  Iterations stay flat (about 6) as the grid is
  refined; the hierarchy is rebuilt, in O(nr nz), at every call because the operator
  changes with the geometry.  The V-cycle runs in float32 by default (CG stays
  float64), which changes neither the iterations nor the accuracy.
- ``"mic-cg"``: :class:`MICCGSolver`, conjugate gradients with a modified incomplete
  Cholesky preconditioner (``potential.pcg``).  Iterations grow like ``1/sqrt(h)``.

NumPy and the kernels are imported lazily, so importing this module (as the config
schema does for the solver names) starts neither NumPy nor Numba.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]
    KindArray = npt.NDArray[np.int8]


@dataclass(frozen=True)
class SolveStats:
    """Outcome of one linear solve.

    Attributes
    ----------
    iterations
        Conjugate-gradient iterations carried out (0 if the initial guess was good
        enough or the right-hand side is zero).
    relative_residual
        Final ``||rhs - A x|| / ||rhs||`` (recursively updated residual).
    convergence_factor
        Average residual reduction per iteration,
        ``(relative_residual / initial_relative_residual) ** (1 / iterations)``;
        0 when no iteration was needed.
    initial_relative_residual
        ``||rhs - A x0|| / ||rhs||`` of the initial guess.
    """

    iterations: int
    relative_residual: float
    convergence_factor: float
    initial_relative_residual: float

    @classmethod
    def from_kernel(cls, iterations: int, rel: float, rel0: float) -> SolveStats:
        """Stats from the triple every solver kernel returns.

        Parameters
        ----------
        iterations
            Iterations carried out.
        rel, rel0
            Final and initial relative residual.
        """
        its, rel, rel0 = int(iterations), float(rel), float(rel0)
        factor = 0.0
        if its > 0 and rel0 > 0.0 and rel > 0.0:
            factor = float((rel / rel0) ** (1.0 / its))
        return cls(iterations=its, relative_residual=rel, convergence_factor=factor, initial_relative_residual=rel0)


class PotentialSolver(Protocol):
    """What the driver needs from a potential solver."""

    name: str

    def solve(
        self, kind: KindArray, stencil: FloatArray, rhs: FloatArray, x: FloatArray, tol: float, maxiter: int
    ) -> SolveStats:
        """Solve ``A x = rhs`` in place; ``x`` in V.

        Parameters
        ----------
        kind
            Node kinds, int8 ``(nr, nz)`` (0 unknown).
        stencil
            float64 ``(5, nr, nz)`` from ``potential.assemble`` (symmetric).
        rhs
            float64 ``(nr, nz)`` from ``potential.assemble`` (V).
        x
            float64 ``(nr, nz)``: initial guess, overwritten with the solution on unknowns.
        tol
            Relative residual tolerance.
        maxiter
            Iteration limit.

        Returns
        -------
        SolveStats

        Raises
        ------
        TypeError, ValueError
            If an array has the wrong type, dtype, shape or memory layout
            (:func:`check_system`).
        """
        ...


# ------------------------------------------------------------------ registry
_SolverClass = TypeVar("_SolverClass", bound=type)
_REGISTRY: dict[str, type] = {}


def add_solver(cls: _SolverClass) -> _SolverClass:
    """Class decorator: register a potential solver under its ``name`` attribute.

    The class must build with no arguments and implement :class:`PotentialSolver`.

    Raises
    ------
    ValueError
        If another class is registered under the same name.
    """
    name = cls.name  # type: ignore[attr-defined]
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"a potential solver named {name!r} is already registered ({_REGISTRY[name].__name__})")
    _REGISTRY[name] = cls
    return cls


def solver_names() -> tuple[str, ...]:
    """Names of the registered potential solvers, the default (``"mg-cg"``) first."""
    return tuple(_REGISTRY)


def make_solver(name: str) -> PotentialSolver:
    """A potential solver by name.

    Parameters
    ----------
    name
        One of :func:`solver_names` (``"mg-cg"``, ``"mic-cg"``).

    Returns
    -------
    PotentialSolver

    Raises
    ------
    ValueError
        For any other name (the message lists the valid ones).
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown potential solver {name!r}; valid: {', '.join(solver_names())}")
    solver: PotentialSolver = _REGISTRY[name]()
    return solver


# ---------------------------------------------------------------- validation
def _check_array(name: str, a: object, shape: tuple[int, ...], dtype: str) -> None:
    import numpy as np

    want = f"a C-contiguous {dtype} array of shape {shape}"
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be {want}, got {type(a).__name__}")
    if a.dtype != np.dtype(dtype):
        raise TypeError(f"{name} must be {want}, got dtype {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"{name} must be {want}, got shape {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be {want}, got a non-contiguous array (use np.ascontiguousarray)")


def check_grid_system(
    kind: object, stencil: object, rhs: object, x: object, axes: tuple[str, ...], n_coef: int
) -> tuple[int, ...]:
    """Check a stencil system on a grid of ``len(axes)`` dimensions (2D and 3D solvers).

    Parameters
    ----------
    kind, stencil, rhs, x
        The arrays: int8 ``shape``, float64 ``(n_coef, *shape)``, float64 ``shape`` twice
        (``x`` writeable), all C-contiguous.
    axes
        Names of the grid axes, for the messages (``("nr", "nz")``).
    n_coef
        Leading dimension of the stencil.

    Returns
    -------
    tuple of int
        The grid shape.

    Raises
    ------
    TypeError, ValueError
        As :func:`check_system`.
    """
    import numpy as np

    want = f"kind must be a C-contiguous int8 array of shape ({', '.join(axes)})"
    if not isinstance(kind, np.ndarray):
        raise TypeError(f"{want}, got {type(kind).__name__}")
    if kind.ndim != len(axes):
        raise ValueError(f"{want}, got shape {kind.shape}")
    shape = tuple(int(n) for n in kind.shape)
    _check_array("kind", kind, shape, "int8")
    _check_array("stencil", stencil, (n_coef, *shape), "float64")
    _check_array("rhs", rhs, shape, "float64")
    _check_array("x", x, shape, "float64")
    assert isinstance(x, np.ndarray)
    if not x.flags.writeable:
        raise ValueError("x must be writeable (it receives the solution)")
    return shape


def check_system(kind: KindArray, stencil: FloatArray, rhs: FloatArray, x: FloatArray) -> tuple[int, int]:
    """Check the arrays of a potential system before a kernel sees them.

    A wrong array would otherwise compile a new kernel specialisation or read out of
    bounds.

    Parameters
    ----------
    kind
        int8 ``(nr, nz)``.
    stencil
        float64 ``(5, nr, nz)`` (``potential`` contract).
    rhs, x
        float64 ``(nr, nz)``; ``x`` must be writeable.

    Returns
    -------
    tuple of int
        The grid shape ``(nr, nz)``.

    Raises
    ------
    TypeError
        An argument is not a NumPy array or has the wrong dtype.
    ValueError
        Wrong shape or memory layout, or ``x`` is read-only; the message names the
        array, the expected and the actual value.
    """
    shape = check_grid_system(kind, stencil, rhs, x, ("nr", "nz"), 5)
    nr, nz = shape
    return nr, nz


# ------------------------------------------------------------------- solvers
class KernelSolver:
    """Base of the built-in solvers: one ``solve`` for every kernel.

    ``solve`` checks the arrays (:func:`check_system`), lets the subclass allocate its
    work storage when the grid shape changes (``_allocate(shape)``), runs the kernel
    (``_run``, which returns the kernel's triple) and builds :class:`SolveStats`.
    """

    name = ""

    def __init__(self) -> None:
        self._shape: tuple[int, int] | None = None

    def _allocate(self, shape: tuple[int, int]) -> None:
        raise NotImplementedError

    def _run(
        self, kind: KindArray, stencil: FloatArray, rhs: FloatArray, x: FloatArray, tol: float, maxiter: int
    ) -> tuple[int, float, float]:
        raise NotImplementedError

    def solve(
        self, kind: KindArray, stencil: FloatArray, rhs: FloatArray, x: FloatArray, tol: float, maxiter: int
    ) -> SolveStats:
        """Solve ``A x = rhs`` in place (see :meth:`PotentialSolver.solve`)."""
        shape = check_system(kind, stencil, rhs, x)
        if self._shape != shape:
            self._allocate(shape)
            self._shape = shape
        return SolveStats.from_kernel(*self._run(kind, stencil, rhs, x, float(tol), int(maxiter)))


@add_solver
class MultigridCGSolver(KernelSolver):
    """Conjugate gradients preconditioned with a geometric multigrid V-cycle.

    The hierarchy storage is allocated for a grid shape and kept; every call refills
    it for the current operator (Galerkin coarse operators and the coarsest
    factorisation, O(nr nz)).

    Parameters
    ----------
    nu
        Gauss-Seidel sweeps before and after the coarse-grid correction on every level
        (V(nu, nu)); 2 is the measured optimum.
    min_size
        Coarsening stops once the shorter side of a level has at most this many nodes;
        the coarsest level is solved by banded Cholesky.
    precision
        Floating-point type of the preconditioner (``"float32"`` or ``"float64"``).  CG
        itself, its residual and its stopping test are always float64; a float32
        V-cycle streams half the bytes and is about as effective (the iteration counts
        pinned in the tests hold for both).
    """

    name = "mg-cg"

    def __init__(self, nu: int = 2, min_size: int = 6, precision: str = "float32") -> None:
        if nu < 1:
            raise ValueError(f"nu must be at least 1, got {nu}")
        if precision not in ("float32", "float64"):
            raise ValueError(f"precision must be 'float32' or 'float64', got {precision!r}")
        super().__init__()
        self.nu = int(nu)
        self.min_size = int(min_size)
        self.precision = precision

    def _allocate(self, shape: tuple[int, int]) -> None:
        import numpy as np

        from ecmsim.kernels import multigrid

        self._hier = multigrid.allocate(shape[0], shape[1], self.min_size, np.dtype(self.precision).type)

    @property
    def levels(self) -> int:
        """Number of grid levels of the current hierarchy (0 before the first solve)."""
        return 0 if self._shape is None else int(self._hier.levels.shape[0])

    def _run(
        self, kind: KindArray, stencil: FloatArray, rhs: FloatArray, x: FloatArray, tol: float, maxiter: int
    ) -> tuple[int, float, float]:
        from ecmsim.kernels import multigrid

        its, rel, rel0 = multigrid.mgcg(kind, stencil, rhs, x, tol, maxiter, self.nu, self._hier)
        return its, rel, rel0


@add_solver
class MICCGSolver(KernelSolver):
    """Conjugate gradients preconditioned with MIC(0): ``potential.pcg``.

    The work array is allocated once per grid shape and reused.
    """

    name = "mic-cg"

    def _allocate(self, shape: tuple[int, int]) -> None:
        import numpy as np

        self._work = np.zeros((5, *shape))

    def _run(
        self, kind: KindArray, stencil: FloatArray, rhs: FloatArray, x: FloatArray, tol: float, maxiter: int
    ) -> tuple[int, float, float]:
        from ecmsim.kernels import potential

        its, rel, rel0 = potential.pcg(kind, stencil, rhs, x, tol, maxiter, self._work)
        return its, rel, rel0
