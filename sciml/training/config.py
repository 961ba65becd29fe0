"""The trainer's configuration: a small dataclass serialized next to the weights."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .._checks import check_positive_int
from .._validators import check_nonnegative_float, check_positive_float

__all__ = ["TrainerConfig", "resume_mismatches"]

OPTIMIZERS = ("adam", "adamw")
SCHEDULERS = (None, "onecycle", "cosine", "step")


@dataclass
class TrainerConfig:
    """How a :class:`~sciml.training.Trainer` optimizes a model.

    Parameters
    ----------
    epochs : int
        Passes over the training data.
    batch_size : int
        Global batch size; under DDP each of the ``world_size`` ranks takes
        ``batch_size // world_size`` samples (``batch_size`` must divide evenly).
    optimizer : {"adam", "adamw"}
        ``torch.optim.Adam`` or ``torch.optim.AdamW``.
    lr, weight_decay : float
        Learning rate (the peak rate for ``"onecycle"``) and weight decay.
    scheduler : {None, "onecycle", "cosine", "step"}
        ``"onecycle"`` steps every batch over the whole run; ``"cosine"``
        (``CosineAnnealingLR(T_max=epochs)``) and ``"step"``
        (``StepLR(step_size, gamma)``) step once per epoch.
    step_size, gamma : int, float
        Period (in epochs) and factor of the ``"step"`` scheduler.
    grad_clip : float or None
        Clip the global gradient norm to this value.
    amp : bool
        Mixed precision: float16 autocast with a ``GradScaler`` on CUDA,
        bfloat16 autocast on the CPU. Losses are computed in the target's dtype.
    seed : int
        Seeds Python, NumPy and torch at the start of :meth:`Trainer.fit` and
        the per-epoch shuffling (a ``torch.Generator`` seeded with ``seed + epoch``).
    shuffle : bool
        Shuffle the training data every epoch.
    eval_every : int
        Evaluate every this many epochs (and after the last one).
    early_stopping_patience : int or None
        Stop after this many evaluations without improvement of ``monitor``.
    monitor : str or None
        Metric that decides the best checkpoint and early stopping, lower is
        better: ``"train_loss"`` or ``"<dataset name>/<metric>"`` such as
        ``"64x64/rel_l2"``. ``None`` means the loss on the first evaluation
        dataset, or ``"train_loss"`` without evaluation data.
    checkpoint_every : int or None
        Checkpoint every this many epochs (needs ``out_dir``); the final epoch
        is always checkpointed when there is an ``out_dir``, and so is every
        epoch that improves ``monitor`` (the ``best`` checkpoint) when the run
        has evaluation data or an explicit ``monitor``.
    progress : bool
        Show tqdm progress bars (rank 0 only).
    device : str
        ``"auto"`` (CUDA when available, the local rank's GPU under DDP),
        or any ``torch.device`` string.
    num_workers : int
        ``DataLoader`` worker processes.

    Examples
    --------
    >>> config = TrainerConfig(epochs=50, lr=3e-3, scheduler="cosine")
    >>> sciml.config_to_dict(config)["scheduler"]
    'cosine'
    """

    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    scheduler: str | None = None
    step_size: int = 10
    gamma: float = 0.5
    grad_clip: float | None = None
    amp: bool = False
    seed: int = 0
    shuffle: bool = True
    eval_every: int = 1
    early_stopping_patience: int | None = None
    monitor: str | None = None
    checkpoint_every: int | None = None
    progress: bool = True
    device: str = "auto"
    num_workers: int = 0

    def __post_init__(self):
        for name in ("epochs", "batch_size", "step_size", "eval_every"):
            check_positive_int(getattr(self, name), name, minimum=1)
        for name in ("early_stopping_patience", "checkpoint_every"):
            if getattr(self, name) is not None:
                check_positive_int(getattr(self, name), name, minimum=1)
        check_positive_int(self.num_workers, "num_workers", minimum=0)
        check_positive_int(self.seed, "seed", minimum=0)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer: expected one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler: expected one of {SCHEDULERS}, got {self.scheduler!r}")
        check_positive_float(self.lr, "lr")
        check_positive_float(self.gamma, "gamma")
        check_nonnegative_float(self.weight_decay, "weight_decay")
        if self.grad_clip is not None:
            check_positive_float(self.grad_clip, "grad_clip")
        if self.monitor is not None and not isinstance(self.monitor, str):
            raise TypeError(f"monitor: expected None or a metric name, got {type(self.monitor).__name__}")

    def replace(self, **overrides) -> TrainerConfig:
        """A copy with some fields changed; unknown names raise ``TypeError`` listing the valid ones."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise TypeError(f"overrides: unknown TrainerConfig fields {unknown}; expected some of {sorted(names)}")
        return dataclasses.replace(self, **overrides)


# Fields whose change alters the trajectory of a run: a resumed run must keep them.
_RESULT_FIELDS = ("batch_size", "optimizer", "lr", "weight_decay", "scheduler", "grad_clip", "amp", "seed",
                  "shuffle")


def resume_mismatches(saved: TrainerConfig, current: TrainerConfig) -> dict[str, tuple]:
    """Fields that differ between a checkpoint's config and a run resuming it, and change results.

    Always compared: ``batch_size, optimizer, lr, weight_decay, scheduler,
    grad_clip, amp, seed, shuffle``; ``step_size`` and ``gamma`` when the
    scheduler is ``"step"``; ``epochs`` when the schedule spans the whole run
    (``"onecycle"``, ``"cosine"``). Other fields (``epochs`` otherwise,
    ``progress``, ``device``, ``eval_every``, ``checkpoint_every``,
    ``num_workers``, ...) may change between the interrupted and the resumed run.

    Returns
    -------
    dict
        ``{field: (saved value, current value)}``, empty when the run may resume.

    Examples
    --------
    >>> resume_mismatches(TrainerConfig(lr=1e-3), TrainerConfig(lr=1e-2, epochs=99, progress=False))
    {'lr': (0.001, 0.01)}
    """
    names = list(_RESULT_FIELDS)
    if current.scheduler == "step":
        names += ["step_size", "gamma"]
    if current.scheduler in ("onecycle", "cosine"):
        names.append("epochs")
    return {name: (getattr(saved, name), getattr(current, name)) for name in names
            if getattr(saved, name) != getattr(current, name)}
