r"""``load(name, ...)``: train/test splits of a benchmark, generated on first use and cached.

Cache. Generated stores live under :func:`cache_dir` (``$SCIML_DATA``; else the user cache
directory: ``$XDG_CACHE_HOME/sciml`` or ``~/.cache/sciml`` on Linux, ``~/Library/Caches/sciml``
on macOS, ``%LOCALAPPDATA%\sciml\Cache`` on Windows)::

    <cache>/<problem>/<key>/n<N>.zarr     N samples of the problem
    <cache>/<problem>/<key>/meta.json     what the key stands for (human-readable)

where ``key`` hashes the problem name, its full config (resolution included), the split seed
and the storage dtype. Because sample ``i`` depends only on ``(seed, i)``, a store of ``N``
samples serves every request for ``n <= N`` (its first ``n`` samples); a larger request
generates ``n<n>.zarr``. Train and test samples come from different seeds: the train split
uses ``seed``, the test split ``SeedSequence([seed, 1]).generate_state(1, uint64) >> 1``.

Resolutions. ``resolution`` is the grid of the pairs. With ``solver_resolution`` the
solver runs on a finer grid and the pairs are subsampled (exact strided subsampling where the
coarse grid is a subset of the fine one, :func:`sciml.resample` otherwise).
``test_resolution`` generates the test split *with the solver* at that resolution, for
zero-shot super-resolution; :meth:`DatasetSplits.evaluation` generates further ones.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

import sciml
from sciml._atomic import atomic_write_text
from sciml.discretization import Discretization
from sciml.sampled import axis_names

from .errors import DataFileError
from .generate import STORE_VERSION, generate
from .lazy import LazyOperatorDataset, StoreLayout, read_pairs
from .pairs import Pairing, SpatialMap
from .problem import PDEProblem, get_problem
from .store import open_dataset

__all__ = ["DatasetSplits", "cache_dir", "cached_store", "from_store", "load", "split_seed"]

_STORE = re.compile(r"^n(\d+)\.zarr$")


def cache_dir() -> Path:
    """Root of the dataset cache: ``$SCIML_DATA``, else the platform's user cache directory + ``sciml``.

    Examples
    --------
    >>> os.environ["SCIML_DATA"] = "/data/sciml"
    >>> cache_dir()
    PosixPath('/data/sciml')
    """
    if os.environ.get("SCIML_DATA"):
        return Path(os.environ["SCIML_DATA"]).expanduser()
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "sciml"
    if sys.platform.startswith("win"):
        return Path(os.environ.get("LOCALAPPDATA", home / "AppData" / "Local")) / "sciml" / "Cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "sciml"


def split_seed(seed: int, split: str) -> int:
    """The run seed of a split: ``seed`` for ``"train"``, a derived independent seed for ``"test"``."""
    if split == "train":
        return int(seed)
    if split != "test":
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    return int(np.random.SeedSequence([int(seed), 1]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def _key(problem: PDEProblem, seed: int, dtype: str) -> tuple[str, dict]:
    meta = {"problem": problem.name, "config": sciml.config_to_dict(problem.config), "seed": int(seed),
            "dtype": dtype, "store_version": STORE_VERSION}
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:16]
    return digest, meta


def cached_store(problem: PDEProblem, n: int, seed: int, *, root=None, dtype: str = "float32",
                 workers: int = 1, progress: bool = True) -> Path:
    """Path of a cached store holding at least samples ``0..n-1`` of ``problem`` with ``seed``; generates it if needed.

    Examples
    --------
    >>> path = cached_store(get_problem("darcy", resolution=64), 100, seed=0)
    >>> path.name
    'n100.zarr'
    """
    key, meta = _key(problem, seed, np.dtype(dtype).name)
    folder = Path(root or cache_dir()) / problem.name / key
    sizes = sorted(int(m.group(1)) for p in folder.glob("n*.zarr") if (m := _STORE.match(p.name)))
    for size in sizes:
        if size >= n:
            return folder / f"n{size}.zarr"
    folder.mkdir(parents=True, exist_ok=True)
    meta_path = folder / "meta.json"
    if not meta_path.exists():
        atomic_write_text(meta_path, json.dumps(meta, indent=2, sort_keys=True))
    return generate(problem, n, folder / f"n{n}.zarr", seed=seed, workers=workers, dtype=dtype, progress=progress)


def _generated_layout(path, attrs: dict) -> tuple[StoreLayout, sciml.Grid]:
    try:
        grid = Discretization.from_json(attrs["sciml_grid"])
        inputs, outputs = tuple(json.loads(attrs["input_names"])), tuple(json.loads(attrs["output_names"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise DataFileError(path, f"not a store written by sciml.datasets.generate (attributes: {exc})") from exc
    time_dim = attrs.get("time_dim") or None
    return StoreLayout(inputs, outputs, axis_names(grid.ndim), "sample", time_dim), grid


def from_store(path, *, n: int | None = None, pairs: str = "final", window: int = 1,
               grid: sciml.Grid | None = None, lazy: bool = False, dtype: torch.dtype = torch.float32):
    """Pairs from a store written by :func:`generate` (or ``sciml data generate``).

    Parameters
    ----------
    path : path-like
        zarr or netCDF store.
    n : int, optional
        First ``n`` samples (default: all).
    pairs, window :
        :class:`~sciml.datasets.pairs.Pairing` of trajectories.
    grid : Grid, optional
        Grid of the pairs (default: the stored one); coarser grids are subsampled.
    lazy : bool
        Return a :class:`LazyOperatorDataset` streaming from disk instead of loading everything.
    dtype : torch.dtype

    Returns
    -------
    OperatorDataset or LazyOperatorDataset

    Examples
    --------
    >>> data = from_store("burgers.zarr", pairs="steps", window=2)  # doctest: +SKIP
    >>> a, u = data.collate([data[0], data[1]])  # doctest: +SKIP
    """
    path = Path(path)
    pairing = Pairing(pairs, window)
    with open_dataset(path) as ds:
        attrs = dict(ds.attrs)
        layout, stored = _generated_layout(path, attrs)
        times = ds[layout.time_dim].values if layout.time_dim and layout.time_dim in ds.coords else None
        total = int(ds.sizes["sample"])
        if n is not None and not 0 < n <= total:
            raise ValueError(f"n: expected 1 <= n <= {total} (samples in {str(path)!r}), got {n}")
        names = pairing.channel_names(layout.inputs, layout.outputs, times)
        info = {k: attrs[k] for k in ("problem", "config", "seed", "resolution", "sciml_version") if k in attrs}
        if lazy:
            return LazyOperatorDataset(path, layout, stored, n=n, pairing=pairing, target_grid=grid, dtype=dtype,
                                       channel_names=names, attrs=info)
        spatial = SpatialMap(stored, grid)
        a, u = read_pairs(ds, layout, pairing, spatial, 0, total if n is None else n, path)
    a = sciml.Sampled(torch.from_numpy(a).to(dtype), spatial.target, names[0], info, validate=False)
    u = sciml.Sampled(torch.from_numpy(u).to(dtype), spatial.target, names[1], info, validate=False)
    return sciml.OperatorDataset(a, u)


@dataclass
class DatasetSplits:
    """Train and test splits of a benchmark.

    Attributes
    ----------
    train, test : OperatorDataset or LazyOperatorDataset
    info : dict
        Problem, config, seeds, resolutions and the cached store paths.
    """

    train: object
    test: object
    info: dict = field(default_factory=dict)
    _evaluation: object = field(default=None, repr=False)

    def evaluation(self, resolution):
        """Test samples drawn with the test seeds and solved at another ``resolution``, cached.

        A seed's Gaussian random field is the same function at every resolution (the finer
        grid adds the modes it newly resolves), so these are the test inputs refined. When the
        splits were made with ``solver_resolution``, the finer sets are solved with the same
        refinement (``resolution * solver_resolution / train resolution``, rounded) and brought
        to ``resolution`` the same way, so their targets are as accurate as the training targets;
        otherwise they are solved directly at ``resolution``. Only for splits made by
        :func:`load`; files read from disk have no solver.
        """
        if self._evaluation is None:
            raise ValueError("resolution: these splits were not generated by load(); no solver to rerun")
        return self._evaluation(resolution)


def _problem(name: str, params: dict, resolution) -> PDEProblem:
    return get_problem(name, **params) if resolution is None else get_problem(name, **params, resolution=resolution)


def _refined_size(name: str, params: dict, solver: PDEProblem, target, res: int, grid) -> int:
    """Size of the solve for the ``res`` evaluation set: as much finer than ``res`` as the training solve
    (``solver``) is than the training grid (``target``): equal spacing ratios on the first axis."""
    coarse_h, fine_h = target.spacing[0], solver.grid().spacing[0]
    estimate = int(res) * solver.grid().shape[0] / target.shape[0]
    if not coarse_h or not fine_h or not grid.spacing[0]:
        return max(int(res), round(estimate))
    wanted = grid.spacing[0] * fine_h / coarse_h
    candidates = range(max(int(res), math.floor(estimate) - 2), math.ceil(estimate) + 3)
    return min(candidates, key=lambda n: abs(_problem(name, params, n).grid().spacing[0] - wanted))


def load(name: str, resolution: int | None = None, n_train: int = 1000, n_test: int = 200, *,
         params: dict | None = None, seed: int = 0, solver_resolution: int | None = None,
         test_resolution: int | None = None, pairs: str = "final", window: int = 1, lazy: bool = False,
         cache_dir: str | os.PathLike | None = None, workers: int = 1, dtype: torch.dtype = torch.float32,
         progress: bool = True) -> DatasetSplits:
    """Train/test splits of benchmark ``name``, generated with its solver on first use and cached.

    Parameters
    ----------
    name : str
        A registered problem (``"darcy"``, ``"burgers"``, ``"navier-stokes"``, ``"poisson"``, ...).
    resolution : int, optional
        Grid of the pairs (the problem's ``resolution`` config field; default: the problem's default).
    n_train, n_test : int
        Number of train and test samples (test samples come from an independent seed).
    params : dict, optional
        Other config fields of the problem (e.g. ``{"viscosity": 1e-4}``); part of the cache key.
    seed : int
    solver_resolution : int, optional
        Solve on this finer grid and subsample to ``resolution``.
    test_resolution : int, optional
        Solve the test split at this resolution (zero-shot super-resolution evaluation).
    pairs : {"final", "trajectory", "steps"}
        How trajectories become pairs; see :mod:`sciml.datasets.pairs`. ``window``: states per ``steps`` input.
    lazy : bool
        Stream the splits from the cached zarr stores (:class:`LazyOperatorDataset`).
    cache_dir : path-like, optional
        Cache root (default :func:`cache_dir`).
    workers : int
        Processes used when generating.
    dtype : torch.dtype
    progress : bool

    Examples
    --------
    >>> data = load("darcy", resolution=64, n_train=1000, n_test=200)      # generated once, cached
    >>> data.train.inputs.shape
    (1000, 1, 64, 64)
    >>> fine = load("darcy", resolution=64, n_train=1000, n_test=200, test_resolution=128).test
    """
    params = dict(params or {})
    if "resolution" in params:
        raise ValueError("params: give the resolution as the 'resolution' argument, not in params")
    n_train = int(n_train)
    n_test = int(n_test)
    for label, value in (("n_train", n_train), ("n_test", n_test)):
        if value < 1:
            raise ValueError(f"{label}: expected an integer >= 1, got {value}")
    solve_at = solver_resolution if solver_resolution is not None else resolution
    train_problem = _problem(name, params, solve_at)
    target = _problem(name, params, resolution).grid() if solver_resolution is not None else None
    options = {"root": cache_dir, "workers": workers, "progress": progress}

    def split(problem: PDEProblem, n: int, which: str, grid):
        path = cached_store(problem, n, split_seed(seed, which), **options)
        return path, from_store(path, n=n, pairs=pairs, window=window, grid=grid, lazy=lazy, dtype=dtype)

    train_path, train = split(train_problem, n_train, "train", target)
    if test_resolution is not None:
        test_path, test = split(_problem(name, params, test_resolution), n_test, "test", None)
    else:
        test_path, test = split(train_problem, n_test, "test", target)

    def evaluation(res):
        if solver_resolution is None:
            return split(_problem(name, params, res), n_test, "test", None)[1]
        grid = _problem(name, params, res).grid()
        return split(_problem(name, params, _refined_size(name, params, train_problem, target, res, grid)),
                     n_test, "test", grid)[1]

    info = {"problem": name, "params": params, "seed": seed, "resolution": resolution,
            "solver_resolution": solver_resolution, "test_resolution": test_resolution,
            "pairs": pairs, "window": window, "train_store": str(train_path), "test_store": str(test_path)}
    return DatasetSplits(train, test, info, evaluation)
