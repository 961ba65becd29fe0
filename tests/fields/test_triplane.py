"""Tri-plane fields and batched fitting: exact plane sampling, derivatives, fitting, batched == separate."""

import dataclasses
import math

import pytest
import torch

import sciml
from sciml import Domain
from sciml.fields.batched import BatchedTriPlanes, fit_batched_sdf
from sciml.fields.encodings import GridField
from sciml.fields.mlp import SIREN, FourierMLP
from sciml.fields.shapes import Sphere, Torus
from sciml.fields.triplane import PLANE_AXES, TriPlane, TriPlaneConfig, triplane_features

BOX = ((-1.0, 1.0), (-1.0, 1.0), (-1.0, 1.0))


def _affine_planes(coeffs, resolution):
    """Planes whose channel c is a_c s + b_c t + d_c on each plane (s, t) = the plane's two coordinates."""
    s = torch.linspace(0, 1, resolution, dtype=torch.float64)
    S, T = torch.meshgrid(s, s, indexing="ij")
    return torch.stack([torch.stack([a * S + b * T + d for a, b, d in plane]) for plane in coeffs])


def test_triplane_features_are_exact_for_affine_planes_sum_concat_and_product():
    gen = torch.Generator().manual_seed(0)
    coeffs = torch.randn(3, 2, 3, dtype=torch.float64, generator=gen)  # [plane, channel, (a, b, d)]
    planes = _affine_planes(coeffs, 7)
    u = torch.rand(25, 3, dtype=torch.float64, generator=gen)
    per_plane = torch.stack([coeffs[k, :, 0] * u[:, i, None] + coeffs[k, :, 1] * u[:, j, None] + coeffs[k, :, 2]
                             for k, (i, j) in enumerate(PLANE_AXES)])                   # [3, n, C]
    torch.testing.assert_close(triplane_features(planes, u, "sum"), per_plane.sum(0), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(triplane_features(planes, u, "concat"),
                               per_plane.permute(1, 0, 2).reshape(25, 6), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(triplane_features(planes, u, "product"), per_plane[0] * per_plane[1] * per_plane[2],
                               rtol=1e-12, atol=1e-12)
    batched = triplane_features(planes.expand(4, *planes.shape), u.expand(4, 25, 3))
    torch.testing.assert_close(batched, per_plane.sum(0).expand(4, 25, 2), rtol=1e-12, atol=1e-12)


def test_triplane_evaluates_decoder_on_features_and_positional_encoding():
    field = TriPlane.for_domain(Domain(BOX), resolution=5, channels=3, n_frequencies=1, width=8, depth=1,
                                aggregate="concat").double()
    x = torch.rand(6, 3, dtype=torch.float64) * 2 - 1
    u = (x + 1) / 2
    v = 2 * u - 1
    pe = torch.cat([v, torch.sin(math.pi * v), torch.cos(math.pi * v)], -1)
    expected = field.decoder(torch.cat([triplane_features(field.planes, u, "concat"), pe], -1))
    torch.testing.assert_close(field(x), expected, rtol=1e-12, atol=1e-12)
    assert field.config.decoder_in_features == 9 + 9


def test_triplane_first_and_second_derivatives_are_exact():
    field = TriPlane.for_domain(Domain.unit(3), resolution=6, channels=2, width=8, depth=2).double()
    x = (0.02 + 0.96 * torch.rand(4, 3, dtype=torch.float64)).requires_grad_(True)
    assert torch.autograd.gradcheck(field, (x,), eps=1e-6, atol=1e-6)
    assert torch.autograd.gradgradcheck(field, (x,), eps=1e-6, atol=1e-6)


def test_triplane_fits_a_sphere_sdf():
    torch.manual_seed(0)
    sphere = Sphere(center=(0.1, -0.05, 0.0), radius=0.5)
    x = torch.rand(1500, 3) * 2 - 1
    field = TriPlane.for_domain(Domain(BOX), resolution=12, channels=4, width=32, depth=2, n_frequencies=0)
    opt = torch.optim.Adam([{"params": [field.planes], "lr": 2e-2}, {"params": field.decoder.parameters()}], lr=3e-3)
    target = sphere.sdf(x)[:, None]
    for _ in range(100):
        opt.zero_grad()
        loss = (field(x) - target).abs().mean()
        loss.backward()
        opt.step()
    x_test = torch.rand(2000, 3) * 2 - 1
    with torch.no_grad():
        err = float((field(x_test) - sphere.sdf(x_test)[:, None]).abs().mean())
    assert err < 0.02, f"mean |SDF error| {err:.4f} after 100 steps (target < 0.02, radius 0.5)"


@pytest.mark.parametrize("params", [5_000, 60_000])
def test_triplane_for_budget(params):
    field = TriPlane.for_budget(Domain(BOX), params, channels=4, width=16)
    assert field.num_parameters() == field.config.count_parameters() <= params
    assert dataclasses.replace(field.config, resolution=field.config.resolution + 1).count_parameters() > params
    with pytest.raises(ValueError, match="params: a budget of 100"):
        TriPlane.for_budget(Domain(BOX), 100)
    with pytest.raises(ValueError, match="resolution"):
        TriPlane.for_budget(Domain(BOX), params, resolution=4)


def test_triplane_registry_round_trip():
    field = TriPlane.for_domain(Domain(BOX), resolution=4, channels=2, width=4, depth=1, seed=3)
    rebuilt = sciml.build_model("triplane", sciml.model_spec(field)["config"])
    rebuilt.load_state_dict(field.state_dict())
    x = torch.rand(5, 3) * 2 - 1
    torch.testing.assert_close(rebuilt(x), field(x), rtol=0, atol=0)
    fresh = sciml.build_model("triplane", sciml.model_spec(field)["config"])  # same seed -> same init
    torch.testing.assert_close(fresh(x), field(x), rtol=0, atol=0)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"bounds": ((0, 1), (0, 1))}, ValueError, "bounds: a tri-plane is 3D only"),
    ({"resolution": 1}, ValueError, "resolution: expected an integer >= 2"),
    ({"aggregate": "mean"}, ValueError, "aggregate: expected one of"),
    ({"channels": 0}, ValueError, "channels"),
    ({"n_frequencies": -1}, ValueError, "n_frequencies"),
    ({"init_scale": -0.1}, ValueError, "init_scale"),
])
def test_triplane_config_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        TriPlaneConfig(**kwargs)


