"""``sciml train CONFIG`` and ``sciml evaluate CHECKPOINT``: a round trip through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import sciml
from sciml.cli.main import main
from sciml.workflows import read_run_config

CONFIG = {
    "problem": {"name": "darcy", "resolution": 16, "n_train": 16, "n_test": 8},
    "model": {"name": "fno", "config": {"width": 6, "modes": [4, 4], "n_layers": 2}},
    "trainer": {"epochs": 2, "batch_size": 8, "lr": "1e-3", "device": "cpu"},
    "evaluate": [32],
}
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "darcy_fno.yaml"


def write(tmp_path, config) -> str:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_train_then_evaluate_round_trip(tmp_path, monkeypatch, capsys, one_thread):
    monkeypatch.setenv("SCIML_DATA", str(tmp_path / "cache"))
    out = tmp_path / "run"
    assert main(["train", write(tmp_path, CONFIG), "--out", str(out), "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == json.loads((out / "evaluation.json").read_text())
    assert list(summary["errors"]) == ["16x16", "32x32"] and summary["epochs"] == 2
    ckpt = sciml.load_checkpoint(out)
    assert ckpt.epoch == 2 and ckpt.trainer_config.lr == 1e-3 and ckpt.model.config.width == 6
    assert ckpt.input_normalizer is not None and ckpt.target_normalizer is not None
    run = read_run_config(json.loads((out / "run.json").read_text()))
    assert run.model["config"]["in_channels"] == 1 and run.problem.n_train == 16

    for resolution, key in ((None, "16x16"), ("32", "32x32")):
        argv = ["evaluate", summary["checkpoint"], "--no-progress"] + (["--resolution", resolution] if resolution else [])
        assert main(argv) == 0
        printed = capsys.readouterr().out
        report = json.loads((out / f"evaluation-{key}.json").read_text())
        assert report["resolution"] == key and report["n_test"] == 8 and report["model"] == "fno"
        assert report["rel_l2"] == pytest.approx(summary["errors"][key]["rel_l2"], rel=1e-5)
        assert report["h1"] == pytest.approx(summary["errors"][key]["h1"], rel=1e-5)
        assert f"rel L2 {report['rel_l2']:.3e}" in printed


def test_example_config_reads():
    config = read_run_config(str(EXAMPLE))
    assert config.problem.name == "darcy" and config.model["name"] == "fno" and config.trainer.lr == 1e-3


@pytest.mark.parametrize("change, words", [
    ({"trainer": {"lrr": 1}}, ["trainer", "lrr"]),
    ({"trainer": {"epochs": 0}}, ["trainer", "epochs"]),
    ({"model": {"name": "no-such-model"}}, ["no-such-model", "fno", "mg-tfno"]),
    ({"model": {"name": "fno", "config": {"widht": 4}}}, ["model.config", "widht"]),
    ({"problem": {"name": "no-such-problem"}}, ["no-such-problem", "darcy", "burgers"]),
    ({"problem": {"name": "darcy", "n_tran": 4}}, ["problem", "n_tran"]),
    ({"extra": 1}, ["extra"]),
    ({"evaluate": "64"}, ["evaluate"]),
])
def test_bad_configs_exit_2_naming_the_field(tmp_path, monkeypatch, capsys, change, words):
    monkeypatch.setenv("SCIML_DATA", str(tmp_path / "cache"))
    assert main(["train", write(tmp_path, {**CONFIG, **change}), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sciml train: error:")
    for word in words:
        assert word in err


def test_missing_files_exit_2(tmp_path, capsys):
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "nothing"), "--resolution", "32"]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_evaluate_without_run_file_needs_the_problem(tmp_path, capsys):
    from sciml.operators import FNO, FNOConfig

    sciml.save_checkpoint(tmp_path / "ckpt", FNO(FNOConfig(1, 1, width=4, modes=(2, 2), n_layers=1)))
    assert main(["evaluate", str(tmp_path / "ckpt"), "--resolution", "8"]) == 2
    assert "--problem" in capsys.readouterr().err
