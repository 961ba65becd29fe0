r"""From stored fields to operator-learning pairs: time pairing and change of resolution.

Stationary problems (Darcy, Poisson) store inputs ``[n, *space]`` and outputs ``[n, *space]``;
a pair is ``(a_i, u_i)`` with the input variables as channels of ``a`` and the output variables
as channels of ``u``. Trajectory problems (Burgers, Navier–Stokes) store outputs
``[n, T, *space]`` at the times :math:`t_1 < \dots < t_T` of the problem, and a :class:`Pairing`
says how pairs are formed:

=============== ============================================== ===========================
mode            pair                                           pairs per trajectory
=============== ============================================== ===========================
``final``       inputs (e.g. the initial condition) -> outputs 1
                at the last time :math:`t_T`
``trajectory``  inputs -> outputs at all :math:`T` times,      1
                stacked as channels (time-major)
``steps``       outputs at :math:`t_{k-w+1},\dots,t_k` -> at   :math:`T - w`
                :math:`t_{k+1}`, with the window :math:`w`
=============== ============================================== ===========================

``steps`` pairs are ordered trajectory-major (all steps of trajectory 0, then 1, ...) and only
use the stored trajectory (the input variables are not part of the window).

Changing resolution (:class:`SpatialMap`): a coarser node/cell grid whose points are a subset
of the stored grid at a constant stride (e.g. 421 -> 211 -> 106 bounded nodes, 256 -> 64
periodic nodes) is taken by strided slicing, which is exact; anything else goes through
:func:`sciml.resample` (Fourier on periodic node grids, multilinear otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

import sciml

__all__ = ["PAIRING_MODES", "Pairing", "SpatialMap"]

PAIRING_MODES = ("final", "trajectory", "steps")


@dataclass(frozen=True)
class Pairing:
    """How a trajectory becomes input/output pairs (see the module docstring).

    Parameters
    ----------
    mode : {"final", "trajectory", "steps"}
    window : int
        States in the input of a ``steps`` pair (1: one-step map :math:`u_k \\to u_{k+1}`).

    Examples
    --------
    >>> Pairing("steps", window=2).pairs_per_sample(n_times=10)
    8
    """

    mode: str = "final"
    window: int = 1

    def __post_init__(self):
        if self.mode not in PAIRING_MODES:
            raise ValueError(f"pairs: expected one of {PAIRING_MODES}, got {self.mode!r}")
        if isinstance(self.window, bool) or not isinstance(self.window, (int, np.integer)) or self.window < 1:
            raise ValueError(f"window: expected an integer >= 1, got {self.window!r}")

    def check(self, n_times: int | None) -> None:
        """Raise ``ValueError`` if this pairing needs a time axis the data has not, or a longer one."""
        if n_times is None and self.mode != "final":
            raise ValueError(f"pairs: {self.mode!r} needs trajectory data; this data is stationary, use 'final'")
        if self.mode == "steps" and n_times is not None and n_times <= self.window:
            raise ValueError(f"window: expected fewer than the {n_times} stored times, got {self.window}")

    def pairs_per_sample(self, n_times: int | None) -> int:
        self.check(n_times)
        return n_times - self.window if self.mode == "steps" else 1

    def channel_names(self, inputs: Sequence[str], outputs: Sequence[str], times=None) -> tuple[list, list]:
        """Names of the input and target channels."""
        if times is None or self.mode == "final":
            return list(inputs), list(outputs)
        if self.mode == "trajectory":
            return list(inputs), [f"{name}@t={t:g}" for t in times for name in outputs]
        lags = [f"{name}@k-{lag}" if lag else f"{name}@k" for lag in range(self.window - 1, -1, -1) for name in outputs]
        return lags, [f"{name}@k+1" for name in outputs]

    def apply(self, inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray],
              has_time: bool) -> tuple[np.ndarray, np.ndarray]:
        """Pairs from a block of samples.

        Parameters
        ----------
        inputs : list of arrays ``[m, *space]``
        outputs : list of arrays ``[m, T, *space]`` (``has_time``) or ``[m, *space]``

        Returns
        -------
        a, u : arrays ``[m', C_in, *space]``, ``[m', C_out, *space]``
        """
        if not has_time:
            self.check(None)
            return np.stack(inputs, axis=1), np.stack(outputs, axis=1)
        traj = np.stack(outputs, axis=2)                               # [m, T, C, *space]
        m, n_times = traj.shape[:2]
        self.check(n_times)
        if self.mode == "final":
            return np.stack(inputs, axis=1), traj[:, -1]
        if self.mode == "trajectory":
            return np.stack(inputs, axis=1), traj.reshape(m, -1, *traj.shape[3:])
        w = self.window
        windows = np.stack([traj[:, k:k + w].reshape(m, -1, *traj.shape[3:]) for k in range(n_times - w)], axis=1)
        targets = traj[:, w:]
        return windows.reshape(-1, *windows.shape[2:]), targets.reshape(-1, *targets.shape[2:])


def _axis_stride(source: np.ndarray, target: np.ndarray) -> slice | None:
    start = np.flatnonzero(np.isclose(source, target[0], rtol=0, atol=1e-12 * max(1.0, abs(target[0]))))
    if start.size != 1:
        return None
    first = int(start[0])
    if target.size == 1:
        return slice(first, first + 1)
    nxt = np.flatnonzero(np.isclose(source, target[1], rtol=0, atol=1e-12 * max(1.0, abs(target[1]))))
    if nxt.size != 1 or nxt[0] <= first:
        return None
    step = int(nxt[0]) - first
    index = slice(first, first + step * (target.size - 1) + 1, step)
    picked = source[index]
    return index if picked.size == target.size and np.allclose(picked, target, rtol=0, atol=1e-10) else None


class SpatialMap:
    """Values on a stored grid -> values on a target grid (strided where exact, else resampled).

    Parameters
    ----------
    source, target : Grid
        Same domain; ``target`` is the grid the pairs should live on.

    Examples
    --------
    >>> fine = sciml.Grid.uniform((65, 65))
    >>> SpatialMap(fine, fine.with_shape(33)).strides
    (slice(0, 65, 2), slice(0, 65, 2))
    """

    def __init__(self, source: sciml.Grid, target: sciml.Grid | None = None):
        self.source = source
        self.target = source if target is None else target
        if self.target.ndim != source.ndim:
            raise ValueError(f"resolution: expected a {source.ndim}D grid, got {self.target!r}")
        if self.target.domain != source.domain:
            raise ValueError(f"resolution: target grid domain {self.target.domain} differs from the data's {source.domain}")
        strides = [_axis_stride(s.coordinates, t.coordinates) for s, t in zip(source.axes, self.target.axes)]
        self.strides = tuple(strides) if all(s is not None for s in strides) else None

    @property
    def is_identity(self) -> bool:
        return self.target == self.source

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """``[m, C, *source.shape]`` -> ``[m, C, *target.shape]``."""
        if self.is_identity:
            return values
        if self.strides is not None:
            return np.ascontiguousarray(values[(Ellipsis, *self.strides)])
        sampled = sciml.Sampled(torch.from_numpy(np.ascontiguousarray(values)), self.source, validate=False)
        return sciml.resample(sampled, self.target).values.numpy()
