"""INSR problems against their references: exact solutions and grid solvers (with convergence orders)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from sciml import Domain, Grid
from sciml.fields.insr.advection import Advection, gaussian_pulse
from sciml.fields.insr.euler import IncompressibleEuler
from sciml.fields.insr.network import NetworkConfig
from sciml.fields.insr.references import midpoint_advection, semi_lagrangian_advection, taylor_green
from sciml.fields.insr.solver import INSRSolver
from sciml.fields.insr.stepper import StepperConfig, frozen_copy


# ------------------------------------------------------------------ grid references
def _sl_error(n: int, order: int, final_time: float = 0.5, courant: float = 0.5) -> float:
    domain = Domain(((0.0, 1.0),), periodic=True)
    dt = courant / (0.3 * n)  # the departure points sit half-way between nodes at every n
    steps = round(final_time / dt)
    grid = Grid.uniform((n,), domain)
    x = grid.points(dtype=torch.float64)[:, 0].numpy()

    def u0(y):
        return np.exp(np.sin(2 * np.pi * y))

    u = semi_lagrangian_advection(u0(x), grid, [0.3], dt, steps, order=order)
    return float(np.sqrt(np.mean((u - u0(x - 0.3 * dt * steps)) ** 2)))


@pytest.mark.parametrize("order, expected", [(1, 1.0), (3, 3.0)])
def test_semi_lagrangian_converges_at_the_interpolation_order(order, expected):
    # at a fixed Courant number the interpolation error O(dx^(p+1)) per step over T/dt ~ 1/dx steps:
    # first order for linear (p = 1), third order for cubic splines (p = 3)
    errors = [_sl_error(n, order) for n in (32, 64, 128)]
    rates = [math.log2(a / b) for a, b in itertools.pairwise(errors)]
    assert all(abs(r - expected) < 0.25 for r in rates), rates


def test_semi_lagrangian_bounded_domain_brings_in_zeros():
    grid = Grid.uniform((11,), Domain(((0.0, 1.0),)))
    u = semi_lagrangian_advection(np.ones(11), grid, [0.1], 1.0, 2)
    assert u.tolist() == [0.0, 0.0] + [1.0] * 9


# the central stencils' symbols: D e^{ikx} = i D(k) e^{ikx}
_SYMBOL = {2: lambda k, h: np.sin(k * h) / h, 4: lambda k, h: (8 * np.sin(k * h) - np.sin(2 * k * h)) / (6 * h)}


@pytest.mark.parametrize("order", [2, 4])
def test_midpoint_advection_turns_a_fourier_mode_by_the_exact_discrete_phase(order):
    # independent reference: Crank-Nicolson multiplies exp(i k.x) by (1 - i theta/2) / (1 + i theta/2)
    # per step, theta = dt (a1 D(k1) + a2 D(k2)); tolerance: round-off of 40 sparse solves
    n, dt, steps, a, k = (12, 10), 0.07, 40, (0.8, -0.5), (2 * np.pi * 2, 2 * np.pi * 3)
    grid = Grid.uniform(n, Domain.unit(2, periodic=True))
    x = grid.points(dtype=torch.float64).numpy().reshape(*n, 2)
    phase0 = k[0] * x[..., 0] + k[1] * x[..., 1]
    u = midpoint_advection(np.cos(phase0), grid, a, dt, steps, order=order)
    theta = dt * sum(a[i] * _SYMBOL[order](k[i], 1.0 / n[i]) for i in range(2))
    np.testing.assert_allclose(u, np.cos(phase0 - steps * 2 * np.arctan(theta / 2)), atol=1e-12)


def test_midpoint_advection_conserves_the_discrete_norm_on_periodic_grids():
    # D is skew-symmetric, so the midpoint rule is an orthogonal (Cayley) map: rtol 1e-12
    grid = Grid.uniform((24, 16), Domain.unit(2, periodic=True))
    u0 = np.random.default_rng(0).standard_normal(grid.shape)
    u = midpoint_advection(u0, grid, (1.3, 0.4), 0.05, 60, order=4)
    assert np.linalg.norm(u) == pytest.approx(np.linalg.norm(u0), rel=1e-12)
    assert np.abs(u - u0).max() > 0.5          # it did move


def _midpoint_error(n: int, order: int) -> float:
    domain = Domain(((0.0, 1.0),), periodic=True)
    grid = Grid.uniform((n,), domain)
    # time error O(dt^2) kept below the spatial one: dt ~ h for order 2, dt ~ h^2 for order 4
    dt = 0.5 / n if order == 2 else 4.0 / n**2
    steps = round(0.5 / dt)
    x = grid.points(dtype=torch.float64)[:, 0].numpy()

    def u0(y):
        return np.exp(np.sin(2 * np.pi * y))

    u = midpoint_advection(u0(x), grid, [0.3], dt, steps, order=order)
    return float(np.sqrt(np.mean((u - u0(x - 0.3 * dt * steps)) ** 2)))


@pytest.mark.parametrize("order", [2, 4])
def test_midpoint_advection_converges_at_the_stencil_order(order):
    errors = [_midpoint_error(n, order) for n in (32, 64, 128)]
    rates = [math.log2(a / b) for a, b in itertools.pairwise(errors)]
    assert all(abs(r - order) < 0.25 for r in rates), rates


def test_midpoint_advection_bounded_grid_matches_periodic_away_from_the_boundary():
    # the same nodes and spacing; a pulse that stays far from both ends sees no boundary (atol 1e-12:
    # the pulse's tails at the ends are below 1e-40)
    n = 81
    bounded = Grid.uniform((n,), Domain(((0.0, 1.0),)))
    periodic = Grid.uniform((n,), Domain(((0.0, 1.0 + 1.0 / (n - 1)),), periodic=True))
    x = np.linspace(0.0, 1.0, n)
    u0 = np.exp(-0.5 * ((x - 0.4) / 0.03) ** 2)
    a = midpoint_advection(u0, bounded, [0.5], 0.01, 20)
    b = midpoint_advection(u0, periodic, [0.5], 0.01, 20)
    np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("kwargs, message", [({"order": 3}, "order: expected 2 or 4"),
                                             ({"dt": -0.1}, "dt: expected a positive"),
                                             ({"steps": 1.5}, "steps: expected an int")])
def test_midpoint_advection_rejects_bad_arguments(kwargs, message):
    grid = Grid.uniform((8,), Domain.unit(1, periodic=True))
    args = {"dt": 0.1, "steps": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        midpoint_advection(np.zeros(8), grid, [1.0], **args)


def test_midpoint_advection_reports_the_step_of_a_non_finite_state():
    grid = Grid.uniform((8,), Domain.unit(1, periodic=True))
    with pytest.raises(FloatingPointError, match="step 1"):
        midpoint_advection(np.full(8, np.nan), grid, [1.0], 0.1, 3)


def test_taylor_green_solves_steady_euler():
    # spectral derivatives on a periodic grid are exact for these trigonometric polynomials
    n = 16
    s = 2 * np.pi * np.arange(n) / n
    pts = np.stack(np.meshgrid(s, s, indexing="ij"), -1).reshape(-1, 2)
    sol = taylor_green(pts)
    k = np.fft.fftfreq(n, d=1.0 / n)

    def d(f, axis):
        wavenumber = k[:, None] if axis == 0 else k[None, :]
        return np.real(np.fft.ifft(1j * wavenumber * np.fft.fft(f, axis=axis), axis=axis))

    u, v = (sol["velocity"][:, i].reshape(n, n) for i in range(2))
    p = sol["pressure"].reshape(n, n)
    assert np.abs(d(u, 0) + d(v, 1)).max() < 1e-12  # divergence-free
    assert np.abs(u * d(u, 0) + v * d(u, 1) + d(p, 0)).max() < 1e-12  # (u.grad)u = -grad p
    assert np.abs(u * d(v, 0) + v * d(v, 1) + d(p, 1)).max() < 1e-12
    assert np.allclose(d(v, 0) - d(u, 1), sol["vorticity"].reshape(n, n), atol=1e-12)
    assert np.isclose(0.5 * np.mean(u**2 + v**2) * (2 * np.pi) ** 2, sol["kinetic_energy"])


def test_spectral_reference_keeps_taylor_green_and_self_converges_on_the_vortex_sheet():
    from sciml.workflows.insr import spectral_euler_reference

    tg = IncompressibleEuler.taylor_green()
    w = spectral_euler_reference(tg, [0.5], n=16)[0]
    s = 2 * np.pi * np.arange(16) / 16
    assert np.allclose(w, 2 * np.sin(s)[:, None] * np.sin(s)[None, :], atol=1e-10)
    sheet = IncompressibleEuler.vortex_sheet(thickness=0.5)
    coarse, fine = (spectral_euler_reference(sheet, [0.5], n=n)[0] for n in (32, 64))
    # the fine solution on the coarse nodes: spectral self-convergence of a smooth layer
    # (the layers join with a small kink at y = 0 and pi, so convergence is algebraic: 0.3% here)
    assert np.abs(fine[::2, ::2] - coarse).max() < 5e-3 * np.abs(fine).max()


# ------------------------------------------------------------------ INSR solutions
def test_advection_1d_few_steps_matches_the_translated_pulse(one_thread):
    problem = Advection(Domain(((-1.0, 1.0),)), [0.5], gaussian_pulse([-0.3], 0.15))
    config = StepperConfig(max_iters=40, points=512, initial_iters=400, initial_lr=3e-3, seed=0)
    solver = INSRSolver(problem, 0.05, config, NetworkConfig(width=16, depth=2, omega0=10.0))
    solver.run(6, progress=False)
    x = torch.linspace(-1, 1, 401)[:, None]
    error = problem.metrics(solver.fields, solver.t, x)["u_rel_l2"]
    unmoved = float((problem.initial(x) - problem.reference("u", solver.t, x)).norm()
                    / problem.reference("u", solver.t, x).norm())
    # the pulse moved by 0.15 = one width: staying put would be a ~70% error; INSR stays within 3%
    assert unmoved > 0.5
    assert error < 0.03


def test_taylor_green_few_steps_keeps_energy_and_vorticity(one_thread):
    problem = IncompressibleEuler.taylor_green()
    config = StepperConfig(max_iters=30, points=512, initial_iters=300, initial_lr=3e-3, seed=0)
    solver = INSRSolver(problem, 0.05, config, NetworkConfig(width=16, depth=2, omega0=3.0, hidden_omega0=3.0))
    solver.initialize()
    g = torch.linspace(0, 2 * math.pi, 17)[:-1]
    pts = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    start = problem.metrics(solver.fields, 0.0, pts)
    solver.run(2, progress=False)
    end = problem.metrics(solver.fields, solver.t, pts)
    # the steady vortex stays put: energy within 1%, errors not more than 1.5x the initial fit's + 1%
    assert end["kinetic_energy_rel_error"] < 0.01
    assert end["u_rel_l2"] < 1.5 * start["u_rel_l2"] + 0.01
    assert end["vorticity_rel_l2"] < 1.5 * start["vorticity_rel_l2"] + 0.01
    assert end["divergence_rms"] < 0.1


# ------------------------------------------------------------------ elasticity vs scikit-fem
def _fem_cantilever(mesh, mu, lam, density, gravity):
    """P2 linear elasticity on the same triangles, clamped at x = 0: (displacement probe, potential energy)."""
    skfem = pytest.importorskip("skfem")
    from skfem.helpers import ddot, sym_grad, trace

    @skfem.BilinearForm
    def linear_elasticity(u, v, w):  # 2 mu eps(u):eps(v) + lam div u div v
        return 2 * mu * ddot(sym_grad(u), sym_grad(v)) + lam * trace(sym_grad(u)) * trace(sym_grad(v))

    m = skfem.MeshTri(mesh.points().numpy().T.copy(), mesh.simplices().T.copy())
    basis = skfem.Basis(m, skfem.ElementVector(skfem.ElementTriP2()))
    stiffness = skfem.asm(linear_elasticity, basis)

    @skfem.LinearForm
    def weight(v, w):
        return density * (gravity[0] * v[0] + gravity[1] * v[1])

    load = skfem.asm(weight, basis)
    u = skfem.solve(*skfem.condense(stiffness, load, D=basis.get_dofs(lambda x: x[0] < 1e-9)))
    tip = np.array([[1.0, 1.0], [0.05, 0.15]])  # probes at (1, 0.05), (1, 0.15)
    probes = basis.probes(tip)
    return (probes @ u).reshape(2, -1), -0.5 * float(load @ u)


def test_elasticity_static_equilibrium_matches_linear_fem(one_thread):
    from sciml import Mesh
    from sciml.fields.insr.elasticity import Elasticity
    # a beam of 21 x 5 vertices on [0, 1] x [0, 0.2], E = 1e4, nu = 0.3, rho = 1, g = 1, clamped at x = 0
    # the displacement field works in units of the Euler-Bernoulli tip deflection 1.5 rho g L^4 / (E h^2)
    problem = Elasticity.cantilever(2, vertices=(21, 5), young=1e4, poisson=0.3, density=1.0, gravity=1.0,
                                    displacement_scale=1.5 / (1e4 * 0.2**2))
    mesh = problem.mesh
    assert isinstance(mesh, Mesh) and mesh.simplices().shape == (160, 3)
    fem_tip, fem_energy = _fem_cantilever(mesh, problem.mu, problem.lam, 1.0, (0.0, -1.0))
    field = problem.make_fields(NetworkConfig(width=16, depth=2, omega0=2.0, hidden_omega0=2.0))["u"].double()
    # dt = 1e3: the inertia term is 5e-7 per unit displacement^2, so one implicit step is the static equilibrium
    config = StepperConfig(max_iters=300, points=512, initial_iters=1, rtol=1e-6, patience=30, seed=0)
    solver = INSRSolver(problem, 1e3, config, fields={"u": field})
    solver.run(1, progress=False)
    with torch.no_grad():
        tip = field(torch.tensor([[1.0, 0.05], [1.0, 0.15]], dtype=torch.float64)).T.numpy()
    x = problem.sample_points(20000, torch.Generator().manual_seed(1), dtype=torch.float64)
    energies = problem.energies(field, x)
    # small strain (tip deflection ~ 0.4% of the length): neo-Hookean = linear elasticity to O(strain).
    # The field's equilibrium matches P2 FEM: tip deflection within 3% (measured -1.2%, -1.4%), the work
    # of gravity (= -2 x the FEM potential energy) within 5% (measured -3.1%); its elastic energy is
    # within 25% of half that work (measured +4%; the budget of 300 L-BFGS evaluations is not converged)
    assert fem_tip[1].mean() < -1e-3
    assert np.allclose(tip[1], fem_tip[1], rtol=0.03)
    assert energies["gravity"] == pytest.approx(2 * fem_energy, rel=0.05)
    assert energies["elastic"] == pytest.approx(-fem_energy, rel=0.25)


def test_elasticity_implicit_euler_dissipates_energy_and_falls_under_gravity(one_thread):
    from sciml import Mesh
    from sciml.fields.insr.elasticity import Elasticity

    mesh = Mesh.structured((11, 3), Domain(((0.0, 1.0), (0.0, 0.2))))
    problem = Elasticity(mesh, young=2000.0, poisson=0.3, gravity=(0.0, -10.0), fixed=lambda X: X[:, 0] < 1e-9)
    config = StepperConfig(max_iters=40, points=512, initial_iters=5, seed=0)
    solver = INSRSolver(problem, 0.1, config, NetworkConfig(width=16, depth=2, omega0=2.0, hidden_omega0=2.0))
    solver.initialize()  # the rest state: the field starts at exactly zero displacement
    x = problem.sample_points(4096, torch.Generator().manual_seed(1), dtype=torch.float32)
    totals, previous = [], None
    for _ in range(3):
        previous = frozen_copy(solver.fields["u"])
        solver.step()
        totals.append(problem.energies(solver.fields["u"], x, previous, solver.dt)["total"])
    # released from rest under gravity: the tip moves down, and the total energy
    # (kinetic + elastic + gravitational, zero at rest) drops below zero and keeps decreasing
    # (implicit Euler never creates energy)
    with torch.no_grad():
        tip = solver.fields["u"](torch.tensor([[1.0, 0.1]]))
    assert float(tip[0, 1]) < 0
    assert totals[0] < 0
    assert all(b <= a + 1e-6 * abs(a) for a, b in itertools.pairwise(totals)), totals
