"""Tensor-product grids: uniform (node- or cell-centred), Chebyshev, or explicit axes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch

from . import quadrature
from .discretization import Discretization, register_discretization
from .domain import Domain

__all__ = ["Grid", "GridAxis"]

AXIS_KINDS = ("node", "cell", "chebyshev", "explicit")


@dataclass(frozen=True)
class GridAxis:
    """One axis of a tensor-product grid.

    Parameters
    ----------
    kind : {"node", "cell", "chebyshev", "explicit"}
        ``node``: equispaced nodes; both ends on a bounded axis, the right end
        dropped on a periodic one (trapezoid / rectangle rule). ``cell``:
        cell centres (midpoint rule). ``chebyshev``: Chebyshev–Lobatto points
        (Clenshaw–Curtis). ``explicit``: user coordinates (trapezoid rule).
    size : int
        Number of points.
    lo, hi : float
        Interval of the axis.
    periodic : bool
        Whether the axis wraps around.
    coords : tuple of float, optional
        The coordinates, for ``kind="explicit"`` only.
    """

    kind: str
    size: int
    lo: float
    hi: float
    periodic: bool = False
    coords: tuple[float, ...] | None = field(default=None, compare=True)

    def __post_init__(self):
        if self.kind not in AXIS_KINDS:
            raise ValueError(f"kind: expected one of {AXIS_KINDS}, got {self.kind!r}")
        if self.kind == "chebyshev" and self.periodic:
            raise ValueError("periodic: a Chebyshev axis cannot be periodic")
        minimum = 2 if (self.kind == "chebyshev" or (self.kind == "node" and not self.periodic)) else 1
        if self.size < minimum:
            raise ValueError(
                f"size: a {self.kind!r} axis{' (bounded)' if not self.periodic else ''} needs at "
                f"least {minimum} points, got {self.size}"
            )
        if self.kind == "explicit":
            self._check_explicit()

    def _check_explicit(self) -> None:
        if self.coords is None or len(self.coords) != self.size:
            raise ValueError(f"coords: expected {self.size} coordinates for an explicit axis")
        x = np.asarray(self.coords)
        if not np.all(np.isfinite(x)):
            raise ValueError("coords: expected finite coordinates")
        if np.any(np.diff(x) <= 0):
            raise ValueError("coords: expected strictly increasing coordinates")
        if x[0] < self.lo - 1e-12 or x[-1] > self.hi + 1e-12:
            raise ValueError(f"coords: expected coordinates inside [{self.lo}, {self.hi}], got [{x[0]}, {x[-1]}]")
        if self.periodic and x[-1] >= self.hi - 1e-12 * (self.hi - self.lo):
            raise ValueError("coords: a periodic axis must not contain its right end (it equals the left end)")

    @property
    def length(self) -> float:
        return self.hi - self.lo

    @property
    def is_equispaced(self) -> bool:
        return self.kind in ("node", "cell")

    @property
    def spacing(self) -> float | None:
        """Node spacing for equispaced axes, ``None`` otherwise."""
        if self.kind == "cell" or (self.kind == "node" and self.periodic):
            return self.length / self.size
        if self.kind == "node":
            return self.length / (self.size - 1)
        return None

    @cached_property
    def _rule(self) -> tuple[np.ndarray, np.ndarray]:
        x, w = self._compute_rule()
        x.setflags(write=False)
        w.setflags(write=False)
        return x, w

    def _compute_rule(self) -> tuple[np.ndarray, np.ndarray]:
        if self.kind == "node":
            rule = quadrature.periodic_rectangle if self.periodic else quadrature.trapezoid
            return rule(self.size, self.lo, self.hi)
        if self.kind == "cell":
            return quadrature.midpoint(self.size, self.lo, self.hi)
        if self.kind == "chebyshev":
            return quadrature.clenshaw_curtis(self.size, self.lo, self.hi)
        x = np.asarray(self.coords, dtype=float)
        if self.periodic:
            return x, quadrature.trapezoid_weights(x, self.length)
        return x, quadrature.trapezoid_weights(x, lo=self.lo, hi=self.hi)

    @property
    def is_periodic_uniform(self) -> bool:
        """Equispaced (node- or cell-centred) and periodic: Fourier methods apply."""
        return self.periodic and self.kind in ("node", "cell")

    @property
    def offset(self) -> float:
        """Position of the first point in units of the spacing: 0 for nodes, 1/2 for cells."""
        return 0.5 if self.kind == "cell" else 0.0

    @property
    def coordinates(self) -> np.ndarray:
        """Float64 coordinates ``[size]`` (read-only)."""
        return self._rule[0]

    @property
    def weights(self) -> np.ndarray:
        """Float64 quadrature weights ``[size]`` (read-only)."""
        return self._rule[1]

    def resized(self, size: int) -> GridAxis:
        """The same kind of axis with ``size`` points (not defined for explicit axes)."""
        if self.kind == "explicit":
            raise ValueError("size: an explicit axis cannot be resized; build a new Grid from coordinates")
        return GridAxis(self.kind, int(size), self.lo, self.hi, self.periodic)

    def to_dict(self) -> dict:
        data = {"kind": self.kind, "size": self.size, "lo": self.lo, "hi": self.hi, "periodic": self.periodic}
        if self.coords is not None:
            data["coords"] = list(self.coords)
        return data


@register_discretization
class Grid(Discretization):
    r"""A tensor-product grid on a :class:`Domain`.

    Points are ordered like ``torch.meshgrid(..., indexing="ij")``: values
    sampled on a grid of shape ``(n0, n1)`` have trailing shape ``(n0, n1)``
    and ``values[..., i, j]`` lives at ``(x0[i], x1[j])``. Quadrature weights
    are tensor products of the per-axis rules.

    Examples
    --------
    >>> g = Grid.uniform((64, 64), Domain.unit(2, periodic=True))
    >>> g.shape, float(g.weights().sum())
    ((64, 64), 1.0)
    >>> Grid.chebyshev((17,)).coordinates()[0][[0, -1]]
    tensor([0., 1.], dtype=torch.float64)
    """

    def __init__(self, axes: Sequence[GridAxis]):
        axes = tuple(axes)
        if not axes:
            raise ValueError("axes: expected at least one axis, got none")
        for i, ax in enumerate(axes):
            if not isinstance(ax, GridAxis):
                raise TypeError(f"axes[{i}]: expected GridAxis, got {type(ax).__name__}")
        self.axes = axes
        self._weights_cache: dict = {}
        self.domain = Domain([(a.lo, a.hi) for a in axes], periodic=[a.periodic for a in axes])

    # -- constructors -------------------------------------------------------------------------
    @classmethod
    def uniform(cls, shape: int | Sequence[int], domain: Domain | None = None, centring: str = "node") -> Grid:
        """Equispaced grid; ``centring`` is ``"node"`` or ``"cell"``.

        Node-centred axes include both ends of a bounded axis and drop the
        right end of a periodic one. The default domain is the unit box.
        """
        if centring not in ("node", "cell"):
            raise ValueError(f"centring: expected 'node' or 'cell', got {centring!r}")
        shape, domain = _shape_and_domain(shape, domain)
        return cls([GridAxis(centring, n, lo, hi, p) for n, (lo, hi), p in zip(shape, domain.bounds, domain.periodic)])

    @classmethod
    def chebyshev(cls, shape: int | Sequence[int], domain: Domain | None = None) -> Grid:
        """Chebyshev–Lobatto grid with Clenshaw–Curtis weights (non-periodic domains only)."""
        shape, domain = _shape_and_domain(shape, domain)
        if any(domain.periodic):
            raise ValueError("domain: a Chebyshev grid needs a non-periodic domain")
        return cls([GridAxis("chebyshev", n, lo, hi) for n, (lo, hi) in zip(shape, domain.bounds)])

    @classmethod
    def from_coordinates(cls, coordinates: Sequence, domain: Domain | None = None) -> Grid:
        """Grid with explicit, strictly increasing coordinates per axis.

        Without a ``domain`` the box spans the first to the last coordinate of each axis.
        """
        coords = [np.asarray(c.detach().cpu() if isinstance(c, torch.Tensor) else c, dtype=float).ravel()
                  for c in coordinates]
        if domain is None:
            if any(c.size < 2 for c in coords):
                raise ValueError("coordinates: give a domain when an axis has fewer than 2 points")
            domain = Domain([(c[0], c[-1]) for c in coords])
        if domain.ndim != len(coords):
            raise ValueError(f"domain: expected {len(coords)} axes to match coordinates, got {domain.ndim}")
        return cls([GridAxis("explicit", c.size, lo, hi, p, tuple(float(v) for v in c))
                    for c, (lo, hi), p in zip(coords, domain.bounds, domain.periodic)])

    @classmethod
    def infer(cls, spatial_shape: Sequence[int]) -> Grid:
        """The grid assumed for plain tensors: node-centred, uniform, unit box, not periodic."""
        return cls.uniform(tuple(spatial_shape))

    # -- geometry -------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(a.size for a in self.axes)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(a.kind for a in self.axes)

    @property
    def spacing(self) -> tuple[float | None, ...]:
        return tuple(a.spacing for a in self.axes)

    def coordinates(self, dtype: torch.dtype | None = None, device=None) -> tuple[torch.Tensor, ...]:
        """Per-axis coordinate vectors."""
        dtype = dtype or torch.float64
        return tuple(torch.tensor(a.coordinates, dtype=dtype, device=device) for a in self.axes)

    def mesh(self, dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
        """Coordinates as a tensor ``[*shape, ndim]``."""
        return torch.stack(torch.meshgrid(*self.coordinates(dtype, device), indexing="ij"), dim=-1)

    def points(self, dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
        return self.mesh(dtype, device).reshape(-1, self.ndim)

    def weights(self, dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
        return self.weights_shaped(dtype, device).reshape(-1)

    def weights_shaped(self, dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
        """Tensor-product weights ``[*shape]`` (a fresh copy of a per-dtype/device cache)."""
        return self._weights_cached(dtype, device).clone()

    def _weights_cached(self, dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
        key = (dtype or torch.float64, torch.device(device) if device is not None else torch.device("cpu"))
        cached = self._weights_cache.get(key)
        if cached is None:
            cached = torch.ones((), dtype=key[0], device=key[1])
            for ax in self.axes:
                cached = cached[..., None] * torch.tensor(ax.weights, dtype=key[0], device=key[1])
            self._weights_cache[key] = cached
        return cached

    def with_shape(self, shape: int | Sequence[int]) -> Grid:
        """The same kinds of axes on the same domain at another resolution."""
        shape = (shape,) * self.ndim if isinstance(shape, (int, np.integer)) else tuple(shape)
        if len(shape) != self.ndim:
            raise ValueError(f"shape: expected {self.ndim} sizes, got {len(shape)}")
        return Grid([a.resized(n) for a, n in zip(self.axes, shape)])

    # -- comparison and serialization -------------------------------------------------------
    def __eq__(self, other) -> bool:
        return isinstance(other, Grid) and self.axes == other.axes

    def __hash__(self) -> int:
        return hash(self.axes)

    def __repr__(self) -> str:
        kinds = set(self.kinds)
        kind = kinds.pop() if len(kinds) == 1 else "mixed"
        per = "".join("p" if p else "-" for p in self.domain.periodic)
        return f"Grid(shape={self.shape}, kind={kind}, bounds={self.domain.bounds}, periodic={per})"

    def to_dict(self) -> dict:
        return {"type": "Grid", "axes": [a.to_dict() for a in self.axes]}

    @classmethod
    def _from_dict(cls, data: dict) -> Grid:
        axes = []
        for a in data["axes"]:
            coords = tuple(a["coords"]) if a.get("coords") is not None else None
            axes.append(GridAxis(a["kind"], int(a["size"]), float(a["lo"]), float(a["hi"]),
                                 bool(a.get("periodic", False)), coords))
        return cls(axes)


def _shape_and_domain(shape, domain: Domain | None) -> tuple[tuple[int, ...], Domain]:
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),) if domain is None else (int(shape),) * domain.ndim
    shape = tuple(shape)
    for i, n in enumerate(shape):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"shape[{i}]: expected an integer, got {type(n).__name__}")
    domain = domain if domain is not None else Domain.unit(len(shape))
    if not isinstance(domain, Domain):
        raise TypeError(f"domain: expected a Domain, got {type(domain).__name__}")
    if domain.ndim != len(shape):
        raise ValueError(f"shape: expected {domain.ndim} sizes to match the domain, got {len(shape)}")
    return shape, domain
