r"""Fit a tensor-format field to gridded data: one entry point for ``sciml fit --field tucker|chebyshev-tucker|funbat``.

:func:`fit_gridded` builds the field and reports, for every format, the same metrics:

==========================  ==========================================================================
``relative_error``          :math:`\|\hat f - f\|_2 / \|f\|_2` over the values on the data grid (all
                            channels; plain discrete 2-norm; entries that are NaN, i.e. missing, are
                            left out)
``max_abs_error``           :math:`\max |\hat f - f|` on the data grid
``params``                  scalars stored by the field (every tensor of its state dict)
``compression_ratio``       values in the data over ``params``
``seconds``                 wall time of the fit (not of the metrics)
``ranks``                   the Tucker (or FunBaT) ranks, when the field has them
==========================  ==========================================================================

``"chebyshev-tucker"`` needs values at Chebyshev–Lobatto points; data on another grid is first
interpolated to the Chebyshev grid of the same shape and box (``resample="linear"`` by default, see
:func:`sciml.resample`), so its ``relative_error`` includes that interpolation.
"""

from __future__ import annotations

import inspect
import time

import torch

from sciml.domain import Domain
from sciml.grid import Grid
from sciml.resample import resample
from sciml.sampled import Sampled

from .base import Field
from .chebyshev_tucker import ChebyshevTuckerField
from .tucker import TuckerField

__all__ = ["FIELD_NAMES", "fit_gridded", "gridded_metrics"]

FIELD_NAMES = ("tucker", "chebyshev-tucker", "funbat")


def fit_gridded(name: str, data: Sampled, *, tol: float = 1e-6, rank=None, progress: bool = True,
                **options) -> tuple[Field, dict]:
    """Fit the tensor-format field ``name`` to one function sampled on a grid.

    Parameters
    ----------
    name : {"tucker", "chebyshev-tucker", "funbat"}
        ``tucker``: :meth:`TuckerField.from_sampled`; ``chebyshev-tucker``:
        :meth:`ChebyshevTuckerField.from_sampled` (after interpolation to a Chebyshev grid when
        needed, option ``resample`` = ``"linear"`` | ``"nearest"``); ``funbat``:
        ``sciml.fields.funbat.fit_funbat(data, rank=rank, **options)`` (``rank`` required).
    data : Sampled
        Values ``[1, c, *shape]`` on a :class:`~sciml.Grid`.
    tol : float
        Relative error target of the Tucker formats (unused by ``funbat``).
    rank : int or sequence of int, optional
        Ranks instead of ``tol``.
    progress : bool
        Progress bars of the iterations.
    **options
        Passed to the constructor (e.g. ``method``, ``iterations``).

    Returns
    -------
    (Field, dict)
        The field and its metrics (see the module docstring; ``funbat``'s own metrics are kept).

    Examples
    --------
    >>> grid = Grid.uniform((32, 48), Domain.unit(2))
    >>> x, y = grid.mesh().unbind(-1)
    >>> data = Sampled(torch.exp(-x * y)[None, None], grid)
    >>> field, metrics = fit_gridded("tucker", data, tol=1e-6, progress=False)
    >>> metrics["relative_error"] < 1e-6, metrics["ranks"], round(metrics["compression_ratio"], 1)
    (True, (5, 5), 3.6)
    """
    if name not in FIELD_NAMES:
        raise ValueError(f"name: expected one of {FIELD_NAMES}, got {name!r}")
    if not isinstance(data, Sampled):
        raise TypeError(f"data: expected a sciml.Sampled, got {type(data).__name__}")
    if not isinstance(data.on, Grid):
        raise ValueError(f"data: expected values on a sciml.Grid, got {data.on!r}")
    start = time.perf_counter()
    extra: dict = {}
    if name == "tucker":
        field = TuckerField.from_sampled(data, tol=tol, rank=rank, progress=progress, **options)
    elif name == "chebyshev-tucker":
        method = options.pop("resample", "linear")
        field = ChebyshevTuckerField.from_sampled(_on_chebyshev_grid(data, method), tol=tol, rank=rank,
                                                  progress=progress, **options)
    else:
        field, extra = _fit_funbat(data, rank, progress, options)
    seconds = time.perf_counter() - start
    metrics = dict(extra)
    metrics.update(gridded_metrics(field, data))
    metrics.update(field=name, seconds=seconds)
    return field, metrics


def gridded_metrics(field: Field, data: Sampled) -> dict:
    """``relative_error``, ``max_abs_error``, ``params``, ``compression_ratio``, ``ranks`` of ``field`` on ``data``.

    Examples
    --------
    >>> grid = Grid.uniform((8, 8), Domain.unit(2))
    >>> x, y = grid.mesh().unbind(-1)
    >>> data = Sampled((x * y)[None, None], grid)
    >>> gridded_metrics(TuckerField.from_sampled(data, rank=1, progress=False), data)["params"]   # 1 + 8 + 8
    17
    """
    with torch.no_grad():
        approx = field.sample(data.on).values.to(torch.float64)
        target = data.values.detach().to(torch.float64)
        if approx.shape != target.shape:
            raise ValueError(f"field: expected values of shape {tuple(target.shape)} on the data grid, "
                             f"got {tuple(approx.shape)}")
        observed = torch.isfinite(target)                 # funbat data may mark missing entries with NaN
        difference = torch.where(observed, approx - target, torch.zeros_like(target))
        norm = float(torch.linalg.vector_norm(torch.where(observed, target, torch.zeros_like(target))))
        error = float(torch.linalg.vector_norm(difference))
        params = sum(v.numel() for v in field.state_dict().values() if torch.is_tensor(v))
        metrics = {
            "relative_error": error / norm if norm else error,
            "max_abs_error": float(difference.abs().max()),
            "params": params,
            "compression_ratio": target.numel() / params if params else float("inf"),
        }
    ranks = getattr(field, "ranks", None)
    if ranks is not None:
        metrics["ranks"] = tuple(int(r) for r in ranks) if not isinstance(ranks, int) else ranks
    return metrics


def _on_chebyshev_grid(data: Sampled, method: str) -> Sampled:
    grid = data.on
    if all(kind == "chebyshev" for kind in grid.kinds):
        return data
    if method not in ("linear", "nearest"):
        raise ValueError(f"resample: expected 'linear' or 'nearest', got {method!r}")
    if any(n < 2 for n in grid.shape):
        raise ValueError(f"data: expected at least 2 points per axis for a Chebyshev grid, got {grid.shape}")
    target = Grid.chebyshev(grid.shape, Domain(grid.domain.bounds))
    return resample(data, target, method)


def _fit_funbat(data: Sampled, rank, progress: bool, options: dict):
    try:
        from .funbat import fit_funbat
    except ImportError as error:
        raise ImportError(f"name: 'funbat' needs sciml.fields.funbat (fit_funbat), which could not be imported: "
                          f"{error}") from error
    parameters = inspect.signature(fit_funbat).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    if "progress" in parameters or takes_any:
        options = {"progress": progress, **options}
    if rank is None:
        raise ValueError("rank: 'funbat' needs Tucker ranks (rank=int or one per axis); tol does not choose them")
    result = fit_funbat(data, rank=rank, **options)
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], Field)):
        raise TypeError(f"fit_funbat: expected (Field, dict), got {type(result).__name__}")
    field, metrics = result
    return field, dict(metrics or {})
