"""Checkpoints: round trips, rebuilding registered models, damaged and foreign directories, crash safety."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

SCRIPTS = Path(__file__).resolve().parent / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

import toy_model  # noqa: E402
import train_toy  # noqa: E402

from sciml.training import (  # noqa: E402
    CheckpointStore,
    TrainerConfig,
    load_checkpoint,
    make_optimizer,
    make_scheduler,
    save_checkpoint,
)


def trained_state(seed: int = 0):
    """A toy model, its Adam optimizer and step scheduler after two steps."""
    model = toy_model.make_model(seed=seed, hidden=6)
    config = TrainerConfig(lr=0.1, scheduler="step", step_size=1, gamma=0.5)
    optimizer = make_optimizer(model, config)
    scheduler = make_scheduler(optimizer, config, batches_per_epoch=1)
    data = toy_model.make_data(4)
    for _ in range(2):
        optimizer.zero_grad()
        ((model(data.inputs).values - data.targets.values) ** 2).mean().backward()
        optimizer.step()
        scheduler.step()
    return model, optimizer, scheduler, config


def assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# -- round trips ------------------------------------------------------------------------------------
def test_round_trip_restores_weights_optimizer_scheduler_and_metadata(tmp_path):
    model, optimizer, scheduler, config = trained_state()
    path = save_checkpoint(tmp_path / "ckpt", model, optimizer=optimizer, scheduler=scheduler, epoch=7,
                           trainer_config=config, metrics={"loss": 0.25})
    fresh = toy_model.make_model(seed=1, hidden=6)
    fresh_optimizer = make_optimizer(fresh, config)
    fresh_scheduler = make_scheduler(fresh_optimizer, config, 1)
    ckpt = load_checkpoint(path, fresh, optimizer=fresh_optimizer, scheduler=fresh_scheduler)
    assert ckpt.model is fresh and (ckpt.epoch, ckpt.metrics, ckpt.trainer_config) == (7, {"loss": 0.25}, config)
    assert_same_tensors(fresh.state_dict(), model.state_dict())
    assert fresh_optimizer.param_groups[0]["lr"] == 0.025 == optimizer.param_groups[0]["lr"]
    for p, q in zip(model.parameters(), fresh.parameters()):
        assert_same_tensors(optimizer.state[p], fresh_optimizer.state[q])
    assert fresh_scheduler.state_dict() == scheduler.state_dict()
    info = json.loads((path / "config.json").read_text())
    assert info["format"] == "sciml-checkpoint" and info["format_version"] == 1
    assert info["model"] == {"name": "tests.toy_operator",
                             "config": {"in_channels": 1, "out_channels": 1, "hidden": 6, "dropout": 0.0}}
    assert info["trainer"]["scheduler"] == "step" and info["sciml_version"]
    assert sorted(os.listdir(path)) == ["config.json", "model.safetensors", "state.pt"]
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())     # no temporary left behind


def test_registered_model_is_rebuilt_from_the_checkpoint_alone(tmp_path):
    model = toy_model.make_model(seed=3, hidden=5, dropout=0.1)
    save_checkpoint(tmp_path / "ckpt", model)
    rebuilt = load_checkpoint(tmp_path / "ckpt").model
    assert type(rebuilt) is type(model) and rebuilt.config == model.config
    assert_same_tensors(rebuilt.state_dict(), model.state_dict())
    data = toy_model.make_data(3)
    model.eval(), rebuilt.eval()
    assert torch.equal(rebuilt(data.inputs).values, model(data.inputs).values)
    double = toy_model.make_model(seed=3, dtype=torch.float64)
    save_checkpoint(tmp_path / "double", double)
    rebuilt = load_checkpoint(tmp_path / "double").model              # rebuilt in the saved precision
    assert all(p.dtype == torch.float64 for p in rebuilt.parameters())
    assert_same_tensors(rebuilt.state_dict(), double.state_dict())


def test_random_generator_states_round_trip(tmp_path):
    model = toy_model.make_model()
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    save_checkpoint(tmp_path / "ckpt", model)
    expected = (random.random(), float(np.random.standard_normal()), torch.rand(3))
    random.seed(2), np.random.seed(2), torch.manual_seed(2)
    load_checkpoint(tmp_path / "ckpt", restore_rng=True)
    got = (random.random(), float(np.random.standard_normal()), torch.rand(3))
    assert got[:2] == expected[:2] and torch.equal(got[2], expected[2])


class Unregistered(nn.Module):
    def __init__(self, width: int = 3):
        super().__init__()
        self.linear = nn.Linear(width, width)
        self.register_buffer("scale", torch.arange(width, dtype=torch.float32))


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(4, 4, bias=False)
        self.decoder = nn.Linear(4, 4, bias=False)
        self.decoder.weight = self.encoder.weight


def test_unregistered_and_tied_weight_models_load_into_a_given_model(tmp_path):
    torch.manual_seed(0)
    model, tied = Unregistered(), Tied()
    save_checkpoint(tmp_path / "plain", model)
    save_checkpoint(tmp_path / "tied", tied)
    fresh, fresh_tied = Unregistered(), Tied()
    load_checkpoint(tmp_path / "plain", fresh)
    load_checkpoint(tmp_path / "tied", fresh_tied)
    assert_same_tensors(fresh.state_dict(), model.state_dict())
    assert torch.equal(fresh_tied.decoder.weight, tied.encoder.weight)
    assert fresh_tied.decoder.weight is fresh_tied.encoder.weight
    with pytest.raises(ValueError, match=r"model: the checkpoint at .* holds an unregistered "
                                         r"test_checkpoint.Unregistered; pass model="):
        load_checkpoint(tmp_path / "plain")


def test_normalizer_buffers_and_descriptions_round_trip(tmp_path):
    import sciml

    data = toy_model.make_data(8)
    inputs = sciml.MinMaxNormalizer(1, low=-1.0, high=1.0).fit(data.inputs)
    targets = sciml.GaussianNormalizer(1).fit(data.targets)
    save_checkpoint(tmp_path / "ckpt", toy_model.make_model(), input_normalizer=inputs, target_normalizer=targets)
    ckpt = load_checkpoint(tmp_path / "ckpt")
    assert ckpt.input_normalizer.to_dict() == inputs.to_dict()
    assert_same_tensors(ckpt.target_normalizer.state_dict(), targets.state_dict())
    into = sciml.GaussianNormalizer(1)
    load_checkpoint(tmp_path / "ckpt", target_normalizer=into)
    assert into.is_fitted and torch.equal(into.mean, targets.mean)


# -- refusing what is not a good checkpoint -----------------------------------------------------------
@pytest.fixture
def checkpoint(tmp_path) -> Path:
    model, optimizer, scheduler, config = trained_state()
    return save_checkpoint(tmp_path / "ckpt", model, optimizer=optimizer, scheduler=scheduler, trainer_config=config)


def test_foreign_directories_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"path: .*empty' is not a sciml checkpoint \(no config.json, no 'latest'"):
        load_checkpoint(tmp_path / "empty")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text(json.dumps({"model": "resnet"}))
    with pytest.raises(ValueError, match=r"is not a sciml checkpoint \(config.json has no 'format': "
                                         r"'sciml-checkpoint' marker\)"):
        load_checkpoint(tmp_path / "other")
    with pytest.raises(FileNotFoundError, match="path: no checkpoint at"):
        load_checkpoint(tmp_path / "missing")


def _rewrite_info(path: Path, **changes) -> None:
    info = json.loads((path / "config.json").read_text())
    info.update(changes)
    (path / "config.json").write_text(json.dumps(info))


def test_truncated_or_damaged_files_are_refused(checkpoint):
    weights = checkpoint / "model.safetensors"
    original = weights.read_bytes()
    weights.write_bytes(original[:-7])
    with pytest.raises(ValueError, match=r"model.safetensors in .* is truncated or damaged: expected \d+ bytes, "
                                         r"found \d+"):
        load_checkpoint(checkpoint)
    flipped = bytearray(original)
    flipped[-3] ^= 0xFF
    weights.write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="model.safetensors in .* is damaged: SHA-256 does not match"):
        load_checkpoint(checkpoint)
    weights.write_bytes(original)
    (checkpoint / "state.pt").unlink()
    with pytest.raises(ValueError, match=r"checkpoint .* is missing state.pt"):
        load_checkpoint(checkpoint)
    (checkpoint / "config.json").write_text('{"format": "sciml-checkpoint", ')
    with pytest.raises(ValueError, match=r"config.json' is damaged: not valid JSON"):
        load_checkpoint(checkpoint)


def test_damaged_files_are_refused_even_when_the_checksums_are_rewritten(checkpoint):
    from sciml.training.checkpoint import _sha256

    weights = checkpoint / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:40])
    files = json.loads((checkpoint / "config.json").read_text())["files"]
    files["model.safetensors"] = {"bytes": 40, "sha256": _sha256(weights)}
    _rewrite_info(checkpoint, files=files)
    with pytest.raises(ValueError, match=r"model.safetensors' is damaged"):
        load_checkpoint(checkpoint, toy_model.make_model(hidden=6))


class Payload:
    """Unpickling this would create a file: proof that arbitrary objects are never unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_state_holding_arbitrary_objects_is_never_unpickled(checkpoint, tmp_path):
    from sciml.training.checkpoint import _sha256

    marker = tmp_path / "unpickled"
    torch.save({"epoch": 1, "optimizer": Payload(marker)}, checkpoint / "state.pt")
    files = json.loads((checkpoint / "config.json").read_text())["files"]
    files["state.pt"] = {"bytes": (checkpoint / "state.pt").stat().st_size, "sha256": _sha256(checkpoint / "state.pt")}
    _rewrite_info(checkpoint, files=files)
    with pytest.raises(ValueError, match="state.pt in .* is damaged or holds objects other than tensors"):
        load_checkpoint(checkpoint)
    assert not marker.exists()


