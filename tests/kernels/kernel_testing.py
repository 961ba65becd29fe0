"""Helpers of the kernel tests: the paths usable here and per-dtype tolerances.

Tolerances (relative to the largest magnitude of the reference result):

=========  =========  ========================================================
dtype      tolerance  why
=========  =========  ========================================================
float32    2e-5       sums of O(N) terms in single precision (N <= 1e3 here)
float64    1e-11      the same sums in double precision
=========  =========  ========================================================
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

TOLERANCE = {torch.float32: 2e-5, torch.float64: 1e-11}

HAS_CUPY = importlib.util.find_spec("cupy") is not None
needs_cupy = pytest.mark.skipif(not HAS_CUPY, reason="needs CuPy (pip install 'sciml[gpu]'); not installed here")

# (path, device): the CuPy path needs a CUDA device (marker `cuda`) and CuPy
PATH_CASES = [
    pytest.param("reference", "cpu", id="reference-cpu"),
    pytest.param("dft", "cpu", id="dft-cpu"),
    pytest.param("reference", "cuda", id="reference-cuda", marks=pytest.mark.cuda),
    pytest.param("dft", "cuda", id="dft-cuda", marks=pytest.mark.cuda),
    pytest.param("cupy", "cuda", id="cupy-cuda", marks=[pytest.mark.cuda, needs_cupy]),
]


def assert_close(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype, what: str = "") -> None:
    """``max |actual - expected| <= tol(dtype) * max |expected|`` with the table's tolerance."""
    actual, expected = actual.detach().cpu(), expected.detach().cpu().to(actual.dtype)
    scale = float(expected.abs().max()) or 1.0
    error = float((actual - expected).abs().max()) / scale
    assert error <= TOLERANCE[dtype], f"{what}: relative error {error:.3e} > {TOLERANCE[dtype]:.0e} ({dtype})"
