r"""Multigrid domain decomposition (MG-TFNO, Kossaifi et al., 2023): patches with coarse context.

An input ``[B, C, N_0, ..., N_{d-1}]`` is cut into :math:`2^L` patches per axis, of
:math:`s_j = N_j / 2^L` points, each padded by :math:`p_j` points of overlap on both sides
(window :math:`w_j = s_j + 2 p_j`). Patch :math:`\mathbf j` reads the window

.. math::
    \text{level } 0:\; x\big[j s - p + t\big], \qquad
    \text{level } \ell \ge 1:\; x^{(\ell)}\big[c_\ell(j) - \lfloor w/2 \rfloor + t\big],
    \quad t = 0, \dots, w-1,

per axis, where :math:`x^{(\ell)} = x[::2^\ell]` is the whole input subsampled by
:math:`2^\ell` and :math:`c_\ell(j) = \operatorname{round}\big((j s + (s-1)/2) / 2^\ell\big)` is
the patch centre in its index units: level :math:`\ell` sees a region :math:`2^\ell` times
larger at :math:`2^\ell` times coarser resolution, centred on the patch. Indices beyond the
domain wrap around (``"circular"``, periodic data) or mirror (``"reflect"``). The levels are
concatenated as channels, so a patch has ``C (L + 1)`` channels, and patches go to the batch
axis (batch-major: sample ``b``, then patches in C order), so they can be split over DDP ranks
like any batch. :func:`stitch_patches` drops the overlap and puts the patches back.

Examples
--------
>>> x = torch.randn(2, 1, 32, 32)
>>> patches = make_multigrid_patches(x, levels=1, overlap=(2, 2))
>>> patches.shape                                   # 2 * 4 patches, 1 + 1 levels, 16 + 2 * 2 points
torch.Size([8, 2, 20, 20])
>>> torch.equal(stitch_patches(patches[:, :1], levels=1, overlap=(2, 2)), x)
True
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["make_multigrid_patches", "overlap_points", "patch_shape", "split_patches", "stitch_patches"]

BOUNDARIES = ("circular", "reflect")


def overlap_points(spatial: Sequence[int], fraction: float) -> tuple[int, ...]:
    """Overlap per axis, ``round(fraction * N_j)`` points."""
    return tuple(int(round(fraction * n)) for n in spatial)


def patch_shape(spatial: Sequence[int], levels: int, overlap: Sequence[int]) -> tuple[int, ...]:
    """Window shape ``N_j / 2^L + 2 p_j`` of the patches of an input of ``spatial`` shape."""
    _check_divisible(spatial, levels)
    return tuple(n // 2**levels + 2 * p for n, p in zip(spatial, overlap))


def make_multigrid_patches(x: torch.Tensor, levels: int, overlap: Sequence[int],
                           boundary: str = "circular") -> torch.Tensor:
    """Patches with overlap and ``levels`` coarse context windows, in the batch axis.

    Parameters
    ----------
    x : tensor ``[B, C, *spatial]``
        Every spatial size divisible by ``2**levels``.
    levels : int
        ``L >= 0``; ``0`` returns ``x`` padded by the overlap.
    overlap : sequence of int
        ``p_j`` points per axis and side, ``p_j <= N_j / 2^L`` (see :func:`overlap_points`).
    boundary : {"circular", "reflect"}

    Returns
    -------
    tensor ``[B * 2^(L d), C * (L + 1), *(N_j / 2^L + 2 p_j)]``
        Channel group ``l`` (``C`` channels each) holds level ``l``.
    """
    _check_input(x, levels, overlap, boundary)
    return torch.cat([_level_windows(x, levels, overlap, boundary, level) for level in range(levels + 1)], dim=1)


def split_patches(y: torch.Tensor, levels: int) -> torch.Tensor:
    """Cut ``y`` ``[B, C, *spatial]`` into its ``2^L`` patches per axis (no overlap, no context).

    The patches are in the order of :func:`make_multigrid_patches`, so targets can be compared
    with un-stitched patch outputs (training on patches without stitching).
    """
    overlap = (0,) * (y.ndim - 2)
    _check_input(y, levels, overlap, "circular")
    return _level_windows(y, levels, overlap, "circular", 0)


def stitch_patches(patches: torch.Tensor, levels: int, overlap: Sequence[int]) -> torch.Tensor:
    """Inverse of the patching: drop ``overlap`` points per side and reassemble the patches.

    Parameters
    ----------
    patches : tensor ``[B * 2^(L d), C, *(s_j + 2 p_j)]``
    levels : int
    overlap : sequence of int

    Returns
    -------
    tensor ``[B, C, *(2^L s_j)]``
    """
    d = patches.ndim - 2
    overlap = tuple(int(p) for p in overlap)
    if len(overlap) != d:
        raise ValueError(f"overlap: expected {d} entries (one per spatial axis), got {overlap}")
    n_patches = 2**levels
    count = n_patches**d
    if patches.shape[0] % count:
        raise ValueError(f"patches: expected a batch that is a multiple of {count} patches, got {patches.shape[0]}")
    for axis, p in enumerate(overlap):
        size = patches.shape[2 + axis] - 2 * p
        if size < 1:
            raise ValueError(f"overlap: {p} points per side leaves no interior in windows of {patches.shape[2 + axis]}")
        patches = patches.narrow(2 + axis, p, size)
    batch, channels, sizes = patches.shape[0] // count, patches.shape[1], patches.shape[2:]
    grid = patches.reshape(batch, *([n_patches] * d), channels, *sizes)
    # [B, P_0, ..., P_{d-1}, C, s_0, ..., s_{d-1}] -> [B, C, P_0, s_0, ..., P_{d-1}, s_{d-1}]
    order = [0, d + 1] + [i for a in range(d) for i in (1 + a, d + 2 + a)]
    return grid.permute(order).reshape(batch, channels, *(n_patches * s for s in sizes))


# -- helpers ----------------------------------------------------------------------------------------
def _level_windows(x: torch.Tensor, levels: int, overlap: Sequence[int], boundary: str, level: int) -> torch.Tensor:
    """The level-``level`` windows of every patch: ``[B * 2^(L d), C, *w]``."""
    d = x.ndim - 2
    n_patches, step = 2**levels, 2**level
    sizes = tuple(n // n_patches for n in x.shape[2:])
    coarse = x[(Ellipsis, *[slice(None, None, step)] * d)] if level else x
    indices = [_window_indices(coarse.shape[2 + a], sizes[a], overlap[a], n_patches, step, boundary, x.device)
               for a in range(d)]
    return _gather_windows(coarse, indices)


def _window_indices(n: int, size: int, overlap: int, n_patches: int, step: int, boundary: str,
                    device) -> torch.Tensor:
    """``[n_patches, size + 2 overlap]`` indices into an axis of ``n`` points (after the boundary rule)."""
    window = size + 2 * overlap
    t = torch.arange(window, device=device)
    if step == 1:
        starts = torch.arange(n_patches, device=device) * size - overlap
    else:
        centres = [int((j * size + (size - 1) / 2) / step + 0.5) for j in range(n_patches)]
        starts = torch.tensor(centres, device=device) - window // 2
    index = starts[:, None] + t[None, :]
    if boundary == "circular":
        return index.remainder(n)
    period = 2 * (n - 1) if n > 1 else 1
    folded = index.remainder(period)
    return torch.where(folded < n, folded, period - folded)


def _gather_windows(x: torch.Tensor, indices: list[torch.Tensor]) -> torch.Tensor:
    """``x [B, C, *n]`` -> ``[B * prod(P), C, *w]`` reading ``indices[a] [P_a, w_a]`` along each axis."""
    d = len(indices)
    for axis, index in enumerate(indices):
        dim = 2 + 2 * axis                                   # earlier axes became (P, w) pairs
        x = x.index_select(dim, index.reshape(-1)).unflatten(dim, tuple(index.shape))
    channels = x.shape[1]
    # [B, C, P_0, w_0, ..., P_{d-1}, w_{d-1}] -> [B, P_0, ..., P_{d-1}, C, w_0, ..., w_{d-1}]
    order = [0] + [2 + 2 * a for a in range(d)] + [1] + [3 + 2 * a for a in range(d)]
    x = x.permute(order)
    return x.reshape(-1, channels, *(index.shape[1] for index in indices))


def _check_divisible(spatial: Sequence[int], levels: int) -> None:
    if any(n % 2**levels for n in spatial):
        raise ValueError(f"values: expected spatial sizes divisible by 2**levels = {2**levels} "
                         f"(levels={levels}), got {tuple(spatial)}")


def _check_input(x: torch.Tensor, levels: int, overlap: Sequence[int], boundary: str) -> tuple[int, ...]:
    if not isinstance(x, torch.Tensor) or x.ndim < 3:
        raise ValueError(f"x: expected a tensor [batch, channels, *spatial], got {getattr(x, 'shape', type(x))}")
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 0:
        raise ValueError(f"levels: expected an integer >= 0, got {levels!r}")
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary: expected one of {BOUNDARIES}, got {boundary!r}")
    spatial = tuple(x.shape[2:])
    if len(overlap) != len(spatial):
        raise ValueError(f"overlap: expected {len(spatial)} entries (one per spatial axis), got {tuple(overlap)}")
    _check_divisible(spatial, levels)
    for n, p in zip(spatial, overlap):
        if p < 0 or p > n // 2**levels:
            raise ValueError(f"overlap: expected 0 <= overlap <= patch size {n // 2**levels}, got {tuple(overlap)}")
    return spatial
