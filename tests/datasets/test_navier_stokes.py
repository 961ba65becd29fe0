"""Navier–Stokes (vorticity) solver: exact Taylor–Green decay and forced shear, time order,
energy and enstrophy budgets, FNO defaults and blow-up reports."""

import numpy as np
import pytest
import scipy.fft

from sciml.datasets.navier_stokes import (
    NavierStokesConfig,
    NavierStokesProblem,
    fno_forcing,
    solve_navier_stokes,
    velocity_from_vorticity,
)
from sciml.datasets.problem import get_problem

PI = np.pi


def taylor_green(n, amplitude=20.0):
    x = np.arange(n) / n
    return amplitude * np.sin(2 * PI * x)[:, None] * np.sin(4 * PI * x)[None, :]   # -Δ eigenvalue 20π²


@pytest.mark.parametrize("scheme, order", [("cn-heun", 2), ("etdrk4", None)])
def test_taylor_green_decay(scheme, order):
    nu, T, w0 = 0.05, 1.0, taylor_green(32)
    exact = w0 * np.exp(-20 * PI**2 * nu * T)
    errors = [np.max(np.abs(solve_navier_stokes(w0, nu, [T], max_dt=T / n, scheme=scheme)[0] - exact))
              / np.max(np.abs(exact)) for n in (20, 40, 80)]
    if order is None:            # ETDRK4 integrates the linear part exactly: the nonlinear term is 0 here
        assert max(errors) < 1e-12                   # observed 9e-14
    else:
        orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
        assert np.all(orders > 1.9), orders          # observed 1.93, 1.98


@pytest.mark.parametrize("scheme", ["cn-heun", "etdrk4"])
def test_forced_shear_from_rest(scheme):
    # f along the single direction (1, 1): u·∇w = 0 and w = f (1 - e^{-ν κ² t}) / (ν κ²), κ² = 8π²
    nu, n = 0.01, 32
    f, times = fno_forcing(n, 1.0), np.array([0.5, 1.0, 2.0])
    w = solve_navier_stokes(np.zeros((n, n)), nu, times, forcing=f, max_dt=0.05, scheme=scheme)
    decay = 8 * PI**2 * nu
    exact = f[None] * (1 - np.exp(-decay * times))[:, None, None] / decay
    tolerance = 1e-12 if scheme == "etdrk4" else 1e-4      # observed 2e-15 and 2.3e-5 (relative)
    assert np.max(np.abs(w - exact)) < tolerance * np.max(np.abs(exact))


@pytest.mark.parametrize("scheme, dts, order", [("etdrk4", (0.2, 0.1, 0.05, 0.025), 4),
                                               ("cn-heun", (0.1, 0.05, 0.025, 0.0125), 2)])
def test_time_order_on_turbulent_flow(scheme, dts, order):
    w0 = NavierStokesProblem(NavierStokesConfig(resolution=32)).initial_conditions([0])
    f = fno_forcing(32)
    runs = [solve_navier_stokes(w0, 1e-3, [2.0], forcing=f, max_dt=dt, scheme=scheme) for dt in dts]
    differences = [np.max(np.abs(a - b)) for a, b in zip(runs[:-1], runs[1:])]
    observed = np.log2(np.array(differences[:-1]) / np.array(differences[1:]))
    assert np.all(np.abs(observed - order) < 0.3), observed


