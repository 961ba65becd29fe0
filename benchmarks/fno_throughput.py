"""Training throughput of sciml's FNO next to neuraloperator's on the same data, sizes and batch.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/fno_throughput.py                      # Darcy 32², width 32, modes 12
    python benchmarks/fno_throughput.py --resolution 64 --threads 2 --epochs 5 --json fno_throughput.json

Both models train on the same Darcy pairs (``sciml.datasets.load``), with the same width, depth,
retained Fourier block, batch size, Adam settings and relative-L2 loss; the epochs of the two
models are interleaved (ours, theirs, ours, ...) so a change of machine load hits both, and the
table gives the median seconds per epoch and the ratio. Parameters are counted in real numbers
(a complex weight counts twice). The retained blocks are identical:
our ``modes = m`` keeps frequencies ``-m..m-1`` on leading axes and ``0..m-1`` on the last one,
which is neuraloperator's ``n_modes = (2m, 2m - 2)`` (see ``benchmarks/spectral.py``).

neuraloperator (2.0) is optional and never a dependency: with ``--peer-path DIR`` the script adds
``DIR`` to ``sys.path`` (a folder holding ``neuralop`` and its dependencies, e.g. made with
``pip install --target DIR --no-deps neuraloperator tensorly-torch opt-einsum ...``); without an
importable ``neuralop`` only our rows are printed.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from sciml.datasets import load
from sciml.losses import relative_lp
from sciml.operators import FNO, FNOConfig


def peer_fno(modes: int, width: int, n_layers: int):
    """neuraloperator's FNO with the same retained block and sizes, or ``None`` if not importable."""
    try:
        from neuralop.models import FNO as PeerFNO
    except ImportError:
        return None
    return PeerFNO(n_modes=(2 * modes, 2 * modes - 2), in_channels=1, out_channels=1, hidden_channels=width,
                   n_layers=n_layers, lifting_channel_ratio=2, projection_channel_ratio=2)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def train_epoch(model, inputs, targets, optimizer, batch_size: int, generator, clock: str = "wall") -> float:
    """One epoch over shuffled batches; returns the seconds on ``clock`` (wall, or this process's CPU time)."""
    order = torch.randperm(inputs.shape[0], generator=generator)
    now = CLOCKS[clock]
    start = now()
    for i in range(0, len(order), batch_size):
        index = order[i:i + batch_size]
        optimizer.zero_grad(set_to_none=True)
        loss = relative_lp(model(inputs[index]), targets[index])
        loss.backward()
        optimizer.step()
    return now() - start


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--n-train", type=int, default=800)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--modes", type=int, default=12)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per model (after one warm-up epoch)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall seconds, or process CPU seconds (steadier on a shared machine with one thread)")
    parser.add_argument("--peer-path", type=Path, help="folder with an importable neuralop (added to sys.path)")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args(argv)
    if args.peer_path is not None:
        sys.path.insert(0, str(args.peer_path))
    torch.set_num_threads(args.threads)

    data = load("darcy", args.resolution, args.n_train, 1, progress=False).train
    inputs, targets = data.inputs.values.float(), data.targets.values.float()
    torch.manual_seed(0)
    models = {"sciml": FNO(FNOConfig(in_channels=1, out_channels=1, width=args.width, modes=(args.modes,) * 2,
                                     n_layers=args.layers))}
    peer = peer_fno(args.modes, args.width, args.layers)
    if peer is None:
        print("# neuraloperator is not importable here (see --peer-path); only sciml is timed")
    else:
        models["neuraloperator"] = peer
    optimizers = {name: torch.optim.Adam(m.parameters(), lr=1e-3) for name, m in models.items()}
    times = {name: [] for name in models}
    generator = torch.Generator().manual_seed(0)
    for epoch in range(args.epochs + 1):  # epoch 0 warms up (allocator, DFT caches, autotuning)
        for name, model in models.items():
            seconds = train_epoch(model, inputs, targets, optimizers[name], args.batch_size, generator, args.clock)
            if epoch:
                times[name].append(seconds)
    rows = [{"model": name, "params": sum(p.numel() * (2 if p.is_complex() else 1) for p in m.parameters()),
             "median_s_per_epoch": statistics.median(times[name]), "epochs": times[name]}
            for name, m in models.items()]
    base = rows[0]["median_s_per_epoch"]
    print(f"\nDarcy {args.resolution}², {args.n_train} samples, batch {args.batch_size}, width {args.width}, "
          f"modes {args.modes}, {args.layers} layers, {args.threads} thread(s), {args.clock} clock, "
          f"{platform.processor() or platform.machine()}\n")
    print("| model | params | median s/epoch | epochs timed | time / sciml |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['params']:,} | {r['median_s_per_epoch']:.2f} | {len(r['epochs'])} | "
              f"{r['median_s_per_epoch'] / base:.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=2))
    return rows


if __name__ == "__main__":
    main()
