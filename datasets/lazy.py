"""Operator-learning pairs streamed from a zarr/netCDF store larger than memory.

:class:`LazyOperatorDataset` is a map-style ``torch.utils.data.Dataset`` with the item and
:meth:`collate` contract of :class:`sciml.OperatorDataset`: items are ``(a_i, u_i)`` tensors
``[C, *space]`` and ``collate`` puts a list of them back on the grid as two
:class:`sciml.Sampled`. Values are read through xarray + Dask one block of consecutive samples
at a time (the store's own chunking along ``sample`` by default), checked for finiteness, paired
(:class:`~sciml.datasets.pairs.Pairing`), moved to the target resolution
(:class:`~sciml.datasets.pairs.SpatialMap`) and kept in a small LRU cache, so a sequential pass
(or :meth:`LazyOperatorDataset.chunk_sampler`, which shuffles blocks and then items within a
block) reads each block once per epoch.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

import sciml

from .errors import DataFileError, check_finite_samples
from .pairs import Pairing, SpatialMap
from .store import open_dataset

__all__ = ["LazyOperatorDataset", "StoreLayout", "read_pairs"]


@dataclass(frozen=True)
class StoreLayout:
    """Which variables of a store are inputs and outputs, and what their dimensions mean.

    Parameters
    ----------
    inputs, outputs : tuple of str
        Variable names; inputs have dims ``(sample_dim, *spatial_dims)``, outputs the same or
        ``(sample_dim, time_dim, *spatial_dims)`` (any order in the store).
    spatial_dims : tuple of str
        Grid dimensions, in the order of the grid's axes.
    sample_dim : str
    time_dim : str, optional
        Time dimension of trajectory outputs.
    """

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    spatial_dims: tuple[str, ...]
    sample_dim: str = "sample"
    time_dim: str | None = None

    def expected_dims(self, name: str, dims: Sequence[str]) -> tuple[str, ...]:
        """The dims ``name`` must have, in reading order (checks membership, not order)."""
        space = tuple(self.spatial_dims)
        if name in self.outputs and self.time_dim is not None and self.time_dim in dims:
            return (self.sample_dim, self.time_dim, *space)
        return (self.sample_dim, *space)


def _variable(ds, layout: StoreLayout, name: str, path):
    if name not in ds.variables:
        raise DataFileError(path, f"missing variable; the store has {sorted(map(str, ds.data_vars))}", name)
    var = ds[name]
    want = layout.expected_dims(name, var.dims)
    if set(var.dims) != set(want) or len(var.dims) != len(want):
        raise DataFileError(path, f"expected dims {want} (any order), got {tuple(var.dims)}", name)
    return var.transpose(*want)


def read_pairs(ds, layout: StoreLayout, pairing: Pairing, spatial: SpatialMap, start: int, stop: int,
               path) -> tuple[np.ndarray, np.ndarray]:
    """Samples ``[start, stop)`` of ``ds`` as pairs ``a [m, C_in, *target]``, ``u [m, C_out, *target]``.

    Every variable is checked for finiteness; a :class:`DataFileError` names the file, the
    variable and the sample index.
    """
    blocks = {}
    for name in (*layout.inputs, *layout.outputs):
        var = _variable(ds, layout, name, path)
        try:
            values = np.asarray(var.isel({layout.sample_dim: slice(start, stop)}).values)
        except Exception as exc:
            raise DataFileError(path, f"unreadable samples [{start}, {stop}) ({type(exc).__name__}: {exc})",
                                name) from exc
        check_finite_samples(values, path, name, offset=start)
        blocks[name] = values
    has_time = layout.time_dim is not None and any(
        blocks[name].ndim == len(layout.spatial_dims) + 2 for name in layout.outputs)
    a, u = pairing.apply([blocks[n] for n in layout.inputs], [blocks[n] for n in layout.outputs], has_time)
    return spatial(a), spatial(u)


class LazyOperatorDataset(Dataset):
    """Input/output pairs read block by block from a zarr or netCDF store.

    Parameters
    ----------
    path : path-like
        The store (see :func:`sciml.datasets.open_dataset`).
    layout : StoreLayout
        Variables and dimensions.
    grid : Grid
        The grid of the stored values.
    n : int, optional
        Use the first ``n`` samples (default: all).
    pairing : Pairing
        How trajectories become pairs (ignored for stationary data).
    target_grid : Grid, optional
        Resolution of the pairs (default: ``grid``).
    dtype : torch.dtype
        Dtype of the returned tensors.
    block_size : int, optional
        Samples read at once (default: the store's chunk along the sample dimension).
    channel_names : (list, list), optional
        Names of the input and target channels.
    cached_blocks : int
        Blocks kept in memory.

    Examples
    --------
    >>> data = load("darcy", resolution=64, n_train=10_000, n_test=100, lazy=True).train  # doctest: +SKIP
    >>> loader = DataLoader(data, batch_size=32, sampler=data.chunk_sampler(seed=0), collate_fn=data.collate)  # doctest: +SKIP
    >>> a, u = next(iter(loader))          # two Sampled on the 64x64 grid  # doctest: +SKIP
    """

    def __init__(self, path, layout: StoreLayout, grid: sciml.Grid, *, n: int | None = None,
                 pairing: Pairing = Pairing(), target_grid: sciml.Grid | None = None,  # noqa: B008 (frozen dataclass)
                 dtype: torch.dtype = torch.float32, block_size: int | None = None,
                 channel_names: tuple[list, list] | None = None, cached_blocks: int = 2, attrs: dict | None = None):
        self.path = os.fspath(path)
        self.layout, self.pairing, self.dtype = layout, pairing, dtype
        self.spatial = SpatialMap(grid, target_grid)
        self.grid = self.spatial.target
        self.channel_names = channel_names or (list(layout.inputs), list(layout.outputs))
        self.attrs = dict(attrs or {})
        self.cached_blocks = max(1, int(cached_blocks))
        self._ds = None
        self._cache: OrderedDict = OrderedDict()
        ds = self.dataset
        total = int(ds.sizes[layout.sample_dim]) if layout.sample_dim in ds.sizes else 0
        if n is not None and not 0 < n <= total:
            raise ValueError(f"n: expected 1 <= n <= {total} (samples in {self.path!r}), got {n}")
        self.n_samples = total if n is None else int(n)
        n_times = int(ds.sizes[layout.time_dim]) if layout.time_dim and layout.time_dim in ds.sizes else None
        self.pairs_per_sample = pairing.pairs_per_sample(n_times) if n_times else pairing.pairs_per_sample(None)
        self.block_size = int(block_size or self._store_block())

    # -- store access (reopened in each process: DataLoader workers pickle the dataset) --------
    @property
    def dataset(self):
        if self._ds is None:
            self._ds = open_dataset(self.path)
        return self._ds

    def __getstate__(self):
        state = dict(self.__dict__)
        state.update(_ds=None, _cache=OrderedDict())
        return state

    def _store_block(self) -> int:
        var = self.dataset.get(self.layout.outputs[0])
        chunks = getattr(var, "chunksizes", None) or {}
        sizes = chunks.get(self.layout.sample_dim)
        return int(sizes[0]) if sizes else max(1, self.n_samples)

    # -- Dataset protocol ---------------------------------------------------------------------
    def __len__(self) -> int:
        return self.n_samples * self.pairs_per_sample

    def __repr__(self) -> str:
        return (f"LazyOperatorDataset(n={len(self)}, path={self.path!r}, grid={self.grid!r}, "
                f"block_size={self.block_size})")

    def block(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Pairs of block ``index`` (samples ``[index * block_size, ...)``), cached."""
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        start = index * self.block_size
        stop = min(self.n_samples, start + self.block_size)
        a, u = read_pairs(self.dataset, self.layout, self.pairing, self.spatial, start, stop, self.path)
        pair = torch.from_numpy(a).to(self.dtype), torch.from_numpy(u).to(self.dtype)
        self._cache[index] = pair
        while len(self._cache) > self.cached_blocks:
            self._cache.popitem(last=False)
        return pair

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        index = int(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index: expected an item in [0, {len(self)}), got {index}")
        per_block = self.block_size * self.pairs_per_sample
        a, u = self.block(index // per_block)
        return a[index % per_block], u[index % per_block]

    def _sampled(self, values: torch.Tensor, names) -> sciml.Sampled:
        return sciml.Sampled(values, self.grid, channel_names=names, attrs=self.attrs, validate=False)

    def collate(self, items: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> tuple[sciml.Sampled, sciml.Sampled]:
        """Stack items into a batch of ``(inputs, targets)`` on the grid, like :meth:`OperatorDataset.collate`."""
        a = torch.stack([item[0] for item in items])
        u = torch.stack([item[1] for item in items])
        return self._sampled(a, self.channel_names[0]), self._sampled(u, self.channel_names[1])

    def load(self) -> sciml.OperatorDataset:
        """Everything in memory as a :class:`sciml.OperatorDataset`."""
        blocks = [self.block(i) for i in range(self.n_blocks)]
        a = torch.cat([b[0] for b in blocks])
        u = torch.cat([b[1] for b in blocks])
        return sciml.OperatorDataset(self._sampled(a, self.channel_names[0]), self._sampled(u, self.channel_names[1]))

    @property
    def n_blocks(self) -> int:
        return -(-self.n_samples // self.block_size)

    def chunk_sampler(self, shuffle: bool = True, seed: int = 0) -> BlockShuffleSampler:
        """A sampler that visits blocks in random order and items randomly within each block."""
        return BlockShuffleSampler(len(self), self.block_size * self.pairs_per_sample, shuffle, seed)


class BlockShuffleSampler(Sampler):
    """Indices ``0..n-1`` shuffled block-wise: each block is read once per epoch.

    The permutation changes every epoch (``seed + epoch``) and is the same in every process.
    """

    def __init__(self, n: int, block: int, shuffle: bool = True, seed: int = 0):
        self.n, self.block, self.shuffle, self.seed, self.epoch = n, max(1, block), shuffle, seed, 0

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng(self.seed + self.epoch)
        self.epoch += 1
        starts = np.arange(0, self.n, self.block)
        if self.shuffle:
            starts = rng.permutation(starts)
        for start in starts:
            items = np.arange(start, min(self.n, start + self.block))
            yield from (rng.permutation(items) if self.shuffle else items).tolist()
