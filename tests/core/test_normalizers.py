"""Normalizers: statistics against NumPy, round trips, serialization, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sciml import GaussianNormalizer, Grid, MinMaxNormalizer, Normalizer, Sampled

ROUND_TRIP_TOL = {torch.float32: 1e-6, torch.float64: 1e-12}  # relative to the data's scale


def _data(dtype=torch.float64, seed=0):
    """[6, 3, 10, 8] with per-channel offsets and scales far from 0 and 1."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(6, 3, 10, 8, dtype=torch.float64, generator=generator)
    offset = torch.tensor([5.0, -20.0, 0.0], dtype=torch.float64)[:, None, None]
    scale = torch.tensor([0.1, 30.0, 1.0], dtype=torch.float64)[:, None, None]
    return (offset + scale * noise).to(dtype)


def _normalizers():
    return [GaussianNormalizer(3), MinMaxNormalizer(3, low=-1.0, high=2.0)]


def test_gaussian_statistics_match_numpy():
    data = _data()
    normalizer = GaussianNormalizer(3).fit(data)
    array = data.numpy()
    np.testing.assert_allclose(normalizer.mean.numpy(), array.mean(axis=(0, 2, 3)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(normalizer.std.numpy(), array.std(axis=(0, 2, 3)), rtol=1e-12, atol=0)
    encoded = normalizer.encode(data).numpy()
    np.testing.assert_allclose(encoded.mean(axis=(0, 2, 3)), 0.0, atol=1e-12)
    np.testing.assert_allclose(encoded.std(axis=(0, 2, 3)), 1.0, atol=1e-12)


def test_minmax_statistics_match_numpy_and_map_onto_the_interval():
    data = _data()
    normalizer = MinMaxNormalizer(3, low=-1.0, high=2.0).fit(data)
    array = data.numpy()
    np.testing.assert_array_equal(normalizer.minimum.numpy(), array.min(axis=(0, 2, 3)))
    np.testing.assert_array_equal(normalizer.maximum.numpy(), array.max(axis=(0, 2, 3)))
    encoded = normalizer.encode(data).numpy()
    np.testing.assert_allclose(encoded.min(axis=(0, 2, 3)), -1.0, atol=1e-12)
    np.testing.assert_allclose(encoded.max(axis=(0, 2, 3)), 2.0, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("index", [0, 1], ids=["gaussian", "minmax"])
def test_round_trip(index, dtype):
    data = _data(dtype)
    normalizer = _normalizers()[index].fit(data)
    decoded = normalizer.decode(normalizer.encode(data))
    assert decoded.dtype == dtype
    scale = data.abs().amax(dim=(0, 2, 3), keepdim=True)
    assert float(((decoded - data).abs() / scale).max()) < ROUND_TRIP_TOL[dtype]


def test_sampled_in_sampled_out_on_the_same_grid():
    grid = Grid.uniform((10, 8))
    data = Sampled(_data(), grid, channel_names=["a", "b", "c"])
    normalizer = GaussianNormalizer(3).fit(data)
    encoded = normalizer.encode(data)
    assert isinstance(encoded, Sampled) and encoded.on == grid and encoded.channel_names == ("a", "b", "c")
    torch.testing.assert_close(encoded.values, normalizer.encode(data.values), atol=0, rtol=0)
    torch.testing.assert_close(normalizer.decode(encoded).values, data.values, atol=1e-12, rtol=0)


def test_fitting_chunks_equals_fitting_the_whole():
    data = 1e6 + _data()  # a large offset: the shifted sums must not lose the variance
    for whole, chunked in zip(_normalizers(), _normalizers()):
        whole.fit(data)
        chunked.fit(chunk for chunk in data.split([1, 3, 2]))
        for name in whole.statistic_names:
            torch.testing.assert_close(getattr(chunked, name), getattr(whole, name), atol=0, rtol=1e-10)
    np.testing.assert_allclose(whole.maximum.numpy(), data.numpy().max(axis=(0, 2, 3)))


def test_gradients_flow_through_encode():
    data = _data()
    normalizer = GaussianNormalizer(3).fit(data)
    x = data.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(normalizer.encode(x).sum(), x)
    torch.testing.assert_close(grad, (1 / normalizer.std)[None, :, None, None].expand_as(grad))


def test_constant_channel_is_not_divided_by_zero():
    data = _data()
    data[:, 1] = 7.0
    gaussian = GaussianNormalizer(3).fit(data)
    minmax = MinMaxNormalizer(3).fit(data)
    assert float(gaussian.std[1]) == 0.0
    assert torch.equal(gaussian.encode(data)[:, 1], torch.zeros_like(data[:, 1]))
    assert torch.equal(minmax.encode(data)[:, 1], torch.zeros_like(data[:, 1]))  # low
    for normalizer in (gaussian, minmax):
        torch.testing.assert_close(normalizer.decode(normalizer.encode(data)), data, atol=1e-12, rtol=0)


# -- serialization -----------------------------------------------------------------------------
@pytest.mark.parametrize("index", [0, 1], ids=["gaussian", "minmax"])
def test_state_dict_round_trip(index):
    data = _data()
    fitted = _normalizers()[index].fit(data)
    state = fitted.state_dict()
    assert set(state) == set(fitted.statistic_names) | {"fitted"}
    fresh = _normalizers()[index]
    assert not fresh.is_fitted
    fresh.load_state_dict(state)
    assert fresh.is_fitted
    torch.testing.assert_close(fresh.encode(data), fitted.encode(data), atol=0, rtol=0)


@pytest.mark.parametrize("index", [0, 1], ids=["gaussian", "minmax"])
def test_to_dict_json_round_trip(index):
    data = _data()
    fitted = _normalizers()[index].fit(data)
    description = json.loads(json.dumps(fitted.to_dict()))
    restored = Normalizer.from_dict(description)
    assert type(restored) is type(fitted) and restored.to_dict() == fitted.to_dict()
    torch.testing.assert_close(restored.encode(data), fitted.encode(data), atol=0, rtol=0)
    unfitted = Normalizer.from_dict(_normalizers()[index].to_dict())
    assert not unfitted.is_fitted


def test_to_dict_contents():
    description = MinMaxNormalizer(2, low=-1, high=1).fit(torch.tensor([[[0.0], [1.0]], [[2.0], [5.0]]])).to_dict()
    assert description == {"kind": "MinMaxNormalizer", "channels": 2, "eps": 1e-6, "low": -1.0, "high": 1.0,
                           "fitted": True, "statistics": {"minimum": [0.0, 1.0], "maximum": [2.0, 5.0]}}


def test_float32_module_encodes_float32():
    data = _data(torch.float32)
    normalizer = GaussianNormalizer(3).fit(data).to(torch.float32)
    assert normalizer.mean.dtype == torch.float32 and normalizer.is_fitted
    assert normalizer.encode(data).dtype == torch.float32


# -- errors ------------------------------------------------------------------------------------
def test_encode_before_fit_raises():
    with pytest.raises(RuntimeError, match="GaussianNormalizer: not fitted; call fit"):
        GaussianNormalizer(3).encode(_data())
    with pytest.raises(RuntimeError, match="MinMaxNormalizer: not fitted"):
        MinMaxNormalizer(3).decode(_data())


def test_argument_errors_name_the_argument():
    normalizer = GaussianNormalizer(2)
    with pytest.raises(ValueError, match=r"data: expected 2 channels in dimension 1 .* got shape \(6, 3, 10, 8\)"):
        normalizer.fit(_data())
    with pytest.raises(ValueError, match=r"data\[1\]: expected 2 channels"):
        normalizer.fit([torch.zeros(2, 2, 4), torch.zeros(2, 3, 4)])
    normalizer.fit(torch.rand(2, 2, 4))
    with pytest.raises(ValueError, match=r"x: expected 2 channels in dimension 1 .* got shape \(4,\)"):
        normalizer.encode(torch.zeros(4))
    with pytest.raises(TypeError, match="x: expected Sampled or torch.Tensor, got list"):
        normalizer.encode([1.0, 2.0])
    with pytest.raises(TypeError, match="x: expected real values"):
        normalizer.encode(torch.zeros(1, 2, 3, dtype=torch.complex64))
    with pytest.raises(ValueError, match="data: expected at least one batch"):
        normalizer.fit([])
    with pytest.raises(ValueError, match="high: expected a value above low=1.0, got 0.0"):
        MinMaxNormalizer(1, low=1.0, high=0.0)
    with pytest.raises(ValueError, match="eps: expected a finite number > 0"):
        GaussianNormalizer(1, eps=0.0)
    with pytest.raises(ValueError, match="channels: expected an integer >= 1"):
        GaussianNormalizer(0)
    with pytest.raises(ValueError, match=r"data\['kind'\]: expected one of"):
        Normalizer.from_dict({"kind": "Unknown"})
    bad = GaussianNormalizer(2).fit(torch.rand(2, 2, 4)).to_dict()
    bad["statistics"]["mean"] = [0.0]
    with pytest.raises(ValueError, match=r"data\['statistics'\]\['mean'\]: expected 2 values"):
        Normalizer.from_dict(bad)


@pytest.mark.parametrize("kind", [GaussianNormalizer, MinMaxNormalizer])
def test_fit_refuses_non_finite_data_naming_the_chunk(kind):
    grid = Grid.uniform((10, 8))
    for bad in (float("nan"), float("inf")):
        data = _data()
        data[4, 1, 2, 3] = bad
        normalizer = kind(3)
        with pytest.raises(ValueError, match=r"^data: expected finite values, found \d NaN and \d infinite"):
            normalizer.fit(data)
        with pytest.raises(ValueError, match=r"^data: expected finite values"):
            normalizer.fit(Sampled(data, grid, validate=False))
        with pytest.raises(ValueError, match=r"^data\[2\]: expected finite values"):
            normalizer.fit(iter([_data(seed=1), _data(seed=2), data]))
        with pytest.raises(ValueError, match=r"^data\[0\]: expected finite values"):
            normalizer.fit([data])
        assert not normalizer.is_fitted
        assert all(torch.equal(getattr(normalizer, name), torch.zeros(3, dtype=torch.float64))
                   for name in normalizer.statistic_names)


@pytest.mark.parametrize(
    "change, match",
    [({"extra": 1}, r"data: unknown entries \['extra'\] for GaussianNormalizer"),
     ({"channels": None}, r"data: cannot rebuild GaussianNormalizer .*channels: expected an integer, got NoneType"),
     ({"eps": "small"}, r"data: cannot rebuild GaussianNormalizer .*eps: expected a finite number > 0, got str"),
     ({"kind": ["GaussianNormalizer"]}, r"data\['kind'\]: expected one of"),
     ({"fitted": 1}, r"data\['fitted'\]: expected true or false, got 1"),
     ({"statistics": [[0.0], [1.0]]}, r"data\['statistics'\]: expected a dict of name -> list, got list"),
     ({"statistics": {"mean": ["zero"], "std": [1.0]}}, r"data\['statistics'\]\['mean'\]: expected 1 numbers"),
     ({"statistics": {"mean": [0.0], "std": [float("inf")]}}, r"data\['statistics'\]\['std'\]: expected finite"),
     ],
)
def test_from_dict_refuses_foreign_descriptions_with_value_error(change, match):
    data = GaussianNormalizer(1).fit(torch.rand(2, 1, 4)).to_dict()
    with pytest.raises(ValueError, match=match):
        Normalizer.from_dict({**data, **change})
    without_channels = {k: v for k, v in data.items() if k != "channels"}
    with pytest.raises(ValueError, match=r"data: missing entries \['channels'\] for GaussianNormalizer"):
        Normalizer.from_dict(without_channels)
