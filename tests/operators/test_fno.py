"""FNO: exact linear operators, resolution agnosticism, embeddings, padding, errors."""

from __future__ import annotations

import math

import pytest
import torch
from operator_helpers import band_limited, fourier_interpolate, periodic_grid

import sciml
from sciml.operators import FNO, BlockConfig, FNOConfig, grid_embedding


def linear_fno(modes, dtype=torch.float64) -> FNO:
    """One Fourier layer, identity lifting/projection, nothing else: ``u -> F^-1 (W F u)``."""
    config = FNOConfig(in_channels=1, out_channels=1, width=1, modes=modes, n_layers=1, lifting_ratio=0,
                       projection_ratio=0, positional_embedding=False,
                       block=BlockConfig(skip="none", channel_mlp=False))
    model = FNO(config).to(dtype)
    with torch.no_grad():
        for mlp in (model.lifting, model.projection):
            mlp.layers[0].weight.fill_(1.0)
            mlp.layers[0].bias.zero_()
    return model


def set_multiplier(model: FNO, multiplier) -> None:
    """Spectral weight ``W[0, 0, k] = multiplier(k)`` on the retained block (integer frequencies)."""
    modes = model.config.modes
    axes = [torch.cat([torch.arange(m), torch.arange(-m, 0)]) for m in modes[:-1]] + [torch.arange(modes[-1])]
    k = torch.meshgrid(*[a.double() for a in axes], indexing="ij")
    values = multiplier(k).to(torch.complex128)
    with torch.no_grad():
        model.blocks[0].spectral.weight.dense_pairs().copy_(torch.view_as_real(values)[None, None])


@pytest.mark.parametrize("modes,shape", [((12,), (64,)), ((8, 8), (32, 48))])
def test_single_layer_reproduces_heat_semigroup_exactly(modes, shape):
    # heat equation u_t = u_xx on the periodic unit box: u(t) = sum_k e^{-4 pi^2 |k|^2 t} u_k e_k
    t = 2e-3
    model = linear_fno(modes)
    set_multiplier(model, lambda k: torch.exp(-4 * math.pi**2 * t * sum(kj**2 for kj in k)))
    grid = periodic_grid(shape)
    x = grid.mesh()                                         # [*shape, d]
    u0 = torch.zeros(shape, dtype=torch.float64)
    exact = torch.zeros(shape, dtype=torch.float64)
    for k, amplitude in ((1, 1.0), (3, -0.5), (5, 0.25)):  # below the retained modes on every axis
        wave = torch.sin(2 * math.pi * k * x.sum(-1))
        u0 = u0 + amplitude * wave
        exact = exact + amplitude * math.exp(-4 * math.pi**2 * t * k**2 * len(shape)) * wave
    out = model(sciml.Sampled(u0[None, None], grid))
    assert out.on == grid
    torch.testing.assert_close(out.values[0, 0], exact, rtol=0, atol=1e-12)


def test_linear_model_is_exactly_resolution_agnostic():
    model = linear_fno((6, 6))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        model.blocks[0].spectral.weight.dense_pairs().copy_(torch.randn(1, 1, 12, 6, 2, generator=generator,
                                                                 dtype=torch.float64))
    coarse, fine = periodic_grid((32, 32)), periodic_grid((64, 64))
    u = band_limited(coarse, 3, 1, max_frequency=5, seed=2)
    u_fine = band_limited(fine, 3, 1, max_frequency=5, seed=2)   # same functions, finer samples
    out_coarse = model(sciml.Sampled(u, coarse)).values
    out_fine = model(sciml.Sampled(u_fine, fine)).values
    torch.testing.assert_close(out_fine, fourier_interpolate(out_coarse, (64, 64)), rtol=0, atol=1e-12)


def test_nonlinear_model_agrees_across_resolutions():
    torch.manual_seed(0)
    config = FNOConfig(in_channels=1, out_channels=1, width=8, modes=(6, 6), n_layers=2)
    model = FNO(config).double()
    coarse, fine = periodic_grid((32, 32)), periodic_grid((64, 64))
    u = band_limited(coarse, 2, 1, max_frequency=3, seed=3)
    u_fine = band_limited(fine, 2, 1, max_frequency=3, seed=3)
    out_coarse = model(sciml.Sampled(u, coarse)).values
    out_fine = model(sciml.Sampled(u_fine, fine)).values[..., ::2, ::2]     # the 32x32 points
    relative = (out_fine - out_coarse).norm() / out_coarse.norm()
    assert relative < 2e-2, f"32² vs 64² outputs differ by {relative:.2e} (aliasing of the nonlinearity only)"


def test_positional_embedding_is_normalised_coordinates():
    domain = sciml.Domain([(-1.0, 3.0), (2.0, 2.5)])
    for shape, centring in (((5, 3), "node"), ((10, 6), "cell")):
        grid = sciml.Grid.uniform(shape, domain, centring=centring)
        embedding = grid_embedding(grid, torch.float64)
        assert embedding.shape == (1, 2, *shape)
        mesh = grid.mesh()
        torch.testing.assert_close(embedding[0, 0], (mesh[..., 0] + 1.0) / 4.0)
        torch.testing.assert_close(embedding[0, 1], (mesh[..., 1] - 2.0) / 0.5)
    # the same physical point has the same embedding at every resolution
    coarse, fine = (sciml.Grid.uniform(n, domain) for n in ((5, 3), (9, 5)))
    torch.testing.assert_close(grid_embedding(fine, torch.float64)[..., ::2, ::2],
                               grid_embedding(coarse, torch.float64))


