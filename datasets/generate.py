r"""Generate a benchmark dataset with a :class:`~sciml.datasets.PDEProblem`: parallel, reproducible, resumable.

Reproducibility. Sample :math:`i` of a run with seed :math:`s` is solved from its own seed

.. math::
    s_i = \operatorname{SeedSequence}(s, \text{spawn\_key}=(i,)).\text{generate\_state}(1, \text{uint64}) \gg 1,

so it depends on :math:`(s, i)` only: not on the number of samples, the worker count or which
process solved it. Samples are grouped into fixed chunks of ``chunk_size`` consecutive indices,
solved with one :meth:`~sciml.datasets.PDEProblem.solve_batch` call each, in worker processes
(``concurrent.futures.ProcessPoolExecutor`` with the ``forkserver`` start method on Linux,
``spawn`` elsewhere; the problem object is pickled to the workers, so its class must be importable
by module name, and the forkserver is asked to preload ``sciml.datasets`` and that module).

Safety. Each chunk is checked before it is written: every variable finite and below a blow-up
bound, or a :class:`~sciml.datasets.SampleError` names the sample index, its seed, the variable
and the problem's parameters, and nothing of that chunk is stored. Chunks are written atomically
and a rerun skips the finished ones; see :mod:`sciml.datasets.store` for the layout.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import sys
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from pathlib import Path

import numpy as np
import xarray as xr
from tqdm import tqdm

import sciml
from sciml._checks import check_positive_int
from sciml.sampled import axis_names

from .errors import SampleError, first_bad_sample
from .problem import PDEProblem, get_problem
from .store import PartStore, import_optional, store_format, write_dataset

__all__ = ["dataset_attrs", "generate", "make_problem", "sample_seeds", "solve_samples"]

#: layout version written to ``attrs["sciml_store_version"]``
STORE_VERSION = 2  # 2: resolution-consistent GRF draws (older caches are regenerated)
#: default blow-up bound: a value this large is a numerical explosion, not data
MAX_ABS = 1e8
_CHUNK_BYTES = 32 * 2**20


def sample_seeds(seed: int, indices) -> np.ndarray:
    """Per-sample seeds ``int64`` for sample ``indices`` of a run with ``seed``.

    Examples
    --------
    >>> a = sample_seeds(0, range(4))
    >>> bool((sample_seeds(0, [2]) == a[2]).all())      # independent of the other indices
    True
    """
    seed = check_positive_int(seed, "seed", minimum=0)
    states = [np.random.SeedSequence(seed, spawn_key=(int(i),)).generate_state(1, np.uint64)[0]
              for i in indices]
    return (np.asarray(states, dtype=np.uint64) >> np.uint64(1)).astype(np.int64)


def make_problem(problem: PDEProblem | str, params: dict | None = None) -> PDEProblem:
    """A :class:`PDEProblem` from an instance (``params`` must be empty) or a registered name."""
    if isinstance(problem, PDEProblem):
        if params:
            raise ValueError("params: give parameters with a problem name, not with a PDEProblem instance")
        return problem
    if not isinstance(problem, str):
        raise TypeError(f"problem: expected a PDEProblem or a registered name, got {type(problem).__name__}")
    return get_problem(problem, **(params or {}))


def _sample_values(problem: PDEProblem) -> int:
    space = int(np.prod(problem.grid().shape))
    return (len(problem.input_names) * space
            + sum(int(np.prod(problem.output_shape(name))) for name in problem.output_names))


def default_chunk_size(problem: PDEProblem, n: int) -> int:
    """About 8 chunks per run (at least 16 samples each), each at most ~32 MiB of float64.

    Independent of the worker count, so a rerun with other ``workers`` resumes the same chunks.
    """
    by_memory = max(1, _CHUNK_BYTES // (8 * _sample_values(problem)))
    return max(1, min(max(math.ceil(n / 8), min(n, 16)), by_memory))


def check_solution(problem: PDEProblem, arrays: dict, indices: np.ndarray, seeds: np.ndarray,
                   max_abs: float = MAX_ABS) -> dict[str, np.ndarray]:
    """Check the arrays of ``solve_batch`` (names, shapes, finiteness, blow-up); return them as float64.

    Raises
    ------
    ValueError
        The solver broke its contract (missing variable, wrong shape).
    SampleError
        A sample holds NaN/inf or ``|value| > max_abs``; names its global index and seed.
    """
    names = tuple(problem.input_names) + tuple(problem.output_names)
    missing = [name for name in names if name not in arrays]
    if missing:
        raise ValueError(f"{problem.name}.solve_batch: expected variables {list(names)}, missing {missing}")
    checked = {}
    for name in names:
        value = np.asarray(arrays[name])
        shape = tuple(problem.grid().shape) if name in problem.input_names else problem.output_shape(name)
        if value.shape != (len(seeds), *shape):
            raise ValueError(f"{problem.name}.solve_batch: variable {name!r}: expected shape "
                             f"{(len(seeds), *shape)}, got {value.shape}")
        if value.dtype.kind not in "fiu":
            raise ValueError(f"{problem.name}.solve_batch: variable {name!r}: expected real numbers, got {value.dtype}")
        bad = first_bad_sample(value, max_abs)
        if bad is not None:
            i, detail = bad
            raise SampleError(int(indices[i]), int(seeds[i]), name, sciml.config_to_dict(problem.config), detail)
        checked[name] = value
    return checked


def solve_samples(problem: PDEProblem, indices, seed: int = 0, max_abs: float = MAX_ABS) -> dict[str, np.ndarray]:
    """Solve samples ``indices`` in this process, checked; the same values :func:`generate` stores.

    Examples
    --------
    >>> arrays = solve_samples(get_problem("darcy", resolution=32), range(4), seed=0)
    >>> arrays["u"].shape
    (4, 32, 32)
    """
    indices = np.asarray(list(indices), dtype=np.int64)
    seeds = sample_seeds(seed, indices)
    return check_solution(problem, problem.solve_batch(seeds), indices, seeds, max_abs)


def _solve_chunk(problem: PDEProblem, parts_out: str, chunk: int, start: int, stop: int,
                 seed: int, dtype: str, max_abs: float) -> int:
    """Worker entry point (top level, so ``spawn``/``forkserver`` can pickle it): solve, check, write."""
    indices = np.arange(start, stop)
    seeds = sample_seeds(seed, indices)
    arrays = check_solution(problem, _solve_located(problem, indices, seeds), indices, seeds, max_abs)
    PartStore(parts_out).write(chunk, {k: v.astype(dtype) for k, v in arrays.items()}, seeds)
    return stop - start


def _solve_located(problem: PDEProblem, indices: np.ndarray, seeds: np.ndarray) -> dict:
    """``solve_batch(seeds)``; a numerical failure (``ArithmeticError``) becomes a :class:`SampleError`.

    The failing sample is the one named by the exception's ``sample`` attribute (a batch index),
    else found by solving the samples one at a time (the contract makes them independent).
    """
    try:
        return problem.solve_batch(seeds)
    except ArithmeticError as exc:
        params = sciml.config_to_dict(problem.config)
        k = getattr(exc, "sample", None)
        if not isinstance(k, (int, np.integer)) or not 0 <= k < len(seeds):
            k = next((j for j in range(len(seeds)) if _fails(problem, seeds[j:j + 1])), None)
        if k is None:
            raise
        raise SampleError(int(indices[k]), int(seeds[k]), "(solver)", params,
                          f"{type(exc).__name__}: {exc}") from exc


def _fails(problem: PDEProblem, seeds: np.ndarray) -> bool:
    try:
        problem.solve_batch(seeds)
    except ArithmeticError:
        return True
    return False


def _units(problem: PDEProblem) -> dict:
    """Units from ``problem.units``, falling back on an ``attrs()["units"]`` mapping."""
    found = problem.attrs().get("units")
    return {**(found if isinstance(found, dict) else {}), **dict(problem.units)}


def _json_attr(value):
    return value if isinstance(value, (str, int, float, bool, np.integer, np.floating)) else json.dumps(value)


def dataset_attrs(problem: PDEProblem, seed: int, n: int, chunk_size: int, dtype: str) -> dict:
    """Global attributes of a generated store: the PDE, its parameters, solver, resolution, seed, version.

    Nested values (the config, name lists) are JSON strings so netCDF can hold them.
    """
    attrs = {key: _json_attr(value) for key, value in problem.attrs().items()}
    config = sciml.config_to_dict(problem.config)
    attrs.update(
        problem=problem.name, config=json.dumps(config, sort_keys=True), resolution=_json_attr(config.get("resolution")),
        seed=int(seed), n_samples=int(n), chunk_size=int(chunk_size), dtype=str(dtype),
        input_names=json.dumps(list(problem.input_names)), output_names=json.dumps(list(problem.output_names)),
        time_dim=problem.output_time_dim or "", sciml_grid=problem.grid().to_json(),
        sciml_version=sciml.__version__, sciml_store_version=STORE_VERSION,
    )
    return attrs


def _coordinates(problem: PDEProblem, n: int) -> dict:
    grid, units = problem.grid(), _units(problem)
    coords = {"sample": ("sample", np.arange(n), {"long_name": "sample index"})}
    for name, axis in zip(axis_names(grid.ndim), grid.axes):
        coords[name] = (name, axis.coordinates, {"units": units[name]} if name in units else {})
    times = problem.times()
    if times is not None:
        tdim = problem.output_time_dim or "t"
        coords[tdim] = (tdim, np.asarray(times, dtype=float), {"units": units[tdim]} if tdim in units else {})
    return coords


def _lazy_dataset(problem: PDEProblem, parts: PartStore, n: int, chunk_size: int, seed: int, dtype: str) -> xr.Dataset:
    """The final dataset as Dask arrays over the parts (read chunk by chunk while it is written)."""
    da = import_optional("dask.array")
    dask = import_optional("dask")
    spatial = axis_names(problem.grid().ndim)
    tdim = problem.output_time_dim or "t"
    bounds = [(c, c * chunk_size, min(n, (c + 1) * chunk_size)) for c in range(math.ceil(n / chunk_size))]

    def stacked(name, shape, kind):
        blocks = [da.from_delayed(dask.delayed(parts.read)(c, name), shape=(b - a, *shape), dtype=kind)
                  for c, a, b in bounds]
        return da.concatenate(blocks, axis=0)

    units = _units(problem)
    variables = {"seed": (("sample",), stacked("seed", (), np.int64), {"long_name": "per-sample solver seed"})}
    for role, names in (("input", problem.input_names), ("output", problem.output_names)):
        for name in names:
            shape = tuple(problem.grid().shape) if role == "input" else problem.output_shape(name)
            dims = ("sample", *spatial) if len(shape) == len(spatial) else ("sample", tdim, *spatial)
            attrs = {"role": role, **({"units": units[name]} if name in units else {})}
            variables[name] = (dims, stacked(name, shape, np.dtype(dtype)), attrs)
    return xr.Dataset(variables, coords=_coordinates(problem, n), attrs=dataset_attrs(problem, seed, n, chunk_size, dtype))


def _manifest(problem: PDEProblem, n: int, seed: int, chunk_size: int, dtype: str) -> dict:
    return {"problem": problem.name, "config": sciml.config_to_dict(problem.config), "n": n, "seed": seed,
            "chunk_size": chunk_size, "dtype": dtype, "store_version": STORE_VERSION}


def _part_shapes(problem: PDEProblem, n: int, chunk_size: int) -> dict[int, dict[str, tuple]]:
    """Expected array shapes of each chunk part (a part that differs is damaged and solved again)."""
    shapes = {}
    for chunk in range(math.ceil(n / chunk_size)):
        m = min(n, (chunk + 1) * chunk_size) - chunk * chunk_size
        shapes[chunk] = {"seed": (m,), **{name: (m, *problem.grid().shape) for name in problem.input_names},
                         **{name: (m, *problem.output_shape(name)) for name in problem.output_names}}
    return shapes


def _context(problem: PDEProblem):
    """``forkserver`` on Linux (its server imports sciml and the problem's module once, then forks
    workers that start in milliseconds), ``spawn`` elsewhere. The preload list only takes effect
    when this process starts its forkserver; it adds imports, never changes behaviour."""
    if not sys.platform.startswith("linux"):
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    module = type(problem).__module__
    context.set_forkserver_preload(["sciml.datasets"] + ([module] if module != "__main__" else []))
    return context


def _existing_matches(out: Path, manifest: dict) -> bool:
    from .store import open_dataset

    with open_dataset(out) as ds:
        attrs = dict(ds.attrs)
    return (attrs.get("problem") == manifest["problem"] and attrs.get("n_samples") == manifest["n"]
            and attrs.get("seed") == manifest["seed"] and attrs.get("dtype") == manifest["dtype"]
            and json.loads(attrs.get("config", "null")) == manifest["config"])


def generate(problem: PDEProblem | str, n: int, out, *, params: dict | None = None, seed: int = 0,
             workers: int = 1, chunk_size: int | None = None, dtype: str = "float32",
             max_abs: float = MAX_ABS, progress: bool = True, overwrite: bool = False) -> Path:
    """Solve ``n`` samples of ``problem`` and store them as an xarray Dataset (zarr or netCDF).

    Parameters
    ----------
    problem : PDEProblem or str
        A problem instance, or a registered name (see :func:`registered_problems`) built with ``params``.
    n : int
        Number of samples; sample ``i`` is solved from ``sample_seeds(seed, [i])``.
    out : path-like
        ``*.zarr`` (default format) or ``*.nc``.
    params : dict, optional
        Config fields of a named problem, e.g. ``{"resolution": 64}``.
    seed : int
        Seed of the run (non-negative).
    workers : int
        Worker processes; ``1`` solves in this process. Results do not depend on it.
    chunk_size : int, optional
        Samples per chunk (one ``solve_batch`` call, one stored chunk). Default: about ``n / 8``,
        at most ~32 MiB.
    dtype : str
        Storage dtype of the fields (solvers compute in float64).
    max_abs : float
        Blow-up bound: a sample with ``|value| > max_abs`` (or NaN/inf) raises :class:`SampleError`.
    progress : bool
        Show a tqdm progress bar.
    overwrite : bool
        Replace an existing ``out`` (and an unfinished generation with other settings).

    Returns
    -------
    Path
        ``out``. If ``out`` already holds this very dataset, it is returned without solving.

    Examples
    --------
    >>> generate("darcy", 100, "darcy64.zarr", params={"resolution": 64}, workers=2, seed=0)  # doctest: +SKIP
    PosixPath('darcy64.zarr')
    >>> xr.open_zarr("darcy64.zarr")["u"].attrs["role"]  # doctest: +SKIP
    'output'
    """
    problem = make_problem(problem, params)
    n = check_positive_int(n, "n")
    workers = check_positive_int(workers, "workers")
    seed = check_positive_int(seed, "seed", minimum=0)
    chunk_size = default_chunk_size(problem, n) if chunk_size is None else check_positive_int(chunk_size, "chunk_size")
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise ValueError(f"dtype: expected a floating-point dtype for the stored fields, got {np.dtype(dtype).name}")
    dtype = np.dtype(dtype).name
    out = Path(out)
    store_format(out)
    manifest = _manifest(problem, n, seed, chunk_size, dtype)
    parts = PartStore(out)
    if out.exists() and not overwrite:
        if not _existing_matches(out, manifest):
            raise FileExistsError(f"out: {str(out)!r} holds another dataset; pass overwrite=True to replace it")
        parts.remove()
        return out
    if overwrite:
        parts.remove()
    parts.start(manifest)
    n_chunks = math.ceil(n / chunk_size)
    done = set(parts.finished(n_chunks, _part_shapes(problem, n, chunk_size)))
    todo = [(c, c * chunk_size, min(n, (c + 1) * chunk_size)) for c in range(n_chunks) if c not in done]
    bar = tqdm(total=n, initial=n - sum(b - a for _, a, b in todo), unit="sample",
               desc=f"{problem.name} {out.name}", disable=not progress)
    with bar:
        _run_chunks(problem, out, todo, seed, dtype, max_abs, workers, bar)
    write_dataset(_lazy_dataset(problem, parts, n, chunk_size, seed, dtype), out, chunk_size, overwrite=overwrite)
    parts.remove()
    return out


def _run_chunks(problem, out: Path, todo: list, seed: int, dtype: str, max_abs: float, workers: int, bar) -> None:
    args = (str(out),)
    if workers == 1 or len(todo) <= 1:
        for chunk, start, stop in todo:
            bar.update(_solve_chunk(problem, *args, chunk, start, stop, seed, dtype, max_abs))
        return
    with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=_context(problem)) as pool:
        pending = {pool.submit(_solve_chunk, problem, *args, c, a, b, seed, dtype, max_abs) for c, a, b in todo}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in finished:
                if future.exception() is not None:
                    for other in pending:
                        other.cancel()
                    raise future.exception()
                bar.update(future.result())
