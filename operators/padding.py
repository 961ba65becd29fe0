r"""Domain padding: zeros appended to every spatial axis so a periodic transform sees a
non-periodic signal as one period of a longer signal, removed again after the blocks.

An axis of ``n`` points padded by a fraction ``f`` gets ``p = round(f n)`` zeros: all at the
end (``"one-sided"``) or ``floor(p / 2)`` at the start and the rest at the end
(``"symmetric"``). Since ``p`` scales with ``n``, the padded box is the same at every
resolution (up to rounding), which keeps a padded model resolution-agnostic.

Examples
--------
>>> padding = DomainPadding(0.25)
>>> x = torch.ones(1, 1, 8)
>>> padded = padding.pad(x)
>>> padded.shape, torch.equal(padding.unpad(padded, (8,)), x)
(torch.Size([1, 1, 10]), True)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["DomainPadding"]


class DomainPadding:
    """Pad and un-pad the spatial axes of ``[batch, channels, *spatial]`` tensors.

    Parameters
    ----------
    fraction : float or sequence of float
        Fraction of each axis' size to pad (one value for all axes, or one per axis).
    side : {"one-sided", "symmetric"}
    """

    def __init__(self, fraction: float | Sequence[float], side: str = "one-sided"):
        if side not in ("one-sided", "symmetric"):
            raise ValueError(f"side: expected 'one-sided' or 'symmetric', got {side!r}")
        values = tuple(fraction) if isinstance(fraction, (tuple, list)) else (fraction,)
        for value in values:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError(f"fraction: expected numbers in [0, 1] (a fraction of each axis), got {fraction!r}")
        if not values:
            raise ValueError("fraction: expected a number or one number per axis, got an empty sequence")
        self.fraction = fraction
        self.side = side

    def __repr__(self) -> str:
        return f"DomainPadding(fraction={self.fraction!r}, side={self.side!r})"

    @property
    def active(self) -> bool:
        values = self.fraction if isinstance(self.fraction, (tuple, list)) else (self.fraction,)
        return any(v > 0 for v in values)

    def widths(self, spatial: Sequence[int]) -> list[tuple[int, int]]:
        """``(before, after)`` zeros per axis for spatial sizes ``spatial``."""
        d = len(spatial)
        fractions = tuple(self.fraction) if isinstance(self.fraction, (tuple, list)) else (self.fraction,) * d
        if len(fractions) != d:
            raise ValueError(f"spatial: expected {len(fractions)} axes to match the padding fractions, got {d}")
        widths = []
        for n, f in zip(spatial, fractions):
            p = int(round(f * n))
            widths.append((0, p) if self.side == "one-sided" else (p // 2, p - p // 2))
        return widths

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """Zero-pad the spatial axes of ``x`` ``[B, C, *spatial]``."""
        if not self.active:
            return x
        widths = self.widths(x.shape[2:])
        flat = [w for pair in reversed(widths) for w in pair]        # F.pad wants the last axis first
        return F.pad(x, flat)

    def unpad(self, x: torch.Tensor, spatial: Sequence[int]) -> torch.Tensor:
        """Remove the padding that :meth:`pad` added to an input of spatial size ``spatial``."""
        if not self.active:
            return x
        for axis, ((before, _), n) in enumerate(zip(self.widths(spatial), spatial)):
            x = x.narrow(2 + axis, before, n)
        return x
