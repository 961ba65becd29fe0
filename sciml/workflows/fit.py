r"""``sciml fit``: fit a field to a mesh, an image or gridded data, and write what came out.

:func:`run_fit` chooses the pipeline from the input's suffix:

* a **mesh** (anything meshio reads): read as a
  :class:`~sciml.fields.geometry.TriangleSurface`, normalised into the unit box
  (:class:`~sciml.fields.geometry.UnitBoxTransform`, longest side 0.8, saved),
  fitted by :func:`~sciml.fields.fitting.fit_sdf` (``mode="sdf"``) or
  :func:`~sciml.fields.fitting.fit_occupancy`, its level set extracted by
  marching cubes and mapped back to the input's coordinates (``mesh.ply``);
* an **image** (``.png``, ``.jpg``, ``.tif``, ...): fitted by
  :func:`~sciml.fields.fitting.fit_image` on the unit square (``fit.png``);
* a **gridded dataset** (``.nc``, read by :meth:`sciml.Sampled.from_xarray`):
  fitted by :func:`sciml.fields.tensor_fit.fit_gridded` (``fit.nc``).

Neural fields are built through the model registry by name (``siren``, ``grid``,
``triplane``, ``neurbf``, ...) with ``cls.for_budget(domain, params)`` when a
parameter budget is given, so different field types are compared at equal size.

Output directory
----------------
``metrics.json``
    ``{"schema": "sciml-fit", "input", "kind", "field", "params", "seconds", "setup_seconds", "steps",
    "metrics": {...}, "history": [...], ...}``. Meshes: ``chamfer`` (mean point-to-surface
    distance in the unit box; ``chamfer_original_units`` in the input's units), ``iou`` (field's inside
    vs the input's, 200k points in the unit box), ``normal_consistency``, ``fscore`` (threshold
    ``0.01`` of the unit box), ``signed``, ``watertight``; images: ``psnr``, ``ssim``; gridded data:
    what ``fit_gridded`` reports.
``checkpoint/``
    The field (:func:`sciml.save_checkpoint`; rebuilt by ``sciml.load_checkpoint(path).model``).
``mesh.ply``, ``transform.json``, ``figure.png``
    The extracted surface in the input's coordinates, the normalisation and SDF slices (meshes);
    ``fit.png`` and target / fit / error panels (images); ``fit.nc`` (gridded data).
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from .._atomic import atomic_write_bytes, atomic_write_text

__all__ = ["FIELD_MODULES", "available_fields", "input_kind", "make_field", "run_fit"]

#: modules whose import registers the neural fields ``sciml fit`` can build
FIELD_MODULES = ("sciml.fields.mlp", "sciml.fields.encodings", "sciml.fields.triplane", "sciml.fields.neurbf")
MESH_LEVEL_CELLS = 1.5  # unsigned fits: extraction level in grid cells (a thin shell around the surface)


def available_fields() -> dict:
    """Registered :class:`~sciml.fields.Field` classes by name (importing :data:`FIELD_MODULES` that exist)."""
    import importlib

    import sciml
    from sciml.fields.base import Field

    for module in FIELD_MODULES:
        try:
            importlib.import_module(module)
        except ImportError:  # a field module not installed in this build: its names are simply absent
            continue
    return {name: cls for name, cls in sciml.registered_models().items() if issubclass(cls, Field)}


def make_field(name: str, domain, params: int | None = None, out_channels: int = 1, **options):
    """Build the registered field ``name`` on ``domain``: ``for_budget(domain, params)`` or ``for_domain(domain)``.

    Examples
    --------
    >>> field = make_field("siren", sciml.Domain.unit(2), params=2000, out_channels=3)
    >>> type(field).__name__, field.num_parameters() <= 2000
    ('SIREN', True)
    """
    fields = available_fields()
    if name not in fields:
        raise ValueError(f"field: expected a registered field among {sorted(fields)}, got {name!r}")
    cls = fields[name]
    if params is None:
        return cls.for_domain(domain, out_channels=out_channels, **options)
    if isinstance(params, bool) or not isinstance(params, (int, np.integer)) or params < 1:
        raise ValueError(f"params: expected a positive parameter budget, got {params!r}")
    if not hasattr(cls, "for_budget"):
        raise ValueError(f"field: {name!r} has no for_budget classmethod; omit params")
    return cls.for_budget(domain, int(params), out_channels=out_channels, **options)


def input_kind(path) -> str:
    """``"image"``, ``"gridded"`` (``.nc``) or ``"mesh"`` (anything else), from the file suffix."""
    from sciml.fields.images import IMAGE_SUFFIXES

    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    return "gridded" if suffix == ".nc" else "mesh"


def run_fit(input, field: str = "siren", *, out="fit", steps: int | None = None, params: int | None = None,
            mode: str = "sdf", lr: float | None = None, resolution: int = 128, batch_size: int | None = None,
            n_points: int = 200_000, max_seconds: float | None = None, seed: int = 0, rank=None,
            tol: float | None = None, signed: bool | None = None, progress: bool = True, figures: bool = True,
            echo=None) -> dict:
    """Fit ``field`` to the mesh, image or gridded data at ``input`` and write ``out`` (see the module docs).

    Parameters
    ----------
    input : path
        Mesh file, image file or ``.nc`` dataset.
    field : str
        Registered field name (``siren``, ``grid``, ``triplane``, ``neurbf``, ...), or for ``.nc``
        inputs ``tucker``, ``chebyshev-tucker``, ``funbat``.
    out : path
        Output directory (created; files in it are replaced).
    steps : int, optional
        Optimisation steps (default 2000; FunBaT: its iterations).
    params : int, optional
        Parameter budget of a neural field (``for_budget``).
    mode : {"sdf", "occupancy"}
        Mesh objective.
    lr, batch_size, n_points, max_seconds, seed
        Passed to the fitting function (``n_points``: meshes only).
    resolution : int
        Marching-cubes grid nodes per axis.
    rank, tol
        Tensor formats only (see :func:`sciml.fields.tensor_fit.fit_gridded`).
    signed : bool, optional
        Meshes, ``mode="sdf"``: ``None`` signs the distance when the mesh is watertight and fits the
        unsigned distance otherwise (with a warning; no IoU, surface extracted 1.5 cells above 0);
        ``True`` signs it by the generalised winding number anyway, the better target for a mesh
        with small holes (an IoU and a level-0 surface); ``False`` always fits the unsigned distance.
    progress, figures : bool
        Progress bars; the PNG figure.
    echo : callable, optional
        Receives one-line status messages (e.g. ``print``).

    Returns
    -------
    dict
        The content of ``metrics.json``.
    """
    path = Path(input)
    if not path.is_file():
        raise FileNotFoundError(f"input: no file at {str(path)!r}")
    if signed is not None and not isinstance(signed, bool):
        raise TypeError(f"signed: expected None, True or False, got {signed!r}")
    if mode not in ("sdf", "occupancy"):
        raise ValueError(f"mode: expected 'sdf' or 'occupancy', got {mode!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say = echo or (lambda message: None)
    kind = input_kind(path)
    common = {"steps": 2000 if steps is None else steps, "lr": lr, "seed": seed, "progress": progress,
              "max_seconds": max_seconds}
    if kind == "gridded":
        if params is not None:
            raise ValueError("params: a parameter budget applies to neural fields; for .nc data set the "
                             "tensor format's rank or tol instead")
        report = _fit_gridded(path, field, out, steps, rank, tol, progress, say)
    elif kind == "image":
        if batch_size is not None:
            common["batch_size"] = batch_size
        report = _fit_image(path, field, out, params, common, figures, say)
    else:
        if batch_size is not None:
            common["batch_size"] = batch_size
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 8:
            raise ValueError(f"resolution: expected an int >= 8 (marching-cubes nodes per axis), got {resolution!r}")
        if signed is not None and mode != "sdf":
            raise ValueError(f"signed: applies to mode='sdf' (occupancy labels always come from the winding "
                             f"number), got signed={signed} with mode={mode!r}")
        report = _fit_mesh(path, field, out, params, mode, resolution, n_points, common, figures, say, signed)
    report = {"schema": "sciml-fit", "schema_version": 1, "input": str(path), "kind": kind, **report}
    atomic_write_text(out / "metrics.json", json.dumps(_finite(report), indent=2, allow_nan=False))
    say(f"metrics: {out / 'metrics.json'}")
    return report


# ---------------------------------------------------------------------------------------- meshes
def _fit_mesh(path, name, out, params, mode, resolution, n_points, common, figures, say, signed=None) -> dict:
    from sciml import Domain, save_checkpoint
    from sciml.fields.fitting import fit_occupancy, fit_sdf
    from sciml.fields.geometry import (
        TriangleSurface,
        UnitBoxTransform,
        watertight_report,
    )
    from sciml.fields.metrics import surface_metrics, volumetric_iou
    from sciml.fields.surface import extract_surface

    surface = TriangleSurface.read(path)
    transform = UnitBoxTransform.from_bounds(surface.vertices, padding=0.1)
    unit_surface = surface.transformed(transform)
    report = watertight_report(surface)
    say(f"{path.name}: {len(surface.vertices)} vertices, {len(surface.faces)} triangles, {report.describe()}")
    domain = Domain.unit(3)
    field = make_field(name, domain, params)
    say(f"{name}: {field.num_parameters()} parameters")
    if mode == "sdf":
        result = fit_sdf(field, unit_surface, n_points=n_points, signed=signed, **common)
    else:
        result = fit_occupancy(field, unit_surface, n_points=n_points, **common)
    signed = result.signed if mode == "sdf" else None
    level = MESH_LEVEL_CELLS / (resolution - 1) if signed is False else 0.0
    atomic_write_text(out / "transform.json", json.dumps(transform.to_dict(), indent=2))
    try:
        fitted_unit = TriangleSurface.from_mesh(extract_surface(field, resolution=resolution, level=level))
    except ValueError as exc:  # the field has no level set yet: keep the run's other outputs
        warnings.warn(f"no surface extracted, mesh.ply not written and surface metrics left empty: {exc}",
                      UserWarning, stacklevel=3)
        metrics = dict.fromkeys(("chamfer", "normal_consistency", "fscore", "precision", "recall",
                                 "chamfer_original_units"))
    else:
        fitted_unit.transformed(transform, inverse=True).write(out / "mesh.ply")
        metrics = surface_metrics(fitted_unit, unit_surface, threshold=0.01, n_points=100_000, seed=common["seed"])
        metrics["chamfer_original_units"] = metrics["chamfer"] / transform.scale
    metrics["iou"] = None if signed is False else volumetric_iou(_inside(field, mode == "occupancy"), unit_surface, n_points=200_000,
                                                                  domain=domain, seed=common["seed"])
    metrics.update(signed=signed, watertight=report.watertight, level=level, resolution=resolution, mode=mode)
    save_checkpoint(out / "checkpoint", field, metrics=_finite(metrics), overwrite=True)
    if figures:
        _plot_sdf_slices(field, unit_surface, out / "figure.png", level)
    say(f"chamfer {metrics['chamfer']}, iou {metrics['iou']}, fscore {metrics['fscore']}")
    return {"field": name, "params": field.num_parameters(), "seconds": result.seconds,
            "setup_seconds": result.setup_seconds, "steps": result.steps, "metrics": metrics,
            "transform": transform.to_dict(), "history": result.history}


def _inside(field, logits: bool):
    """Inside test ``points [n, 3] -> bool [n]`` of a fitted SDF (negative inside) or occupancy logits (positive)."""

    def inside(points: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            x = torch.as_tensor(points, dtype=field._param_dtype())
            values = torch.cat([field(x[i:i + 65536]) for i in range(0, len(x), 65536)])[:, 0]
        return (values > 0).numpy() if logits else (values < 0).numpy()

    return inside


def _plot_sdf_slices(field, surface, file: Path, level: float, size: int = 96) -> None:
    from matplotlib.figure import Figure

    from sciml.fields.geometry import signed_distance

    t = (np.arange(size) + 0.5) / size
    a, b = np.meshgrid(t, t, indexing="ij")
    fig = Figure(figsize=(13, 4.2), layout="constrained")
    axes = fig.subplots(1, 3)
    for axis, ax in enumerate(axes):
        plane = [np.full_like(a, 0.5)] * 3
        others = [i for i in range(3) if i != axis]
        plane[others[0]], plane[others[1]] = a, b
        points = np.stack([p.reshape(-1) for p in plane], 1)
        with torch.no_grad():
            values = field(torch.as_tensor(points, dtype=field._param_dtype()))[:, 0].double().numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an open target warns once already in the fit
            target = signed_distance(points, surface)
        bound = float(np.abs(values).max()) or 1.0
        image = ax.imshow(values.reshape(size, size).T, origin="lower", extent=(0, 1, 0, 1), cmap="RdBu_r",
                          vmin=-bound, vmax=bound)
        ax.contour(t, t, values.reshape(size, size).T, levels=[level], colors="k", linewidths=1.2)
        ax.contour(t, t, target.reshape(size, size).T, levels=[0.0], colors="lime", linewidths=0.8,
                   linestyles="--")
        names = "xyz"
        ax.set_title(f"{names[axis]} = 0.5 (black: fit, green: target)")
        ax.set_xlabel(names[others[0]])
        ax.set_ylabel(names[others[1]])
        fig.colorbar(image, ax=ax, shrink=0.8)
    _save_figure(fig, file)


def _save_figure(fig, file: Path) -> None:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    atomic_write_bytes(file, buffer.getvalue())


# ---------------------------------------------------------------------------------------- images
def _fit_image(path, name, out, params, common, figures, say) -> dict:
    from sciml import Domain, save_checkpoint
    from sciml.fields.fitting import fit_image
    from sciml.fields.images import image_to_sampled, read_image, sampled_to_image
    from sciml.fields.metrics import psnr, ssim

    target = read_image(path)
    sampled = image_to_sampled(target)
    say(f"{path.name}: {target.shape[0]}x{target.shape[1]} pixels, {target.shape[2]} channels")
    field = make_field(name, Domain.unit(2), params, out_channels=target.shape[2])
    say(f"{name}: {field.num_parameters()} parameters")
    result = fit_image(field, sampled, **common)
    with torch.no_grad():
        fitted = sampled_to_image(field.sample(sampled.on))
    metrics = {"psnr": psnr(target, fitted), "ssim": ssim(target, fitted)}
    _write_png(out / "fit.png", fitted)
    save_checkpoint(out / "checkpoint", field, metrics=_finite(metrics), overwrite=True)
    if figures:
        _plot_image_panels(target, fitted, out / "figure.png")
    say(f"psnr {metrics['psnr']:.2f} dB, ssim {metrics['ssim']:.4f}")
    return {"field": name, "params": field.num_parameters(), "seconds": result.seconds,
            "setup_seconds": result.setup_seconds, "steps": result.steps, "metrics": metrics,
            "history": result.history}


def _write_png(file: Path, image: np.ndarray) -> None:
    import io

    from PIL import Image

    pixels = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
    pixels = pixels[..., 0] if pixels.shape[-1] == 1 else pixels
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    atomic_write_bytes(file, buffer.getvalue())


def _plot_image_panels(target: np.ndarray, fitted: np.ndarray, file: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 4.2), layout="constrained")
    axes = fig.subplots(1, 3)
    show = (lambda im: im[..., 0]) if target.shape[-1] == 1 else (lambda im: im[..., :3])
    error = np.abs(fitted - target).mean(-1)
    for ax, (title, image, style) in zip(axes, (("target", show(target), {"cmap": "gray", "vmin": 0, "vmax": 1}),
                                                ("fit", show(fitted), {"cmap": "gray", "vmin": 0, "vmax": 1}),
                                                ("|error| (channel mean)", error, {"cmap": "magma"}))):
        drawn = ax.imshow(image, **style)
        ax.set_title(title)
        ax.set_axis_off()
        if title.startswith("|error|"):
            fig.colorbar(drawn, ax=ax, shrink=0.8)
    _save_figure(fig, file)


# ---------------------------------------------------------------------------------------- gridded data
def _fit_gridded(path, name, out, steps, rank, tol, progress, say) -> dict:
    import xarray as xr

    from sciml.fields.tensor_fit import fit_gridded
    from sciml.sampled import Sampled

    try:
        with xr.open_dataset(path) as dataset:
            dataset.load()
    except Exception as exc:  # xarray/netCDF backends raise many types for unreadable files
        raise ValueError(f"input: could not read {str(path)!r} as a netCDF dataset ({type(exc).__name__}: {exc})") \
            from exc
    names = list(dataset.data_vars)
    if len(names) != 1:
        raise ValueError(f"input: expected a dataset with one data variable, {str(path)!r} has {names}")
    array = dataset[names[0]]
    if "sciml_discretization" not in array.attrs and "sciml_discretization" in dataset.attrs:
        array.attrs["sciml_discretization"] = dataset.attrs["sciml_discretization"]
    sampled = Sampled.from_xarray(array)
    say(f"{path.name}: {names[0]} {tuple(sampled.values.shape)}")
    options = {"progress": progress}
    if rank is not None:
        options["rank"] = rank
    if tol is not None:
        options["tol"] = tol
    if steps is not None and name == "funbat":
        options["iters"] = steps
    start = time.perf_counter()
    field, metrics = fit_gridded(name, sampled, **options)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        fitted = field.sample(sampled.on)
    _write_netcdf(fitted.to_xarray(name=f"{names[0]}_fit"), out / "fit.nc")
    say(f"relative error {metrics.get('relative_error')}")
    return {"field": name, "params": metrics.get("params"), "seconds": metrics.get("seconds", seconds),
            "metrics": metrics}


def _write_netcdf(array, file: Path) -> None:
    tmp = file.with_name(f".{file.name}.tmp-{os.getpid()}")
    try:
        array.to_netcdf(tmp)
        os.replace(tmp, file)
    finally:
        tmp.unlink(missing_ok=True)


def _finite(value):
    """JSON-safe copy: tuples to lists, numpy scalars to Python, NaN/inf to ``None``."""
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
