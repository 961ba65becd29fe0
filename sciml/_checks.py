"""Argument checks shared by public entry points.

Every check raises an exception whose message names the argument, what was
expected and what was received, so that bad input never travels further into
the numerics as a silent NaN or a confusing broadcast.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = [
    "as_float_tensor",
    "check_finite",
    "check_ndim",
    "check_positive_int",
    "check_shape_tail",
]

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def as_float_tensor(value, name: str, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Convert ``value`` to a floating tensor, rejecting non-numeric input.

    Integer and boolean inputs are promoted to the default float dtype;
    complex inputs are kept as they are.
    """
    if isinstance(value, torch.Tensor):
        tensor = value
    else:
        try:
            array = np.asarray(value)
        except Exception as exc:  # pragma: no cover - numpy raises many kinds
            raise TypeError(f"{name}: expected an array-like of numbers, got {type(value).__name__}") from exc
        if array.dtype.kind not in "biufc":
            raise TypeError(f"{name}: expected numeric values, got array of dtype {array.dtype}")
        tensor = torch.as_tensor(array if array.flags.writeable else array.copy())
    if not (tensor.is_floating_point() or tensor.is_complex()):
        tensor = tensor.to(torch.get_default_dtype())
    if dtype is not None:
        tensor = tensor.to(dtype)
    return tensor


def check_finite(tensor: torch.Tensor, name: str) -> torch.Tensor:
    """Raise ``ValueError`` if ``tensor`` holds NaN or infinite values."""
    if tensor.numel() and not bool(torch.isfinite(tensor).all()):
        n_nan = int(torch.isnan(tensor).sum())
        n_inf = int(torch.isinf(tensor).sum())
        raise ValueError(
            f"{name}: expected finite values, found {n_nan} NaN and {n_inf} infinite "
            f"entries out of {tensor.numel()}"
        )
    return tensor


def check_ndim(tensor: torch.Tensor, name: str, ndim: int | Sequence[int]) -> torch.Tensor:
    """Raise ``ValueError`` unless ``tensor.ndim`` is ``ndim`` (or one of them)."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if tensor.ndim not in allowed:
        want = " or ".join(str(n) for n in allowed)
        raise ValueError(f"{name}: expected {want} dimensions, got shape {tuple(tensor.shape)}")
    return tensor


def check_shape_tail(tensor: torch.Tensor, name: str, tail: Sequence[int], what: str = "") -> torch.Tensor:
    """Raise ``ValueError`` unless the trailing dimensions of ``tensor`` equal ``tail``."""
    tail = tuple(int(t) for t in tail)
    if tuple(tensor.shape[tensor.ndim - len(tail):]) != tail or tensor.ndim < len(tail):
        extra = f" ({what})" if what else ""
        raise ValueError(
            f"{name}: expected trailing shape {tail}{extra}, got shape {tuple(tensor.shape)}"
        )
    return tensor


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    """Return ``value`` as ``int`` if it is an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}")
    return int(value)
