"""FNO ``oversampling``: the fine grid, the forward pass against an independent reference, gradients, config."""

from __future__ import annotations

import pytest
import torch
from operator_helpers import periodic_grid

import sciml
from sciml.operators import FNO, TFNO, FNOConfig, MGTFNOConfig, TFNOConfig
from sciml.operators.fno import oversampled_grid


def small_config(cls=FNOConfig, **fields):
    return cls(in_channels=2, out_channels=1, width=6, modes=(4, 3), n_layers=2, domain_padding=0.1, **fields)


def reference_oversampled(plain: FNO, values: torch.Tensor, on: sciml.Grid, factor: int) -> torch.Tensor:
    """Independent path: sciml.resample (linear) to the fine grid, the plain model there, resample back."""
    fine = on.with_shape([factor * (n - 1) + 1 if on.kinds[0] == "node" else factor * n for n in on.shape])
    upsampled = sciml.resample(sciml.Sampled(values, on), fine, "linear")
    out = plain(upsampled)
    return sciml.resample(out, on, "linear").values


@pytest.mark.parametrize("centring,shape,factor", [("node", (9, 7), 2), ("node", (8, 8), 3), ("cell", (8, 10), 2)])
def test_oversampled_forward_matches_resample_reference(centring, shape, factor):
    torch.manual_seed(0)
    model = FNO(small_config(oversampling=factor)).double()
    plain = FNO(small_config()).double()
    plain.load_state_dict(model.state_dict())        # same weights: oversampling adds no parameters
    grid = sciml.Grid.uniform(shape, centring=centring)
    values = torch.randn(3, 2, *shape, dtype=torch.float64)
    out = model(sciml.Sampled(values, grid))
    assert out.on == grid
    # float64; the two interpolations differ only in rounding (F.interpolate vs sciml.resample stencils)
    torch.testing.assert_close(out.values, reference_oversampled(plain, values, grid, factor), rtol=0, atol=1e-12)


def test_oversampled_node_grid_contains_the_input_nodes_and_keeps_their_values():
    grid = sciml.Grid.uniform((32, 17))
    fine = oversampled_grid(grid, 2)
    assert fine.shape == (63, 33) and fine.kinds == grid.kinds and fine.domain == grid.domain
    for coarse_axis, fine_axis in zip(grid.coordinates(torch.float64), fine.coordinates(torch.float64)):
        torch.testing.assert_close(fine_axis[::2], coarse_axis, rtol=0, atol=1e-15)
    # the fine model's output is read back exactly at the input nodes: a model whose network is the
    # identity on the channel returns its input unchanged
    model = FNO(FNOConfig(1, 1, width=1, modes=(2, 2), n_layers=1, oversampling=3)).double()
    model.forward_network = lambda values, on: values                      # the interpolation alone
    values = torch.randn(2, 1, 32, 17, dtype=torch.float64)
    torch.testing.assert_close(model(sciml.Sampled(values, grid)).values, values, rtol=0, atol=1e-14)


def test_oversampled_linear_input_is_interpolated_exactly():
    # multilinear interpolation reproduces a bilinear function: the network sees its exact fine samples
    grid = sciml.Grid.uniform((9, 11))
    seen = {}
    model = FNO(FNOConfig(1, 1, width=1, modes=(2, 2), n_layers=1, oversampling=2)).double()

    def capture(values, on):
        seen["values"], seen["on"] = values, on
        return values
    model.forward_network = capture
    x, y = grid.mesh(torch.float64).unbind(-1)
    model(sciml.Sampled((1 + 2 * x - 3 * y + 4 * x * y)[None, None], grid))
    fx, fy = seen["on"].mesh(torch.float64).unbind(-1)
    torch.testing.assert_close(seen["values"][0, 0], 1 + 2 * fx - 3 * fy + 4 * fx * fy, rtol=0, atol=1e-13)


def test_oversampled_gradients_pass_gradcheck():
    torch.manual_seed(1)
    model = FNO(FNOConfig(1, 1, width=3, modes=(2, 2), n_layers=1, domain_padding=0.2, oversampling=2)).double()
    grid = sciml.Grid.uniform((5, 6))
    values = torch.randn(1, 1, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: model(sciml.Sampled(v, grid)).values, (values,), eps=1e-6, atol=1e-7)


def test_tfno_inherits_oversampling():
    torch.manual_seed(2)
    model = TFNO(small_config(TFNOConfig, oversampling=2)).double()
    grid = sciml.Grid.uniform((9, 9))
    values = torch.randn(2, 2, 9, 9, dtype=torch.float64)
    plain = TFNO(small_config(TFNOConfig)).double()
    plain.load_state_dict(model.state_dict())
    torch.testing.assert_close(model(sciml.Sampled(values, grid)).values,
                               reference_oversampled(plain, values, grid, 2), rtol=0, atol=1e-12)


def test_default_is_the_plain_network():
    torch.manual_seed(3)
    model = FNO(small_config())
    assert model.config.oversampling == 1
    grid = sciml.Grid.uniform((12, 10))
    values = torch.randn(2, 2, 12, 10)
    assert torch.equal(model(sciml.Sampled(values, grid)).values, model.forward_network(values, grid))


def test_oversampling_errors_name_the_argument():
    model = FNO(FNOConfig(1, 1, width=2, modes=(2, 2), n_layers=1, oversampling=2))
    with pytest.raises(ValueError, match="on: oversampling=2 needs a non-periodic grid"):
        model(sciml.Sampled(torch.randn(1, 1, 8, 8), periodic_grid((8, 8))))
    mixed = sciml.Grid([sciml.GridAxis("node", 8, 0.0, 1.0), sciml.GridAxis("cell", 8, 0.0, 1.0)])
    with pytest.raises(ValueError, match="all 'node' or all 'cell'"):
        model(sciml.Sampled(torch.randn(1, 1, 8, 8), mixed))
    with pytest.raises(ValueError, match="oversampling: expected an integer >= 1"):
        FNOConfig(1, 1, oversampling=0)
    with pytest.raises(TypeError, match="oversampling: expected an integer"):
        FNOConfig(1, 1, oversampling=2.0)
    with pytest.raises(ValueError, match="oversampling: MG-TFNO"):
        MGTFNOConfig(1, 1, modes=(4, 4), oversampling=2)
    with pytest.raises(ValueError, match="factor: expected an integer >= 1"):
        oversampled_grid(sciml.Grid.uniform((8, 8)), 0)


def test_config_round_trip_and_old_configs_default_to_one():
    config = FNOConfig(1, 1, width=8, modes=(4, 4), oversampling=2)
    assert sciml.config_from_dict(FNOConfig, sciml.config_to_dict(config)) == config
    old = sciml.config_to_dict(FNOConfig(1, 1, width=8, modes=(4, 4)))
    del old["oversampling"]                       # a config saved before the field existed
    assert sciml.config_from_dict(FNOConfig, old).oversampling == 1
