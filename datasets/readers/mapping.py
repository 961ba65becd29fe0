"""Any netCDF, zarr or HDF5 file with named variables, read through an explicit mapping.

The mapping says which variables are inputs and outputs and what the dimensions mean::

    {"input": "a",                 # one name or a list: the input channels
     "output": ["u", "v"],         # the output channels
     "sample_dim": "sample",       # netCDF/zarr: name of the sample dimension (HDF5: axis 0)
     "spatial_dims": ["x", "y"],   # grid dimensions, in the grid's axis order
     "time_dim": "t",              # optional: outputs [sample, t, *space] are trajectories
     "periodic": [True, True],     # optional: per spatial dim (default False)
     "coords": {"x": "xc"}}        # HDF5 only: datasets holding the coordinates of each dim

netCDF and zarr are opened lazily through xarray (``lazy=True`` streams them with
:class:`~sciml.datasets.LazyOperatorDataset`); the dimensions of each variable may be in any
order and are matched by name. Plain HDF5 datasets have no dimension names: their axes are
``[sample, (time,) *space]`` in that order, named by the mapping. Spatial coordinates come from
the coordinate variables (netCDF/zarr) or ``coords`` (HDF5); without them the values are placed
on the node-centred uniform grid of the unit box.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import xarray as xr

import sciml

from ..errors import DataFileError
from ..lazy import LazyOperatorDataset, StoreLayout, read_pairs
from ..pairs import Pairing, SpatialMap
from ..store import NETCDF_SUFFIXES, open_dataset
from ._common import grid_from_coordinates, h5_dataset, open_h5, operator_dataset, unit_grid

__all__ = ["VariableMapping", "read"]

HDF5_SUFFIXES = (".h5", ".hdf5", ".he5", ".hdf")


@dataclass(frozen=True)
class VariableMapping:
    """Which variables of a file are inputs and outputs, and what the dimensions mean (see the module docstring)."""

    input: str | tuple[str, ...]
    output: str | tuple[str, ...]
    sample_dim: str = "sample"
    spatial_dims: tuple[str, ...] | None = None
    time_dim: str | None = None
    periodic: bool | tuple[bool, ...] = False
    coords: dict | None = None

    @classmethod
    def make(cls, mapping) -> VariableMapping:
        """From a ``VariableMapping`` or a dict (unknown keys are an error)."""
        if isinstance(mapping, cls):
            return mapping
        if not isinstance(mapping, dict):
            raise TypeError(f"mapping: expected a dict or VariableMapping, got {type(mapping).__name__}")
        for key in ("input", "output"):
            if key not in mapping:
                raise ValueError(f"mapping: expected an {key!r} entry naming variable(s), got keys {sorted(mapping)}")
        return sciml.config_from_dict(cls, dict(mapping))

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.input,) if isinstance(self.input, str) else tuple(self.input)

    @property
    def outputs(self) -> tuple[str, ...]:
        return (self.output,) if isinstance(self.output, str) else tuple(self.output)


def file_format(path) -> str:
    """``"zarr"``, ``"netcdf"`` or ``"hdf5"`` from the path."""
    suffix = Path(path).suffix.lower()
    if suffix in HDF5_SUFFIXES:
        return "hdf5"
    if suffix in NETCDF_SUFFIXES or suffix == ".cdf":
        return "netcdf"
    return "zarr"


def _spatial_dims(ds: xr.Dataset, mapping: VariableMapping, path) -> tuple[str, ...]:
    if mapping.spatial_dims is not None:
        return tuple(mapping.spatial_dims)
    name = mapping.inputs[0]
    if name not in ds.variables:
        raise DataFileError(path, f"missing variable; the file has {sorted(map(str, ds.data_vars))}", name)
    return tuple(d for d in ds[name].dims if d != mapping.sample_dim)


def _grid(ds: xr.Dataset, dims: tuple[str, ...], mapping: VariableMapping, path) -> sciml.Grid:
    missing = [d for d in dims if d not in ds.sizes]
    if missing:
        raise DataFileError(path, f"missing dimensions {missing}; the file has {dict(ds.sizes)}")
    periodic = mapping.periodic if not isinstance(mapping.periodic, bool) else (mapping.periodic,) * len(dims)
    if len(periodic) != len(dims):
        raise ValueError(f"mapping: expected {len(dims)} 'periodic' flags (one per spatial dim), got {len(periodic)}")
    coords = [ds[d].values if d in ds.coords else unit_grid([ds.sizes[d]], p).axes[0].coordinates
              for d, p in zip(dims, periodic)]                    # no coordinates: the unit interval
    return grid_from_coordinates(coords, periodic, path, dims)


def _hdf5_dataset(path, mapping: VariableMapping, n: int | None) -> xr.Dataset:
    """Plain HDF5 datasets as an in-memory xarray Dataset with the mapping's dimension names."""
    with open_h5(path) as handle:
        first = h5_dataset(handle, mapping.inputs[0], path, n=n)
        dims = tuple(mapping.spatial_dims or (f"dim_{i}" for i in range(first.ndim - 1)))
        variables = {}
        for name in (*mapping.inputs, *mapping.outputs):
            values = first if name == mapping.inputs[0] else h5_dataset(handle, name, path, n=n)
            timed = mapping.time_dim is not None and name in mapping.outputs and values.ndim == len(dims) + 2
            want = (mapping.sample_dim, *((mapping.time_dim,) if timed else ()), *dims)
            if values.ndim != len(want):
                raise DataFileError(path, f"expected {len(want)} axes {want}, got shape {values.shape}", name)
            variables[name] = (want, values)
        coords = {d: h5_dataset(handle, mapping.coords[d], path, ndim=1) for d in (mapping.coords or {})}
    unknown = sorted(set(coords) - set(dims))
    if unknown:
        raise ValueError(f"mapping: 'coords' names dimensions {unknown} that are not spatial dims {dims}")
    try:
        return xr.Dataset(variables, coords={d: (d, c) for d, c in coords.items()})
    except ValueError as exc:
        raise DataFileError(path, f"variables disagree on dimension sizes ({exc})") from exc


