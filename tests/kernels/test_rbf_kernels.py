"""RBF kernels: exact neighbours, closed-form values, normalisation, paths against each other, k-means.

Tolerances (relative to the largest magnitude of the reference):

=========  =========  =====================================================================
dtype      tolerance  why
=========  =========  =====================================================================
float32    1e-5       a d x d product, one exp/log1p per value (a few ulps) at unit scale
float64    1e-12      the same in double precision
=========  =========  =====================================================================

The ``"dense"`` and ``"gather"`` paths do the same arithmetic on the same numbers, so they
are compared at these tolerances for values and gradients.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sciml.kernels.rbf import (
    KDTREE_FROM,
    RBF_FAMILIES,
    nearest_kernels,
    normalized_rbf_weights,
    rbf_values,
    weighted_kmeans,
)

TOL = {torch.float32: 1e-5, torch.float64: 1e-12}
SMOOTH = ("gaussian", "inverse_quadric", "inverse_multiquadric", "super_gaussian")


def _close(actual, expected, dtype, what=""):
    actual, expected = actual.detach().double(), expected.detach().double()
    scale = float(expected.abs().max()) or 1.0
    err = float((actual - expected).abs().max()) / scale
    assert err <= TOL[dtype], f"{what}: relative error {err:.2e} > {TOL[dtype]:.0e} ({dtype})"


def _problem(n=40, num=12, d=2, shape="full", dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, d, generator=gen, dtype=dtype)
    centres = torch.rand(num, d, generator=gen, dtype=dtype)
    if shape == "full":
        shapes = torch.tril(torch.randn(num, d, d, generator=gen, dtype=dtype)) + 3 * torch.eye(d, dtype=dtype)
    elif shape == "diagonal":
        shapes = 1 + 3 * torch.rand(num, d, generator=gen, dtype=dtype)
    else:
        shapes = 1 + 3 * torch.rand(num, generator=gen, dtype=dtype)
    return x, centres, shapes


# ----------------------------------------------------------------------------- neighbours
@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("k", [1, 4, 7])
def test_knn_paths_equal_full_sort(d, k):
    x, centres, _ = _problem(n=300, num=200, d=d)
    order = np.argsort(((x.numpy()[:, None] - centres.numpy()[None]) ** 2).sum(-1), axis=1, kind="stable")[:, :k]
    for path in ("brute", "kdtree", "auto"):
        index = nearest_kernels(x, centres, k, path=path)
        assert index.dtype == torch.long and index.shape == (300, k)
        np.testing.assert_array_equal(index.numpy(), order, err_msg=path)


def test_knn_float32_distances_match_float64_brute():
    """In float32 the neighbour sets can differ only at ties; the k-th distances agree to rounding."""
    x, centres, _ = _problem(n=500, num=400, d=3, dtype=torch.float32, seed=3)
    for path in ("brute", "kdtree"):
        index = nearest_kernels(x, centres, 5, path=path)
        dist = (x.double()[:, None] - centres.double()[index]).norm(dim=-1)
        exact = torch.cdist(x.double(), centres.double()).sort(1).values[:, :5]
        assert float((dist - exact).abs().max()) < 1e-6


def test_knn_auto_uses_brute_force_for_few_centres_and_handles_empty_queries():
    x, centres, _ = _problem(n=10, num=KDTREE_FROM - 1)
    brute = nearest_kernels(x, centres, 3, path="brute")
    assert torch.equal(nearest_kernels(x, centres, 3), brute)
    assert nearest_kernels(x[:0], centres, 3, path="kdtree").shape == (0, 3)
    assert nearest_kernels(x[:0], centres, 3, path="brute").shape == (0, 3)


# ----------------------------------------------------------------------------- closed forms
def _closed_form(family, x, c, a):
    """Values from an explicit inverse covariance S = A^T A (numpy, one point-kernel pair)."""
    a = np.atleast_2d(a) if a.ndim == 2 else (np.diag(a) if a.ndim == 1 else a * np.eye(len(x)))
    delta = x - c
    q = delta @ (a.T @ a) @ delta
    r = math.sqrt(q)
    return {
        "gaussian": math.exp(-q / 2),
        "inverse_quadric": 1 / (1 + q),
        "inverse_multiquadric": 1 / math.sqrt(1 + q),
        "super_gaussian": math.exp(-((q / 2) ** 2)),
        "exponential": math.exp(-r),
        "d_linear": float(np.prod(np.clip(1 - np.abs(a @ delta), 0, None))),
    }[family]


@pytest.mark.parametrize("family", RBF_FAMILIES)
@pytest.mark.parametrize("shape", ["full", "diagonal", "isotropic"])
def test_values_match_closed_forms(family, shape):
    x, centres, shapes = _problem(n=7, num=5, d=3, shape=shape)
    shapes = shapes / (3 if shape == "full" else 1)  # d_linear: zero for some pairs, nonzero for others
    values = rbf_values(x, centres, shapes, family)
    expected = np.array([[_closed_form(family, x[i].numpy(), centres[j].numpy(), shapes[j].numpy())
                          for j in range(5)] for i in range(7)])
    np.testing.assert_allclose(values.numpy(), expected, rtol=1e-12, atol=1e-15)
    if family == "d_linear":
        assert (values == 0).any() and (values > 0).any()


def test_inverse_quadric_at_a_known_point():
    """q = |A (x - c)|^2 = |(3, 4)|^2 = 25 for A = diag(3, 2), x - c = (1, 2)."""
    x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    value = rbf_values(x, torch.zeros(1, 2, dtype=torch.float64), torch.tensor([[3.0, 2.0]], dtype=torch.float64))
    assert float(value) == pytest.approx(1 / 26, rel=1e-15)


# ----------------------------------------------------------------------------- normalisation
@pytest.mark.parametrize("family", RBF_FAMILIES)
def test_normalised_weights_sum_to_one_and_equal_ratio(family):
    x, centres, shapes = _problem(n=50, num=30, d=2, shape="full")
    weights, index = normalized_rbf_weights(x, centres, shapes / (4 if family == "d_linear" else 1), 4, family)
    phi = rbf_values(x, centres, shapes / (4 if family == "d_linear" else 1), family, index=index)
    total = phi.sum(-1, keepdim=True)
    covered = total[:, 0] > 0
    assert covered.float().mean() > 0.5
    _close(weights[covered], (phi / total)[covered], torch.float64, family)
    _close(weights.sum(-1)[covered], torch.ones(int(covered.sum()), dtype=torch.float64), torch.float64)
    assert torch.equal(weights[~covered], torch.zeros_like(weights[~covered]))


def test_gaussian_weights_stay_finite_far_from_every_centre():
    """exp(-q/2) underflows to 0 for all neighbours; the log-domain softmax still normalises."""
    centres = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    x = torch.tensor([[100.0, 0.0]])
    assert float(rbf_values(x, centres, torch.full((2,), 10.0), "gaussian").sum()) == 0.0
    weights, index = normalized_rbf_weights(x, centres, torch.full((2,), 10.0), 2, "gaussian")
    assert index.tolist() == [[1, 0]] and torch.allclose(weights, torch.tensor([[1.0, 0.0]]))


# ----------------------------------------------------------------------------- paths and gradients
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", ["full", "diagonal", "isotropic"])
@pytest.mark.parametrize("family", ["inverse_quadric", "inverse_multiquadric", "gaussian", "d_linear"])
@pytest.mark.parametrize("d", [2, 3])
def test_fast_paths_match_dense_reference_values_and_gradients(dtype, shape, family, d):
    x, centres, shapes = _problem(n=60, num=25, d=d, shape=shape, dtype=dtype)
    index = nearest_kernels(x, centres, 5)
    paths = ("dense", "gather", "auto")
    results = {}
    for path in paths:
        leaves = [t.clone().requires_grad_(True) for t in (x, centres, shapes)]
        w, _ = normalized_rbf_weights(*leaves, 5, family, path=path, index=index)
        probe = torch.linspace(-1, 1, w.numel(), dtype=dtype).reshape(w.shape)
        values = rbf_values(*leaves, family, index=index, path=path)
        grads = torch.autograd.grad((w * probe).sum() + (values * probe.flip(0)).sum(), leaves)
        results[path] = (w, values, grads)
    for path in paths[1:]:
        _close(results[path][0], results["dense"][0], dtype, f"{path}: weights")
        _close(results[path][1], results["dense"][1], dtype, f"{path}: values")
        for name, g_fast, g_ref in zip(("x", "centres", "shapes"), results[path][2], results["dense"][2]):
            _close(g_fast, g_ref, dtype, f"{path}: d/d{name}")


@pytest.mark.parametrize("path", ["gather", "dense"])
@pytest.mark.parametrize("family", SMOOTH + ("exponential",))
def test_gradcheck_and_gradgradcheck_in_points_centres_and_shapes(family, path):
    x, centres, shapes = _problem(n=6, num=5, d=2, shape="full")
    if family == "exponential":  # not differentiable at a centre; keep points away from them
        x = x + 0.05
    index = nearest_kernels(x, centres, 3)

    def weights(xx, cc, ss):
        return normalized_rbf_weights(xx, cc, ss, 3, family, index=index, path=path)[0]

    inputs = tuple(t.clone().requires_grad_(True) for t in (x, centres, shapes))
    assert torch.autograd.gradcheck(weights, inputs)
    assert torch.autograd.gradgradcheck(weights, inputs)
    assert torch.autograd.gradgradcheck(lambda xx, cc, ss: rbf_values(xx, cc, ss, family, index=index, path=path),
                                        inputs)


def test_exponential_gradient_is_finite_at_a_centre():
    centres = torch.zeros(2, 2, dtype=torch.float64)
    centres[1, 0] = 1.0
    x = torch.zeros(1, 2, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(rbf_values(x, centres, torch.ones(2, dtype=torch.float64), "exponential").sum(), x)
    assert torch.isfinite(g).all()


# ----------------------------------------------------------------------------- weighted k-means
def _objective(points, weights, centres):
    return float((weights * torch.cdist(points, centres).min(1).values ** 2).sum())


def test_weighted_kmeans_decreases_objective_and_reaches_a_lloyd_fixed_point():
    gen = torch.Generator().manual_seed(1)
    points = torch.rand(2000, 2, generator=gen, dtype=torch.float64)
    weights = torch.rand(2000, generator=gen, dtype=torch.float64) ** 2
    result = weighted_kmeans(points, weights, 16, iterations=200, tol=0.0, progress=False)
    obj = result.objective
    assert all(b <= a * (1 + 1e-12) for a, b in zip(obj, obj[1:])), "objective increased"
    assert obj[-1] < 0.8 * obj[0]
    assert obj[-1] == pytest.approx(_objective(points, weights, result.centres), rel=1e-10)
    # at convergence every centre is the weighted mean of its cluster (independent recomputation)
    for i in range(16):
        members = result.labels == i
        mean = (weights[members, None] * points[members]).sum(0) / weights[members].sum()
        torch.testing.assert_close(result.centres[i], mean, rtol=0, atol=1e-9)


def test_weighted_kmeans_puts_more_centres_where_the_weights_are_high():
    gen = torch.Generator().manual_seed(2)
    points = torch.rand(4000, 2, generator=gen, dtype=torch.float64)
    weights = torch.where(points[:, 0] < 0.25, 20.0, 1.0).to(torch.float64)
    centres = weighted_kmeans(points, weights, 40, progress=False).centres
    dense = int((centres[:, 0] < 0.25).sum())
    # uniform weights would give about 10 of 40 there; weight 20 gives a density ratio 20^(1/2) per area
    assert dense >= 20, dense
    uniform = weighted_kmeans(points, None, 40, progress=False).centres
    assert int((uniform[:, 0] < 0.25).sum()) <= 14


def test_weighted_kmeans_ignores_zero_weight_points_and_random_seeding_works():
    points = torch.tensor([[0.0], [0.2], [1.0], [1.2], [50.0]], dtype=torch.float64)
    weights = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0], dtype=torch.float64)
    for seeding in ("kmeans++", "random"):
        result = weighted_kmeans(points, weights, 2, seeding=seeding, progress=False)
        torch.testing.assert_close(result.centres.sort(0).values, torch.tensor([[0.1], [1.1]], dtype=torch.float64))


# ----------------------------------------------------------------------------- bad input
def test_bad_inputs_raise_naming_the_argument():
    x, centres, shapes = _problem(n=5, num=6)
    with pytest.raises(ValueError, match="k: expected 1 <= k"):
        nearest_kernels(x, centres, 7)
    with pytest.raises(TypeError, match="k: expected an int"):
        nearest_kernels(x, centres, 2.0)
    with pytest.raises(ValueError, match="path: expected one of"):
        nearest_kernels(x, centres, 2, path="octree")
    with pytest.raises(ValueError, match=r"x: expected shape \[n, 2\]"):
        nearest_kernels(torch.rand(5, 3, dtype=torch.float64), centres, 2)
    with pytest.raises(TypeError, match="x: expected dtype"):
        nearest_kernels(x.float(), centres, 2)
    with pytest.raises(ValueError, match="centres: expected finite"):
        nearest_kernels(x, centres.clone().fill_(float("nan")), 2)
    with pytest.raises(ValueError, match="shapes: expected"):
        rbf_values(x, centres, shapes[:, :1])
    with pytest.raises(ValueError, match="family: expected one of"):
        rbf_values(x, centres, shapes, "cauchy")
    with pytest.raises(ValueError, match="index: expected entries in"):
        rbf_values(x, centres, shapes, index=torch.full((5, 2), 6))
    with pytest.raises(TypeError, match="index: expected a torch.long"):
        rbf_values(x, centres, shapes, index=torch.zeros(5, 2, dtype=torch.int32))
    with pytest.raises(ValueError, match="weights: expected non-negative"):
        weighted_kmeans(x, -torch.ones(5, dtype=torch.float64), 2, progress=False)
    with pytest.raises(ValueError, match="weights: expected at least num_clusters=3 positive"):
        weighted_kmeans(x, torch.tensor([1.0, 1.0, 0, 0, 0], dtype=torch.float64), 3, progress=False)
    with pytest.raises(ValueError, match=r"weights: expected a tensor of shape \[n=5\]"):
        weighted_kmeans(x, torch.ones(4, dtype=torch.float64), 2, progress=False)


def test_docstring_examples_run():
    import doctest

    import sciml.kernels.rbf as module

    result = doctest.testmod(module, extraglobs={"torch": torch, "np": np}, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
