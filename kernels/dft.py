r"""Truncated DFT by matrix product: the retained modes only, in real arithmetic.

When few modes are kept on a small grid, multiplying by the ``N x m`` DFT matrix of
the retained frequencies beats an ``O(N log N)`` FFT followed by a truncation: the
work is one dense GEMM per axis, which BLAS runs near peak. The maps are exactly those
of :mod:`sciml.kernels.fft` (same block layout, same norms, same treatment of the
DC/Nyquist imaginary parts), so gradients come from autograd through the GEMMs.

Complex numbers are carried as real pairs on an explicit *pair axis* (``p`` on input,
``q`` on output, index 0 the real and 1 the imaginary part), placed next to the axis being
transformed so that each step is one matrix product with no reordering copy. For ``d``
axes and a batch of ``P`` signals:

* forward: the last axis by ``[.., n] @ R`` with the real ``[N, 2m]`` matrix
  :math:`R_{n,(p,k)} = s\,(\cos\theta_{kn}, -\sin\theta_{kn})`, :math:`\theta_{kn} = 2\pi kn/N`,
  giving ``[P, n_0, .., n_{d-2}, p, k_{d-1}]``; then every leading axis ``j`` (last to first)
  contracts its adjacent ``(n_j, p)`` with the ``[4m, 2N]`` real matrix of
  :math:`(a, b) \mapsto (a\cos\theta + b\sin\theta,\; b\cos\theta - a\sin\theta)`, whose
  output ``(q, k_j)`` lands in front of the modes already done. The first axis is applied as
  a batched product with the transposed operands (measured faster than the broadcast
  product on CPU), which leaves it last: ``[P, k_1, .., k_{d-1}, q, k_0]``.
* inverse (from ``[P, q, k_0, .., k_{d-1}]``): every leading axis maps ``(q, k_j)`` to
  ``(n_j, p)`` by :math:`e^{+i\theta}`, then the last axis is ``[.., (p, k)] @ G`` with
  :math:`G_{(p,k),n} = s\,c_k\,(\cos\theta_{kn}, -\sin\theta_{kn})` (multiplicities
  :math:`c_k`, so the DC/Nyquist imaginary rows vanish on their own).

Leading axes with exactly ``N = 2m`` points get their Nyquist row halved inside the forward
matrix (the convention of :func:`~sciml.kernels.fft.halve_aliased_nyquist`).

Two layouts are offered on top: the complex retained block (:func:`rfft_modes_dft`,
:func:`irfft_modes_dft`, the contract of :mod:`sciml.kernels.fft`) and the **modes-first**
real layout ``[K, B, 2C]`` of :func:`~sciml.kernels.mixing.to_modes_first`
(:func:`rfft_modes_first`, :func:`irfft_modes_first`), in which every spectral weight
contracts (:meth:`~sciml.kernels.SpectralWeight.contract_modes_first`). A spectral layer on
the DFT path goes from the grid to that layout and back with one reordering copy each way
and never forms a complex tensor. Matrices are built in float64 and cached per size, modes,
norm, dtype and device (:data:`CACHE_SIZE` entries, the kernels' one cache setting).
"""

from __future__ import annotations

import functools
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ._validate import (
    as_int_tuple,
    as_working_complex,
    as_working_real,
    block_shape,
    check_modes_first,
    check_norm,
    modes_of_block,
    multiplicities,
)
from .fft import check_forward_size, check_inverse_size, check_output_size

__all__ = ["CACHE_SIZE", "bounded_cache", "irfft_modes_dft", "irfft_modes_first", "rfft_modes_dft", "rfft_modes_first"]

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
    lead, block = x.shape[:-d], block_shape(modes)
    pairs = _forward(x.reshape(-1, *x.shape[-d:]), modes, norm)            # [P, k_1.., q, k_0]
    pairs = pairs.movedim(-2, 1).movedim(-1, 2) if d > 1 else pairs        # [P, q, k_0, k_1, ..]
    return torch.complex(pairs[:, 0], pairs[:, 1]).reshape(*lead, *block)


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
    block = coefficients.shape[-d:]
    flat = coefficients.reshape(-1, *block)
    pairs = torch.stack([flat.real, flat.imag], dim=1)                     # [P, q, *block]
    return _inverse(pairs, size, norm).reshape(*coefficients.shape[:-d], *size)


