"""Neural fields at equal parameter budget and equal time: meshes (SDF) and images.

Compares the registered fields (SIREN, hash/dense grid, tri-plane, NeuRBF) on

* real meshes -- by default the example PLY files shipped inside the pyvista wheel (read from the
  zip, no VTK needed): IoU of the fitted field's inside against the mesh's, Chamfer distance,
  normal consistency and F-score@0.01 of the marching-cubes surface (unit-box units). A mesh that
  is not watertight (``airplane.ply``) is fitted by default to the distance signed by the
  generalised winding number (``--open-meshes winding``), the same inside test the IoU's reference
  uses; ``--open-meshes unsigned`` fits the unsigned distance instead, which has no inside (IoU
  not reported) and whose surface is extracted as a thin shell 1.5 cells around its zero set;
* real images from scikit-image (``camera``, ``astronaut``, ...): PSNR and SSIM;
* optionally one large watertight mesh (``--large``) fitted for ``--large-seconds`` (the
  issue's target: IoU >= 0.98 within 5 minutes on 2 CPU cores).

Every fit gets the same parameter budget (``for_budget``) and the same optimisation time,
measured as this process' CPU time (``clock="cpu"``: fair when other jobs share the cores; run
with ``OMP_NUM_THREADS=1`` to read it as single-core seconds; ``--count-placement`` counts
NeuRBF's kernel placement in it too, so that every field gets the same total time); the runs of the different fields
on one input are interleaved over ``--repeats`` and the medians reported. Usage (documented in benchmarks/README.md)::

    pip download pyvista==0.49.1 --no-deps -d /tmp/pv
    OMP_NUM_THREADS=1 python benchmarks/fields_fit.py --pyvista-wheel /tmp/pv/pyvista-0.49.1-py3-none-any.whl \\
        --params 20000 --seconds 60 --images camera astronaut --image-size 128 \\
        --large-from ant.ply --subdivide 3 --large-seconds 300 --out fields_fit.json

The large-mesh target alone, on two threads (``OMP_WAIT_POLICY=PASSIVE`` keeps waiting threads from
spinning, which on a busy machine burns most of a CPU-time budget)::

    OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE python benchmarks/fields_fit.py \\
        --pyvista-wheel /tmp/pv/pyvista-0.49.1-py3-none-any.whl --large-only --large-from ant.ply \\
        --subdivide 3 --large-seconds 280 --threads 2
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

import sciml
from sciml.fields.fitting import fit_image, fit_sdf
from sciml.fields.geometry import TriangleSurface, UnitBoxTransform, watertight_report
from sciml.fields.images import image_to_sampled, sampled_to_image
from sciml.fields.metrics import psnr, ssim, surface_metrics, volumetric_iou
from sciml.fields.surface import extract_surface
from sciml.workflows.fit import MESH_LEVEL_CELLS, make_field


def wheel_meshes(wheel: Path, folder: Path) -> list[Path]:
    """Extract the example ``.ply`` files of a pyvista wheel into ``folder``."""
    paths = []
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.startswith("pyvista/examples/") and name.endswith(".ply"):
                target = folder / Path(name).name
                target.write_bytes(archive.read(name))
                paths.append(target)
    return sorted(paths)


def inside_function(field):
    def inside(points):
        with torch.no_grad():
            x = torch.as_tensor(points, dtype=torch.float32)
            return torch.cat([field(x[i:i + 65536])[:, 0] for i in range(0, len(x), 65536)]).numpy() < 0

    return inside


def fit_mesh_once(name, surface, params, seconds, steps, resolution, seed, batch_size=512, field_options=None,
                  fit_options=None):
    """Fit field ``name`` to ``surface`` for ``seconds`` of CPU time and measure it.

    Besides the metrics, returns the fit's CPU seconds (``seconds``), the wall and CPU time of the
    whole ``fit_sdf`` call, setup included (``fit_wall_seconds``, ``fit_cpu_seconds``), and the
    setup's wall time (``setup_seconds``: sampling, distances), and whether the target was signed.
    An unsigned fit has no inside: its IoU is NaN, and its surface is the level set 1.5 grid cells
    above zero (as in ``sciml fit``). Its zero set is a kink (a minimum of 0, not a crossing), so
    ``f < 0`` and the level 0 only find where a fit happens to undershoot: a field that fits the
    unsigned distance well scores *worse* on them (airplane.ply, 30 CPU-s, eikonal 0.1: tri-plane IoU 0.11 and
    SIREN 0.79 by ``f < 0``, while fitted to the winding-number-signed distance 0.86 and 0.84).
    """
    field = make_field(name, sciml.Domain.unit(3), params, **(field_options or {}))
    wall, cpu = time.perf_counter(), time.process_time()
    result = fit_sdf(field, surface, steps=steps, max_seconds=seconds, seed=seed, batch_size=batch_size,
                     progress=False, clock="cpu", **(fit_options or {}))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if result.signed:
        iou = volumetric_iou(inside_function(field), surface, n_points=200_000, domain=sciml.Domain.unit(3),
                             seed=seed)
        level = 0.0
    else:
        iou, level = float("nan"), MESH_LEVEL_CELLS / (resolution - 1)
    try:
        fitted = TriangleSurface.from_mesh(extract_surface(field, resolution=resolution, level=level))
        m = surface_metrics(fitted, surface, threshold=0.01, n_points=50_000, seed=seed)
    except ValueError:  # no zero level set
        m = {"chamfer": float("nan"), "normal_consistency": float("nan"), "fscore": 0.0}
    return {"iou": iou, "chamfer": m["chamfer"], "normal_consistency": m["normal_consistency"],
            "fscore": m["fscore"], "steps": result.steps, "seconds": result.seconds,
            "setup_seconds": result.setup_seconds, "fit_wall_seconds": wall, "fit_cpu_seconds": cpu,
            "params": field.num_parameters(), "signed": float(result.signed)}


def fit_image_once(name, target, params, seconds, steps, seed, batch_size=4096):
    field = make_field(name, sciml.Domain.unit(2), params, out_channels=target.channels)
    result = fit_image(field, target, steps=steps, max_seconds=seconds, seed=seed, batch_size=batch_size,
                       progress=False, clock="cpu")
    with torch.no_grad():
        fitted = sampled_to_image(field.sample(target.on))
    image = sampled_to_image(target)
    return {"psnr": psnr(image, fitted), "ssim": ssim(image, fitted), "steps": result.steps,
            "seconds": result.seconds, "params": field.num_parameters()}


def interleaved(names, repeats, run):
    """``run(name, repeat)`` for each repeat, fields in turn; medians per field."""
    runs = {name: [] for name in names}
    for repeat in range(repeats):
        for name in names:
            runs[name].append(run(name, repeat))
            print(f"  {name} #{repeat}: " + ", ".join(f"{k}={v:.4g}" for k, v in runs[name][-1].items()), flush=True)
    return {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}


def mesh_table(results):
    lines = ["| mesh | faces | field | params | steps | IoU | Chamfer | NC | F@0.01 |", "|---" * 9 + "|"]
    for mesh, entry in results.items():
        for name, r in entry["fields"].items():
            lines.append(f"| {mesh} | {entry['faces']} | {name} | {int(r['params'])} | {int(r['steps'])} | "
                         f"{r['iou']:.4f} | {r['chamfer']:.2e} | {r['normal_consistency']:.3f} | {r['fscore']:.3f} |")
    return "\n".join(lines)


def image_table(results):
    lines = ["| image | field | params | steps | PSNR (dB) | SSIM |", "|---" * 6 + "|"]
    for image, entry in results.items():
        for name, r in entry.items():
            lines.append(f"| {image} | {name} | {int(r['params'])} | {int(r['steps'])} | {r['psnr']:.2f} | "
                         f"{r['ssim']:.4f} |")
    return "\n".join(lines)


def load_surface(path: Path, subdivide: int = 0) -> TriangleSurface:
    import igl

    surface = TriangleSurface.read(path)
    if subdivide:
        v, f = igl.loop(surface.vertices, surface.faces, subdivide)
        surface = TriangleSurface(v, f)
    return surface.transformed(UnitBoxTransform.from_bounds(surface.vertices, padding=0.1))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pyvista-wheel", type=Path, help="pyvista wheel whose example PLY meshes to use")
    parser.add_argument("--meshes", type=Path, nargs="*", default=[], help="mesh files")
    parser.add_argument("--skip-meshes", nargs="*", default=["sphere.ply"], help="mesh file names to leave out")
    parser.add_argument("--images", nargs="*", default=["camera", "astronaut"], help="skimage.data image names")
    parser.add_argument("--image-size", type=int, default=128, help="images are resized to this many pixels a side")
    parser.add_argument("--fields", default="siren,grid,triplane,neurbf")
    parser.add_argument("--params", type=int, default=20_000, help="parameter budget of every field")
    parser.add_argument("--seconds", type=float, default=60.0, help="optimisation CPU seconds of every fit")
    parser.add_argument("--steps", type=int, default=100_000, help="step cap of every fit")
    parser.add_argument("--count-placement", action="store_true",
                        help="count NeuRBF's kernel placement (k-means) in --seconds (fit_sdf(count_placement=True))")
    parser.add_argument("--resolution", type=int, default=128, help="marching-cubes nodes per axis")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--open-meshes", choices=("winding", "unsigned"), default="winding",
                        help="target of meshes that are not watertight: the distance signed by the generalised "
                             "winding number (the IoU's inside test) or the unsigned distance (no IoU)")
    parser.add_argument("--batch-size", type=int, default=512,
                        help="points (pixels) per step (512: best of 256-4096 for every field on ant.ply)")
    parser.add_argument("--large-from", help="mesh file name (in --meshes or the wheel) for the large-mesh target")
    parser.add_argument("--subdivide", type=int, default=3, help="loop subdivisions of the large mesh")
    parser.add_argument("--large-field", default="grid")
    parser.add_argument("--large-params", type=int, default=200_000)
    parser.add_argument("--large-seconds", type=float, default=300.0)
    parser.add_argument("--large-batch-size", type=int, default=2048,
                        help="points per step of the large fit (2048: 1.9x the points per CPU-second of 512 for the grid)")
    parser.add_argument("--large-field-options", type=json.loads, default={},
                        help='JSON keyword arguments of the large field\'s for_budget, e.g. \'{"max_resolution": 256}\'')
    parser.add_argument("--large-fit-options", type=json.loads, default={},
                        help='JSON keyword arguments of fit_sdf for the large fit, e.g. \'{"eikonal_weight": 0.1}\'')
    parser.add_argument("--large-only", action="store_true", help="fit only the large mesh (no small meshes, no images)")
    parser.add_argument("--threads", type=int,
                        help="torch threads (default: torch's choice); on a shared machine also set "
                             "OMP_WAIT_POLICY=PASSIVE, or waiting threads spin and burn the CPU-time budget")
    parser.add_argument("--out", type=Path, default=Path("fields_fit.json"))
    args = parser.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads: expected a positive number of threads, got {args.threads}")
        torch.set_num_threads(args.threads)
    if args.large_only and not args.large_from:
        parser.error("--large-only: needs --large-from")
    names = [n.strip() for n in args.fields.split(",") if n.strip()]
    report = {"environment": {"torch": torch.__version__, "threads": torch.get_num_threads(),
                              "platform": platform.platform(), "processor": platform.processor()},
              "args": {k: str(v) for k, v in vars(args).items()}, "meshes": {}, "images": {}, "large": None}
    with tempfile.TemporaryDirectory() as tmp:
        paths = list(args.meshes) + (wheel_meshes(args.pyvista_wheel, Path(tmp)) if args.pyvista_wheel else [])
        for path in paths:
            if path.name in args.skip_meshes or args.large_only:
                continue
            surface = load_surface(path)
            topology = watertight_report(surface)
            report_line = topology.describe()
            # None: signed when watertight; True: the winding-number sign even with holes
            signed = True if args.open_meshes == "winding" else None
            if not topology.watertight:
                report_line += ("; distance signed by the winding number" if signed else "; unsigned distance")
            print(f"{path.name}: {len(surface.faces)} faces, {report_line}", flush=True)
            fields = interleaved(names, args.repeats, lambda n, r, s=surface, sg=signed: fit_mesh_once(
                n, s, args.params, args.seconds, args.steps, args.resolution, seed=r, batch_size=args.batch_size,
                fit_options={"signed": sg, "count_placement": args.count_placement}))
            report["meshes"][path.name] = {"faces": len(surface.faces), "topology": report_line, "fields": fields}
        for image_name in [] if args.large_only else args.images:
            from skimage import data, transform

            pixels = getattr(data, image_name)()
            pixels = transform.resize(pixels, (args.image_size, args.image_size), anti_aliasing=True)
            target = image_to_sampled(np.clip(pixels, 0, 1))
            print(f"{image_name}: {tuple(target.values.shape)}", flush=True)
            image_fields = [n for n in names if n != "triplane"]  # the tri-plane is 3D only
            report["images"][image_name] = interleaved(image_fields, args.repeats, lambda n, r, t=target: (
                fit_image_once(n, t, args.params, args.seconds, args.steps, seed=r, batch_size=args.batch_size)))
        if args.large_from:
            path = next(p for p in paths if p.name == args.large_from)
            surface = load_surface(path, args.subdivide)
            print(f"large: {path.name} x{args.subdivide} loop subdivisions, {len(surface.faces)} faces, "
                  f"{watertight_report(surface).describe()}", flush=True)
            start = time.perf_counter()
            r = fit_mesh_once(args.large_field, surface, args.large_params, args.large_seconds, args.steps,
                              args.resolution, seed=0, batch_size=args.large_batch_size,
                              field_options=args.large_field_options, fit_options=args.large_fit_options)
            r["total_seconds"] = time.perf_counter() - start
            report["large"] = {"mesh": path.name, "subdivide": args.subdivide, "faces": len(surface.faces),
                               "field": args.large_field, **r}
            print(f"  {r}", flush=True)
    args.out.write_text(json.dumps(report, indent=2, default=float))
    print(mesh_table(report["meshes"]))
    print()
    print(image_table(report["images"]))
    if report["large"]:
        r = report["large"]
        print(f"\nlarge mesh: {r['mesh']} subdivided {r['subdivide']}x ({r['faces']} faces), {r['field']} with "
              f"{r['params']} parameters, {torch.get_num_threads()} threads: IoU {r['iou']:.4f}, Chamfer "
              f"{r['chamfer']:.2e}, NC {r['normal_consistency']:.3f}, F@0.01 {r['fscore']:.3f} after "
              f"{r['seconds']:.0f} CPU-s of optimisation ({r['steps']} steps); fit_sdf in all (setup included) "
              f"{r['fit_cpu_seconds']:.0f} CPU-s, {r['fit_wall_seconds']:.0f} s wall (setup {r['setup_seconds']:.1f} s "
              f"wall); {r['total_seconds']:.0f} s wall with the metrics")


if __name__ == "__main__":
    main()
