r"""The mode space of Transform Once: truncated cosine / Fourier transforms, Parseval, the loss.

A function on a :class:`~sciml.Grid` is represented by its **kept modes**, normalised so that they
are the same numbers at every resolution:

``transform="dct"`` expands each axis (mapped to :math:`u \in [0, 1]`) in the orthonormal cosine
basis :math:`\phi_0 = 1`, :math:`\phi_k(u) = \sqrt 2 \cos(\pi k u)`, with coefficients
:math:`\hat c_k = \int_0^1 f \phi_k\,du` computed by the grid's quadrature. On a cell-centred
axis this is exactly the orthonormal DCT-II divided by :math:`\sqrt N`
(:func:`sciml.kernels.dct_matrix`): orthonormal coefficients grow like :math:`\sqrt N`, these do
not, so the kept modes of a smooth function agree across resolutions to the quadrature error
(:math:`O(h^2)`), exactly for cosine polynomials. Bounded node axes use the trapezoid rule (exact for
cosine polynomials: DCT-I orthogonality), periodic node axes the trapezoid rule closed with
:math:`f(1) = f(0)`. Forward and inverse are matrix products with the ``m x N`` rows, :math:`O(N m)`.

``transform="fft"`` (periodic grids only) keeps the retained block of
:func:`sciml.kernels.rfft_modes` with ``norm="forward"`` (the continuous Fourier coefficients),
phase-corrected on cell-centred axes; see :func:`to_modes` for the entries whose conjugates are not
kept.

Parseval. :func:`modes_energy` is :math:`\int_\Omega \sum_c |\mathcal T^{-1}\hat c|^2` computed from
the modes: :math:`|\Omega| \sum_k \hat c_k^2` for the DCT on cell-centred and bounded node grids
(the synthesis is orthonormal under their quadrature), :math:`|\Omega|\,\hat c^\top G \hat c` with the
Gram matrix :math:`G = S^\top W S` on periodic node grids, and the half-spectrum weights for the FFT.
Hence :func:`modes_relative_l2` **equals** :func:`sciml.losses.relative_lp` (``p = 2``) of the
synthesized fields. For a target :math:`t` with energy :math:`\|r\|^2` outside the kept modes,
:math:`\mathcal T^{-1}\mathcal T_m` is an orthogonal projection (DCT on cell / bounded node grids,
FFT), so :math:`\|p - t\|^2 = \|\hat p - \hat t\|^2 + \|r\|^2`: training on modes minimises the spatial
error down to the truncation floor :math:`\|r\| / \|t\|`. On periodic node grids the closed
trapezoid rule makes this hold to :math:`O(h^2)` only.

Examples
--------
>>> grid = sciml.Grid.uniform((64, 64), sciml.Domain.unit(2, periodic=True))
>>> x, y = grid.mesh(torch.float64).unbind(-1)
>>> u = torch.cos(2 * math.pi * x) * torch.cos(4 * math.pi * y)
>>> to_modes(u, grid, (5, 5)).abs().argmax().item() == 2 * 5 + 4      # phi_2(x) phi_4(y) / 2
True
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from sciml import Grid
from sciml.grid import GridAxis
from sciml.kernels import block_shape, check_resolution, dct_matrix, irfft_modes, rfft_modes

from .config import _check_choice
from .fno import check_grid

__all__ = ["TRANSFORMS", "coordinate_modes", "from_modes", "modes_energy", "modes_relative_l2",
           "realizable_modes", "to_modes"]

TRANSFORMS = ("dct", "fft")


def to_modes(values: torch.Tensor, on: Grid, modes, transform: str = "dct") -> torch.Tensor:
    r"""Kept modes of ``values`` on grid ``on``, normalised to be resolution-independent.

    Parameters
    ----------
    values : real tensor ``[..., *on.shape]``
    on : Grid
        Equispaced (node- or cell-centred); periodic on every axis for ``"fft"``.
    modes : sequence of int
        Kept modes per axis; ``on.shape[j] >= 2 * modes[j]``.
    transform : {"dct", "fft"}

    Returns
    -------
    tensor ``[..., *modes]`` (DCT, real: :math:`\hat c_k = \int f \phi_k`) or
    ``[..., 2 m_0, ..., m_{d-1}]`` (FFT, complex: :math:`\frac{1}{|\Omega|}\int f e^{-2\pi i k\cdot x / L}`;
    on the ``k_{d-1} = 0`` slice, entries with a leading frequency :math:`-m_j`, whose conjugate is
    not kept, hold twice that, so that :func:`from_modes` returns the projection onto the kept modes
    and their conjugates).

    Examples
    --------
    >>> grid = sciml.Grid.uniform((16,), centring="cell")
    >>> x = grid.coordinates(torch.float64)[0]
    >>> to_modes(3 + 2 * math.sqrt(2) * torch.cos(math.pi * x), grid, (4,)).round(decimals=12) + 0.0
    tensor([3., 2., 0., 0.], dtype=torch.float64)
    """
    grid = _check_transform_grid(on, modes, transform)
    modes = tuple(modes)
    if not isinstance(values, torch.Tensor) or tuple(values.shape[-grid.ndim:]) != grid.shape:
        raise ValueError(f"values: expected a tensor [..., *{grid.shape}], got shape "
                         f"{tuple(getattr(values, 'shape', ()))}")
    if transform == "fft":
        block = rfft_modes(values, modes, norm="forward") * _fft_phase(grid, modes, values, -1.0)
        return block * torch.as_tensor(_unpaired_scale(modes), dtype=block.real.dtype, device=block.device)
    analysis = [torch.tensor(_cosine_matrices(axis, m)[0], dtype=values.dtype, device=values.device)
                for axis, m in zip(grid.axes, modes)]
    return _contract(values, analysis)


def from_modes(block: torch.Tensor, on: Grid, transform: str = "dct") -> torch.Tensor:
    """Values on grid ``on`` of the function whose kept modes are ``block`` (inverse of :func:`to_modes`).

    Parameters
    ----------
    block : tensor ``[..., *modes]`` (DCT, real) or ``[..., 2 m_0, ..., m_{d-1}]`` (FFT, complex)
    on : Grid
    transform : {"dct", "fft"}

    Returns
    -------
    real tensor ``[..., *on.shape]``.

    Examples
    --------
    >>> grid = sciml.Grid.uniform((8,), sciml.Domain.unit(1, periodic=True))
    >>> block = torch.tensor([1.0, 0.0, 0.5 / math.sqrt(2)], dtype=torch.float64)  # 1 + cos(2 pi x)/2
    >>> from_modes(block, grid)[:3]
    tensor([1.5000, 1.3536, 1.0000], dtype=torch.float64)
    """
    modes = _modes_of(block, on, transform)
    grid = _check_transform_grid(on, modes, transform)
    if transform == "fft":
        return irfft_modes(block * _fft_phase(grid, modes, block, 1.0), grid.shape, norm="forward")
    synthesis = [torch.tensor(_cosine_matrices(axis, m)[1], dtype=block.dtype, device=block.device)
                 for axis, m in zip(grid.axes, modes)]
    return _contract(block, synthesis)


def modes_energy(block: torch.Tensor, on: Grid, transform: str = "dct") -> torch.Tensor:
    r""":math:`\int_\Omega \sum_c |\mathcal T^{-1}\hat c|^2` of blocks ``[B, C, *block]`` -> ``[B]``, from the modes.

    Equal (to rounding) to ``sciml.losses.lp_norm(from_modes(block, on)) ** 2``: Parseval with the
    quadrature of ``on`` (see the module docstring).

    Examples
    --------
    >>> grid = sciml.Grid.uniform((32, 32), sciml.Domain.unit(2, periodic=True))
    >>> float(modes_energy(torch.ones(1, 1, 1, 1), grid))     # the constant 1: its integral
    1.0
    """
    modes = _modes_of(block, on, transform)
    grid = _check_transform_grid(on, modes, transform)
    if block.ndim != grid.ndim + 2:
        raise ValueError(f"block: expected [batch, channels, *block] with {grid.ndim} mode axes, "
                         f"got shape {tuple(block.shape)}")
    if transform == "fft":
        density = realizable_modes(block, modes).abs().square()
        density = density * torch.as_tensor(_half_spectrum_weights(modes), dtype=density.dtype, device=density.device)
    else:
        grams = [torch.tensor(_cosine_gram(axis, m), dtype=block.dtype, device=block.device)
                 for axis, m in zip(grid.axes, modes)]
        density = block * _contract(block, grams)
    return grid.domain.volume * density.flatten(1).sum(dim=1)


def modes_relative_l2(pred: torch.Tensor, target: torch.Tensor, on: Grid, transform: str = "dct",
                      eps: float = 1e-8, reduction: str = "mean") -> torch.Tensor:
    r"""Relative :math:`L^2` error computed on kept modes: :math:`\|\hat p - \hat t\|_G / \max(\|\hat t\|_G, \varepsilon)`.

    Equals :func:`sciml.losses.relative_lp` of ``from_modes(pred)`` and ``from_modes(target)``
    (Parseval); for the kept modes of a target with energy outside them it is the error of the
    kept part (see the module docstring for the bound).

    Parameters
    ----------
    pred, target : tensors ``[B, C, *block]`` (from :meth:`TransformOnce.forward_modes`, :func:`to_modes`)
    on : Grid
        The grid the modes were taken on (its quadrature defines the norm).
    transform : {"dct", "fft"}
    eps : float
    reduction : {"mean", "sum", "none"}

    Examples
    --------
    >>> grid = sciml.Grid.uniform((16, 16), centring="cell")
    >>> target = torch.randn(3, 1, 4, 4)
    >>> modes_relative_l2(1.5 * target, target, grid)
    tensor(0.5000)
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred: expected the shape of target {tuple(target.shape)}, got {tuple(pred.shape)}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction: expected one of ('mean', 'sum', 'none'), got {reduction!r}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < math.inf:
        raise ValueError(f"eps: expected a finite number > 0, got {eps!r}")
    error = _safe_sqrt(modes_energy(pred - target, on, transform))
    relative = error / _safe_sqrt(modes_energy(target, on, transform)).clamp_min(eps)
    return {"mean": relative.mean, "sum": relative.sum, "none": lambda: relative}[reduction]()


