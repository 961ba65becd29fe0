r"""Poisson and Helmholtz problems on a rectangle with Dirichlet or Neumann boundaries.

.. math::  -\Delta u - k^2 u = f \quad\text{in } (0, L_x)\times(0, L_y),

with ``u = g`` (Dirichlet) or :math:`\partial u/\partial n = g` (Neumann,
outward normal) on the boundary; ``k = 0`` is Poisson. **Sign**: ``k^2``
enters with a minus sign (the indefinite, wave-like Helmholtz operator);
the Dirichlet problem is singular when ``k^2`` is a discrete eigenvalue of
:math:`-\Delta_h` (close to :math:`\pi^2(m^2/L_x^2 + n^2/L_y^2)`).

Discretisation: second-order 5-point differences on the node grid (boundary
included). Dirichlet: the interior nodes are the unknowns. Neumann: all
nodes are unknowns and the ghost value from the centred boundary difference
is eliminated; rows are scaled by the trapezoid weights, which makes the
matrix symmetric (the vertex-centred finite-volume scheme). Pure Neumann
Poisson (``k = 0``) is solved with the zero-mean constraint
:math:`\sum_i w_i u_i = 0` (``w`` trapezoid weights) through a bordered
system; if the data violate the discrete compatibility condition
:math:`\sum_i w_i f_i + \oint g = 0`, the solution is that of ``f`` minus
its discrete mean defect. One sparse LU factorisation serves the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sparse
import scipy.sparse.linalg as sparse_linalg

import sciml
from sciml._checks import check_positive_int

from ._spectral import check_lengths, check_positive, check_seeds
from .grf import GaussianRandomField
from .problem import PDEProblem, register_problem

__all__ = ["HelmholtzConfig", "HelmholtzProblem", "PoissonConfig", "PoissonProblem", "solve_poisson"]

SIDES = ("left", "right", "bottom", "top")
BOUNDARIES = ("dirichlet", "neumann")


def solve_poisson(f: np.ndarray, boundary: str = "dirichlet", boundary_data: dict | None = None,
                  wavenumber: float = 0.0, lengths: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    r"""Solve :math:`-\Delta u - k^2 u = f` on the node grid of a rectangle, for a batch of ``f``.

    Parameters
    ----------
    f : array ``[n, nx, ny]`` or ``[nx, ny]``
        Right-hand side at the nodes (boundary nodes included).
    boundary : {"dirichlet", "neumann"}
        Boundary condition on all four sides.
    boundary_data : dict, optional
        ``g`` per side: ``"left"`` (x = 0) and ``"right"`` (x = Lx) arrays
        ``[..., ny]``, ``"bottom"`` (y = 0) and ``"top"`` (y = Ly) arrays
        ``[..., nx]`` (broadcast over the batch). Dirichlet: values of ``u``
        (corners are taken from left/right); Neumann: outward normal
        derivative. Missing sides are 0.
    wavenumber : float
        ``k >= 0``; 0 gives Poisson.
    lengths : (float, float)
        Side lengths.

    Returns
    -------
    u : array like ``f`` (float64); zero trapezoid mean for pure Neumann Poisson.

    Examples
    --------
    >>> x = np.linspace(0, 1, 33)
    >>> f = 2 * np.pi**2 * np.sin(np.pi * x)[:, None] * np.sin(np.pi * x)[None, :]
    >>> u = solve_poisson(f)                     # exact: sin(πx) sin(πy)
    >>> bool(abs(u[16, 16] - 1.0) < 1e-3)
    True
    """
    f, single = _check_rhs(f)
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary: expected one of {BOUNDARIES}, got {boundary!r}")
    k2 = check_positive(wavenumber, "wavenumber", allow_zero=True) ** 2
    h = tuple(length / (n - 1) for length, n in zip(check_lengths(lengths, 2), f.shape[1:]))
    data = _boundary_arrays(boundary_data, f.shape)
    solve = _solve_dirichlet if boundary == "dirichlet" else _solve_neumann
    u = solve(f, data, k2, h)
    return u[0] if single else u


def _check_rhs(f) -> tuple[np.ndarray, bool]:
    f = np.asarray(f, dtype=float)
    single = f.ndim == 2
    f = f[None] if single else f
    if f.ndim != 3 or min(f.shape[1:]) < 3:
        raise ValueError(f"f: expected shape [n, nx, ny] or [nx, ny] with nx, ny >= 3, got {f.shape}")
    if not np.all(np.isfinite(f)):
        raise ValueError("f: expected finite values")
    return f, single


def _boundary_arrays(data: dict | None, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    data = dict(data or {})
    unknown = sorted(set(data) - set(SIDES))
    if unknown:
        raise ValueError(f"boundary_data: unknown sides {unknown}; expected some of {list(SIDES)}")
    n, nx, ny = shape
    out = {}
    for side in SIDES:
        length = ny if side in ("left", "right") else nx
        value = np.asarray(data.get(side, 0.0), dtype=float)
        try:
            out[side] = np.broadcast_to(value, (n, length))
        except ValueError as exc:
            raise ValueError(f"boundary_data[{side!r}]: expected shape [{length}] or [{n}, {length}], "
                             f"got {value.shape}") from exc
        if not np.all(np.isfinite(out[side])):
            raise ValueError(f"boundary_data[{side!r}]: expected finite values")
    return out


def _second_difference(m: int, h: float, neumann: bool) -> sparse.csr_matrix:
    """1D ``-d^2/dx^2`` on ``m`` unknowns; Neumann ends use the eliminated ghost node (row scaled by 1/2)."""
    main = np.full(m, 2.0)
    off = np.full(m - 1, -1.0)
    if neumann:
        main[[0, -1]] = 1.0          # (2u0 - 2u1)/h^2 scaled by the trapezoid weight 1/2
    return sparse.diags([off, main, off], [-1, 0, 1], format="csr", dtype=float) / h**2


def _factorize(matrix: sparse.spmatrix, k2: float):
    try:
        return sparse_linalg.splu(matrix.tocsc(), permc_spec="MMD_AT_PLUS_A")
    except RuntimeError as exc:
        raise ValueError(f"wavenumber: k^2 = {k2:g} makes the discrete operator singular "
                         f"(an eigenvalue of -Δ_h); choose another wavenumber") from exc


def _solve_dirichlet(f, g, k2, h):
    n, nx, ny = f.shape
    tx, ty = _second_difference(nx - 2, h[0], False), _second_difference(ny - 2, h[1], False)
    matrix = sparse.kron(tx, sparse.eye(ny - 2)) + sparse.kron(sparse.eye(nx - 2), ty) \
        - k2 * sparse.eye((nx - 2) * (ny - 2))
    u = np.zeros_like(f)
    u[:, 0, :], u[:, -1, :] = g["left"], g["right"]
    u[:, 1:-1, 0], u[:, 1:-1, -1] = g["bottom"][:, 1:-1], g["top"][:, 1:-1]
    rhs = f[:, 1:-1, 1:-1].copy()
    rhs[:, 0, :] += u[:, 0, 1:-1] / h[0] ** 2
    rhs[:, -1, :] += u[:, -1, 1:-1] / h[0] ** 2
    rhs[:, :, 0] += u[:, 1:-1, 0] / h[1] ** 2
    rhs[:, :, -1] += u[:, 1:-1, -1] / h[1] ** 2
    solution = _solve_each(_factorize(matrix, k2), rhs.reshape(n, -1))
    u[:, 1:-1, 1:-1] = solution.reshape(n, nx - 2, ny - 2)
    return u


def _trapezoid(m: int) -> np.ndarray:
    w = np.ones(m)
    w[[0, -1]] = 0.5
    return w


def _solve_neumann(f, g, k2, h):
    n, nx, ny = f.shape
    wx, wy = _trapezoid(nx), _trapezoid(ny)
    weights = np.outer(wx, wy)
    dx, dy = _second_difference(nx, h[0], True), _second_difference(ny, h[1], True)
    matrix = sparse.kron(dx, sparse.diags(wy)) + sparse.kron(sparse.diags(wx), dy) \
        - k2 * sparse.diags(weights.ravel())
    rhs = f.copy()                                   # ghost-node boundary terms: + 2 g / h
    rhs[:, 0, :] += 2.0 * g["left"] / h[0]
    rhs[:, -1, :] += 2.0 * g["right"] / h[0]
    rhs[:, :, 0] += 2.0 * g["bottom"] / h[1]
    rhs[:, :, -1] += 2.0 * g["top"] / h[1]
    rhs = (rhs * weights).reshape(n, -1)
    if k2 > 0:
        return _solve_each(_factorize(matrix, k2), rhs).reshape(f.shape)
    w = weights.reshape(-1, 1)
    bordered = sparse.bmat([[matrix, sparse.csr_matrix(w)], [sparse.csr_matrix(w.T), None]])
    rhs = np.hstack([rhs, np.zeros((n, 1))])
    return _solve_each(_factorize(bordered, k2), rhs)[:, :-1].reshape(f.shape)


def _solve_each(lu, rhs: np.ndarray) -> np.ndarray:
    """Solve for each row of ``rhs`` ``[n, m]`` separately: a sample's result never depends on the batch."""
    return np.stack([lu.solve(row) for row in rhs])


