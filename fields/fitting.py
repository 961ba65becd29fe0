r"""Fitting fields to shapes and images: Adam loops with a progress bar and a history.

Three objectives, all minimised with Adam over mini-batches drawn from a fixed
pool of targets computed once (the distance queries are the expensive part):

* :func:`fit_sdf` -- signed distance :math:`d` of a surface (negative inside),

  .. math::
      \mathcal L = \mathbb E_x |f(x) - d(x)| + \lambda\, \mathbb E_x \big(\lVert\nabla f(x)\rVert - 1\big)^2,

  the eikonal term (Gropp et al., 2020) with :math:`\nabla f` by autograd
  (:func:`sciml.fields.autodiff.gradient`; :math:`\lambda` per field type,
  :func:`default_eikonal_weight`: 0 for the hash grid, SIREN, tri-plane and NeuRBF, which fit better
  in a given time without it). Points are jittered surface
  samples and uniform ones (:func:`~sciml.fields.geometry.sample_near_surface`).
  A surface that is not watertight has no inside: the field is fitted to the
  *unsigned* distance instead, with a :class:`~sciml.fields.geometry.NotWatertightWarning`.
* :func:`fit_occupancy` -- inside/outside labels :math:`o \in \{0, 1\}` from the
  generalised winding number, binary cross-entropy on logits
  :math:`\mathcal L = \mathbb E_x\, \mathrm{BCE}(\sigma(f(x)), o(x))`.
* :func:`fit_image` -- pixel values, :math:`\mathcal L = \mathbb E_{\text{pixels}} \lVert f(x) - u \rVert^2`.

The learning rate decays exponentially to a tenth over the budget (SDF fits first warm up
linearly over :data:`SDF_WARMUP_STEPS` steps); a run can also
stop on a wall-clock budget (``max_seconds``) so that fields are compared at
equal time (the decay then follows whichever of steps and seconds runs out first). A non-finite loss stops the fit with ``FloatingPointError``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
import warnings

import numpy as np
import torch
from tqdm.auto import tqdm

from sciml.grid import Grid
from sciml.mesh import Mesh
from sciml.sampled import Sampled

from ._optim import descend
from .autodiff import gradient
from .base import Field
from .geometry import (
    NotWatertightWarning,
    TriangleSurface,
    occupancy,
    sample_near_surface,
    signed_distance,
    watertight_report,
)

__all__ = ["SDF_EIKONAL_WEIGHTS", "SDF_LEARNING_RATES", "FitResult", "default_eikonal_weight", "default_learning_rate",
           "fit_image", "fit_occupancy", "fit_sdf"]

#: what ``max_seconds`` measures: wall time, or this process' CPU time (fair budgets on a shared machine)
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}

#: Adam learning rates per registered field name (fields may also define ``default_lr``)
LEARNING_RATES = {"siren": 1e-4, "fourier-mlp": 1e-3, "grid": 1e-2, "triplane": 1e-2, "neurbf": 5e-3}

#: Adam learning rates of SDF fits (:func:`fit_sdf`), tuned on pyvista's ``ant.ply`` at 20k parameters and
#: 20 CPU-s (volumetric IoU, batch 1024): SIREN 1e-4 / 3e-4 / 1e-3 / 3e-3 -> 0.61 / 0.64 / 0.76 / diverged
#: (5e-4 at batch 512: 0.80, 1e-3: 0.84); grid 1e-2 / 3e-2 / 1e-1 -> 0.68 / 0.71 / diverged; tri-plane
#: 1e-2 / 3e-2 -> 0.44 / 0.52 (R 16) and 0.60 / 0.71 (8 channels); NeuRBF (16 features, batch 512)
#: 2e-3 / 5e-3 -> 0.59 / 0.66-0.68 (1e-2 with 32 features: 0.59, 2e-2 at batch 1024: 0.23).
#: Short time-budgeted SDF fits want larger steps than image fits. With the ReLU tri-plane decoder and
#: NeuRBF's positional encoding (their 3D budget defaults since), ant.ply at 30 CPU-s: tri-plane 3e-2 /
#: 1.5e-2 / 1e-2 -> 0.820 / 0.849 / 0.850; NeuRBF (no grid) 1e-2 / 2e-2 -> 0.805 / 0.773, with grid 1e-2: 0.830.
SDF_LEARNING_RATES = {"siren": 1e-3, "fourier-mlp": 1e-3, "grid": 3e-2, "triplane": 1e-2, "neurbf": 1e-2}

#: eikonal weights :math:`\lambda` of :func:`fit_sdf` per registered field name (others:
#: :data:`SDF_EIKONAL_WEIGHT`; fields may also define ``default_eikonal_weight``). The measured fields drop the term:
#: its double backward costs 1.5-3x the plain step, and at equal time the extra steps win. Hash grid: on the 58k-face
#: ant (loop-subdivided ``ant.ply``, 200k parameters, one thread) IoU 0.896 with :math:`\lambda = 0.1` against 0.975
#: without at 60 CPU-s. SIREN, tri-plane, NeuRBF at 20k parameters and 30 CPU-s (one thread, batch 512), mean IoU
#: with 0.1 -> 0: ``ant.ply`` seeds 0-2 SIREN 0.866 -> 0.915, tri-plane (seed 0) 0.866 -> 0.924 (0.929 over
#: seeds 0-2), NeuRBF (seed 0) 0.863 -> 0.916; ``nut.ply`` seeds 0-1 SIREN 0.985 -> 0.990; Chamfer and normal
#: consistency improve with them (``benchmarks/fields_fit.py``).
SDF_EIKONAL_WEIGHTS = {"grid": 0.0, "siren": 0.0, "triplane": 0.0, "neurbf": 0.0}

#: eikonal weight of :func:`fit_sdf` for fields not in :data:`SDF_EIKONAL_WEIGHTS`
SDF_EIKONAL_WEIGHT = 0.1

#: linear learning-rate warm-up of :func:`fit_sdf` (steps): the larger SDF rates start gently
SDF_WARMUP_STEPS = 50

#: :math:`\beta` of the kernel placement of :func:`fit_sdf` (NeuRBF): sample weights
#: :math:`1 / (|d| + \beta\,\mathrm{diag})`; 0.1 gave IoU 0.69 / 0.62 with 32 / 16 features, 0.02 gave 0.62 / 0.68
#: (ant.ply, 20k parameters, 20 CPU-s): a wash, kept at 0.02.
SDF_KERNEL_BAND = 0.02

#: steps between two nearest-kernel searches of :func:`fit_image` when it fits every pixel every step
#: (``NeuRBF.cached_neighbours``): astronaut 128x128, 8k parameters, one thread: 50.8 -> 43.5 ms per step for
#: about 0.1 dB after 250 steps (``benchmarks/neurbf_images.py --refresh``)
NEIGHBOUR_REFRESH = 10

#: per-objective tables of :func:`default_learning_rate`
OBJECTIVE_LEARNING_RATES = {None: LEARNING_RATES, "image": LEARNING_RATES, "sdf": SDF_LEARNING_RATES}


@dataclasses.dataclass
class FitResult:
    """What a fit returns.

    Attributes
    ----------
    field : Field
        The fitted field (the one passed in, trained in place).
    history : list of dict
        ``{"step", "loss", "seconds"}`` every ``log_every`` steps and at the end.
    steps : int
        Optimisation steps taken (fewer than asked when ``max_seconds`` ran out).
    seconds : float
        Time of the optimisation on the fit's ``clock`` (target computation excluded).
    setup_seconds : float
        Wall time of computing the targets (distances, labels, kernel placement).
    signed : bool or None
        SDF fits: whether the target distance was signed.
    """

    field: Field
    history: list
    steps: int
    seconds: float
    setup_seconds: float = 0.0
    signed: bool | None = None

    @property
    def final_loss(self) -> float:
        return self.history[-1]["loss"] if self.history else float("nan")


def default_learning_rate(field: Field, objective: str | None = None) -> float:
    """``field.default_lr`` if set, else the table of ``objective`` by registry name, else ``1e-3``.

    ``objective`` is ``None`` or ``"image"`` (:data:`LEARNING_RATES`) or ``"sdf"``
    (:data:`SDF_LEARNING_RATES`, what :func:`fit_sdf` uses).
    """
    if objective not in OBJECTIVE_LEARNING_RATES:
        raise ValueError(f"objective: expected one of {sorted(k for k in OBJECTIVE_LEARNING_RATES if k)} or None, "
                         f"got {objective!r}")
    lr = getattr(field, "default_lr", None)
    if lr is None:
        lr = OBJECTIVE_LEARNING_RATES[objective].get(getattr(type(field), "registry_name", ""), 1e-3)
    return float(lr)


def default_eikonal_weight(field: Field) -> float:
    """``field.default_eikonal_weight`` if set, else :data:`SDF_EIKONAL_WEIGHTS` by registry name, else
    :data:`SDF_EIKONAL_WEIGHT` (what :func:`fit_sdf` uses when ``eikonal_weight`` is None)."""
    weight = getattr(field, "default_eikonal_weight", None)
    if weight is None:
        weight = SDF_EIKONAL_WEIGHTS.get(getattr(type(field), "registry_name", ""), SDF_EIKONAL_WEIGHT)
    return float(weight)


# ------------------------------------------------------------------------------------ checks
def _check_field(field, ndim: int) -> None:
    if not isinstance(field, Field):
        raise TypeError(f"field: expected a sciml.fields.Field, got {type(field).__name__}")
    if field.in_dim != ndim:
        raise ValueError(f"field: expected a field of {ndim} coordinates, got in_dim {field.in_dim}")


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")
    return int(value)


def _check_positive(value, name: str, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or not math.isfinite(value):
        raise ValueError(f"{name}: expected a positive finite number, got {value!r}")
    return float(value)


def _as_surface(target) -> TriangleSurface:
    if isinstance(target, TriangleSurface):
        return target
    if isinstance(target, Mesh):
        return TriangleSurface.from_mesh(target)
    raise TypeError(f"surface: expected a TriangleSurface or sciml.Mesh, got {type(target).__name__}")


def _check_inside(field: Field, surface: TriangleSurface) -> None:
    lower, upper = np.asarray(field.domain.lower), np.asarray(field.domain.upper)
    v = surface.vertices
    tol = 1e-6 * (upper - lower)
    if (v < lower - tol).any() or (v > upper + tol).any():
        raise ValueError(f"surface: its bounding box [{v.min(0).tolist()}, {v.max(0).tolist()}] leaves the field's "
                         f"domain {list(field.domain.bounds)}; normalise it (UnitBoxTransform) or enlarge the domain")


# ------------------------------------------------------------------------------------ the loop
def _optimise(field: Field, loss_fn, n_targets: int, steps: int, lr: float | None, batch_size: int, seed: int,
              progress: bool, max_seconds: float | None, log_every: int, desc: str,
              clock: str = "wall", warmup: int = 0, spent: float = 0.0) -> tuple[list, int, float]:
    """Adam on ``loss_fn(index)`` over random batches of ``n_targets``; returns (history, steps, seconds).

    The learning rate ramps up linearly over the first ``warmup`` steps, then decays as described above.
    ``spent`` seconds of ``max_seconds`` are already used (the kernel placement, with ``count_placement``):
    the optimisation gets the rest, and at least one step.
    """
    timer = CLOCKS[_check_clock(clock)]
    steps = _check_int(steps, "steps", 1)
    batch_size = _check_int(batch_size, "batch_size", 1)
    log_every = _check_int(log_every, "log_every", 1)
    lr = default_learning_rate(field) if lr is None else _check_positive(lr, "lr")
    max_seconds = _check_positive(max_seconds, "max_seconds", allow_none=True)
    if max_seconds is not None and spent:
        max_seconds = max(max_seconds - spent, 1e-9)
    params = [p for p in field.parameters() if p.requires_grad]
    if not params:
        raise ValueError("field: it has no trainable parameters")
    # the fused Adam kernel: the same update in one pass, 3-4x faster on a 200k-parameter table (3-7% of a step)
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params) and \
        len({(p.device, p.dtype) for p in params}) == 1
    optimizer = torch.optim.Adam(params, lr=lr / (warmup + 1), fused=fused or None)
    generator = torch.Generator().manual_seed(int(seed))
    device = params[0].device
    history, start, step = [], timer(), 0
    field.train()
    with tqdm(total=steps, desc=desc, disable=not progress, leave=False) as bar:
        for step in range(1, steps + 1):
            index = (torch.randint(n_targets, (batch_size,), generator=generator) if batch_size < n_targets
                     else torch.arange(n_targets))  # batches drawn with replacement: cheap for big pools
            value = descend(optimizer, loss_fn(index.to(device)), f"{desc}, step {step}",
                            f"the fit diverged (lr {lr:g}) -- lower the learning rate")
            elapsed = timer() - start
            done = step / steps if max_seconds is None else max(step / steps, elapsed / max_seconds)
            ramp = min(1.0, (step + 1) / (warmup + 1))  # the next step's share of the warm-up
            for group in optimizer.param_groups:  # lr * 0.1^done: the decay ends with the budget
                group["lr"] = ramp * lr * 0.1 ** min(done, 1.0)
            out_of_time = max_seconds is not None and elapsed >= max_seconds
            if step % log_every == 0 or step == steps or out_of_time:
                history.append({"step": step, "loss": value, "seconds": elapsed})
                bar.set_postfix(loss=f"{value:.3e}")
            bar.update(1)
            if out_of_time:
                break
    field.eval()
    return history, step, timer() - start


def _tensor(array: np.ndarray, field: Field) -> torch.Tensor:
    return torch.as_tensor(array, dtype=field._param_dtype(), device=field._param_device())


def _place_kernels(field: Field, points: torch.Tensor, weights: torch.Tensor, seed: int, progress: bool,
                   clock: str = "wall") -> float:
    """Fields with data-adaptive kernels (NeuRBF) place them from weighted samples before fitting.

    Returns the ``clock`` seconds the placement took (0 for other fields).
    """
    return _timed_init(field, "init_from_samples", clock, points, weights, seed=seed, progress=progress)


def _timed_init(field: Field, method: str, clock: str, *args, **kwargs) -> float:
    """Call ``field.<method>(*args, **kwargs)`` if the field has it; the ``clock`` seconds it took (0 if not)."""
    init = getattr(field, method, None)
    if not callable(init):
        return 0.0
    timer = CLOCKS[_check_clock(clock)]
    start = timer()
    init(*args, **kwargs)
    return timer() - start


def _check_clock(clock: str) -> str:
    if clock not in CLOCKS:
        raise ValueError(f"clock: expected one of {sorted(CLOCKS)}, got {clock!r}")
    return clock


# ------------------------------------------------------------------------------------ shapes
def fit_sdf(field: Field, surface, steps: int = 2000, lr: float | None = None, batch_size: int = 512,
            eikonal_weight: float | None = None, n_points: int = 200_000, surface_fraction: float = 0.75,
            sigmas=(0.003, 0.01, 0.05), signed: bool | None = None, seed: int = 0, progress: bool = True,
            max_seconds: float | None = None, log_every: int = 10, clock: str = "wall",
            count_placement: bool = False) -> FitResult:
    r"""Fit a 3D field to the signed distance of ``surface`` (L1 + eikonal).

    Parameters
    ----------
    field : Field
        A 3D scalar field whose domain contains the surface (e.g. the unit box after
        :class:`~sciml.fields.geometry.UnitBoxTransform`).
    surface : TriangleSurface or Mesh
    steps : int
        Adam steps.
    lr : float, optional
        Learning rate (default: ``default_learning_rate(field, "sdf")``, :data:`SDF_LEARNING_RATES`).
    batch_size : int
        Points per step. Small batches (many steps) win at equal time: on ``ant.ply`` at 20k
        parameters and 20 CPU-s, 512 beat 256, 1024 and 4096 for SIREN, grid and tri-plane (with the
        eikonal term); a 200k-parameter grid on a 58k-face mesh reached IoU 0.987 in 300 CPU-s with 2048.
    eikonal_weight : float, optional
        :math:`\lambda` (``0`` disables the gradient term; default: :func:`default_eikonal_weight`,
        0 for the hash grid, SIREN, tri-plane and NeuRBF, 0.1 for other fields). Without the term
        the fit matches the distance where it is sampled (near the surface and the uniform
        points) but is not held to :math:`|\nabla f| = 1` between them: pass ``0.1`` when the field
        must be a distance away from the surface too (e.g. for sphere tracing).
    n_points : int
        Size of the pool of target points.
    surface_fraction : float
        Share of the pool jittered around the surface; the rest is uniform in the domain.
    sigmas : sequence of float
        Jitter scales, relative to the longest side of the domain.
    signed : bool, optional
        ``None``: signed when the surface is watertight, else unsigned with a warning. ``True``:
        signed by the generalised winding number even when the surface has holes, the better target
        when they are small: the unsigned distance has no inside, and its zero set is a kink (a
        minimum of 0, not a sign change), so a fit has no level 0 to extract unless it undershoots
        there -- extract it at a small positive level (``sciml fit`` uses 1.5 grid cells). On
        pyvista's ``airplane.ply`` (223 boundary edges; 0.6% of the target points have a winding
        number between 0.2 and 0.8), 20k parameters, 30 CPU-s, eikonal weight 0.1: IoU by ``f < 0``
        of the unsigned fits SIREN 0.79, tri-plane 0.11, NeuRBF 0.56 (the better a field follows the
        kink, the fewer negative values it has); of the winding-signed fits 0.84, 0.86 and 0.84
        (0.95-0.96 for all three without the eikonal term, the default since).
    seed : int
    progress : bool
        Show a tqdm bar.
    max_seconds : float, optional
        Stop after this much optimisation time.
    clock : {"wall", "cpu"}
        What ``max_seconds`` and the reported seconds measure: wall time, or the process' CPU
        time (all threads), which stays fair when other jobs share the cores.
    log_every : int
        History interval.
    count_placement : bool
        Count a data-adaptive field's kernel placement (NeuRBF's weighted k-means, part of the
        setup) in ``max_seconds``, so that fields with and without one get the same total time
        (the point sampling and distances, common to all fields, stay outside the budget).

    Returns
    -------
    FitResult

    Examples
    --------
    >>> from sciml.fields.geometry import icosphere
    >>> from sciml.fields.mlp import SIREN
    >>> field = SIREN.for_domain(Domain.unit(3), width=32, depth=2, omega0=10.0)
    >>> sphere = icosphere(3, 0.3, (0.5, 0.5, 0.5))
    >>> result = fit_sdf(field, sphere, steps=200, lr=1e-3, batch_size=512, n_points=4000, progress=False)
    >>> result.signed, result.history[-1]["loss"] < result.history[0]["loss"]
    (True, True)
    """
    _check_field(field, 3)
    surface = _as_surface(surface)
    _check_inside(field, surface)
    eikonal_weight = default_eikonal_weight(field) if eikonal_weight is None else float(eikonal_weight)
    if not eikonal_weight >= 0:
        raise ValueError(f"eikonal_weight: expected a number >= 0, got {eikonal_weight!r}")
    start = time.perf_counter()
    points, signed = _pool(field, surface, n_points, surface_fraction, sigmas, seed, signed, "fit_sdf")
    target = signed_distance(points, surface, signed=signed)
    x, d = _tensor(points, field), _tensor(target, field)[:, None]
    diagonal = float(np.linalg.norm(field.domain.lengths))
    placement = _place_kernels(field, x, 1.0 / (d[:, 0].abs() + SDF_KERNEL_BAND * diagonal), seed, progress, clock)
    setup = time.perf_counter() - start

    def loss_fn(index):
        if eikonal_weight == 0:
            return (field(x[index]) - d[index]).abs().mean()
        value, grad = gradient(field, x[index], values=True)
        return (value - d[index]).abs().mean() + eikonal_weight * ((grad.norm(dim=-1) - 1.0) ** 2).mean()

    lr = default_learning_rate(field, "sdf") if lr is None else lr
    history, taken, seconds = _optimise(field, loss_fn, len(x), steps, lr, batch_size, seed, progress,
                                        max_seconds, log_every, "fit_sdf", clock, SDF_WARMUP_STEPS,
                                        spent=placement if count_placement else 0.0)
    return FitResult(field, history, taken, seconds, setup, signed)


def fit_occupancy(field: Field, surface, steps: int = 2000, lr: float | None = None, batch_size: int = 8192,
                  n_points: int = 200_000, surface_fraction: float = 0.75, sigmas=(0.003, 0.01, 0.05),
                  seed: int = 0, progress: bool = True, max_seconds: float | None = None,
                  log_every: int = 10, clock: str = "wall", count_placement: bool = False) -> FitResult:
    """Fit a 3D field's logits to inside/outside labels of ``surface`` (binary cross-entropy).

    Labels come from the generalised winding number (``w > 1/2``), which is also
    meaningful for surfaces with small holes; for those a
    :class:`~sciml.fields.geometry.NotWatertightWarning` says the labels are approximate.
    The zero level set of the logits is the fitted surface. Parameters as in :func:`fit_sdf`.
    """
    _check_field(field, 3)
    surface = _as_surface(surface)
    _check_inside(field, surface)
    start = time.perf_counter()
    points, _ = _pool(field, surface, n_points, surface_fraction, sigmas, seed, True, "fit_occupancy")
    report = watertight_report(surface)
    if not report.watertight:
        warnings.warn(f"the surface is {report.describe()}; occupancy labels from the generalised winding number "
                      "are approximate near the holes", NotWatertightWarning, stacklevel=2)
    labels = occupancy(points, surface).astype(np.float64)
    x, o = _tensor(points, field), _tensor(labels, field)[:, None]
    near = _tensor(np.exp(-np.abs(signed_distance(points, surface, signed=False)) / (0.02 * max(field.domain.lengths))),
                   field)
    placement = _place_kernels(field, x, near, seed, progress, clock)
    setup = time.perf_counter() - start
    bce = torch.nn.BCEWithLogitsLoss()
    history, taken, seconds = _optimise(field, lambda i: bce(field(x[i]), o[i]), len(x), steps, lr, batch_size,
                                        seed, progress, max_seconds, log_every, "fit_occupancy", clock,
                                        spent=placement if count_placement else 0.0)
    return FitResult(field, history, taken, seconds, setup, None)


def _pool(field, surface, n_points, surface_fraction, sigmas, seed, signed, who):
    n_points = _check_int(n_points, "n_points", 2)
    surface_fraction = float(surface_fraction)
    if not 0.0 <= surface_fraction <= 1.0:
        raise ValueError(f"surface_fraction: expected a number in [0, 1], got {surface_fraction!r}")
    if signed is None:
        report = watertight_report(surface)
        signed = report.watertight
        if not signed:
            warnings.warn(f"{who}: the surface is {report.describe()}; fitting the unsigned distance instead of "
                          "the signed one (extract the surface at a small positive level)",
                          NotWatertightWarning, stacklevel=3)
    n_surface = round(surface_fraction * n_points)
    scale = max(field.domain.lengths)
    points = sample_near_surface(surface, n_surface, n_points - n_surface,
                                 sigmas=tuple(scale * float(s) for s in np.atleast_1d(sigmas)),
                                 bounds=field.domain.bounds, seed=seed)
    return points, bool(signed)


# ------------------------------------------------------------------------------------ images
def fit_image(field: Field, image: Sampled, steps: int = 2000, lr: float | None = None, batch_size: int = 65536,
              seed: int = 0, progress: bool = True, max_seconds: float | None = None,
              log_every: int = 10, clock: str = "wall", count_placement: bool = False) -> FitResult:
    r"""Fit a 2D field to an image :math:`u` (mean squared error over pixel batches).

    Parameters
    ----------
    field : Field
        A field with ``in_dim == 2`` and one output per image channel.
    image : Sampled
        Values ``[1, C, H, W]`` on a 2D grid (see :func:`sciml.fields.images.image_to_sampled`).
    steps, lr, batch_size, seed, progress, max_seconds, log_every, clock, count_placement
        As in :func:`fit_sdf` (``batch_size >= H W`` uses every pixel each step; the placement is
        NeuRBF's ``init_from_sampled``).

    Returns
    -------
    FitResult
        The history's ``loss`` is the batch MSE (``psnr = -10 log10(loss)`` for a unit range).

    Examples
    --------
    >>> from sciml.fields.images import image_to_sampled
    >>> from sciml.fields.mlp import SIREN
    >>> x = np.linspace(0, 1, 16)
    >>> target = image_to_sampled(0.5 + 0.4 * np.sin(2 * np.pi * x)[:, None] * np.cos(np.pi * x)[None, :])
    >>> field = SIREN.for_domain(Domain.unit(2), width=32, depth=2, omega0=10.0)
    >>> result = fit_image(field, target, steps=300, lr=1e-3, progress=False)
    >>> result.history[-1]["loss"] < 1e-3
    True
    """
    _check_field(field, 2)
    if not isinstance(image, Sampled) or not isinstance(image.on, Grid) or image.on.ndim != 2:
        raise TypeError(f"image: expected a Sampled on a 2D sciml.Grid, got {type(image).__name__}")
    if image.batch_size != 1 or image.channels != field.out_channels:
        raise ValueError(f"image: expected values [1, {field.out_channels}, H, W] (one image with the field's "
                         f"out_channels), got {tuple(image.values.shape)}")
    start = time.perf_counter()
    x = image.on.points(dtype=field._param_dtype(), device=field._param_device())
    u = image.values[0].reshape(image.channels, -1).T.to(dtype=x.dtype, device=x.device)
    if not bool(torch.isfinite(u).all()):
        raise ValueError("image: expected finite pixel values")
    placement = _timed_init(field, "init_from_sampled", clock, image.to(dtype=x.dtype), kind="image", seed=seed,
                            progress=progress)
    setup = time.perf_counter() - start
    whole = batch_size >= len(x)
    # every pixel every step: the same points each time, so a field that caches per-point work
    # (NeuRBF's nearest kernels, refreshed every 10 steps) may; the history's losses are those
    # of the cached evaluation, the field itself evaluates exactly after the fit
    cache = getattr(field, "cached_neighbours", None)
    context = cache(x, refresh_every=NEIGHBOUR_REFRESH) if whole and callable(cache) else contextlib.nullcontext()
    with context:
        history, taken, seconds = _optimise(
            field, (lambda i: ((field(x) - u) ** 2).mean()) if whole else (lambda i: ((field(x[i]) - u[i]) ** 2).mean()),
            len(x), steps, lr, batch_size, seed, progress, max_seconds, log_every, "fit_image", clock,
            spent=placement if count_placement else 0.0)
    return FitResult(field, history, taken, seconds, setup, None)
