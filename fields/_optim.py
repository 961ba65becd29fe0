"""One checked optimisation step, shared by the fitting loops of the fields."""

from __future__ import annotations

import math

import torch

__all__ = ["descend"]


def descend(optimizer: torch.optim.Optimizer, loss: torch.Tensor, where: str, hint: str) -> float:
    """Back-propagate ``loss`` and step ``optimizer``; returns the loss value.

    A non-finite loss raises ``FloatingPointError`` (``"{where}: the loss became nan ...;
    {hint}"``) before any parameter changes, so a diverging fit never leaves NaN weights.
    """
    value = float(loss.detach())
    if not math.isfinite(value):
        raise FloatingPointError(f"{where}: the loss became {value}; {hint}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return value
