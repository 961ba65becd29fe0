r"""The linear building block of MgNO: a multigrid V-cycle with learned convolutions.

A :class:`VCycle` maps ``f`` (``f_channels``) to ``u`` (``u_channels``) on a hierarchy of
``levels`` grids, each half the previous one per axis. On level :math:`\ell` it holds a
bias-free convolution :math:`A_\ell: u \mapsto f` (the "discrete operator") and one smoother
:math:`S_{\ell,i}: f \mapsto u` per smoothing step; between levels a strided restriction
:math:`R_\ell` of the residual, a strided restriction :math:`\Pi_\ell` of the solution and a
transposed-convolution prolongation :math:`P_\ell`. One application reads

.. math::

    &u^0 \leftarrow 0,\quad f^0 = f \\
    &\text{for } \ell = 0, \dots, L-1:\quad
      \begin{cases}
      f^\ell = R_\ell (f^{\ell-1} - A_{\ell-1} u^{\ell-1}),\;
      u^\ell = \Pi_\ell u^{\ell-1} & (\ell > 0)\\
      u^\ell \leftarrow u^\ell + S_{\ell,i}(f^\ell - A_\ell u^\ell),\; i = 1..\nu_1^\ell
      & \text{(pre-smoothing)}
      \end{cases}\\
    &u^{L-1} \leftarrow u^{L-1} + S'_{L-1,i}(f^{L-1} - A_{L-1} u^{L-1}),\; i = 1..\nu_2^{L-1}
      \quad\text{(coarsest post-smoothing)}\\
    &\text{for } \ell = L-1, \dots, 1:\quad
      u^{\ell-1} \leftarrow u^{\ell-1} + P_\ell u^\ell,\;
      u^{\ell-1} \leftarrow u^{\ell-1} + S'_{\ell-1,i}(f^{\ell-1} - A_{\ell-1} u^{\ell-1}),\;
      i = 1..\nu_2^{\ell-1}

and returns :math:`u^0` (the first smoothing step from :math:`u = 0` is :math:`u = S f`). With
:math:`\Pi_\ell = 0` (``coarse_guess=False``) the coarse levels solve for the error from a zero
guess: the textbook V-cycle for :math:`A_0 u = f`.

Grids and sizes
---------------
Level :math:`\ell` has :math:`n / 2^\ell` points per axis, so every axis size must be divisible
by :math:`2^{L-1}` (:func:`check_level_sizes`). The hierarchy is *cell-centred*: coarse cell
:math:`j` is the union of fine cells :math:`2j, 2j+1`. Restrictions are stride-2 stencils of
``restriction_size`` points per axis: 2 (fine cells :math:`2j, 2j+1`: aggregation), 3 (fine
cells :math:`2j-1, 2j, 2j+1`: the paper's choice, centred on fine cell :math:`2j`, half a fine
cell left of the coarse centre) or 4 (fine cells :math:`2j-1 .. 2j+2`: centred). Prolongations
are 4-point transposed stencils with stride 2 (coarse cell :math:`j` feeds fine cells
:math:`2j-1 .. 2j+2`, the support of cell-centred bilinear interpolation). With restriction
sizes 2 or 4 every stencil can be mirror-symmetric about its cell, and the mirror symmetries
of the boundary conditions then hold exactly on all levels.

Boundary conditions
-------------------
Every convolution, strided convolution and transposed convolution pads its input by
:func:`pad_boundary` with the same rule on every level, so the boundary condition holds at all
levels. The boundary lies on the outer cell faces of every level (the hierarchy is nested):

* ``"dirichlet"``: odd reflection, ghost cell :math:`-1-k` holds :math:`-u_k`, so the
  linear interpolant vanishes on the face (:math:`u = 0`);
* ``"neumann"``: even reflection, ghost cell :math:`-1-k` holds :math:`u_k`, a zero normal
  difference across the face (reflecting wall);
* ``"periodic"``: wrap-around.

Plain zero padding (ghost values 0, as ``padding_mode="zeros"`` convolutions do) puts the
boundary half a fine cell outside the grid on one level and a full fine cell outside on the
next; the levels then disagree about where the wall is, and a textbook V-cycle built that way
diverges on fine grids. The reflections keep every level consistent.

Examples
--------
>>> cycle = VCycle(f_channels=1, u_channels=4, ndim=2, levels=3, boundary="periodic")
>>> cycle(torch.randn(2, 1, 16, 16)).shape
torch.Size([2, 4, 16, 16])
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BOUNDARIES", "RESTRICTION_SIZES", "VCycle", "check_level_sizes", "pad_boundary", "per_level_counts",
           "valid_sizes"]

BOUNDARIES = ("dirichlet", "neumann", "periodic")
_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
RESTRICTION_SIZES = (2, 3, 4)
PROLONGATION_SIZE = 4


def pad_boundary(x: torch.Tensor, width: int, boundary: str) -> torch.Tensor:
    """Pad every spatial axis of ``x`` ``[batch, channels, *spatial]`` by ``width`` ghost cells.

    Parameters
    ----------
    x : Tensor ``[batch, channels, *spatial]``
    width : int
        Ghost cells on each side of each spatial axis (at most the axis size).
    boundary : {"dirichlet", "neumann", "periodic"}
        Odd mirror image about the boundary face, even mirror image, or wrap-around.

    Examples
    --------
    >>> x = torch.tensor([[[1.0, 2.0, 3.0]]])
    >>> [pad_boundary(x, 1, b)[0, 0].tolist() for b in BOUNDARIES]
    [[-1.0, 1.0, 2.0, 3.0, -3.0], [1.0, 1.0, 2.0, 3.0, 3.0], [3.0, 1.0, 2.0, 3.0, 1.0]]
    """
    if width == 0:
        return x
    d = x.ndim - 2
    if boundary == "periodic":
        return F.pad(x, (width, width) * d, mode="circular")
    if boundary not in ("dirichlet", "neumann"):
        raise ValueError(f"boundary: expected one of {BOUNDARIES}, got {boundary!r}")
    sign = -1.0 if boundary == "dirichlet" else 1.0
    for dim in range(2, x.ndim):
        n = x.shape[dim]
        before, after = x.narrow(dim, 0, width).flip(dim), x.narrow(dim, n - width, width).flip(dim)
        x = torch.cat([sign * before, x, sign * after], dim=dim)
    return x


def valid_sizes(n: int, levels: int) -> tuple[int, int]:
    """The nearest sizes ``<= n`` and ``>= n`` that ``levels`` levels can coarsen (multiples of ``2^(levels-1)``).

    Examples
    --------
    >>> valid_sizes(50, 4)
    (48, 56)
    """
    step = 2 ** (levels - 1)
    below = (n // step) * step
    return (below if below > 0 else step), -(-n // step) * step


def check_level_sizes(shape: Sequence[int], levels: int, kernel_size: int = 3, name: str = "values") -> list:
    """The grid shapes of the ``levels`` levels for a finest grid ``shape``, or a ``ValueError``.

    Every axis must be divisible by :math:`2^{L-1}`, and the coarsest axis must hold the
    ``(kernel_size - 1) // 2`` ghost cells of the smoothing stencil.

    Examples
    --------
    >>> check_level_sizes((32, 16), 3)
    [(32, 16), (16, 8), (8, 4)]
    >>> check_level_sizes((30, 16), 3)
    Traceback (most recent call last):
    ...
    ValueError: values: spatial size 30 cannot be coarsened 2 times by halving (levels=3 needs multiples of 4); ...
    """
    step = 2 ** (levels - 1)
    for n in shape:
        if n % step:
            below, above = valid_sizes(n, levels)
            raise ValueError(f"{name}: spatial size {n} cannot be coarsened {levels - 1} times by halving "
                             f"(levels={levels} needs multiples of {step}); nearest valid sizes: {below} or {above}")
        if n // step < max((kernel_size - 1) // 2, 1):
            raise ValueError(f"{name}: spatial size {n} leaves {n // step} points on the coarsest of {levels} levels, "
                             f"fewer than the {(kernel_size - 1) // 2} ghost cells of a {kernel_size}-point stencil; "
                             f"use at least {step * max((kernel_size - 1) // 2, 1)} points or fewer levels")
    return [tuple(n // 2**level for n in shape) for level in range(levels)]


class _Stencil(nn.Module):
    """A bias-free convolution ``in -> out`` that pads with the boundary rule (stride 1 or 2)."""

    def __init__(self, in_channels: int, out_channels: int, ndim: int, size: int, boundary: str, stride: int = 1):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *(size,) * ndim))
        bound = 1.0 / math.sqrt(in_channels * size**ndim)             # torch's default conv init
        nn.init.uniform_(self.weight, -bound, bound)
        # stride 1: centred; stride 2: sizes 3 and 4 start one fine cell left of coarse cell j's first cell
        self.boundary, self.stride, self.width = boundary, stride, (size - 1) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = _CONV[x.ndim - 2]
        return conv(pad_boundary(x, self.width, self.boundary), self.weight, stride=self.stride)


class _Prolongation(nn.Module):
    """Transposed 4-point stencil with stride 2: coarse ``[.., n]`` -> fine ``[.., 2n]``, boundary-padded."""

    def __init__(self, channels: int, ndim: int, boundary: str):
        super().__init__()
        size = PROLONGATION_SIZE
        self.weight = nn.Parameter(torch.empty(channels, channels, *(size,) * ndim))
        bound = 1.0 / math.sqrt(channels * size**ndim)
        nn.init.uniform_(self.weight, -bound, bound)
        self.boundary = boundary

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # one ghost cell per side; padding=3 crops the transposed output to fine cells 0 .. 2n-1
        return _CONV_T[x.ndim - 2](pad_boundary(x, 1, self.boundary), self.weight, stride=2, padding=3)


def per_level_counts(value, levels: int, name: str, minimum: int = 0) -> tuple:
    """``value`` (one count for every level, or one per level) as a tuple of ``levels`` counts >= ``minimum``."""
    if isinstance(value, int) and not isinstance(value, bool):
        counts = (value,) * levels
    elif isinstance(value, (list, tuple)):
        counts = tuple(value)
    else:
        raise TypeError(f"{name}: expected an integer or a list of {levels} integers, got {type(value).__name__}")
    if len(counts) != levels or any(isinstance(c, bool) or not isinstance(c, int) or c < minimum for c in counts):
        raise ValueError(f"{name}: expected an integer >= {minimum} or {levels} of them (one per level), "
                         f"got {value!r}")
    return counts


class VCycle(nn.Module):
    r"""One multigrid V-cycle with learned stencils: a linear operator ``f -> u`` (see the module docstring).

    Parameters
    ----------
    f_channels, u_channels : int
        Channels of the right-hand side ``f`` (input) and the solution ``u`` (output).
    ndim : {1, 2, 3}
    levels : int
        Grids in the hierarchy (1: smoothing on the input grid only).
    pre_smoothing, post_smoothing : int or sequence of int
        Smoothing steps per level (one count for all levels, or one per level, finest first);
        at least one pre-smoothing step per level. On the coarsest level the post-smoothing
        steps follow the pre-smoothing steps.
    boundary : {"dirichlet", "neumann", "periodic"}
        See :func:`pad_boundary`.
    kernel_size : int
        Odd stencil size of :math:`A_\ell` and :math:`S_{\ell,i}` per axis.
    coarse_guess : bool
        Start each coarse level from :math:`\Pi_\ell u` (MgNO, MgNet) rather than from zero.
    restriction_size : {2, 3, 4}
        Points per axis of the restriction stencils (see the module docstring).

    Attributes
    ----------
    operators : ModuleDict ``{str(level): A_level}`` (only the levels that use one)
    pre_smoothers, post_smoothers : ModuleList (per level) of ModuleList of smoothers
    restrict_residual, restrict_solution, prolong : ModuleList (index ``level - 1``)

    Examples
    --------
    >>> cycle = VCycle(1, 1, ndim=1, levels=4, boundary="dirichlet").double()
    >>> f = torch.randn(3, 1, 32, dtype=torch.float64)
    >>> torch.allclose(cycle(2 * f), 2 * cycle(f))        # linear
    True
    """

    def __init__(self, f_channels: int, u_channels: int, ndim: int = 2, levels: int = 4,
                 pre_smoothing: int | Sequence[int] = 1, post_smoothing: int | Sequence[int] = 0,
                 boundary: str = "dirichlet", kernel_size: int = 3, coarse_guess: bool = True,
                 restriction_size: int = 3):
        super().__init__()
        if boundary not in BOUNDARIES:
            raise ValueError(f"boundary: expected one of {BOUNDARIES}, got {boundary!r}")
        if ndim not in _CONV:
            raise ValueError(f"ndim: expected 1, 2 or 3, got {ndim!r}")
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: expected an odd integer >= 1, got {kernel_size!r}")
        if restriction_size not in RESTRICTION_SIZES or isinstance(restriction_size, bool):
            raise ValueError(f"restriction_size: expected one of {RESTRICTION_SIZES}, got {restriction_size!r}")
        if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
            raise ValueError(f"levels: expected an integer >= 1, got {levels!r}")
        self.ndim, self.levels, self.boundary, self.kernel_size = ndim, levels, boundary, kernel_size
        self.coarse_guess, self.restriction_size = bool(coarse_guess), restriction_size
        self.pre = per_level_counts(pre_smoothing, levels, "pre_smoothing", minimum=1)
        self.post = per_level_counts(post_smoothing, levels, "post_smoothing")
        def stencil(cin: int, cout: int) -> _Stencil:
            return _Stencil(cin, cout, ndim, kernel_size, boundary)

        self.operators = nn.ModuleDict({str(level): stencil(u_channels, f_channels)
                                        for level in range(levels) if self._uses_operator(level)})
        self.pre_smoothers = nn.ModuleList(nn.ModuleList(stencil(f_channels, u_channels) for _ in range(count))
                                           for count in self.pre)
        self.post_smoothers = nn.ModuleList(nn.ModuleList(stencil(f_channels, u_channels) for _ in range(count))
                                            for count in self.post)
        coarse = range(1, levels)
        self.restrict_residual = nn.ModuleList(
            _Stencil(f_channels, f_channels, ndim, restriction_size, boundary, stride=2) for _ in coarse)
        self.restrict_solution = nn.ModuleList(
            _Stencil(u_channels, u_channels, ndim, restriction_size, boundary, stride=2)
            for _ in (coarse if self.coarse_guess else ()))
        self.prolong = nn.ModuleList(_Prolongation(u_channels, ndim, boundary) for _ in coarse)
        self.f_channels, self.u_channels = f_channels, u_channels

    def _uses_operator(self, level: int) -> bool:
        """Whether level ``level`` ever forms a residual ``f - A u`` with a non-zero ``u``."""
        starts_nonzero = level > 0 and self.coarse_guess
        smoothing_residuals = self.pre[level] - (0 if starts_nonzero else 1) > 0
        return level < self.levels - 1 or self.post[level] > 0 or smoothing_residuals

    def level_shapes(self, shape: Sequence[int]) -> list:
        """Grid shapes of the levels for finest ``shape`` (``ValueError`` if it cannot be coarsened)."""
        return check_level_sizes(shape, self.levels, self.kernel_size)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        """``u`` ``[batch, u_channels, *spatial]`` from ``f`` ``[batch, f_channels, *spatial]``."""
        if f.ndim != self.ndim + 2 or f.shape[1] != self.f_channels:
            raise ValueError(f"f: expected [batch, {self.f_channels}, *spatial] with {self.ndim} spatial axes, "
                             f"got shape {tuple(f.shape)}")
        self.level_shapes(f.shape[2:])
        rhs, solutions = [f], []
        u = None
        for level in range(self.levels):
            if level > 0:
                rhs.append(self.restrict_residual[level - 1](self._residual(level - 1, rhs[-1], u)))
                u = self.restrict_solution[level - 1](u) if self.coarse_guess else None
            u = self._smooth(level, rhs[level], u, self.pre_smoothers[level])
            solutions.append(u)
        u = self._smooth(self.levels - 1, rhs[-1], u, self.post_smoothers[-1])      # coarsest: pre then post
        for level in range(self.levels - 1, 0, -1):
            u = solutions[level - 1] + self.prolong[level - 1](u)
            u = self._smooth(level - 1, rhs[level - 1], u, self.post_smoothers[level - 1])
        return u

    def _residual(self, level: int, f: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return f - self.operators[str(level)](u)

    def _smooth(self, level: int, f: torch.Tensor, u: torch.Tensor | None, smoothers) -> torch.Tensor:
        """``u <- u + S(f - A u)`` per smoother; ``u = S f`` for a zero (``None``) ``u``."""
        for smoother in smoothers:
            u = smoother(f) if u is None else u + smoother(self._residual(level, f, u))
        return u

    def extra_repr(self) -> str:
        return (f"{self.f_channels} -> {self.u_channels}, levels={self.levels}, pre={self.pre}, post={self.post}, "
                f"boundary={self.boundary!r}, kernel_size={self.kernel_size}, coarse_guess={self.coarse_guess}, "
                f"restriction_size={self.restriction_size}")
