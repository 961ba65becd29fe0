"""The Well's HDF5 files (one file per set of simulation parameters).

Layout followed (The Well's "data format" specification; ``@`` marks an attribute; ``B``
trajectories, ``T`` steps, spatial sizes ``W x H``, ``D`` spatial dims)::

    /  @dataset_name  @grid_type ("cartesian")  @n_spatial_dims  @n_trajectories
       @simulation_parameters [names]  @<param> value
    dimensions/        @spatial_dims ["x", "y"]
        time           float[T]
        x, y           float[W], float[H]            @sample_varying @time_varying
    boundary_conditions/
        <name>/        @associated_dims ["x"]  @bc_type ("periodic" | "wall" | "open", any case)
            mask bool[W], values
    scalars/           @field_names
    t0_fields/         @field_names: scalar fields   float[B, T, W, H]
    t1_fields/         @field_names: vector fields   float[B, T, W, H, D]
    t2_fields/         @field_names: tensor fields   float[B, T, W, H, D, D]
        each field:    @sample_varying @time_varying @dim_varying [bool per spatial dim]

A field that is not ``sample_varying`` has no ``B`` axis, one that is not ``time_varying`` no
``T`` axis, and a spatial axis whose ``dim_varying`` is false is absent; they are broadcast.
Time-varying fields form the state (components as channels: ``velocity_x``, ``velocity_y``,
``stress_xy``, ...); time-constant fields (coefficients) are appended to every input. Pairs:
``steps`` (default, The Well's next-step task), ``final`` or ``trajectory``, see
:class:`~sciml.datasets.Pairing`. Axes are periodic where a boundary condition of type
``periodic`` names them. Only ``grid_type = "cartesian"`` is read.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

import sciml

from ..errors import DataFileError, check_finite_samples
from ..pairs import Pairing
from ._common import grid_from_coordinates, h5_dataset, open_h5, operator_dataset, trajectory_pairs

__all__ = ["is_the_well", "read"]

FIELD_GROUPS = ("t0_fields", "t1_fields", "t2_fields")


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _names(values) -> list[str]:
    if values is None:
        return []
    if isinstance(values, (str, bytes)):
        return [_text(values)]
    return [_text(v) for v in np.atleast_1d(values)]


def is_the_well(handle) -> bool:
    """Whether an open ``h5py.File`` follows The Well's layout."""
    return "dimensions" in handle and any(g in handle for g in FIELD_GROUPS)


def _spatial(handle, path) -> tuple[list[str], list[np.ndarray], list[bool]]:
    if "dimensions" not in handle:
        raise DataFileError(path, "missing group; The Well files have 'dimensions'", "dimensions")
    dims = _names(handle["dimensions"].attrs.get("spatial_dims"))
    n_dims = int(handle.attrs.get("n_spatial_dims", len(dims)))
    if len(dims) != n_dims or not dims:
        raise DataFileError(path, f"expected {n_dims} names in @spatial_dims, got {dims}", "dimensions")
    coords = [h5_dataset(handle, f"dimensions/{d}", path, ndim=1) for d in dims]
    periodic = [False] * len(dims)
    for bc in handle.get("boundary_conditions", {}).values():
        if _text(bc.attrs.get("bc_type", "")).lower() == "periodic":
            for d in _names(bc.attrs.get("associated_dims")):
                if d in dims:
                    periodic[dims.index(d)] = True
    return dims, coords, periodic


