"""DDP: helpers in a single process, and torchrun on 2 CPU ranks (gloo) against single-process training.

Why the two runs agree: both draw each epoch's permutation from the same
``DistributedSampler`` (``torch.randperm`` with a generator seeded with
``seed + epoch``). With ``W`` ranks, rank ``r`` takes ``perm[r::W]`` and batches
of ``batch_size / W``, so the union of the ranks' ``k``-th batches is exactly
the single process's ``k``-th batch ``perm[k B:(k + 1) B]``. The loss is a
per-sample mean and every batch splits evenly (32 samples, global batch 8, 2
ranks), so DDP's gradient average equals the single-process gradient up to
floating-point summation order. In float64 the final weights agree to 1e-10.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

SCRIPTS = Path(__file__).resolve().parent / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

import toy_model  # noqa: E402
import train_toy  # noqa: E402

from sciml.training import Trainer, distributed, load_checkpoint  # noqa: E402

TOLERANCE = 1e-10      # float64, 6 epochs x 4 steps of Adam


def test_helpers_in_a_single_process(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert (distributed.world_size(), distributed.rank(), distributed.local_rank()) == (1, 0, 0)
    assert not distributed.is_distributed() and distributed.is_main_process()
    assert distributed.init() is False
    distributed.barrier()
    value = torch.tensor([1.5, -2.0])
    assert torch.equal(distributed.all_reduce_sum(value.clone()), value)
    assert distributed.device_for_rank("cpu") == torch.device("cpu")
    assert distributed.default_backend() in ("gloo", "nccl")


def test_environment_is_read_and_checked(monkeypatch):
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert (distributed.rank(), distributed.world_size(), distributed.is_distributed()) == (3, 4, True)
    assert not distributed.is_main_process()
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE: expected an integer in the environment, got 'two'"):
        distributed.world_size()


def test_global_batch_must_split_evenly_over_ranks(monkeypatch):
    trainer = Trainer(toy_model.make_model(), epochs=1, batch_size=5, progress=False)
    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    with pytest.raises(ValueError, match="batch_size: expected a multiple of the world size 2, got 5"):
        trainer.fit(toy_model.make_data(10))


def test_torchrun_two_ranks_matches_single_process_training(tmp_path, one_thread):
    common = ["--dtype", "float64", "--samples", "32", "--batch-size", "8", "--epochs", "6", "--dropout", "0.0"]
    weights = tmp_path / "ddp.safetensors"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
               str(SCRIPTS / "train_toy.py"), str(tmp_path / "ddp"), *common, "--weights", str(weights)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]

    single = train_toy.main([str(tmp_path / "single"), *common])
    ddp_state = load_file(str(weights))
    single_state = single.model.state_dict()
    assert ddp_state.keys() == single_state.keys()
    for key, value in single_state.items():
        torch.testing.assert_close(ddp_state[key], value, rtol=0, atol=TOLERANCE)
    assert any(not torch.equal(value, toy_model.make_model(seed=1, dtype=torch.float64).state_dict()[key])
               for key, value in single_state.items())                     # training moved the weights

    # rank 0 alone logged: one line per epoch, same losses and (sharded, all-reduced) eval metrics
    lines = [json.loads(x) for x in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3, 4, 5, 6]
    for ddp_record, record in zip(lines, single.history):
        assert ddp_record["train_loss"] == pytest.approx(record["train_loss"], rel=1e-10)
        assert ddp_record["eval"]["test"] == pytest.approx(record["eval"]["test"], rel=1e-10)
    checkpoint = load_checkpoint(tmp_path / "ddp")                           # rank 0's checkpoint, unwrapped
    assert checkpoint.epoch == 6
    for key, value in checkpoint.model.state_dict().items():
        assert torch.equal(value, ddp_state[key])
