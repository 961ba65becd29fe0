r"""Darcy flow :math:`-\nabla\cdot(a \nabla u) = f` on a rectangle, :math:`u = 0` on the boundary.

Discretisation (finite volumes on the node grid): with nodes
``x_i = i h_x``, ``y_j = j h_y`` including the boundary, the unknowns are the
interior nodes and

.. math::

   -\frac{a_{i+1/2,j}(u_{i+1,j}-u_{ij}) - a_{i-1/2,j}(u_{ij}-u_{i-1,j})}{h_x^2}
   -\frac{a_{i,j+1/2}(u_{i,j+1}-u_{ij}) - a_{i,j-1/2}(u_{ij}-u_{i,j-1})}{h_y^2} = f_{ij},

with the harmonic mean :math:`a_{i+1/2,j} = 2 a_{ij} a_{i+1,j} / (a_{ij} + a_{i+1,j})`
at faces (the exact flux continuity for a coefficient that jumps at the
face). Second order for smooth ``a``; the sparse symmetric positive definite
system is solved by a sparse LU (``scipy.sparse.linalg.splu``), one
factorisation per sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sparse
import scipy.sparse.linalg as sparse_linalg

import sciml
from sciml._checks import check_positive_int

from ._spectral import check_lengths, check_positive, check_seeds
from .grf import GaussianRandomField, lognormal, threshold
from .problem import PDEProblem, register_problem

__all__ = ["DarcyConfig", "DarcyProblem", "solve_darcy"]


def solve_darcy(a: np.ndarray, f: float | np.ndarray = 1.0,
                lengths: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    r"""Solve :math:`-\nabla\cdot(a\nabla u) = f`, ``u = 0`` on the boundary, for a batch of coefficients.

    Parameters
    ----------
    a : array ``[n, nx, ny]`` or ``[nx, ny]``
        Coefficient at the nodes of the node grid (boundary included); finite and > 0.
    f : float or array broadcastable to ``a``
        Right-hand side at the nodes (boundary values are not used).
    lengths : (float, float)
        Side lengths of the rectangle ``[0, Lx] x [0, Ly]``.

    Returns
    -------
    u : array like ``a`` (float64), zero on the boundary.

    Examples
    --------
    >>> u = solve_darcy(np.ones((33, 33)))          # -Δu = 1 on the unit square
    >>> bool(abs(u.max() - 0.07367) < 2e-4)         # exact max: 0.0736713...
    True
    """
    a = np.asarray(a, dtype=float)
    single = a.ndim == 2
    a = a[None] if single else a
    if a.ndim != 3 or min(a.shape[1:]) < 3:
        raise ValueError(f"a: expected shape [n, nx, ny] or [nx, ny] with nx, ny >= 3, got {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError("a: expected finite coefficient values > 0 (the operator is elliptic only then)")
    f = np.broadcast_to(np.asarray(f, dtype=float), a.shape)
    if not np.all(np.isfinite(f)):
        raise ValueError("f: expected finite values")
    hx, hy = (length / (n - 1) for length, n in zip(check_lengths(lengths, 2), a.shape[1:]))
    data = _matrix_data(a, hx, hy)
    pattern = _pattern(*a.shape[1:])
    u = np.zeros_like(a)
    for k in range(a.shape[0]):
        matrix = sparse.csc_matrix((data[k][pattern.order], pattern.indices, pattern.indptr),
                                   shape=(pattern.size, pattern.size))
        lu = sparse_linalg.splu(matrix, permc_spec="MMD_AT_PLUS_A")
        u[k, 1:-1, 1:-1] = lu.solve(f[k, 1:-1, 1:-1].ravel()).reshape(a.shape[1] - 2, a.shape[2] - 2)
    return u[0] if single else u


def _matrix_data(a: np.ndarray, hx: float, hy: float) -> np.ndarray:
    """Matrix entries ``[n, nnz]`` in the pattern's COO order: diagonal, x-links, y-links."""
    ax = 2.0 * a[:, 1:, :] * a[:, :-1, :] / (a[:, 1:, :] + a[:, :-1, :]) / hx**2   # faces i+1/2: [n, nx-1, ny]
    ay = 2.0 * a[:, :, 1:] * a[:, :, :-1] / (a[:, :, 1:] + a[:, :, :-1]) / hy**2   # faces j+1/2: [n, nx, ny-1]
    diag = ax[:, :-1, 1:-1] + ax[:, 1:, 1:-1] + ay[:, 1:-1, :-1] + ay[:, 1:-1, 1:]
    xlink = -ax[:, 1:-1, 1:-1]          # between interior nodes (i, j) and (i+1, j), i = 1..nx-3
    ylink = -ay[:, 1:-1, 1:-1]          # between (i, j) and (i, j+1)
    n = a.shape[0]
    return np.concatenate([diag.reshape(n, -1), xlink.reshape(n, -1), xlink.reshape(n, -1),
                           ylink.reshape(n, -1), ylink.reshape(n, -1)], axis=1)


@dataclass(frozen=True)
class _Pattern:
    size: int
    indices: np.ndarray
    indptr: np.ndarray
    order: np.ndarray      # COO position of each CSC entry


@lru_cache(maxsize=8)
def _pattern(nx: int, ny: int) -> _Pattern:
    """CSC structure of the 5-point matrix on the ``(nx-2) x (ny-2)`` interior, built once per shape."""
    mx, my = nx - 2, ny - 2
    index = np.arange(mx * my).reshape(mx, my)
    east, west = index[1:, :].ravel(), index[:-1, :].ravel()
    north, south = index[:, 1:].ravel(), index[:, :-1].ravel()
    rows = np.concatenate([index.ravel(), west, east, south, north])
    cols = np.concatenate([index.ravel(), east, west, north, south])
    coo = sparse.coo_matrix((np.arange(1, rows.size + 1, dtype=float), (rows, cols)), shape=(mx * my,) * 2)
    csc = coo.tocsc()
    csc.sort_indices()
    return _Pattern(mx * my, csc.indices.copy(), csc.indptr.copy(), csc.data.astype(np.int64) - 1)


@dataclass
class DarcyConfig:
    """Darcy benchmark: FNO-paper defaults (thresholded Neumann GRF, values 12/3, ``f = 1``).

    Attributes
    ----------
    resolution : int
        Nodes per axis of the output grid on ``[0, 1]^2`` (boundary included).
    coefficient : {"threshold", "lognormal"}
        ``high`` where the GRF is >= 0 and ``low`` elsewhere, or ``exp(GRF)``.
    high, low : float
        The two values of a thresholded coefficient.
    alpha, tau, sigma : float
        GRF covariance ``sigma^2 (-Δ + tau^2)^(-alpha)`` (Neumann modes, mean zero).
    forcing : float
        Constant right-hand side ``f``.
    refinement : int
        Solve on a grid ``refinement`` times finer ((resolution-1)*refinement + 1
        nodes) and keep every ``refinement``-th node.
    """

    resolution: int = 64
    coefficient: str = "threshold"
    high: float = 12.0
    low: float = 3.0
    alpha: float = 2.0
    tau: float = 3.0
    sigma: float = 1.0
    forcing: float = 1.0
    refinement: int = 1

    def __post_init__(self):
        check_positive_int(self.resolution, "resolution", 3)
        check_positive_int(self.refinement, "refinement", 1)
        if self.coefficient not in ("threshold", "lognormal"):
            raise ValueError(f"coefficient: expected 'threshold' or 'lognormal', got {self.coefficient!r}")
        for name in ("high", "low", "alpha", "sigma"):
            check_positive(getattr(self, name), name)
        check_positive(self.tau, "tau", allow_zero=True)
        if not np.isfinite(self.forcing):
            raise ValueError(f"forcing: expected a finite number, got {self.forcing!r}")


@register_problem
class DarcyProblem(PDEProblem):
    """Darcy flow with a random coefficient: input ``a``, output ``u``, on the node grid of ``[0, 1]^2``.

    Examples
    --------
    >>> problem = DarcyProblem(DarcyConfig(resolution=32))
    >>> out = problem.solve_batch(np.arange(2))
    >>> out["a"].shape, out["u"].shape, np.unique(out["a"]).tolist()
    ((2, 32, 32), (2, 32, 32), [3.0, 12.0])
    """

    name = "darcy"
    config_class = DarcyConfig
    input_names = ("a",)
    output_names = ("u",)

    def grid(self) -> sciml.Grid:
        return sciml.Grid.uniform((self.config.resolution,) * 2)

    def fine_size(self) -> int:
        return (self.config.resolution - 1) * self.config.refinement + 1

    def coefficients(self, seeds) -> np.ndarray:
        """Coefficients ``[n, fine, fine]`` on the solver grid, sample ``k`` from ``seeds[k]``."""
        c = self.config
        grf = GaussianRandomField((self.fine_size(),) * 2, alpha=c.alpha, tau=c.tau, sigma=c.sigma,
                                  boundary="neumann", mean_zero=True)
        field = grf.sample(seeds)
        return threshold(field, c.low, c.high) if c.coefficient == "threshold" else lognormal(field)

    def solve_batch(self, seeds) -> dict[str, np.ndarray]:
        seeds = check_seeds(seeds)
        a = self.coefficients(seeds)
        u = solve_darcy(a, self.config.forcing)
        bad = np.flatnonzero(~np.all(np.isfinite(u.reshape(len(seeds), -1)), axis=1))
        if bad.size:
            raise FloatingPointError(f"darcy: non-finite solution for seed {int(seeds[bad[0]])} "
                                     f"with config {sciml.config_to_dict(self.config)}")
        step = self.config.refinement
        return {"a": a[:, ::step, ::step], "u": u[:, ::step, ::step]}

    def attrs(self) -> dict:
        return {**super().attrs(),
                "pde": "-div(a grad u) = f on (0,1)^2, u = 0 on the boundary",
                "solver": "finite volumes on the node grid (harmonic-mean face coefficients), sparse LU",
                "solver_order": 2, "solver_resolution": self.fine_size(),
                "units": {"a": "dimensionless", "u": "dimensionless", "x": "dimensionless"}}
