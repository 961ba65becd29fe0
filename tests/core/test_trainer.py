"""Trainer: convergence, determinism, schedules, clipping, early stopping, metrics, resume."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

SCRIPTS = Path(__file__).resolve().parent / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

import toy_model  # noqa: E402

import sciml  # noqa: E402
from sciml.losses import RelativeL2, relative_lp  # noqa: E402
from sciml.training import Trainer, TrainerConfig, load_checkpoint  # noqa: E402
from sciml.training.config import resume_mismatches  # noqa: E402


def quiet(**overrides) -> TrainerConfig:
    """A small, silent configuration on the CPU (where results are bitwise reproducible)."""
    return TrainerConfig(**{"progress": False, "device": "cpu", **overrides})


class ScriptedLoss(nn.Module):
    """Returns scripted values (one per call) with a zero gradient; counts calls."""

    def __init__(self, values):
        super().__init__()
        self.values = list(values)
        self.calls = 0

    def forward(self, pred, target):
        value = self.values[min(self.calls, len(self.values) - 1)]
        self.calls += 1
        return 0.0 * pred.values.sum() + value


# -- fitting ------------------------------------------------------------------------------------
def test_fits_linear_operator_to_low_error():
    train = toy_model.make_data(64, seed=0)
    test = toy_model.make_data(16, seed=1)
    model = toy_model.make_model(seed=0)
    trainer = Trainer(model, config=quiet(epochs=60, batch_size=16, lr=2e-2, scheduler="cosine"))
    history = trainer.fit(train, evaluate={"test": test})
    assert history[0]["eval"]["test"]["rel_l2"] > 0.5
    assert history[-1]["eval"]["test"]["rel_l2"] < 5e-3
    # the reported metric is the relative L2 error of the model on the held-out set
    with torch.no_grad():
        direct = relative_lp(model(test.inputs), test.targets)
    assert history[-1]["eval"]["test"]["rel_l2"] == pytest.approx(float(direct), rel=1e-5)


class ChannelAffine(nn.Module):
    """A plain module on tensors ``[B, 1, n]``: ``x -> w x + b`` pointwise."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, 1)

    def forward(self, x):
        assert isinstance(x, torch.Tensor)
        return self.linear(x.movedim(1, -1)).movedim(-1, 1)


def test_plain_module_gets_tensors_and_output_is_wrapped():
    train = toy_model.make_data(32, seed=0, dtype=torch.float64)
    train = sciml.OperatorDataset(train.inputs, train.inputs.with_values(3 * train.inputs.values - 1))
    torch.manual_seed(0)
    model = ChannelAffine().double()                            # exact fit: a -> 3a - 1
    trainer = Trainer(model, config=quiet(epochs=100, batch_size=8, lr=5e-2, scheduler="cosine"))
    trainer.fit(train)
    assert model.linear.weight.item() == pytest.approx(3.0, abs=1e-3)
    assert model.linear.bias.item() == pytest.approx(-1.0, abs=1e-3)
    prediction = trainer.predict(train.inputs[:2])
    assert isinstance(prediction, sciml.Sampled) and prediction.on == train.targets.on


def test_default_loss_is_relative_l2_and_overrides_apply():
    trainer = Trainer(toy_model.make_model(), epochs=3, lr=0.5, progress=False)
    assert isinstance(trainer.loss, RelativeL2)
    assert (trainer.config.epochs, trainer.config.lr) == (3, 0.5)
    assert trainer.optimizer.param_groups[0]["lr"] == 0.5
    base = quiet(epochs=7, optimizer="adamw", weight_decay=0.1)
    trainer = Trainer(toy_model.make_model(), config=base, lr=0.25)
    assert trainer.config == quiet(epochs=7, optimizer="adamw", weight_decay=0.1, lr=0.25)
    assert isinstance(trainer.optimizer, torch.optim.AdamW)
    assert sciml.config_to_dict(trainer.config)["weight_decay"] == 0.1


