"""The monitored metric: best value, best checkpoint and early stopping."""

from __future__ import annotations

import math

from .config import TrainerConfig

__all__ = ["Monitor", "metric_value"]

EVAL_METRICS = ("loss", "rel_l2")


def metric_value(record: dict, name: str) -> float | None:
    """Look up ``"train_loss"`` or ``"<dataset>/<metric>"`` in an epoch record (``None`` if absent).

    Examples
    --------
    >>> metric_value({"epoch": 3, "train_loss": 0.5, "eval": {"test": {"loss": 0.25}}}, "test/loss")
    0.25
    """
    if "/" not in name:
        return record.get(name)
    dataset, metric = name.rsplit("/", 1)
    return record.get("eval", {}).get(dataset, {}).get(metric)


class Monitor:
    """Tracks the lowest value of one metric; counts evaluations without improvement.

    Parameters
    ----------
    metric : str
        ``"train_loss"`` or ``"<dataset>/<metric>"``.
    patience : int or None
        Stop after this many records (holding the metric) without a new minimum.
    keeps_best : bool
        Whether improvements should be checkpointed as ``best``.

    Examples
    --------
    >>> m = Monitor("test/loss", patience=1)
    >>> m.update({"eval": {"test": {"loss": 1.0}}}), m.update({"eval": {"test": {"loss": 2.0}}})
    ((True, False), (False, True))
    """

    def __init__(self, metric: str, patience: int | None = None, keeps_best: bool = True):
        self.metric = metric
        self.patience = patience
        self.keeps_best = keeps_best
        self.best = math.inf
        self.best_epoch: int | None = None
        self.bad = 0

    @classmethod
    def for_run(cls, config: TrainerConfig, eval_names: list[str]) -> Monitor:
        """The monitor a run uses; checks that ``config.monitor`` names a metric the run produces."""
        metric = config.monitor or (f"{eval_names[0]}/loss" if eval_names else "train_loss")
        if metric != "train_loss":
            dataset, _, name = metric.rpartition("/")
            if dataset not in eval_names or name not in EVAL_METRICS:
                choices = ["train_loss"] + [f"{d}/{m}" for d in eval_names for m in EVAL_METRICS]
                raise ValueError(f"monitor: expected one of {choices}, got {metric!r}")
        keeps_best = config.monitor is not None or bool(eval_names)
        return cls(metric, config.early_stopping_patience, keeps_best)

    def update(self, record: dict) -> tuple[bool, bool]:
        """``(improved, stop)`` after an epoch's record; records without the metric change nothing."""
        value = metric_value(record, self.metric)
        if value is None:
            return False, False
        if value < self.best:
            self.best, self.best_epoch, self.bad = float(value), record.get("epoch"), 0
            return True, False
        self.bad += 1
        return False, self.patience is not None and self.bad >= self.patience

    def postfix(self) -> dict:
        """Progress-bar fields."""
        return {"best": f"{self.best:.3e}"} if math.isfinite(self.best) else {}

    def state_dict(self) -> dict:
        return {"metric": self.metric, "best": self.best, "best_epoch": self.best_epoch, "bad": self.bad}

    def load_state_dict(self, state: dict) -> None:
        if state and state.get("metric") != self.metric:
            raise ValueError(f"monitor: the checkpoint monitored {state.get('metric')!r}, this run "
                             f"monitors {self.metric!r}")
        self.best = float(state.get("best", math.inf))
        self.best_epoch = state.get("best_epoch")
        self.bad = int(state.get("bad", 0))
