r"""The Fourier block: spectral convolution, pointwise skip, channel MLP, normalisation.

With :math:`K` the spectral layer, :math:`S` the skip, :math:`M` the channel MLP with its
own skip :math:`S'`, :math:`N_1, N_2` the normalisations and :math:`\sigma` the activation,

.. math::
    z = N_1(K v) + S v, \qquad
    \mathcal L v = \sigma\Big(N_2\big(M(\sigma(z)) + S' v\big)\Big)

(without a channel MLP, :math:`\mathcal L v = \sigma(z)`); the last block of a network omits
the final :math:`\sigma`. This follows neuraloperator's non-preactivation ``FNOBlocks``.

Examples
--------
>>> from sciml.kernels import SpectralConv
>>> block = FourierBlock(SpectralConv(8, 8, modes=(4,)), BlockConfig())
>>> block(torch.randn(2, 8, 16)).shape
torch.Size([2, 8, 16])
"""

from __future__ import annotations

import torch
from torch import nn

from sciml.kernels import SpectralConv

from .config import BlockConfig
from .layers import ChannelMLP, make_activation, make_norm, make_skip

__all__ = ["FourierBlock"]


class FourierBlock(nn.Module):
    """One Fourier layer of width ``spectral.in_channels`` (= ``out_channels``).

    Parameters
    ----------
    spectral : sciml.kernels.SpectralConv
        Square (``in_channels == out_channels``) spectral convolution.
    config : BlockConfig
    last : bool
        Skip the final activation (the last block of a network).
    """

    def __init__(self, spectral: SpectralConv, config: BlockConfig, last: bool = False):
        super().__init__()
        width = spectral.in_channels
        if spectral.out_channels != width:
            raise ValueError(f"spectral: expected a square layer, got {spectral.in_channels} -> "
                             f"{spectral.out_channels} channels")
        self.spectral = spectral
        self.skip = make_skip(config.skip, width)
        self.norm = make_norm(config.norm, width, config.norm_groups)
        self.activation = make_activation(config.activation)
        self.channel_mlp = None
        if config.channel_mlp:
            hidden = max(1, int(round(config.channel_mlp_expansion * width)))
            self.channel_mlp = ChannelMLP(width, width, hidden, config.activation)
            self.channel_mlp_skip = make_skip(config.channel_mlp_skip, width)
            self.channel_mlp_norm = make_norm(config.norm, width, config.norm_groups)
        self.last = last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.norm(self.spectral(x))
        if self.skip is not None:
            z = z + self.skip(x)
        if self.channel_mlp is not None:
            y = self.channel_mlp(self.activation(z))
            if self.channel_mlp_skip is not None:
                y = y + self.channel_mlp_skip(x)
            z = self.channel_mlp_norm(y)
        return z if self.last else self.activation(z)
