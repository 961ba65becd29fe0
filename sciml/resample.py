"""Resampling between discretizations (being written)."""

from __future__ import annotations

__all__ = ["resample"]


def resample(sampled, to, method: str = "auto"):
    raise NotImplementedError("resample: being written")