@dataclass
class PoissonConfig:
    """Poisson benchmark ``-Δu = f``: ``f`` a GRF, homogeneous boundary data.

    Attributes
    ----------
    resolution : int
        Nodes per axis of the node grid on ``[0, 1]^2`` (boundary included).
    boundary : {"dirichlet", "neumann"}
        ``u = 0`` or ``∂u/∂n = 0``; for Neumann, ``f`` is shifted to zero
        trapezoid mean (the discrete compatibility condition) and ``u`` has zero mean.
    alpha, tau, sigma : float
        Covariance ``sigma^2 (-Δ + tau^2)^(-alpha)`` of ``f`` (Neumann/cosine modes).
    """

    resolution: int = 64
    boundary: str = "dirichlet"
    alpha: float = 2.0
    tau: float = 3.0
    sigma: float = 1.0

    def __post_init__(self):
        check_positive_int(self.resolution, "resolution", 3)
        if self.boundary not in BOUNDARIES:
            raise ValueError(f"boundary: expected one of {BOUNDARIES}, got {self.boundary!r}")
        for name in ("alpha", "sigma"):
            check_positive(getattr(self, name), name)
        check_positive(self.tau, "tau", allow_zero=True)


@dataclass
class HelmholtzConfig(PoissonConfig):
    """Helmholtz benchmark ``-Δu - k^2 u = f`` (``k = wavenumber``, default 8: between resonances)."""

    wavenumber: float = 8.0

    def __post_init__(self):
        super().__post_init__()
        check_positive(self.wavenumber, "wavenumber", allow_zero=True)