def test_triplane_rejects_2d_inputs():
    with pytest.raises(ValueError, match="3D only"):
        TriPlane.for_domain(Domain.unit(2))
    field = TriPlane.for_domain(Domain.unit(3), resolution=4, channels=2)
    with pytest.raises(ValueError, match=r"x: expected coordinates of shape \[..., 3\]"):
        field(torch.rand(4, 2))
    with pytest.raises(ValueError, match=r"planes: expected shape \[\*batch, 3, C, R, R\]"):
        triplane_features(torch.zeros(2, 4, 5, 5), torch.rand(3, 3))


# ---------------------------------------------------------------------------- batched fitting
def _sdf_samples(k, n=300, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(k, n, 3, dtype=torch.float64, generator=gen) * 2 - 1
    shapes = [Sphere(radius=0.3 + 0.1 * i) if i % 2 == 0 else Torus(major_radius=0.5, minor_radius=0.1 + 0.05 * i)
              for i in range(k)]
    return x, torch.stack([s.sdf(p) for s, p in zip(shapes, x)])


def _separate_fit(field, x, y, steps, params):
    opt = torch.optim.Adam(params)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((field(x)[:, 0] - y) ** 2).mean()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float(((field(x)[:, 0] - y) ** 2).mean())


def test_batched_fit_equals_separate_fits_with_per_field_decoders():
    config = TriPlaneConfig(bounds=BOX, resolution=6, channels=3, width=8, depth=2, n_frequencies=1, seed=10)
    x, y = _sdf_samples(3)
    model = BatchedTriPlanes(config, 3, shared_decoder=False).double()
    separate = [TriPlane(dataclasses.replace(config, seed=10 + k)).double() for k in range(3)]
    for k in range(3):  # same initialisation, by seeds
        torch.testing.assert_close(model.field(k)(x[k]), separate[k](x[k]), rtol=1e-13, atol=1e-13)
    result = fit_batched_sdf(model, x, y, steps=25, lr=1e-2, decoder_lr=1e-3, loss="mse", progress=False)
    for k, field in enumerate(separate):
        last = _separate_fit(field, x[k], y[k], 25, [{"params": [field.planes], "lr": 1e-2},
                                                     {"params": field.decoder.parameters(), "lr": 1e-3}])
        torch.testing.assert_close(model.field(k).planes, field.planes, rtol=1e-9, atol=1e-10)
        torch.testing.assert_close(model(x)[k], field(x[k]), rtol=1e-9, atol=1e-10)
        assert abs(float(result["field_loss"][k]) - last) < 1e-9 * max(last, 1.0)
    assert result["loss"][-1] < 0.5 * result["loss"][0]


def test_batched_fit_with_a_frozen_shared_decoder_equals_separate_fits():
    config = TriPlaneConfig(bounds=BOX, resolution=5, channels=2, width=8, depth=1, n_frequencies=0)
    x, y = _sdf_samples(4, seed=1)
    model = BatchedTriPlanes(config, 4, shared_decoder=True).double()
    frozen = {k: v.clone() for k, v in model.decoder.state_dict().items()}
    fields = [model.field(k) for k in range(4)]
    fit_batched_sdf(model, x, y, steps=20, lr=2e-2, loss="mse", train_decoder=False, progress=False)
    for k, field in enumerate(fields):
        field.decoder.requires_grad_(False)
        _separate_fit(field, x[k], y[k], 20, [{"params": [field.planes], "lr": 2e-2}])
        torch.testing.assert_close(model.planes[k], field.planes, rtol=1e-9, atol=1e-10)
    for name, value in model.decoder.state_dict().items():
        torch.testing.assert_close(value, frozen[name], rtol=0, atol=0)


def test_batched_from_fields_round_trip_and_subsampled_fit_reduces_the_loss():
    config = TriPlaneConfig(bounds=BOX, resolution=6, channels=2, width=8, depth=1, n_frequencies=0)
    fields = [TriPlane(dataclasses.replace(config, seed=s)) for s in (3, 8)]
    model = BatchedTriPlanes.from_fields(fields)
    x, y = _sdf_samples(2, n=500, seed=2)
    x, y = x.float(), y.float()
    for k in range(2):
        torch.testing.assert_close(model(x)[k], fields[k](x[k]), rtol=1e-6, atol=1e-6)
    result = fit_batched_sdf(model, x, y, steps=60, lr=2e-2, batch_points=128, clamp=0.5, progress=False)
    assert result["loss"][-1] < 0.3 * result["loss"][0]


def test_batched_fit_errors_and_divergence():
    config = TriPlaneConfig(bounds=BOX, resolution=4, channels=2, width=4, depth=1)
    model = BatchedTriPlanes(config, 2)
    x, y = _sdf_samples(2, n=50)
    with pytest.raises(ValueError, match=r"points: expected \[2, n, 3\]"):
        fit_batched_sdf(model, x[:1].float(), y[:1].float(), progress=False)
    with pytest.raises(ValueError, match=r"sdf: expected \[2, 50\] values"):
        fit_batched_sdf(model, x.float(), y[:, :10].float(), progress=False)
    with pytest.raises(ValueError, match="sdf: expected finite values"):
        fit_batched_sdf(model, x.float(), torch.full((2, 50), float("nan")), progress=False)
    with pytest.raises(FloatingPointError, match="the loss became inf"):
        fit_batched_sdf(model, x.float(), torch.full((2, 50), 3e38), loss="mse", steps=3, progress=False)
    with pytest.raises(ValueError, match=r"x: expected points \[2, n, 3\]"):
        model(torch.rand(3, 10, 3))
    with pytest.raises(ValueError, match="decoder: expected an MLP"):
        BatchedTriPlanes(config, 2, decoder=torch.nn.Linear(3, 1))
    with pytest.raises(ValueError, match="k: expected a field index < 2"):
        model.field(2)
    with pytest.raises(ValueError, match="fields: field 1 has config"):
        BatchedTriPlanes.from_fields([TriPlane(config), TriPlane(dataclasses.replace(config, channels=3))])


def test_clamped_residual_is_truncated_l1_with_gradient_where_saturated():
    from sciml.fields.batched import _field_losses

    target = torch.tensor([[0.05, 0.05, 0.5, 0.5, -0.5, -0.5]], dtype=torch.float64)
    pred = torch.tensor([[0.0, 0.3, 0.3, 0.05, -0.2, 0.1]], dtype=torch.float64, requires_grad=True)
    # in the band: |f - s|; beyond it: distance of f to the band edge on the target's side, if not past it
    expected = torch.tensor([0.05, 0.25, 0.0, 0.05, 0.0, 0.2], dtype=torch.float64).mean()
    value = _field_losses(pred, target, "l1", 0.1)
    torch.testing.assert_close(value[0], expected)
    value.sum().backward()
    torch.testing.assert_close(pred.grad[0] * 6, torch.tensor([-1.0, 1.0, 0.0, -1.0, 0.0, 1.0], dtype=torch.float64))


@pytest.mark.parametrize("make", [
    lambda: SIREN.for_budget(Domain.unit(2), 3000),
    lambda: FourierMLP.for_budget(Domain.unit(2), 3000),
    lambda: GridField.for_budget(Domain.unit(3), 9000),
    lambda: TriPlane.for_budget(Domain(BOX), 20_000, channels=4),
])
def test_fields_round_trip_through_checkpoints(make, tmp_path):
    field = make()
    with torch.no_grad():
        for p in field.parameters():
            p.add_(0.01 * torch.randn_like(p))
    sciml.save_checkpoint(tmp_path / "checkpoint", field)
    loaded = sciml.load_checkpoint(tmp_path / "checkpoint").model
    assert type(loaded) is type(field)
    assert sciml.config_to_dict(loaded.config) == sciml.config_to_dict(field.config)
    x = torch.rand(6, field.in_dim) * 0.98 + 0.01
    x = x * 2 - 1 if field.domain.lower[0] < 0 else x
    torch.testing.assert_close(loaded(x), field(x), rtol=0, atol=0)


@pytest.mark.cuda
def test_batched_fit_on_cuda_matches_cpu():
    config = TriPlaneConfig(bounds=BOX, resolution=6, channels=3, width=8, depth=2, n_frequencies=1)
    x, y = _sdf_samples(3)
    results = {}
    for device in ("cpu", "cuda"):
        model = BatchedTriPlanes(config, 3, shared_decoder=False).double().to(device)
        fit_batched_sdf(model, x.to(device), y.to(device), steps=10, loss="mse", progress=False)
        results[device] = model(x.to(device)).cpu()
    torch.testing.assert_close(results["cuda"], results["cpu"], rtol=1e-8, atol=1e-9)


def test_triplane_product_planes_start_near_one_and_have_exact_derivatives():
    config = TriPlaneConfig(resolution=6, channels=2, aggregate="product", width=8, depth=1, init_scale=0.1)
    field = TriPlane(config).double()
    # planes are 1 + N(0, 0.1^2): mean within 5 standard errors of 1 (3 * 2 * 36 = 216 samples)
    assert abs(float(field.planes.detach().mean()) - 1.0) < 5 * 0.1 / math.sqrt(216)
    assert config.decoder_in_features == 2 + 3 * 5
    x = (0.02 + 0.96 * torch.rand(4, 3, dtype=torch.float64)).requires_grad_(True)
    assert torch.autograd.gradcheck(field, (x,), eps=1e-6, atol=1e-6)
    assert torch.autograd.gradgradcheck(field, (x,), eps=1e-6, atol=1e-6)
