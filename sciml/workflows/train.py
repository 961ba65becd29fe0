r"""One model from a config file: the functions behind ``sciml train`` and ``sciml evaluate``.

A run config (YAML or JSON) names the data, the model and the trainer::

    problem:                  # sciml.datasets.load(...) arguments
      name: darcy             # a registered problem (sciml data list)
      resolution: 32
      n_train: 1000
      n_test: 100
      params: {}              # other fields of the problem's config, e.g. {viscosity: 1e-3}
      seed: 0
      pairs: final            # final | trajectory | steps (trajectory problems); default per problem
      window: 1
    model:
      name: fno               # a registered model (sciml.registered_models())
      config: {width: 32, modes: [12, 12], n_layers: 4}   # in/out_channels default to the data's
    trainer: {epochs: 20, batch_size: 20, lr: 1e-3, scheduler: step, step_size: 5, gamma: 0.5}
    normalize: true           # per-channel Gaussian normalizers of inputs and targets
    evaluate: [64, 128]       # further test resolutions, solved at that resolution (optional)

:func:`train_from_config` writes ``OUT/run.json`` (the config with every default filled in),
``OUT/metrics.jsonl``, ``OUT/checkpoints/`` and ``OUT/evaluation.json``;
:func:`evaluate_checkpoint` finds ``run.json`` next to a checkpoint to know its problem.

Errors are measured per sample and averaged over the test set: the relative
:math:`L^2` error :math:`\|\hat u - u\|_{L^2} / \|u\|_{L^2}` and the relative :math:`H^1`
error :math:`\|\hat u - u\|_{H^1} / \|u\|_{H^1}` (:func:`sciml.losses.relative_lp`,
:func:`sciml.losses.relative_h1`, quadrature of the grid), after the model's normalizers.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

import torch

import sciml
from sciml._atomic import atomic_write_text

__all__ = ["DataSpec", "RunConfig", "default_pairing", "evaluate_checkpoint", "evaluate_model", "find_run_config",
           "load_problem", "make_model", "make_normalizers", "predict", "read_run_config", "resolution_key",
           "run_config_to_dict", "train_from_config", "write_json"]

#: how trajectories become pairs, per problem (others: ``("final", 1)``): Navier–Stokes maps the
#: last 10 vorticity snapshots to the next one, the one-step map of the FNO paper's FNO-2D
PAIRINGS = {"navier-stokes": ("steps", 10)}
RUN_FILE = "run.json"
RUN_KEYS = ("problem", "model", "trainer", "normalize", "evaluate")


@dataclasses.dataclass
class DataSpec:
    """Which data a run trains and tests on: the arguments of :func:`sciml.datasets.load`.

    ``pairs`` and ``window`` default to the problem's pairing (:func:`default_pairing`).

    Examples
    --------
    >>> DataSpec("burgers", resolution=256).pairing()
    ('final', 1)
    """

    name: str
    resolution: int | None = None
    n_train: int = 1000
    n_test: int = 100
    params: dict = dataclasses.field(default_factory=dict)
    seed: int = 0
    pairs: str | None = None
    window: int | None = None

    def pairing(self) -> tuple[str, int]:
        pairs, window = default_pairing(self.name)
        if self.pairs is not None:
            pairs, window = self.pairs, 1
        return pairs, self.window if self.window is not None else window


@dataclasses.dataclass
class RunConfig:
    """A ``sciml train`` config: data, model (registered name + config dict), trainer, options."""

    problem: DataSpec
    model: dict
    trainer: sciml.TrainerConfig = dataclasses.field(default_factory=sciml.TrainerConfig)
    normalize: bool = True
    evaluate: list = dataclasses.field(default_factory=list)


def default_pairing(problem: str) -> tuple[str, int]:
    """``(pairs, window)`` used for ``problem`` unless a config says otherwise.

    Examples
    --------
    >>> default_pairing("navier-stokes"), default_pairing("darcy")
    (('steps', 10), ('final', 1))
    """
    return PAIRINGS.get(problem, ("final", 1))


def resolution_key(shape) -> str:
    """``"64x64"`` for a 2D grid of 64 x 64 points (a Grid, a Sampled, an OperatorDataset or a shape).

    Examples
    --------
    >>> resolution_key((64, 64)), resolution_key(Grid.uniform(256))
    ('64x64', '256')
    """
    if isinstance(shape, sciml.OperatorDataset):
        shape = shape.targets.on.shape
    elif isinstance(shape, sciml.Sampled):
        shape = shape.on.shape
    elif isinstance(shape, sciml.Discretization):
        shape = shape.shape
    return "x".join(str(int(n)) for n in shape)


# -- data and models ---------------------------------------------------------------------------------
def load_problem(spec: DataSpec, *, cache_dir=None, workers: int = 1, progress: bool = True):
    """Train/test splits of ``spec`` (:func:`sciml.datasets.load`); unknown names list the registered ones.

    Examples
    --------
    >>> data = load_problem(DataSpec("darcy", resolution=32, n_train=64, n_test=16))  # doctest: +SKIP
    """
    from sciml.datasets import load, registered_problems

    problems = sorted(registered_problems())
    if spec.name not in problems:
        raise ValueError(f"problem: expected one of {problems}, got {spec.name!r}")
    pairs, window = spec.pairing()
    return load(spec.name, spec.resolution, spec.n_train, spec.n_test, params=spec.params, seed=spec.seed,
                pairs=pairs, window=window, cache_dir=cache_dir, workers=workers, progress=progress)


def make_model(name: str, config: dict, in_channels: int, out_channels: int) -> torch.nn.Module:
    """Registered model ``name`` from a config dict; ``in_channels``/``out_channels`` fill in missing fields.

    Examples
    --------
    >>> model = make_model("fno", {"width": 8, "modes": [4, 4], "n_layers": 1}, 1, 1)
    >>> type(model).__name__, model.config.in_channels
    ('FNO', 1)
    """
    import sciml.operators

    models = sorted(sciml.registered_models())
    if name not in models:
        raise ValueError(f"model: expected a registered model among {models}, got {name!r}")
    if not isinstance(config, dict):
        raise TypeError(f"model.config: expected a mapping of {name} config fields, got {type(config).__name__}")
    config = {"in_channels": in_channels, "out_channels": out_channels, **config}
    try:
        return sciml.build_model(name, config)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"model.config ({name}): {exc}") from exc


def make_normalizers(train) -> tuple[sciml.Normalizer, sciml.Normalizer]:
    """Per-channel :class:`~sciml.GaussianNormalizer` s fitted to the training inputs and targets."""
    inputs = sciml.GaussianNormalizer(train.inputs.channels).fit(train.inputs)
    targets = sciml.GaussianNormalizer(train.targets.channels).fit(train.targets)
    return inputs, targets


# -- evaluation ----------------------------------------------------------------------------------
@torch.no_grad()
def predict(model, inputs: sciml.Sampled, *, input_normalizer=None, target_normalizer=None,
            batch_size: int = 32, device="cpu") -> sciml.Sampled:
    """The model's output for ``inputs`` in batches, normalizers applied, on the CPU.

    Parameters
    ----------
    model : sciml.Operator
    inputs : Sampled ``[n, in_channels, *spatial]``
    input_normalizer, target_normalizer : Normalizer, optional
        ``encode`` the inputs, ``decode`` the outputs (as the :class:`~sciml.Trainer` does).
    batch_size : int
    device : str or torch.device
    """
    model.eval()
    outputs = []
    for start in range(0, inputs.batch_size, batch_size):
        batch = inputs[start:start + batch_size].to(device)
        if input_normalizer is not None:
            batch = input_normalizer.to(device).encode(batch)
        out = model(batch)
        if target_normalizer is not None:
            out = target_normalizer.to(device).decode(out)
        outputs.append(out.values.cpu())
    return sciml.Sampled(torch.cat(outputs), inputs.on, validate=False)


def evaluate_model(model, datasets: dict, *, input_normalizer=None, target_normalizer=None, batch_size: int = 32,
                   device="cpu") -> dict[str, dict[str, float]]:
    """Relative L2 and H1 errors (means over the samples) on each named test set.

    Returns
    -------
    dict
        ``{name: {"rel_l2": float, "h1": float}}`` in the order of ``datasets``.

    Raises
    ------
    FloatingPointError
        An error is NaN or infinite (the message names the dataset).
    """
    results = {}
    for name, data in datasets.items():
        pred = predict(model, data.inputs, input_normalizer=input_normalizer, target_normalizer=target_normalizer,
                       batch_size=batch_size, device=device)
        target = data.targets
        rel_l2 = float(sciml.losses.relative_lp(pred.values, target, reduction="mean"))
        h1 = float(sciml.losses.relative_h1(pred.values, target, reduction="mean"))
        if not (math.isfinite(rel_l2) and math.isfinite(h1)):
            raise FloatingPointError(f"evaluate[{name!r}]: non-finite errors rel_l2={rel_l2}, h1={h1}")
        results[name] = {"rel_l2": rel_l2, "h1": h1}
    return results


# -- run configs ---------------------------------------------------------------------------------
def read_run_config(source) -> RunConfig:
    """A :class:`RunConfig` from a YAML/JSON file or a dict; errors name the offending field.

    Examples
    --------
    >>> config = read_run_config({"problem": {"name": "darcy", "resolution": 32},
    ...                           "model": {"name": "fno", "config": {"width": 16}},
    ...                           "trainer": {"epochs": 5, "lr": "1e-3"}})
    >>> config.problem.resolution, config.trainer.lr
    (32, 0.001)
    """
    data = sciml.load_config(source) if isinstance(source, (str, os.PathLike)) else source
    if not isinstance(data, dict):
        raise TypeError(f"config: expected a mapping with keys {list(RUN_KEYS)}, got {type(data).__name__}")
    unknown = sorted(set(data) - set(RUN_KEYS))
    if unknown:
        raise ValueError(f"config: unknown keys {unknown}; expected some of {list(RUN_KEYS)}")
    for key in ("problem", "model"):
        if not isinstance(data.get(key), dict):
            raise ValueError(f"{key}: expected a mapping (required), got {data.get(key)!r}")
    problem = _from_dict(DataSpec, data["problem"], "problem")
    model = dict(data["model"])
    if set(model) - {"name", "config"} or not isinstance(model.get("name"), str):
        raise ValueError(f"model: expected {{name: <registered model>, config: {{...}}}}, got {model!r}")
    model.setdefault("config", {})
    trainer = _from_dict(sciml.TrainerConfig, data.get("trainer") or {}, "trainer")
    normalize = data.get("normalize", True)
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize: expected true or false, got {normalize!r}")
    evaluate = data.get("evaluate") or []
    if not isinstance(evaluate, list) or not all(isinstance(r, int) and not isinstance(r, bool) and r > 0
                                                 for r in evaluate):
        raise ValueError(f"evaluate: expected a list of resolutions (positive integers), got {evaluate!r}")
    return RunConfig(problem, model, trainer, normalize, evaluate)


def _from_dict(cls, data, name: str):
    try:
        return sciml.config_from_dict(cls, data)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name}: {exc}") from exc


def run_config_to_dict(config: RunConfig) -> dict:
    """JSON-ready dict of a :class:`RunConfig` (what ``run.json`` holds)."""
    return sciml.config_to_dict(config)


def write_json(data, path) -> Path:
    """Write ``data`` as indented JSON atomically (NaN and infinity refused)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def train_from_config(config, out, *, cache_dir=None, workers: int = 1, device: str | None = None,
                      progress: bool = True) -> dict:
    """Train one model as ``config`` (a :class:`RunConfig`, dict or file) says; checkpoints under ``out``.

    Returns
    -------
    dict
        ``{"out", "checkpoint", "model", "params", "epochs", "train_seconds", "errors"}`` where
        ``errors`` maps the test resolutions (``"32x32"``, then those of ``evaluate``) to
        ``{"rel_l2", "h1"}``; also written to ``out/evaluation.json``.
    """
    config = config if isinstance(config, RunConfig) else read_run_config(config)
    trainer_config = config.trainer.replace(progress=progress and config.trainer.progress)
    if device is not None:
        trainer_config = trainer_config.replace(device=device)
    out = Path(out)
    make_model(config.model["name"], config.model["config"], 1, 1)          # bad names fail before data
    data = load_problem(config.problem, cache_dir=cache_dir, workers=workers, progress=progress)
    model = make_model(config.model["name"], config.model["config"], data.train.inputs.channels,
                        data.train.targets.channels)
    norms = make_normalizers(data.train) if config.normalize else (None, None)
    config = dataclasses.replace(config, model={"name": config.model["name"],
                                                "config": sciml.config_to_dict(model.config)}, trainer=trainer_config)
    write_json(run_config_to_dict(config), out / RUN_FILE)
    trainer = sciml.Trainer(model, config=trainer_config, input_normalizer=norms[0], target_normalizer=norms[1],
                            out_dir=out)
    history = trainer.fit(data.train, evaluate={resolution_key(data.test): data.test})
    tests = {resolution_key(data.test): data.test}
    tests.update({resolution_key(d): d for d in (data.evaluation(r) for r in config.evaluate)})
    errors = evaluate_model(model, tests, input_normalizer=norms[0], target_normalizer=norms[1],
                            batch_size=trainer_config.batch_size, device=trainer.device)
    summary = {"out": str(out), "checkpoint": str(sciml.training.resolve_checkpoint(out)),
               "model": config.model["name"], "params": _count(model), "epochs": len(history),
               "train_seconds": sum(r["seconds"] for r in history), "errors": errors}
    write_json(summary, out / "evaluation.json")
    return summary


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def find_run_config(checkpoint) -> Path | None:
    """``run.json`` of the run a checkpoint belongs to (the checkpoint folder or up to 3 parents)."""
    folder = sciml.training.resolve_checkpoint(checkpoint)
    for parent in [folder, *list(folder.parents)[:3]]:
        if (parent / RUN_FILE).is_file():
            return parent / RUN_FILE
    return None


