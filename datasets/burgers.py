r"""Viscous Burgers equation :math:`u_t + u u_x = \nu u_{xx}` on a periodic interval.

Discretisation: Fourier pseudo-spectral in space on ``n`` nodes
``x_j = j L / n``; the nonlinear term :math:`-\tfrac12 \partial_x (u^2)` is
computed on the grid and dealiased by the 2/3 rule (the state keeps only
modes ``|m| < n/3``, so the product is alias-free). Time: ETDRK4
(Cox–Matthews, with the Kassam–Trefethen contour coefficients) with the
diffusion :math:`-\nu k^2` integrated exactly; fourth order in time.

Output times are hit exactly: each interval between them is split into
equal steps no longer than ``max_dt``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

import sciml
from sciml._checks import check_positive_int

from ._spectral import (
    ETDRK4,
    BlowUpError,
    angular_wavenumbers,
    check_positive,
    check_seeds,
    check_times,
    dealias_mask,
    march,
    raise_if_blown_up,
)
from .grf import GaussianRandomField
from .problem import PDEProblem, register_problem

__all__ = ["BurgersConfig", "BurgersProblem", "solve_burgers"]


def solve_burgers(u0: np.ndarray, viscosity: float, times, length: float = 1.0,
                  max_dt: float = 1e-3) -> np.ndarray:
    r"""Integrate :math:`u_t + u u_x = \nu u_{xx}` (periodic) from ``u0`` to each of ``times``.

    Parameters
    ----------
    u0 : array ``[n, nx]`` or ``[nx]``
        Initial values at the nodes ``j L / nx``. Modes ``|m| >= nx/3`` are
        removed first (2/3 rule); the returned trajectory starts from that projection.
    viscosity : float
        :math:`\nu > 0`.
    times : sequence of float
        Strictly increasing output times > 0.
    length : float
        Period ``L``.
    max_dt : float
        Largest ETDRK4 step.

    Returns
    -------
    u : array ``[n, len(times), nx]`` (or ``[len(times), nx]`` for a single ``u0``).

    Raises
    ------
    FloatingPointError
        (:class:`BlowUpError`, with the batch index in ``.sample``) if a sample
        becomes non-finite or exceeds twice ``max |u0|`` (the exact solution
        obeys the maximum principle).

    Examples
    --------
    >>> x = np.arange(256) / 256
    >>> u = solve_burgers(np.sin(2 * np.pi * x), viscosity=0.1, times=[0.1, 0.2])
    >>> u.shape, bool(np.abs(u[-1]).max() < 1.0)
    ((2, 256), True)
    """
    u0 = np.asarray(u0, dtype=float)
    single = u0.ndim == 1
    u0 = u0[None] if single else u0
    if u0.ndim != 2 or u0.shape[1] < 4:
        raise ValueError(f"u0: expected shape [n, nx] or [nx] with nx >= 4, got {u0.shape}")
    if not np.all(np.isfinite(u0)):
        raise ValueError("u0: expected finite values")
    nu, length = check_positive(viscosity, "viscosity"), check_positive(length, "length")
    times, max_dt = check_times(times), check_positive(max_dt, "max_dt")
    nx = u0.shape[1]
    (k,) = angular_wavenumbers((nx,), (length,))
    mask = dealias_mask((nx,))
    ik_half = -0.5j * k * mask

    def nonlinear(v):
        u = scipy.fft.irfft(v, n=nx)
        return ik_half * scipy.fft.rfft(u * u)

    bound = 2.0 * np.max(np.abs(u0), axis=1) + 1e-300
    out = np.empty((u0.shape[0], times.size, nx))

    def record(i, t_out, v):
        out[:, i] = scipy.fft.irfft(v, n=nx)
        raise_if_blown_up(out[:, i], bound, f"burgers at t = {t_out:g} "
                          "(bound: twice max|u0|, by the maximum principle; reduce max_dt)")

    march(scipy.fft.rfft(u0) * mask, times, max_dt, lambda dt: ETDRK4(-nu * k**2, dt).step, nonlinear, record)
    return out[0] if single else out


@dataclass
class BurgersConfig:
    """Burgers benchmark; defaults follow the FNO paper (``nu = 0.1``, ``u0 ~ N(0, 625(-Δ+25)^-2)``, T = 1).

    Attributes
    ----------
    resolution : int
        Nodes of the periodic output grid on ``[0, 1)``.
    viscosity : float
        :math:`\\nu`.
    final_time : float
        Last output time ``T``.
    n_times : int
        Output times ``T/n_times, 2T/n_times, ..., T`` (the trajectory; t = 0 is the input ``u0``).
    alpha, tau, sigma : float
        Periodic GRF covariance of the initial condition, ``sigma^2 (-Δ + tau^2)^(-alpha)``.
    refinement : int
        Solve on ``refinement * resolution`` nodes and keep every ``refinement``-th node.
    max_dt : float
        Largest ETDRK4 step (2e-3: time error ~6e-7 max abs, amplitude ~4, on the FNO setup).
    """

    resolution: int = 1024
    viscosity: float = 0.1
    final_time: float = 1.0
    n_times: int = 10
    alpha: float = 2.0
    tau: float = 5.0
    sigma: float = 25.0
    refinement: int = 1
    max_dt: float = 2e-3

    def __post_init__(self):
        for name, minimum in (("resolution", 8), ("n_times", 1), ("refinement", 1)):
            check_positive_int(getattr(self, name), name, minimum)
        for name in ("viscosity", "final_time", "alpha", "sigma", "max_dt"):
            check_positive(getattr(self, name), name)
        check_positive(self.tau, "tau", allow_zero=True)


@register_problem
class BurgersProblem(PDEProblem):
    """Burgers trajectories from random initial conditions: input ``u0`` ``[n, x]``, output ``u`` ``[n, t, x]``.

    The stored ``u0`` is the 2/3-rule projection of the GRF sample that the
    solver starts from, so ``u`` is the solution for exactly that input.

    Examples
    --------
    >>> problem = BurgersProblem(BurgersConfig(resolution=128, n_times=4))
    >>> out = problem.solve_batch([0, 1])
    >>> out["u0"].shape, out["u"].shape, problem.times().tolist()
    ((2, 128), (2, 4, 128), [0.25, 0.5, 0.75, 1.0])
    """

    name = "burgers"
    config_class = BurgersConfig
    input_names = ("u0",)
    output_names = ("u",)
    output_time_dim = "t"

    def grid(self) -> sciml.Grid:
        return sciml.Grid.uniform((self.config.resolution,), sciml.Domain.unit(1, periodic=True))

    def times(self) -> np.ndarray:
        c = self.config
        return c.final_time * np.arange(1, c.n_times + 1) / c.n_times

    def initial_conditions(self, seeds) -> np.ndarray:
        """Dealiased GRF samples ``[n, resolution * refinement]`` on the solver grid."""
        c = self.config
        n = c.resolution * c.refinement
        grf = GaussianRandomField((n,), alpha=c.alpha, tau=c.tau, sigma=c.sigma, boundary="periodic")
        return scipy.fft.irfft(scipy.fft.rfft(grf.sample(seeds)) * dealias_mask((n,)), n=n)

    def solve_batch(self, seeds) -> dict[str, np.ndarray]:
        seeds = check_seeds(seeds)
        c = self.config
        u0 = self.initial_conditions(seeds)
        try:
            u = solve_burgers(u0, c.viscosity, self.times(), max_dt=c.max_dt)
        except BlowUpError as exc:
            raise exc.for_seed("burgers", int(seeds[exc.sample]), sciml.config_to_dict(c)) from exc
        step = c.refinement
        return {"u0": u0[:, ::step], "u": u[:, :, ::step]}

    def attrs(self) -> dict:
        return {**super().attrs(),
                "pde": "u_t + u u_x = nu u_xx on [0,1) periodic",
                "solver": "Fourier pseudo-spectral, 2/3 dealiasing, ETDRK4 (Kassam-Trefethen)",
                "solver_order": 4, "solver_resolution": self.config.resolution * self.config.refinement,
                "units": {"u": "dimensionless", "x": "dimensionless", "t": "dimensionless"}}
