"""Figures of bench and training runs: prediction panels and loss curves (matplotlib, PNG).

Figures are drawn on ``matplotlib.figure.Figure`` objects (no pyplot state, no GUI backend), so
they work in scripts, servers and tests alike.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .train import predict

__all__ = ["plot_loss_curves", "plot_prediction"]


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def plot_prediction(model, test, path, *, index: int = 0, input_normalizer=None, target_normalizer=None,
                    title: str | None = None, device="cpu") -> Path:
    """Input / truth / prediction / error panels of test sample ``index``, saved as PNG at ``path``.

    2D grids are drawn as images (first channel), 1D grids as curves (truth and prediction on
    one panel). Returns ``path``.

    Examples
    --------
    >>> plot_prediction(model, data.test, "fno_prediction.png")  # doctest: +SKIP
    """
    inputs = test.inputs[index:index + 1]
    truth = test.targets[index:index + 1]
    with torch.no_grad():
        pred = predict(model, inputs, input_normalizer=input_normalizer, target_normalizer=target_normalizer,
                       batch_size=1, device=device)
    a, u, p = (s.values[0, 0].detach().cpu().float().numpy() for s in (inputs, truth, pred))
    ndim = truth.on.ndim
    fig = _figure(16, 3.6) if ndim == 2 else _figure(12, 3.4)
    if ndim == 2:
        axes = fig.subplots(1, 4)
        vmin, vmax = float(min(u.min(), p.min())), float(max(u.max(), p.max()))
        panels = (("input", a, {}), ("truth", u, {"vmin": vmin, "vmax": vmax}),
                  ("prediction", p, {"vmin": vmin, "vmax": vmax}), ("error", p - u, {"cmap": "RdBu_r"}))
        for ax, (label, values, style) in zip(axes, panels):
            image = ax.imshow(values.T, origin="lower", extent=(0, 1, 0, 1), **style)
            fig.colorbar(image, ax=ax, shrink=0.8)
            ax.set_title(label)
    else:
        x = truth.on.points()[..., 0].cpu().numpy() if ndim == 1 else None
        axes = fig.subplots(1, 3)
        flat = (lambda v: v.reshape(-1))
        x = x if x is not None else range(flat(u).size)
        axes[0].plot(x, flat(a))
        axes[0].set_title("input")
        axes[1].plot(x, flat(u), label="truth")
        axes[1].plot(x, flat(p), "--", label="prediction")
        axes[1].legend()
        axes[1].set_title("truth and prediction")
        axes[2].plot(x, flat(p - u))
        axes[2].set_title("error")
    if title:
        fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    return path


def plot_loss_curves(results: dict, path) -> Path:
    """Training loss and test relative L2 per epoch of every model of a bench ``results`` dict.

    Examples
    --------
    >>> plot_loss_curves(json.load(open("bench/results.json")), "bench/loss_curves.png")  # doctest: +SKIP
    """
    fig = _figure(11, 4)
    train_ax, test_ax = fig.subplots(1, 2)
    for entry in results["models"]:
        history = entry["history"]
        train_ax.semilogy([r["epoch"] for r in history], [r["train_loss"] for r in history], label=entry["name"])
        tested = [r for r in history if "test_rel_l2" in r]
        test_ax.semilogy([r["epoch"] for r in tested], [r["test_rel_l2"] for r in tested], "o-", label=entry["name"])
    train_ax.set(title="training loss", xlabel="epoch")
    test_ax.set(title=f"test relative L2 ({results['resolutions'][0]})", xlabel="epoch")
    for ax in (train_ax, test_ax):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    return path