def test_energy_and_enstrophy_budgets():
    """dE/dt = -2νZ + ∫ψf and dZ/dt = -ν∫|∇w|² + ∫wf, with E = ½∫|u|², Z = ½∫w², on a forced GRF flow."""
    n, nu, delta = 32, 0.01, 0.005
    w0 = NavierStokesProblem(NavierStokesConfig(resolution=n)).initial_conditions([1])[0]
    f = fno_forcing(n, 1.0)
    times = np.array([0.5 - delta, 0.5, 0.5 + delta])
    w = solve_navier_stokes(w0, nu, times, forcing=f, max_dt=delta / 4)
    u, v = velocity_from_vorticity(w)
    energy, enstrophy = 0.5 * np.mean(u**2 + v**2, axis=(1, 2)), 0.5 * np.mean(w**2, axis=(1, 2))
    k = 2 * PI * np.fft.fftfreq(n, 1 / n)
    w_hat, k2 = scipy.fft.fft2(w[1]), k[:, None] ** 2 + k[None, :] ** 2
    psi = np.real(scipy.fft.ifft2(np.where(k2 > 0, w_hat / np.where(k2 > 0, k2, 1), 0)))
    palinstrophy = np.sum(k2 * np.abs(w_hat) ** 2) / n**4               # ∫|∇w|² by Parseval
    energy_rhs = -2 * nu * enstrophy[1] + np.mean(psi * f)
    enstrophy_rhs = -nu * palinstrophy + np.mean(w[1] * f)
    d_energy = (energy[2] - energy[0]) / (2 * delta)
    d_enstrophy = (enstrophy[2] - enstrophy[0]) / (2 * delta)
    # centred differences: O(δ²) ≈ 1e-5 relative; terms are O(1e-2..1)
    assert abs(d_energy - energy_rhs) < 1e-4 * (abs(2 * nu * enstrophy[1]) + abs(np.mean(psi * f)))
    assert abs(d_enstrophy - enstrophy_rhs) < 1e-4 * (nu * palinstrophy + abs(np.mean(w[1] * f)))


def test_unforced_inviscid_limit_conserves_energy_and_enstrophy():
    w0 = NavierStokesProblem(NavierStokesConfig(resolution=32)).initial_conditions([2])[0]
    w = solve_navier_stokes(w0, 1e-12, [1.0], max_dt=0.01)[0]
    w0 = scipy.fft.irfft2(scipy.fft.rfft2(w0), s=w0.shape)
    assert abs(np.mean(w**2) / np.mean(w0**2) - 1) < 1e-8                # observed ~1e-11
    assert np.max(np.abs(w - w0)) > 1e-2 * np.max(np.abs(w0))             # the flow did evolve


def test_problem_fno_defaults_and_determinism():
    c = NavierStokesConfig()
    assert (c.resolution, c.viscosity, c.final_time, c.n_times, c.forcing_amplitude) == (64, 1e-3, 50.0, 50, 0.1)
    assert np.isclose(c.grf_sigma, np.sqrt(2) * 7**1.5)
    problem = get_problem("navier-stokes", resolution=32, final_time=2.0, n_times=4)
    assert np.allclose(problem.times(), [0.5, 1.0, 1.5, 2.0]) and problem.output_time_dim == "t"
    assert problem.grid().shape == (32, 32) and problem.grid().domain.periodic == (True, True)
    out = problem.solve_batch([5, 6])
    assert out["w0"].shape == (2, 32, 32) and out["w"].shape == (2, 4, 32, 32)
    assert np.allclose(out["w0"].mean(axis=(1, 2)), 0, atol=1e-14)
    assert np.array_equal(problem.solve_batch([6])["w"][0], out["w"][1])
    assert problem.attrs()["solver_order"] == 4


def test_blow_up_names_the_seed():
    problem = NavierStokesProblem(NavierStokesConfig(resolution=32, max_dt=1.0, final_time=10.0, n_times=2,
                                                     sigma=500.0))
    with pytest.raises(FloatingPointError, match=r"navier-stokes: seed 3 blew up.*t = 5"):
        problem.solve_batch([3])


@pytest.mark.parametrize("kwargs, match", [
    ({"viscosity": 0.0}, "viscosity"), ({"scheme": "euler"}, "scheme"),
    ({"resolution": 7}, "resolution"), ({"forcing_amplitude": -1.0}, "forcing_amplitude"),
])
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NavierStokesConfig(**kwargs)


def test_bad_arguments():
    with pytest.raises(ValueError, match="w0"):
        solve_navier_stokes(np.zeros((8, 9)), 1e-3, [1.0])
    with pytest.raises(ValueError, match="forcing"):
        solve_navier_stokes(np.zeros((8, 8)), 1e-3, [1.0], forcing=np.zeros((4, 4)))
    with pytest.raises(ValueError, match="scheme"):
        solve_navier_stokes(np.zeros((8, 8)), 1e-3, [1.0], scheme="rk3")
