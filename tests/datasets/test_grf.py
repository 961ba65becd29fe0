"""Gaussian random fields: spectrum and covariance against the target, thresholds, determinism.

Statistical tolerances: with ``n`` samples an empirical variance has relative
standard deviation ``sqrt(2/n)``; bounds below are 4-5 of those (or more for
maxima over many modes), so a correct sampler fails with probability < 1e-4
(the seeds are fixed, so the tests are deterministic anyway).
"""

import numpy as np
import pytest
import scipy.fft

from sciml.datasets.grf import GaussianRandomField, lognormal, threshold


@pytest.mark.parametrize("lengths", [(1.0, 1.0), (2.0, 0.5)])
def test_periodic_spectrum_matches_target(lengths):
    grf = GaussianRandomField((24, 16), alpha=2.0, tau=3.0, sigma=2.0, lengths=lengths)
    u = grf.sample(np.arange(3000))
    power = np.mean(np.abs(scipy.fft.rfftn(u, axes=(1, 2))) ** 2, axis=0)
    target = grf.eigenvalues() * u[0].size ** 2 / np.prod(lengths)     # E|û_k|^2 = N^2 λ_k / |D|
    kept = target > 0
    assert np.all(power[~kept] < 1e-20 * power.max())                   # Nyquist modes left out
    ratio = power[kept] / target[kept]
    assert abs(ratio.mean() - 1.0) < 0.02          # 216 modes, each ±2.6-3.7%
    assert np.max(np.abs(ratio - 1.0)) < 0.2


@pytest.mark.parametrize("boundary", ["periodic", "dirichlet", "neumann"])
def test_covariance_matches_karhunen_loeve_sum_1d(boundary):
    grf = GaussianRandomField(12, alpha=1.5, tau=2.0, boundary=boundary, lengths=[1.5])
    u = grf.sample(np.arange(6000))
    phi = grf.basis(0)
    exact = np.real((phi * grf_eigenvalues_full(grf)) @ phi.conj().T)
    empirical = u.T @ u / u.shape[0]
    assert np.max(np.abs(empirical - exact)) < 0.1 * np.max(np.diag(exact))    # 5 sqrt(2/6000) = 0.09
    assert np.allclose(np.diag(exact), grf.pointwise_variance(), rtol=1e-12, atol=1e-15)


def grf_eigenvalues_full(grf):
    """Eigenvalues in the basis' (full fftfreq) order for periodic fields."""
    if grf.boundary != "periodic":
        return grf.eigenvalues()
    m = np.fft.fftfreq(grf.shape[0], 1 / grf.shape[0])
    k = 2 * np.pi * m / grf.lengths[0]
    return np.where(2 * np.abs(m) == grf.shape[0], 0.0, grf.sigma**2 * (k**2 + grf.tau**2) ** (-grf.alpha))


@pytest.mark.parametrize("boundary", ["periodic", "dirichlet", "neumann"])
@pytest.mark.parametrize("shape", [(9, 7), (6, 5, 7)])
def test_pointwise_variance_and_zero_mean(boundary, shape):
    grf = GaussianRandomField(shape, alpha=2.0, tau=3.0, sigma=5.0, boundary=boundary)
    u = grf.sample(np.arange(4000))
    target = grf.pointwise_variance()
    inside = target > 1e-12 * target.max()
    assert np.max(np.abs(u.var(axis=0)[inside] / target[inside] - 1.0)) < 0.12   # 5.4 sqrt(2/4000)
    assert np.all(u[:, ~inside] == 0.0)                                        # Dirichlet boundary
    assert np.max(np.abs(u.mean(axis=0)[inside]) / np.sqrt(target[inside])) < 5.0 / np.sqrt(4000)


def test_mean_zero_drops_constant_mode():
    u = GaussianRandomField((16, 16), tau=0.0, mean_zero=True).sample([0, 1])
    assert np.allclose(u.mean(axis=(1, 2)), 0.0, atol=1e-14)
    v = GaussianRandomField((16, 16), tau=3.0, boundary="neumann", mean_zero=True).sample([0])
    assert np.ptp(v) > 0


def test_sample_depends_on_its_seed_only():
    grf = GaussianRandomField((32, 32), boundary="neumann")
    batch = grf.sample([5, 11, 17])
    assert np.array_equal(grf.sample([11])[0], batch[1])
    assert np.array_equal(grf.sample([5, 11, 17]), batch)
    assert not np.allclose(batch[0], batch[1])


