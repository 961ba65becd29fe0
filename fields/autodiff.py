"""Exact derivatives of fields in their coordinates, by autograd.

All functions take a callable ``f`` mapping coordinates ``[n, d]`` to values
``[n, c]`` (any :class:`~sciml.fields.Field`) and return tensors that stay in
the autograd graph (``create_graph=True``), so losses built on them (eikonal,
PDE residuals) can be minimised over the field's parameters.
"""

from __future__ import annotations

import torch

__all__ = ["divergence", "gradient", "hessian", "jacobian", "laplacian"]


def _prepare(x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 2:
        raise ValueError(f"x: expected coordinates of shape [n, d], got {getattr(x, 'shape', type(x).__name__)}")
    if x.requires_grad and x.is_leaf:
        return x
    return x.detach().requires_grad_(True)


def _grad(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True, allow_unused=True)
    return torch.zeros_like(x) if g is None else g


def jacobian(f, x: torch.Tensor, values: bool = False):
    r"""Jacobian :math:`J_{nij} = \partial f_i / \partial x_j` at each point, ``[n, c, d]``.

    With ``values=True`` returns ``(f(x), J)``.
    """
    x = _prepare(x)
    y = f(x)
    jac = torch.stack([_grad(y[:, i], x) for i in range(y.shape[1])], 1)
    return (y, jac) if values else jac


def gradient(f, x: torch.Tensor, values: bool = False):
    r"""Gradient :math:`\nabla f` of a scalar field, ``[n, d]`` (``(f(x), grad)`` with ``values=True``).

    Examples
    --------
    >>> g = gradient(lambda x: (x ** 2).sum(-1, keepdim=True), torch.tensor([[1.0, 2.0]]))
    >>> g.detach()
    tensor([[2., 4.]])
    """
    x = _prepare(x)
    y = f(x)
    if y.shape[-1] != 1:
        raise ValueError(f"f: gradient needs a scalar field (1 output channel), got {y.shape[-1]} channels; use jacobian")
    g = _grad(y, x)
    return (y, g) if values else g


def hessian(f, x: torch.Tensor) -> torch.Tensor:
    r"""Hessian :math:`H_{nij} = \partial^2 f / \partial x_i \partial x_j` of a scalar field, ``[n, d, d]``."""
    x = _prepare(x)
    g = gradient(f, x)
    return torch.stack([_grad(g[:, i], x) for i in range(x.shape[1])], 1)


def laplacian(f, x: torch.Tensor, values: bool = False):
    r"""Laplacian :math:`\Delta f_i` of each channel, ``[n, c]`` (``(f(x), lap)`` with ``values=True``).

    Examples
    --------
    >>> lap = laplacian(lambda x: (x ** 2).sum(-1, keepdim=True), torch.tensor([[1.0, 2.0, 3.0]]))
    >>> lap.detach()
    tensor([[6.]])
    """
    x = _prepare(x)
    y, jac = jacobian(f, x, values=True)
    lap = torch.stack(
        [sum(_grad(jac[:, i, j], x)[:, j] for j in range(x.shape[1])) for i in range(y.shape[1])], 1
    )
    return (y, lap) if values else lap


def divergence(f, x: torch.Tensor) -> torch.Tensor:
    r"""Divergence :math:`\nabla\cdot f` of a vector field with ``c == d``, ``[n, 1]``."""
    x = _prepare(x)
    jac = jacobian(f, x)
    if jac.shape[1] != jac.shape[2]:
        raise ValueError(f"f: divergence needs as many channels as coordinates, got {jac.shape[1]} and {jac.shape[2]}")
    return jac.diagonal(dim1=1, dim2=2).sum(-1, keepdim=True)
