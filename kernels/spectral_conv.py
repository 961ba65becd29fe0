r"""The spectral convolution layer of Fourier neural operators.

.. math::
    y = \mathcal{F}^{-1}_{M}\big( W \cdot \mathcal{F}_{m}(x) \big) \;(+\, b),

where :math:`\mathcal{F}_m` keeps the retained block of ``modes`` (see
:mod:`sciml.kernels.fft`), :math:`W` mixes channels per mode (dense or CP/Tucker/TT
factorized, :mod:`sciml.kernels.factorized`) and :math:`\mathcal{F}^{-1}_M` zero-pads to
the output size :math:`M` (the input size unless ``out_size`` is given). With the default
``norm="forward"`` the block approximates continuous Fourier coefficients, so a layer
trained at 64² computes the same function at 256².
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._validate import as_int_tuple, block_shape, check_norm, check_path, check_resolution
from .cupy_backend import cupy_mix_modes
from .dft import irfft_modes_first, rfft_modes_first
from .dispatch import choose_path, irfft_modes, rfft_modes
from .factorized import (
    STRATEGIES,
    CPSpectralWeight,
    DenseSpectralWeight,
    SpectralWeight,
    TTSpectralWeight,
    TuckerSpectralWeight,
    make_spectral_weight,
)

__all__ = ["SpectralConv"]


class SpectralConv(nn.Module):
    r"""Spectral convolution ``[B, C_in, *spatial] -> [B, C_out, *out_size]`` in 1D, 2D or 3D.

    Parameters
    ----------
    in_channels, out_channels : int
    modes : int or sequence of ints
        Retained modes per axis (an int means 1D); the block is
        ``(2 m_0, ..., 2 m_{d-2}, m_{d-1})``. Inputs need ``N_j >= 2 m_j``.
    factorization : {None, "dense", "cp", "tucker", "tt"}
        Weight format; dense weights are stored modes first as real pairs ``[*block, C_in, 2, C_out]``
        (:meth:`~sciml.kernels.DenseSpectralWeight.dense_pairs` is the ``[C_in, C_out, *block, 2]`` view).
    rank : int or sequence of ints, optional
        Rank of a factorized weight.
    path : {"auto", "reference", "dft", "cupy"}
        Transform / mixing implementation; ``"auto"`` picks from the input
        (:func:`~sciml.kernels.choose_path`).
    contraction : {"auto", "direct", "dense"}
        How a factorized weight is contracted (with its factors, or rebuilt first).
    norm : {"forward", "backward", "ortho"}
    bias : bool
        Add a learnable per-channel bias.
    dtype : torch.float32 or torch.float64
        Parameter dtype. Inputs in float16/bfloat16 are computed in float32 and the output
        is cast back to the input dtype.
    weight : SpectralWeight, optional
        A ready weight of shape ``(in_channels, out_channels, *block)`` used instead of drawing
        one (``factorization``/``rank`` are then taken from it and must not be given).

    Examples
    --------
    >>> layer = SpectralConv(3, 5, modes=(8, 8))
    >>> layer(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 5, 32, 32])
    >>> layer(torch.randn(2, 3, 64, 48)).shape                       # any resolution >= 2 * modes
    torch.Size([2, 5, 64, 48])
    >>> layer(torch.randn(2, 3, 32, 32), out_size=(128, 128)).shape  # super-resolution
    torch.Size([2, 5, 128, 128])
    """

    def __init__(self, in_channels: int, out_channels: int, modes: int | Sequence[int],
                 factorization: str | None = None, rank=None, path: str = "auto",
                 contraction: str = "auto", norm: str = "forward", bias: bool = False,
                 dtype: torch.dtype = torch.float32, weight: SpectralWeight | None = None):
        super().__init__()
        self.modes = as_int_tuple(modes, "modes", 1 if isinstance(modes, int) else None)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.path, self.norm = check_path(path), check_norm(norm)
        if contraction not in STRATEGIES:
            raise ValueError(f"contraction: expected one of {STRATEGIES}, got {contraction!r}")
        self.contraction = contraction
        if weight is None:
            self.factorization = factorization
            self.weight = make_spectral_weight(self.in_channels, self.out_channels, block_shape(self.modes),
                                               factorization, rank, dtype)
        else:
            self.factorization = self._check_weight(weight, factorization, rank)
            self.weight = weight
        self.bias = nn.Parameter(torch.zeros(self.out_channels, dtype=dtype)) if bias else None

    def _check_weight(self, weight, factorization, rank) -> str:
        """Validate a given weight; returns its format name."""
        if not isinstance(weight, SpectralWeight):
            raise TypeError(f"weight: expected a sciml.kernels.SpectralWeight, got {type(weight).__name__}")
        if factorization is not None or rank is not None:
            raise ValueError("factorization, rank: must not be given together with a ready weight")
        expected = (self.in_channels, self.out_channels, *block_shape(self.modes))
        actual = (weight.in_channels, weight.out_channels, *weight.block)
        if actual != expected:
            raise ValueError(f"weight: expected shape {expected} (in, out, *block), got {actual}")
        names = {DenseSpectralWeight: "dense", CPSpectralWeight: "cp", TuckerSpectralWeight: "tucker",
                 TTSpectralWeight: "tt"}
        return next((name for cls, name in names.items() if isinstance(weight, cls)), type(weight).__name__)

    def forward(self, x: torch.Tensor, out_size: Sequence[int] | None = None, path: str | None = None) -> torch.Tensor:
        d = len(self.modes)
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x: expected a torch.Tensor [batch, channels, *spatial], got {type(x).__name__}")
        if x.ndim != d + 2 or x.shape[1] != self.in_channels:
            raise ValueError(f"x: expected shape [batch, {self.in_channels}, {', '.join(['N'] * d)}] for modes "
                             f"{self.modes}, got {tuple(x.shape)}")
        spatial = tuple(x.shape[2:])
        check_resolution(spatial, self.modes, "x")
        out_size = spatial if out_size is None else as_int_tuple(out_size, "out_size", d)
        check_resolution(out_size, self.modes, "out_size")
        chosen = choose_path(x, spatial, self.modes, check_path(path or self.path))
        if chosen == "dft":    # real modes-first layout end to end: no complex tensor, one reordering each way
            stacked = self.weight.contract_modes_first(rfft_modes_first(x, self.modes, self.norm), self.contraction)
            y = irfft_modes_first(stacked, self.modes, out_size, self.norm)
        else:
            block = rfft_modes(x, self.modes, norm=self.norm, path=chosen)
            if chosen == "cupy" and isinstance(self.weight, DenseSpectralWeight):
                mixed = cupy_mix_modes(block, self.weight.dense_pairs().contiguous())
            else:
                mixed = self.weight.contract(block, self.contraction)
            y = irfft_modes(mixed, out_size, norm=self.norm, path=chosen)
        if self.bias is not None:
            y = y + self.bias.to(y.dtype).view(-1, *([1] * d))
        return y.to(x.dtype) if x.dtype in (torch.float16, torch.bfloat16) else y

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, modes={self.modes}, "
                f"factorization={self.factorization!r}, path={self.path!r}, norm={self.norm!r}")
