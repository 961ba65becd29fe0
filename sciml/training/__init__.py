"""Training loop and checkpoints (being written)."""


class Trainer:
    pass


class TrainerConfig:
    pass


def save_checkpoint(*args, **kwargs):
    raise NotImplementedError


def load_checkpoint(*args, **kwargs):
    raise NotImplementedError
