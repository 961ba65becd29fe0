r"""Helpers around :class:`sciml.kernels.SpectralConv`: the retained block and resolution checks.

The spectral convolution itself -- truncated transforms, mode mixing with dense or
factorized weights, path dispatch -- is :class:`sciml.kernels.SpectralConv`; operators build
one per Fourier block with :func:`make_spectral_conv` and, where their weights are initialised
or shared differently (TFNO's tensorly fits, MG-TFNO's joint Tucker), swap in another
:class:`sciml.kernels.SpectralWeight` of the same block.

Examples
--------
>>> block_of_modes((16, 16))
(32, 16)
>>> conv = make_spectral_conv(4, (8, 8))
>>> conv(torch.randn(2, 4, 32, 32)).shape
torch.Size([2, 4, 32, 32])
"""

from __future__ import annotations

from collections.abc import Sequence

from sciml.kernels import SpectralConv, SpectralWeight, check_resolution
from sciml.kernels import block_shape as block_of_modes  # the shape of the retained block

__all__ = ["block_of_modes", "check_resolution", "make_spectral_conv"]


def make_spectral_conv(width: int, modes: Sequence[int], weight: SpectralWeight | None = None,
                       path: str = "auto", contraction: str = "auto") -> SpectralConv:
    """A square ``width -> width`` :class:`~sciml.kernels.SpectralConv`, optionally with a given weight.

    Parameters
    ----------
    width : int
    modes : sequence of int
    weight : SpectralWeight, optional
        Used instead of drawing a dense weight (its block must match ``modes``).
    path, contraction : str
        See :class:`~sciml.kernels.SpectralConv`.
    """
    return SpectralConv(width, width, tuple(modes), path=path, contraction=contraction, weight=weight)


