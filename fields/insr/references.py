r"""Classical references the INSR solutions are compared with: exact solutions and grid solvers.

- :func:`semi_lagrangian_advection`: the grid solver of the paper's advection comparison --
  trace each node back along the constant velocity, :math:`u^{n+1}_i = u^n(x_i - \mathbf a
  \Delta t)`, interpolated linearly (``order=1``, first order in :math:`\Delta x^2/\Delta t`,
  numerically diffusive) or by cubic splines (``order=3``) with :func:`scipy.ndimage.map_coordinates`;
  unconditionally stable, so it runs at the INSR time step whatever the grid spacing.
- :func:`taylor_green`: the exact Taylor–Green vortex on :math:`[0, 2\pi]^2` (a steady solution
  of the incompressible Euler equations, decaying as :math:`e^{-2\nu t}` with viscosity).

The pseudo-spectral 2D Navier–Stokes solver of :mod:`sciml.datasets.navier_stokes` (vorticity
form) is the grid reference of the Euler problems; :mod:`sciml.workflows.insr` calls it.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.ndimage

from sciml.grid import Grid

__all__ = ["semi_lagrangian_advection", "taylor_green"]


def semi_lagrangian_advection(u0: np.ndarray, grid: Grid, velocity, dt: float, steps: int, order: int = 1,
                              every: int | None = None) -> np.ndarray:
    r"""Advect nodal values ``u0`` by a constant velocity with the semi-Lagrangian method.

    .. math::

       u^{n+1}(x_i) = \mathcal I[u^n](x_i - \mathbf a\,\Delta t)

    with :math:`\mathcal I` the linear (``order=1``) or cubic-spline (``order=3``) interpolant;
    periodic axes wrap, the other boundaries bring in zeros (inflow of :math:`u = 0`).

    Parameters
    ----------
    u0 : array ``grid.shape``
        Initial values at the grid nodes.
    grid : Grid
        Uniform node-centred grid (``Grid.uniform``).
    velocity : sequence of float ``[d]``
    dt : float
    steps : int
    order : {1, 3}
        Interpolation order.
    every : int, optional
        Also return the states every this many steps.

    Returns
    -------
    array ``grid.shape`` (final state) or ``[steps // every + 1, *grid.shape]`` with ``every``.

    Examples
    --------
    A whole number of cells per step is an exact shift:

    >>> from sciml import Domain
    >>> g = Grid.uniform((8,), Domain(((0.0, 8.0),), periodic=True))
    >>> semi_lagrangian_advection(np.eye(8)[0], g, [1.0], 1.0, 3).tolist()
    [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    """
    if not isinstance(grid, Grid) or any(k != "node" for k in grid.kinds):
        raise TypeError(f"grid: expected a uniform node-centred sciml.Grid, got {grid!r}")
    u = np.asarray(u0, dtype=float)
    if u.shape != grid.shape:
        raise ValueError(f"u0: expected shape {grid.shape} (the grid's), got {u.shape}")
    a = np.asarray(velocity, dtype=float).reshape(-1)
    if a.size != grid.ndim:
        raise ValueError(f"velocity: expected {grid.ndim} components, got {a.size}")
    if order not in (1, 3):
        raise ValueError(f"order: expected 1 or 3, got {order!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps: expected an int >= 0, got {steps!r}")
    periodic = grid.domain.periodic
    if any(periodic) and not all(periodic):
        raise ValueError("grid: mixed periodic and bounded axes are not supported")
    # departure points in index space: i - a dt / h per axis
    shift = [a[k] * dt / grid.spacing[k] for k in range(grid.ndim)]
    index = np.meshgrid(*[np.arange(n, dtype=float) for n in grid.shape], indexing="ij")
    departure = np.stack([index[k] - shift[k] for k in range(grid.ndim)])
    mode = "grid-wrap" if all(periodic) else "constant"
    frames = [u]
    for n in range(steps):
        u = scipy.ndimage.map_coordinates(u, departure, order=order, mode=mode, cval=0.0, prefilter=order > 1)
        if not np.isfinite(u).all():
            raise FloatingPointError(f"semi_lagrangian_advection: non-finite values at step {n + 1}")
        if every and (n + 1) % every == 0:
            frames.append(u)
    return np.stack(frames) if every else u


def taylor_green(points: np.ndarray, t: float = 0.0, viscosity: float = 0.0) -> dict:
    r"""The Taylor–Green vortex on the periodic box :math:`[0, 2\pi]^2`, exactly.

    .. math::

       \mathbf u = e^{-2\nu t} (\sin x \cos y,\ -\cos x \sin y), \quad
       p = \tfrac14 e^{-4\nu t} (\cos 2x + \cos 2y), \quad
       \omega = \partial_x v - \partial_y u = 2 e^{-2\nu t} \sin x \sin y,

    with kinetic energy :math:`\tfrac12\int|\mathbf u|^2 = \pi^2 e^{-4\nu t}`.

    Parameters
    ----------
    points : array ``[n, 2]``
    t : float
    viscosity : float
        :math:`\nu \ge 0` (0: the steady Euler solution).

    Returns
    -------
    dict with ``velocity`` ``[n, 2]``, ``pressure`` ``[n, 1]``, ``vorticity`` ``[n, 1]``,
    ``kinetic_energy`` (float, the exact integral).

    Examples
    --------
    >>> sol = taylor_green(np.array([[np.pi / 2, 0.0]]))
    >>> sol["velocity"].tolist(), sol["kinetic_energy"] == np.pi**2
    ([[1.0, -0.0]], True)
    """
    x = np.asarray(points, dtype=float)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"points: expected shape [n, 2], got {x.shape}")
    if not viscosity >= 0:
        raise ValueError(f"viscosity: expected a number >= 0, got {viscosity!r}")
    decay = math.exp(-2 * viscosity * t)
    sx, cx, sy, cy = np.sin(x[:, 0]), np.cos(x[:, 0]), np.sin(x[:, 1]), np.cos(x[:, 1])
    return {
        "velocity": decay * np.stack([sx * cy, -cx * sy], -1),
        "pressure": 0.25 * decay**2 * (np.cos(2 * x[:, :1]) + np.cos(2 * x[:, 1:])),
        "vorticity": 2 * decay * (sx * sy)[:, None],
        "kinetic_energy": math.pi**2 * decay**2,
    }
