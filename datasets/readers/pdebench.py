"""PDEBench HDF5 files (``.h5`` / ``.hdf5``), in the four layouts of its data release.

Layouts followed (from PDEBench's data documentation; ``N`` samples, ``T`` stored times)::

    "tensor"   1D time-dependent (Advection, Burgers, 1D Reaction-Diffusion):
               tensor        float[N, T, X]
               x-coordinate  float[X]            cell centres, e.g. (i + 1/2) / X on [0, 1]
               t-coordinate  float[T + 1]        one more entry than stored times (the first T are used)
    "darcy"    2D Darcy flow (2D_DarcyFlow_beta*.hdf5):
               nu            float[N, X, Y]      coefficient (input)
               tensor        float[N, 1, X, Y]   solution (output)
               x-coordinate, y-coordinate
    "cfd"      compressible Navier-Stokes (1D/2D/3D_CFD_*.hdf5):
               density, pressure, Vx[, Vy[, Vz]]   float[N, T, *space]
               x-coordinate[, y-coordinate[, z-coordinate]], t-coordinate
    "groups"   one group per sample (2D diffusion-reaction, shallow water, 1D diffusion-sorption):
               0000/data     float[T, *space, C]
               0000/grid/x[, y], 0000/grid/t
               0001/...

Trajectories become pairs by :class:`~sciml.datasets.Pairing` (``final``: the first stored state
-> the last; ``trajectory``: first -> all later ones; ``steps``: sliding windows). Coordinates
become a uniform cell- or node-centred grid when they are equispaced (see
``grid_from_coordinates``). Periodicity is not stored in the files: by default the "tensor"
layout is periodic (PDEBench's 1D advection/Burgers/reaction-diffusion are), Darcy and the
grouped layouts are not, and CFD files are periodic when their name contains ``periodic``
(PDEBench names them so); pass ``periodic=`` to override.
"""

from __future__ import annotations

import os

import numpy as np
import torch

import sciml

from ..errors import DataFileError, check_finite_samples
from ..pairs import Pairing
from ._common import grid_from_coordinates, h5_dataset, open_h5, operator_dataset, trajectory_pairs

__all__ = ["LAYOUTS", "detect_layout", "read"]

LAYOUTS = ("tensor", "darcy", "cfd", "groups")
CFD_FIELDS = ("density", "pressure", "Vx", "Vy", "Vz")
AXES = ("x", "y", "z")


def detect_layout(handle) -> str | None:
    """Which PDEBench layout an open ``h5py.File`` follows, ``None`` if none."""
    keys = set(handle.keys())
    if {"nu", "tensor"} <= keys:
        return "darcy"
    if "tensor" in keys:
        return "tensor"
    if {"density", "Vx"} <= keys:
        return "cfd"
    first = sorted(keys)[0] if keys else None
    if first is not None and hasattr(handle[first], "keys") and "data" in handle[first]:
        return "groups"
    return None


def _coordinates(handle, path, ndim: int, prefix: str = "", suffix: str = "-coordinate"):
    return [h5_dataset(handle, f"{prefix}{axis}{suffix}", path, ndim=1) for axis in AXES[:ndim]]


def _grid(coords, periodic: bool, path, shape, names) -> sciml.Grid:
    got = tuple(len(c) for c in coords)
    if got != tuple(shape):
        raise DataFileError(path, f"expected coordinates of lengths {tuple(shape)} (the data's spatial shape), "
                                  f"got {got}", names[0])
    return grid_from_coordinates(coords, periodic, path, names)


def _read_tensor(handle, path, pairing, periodic, n):
    u = h5_dataset(handle, "tensor", path, ndim=(3, 4, 5), n=n).astype(float)       # [N, T, *space]
    check_finite_samples(u, path, "tensor")
    coords = _coordinates(handle, path, u.ndim - 2)
    grid = _grid(coords, True if periodic is None else periodic, path, u.shape[2:],
                 [f"{a}-coordinate" for a in AXES[:u.ndim - 2]])
    a, v = trajectory_pairs(u[:, :, None], pairing)
    return a, v, grid, _state_names(["u"], pairing, None if pairing.mode == "final" else _times(handle, path, u))


def _times(handle, path, u) -> np.ndarray | None:
    if "t-coordinate" not in handle:
        return np.arange(u.shape[1], dtype=float)
    t = h5_dataset(handle, "t-coordinate", path, ndim=1)
    return t[:u.shape[1]] if len(t) >= u.shape[1] else np.arange(u.shape[1], dtype=float)


def _read_darcy(handle, path, pairing, periodic, n):
    if pairing.mode != "final":
        raise ValueError(f"pairs: Darcy data are stationary; expected 'final', got {pairing.mode!r}")
    nu = h5_dataset(handle, "nu", path, ndim=3, n=n).astype(float)
    u = h5_dataset(handle, "tensor", path, ndim=4, n=n).astype(float)
    if u.shape[0] != nu.shape[0]:
        raise DataFileError(path, f"expected {nu.shape[0]} samples like 'nu', got {u.shape[0]}", "tensor")
    if u.shape[1] != 1 or u.shape[2:] != nu.shape[1:]:
        raise DataFileError(path, f"expected shape [N, 1, {', '.join(map(str, nu.shape[1:]))}], got {u.shape}", "tensor")
    check_finite_samples(nu, path, "nu")
    check_finite_samples(u, path, "tensor")
    grid = _grid(_coordinates(handle, path, 2), bool(periodic), path, nu.shape[1:], ["x-coordinate", "y-coordinate"])
    return nu[:, None], u, grid, (["nu"], ["u"])


def _read_cfd(handle, path, pairing, periodic, n):
    names = [f for f in CFD_FIELDS if f in handle]
    fields = [h5_dataset(handle, f, path, ndim=(3, 4, 5), n=n).astype(float) for f in names]
    for name, values in zip(names, fields):
        if values.shape != fields[0].shape:
            raise DataFileError(path, f"expected shape {fields[0].shape} like {names[0]!r}, got {values.shape}", name)
        check_finite_samples(values, path, name)
    states = np.stack(fields, axis=2)                                                # [N, T, C, *space]
    if periodic is None:
        periodic = "periodic" in os.path.basename(path).lower()
    ndim = states.ndim - 3
    grid = _grid(_coordinates(handle, path, ndim), periodic, path, states.shape[3:],
                 [f"{a}-coordinate" for a in AXES[:ndim]])
    a, u = trajectory_pairs(states, pairing)
    times = None if pairing.mode == "final" else _times(handle, path, fields[0])
    return a, u, grid, _state_names(names, pairing, times)


def _state_names(names, pairing, times):
    if pairing.mode == "trajectory":
        return list(names), [f"{name}@t={t:g}" for t in times[1:] for name in names]
    return pairing.channel_names(names, names, None if pairing.mode == "final" else times)


def _read_groups(handle, path, pairing, periodic, n):
    keys = sorted(k for k in handle if hasattr(handle[k], "keys"))[:n]
    states, grid_key = [], None
    for key in keys:
        data = h5_dataset(handle, f"{key}/data", path)
        if data.ndim < 3:
            raise DataFileError(path, f"expected [T, *space, C], got shape {data.shape}", f"{key}/data")
        if states and data.shape != states[0].shape:
            raise DataFileError(path, f"expected shape {states[0].shape} like the first sample, got {data.shape}",
                                f"{key}/data")
        check_finite_samples(data[None], path, f"{key}/data", offset=len(states))
        states.append(data)
        grid_key = grid_key or key
    if not states:
        raise DataFileError(path, "no sample groups with a 'data' dataset")
    values = np.moveaxis(np.stack(states).astype(float), -1, 2)                      # [N, T, C, *space]
    ndim = values.ndim - 3
    coords = _coordinates(handle, path, ndim, prefix=f"{grid_key}/grid/", suffix="")
    grid = _grid(coords, bool(periodic), path, values.shape[3:], [f"{grid_key}/grid/{a}" for a in AXES[:ndim]])
    a, u = trajectory_pairs(values, pairing)
    channels = [f"c{i}" for i in range(values.shape[2])]
    return a, u, grid, _state_names(channels, pairing, None if pairing.mode == "final" else np.arange(values.shape[1]))


_READERS = {"tensor": _read_tensor, "darcy": _read_darcy, "cfd": _read_cfd, "groups": _read_groups}


def read(path, *, layout: str | None = None, pairs: str = "final", window: int = 1,
         periodic: bool | None = None, n: int | None = None,
         dtype: torch.dtype = torch.float32) -> sciml.OperatorDataset:
    """Read a PDEBench HDF5 file into an :class:`sciml.OperatorDataset`.

    Parameters
    ----------
    path : path-like
    layout : {"tensor", "darcy", "cfd", "groups"}, optional
        Default: detected from the datasets in the file.
    pairs, window :
        How trajectories become pairs (:class:`~sciml.datasets.Pairing`); Darcy needs ``"final"``.
    periodic : bool, optional
        Override the layout's default periodicity (see the module docstring).
    n : int, optional
        Read the first ``n`` samples only (PDEBench files hold up to 10 000).
    dtype : torch.dtype

    Examples
    --------
    >>> data = read("1D_Burgers_Sols_Nu0.001.hdf5", n=1000)        # u(t_0) -> u(t_end)  # doctest: +SKIP
    >>> steps = read("1D_Burgers_Sols_Nu0.001.hdf5", n=100, pairs="steps", window=10)  # doctest: +SKIP
    """
    pairing = Pairing(pairs, window)
    with open_h5(path) as handle:
        found = layout or detect_layout(handle)
        if found not in LAYOUTS:
            raise DataFileError(path, f"not a PDEBench layout {LAYOUTS}: found datasets {sorted(handle.keys())[:8]}"
                                if layout is None else f"layout: expected one of {LAYOUTS}, got {layout!r}")
        a, u, grid, names = _READERS[found](handle, path, pairing, periodic, n)
    return operator_dataset(a, u, grid, path, names, {"format": f"pdebench/{found}"}, dtype)