@pytest.mark.parametrize(
    "kwargs, error, match",
    [({"epochs": 0}, ValueError, r"epochs: expected an integer >= 1, got 0"),
     ({"optimizer": "sgd"}, ValueError, r"optimizer: expected one of \('adam', 'adamw'\), got 'sgd'"),
     ({"scheduler": "linear"}, ValueError, r"scheduler: expected one of"),
     ({"lr": -1.0}, ValueError, r"lr: expected a finite number > 0, got -1.0"),
     ({"lr": math.inf}, ValueError, r"lr: expected a finite number > 0, got inf"),
     ({"lr": "1e-3"}, TypeError, r"lr: expected a finite number > 0, got str '1e-3'"),
     ({"weight_decay": math.nan}, ValueError, r"weight_decay: expected a finite number >= 0, got nan"),
     ({"grad_clip": 0}, ValueError, r"grad_clip: expected a finite number > 0, got 0"),
     ({"batch_size": 2.5}, TypeError, r"batch_size: expected an integer, got float 2.5"),
     ({"epoch": 3}, TypeError, r"overrides: unknown TrainerConfig fields \['epoch'\]")],
)
def test_bad_configuration_is_rejected(kwargs, error, match):
    with pytest.raises(error, match=match):
        Trainer(toy_model.make_model(), progress=False, **kwargs)


def test_bad_arguments_are_rejected():
    trainer = Trainer(toy_model.make_model(), config=quiet(epochs=1))
    data = toy_model.make_data(4)
    with pytest.raises(TypeError, match="train: expected an OperatorDataset, got Sampled"):
        trainer.fit(data.inputs)
    with pytest.raises(TypeError, match="evaluate: expected a dict of name -> OperatorDataset, got OperatorDataset"):
        trainer.fit(data, evaluate=data)
    with pytest.raises(ValueError, match=r"monitor: expected one of \['train_loss', 'test/loss', 'test/rel_l2'\], "
                                         r"got 'other/loss'"):
        Trainer(toy_model.make_model(), config=quiet(epochs=1, monitor="other/loss")).fit(data, {"test": data})
    with pytest.raises(TypeError, match="model: expected a torch.nn.Module, got str"):
        Trainer("model")


# -- determinism --------------------------------------------------------------------------------
def _train_weights(seed: int, **overrides) -> torch.Tensor:
    model = toy_model.make_model(seed=0, dropout=0.2)
    config = quiet(epochs=3, batch_size=8, lr=1e-2, seed=seed, **overrides)
    Trainer(model, config=config).fit(toy_model.make_data(32))
    return toy_model.flat_weights(model)


def test_same_seed_gives_identical_weights_and_other_seed_differs():
    first, second = _train_weights(seed=5), _train_weights(seed=5)
    assert torch.equal(first, second)
    assert not torch.allclose(first, _train_weights(seed=6))


# -- schedules and clipping -------------------------------------------------------------------------
def _lrs(**overrides) -> list[float]:
    data = toy_model.make_data(8)
    trainer = Trainer(toy_model.make_model(), config=quiet(batch_size=8, lr=0.1, **overrides))
    return [record["lr"] for record in trainer.fit(data)]


def test_step_scheduler_halves_every_step_size_epochs():
    assert _lrs(epochs=5, scheduler="step", step_size=2, gamma=0.5) == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])


def test_cosine_scheduler_follows_the_formula():
    expected = [0.1 * (1 + math.cos(math.pi * e / 6)) / 2 for e in range(6)]
    assert _lrs(epochs=6, scheduler="cosine") == pytest.approx(expected, rel=1e-12)


def test_onecycle_scheduler_warms_up_then_anneals_per_batch():
    lrs = _lrs(epochs=10, scheduler="onecycle")          # one batch per epoch: 10 steps in total
    assert lrs[0] == pytest.approx(0.1 / 25)               # initial lr = max_lr / div_factor
    assert max(lrs) == pytest.approx(0.1) and lrs.index(max(lrs)) == 2   # peak after 30% of the steps
    assert lrs[-1] == pytest.approx(0.1 / 25 / 1e4)        # final lr = initial / final_div_factor
    assert all(a > b for a, b in zip(lrs[2:], lrs[3:]))


def test_constant_lr_without_scheduler():
    assert _lrs(epochs=3) == [0.1, 0.1, 0.1]


def test_grad_clip_rescales_the_gradient_to_the_max_norm():
    data = toy_model.make_data(8, dtype=torch.float64)
    model = toy_model.make_model(seed=0, dtype=torch.float64)
    reference = toy_model.make_model(seed=0, dtype=torch.float64)
    RelativeL2()(reference(data.inputs), data.targets).backward()
    raw = torch.cat([p.grad.reshape(-1) for p in reference.parameters()])
    clip = 0.01 * float(raw.norm())
    Trainer(model, config=quiet(epochs=1, batch_size=8, grad_clip=clip, shuffle=False)).fit(data)
    clipped = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    # torch.nn.utils.clip_grad_norm_ scales by max_norm / (norm + 1e-6)
    torch.testing.assert_close(clipped, raw * clip / (raw.norm() + 1e-6), rtol=1e-12, atol=0)
    assert clip * (1 - 1e-5) < float(clipped.norm()) <= clip


