"""Dtype conventions shared by the numerics: half precision is computed in float32."""

from __future__ import annotations

import torch

__all__ = ["HALF_DTYPES", "real_dtype", "upcast_half"]

HALF_DTYPES = (torch.float16, torch.bfloat16)


def upcast_half(values: torch.Tensor) -> torch.Tensor:
    """``values`` in float32 when stored in float16/bfloat16 (sums and FFTs need the range), else as is."""
    return values.float() if values.dtype in HALF_DTYPES else values


def real_dtype(values: torch.Tensor) -> torch.dtype:
    """The real dtype matching ``values`` (``float32`` for ``complex64``, ...)."""
    return values.real.dtype if values.is_complex() else values.dtype
