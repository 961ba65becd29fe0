"""Regression tests for bugs found in review of the spectral core (each failed before its fix)."""

import pytest
import torch

from sciml.kernels import SpectralConv, make_spectral_weight


def test_layer_trains_after_its_first_call_ran_under_inference_mode():
    conv = SpectralConv(2, 2, (4, 4), path="dft")
    x = torch.randn(1, 2, 16, 16)
    with torch.inference_mode():
        expected = conv(x)
    out = conv(x)
    out.square().sum().backward()  # raised "Inference tensors cannot be saved for backward"
    torch.testing.assert_close(out.detach(), expected)
    assert all(p.grad is not None for p in conv.parameters())


def test_dense_weight_accepts_the_direct_contraction():
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    direct = SpectralConv(3, 2, (4, 4), contraction="direct", dtype=torch.float64)
    dense = SpectralConv(3, 2, (4, 4), contraction="dense", dtype=torch.float64)
    dense.load_state_dict(direct.state_dict())
    torch.testing.assert_close(direct(x), dense(x), rtol=0, atol=0)


@pytest.mark.parametrize("kind, rank", [("cp", 0.1), ("tt", 0.1), ("tucker", (4, 0, 2, 2)), ("cp", 2.7)])
def test_bad_ranks_are_rejected_with_a_clear_message(kind, rank):
    with pytest.raises(ValueError, match="rank: expected a positive integer rank"):
        make_spectral_weight(4, 4, (8, 4), kind, rank=rank)
