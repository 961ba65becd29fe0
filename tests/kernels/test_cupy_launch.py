"""The CuPy mixing kernel's launch geometry (pure Python, runs anywhere) and the large-batch launch on CUDA.

CUDA limits gridDim.y and gridDim.z to 65535; the kernel folds the rows ``p`` (the batch in the
forward pass) into gridDim.x (limit 2^31 - 1) and ``mix_launch_geometry`` splits launches that
would still not fit. The geometry is checked by replaying the kernel's index arithmetic (the
first lines of ``_MIX_SOURCE``) over every block and thread of every launch: each output entry
``(p, q, k)`` must be computed exactly once, and no grid may exceed the limits.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch
from kernel_testing import needs_cupy

from sciml.kernels.cupy_backend import MAX_GRID, MixLaunch, mix_launch_geometry
from sciml.kernels.mixing import mix_modes_reference


def covered_entries(launches, P, Q, K, threads, q_tile):
    """Replay the kernel's indexing: the (p, q, k) written by each thread of each launch."""
    written = Counter()
    for launch in launches:
        grid_x, grid_y, _ = launch.grid
        for block_x in range(grid_x):
            p = launch.p_start + block_x // launch.k_blocks
            for block_y in range(grid_y):
                q0 = (launch.q_tile_start + block_y) * q_tile
                for thread in range(threads):
                    k = (block_x % launch.k_blocks) * threads + thread
                    if k >= K or p >= P:
                        continue
                    written.update((p, q, k) for q in range(q0, min(q0 + q_tile, Q)))
    return written


@pytest.mark.parametrize("P,Q,K,threads,q_tile,max_grid", [
    (5, 9, 7, 4, 2, MAX_GRID),            # one launch, ragged tiles
    (10, 4, 1000, 100, 8, (25, 65535, 65535)),   # rows split: 10 blocks of modes per row, 2 rows a launch
    (7, 20, 6, 3, 2, (4, 3, 65535)),      # rows and q tiles both split
    (3, 1, 1, 1, 1, (1, 1, 1)),           # the smallest grid: one block per launch
])
def test_every_output_entry_is_computed_once_within_the_grid_limits(P, Q, K, threads, q_tile, max_grid):
    launches = mix_launch_geometry(P, Q, K, threads=threads, q_tile=q_tile, max_grid=max_grid)
    for launch in launches:
        assert all(1 <= g <= limit for g, limit in zip(launch.grid, max_grid)), launch
    written = covered_entries(launches, P, Q, K, threads, q_tile)
    assert set(written) == {(p, q, k) for p in range(P) for q in range(Q) for k in range(K)}
    assert set(written.values()) == {1}


@pytest.mark.parametrize("P,Q,K", [(65536, 32, 16 * 9), (1_000_000, 64, 32 * 17), (8, 600_000, 4), (3, 5, 2**20)])
def test_large_batches_fit_cuda_limits(P, Q, K):
    # P > 65535 was launched with gridDim.y = P before: invalid on every CUDA device
    launches = mix_launch_geometry(P, Q, K)
    for launch in launches:
        assert all(1 <= g <= limit for g, limit in zip(launch.grid, MAX_GRID)), launch
    # the launches tile [0, P) x [0, ceil(Q / 8)) exactly (counted, not enumerated: sizes are large)
    q_tiles = math.ceil(Q / 8)
    assert sum((l.p_stop - l.p_start) * (l.q_tile_stop - l.q_tile_start) for l in launches) == P * q_tiles
    assert all(l.k_blocks == math.ceil(K / 128) for l in launches)
    assert len(launches) == math.ceil(q_tiles / 65535)       # rows always fit in one x extent here


def test_geometry_edge_cases_and_errors():
    assert mix_launch_geometry(0, 4, 4) == []
    assert mix_launch_geometry(2, 3, 5) == [MixLaunch(0, 2, 0, 1, 1)]
    with pytest.raises(ValueError, match="P: expected a non-negative int"):
        mix_launch_geometry(-1, 4, 4)
    with pytest.raises(ValueError, match="threads: expected"):
        mix_launch_geometry(1, 1, 1, threads=0)
    with pytest.raises(ValueError, match="K: 10 modes need 10 blocks of 1 threads, more than the grid's x limit 5"):
        mix_launch_geometry(1, 1, 10, threads=1, max_grid=(5, 1, 1))


@pytest.mark.cuda
@needs_cupy
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cupy_mixing_with_more_than_65535_rows_matches_reference(dtype):
    from sciml.kernels.cupy_backend import cupy_mix_modes

    generator = torch.Generator().manual_seed(0)
    complex_dtype = torch.complex64 if dtype == torch.float32 else torch.complex128
    x = torch.randn(70_000, 2, 4, 3, dtype=complex_dtype, generator=generator)
    weight = torch.randn(2, 3, 4, 3, 2, dtype=dtype, generator=generator)
    x_cuda, w_cuda = x.cuda().requires_grad_(), weight.cuda().requires_grad_()
    out = cupy_mix_modes(x_cuda, w_cuda)
    expected = mix_modes_reference(x.to(torch.complex128), weight.double())
    tolerance = {torch.float32: 2e-5, torch.float64: 1e-11}[dtype]
    assert float((out.cpu() - expected).abs().max()) <= tolerance * float(expected.abs().max())
    probe = torch.randn(out.shape, dtype=complex_dtype, generator=generator)
    grad_x, grad_w = torch.autograd.grad((out * probe.cuda().conj()).real.sum(), (x_cuda, w_cuda))
    x_ref, w_ref = x.to(torch.complex128).requires_grad_(), weight.double().requires_grad_()
    ref = mix_modes_reference(x_ref, w_ref)
    ref_x, ref_w = torch.autograd.grad((ref * probe.to(torch.complex128).conj()).real.sum(), (x_ref, w_ref))
    assert float((grad_x.cpu() - ref_x).abs().max()) <= tolerance * float(ref_x.abs().max())
    # grad_w sums 70000 terms: the float32 tolerance grows like the sum length (70x the table's 1e3)
    w_tolerance = tolerance * (70 if dtype == torch.float32 else 1)
    assert float((grad_w.cpu() - ref_w).abs().max()) <= w_tolerance * float(ref_w.abs().max())


@pytest.mark.cuda
@needs_cupy
def test_plan_cache_size_is_set_only_when_asked():
    import cupy

    from sciml.kernels import dft
    from sciml.kernels.cupy_backend import set_cupy_plan_cache_size

    cache = cupy.fft.config.get_plan_cache()
    before = cache.get_size()
    try:
        assert set_cupy_plan_cache_size() == before
        assert cache.get_size() == dft.CACHE_SIZE
    finally:
        cache.set_size(before)
