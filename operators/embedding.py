r"""Positional embedding from the coordinates of the discretization.

The embedding of a grid on the box :math:`\prod_j [a_j, b_j]` is the ``d`` channels

.. math::
    e_j(\mathbf x) = \frac{x_j - a_j}{b_j - a_j} \in [0, 1], \qquad j = 0, \dots, d-1,

evaluated at the grid's own points. Because it comes from the coordinates (not array
indices), a point has the same embedding at every resolution, centring or grid kind of the
same domain, which is what lets one model evaluate a :class:`~sciml.Sampled` on any grid.

Examples
--------
>>> grid = sciml.Grid.uniform((4,), sciml.Domain([(0.0, 2.0)]))
>>> grid_embedding(grid)
tensor([[[0.0000, 0.3333, 0.6667, 1.0000]]])
"""

from __future__ import annotations

import torch

from sciml import Grid

__all__ = ["grid_embedding"]


def grid_embedding(on: Grid, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """Normalised coordinates of ``on`` as channels.

    Parameters
    ----------
    on : Grid
        A tensor-product grid with ``d`` axes.
    dtype, device : optional
        Of the returned tensor.

    Returns
    -------
    tensor ``[1, d, *on.shape]``
        Channel ``j`` holds coordinate ``j`` mapped affinely from the domain's
        ``[lo_j, hi_j]`` to ``[0, 1]``.
    """
    if not isinstance(on, Grid):
        raise TypeError(f"on: expected a sciml.Grid for a positional embedding, got {type(on).__name__}")
    points = on.domain.to_unit(on.mesh(torch.float64))              # [*shape, d]
    return points.movedim(-1, 0).unsqueeze(0).to(dtype=dtype, device=device)
