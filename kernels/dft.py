r"""Truncated DFT by matrix product: the retained modes only, in real arithmetic.

When few modes are kept on a small grid, multiplying by the ``N x m`` DFT matrix of
the retained frequencies beats an ``O(N log N)`` FFT followed by a truncation: the
work is one dense GEMM per axis, which BLAS runs near peak. The maps are exactly those
of :mod:`sciml.kernels.fft` (same block layout, same norms, same treatment of the
DC/Nyquist imaginary parts), so gradients come from autograd through the GEMMs.

Complex numbers are carried as real pairs ``[..., 2]``. Along the last axis the
forward map is ``x @ F`` with the real ``[N, 2m]`` matrix

.. math::
    F_{n, (k, \mathrm{re})} = s \cos\theta_{kn}, \quad
    F_{n, (k, \mathrm{im})} = -s \sin\theta_{kn}, \qquad \theta_{kn} = 2\pi k n / N,

and the inverse is ``z @ G`` with :math:`G_{(k,\mathrm{re}), n} = s\,c_k \cos\theta_{kn}`,
:math:`G_{(k,\mathrm{im}), n} = -s\,c_k \sin\theta_{kn}` (multiplicities :math:`c_k`, so the
DC/Nyquist imaginary rows vanish on their own). On the leading axes a complex DFT
:math:`e^{\mp i\theta}` acts on the interleaved pairs through the ``[2N, 4m]`` (or
``[4m, 2N]``) real matrix of the map :math:`(a, b) \mapsto (a\cos\theta \pm b\sin\theta,
b\cos\theta \mp a\sin\theta)`. Matrices are built in float64 and cached per size,
modes, norm, dtype and device (:data:`CACHE_SIZE` entries, the kernels' one cache setting).
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ._validate import as_int_tuple, as_working_complex, as_working_real, check_norm, modes_of_block, multiplicities
from .fft import check_forward_size, check_inverse_size, halve_aliased_nyquist

__all__ = ["CACHE_SIZE", "bounded_cache", "irfft_modes_dft", "rfft_modes_dft"]

#: Entries kept by each cache of precomputed transform data in :mod:`sciml.kernels`, least recently
#: used evicted first. It is the one setting for all of them -- the DFT matrices here (float64
#: NumPy, and torch copies per dtype and device), the DCT matrices of :mod:`~sciml.kernels.dct` and
#: the last-axis multiplicities of :mod:`~sciml.kernels.cupy_backend` -- and the size
#: :func:`~sciml.kernels.cupy_backend.set_cupy_plan_cache_size` gives CuPy's cuFFT plan cache when a
#: user asks for it (sciml never resizes CuPy's cache on its own). Read at every insertion: assign
#: ``sciml.kernels.dft.CACHE_SIZE`` to change it at run time. An entry is one (transform, size, modes,
#: norm, dtype, device); a 2D layer at one resolution uses 4 DFT matrices, at most ``2 N x 4 m``
#: reals each (0.5 MiB in float64 at N = 256, m = 32), so 64 entries cover training plus zero-shot
#: evaluation at several resolutions and dtypes within a few tens of MiB.
CACHE_SIZE = 64


def bounded_cache(function: Callable) -> Callable:
    """Memoize ``function`` by its (hashable, positional) arguments, keeping :data:`CACHE_SIZE` entries.

    Thread-safe least-recently-used eviction; the wrapper has ``cache_clear()`` and
    ``cache_len()``.

    Examples
    --------
    >>> square = bounded_cache(lambda n: n * n)
    >>> square(3), square(3), square.cache_len()
    (9, 9, 1)
    """
    entries: OrderedDict = OrderedDict()
    lock = threading.Lock()

    @functools.wraps(function)
    def cached(*args):
        with lock:
            if args in entries:
                entries.move_to_end(args)
                return entries[args]
        value = function(*args)
        with lock:
            entries[args] = value
            while len(entries) > max(int(CACHE_SIZE), 0):
                entries.popitem(last=False)
        return value

    cached.cache_clear = entries.clear
    cached.cache_len = lambda: len(entries)
    return cached


def rfft_modes_dft(x: torch.Tensor, modes: Sequence[int], norm: str = "forward") -> torch.Tensor:
    """Retained Fourier block by truncated DFT matrices; same contract as :func:`rfft_modes_reference`.

    Examples
    --------
    >>> x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    >>> from sciml.kernels.fft import rfft_modes_reference
    >>> torch.allclose(rfft_modes_dft(x, (8, 8)), rfft_modes_reference(x, (8, 8)))
    True
    """
    x = as_working_real(x, "x")
    modes = as_int_tuple(modes, "modes")
    check_norm(norm)
    check_forward_size(x, modes)
    d = len(modes)
    sizes = x.shape[-d:]
    scale = _axis_scale(norm, "forward")
    matrix = _matrix("r2c", sizes[-1], modes[-1], scale(sizes[-1]), x.dtype, x.device)
    pairs = (x @ matrix).unflatten(-1, (modes[-1], 2))
    for axis in range(d - 1):
        matrix = _matrix("c2c_forward", sizes[axis], modes[axis], scale(sizes[axis]), x.dtype, x.device)
        pairs = _apply_to_pairs(pairs, axis - d - 1, matrix)
    return halve_aliased_nyquist(torch.view_as_complex(pairs.contiguous()), sizes, modes)


def irfft_modes_dft(coefficients: torch.Tensor, size: Sequence[int], norm: str = "forward") -> torch.Tensor:
    """Inverse of the retained block by DFT matrices; same contract as :func:`irfft_modes_reference`.

    Examples
    --------
    >>> block = torch.randn(2, 3, 16, 8, dtype=torch.complex128)
    >>> from sciml.kernels.fft import irfft_modes_reference
    >>> torch.allclose(irfft_modes_dft(block, (40, 33)), irfft_modes_reference(block, (40, 33)))
    True
    """
    coefficients = as_working_complex(coefficients, "coefficients")
    check_norm(norm)
    size = check_inverse_size(coefficients, size)
    d = len(size)
    modes = modes_of_block(coefficients.shape[-d:], "coefficients")
    real = coefficients.real.dtype
    scale = _axis_scale(norm, "inverse")
    pairs = torch.view_as_real(coefficients)
    for axis in range(d - 1):
        matrix = _matrix("c2c_inverse", size[axis], modes[axis], scale(size[axis]), real, coefficients.device)
        pairs = _apply_to_pairs(pairs, axis - d - 1, matrix)
    matrix = _matrix("c2r", size[-1], modes[-1], scale(size[-1]), real, coefficients.device)
    return pairs.flatten(-2) @ matrix


def _apply_to_pairs(pairs: torch.Tensor, dim: int, matrix: torch.Tensor) -> torch.Tensor:
    """Apply a real pair-map ``matrix`` ``[2 n_in, 2 n_out]`` along axis ``dim`` of ``pairs [..., 2]``."""
    moved = pairs.movedim(dim, -2)
    out = moved.flatten(-2) @ matrix
    return out.unflatten(-1, (-1, 2)).movedim(-2, dim)


def _axis_scale(norm: str, direction: str):
    forward = {"forward": lambda n: 1.0 / n, "backward": lambda n: 1.0, "ortho": lambda n: n ** -0.5}[norm]
    inverse = {"forward": lambda n: 1.0, "backward": lambda n: 1.0 / n, "ortho": lambda n: n ** -0.5}[norm]
    return forward if direction == "forward" else inverse


def _matrix(kind: str, n: int, m: int, scale: float, dtype: torch.dtype, device) -> torch.Tensor:
    return _torch_matrix(kind, n, m, scale, dtype, torch.device(device))


@bounded_cache
def _torch_matrix(kind, n, m, scale, dtype, device) -> torch.Tensor:
    # a normal tensor even when first asked for under torch.inference_mode(): a cached
    # inference tensor could never be saved for a later backward pass
    with torch.inference_mode(False):
        return torch.tensor(_numpy_matrix(kind, n, m, scale), dtype=dtype, device=device)


@bounded_cache
def _numpy_matrix(kind: str, n: int, m: int, scale: float) -> np.ndarray:
    """The real matrices of the module docstring, float64."""
    samples = np.arange(n)
    if kind in ("r2c", "c2r"):
        theta = 2 * np.pi * np.outer(samples, np.arange(m)) / n              # [n, m]
        if kind == "r2c":
            return scale * np.stack([np.cos(theta), -np.sin(theta)], axis=-1).reshape(n, 2 * m)
        weights = multiplicities(n, m)
        rows = np.stack([np.cos(theta), -np.sin(theta)], axis=-1) * weights[None, :, None]
        return scale * rows.transpose(1, 2, 0).reshape(2 * m, n)
    frequencies = np.concatenate([np.arange(m), np.arange(-m, 0)])
    theta = 2 * np.pi * np.outer(samples, frequencies) / n                   # [n, 2m]
    sign = -1.0 if kind == "c2c_forward" else 1.0
    cos, sin = np.cos(theta), sign * np.sin(theta)
    # (a + ib) e^{i sign theta} = (a cos - b sin_s) + i (a sin_s + b cos), sin_s = sign * sin
    block = np.stack([np.stack([cos, sin], axis=-1), np.stack([-sin, cos], axis=-1)], axis=1)  # [n, 2, 2m, 2]
    if kind == "c2c_forward":
        return scale * block.reshape(2 * n, 4 * m)
    return scale * block.transpose(2, 1, 0, 3).reshape(4 * m, 2 * n)
