"""Base class for operators: ``Sampled -> Sampled``, plain tensors accepted too."""

from __future__ import annotations

import torch
from torch import nn

from .discretization import Discretization
from .grid import Grid
from .sampled import Sampled

__all__ = ["Operator"]


class Operator(nn.Module):
    """A module mapping functions to functions.

    Subclasses implement :meth:`forward_values`, which receives the values
    ``[batch, channels, *shape]`` and the discretization they live on (so
    positional embeddings and quadrature come from real coordinates, and the
    same model evaluates any resolution). :meth:`forward` accepts

    * a :class:`Sampled`, and returns a :class:`Sampled` on
      :meth:`output_discretization` of its discretization;
    * a plain tensor ``[batch, channels, *spatial]``, read as samples on
      ``Grid.infer(spatial)`` (uniform, unit box), and returns a tensor.
    """

    def forward(self, x):
        if isinstance(x, Sampled):
            out = self.forward_values(x.values, x.on)
            return Sampled(out, self.output_discretization(x.on), validate=False)
        if isinstance(x, torch.Tensor):
            if x.ndim < 3:
                raise ValueError(f"x: expected a tensor [batch, channels, *spatial], got shape {tuple(x.shape)}")
            return self.forward_values(x, Grid.infer(x.shape[2:]))
        raise TypeError(f"x: expected Sampled or torch.Tensor, got {type(x).__name__}")

    def forward_values(self, values: torch.Tensor, on: Discretization) -> torch.Tensor:
        """Map values ``[batch, in_channels, *on.shape]`` to ``[batch, out_channels, *out.shape]``."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward_values")

    def output_discretization(self, on: Discretization) -> Discretization:
        """Where the output lives; by default the input's discretization."""
        return on
