"""Darcy solver: second order on a manufactured solution with variable coefficient; FNO defaults."""

import numpy as np
import pytest

from sciml.datasets.darcy import DarcyConfig, DarcyProblem, solve_darcy
from sciml.datasets.problem import get_problem

PI = np.pi


def manufactured(n):
    """u = e^x sin(πx) sin(2πy), a = 1 + 0.5 sin(2πx) cos(3πy) in [0.5, 1.5], f = -div(a grad u)."""
    x = np.linspace(0.0, 1.0, n)
    X, Y = np.meshgrid(x, x, indexing="ij")
    a = 1 + 0.5 * np.sin(2 * PI * X) * np.cos(3 * PI * Y)
    a_x = PI * np.cos(2 * PI * X) * np.cos(3 * PI * Y)
    a_y = -1.5 * PI * np.sin(2 * PI * X) * np.sin(3 * PI * Y)
    u = np.exp(X) * np.sin(PI * X) * np.sin(2 * PI * Y)
    u_x = np.exp(X) * (PI * np.cos(PI * X) + np.sin(PI * X)) * np.sin(2 * PI * Y)
    u_xx = np.exp(X) * ((1 - PI**2) * np.sin(PI * X) + 2 * PI * np.cos(PI * X)) * np.sin(2 * PI * Y)
    u_y = 2 * PI * np.exp(X) * np.sin(PI * X) * np.cos(2 * PI * Y)
    u_yy = -4 * PI**2 * u
    return a, -(a_x * u_x + a * u_xx + a_y * u_y + a * u_yy), u


def test_second_order_on_manufactured_solution():
    sizes = [17, 33, 65, 129]
    errors = []
    for n in sizes:
        a, f, u = manufactured(n)
        errors.append(np.max(np.abs(solve_darcy(a, f) - u)))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 1.9), orders           # observed 1.96, 2.00, 2.00
    assert errors[-1] < 5e-4                      # observed 4.4e-4


def test_constant_coefficient_matches_series_solution():
    # -Δu = 1 on the unit square: u(1/2, 1/2) = 0.0736713532814...
    u = solve_darcy(np.full((129, 129), 2.0), f=2.0)
    assert abs(u[64, 64] - 0.07367135328) < 2e-5     # O(h^2) with h = 1/128


def test_batch_matches_single_and_lengths_scale():
    a, f, _ = manufactured(17)
    batch = solve_darcy(np.stack([a, 2 * a]), f)
    assert np.array_equal(batch[0], solve_darcy(a, f))
    assert np.allclose(batch[1], 0.5 * batch[0], rtol=1e-12, atol=1e-15)
    # on [0, 2]^2 with f scaled by 1/4 the solution is the same function of x/2
    assert np.allclose(solve_darcy(a, f / 4, lengths=(2.0, 2.0)), batch[0], rtol=1e-10, atol=1e-14)


def test_fno_default_problem():
    problem = get_problem("darcy", resolution=32)
    assert isinstance(problem, DarcyProblem)
    assert problem.config.high == 12.0 and problem.config.low == 3.0 and problem.config.forcing == 1.0
    grid = problem.grid()
    assert grid.shape == (32, 32) and grid.domain.periodic == (False, False)
    assert grid.axes[0].coordinates[[0, -1]].tolist() == [0.0, 1.0]
    out = problem.solve_batch([3, 4, 5])
    assert set(np.unique(out["a"])) == {3.0, 12.0}
    assert out["u"].dtype == np.float64 and out["u"].shape == (3, 32, 32)
    boundary = np.concatenate([out["u"][:, 0], out["u"][:, -1], out["u"][:, :, 0], out["u"][:, :, -1]], 1)
    assert np.all(boundary == 0.0)
    assert np.all(out["u"][:, 1:-1, 1:-1] > 0)   # f = 1 > 0: discrete maximum principle
    single = problem.solve_batch([4])
    assert np.array_equal(single["u"][0], out["u"][1]) and np.array_equal(single["a"][0], out["a"][1])
    attrs = problem.attrs()
    assert attrs["problem"] == "darcy" and attrs["solver_order"] == 2 and "div" in attrs["pde"]


def test_refinement_solves_finer_and_subsamples():
    coarse = DarcyProblem(DarcyConfig(resolution=17, coefficient="lognormal", refinement=2))
    fine = DarcyProblem(DarcyConfig(resolution=33, coefficient="lognormal"))
    a, b = coarse.solve_batch([1]), fine.solve_batch([1])
    assert np.array_equal(a["a"][0], b["a"][0, ::2, ::2])
    assert np.array_equal(a["u"][0], b["u"][0, ::2, ::2])


@pytest.mark.parametrize("kwargs, match", [
    ({"resolution": 2}, "resolution"),
    ({"refinement": 0}, "refinement"),
    ({"coefficient": "binary"}, "coefficient"),
    ({"low": -3.0}, "low"),
])
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DarcyConfig(**kwargs)


def test_bad_coefficient():
    with pytest.raises(ValueError, match="a: expected finite coefficient values > 0"):
        solve_darcy(-np.ones((8, 8)))
    with pytest.raises(ValueError, match=r"a: expected shape"):
        solve_darcy(np.ones((2, 8)))
    with pytest.raises(ValueError, match="f: expected finite"):
        solve_darcy(np.ones((8, 8)), f=np.nan)
