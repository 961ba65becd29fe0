"""Quick looks at sampled functions with matplotlib."""

from __future__ import annotations

import numpy as np

from .grid import Grid
from .mesh import Mesh
from .sampled import Sampled

__all__ = ["plot_sampled"]


def plot_sampled(u: Sampled, batch: int = 0, channel: int = 0, ax=None, **kwargs):
    """Plot one function of a :class:`Sampled` in physical coordinates.

    1D grids draw a line, 2D grids a ``pcolormesh`` (Chebyshev and explicit
    axes keep their spacing), 2D triangle meshes a ``tripcolor``, point clouds
    a ``scatter`` coloured by value. 3D data: resample onto a 2D slice first.

    Parameters
    ----------
    u : Sampled
        The functions.
    batch, channel : int
        Which function to draw.
    ax : matplotlib Axes, optional
        Where to draw; a new figure otherwise.
    **kwargs
        Passed to the matplotlib call (``cmap``, ``vmin``, ...).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> grid = Grid.uniform((64, 64))
    >>> x, y = grid.mesh().unbind(-1)
    >>> ax = plot_sampled(Sampled((x * y)[None, None], grid))
    >>> ax.figure.savefig("u.png")  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    if not isinstance(u, Sampled):
        raise TypeError(f"u: expected Sampled, got {type(u).__name__}")
    for name, index, size in (("batch", batch, u.batch_size), ("channel", channel, u.channels)):
        if not -size <= index < size:
            raise IndexError(f"{name}: expected an index in [-{size}, {size}), got {index}")
    values = u.values[batch, channel].detach().cpu().float().numpy()
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4) if values.ndim > 1 or u.on.ndim > 1 else (6, 3))
    label = u.channel_names[channel] if u.channel_names else f"channel {channel}"
    artist = _draw(ax, u.on, values, kwargs)
    if artist is None:
        ax.set_ylabel(label)
    else:
        ax.figure.colorbar(artist, ax=ax, label=label)
        ax.set_aspect("equal" if u.on.ndim == 2 else "auto")
    ax.set_xlabel("x")
    return ax


def _draw(ax, on, values: np.ndarray, kwargs: dict):
    if isinstance(on, Grid) and on.ndim == 1:
        ax.plot(on.axes[0].coordinates, values, **kwargs)
        return None
    if isinstance(on, Grid) and on.ndim == 2:
        x, y = (a.coordinates for a in on.axes)
        ax.set_ylabel("y")
        return ax.pcolormesh(x, y, values.T, shading="nearest", **kwargs)
    if isinstance(on, Mesh) and on.ndim == 2 and on.topological_dim == 2:
        pts = on.points().numpy()
        ax.set_ylabel("y")
        return ax.tripcolor(pts[:, 0], pts[:, 1], on.simplices(), values, shading="gouraud", **kwargs)
    if not isinstance(on, Grid) and on.ndim in (1, 2):
        pts = on.points().numpy()
        if on.ndim == 1:
            ax.plot(pts[:, 0], values, ".", **kwargs)
            return None
        ax.set_ylabel("y")
        return ax.scatter(pts[:, 0], pts[:, 1], c=values, s=8, **kwargs)
    raise ValueError(f"u: plot_sampled draws 1D and 2D data; got {on!r} (resample a 3D field onto a 2D slice first)")
