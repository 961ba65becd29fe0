"""``sciml fit`` end to end on a tiny mesh, a tiny image and a gridded dataset; bad inputs give clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import sciml
from sciml.cli.main import main
from sciml.fields.geometry import TriangleSurface, UnitBoxTransform, icosphere
from sciml.fields.images import image_to_sampled
from sciml.fields.metrics import psnr, ssim
from sciml.workflows.fit import input_kind, make_field, run_fit


@pytest.fixture
def sphere_file(tmp_path):
    return icosphere(2, 0.5, (1.0, 2.0, 3.0)).write(tmp_path / "sphere.ply")


@pytest.fixture
def image_file(tmp_path):
    from PIL import Image

    x = np.linspace(0, 1, 12)
    pixels = (255 * (0.5 + 0.4 * np.sin(6 * x)[:, None] * np.cos(4 * x)[None, :])).astype(np.uint8)
    path = tmp_path / "image.png"
    Image.fromarray(pixels).save(path)
    return path


def test_fit_a_mesh_end_to_end(tmp_path, sphere_file, capsys):
    out = tmp_path / "out"
    code = main(["fit", str(sphere_file), "--field", "siren", "--steps", "20", "--params", "1500", "--points", "3000",
                 "--resolution", "24", "--out", str(out), "--no-progress", "--lr", "1e-3"])
    assert code == 0, capsys.readouterr().err
    for name in ("metrics.json", "mesh.ply", "figure.png", "transform.json", "checkpoint/config.json"):
        assert (out / name).is_file(), name
    report = json.loads((out / "metrics.json").read_text())
    assert report["kind"] == "mesh" and report["field"] == "siren" and report["steps"] == 20
    assert 0 < report["params"] <= 1500
    metrics = report["metrics"]
    for key in ("chamfer", "iou", "normal_consistency", "fscore"):
        assert np.isfinite(metrics[key]), key
    assert metrics["signed"] is True and metrics["watertight"] is True
    # the extracted mesh lies in the input's coordinates: inside the unit box mapped back
    transform = UnitBoxTransform.from_dict(json.loads((out / "transform.json").read_text()))
    assert transform == UnitBoxTransform.from_bounds(icosphere(2, 0.5, (1.0, 2.0, 3.0)).vertices)
    vertices = TriangleSurface.read(out / "mesh.ply").vertices
    lo, hi = transform.inverse(np.zeros((1, 3)))[0], transform.inverse(np.ones((1, 3)))[0]
    assert ((vertices >= lo - 1e-9) & (vertices <= hi + 1e-9)).all()
    assert metrics["chamfer_original_units"] == pytest.approx(metrics["chamfer"] / transform.scale)
    # the checkpoint rebuilds the field from the registry
    field = sciml.load_checkpoint(out / "checkpoint").model
    assert type(field).__name__ == "SIREN" and field.num_parameters() == report["params"]


def test_run_fit_image_metrics_match_the_saved_field(tmp_path, image_file):
    out = tmp_path / "img"
    report = run_fit(image_file, "siren", out=out, steps=30, params=800, lr=1e-3, progress=False, figures=True)
    assert report["kind"] == "image"
    for name in ("metrics.json", "fit.png", "figure.png", "checkpoint/config.json"):
        assert (out / name).is_file(), name
    field = sciml.load_checkpoint(out / "checkpoint").model
    target = image_to_sampled(image_file)
    with torch.no_grad():
        fitted = field.sample(target.on).values[0].double().clamp(0, 1).permute(1, 2, 0).numpy()
    image = target.values[0].permute(1, 2, 0).numpy()
    saved = json.loads((out / "metrics.json").read_text())["metrics"]
    assert saved["psnr"] == pytest.approx(psnr(image, fitted), rel=1e-6)
    assert saved["ssim"] == pytest.approx(ssim(image, fitted), rel=1e-6)


def test_open_mesh_falls_back_to_unsigned_distance(tmp_path):
    from sciml.fields.geometry import NotWatertightWarning

    closed = icosphere(2, 0.5)
    opened = TriangleSurface.from_arrays(closed.vertices, closed.faces[20:]).write(tmp_path / "open.obj")
    with pytest.warns(NotWatertightWarning, match="unsigned distance"), \
            pytest.warns(UserWarning, match="no surface extracted"):  # 3 steps: no level set yet
        report = run_fit(opened, "siren", out=tmp_path / "o", steps=3, params=1500, n_points=2000, resolution=16,
                         progress=False, figures=False)
    metrics = report["metrics"]
    assert metrics["signed"] is False and metrics["watertight"] is False and metrics["iou"] is None
    assert metrics["level"] == pytest.approx(1.5 / 15)  # a thin shell 1.5 cells around the unsigned zero set
    assert metrics["chamfer"] is None and not (tmp_path / "o" / "mesh.ply").exists()
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["metrics"]["signed"] is False
    assert (tmp_path / "o" / "checkpoint" / "config.json").is_file()


def test_open_mesh_signed_by_winding_number_on_request(tmp_path, capsys):
    """``--sign winding``: a mesh with a small hole gets a signed target, a level-0 surface and an IoU."""
    closed = icosphere(2, 0.5)
    opened = TriangleSurface.from_arrays(closed.vertices, closed.faces[2:]).write(tmp_path / "holed.obj")
    code = main(["fit", str(opened), "--field", "grid", "--steps", "150", "--params", "4000", "--points", "4000",
                 "--resolution", "24", "--sign", "winding", "--out", str(tmp_path / "w"), "--no-progress",
                 "--no-figures"])
    assert code == 0
    metrics = json.loads((tmp_path / "w" / "metrics.json").read_text())["metrics"]
    assert metrics["signed"] is True and metrics["watertight"] is False and metrics["level"] == 0.0
    assert metrics["iou"] > 0.5            # a ball of radius 0.5 in the unit box: well above chance
    assert (tmp_path / "w" / "mesh.ply").is_file()
    with pytest.raises(TypeError, match="signed: expected None, True or False"):
        run_fit(opened, "siren", out=tmp_path / "x", steps=1, signed="yes")
    with pytest.raises(ValueError, match="signed: applies to mode='sdf'"):
        run_fit(opened, "siren", out=tmp_path / "x", steps=1, mode="occupancy", signed=True)


def test_fit_gridded_data(tmp_path):
    pytest.importorskip("sciml.fields.tensor_fit")
    grid = sciml.Grid.uniform((12, 10), sciml.Domain.unit(2))
    x, y = grid.mesh().unbind(-1)
    data = sciml.Sampled((torch.exp(-x) * torch.cos(2 * y))[None, None], grid)
    path = tmp_path / "data.nc"
    data.to_xarray(name="u").to_netcdf(path)
    out = tmp_path / "tucker"
    assert main(["fit", str(path), "--field", "tucker", "--tol", "1e-8", "--out", str(out), "--no-progress"]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["kind"] == "gridded" and report["metrics"]["relative_error"] < 1e-8  # a rank-1 function
    fitted = sciml.Sampled.from_xarray(__import__("xarray").open_dataarray(out / "fit.nc"))
    np.testing.assert_allclose(fitted.values.double().numpy(), data.values.double().numpy(), rtol=0, atol=1e-6)


def test_input_kinds_and_field_builder():
    assert input_kind("a.PNG") == "image" and input_kind("b.nc") == "gridded" and input_kind("c.stl") == "mesh"
    with pytest.raises(ValueError, match="expected a registered field among .*siren"):
        make_field("nerf", sciml.Domain.unit(2))
    with pytest.raises(ValueError, match="params"):
        make_field("siren", sciml.Domain.unit(2), params=0)


@pytest.mark.parametrize("content, message", [
    ("ply\nformat ascii 1.0\nelement vertex 0\nelement face 0\nproperty list uchar int vertex_indices\nend_header\n",
     "no vertices|could not read"),
    ("v 0 0 0\nv 1 0 nan\nv 0 1 0\nf 1 2 3\n", "NaN"),
    ("v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n", "degenerate"),
])
def test_bad_meshes_give_clear_errors(tmp_path, capsys, content, message):
    suffix = ".ply" if content.startswith("ply") else ".obj"
    path = tmp_path / f"bad{suffix}"
    path.write_text(content)
    assert main(["fit", str(path), "--steps", "1", "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "sciml fit: error:" in err
    assert __import__("re").search(message, err), err


def test_bad_inputs_give_clear_errors(tmp_path, capsys, sphere_file, image_file):
    assert main(["fit", str(tmp_path / "missing.ply"), "--out", str(tmp_path / "o")]) == 2
    assert "no file" in capsys.readouterr().err
    assert main(["fit", str(sphere_file), "--field", "nerf", "--out", str(tmp_path / "o")]) == 2
    assert "expected a registered field" in capsys.readouterr().err
    bad_image = tmp_path / "bad.png"
    bad_image.write_text("not an image")
    assert main(["fit", str(bad_image), "--out", str(tmp_path / "o")]) == 2
    assert "could not read" in capsys.readouterr().err
    with pytest.raises(ValueError, match="mode"):
        run_fit(sphere_file, mode="volume", out=tmp_path / "o")
    with pytest.raises(ValueError, match="resolution"):
        run_fit(sphere_file, resolution=2, out=tmp_path / "o")
