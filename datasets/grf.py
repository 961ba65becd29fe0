r"""Gaussian random fields with covariance :math:`\sigma^2 (-\Delta + \tau^2 I)^{-\alpha}`.

Spectral (Karhunen–Loève) sampling on a box: with :math:`\phi_k` the
:math:`L^2`-orthonormal eigenfunctions of :math:`-\Delta` for the chosen
boundary condition and :math:`\mu_k` their eigenvalues,

.. math::  u = \sum_k \sigma (\mu_k + \tau^2)^{-\alpha/2} \xi_k \phi_k,
           \qquad \xi_k \sim N(0, 1) \text{ i.i.d.},

truncated to the modes a grid resolves. ``E[u] = 0`` and
``E[u(x) u(y)] = sum_k lambda_k phi_k(x) phi_k(y)`` with
``lambda_k = sigma^2 (mu_k + tau^2)^(-alpha)``.

- ``periodic``: :math:`\phi_k = e^{i k\cdot x}/\sqrt{|D|}`, :math:`k = 2\pi m/L`;
  nodes ``x_j = j L / n`` (right end dropped); the modes :math:`|m_i| < n_i/2` (the
  Nyquist modes of even axes, which a grid cannot tell from their mirror images, are left
  out), with :math:`\xi_{-k} = \bar\xi_k` complex normals; synthesised by inverse FFT.
- ``dirichlet``: :math:`\phi_m = \prod_i \sqrt{2/L_i}\sin(\pi m_i x_i/L_i)`,
  ``m_i >= 1``; node grid with both ends (the field is 0 there); DST-I.
- ``neumann``: :math:`\phi_m = \prod_i c_{m_i} \cos(\pi m_i x_i / L_i)`,
  ``m_i >= 0``; node grid with both ends; DCT-I (the FNO Darcy inputs).

Sample ``k`` of :meth:`GaussianRandomField.sample` depends only on ``seeds[k]``, and
the normal :math:`\xi_k` of each mode only on the seed and the mode (a counter-based
generator: SplitMix64 hashes of ``(seed, mode)`` through Box--Muller), not on the grid.
So a seed gives the *same function* at every resolution: a finer grid adds the modes it
newly resolves and keeps the coarse grid's modes exactly -- finer evaluation sets hold the
same inputs, resolved better.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.fft

import sciml

from ._spectral import check_positive, check_seeds, integer_modes

__all__ = ["GaussianRandomField", "lognormal", "threshold"]

BOUNDARIES = ("periodic", "dirichlet", "neumann")


class GaussianRandomField:
    r"""Centred Gaussian field with covariance :math:`\sigma^2(-\Delta + \tau^2 I)^{-\alpha}` on a box.

    Parameters
    ----------
    shape : int or sequence of int
        Grid points per axis (1 to 3 axes). Periodic axes hold ``n`` nodes
        without the right end; Dirichlet/Neumann axes ``n`` nodes with both ends.
    alpha : float
        Smoothness exponent (> d/2 for a field with finite pointwise variance).
    tau : float
        Inverse length scale (>= 0; 0 needs ``mean_zero`` on periodic/Neumann boxes).
    sigma : float
        Amplitude.
    boundary : {"periodic", "dirichlet", "neumann"}
        Eigenfunctions of the Laplacian used (see the module docstring).
    lengths : sequence of float, optional
        Box side lengths, default 1.
    mean_zero : bool
        Drop the constant mode (periodic / Neumann), so every sample has zero mean.

    Examples
    --------
    >>> grf = GaussianRandomField((64, 64), alpha=2.0, tau=3.0, boundary="neumann")
    >>> u = grf.sample([0, 1, 2])
    >>> u.shape
    (3, 64, 64)
    >>> np.array_equal(grf.sample([1])[0], u[1])    # sample k depends on its seed only
    True
    >>> fine = GaussianRandomField((127, 127), alpha=2.0, tau=3.0, boundary="neumann").sample([0])
    >>> float(np.abs(fine[0, ::2, ::2] - u[0]).max()) < 0.1 * float(np.abs(u[0]).max())  # same function
    True
    """

    def __init__(self, shape: int | Sequence[int], alpha: float = 2.0, tau: float = 3.0,
                 sigma: float = 1.0, boundary: str = "periodic",
                 lengths: Sequence[float] | None = None, mean_zero: bool = False):
        self.shape = _check_shape(shape, boundary)
        self.alpha = check_positive(alpha, "alpha")
        self.tau = check_positive(tau, "tau", allow_zero=True)
        self.sigma = check_positive(sigma, "sigma")
        self.boundary = boundary
        lengths = (1.0,) * len(self.shape) if lengths is None else tuple(lengths)
        if len(lengths) != len(self.shape):
            raise ValueError(f"lengths: expected {len(self.shape)} lengths (one per axis), got {len(lengths)}")
        self.lengths = tuple(check_positive(v, f"lengths[{i}]") for i, v in enumerate(lengths))
        self.mean_zero = bool(mean_zero)
        if self.tau == 0 and boundary != "dirichlet" and not self.mean_zero:
            raise ValueError("tau: tau = 0 makes the constant mode's variance infinite; "
                             "set mean_zero=True or tau > 0")
        self._sqrt_eig = np.sqrt(self.eigenvalues())

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def laplacian_eigenvalues(self) -> np.ndarray:
        r"""Eigenvalues :math:`\mu_k` of :math:`-\Delta` for each mode, in the sampler's layout."""
        if self.boundary == "periodic":
            modes = integer_modes(self.shape)
            factor = 2.0 * np.pi
        else:
            first = 1 if self.boundary == "dirichlet" else 0
            n_modes = [n - 2 if self.boundary == "dirichlet" else n for n in self.shape]
            modes = [np.arange(first, first + m, dtype=float).reshape(
                [-1 if i == axis else 1 for i in range(self.ndim)]) for axis, m in enumerate(n_modes)]
            factor = np.pi
        mu = np.zeros(())
        for m, length in zip(modes, self.lengths):
            mu = mu + (factor * m / length) ** 2
        return mu

    def eigenvalues(self) -> np.ndarray:
        r"""Covariance eigenvalues :math:`\lambda_k = \sigma^2(\mu_k + \tau^2)^{-\alpha}` (0 for a dropped mode)."""
        mu = self.laplacian_eigenvalues()
        base = mu + self.tau**2
        lam = np.zeros_like(base)
        keep = base > 0
        lam[keep] = self.sigma**2 * base[keep] ** (-self.alpha)
        if self.mean_zero and self.boundary != "dirichlet":
            lam.flat[0] = 0.0
        if self.boundary == "periodic":
            for m, n in zip(integer_modes(self.shape), self.shape):
                lam = np.where(np.abs(m) * 2 == n, 0.0, lam)     # Nyquist modes left out
        return lam

    def sample(self, seeds) -> np.ndarray:
        """Independent samples ``[len(seeds), *shape]`` (float64), sample ``k`` from ``seeds[k]``."""
        seeds = check_seeds(seeds)
        if self.boundary == "periodic":
            return self._sample_periodic(seeds)
        first = 1 if self.boundary == "dirichlet" else 0
        grids = np.meshgrid(*[np.arange(first, first + m) for m in self._sqrt_eig.shape], indexing="ij")
        coeffs = mode_normals(seeds, mode_ids(grids))[0] * self._sqrt_eig
        axes = tuple(range(1, self.ndim + 1))
        if self.boundary == "dirichlet":
            return self._synthesise_dirichlet(coeffs, axes)
        return self._synthesise_neumann(coeffs, axes)

    def _sample_periodic(self, seeds: np.ndarray) -> np.ndarray:
        # u_j = sum_k sqrt(lambda_k / |D|) xi_k e^{i k x_j} = irfftn(N sqrt(lambda / |D|) xi) on the
        # rfftn half spectrum; xi of the mode pair {k, -k} is drawn for its canonical member
        # (first non-zero index positive) and conjugated for the other, so the half spectrum is
        # exactly Hermitian where irfftn needs it.
        modes = np.broadcast_arrays(*integer_modes(self.shape))
        sign = np.zeros(modes[0].shape)
        for m in modes:
            sign = np.where(sign == 0, np.sign(m), sign)
        canonical = [np.where(sign < 0, -m, m).astype(np.int64) for m in modes]
        real, imag = mode_normals(seeds, mode_ids(canonical))
        xi = np.where(sign == 0, real, (real + 1j * np.where(sign < 0, -imag, imag)) / np.sqrt(2.0))
        axes = tuple(range(1, self.ndim + 1))
        scale = np.prod(self.shape) * np.sqrt(self._sqrt_eig**2 / np.prod(self.lengths))
        return scipy.fft.irfftn(xi * scale, s=self.shape, axes=axes)

    def _synthesise_dirichlet(self, coeffs: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        # DST-I: y_j = 2 sum_m c_m sin(pi (m+1)(j+1)/(n-1)), so u = dst(c)/2 per axis.
        norm = np.prod([np.sqrt(2.0 / length) / 2.0 for length in self.lengths])
        interior = scipy.fft.dstn(coeffs, type=1, axes=axes) * norm
        return np.pad(interior, [(0, 0)] + [(1, 1)] * self.ndim)

    def _synthesise_neumann(self, coeffs: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        # DCT-I: y_j = b_0 + (-1)^j b_{n-1} + 2 sum_{0<m<n-1} b_m cos(pi m j/(n-1)).
        for axis, (n, length) in enumerate(zip(self.shape, self.lengths), start=1):
            weight = np.full(n, np.sqrt(2.0 / length) / 2.0)
            weight[[0, -1]] = [1.0 / np.sqrt(length), np.sqrt(2.0 / length)]
            coeffs = coeffs * weight.reshape([-1 if i == axis else 1 for i in range(self.ndim + 1)])
        return scipy.fft.dctn(coeffs, type=1, axes=axes)

    def grid(self) -> sciml.Grid:
        """The node grid the samples live on (periodic axes drop their right end)."""
        domain = sciml.Domain([(0.0, length) for length in self.lengths],
                              periodic=self.boundary == "periodic")
        return sciml.Grid.uniform(self.shape, domain)

    def basis(self, axis: int) -> np.ndarray:
        """Eigenfunctions of one axis at its nodes, ``[n, modes]`` (a dense reference for tests).

        Periodic axes return complex exponentials in ``fftfreq`` order; the
        others the orthonormal sines (Dirichlet) or cosines (Neumann).
        """
        n, length = self.shape[axis], self.lengths[axis]
        x = self.grid().axes[axis].coordinates
        if self.boundary == "periodic":
            m = np.fft.fftfreq(n, 1.0 / n)
            return np.exp(2j * np.pi * np.outer(x, m) / length) / np.sqrt(length)
        if self.boundary == "dirichlet":
            m = np.arange(1, n - 1)
            return np.sqrt(2.0 / length) * np.sin(np.pi * np.outer(x, m) / length)
        m = np.arange(n)
        return np.where(m == 0, 1.0 / np.sqrt(length), np.sqrt(2.0 / length)) * np.cos(np.pi * np.outer(x, m) / length)

    def pointwise_variance(self) -> np.ndarray:
        r"""Exact variance ``[*shape]`` of the sampled (truncated) field at each node.

        Periodic: :math:`\sum_k \lambda_k / |D|` over every mode the grid holds;
        otherwise :math:`\sum_m \lambda_m \phi_m(x)^2`.
        """
        lam = self.eigenvalues()
        if self.boundary == "periodic":
            return np.full(self.shape, _rfft_total(lam, self.shape) / np.prod(self.lengths))
        letters = "abc"[: self.ndim]
        squares = [self.basis(axis) ** 2 for axis in range(self.ndim)]
        spec = f"{letters.upper()}," + ",".join(f"{lo}{up}" for lo, up in zip(letters, letters.upper()))
        return np.einsum(f"{spec}->{letters}", lam, *squares)

    def __repr__(self) -> str:
        return (f"GaussianRandomField(shape={self.shape}, alpha={self.alpha}, tau={self.tau}, "
                f"sigma={self.sigma}, boundary={self.boundary!r}, lengths={self.lengths}, "
                f"mean_zero={self.mean_zero})")


def mode_ids(modes: Sequence[np.ndarray]) -> np.ndarray:
    """One ``uint64`` per integer mode tuple (up to 3 axes, ``|m| < 2**19``), the same on every grid.

    Each index is zigzag-encoded (``m >= 0 -> 2m``, ``m < 0 -> -2m - 1``) into 20 bits.
    """
    ids = np.zeros(np.shape(modes[0]), dtype=np.uint64)
    for axis, m in enumerate(modes):
        m = np.asarray(m, dtype=np.int64)
        zigzag = np.where(m >= 0, 2 * m, -2 * m - 1).astype(np.uint64)
        ids = ids | (zigzag << np.uint64(20 * axis))
    return ids


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on ``uint64`` arrays (wrapping arithmetic)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def mode_normals(seeds: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two independent standard normals ``[len(seeds), *ids.shape]`` per (seed, mode id).

    Counter-based: each value is a function of its seed and mode only (SplitMix64 hashes
    give two uniforms, Box--Muller two normals), so any subset of modes is drawn alike.
    """
    keys = _splitmix64(np.asarray(seeds, dtype=np.uint64).reshape((-1,) + (1,) * ids.ndim))
    base = _splitmix64(keys ^ _splitmix64(ids * np.uint64(2)))
    other = _splitmix64(keys ^ _splitmix64(ids * np.uint64(2) + np.uint64(1)))
    u1 = ((base >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
    u2 = ((other >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
    radius = np.sqrt(-2.0 * np.log(u1))
    return radius * np.cos(2 * np.pi * u2), radius * np.sin(2 * np.pi * u2)


def _rfft_total(values: np.ndarray, shape: tuple[int, ...]) -> float:
    """Sum over the full spectrum of a Hermitian-symmetric quantity given in ``rfftn`` layout."""
    n = shape[-1]
    weights = np.full(values.shape[-1], 2.0)
    weights[0] = 1.0
    if n % 2 == 0:
        weights[-1] = 1.0
    return float(np.sum(values * weights))


def _check_shape(shape, boundary: str) -> tuple[int, ...]:
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary: expected one of {BOUNDARIES}, got {boundary!r}")
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if not 1 <= len(shape) <= 3:
        raise ValueError(f"shape: expected 1 to 3 axes, got {len(shape)}")
    minimum = 3 if boundary == "dirichlet" else 2
    for i, n in enumerate(shape):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < minimum:
            raise ValueError(f"shape[{i}]: expected an integer >= {minimum} for a {boundary} axis, got {n!r}")
    return tuple(int(n) for n in shape)


def threshold(field: np.ndarray, low: float = 3.0, high: float = 12.0, level: float = 0.0) -> np.ndarray:
    """Piecewise-constant coefficient: ``high`` where ``field >= level``, ``low`` elsewhere.

    With a Neumann GRF (``alpha=2, tau=3``) and the defaults this is the
    FNO-paper Darcy coefficient (values 12 and 3).

    Examples
    --------
    >>> threshold(np.array([-0.5, 0.0, 2.0]))
    array([ 3., 12., 12.])
    """
    field = np.asarray(field, dtype=float)
    if not np.all(np.isfinite(field)):
        raise ValueError("field: expected finite values")
    return np.where(field >= level, float(high), float(low))


def lognormal(field: np.ndarray, mean: float = 0.0, scale: float = 1.0) -> np.ndarray:
    """Log-normal coefficient ``exp(mean + scale * field)`` (positive wherever ``field`` is finite).

    Examples
    --------
    >>> lognormal(np.zeros(2), mean=1.0)
    array([2.71828183, 2.71828183])
    """
    field = np.asarray(field, dtype=float)
    if not np.all(np.isfinite(field)):
        raise ValueError("field: expected finite values")
    return np.exp(mean + scale * field)
