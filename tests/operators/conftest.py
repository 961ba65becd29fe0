"""Operator tests run torch single-threaded: their tensors are small, and on a busy 2-core machine
multi-threaded BLAS/LAPACK calls spin-wait and become orders of magnitude slower."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _single_thread(one_thread):
    yield
