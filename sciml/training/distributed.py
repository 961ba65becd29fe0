"""Thin helpers over ``torch.distributed`` for runs launched with ``torchrun``.

A run is distributed when the launcher sets ``WORLD_SIZE > 1`` (``torchrun``
also sets ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``). Every
helper works unchanged in a plain single process: ``rank() == 0``,
``world_size() == 1`` and ``barrier()`` does nothing.

Examples
--------
Launch ``torchrun --nproc_per_node=2 train.py`` with, in ``train.py``::

    from sciml.training import distributed

    distributed.init()                # gloo on CPU, NCCL on CUDA
    if distributed.is_main_process():
        print("world size", distributed.world_size())
    distributed.cleanup()
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

__all__ = [
    "all_reduce_sum",
    "barrier",
    "cleanup",
    "default_backend",
    "device_for_rank",
    "init",
    "is_distributed",
    "is_main_process",
    "local_rank",
    "rank",
    "world_size",
]


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError as exc:
        raise ValueError(f"{name}: expected an integer in the environment, got {text!r}") from exc


def is_distributed() -> bool:
    """Whether a process group is running, or the launcher asked for one (``WORLD_SIZE > 1``)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size() > 1
    return _env_int("WORLD_SIZE", 1) > 1


def world_size() -> int:
    """Number of processes in the run (1 outside ``torchrun``)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return _env_int("WORLD_SIZE", 1)


def rank() -> int:
    """This process's global rank (0 outside ``torchrun``)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return _env_int("RANK", 0)


def local_rank() -> int:
    """This process's rank on its node (selects its GPU)."""
    return _env_int("LOCAL_RANK", 0)


def is_main_process() -> bool:
    """``rank() == 0``: the process that logs and writes checkpoints."""
    return rank() == 0


def default_backend() -> str:
    """``"nccl"`` when CUDA is usable, ``"gloo"`` otherwise."""
    return "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"


def device_for_rank(requested: str = "auto") -> torch.device:
    """The device this rank trains on.

    ``"auto"`` gives ``cuda:LOCAL_RANK`` when CUDA is available and the CPU
    otherwise; a bare ``"cuda"`` under DDP also picks the local rank's GPU.
    """
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(requested)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank() if is_distributed() else torch.cuda.current_device())
    return device


def init(backend: str | None = None) -> bool:
    """Join the process group described by the environment when ``WORLD_SIZE > 1``.

    Returns ``True`` if this call created the group, ``False`` when there is
    nothing to do (single process, or a group already initialized).
    """
    if not is_distributed() or dist.is_initialized():
        return False
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed support")
    backend = backend or default_backend()
    if backend == "nccl":
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend=backend)
    return True


def cleanup() -> None:
    """Leave the process group if one is running."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over ranks in place (no-op in a single process) and return it."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor
