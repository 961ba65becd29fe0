"""neuraloperator's ``.pt`` files: a dict of tensors saved with ``torch.save``.

Layout followed (neuraloperator's small Darcy / Navier–Stokes / Burgers downloads, e.g.
``darcy_train_16.pt`` and ``darcy_test_32.pt``)::

    {"x": Tensor[N, *space],      # input functions (Darcy: the coefficient a)
     "y": Tensor[N, *space]}      # output functions (Darcy: the solution u)

Each file is one split (train and test are separate files). Tensors ``[N, C, *space]`` with
a channel axis are read with ``channels=True``. The files store no coordinates: the values are
placed on the node-centred uniform grid of the unit box (``Grid.uniform(shape)``, both ends
included, the grid sciml infers for plain tensors) unless ``grid=`` says otherwise.

Files are opened with ``torch.load(weights_only=True)``: only tensors and plain containers are
unpickled, never arbitrary objects.
"""

from __future__ import annotations

import os

import numpy as np
import torch

import sciml

from ..errors import DataFileError, check_finite_samples
from ._common import operator_dataset, unit_grid

__all__ = ["read"]


def _load(path) -> dict:
    if not os.path.exists(path):
        raise FileNotFoundError(f"path: no file at {os.fspath(path)!r}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, not a torch file, or a pickle that weights_only refuses
        raise DataFileError(path, f"not a readable PyTorch file (truncated or corrupt?): "
                                  f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
    if not isinstance(data, dict):
        raise DataFileError(path, f"expected a dict of tensors, got {type(data).__name__}")
    return data


def _tensor(data: dict, key: str, path, n: int | None) -> np.ndarray:
    if key not in data:
        raise DataFileError(path, f"missing key; the file has {sorted(map(str, data))}", key)
    value = data[key]
    if not isinstance(value, torch.Tensor):
        raise DataFileError(path, f"expected a tensor, got {type(value).__name__}", key)
    if value.ndim < 2:
        raise DataFileError(path, f"expected [N, *space] with at least one spatial axis, got shape {tuple(value.shape)}", key)
    if value.is_complex() or not (value.is_floating_point() or value.dtype in (torch.int32, torch.int64, torch.uint8)):
        raise DataFileError(path, f"expected real numbers, got {value.dtype}", key)
    return value[:n].double().numpy()


def read(path, *, input_key: str = "x", output_key: str = "y", channels: bool = False,
         grid: sciml.Grid | None = None, n: int | None = None,
         dtype: torch.dtype = torch.float32) -> sciml.OperatorDataset:
    """Read a neuraloperator ``.pt`` file into an :class:`sciml.OperatorDataset`.

    Parameters
    ----------
    path : path-like
    input_key, output_key : str
        Keys of the input and output tensors.
    channels : bool
        Tensors are ``[N, C, *space]`` (default: ``[N, *space]``, one channel).
    grid : Grid, optional
        Where the values live (default: node-centred uniform grid on the unit box).
    n : int, optional
        Read the first ``n`` samples only.
    dtype : torch.dtype

    Examples
    --------
    >>> train = read("darcy_train_16.pt")  # doctest: +SKIP
    >>> train.inputs.shape, train.inputs.on  # doctest: +SKIP
    ((1000, 1, 16, 16), Grid(shape=(16, 16), kind=node, bounds=((0.0, 1.0), (0.0, 1.0)), periodic=--))
    """
    data = _load(path)
    x = _tensor(data, input_key, path, n)
    y = _tensor(data, output_key, path, n)
    if len(y) != len(x):
        raise DataFileError(path, f"expected {len(x)} samples like {input_key!r}, got {len(y)}", output_key)
    if not channels:
        x, y = x[:, None], y[:, None]
    elif x.ndim < 3 or y.ndim < 3:
        raise DataFileError(path, f"channels=True expects [N, C, *space], got {x.shape} and {y.shape}", input_key)
    if x.shape[2:] != y.shape[2:]:
        raise DataFileError(path, f"expected the spatial shape {x.shape[2:]} of {input_key!r}, got {y.shape[2:]}",
                            output_key)
    for key, values in ((input_key, x), (output_key, y)):
        check_finite_samples(values, path, key)
    grid = grid if grid is not None else unit_grid(x.shape[2:])
    if tuple(grid.shape) != x.shape[2:]:
        raise ValueError(f"grid: expected shape {x.shape[2:]} to match the file, got {grid.shape}")
    names = ([input_key] if x.shape[1] == 1 else [f"{input_key}{i}" for i in range(x.shape[1])],
             [output_key] if y.shape[1] == 1 else [f"{output_key}{i}" for i in range(y.shape[1])])
    return operator_dataset(x, y, grid, path, names, {"format": "neuraloperator"}, dtype)