@pytest.mark.parametrize("boundary", ["periodic", "dirichlet", "neumann"])
def test_a_seed_is_the_same_function_at_every_resolution(boundary):
    """The coarse grid's modes are the fine grid's lowest modes, exactly (fp64 round-off, 1e-12).

    Spectral coefficients are read back on each grid with its own exact transform: rfftn
    (periodic), DST-I (Dirichlet interior) or DCT-I (Neumann), all discretely orthogonal.
    """
    coarse_n, fine_n = {"periodic": (16, 32), "dirichlet": (17, 33), "neumann": (17, 33)}[boundary]
    seeds = [3, 4]
    coarse = GaussianRandomField((coarse_n, coarse_n), boundary=boundary).sample(seeds)
    fine = GaussianRandomField((fine_n, fine_n), boundary=boundary).sample(seeds)

    def coefficients(u, n):
        if boundary == "periodic":
            return scipy.fft.rfftn(u, axes=(1, 2)) / n**2
        if boundary == "dirichlet":
            return scipy.fft.dstn(u[:, 1:-1, 1:-1], type=1, axes=(1, 2)) / (2 * (n - 1)) ** 2
        c = scipy.fft.dctn(u, type=1, axes=(1, 2)) / (2 * (n - 1)) ** 2
        return c * np.where(np.arange(n) % (n - 1) == 0, 1.0, 2.0)[:, None] * np.where(
            np.arange(n) % (n - 1) == 0, 1.0, 2.0)[None, :]

    a, b = coefficients(coarse, coarse_n), coefficients(fine, fine_n)
    if boundary == "periodic":
        half = coarse_n // 2      # rows 0..7 and -7..-1, columns 0..7 (Nyquist excluded)
        rows = list(range(half)) + list(range(-half + 1, 0))
        lhs, rhs = a[:, rows, :half], b[:, rows, :half]
    else:
        # Dirichlet: interior modes 1..n-2; Neumann: modes 0..n-2 (the coarse end mode n-1 is
        # the highest cosine the coarse grid holds, sampled alike but scaled as an end mode)
        k = coarse_n - 2 if boundary == "dirichlet" else coarse_n - 1
        lhs, rhs = a[:, :k, :k], b[:, :k, :k]
    assert np.max(np.abs(lhs - rhs)) < 1e-12 * np.max(np.abs(rhs))
    assert np.max(np.abs(rhs)) > 1e-3


def test_grid_matches_boundary_kind():
    assert GaussianRandomField(8).grid().domain.periodic == (True,)
    grid = GaussianRandomField((8, 8), boundary="dirichlet").grid()
    assert grid.domain.periodic == (False, False)
    assert grid.axes[0].coordinates[-1] == 1.0


def test_threshold_gives_two_values_fno_darcy():
    field = GaussianRandomField((33, 33), alpha=2.0, tau=3.0, boundary="neumann", mean_zero=True).sample(
        np.arange(50))
    a = threshold(field)
    assert set(np.unique(a)) == {3.0, 12.0}
    assert np.array_equal(a == 12.0, field >= 0)
    assert 0.4 < np.mean(a == 12.0) < 0.6       # symmetric law: P(u >= 0) = 1/2


def test_lognormal_is_exp_of_field():
    field = GaussianRandomField(64, sigma=3.0).sample([1, 2])
    a = lognormal(field, mean=0.5)
    assert np.all(a > 0)
    assert np.allclose(np.log(a), 0.5 + field, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("kwargs, match", [
    ({"shape": (8,), "boundary": "robin"}, "boundary"),
    ({"shape": (8, 8, 8, 8)}, "shape"),
    ({"shape": (2,), "boundary": "dirichlet"}, r"shape\[0\]"),
    ({"shape": (8,), "alpha": -1.0}, "alpha"),
    ({"shape": (8,), "tau": 0.0}, "tau"),
    ({"shape": (8, 8), "lengths": (1.0,)}, "lengths"),
])
def test_bad_arguments_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GaussianRandomField(**kwargs)


def test_bad_seeds_and_fields():
    grf = GaussianRandomField(8)
    with pytest.raises(ValueError, match="seeds"):
        grf.sample([-1])
    with pytest.raises(ValueError, match="seeds"):
        grf.sample([0.5])
    with pytest.raises(ValueError, match="field"):
        threshold(np.array([np.nan]))


@pytest.mark.parametrize("lengths, error", [((1.0,), ValueError), ((1.0, 1.0, 1.0), ValueError),
                                            ((1.0, -2.0), ValueError), (3.0, TypeError)])
def test_elliptic_solvers_check_the_number_and_sign_of_lengths(lengths, error):
    from sciml.datasets.darcy import solve_darcy
    from sciml.datasets.poisson import solve_poisson

    with pytest.raises(error, match="lengths"):
        solve_darcy(np.ones((9, 9)), lengths=lengths)
    with pytest.raises(error, match="lengths"):
        solve_poisson(np.ones((9, 9)), lengths=lengths)
