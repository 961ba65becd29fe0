"""Axis-aligned boxes on which functions live."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Domain"]


@dataclass(frozen=True)
class Domain:
    """An axis-aligned box ``[lo_0, hi_0] x ... x [lo_{d-1}, hi_{d-1}]``.

    Parameters
    ----------
    bounds : sequence of (lo, hi)
        Interval per axis, ``lo < hi``.
    periodic : bool or sequence of bool, optional
        Whether each axis wraps around. A single bool applies to all axes.

    Examples
    --------
    >>> Domain.unit(2, periodic=True).volume
    1.0
    >>> Domain([(0, 2 * np.pi)], periodic=True).lengths
    (6.283185307179586,)
    """

    bounds: tuple[tuple[float, float], ...]
    periodic: tuple[bool, ...] = ()

    def __init__(self, bounds: Sequence[Sequence[float]], periodic: bool | Sequence[bool] = False):
        bounds = _normalise_bounds(bounds)
        if isinstance(periodic, (bool, np.bool_)):
            periodic = (bool(periodic),) * len(bounds)
        periodic = tuple(bool(p) for p in periodic)
        if len(periodic) != len(bounds):
            raise ValueError(
                f"periodic: expected {len(bounds)} flags (one per axis), got {len(periodic)}"
            )
        object.__setattr__(self, "bounds", bounds)
        object.__setattr__(self, "periodic", periodic)

    @classmethod
    def unit(cls, ndim: int, periodic: bool | Sequence[bool] = False) -> Domain:
        """The unit box ``[0, 1]^ndim``."""
        if not isinstance(ndim, int) or ndim < 1:
            raise ValueError(f"ndim: expected a positive integer, got {ndim!r}")
        return cls([(0.0, 1.0)] * ndim, periodic=periodic)

    @classmethod
    def bounding(cls, points, pad: float = 0.0) -> Domain:
        """Smallest box holding ``points`` ``[n, d]``, grown by ``pad`` times its size per side.

        Degenerate (flat) axes are given unit length so the box has positive volume.
        """
        pts = np.asarray(points.detach().cpu() if isinstance(points, torch.Tensor) else points, dtype=float)
        if pts.ndim != 2 or pts.shape[0] == 0:
            raise ValueError(f"points: expected a non-empty [n, d] array, got shape {pts.shape}")
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        size = np.where(hi > lo, hi - lo, 1.0)
        mid = 0.5 * (lo + hi)
        half = 0.5 * size * (1.0 + 2.0 * pad)
        return cls(list(zip(mid - half, mid + half)))

    @property
    def ndim(self) -> int:
        return len(self.bounds)

    @property
    def lower(self) -> tuple[float, ...]:
        return tuple(b[0] for b in self.bounds)

    @property
    def upper(self) -> tuple[float, ...]:
        return tuple(b[1] for b in self.bounds)

    @property
    def lengths(self) -> tuple[float, ...]:
        return tuple(hi - lo for lo, hi in self.bounds)

    @property
    def volume(self) -> float:
        return float(np.prod(self.lengths))

    def contains(self, points: torch.Tensor, atol: float = 1e-12) -> torch.Tensor:
        """Boolean mask ``[...]`` of points ``[..., d]`` inside the closed box."""
        lo = torch.as_tensor(self.lower, dtype=points.dtype, device=points.device)
        hi = torch.as_tensor(self.upper, dtype=points.dtype, device=points.device)
        return ((points >= lo - atol) & (points <= hi + atol)).all(dim=-1)

    def to_unit(self, points: torch.Tensor) -> torch.Tensor:
        """Affinely map points of this box to ``[0, 1]^d``."""
        lo = torch.as_tensor(self.lower, dtype=points.dtype, device=points.device)
        size = torch.as_tensor(self.lengths, dtype=points.dtype, device=points.device)
        return (points - lo) / size

    def from_unit(self, points: torch.Tensor) -> torch.Tensor:
        """Affinely map points of ``[0, 1]^d`` to this box."""
        lo = torch.as_tensor(self.lower, dtype=points.dtype, device=points.device)
        size = torch.as_tensor(self.lengths, dtype=points.dtype, device=points.device)
        return lo + points * size

    def to_dict(self) -> dict:
        return {"bounds": [list(b) for b in self.bounds], "periodic": list(self.periodic)}

    @classmethod
    def from_dict(cls, data: dict) -> Domain:
        return cls(data["bounds"], periodic=data.get("periodic", False))


def _normalise_bounds(bounds) -> tuple[tuple[float, float], ...]:
    try:
        pairs = [tuple(float(v) for v in b) for b in bounds]
    except TypeError as exc:
        raise TypeError(f"bounds: expected a sequence of (lo, hi) pairs, got {bounds!r}") from exc
    if not pairs:
        raise ValueError("bounds: expected at least one axis, got none")
    for axis, pair in enumerate(pairs):
        if len(pair) != 2:
            raise ValueError(f"bounds[{axis}]: expected a (lo, hi) pair, got {pair}")
        lo, hi = pair
        if not (np.isfinite(lo) and np.isfinite(hi)) or not lo < hi:
            raise ValueError(f"bounds[{axis}]: expected finite lo < hi, got ({lo}, {hi})")
    return tuple(pairs)
