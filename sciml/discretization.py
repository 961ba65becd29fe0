"""The abstract notion of *where a function is known*.

A :class:`Discretization` owns its coordinates, its quadrature weights and its
compatibility checks; numerical operations (norms, resampling, derivatives)
look at the concrete type and act accordingly.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod

import torch

from ._precision import real_dtype, upcast_half
from .domain import Domain

__all__ = ["Discretization", "discretization_from_dict", "register_discretization"]

_REGISTRY: dict[str, type[Discretization]] = {}


def register_discretization(cls: type[Discretization]) -> type[Discretization]:
    """Class decorator: make ``cls`` reconstructible by :func:`discretization_from_dict`.

    The serialized ``type`` is the class name, so two different classes may not share one.
    """
    known = _REGISTRY.get(cls.__name__)
    if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"cls: a discretization named {cls.__name__!r} is registered already "
                         f"({known.__module__}.{known.__qualname__})")
    _REGISTRY[cls.__name__] = cls
    return cls


def discretization_from_dict(data: dict) -> Discretization:
    """Rebuild a discretization serialized with :meth:`Discretization.to_dict`."""
    if not isinstance(data, dict) or "type" not in data:
        raise ValueError(f"data: expected a dict with a 'type' key, got {type(data).__name__}")
    kind = data["type"]
    if kind not in _REGISTRY:
        raise ValueError(f"data['type']: expected one of {sorted(_REGISTRY)}, got {kind!r}")
    return _REGISTRY[kind]._from_dict(data)


class Discretization(ABC):
    """Abstract base: a finite set of points in a :class:`Domain` with quadrature weights.

    Subclasses define ``domain``, ``shape`` (the trailing shape of sampled
    values: the grid shape, or ``(n,)`` for scattered points), ``points`` and
    ``weights``.
    """

    domain: Domain

    @property
    @abstractmethod
    def shape(self) -> tuple[int, ...]:
        """Trailing shape of values sampled here (after ``[batch, channels]``)."""

    @property
    def ndim(self) -> int:
        """Dimension of the ambient space (number of coordinates per point)."""
        return self.domain.ndim

    @property
    def num_points(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    @abstractmethod
    def points(self, dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
        """Coordinates ``[num_points, ndim]``, in the flattening order of ``shape``."""

    @abstractmethod
    def weights(self, dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
        """Quadrature weights ``[num_points]``: ``sum(w * f(points)) ~ integral of f``."""

    def weights_shaped(self, dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
        """Quadrature weights reshaped to ``shape``, ready to broadcast against values."""
        return self.weights(dtype, device).reshape(self.shape)

    def _weights_cached(self, dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
        """Weights ``[*shape]`` that callers promise not to modify (subclasses may cache them)."""
        return self.weights_shaped(dtype, device)

    def integrate(self, values: torch.Tensor) -> torch.Tensor:
        r"""Quadrature :math:`\sum_j w_j v_j` over the trailing ``shape`` dims: ``[..., *shape] -> [...]``.

        Half-precision values are integrated in float32 (the sum of many small
        terms loses too much in float16); complex values integrate both parts.

        Examples
        --------
        >>> grid = Grid.uniform((5,))              # trapezoid rule on [0, 1]
        >>> float(grid.integrate(grid.coordinates()[0]))
        0.5
        """
        shape = tuple(values.shape[values.ndim - len(self.shape):])
        if values.ndim < len(self.shape) or shape != tuple(self.shape):
            raise ValueError(f"values: expected trailing shape {tuple(self.shape)}, got {tuple(values.shape)}")
        values = upcast_half(values)
        weights = self._weights_cached(real_dtype(values), values.device).reshape(-1)
        # an elementwise product and torch's pairwise sum: a BLAS dot product accumulates
        # float32 sequentially and loses ~1e-4 relative accuracy at 200^2 points
        return (values.flatten(values.ndim - len(self.shape)) * weights).sum(dim=-1)

    @abstractmethod
    def to_dict(self) -> dict:
        """JSON-serializable description; :func:`discretization_from_dict` inverts it."""

    @classmethod
    @abstractmethod
    def _from_dict(cls, data: dict) -> Discretization:
        ...

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @staticmethod
    def from_json(text: str) -> Discretization:
        return discretization_from_dict(json.loads(text))

    def check_same(self, other: Discretization, name: str = "other") -> None:
        """Raise ``ValueError`` unless ``other`` describes the same points."""
        if self != other:
            raise ValueError(
                f"{name}: expected values on the same discretization, got {other!r} "
                f"where {self!r} was expected; resample one onto the other first"
            )
