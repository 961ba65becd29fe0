r"""Orthonormal DCT-II and DCT-III (its inverse) along chosen dimensions.

For a length-:math:`N` axis the orthonormal DCT-II is

.. math::
    X_k = \alpha_k \sum_{n=0}^{N-1} x_n \cos\frac{\pi k (2n + 1)}{2N}, \qquad
    \alpha_0 = \sqrt{1/N},\ \alpha_{k>0} = \sqrt{2/N},

identical to ``scipy.fft.dct(x, type=2, norm="ortho")``; the DCT-III with the same
norm is its inverse (and transpose). These are the transforms of Transform-Once
operators and give Chebyshev coefficients from values at Chebyshev points.

Two paths, the same maps: ``"matrix"`` multiplies by the explicit cosine matrix (the
readable reference, fastest for short axes), ``"fft"`` uses Makhoul's reordering,
:math:`v = (x_0, x_2, \dots, x_3, x_1)`, :math:`X_k \propto \operatorname{Re}(e^{-i\pi k/2N}\,
\mathrm{FFT}(v)_k)`, and its inverse through a half-length C2R transform — ``O(N log N)``.
``"auto"`` uses the matrix for ``N <= 64`` and the FFT above. Both are differentiable.
Half precision is upcast to float32.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ._validate import as_working_real
from .dft import bounded_cache

__all__ = ["dct", "dct_matrix", "idct"]

DCT_PATHS = ("auto", "matrix", "fft")
_MATRIX_UP_TO = 64


def dct(x: torch.Tensor, dim: int | Sequence[int] = -1, path: str = "auto") -> torch.Tensor:
    """Orthonormal DCT-II of real ``x`` along ``dim`` (an int or a sequence of ints).

    Examples
    --------
    >>> import scipy.fft
    >>> x = torch.randn(3, 10, dtype=torch.float64)
    >>> np.allclose(dct(x).numpy(), scipy.fft.dct(x.numpy(), type=2, norm="ortho"))
    True
    """
    return _along(x, dim, path, inverse=False)


def idct(x: torch.Tensor, dim: int | Sequence[int] = -1, path: str = "auto") -> torch.Tensor:
    """Orthonormal DCT-III of real ``x`` along ``dim``: the inverse of :func:`dct`.

    Examples
    --------
    >>> x = torch.randn(4, 6, 7, dtype=torch.float64)
    >>> torch.allclose(idct(dct(x, dim=(1, 2)), dim=(1, 2)), x)
    True
    """
    return _along(x, dim, path, inverse=True)


def dct_matrix(n: int, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    r"""The orthonormal DCT-II matrix ``C [n, n]`` (``X = C @ x``; its transpose is the DCT-III)."""
    return torch.tensor(_dct_matrix_numpy(int(n)), dtype=dtype, device=device)   # a copy: the cache stays intact


def _along(x, dim, path, inverse):
    if path not in DCT_PATHS:
        raise ValueError(f"path: expected one of {DCT_PATHS}, got {path!r}")
    x = as_working_real(x, "x")
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    if not dims or any(not -x.ndim <= d < x.ndim for d in dims):
        raise ValueError(f"dim: expected dimensions in [{-x.ndim}, {x.ndim}), got {dim!r} for shape {tuple(x.shape)}")
    if len({d % x.ndim for d in dims}) != len(dims):
        raise ValueError(f"dim: expected distinct dimensions, got {dim!r}")
    for d in dims:
        n = x.shape[d]
        use_matrix = path == "matrix" or (path == "auto" and n <= _MATRIX_UP_TO)
        moved = x.movedim(d, -1)
        if use_matrix:
            matrix = dct_matrix(n, x.dtype, x.device)
            moved = moved @ (matrix if inverse else matrix.T)
        else:
            moved = _idct_fft(moved) if inverse else _dct_fft(moved)
        x = moved.movedim(-1, d)
    return x


def _twiddle(n: int, dtype, device, sign: float) -> torch.Tensor:
    k = torch.arange(n, dtype=torch.float64)
    return torch.polar(torch.ones(n, dtype=torch.float64), sign * math.pi * k / (2 * n)).to(
        device=device, dtype=torch.complex128 if dtype == torch.float64 else torch.complex64)


def _ortho_scale(n: int, dtype, device) -> torch.Tensor:
    scale = torch.full((n,), math.sqrt(2.0 / n), dtype=dtype, device=device)
    scale[0] = math.sqrt(1.0 / n)
    return scale


def _dct_fft(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[-1]
    reordered = torch.cat([x[..., 0::2], x[..., 1::2].flip(-1)], dim=-1)
    spectrum = torch.fft.fft(reordered, dim=-1)
    return (spectrum * _twiddle(n, x.dtype, x.device, -1.0)).real * _ortho_scale(n, x.dtype, x.device)


def _idct_fft(y: torch.Tensor) -> torch.Tensor:
    # y_k (unnormalized, "sum x cos") = X_k / alpha_k; V_k = e^{i pi k / 2N} (y_k - i y_{N-k}), y_N = 0
    n = y.shape[-1]
    half = n // 2 + 1
    plain = y / _ortho_scale(n, y.dtype, y.device)
    mirrored = torch.cat([torch.zeros_like(plain[..., :1]), plain[..., 1:].flip(-1)], dim=-1)
    spectrum = torch.complex(plain[..., :half], -mirrored[..., :half]) * _twiddle(n, y.dtype, y.device, 1.0)[:half]
    v = torch.fft.irfft(spectrum, n=n, dim=-1)
    # undo the reordering: x[2j] = v[j], x[2j+1] = v[n-1-j]
    evens, odds = (n + 1) // 2, n // 2
    even_part, odd_part = v[..., :evens], v[..., evens:].flip(-1)
    interleaved = torch.stack([even_part[..., :odds], odd_part], dim=-1).flatten(-2)
    return interleaved if n % 2 == 0 else torch.cat([interleaved, even_part[..., -1:]], dim=-1)


@bounded_cache          # sciml.kernels.dft.CACHE_SIZE entries
def _dct_matrix_numpy(n: int) -> np.ndarray:
    k, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    phase = (k * (2 * j + 1)) % (4 * n)            # exact integer argument reduction
    matrix = np.sqrt(2.0 / n) * np.cos(np.pi * phase / (2 * n))
    matrix[0] *= np.sqrt(0.5)
    return matrix
