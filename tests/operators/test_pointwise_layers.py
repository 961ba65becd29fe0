"""Pointwise layers of the Fourier operators against their torch definitions (fp64)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sciml.operators.layers import ChannelLinear, ChannelMLP, SoftGating


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("spatial", [(7,), (5, 6), (3, 4, 5)])
def test_channel_linear_is_a_1x1_convolution(bias, spatial):
    """The batched-GEMM forward equals ``conv1d`` with the stored weight, values and gradients."""
    torch.manual_seed(0)
    layer = ChannelLinear(3, 4, bias=bias).double()
    x = torch.randn(2, 3, *spatial, dtype=torch.float64, requires_grad=True)
    expected = F.conv1d(x.flatten(2), layer.weight, layer.bias).unflatten(2, spatial)
    out = layer(x)
    torch.testing.assert_close(out, expected, rtol=1e-13, atol=1e-13)
    probe = torch.randn_like(out)
    params = [x, *layer.parameters()]
    for g, g_ref in zip(torch.autograd.grad((out * probe).sum(), params),
                        torch.autograd.grad((expected * probe).sum(), params)):
        torch.testing.assert_close(g, g_ref, rtol=1e-13, atol=1e-13)
    assert torch.autograd.gradcheck(layer, (x[:1, :, :2],))


def test_channel_mlp_and_soft_gating_match_their_formulas():
    torch.manual_seed(1)
    mlp = ChannelMLP(3, 2, hidden=5).double()
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    first, second = mlp.layers[0], mlp.layers[2]
    hidden = torch.einsum("oi,bihw->bohw", first.weight[..., 0], x) + first.bias[:, None, None]
    expected = torch.einsum("oi,bihw->bohw", second.weight[..., 0], F.gelu(hidden)) + second.bias[:, None, None]
    torch.testing.assert_close(mlp(x), expected, rtol=1e-13, atol=1e-13)
    gate = SoftGating(3).double()
    with torch.no_grad():
        gate.weight.copy_(torch.tensor([2.0, -1.0, 0.5]))
    torch.testing.assert_close(gate(x), x * torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64)[:, None, None])
    with pytest.raises(ValueError, match=r"x: expected \[batch, 3, \*spatial\]"):
        ChannelLinear(3, 4)(torch.randn(2, 5, 4))
