"""Burgers solver against the Cole–Hopf exact solution: 4th order in time, spectral in space."""

import numpy as np
import pytest

from sciml.datasets.burgers import BurgersConfig, BurgersProblem, solve_burgers
from sciml.datasets.problem import get_problem

PI = np.pi


def cole_hopf(x, t, nu, amplitudes=(1.0, 0.6, 0.25), phases=(0.0, 0.3, 1.1)):
    """u = -2ν φ_x/φ with φ = a0 + Σ a_m e^{-ν(2πm)^2 t} cos(2πm x + θ_m) > 0, a periodic heat solution."""
    phi, phi_x = np.full_like(x, amplitudes[0]), np.zeros_like(x)
    for m, (a, theta) in enumerate(zip(amplitudes[1:], phases[1:]), start=1):
        k, decay = 2 * PI * m, np.exp(-nu * (2 * PI * m) ** 2 * t)
        phi = phi + a * decay * np.cos(k * x + theta)
        phi_x = phi_x - a * k * decay * np.sin(k * x + theta)
    return -2 * nu * phi_x / phi


def test_exact_to_solver_tolerance_along_trajectory():
    nu, x = 0.05, np.arange(128) / 128
    times = np.array([0.1, 0.25, 0.5])
    u = solve_burgers(cole_hopf(x, 0.0, nu), nu, times, max_dt=1e-3)
    exact = np.stack([cole_hopf(x, t, nu) for t in times])
    assert np.max(np.abs(u - exact)) < 1e-10          # observed 2e-13 .. 5e-11


def test_fourth_order_in_time():
    nu, x, T = 0.05, np.arange(128) / 128, 0.5
    errors = [np.max(np.abs(solve_burgers(cole_hopf(x, 0.0, nu), nu, [T], max_dt=T / n)[0]
                            - cole_hopf(x, T, nu))) for n in (10, 20, 40, 80)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all((orders > 3.8) & (orders < 4.2)), orders    # observed 3.95, 3.96, 3.97


def test_spectral_convergence_in_space():
    nu, T = 0.05, 0.5
    errors = []
    for n in (16, 32, 64):
        x = np.arange(n) / n
        errors.append(np.max(np.abs(solve_burgers(cole_hopf(x, 0.0, nu), nu, [T], max_dt=1e-3)[0]
                                    - cole_hopf(x, T, nu))))
    assert errors[0] > 1e3 * errors[1] and errors[2] < 1e-11     # observed 3e-6, 7e-11, 2e-13


def test_period_length_scales():
    # if u solves Burgers on [0, 1) then v(X, T) = u(X/2, T/4) / 2 solves it on [0, 2) with the same ν
    nu, x = 0.05, np.arange(64) / 64
    u1 = solve_burgers(cole_hopf(x, 0.0, nu), nu, [0.2], max_dt=1e-3)
    u2 = solve_burgers(0.5 * cole_hopf(x, 0.0, nu), nu, [0.8], length=2.0, max_dt=1e-3)
    assert np.allclose(u2, 0.5 * u1, rtol=0, atol=1e-11)


def test_problem_fno_defaults_and_determinism():
    problem = get_problem("burgers", resolution=128, n_times=5)
    c = problem.config
    assert (c.viscosity, c.final_time, c.alpha, c.tau, c.sigma) == (0.1, 1.0, 2.0, 5.0, 25.0)
    assert BurgersConfig().resolution == 1024
    assert np.allclose(problem.times(), [0.2, 0.4, 0.6, 0.8, 1.0])
    grid = problem.grid()
    assert grid.shape == (128,) and grid.domain.periodic == (True,)
    out = problem.solve_batch([2, 9])
    assert out["u0"].shape == (2, 128) and out["u"].shape == (2, 5, 128) and out["u"].dtype == np.float64
    spectrum = np.abs(np.fft.rfft(out["u0"]))
    assert np.all(spectrum[:, 43:] < 1e-12)             # stored u0 is the dealiased start (|m| < 128/3)
    assert np.array_equal(problem.solve_batch([9])["u"][0], out["u"][1])
    assert np.abs(out["u"][:, -1]).max() < np.abs(out["u0"]).max()     # maximum principle
    assert problem.attrs()["solver_order"] == 4 and problem.output_time_dim == "t"


def test_refinement_solves_finer_and_subsamples():
    coarse = BurgersProblem(BurgersConfig(resolution=64, refinement=2, n_times=2)).solve_batch([4])
    fine = BurgersProblem(BurgersConfig(resolution=128, n_times=2)).solve_batch([4])
    assert np.array_equal(coarse["u"][0], fine["u"][0, :, ::2])


def test_blow_up_names_the_seed():
    problem = BurgersProblem(BurgersConfig(resolution=64, sigma=2500.0, max_dt=0.25, viscosity=1e-3, n_times=2))
    with pytest.raises(FloatingPointError, match=r"burgers: seed 7 blew up.*'max_dt': 0.25"):
        problem.solve_batch([7])


@pytest.mark.parametrize("kwargs, match", [
    ({"viscosity": -0.1}, "viscosity"), ({"n_times": 0}, "n_times"),
    ({"resolution": 4}, "resolution"), ({"max_dt": 0.0}, "max_dt"),
])
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BurgersConfig(**kwargs)


def test_bad_arguments():
    x = np.arange(16) / 16
    with pytest.raises(ValueError, match="times"):
        solve_burgers(np.sin(2 * PI * x), 0.1, [0.2, 0.1])
    with pytest.raises(ValueError, match="u0"):
        solve_burgers(np.full(16, np.inf), 0.1, [0.1])
    with pytest.raises(ValueError, match="viscosity"):
        solve_burgers(np.sin(2 * PI * x), 0.0, [0.1])