def rfft_modes_first(x: torch.Tensor, modes: Sequence[int], norm: str = "forward") -> torch.Tensor:
    r"""Retained block of real ``x [B, C, *spatial]`` in the modes-first real layout ``[K, B, 2C]``.

    Row ``k`` (the retained block flattened in C order) holds :math:`[\Re \hat x_k \,|\, \Im \hat x_k]`
    of every sample, exactly :func:`~sciml.kernels.mixing.to_modes_first` of
    :func:`rfft_modes_dft`, computed without a complex intermediate.

    Examples
    --------
    >>> from sciml.kernels.mixing import to_modes_first
    >>> x = torch.randn(2, 3, 16, 12, dtype=torch.float64)
    >>> torch.allclose(rfft_modes_first(x, (4, 5)), to_modes_first(rfft_modes_dft(x, (4, 5))))
    True
    """
    x = as_working_real(x, "x")
    modes = as_int_tuple(modes, "modes")
    check_norm(norm)
    d = len(modes)
    if x.ndim != d + 2:
        raise ValueError(f"x: expected [batch, channels, *spatial] with {d} spatial axes, got shape {tuple(x.shape)}")
    check_forward_size(x, modes)
    batch, channels = x.shape[:2]
    pairs = _forward(x.reshape(batch * channels, *x.shape[2:]), modes, norm)   # [BC, k_1.., q, k_0]
    pairs = pairs.reshape(batch, channels, *pairs.shape[1:])
    if d == 1:                                                                 # [B, C, q, k_0]
        order = (3, 0, 2, 1)
    else:                                                                      # -> [k_0, k_1.., B, q, C]
        order = (d + 2, *range(2, d + 1), 0, d + 1, 1)
    return pairs.permute(order).reshape(math.prod(block_shape(modes)), batch, 2 * channels)


