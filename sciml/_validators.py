"""Checks of scalar arguments: real numbers that must be finite, positive or non-negative.

They complement :mod:`sciml._checks` (tensors and integers) with the same
conventions: a wrong type (including ``bool``) raises ``TypeError``, a value
out of range raises ``ValueError``, and every message names the argument,
what was expected and what was received.

Examples
--------
>>> check_positive_float(1e-3, "lr")
0.001
>>> check_positive_float(float("inf"), "lr")
Traceback (most recent call last):
    ...
ValueError: lr: expected a finite number > 0, got inf
"""

from __future__ import annotations

import math
import numbers

__all__ = ["check_finite_float", "check_nonnegative_float", "check_positive_float"]


def check_finite_float(value, name: str) -> float:
    """Return ``value`` as ``float`` if it is a finite real number (not a ``bool``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a finite number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {float(value)!r}")
    return float(value)


def check_positive_float(value, name: str) -> float:
    """Return ``value`` as ``float`` if it is a finite real number ``> 0``."""
    return _check_at_least(value, name, strict=True)


def check_nonnegative_float(value, name: str) -> float:
    """Return ``value`` as ``float`` if it is a finite real number ``>= 0``."""
    return _check_at_least(value, name, strict=False)


def _check_at_least(value, name: str, strict: bool) -> float:
    bound = "> 0" if strict else ">= 0"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a finite number {bound}, got {type(value).__name__} {value!r}")
    if not math.isfinite(value) or value < 0 or (strict and value == 0):
        raise ValueError(f"{name}: expected a finite number {bound}, got {float(value)!r}")
    return float(value)
