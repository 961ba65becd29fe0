"""Training: the :class:`Trainer`, its :class:`TrainerConfig`, checkpoints and DDP helpers.

Examples
--------
>>> trainer = sciml.Trainer(model, epochs=50, out_dir="runs/darcy")  # doctest: +SKIP
>>> trainer.fit(data.train, evaluate={"test": data.test})  # doctest: +SKIP
>>> model = sciml.load_checkpoint("runs/darcy").model      # registered models rebuild themselves  # doctest: +SKIP
"""

from . import distributed
from .checkpoint import Checkpoint, load_checkpoint, read_trainer_config, resolve_checkpoint, save_checkpoint
from .config import TrainerConfig, resume_mismatches
from .monitor import Monitor
from .rng import restore_rng_state, rng_state, seed_everything
from .schedule import make_optimizer, make_scheduler
from .store import CheckpointStore
from .trainer import Trainer

__all__ = [
    "Checkpoint",
    "CheckpointStore",
    "Monitor",
    "Trainer",
    "TrainerConfig",
    "distributed",
    "load_checkpoint",
    "make_optimizer",
    "make_scheduler",
    "read_trainer_config",
    "resolve_checkpoint",
    "restore_rng_state",
    "resume_mismatches",
    "rng_state",
    "save_checkpoint",
    "seed_everything",
]