@register_problem
class PoissonProblem(PDEProblem):
    """Random right-hand side ``f`` to solution ``u`` on the node grid of ``[0, 1]^2``.

    Examples
    --------
    >>> out = PoissonProblem(PoissonConfig(resolution=16, boundary="neumann")).solve_batch([0, 1])
    >>> out["f"].shape, bool(abs(out["u"][0].mean()) < 0.1)
    ((2, 16, 16), True)
    """

    name = "poisson"
    config_class = PoissonConfig
    input_names = ("f",)
    output_names = ("u",)

    @property
    def wavenumber(self) -> float:
        return 0.0

    def grid(self) -> sciml.Grid:
        return sciml.Grid.uniform((self.config.resolution,) * 2)

    def right_hand_sides(self, seeds) -> np.ndarray:
        """GRF samples ``[n, N, N]``; zero trapezoid mean for pure Neumann Poisson."""
        c = self.config
        grf = GaussianRandomField((c.resolution,) * 2, alpha=c.alpha, tau=c.tau, sigma=c.sigma,
                                  boundary="neumann", mean_zero=True)
        f = grf.sample(seeds)
        if c.boundary == "neumann" and self.wavenumber == 0:
            w = np.outer(_trapezoid(c.resolution), _trapezoid(c.resolution))
            f = f - np.sum(f * w, axis=(1, 2), keepdims=True) / w.sum()
        return f

    def solve_batch(self, seeds) -> dict[str, np.ndarray]:
        seeds = check_seeds(seeds)
        f = self.right_hand_sides(seeds)
        u = solve_poisson(f, self.config.boundary, wavenumber=self.wavenumber)
        bad = np.flatnonzero(~np.all(np.isfinite(u.reshape(len(seeds), -1)), axis=1))
        if bad.size:
            raise FloatingPointError(f"{self.name}: non-finite solution for seed {int(seeds[bad[0]])} "
                                     f"with config {sciml.config_to_dict(self.config)}")
        return {"f": f, "u": u}

    def attrs(self) -> dict:
        sign = f" - {self.wavenumber:g}^2 u" if self.wavenumber else ""
        bc = "u = 0" if self.config.boundary == "dirichlet" else "du/dn = 0 (zero-mean u)"
        return {**super().attrs(), "pde": f"-lap(u){sign} = f on (0,1)^2, {bc} on the boundary",
                "solver": "5-point finite differences on the node grid, sparse LU",
                "solver_order": 2, "solver_resolution": self.config.resolution,
                "units": {"f": "dimensionless", "u": "dimensionless", "x": "dimensionless"}}


@register_problem
class HelmholtzProblem(PoissonProblem):
    """Like :class:`PoissonProblem` for ``-Δu - k^2 u = f`` (``k = config.wavenumber``).

    Examples
    --------
    >>> out = HelmholtzProblem(HelmholtzConfig(resolution=16)).solve_batch([3])
    >>> out["u"].shape
    (1, 16, 16)
    """

    name = "helmholtz"
    config_class = HelmholtzConfig

    @property
    def wavenumber(self) -> float:
        return float(self.config.wavenumber)
