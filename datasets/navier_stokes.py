r"""2D incompressible Navier–Stokes in vorticity form on the periodic unit square.

.. math::

   \partial_t w + \mathbf u\cdot\nabla w = \nu \Delta w + f, \qquad
   -\Delta\psi = w, \qquad \mathbf u = (\partial_y\psi, -\partial_x\psi).

Discretisation: Fourier pseudo-spectral on ``n x n`` nodes ``(i/n, j/n)``;
the advection :math:`\mathbf u\cdot\nabla w` is formed on the grid and
dealiased by the 2/3 rule (the state keeps modes ``|m_x|, |m_y| < n/3``), so
the discrete nonlinear term conserves energy and enstrophy exactly. Time
integration, chosen by ``scheme``:

- ``"etdrk4"`` (default): exponential RK4 (Kassam–Trefethen coefficients)
  with the viscous term integrated exactly; fourth order;
- ``"cn-heun"``: Crank–Nicolson for :math:`\nu\Delta`, Heun's
  predictor–corrector for advection and forcing (IMEX, second order).

At equal cost (four advection evaluations per unit of ``2 dt``) ETDRK4 is
about 10^4 times more accurate on the FNO setup (``benchmarks/README.md``),
hence the default.

FNO-paper setup (Li et al. 2021): ``nu = 1e-3, 1e-4, 1e-5``,
``f = 0.1 (sin 2π(x+y) + cos 2π(x+y))``, ``w0 ~ N(0, 7^{3/2}(-Δ + 49)^{-2.5})``
with zero mean, snapshots at ``t = 1, ..., 50``.
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

__all__ = ["NavierStokesConfig", "NavierStokesProblem", "fno_forcing", "solve_navier_stokes",
           "velocity_from_vorticity"]

SCHEMES = ("etdrk4", "cn-heun")


def fno_forcing(resolution: int, amplitude: float = 0.1) -> np.ndarray:
    """The FNO forcing ``amplitude (sin 2π(x+y) + cos 2π(x+y))`` on the periodic node grid ``[n, n]``."""
    x = np.arange(resolution) / resolution
    s = 2.0 * np.pi * (x[:, None] + x[None, :])
    return amplitude * (np.sin(s) + np.cos(s))


class _Spectral2D:
    """Wavenumbers, dealiasing mask and inverse Laplacian for an ``n x n`` periodic unit square."""

    def __init__(self, n: int):
        self.n = n
        self.kx, self.ky = angular_wavenumbers((n, n), (1.0, 1.0))
        self.k2 = self.kx**2 + self.ky**2
        self.mask = dealias_mask((n, n))
        self.inv_k2 = np.zeros_like(self.k2)
        self.inv_k2[self.k2 > 0] = 1.0 / self.k2[self.k2 > 0]

    def forward(self, field: np.ndarray) -> np.ndarray:
        return scipy.fft.rfft2(field)

    def inverse(self, spectrum: np.ndarray) -> np.ndarray:
        return scipy.fft.irfft2(spectrum, s=(self.n, self.n))

    def advection(self, w_hat: np.ndarray) -> np.ndarray:
        """Dealiased spectrum of ``u·∇w`` for vorticity spectra ``[batch, n, n//2+1]``."""
        psi_hat = w_hat * self.inv_k2
        stacked = np.stack([1j * self.ky * psi_hat, -1j * self.kx * psi_hat,
                            1j * self.kx * w_hat, 1j * self.ky * w_hat])
        u, v, w_x, w_y = self.inverse(stacked)
        return self.forward(u * w_x + v * w_y) * self.mask


def velocity_from_vorticity(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Velocity ``(u, v) = (ψ_y, -ψ_x)`` with ``-Δψ = w`` (zero-mean ψ), spectrally, for ``w`` ``[..., n, n]``.

    Examples
    --------
    >>> x = np.arange(32) / 32
    >>> w = 2 * (2 * np.pi) ** 2 * np.sin(2 * np.pi * x)[:, None] * np.sin(2 * np.pi * x)[None, :]
    >>> u, v = velocity_from_vorticity(w)      # ψ = sin 2πx sin 2πy, u = 2π sin 2πx cos 2πy
    >>> bool(np.allclose(u[8, 0], 2 * np.pi))
    True
    """
    w = np.asarray(w, dtype=float)
    if w.ndim < 2 or w.shape[-1] != w.shape[-2]:
        raise ValueError(f"w: expected shape [..., n, n], got {w.shape}")
    spec = _Spectral2D(w.shape[-1])
    psi_hat = scipy.fft.rfft2(w) * spec.inv_k2
    return spec.inverse(1j * spec.ky * psi_hat), spec.inverse(-1j * spec.kx * psi_hat)


def solve_navier_stokes(w0: np.ndarray, viscosity: float, times, forcing: np.ndarray | None = None,
                        max_dt: float = 0.05, scheme: str = "etdrk4") -> np.ndarray:
    r"""Integrate the vorticity equation on the periodic unit square to each of ``times``.

    Parameters
    ----------
    w0 : array ``[n, N, N]`` or ``[N, N]``
        Initial vorticity at the nodes ``(i/N, j/N)``. The mean and the modes
        outside the 2/3-rule box are removed first.
    viscosity : float
        :math:`\nu > 0`.
    times : sequence of float
        Strictly increasing output times > 0.
    forcing : array ``[N, N]``, optional
        Time-independent vorticity forcing ``f`` (see :func:`fno_forcing`); none by default.
    max_dt : float
        Largest time step; each interval between output times is split into equal steps.
    scheme : {"etdrk4", "cn-heun"}
        Time integrator (see the module docstring).

    Returns
    -------
    w : array ``[n, len(times), N, N]`` (or ``[len(times), N, N]`` for a single ``w0``).

    Raises
    ------
    FloatingPointError
        (:class:`BlowUpError` with the batch index in ``.sample``) when a sample
        becomes non-finite or its RMS vorticity exceeds twice the a-priori
        bound :math:`\max(\|w_0\|, \|f\|/(4\pi^2\nu))`.

    Examples
    --------
    >>> x = np.arange(32) / 32
    >>> w0 = np.sin(2 * np.pi * x)[:, None] * np.sin(2 * np.pi * x)[None, :]   # Taylor–Green
    >>> w = solve_navier_stokes(w0, viscosity=0.01, times=[1.0])
    >>> bool(np.allclose(w[0], w0 * np.exp(-8 * np.pi**2 * 0.01), atol=1e-6))
    True
    """
    w0, single = _check_vorticity(w0)
    nu, max_dt = check_positive(viscosity, "viscosity"), check_positive(max_dt, "max_dt")
    times = check_times(times)
    if scheme not in SCHEMES:
        raise ValueError(f"scheme: expected one of {SCHEMES}, got {scheme!r}")
    spec = _Spectral2D(w0.shape[-1])
    f_hat = _forcing_spectrum(forcing, spec)
    bound = _rms_bound(w0, forcing, nu)
    out = np.empty((w0.shape[0], times.size) + w0.shape[1:])
    linear = -nu * spec.k2

    def rhs(w_hat):
        return f_hat - spec.advection(w_hat)

    def record(i, t_out, v):
        out[:, i] = spec.inverse(v)
        rms = np.sqrt(np.mean(out[:, i] ** 2, axis=(1, 2)))
        raise_if_blown_up(rms, bound, f"navier-stokes at t = {t_out:g} (nu = {nu:g}, max_dt = {max_dt:g})")

    march(spec.forward(w0) * spec.mask * (spec.k2 > 0), times, max_dt, lambda dt: _make_step(scheme, linear, dt),
          rhs, record)
    return out[0] if single else out


def _check_vorticity(w0) -> tuple[np.ndarray, bool]:
    w0 = np.asarray(w0, dtype=float)
    single = w0.ndim == 2
    w0 = w0[None] if single else w0
    if w0.ndim != 3 or w0.shape[1] != w0.shape[2] or w0.shape[1] < 6:
        raise ValueError(f"w0: expected shape [n, N, N] or [N, N] with N >= 6, got {w0.shape}")
    if not np.all(np.isfinite(w0)):
        raise ValueError("w0: expected finite values")
    return w0, single


def _forcing_spectrum(forcing, spec: _Spectral2D) -> np.ndarray | float:
    if forcing is None:
        return 0.0
    forcing = np.asarray(forcing, dtype=float)
    if forcing.shape != (spec.n, spec.n):
        raise ValueError(f"forcing: expected shape {(spec.n, spec.n)}, got {forcing.shape}")
    if not np.all(np.isfinite(forcing)):
        raise ValueError("forcing: expected finite values")
    return spec.forward(forcing) * spec.mask * (spec.k2 > 0)


def _rms_bound(w0: np.ndarray, forcing, nu: float) -> np.ndarray:
    """Twice the a-priori bound max(||w0||, ||f|| / (nu k_1^2)) on the RMS vorticity (k_1 = 2π)."""
    rms0 = np.sqrt(np.mean(w0**2, axis=(1, 2)))
    rms_f = 0.0 if forcing is None else float(np.sqrt(np.mean(np.asarray(forcing) ** 2)))
    return 2.0 * np.maximum(rms0, rms_f / (nu * 4.0 * np.pi**2)) + 1e-12


def _make_step(scheme: str, linear: np.ndarray, dt: float):
    """A function ``(v, rhs) -> v_next`` advancing ``v_t = linear v + rhs(v)`` by ``dt``."""
    if scheme == "etdrk4":
        return ETDRK4(linear, dt).step
    explicit = 1.0 + 0.5 * dt * linear
    implicit = 1.0 / (1.0 - 0.5 * dt * linear)

    def cn_heun(v, rhs):
        n0 = rhs(v)
        predicted = (explicit * v + dt * n0) * implicit
        return (explicit * v + 0.5 * dt * (n0 + rhs(predicted))) * implicit

    return cn_heun


@dataclass
class NavierStokesConfig:
    """Navier–Stokes benchmark; defaults follow the FNO paper (``nu = 1e-3``, T = 50, 50 snapshots).

    Attributes
    ----------
    resolution : int
        Nodes per axis of the periodic output grid on ``[0, 1)^2``.
    viscosity : float
        :math:`\\nu` (FNO: 1e-3, 1e-4, 1e-5).
    final_time : float
        Last snapshot time ``T``.
    n_times : int
        Snapshots at ``T/n_times, ..., T`` (t = 0 is the input ``w0``).
    forcing_amplitude : float
        Amplitude of ``sin 2π(x+y) + cos 2π(x+y)`` (0 turns the forcing off).
    alpha, tau : float
        GRF covariance of ``w0``: ``sigma^2 (-Δ + tau^2)^(-alpha)``, zero mean.
    sigma : float, optional
        Default ``sqrt(2) tau^(alpha - 1)``: the variance of FNO's ``GaussianRF(2, s, alpha, tau)``.
    refinement : int
        Solve on ``refinement * resolution`` nodes per axis and keep every ``refinement``-th node.
    max_dt : float
        Largest time step (0.05: relative error ~1e-7 at t = 50 for the FNO
        setup at 64^2; lower viscosities need a finer grid and a smaller step).
    scheme : {"etdrk4", "cn-heun"}
        Time integrator.
    """

    resolution: int = 64
    viscosity: float = 1e-3
    final_time: float = 50.0
    n_times: int = 50
    forcing_amplitude: float = 0.1
    alpha: float = 2.5
    tau: float = 7.0
    sigma: float | None = None
    refinement: int = 1
    max_dt: float = 0.05
    scheme: str = "etdrk4"

    def __post_init__(self):
        for name, minimum in (("resolution", 8), ("n_times", 1), ("refinement", 1)):
            check_positive_int(getattr(self, name), name, minimum)
        for name in ("viscosity", "final_time", "alpha", "max_dt"):
            check_positive(getattr(self, name), name)
        check_positive(self.tau, "tau", allow_zero=True)
        check_positive(self.forcing_amplitude, "forcing_amplitude", allow_zero=True)
        if self.sigma is not None:
            check_positive(self.sigma, "sigma")
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme: expected one of {SCHEMES}, got {self.scheme!r}")

    @property
    def grf_sigma(self) -> float:
        return self.sigma if self.sigma is not None else float(np.sqrt(2.0) * self.tau ** (self.alpha - 1.0))


@register_problem
class NavierStokesProblem(PDEProblem):
    """Forced 2D turbulence: input ``w0`` ``[n, x, y]``, output vorticity snapshots ``w`` ``[n, t, x, y]``.

    The stored ``w0`` is the dealiased GRF sample the solver starts from.

    Examples
    --------
    >>> problem = NavierStokesProblem(NavierStokesConfig(resolution=32, final_time=1.0, n_times=2))
    >>> out = problem.solve_batch([0])
    >>> out["w0"].shape, out["w"].shape, problem.times().tolist()
    ((1, 32, 32), (1, 2, 32, 32), [0.5, 1.0])
    """

    name = "navier-stokes"
    config_class = NavierStokesConfig
    input_names = ("w0",)
    output_names = ("w",)
    output_time_dim = "t"

    def grid(self) -> sciml.Grid:
        return sciml.Grid.uniform((self.config.resolution,) * 2, sciml.Domain.unit(2, periodic=True))

    def times(self) -> np.ndarray:
        c = self.config
        return c.final_time * np.arange(1, c.n_times + 1) / c.n_times

    def solver_size(self) -> int:
        return self.config.resolution * self.config.refinement

    def initial_conditions(self, seeds) -> np.ndarray:
        """Dealiased, zero-mean GRF vorticity ``[n, N, N]`` on the solver grid, sample ``k`` from ``seeds[k]``."""
        c, n = self.config, self.solver_size()
        grf = GaussianRandomField((n, n), alpha=c.alpha, tau=c.tau, sigma=c.grf_sigma,
                                  boundary="periodic", mean_zero=True)
        return scipy.fft.irfft2(scipy.fft.rfft2(grf.sample(seeds)) * dealias_mask((n, n)), s=(n, n))

    def solve_batch(self, seeds) -> dict[str, np.ndarray]:
        seeds = check_seeds(seeds)
        c, n = self.config, self.solver_size()
        w0 = self.initial_conditions(seeds)
        forcing = fno_forcing(n, c.forcing_amplitude) if c.forcing_amplitude > 0 else None
        try:
            w = solve_navier_stokes(w0, c.viscosity, self.times(), forcing, c.max_dt, c.scheme)
        except BlowUpError as exc:
            raise exc.for_seed("navier-stokes", int(seeds[exc.sample]), sciml.config_to_dict(c)) from exc
        step = c.refinement
        return {"w0": w0[:, ::step, ::step], "w": w[:, :, ::step, ::step]}

    def attrs(self) -> dict:
        order = 2 if self.config.scheme == "cn-heun" else 4
        return {**super().attrs(),
                "pde": "w_t + u.grad(w) = nu lap(w) + f, -lap(psi) = w, u = (psi_y, -psi_x), [0,1)^2 periodic",
                "solver": f"Fourier pseudo-spectral, 2/3 dealiasing, {self.config.scheme}",
                "solver_order": order, "solver_resolution": self.solver_size(),
                "units": {"w": "dimensionless", "x": "dimensionless", "t": "dimensionless"}}
