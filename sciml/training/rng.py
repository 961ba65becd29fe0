"""Seeding and capturing the random number generators a training run consumes.

The captured state holds only tensors, numbers, strings and tuples, so it
round-trips through ``torch.save`` / ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["restore_rng_state", "rng_state", "seed_everything"]


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (all devices).

    Examples
    --------
    >>> seed_everything(0); a = torch.rand(2)
    >>> seed_everything(0); bool((torch.rand(2) == a).all())
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))


def rng_state() -> dict:
    """States of Python, NumPy, torch CPU and (when initialized) CUDA generators.

    Examples
    --------
    >>> state = rng_state(); a = torch.rand(3)
    >>> restore_rng_state(state); bool((torch.rand(3) == a).all())
    True
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Put back generator states captured by :func:`rng_state`.

    CUDA states are restored when this machine has as many GPUs as the run
    that saved them, and skipped otherwise (a CPU resume of a GPU run).
    """
    if not isinstance(state, dict) or not {"python", "numpy", "torch"} <= set(state):
        raise ValueError(f"state: expected a dict with 'python', 'numpy' and 'torch' entries, got {state!r:.80}")
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = state["numpy"]
    keys = np_state["keys"].numpy().astype(np.uint32)
    np.random.set_state((np_state["kind"], keys, np_state["pos"], np_state["has_gauss"], np_state["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available() and torch.cuda.device_count() == len(cuda):
        torch.cuda.set_rng_state_all(cuda)
