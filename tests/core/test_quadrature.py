"""Quadrature rules against exact integrals; tolerances stated per rule."""

import numpy as np
import pytest

from sciml import quadrature


def integrate(rule, f, n, lo, hi):
    x, w = rule(n, lo, hi)
    return float(np.sum(w * f(x)))


@pytest.mark.parametrize("degree", range(9))
def test_clenshaw_curtis_exact_for_polynomials_up_to_n_minus_1(degree):
    n, lo, hi = 9, -0.5, 2.0
    exact = (hi ** (degree + 1) - lo ** (degree + 1)) / (degree + 1)
    assert integrate(quadrature.clenshaw_curtis, lambda x: x**degree, n, lo, hi) == pytest.approx(exact, rel=1e-13, abs=1e-13)


def test_clenshaw_curtis_converges_spectrally_for_analytic_function():
    exact = np.e - np.exp(-1.0)
    assert abs(integrate(quadrature.clenshaw_curtis, np.exp, 17, -1, 1) - exact) < 1e-14


def test_clenshaw_curtis_weights_positive_and_symmetric():
    _, w = quadrature.clenshaw_curtis(12)
    assert np.all(w > 0)
    np.testing.assert_allclose(w, w[::-1], rtol=0, atol=1e-15)


@pytest.mark.parametrize("rule", [quadrature.trapezoid, quadrature.midpoint])
def test_second_order_rules_are_exact_for_linear_and_converge_at_order_two(rule):
    assert integrate(rule, lambda x: 3 * x + 1, 7, 0.0, 2.0) == pytest.approx(8.0, rel=1e-14)
    exact = 1 - np.cos(1.0)
    errors = [abs(integrate(rule, np.sin, n, 0.0, 1.0) - exact) for n in (16, 32, 64)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 1.95), orders


def test_periodic_rectangle_exact_for_trigonometric_polynomials():
    n = 8
    for k in range(n):
        f = lambda x, k=k: np.cos(2 * np.pi * k * x) ** 2
        if 2 * k < n:
            expected = 1.0 if k == 0 else 0.5
            assert integrate(quadrature.periodic_rectangle, f, n, 0.0, 1.0) == pytest.approx(expected, abs=1e-14)


def test_trapezoid_weights_match_uniform_rules():
    x, w = quadrature.trapezoid(9, 0.0, 1.0)
    np.testing.assert_allclose(quadrature.trapezoid_weights(x), w, atol=1e-16)
    x, w = quadrature.periodic_rectangle(8, 0.0, 1.0)
    np.testing.assert_allclose(quadrature.trapezoid_weights(x, period=1.0), w, atol=1e-16)


def test_rules_reject_too_few_points():
    with pytest.raises(ValueError, match="n: the trapezoid rule needs an integer n >= 2, got 1"):
        quadrature.trapezoid(1)
    with pytest.raises(ValueError, match="n: the clenshaw_curtis rule"):
        quadrature.clenshaw_curtis(1)
