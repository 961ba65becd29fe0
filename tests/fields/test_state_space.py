"""Matérn state-space models, Kalman filter and RTS smoother against dense GP regression in closed form.

Tolerances: the Kalman/RTS posterior and the dense Cholesky posterior are two
exact algorithms for the same Gaussian posterior, so they agree to round-off;
1e-8 absolute on problems with O(1) values and kernel condition numbers below
~1e6 leaves a wide margin over float64 round-off.
"""

import math

import numpy as np
import pytest
import scipy.integrate
import scipy.linalg
import scipy.stats
import torch

from sciml.fields.state_space import (
    GaussMarkovPosterior,
    MaternStateSpace,
    kalman_smoother,
    log_marginal,
    scalar_observations,
)

TOL = 1e-8


def matern_kernel(a, b, nu, lengthscale, variance):
    """Independent numpy closed form of the Matérn 1/2 and 3/2 covariances."""
    r = np.abs(a[:, None] - b[None, :]) / lengthscale
    if nu == 0.5:
        return variance * np.exp(-r)
    s = math.sqrt(3.0) * r
    return variance * (1 + s) * np.exp(-s)


def dense_gp(t_obs, y, noise, t_new, nu, lengthscale, variance):
    """Posterior mean and variance of u(t_new) given y = u(t_obs) + N(0, noise), by Cholesky."""
    k_oo = matern_kernel(t_obs, t_obs, nu, lengthscale, variance) + noise * np.eye(t_obs.size)
    k_no = matern_kernel(t_new, t_obs, nu, lengthscale, variance)
    chol = scipy.linalg.cho_factor(k_oo, lower=True)
    mean = k_no @ scipy.linalg.cho_solve(chol, y)
    var = variance - np.einsum("ij,ji->i", k_no, scipy.linalg.cho_solve(chol, k_no.T))
    return mean, var


@pytest.mark.parametrize("nu", [0.5, 1.5])
def test_kalman_rts_matches_dense_gp_posterior_with_repeated_times(nu):
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 3, 25))
    t = np.concatenate([t, t[[3, 3, 10]]])  # several observations at one index
    y = np.sin(2 * t) + 0.1 * rng.standard_normal(t.size)
    noise, ell, var = 0.05, 0.7, 1.3
    model = MaternStateSpace(nu=nu, lengthscale=ell, variance=var)
    times, lam, eta = scalar_observations(t, y, noise)
    post = kalman_smoother(model, times, lam, eta)
    mean, cov = post.values()
    ref_mean, ref_var = dense_gp(t, y, noise, times.numpy(), nu, ell, var)
    np.testing.assert_allclose(mean[:, 0].numpy(), ref_mean, atol=TOL, rtol=0)
    np.testing.assert_allclose(cov[:, 0, 0].numpy(), ref_var, atol=TOL, rtol=0)
    # Unseen indices: before the first, between neighbours, after the last, and exactly on a stored one.
    t_new = np.array([-0.5, 0.01, 1.234, 2.2, 3.4, float(times[7])])
    mean, cov = post.values_at(torch.tensor(t_new))
    ref_mean, ref_var = dense_gp(t, y, noise, t_new, nu, ell, var)
    np.testing.assert_allclose(mean[:, 0].numpy(), ref_mean, atol=TOL, rtol=0)
    np.testing.assert_allclose(cov[:, 0, 0].numpy(), ref_var, atol=TOL, rtol=0)


@pytest.mark.parametrize("nu", [0.5, 1.5])
def test_vector_observations_coupling_two_processes_match_dense_gp(nu):
    # y_i = c_i^T (u1(t_i), u2(t_i)) + e_i: each observation mixes both processes.
    rng = np.random.default_rng(1)
    n, noise, ell, var = 18, 0.02, 0.5, 0.8
    t = np.sort(rng.uniform(0, 2, n))
    t[5] = t[4]
    c = rng.standard_normal((n, 2))
    y = rng.standard_normal(n)
    model = MaternStateSpace(nu=nu, lengthscale=ell, variance=var, copies=2)
    times, inverse = torch.unique(torch.tensor(t), return_inverse=True)
    ct = torch.tensor(c)
    lam = torch.zeros(times.numel(), 2, 2, dtype=torch.float64).index_add_(
        0, inverse, ct[:, :, None] * ct[:, None, :] / noise)
    eta = torch.zeros(times.numel(), 2, dtype=torch.float64).index_add_(
        0, inverse, ct * torch.tensor(y)[:, None] / noise)
    mean, cov = kalman_smoother(model, times, lam, eta).values()
    # Dense: stacked [u1(times); u2(times)] with block-diagonal prior.
    tu = times.numpy()
    k = matern_kernel(tu, tu, nu, ell, var)
    prior = scipy.linalg.block_diag(k, k)
    m = tu.size
    design = np.zeros((n, 2 * m))
    design[np.arange(n), inverse.numpy()] = c[:, 0]
    design[np.arange(n), m + inverse.numpy()] = c[:, 1]
    post_cov = np.linalg.inv(np.linalg.inv(prior) + design.T @ design / noise)
    post_mean = post_cov @ design.T @ y / noise
    np.testing.assert_allclose(mean.T.reshape(-1).numpy(), post_mean, atol=1e-7, rtol=0)
    np.testing.assert_allclose(cov[:, 0, 0].numpy(), np.diag(post_cov)[:m], atol=1e-7, rtol=0)
    np.testing.assert_allclose(cov[:, 0, 1].numpy(), np.diag(post_cov[:m, m:]), atol=1e-7, rtol=0)