def evaluate_checkpoint(checkpoint, resolution: int | None = None, *, problem: str | None = None,
                        n_test: int | None = None, params: dict | None = None, seed: int | None = None,
                        out=None, cache_dir=None, workers: int = 1, batch_size: int = 32, device: str = "cpu",
                        progress: bool = True) -> dict:
    """Errors of a saved model on its problem's test set solved at ``resolution``.

    The problem and test set come from the ``run.json`` written by :func:`train_from_config` or
    the bench next to the checkpoint; ``problem``, ``n_test``, ``params`` and ``seed`` override
    them (and are required when there is no ``run.json``). Registered models rebuild themselves.

    Returns
    -------
    dict
        ``{"checkpoint", "problem", "model", "resolution", "n_test", "rel_l2", "h1"}``; written
        to ``out`` (a JSON file) when given.

    Examples
    --------
    >>> evaluate_checkpoint("runs/darcy", resolution=128)["rel_l2"]  # doctest: +SKIP
    0.0213
    """
    ckpt = sciml.load_checkpoint(checkpoint)
    spec = _data_spec_for(checkpoint, problem, n_test, params, seed)
    data = load_problem(dataclasses.replace(spec, n_train=1), cache_dir=cache_dir, workers=workers,
                        progress=progress)
    test = data.test if resolution is None or resolution == spec.resolution else data.evaluation(int(resolution))
    errors = evaluate_model(ckpt.model.to(device), {"test": test}, input_normalizer=ckpt.input_normalizer,
                            target_normalizer=ckpt.target_normalizer, batch_size=batch_size, device=device)["test"]
    report = {"checkpoint": str(ckpt.path), "problem": spec.name, "model": (ckpt.info.get("model") or {}).get("name"),
              "resolution": resolution_key(test), "n_test": len(test), **errors}
    if out is not None:
        write_json(report, out)
    return report


def _data_spec_for(checkpoint, problem, n_test, params, seed) -> DataSpec:
    run = find_run_config(checkpoint)
    if run is not None:
        spec = read_run_config(json.loads(run.read_text())).problem
    elif problem is None:
        raise ValueError(f"problem: the checkpoint at {str(checkpoint)!r} has no {RUN_FILE} beside it; "
                         "name the problem (--problem)")
    else:
        spec = DataSpec(problem)
    if problem is not None and problem != spec.name:
        spec = DataSpec(problem)
    for name, value in (("n_test", n_test), ("params", params), ("seed", seed)):
        if value is not None:
            setattr(spec, name, value)
    return spec