def test_newer_format_version_is_refused(checkpoint):
    _rewrite_info(checkpoint, format_version=99)
    with pytest.raises(ValueError, match="checkpoint format version 99 is not readable by this sciml"):
        load_checkpoint(checkpoint)


@pytest.fixture
def described_checkpoint(tmp_path) -> Path:
    """A checkpoint whose config.json has every optional field: registered model, trainer config, normalizer."""
    import sciml

    model, optimizer, scheduler, config = trained_state()
    normalizer = sciml.GaussianNormalizer(1).fit(toy_model.make_data(4).inputs)
    return save_checkpoint(tmp_path / "ckpt", model, optimizer=optimizer, scheduler=scheduler, trainer_config=config,
                           input_normalizer=normalizer, metrics={"loss": 0.5})


def _set(*keys_and_value):
    """A change to config.json: ``_set("files", "model.safetensors", "x")`` sets ``info["files"][...] = "x"``."""
    *keys, last, value = keys_and_value

    def change(info):
        for key in keys:
            info = info[key]
        info[last] = value
    return change


def _drop(*keys):
    def change(info):
        for key in keys[:-1]:
            info = info[key]
        del info[keys[-1]]
    return change


FOREIGN_FIELDS = [
    pytest.param(_set("files", "model.safetensors", "x"),
                 r"field 'files'\['model.safetensors'\] should be \{\"bytes\"", id="files-entry-not-a-dict"),
    pytest.param(_drop("files", "model.safetensors", "sha256"),
                 r"field 'files'\['model.safetensors'\] should be", id="files-entry-without-sha256"),
    pytest.param(_set("files", "model.safetensors", "bytes", -1),
                 r"field 'files'\['model.safetensors'\] should be", id="files-entry-negative-size"),
    pytest.param(_set("files", "../../etc/hostname", {"bytes": 1, "sha256": "0"}),
                 r"field 'files' should be names of files", id="files-outside-the-folder"),
    pytest.param(_set("epoch", "three"), r"field 'epoch' should be an integer >= 0, got 'three'", id="epoch-a-string"),
    pytest.param(_set("epoch", [3]), r"field 'epoch' should be an integer >= 0", id="epoch-a-list"),
    pytest.param(_drop("model", "config"), r"field 'model' should be null or \{\"name\": str, \"config\": dict\}",
                 id="model-without-config"),
    pytest.param(_set("model", "config", "depth", 3),
                 r"cannot rebuild field 'model' 'tests.toy_operator' \(data: unknown keys \['depth'\]",
                 id="model-config-unknown-key"),
    pytest.param(_set("trainer", [1]), r"field 'trainer' should be null or a dict", id="trainer-not-a-dict"),
    pytest.param(_set("trainer", "batch_size", 2.5),
                 r"field 'trainer' is not a valid TrainerConfig \(batch_size: expected an integer, got float 2.5\)",
                 id="trainer-batch-size-a-float"),
    pytest.param(_set("trainer", "lr", "fast"), r"field 'trainer' is not a valid TrainerConfig \(lr: expected a number",
                 id="trainer-lr-not-a-number"),
    pytest.param(_set("metrics", [0.5]), r"field 'metrics' should be null or a dict", id="metrics-not-a-dict"),
    pytest.param(_set("normalizers", "output", None), r"field 'normalizers'\['output'\] should be",
                 id="normalizers-unknown-slot"),
    pytest.param(_set("normalizers", "input", "GaussianNormalizer"), r"field 'normalizers'\['input'\] should be",
                 id="normalizer-not-a-dict"),
    pytest.param(_set("normalizers", "input", "extra", 1),
                 r"field 'normalizers'\['input'\] \(data: unknown entries \['extra'\]", id="normalizer-unknown-key"),
    pytest.param(_set("normalizers", "input", {"kind": "GaussianNormalizer"}),
                 r"field 'normalizers'\['input'\] \(data: missing entries \['channels'\] for GaussianNormalizer",
                 id="normalizer-without-channels"),
    pytest.param(_set("normalizers", "input", "kind", ["GaussianNormalizer"]),
                 r"field 'normalizers'\['input'\] \(data\['kind'\]", id="normalizer-kind-a-list"),
    pytest.param(_set("normalizers", "input", "channels", "1"),
                 r"field 'normalizers'\['input'\] \(data: cannot rebuild GaussianNormalizer .*channels: expected an "
                 r"integer", id="normalizer-channels-a-string"),
    pytest.param(_set("normalizers", "input", "statistics", [0.0, 1.0]), r"\(data\['statistics'\]: expected a dict",
                 id="statistics-not-a-dict"),
    pytest.param(_set("normalizers", "input", "statistics", "mean", ["a"]),
                 r"\(data\['statistics'\]\['mean'\]: expected 1 numbers", id="statistics-not-numbers"),
    pytest.param(_set("normalizers", "input", "statistics", "mean", [float("nan")]),
                 r"\(data\['statistics'\]\['mean'\]: expected finite values", id="statistics-not-finite"),
    pytest.param(_set("normalizers", "input", "fitted", "yes"), r"\(data\['fitted'\]: expected true or false",
                 id="fitted-not-a-bool"),
]


