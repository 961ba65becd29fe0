"""Figures of INSR runs: frames of the evolution and error curves (matplotlib PNGs, no pyplot state)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

__all__ = ["plot_error_curves", "plot_frames"]


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def plot_frames(snapshots: xr.Dataset, path, max_frames: int = 6) -> Path:
    """Frames of the evolution saved as a PNG at ``path``; returns ``path``.

    1D: every snapshot of ``u`` on one axis, the reference ``u_reference`` dashed when present.
    2D: up to ``max_frames`` panels of ``vorticity`` (Euler) or of the channel of ``u`` with the
    largest final magnitude (the deflection of an elastic body); 3D: the same on the middle slice
    across the last axis.

    Examples
    --------
    >>> plot_frames(solver.snapshots(grid), "frames.png")  # doctest: +SKIP
    """
    if not isinstance(snapshots, xr.Dataset) or "time" not in snapshots.dims:
        raise TypeError("snapshots: expected an xarray.Dataset with a time dimension (INSRSolver.snapshots)")
    times = snapshots["time"].values
    spatial = [d for d in snapshots["u"].dims if d not in ("time", "channel")]
    if len(spatial) == 1:
        fig = _figure(7, 3.5)
        ax = fig.add_subplot()
        x = snapshots[spatial[0]].values
        colors = [(i / max(len(times) - 1, 1), 0.2, 1 - i / max(len(times) - 1, 1)) for i in range(len(times))]
        for i, t in enumerate(times):
            ax.plot(x, snapshots["u"].isel(time=i, channel=0).values, color=colors[i], lw=1.2,
                    label=f"t={t:.3g}" if i in (0, len(times) - 1) else None)
            if "u_reference" in snapshots:
                ax.plot(x, snapshots["u_reference"].isel(time=i, channel=0).values, "k--", lw=0.6)
        ax.set_xlabel(spatial[0])
        ax.set_ylabel("u (INSR solid, exact dashed)")
        ax.legend(loc="upper right")
        return _save(fig, path)
    name = "vorticity" if "vorticity" in snapshots else "u"
    data = snapshots[name]
    if "channel" in data.dims:
        final = np.abs(data.isel(time=-1).values).reshape(data.sizes["channel"], -1).max(-1)
        data = data.isel(channel=int(np.argmax(final)))
    if len(spatial) == 3:
        data = data.isel({spatial[2]: data.sizes[spatial[2]] // 2})
    picks = np.unique(np.linspace(0, len(times) - 1, min(max_frames, len(times))).round().astype(int))
    fig = _figure(2.6 * len(picks), 2.6)
    axes = fig.subplots(1, len(picks), squeeze=False)[0]
    for ax, i in zip(axes, picks):
        frame = data.isel(time=int(i))
        ax.imshow(np.asarray(frame.values).T, origin="lower", cmap="RdBu_r")
        ax.set_title(f"{name}, t={times[i]:.3g}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    return _save(fig, path)


def plot_error_curves(per_step: list, path) -> Path:
    """Relative errors per step (every ``*_rel_l2`` / ``*_rel_error`` key) against time, log scale; PNG at ``path``."""
    if not per_step:
        raise ValueError("per_step: expected at least one step record, got none")
    keys = sorted({k for rec in per_step for k in rec if k.endswith(("_rel_l2", "_rel_error"))})
    fig = _figure(6, 3.5)
    ax = fig.add_subplot()
    t = [rec["t"] for rec in per_step]
    for key in keys:
        values = [max(rec.get(key, np.nan), 1e-16) for rec in per_step]
        ax.semilogy(t, values, label=key)
    ax.set_xlabel("t")
    ax.set_ylabel("relative error")
    if keys:
        ax.legend(fontsize=8)
    return _save(fig, path)
