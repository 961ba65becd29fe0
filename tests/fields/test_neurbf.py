"""NeuRBF field: budget, derivatives, k-means initialisation, fitting a real image, checkpoints, bad input.

Tolerances: gradcheck/gradgradcheck run in float64 with torch's defaults (eps 1e-6,
atol 1e-5, rtol 1e-3). PSNR thresholds are margins measured on this machine: a 48x48 patch
of ``skimage.data.camera()`` goes from 8.9 dB at initialisation to 35.2 dB after 150 Adam
steps (4000 parameters, seeded, deterministic on CPU), so "+15 dB" and "> 30 dB" leave margin.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math

import numpy as np
import pytest
import torch

import sciml
from sciml.config import config_from_dict, config_to_dict
from sciml.fields.neurbf import NeuRBF, NeuRBFConfig
from sciml.registry import build_model, model_spec

UNIT2 = sciml.Domain.unit(2)


def _small(**kw):
    base = dict(num_kernels=12, features=6, width=8, depth=2, neighbours=3)
    base.update(kw)
    return NeuRBF.for_domain(kw.pop("domain", UNIT2), **{k: v for k, v in base.items() if k != "domain"})


# ----------------------------------------------------------------------------- parameters and budget
@pytest.mark.parametrize("kw", [dict(), dict(shape="diagonal"), dict(shape="isotropic", learn_kernels=False),
                                dict(grid_levels=2, grid_resolution=(2, 6)), dict(linear_features=2, depth=1),
                                dict(frequency_range=None, decoder_frequency_range=None),
                                {"n_frequencies": 0}, {"n_frequencies": 2, "grid_levels": 0}])
def test_count_parameters_equals_the_built_field(kw):
    for domain in (UNIT2, sciml.Domain.unit(3)):
        field = _small(domain=domain, **kw)
        assert field.num_parameters() == NeuRBF.count_parameters(field.config)


def test_positional_encoding_is_appended_to_the_decoder_input():
    field = _small(domain=sciml.Domain(((-1.0, 1.0), (0.0, 2.0), (0.0, 1.0))), n_frequencies=1,
                   grid_levels=1, grid_features=2, grid_resolution=(2, 2)).double()
    x = torch.tensor([[0.5, 1.5, 0.25], [-0.8, 0.1, 0.9]], dtype=torch.float64)
    u = torch.stack([(x[:, 0] + 1) / 2, x[:, 1] / 2, x[:, 2]], -1)
    v = 2 * u - 1  # gamma(v) = [v, sin(pi v), cos(pi v)] written out by hand
    pe = torch.cat([v, torch.sin(math.pi * v), torch.cos(math.pi * v)], -1)
    z = field.first(torch.cat([field.rbf_features(u), field.grid(u), pe], -1))
    z = z + torch.sin(z * field.decoder_frequencies)
    torch.testing.assert_close(field(x), field.decoder(z), rtol=1e-12, atol=1e-12)
    assert field.first.in_features == 6 + 2 + 3 * 3


@pytest.mark.parametrize("params", [3_000, 20_000, 100_000])
@pytest.mark.parametrize("ndim", [2, 3])
def test_for_budget_is_close_to_but_not_above_the_budget(params, ndim):
    field = NeuRBF.for_budget(sciml.Domain.unit(ndim), params, out_channels=3, features=8, width=16)
    per_kernel = 8 + ndim + ndim * (ndim + 1) // 2
    assert params - per_kernel < field.num_parameters() <= params
    assert field.out_channels == 3


def test_for_budget_sizes_the_decoder_to_at_most_half_the_budget():
    big = NeuRBF.for_budget(UNIT2, 200_000)
    assert (big.config.features, big.config.width) == (32, 64)  # the paper's decoder
    small = NeuRBF.for_budget(UNIT2, 3_000)
    assert (small.config.features, small.config.width) == (8, 16)
    kernels = small.config.num_kernels * (8 + 2 + 3)
    assert kernels >= small.num_parameters() / 2 and small.num_parameters() <= 3_000


def test_for_budget_uses_the_paper_image_setting_in_2d_unless_given():
    from sciml.fields.neurbf import IMAGE_BUDGET_DEFAULTS

    image = NeuRBF.for_budget(UNIT2, 8_000)
    assert image.config.decoder_frequency_range == IMAGE_BUDGET_DEFAULTS["decoder_frequency_range"] == (10.0, 100.0)
    assert image.config.feature_scale == IMAGE_BUDGET_DEFAULTS["feature_scale"] == 1e-4
    assert float(image.kernel_features.detach().abs().max()) <= 1e-4 * (1 + 1e-6)  # float32 rounding of the bound
    torch.testing.assert_close(image.decoder_frequencies[[0, -1]], torch.tensor([10.0, 100.0]))
    given = NeuRBF.for_budget(UNIT2, 8_000, decoder_frequency_range=(1.0, 10.0), feature_scale=0.1)
    assert given.config.decoder_frequency_range == (1.0, 10.0) and given.config.feature_scale == 0.1
    volume = NeuRBF.for_budget(sciml.Domain.unit(3), 8_000)
    assert volume.config.decoder_frequency_range == NeuRBFConfig.decoder_frequency_range
    assert volume.config.feature_scale == NeuRBFConfig.feature_scale


def test_for_budget_refuses_a_budget_without_room_for_the_neighbours():
    with pytest.raises(ValueError, match="params: a budget of 500 parameters is too small"):
        NeuRBF.for_budget(UNIT2, 500)
    with pytest.raises(ValueError, match="num_kernels: for_budget chooses"):
        NeuRBF.for_budget(UNIT2, 50_000, num_kernels=10)


# ----------------------------------------------------------------------------- derivatives
def test_field_gradcheck_and_gradgradcheck_in_the_coordinates_and_kernels():
    field = _small(activation="softplus", num_kernels=8, features=4, width=6).double()
    x = torch.rand(5, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(field, (x,))
    assert torch.autograd.gradgradcheck(field, (x,))

    centres = field.centre_params.detach().clone().requires_grad_(True)
    shapes = field.shape_params.detach().clone().requires_grad_(True)

    def with_kernels(c, s):
        return torch.func.functional_call(field, {"centre_params": c, "shape_params": s}, (x.detach(),))

    assert torch.autograd.gradcheck(with_kernels, (centres, shapes))
    assert torch.autograd.gradgradcheck(with_kernels, (centres, shapes))


def test_laplacian_is_finite_and_matches_finite_differences():
    from sciml.fields.autodiff import laplacian

    field = _small(activation="softplus").double()
    x = torch.tensor([[0.31, 0.62], [0.55, 0.18]], dtype=torch.float64)
    lap = laplacian(field, x).detach()

    def central(h):
        return sum((field(x + h * e) - 2 * field(x) + field(x - h * e)) / h ** 2
                   for e in torch.eye(2, dtype=torch.float64)).detach()

    fd = (4 * central(1e-4) - central(2e-4)) / 3  # Richardson: O(h^4) truncation
    torch.testing.assert_close(lap.reshape(-1), fd.reshape(-1), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- cached neighbours
def _moved(field, seed=1, scale=0.6):
    """Shift every centre by up to ``scale`` kernel spacings, so that some neighbour sets change."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        field.centre_params.add_(scale * (2 * torch.rand(field.centre_params.shape, generator=gen) - 1))


