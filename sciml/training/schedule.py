r"""Optimizers and learning-rate schedules named in a :class:`TrainerConfig`.

=============  ==============================================================  ===========
scheduler      learning rate                                                   steps every
=============  ==============================================================  ===========
``None``       constant ``lr``                                                 --
``"onecycle"`` ``OneCycleLR(max_lr=lr, total_steps=epochs * batches)``        batch
``"cosine"``   :math:`lr\,(1 + \cos(\pi e / E)) / 2` in epoch :math:`e < E`      epoch
``"step"``     :math:`lr\,\gamma^{\lfloor e / \mathrm{step\_size} \rfloor}`     epoch
=============  ==============================================================  ===========
"""

from __future__ import annotations

import torch
from torch import nn

from .config import TrainerConfig

__all__ = ["make_optimizer", "make_scheduler", "steps_per_batch"]


def make_optimizer(parameters, config: TrainerConfig) -> torch.optim.Optimizer:
    """``Adam`` or ``AdamW`` over ``parameters`` with the config's ``lr`` and ``weight_decay``.

    Examples
    --------
    >>> opt = make_optimizer(torch.nn.Linear(2, 2).parameters(), TrainerConfig(optimizer="adamw", lr=1e-2))  # doctest: +SKIP
    >>> type(opt).__name__, opt.param_groups[0]["lr"]  # doctest: +SKIP
    ('AdamW', 0.01)
    """
    if isinstance(parameters, nn.Module):
        parameters = parameters.parameters()
    params = [p for p in parameters if p.requires_grad]
    if not params:
        raise ValueError("model: expected at least one parameter with requires_grad=True, got none")
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[config.optimizer]
    return cls(params, lr=config.lr, weight_decay=config.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainerConfig, batches_per_epoch: int):
    """The scheduler named by ``config.scheduler`` (``None`` for a constant rate).

    Examples
    --------
    >>> opt = make_optimizer(torch.nn.Linear(2, 2).parameters(), TrainerConfig(lr=1.0))  # doctest: +SKIP
    >>> sched = make_scheduler(opt, TrainerConfig(lr=1.0, scheduler="step", step_size=2, gamma=0.1), 5)  # doctest: +SKIP
    >>> for _ in range(2): sched.step()  # doctest: +SKIP
    >>> opt.param_groups[0]["lr"]  # doctest: +SKIP
    0.1
    """
    name = config.scheduler
    if name is None:
        return None
    if name == "onecycle":
        total = config.epochs * batches_per_epoch
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)


def steps_per_batch(config: TrainerConfig) -> bool:
    """Whether the configured scheduler steps after every batch (else after every epoch)."""
    return config.scheduler == "onecycle"
