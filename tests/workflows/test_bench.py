"""``sciml bench``: a tiny run checked against its schema, an independent evaluation and its figures."""

from __future__ import annotations

import contextlib
import io
import json
import math
import subprocess
import sys

import matplotlib.image
import pytest
import torch

import sciml
from sciml.cli.main import main
from sciml.datasets import load
from sciml.workflows import BenchProfile, bench_profile, check_model_names, evaluation_sets, format_results_table

MODELS = ("fno", "tfno")
ENTRY_KEYS = {"name", "config", "params", "epochs", "lr", "train_seconds", "seconds_per_epoch", "infer_ms_per_sample",
              "peak_mem_mb", "peak_mem_method", "errors", "checkpoint", "history"}


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    """One tiny bench through the command line: darcy 16x16, 16 train / 8 test, 2 epochs, width 6."""
    root = tmp_path_factory.mktemp("bench")
    out, cache = root / "out", root / "cache"
    threads = torch.get_num_threads()
    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SCIML_DATA", str(cache))
        with contextlib.redirect_stdout(stdout):
            code = main(["bench", "darcy", "--models", ",".join(MODELS), "--resolution", "16", "--n-train", "16",
                         "--n-test", "8", "--epochs", "2", "--width", "6", "--modes", "4", "--out", str(out),
                         "--threads", "1", "--no-progress"])
    torch.set_num_threads(threads)
    assert code == 0, stdout.getvalue()
    results = json.loads((out / "results.json").read_text())
    return {"out": out, "cache": cache, "stdout": stdout.getvalue(), "results": results}


def test_results_follow_the_schema(bench_run):
    results = bench_run["results"]
    assert results["schema"] == "sciml-bench" and results["schema_version"] == 2
    assert results["problem"] == "darcy"
    assert results["resolutions"] == ["16x16", "32x32", "64x64"]          # training resolution first
    assert results["data"] == {"name": "darcy", "resolution": 16, "n_train": 16, "n_test": 8, "params": {},
                               "seed": 0, "pairs": "final", "window": 1}
    assert results["trainer"]["epochs"] == 2
    assert results["environment"]["device"] == "cpu" and results["environment"]["threads"] == 1
    assert [entry["name"] for entry in results["models"]] == list(MODELS)
    for entry in results["models"]:
        assert set(entry) == ENTRY_KEYS
        assert list(entry["errors"]) == results["resolutions"]
        for errors in entry["errors"].values():
            assert set(errors) == {"rel_l2", "h1"}
            assert all(math.isfinite(v) and 0 < v < 10 for v in errors.values())
        assert entry["epochs"] == 2 and len(entry["history"]) == 2
        assert entry["train_seconds"] > 0 and entry["infer_ms_per_sample"] > 0 and entry["peak_mem_mb"] >= 0
        assert entry["seconds_per_epoch"] == pytest.approx(entry["train_seconds"] / 2)
        assert entry["config"]["width"] == 6 and entry["config"]["modes"] == [4, 4]
    fno, tfno = results["models"]
    assert tfno["params"] < fno["params"]


def test_errors_equal_an_independent_evaluation_of_the_checkpoints(bench_run):
    results = bench_run["results"]
    data = load("darcy", 16, n_train=16, n_test=8, cache_dir=bench_run["cache"], progress=False)
    tests = {"16x16": data.test, "32x32": data.evaluation(32), "64x64": data.evaluation(64)}
    for entry in results["models"]:
        ckpt = sciml.load_checkpoint(entry["checkpoint"])                     # rebuilt from the registry
        assert type(ckpt.model).registry_name == entry["name"]
        assert sum(p.numel() for p in ckpt.model.parameters()) == entry["params"]
        ckpt.model.eval()
        for key, test in tests.items():
            with torch.no_grad():
                prediction = ckpt.target_normalizer.decode(ckpt.model(ckpt.input_normalizer.encode(test.inputs)))
            rel_l2 = float(sciml.losses.relative_lp(prediction, test.targets))
            h1 = float(sciml.losses.relative_h1(prediction, test.targets))
            assert entry["errors"][key]["rel_l2"] == pytest.approx(rel_l2, rel=1e-5)
            assert entry["errors"][key]["h1"] == pytest.approx(h1, rel=1e-5)


def test_table_prints_the_numbers_of_results_json(bench_run):
    printed, results = bench_run["stdout"], bench_run["results"]
    assert format_results_table(results) in printed
    for entry in results["models"]:
        row = next(line for line in printed.splitlines() if line.startswith(entry["name"] + " "))
        for key in results["resolutions"]:
            assert f"{entry['errors'][key]['rel_l2']:.3e}" in row and f"{entry['errors'][key]['h1']:.3e}" in row
        assert f"{entry['params']:,}" in row and f"{entry['infer_ms_per_sample']:.3f}" in row


def test_figures_and_checkpoints_are_written(bench_run):
    out = bench_run["out"]
    for name in ("fno_prediction.png", "tfno_prediction.png", "loss_curves.png"):
        path = out / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    for name in MODELS:
        assert (out / name / "metrics.jsonl").is_file() and (out / name / "run.json").is_file()
        assert sciml.training.resolve_checkpoint(out / name).parent == out / name / "checkpoints"


def test_evaluate_command_reads_a_bench_checkpoint(bench_run, capsys):
    entry = bench_run["results"]["models"][0]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SCIML_DATA", str(bench_run["cache"]))
        assert main(["evaluate", str(bench_run["out"] / "fno"), "--resolution", "32", "--no-progress"]) == 0
    report = json.loads((bench_run["out"] / "fno" / "evaluation-32x32.json").read_text())
    assert report["rel_l2"] == pytest.approx(entry["errors"]["32x32"]["rel_l2"], rel=1e-5)
    assert f"{report['rel_l2']:.3e}" in capsys.readouterr().out


@pytest.mark.parametrize("argv, listed", [
    (["bench", "no-such-problem"], "darcy"),
    (["bench", "darcy", "--models", "fno,no-such-model"], "mg-tfno"),
])
def test_unknown_names_exit_2_listing_the_valid_ones(argv, listed, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "no-such" in err and listed in err
    assert not (tmp_path / "out").exists()


def test_profiles():
    quick = bench_profile("darcy", quick=True)
    paper = bench_profile("darcy")
    assert isinstance(quick, BenchProfile) and quick.name == "quick" and paper.name == "paper"
    assert (paper.data.n_train, paper.width, paper.modes, paper.n_layers) == (1000, 32, 12, 4)
    assert (paper.trainer.epochs, paper.trainer.lr, paper.trainer.step_size, paper.trainer.gamma) == (500, 1e-3, 100, 0.5)
    assert bench_profile("burgers").data.resolution == 1024 and bench_profile("burgers").width == 64
    ns = bench_profile("navier-stokes")
    assert ns.data.pairing() == ("steps", 10) and ns.data.params == {}
    assert bench_profile("poisson", quick=True).data.resolution is None      # any registered problem
    assert check_model_names(" fno, tfno ") == ["fno", "tfno"]
    with pytest.raises(ValueError, match="each model once"):
        check_model_names("fno,fno")


def test_oversampling_reaches_fno_and_tfno_only_on_non_periodic_problems():
    from sciml.operators import FNO, FNOConfig
    from sciml.workflows import bench_model_config

    darcy_grid = sciml.Grid.uniform((16, 16), sciml.Domain.unit(2))
    profile = bench_profile("darcy", quick=True, oversampling=2, width=6, modes=4)
    assert profile.oversampling == 2 and bench_profile("darcy", quick=True).oversampling == 1
    for name in ("fno", "tfno"):
        assert bench_model_config(name, profile, darcy_grid)["oversampling"] == 2
    assert "oversampling" not in bench_model_config("fno", bench_profile("darcy", quick=True), darcy_grid)
    model = FNO(FNOConfig(in_channels=1, out_channels=1, **bench_model_config("fno", profile, darcy_grid)))
    assert model.config.oversampling == 2
    for name in ("mgno", "t1", "mg-tfno"):
        with pytest.raises(ValueError, match=rf"oversampling: 2 applies to fno and tfno.*got model '{name}'"):
            bench_model_config(name, profile, darcy_grid)
    periodic = sciml.Grid.uniform((16, 16), sciml.Domain.unit(2, periodic=True))
    with pytest.raises(ValueError, match="on a periodic grid"):
        bench_model_config("fno", bench_profile("navier-stokes", quick=True, oversampling=2), periodic)


def test_evaluation_sets_are_keyed_by_resolution(tmp_path):
    data = load("darcy", 8, n_train=2, n_test=2, cache_dir=tmp_path, progress=False)
    sets = evaluation_sets(data, (1, 2))
    assert list(sets) == ["8x8", "16x16"] and sets["16x16"].inputs.shape == (2, 1, 16, 16)


def test_peak_memory_sees_a_large_allocation():
    # in a fresh process: here, memory freed by earlier tests is reused without raising the RSS
    code = ("import time, torch\n"
            "from sciml.workflows.bench import PeakMemory\n"
            "with PeakMemory('cpu', interval=0.001) as memory:\n"
            "    block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched\n"
            "    block += 1\n"
            "    time.sleep(0.2)\n"
            "    del block\n"
            "print(memory.method, memory.mb)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    method, mb = result.stdout.split()
    assert method in ("cpu-rss-increase", "cpu-maxrss-increase")
    if method == "cpu-rss-increase":
        assert float(mb) > 32


def test_models_may_lower_their_bench_learning_rate_but_not_the_budget():
    import sciml.operators  # noqa: F401  (registers the models)
    from sciml.workflows.bench import bench_profile, bench_trainer

    profile = bench_profile("darcy", quick=True)
    assert bench_trainer("fno", profile) == profile.trainer
    mgno = bench_trainer("mgno", profile)
    assert mgno.lr == 2e-3 < profile.trainer.lr
    assert (mgno.epochs, mgno.batch_size) == (profile.trainer.epochs, profile.trainer.batch_size)