def read(path, mapping, *, format: str | None = None, pairs: str = "final", window: int = 1,
         n: int | None = None, lazy: bool = False, dtype: torch.dtype = torch.float32):
    """Read input/output pairs from a netCDF, zarr or HDF5 file described by ``mapping``.

    Parameters
    ----------
    path : path-like
    mapping : dict or VariableMapping
        See the module docstring.
    format : {"netcdf", "zarr", "hdf5"}, optional
        Default: from the suffix (``.nc``, ``.zarr``, ``.h5``/``.hdf5``).
    pairs, window :
        :class:`~sciml.datasets.Pairing` for outputs with a ``time_dim``.
    n : int, optional
        First ``n`` samples.
    lazy : bool
        netCDF/zarr only: stream with a :class:`LazyOperatorDataset`.
    dtype : torch.dtype

    Returns
    -------
    OperatorDataset or LazyOperatorDataset

    Examples
    --------
    >>> data = read("ocean.nc", {"input": "forcing", "output": "sst", "sample_dim": "time",  # doctest: +SKIP
    ...                          "spatial_dims": ["lat", "lon"]})
    """
    mapping = VariableMapping.make(mapping)
    pairing = Pairing(pairs, window)
    fmt = format or file_format(path)
    if fmt not in ("netcdf", "zarr", "hdf5"):
        raise ValueError(f"format: expected 'netcdf', 'zarr' or 'hdf5', got {fmt!r}")
    if fmt == "hdf5":
        if lazy:
            raise ValueError("lazy: plain HDF5 files are read eagerly; convert to zarr for streaming")
        ds = _hdf5_dataset(path, mapping, n)
    else:
        ds = open_dataset(path)
    with ds:
        dims = _spatial_dims(ds, mapping, path)
        grid = _grid(ds, dims, mapping, path)
        layout = StoreLayout(mapping.inputs, mapping.outputs, dims, mapping.sample_dim, mapping.time_dim)
        if mapping.sample_dim not in ds.sizes:
            raise DataFileError(path, f"missing sample dimension {mapping.sample_dim!r}; the file has {dict(ds.sizes)}")
        total = int(ds.sizes[mapping.sample_dim])
        count = total if n is None else min(int(n), total)
        times = ds[mapping.time_dim].values if mapping.time_dim and mapping.time_dim in ds.coords else None
        names = pairing.channel_names(mapping.inputs, mapping.outputs, times)
        attrs = {"format": fmt, "source": os.fspath(path)}
        if lazy:
            return LazyOperatorDataset(path, layout, grid, n=count, pairing=pairing, dtype=dtype,
                                       channel_names=names, attrs=attrs)
        a, u = read_pairs(ds, layout, pairing, SpatialMap(grid), 0, count, path)
    return operator_dataset(a, u, grid, path, names, attrs, dtype)

