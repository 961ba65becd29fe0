"""FunBaT on synthetic continuous-indexed data with known ground truth.

References: the noiseless generating function (RMSE, written bands below), the
known noise level (Gamma posterior, interval coverage), a discrete Tucker +
interpolation baseline (benchmarks/funbat.py, imported so that the test and the
benchmark compare against the same code), Monte Carlo under the factorised
posterior (predictive variance formula) and the two input paths against each
other.
"""

import importlib.util
import math
import pathlib

import pytest
import torch

import sciml
from sciml.config import config_to_dict
from sciml.fields.autodiff import gradient
from sciml.fields.funbat import FunBaT, FunBaTConfig, fit_funbat

BENCH_PATH = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "funbat.py"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("_funbat_benchmark_for_tests", BENCH_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def separable(x):
    """Rank-1 truth exp(-x0) cos(2 x1) + its rank: mode functions are smooth on [0, 1]."""
    return torch.exp(-x[..., 0]) * torch.cos(2 * x[..., 1])


@pytest.fixture(scope="module")
def rank1_grid_fit():
    """A 24 x 20 grid at random sorted indices, 60% observed with noise 0.05 (NaN = missing)."""
    g = torch.Generator().manual_seed(3)
    axes = [torch.sort(torch.rand(n, generator=g, dtype=torch.float64)).values for n in (24, 20)]
    grid = sciml.Grid.from_coordinates(axes, sciml.Domain.unit(2))
    mesh = grid.mesh(dtype=torch.float64)
    sigma = 0.05
    noisy = separable(mesh) + sigma * torch.randn(mesh.shape[:-1], generator=g, dtype=torch.float64)
    observed = torch.rand(mesh.shape[:-1], generator=g) < 0.6
    values = torch.where(observed, noisy, torch.full_like(noisy, float("nan")))[None, None]
    field, metrics = fit_funbat(sciml.Sampled(values, grid, validate=False), rank=1, lengthscale=0.3, iters=40,
                                fit_lengthscale=False, progress=False)
    return {"field": field, "metrics": metrics, "grid": grid, "mesh": mesh, "noisy": noisy, "observed": observed,
            "sigma": sigma, "values": values}


def test_rank1_recovery_noise_posterior_and_calibration(rank1_grid_fit):
    fit = rank1_grid_fit
    field, sigma = fit["field"], fit["sigma"]
    # Error against the noiseless truth on every grid entry: well below the noise (band 0.6 sigma).
    sampled = field.sample(fit["grid"])
    assert sampled.values.shape == (1, 1, 24, 20)
    err = (sampled.values[0, 0] - separable(fit["mesh"])).square().mean().sqrt()
    assert float(err) < 0.6 * sigma, float(err)
    # Gamma posterior of the precision tau = 1/sigma^2 concentrates at the truth: within 20%,
    # and the truth within 3 posterior standard deviations (about 290 observations).
    shape, rate = field.noise_posterior.tolist()
    scale2 = float(field.value_scale) ** 2
    tau_true = 1 / sigma ** 2
    tau_mean, tau_sd = shape / rate / scale2, math.sqrt(shape) / rate / scale2
    assert abs(tau_mean - tau_true) < 0.2 * tau_true, (tau_mean, tau_true)
    assert abs(tau_mean - tau_true) < 3 * tau_sd, (tau_mean, tau_sd, tau_true)
    assert tau_sd < 0.15 * tau_true
    assert math.isclose(fit["metrics"]["noise_precision"], tau_mean, rel_tol=1e-12)
    # 95% predictive intervals for the held-out noisy entries cover 88-99% of them (~190 entries:
    # binomial sd 1.6% around 95%, and the band leaves room for the mean-field approximation).
    held = ~fit["observed"]
    mean, var = field.predict(fit["mesh"][held], include_noise=True)
    inside = (fit["noisy"][held] - mean[:, 0]).abs() <= 1.959964 * var[:, 0].sqrt()
    coverage = float(inside.double().mean())
    assert 0.88 <= coverage <= 0.99, coverage


def test_train_rmse_metric_and_storage_agree_with_evaluation(rank1_grid_fit):
    fit = rank1_grid_fit
    observed = fit["observed"]
    pred = fit["field"](fit["mesh"][observed])[:, 0]
    rmse = (pred - fit["noisy"][observed]).square().mean().sqrt()
    assert math.isclose(float(rmse), fit["metrics"]["train_rmse"], rel_tol=1e-9)
    assert fit["metrics"]["params"] == 24 + 20 + 1
    for key in ("noise_std", "seconds", "iterations", "converged"):
        assert key in fit["metrics"]
    # Same data as (coords, values) observations: the same posterior to round-off.
    coords = fit["mesh"][observed]
    other, _ = fit_funbat((coords, fit["noisy"][observed]), rank=1, lengthscale=0.3, iters=40,
                          fit_lengthscale=False, bounds=((0.0, 1.0), (0.0, 1.0)), progress=False)
    x = torch.rand(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(other(x), fit["field"](x), rtol=0, atol=1e-10)


def test_coordinate_gradient_matches_central_differences(rank1_grid_fit):
    # The posterior mean is C^1 in the indices between stored ones (Matérn 3/2); central differences
    # with h = 1e-6 have error ~h^2 |f'''| + eps/h ~ 1e-10, so 1e-6 leaves a wide margin.
    field = rank1_grid_fit["field"]
    x = torch.tensor([[0.3337, 0.61], [0.7, 0.123]], dtype=torch.float64)
    grad = gradient(field, x)
    eye = torch.eye(2, dtype=torch.float64)
    h = 1e-6
    fd = torch.stack([(field(x + h * eye[k]) - field(x - h * eye[k]))[:, 0] / (2 * h) for k in range(2)], 1)
    torch.testing.assert_close(grad.detach(), fd, rtol=0, atol=1e-6)


def test_predictive_variance_matches_monte_carlo_under_the_factorised_posterior(rank1_grid_fit):
    field = rank1_grid_fit["field"]
    x = torch.tensor([[0.03, 0.5], [0.41, 0.97], [0.77, 0.22]], dtype=torch.float64)
    mean, var = field.predict(x)
    g = torch.Generator().manual_seed(1)
    draws = 200_000
    total = torch.ones(3, draws, dtype=torch.float64)
    for k in range(2):
        m, c = field.factor_posterior(k, x[:, k])  # [3, 1], [3, 1, 1]
        total = total * (m + c[:, :, 0].sqrt() * torch.randn(3, draws, generator=g, dtype=torch.float64))
    w = field.core_mean[0] + field.core_cov[0, 0].sqrt() * torch.randn(draws, generator=g, dtype=torch.float64)
    samples = field.value_scale * w * total
    # Monte Carlo: mean within 5 standard errors, variance within 3% (sd of a sample variance ~ sqrt(2/N)).
    se = samples.std(1) / math.sqrt(draws)
    assert bool(((samples.mean(1) - mean[:, 0]).abs() < 5 * se).all())
    torch.testing.assert_close(samples.var(1), var[:, 0], rtol=0.03, atol=0)


def test_rank2_beats_discrete_tucker_with_interpolation():
    bench = load_benchmark()
    for seed in (0, 1):
        problem = bench.grid_problem(seed, size=30, observed=0.3, noise=0.1, test=400)
        ours = bench.run_funbat(problem, (2, 2), 0.15, 25)
        # The baseline picks its best variant on the test set itself (EM-HOOI or ridge ALS).
        base = bench.run_baseline(problem, (2, 2), [None], ridges=(1e-2, 1e-1, 1.0))
        # Held-out entries of the observed grid and entries at new continuous indices: FunBaT's
        # RMSE against the noiseless truth at least 25% lower than the baseline's, and below 0.6 sigma.
        for name in ("heldout", "new"):
            assert ours[f"{name}_rmse"] < 0.75 * base[f"{name}_rmse"], (name, ours, base)
            assert ours[f"{name}_rmse"] < 0.6 * problem["sigma"], (name, ours, problem["sigma"])
            assert 0.9 <= ours[f"{name}_coverage"] <= 0.99, (name, ours)


def test_three_modes_with_unequal_ranks_recover_the_truth():
    def truth(x):
        return (torch.exp(-x[:, 0]) * (1 + x[:, 2]) + 0.5 * torch.sin(3 * x[:, 0]) * x[:, 2]) * torch.cos(2 * x[:, 1])

    g = torch.Generator().manual_seed(0)
    x = torch.rand(400, 3, generator=g, dtype=torch.float64)
    sigma = 0.05
    y = truth(x) + sigma * torch.randn(400, generator=g, dtype=torch.float64)
    field, metrics = fit_funbat((x, y), rank=(2, 1, 2), lengthscale=1.0, iters=15, fit_lengthscale=False,
                                bounds=((0, 1),) * 3, progress=False)
    test = torch.rand(300, 3, generator=g, dtype=torch.float64)
    err = (field(test)[:, 0] - truth(test)).square().mean().sqrt()
    assert float(err) < 0.5 * sigma, float(err)  # measured 0.32 sigma
    assert abs(metrics["noise_std"] - sigma) < 0.15 * sigma, metrics["noise_std"]
    assert metrics["params"] == 400 * (2 + 1 + 2) + 4


def test_state_dict_round_trip_through_the_registry(rank1_grid_fit):
    field = rank1_grid_fit["field"]
    rebuilt = sciml.build_model("funbat", config_to_dict(field.config))
    assert not rebuilt.fitted
    rebuilt.load_state_dict(field.state_dict())
    x = torch.rand(20, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    for a, b in zip(rebuilt.predict(x, include_noise=True), field.predict(x, include_noise=True)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_delta_moments_and_classmethod_fit_run_and_estimate_noise():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(250, 2, generator=g, dtype=torch.float64)
    y = separable(x) + 0.05 * torch.randn(250, generator=g, dtype=torch.float64)
    field = FunBaT.fit(x, y, rank=1, lengthscale=0.3, iters=20, moments="delta", progress=False)
    # Bounds default to the bounding box of the coordinates.
    for k in range(2):
        assert field.domain.bounds[k] == pytest.approx((float(x[:, k].min()), float(x[:, k].max())), rel=1e-12)
    assert 0.03 < math.sqrt(field.noise_variance) < 0.07
    test = torch.rand(200, 2, generator=g, dtype=torch.float64) * 0.8 + 0.1
    err = (field(test)[:, 0] - separable(test)).square().mean().sqrt()
    assert float(err) < 0.03, float(err)


def test_bad_inputs_raise_with_the_argument_named():
    x = torch.rand(30, 2, dtype=torch.float64)
    y = x.sum(1)
    with pytest.raises(ValueError, match="coords"):
        fit_funbat((torch.where(x > 0.9, float("nan"), x), y), rank=1, progress=False)
    with pytest.raises(ValueError, match="coords"):
        fit_funbat((x[:, 0], y), rank=1, progress=False)
    with pytest.raises(ValueError, match="values"):
        fit_funbat((x, y[:-1]), rank=1, progress=False)
    with pytest.raises(ValueError, match="rank"):
        fit_funbat((x, y), rank=0, progress=False)
    with pytest.raises(ValueError, match="rank"):
        fit_funbat((x, y), rank=(2, 2, 2), progress=False)
    with pytest.raises(TypeError, match="rank"):
        fit_funbat((x, y), rank=1.5, progress=False)
    with pytest.raises(ValueError, match="nu"):
        fit_funbat((x, y), rank=1, nu=2.5, progress=False)
    with pytest.raises(ValueError, match="lengthscale"):
        fit_funbat((x, y), rank=1, lengthscale=0.0, progress=False)
    with pytest.raises(TypeError, match="options"):
        fit_funbat((x, y), rank=1, progress=False, learning_rate=1e-3)
    with pytest.raises(TypeError, match="data"):
        fit_funbat(x, rank=1, progress=False)
    grid = sciml.Grid.uniform((4, 5), sciml.Domain.unit(2))
    with pytest.raises(ValueError, match="batch 1, channel 1"):
        fit_funbat(sciml.Sampled(torch.ones(1, 2, 4, 5), grid), rank=1, progress=False)
    with pytest.raises(ValueError, match="periodic"):
        FunBaT(FunBaTConfig(bounds=((0, 1), (0, 1)), periodic=(True, False)))
    unfitted = FunBaT(FunBaTConfig())
    with pytest.raises(RuntimeError, match="fit"):
        unfitted(torch.rand(3, 2))
    field, _ = fit_funbat((x, y), rank=1, iters=2, bounds=((0, 1), (0, 1)), progress=False)
    with pytest.raises(ValueError, match="outside the domain"):
        field(torch.tensor([[1.5, 0.5]], dtype=torch.float64))
    with pytest.raises(ValueError, match="x"):
        field.predict(torch.tensor([[0.5, float("nan")]], dtype=torch.float64))
    with pytest.raises(ValueError, match="mode"):
        field.factor_posterior(2, [0.5])


def test_module_docstring_examples_run():
    # Run here on sciml.fields.funbat: collecting fields/funbat.py directly would import it a
    # second time as ``fields.funbat`` and register the model twice.
    import doctest

    import sciml.fields.funbat as module

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0, result