@pytest.mark.parametrize("change, match", FOREIGN_FIELDS)
def test_foreign_or_damaged_description_fields_raise_value_error_naming_path_and_field(described_checkpoint,
                                                                                       change, match):
    info = json.loads((described_checkpoint / "config.json").read_text())
    change(info)
    (described_checkpoint / "config.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match=match) as raised:
        load_checkpoint(described_checkpoint)
    assert str(described_checkpoint) in str(raised.value)


def test_a_different_model_is_refused(checkpoint, tmp_path):
    with pytest.raises(ValueError, match=r"model: the checkpoint at .* holds 'tests.toy_operator' with config "
                                         r"\{.*'hidden': 6.*\}, got 'tests.toy_operator' with config \{.*'hidden': 9"):
        load_checkpoint(checkpoint, toy_model.make_model(hidden=9))
    save_checkpoint(tmp_path / "plain", Unregistered(3))
    with pytest.raises(ValueError, match=r"(?s)holds a different model than Unregistered: .*size mismatch"):
        load_checkpoint(tmp_path / "plain", Unregistered(4))
    with pytest.raises(ValueError, match=r"(?s)holds a different model than Tied: .*Missing key"):
        load_checkpoint(tmp_path / "plain", Tied())
    with pytest.raises(ValueError, match="optimizer: the saved optimizer state does not fit"):
        model = Unregistered(3)
        load_checkpoint(checkpoint, toy_model.make_model(hidden=6), optimizer=make_optimizer(model, TrainerConfig()))


def test_non_finite_metrics_are_refused_instead_of_writing_invalid_json(tmp_path):
    with pytest.raises(ValueError, match="metrics: expected JSON-serializable data with finite numbers"):
        save_checkpoint(tmp_path / "ckpt", toy_model.make_model(), metrics={"loss": float("nan")})
    assert list(tmp_path.iterdir()) == []                      # nothing half-written left behind


def test_missing_training_state_is_reported(tmp_path):
    save_checkpoint(tmp_path / "weights-only", toy_model.make_model(), save_rng=False)
    model = toy_model.make_model()
    with pytest.raises(ValueError, match="optimizer: the checkpoint at .* has no optimizer state"):
        load_checkpoint(tmp_path / "weights-only", model, optimizer=make_optimizer(model, TrainerConfig()))
    with pytest.raises(ValueError, match="restore_rng: the checkpoint at .* has no random generator states"):
        load_checkpoint(tmp_path / "weights-only", restore_rng=True)


# -- atomic replacement and the run folder ----------------------------------------------------------
def test_existing_checkpoint_is_replaced_only_when_asked(tmp_path):
    path = save_checkpoint(tmp_path / "ckpt", toy_model.make_model(seed=0), epoch=1)
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        save_checkpoint(path, toy_model.make_model(seed=1), epoch=2)
    save_checkpoint(path, toy_model.make_model(seed=1), epoch=2, overwrite=True)
    assert load_checkpoint(path).epoch == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_interrupted_replacement_falls_back_to_the_previous_version(tmp_path):
    path = save_checkpoint(tmp_path / "ckpt", toy_model.make_model(seed=0), epoch=1)
    # the state a kill between the two renames of a replacement leaves behind
    os.rename(path, tmp_path / ".ckpt.old-12345")
    half = tmp_path / ".ckpt.tmp-12345"
    half.mkdir()
    (half / "model.safetensors").write_bytes(b"partial")
    assert load_checkpoint(path).epoch == 1


def test_store_pointers_name_complete_checkpoints_and_prune_the_rest(tmp_path):
    store = CheckpointStore(tmp_path / "checkpoints")
    for epoch in (1, 2, 3):
        save_checkpoint(store.path_for(epoch), toy_model.make_model(seed=epoch), epoch=epoch)
    store.point("best", store.path_for(2))
    store.point("latest", store.path_for(3))
    (store.root / ".epoch-0004.tmp-999").mkdir()           # leftover of a killed writer
    store.prune()
    assert sorted(p.name for p in store.root.iterdir()) == ["best", "epoch-0002", "epoch-0003", "latest"]
    assert load_checkpoint(tmp_path).epoch == 3                # run folder -> checkpoints/latest
    assert load_checkpoint(store.root / "best").epoch == 2     # pointer file
    with pytest.raises(ValueError, match="pointer: expected one of"):
        store.point("newest", store.path_for(3))


def test_interrupted_replacement_is_found_through_pointers_run_folder_and_resume(tmp_path):
    from sciml.training import Trainer

    data = toy_model.make_data(8)
    config = TrainerConfig(batch_size=4, lr=1e-2, seed=3, progress=False, device="cpu")

    def run(out_dir, epochs, resume=None):
        model = toy_model.make_model(seed=0, dropout=0.2)
        trainer = Trainer(model, config=config.replace(epochs=epochs), out_dir=out_dir)
        return trainer.fit(data, evaluate={"test": data}, resume=resume), model

    run(tmp_path / "run", 2)
    checkpoints = tmp_path / "run" / "checkpoints"
    assert {(checkpoints / p).read_text().strip() for p in ("latest", "best")} == {"epoch-0002"}
    # the state a kill between the two renames of a replacement leaves behind
    os.rename(checkpoints / "epoch-0002", checkpoints / ".epoch-0002.old-12345")
    for path in (tmp_path / "run", checkpoints, checkpoints / "latest", checkpoints / "best"):
        assert load_checkpoint(path).epoch == 2, path
    resumed, model = run(tmp_path / "run", 3, resume=True)
    reference, reference_model = run(tmp_path / "reference", 3)
    assert torch.equal(toy_model.flat_weights(model), toy_model.flat_weights(reference_model))
    assert [r["train_loss"] for r in resumed] == [r["train_loss"] for r in reference]
    assert load_checkpoint(tmp_path / "run").epoch == 3
    assert not list(checkpoints.glob(".*"))


def test_prune_puts_an_interrupted_replacement_back_in_place(tmp_path):
    store = CheckpointStore(tmp_path / "checkpoints")
    for epoch in (1, 2):
        save_checkpoint(store.path_for(epoch), toy_model.make_model(seed=epoch), epoch=epoch)
    store.point("best", store.path_for(1))
    store.point("latest", store.path_for(2))
    os.rename(store.path_for(1), store.root / ".epoch-0001.old-12345")
    assert store.resolve("best") == store.root / ".epoch-0001.old-12345"
    store.prune()
    assert sorted(p.name for p in store.root.iterdir()) == ["best", "epoch-0001", "epoch-0002", "latest"]
    assert store.resolve("best") == store.path_for(1) and load_checkpoint(store.root / "best").epoch == 1


# -- a real kill -------------------------------------------------------------------------------------
def _latest_epoch(out: Path) -> int | None:
    pointer = out / "checkpoints" / "latest"
    try:
        return int(pointer.read_text().strip().split("-")[1])
    except (OSError, IndexError, ValueError):
        return None


def _start_training(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(SCRIPTS / "train_toy.py"), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _writing_after(out: Path, after_epoch: int) -> bool:
    """A checkpoint after epoch ``after_epoch`` is being written right now."""
    latest = _latest_epoch(out)
    return (latest is not None and latest >= after_epoch
            and bool(list((out / "checkpoints").glob(".epoch-*.tmp-*"))))


def test_sigkill_mid_checkpoint_then_resume_matches_the_uninterrupted_run(tmp_path, one_thread, kill_when):
    common = ["--epochs", "6", "--dropout", "0.2", "--scheduler", "onecycle", "--checkpoint-every", "1"]
    out = tmp_path / "run"
    proc = kill_when(_start_training([str(out), *common, "--slow-write", "0.3"]),
                     lambda: _writing_after(out, 2), timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert list((out / "checkpoints").glob(".epoch-*.tmp-*")), "the kill should land inside a checkpoint write"
    survivor = load_checkpoint(out)                           # what is visible is complete
    assert 2 <= survivor.epoch < 6
    assert survivor.state["trainer"]["history"][-1]["epoch"] == survivor.epoch

    resumed = train_toy.main([str(out), *common, "--resume"])
    reference = train_toy.main([str(tmp_path / "reference"), *common])
    assert torch.equal(toy_model.flat_weights(resumed.model), toy_model.flat_weights(reference.model))
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in reference.history]
    assert not list((out / "checkpoints").glob(".*"))      # leftovers of the killed writer pruned
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3, 4, 5, 6]
    assert load_checkpoint(out).epoch == 6
