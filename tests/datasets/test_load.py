"""load(): cached train/test splits, pairings, resolutions, lazy streaming."""

from __future__ import annotations

import importlib
import pickle

import _heat_problem
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import sciml
from sciml.datasets import (
    LazyOperatorDataset,
    cache_dir,
    get_problem,
    load,
    registered_problems,
    sample_seeds,
    split_seed,
)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIML_DATA", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _exact_heat(seeds, resolution=16, times=None):
    problem = get_problem("heat-test", resolution=resolution)
    times = problem.times() if times is None else times
    return np.stack([problem.exact(s, times) for s in seeds])              # [n, T, X]


def test_cache_dir_honours_sciml_data_then_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("SCIML_DATA", str(tmp_path / "a"))
    assert cache_dir() == tmp_path / "a"
    monkeypatch.delenv("SCIML_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "sciml"


def test_splits_hold_the_exact_solution_and_train_and_test_differ(cache):
    data = load("heat-test", resolution=16, n_train=5, n_test=3, seed=2, progress=False)
    train_seeds, test_seeds = sample_seeds(2, range(5)), sample_seeds(split_seed(2, "test"), range(3))
    exact = _exact_heat(train_seeds)
    np.testing.assert_allclose(data.train.targets.values[:, 0].numpy(), exact[:, -1], atol=2e-7)
    np.testing.assert_allclose(data.train.inputs.values[:, 0].numpy(),
                               _exact_heat(train_seeds, times=[0.0])[:, 0], atol=2e-7)
    np.testing.assert_allclose(data.test.targets.values[:, 0].numpy(), _exact_heat(test_seeds)[:, -1], atol=2e-7)
    assert not set(train_seeds) & set(test_seeds)
    assert data.train.inputs.on == get_problem("heat-test", resolution=16).grid()
    assert data.train.inputs.channel_names == ("u0",) and data.train.targets.channel_names == ("u",)
    assert data.train.inputs.dtype == torch.float32
    assert str(cache) in data.info["train_store"]


def test_second_load_reuses_the_cache_and_smaller_requests_reuse_larger_stores(cache):
    first = load("heat-test", resolution=16, n_train=6, n_test=2, progress=False)
    calls = _heat_problem.CALLS["count"]
    again = load("heat-test", resolution=16, n_train=6, n_test=2, progress=False)
    fewer = load("heat-test", resolution=16, n_train=4, n_test=1, progress=False)
    assert _heat_problem.CALLS["count"] == calls
    assert torch.equal(again.train.targets.values, first.train.targets.values)
    assert torch.equal(fewer.train.targets.values, first.train.targets.values[:4])
    assert fewer.info["train_store"] == first.info["train_store"]
    load("heat-test", resolution=16, n_train=6, n_test=2, params={"kappa": 0.02}, progress=False)
    assert _heat_problem.CALLS["count"] > calls                           # other parameters: other data


@pytest.mark.parametrize("pairs, window", [("trajectory", 1), ("steps", 2)])
def test_trajectory_pairings_follow_the_exact_trajectory(cache, pairs, window):
    data = load("heat-test", resolution=16, n_train=3, n_test=1, pairs=pairs, window=window, progress=False)
    exact = _exact_heat(sample_seeds(0, range(3)))                           # [3, T=4, 16]
    if pairs == "trajectory":
        np.testing.assert_allclose(data.train.targets.values.numpy(), exact, atol=2e-7)
        assert data.train.targets.channel_names[-1] == "u@t=0.5"
    else:
        assert len(data.train) == 3 * (4 - window)
        a, u = data.train.inputs.values.numpy(), data.train.targets.values.numpy()
        np.testing.assert_allclose(a[4 - window + 1], exact[1, 1:1 + window], atol=2e-7)    # trajectory 1, step 1
        np.testing.assert_allclose(u[4 - window + 1, 0], exact[1, 1 + window], atol=2e-7)
    with pytest.raises(ValueError, match="window: expected fewer than the 4 stored times"):
        load("heat-test", resolution=16, n_train=3, n_test=1, pairs="steps", window=4, progress=False)


def test_stationary_data_refuse_trajectory_pairings(cache):
    with pytest.raises(ValueError, match="'steps' needs trajectory data"):
        load("poisson-test", resolution=8, n_train=2, n_test=1, pairs="steps", progress=False)


def test_strided_subsampling_is_exact_and_resampling_is_spectrally_accurate(cache):
    native = load("poisson-test", resolution=16, n_train=3, n_test=2, progress=False)
    strided = load("poisson-test", resolution=16, solver_resolution=32, n_train=3, n_test=2, progress=False)
    assert strided.train.inputs.on == native.train.inputs.on
    # the 16-point periodic grid is every other point of the 32-point one: identical numbers
    assert torch.equal(strided.train.targets.values, native.train.targets.values)
    resampled = load("poisson-test", resolution=12, solver_resolution=32, n_train=3, n_test=2, progress=False)
    direct = load("poisson-test", resolution=12, n_train=3, n_test=2, progress=False)
    # modes <= 3 are resolved on both grids: Fourier resampling is exact up to float32 rounding
    torch.testing.assert_close(resampled.train.targets.values, direct.train.targets.values, atol=1e-6, rtol=0)


def test_test_sets_at_finer_resolution_are_solved_not_interpolated(cache):
    data = load("heat-test", resolution=16, n_train=2, n_test=2, test_resolution=48, progress=False)
    assert data.test.inputs.on.shape == (48,) and data.train.inputs.on.shape == (16,)
    seeds = sample_seeds(split_seed(0, "test"), range(2))
    np.testing.assert_allclose(data.test.targets.values[:, 0].numpy(), _exact_heat(seeds, 48)[:, -1], atol=2e-7)
    finer = data.evaluation(64)
    np.testing.assert_allclose(finer.targets.values[:, 0].numpy(), _exact_heat(seeds, 64)[:, -1], atol=2e-7)


def test_lazy_dataset_streams_the_same_pairs_as_the_eager_one(cache):
    eager = load("heat-test", resolution=16, n_train=40, n_test=2, pairs="steps", progress=False).train
    lazy = load("heat-test", resolution=16, n_train=40, n_test=2, pairs="steps", lazy=True, progress=False).train
    assert isinstance(lazy, LazyOperatorDataset) and len(lazy) == len(eager) == 40 * 3
    assert lazy.block_size == 16                                       # the store's chunks
    for i in (0, 47, 48, len(lazy) - 1, -1):
        assert all(torch.equal(x, y) for x, y in zip(lazy[i], eager[i]))
    loaded = lazy.load()
    assert torch.equal(loaded.inputs.values, eager.inputs.values) and loaded.inputs.on == eager.inputs.on
    order = list(lazy.chunk_sampler(seed=3))
    assert sorted(order) == list(range(len(lazy))) and order != sorted(order)
    blocks = [i // 48 for i in order]                              # 16 samples x 3 steps per block
    assert sum(a != b for a, b in zip(blocks, blocks[1:])) == lazy.n_blocks - 1     # each block visited once
    loader = DataLoader(pickle.loads(pickle.dumps(lazy)), batch_size=10, sampler=lazy.chunk_sampler(seed=3),
                        collate_fn=lazy.collate)
    a, u = next(iter(loader))
    assert isinstance(a, sciml.Sampled) and a.on == eager.inputs.on and a.channel_names == eager.inputs.channel_names
    index = order[:10]
    expected_a, expected_u = eager.collate([eager[i] for i in index])
    assert torch.equal(a.values, expected_a.values) and torch.equal(u.values, expected_u.values)
    with pytest.raises(IndexError, match="expected an item in"):
        lazy[len(lazy)]


def test_bad_arguments_are_named(cache):
    with pytest.raises(ValueError, match="name: expected a problem among"):
        load("no-such-problem", n_train=2, n_test=1)
    with pytest.raises(ValueError, match="n_test: expected an integer >= 1, got 0"):
        load("heat-test", n_train=2, n_test=0)
    with pytest.raises(ValueError, match="params: give the resolution"):
        load("heat-test", n_train=2, n_test=1, params={"resolution": 8})
    with pytest.raises(ValueError, match="pairs: expected one of"):
        load("heat-test", n_train=2, n_test=1, pairs="middle")


def _real_problem() -> str:
    try:
        importlib.import_module("sciml.datasets.poisson")
    except ImportError as exc:
        pytest.skip(f"the Poisson solver is not importable here: {exc}")
    name = "poisson" if "poisson" in registered_problems() else None
    if name is None:
        pytest.skip("sciml.datasets.poisson registers no 'poisson' problem")
    return name


def test_integration_with_the_real_poisson_solver(cache):
    name = _real_problem()
    data = load(name, resolution=17, solver_resolution=33, n_train=3, n_test=2, progress=False)
    problem = get_problem(name, resolution=33)
    solved = problem.solve_batch(sample_seeds(0, range(3)))
    grid17 = get_problem(name, resolution=17).grid()
    assert data.train.inputs.on == grid17
    out = problem.output_names[0]
    np.testing.assert_allclose(data.train.targets.values[:, 0].numpy(),
                               solved[out][:, ::2, ::2].astype(np.float32), rtol=0, atol=0)


def test_finer_evaluation_sets_keep_the_solver_refinement(cache):
    # trained at 17 nodes from a 33-node solve: the 33-node evaluation set is solved on 65 nodes and
    # strided (the second-order solver gives different numbers on 33 nodes, so this tells them apart)
    name = _real_problem()
    data = load(name, resolution=17, solver_resolution=33, n_train=2, n_test=2, progress=False)
    finer = data.evaluation(33)
    problem = get_problem(name, resolution=65)
    solved = problem.solve_batch(sample_seeds(split_seed(0, "test"), range(2)))[problem.output_names[0]]
    assert finer.inputs.on == get_problem(name, resolution=33).grid()
    np.testing.assert_allclose(finer.targets.values[:, 0].numpy(), solved[:, ::2, ::2].astype(np.float32),
                               rtol=0, atol=0)
    direct = get_problem(name, resolution=33).solve_batch(sample_seeds(split_seed(0, "test"), range(2)))
    assert np.abs(direct[problem.output_names[0]] - solved[:, ::2, ::2]).max() > 1e-6
