r"""Quadrature-aware norms and losses.

Every norm integrates with the quadrature weights :math:`w` of the
discretization the values live on (:meth:`Discretization.weights`), so the same
function gives the same number on a 32², a 256² grid, a point cloud or a mesh,
up to discretization error:

.. math::
    \|u\|_{L^p} = \Big(\int_\Omega \sum_c |u_c|^p\Big)^{1/p}
    \approx \Big(\sum_i w_i \sum_c |u_c(x_i)|^p\Big)^{1/p},
    \qquad
    \|u\|_{H^1}^2 = \|u\|_{L^2}^2 + \|\nabla u\|_{L^2}^2 .

Inputs are :class:`Sampled` or plain tensors ``[B, C, *spatial]``; a plain
tensor is read as samples on ``Grid.infer(spatial)`` (uniform nodes on the unit
box). In a ``(pred, target)`` pair either side may be a tensor: the
discretization is taken from whichever is :class:`Sampled` (the target's when
both are), and both must have equal shapes. H1 quantities differentiate with
:func:`sciml.derivatives.gradient` and therefore need a :class:`Grid`.

Norms return one value per sample (``[B]``) unless asked to reduce; errors and
loss modules average over the batch by default (``reduction="mean"``). Half
precision inputs (float16, bfloat16) are integrated in float32.

Examples
--------
>>> grid = Grid.uniform((64, 64), Domain.unit(2, periodic=True))
>>> x, y = grid.mesh().unbind(-1)
>>> u = Sampled(torch.sin(2 * torch.pi * x)[None, None], grid)
>>> round(float(lp_norm(u) ** 2), 12)              # ∫ sin² = 1/2
0.5
>>> round(float(relative_lp(u.with_values(1.1 * u.values), u)), 12)
0.1
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from ._precision import real_dtype, upcast_half
from .derivatives import gradient
from .discretization import Discretization
from .grid import Grid
from .sampled import Sampled

__all__ = [
    "H1Loss",
    "LpLoss",
    "RelativeL2",
    "WeightedMSELoss",
    "absolute_h1",
    "absolute_lp",
    "h1_norm",
    "h1_seminorm",
    "lp_norm",
    "relative_h1",
    "relative_lp",
    "weighted_mse",
]

REDUCTIONS = ("mean", "sum", "none")
DEFAULT_EPS = 1e-8


# -- norms of one batch of functions --------------------------------------------------------------
def lp_norm(u, p: float = 2, reduction: str = "none") -> torch.Tensor:
    r""":math:`L^p` norm over channels and space, :math:`(\int \sum_c |u_c|^p)^{1/p}`.

    Parameters
    ----------
    u : Sampled or tensor ``[B, C, *spatial]``
    p : float, ``p >= 1`` or ``math.inf`` (maximum of :math:`|u_c(x_i)|`)
    reduction : {"none", "mean", "sum"}
        Over the batch; ``"none"`` (default) keeps ``[B]``.

    Examples
    --------
    >>> lp_norm(torch.ones(2, 3, 8, 8))                # ∫ 3 · 1² over the unit square
    tensor([1.7321, 1.7321])
    """
    values, disc = _values_and_discretization(u, "u")
    return _reduce(_lp(values, disc, _check_p(p)), reduction)


def h1_seminorm(u, reduction: str = "none", method: str = "auto") -> torch.Tensor:
    r""":math:`|u|_{H^1} = (\int \sum_c |\nabla u_c|^2)^{1/2}`, ``[B]``; needs a Grid.

    ``method`` selects the derivative scheme (:func:`sciml.derivatives.partial`).

    Examples
    --------
    >>> grid = Grid.uniform(64, Domain.unit(1, periodic=True))
    >>> u = Sampled(torch.sin(2 * torch.pi * grid.coordinates()[0])[None, None], grid)
    >>> float(h1_seminorm(u) ** 2 / (2 * torch.pi ** 2))     # ∫ (2π cos 2πx)² = 2π²
    1.0
    """
    values, disc = _values_and_discretization(u, "u")
    return _reduce(_root(_squared_h1_seminorm(values, disc, "u", method), 2), reduction)


def h1_norm(u, reduction: str = "none", method: str = "auto") -> torch.Tensor:
    r""":math:`\|u\|_{H^1} = (\|u\|_{L^2}^2 + |u|_{H^1}^2)^{1/2}`, ``[B]``; needs a Grid."""
    values, disc = _values_and_discretization(u, "u")
    return _reduce(_root(_squared_h1(values, disc, "u", method), 2), reduction)


# -- errors between a prediction and a target -------------------------------------------------
def absolute_lp(pred, target, p: float = 2, reduction: str = "mean") -> torch.Tensor:
    r""":math:`\|\mathrm{pred} - \mathrm{target}\|_{L^p}` per sample, reduced over the batch.

    Examples
    --------
    >>> absolute_lp(torch.ones(1, 1, 9, 9), torch.zeros(1, 1, 9, 9))
    tensor(1.)
    """
    pred_values, target_values, disc = _pair(pred, target)
    return _reduce(_lp(pred_values - target_values, disc, _check_p(p)), reduction)


def relative_lp(pred, target, p: float = 2, eps: float = DEFAULT_EPS, reduction: str = "mean") -> torch.Tensor:
    r"""Relative error :math:`\|\mathrm{pred} - \mathrm{target}\|_{L^p} / \max(\|\mathrm{target}\|_{L^p}, \varepsilon)`.

    The denominator is clamped at ``eps`` (absolute units of the data): the
    value is the exact relative error whenever :math:`\|\mathrm{target}\| \ge \varepsilon`;
    for an all-zero target it is :math:`\|\mathrm{pred}\| / \varepsilon` (finite;
    0 when ``pred`` is zero too), never NaN. The gradient at ``pred == target``
    is zero, not NaN.

    Parameters
    ----------
    pred, target : Sampled or tensor ``[B, C, *spatial]``, equal shapes
    p : float, ``p >= 1`` or ``math.inf``
    eps : float > 0
    reduction : {"mean", "sum", "none"}

    Examples
    --------
    >>> target = torch.ones(2, 1, 16, 16)
    >>> relative_lp(1.5 * target, target)
    tensor(0.5000)
    """
    pred_values, target_values, disc = _pair(pred, target)
    p = _check_p(p)
    error = _lp(pred_values - target_values, disc, p)
    return _reduce(error / _lp(target_values, disc, p).clamp_min(_check_eps(eps)), reduction)


def absolute_h1(pred, target, reduction: str = "mean", method: str = "auto") -> torch.Tensor:
    r""":math:`\|\mathrm{pred} - \mathrm{target}\|_{H^1}` per sample, reduced; needs a Grid."""
    pred_values, target_values, disc = _pair(pred, target)
    return _reduce(_root(_squared_h1(pred_values - target_values, disc, "pred", method), 2), reduction)


def relative_h1(pred, target, eps: float = DEFAULT_EPS, reduction: str = "mean",
                method: str = "auto") -> torch.Tensor:
    r""":math:`\|\mathrm{pred} - \mathrm{target}\|_{H^1} / \max(\|\mathrm{target}\|_{H^1}, \varepsilon)`; needs a Grid.

    The ``eps`` behaviour is that of :func:`relative_lp`.

    Examples
    --------
    >>> grid = Grid.uniform(32, Domain.unit(1, periodic=True))
    >>> u = torch.sin(2 * torch.pi * grid.coordinates()[0])[None, None]
    >>> float(relative_h1(Sampled(1.25 * u, grid), Sampled(u, grid)))
    0.25
    """
    pred_values, target_values, disc = _pair(pred, target)
    error = _root(_squared_h1(pred_values - target_values, disc, "pred", method), 2)
    scale = _root(_squared_h1(target_values, disc, "target", method), 2)
    return _reduce(error / scale.clamp_min(_check_eps(eps)), reduction)


def weighted_mse(pred, target, reduction: str = "mean") -> torch.Tensor:
    r"""Quadrature-weighted mean squared error, :math:`\frac{1}{C\,|\Omega|}\int \sum_c |e_c|^2`.

    :math:`|\Omega| = \sum_i w_i` is the measure of the discretization, so on a
    uniform periodic grid this equals the ordinary mean of squared differences.

    Examples
    --------
    >>> round(float(weighted_mse(torch.full((1, 2, 8, 8), 3.0), torch.ones(1, 2, 8, 8))), 5)
    4.0
    """
    pred_values, target_values, disc = _pair(pred, target)
    error = pred_values - target_values
    mean_square = _integrate(_power(error, 2), disc) / (error.shape[1] * disc.integrate(torch.ones(
        disc.shape, dtype=real_dtype(error), device=error.device)))
    return _reduce(mean_square, reduction)


# -- loss modules --------------------------------------------------------------------------------
class LpLoss(nn.Module):
    r"""Loss ``loss(pred, target)``: relative (default) or absolute :math:`L^p` error.

    Parameters
    ----------
    p : float, ``p >= 1`` or ``math.inf``
    relative : bool
        :func:`relative_lp` if true, :func:`absolute_lp` otherwise.
    reduction : {"mean", "sum", "none"}
    eps : float
        Denominator floor of the relative error (see :func:`relative_lp`).

    Examples
    --------
    >>> loss = LpLoss(p=2)
    >>> loss(torch.full((4, 1, 16, 16), 1.1), torch.ones(4, 1, 16, 16))
    tensor(0.1000)
    """

    def __init__(self, p: float = 2, relative: bool = True, reduction: str = "mean", eps: float = DEFAULT_EPS):
        super().__init__()
        self.p = _check_p(p)
        self.relative = bool(relative)
        self.reduction = _check_reduction(reduction)
        self.eps = _check_eps(eps)

    def forward(self, pred, target) -> torch.Tensor:
        if self.relative:
            return relative_lp(pred, target, self.p, self.eps, self.reduction)
        return absolute_lp(pred, target, self.p, self.reduction)

    def extra_repr(self) -> str:
        return f"p={self.p}, relative={self.relative}, reduction={self.reduction!r}"


class RelativeL2(LpLoss):
    r"""Relative :math:`L^2` error, the usual operator-learning loss: ``LpLoss(p=2, relative=True)``.

    Examples
    --------
    >>> RelativeL2()(torch.full((2, 1, 8, 8), 0.5), torch.ones(2, 1, 8, 8))
    tensor(0.5000)
    """

    def __init__(self, reduction: str = "mean", eps: float = DEFAULT_EPS):
        super().__init__(p=2, relative=True, reduction=reduction, eps=eps)


class H1Loss(nn.Module):
    r"""Loss ``loss(pred, target)``: relative (default) or absolute :math:`H^1` error; needs a Grid.

    Parameters
    ----------
    relative : bool
        :func:`relative_h1` if true, :func:`absolute_h1` otherwise.
    reduction : {"mean", "sum", "none"}
    eps : float
        Denominator floor of the relative error.
    method : {"auto", "spectral", "fd"}
        Derivative scheme, see :func:`sciml.derivatives.partial`.
    """

    def __init__(self, relative: bool = True, reduction: str = "mean", eps: float = DEFAULT_EPS,
                 method: str = "auto"):
        super().__init__()
        self.relative = bool(relative)
        self.reduction = _check_reduction(reduction)
        self.eps = _check_eps(eps)
        self.method = method

    def forward(self, pred, target) -> torch.Tensor:
        if self.relative:
            return relative_h1(pred, target, self.eps, self.reduction, self.method)
        return absolute_h1(pred, target, self.reduction, self.method)

    def extra_repr(self) -> str:
        return f"relative={self.relative}, reduction={self.reduction!r}, method={self.method!r}"


class WeightedMSELoss(nn.Module):
    """Loss ``loss(pred, target)``: :func:`weighted_mse`, the quadrature-weighted mean squared error."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = _check_reduction(reduction)

    def forward(self, pred, target) -> torch.Tensor:
        return weighted_mse(pred, target, self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


# -- helpers -----------------------------------------------------------------------------------
def _values_and_discretization(u, name: str, on: Discretization | None = None):
    """Values (half precision upcast) and where they live: ``u.on``, else ``on``, else ``Grid.infer``."""
    if isinstance(u, Sampled):
        values, disc = u.values, u.on
    elif isinstance(u, torch.Tensor):
        if u.ndim < 3:
            raise ValueError(f"{name}: expected a tensor [batch, channels, *spatial], got shape {tuple(u.shape)}")
        if not (u.is_floating_point() or u.is_complex()):
            raise TypeError(f"{name}: expected floating-point values, got dtype {u.dtype}")
        values, disc = u, on if on is not None else Grid.infer(u.shape[2:])
    else:
        raise TypeError(f"{name}: expected Sampled or torch.Tensor, got {type(u).__name__}")
    return upcast_half(values), disc


def _pair(pred, target) -> tuple[torch.Tensor, torch.Tensor, Discretization]:
    known = target.on if isinstance(target, Sampled) else pred.on if isinstance(pred, Sampled) else None
    pred_values, pred_on = _values_and_discretization(pred, "pred", known)
    target_values, target_on = _values_and_discretization(target, "target", known)
    if isinstance(pred, Sampled) and isinstance(target, Sampled):
        target_on.check_same(pred_on, "pred")
    if tuple(pred_values.shape) != tuple(target_values.shape):
        raise ValueError(f"pred: expected the shape of target {tuple(target_values.shape)}, "
                         f"got {tuple(pred_values.shape)}")
    return pred_values, target_values, target_on


def _integrate(density: torch.Tensor, disc: Discretization) -> torch.Tensor:
    """``[B, C, *shape]`` -> ``[B]``: quadrature over space (one matrix-vector product), summed over channels."""
    return disc.integrate(density).sum(dim=1)


def _power(values: torch.Tensor, p: float) -> torch.Tensor:
    """``|values| ** p``, without the ``abs`` pass for the common real ``p = 2``."""
    return values.square() if p == 2 and not values.is_complex() else values.abs() ** p


def _lp(values: torch.Tensor, disc: Discretization, p: float) -> torch.Tensor:
    if math.isinf(p):
        return values.abs().flatten(1).amax(dim=1)
    return _root(_integrate(_power(values, p), disc), p)


def _squared_h1_seminorm(values: torch.Tensor, disc: Discretization, name: str, method: str) -> torch.Tensor:
    if not isinstance(disc, Grid):
        raise ValueError(f"{name}: H1 norms need derivatives, and derivatives need values on a Grid; "
                         f"got values on {disc!r} (use an Lp loss, or resample onto a Grid)")
    grad = gradient(Sampled(values, disc, validate=False), method=method).values
    return _integrate(_power(grad, 2), disc)


def _squared_h1(values: torch.Tensor, disc: Discretization, name: str, method: str) -> torch.Tensor:
    squared_l2 = _integrate(_power(values, 2), disc)
    return squared_l2 + _squared_h1_seminorm(values, disc, name, method)


def _root(total: torch.Tensor, p: float) -> torch.Tensor:
    """``total ** (1/p)`` with value and gradient 0 at 0 (a plain root has an infinite slope there)."""
    positive = total > 0
    safe = torch.where(positive, total, torch.ones_like(total))
    return torch.where(positive, safe ** (1.0 / p), torch.zeros_like(total))


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    reduction = _check_reduction(reduction)
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values


def _check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction: expected one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def _check_p(p) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or math.isnan(p) or p < 1:
        raise ValueError(f"p: expected a number p >= 1 (or math.inf), got {p!r}")
    return float(p)


def _check_eps(eps) -> float:
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps > 0 or math.isinf(eps):
        raise ValueError(f"eps: expected a finite number > 0, got {eps!r}")
    return float(eps)