def _safe_sqrt(x: torch.Tensor) -> torch.Tensor:
    """``sqrt`` with value and gradient 0 at 0."""
    positive = x > 0
    return torch.where(positive, torch.where(positive, x, torch.ones_like(x)).sqrt(), torch.zeros_like(x))


def _check_transform_grid(on, modes, transform: str) -> Grid:
    _check_choice("transform", transform, TRANSFORMS)
    grid = check_grid(on, len(modes))
    check_resolution(grid.shape, tuple(modes), "on")
    if transform == "fft" and not all(axis.periodic for axis in grid.axes):
        raise ValueError(f"on: transform='fft' needs a periodic grid on every axis, got periodic="
                         f"{tuple(a.periodic for a in grid.axes)}; use transform='dct' for bounded domains")
    return grid


def _modes_of(block, on, transform: str) -> tuple[int, ...]:
    if not isinstance(block, torch.Tensor):
        raise TypeError(f"block: expected a torch.Tensor, got {type(block).__name__}")
    d = getattr(on, "ndim", 0)
    if block.ndim < d or d < 1:
        raise ValueError(f"block: expected at least {d} mode axes for {on!r}, got shape {tuple(block.shape)}")
    if (transform == "fft") != block.is_complex():
        raise TypeError(f"block: expected a {'complex' if transform == 'fft' else 'real'} tensor for "
                        f"transform={transform!r}, got dtype {block.dtype}")
    shape = tuple(block.shape[block.ndim - d:])
    if transform == "fft":
        if any(s % 2 for s in shape[:-1]):
            raise ValueError(f"block: expected even lengths on every mode axis but the last, got {shape}")
        return tuple(s // 2 for s in shape[:-1]) + shape[-1:]
    return shape


def _contract(x: torch.Tensor, matrices) -> torch.Tensor:
    """Apply ``matrices[j]`` (``[out_j, in_j]``) along the last ``len(matrices)`` axes of ``x``, last axis first."""
    d = len(matrices)
    for j in reversed(range(d)):
        dim = x.ndim - d + j
        if dim == x.ndim - 1:
            x = x @ matrices[j].T
        else:
            x = torch.matmul(matrices[j], x.movedim(dim, -2)).movedim(-2, dim)
    return x


def _cosine_basis(m: int, u: np.ndarray) -> np.ndarray:
    k = np.arange(m)[:, None]
    return np.where(k == 0, 1.0, math.sqrt(2.0)) * np.cos(np.pi * k * u[None, :])


@lru_cache(maxsize=128)
def _cosine_matrices(axis: GridAxis, m: int) -> tuple[np.ndarray, np.ndarray]:
    """(analysis ``[m, N]``, synthesis ``[N, m]``) of the cosine expansion on one grid axis."""
    n = axis.size
    if axis.kind == "cell":                     # exactly the orthonormal DCT-II, normalised by sqrt(N)
        rows = dct_matrix(n).numpy()[:m]
        analysis, synthesis = rows / math.sqrt(n), math.sqrt(n) * rows.T
    else:
        u = (np.asarray(axis.coordinates) - axis.lo) / axis.length
        weights = np.asarray(axis.weights) / axis.length
        synthesis = _cosine_basis(m, u).T
        analysis = synthesis.T * weights
        if axis.periodic:                       # trapezoid rule closed with f(1) = f(0)
            analysis[:, 0] += 0.5 * weights[0] * (_cosine_basis(m, np.ones(1))[:, 0] - synthesis[0])
    return analysis, synthesis


@lru_cache(maxsize=128)
def _cosine_gram(axis: GridAxis, m: int) -> np.ndarray:
    """``S^T W S`` (unit-measure quadrature weights ``W``): the identity except on periodic node axes."""
    synthesis = _cosine_matrices(axis, m)[1]
    return synthesis.T @ (synthesis * (np.asarray(axis.weights) / axis.length)[:, None])


def _block_frequencies(modes, axis: int) -> np.ndarray:
    m = modes[axis]
    return np.arange(m) if axis == len(modes) - 1 else np.concatenate([np.arange(m), np.arange(-m, 0)])


def _fft_phase(grid: Grid, modes, like: torch.Tensor, sign: float) -> torch.Tensor:
    """:math:`e^{\\mp i \\pi k / N}` on cell-centred axes (their points sit half a cell from the origin)."""
    phase = np.ones(block_shape(modes), dtype=np.complex128)
    for j, axis in enumerate(grid.axes):
        if axis.kind == "cell":
            shape = [1] * len(modes)
            shape[j] = -1
            phase = phase * np.exp(sign * 1j * np.pi * _block_frequencies(modes, j) / axis.size).reshape(shape)
    dtype = torch.complex128 if like.dtype in (torch.float64, torch.complex128) else torch.complex64
    return torch.as_tensor(phase, dtype=dtype, device=like.device)


def _unpaired(modes) -> np.ndarray:
    """Entries of the ``k_{d-1} = 0`` slice whose conjugate (``-k``) lies outside the block (a ``-m_j``)."""
    unpaired = np.zeros(block_shape(modes)[:-1], dtype=bool)
    for j, m in enumerate(modes[:-1]):
        index = [slice(None)] * unpaired.ndim
        index[j] = m
        unpaired[tuple(index)] = True
    return unpaired


def _unpaired_scale(modes) -> np.ndarray:
    """2 on the unpaired entries of the ``k_{d-1} = 0`` slice, 1 elsewhere (see :func:`to_modes`)."""
    scale = np.ones(block_shape(modes))
    scale[..., 0] += _unpaired(modes)
    return scale


def realizable_modes(block: torch.Tensor, modes) -> torch.Tensor:
    r"""The FFT block a real field can have: the paired entries of its ``k_{d-1} = 0`` slice made Hermitian.

    The real inverse (:func:`from_modes`) keeps :math:`(\hat c_k + \overline{\hat c_{-k}})/2` on that
    slice; unpaired entries (a leading frequency :math:`-m_j`, whose partner is not kept) stay as
    they are. ``to_modes(from_modes(b)) == realizable_modes(b)``.
    """
    dc = block[..., 0]
    partner = dc
    for j in range(len(modes) - 1):             # the index of -k is (2m - i) mod 2m
        dim = dc.ndim - (len(modes) - 1) + j
        partner = torch.roll(torch.flip(partner, [dim]), 1, dim)
    unpaired = torch.as_tensor(_unpaired(modes), device=block.device)
    dc = torch.where(unpaired, dc, 0.5 * (dc + partner.conj()))
    return torch.cat([dc.unsqueeze(-1), block[..., 1:]], dim=-1)


@lru_cache(maxsize=64)
def _half_spectrum_weights(modes: tuple[int, ...]) -> np.ndarray:
    """Energy weight of each entry of a realizable block: 2 off the ``k_{d-1} = 0`` slice (the conjugate
    half is implied; no Nyquist column since ``N >= 2m``), 1 on it, 1/2 on its unpaired entries
    (they hold twice the coefficient, which the real inverse splits between ``k`` and ``-k``)."""
    weights = np.full(block_shape(modes), 2.0)
    weights[..., 0] = np.where(_unpaired(modes), 0.5, 1.0)
    return weights


def coordinate_modes(modes, transform: str = "dct", dtype=torch.float64, device=None) -> torch.Tensor:
    r"""Kept modes of the coordinates :math:`u_j \in [0, 1]` (the positional embedding), in closed form.

    T1 transforms its positional embedding like any input channel; these are the continuous
    coefficients, so the embedding is the same at every resolution. Cosine: :math:`\hat u_0 = 1/2`,
    :math:`\hat u_k = \sqrt 2\,((-1)^k - 1) / (\pi k)^2`; Fourier (the periodic sawtooth):
    :math:`\hat u_0 = 1/2`, :math:`\hat u_k = i / (2 \pi k)`; zero modes on the other axes.

    Returns
    -------
    tensor ``[1, d, *block]`` (real for ``"dct"``, complex for ``"fft"``).

    Examples
    --------
    >>> grid = sciml.Grid.uniform((64,), centring="cell")
    >>> exact = coordinate_modes((4,))[0, 0]
    >>> bool(torch.allclose(to_modes(grid.coordinates(torch.float64)[0], grid, (4,)), exact, atol=1e-4))
    True
    """
    _check_choice("transform", transform, TRANSFORMS)
    modes = tuple(modes)
    shape = tuple(modes) if transform == "dct" else block_shape(modes)
    out = np.zeros((1, len(modes), *shape), dtype=np.float64 if transform == "dct" else np.complex128)
    for j in range(len(modes)):
        k = _block_frequencies(modes, j) if transform == "fft" else np.arange(modes[j])
        safe = np.where(k == 0, 1, k)
        if transform == "dct":
            line = np.where(k == 0, 0.5, math.sqrt(2.0) * ((-1.0) ** k - 1.0) / (np.pi * safe) ** 2)
        else:
            line = np.where(k == 0, 0.5, 1j / (2 * np.pi * safe))
        index = [0, j] + [0] * len(modes)
        index[2 + j] = slice(None)
        out[tuple(index)] = line
    if transform == "fft":
        out = out * _unpaired_scale(modes)
    real = dtype if dtype in (torch.float32, torch.float64) else torch.float32
    complex_dtype = torch.complex128 if real == torch.float64 else torch.complex64
    return torch.tensor(out, dtype=real if transform == "dct" else complex_dtype, device=device)