def irfft_modes_first(stacked: torch.Tensor, modes: Sequence[int], size: Sequence[int],
                      norm: str = "forward") -> torch.Tensor:
    """Real signals ``[B, O, *size]`` from a retained block in the modes-first layout ``[K, B, 2O]``.

    The inverse counterpart of :func:`rfft_modes_first`: equal to
    :func:`irfft_modes_dft` of :func:`~sciml.kernels.mixing.from_modes_first` of ``stacked``.

    Examples
    --------
    >>> x = torch.randn(2, 3, 16, 12, dtype=torch.float64)
    >>> y = irfft_modes_first(rfft_modes_first(x, (4, 5)), (4, 5), (16, 12))
    >>> torch.allclose(y, irfft_modes_dft(rfft_modes_dft(x, (4, 5)), (16, 12)))
    True
    """
    modes = as_int_tuple(modes, "modes")
    check_norm(norm)
    block = block_shape(modes)
    check_modes_first(stacked, math.prod(block))
    stacked = as_working_real(stacked, "stacked")
    _, batch, twice = stacked.shape
    size = check_output_size(block, size)
    pairs = stacked.reshape(-1, batch, 2, twice // 2).permute(1, 3, 2, 0)      # [B, O, q, K]
    pairs = pairs.reshape(batch * (twice // 2), 2, *block)
    return _inverse(pairs, size, norm).reshape(batch, twice // 2, *size)


def _forward(x: torch.Tensor, modes: Sequence[int], norm: str) -> torch.Tensor:
    """``x [P, *sizes]`` real to the block as real pairs ``[P, k_1, .., k_{d-1}, q, k_0]`` (``[P, q, k_0]`` in 1D)."""
    d = len(modes)
    sizes = x.shape[1:]
    scale = _axis_scale(norm, "forward")
    matrix = _matrix("r2c", sizes[-1], modes[-1], scale(sizes[-1]), x.dtype, x.device)
    state = x.reshape(-1, sizes[-1]) @ matrix                                  # [P, n_0.., n_{d-2}, (p, k_last)]
    rest = modes[-1]
    for axis in range(d - 2, -1, -1):                                          # contract (n_j, p) -> (q, k_j)
        prefix = x.shape[0] * math.prod(sizes[:axis])
        matrix = _matrix("c2c_forward", sizes[axis], modes[axis], scale(sizes[axis]), x.dtype, x.device)
        state = state.reshape(prefix, 2 * sizes[axis], rest)
        if axis:
            state = torch.matmul(matrix, state)                                # [prefix, (q, k_j), rest]
        else:                                                                  # [P, rest, (q, k_0)]
            state = torch.bmm(state.mT, matrix.T.expand(prefix, -1, -1))
        rest *= 2 * modes[axis]
    block = block_shape(modes)
    return state.reshape(x.shape[0], *block[1:], 2, block[0]) if d > 1 else state.reshape(x.shape[0], 2, modes[0])


def _inverse(pairs: torch.Tensor, size: Sequence[int], norm: str) -> torch.Tensor:
    """Real pairs ``[P, q, *block]`` to real signals ``[P, *size]``."""
    d = len(size)
    block = pairs.shape[2:]
    modes = modes_of_block(block, "coefficients")
    scale = _axis_scale(norm, "inverse")
    state = pairs
    for axis in range(d - 1):                                                  # (q, k_j) -> (n_j, p)
        prefix = pairs.shape[0] * math.prod(size[:axis])
        matrix = _matrix("c2c_inverse", size[axis], modes[axis], scale(size[axis]), pairs.dtype, pairs.device)
        state = torch.matmul(matrix, state.reshape(prefix, 2 * block[axis], math.prod(block[axis + 1:])))
    matrix = _matrix("c2r", size[-1], modes[-1], scale(size[-1]), pairs.dtype, pairs.device)
    return (state.reshape(-1, 2 * modes[-1]) @ matrix).reshape(pairs.shape[0], *size)


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
    """The real matrices of the module docstring, float64 (pair axes ``p``/``q``: 0 real, 1 imaginary)."""
    samples = np.arange(n)
    if kind in ("r2c", "c2r"):
        theta = 2 * np.pi * np.outer(np.arange(m), samples) / n                 # [m, n]
        rows = np.stack([np.cos(theta), -np.sin(theta)])                         # [(p, k), n]
        if kind == "r2c":
            return scale * rows.reshape(2 * m, n).T                              # [n, (p, k)]
        return scale * (rows * multiplicities(n, m)[None, :, None]).reshape(2 * m, n)
    frequencies = np.concatenate([np.arange(m), np.arange(-m, 0)])
    theta = 2 * np.pi * np.outer(frequencies, samples) / n                      # [2m, n]
    cos, sin = np.cos(theta), np.sin(theta)
    if kind == "c2c_forward":        # (a + ib) e^{-i theta}: rows (q, k), columns (n, p)
        if n == 2 * m:               # the aliased Nyquist row, halved (fft.halve_aliased_nyquist)
            cos[m], sin[m] = cos[m] / 2, sin[m] / 2
        block = np.stack([np.stack([cos, sin], axis=-1), np.stack([-sin, cos], axis=-1)])   # [q, k, n, p]
        return scale * block.reshape(4 * m, 2 * n)
    # (a + ib) e^{+i theta}: rows (n, p), columns (q, k)
    block = np.stack([np.stack([cos.T, -sin.T], axis=1), np.stack([sin.T, cos.T], axis=1)], axis=1)  # [n, p, q, k]
    return scale * block.reshape(2 * n, 4 * m)
