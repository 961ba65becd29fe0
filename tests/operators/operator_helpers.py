"""Shared builders for the operator tests."""

from __future__ import annotations

import math

import torch

import sciml


def periodic_grid(shape, lengths=None) -> sciml.Grid:
    """Node-centred periodic grid on ``[0, L_0) x ...`` (unit box by default)."""
    lengths = lengths or (1.0,) * len(shape)
    return sciml.Grid.uniform(tuple(shape), sciml.Domain([(0.0, length) for length in lengths], periodic=True))


def band_limited(grid: sciml.Grid, batch: int, channels: int, max_frequency: int, seed: int = 0,
                 dtype=torch.float64) -> torch.Tensor:
    """Random trigonometric polynomials of degree ``max_frequency`` per axis sampled on ``grid``."""
    generator = torch.Generator().manual_seed(seed)
    coords = [c.to(dtype) for c in grid.coordinates()]
    lengths = grid.domain.lengths
    out = torch.zeros(batch, channels, *grid.shape, dtype=dtype)
    freqs = range(-max_frequency, max_frequency + 1)
    d = grid.ndim
    import itertools
    for k in itertools.product(freqs, repeat=d):
        phase = sum(2 * math.pi * kj * x.view(*([1] * j), -1, *([1] * (d - j - 1))) / lj
                    for j, (kj, x, lj) in enumerate(zip(k, coords, lengths)))
        a = torch.randn(batch, channels, 1, generator=generator, dtype=dtype).view(batch, channels, *([1] * d))
        b = torch.randn(batch, channels, 1, generator=generator, dtype=dtype).view(batch, channels, *([1] * d))
        out = out + a * torch.cos(phase) + b * torch.sin(phase)
    return out / len(freqs) ** d


def fourier_interpolate(values: torch.Tensor, shape) -> torch.Tensor:
    """Trigonometric interpolation of periodic samples ``[..., *n]`` to ``shape`` (odd-size safe inputs)."""
    d = len(shape)
    spectrum = torch.fft.fftn(values, dim=tuple(range(-d, 0)), norm="forward")
    for axis, (n, m) in enumerate(zip(values.shape[-d:], shape)):
        dim = axis - d
        half = n // 2
        spectrum = torch.cat([spectrum.narrow(dim, 0, half),
                              spectrum.new_zeros(*spectrum.shape[:values.ndim + dim], m - n,
                                                 *spectrum.shape[values.ndim + dim + 1:]),
                              spectrum.narrow(dim, half, n - half)], dim=dim)
    return torch.fft.ifftn(spectrum, dim=tuple(range(-d, 0)), norm="forward").real