def test_model_sees_coordinates_not_indices():
    """Two grids of different domains give different outputs for the same values (embedding)."""
    torch.manual_seed(0)
    model = FNO(FNOConfig(1, 1, width=4, modes=(4,), n_layers=1)).double()
    values = torch.randn(1, 1, 16, dtype=torch.float64)
    a = model(sciml.Sampled(values, sciml.Grid.uniform(16, sciml.Domain([(0.0, 1.0)])))).values
    b = model(sciml.Sampled(values, sciml.Grid.uniform(16, sciml.Domain([(5.0, 7.0)])))).values
    torch.testing.assert_close(a, b)                       # normalised to the domain: same
    c = model(sciml.Sampled(values, sciml.Grid.uniform(16, sciml.Domain([(0.0, 1.0)]), centring="cell"))).values
    assert not torch.allclose(a, c)                        # other points: other embedding


@pytest.mark.parametrize("modes,shape", [((4,), (24,)), ((4, 3), (16, 12)), ((2, 2, 2), (8, 8, 6))])
@pytest.mark.parametrize("norm", ["none", "instance", "group"])
def test_all_dimensions_norms_and_padding(modes, shape, norm):
    torch.manual_seed(0)
    config = FNOConfig(2, 3, width=4, modes=modes, n_layers=2, domain_padding=0.25,
                       block=BlockConfig(norm=norm, norm_groups=2, skip="soft-gating"))
    model = FNO(config)
    out = model(torch.randn(2, 2, *shape))
    assert out.shape == (2, 3, *shape) and torch.isfinite(out).all()


def test_domain_padding_is_removed_and_applied():
    torch.manual_seed(0)
    padded = FNO(FNOConfig(1, 1, width=4, modes=(4,), n_layers=1, domain_padding=0.5, padding_side="symmetric"))
    plain = FNO(FNOConfig(1, 1, width=4, modes=(4,), n_layers=1))
    plain.load_state_dict(padded.state_dict())
    x = torch.randn(2, 1, 32)
    assert padded(x).shape == x.shape
    assert not torch.allclose(padded(x), plain(x))          # the zeros change the periodic convolution


def test_bad_inputs_raise_clear_errors():
    model = FNO(FNOConfig(2, 1, width=4, modes=(8, 8), n_layers=1))
    with pytest.raises(ValueError, match=r"values: expected spatial sizes >= 2 \* modes = \(16, 16\).*\(12, 12\) for modes \(8, 8\)"):
        model(torch.randn(1, 2, 12, 12))
    with pytest.raises(ValueError, match="values: expected 2 input channels, got 3"):
        model(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="on: expected a 2D grid"):
        model(torch.randn(1, 2, 32))
    with pytest.raises(ValueError, match="equispaced"):
        model(sciml.Sampled(torch.randn(1, 2, 17, 17), sciml.Grid.chebyshev((17, 17))))
    with pytest.raises(TypeError, match="on: expected a sciml.Grid"):
        model.forward_values(torch.randn(1, 2, 16), sciml.PointCloud(torch.rand(16, 2)))


@pytest.mark.parametrize("fields,message", [
    (dict(modes=(0, 4)), "modes: expected an integer >= 1"),
    (dict(modes=16), "modes: expected a tuple"),
    (dict(modes=(2, 2, 2, 2)), "modes: expected 1, 2 or 3 entries"),
    (dict(width=0), "width: expected an integer >= 1"),
    (dict(domain_padding=(0.1,)), "domain_padding: expected one fraction or 2"),
    (dict(domain_padding=1.5), r"domain_padding: expected fractions in \[0, 1\)"),
    (dict(block=BlockConfig(norm="group", norm_groups=3)), "block.norm_groups: expected a divisor of width=8"),
    (dict(spectral_path="fast"), "spectral_path: expected one of"),
])
def test_bad_configs_raise(fields, message):
    with pytest.raises((ValueError, TypeError), match=message):
        FNOConfig(1, 1, **{"width": 8, "modes": (4, 4), **fields})


def test_block_config_errors():
    with pytest.raises(ValueError, match="skip: expected one of"):
        BlockConfig(skip="residual")
    with pytest.raises(ValueError, match="activation: expected one of"):
        BlockConfig(activation="swish")


def test_input_dtype_other_than_the_parameters_is_refused_with_the_fix():
    model = FNO(FNOConfig(1, 1, width=8, modes=(4, 4)))
    with pytest.raises(TypeError, match=r"values: expected dtype torch.float32.*got torch.float64.*model.to"):
        model(torch.randn(2, 1, 16, 16, dtype=torch.float64))
    out = model.double()(torch.randn(2, 1, 16, 16, dtype=torch.float64))
    assert out.dtype == torch.float64 and bool(torch.isfinite(out).all())


@pytest.mark.parametrize("fraction", [-0.1, 1.5, "0.1", True, ()])
def test_domain_padding_refuses_fractions_outside_zero_one(fraction):
    from sciml.operators.padding import DomainPadding

    with pytest.raises(ValueError, match="fraction"):
        DomainPadding(fraction)
