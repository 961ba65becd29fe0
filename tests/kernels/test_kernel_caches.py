"""The kernels' caches of precomputed transform data: one size setting, LRU eviction, correct values."""

from __future__ import annotations

import importlib
import threading

import numpy as np
import pytest
import torch

from sciml.kernels import cupy_backend, dft
from sciml.kernels.fft import rfft_modes_reference

dct = importlib.import_module("sciml.kernels.dct")    # the module (sciml.kernels.dct is also a function)


def test_every_kernel_cache_uses_the_one_setting(monkeypatch):
    caches = [dft._numpy_matrix, dft._torch_matrix, dct._dct_matrix_numpy, cupy_backend._cached_multiplicities]
    for cache in caches:
        cache.cache_clear()
    monkeypatch.setattr(dft, "CACHE_SIZE", 2)
    x = torch.randn(1, 1, 24, dtype=torch.float64)
    for n in (8, 12, 16, 24):
        block = dft.rfft_modes_dft(x[..., :n], (3,))
        torch.testing.assert_close(block, rfft_modes_reference(x[..., :n], (3,)), rtol=0, atol=1e-13)
        dct.dct_matrix(n)
    for cache in caches[:3]:
        assert cache.cache_len() == 2
    monkeypatch.setattr(dft, "CACHE_SIZE", 0)          # 0 disables caching; results stay right
    dct.dct_matrix(5)
    assert dct._dct_matrix_numpy.cache_len() == 0


def test_bounded_cache_evicts_the_least_recently_used(monkeypatch):
    monkeypatch.setattr(dft, "CACHE_SIZE", 2)
    calls = []
    square = dft.bounded_cache(lambda n: calls.append(n) or n * n)
    assert [square(1), square(2), square(1), square(3)] == [1, 4, 1, 9]   # 2 is now the oldest
    assert square(1) == 1 and square(2) == 4
    assert calls == [1, 2, 3, 2]


def test_bounded_cache_is_thread_safe(monkeypatch):
    monkeypatch.setattr(dft, "CACHE_SIZE", 16)        # 97 keys through 16 slots: constant eviction
    square = dft.bounded_cache(lambda n: n * n)
    results = {}

    def work(offset):
        results[offset] = [square((i + offset) % 97) for i in range(500)]
    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {k: [((i + k) % 97) ** 2 for i in range(500)] for k in range(4)}
    assert square.cache_len() <= 16


def test_dct_matrix_returns_a_copy_the_cache_stays_intact():
    matrix = dct.dct_matrix(6)
    matrix.zero_()
    np.testing.assert_allclose(dct.dct_matrix(6).numpy() @ dct.dct_matrix(6).numpy().T, np.eye(6), atol=1e-14)


def test_plan_cache_size_is_validated_before_cupy_is_needed():
    with pytest.raises(ValueError, match="size: expected a non-negative number of plans"):
        cupy_backend.set_cupy_plan_cache_size(-3)
