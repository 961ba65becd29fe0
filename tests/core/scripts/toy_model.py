"""A tiny registered operator and a linear operator problem for the training tests.

Importable from test files and from the subprocess scripts next to it (both
put this folder on ``sys.path`` and ``import toy_model``, so the model is
registered once per process).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

import sciml


@dataclass
class ToyConfig:
    in_channels: int = 1
    out_channels: int = 1
    hidden: int = 8
    dropout: float = 0.0


@sciml.register_model("tests.toy_operator")
class ToyOperator(sciml.Operator):
    r"""Pointwise linear layers plus a quadrature mean term: a linear operator

    :math:`u(x) = W_2 (W_1 a(x) + M \int a + b_1) + b_2` (with optional dropout),
    able to represent the target operator :math:`u = 2a + \int a` exactly.
    """

    config_class = ToyConfig

    def __init__(self, config: ToyConfig):
        super().__init__()
        self.config = config
        self.lift = nn.Linear(config.in_channels, config.hidden)
        self.mean_weight = nn.Parameter(torch.zeros(config.hidden, config.in_channels))
        self.dropout = nn.Dropout(config.dropout)
        self.project = nn.Linear(config.hidden, config.out_channels)

    def forward_values(self, values, on):
        weights = on.weights_shaped(values.dtype, values.device)
        integral = (values * weights).flatten(2).sum(-1)                      # [B, C]
        hidden = self.lift(values.movedim(1, -1))                             # [B, *s, H]
        hidden = hidden + (integral @ self.mean_weight.T).reshape(len(values), *(1,) * (values.ndim - 2), -1)
        return self.project(self.dropout(hidden)).movedim(-1, 1)


def make_model(seed: int = 0, dtype=torch.float32, **config) -> ToyOperator:
    torch.manual_seed(seed)
    return ToyOperator(ToyConfig(**config)).to(dtype)


def make_data(n: int = 32, size: int = 32, seed: int = 0, dtype=torch.float32) -> sciml.OperatorDataset:
    """Random smooth inputs ``a = sum_k c_k sin(k pi x) + c_0`` and targets ``u = 2 a + \\int a``."""
    generator = torch.Generator().manual_seed(seed)
    grid = sciml.Grid.uniform(size)
    x = grid.mesh(torch.float64)[..., 0]
    coefficients = torch.randn(n, 5, generator=generator, dtype=torch.float64)
    modes = torch.stack([torch.ones_like(x)] + [torch.sin(k * torch.pi * x) for k in range(1, 5)])
    a = (coefficients @ modes)[:, None]                                       # [n, 1, size]
    integral = (a * grid.weights_shaped(torch.float64)).sum(-1, keepdim=True)
    u = 2 * a + integral
    return sciml.OperatorDataset(sciml.Sampled(a.to(dtype), grid), sciml.Sampled(u.to(dtype), grid))


def flat_weights(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.state_dict().values()])
