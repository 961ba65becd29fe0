r"""``sciml bench``: train operators under one budget on a PDE benchmark and compare them.

Every step of :func:`run_bench` is a public function a script can call on its own:
:func:`bench_profile` (sizes), :func:`~sciml.workflows.train.load_problem` (data),
:func:`evaluation_sets` (the test set solved at 1x, 2x, 4x the training resolution),
:func:`bench_model_config` + :func:`~sciml.workflows.train.make_model` (models from names),
:func:`bench_model` (train, time, measure memory, evaluate), :func:`format_results_table`,
:func:`write_results` and the figures of :mod:`sciml.workflows.figures`.

Profiles
--------
``quick`` finishes in minutes on 2 CPU cores; ``paper`` (the default) uses the FNO paper's sizes
(Li et al., 2021): 1000 training samples, 500 epochs of Adam (lr 1e-3, weight decay 1e-4,
halved every 100 epochs), batch 20, 4 Fourier layers.

============= ========================================= =========================================
problem       paper profile                             quick profile
============= ========================================= =========================================
darcy         64x64 (the paper: 85, subsampled from     32x32, 800/100, width 32, modes 12,
              421), 1000/100, width 32, modes 12        16 epochs, one-cycle lr 5e-3
burgers       nu = 0.1, u0 -> u(1), 1024 points (the    256 points, 400/50, width 32, modes 16,
              paper: 8192 subsampled), 1000/100,        20 epochs
              width 64, modes 16
navier-stokes nu = 1e-3, T = 50, 64x64, 1000/200        32x32, 20/4 trajectories, width 24,
              trajectories, the one-step map of the     modes 8, 5 epochs
              last 10 vorticity snapshots to the next
              (FNO-2D trained with teacher forcing;
              the paper reports 40-step rollouts),
              width 32, modes 12
other         the problem's default resolution,         the same with 200/50 samples, width 24,
              1000/100, width 32, modes 12              10 epochs
============= ========================================= =========================================

TFNO uses a Tucker factorization at rank 0.1 (10% of FNO's spectral parameters); MG-TFNO a joint
Tucker rank of 0.05 and one multigrid level (2 patches per axis, overlap 1/16), its modes capped
to fit the patches. Inputs and targets are normalized per channel (Gaussian statistics of the
training set), saved with the checkpoints. Non-periodic grids get 10% domain padding.

``results.json``
----------------
::

    {
      "schema": "sciml-bench", "schema_version": 1,
      "problem": "darcy", "profile": "quick",
      "data": {"name", "resolution", "n_train", "n_test", "params", "seed", "pairs", "window"},
      "resolutions": ["32x32", "64x64", "128x128"],      # training resolution first
      "trainer": {TrainerConfig fields},                 # the same budget for every model
      "environment": {"device", "torch", "sciml", "cpu_count", "threads", "platform", "cuda_device"},
      "peak_mem_method": "cuda-max-allocated" | "cpu-rss-increase" | "cpu-maxrss-increase",
      "models": [
        {"name": "fno", "config": {...}, "params": int, "epochs": int,
         "train_seconds": float,           # optimization only (sum of the epochs' wall time)
         "seconds_per_epoch": float,
         "infer_ms_per_sample": float,     # batched forward pass on the test set, normalizers included
         "peak_mem_mb": float,             # during training, see peak_mem_method
         "errors": {"32x32": {"rel_l2": float, "h1": float}, "64x64": {...}, "128x128": {...}},
         "checkpoint": "OUT/fno/checkpoints/...",
         "history": [{"epoch", "train_loss", "test_rel_l2"}]}
      ]
    }

Errors are means over the test samples of the relative :math:`L^2` and :math:`H^1` errors of the
final weights (:func:`~sciml.workflows.train.evaluate_model`); finer test sets are drawn with the
test seeds and solved by the solver at that resolution (zero-shot super-resolution). A seed's
Gaussian random field is the same function at every resolution, so a finer set holds the coarse
test inputs refined (thresholded coefficients sharpen their interfaces). Peak memory is
``torch.cuda.max_memory_allocated`` on CUDA; on the CPU the increase of the process' resident
set size over its value before training, sampled every 5 ms from ``/proc/self/statm`` (or the
``ru_maxrss`` increase where ``/proc`` is missing), a lower bound when an earlier model's freed
memory is reused. The run also writes
``OUT/<model>/`` (``run.json``, ``metrics.jsonl``, ``checkpoints/``) and PNG figures
``OUT/<model>_prediction.png`` and ``OUT/loss_curves.png``.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import resource
import sys
import threading
import time
from pathlib import Path

import torch

import sciml

from .train import (
    RUN_FILE,
    DataSpec,
    RunConfig,
    evaluate_model,
    load_problem,
    make_model,
    make_normalizers,
    predict,
    resolution_key,
    run_config_to_dict,
    write_json,
)

__all__ = ["BENCH_MODELS", "BenchProfile", "PeakMemory", "bench_model", "bench_model_config", "bench_profile",
           "bench_trainer", "check_model_names", "evaluation_sets", "format_results_table", "measure_inference", "run_bench",
           "write_results"]

#: models ``--models`` selects by default
BENCH_MODELS = ("fno", "tfno", "mg-tfno", "mgno", "t1")
SCHEMA_VERSION = 2  # 2: per-model "lr"
_PAPER_TRAINER = dict(epochs=500, batch_size=20, lr=1e-3, weight_decay=1e-4, scheduler="step", step_size=100,
                      gamma=0.5, eval_every=10)


@dataclasses.dataclass
class BenchProfile:
    """Data, model sizes and training budget of a bench run.

    Attributes
    ----------
    name : str
        ``"quick"`` or ``"paper"``.
    data : DataSpec
    width, modes, n_layers : int
        Sizes shared by every model (``modes`` per axis, capped at half the resolution).
    trainer : TrainerConfig
        The budget every model gets.
    factors : tuple of int
        Test resolutions as multiples of the training resolution (1 is always first).
    domain_padding : float
    tfno_rank, mg_rank : float
        Tucker rank of TFNO and joint Tucker rank of MG-TFNO (fractions of dense parameters).
    mg_levels : int
    oversampling : int
        :attr:`FNOConfig.oversampling <sciml.operators.FNOConfig>` of FNO and TFNO (1: the plain
        network; ``s > 1`` runs them on an ``s`` times finer grid, for zero-shot super-resolution
        on non-periodic problems with discontinuous inputs such as Darcy).
    """

    name: str
    data: DataSpec
    width: int = 32
    modes: int = 12
    n_layers: int = 4
    trainer: sciml.TrainerConfig = dataclasses.field(default_factory=lambda: sciml.TrainerConfig(**_PAPER_TRAINER))
    factors: tuple = (1, 2, 4)
    domain_padding: float = 0.0
    tfno_rank: float = 0.1
    mg_rank: float = 0.05
    mg_levels: int = 1
    oversampling: int = 1


def _profiles(problem: str, quick: bool) -> BenchProfile:
    quick_trainer = sciml.TrainerConfig(epochs=20, batch_size=20, lr=5e-3, scheduler="onecycle")
    if problem == "darcy":
        if quick:
            return BenchProfile("quick", DataSpec("darcy", 32, 800, 100), 32, 12, domain_padding=0.1,
                                trainer=quick_trainer.replace(epochs=16))
        return BenchProfile("paper", DataSpec("darcy", 64, 1000, 100), 32, 12, domain_padding=0.1)
    if problem == "burgers":
        if quick:
            return BenchProfile("quick", DataSpec("burgers", 256, 400, 50), 32, 16, trainer=quick_trainer)
        return BenchProfile("paper", DataSpec("burgers", 1024, 1000, 100), 64, 16)
    if problem == "navier-stokes":
        if quick:
            # no multigrid patching at 32²: windows of 16 + 2 x 2 points cost MG-TFNO accuracy (rel L2
            # 8.6e-2 against 5.1e-2 unpatched) and 2.4x the time (benchmarks/README.md, MG-TFNO)
            return BenchProfile("quick", DataSpec("navier-stokes", 32, 20, 4), 24, 8,
                                trainer=quick_trainer.replace(epochs=5), mg_levels=0)
        return BenchProfile("paper", DataSpec("navier-stokes", 64, 1000, 200), 32, 12)
    if quick:
        return BenchProfile("quick", DataSpec(problem, None, 200, 50), 24, 12, trainer=quick_trainer.replace(epochs=10))
    return BenchProfile("paper", DataSpec(problem, None, 1000, 100), 32, 12)


def bench_profile(problem: str, quick: bool = False, *, epochs: int | None = None, n_train: int | None = None,
                  n_test: int | None = None, resolution: int | None = None, seed: int | None = None,
                  device: str | None = None, progress: bool | None = None, width: int | None = None,
                  modes: int | None = None, oversampling: int | None = None) -> BenchProfile:
    """The profile of ``problem`` (see the module docstring) with command-line overrides applied.

    Examples
    --------
    >>> profile = bench_profile("darcy", quick=True, epochs=2, n_train=16)
    >>> profile.data.resolution, profile.data.n_train, profile.trainer.epochs
    (32, 16, 2)
    """
    from sciml.datasets import registered_problems

    problems = sorted(registered_problems())
    if problem not in problems:
        raise ValueError(f"problem: expected one of {problems}, got {problem!r}")
    profile = _profiles(problem, quick)
    data = dataclasses.replace(profile.data, **{k: v for k, v in (("n_train", n_train), ("n_test", n_test),
                                                                   ("resolution", resolution), ("seed", seed))
                                                  if v is not None})
    trainer = profile.trainer.replace(**{k: v for k, v in (("epochs", epochs), ("seed", seed), ("device", device),
                                                           ("progress", progress)) if v is not None})
    sizes = {k: v for k, v in (("width", width), ("modes", modes), ("oversampling", oversampling)) if v is not None}
    return dataclasses.replace(profile, data=data, trainer=trainer, **sizes)


def check_model_names(models) -> list[str]:
    """``"fno,tfno"`` or a list -> validated registered names (unknown names list the valid ones)."""
    import sciml.operators

    names = [m.strip() for m in models.split(",")] if isinstance(models, str) else list(models)
    names = [m for m in names if m]
    valid = sorted(sciml.registered_models())
    unknown = [m for m in names if m not in valid]
    if unknown or not names:
        raise ValueError(f"models: expected registered models among {valid}, got {unknown or names!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"models: each model once, got {names}")
    return names


def evaluation_sets(data, factors=(1, 2, 4)) -> dict:
    """``{"32x32": test, "64x64": test solved at 64, ...}``: the test set at each multiple of its resolution.

    The training resolution (factor 1) comes first; finer sets come from
    :meth:`DatasetSplits.evaluation` (the test seeds, drawn and solved at that resolution).
    """
    base = data.test.targets.on.shape[0]
    sets = {resolution_key(data.test): data.test}
    for factor in factors:
        if factor != 1:
            test = data.evaluation(base * int(factor))
            sets[resolution_key(test)] = test
    return sets


def bench_model_config(name: str, profile: BenchProfile, grid) -> dict:
    """The config dict of model ``name`` for ``profile`` on ``grid`` (the training grid).

    FNO and its subclasses get ``width``, ``modes`` (capped at half the points per axis),
    ``n_layers`` and domain padding on non-periodic axes; TFNO a Tucker rank, MG-TFNO a joint
    rank and multigrid levels (modes capped to fit a patch); FNO and TFNO the profile's
    ``oversampling`` when it is not 1 (other models reject it). Other registered models size
    themselves through a ``bench_config(profile, grid) -> dict`` classmethod when they define
    one, and otherwise get ``{}`` (their config defaults).
    """
    from sciml.operators import FNOConfig

    cls = sciml.registered_models()[name]
    periodic = all(getattr(grid.domain, "periodic", (False,)))
    if profile.oversampling != 1 and (name not in ("fno", "tfno") or periodic):
        raise ValueError(f"oversampling: {profile.oversampling} applies to fno and tfno on non-periodic problems; "
                         f"got model {name!r} on a {'periodic' if periodic else 'non-periodic'} grid")
    if hasattr(cls, "bench_config"):
        return dict(cls.bench_config(profile, grid))
    if not issubclass(cls.config_class, FNOConfig):
        return {}
    shape = tuple(grid.shape)
    modes = [min(profile.modes, n // 2) for n in shape]
    config = {"width": profile.width, "modes": modes, "n_layers": profile.n_layers,
              "domain_padding": 0.0 if periodic else profile.domain_padding}
    if name == "tfno":
        config["factorization"] = {"kind": "tucker", "rank": profile.tfno_rank}
    if profile.oversampling != 1:
        config["oversampling"] = profile.oversampling
    if name == "mg-tfno":
        from sciml.operators.multigrid import overlap_points, patch_shape

        multigrid = {"levels": profile.mg_levels, "overlap": 0.0625, "boundary": "circular" if periodic else "reflect"}
        window = patch_shape(shape, profile.mg_levels, overlap_points(shape, multigrid["overlap"]))
        config.update(rank=profile.mg_rank, multigrid=multigrid,
                      modes=[min(m, w // 2) for m, w in zip(modes, window)])
    return config


def bench_trainer(name: str, profile: BenchProfile) -> sciml.TrainerConfig:
    """The trainer config of model ``name``: the profile's, with the model's own overrides.

    Every model gets the same data, epochs and batch size; a registered class may lower its
    learning rate (or change other optimiser settings) through a ``bench_trainer(profile) -> dict``
    classmethod, when the shared one makes it diverge. The overrides land in ``results.json``.
    """
    cls = sciml.registered_models()[name]
    overrides = dict(cls.bench_trainer(profile)) if hasattr(cls, "bench_trainer") else {}
    fixed = sorted(set(overrides) & {"epochs", "batch_size", "seed", "device"})
    if fixed:
        raise ValueError(f"{name}.bench_trainer: may not change the shared budget {fixed}")
    return profile.trainer.replace(**overrides)


class PeakMemory:
    """Peak memory of the work inside a ``with`` block, in MB (see the module docstring).

    Examples
    --------
    >>> with PeakMemory("cpu") as memory:
    ...     x = torch.ones(4_000_000)
    >>> memory.mb >= 0
    True
    """

    def __init__(self, device="cpu", interval: float = 0.005):
        self.device = torch.device(device)
        self.interval = interval
        self.mb = 0.0
        self.method = "cuda-max-allocated" if self.device.type == "cuda" else (
            "cpu-rss-increase" if os.path.exists("/proc/self/statm") else "cpu-maxrss-increase")

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return self
        self._base = self._peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.mb = torch.cuda.max_memory_allocated(self.device) / 2**20
            return False
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._rss())
        self.mb = max(self._peak - self._base, 0) / 2**20
        return False

    def _poll(self):
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, self._rss())

    def _rss(self) -> int:
        if self.method == "cpu-rss-increase":
            with open("/proc/self/statm") as handle:
                return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        scale = 1 if sys.platform == "darwin" else 1024          # ru_maxrss: bytes on macOS, KiB elsewhere
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def measure_inference(model, test, *, input_normalizer=None, target_normalizer=None, batch_size: int = 32,
                      device="cpu") -> float:
    """Milliseconds per sample of a batched forward pass over ``test`` (after one warm-up batch)."""
    kwargs = dict(input_normalizer=input_normalizer, target_normalizer=target_normalizer, batch_size=batch_size,
                  device=device)
    predict(model, test.inputs[:batch_size], **kwargs)
    _sync(device)
    start = time.perf_counter()
    predict(model, test.inputs, **kwargs)
    _sync(device)
    return 1e3 * (time.perf_counter() - start) / len(test)


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def bench_model(name: str, model, train, tests: dict, trainer_config: sciml.TrainerConfig, out_dir, *,
                normalizers=(None, None), run_config: RunConfig | None = None) -> dict:
    """Train ``model`` with ``trainer_config`` (checkpoints in ``out_dir``), then time and evaluate it.

    Parameters
    ----------
    name : str
    model : sciml.Operator
    train : OperatorDataset
    tests : dict of str to OperatorDataset
        Test sets by resolution key, training resolution first (it is evaluated during training).
    trainer_config : TrainerConfig
    out_dir : path
    normalizers : (Normalizer, Normalizer)
        Input and target normalizers, or ``(None, None)``.
    run_config : RunConfig, optional
        Written to ``out_dir/run.json`` so that ``sciml evaluate out_dir`` knows the problem.

    Returns
    -------
    dict
        One ``models`` entry of ``results.json`` (see the module docstring).
    """
    out_dir = Path(out_dir)
    if run_config is not None:
        write_json(run_config_to_dict(run_config), out_dir / RUN_FILE)
    first = next(iter(tests))
    trainer = sciml.Trainer(model, config=trainer_config, input_normalizer=normalizers[0],
                            target_normalizer=normalizers[1], out_dir=out_dir)
    with PeakMemory(trainer.device) as memory:
        history = trainer.fit(train, evaluate={first: tests[first]})
    kwargs = dict(input_normalizer=trainer.input_normalizer, target_normalizer=trainer.target_normalizer,
                  batch_size=trainer_config.batch_size, device=trainer.device)
    errors = evaluate_model(model, tests, **kwargs)
    train_seconds = sum(r["seconds"] for r in history)
    return {"name": name, "config": sciml.config_to_dict(model.config) if hasattr(model, "config") else None,
            "params": sum(p.numel() for p in model.parameters()), "epochs": len(history), "lr": trainer_config.lr,
            "train_seconds": train_seconds, "seconds_per_epoch": train_seconds / max(len(history), 1),
            "infer_ms_per_sample": measure_inference(model, tests[first], **kwargs),
            "peak_mem_mb": memory.mb, "peak_mem_method": memory.method, "errors": errors,
            "checkpoint": str(sciml.training.resolve_checkpoint(out_dir)),
            "history": [{"epoch": r["epoch"], "train_loss": r["train_loss"],
                         **({"test_rel_l2": r["eval"][first]["rel_l2"]} if "eval" in r else {})} for r in history]}


def format_results_table(results: dict) -> str:
    """The bench table: one row per model; errors as ``%.3e``, like ``results.json`` rounded.

    Examples
    --------
    >>> results = {"problem": "darcy", "profile": "quick", "resolutions": ["32x32"], "environment": {"device": "cpu"},
    ...            "data": {"n_train": 8, "n_test": 4}, "models": [{"name": "fno", "params": 1234, "epochs": 2,
    ...            "seconds_per_epoch": 0.5, "infer_ms_per_sample": 0.25, "peak_mem_mb": 12.0,
    ...            "errors": {"32x32": {"rel_l2": 0.0123, "h1": 0.0456}}}]}
    >>> print(format_results_table(results))  # doctest: +NORMALIZE_WHITESPACE
    darcy (quick profile): 8 train / 4 test samples, device cpu
    model  params  epochs  s/epoch  infer ms/sample  peak MB  rel L2 32x32  H1 32x32
    fno    1,234   2       0.500    0.250            12.0     1.230e-02     4.560e-02
    """
    resolutions = results["resolutions"]
    header = ["model", "params", "epochs", "s/epoch", "infer ms/sample", "peak MB"]
    header += [f"{kind} {res}" for res in resolutions for kind in ("rel L2", "H1")]
    rows = [header]
    for entry in results["models"]:
        row = [entry["name"], f"{entry['params']:,}", str(entry["epochs"]), f"{entry['seconds_per_epoch']:.3f}",
               f"{entry['infer_ms_per_sample']:.3f}", f"{entry['peak_mem_mb']:.1f}"]
        row += [f"{entry['errors'][res][kind]:.3e}" for res in resolutions for kind in ("rel_l2", "h1")]
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    data = results["data"]
    title = (f"{results['problem']} ({results['profile']} profile): {data['n_train']} train / {data['n_test']} test "
             f"samples, device {results['environment']['device']}")
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join([title, *lines])


def write_results(results: dict, out) -> Path:
    """Write ``results`` to ``out/results.json`` (atomically; non-finite numbers refused)."""
    return write_json(results, Path(out) / "results.json")


def _environment(device) -> dict:
    device = torch.device(device)
    return {"device": str(device), "torch": torch.__version__, "sciml": sciml.__version__,
            "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(), "platform": platform.platform(),
            "cuda_device": torch.cuda.get_device_name(device) if device.type == "cuda" else None}


def run_bench(problem: str, models=BENCH_MODELS, *, quick: bool = False, out="bench", epochs: int | None = None,
              n_train: int | None = None, n_test: int | None = None, resolution: int | None = None,
              seed: int | None = None, device: str | None = None, width: int | None = None,
              modes: int | None = None, oversampling: int | None = None, cache_dir=None, workers: int = 1,
              progress: bool = True, figures: bool = True, echo=None) -> dict:
    """Train and compare ``models`` on ``problem``; write ``out/results.json``, checkpoints and figures.

    Parameters
    ----------
    problem : str
        A registered problem (``"darcy"``, ``"burgers"``, ``"navier-stokes"``, ...).
    models : str or list of str
        Registered model names (``"fno,tfno,mg-tfno"``).
    quick : bool
        The quick profile instead of the paper's sizes.
    out : path
    epochs, n_train, n_test, resolution, seed, device, width, modes, oversampling :
        Override the profile (``modes`` per axis; ``oversampling`` of FNO and TFNO, see
        :class:`BenchProfile`).
    cache_dir, workers :
        Dataset cache and generation processes (:func:`sciml.datasets.load`).
    progress : bool
        Progress bars.
    figures : bool
        Write the PNG figures.
    echo : callable, optional
        Receives progress lines (e.g. ``print``).

    Returns
    -------
    dict
        The content of ``results.json`` (see the module docstring).

    Examples
    --------
    >>> results = run_bench("darcy", "fno,tfno", quick=True, out="runs/bench")  # doctest: +SKIP
    >>> print(format_results_table(results))  # doctest: +SKIP
    """
    names = check_model_names(models)
    profile = bench_profile(problem, quick, epochs=epochs, n_train=n_train, n_test=n_test, resolution=resolution,
                            seed=seed, device=device, progress=progress, width=width, modes=modes,
                            oversampling=oversampling)
    echo = echo or (lambda line: None)
    out = Path(out)
    echo(f"loading {problem}: {profile.data.n_train} train / {profile.data.n_test} test samples")
    data = load_problem(profile.data, cache_dir=cache_dir, workers=workers, progress=progress)
    tests = evaluation_sets(data, profile.factors)
    normalizers = make_normalizers(data.train)
    pairs, window = profile.data.pairing()
    spec = dataclasses.replace(profile.data, resolution=data.test.targets.on.shape[0], pairs=pairs, window=window)
    entries, models = [], []
    for name in names:
        torch.manual_seed(profile.trainer.seed)
        config = bench_model_config(name, profile, data.train.targets.on)
        model = make_model(name, config, data.train.inputs.channels, data.train.targets.channels)
        trainer = bench_trainer(name, profile)
        run = RunConfig(spec, {"name": name, "config": sciml.config_to_dict(model.config)}, trainer)
        echo(f"training {name} ({sum(p.numel() for p in model.parameters()):,} parameters)")
        entries.append(bench_model(name, model, data.train, tests, trainer, out / name,
                                   normalizers=normalizers, run_config=run))
        models.append((name, model.cpu()))  # frees the device: the next model's peak memory is its own
    results = {"schema": "sciml-bench", "schema_version": SCHEMA_VERSION, "problem": problem,
               "profile": profile.name, "data": sciml.config_to_dict(spec), "resolutions": list(tests),
               "trainer": sciml.config_to_dict(profile.trainer),
               "environment": _environment(sciml.training.distributed.device_for_rank(profile.trainer.device)),
               "peak_mem_method": entries[0]["peak_mem_method"], "models": entries}
    write_results(results, out)  # before the figures: a plotting failure must not lose the numbers
    if figures:
        from .figures import plot_loss_curves, plot_prediction

        for name, model in models:
            plot_prediction(model, tests[next(iter(tests))], out / f"{name}_prediction.png",
                            input_normalizer=normalizers[0], target_normalizer=normalizers[1], title=name,
                            device=next(model.parameters()).device)
        plot_loss_curves(results, out / "loss_curves.png")
    return results
