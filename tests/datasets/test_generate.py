"""Generation: per-sample seeds, exact values, worker-count independence, NaN reports, kill and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import _heat_problem
import numpy as np
import pytest
import xarray as xr
from _heat_problem import HeatProblem

from sciml.datasets import SampleError, generate, get_problem, open_dataset, sample_seeds, solve_samples
from sciml.datasets.store import PartStore

HERE = Path(__file__).parent


def _read(path) -> xr.Dataset:
    with open_dataset(path) as ds:
        return ds.load()


def test_sample_seeds_depend_on_the_run_seed_and_the_index_only():
    seeds = sample_seeds(3, range(50))
    assert np.array_equal(sample_seeds(3, [49, 7]), seeds[[49, 7]])
    assert len(set(seeds.tolist())) == 50 and seeds.min() >= 0
    assert not np.any(np.isin(sample_seeds(4, range(50)), seeds))


def test_stored_values_are_the_exact_heat_solution_with_coordinates_units_and_attributes(tmp_path):
    problem = get_problem("heat-test", resolution=32, kappa=0.02)
    out = generate(problem, 5, tmp_path / "heat.zarr", seed=11, chunk_size=2, progress=False)
    ds = _read(out)
    seeds = sample_seeds(11, range(5))
    assert np.array_equal(ds["seed"].values, seeds)
    t = problem.times()
    exact = np.stack([problem.exact(s, t) for s in seeds])
    np.testing.assert_allclose(ds["u"].values, exact, rtol=0, atol=2e-7)     # float32 storage
    np.testing.assert_allclose(ds["u0"].values, exact[:, :0].sum(1) + np.stack([problem.exact(s, [0.0])[0] for s in seeds]),
                               rtol=0, atol=2e-7)
    assert ds["u"].dims == ("sample", "t", "x") and ds["u0"].dims == ("sample", "x")
    np.testing.assert_array_equal(ds["x"].values, np.arange(32) / 32)
    np.testing.assert_array_equal(ds["t"].values, t)
    assert ds["x"].attrs["units"] == "m" and ds["t"].attrs["units"] == "s" and ds["u"].attrs["units"] == "K"
    assert ds["u"].attrs["role"] == "output" and ds["u0"].attrs["role"] == "input"
    assert ds.attrs["problem"] == "heat-test" and ds.attrs["seed"] == 11 and ds.attrs["resolution"] == 32
    assert json.loads(ds.attrs["config"])["kappa"] == 0.02
    assert ds.attrs["sciml_version"] and ds.attrs["n_samples"] == 5
    assert not (tmp_path / ".heat.zarr.parts").exists()


def test_one_and_two_workers_write_identical_stores(tmp_path):
    problem = get_problem("heat-test", resolution=16)
    one = _read(generate(problem, 9, tmp_path / "one.zarr", workers=1, chunk_size=2, progress=False))
    two = _read(generate(problem, 9, tmp_path / "two.zarr", workers=2, chunk_size=2, progress=False))
    xr.testing.assert_identical(one, two)
    reference = solve_samples(problem, range(9))
    np.testing.assert_array_equal(one["u"].values, reference["u"].astype(np.float32))


def test_a_nan_sample_is_reported_with_its_index_seed_and_parameters_and_nothing_is_written(tmp_path):
    seeds = sample_seeds(0, range(8))
    problem = get_problem("heat-test", resolution=16, poison_seed=int(seeds[5]))
    out = tmp_path / "bad.zarr"
    with pytest.raises(SampleError, match=rf"sample 5 \(seed {seeds[5]}\), variable 'u': 1 NaN") as info:
        generate(problem, 8, out, chunk_size=2, progress=False)
    assert info.value.index == 5 and info.value.seed == seeds[5]
    assert info.value.params["poison_seed"] == seeds[5] and "poison_seed" in str(info.value)
    assert not out.exists()
    parts = PartStore(out)
    assert parts.finished(4) == [0, 1]                     # chunks before the bad one are kept for a rerun


def test_a_blow_up_beyond_the_bound_is_reported(tmp_path):
    problem = get_problem("heat-test", resolution=16)
    with pytest.raises(SampleError, match=r"sample 0 .*exceeds the blow-up bound 0.001"):
        generate(problem, 2, tmp_path / "big.zarr", max_abs=1e-3, progress=False)


class _FailingHeat(HeatProblem):
    """Raises FloatingPointError (like a solver's own blow-up check) on one seed."""

    name = "heat-failing"
    bad_seed = int(sample_seeds(0, [3])[0])

    def solve_batch(self, seeds):
        if self.bad_seed in [int(s) for s in seeds]:
            raise FloatingPointError("solution exceeded twice max |u0|")
        return super().solve_batch(seeds)


def test_a_solver_error_is_located_to_its_sample(tmp_path):
    problem = _FailingHeat(_heat_problem.HeatConfig(resolution=16))
    with pytest.raises(SampleError, match=rf"sample 3 \(seed {_FailingHeat.bad_seed}\).*FloatingPointError"):
        generate(problem, 6, tmp_path / "x.zarr", chunk_size=6, progress=False)


def test_a_solver_breaking_the_shape_contract_is_named(tmp_path):
    class Wrong(HeatProblem):
        def solve_batch(self, seeds):
            arrays = super().solve_batch(seeds)
            return {"u0": arrays["u0"], "u": arrays["u"][:, -1]}

    with pytest.raises(ValueError, match=r"variable 'u': expected shape \(2, 4, 16\), got \(2, 16\)"):
        generate(Wrong(_heat_problem.HeatConfig(resolution=16)), 2, tmp_path / "w.zarr", progress=False)


def test_rerun_of_a_finished_store_is_a_no_op_and_other_settings_are_refused(tmp_path):
    problem = get_problem("heat-test", resolution=16)
    out = generate(problem, 4, tmp_path / "h.nc", progress=False)
    calls = _heat_problem.CALLS["count"]
    before = out.stat().st_mtime_ns
    assert generate(problem, 4, out, progress=False) == out
    assert _heat_problem.CALLS["count"] == calls and out.stat().st_mtime_ns == before
    with pytest.raises(FileExistsError, match="holds another dataset"):
        generate(problem, 4, out, seed=1, progress=False)
    generate(problem, 4, out, seed=1, progress=False, overwrite=True)
    assert _read(out).attrs["seed"] == 1


def _generate_in_subprocess(out: Path, sleep: float) -> subprocess.Popen:
    code = ("import sys, _heat_problem; from sciml.datasets import generate; "
            "generate('heat-test', 12, sys.argv[1], params={'resolution': 16}, chunk_size=2, progress=False)")
    env = {**os.environ, "SCIML_TEST_SLEEP": str(sleep), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", code, str(out)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def test_sigkill_mid_generation_then_rerun_equals_an_uninterrupted_run(tmp_path, kill_when):
    out = tmp_path / "killed.zarr"
    parts = PartStore(out)
    proc = kill_when(_generate_in_subprocess(out, sleep=0.4), lambda: len(parts.finished(6)) >= 2,
                     poll=0.02, what="generation")
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists(), "a killed run must not leave a visible store"
    done = parts.finished(6)
    assert 2 <= len(done) < 6

    calls = _heat_problem.CALLS["count"]
    generate("heat-test", 12, out, params={"resolution": 16}, chunk_size=2, progress=False)
    assert _heat_problem.CALLS["count"] - calls == 6 - len(done)          # finished chunks were skipped
    reference = generate("heat-test", 12, tmp_path / "reference.zarr", params={"resolution": 16}, chunk_size=2,
                         progress=False)
    xr.testing.assert_identical(_read(out), _read(reference))
    assert not parts.root.exists() and not list(tmp_path.glob(".*"))
