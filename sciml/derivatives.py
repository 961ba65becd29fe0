r"""Partial derivatives and gradients of functions sampled on a :class:`Grid`.

Each grid axis is differentiated by the most accurate method its geometry allows
(``method="auto"``):

=============================================  ==========================================  ===========
axis                                           method                                      accuracy
=============================================  ==========================================  ===========
periodic, equispaced (``node`` or ``cell``)    Fourier: ``irfft(2 pi i k / L * rfft(f))``    spectral
``chebyshev`` (Chebyshev–Lobatto)              Chebyshev differentiation matrix            spectral
everything else (bounded ``node``/``cell``,     three-point finite differences: central     O(h²)
``explicit``, periodic ``explicit``)           inside, one-sided at the ends
=============================================  ==========================================  ===========

``method="fd"`` forces finite differences on every axis (periodic axes wrap around),
``method="spectral"`` requires a spectral method on every axis.

Fourier differentiation multiplies mode :math:`k` by :math:`2\pi i k / L` and zeroes
the Nyquist mode of an even-sized axis (its derivative is not representable on
the grid, and keeping it would make the derivative of a real function complex).
The Chebyshev matrix is the exact derivative of the degree :math:`n-1` polynomial
interpolant, :math:`D_{ij} = (w_j / w_i) / (x_i - x_j)` with barycentric weights
:math:`w_j = (-1)^j \delta_j` (:math:`\delta = 1/2` at the ends) and
:math:`D_{ii} = -\sum_{j \ne i} D_{ij}`. The finite differences are the derivative
of the quadratic through three neighbouring nodes, with the proper weights for
non-uniform spacing :math:`h_1 = x_i - x_{i-1}`, :math:`h_2 = x_{i+1} - x_i`:

.. math::
    f'(x_i) \approx -\frac{h_2}{h_1 (h_1 + h_2)} f_{i-1} + \frac{h_2 - h_1}{h_1 h_2} f_i
    + \frac{h_1}{h_2 (h_1 + h_2)} f_{i+1}.

Everything is pure torch: differentiable, batched over leading dimensions, any
device, float32/float64 (and complex) values.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from ._checks import as_float_tensor, check_shape_tail
from ._precision import upcast_half
from .grid import Grid, GridAxis
from .sampled import Sampled, axis_names

__all__ = ["axis_method", "gradient", "partial"]

METHODS = ("auto", "spectral", "fd")


def axis_method(axis: GridAxis, method: str = "auto") -> str:
    """Name of the scheme used on ``axis``: ``"fourier"``, ``"chebyshev"`` or ``"fd"``.

    Examples
    --------
    >>> axis_method(Grid.uniform(16, Domain.unit(1, periodic=True)).axes[0])
    'fourier'
    >>> axis_method(Grid.chebyshev(9).axes[0], method="fd")
    'fd'
    """
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    if method == "fd":
        return "fd"
    if axis.is_periodic_uniform:
        return "fourier"
    if axis.kind == "chebyshev":
        return "chebyshev"
    if method == "spectral":
        raise ValueError(
            f"method: 'spectral' needs periodic equispaced or Chebyshev axes, got a "
            f"{'periodic' if axis.periodic else 'bounded'} {axis.kind!r} axis; use 'auto' or 'fd'"
        )
    return "fd"


def partial(values: torch.Tensor, grid: Grid, axis: int, method: str = "auto") -> torch.Tensor:
    r"""Derivative :math:`\partial f / \partial x_{axis}` of values sampled on ``grid``.

    Parameters
    ----------
    values : tensor ``[..., *grid.shape]``
        Samples; any number of leading (batch, channel) dimensions.
    grid : Grid
        Where the values live; gives coordinates, periodicity and the scheme.
    axis : int
        Spatial axis, ``0 <= axis < grid.ndim`` (negative counts from the end).
    method : {"auto", "spectral", "fd"}
        Scheme selection, see the module docstring and :func:`axis_method`.

    Returns
    -------
    tensor, same shape and dtype as ``values`` (half precision is computed in float32).

    Examples
    --------
    >>> grid = Grid.uniform(32, Domain([(0, 2 * np.pi)], periodic=True))
    >>> x = grid.coordinates()[0]
    >>> torch.allclose(partial(torch.sin(3 * x), grid, 0), 3 * torch.cos(3 * x))
    True
    """
    if not isinstance(grid, Grid):
        raise TypeError(f"grid: expected a Grid, got {type(grid).__name__}")
    values = check_shape_tail(as_float_tensor(values, "values"), "values", grid.shape, "the grid shape")
    if not -grid.ndim <= axis < grid.ndim:
        raise ValueError(f"axis: expected an integer in [{-grid.ndim}, {grid.ndim}), got {axis}")
    axis %= grid.ndim
    dim = values.ndim - grid.ndim + axis
    ax = grid.axes[axis]
    scheme = {"fourier": _fourier, "chebyshev": _chebyshev, "fd": _finite_difference}[axis_method(ax, method)]
    work = upcast_half(values)  # FFTs need float32 or wider
    return scheme(work.movedim(dim, -1), ax).movedim(-1, dim).to(values.dtype)


def gradient(u, method: str = "auto"):
    r"""Gradient of every channel, stacked channel-major.

    For values ``[B, C, *shape]`` on a ``d``-dimensional grid the result has
    ``C * d`` channels, ordered
    :math:`(\partial_0 u_0, \partial_1 u_0, \dots, \partial_{d-1} u_0, \partial_0 u_1, \dots)`,
    i.e. channel ``c * d + k`` holds :math:`\partial u_c / \partial x_k`.

    Parameters
    ----------
    u : Sampled on a Grid, or tensor ``[B, C, *spatial]``
        A plain tensor is read as samples on ``Grid.infer(spatial)`` (uniform
        nodes on the unit box, not periodic).
    method : {"auto", "spectral", "fd"}
        See :func:`partial`.

    Returns
    -------
    Sampled on the same grid (channel names ``d<name>/d<axis>`` when ``u`` has
    names), or a tensor when ``u`` is a tensor.

    Examples
    --------
    >>> grid = Grid.uniform((16, 16), Domain.unit(2, periodic=True))
    >>> x, y = grid.mesh().unbind(-1)
    >>> g = gradient(Sampled(torch.sin(2 * torch.pi * x)[None, None], grid))
    >>> g.shape
    (1, 2, 16, 16)
    """
    if isinstance(u, Sampled):
        if not isinstance(u.on, Grid):
            raise ValueError(f"u: derivatives need values on a Grid, got values on {u.on!r}; "
                             "resample them onto a Grid first")
        values = _stacked_gradient(u.values, u.on, method)
        return Sampled(values, u.on, _gradient_names(u.channel_names, u.on.ndim), u.attrs, validate=False)
    if isinstance(u, torch.Tensor):
        if u.ndim < 3:
            raise ValueError(f"u: expected a tensor [batch, channels, *spatial], got shape {tuple(u.shape)}")
        return _stacked_gradient(u, Grid.infer(u.shape[2:]), method)
    raise TypeError(f"u: expected Sampled or torch.Tensor, got {type(u).__name__}")


def _stacked_gradient(values: torch.Tensor, grid: Grid, method: str) -> torch.Tensor:
    parts = torch.stack([partial(values, grid, k, method) for k in range(grid.ndim)], dim=2)
    return parts.flatten(1, 2)


def _gradient_names(names, ndim: int):
    if names is None:
        return None
    return tuple(f"d{name}/d{axis}" for name in names for axis in axis_names(ndim))


# -- schemes: values with the differentiated axis last -------------------------------------------
def _fourier(values: torch.Tensor, axis: GridAxis) -> torch.Tensor:
    n = values.shape[-1]
    frequencies = np.fft.fftfreq(n) if values.is_complex() else np.fft.rfftfreq(n)
    wavenumbers = 2 * np.pi * n / axis.length * frequencies
    if n % 2 == 0:
        wavenumbers[n // 2] = 0.0  # Nyquist mode: its odd derivative is not representable
    real = values.real.dtype if values.is_complex() else values.dtype
    complex_dtype = torch.complex128 if real == torch.float64 else torch.complex64
    multiplier = torch.as_tensor(1j * wavenumbers, dtype=complex_dtype, device=values.device)
    if values.is_complex():
        return torch.fft.ifft(torch.fft.fft(values, dim=-1) * multiplier, n=n, dim=-1)
    return torch.fft.irfft(torch.fft.rfft(values, dim=-1) * multiplier, n=n, dim=-1)


def _chebyshev(values: torch.Tensor, axis: GridAxis) -> torch.Tensor:
    matrix = torch.as_tensor(_chebyshev_matrix(axis.size, axis.length), dtype=values.dtype, device=values.device)
    return values @ matrix.T


def _finite_difference(values: torch.Tensor, axis: GridAxis) -> torch.Tensor:
    index, coefficients = _fd_stencil(axis)
    index = torch.as_tensor(index, device=values.device)
    coefficients = torch.as_tensor(coefficients, dtype=values.dtype, device=values.device)
    return (values[..., index] * coefficients).sum(dim=-1)


# -- coefficients (float64 NumPy, cached per axis) -----------------------------------------------
@lru_cache(maxsize=64)
def _chebyshev_matrix(n: int, length: float) -> np.ndarray:
    """Differentiation matrix on ascending Chebyshev–Lobatto points of an interval of ``length``."""
    theta = np.pi * (n - 1 - np.arange(n)) / (n - 1)  # x_j = -cos(pi j / N) = cos(theta_j)
    half_sum = 0.5 * (theta[:, None] + theta[None, :])
    half_diff = 0.5 * (theta[:, None] - theta[None, :])
    # x_i - x_j = cos(theta_i) - cos(theta_j), in the cancellation-free product form
    gaps = -2.0 * np.sin(half_sum) * np.sin(half_diff) * (0.5 * length)
    weights = (-1.0) ** np.arange(n)
    weights[[0, -1]] *= 0.5
    np.fill_diagonal(gaps, 1.0)
    matrix = weights[None, :] / weights[:, None] / gaps
    np.fill_diagonal(matrix, 0.0)
    np.fill_diagonal(matrix, -matrix.sum(axis=1))
    return matrix


@lru_cache(maxsize=64)
def _fd_stencil(axis: GridAxis) -> tuple[np.ndarray, np.ndarray]:
    """Neighbour indices ``[n, k]`` and weights ``[n, k]`` of the second-order stencil per node."""
    x = axis.coordinates
    n = x.size
    if axis.periodic:
        left = np.concatenate([[x[-1] - axis.length], x[:-1]])
        right = np.concatenate([x[1:], [x[0] + axis.length]])
        index = (np.arange(n)[:, None] + np.array([-1, 0, 1])) % n
        return index, np.stack(_central(x - left, right - x), axis=-1)
    if n == 1:  # nothing varies along a one-point axis
        return np.zeros((1, 1), dtype=int), np.zeros((1, 1))
    if n == 2:
        slope = np.array([-1.0, 1.0]) / (x[1] - x[0])
        return np.array([[0, 1], [0, 1]]), np.stack([slope, slope])
    h = np.diff(x)
    index = np.clip(np.arange(n) - 1, 0, n - 3)[:, None] + np.arange(3)
    inner = np.stack(_central(h[:-1], h[1:]), axis=-1)
    first = np.stack(_one_sided(h[0], h[1]))
    last = -np.stack(_one_sided(h[-1], h[-2]))[::-1]
    return index, np.concatenate([first[None], inner, last[None]])


def _central(h1, h2):
    """Weights of ``f[i-1], f[i], f[i+1]`` for ``f'(x_i)``; ``h1, h2`` the gaps left and right."""
    return -h2 / (h1 * (h1 + h2)), (h2 - h1) / (h1 * h2), h1 / (h2 * (h1 + h2))


def _one_sided(h1, h2):
    """Weights of ``f[0], f[1], f[2]`` for ``f'(x_0)``; ``h1 = x_1 - x_0``, ``h2 = x_2 - x_1``."""
    return -(2 * h1 + h2) / (h1 * (h1 + h2)), (h1 + h2) / (h1 * h2), -h1 / (h2 * (h1 + h2))
