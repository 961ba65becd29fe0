r"""Reduced-order Transform Once: a small U-Net on the block of kept modes.

T1's layers see the kept modes as a small ``m_0 x ... x m_{d-1}`` array (Poli et al., 2022, the
reduced-order frequency-domain models). :class:`TransformOnceUNet` replaces the stack of
:class:`~sciml.operators.transform_once.ModeMixingLayer` s with a U-Net on that array:
``3^d`` convolutions couple neighbouring frequencies, average pooling halves the mode grid per
level (coarse frequency bands), nearest upsampling and skip concatenations restore it, and a
residual keeps the lifted modes:

.. math::
    \hat z \mapsto \hat z + C_{1 \times 1}\big(\mathrm{UNet}(\hat z)\big).

The block never depends on the grid, so neither does the U-Net: the model is as
resolution-agnostic as :class:`~sciml.operators.transform_once.TransformOnce`. With the FFT
the leading mode axes are rolled to increasing frequency (``-m .. m-1``) before the
convolutions, so neighbours in the array are neighbours in frequency, and the complex block
enters the U-Net as real and imaginary channels (``2 width``). The U-Net's activations act on
the mode array; ``nonlinearity`` (the head's activation) defaults to ``"modes"`` here, which fit
the Neumann heat test problem better (relative L2 0.04-0.06 against 0.09-0.13 with
``"collocation"``, seeds 0 and 1).

Examples
--------
>>> config = TransformOnceUNetConfig(in_channels=1, out_channels=1, width=8, modes=(8, 8), unet_levels=2)
>>> model = TransformOnceUNet(config)
>>> grid = sciml.Grid.uniform((32, 32), sciml.Domain.unit(2, periodic=True))
>>> model(sciml.Sampled(torch.randn(2, 1, 32, 32), grid)).values.shape
torch.Size([2, 1, 32, 32])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional

import sciml

from .config import _check_int
from .layers import make_activation
from .transform_once import TransformOnce, TransformOnceConfig

__all__ = ["ModeUNet", "TransformOnceUNet", "TransformOnceUNetConfig"]

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_POOL = {1: functional.avg_pool1d, 2: functional.avg_pool2d, 3: functional.avg_pool3d}


@dataclass
class TransformOnceUNetConfig(TransformOnceConfig):
    """T1 with a U-Net on the mode block.

    All fields of :class:`~sciml.operators.transform_once.TransformOnceConfig`; ``n_layers`` is the
    number of ``3^d`` convolutions per U-Net level (each followed by the activation), and

    Parameters
    ----------
    nonlinearity : {"modes", "collocation"}
        The head's activation (default ``"modes"``; see the module docstring).
    unet_levels : int
        Poolings (levels below the top); channels double per level. The mode block must
        keep at least one mode per axis at the coarsest level: ``m_j >= 2 ** unet_levels``.
    """

    n_layers: int = 2
    unet_levels: int = 2
    nonlinearity: str = "modes"

    def __post_init__(self):
        super().__post_init__()
        _check_int(type(self).__name__, "unet_levels", self.unet_levels, 0)
        smallest = min(self.block)
        if smallest < 2 ** self.unet_levels:
            raise ValueError(f"unet_levels: expected at most log2(smallest mode block side {smallest}) = "
                             f"{smallest.bit_length() - 1} levels for block {self.block}, got {self.unet_levels}")


def _conv_stack(conv, channels_in: int, channels: int, n_layers: int, activation: str) -> nn.Sequential:
    layers = []
    for i in range(n_layers):
        layers += [conv(channels_in if i == 0 else channels, channels, 3, padding=1), make_activation(activation)]
    return nn.Sequential(*layers)


class ModeUNet(nn.Module):
    """U-Net on a mode block ``[B, width, *block]`` with a residual (see the module docstring).

    Parameters
    ----------
    width : int
    ndim : int
        Mode axes (1, 2 or 3).
    levels : int
        Poolings; channels ``width * 2**level``.
    n_layers : int
        Convolutions per level (encoder and decoder each).
    activation : str
    roll : tuple of int
        Shifts applied to the mode axes before the convolutions and undone after
        (``m_j`` on FFT's leading axes to order them by frequency, 0 otherwise).

    Examples
    --------
    >>> unet = ModeUNet(4, ndim=2, levels=1, n_layers=1, activation="gelu")
    >>> z = torch.randn(3, 4, 6, 5)
    >>> torch.equal(unet(z), z)           # the output convolution starts at zero: the identity
    True
    """

    def __init__(self, width: int, ndim: int, levels: int, n_layers: int, activation: str,
                 roll: tuple[int, ...] | None = None):
        super().__init__()
        conv = _CONV[ndim]
        self.ndim, self.roll = ndim, tuple(roll or (0,) * ndim)
        channels = [width * 2**level for level in range(levels + 1)]
        self.encoders = nn.ModuleList(
            _conv_stack(conv, channels[max(level - 1, 0)], channels[level], n_layers, activation)
            for level in range(levels + 1))
        self.decoders = nn.ModuleList(
            _conv_stack(conv, channels[level] + channels[level + 1], channels[level], n_layers, activation)
            for level in range(levels))
        self.output = conv(channels[0], width, 1)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != self.ndim + 2:
            raise ValueError(f"z: expected [batch, channels, *block] with {self.ndim} mode axes, got {tuple(z.shape)}")
        dims = tuple(range(2, 2 + self.ndim))
        x = torch.roll(z, self.roll, dims) if any(self.roll) else z
        skips = []
        for level, encoder in enumerate(self.encoders):
            if level:
                x = _POOL[self.ndim](x, 2, ceil_mode=True)
            x = encoder(x)
            skips.append(x)
        for level in reversed(range(len(self.decoders))):
            skip = skips[level]
            x = functional.interpolate(x, size=skip.shape[2:], mode="nearest")
            x = self.decoders[level](torch.cat([skip, x], dim=1))
        update = self.output(x)
        if any(self.roll):
            update = torch.roll(update, tuple(-r for r in self.roll), dims)
        return z + update


class _RealParts(nn.Module):
    """Run a real module on a complex block as ``[real | imaginary]`` channels."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.module(torch.cat([z.real, z.imag], dim=1))
        return torch.complex(*out.chunk(2, dim=1))


@sciml.register_model("t1-unet")
class TransformOnceUNet(TransformOnce):
    """Reduced-order T1: :class:`ModeUNet` as the processor of the mode block.

    Parameters
    ----------
    config : TransformOnceUNetConfig
    """

    config_class = TransformOnceUNetConfig

    def _make_processor(self) -> nn.Module:
        config = self.config
        if config.transform == "dct":
            return ModeUNet(config.width, config.ndim, config.unet_levels, config.n_layers, config.activation)
        roll = tuple(config.modes[:-1]) + (0,)
        return _RealParts(ModeUNet(2 * config.width, config.ndim, config.unet_levels, config.n_layers,
                                   config.activation, roll))

    @classmethod
    def bench_config(cls, profile, grid) -> dict:
        """T1's bench sizes with two convolutions per level and as many levels as the block allows (at most 2)."""
        config = super().bench_config(profile, grid)
        config.update(n_layers=2, unet_levels=min(2, min(config["modes"]).bit_length() - 1))
        return config
