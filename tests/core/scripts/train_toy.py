"""Train the toy operator; launched by the tests as a subprocess or under torchrun.

Usage::

    python train_toy.py OUT_DIR [--epochs 6] [--batch-size 8] [--samples 32] [--dtype float64]
        [--dropout 0.1] [--scheduler onecycle] [--checkpoint-every 1] [--resume]
        [--sleep 0.05] [--slow-write 0.3] [--weights FILE] [--device cpu]

``--sleep`` pauses after every batch (through the loss) and ``--slow-write``
pauses inside every checkpoint write, after the tensors and before
``config.json`` (the last file) is written, so that a test can kill the run
mid-way or mid-write; neither changes any number. ``--weights`` writes the
final weights (rank 0) to a safetensors file. :func:`main` returns the trainer,
so tests can run the same configuration in-process.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))

import toy_model

import sciml
from sciml.training import distributed


class SlowLoss(torch.nn.Module):
    """Relative L2 that sleeps after each call (numbers unchanged)."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds
        self.inner = sciml.losses.RelativeL2()

    def forward(self, pred, target):
        value = self.inner(pred, target)
        time.sleep(self.seconds)
        return value


def slow_config_writes(seconds: float) -> None:
    """Sleep before each checkpoint's config.json is written (a wide window to kill the writer in)."""
    from sciml.training import checkpoint

    write = checkpoint.atomic_write_bytes

    def slow(path, data):
        time.sleep(seconds)
        write(path, data)

    checkpoint.atomic_write_bytes = slow


def main(argv=None) -> sciml.Trainer:
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--scheduler", default=None)
    parser.add_argument("--checkpoint-every", type=int, default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--slow-write", type=float, default=0.0)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.slow_write:
        slow_config_writes(args.slow_write)

    dtype = getattr(torch, args.dtype)
    model = toy_model.make_model(seed=1, dtype=dtype, dropout=args.dropout)
    data = toy_model.make_data(n=args.samples, dtype=dtype)
    test = toy_model.make_data(n=10, seed=1, dtype=dtype)
    loss = SlowLoss(args.sleep) if args.sleep else sciml.losses.RelativeL2()
    trainer = sciml.Trainer(model, loss=loss, epochs=args.epochs, batch_size=args.batch_size, lr=1e-2,
                            scheduler=args.scheduler, checkpoint_every=args.checkpoint_every,
                            progress=False, seed=3, device=args.device, out_dir=args.out_dir)
    trainer.fit(data, evaluate={"test": test}, resume=True if args.resume else None)
    if args.weights and distributed.is_main_process():
        save_file({k: v.contiguous() for k, v in trainer.model.state_dict().items()}, args.weights)
    distributed.cleanup()
    return trainer


if __name__ == "__main__":
    main()
