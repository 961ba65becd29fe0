"""The contract between PDE solvers and the data pipeline.

A :class:`PDEProblem` turns per-sample seeds into input/output arrays with a
verified solver. Generation (parallel, resumable chunks), storage (xarray in
zarr/netCDF) and loading (train/test :class:`sciml.OperatorDataset` splits)
work with any registered problem through this interface only.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

import sciml

__all__ = ["PDEProblem", "get_problem", "register_problem", "registered_problems"]

_PROBLEMS: dict[str, type[PDEProblem]] = {}


def register_problem(cls: type[PDEProblem]) -> type[PDEProblem]:
    """Class decorator: make ``cls`` available by its ``name`` (``sciml data generate NAME``)."""
    if not dataclasses.is_dataclass(getattr(cls, "config_class", None)):
        raise TypeError(f"{cls.__name__}: a PDEProblem needs a dataclass 'config_class'")
    _PROBLEMS[cls.name] = cls
    return cls


def registered_problems() -> dict[str, type[PDEProblem]]:
    return dict(_PROBLEMS)


def get_problem(name: str, **params) -> PDEProblem:
    """Instantiate the registered problem ``name`` with config fields ``params``."""
    if name not in _PROBLEMS:
        raise ValueError(f"name: expected a problem among {sorted(_PROBLEMS)}, got {name!r}")
    cls = _PROBLEMS[name]
    return cls(sciml.config_from_dict(cls.config_class, params))


class PDEProblem(ABC):
    """A benchmark problem: random inputs and their PDE solutions.

    Subclasses set ``name``, ``config_class`` (a dataclass with at least a
    ``resolution`` field), ``input_names`` and ``output_names``, and implement
    :meth:`grid` and :meth:`solve_batch`.

    Determinism contract: ``solve_batch(seeds)[k]`` depends on ``seeds[k]``
    and the config only (not on the other seeds, the batch size or the
    process), so sample ``i`` is identical whatever the worker count.
    """

    name: str = ""
    config_class: type = object
    input_names: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ()
    #: extra leading sample dims of outputs beyond space, e.g. ("t",) for trajectories
    output_time_dim: str | None = None
    #: physical units of variables and coordinates where known, e.g. ``{"x": "m", "u": "m/s"}``;
    #: stored as the ``units`` attribute of the generated variables (missing names: no attribute)
    units: Mapping[str, str] = MappingProxyType({})

    def __init__(self, config):
        if not isinstance(config, self.config_class):
            raise TypeError(f"config: expected {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config

    @abstractmethod
    def grid(self) -> sciml.Grid:
        """The grid on which inputs and outputs are sampled (at ``config.resolution``)."""

    @abstractmethod
    def solve_batch(self, seeds: np.ndarray) -> dict[str, np.ndarray]:
        """Arrays ``name -> [len(seeds), *grid.shape]`` (or ``[len(seeds), T, *grid.shape]``
        for time-dependent outputs, with the times given by :meth:`times`), float64."""

    def times(self) -> np.ndarray | None:
        """Output times for trajectories, ``None`` for stationary problems."""
        return None

    def output_shape(self, name: str) -> tuple[int, ...]:
        """Shape of one sample of output ``name``: ``grid.shape`` or ``(len(times), *grid.shape)``."""
        times = self.times()
        space = tuple(self.grid().shape)
        return space if times is None else (len(times), *space)

    def attrs(self) -> dict:
        """Metadata stored with generated data: the PDE, parameters, solver, package version."""
        return {"problem": self.name, "config": sciml.config_to_dict(self.config),
                "sciml_version": sciml.__version__}