def test_cached_neighbours_lag_the_moving_centres_by_at_most_refresh_every_calls():
    """Inside the block the field equals the exact formula evaluated with the kernels of the latest
    refresh (an independent evaluation through ``rbf_features(u, index)``); float64, exact to 1e-12."""
    field = _small(num_kernels=30, neighbours=4).double()
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(200, 2, generator=gen, dtype=torch.float64)
    other = torch.rand(50, 2, generator=gen, dtype=torch.float64)

    def through(index, points):
        h = torch.cat([field.rbf_features(points, index), field.grid(points)], -1)
        z = field.first(h)
        return field.decoder(z + torch.sin(z * field.decoder_frequencies))

    stale = field.nearest(x)
    with field.cached_neighbours(x, refresh_every=3):
        torch.testing.assert_close(field(x), through(stale, x), rtol=1e-12, atol=1e-12)  # call 1: a search
        _moved(field)
        fresh = field.nearest(x)
        assert not torch.equal(fresh, stale)
        for _ in range(2):  # calls 2 and 3 reuse the first search, weights from the moved centres
            torch.testing.assert_close(field(x), through(stale, x), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(field(other), through(field.nearest(other), other), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(field(x), through(fresh, x), rtol=1e-12, atol=1e-12)  # call 4: refreshed
        _moved(field, seed=2)
        assert not torch.equal(field(x), through(field.nearest(x), x))  # lagging again
    torch.testing.assert_close(field(x), through(field.nearest(x), x), rtol=1e-12, atol=1e-12)  # exact after


def test_cached_neighbours_with_refresh_every_one_is_the_exact_path_values_and_gradients():
    field = _small(num_kernels=30).double()
    x = torch.rand(80, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    target = torch.rand(80, 1, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    params = [p for p in field.parameters() if p.requires_grad]
    start = copy.deepcopy(field.state_dict())
    results = []
    for cached in (False, True):
        field.load_state_dict(start)
        with field.cached_neighbours(x, refresh_every=1) if cached else contextlib.nullcontext():
            for step in range(3):  # the centres move between evaluations: each call must search again
                loss = ((field(x) - target) ** 2).mean()
                results.append((loss.detach(), torch.autograd.grad(loss, params)))
                _moved(field, seed=10 + step, scale=0.3)
    for (loss_a, grads_a), (loss_b, grads_b) in zip(results[:3], results[3:]):
        torch.testing.assert_close(loss_b, loss_a, rtol=1e-12, atol=1e-14)
        for ga, gb in zip(grads_a, grads_b):
            torch.testing.assert_close(gb, ga, rtol=1e-12, atol=1e-14)


def test_cached_neighbours_ignore_modified_or_other_points_and_check_their_input():
    field = _small(num_kernels=30)
    x = torch.rand(40, 2, generator=torch.Generator().manual_seed(5))
    with field.cached_neighbours(x, refresh_every=100):
        field(x)
        _moved(field)
        x.mul_(0.5)  # modified in place: the cached neighbours no longer belong to these values
        torch.testing.assert_close(field(x), field(x.clone()), rtol=0, atol=0)
        with pytest.raises(RuntimeError, match="cached_neighbours: already active"), field.cached_neighbours(x):
            pass
    assert field._neighbour_cache is None
    with pytest.raises(ValueError, match="refresh_every: expected an integer >= 1"), \
            field.cached_neighbours(x, refresh_every=0):
        pass
    with pytest.raises(ValueError, match=r"points: expected shape \[n, 2\]"), field.cached_neighbours(x[None]):
        pass


# ----------------------------------------------------------------------------- initialisation
def test_init_from_samples_concentrates_kernels_where_weights_are_high():
    field = _small(num_kernels=40)
    gen = torch.Generator().manual_seed(0)
    points = torch.rand(3000, 2, generator=gen)
    weights = torch.where(points[:, 1] > 0.75, 25.0, 1.0)
    field.init_from_samples(points, weights, progress=False)
    assert int((field.centres[:, 1] > 0.75).sum()) >= 20  # a quarter of the area, most of the kernels


def test_init_shapes_follow_elongated_clusters():
    """Points along the line y = 0.5: each kernel is much longer along x than across, as its cluster."""
    field = _small(num_kernels=8)
    x = torch.rand(800, generator=torch.Generator().manual_seed(0), dtype=torch.float64).float()  # no ties
    points = torch.stack([x, torch.full_like(x, 0.5)], -1)
    field.init_from_samples(points, progress=False)
    a = field.shape_factors.detach().double()
    sigma = torch.linalg.inv(a.transpose(-1, -2) @ a)            # Sigma = (A^T A)^-1
    assert torch.all(sigma[:, 0, 0] > 5 * sigma[:, 1, 1])
    torch.testing.assert_close(field.centres[:, 1].detach(), torch.full((8,), 0.5), rtol=0, atol=1e-6)
    # independent recomputation: Sigma_i = 2 diag(mean square x-offset of the cluster from c_i, 0)
    # + (rho_i/8)^2 I, cluster = points nearest to centre i, rho_i = distance to the nearest other centre
    c = field.centres.detach().double()[:, 0].numpy()
    labels = np.abs(x.double().numpy()[:, None] - c[None]).argmin(1)
    rho = np.sort(np.abs(c[:, None] - c[None]), axis=1)[:, 1]
    for i in range(8):
        members = x.double().numpy()[labels == i]
        floor = (rho[i] / 8) ** 2
        expected = torch.tensor([2 * ((members - c[i]) ** 2).mean() + floor, floor], dtype=torch.float64)
        torch.testing.assert_close(sigma[i].diagonal(), expected, rtol=1e-4, atol=0)


def test_init_from_sdf_puts_kernels_near_the_surface():
    grid = sciml.Grid.uniform((24, 24, 24), sciml.Domain.unit(3))
    p = grid.points(dtype=torch.float64)
    sdf = ((p - 0.5).norm(dim=-1) - 0.3).reshape(1, 1, 24, 24, 24)
    field = _small(domain=sciml.Domain.unit(3), num_kernels=30)
    field.init_from_sampled(sciml.Sampled(sdf, grid), kind="sdf", band=0.005, progress=False)
    radius = (field.centres.detach().double() - 0.5).norm(dim=-1)
    assert float((radius - 0.3).abs().median()) < 0.05


# ----------------------------------------------------------------------------- fitting a real image
def _camera_patch(n=48):
    skimage_data = pytest.importorskip("skimage.data")
    from skimage.transform import resize

    image = skimage_data.camera()[200:392, 180:372].astype(np.float64) / 255.0
    return resize(image, (n, n), anti_aliasing=True)


def _psnr(field, x, y):
    with torch.no_grad():
        return -10 * math.log10(float(((field(x) - y) ** 2).mean()))


def test_fits_a_camera_patch_far_better_than_its_initialisation(one_thread):
    image = _camera_patch()
    grid = sciml.Grid.uniform(image.shape, UNIT2, centring="cell")
    x = grid.points(dtype=torch.float32)
    y = torch.tensor(image, dtype=torch.float32).reshape(-1, 1)
    field = NeuRBF.for_budget(UNIT2, 4000, features=16, width=32)
    field.init_from_sampled(sciml.Sampled(torch.tensor(image)[None, None], grid), progress=False)
    start = _psnr(field, x, y)
    opt = torch.optim.Adam(field.parameters(), lr=1e-2)
    for _ in range(150):
        loss = ((field(x) - y) ** 2).mean()
        assert math.isfinite(float(loss.detach()))
        opt.zero_grad()
        loss.backward()
        opt.step()
    end = _psnr(field, x, y)
    assert end > start + 15 and end > 30, (start, end)


def test_fits_a_torus_sdf_in_3d(one_thread):
    """Kernels initialised near the surface; 100 steps take the RMS error within 0.1 of the surface
    from 0.44 to 0.006 (measured, seeded), asserted < 0.02."""
    gen = torch.Generator().manual_seed(0)
    domain = sciml.Domain([(-1, 1)] * 3)

    def torus(p):  # major radius 0.5, minor 0.2
        ring = torch.sqrt(p[:, 0] ** 2 + p[:, 1] ** 2) - 0.5
        return (torch.sqrt(ring ** 2 + p[:, 2] ** 2) - 0.2)[:, None]

    x = torch.rand(2000, 3, generator=gen) * 2 - 1
    y = torus(x)
    grid = sciml.Grid.uniform((16, 16, 16), domain)
    target = sciml.Sampled(torus(grid.points(dtype=torch.float64)).T.reshape(1, 1, 16, 16, 16), grid)
    field = NeuRBF.for_budget(domain, 6000, features=8, width=16, activation="softplus", frequency_range=(1.0, 16.0),
                              grid_levels=2, n_frequencies=None)  # the settings the numbers above were measured with
    field.init_from_sampled(target, kind="sdf", progress=False)
    near = y.abs()[:, 0] < 0.1
    start = float(((field(x) - y) ** 2)[near].mean().detach().sqrt())
    opt = torch.optim.Adam(field.parameters(), lr=1e-2)
    for _ in range(100):
        loss = ((field(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    end = float(((field(x) - y) ** 2)[near].mean().detach().sqrt())
    assert end < 0.05 * start and end < 0.02, (start, end)


@pytest.mark.slow
def test_beats_siren_at_equal_parameters_and_steps(one_thread):
    """Issue 7 target on the whole camera image at 96x96 with 20k parameters (about 1 min).

    ``benchmarks/neurbf_images.py`` measured 43.0 dB (NeuRBF) against 34.4 dB (SIREN) after 250
    steps in this setting; here 150 steps and a 3 dB margin. In a compression regime (fewer
    parameters than pixels) the two are close: see the benchmark table.
    """
    from skimage.data import camera
    from skimage.transform import resize

    from sciml.fields.mlp import SIREN

    image = resize(camera().astype(np.float64) / 255.0, (96, 96), anti_aliasing=True)
    grid = sciml.Grid.uniform(image.shape, UNIT2, centring="cell")
    x = grid.points(dtype=torch.float32)
    y = torch.tensor(image, dtype=torch.float32).reshape(-1, 1)
    neurbf = NeuRBF.for_budget(UNIT2, 20_000, features=16, width=32)
    neurbf.init_from_sampled(sciml.Sampled(torch.tensor(image)[None, None], grid), progress=False)
    siren = SIREN.for_budget(UNIT2, 20_000, depth=3)
    psnr = {}
    for name, field, lr in (("neurbf", neurbf, 1e-2), ("siren", siren, 1e-3)):
        opt = torch.optim.Adam(field.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 150, eta_min=lr / 20)
        for _ in range(150):
            loss = ((field(x) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        psnr[name] = _psnr(field, x, y)
    assert abs(neurbf.num_parameters() - siren.num_parameters()) < 500
    assert psnr["neurbf"] > psnr["siren"] + 3.0, psnr


# ----------------------------------------------------------------------------- persistence and checks
def test_registry_round_trip_rebuilds_the_same_field():
    field = _small(grid_levels=1, grid_resolution=(3, 3))
    field.init_from_samples(torch.rand(200, 2), progress=False)
    spec = model_spec(field)
    assert spec["name"] == "neurbf"
    clone = build_model("neurbf", config_to_dict(field.config))
    clone.load_state_dict(field.state_dict())
    x = torch.rand(9, 2)
    torch.testing.assert_close(clone(x), field(x), rtol=0, atol=0)
    assert config_to_dict(config_from_dict(NeuRBFConfig, config_to_dict(field.config))) == config_to_dict(field.config)


def test_sample_on_a_grid_matches_pointwise_evaluation():
    field = _small(out_channels=2)
    grid = sciml.Grid.uniform((5, 4), UNIT2)
    sampled = field.sample(grid)
    expected = field(grid.points(dtype=torch.float32)).T.reshape(1, 2, 5, 4)
    torch.testing.assert_close(sampled.values, expected.detach())


def test_bad_configs_and_inputs_raise_naming_the_argument():
    cases = [(dict(family="cauchy"), "family"), (dict(shape="round"), "shape"), (dict(neighbours=0), "neighbours"),
             (dict(num_kernels=2, neighbours=3), "neighbours"), (dict(frequency_range=(8.0, 1.0)), "frequency_range"),
             (dict(linear_features=9, features=8), "linear_features"), (dict(depth=0), "depth"),
             (dict(activation="swish"), "activation"), (dict(grid_resolution=(8, 4)), "grid_resolution"),
             (dict(periodic=(True, False)), "periodic"), (dict(feature_scale=-1.0), "feature_scale"),
             ({"n_frequencies": -1}, "n_frequencies")]
    for kw, name in cases:
        with pytest.raises((ValueError, TypeError), match=f"^{name}:"):
            NeuRBFConfig(bounds=((0, 1), (0, 1)), **kw)
    with pytest.raises(TypeError, match="config: expected a NeuRBFConfig"):
        NeuRBF(dataclasses.asdict(NeuRBFConfig()))
    field = _small()
    with pytest.raises(ValueError, match="x: .* outside the domain"):
        field(torch.tensor([[1.5, 0.5]]))
    with pytest.raises(ValueError, match="weights: expected non-negative"):
        field.init_from_samples(torch.rand(50, 2), -torch.ones(50), progress=False)
    with pytest.raises(TypeError, match="target: expected a Sampled on a sciml.Grid"):
        field.init_from_sampled(torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="kind: expected 'image' or 'sdf'"):
        grid = sciml.Grid.uniform((4, 4), UNIT2)
        field.init_from_sampled(sciml.Sampled(torch.zeros(1, 1, 4, 4), grid), kind="mesh")


def test_docstring_examples_run():
    import doctest

    import sciml.fields.neurbf as module

    result = doctest.testmod(module, extraglobs={"torch": torch, "sciml": sciml}, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_placement_clusters_a_seeded_uniform_subset_of_large_pools():
    generator = torch.Generator().manual_seed(3)
    points = torch.rand(3000, 2, generator=generator, dtype=torch.float64)
    weights = torch.rand(3000, generator=generator, dtype=torch.float64)

    def placed(**kwargs):
        field = NeuRBF.for_domain(UNIT2, num_kernels=12, features=4, width=8)
        field.init_from_samples(points, weights, seed=5, progress=False, **kwargs)
        return field.centres.detach().clone(), field.shape_factors.detach().clone()

    keep = torch.randperm(3000, generator=torch.Generator().manual_seed(5))[:500]
    subset = NeuRBF.for_domain(UNIT2, num_kernels=12, features=4, width=8)
    subset.init_from_samples(points[keep], weights[keep], seed=5, progress=False, max_points=None)
    for got, expected in zip(placed(max_points=500), (subset.centres, subset.shape_factors)):
        torch.testing.assert_close(got, expected.detach(), rtol=0, atol=0)      # the same subset, the same k-means
    full = NeuRBF.for_domain(UNIT2, num_kernels=12, features=4, width=8)
    full.init_from_samples(points, weights, seed=5, progress=False, max_points=None)
    assert not torch.equal(placed(max_points=500)[0], full.centres.detach())   # really a subset
    for got, expected in zip(placed(max_points=3000), placed(max_points=None)):  # pool not larger: all points
        torch.testing.assert_close(got, expected, rtol=0, atol=0)
    with pytest.raises(ValueError, match="max_points"):
        placed(max_points=5)                                                  # fewer points than kernels
    with pytest.raises(ValueError, match=r"weights: expected shape \[3000\]"):
        NeuRBF.for_domain(UNIT2, num_kernels=12, features=4, width=8).init_from_samples(
            points, weights[:10], progress=False)
