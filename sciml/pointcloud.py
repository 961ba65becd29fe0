"""Scattered points with optional quadrature weights."""

from __future__ import annotations

import numpy as np
import torch

from ._checks import as_float_tensor, check_finite, check_ndim
from .discretization import Discretization, register_discretization
from .domain import Domain

__all__ = ["PointCloud"]


@register_discretization
class PointCloud(Discretization):
    r"""Scattered points ``[n, d]`` in a :class:`Domain`.

    Parameters
    ----------
    points : array-like ``[n, d]``
        Coordinates.
    weights : array-like ``[n]``, optional
        Quadrature weights. By default every point gets ``volume(domain) / n``,
        the Monte-Carlo weight for points spread uniformly over the domain.
    domain : Domain, optional
        Enclosing box; by default the bounding box of the points.

    Examples
    --------
    >>> cloud = PointCloud(torch.rand(1000, 2), domain=Domain.unit(2))
    >>> round(float(cloud.weights().sum()), 12)
    1.0
    """

    def __init__(self, points, weights=None, domain: Domain | None = None):
        pts = check_finite(check_ndim(as_float_tensor(points, "points", torch.float64), "points", 2), "points")
        if pts.shape[0] == 0:
            raise ValueError("points: expected at least one point, got an empty [0, d] array")
        self._points = pts.detach().cpu().contiguous()
        self.domain = domain if domain is not None else Domain.bounding(self._points)
        if self.domain.ndim != pts.shape[1]:
            raise ValueError(f"domain: expected {pts.shape[1]} axes to match points [n, {pts.shape[1]}], got {self.domain.ndim}")
        if not bool(self.domain.contains(self._points, atol=1e-9).all()):
            raise ValueError("points: some points lie outside the given domain")
        if weights is None:
            self._weights = torch.full((pts.shape[0],), self.domain.volume / pts.shape[0], dtype=torch.float64)
            self._uniform = True
        else:
            w = check_finite(as_float_tensor(weights, "weights", torch.float64), "weights").detach().cpu()
            if tuple(w.shape) != (pts.shape[0],):
                raise ValueError(f"weights: expected shape ({pts.shape[0]},) to match points, got {tuple(w.shape)}")
            self._weights = w.contiguous()
            self._uniform = False

    @property
    def shape(self) -> tuple[int, ...]:
        return (self._points.shape[0],)

    def points(self, dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
        return self._points.to(dtype=dtype or torch.float64, device=device, copy=True)

    def weights(self, dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
        return self._weights.to(dtype=dtype or torch.float64, device=device, copy=True)

    def __eq__(self, other) -> bool:
        return (isinstance(other, PointCloud) and self.domain == other.domain
                and torch.equal(self._points, other._points) and torch.equal(self._weights, other._weights))

    __hash__ = None

    def __repr__(self) -> str:
        return f"PointCloud(n={self.shape[0]}, ndim={self.ndim}, bounds={self.domain.bounds})"

    def to_dict(self) -> dict:
        data = {"type": "PointCloud", "points": self._points.tolist(), "domain": self.domain.to_dict()}
        if not self._uniform:
            data["weights"] = self._weights.tolist()
        return data

    @classmethod
    def _from_dict(cls, data: dict) -> PointCloud:
        return cls(np.asarray(data["points"], dtype=float), data.get("weights"),
                   Domain.from_dict(data["domain"]))