@pytest.mark.parametrize("nu", [0.5, 1.5])
def test_exact_discretisation_against_lyapunov_and_noise_integral(nu):
    model = MaternStateSpace(nu=nu, lengthscale=0.4, variance=1.7)
    f, ell_mat, qc = model.feedback().numpy(), model.noise_effect().numpy(), model.spectral_density()
    p_inf = model.stationary_covariance().numpy()
    # P_inf solves the Lyapunov equation F P + P F^T + L qc L^T = 0.
    np.testing.assert_allclose(
        scipy.linalg.solve_continuous_lyapunov(f, -qc * ell_mat @ ell_mat.T), p_inf, rtol=1e-10, atol=1e-12)
    dts = np.array([0.0, 0.03, 0.5, 2.0])
    a, q = model.transition(torch.tensor(dts))
    for dt, a_k, q_k in zip(dts, a.numpy(), q.numpy()):
        np.testing.assert_allclose(a_k, scipy.linalg.expm(f * dt), rtol=1e-12, atol=1e-14)
        # Q = int_0^dt e^{Fs} L qc L^T e^{F^T s} ds by adaptive quadrature.
        integral, _ = scipy.integrate.quad_vec(
            lambda s: scipy.linalg.expm(f * s) @ ell_mat @ ell_mat.T @ scipy.linalg.expm(f * s).T * qc, 0, dt,
            epsabs=1e-13, epsrel=1e-11)
        np.testing.assert_allclose(q_k, integral, rtol=1e-8, atol=1e-11)
        np.testing.assert_allclose(a_k @ p_inf @ a_k.T + q_k, p_inf, rtol=1e-12, atol=1e-13)
        # Covariance function: k(dt) = H A(dt) P_inf H^T.
        np.testing.assert_allclose((a_k @ p_inf)[0, 0], matern_kernel(np.zeros(1), np.array([dt]), nu, 0.4, 1.7)[0, 0],
                                   rtol=1e-12)
    np.testing.assert_allclose(model.covariance(torch.tensor(dts)).numpy(),
                               matern_kernel(np.zeros(1), dts, nu, 0.4, 1.7)[0], rtol=1e-13)


def test_prediction_at_new_time_equals_smoothing_with_an_empty_step():
    model = MaternStateSpace(nu=1.5, lengthscale=0.3, variance=1.0, copies=2)
    rng = np.random.default_rng(2)
    times = torch.tensor(np.sort(rng.uniform(0, 1, 12)))
    root = torch.tensor(rng.standard_normal((12, 2, 2)))
    lam = root @ root.transpose(1, 2)
    eta = torch.tensor(rng.standard_normal((12, 2)))
    post = kalman_smoother(model, times, lam, eta)
    t_new = 0.5 * (times[4] + times[5])
    ext_times = torch.cat([times[:5], t_new[None], times[5:]])
    ext_lam = torch.cat([lam[:5], torch.zeros(1, 2, 2, dtype=torch.float64), lam[5:]])
    ext_eta = torch.cat([eta[:5], torch.zeros(1, 2, dtype=torch.float64), eta[5:]])
    ext = kalman_smoother(model, ext_times, ext_lam, ext_eta)
    mean, cov = post.state_at(t_new[None])
    torch.testing.assert_close(mean[0], ext.smoothed_mean[5], atol=1e-10, rtol=0)
    torch.testing.assert_close(cov[0], ext.smoothed_cov[5], atol=1e-10, rtol=0)
    assert isinstance(post, GaussMarkovPosterior)


