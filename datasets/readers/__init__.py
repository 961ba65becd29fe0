"""Readers of community data formats into :class:`sciml.OperatorDataset` pairs.

One module per format, each exporting ``read(path, **options)`` and registered once here:

=================  ==========================================================  =================
format             files                                                       module
=================  ==========================================================  =================
``neuraloperator`` ``.pt`` dict of tensors ``{"x": [N, *space], "y": ...}``    :mod:`.neuraloperator`
``pdebench``       PDEBench HDF5 (1D ``tensor``, Darcy, CFD, per-sample groups) :mod:`.pdebench`
``the_well``       The Well HDF5 (``t0/t1/t2_fields``, ``dimensions``, ...)     :mod:`.the_well`
``mapping``        any netCDF / zarr / HDF5 with a variable mapping            :mod:`.mapping`
=================  ==========================================================  =================

:func:`read` picks the format from the file (``.pt``; HDF5 files by their groups and datasets;
netCDF/zarr need ``mapping=``); :func:`read_splits` returns train/test splits like
:func:`sciml.datasets.load`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import DataFileError
from . import mapping, neuraloperator, pdebench, the_well
from ._common import open_h5

__all__ = ["detect_format", "read", "read_splits", "register_reader", "registered_readers"]

_READERS: dict[str, Callable] = {}


def register_reader(name: str, read: Callable) -> None:
    """Make ``read(path, **options)`` available as ``format=name``."""
    if name in _READERS and _READERS[name] is not read:
        raise ValueError(f"name: a reader is already registered as {name!r}")
    _READERS[name] = read


def registered_readers() -> dict[str, Callable]:
    return dict(_READERS)


register_reader("neuraloperator", neuraloperator.read)
register_reader("pdebench", pdebench.read)
register_reader("the_well", the_well.read)
register_reader("mapping", mapping.read)


def detect_format(path) -> str:
    """The reader for ``path``: by suffix for ``.pt``/``.pth``, by content for HDF5, ``mapping`` otherwise.

    Examples
    --------
    >>> detect_format("darcy_train_16.pt")
    'neuraloperator'
    """
    path = Path(path)
    if path.suffix.lower() in (".pt", ".pth"):
        return "neuraloperator"
    if path.suffix.lower() in mapping.HDF5_SUFFIXES:
        with open_h5(path) as handle:
            if the_well.is_the_well(handle):
                return "the_well"
            if pdebench.detect_layout(handle) is not None:
                return "pdebench"
    return "mapping"


def read(path, format: str | None = None, **options):
    """Read ``path`` with the reader ``format`` (detected when omitted); ``options`` go to that reader.

    Examples
    --------
    >>> data = read("darcy_train_16.pt")  # doctest: +SKIP
    >>> data = read("2D_DarcyFlow_beta1.0_Train.hdf5", n=1000)  # doctest: +SKIP
    >>> data = read("fields.nc", mapping={"input": "a", "output": "u"})  # doctest: +SKIP
    """
    name = format or detect_format(path)
    if name not in _READERS:
        raise ValueError(f"format: expected one of {sorted(_READERS)}, got {name!r}")
    if name == "mapping" and "mapping" not in options:
        raise DataFileError(path, "no known layout; pass mapping={'input': ..., 'output': ...} to name the variables")
    return _READERS[name](path, **options)


def read_splits(train, test=None, *, format: str | None = None, n_train: int | None = None,
                n_test: int | None = None, **options):
    """Train/test splits (:class:`~sciml.datasets.DatasetSplits`) from files.

    With two files (neuraloperator's ``*_train_*.pt`` / ``*_test_*.pt``) each is one split
    (truncated to ``n_train`` / ``n_test``); with one file, its first ``n_train`` pairs train
    and the next ``n_test`` (default: the rest) test. Pairs are split in order: with ``pairs="steps"``
    choose ``n_train`` as a multiple of the pairs per trajectory to keep trajectories whole.

    Examples
    --------
    >>> data = read_splits("darcy_train_16.pt", "darcy_test_16.pt")  # doctest: +SKIP
    >>> data = read_splits("1D_Burgers_Sols_Nu0.001.hdf5", n_train=900, n_test=100)  # doctest: +SKIP
    """
    from ..load import DatasetSplits

    if options.get("lazy"):
        raise ValueError("lazy: read_splits loads the pairs; for streaming call read(..., lazy=True) per file")
    first = read(train, format, **options)
    if test is not None:
        second = read(test, format, **options)
        first = first.subset(slice(0, n_train)) if n_train else first
        second = second.subset(slice(0, n_test)) if n_test else second
    else:
        if n_train is None or not 0 < n_train < len(first):
            raise ValueError(f"n_train: expected 0 < n_train < {len(first)} (pairs in {str(train)!r}), got {n_train}")
        stop = len(first) if n_test is None else n_train + n_test
        if stop > len(first):
            raise ValueError(f"n_test: expected at most {len(first) - n_train} (pairs left in {str(train)!r}), got {n_test}")
        first, second = first.subset(slice(0, n_train)), first.subset(slice(n_train, stop))
    return DatasetSplits(first, second, {"train_file": str(train), "test_file": str(test) if test else None})
