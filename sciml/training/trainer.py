"""The training loop: epochs of minibatch optimization, evaluation, logging and checkpoints."""

from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from ..data import OperatorDataset
from ..operator import Operator
from ..sampled import Sampled
from . import distributed
from .checkpoint import load_checkpoint, read_trainer_config, resolve_checkpoint, save_checkpoint
from .config import TrainerConfig, resume_mismatches
from .monitor import Monitor
from .rng import seed_everything
from .schedule import make_optimizer, make_scheduler, steps_per_batch
from .store import CheckpointStore, atomic_write_bytes

__all__ = ["Trainer"]

METRICS_FILE = "metrics.jsonl"


class Trainer:
    """Fit an operator (or any ``nn.Module`` on ``[batch, channels, *spatial]`` tensors) to paired data.

    Parameters
    ----------
    model : nn.Module
        A :class:`sciml.Operator` receives :class:`Sampled` batches; any other
        module receives the tensor values and its output is read as samples on
        the targets' discretization.
    loss : callable, optional
        ``loss(prediction, target) -> scalar`` on :class:`Sampled`; a per-sample
        mean (so that DDP's gradient average is the global-batch gradient).
        Default: :class:`sciml.losses.RelativeL2`.
    config : TrainerConfig, optional
        Defaults to ``TrainerConfig()``; keyword ``overrides`` replace fields.
    input_normalizer, target_normalizer : Normalizer, optional
        Fitted normalizers: inputs are encoded before the model, the model's
        output is decoded before the loss against the raw targets (training
        and evaluation alike). They are saved in checkpoints.
    out_dir : path, optional
        Where ``metrics.jsonl`` and ``checkpoints/`` go (rank 0 only).

    Notes
    -----
    Under ``torchrun`` (``WORLD_SIZE > 1``) the process group is initialized
    from the environment (gloo on CPU, NCCL on CUDA), the model is wrapped in
    ``DistributedDataParallel``, each rank draws ``batch_size // world_size``
    samples through a ``DistributedSampler``, and only rank 0 logs and writes
    checkpoints. Single-process training shuffles with the same sampler, so the
    samples of global step ``k`` are the same set for any world size; the
    updates agree up to floating-point summation order when the loss is a
    per-sample mean and ``len(train)`` is a multiple of ``batch_size``.
    Under DDP every rank must call :meth:`fit` and :meth:`evaluate` (they
    reduce over ranks); the script ends with ``sciml.training.distributed.cleanup()``.

    Calling :meth:`fit` again without ``resume`` re-seeds and starts a new
    history and schedule from the current weights and optimizer state.

    Examples
    --------
    >>> trainer = sciml.Trainer(model, loss=sciml.losses.RelativeL2(), epochs=50, out_dir="runs/darcy")  # doctest: +SKIP
    >>> history = trainer.fit(data.train, evaluate={"64x64": data.test, "128x128": data.test.at_resolution(128)})  # doctest: +SKIP
    >>> error = history[-1]["eval"]["128x128"]["rel_l2"]   # a float; its value depends on model and data  # doctest: +SKIP
    """

    def __init__(self, model: nn.Module, loss=None, config: TrainerConfig | None = None, *,
                 input_normalizer=None, target_normalizer=None, out_dir=None, **overrides):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        if config is None:
            config = TrainerConfig()
        if not isinstance(config, TrainerConfig):
            raise TypeError(f"config: expected a TrainerConfig, got {type(config).__name__}")
        self.config = config.replace(**overrides) if overrides else config
        self.device = distributed.device_for_rank(self.config.device)
        distributed.init("nccl" if self.device.type == "cuda" else "gloo")
        self.model = model.to(self.device)
        self.loss = _to_device(loss if loss is not None else _default_loss(), self.device)
        self.input_normalizer = _to_device(input_normalizer, self.device)
        self.target_normalizer = _to_device(target_normalizer, self.device)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.optimizer = make_optimizer(self.model, self.config)
        self.scheduler = None
        use_scaler = self.config.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
        self.history: list[dict] = []
        self._network = None
        self._rel_l2 = None

    # -- public API ------------------------------------------------------------------------------
    def fit(self, train: OperatorDataset, evaluate: dict[str, OperatorDataset] | None = None,
            resume=None) -> list[dict]:
        """Train for ``config.epochs`` epochs; returns the history (one record per epoch).

        Parameters
        ----------
        train : OperatorDataset
        evaluate : dict of str to OperatorDataset, optional
            Named evaluation sets, scored every ``eval_every`` epochs and after the last.
        resume : path or bool, optional
            Continue from a checkpoint: a path (see
            :func:`~sciml.training.resolve_checkpoint`), or ``True`` for the
            latest checkpoint in ``out_dir`` (a fresh start when there is none).
            Model, optimizer, scheduler, GradScaler, random generators, epoch,
            early-stopping state and history are restored, so the run ends
            exactly as an uninterrupted one (bitwise on the CPU). The settings
            that change results must equal the checkpoint's (see
            :func:`~sciml.training.config.resume_mismatches`); ``epochs`` may
            grow unless the schedule spans the run, and settings such as
            ``progress``, ``device`` or ``checkpoint_every`` may change.

        Returns
        -------
        list of dict
            ``{"epoch", "train_loss", "lr", "seconds", "samples_per_second"}``
            plus ``"eval": {name: {"loss", "rel_l2"}}`` on evaluation epochs;
            the same records go to ``out_dir/metrics.jsonl``.

        Raises
        ------
        FloatingPointError
            A training loss or an evaluation metric is NaN or infinite (the
            message names the epoch, and the batch or the dataset).
        ValueError
            ``resume`` names a checkpoint trained with settings that change
            results (the message lists them), or no usable checkpoint.
        """
        _check_dataset(train, "train")
        evaluate = _check_eval(evaluate)
        config = self.config
        loader = self._train_loader(train)
        self.scheduler = make_scheduler(self.optimizer, config, len(loader))
        monitor = Monitor.for_run(config, list(evaluate))
        start = self._start(resume, monitor)
        network = self._wrapped()
        bar = tqdm(range(start + 1, config.epochs + 1), desc="training", unit="epoch", initial=start,
                   total=config.epochs, disable=not self._shows_progress())
        for epoch in bar:
            record = self._train_epoch(network, loader, epoch)
            if evaluate and (epoch % config.eval_every == 0 or epoch == config.epochs):
                record["eval"] = self._evaluate(evaluate, epoch)
            improved, stop = monitor.update(record)
            improved = improved and monitor.keeps_best
            self.history.append(record)
            self._log(record)
            bar.set_postfix(train_loss=f"{record['train_loss']:.3e}", **monitor.postfix())
            last = stop or epoch == config.epochs
            self._checkpoint(epoch, record, monitor, last, improved)
            if stop:
                break
        bar.close()
        distributed.barrier()
        return self.history

    @torch.no_grad()
    def evaluate(self, datasets: dict[str, OperatorDataset]) -> dict[str, dict[str, float]]:
        """Mean loss and relative L2 error on each named dataset.

        Under DDP the datasets are split over the ranks and the sums reduced,
        so every rank returns the same numbers.

        Raises
        ------
        FloatingPointError
            A metric is NaN or infinite (the message names the dataset).

        Examples
        --------
        The numbers are illustrative:

        >>> trainer.evaluate({"test": data.test})    # doctest: +SKIP
        {'test': {'loss': 0.0213, 'rel_l2': 0.0213}}
        """
        return self._evaluate(_check_eval(datasets))

    def _evaluate(self, datasets: dict[str, OperatorDataset], epoch: int | None = None) -> dict:
        was_training = self.model.training
        self.model.eval()
        try:
            return {name: self._evaluate_one(name, data, epoch) for name, data in datasets.items()}
        finally:
            self.model.train(was_training)

    @torch.no_grad()
    def predict(self, inputs: Sampled) -> Sampled:
        """The trained model's prediction (normalizers applied) for a batch of inputs.

        Examples
        --------
        >>> u = trainer.predict(data.test.inputs[:4])  # doctest: +SKIP
        """
        if not isinstance(inputs, Sampled):
            raise TypeError(f"inputs: expected Sampled, got {type(inputs).__name__}")
        was_training = self.model.training
        self.model.eval()
        try:
            return self._predict(self.model, inputs.to(self.device), inputs.on)
        finally:
            self.model.train(was_training)

    def save_checkpoint(self, path, epoch: int = 0, overwrite: bool = False) -> Path:
        """Write the model, training state and normalizers to ``path`` (see :func:`save_checkpoint`)."""
        return save_checkpoint(path, self.model, optimizer=self.optimizer, scheduler=self.scheduler,
                               scaler=self.scaler, epoch=epoch, trainer_config=self.config,
                               input_normalizer=self.input_normalizer, target_normalizer=self.target_normalizer,
                               overwrite=overwrite)

    # -- one epoch -------------------------------------------------------------------------------
    def _train_loader(self, data: OperatorDataset) -> DataLoader:
        world = distributed.world_size()
        if self.config.batch_size % world:
            raise ValueError(f"batch_size: expected a multiple of the world size {world}, got {self.config.batch_size}")
        sampler = DistributedSampler(data, num_replicas=world, rank=distributed.rank(),
                                     shuffle=self.config.shuffle, seed=self.config.seed)
        return DataLoader(data, batch_size=self.config.batch_size // world, sampler=sampler,
                          collate_fn=data.collate, num_workers=self.config.num_workers)

    def _train_epoch(self, network, loader: DataLoader, epoch: int) -> dict:
        loader.sampler.set_epoch(epoch)
        network.train()
        total, count, world = 0.0, 0, distributed.world_size()
        lr = self.optimizer.param_groups[0]["lr"]
        start = time.perf_counter()
        bar = tqdm(loader, desc=f"epoch {epoch}/{self.config.epochs}", unit="batch", leave=False,
                   disable=not self._shows_progress())
        for index, (inputs, targets) in enumerate(bar, start=1):
            lr = self.optimizer.param_groups[0]["lr"]
            loss = self._train_step(network, inputs, targets, epoch, index)
            samples = len(inputs) * world
            total, count = total + loss * samples, count + samples
            rate = count / max(time.perf_counter() - start, 1e-9)
            bar.set_postfix(loss=f"{loss:.3e}", samples_per_s=f"{rate:.0f}")
            if self.scheduler is not None and steps_per_batch(self.config):
                self.scheduler.step()
        if self.scheduler is not None and not steps_per_batch(self.config):
            self.scheduler.step()
        seconds = time.perf_counter() - start
        return {"epoch": epoch, "train_loss": total / max(count, 1), "lr": lr, "seconds": seconds,
                "samples_per_second": count / max(seconds, 1e-9)}

    def _train_step(self, network, inputs: Sampled, targets: Sampled, epoch: int, index: int) -> float:
        inputs, targets = inputs.to(self.device), targets.to(self.device)
        self.optimizer.zero_grad(set_to_none=True)
        prediction = self._predict(network, inputs, targets.on)
        loss = self.loss(prediction, targets)
        self.scaler.scale(loss).backward()
        value = distributed.all_reduce_sum(loss.detach().to(torch.float64).reshape(1)) / distributed.world_size()
        value = float(value)
        if not math.isfinite(value):
            raise FloatingPointError(
                f"loss: expected a finite training loss, got {value} at epoch {epoch}, batch {index}; "
                "lower lr, set grad_clip, or check the data and normalizers")
        if self.config.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return value

    def _predict(self, network, inputs: Sampled, target_on) -> Sampled:
        """Encode, run the model (under autocast when ``amp``), cast back, decode."""
        dtype = inputs.dtype
        with self._autocast():
            if self.input_normalizer is not None:
                inputs = self.input_normalizer.encode(inputs)
            if isinstance(self.model, Operator):
                output = network(inputs)
                if not isinstance(output, Sampled):
                    raise TypeError(f"model: expected an Operator to return Sampled, got {type(output).__name__}")
            else:
                output = Sampled(network(inputs.values), target_on, validate=False)
        if output.dtype != dtype and output.values.is_floating_point():
            output = output.with_values(output.values.to(dtype))
        if self.target_normalizer is not None:
            output = self.target_normalizer.decode(output)
        return output

    def _autocast(self):
        if not self.config.amp:
            return contextlib.nullcontext()
        dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    # -- evaluation ------------------------------------------------------------------------------
    @torch.no_grad()
    def _evaluate_one(self, name: str, data: OperatorDataset, epoch: int | None) -> dict[str, float]:
        world, rank = distributed.world_size(), distributed.rank()
        batch = max(self.config.batch_size // world, 1)
        loader = DataLoader(data, batch_size=batch, sampler=range(rank, len(data), world), collate_fn=data.collate)
        sums = torch.zeros(3, dtype=torch.float64, device=self.device)
        rel_l2 = self._relative_l2()
        for inputs, targets in loader:
            inputs, targets = inputs.to(self.device), targets.to(self.device)
            prediction = self._predict(self.model, inputs, targets.on)
            n = len(inputs)
            sums += torch.stack([self.loss(prediction, targets).detach().double() * n,
                                 rel_l2(prediction, targets).detach().double() * n,
                                 torch.tensor(float(n), dtype=torch.float64, device=self.device)])
        distributed.all_reduce_sum(sums)
        loss, rel, n = sums.tolist()
        metrics = {"loss": loss / n, "rel_l2": rel / n}
        if not all(math.isfinite(v) for v in metrics.values()):
            when = f" at epoch {epoch}" if epoch is not None else ""
            raise FloatingPointError(
                f"evaluate[{name!r}]: expected finite metrics, got {metrics}{when}; check the model's "
                "outputs, the loss and the normalizers on this dataset")
        return metrics

    def _relative_l2(self):
        if self._rel_l2 is None:
            from ..losses import RelativeL2

            self._rel_l2 = _to_device(RelativeL2(), self.device)
        return self._rel_l2

    # -- run bookkeeping -------------------------------------------------------------------------
    def _start(self, resume, monitor: Monitor) -> int:
        """Restore a checkpoint (returns its epoch) or seed a fresh run (returns 0)."""
        path = self._resume_path(resume)
        if path is None:
            seed_everything(self.config.seed)
            self.history = []
            self._rewrite_log([])
            return 0
        self._check_resumable(path)
        ckpt = load_checkpoint(path, self.model, optimizer=self.optimizer, scheduler=self.scheduler,
                               scaler=self.scaler, input_normalizer=self.input_normalizer,
                               target_normalizer=self.target_normalizer, restore_rng=True)
        trainer_state = ckpt.state.get("trainer") or {}
        monitor.load_state_dict(trainer_state.get("monitor") or {})
        self.history = [dict(r) for r in trainer_state.get("history", [])]
        self._rewrite_log(self.history)
        return ckpt.epoch

    def _check_resumable(self, path: Path) -> None:
        """``ValueError`` listing the settings that differ from the checkpoint's and change results."""
        saved = read_trainer_config(path)
        changed = resume_mismatches(saved, self.config) if saved is not None else {}
        if changed:
            listing = ", ".join(f"{name} {old!r} -> {new!r}" for name, (old, new) in changed.items())
            raise ValueError(
                f"resume: the checkpoint at {str(path)!r} was trained with other settings that change "
                f"results: {listing}; resume with the saved settings "
                "(sciml.training.read_trainer_config(path)) or start a new run without resume")

    def _resume_path(self, resume) -> Path | None:
        if resume is None or resume is False:
            return None
        if resume is True:
            if self.out_dir is None:
                raise ValueError("resume: resume=True needs out_dir; pass the checkpoint path instead")
            latest = CheckpointStore(self.out_dir / "checkpoints").resolve("latest")
            return latest
        return resolve_checkpoint(resume)

    def _wrapped(self):
        if self._network is None:
            if distributed.is_distributed():
                ids = [self.device.index] if self.device.type == "cuda" else None
                self._network = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
            else:
                self._network = self.model
        return self._network

    def _shows_progress(self) -> bool:
        return self.config.progress and distributed.is_main_process()

    def _writes_files(self) -> bool:
        return self.out_dir is not None and distributed.is_main_process()

    def _log(self, record: dict) -> None:
        if self._writes_files():
            with open(self.out_dir / METRICS_FILE, "a") as handle:
                handle.write(_json_line(record))

    def _rewrite_log(self, records: list[dict]) -> None:
        if self._writes_files():
            self.out_dir.mkdir(parents=True, exist_ok=True)
            text = "".join(_json_line(r) for r in records)
            atomic_write_bytes(self.out_dir / METRICS_FILE, text.encode())

    def _checkpoint(self, epoch: int, record: dict, monitor: Monitor, last: bool, improved: bool) -> None:
        every = self.config.checkpoint_every
        latest = last or (every is not None and epoch % every == 0)
        if not self._writes_files() or not (latest or improved):
            return
        store = CheckpointStore(self.out_dir / "checkpoints")
        path = store.path_for(epoch)
        state = {"monitor": monitor.state_dict(), "history": self.history}
        save_checkpoint(path, self.model, optimizer=self.optimizer, scheduler=self.scheduler, scaler=self.scaler,
                        epoch=epoch, trainer_config=self.config, input_normalizer=self.input_normalizer,
                        target_normalizer=self.target_normalizer, metrics=record, trainer_state=state,
                        overwrite=True)
        if improved:
            store.point("best", path)
        if latest:
            store.point("latest", path)
        store.prune()


def _json_line(record: dict) -> str:
    """One line of ``metrics.jsonl``; NaN and infinity (invalid JSON) raise ``ValueError``."""
    try:
        return json.dumps(record, allow_nan=False) + "\n"
    except ValueError as exc:
        raise ValueError(f"record: epoch {record.get('epoch')} holds a non-finite number, which "
                         f"{METRICS_FILE} cannot store: {record}") from exc


def _default_loss():
    from ..losses import RelativeL2

    return RelativeL2()


def _to_device(module, device):
    return module.to(device) if isinstance(module, nn.Module) else module


def _check_dataset(data, name: str) -> None:
    if not isinstance(data, OperatorDataset):
        raise TypeError(f"{name}: expected an OperatorDataset, got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError(f"{name}: expected a non-empty dataset, got 0 pairs")


def _check_eval(evaluate) -> dict[str, OperatorDataset]:
    if evaluate is None:
        return {}
    if not isinstance(evaluate, dict):
        raise TypeError(f"evaluate: expected a dict of name -> OperatorDataset, got {type(evaluate).__name__}")
    for name, data in evaluate.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"evaluate: expected non-empty string names, got {name!r}")
        _check_dataset(data, f"evaluate[{name!r}]")
    return dict(evaluate)
