"""Neural and tensor-format fields -- imported as ``sciml.fields``.

A field maps coordinates ``[..., d]`` on a :class:`~sciml.Domain` to values
``[..., c]``; :meth:`Field.sample` evaluates it on any discretization.
"""

from . import autodiff
from .autodiff import divergence, gradient, hessian, jacobian, laplacian
from .base import Field, FieldConfig

__all__ = ["Field", "FieldConfig", "autodiff", "divergence", "gradient", "hessian", "jacobian", "laplacian"]
