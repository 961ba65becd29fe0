r"""One-dimensional quadrature rules; tensor-product grids combine them per axis.

All rules return ``(points, weights)`` as float64 NumPy arrays on ``[lo, hi]``
so that ``sum(weights * f(points))`` approximates :math:`\int_{lo}^{hi} f(x)\,dx`.

=====================  ==========================================  =====================
rule                   points                                      exact for
=====================  ==========================================  =====================
trapezoid              ``lo + i h``, ``h = (hi-lo)/(n-1)``           degree 1 (O(h²))
periodic               ``lo + i h``, ``h = (hi-lo)/n`` (no endpoint) trig. degree < n
midpoint               ``lo + (i + 1/2) h``, ``h = (hi-lo)/n``       degree 1 (O(h²))
Clenshaw–Curtis        Chebyshev–Lobatto, ``-cos(pi j/(n-1))``       degree n-1
=====================  ==========================================  =====================
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "chebyshev_lobatto",
    "clenshaw_curtis",
    "midpoint",
    "periodic_rectangle",
    "trapezoid",
    "trapezoid_weights",
]


def trapezoid(n: int, lo: float = 0.0, hi: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Composite trapezoid rule on ``n >= 2`` equispaced nodes including both ends."""
    _require(n, 2, "trapezoid")
    x = np.linspace(lo, hi, n)
    w = np.full(n, (hi - lo) / (n - 1))
    w[[0, -1]] *= 0.5
    return x, w


def periodic_rectangle(n: int, lo: float = 0.0, hi: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Rectangle rule on a periodic axis: ``n`` nodes, right end excluded.

    Integrates trigonometric polynomials of degree below ``n`` exactly.
    """
    _require(n, 1, "periodic_rectangle")
    h = (hi - lo) / n
    return lo + h * np.arange(n), np.full(n, h)


def midpoint(n: int, lo: float = 0.0, hi: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Composite midpoint rule: ``n`` cell centres."""
    _require(n, 1, "midpoint")
    h = (hi - lo) / n
    return lo + h * (np.arange(n) + 0.5), np.full(n, h)


def chebyshev_lobatto(n: int, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    """Chebyshev–Gauss–Lobatto points ``-cos(pi j / (n-1))`` mapped to ``[lo, hi]``, ascending."""
    _require(n, 2, "chebyshev_lobatto")
    t = -np.cos(np.pi * np.arange(n) / (n - 1))
    t[np.abs(t) < 1e-15] = 0.0
    return lo + 0.5 * (t + 1.0) * (hi - lo)


def clenshaw_curtis(n: int, lo: float = -1.0, hi: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    r"""Clenshaw–Curtis rule on ``n >= 2`` Chebyshev–Lobatto points.

    With :math:`N = n - 1` and :math:`\theta_j = \pi j / N`,

    .. math::
        w_j = \frac{c_j}{N}\Big(1 - \sum_{k=1}^{\lfloor N/2\rfloor}
              \frac{b_k}{4k^2 - 1}\cos(2k\theta_j)\Big),

    :math:`c_0 = c_N = 1`, else 2; :math:`b_k = 1` if :math:`2k = N`, else 2.
    Exact for polynomials of degree ``n - 1`` (and ``n`` when ``n`` is odd).
    """
    _require(n, 2, "clenshaw_curtis")
    big_n = n - 1
    theta = np.pi * np.arange(n) / big_n
    k = np.arange(1, big_n // 2 + 1)
    b = np.where(2 * k == big_n, 1.0, 2.0)
    series = (b / (4.0 * k**2 - 1.0))[None, :] * np.cos(2.0 * np.outer(theta, k))
    c = np.full(n, 2.0)
    c[[0, -1]] = 1.0
    w = c / big_n * (1.0 - series.sum(axis=1))
    return chebyshev_lobatto(n, lo, hi), w * 0.5 * (hi - lo)


def trapezoid_weights(x: np.ndarray, period: float | None = None,
                      lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Trapezoid weights for strictly increasing nodes ``x``.

    With ``period`` the axis wraps: each node gets half the distance to its
    neighbours, the last node's right neighbour being ``x[0] + period``.
    On a bounded axis ``[lo, hi]`` the end nodes also take the stretches
    ``x[0] - lo`` and ``hi - x[-1]`` (constant extension), so the weights
    always sum to the length of the axis; ``lo``/``hi`` default to the end nodes.
    """
    x = np.asarray(x, dtype=float)
    if period is not None and x.size == 1:
        return np.array([period])
    gaps = np.diff(x)
    if period is None:
        left = np.concatenate([[0.0], gaps])
        right = np.concatenate([gaps, [0.0]])
        weights = 0.5 * (left + right)
        weights[0] += x[0] - (x[0] if lo is None else lo)
        weights[-1] += (x[-1] if hi is None else hi) - x[-1]
        return weights
    else:
        wrap = x[0] + period - x[-1]
        left = np.concatenate([[wrap], gaps])
        right = np.concatenate([gaps, [wrap]])
    return 0.5 * (left + right)


def _require(n: int, minimum: int, rule: str) -> None:
    if int(n) != n or n < minimum:
        raise ValueError(f"n: the {rule} rule needs an integer n >= {minimum}, got {n}")