def test_amp_on_cpu_trains_in_bfloat16_and_keeps_float32_weights():
    data = toy_model.make_data(32)
    model = toy_model.make_model(seed=0)
    history = Trainer(model, config=quiet(epochs=10, batch_size=8, lr=2e-2, amp=True)).fit(data)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]


# -- failures, early stopping, logging ---------------------------------------------------------------
def test_non_finite_loss_raises_naming_epoch_and_batch():
    data = toy_model.make_data(16)
    model = toy_model.make_model(seed=0)
    loss = ScriptedLoss([1.0] * 5 + [float("nan")])           # 2 batches per epoch: call 6 = epoch 3, batch 2
    trainer = Trainer(model, loss=loss, config=quiet(epochs=5, batch_size=8))
    with pytest.raises(FloatingPointError, match=r"expected a finite training loss, got nan at epoch 3, batch 2"):
        trainer.fit(data)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def _strict_json(text: str):
    """``json.loads`` that refuses the NaN / Infinity extensions of Python's json module."""
    def refuse(constant):
        raise ValueError(f"invalid JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)


def test_non_finite_evaluation_raises_naming_dataset_and_epoch(tmp_path):
    data = toy_model.make_data(8)
    loss = ScriptedLoss([1.0, 1.0, 1.0, float("nan")])        # train, eval, train, eval: NaN at epoch 2's evaluation
    trainer = Trainer(toy_model.make_model(), loss=loss, config=quiet(epochs=3, batch_size=8), out_dir=tmp_path)
    with pytest.raises(FloatingPointError, match=r"evaluate\['test'\]: expected finite metrics, got "
                                                 r"\{'loss': nan, 'rel_l2': [\d.e-]+\} at epoch 2"):
        trainer.fit(data, evaluate={"test": data})
    lines = [_strict_json(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1]
    _strict_json((tmp_path / "checkpoints" / "epoch-0001" / "config.json").read_text())
    with pytest.raises(FloatingPointError, match=r"evaluate\['again'\]: expected finite metrics, got "
                                                 r"\{'loss': nan, .*\}; check"):
        trainer.evaluate({"again": data})


def test_early_stopping_stops_after_patience_and_keeps_the_best(tmp_path):
    data = toy_model.make_data(8)
    loss = ScriptedLoss([3.0, 2.0, 2.5, 2.6, 2.7, 1.0])      # best at epoch 2, then 3 worse epochs
    config = quiet(epochs=6, batch_size=8, early_stopping_patience=3, monitor="train_loss")
    history = Trainer(toy_model.make_model(), loss=loss, config=config, out_dir=tmp_path).fit(data)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4, 5]
    best = load_checkpoint(tmp_path / "checkpoints" / "best")
    assert best.epoch == 2 and best.metrics["train_loss"] == 2.0
    assert load_checkpoint(tmp_path).epoch == 5               # latest = the epoch it stopped at
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["best", "epoch-0002", "epoch-0005",
                                                                           "latest"]


def test_early_stopping_on_an_evaluation_metric():
    train = toy_model.make_data(16, seed=0)
    flipped = toy_model.make_data(8, seed=1)                   # targets of the opposite sign: worse as training improves
    flipped = sciml.OperatorDataset(flipped.inputs, flipped.targets.with_values(-flipped.targets.values))
    config = quiet(epochs=30, batch_size=8, lr=2e-2, early_stopping_patience=2, monitor="flipped/rel_l2")
    history = Trainer(toy_model.make_model(seed=0), config=config).fit(train, evaluate={"flipped": flipped})
    values = [r["eval"]["flipped"]["rel_l2"] for r in history]
    best = values.index(min(values))
    assert len(history) == best + 3 < 30
    assert all(v >= values[best] for v in values[best + 1:])


def test_metrics_jsonl_matches_history_and_independent_evaluation(tmp_path):
    train = toy_model.make_data(16, seed=0, dtype=torch.float64)
    test = toy_model.make_data(10, seed=1, dtype=torch.float64)   # 10 = 4 + 4 + 2: uneven batches
    model = toy_model.make_model(seed=0, dtype=torch.float64)
    config = quiet(epochs=4, batch_size=4, eval_every=3)
    trainer = Trainer(model, loss=sciml.losses.LpLoss(relative=False), config=config, out_dir=tmp_path)
    history = trainer.fit(train, evaluate={"test": test, "train": train})
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lines == json.loads(json.dumps(history))
    assert [("eval" in r) for r in lines] == [False, False, True, True]   # every 3 epochs and after the last
    assert set(lines[0]) == {"epoch", "train_loss", "lr", "seconds", "samples_per_second"}
    with torch.no_grad():
        prediction = model(test.inputs)
    expected = {"loss": float(sciml.losses.absolute_lp(prediction, test.targets)),
                "rel_l2": float(relative_lp(prediction, test.targets))}
    assert lines[-1]["eval"]["test"] == pytest.approx(expected, rel=1e-12)
    assert trainer.evaluate({"test": test})["test"] == pytest.approx(expected, rel=1e-12)


def test_progress_bar_reports_loss_and_throughput(capsys):
    Trainer(toy_model.make_model(), epochs=2, batch_size=8).fit(toy_model.make_data(16))
    err = capsys.readouterr().err
    assert "loss=" in err and "samples_per_s=" in err and "2/2" in err


# -- normalizers ---------------------------------------------------------------------------------
def test_normalizers_encode_inputs_decode_outputs_and_are_checkpointed(tmp_path):
    data = toy_model.make_data(32, seed=0, dtype=torch.float64)
    data = sciml.OperatorDataset(data.inputs.with_values(50 + 10 * data.inputs.values),
                                 data.targets.with_values(1e3 * data.targets.values))
    inputs = sciml.GaussianNormalizer(1).fit(data.inputs)
    targets = sciml.GaussianNormalizer(1).fit(data.targets)
    model = toy_model.make_model(seed=0, dtype=torch.float64)
    trainer = Trainer(model, config=quiet(epochs=40, batch_size=8, lr=2e-2), input_normalizer=inputs,
                      target_normalizer=targets, out_dir=tmp_path)
    history = trainer.fit(data, evaluate={"train": data})
    with torch.no_grad():
        raw = targets.decode(model(inputs.encode(data.inputs)))
    expected = float(relative_lp(raw, data.targets))
    assert history[-1]["eval"]["train"]["rel_l2"] == pytest.approx(expected, rel=1e-10)
    assert expected < 0.05
    torch.testing.assert_close(trainer.predict(data.inputs).values, raw.values)
    restored = load_checkpoint(tmp_path)
    assert isinstance(restored.input_normalizer, sciml.GaussianNormalizer)
    for name in ("mean", "std"):
        assert torch.equal(getattr(restored.target_normalizer, name), getattr(targets, name))
    with torch.no_grad():
        again = restored.target_normalizer.decode(restored.model(restored.input_normalizer.encode(data.inputs)))
    assert torch.equal(again.values, raw.values)


# -- resume ----------------------------------------------------------------------------------------
class Interrupt(Exception):
    pass


class InterruptingLoss(nn.Module):
    """Relative L2 that raises once after ``calls`` calls (a crash mid-epoch)."""

    def __init__(self, calls: int):
        super().__init__()
        self.remaining = calls
        self.inner = RelativeL2()

    def forward(self, pred, target):
        self.remaining -= 1
        if self.remaining < 0:
            raise Interrupt
        return self.inner(pred, target)


def test_resume_in_process_reproduces_the_uninterrupted_run_bitwise(tmp_path):
    data, test = toy_model.make_data(24, seed=0), toy_model.make_data(8, seed=1)
    config = quiet(epochs=6, batch_size=8, lr=1e-2, scheduler="onecycle", checkpoint_every=2, seed=4)

    def run(loss, out_dir, resume=None, init_seed=0):
        model = toy_model.make_model(seed=init_seed, dropout=0.3)
        trainer = Trainer(model, loss=loss, config=config, out_dir=out_dir)
        return trainer.fit(data, evaluate={"test": test}, resume=resume), model

    reference, reference_model = run(RelativeL2(), tmp_path / "reference")
    with pytest.raises(Interrupt):                         # dies in epoch 5, after the epoch-4 checkpoint
        run(InterruptingLoss(4 * 4), tmp_path / "run")    # 3 train batches + 1 eval batch per epoch
    assert load_checkpoint(tmp_path / "run").epoch == 4
    resumed, resumed_model = run(RelativeL2(), tmp_path / "run", resume=True, init_seed=99)
    assert torch.equal(toy_model.flat_weights(resumed_model), toy_model.flat_weights(reference_model))

    def drop_time(records):
        return [{k: v for k, v in r.items() if k not in ("seconds", "samples_per_second")} for r in records]

    assert drop_time(resumed) == drop_time(reference)
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert drop_time(lines) == drop_time(json.loads(json.dumps(reference)))


def test_resume_true_without_checkpoint_starts_fresh_and_needs_out_dir(tmp_path):
    data = toy_model.make_data(8)
    history = Trainer(toy_model.make_model(), config=quiet(epochs=2, batch_size=8), out_dir=tmp_path).fit(
        data, resume=True)
    assert [r["epoch"] for r in history] == [1, 2]
    with pytest.raises(ValueError, match="resume: resume=True needs out_dir"):
        Trainer(toy_model.make_model(), config=quiet(epochs=1)).fit(data, resume=True)


def test_resume_refuses_settings_that_change_results_and_loads_nothing(tmp_path):
    data = toy_model.make_data(8)
    config = quiet(epochs=2, batch_size=4, lr=1e-2, scheduler="step", step_size=1)
    Trainer(toy_model.make_model(seed=0), config=config, out_dir=tmp_path).fit(data)
    model = toy_model.make_model(seed=1)
    before = toy_model.flat_weights(model)
    changed = config.replace(epochs=3, lr=2e-2, batch_size=8, gamma=0.1, progress=True)
    with pytest.raises(ValueError, match=r"resume: the checkpoint at .*epoch-0002' was trained with other settings "
                                         r"that change results: batch_size 4 -> 8, lr 0.01 -> 0.02, gamma 0.5 -> 0.1; "
                                         r"resume with the saved settings"):
        Trainer(model, config=changed, out_dir=tmp_path).fit(data, resume=True)
    assert torch.equal(toy_model.flat_weights(model), before)
    # settings that do not change the trajectory may differ; epochs may grow when the schedule is per epoch
    allowed = config.replace(epochs=3, eval_every=2, checkpoint_every=1, early_stopping_patience=5)
    history = Trainer(model, config=allowed, out_dir=tmp_path).fit(data, resume=True)
    assert [r["epoch"] for r in history] == [1, 2, 3]


def test_resume_mismatches_lists_only_settings_that_change_results():
    base = quiet(epochs=5, scheduler="step")
    free = base.replace(epochs=9, progress=True, device="cuda", eval_every=2, checkpoint_every=1, num_workers=2,
                        early_stopping_patience=3)
    assert resume_mismatches(base, free) == {}
    assert resume_mismatches(base, base.replace(seed=3, shuffle=False, amp=True, grad_clip=1.0, optimizer="adamw")) == {
        "optimizer": ("adam", "adamw"), "grad_clip": (None, 1.0), "amp": (False, True), "seed": (0, 3),
        "shuffle": (True, False)}
    for scheduler in ("onecycle", "cosine"):                  # the schedule spans the whole run
        spanning = base.replace(scheduler=scheduler)
        assert resume_mismatches(spanning, spanning.replace(epochs=6, gamma=0.1)) == {"epochs": (5, 6)}
    assert resume_mismatches(base, base.replace(scheduler=None)) == {"scheduler": ("step", None)}


# -- CUDA --------------------------------------------------------------------------------------------
@pytest.mark.cuda
def test_cuda_float16_amp_with_grad_scaler_trains_and_resumes(tmp_path):
    data = toy_model.make_data(32)
    config = quiet(epochs=6, batch_size=8, lr=2e-2, amp=True, device="cuda", checkpoint_every=2, seed=2)

    def run(loss, out_dir, resume=None, init_seed=0):
        model = toy_model.make_model(seed=init_seed, dropout=0.2)
        trainer = Trainer(model, loss=loss, config=config, out_dir=out_dir)
        return trainer, trainer.fit(data, resume=resume)

    reference, history = run(RelativeL2(), tmp_path / "reference")
    assert reference.scaler.is_enabled() and reference.device.type == "cuda"
    assert all(p.device.type == "cuda" and p.dtype == torch.float32 for p in reference.model.parameters())
    assert history[-1]["train_loss"] < 0.7 * history[0]["train_loss"]
    with pytest.raises(Interrupt):                                # dies in epoch 5 (4 batches per epoch)
        run(InterruptingLoss(4 * 4), tmp_path / "run")
    saved = load_checkpoint(tmp_path / "run")
    assert saved.epoch == 4 and saved.state["scaler"]["scale"] > 0 and "cuda" in saved.state["rng"]
    resumed, _ = run(RelativeL2(), tmp_path / "run", resume=True, init_seed=9)
    torch.testing.assert_close(toy_model.flat_weights(resumed.model), toy_model.flat_weights(reference.model),
                               rtol=0, atol=0)
    cpu_model = load_checkpoint(tmp_path / "run").model           # a CUDA checkpoint rebuilds on the CPU
    assert torch.equal(toy_model.flat_weights(cpu_model), toy_model.flat_weights(resumed.model).cpu())