def test_bad_inputs_raise_naming_the_argument():
    with pytest.raises(ValueError, match="nu"):
        MaternStateSpace(nu=2.5)
    with pytest.raises(ValueError, match="lengthscale"):
        MaternStateSpace(lengthscale=-1.0)
    with pytest.raises(ValueError, match="copies"):
        MaternStateSpace(copies=0)
    model = MaternStateSpace()
    one = torch.ones(2, 1, 1, dtype=torch.float64)
    with pytest.raises(ValueError, match="strictly increasing"):
        kalman_smoother(model, [0.0, 0.0], one, torch.ones(2, 1))
    with pytest.raises(ValueError, match="precision"):
        kalman_smoother(model, [0.0, 1.0], torch.ones(2, 2, 2), torch.ones(2, 1))
    with pytest.raises(ValueError, match="times"):
        kalman_smoother(model, [0.0, float("nan")], one, torch.ones(2, 1))
    with pytest.raises(ValueError, match="values"):
        scalar_observations([0.0, 1.0], [1.0], 0.1)
    with pytest.raises(ValueError, match="noise_variance"):
        scalar_observations([0.0], [1.0], 0.0)
    with pytest.raises(ValueError, match="method"):
        kalman_smoother(model, [0.0], one[:1], torch.ones(1, 1), method="fast")
    with pytest.raises(TypeError, match="model"):
        kalman_smoother("matern", [0.0], one[:1], torch.ones(1, 1))


@pytest.mark.parametrize("nu", [0.5, 1.5])
@pytest.mark.parametrize("method", ["parallel", "sequential"])
def test_log_normaliser_matches_dense_gp_marginal_likelihood(nu, method):
    rng = np.random.default_rng(3)
    t = np.sort(rng.uniform(0, 2, 15))
    t = np.concatenate([t, t[[2, 9]]])
    y = np.cos(3 * t) + 0.2 * rng.standard_normal(t.size)
    noise, ell, var = 0.04, 0.4, 0.9
    times, lam, eta = scalar_observations(t, y, noise)
    post = kalman_smoother(MaternStateSpace(nu=nu, lengthscale=ell, variance=var), times, lam, eta, method=method)
    cov = matern_kernel(t, t, nu, ell, var) + noise * np.eye(t.size)
    dense = scipy.stats.multivariate_normal(np.zeros(t.size), cov).logpdf(y)
    expected = dense + (y ** 2).sum() / (2 * noise) + 0.5 * t.size * math.log(2 * math.pi * noise)
    assert math.isclose(post.log_normaliser, expected, rel_tol=0, abs_tol=1e-8)


@pytest.mark.parametrize("count", [1, 2, 5, 64, 101])
def test_parallel_scan_matches_sequential_reference(count):
    # Values agree to round-off (float64: 1e-10 relative to the O(1..100) state variances).
    model = MaternStateSpace(nu=1.5, lengthscale=0.2, variance=1.0, copies=3)
    rng = np.random.default_rng(count)
    times = torch.tensor(np.sort(rng.uniform(0, 1, count)))
    root = torch.tensor(rng.standard_normal((count, 3, 3)))
    lam = root @ root.transpose(1, 2)
    lam[::3] = 0.0  # time points without observations
    eta = torch.tensor(rng.standard_normal((count, 3)))
    fast = kalman_smoother(model, times, lam, eta)
    slow = kalman_smoother(model, times, lam, eta, method="sequential", progress=False)
    for name in ("filtered_mean", "filtered_cov", "smoothed_mean", "smoothed_cov"):
        torch.testing.assert_close(getattr(fast, name), getattr(slow, name), rtol=1e-10, atol=1e-10)
    assert math.isclose(fast.log_normaliser, slow.log_normaliser, rel_tol=1e-10, abs_tol=1e-10)


def test_module_docstring_examples_run():
    import doctest

    import sciml.fields.state_space as module

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0, result


def test_log_marginal_by_filter_alone_equals_the_smoother_normaliser():
    rng = np.random.default_rng(4)
    t = np.sort(rng.uniform(0, 1, 40))
    times, lam, eta = scalar_observations(t, np.sin(6 * t) + 0.1 * rng.standard_normal(40), 0.01)
    for ell in (0.05, 0.3, 2.0):
        model = MaternStateSpace(nu=1.5, lengthscale=ell)
        smoothed = kalman_smoother(model, times, lam, eta).log_normaliser
        assert math.isclose(log_marginal(model, times, lam, eta), smoothed, rel_tol=1e-12, abs_tol=1e-12)