def _field(handle, group: str, name: str, order: int, dims, sizes, n_traj: int, n_times: int, n, path):
    """Field ``group/name`` as ``[N, T or 1, components, *space]``."""
    key = f"{group}/{name}"
    attrs = handle[key].attrs if key in handle else {}
    sample_varying = bool(attrs.get("sample_varying", True))
    time_varying = bool(attrs.get("time_varying", True))
    dim_varying = [bool(v) for v in np.atleast_1d(attrs.get("dim_varying", [True] * len(dims)))]
    if len(dim_varying) != len(dims):
        raise DataFileError(path, f"expected {len(dims)} @dim_varying flags, got {dim_varying}", key)
    lead = ([n_traj] if sample_varying else []) + ([n_times] if time_varying else [])
    space = [s for s, v in zip(sizes, dim_varying) if v]
    want = tuple(lead + space + [len(dims)] * order)
    values = h5_dataset(handle, key, path, n=n if sample_varying else None).astype(float)
    full = want if not sample_varying else (min(n_traj, n or n_traj), *want[1:])
    if values.shape != full:
        raise DataFileError(path, f"expected shape {full} (trajectories, times, space, components), got {values.shape}", key)
    if sample_varying:
        check_finite_samples(values, path, key)
    elif not np.all(np.isfinite(values)):
        raise DataFileError(path, "expected finite values (shared by all trajectories)", key)
    n_read = min(n_traj, n or n_traj)
    values = values if sample_varying else np.broadcast_to(values[None], (n_read, *values.shape))
    values = values if time_varying else values[:, None]
    for axis, varying in enumerate(dim_varying):                                 # broadcast missing axes
        if not varying:
            values = np.expand_dims(values, 2 + axis)
    values = np.broadcast_to(values, values.shape[:2] + tuple(sizes) + values.shape[2 + len(dims):])
    n_comp = len(dims) ** order
    values = values.reshape(*values.shape[:2 + len(dims)], n_comp)
    labels = [f"{name}_{''.join(dims[i] for i in c)}" if order else name for c in np.ndindex(*([len(dims)] * order))]
    return np.moveaxis(values, -1, 2), labels, time_varying


def read(path, *, fields: Sequence[str] | None = None, pairs: str = "steps", window: int = 1,
         n: int | None = None, dtype: torch.dtype = torch.float32) -> sciml.OperatorDataset:
    """Read a file of The Well into an :class:`sciml.OperatorDataset`.

    Parameters
    ----------
    path : path-like
    fields : sequence of str, optional
        Field names to use (from ``t0_fields``/``t1_fields``/``t2_fields``); default all.
    pairs, window :
        :class:`~sciml.datasets.Pairing` of the trajectories (default: one-step pairs).
    n : int, optional
        Read the first ``n`` trajectories only.
    dtype : torch.dtype

    Examples
    --------
    >>> data = read("shear_flow_Reynolds_1e4_Schmidt_1e0.hdf5", fields=["tracer", "velocity"], n=4)  # doctest: +SKIP
    >>> data.inputs.channel_names  # doctest: +SKIP
    ('tracer', 'velocity_x', 'velocity_y')
    """
    pairing = Pairing(pairs, window)
    with open_h5(path) as handle:
        grid_type = _text(handle.attrs.get("grid_type", "cartesian"))
        dataset_name = _text(handle.attrs.get("dataset_name", ""))
        if grid_type.lower() != "cartesian":
            raise DataFileError(path, f"@grid_type: only 'cartesian' grids are read, got {grid_type!r}")
        dims, coords, periodic = _spatial(handle, path)
        grid = grid_from_coordinates(coords, periodic, path, [f"dimensions/{d}" for d in dims])
        times = h5_dataset(handle, "dimensions/time", path, ndim=1)
        n_traj = int(handle.attrs.get("n_trajectories", 0)) or None
        available = {name: (group, order) for order, group in enumerate(FIELD_GROUPS) if group in handle
                     for name in (_names(handle[group].attrs.get("field_names")) or list(handle[group].keys()))}
        chosen = list(available) if fields is None else list(fields)
        missing = [f for f in chosen if f not in available]
        if missing or not chosen:
            raise DataFileError(path, f"missing fields {missing}; the file has {sorted(available)}",
                                missing[0] if missing else None)
        if n_traj is None:
            group, _ = available[chosen[0]]
            n_traj = handle[f"{group}/{chosen[0]}"].shape[0]
        states, static, state_names, static_names = [], [], [], []
        for name in chosen:
            group, order = available[name]
            values, labels, varying = _field(handle, group, name, order, dims, grid.shape, n_traj, len(times), n, path)
            (states if varying else static).append(values)
            (state_names if varying else static_names).extend(labels)
    if not states:
        raise DataFileError(path, f"the chosen fields {chosen} do not vary in time; nothing to pair")
    states = np.concatenate(states, axis=2)
    static = np.concatenate([s[:, 0] for s in static], axis=1) if static else None
    a, u = trajectory_pairs(states, pairing, static)
    if pairing.mode == "steps":
        names = pairing.channel_names(state_names, state_names, times)
    elif pairing.mode == "trajectory":
        names = list(state_names), [f"{s}@t={t:g}" for t in times[1:] for s in state_names]
    else:
        names = list(state_names), list(state_names)
    names = (list(names[0]) + static_names, list(names[1]))
    attrs = {"format": "the_well", "dataset_name": dataset_name}
    return operator_dataset(a, u, grid, path, names, attrs, dtype)
