"""Quadrature-aware norms and losses against analytic values, at several resolutions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import i0, i1

from sciml import Domain, Grid, Mesh, PointCloud, Sampled
from sciml.losses import (
    H1Loss,
    LpLoss,
    RelativeL2,
    WeightedMSELoss,
    absolute_h1,
    absolute_lp,
    h1_norm,
    h1_seminorm,
    lp_norm,
    relative_h1,
    relative_lp,
    weighted_mse,
)

PI = math.pi


# Bounded test function f = sin(2πx) cos(2πy) + x² y on [0, 1]²:
#   ∫ f² = 1/4 + 1/15 (the cross term vanishes since ∫ y cos 2πy = 0),
#   ∫ |∇f|² = (π² + 4/9) + (π² + 1/5).
def bounded(x, y):
    return torch.sin(2 * PI * x) * torch.cos(2 * PI * y) + x**2 * y


BOUNDED_L2 = math.sqrt(1 / 4 + 1 / 15)
BOUNDED_H1 = math.sqrt(1 / 4 + 1 / 15 + 2 * PI**2 + 4 / 9 + 1 / 5)


# Periodic test function g = exp(sin 2πx) cos 2πy on the unit torus (modified Bessel functions):
#   ∫ g² = I0(2)/2,  ∫ g_x² = π² I1(2),  ∫ g_y² = 2π² I0(2).
def periodic(x, y):
    return torch.exp(torch.sin(2 * PI * x)) * torch.cos(2 * PI * y)


PERIODIC_L2 = math.sqrt(i0(2.0) / 2)
PERIODIC_H1 = math.sqrt(i0(2.0) / 2 + PI**2 * i1(2.0) + 2 * PI**2 * i0(2.0))

# (grid factory, function, exact L2, exact H1, {n: (L2 tolerance, H1 tolerance)})
NORM_CASES = {
    # trapezoid + second-order differences: errors fall like h² (observed 1.3e-4, 2.7e-2 at 32²)
    "uniform-node": (lambda n: Grid.uniform((n, n)), bounded, BOUNDED_L2, BOUNDED_H1,
                     {32: (3e-4, 5e-2), 64: (7e-5, 1.4e-2), 256: (5e-6, 1e-3)}),
    # Clenshaw–Curtis + Chebyshev differentiation: spectral, exact to rounding from 32² on
    "chebyshev": (lambda n: Grid.chebyshev((n, n)), bounded, BOUNDED_L2, BOUNDED_H1,
                  {32: (1e-12, 1e-12), 64: (1e-12, 1e-12), 256: (1e-12, 1e-12)}),
    # rectangle rule + Fourier differentiation of a smooth periodic function: spectral
    "periodic": (lambda n: Grid.uniform((n, n), Domain.unit(2, periodic=True)), periodic, PERIODIC_L2,
                 PERIODIC_H1, {32: (1e-12, 1e-12), 64: (1e-12, 1e-12), 256: (1e-12, 1e-12)}),
}


def _sample(grid, function, batch=1):
    x, y = grid.mesh().unbind(-1)
    return Sampled(function(x, y).expand(batch, 1, *grid.shape), grid)


@pytest.mark.parametrize("n", [32, 64, 256])
@pytest.mark.parametrize("case", sorted(NORM_CASES))
def test_norms_match_the_exact_value_at_every_resolution(case, n):
    make_grid, function, exact_l2, exact_h1, tolerances = NORM_CASES[case]
    u = _sample(make_grid(n), function, batch=2)
    l2_tol, h1_tol = tolerances[n]
    torch.testing.assert_close(lp_norm(u), torch.full((2,), exact_l2, dtype=torch.float64), atol=l2_tol, rtol=0)
    torch.testing.assert_close(h1_norm(u), torch.full((2,), exact_h1, dtype=torch.float64), atol=h1_tol, rtol=0)


def test_norm_errors_on_uniform_grids_fall_at_second_order():
    errors = []
    for n in (32, 64, 128):
        u = _sample(Grid.uniform((n, n)), bounded)
        errors.append((abs(float(lp_norm(u)) - BOUNDED_L2), abs(float(h1_norm(u)) - BOUNDED_H1)))
    for (l2_a, h1_a), (l2_b, h1_b) in zip(errors, errors[1:]):
        assert math.log2(l2_a / l2_b) > 1.8 and math.log2(h1_a / h1_b) > 1.8, errors


def test_h1_seminorm_with_forced_finite_differences_on_a_periodic_grid():
    u = _sample(Grid.uniform((128, 128), Domain.unit(2, periodic=True)), periodic)
    exact = math.sqrt(PI**2 * i1(2.0) + 2 * PI**2 * i0(2.0))
    assert abs(float(h1_seminorm(u, method="fd")) - exact) < 5e-3  # observed 3.6e-3: O(h²)
    assert abs(float(h1_seminorm(u)) - exact) < 1e-12


def test_l2_norm_on_a_point_cloud_is_a_monte_carlo_estimate():
    n = 40_000
    points = torch.rand(n, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    cloud = PointCloud(points, domain=Domain.unit(2))
    values = bounded(points[:, 0], points[:, 1])
    squared = float(lp_norm(Sampled(values[None, None], cloud))) ** 2
    standard_error = float((values**2).std()) / math.sqrt(n)
    assert abs(squared - BOUNDED_L2**2) < 4 * standard_error  # ~2e-3


@pytest.mark.parametrize(("n", "tol"), [(33, 3e-4), (65, 8e-5), (257, 5e-6)])  # observed 2.0e-4, 4.9e-5, 3.1e-6
def test_l2_norm_on_a_triangle_mesh_with_lumped_mass(n, tol):
    mesh = Mesh.structured((n, n))  # every square split in two triangles
    points = mesh.points()
    u = Sampled(bounded(points[:, 0], points[:, 1])[None, None], mesh)
    assert abs(float(lp_norm(u)) - BOUNDED_L2) < tol


def test_h1_on_scattered_points_asks_for_a_grid():
    cloud = PointCloud(torch.rand(20, 2, generator=torch.Generator().manual_seed(1)), domain=Domain.unit(2))
    u = Sampled(torch.rand(1, 1, 20), cloud)
    with pytest.raises(ValueError, match="u: H1 norms need derivatives, and derivatives need values on a Grid"):
        h1_norm(u)
    with pytest.raises(ValueError, match="pred: .*need values on a Grid"):
        H1Loss()(u, u)
    assert float(relative_lp(u, u)) == 0.0  # Lp works on any discretization


# -- relative errors ---------------------------------------------------------------------------
@pytest.mark.parametrize("n", [16, 64])
def test_relative_l2_of_a_perturbation_is_analytic(n):
    grid = Grid.uniform((n, n), Domain.unit(2, periodic=True))
    x, y = grid.mesh().unbind(-1)
    u = torch.sin(2 * PI * x) * torch.sin(2 * PI * y)               # ‖u‖ = 1/2
    delta = torch.stack([torch.full_like(x, 0.1), 0.1 * torch.cos(6 * PI * x)])  # ‖δ‖ = 0.1, 0.1/√2
    target = Sampled(u.expand(2, 1, n, n), grid)
    pred = target.with_values(target.values + delta[:, None])
    expected = torch.tensor([0.2, 0.2 / math.sqrt(2)], dtype=torch.float64)
    torch.testing.assert_close(relative_lp(pred, target, reduction="none"), expected, atol=1e-14, rtol=0)
    torch.testing.assert_close(absolute_lp(pred, target, reduction="none"), expected / 2, atol=1e-14, rtol=0)
    # H1: δ = 0.1 u is exactly 10 % of u in every norm
    torch.testing.assert_close(relative_h1(target.with_values(1.1 * target.values), target),
                               torch.tensor(0.1, dtype=torch.float64), atol=1e-14, rtol=0)


def test_relative_l2_is_resolution_independent():
    values = []
    for n in (32, 64, 256):
        grid = Grid.uniform((n, n))
        target = _sample(grid, bounded)
        x, y = grid.mesh().unbind(-1)
        values.append(float(relative_lp(target.with_values(target.values + 0.05 * x * y), target)))
    exact = 0.05 / 3 / BOUNDED_L2                                 # ‖xy‖ = 1/3
    assert max(abs(v - exact) for v in values) < 2e-4, values     # trapezoid error at 32²


def test_identical_inputs_give_zero_with_finite_gradients():
    target = torch.rand(3, 2, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    pred = target.clone().requires_grad_(True)
    for loss in (relative_lp(pred, target), relative_lp(pred, target, p=1), relative_h1(pred, target),
                 absolute_h1(pred, target), weighted_mse(pred, target)):
        (grad,) = torch.autograd.grad(loss, pred)
        assert float(loss.detach()) == 0.0 and torch.equal(grad, torch.zeros_like(grad))


def test_zero_target_gives_a_finite_value():
    zero = torch.zeros(2, 1, 8, 8)
    pred = torch.ones(2, 1, 8, 8)
    assert float(relative_lp(zero, zero)) == 0.0
    torch.testing.assert_close(relative_lp(pred, zero, eps=1e-4), torch.tensor(1e4))  # ‖1‖ / eps
    assert torch.isfinite(relative_h1(pred, zero))


def test_infinity_norm_and_p():
    u = torch.tensor([[[0.5, -3.0, 1.0]], [[2.0, 0.0, 0.0]]])
    torch.testing.assert_close(lp_norm(u, p=math.inf), torch.tensor([3.0, 2.0]))
    # trapezoid on [0, 1] with 3 nodes: weights 1/4, 1/2, 1/4
    torch.testing.assert_close(lp_norm(u, p=1), torch.tensor([0.125 + 1.5 + 0.25, 0.5]))
    with pytest.raises(ValueError, match="p: expected a number p >= 1"):
        lp_norm(u, p=0.5)


# -- gradients ---------------------------------------------------------------------------------
@pytest.mark.parametrize("grid", [Grid.uniform((5, 4)), Grid.chebyshev((5, 4)),
                                  Grid.uniform((4, 4), Domain.unit(2, periodic=True))],
                         ids=["uniform", "chebyshev", "periodic"])
def test_gradcheck_of_losses_float64(grid):
    generator = torch.Generator().manual_seed(4)
    pred = torch.rand(2, 1, *grid.shape, dtype=torch.float64, generator=generator, requires_grad=True)
    target = torch.rand(2, 1, *grid.shape, dtype=torch.float64, generator=generator)

    def losses(values):
        p = Sampled(values, grid, validate=False)
        t = Sampled(target, grid)
        return torch.stack([relative_lp(p, t), relative_lp(p, t, p=3), absolute_lp(p, t, p=1.5),
                            relative_h1(p, t), lp_norm(p, reduction="sum"), h1_norm(p, reduction="mean"),
                            weighted_mse(p, t)])

    # fast mode: compares v·J·u for random v, u (the full Jacobian check of the derivatives
    # themselves is in test_derivatives.py)
    assert torch.autograd.gradcheck(losses, (pred,), fast_mode=True)


# -- argument handling -------------------------------------------------------------------------
def test_reductions():
    generator = torch.Generator().manual_seed(5)
    pred, target = torch.rand(4, 1, 8, 8, generator=generator), torch.rand(4, 1, 8, 8, generator=generator)
    per_sample = relative_lp(pred, target, reduction="none")
    singles = torch.stack([relative_lp(pred[i:i + 1], target[i:i + 1]) for i in range(4)])
    torch.testing.assert_close(per_sample, singles)
    torch.testing.assert_close(relative_lp(pred, target, reduction="sum"), singles.sum())
    torch.testing.assert_close(relative_lp(pred, target), singles.mean())
    with pytest.raises(ValueError, match="reduction: expected one of"):
        relative_lp(pred, target, reduction="max")


def test_tensors_are_read_on_the_inferred_unit_grid_and_mix_with_sampled():
    generator = torch.Generator().manual_seed(6)
    pred, target = torch.rand(2, 3, 9, 7, generator=generator), torch.rand(2, 3, 9, 7, generator=generator)
    grid = Grid.infer((9, 7))
    reference = relative_h1(Sampled(pred, grid), Sampled(target, grid))
    for p, t in ((pred, target), (Sampled(pred, grid), target), (pred, Sampled(target, grid))):
        torch.testing.assert_close(relative_h1(p, t), reference, atol=0, rtol=0)
    periodic = Grid.uniform((9, 7), Domain.unit(2, periodic=True))  # the Sampled side decides
    assert float(relative_h1(pred, Sampled(target, periodic))) != float(reference)


def test_mismatched_inputs_name_pred():
    coarse, fine = Grid.uniform((8, 8)), Grid.uniform((16, 16))
    with pytest.raises(ValueError, match="pred: expected values on the same discretization"):
        relative_lp(Sampled(torch.ones(1, 1, 16, 16), fine), Sampled(torch.ones(1, 1, 8, 8), coarse))
    with pytest.raises(ValueError, match=r"pred: expected the shape of target \(1, 1, 8, 8\), got \(1, 2, 8, 8\)"):
        absolute_lp(torch.ones(1, 2, 8, 8), Sampled(torch.ones(1, 1, 8, 8), coarse))
    with pytest.raises(TypeError, match="target: expected Sampled or torch.Tensor"):
        RelativeL2()(torch.ones(1, 1, 8, 8), np.ones((1, 1, 8, 8)))
    with pytest.raises(ValueError, match=r"u: expected a tensor \[batch, channels, \*spatial\]"):
        lp_norm(torch.ones(8, 8))


def test_loss_modules_match_the_functions():
    generator = torch.Generator().manual_seed(7)
    grid = Grid.uniform((12, 12), Domain.unit(2, periodic=True))
    pred = Sampled(torch.rand(3, 2, 12, 12, generator=generator), grid)
    target = Sampled(torch.rand(3, 2, 12, 12, generator=generator), grid)
    torch.testing.assert_close(RelativeL2()(pred, target), relative_lp(pred, target))
    torch.testing.assert_close(LpLoss(p=1, relative=False, reduction="none")(pred, target),
                               absolute_lp(pred, target, p=1, reduction="none"))
    torch.testing.assert_close(H1Loss()(pred, target), relative_h1(pred, target))
    torch.testing.assert_close(H1Loss(relative=False, reduction="sum")(pred, target),
                               absolute_h1(pred, target, reduction="sum"))
    # on a uniform periodic grid the weighted MSE is the ordinary MSE
    torch.testing.assert_close(WeightedMSELoss()(pred, target),
                               torch.nn.functional.mse_loss(pred.values, target.values))
    assert "p=2.0, relative=True" in repr(RelativeL2())


def test_loss_trains_a_parameter():
    grid = Grid.uniform((16, 16), Domain.unit(2, periodic=True))
    target = _sample(grid, periodic).to(torch.float32)
    scale = torch.tensor(0.5, requires_grad=True)
    for _ in range(20):  # the squared relative error is (scale - 1)²: each step halves the error
        loss = RelativeL2()(scale * target.values, target)
        (grad,) = torch.autograd.grad(loss**2, scale)
        with torch.no_grad():
            scale -= 0.25 * grad
    assert abs(float(scale.detach()) - 1.0) < 1e-5


def test_half_precision_is_integrated_in_float32():
    grid = Grid.uniform((32, 32), Domain.unit(2, periodic=True))
    target = _sample(grid, periodic).to(torch.bfloat16)
    pred = target.with_values(1.1 * target.values)
    for loss in (relative_lp(pred, target), relative_h1(pred, target)):
        assert loss.dtype == torch.float32
        assert abs(float(loss) - 0.1) < 1e-2  # bfloat16 keeps 8 bits of mantissa
