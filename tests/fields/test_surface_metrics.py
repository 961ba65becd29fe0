"""Marching cubes of analytic SDFs, surface metrics against closed forms, image I/O and PSNR/SSIM."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import integrate
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from sciml.domain import Domain
from sciml.fields.base import Field
from sciml.fields.geometry import TriangleSurface, UnitBoxTransform, icosphere
from sciml.fields.images import (
    image_to_sampled,
    read_image,
    sampled_to_image,
    to_unit_float,
)
from sciml.fields.metrics import (
    chamfer_distance,
    fscore,
    normal_consistency,
    psnr,
    ssim,
    surface_metrics,
    volumetric_iou,
)
from sciml.fields.surface import extract_surface, sample_volume

CENTER = np.array([0.5, 0.45, 0.55])
RADIUS = 0.3


class Ball(Field):
    """Exact SDF of a ball, negative inside."""

    def __init__(self, center=CENTER, radius=RADIUS, domain=None):
        super().__init__(domain or Domain.unit(3))
        self.center = torch.tensor(center, dtype=torch.float64)
        self.radius = radius
        self.dummy = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))  # sets the sampling dtype

    def evaluate(self, x):
        return (x - self.center).norm(dim=-1, keepdim=True) - self.radius + 0 * self.dummy


def square(z=0.0, tilt=0.0):
    """Unit square in the plane z (optionally rotated by ``tilt`` about the line y = 1/2, z = z)."""
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float)
    y = v[:, 1] - 0.5
    v = np.stack([v[:, 0], 0.5 + y * np.cos(tilt), z + y * np.sin(tilt)], 1)
    return TriangleSurface(v, np.array([[0, 1, 2], [0, 2, 3]]))


# ------------------------------------------------------------------------------- marching cubes
def test_marching_cubes_of_a_ball_converges_at_second_order():
    # Vertices interpolate the root of |x - c| - r linearly on grid edges: error <= h^2 / (8 r) (second
    # derivative 1/r across the edge, h the spacing). Area and volume errors are O(h^2) as well.
    errors = []
    for resolution in (17, 33):
        h = 1.0 / (resolution - 1)
        surface = TriangleSurface.from_mesh(extract_surface(Ball(), resolution=resolution))
        vertex_error = np.abs(np.linalg.norm(surface.vertices - CENTER, axis=1) - RADIUS).max()
        assert vertex_error <= 1.05 * h**2 / (8 * RADIUS)
        area_error = abs(surface.area / (4 * np.pi * RADIUS**2) - 1)
        volume_error = abs(surface.volume / (4 / 3 * np.pi * RADIUS**3) - 1)
        errors.append((vertex_error, area_error, volume_error))
    assert errors[1][1] < 0.005 and errors[1][2] < 0.01  # at h = 1/32: area within 0.5 %, volume within 1 %
    for coarse, fine in zip(*errors):
        assert 3.3 < coarse / fine < 4.7  # halving h divides each error by ~4


def test_extracted_ball_is_close_to_the_true_sphere_in_chamfer_distance():
    mesh = extract_surface(Ball(), resolution=33)
    sphere = icosphere(5, RADIUS, CENTER)
    h = 1.0 / 32
    # both meshes lie within h^2 / (8 r) (marching cubes) and 3e-4 (faceting of the 20480-face icosphere) of the sphere
    assert chamfer_distance(mesh, sphere, n_points=5000) < h**2 / (8 * RADIUS) + 3e-4


def test_surface_is_mapped_back_through_the_transform():
    transform = UnitBoxTransform(center=(10.0, -2.0, 3.0), scale=0.1)
    mesh = extract_surface(Ball(), resolution=25, transform=transform)
    vertices = mesh.points().numpy()
    original_center = transform.inverse(CENTER[None])[0]
    radii = np.linalg.norm(vertices - original_center, axis=1)
    np.testing.assert_allclose(radii, RADIUS / transform.scale, rtol=0.01)


def test_extraction_orients_normals_outward_and_reports_bad_fields():
    surface = TriangleSurface.from_mesh(extract_surface(Ball(), resolution=17))
    assert surface.volume > 0
    with pytest.raises(ValueError, match="do not cross the level"):
        extract_surface(Ball(radius=0.01, center=(2.0, 2.0, 2.0)), resolution=9)
    with pytest.raises(ValueError, match="in_dim 2"):
        extract_surface(_Plane(), resolution=9)
    with pytest.raises(ValueError, match="resolution"):
        extract_surface(Ball(), resolution=1)
    with pytest.raises(FloatingPointError, match="diverged"):
        sample_volume(_Nan(), resolution=5)


class _Plane(Field):
    def __init__(self):
        super().__init__(Domain.unit(2))

    def evaluate(self, x):
        return x[:, :1]


class _Nan(Field):
    def __init__(self):
        super().__init__(Domain.unit(3))

    def evaluate(self, x):
        return x[:, :1] * float("nan")


# ------------------------------------------------------------------------------- surface metrics
def test_identical_surfaces_score_perfectly():
    sphere = icosphere(3, RADIUS, CENTER)
    m = surface_metrics(sphere, sphere, threshold=1e-6, n_points=2000)
    assert m["chamfer"] < 1e-12
    assert m["normal_consistency"] == pytest.approx(1.0, abs=1e-12)
    assert m["fscore"] == 1.0
    assert volumetric_iou(sphere, sphere, n_points=5000) == 1.0


def test_parallel_squares_have_chamfer_equal_to_their_gap():
    a, b = square(0.0), square(0.03)
    assert chamfer_distance(a, b, n_points=2000) == pytest.approx(0.03, abs=1e-12)
    assert fscore(a, b, threshold=0.031, n_points=2000) == 1.0
    assert fscore(a, b, threshold=0.029, n_points=2000) == 0.0
    assert normal_consistency(a, b, n_points=500) == pytest.approx(1.0, abs=1e-12)


def test_normal_consistency_of_tilted_planes_is_the_cosine():
    for angle in (0.3, 1.0):
        assert normal_consistency(square(0.0), square(0.0, tilt=angle), n_points=500) == pytest.approx(np.cos(angle), abs=1e-12)


def _shifted_sphere_references(r, d):
    """Closed-form integrals over u = cos(theta) ~ U[-1, 1] (uniform points on a sphere)."""
    dist = lambda u: np.sqrt(r * r + d * d - 2 * r * d * u)
    chamfer = integrate.quad(lambda u: abs(dist(u) - r) / 2, -1, 1)[0]
    nc = integrate.quad(lambda u: abs(r - d * u) / dist(u) / 2, -1, 1, points=[r / d] if r < d else None)[0]
    lens = np.pi * (4 * r + d) * (2 * r - d) ** 2 / 12  # intersection volume of two balls at distance d
    iou = lens / (2 * 4 / 3 * np.pi * r**3 - lens)
    return chamfer, nc, iou


def test_shifted_spheres_match_closed_forms():
    r, d = 0.25, 0.1
    a, b = icosphere(5, r, (0.5, 0.5, 0.5)), icosphere(5, r, (0.6, 0.5, 0.5))
    chamfer, nc, iou = _shifted_sphere_references(r, d)
    m = surface_metrics(a, b, n_points=20000, seed=1)
    # Monte Carlo: std(d) < 0.1, so the standard error of the mean is < 1e-3 / sqrt(2); faceting adds < 3e-4
    assert m["chamfer"] == pytest.approx(chamfer, abs=2e-3)
    assert m["normal_consistency"] == pytest.approx(nc, abs=3e-3)  # faceting tilts normals by ~1e-2 rad: cos error 1e-4
    n = 100_000
    measured = volumetric_iou(a, b, n_points=n, seed=2)
    # the samples fill the bounding box grown by 5 % per side: 0.66 x 0.55 x 0.55
    union = 2 * 4 / 3 * np.pi * r**3 * (1 - iou / (1 + iou))  # |A u B| = (|A| + |B|) / (1 + IoU)
    n_union = n * union / (0.66 * 0.55 * 0.55)
    standard_error = np.sqrt(iou * (1 - iou) / n_union)
    assert measured == pytest.approx(iou, abs=4 * standard_error + 2e-3)  # 2e-3: faceting of both spheres


def test_iou_accepts_inside_functions():
    box = Domain.unit(3)
    inside_ball = lambda p: np.linalg.norm(p - 0.5, axis=1) < 0.3
    inside_half = lambda p: (np.linalg.norm(p - 0.5, axis=1) < 0.3) & (p[:, 0] < 0.5)
    assert volumetric_iou(inside_ball, inside_half, n_points=50000, domain=box) == pytest.approx(0.5, abs=0.02)
    with pytest.raises(ValueError, match="domain: required"):
        volumetric_iou(inside_ball, inside_half)


def test_metrics_reject_bad_arguments():
    sphere = icosphere(1)
    with pytest.raises(TypeError, match="b: expected a sciml.Mesh or TriangleSurface"):
        chamfer_distance(sphere, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="n_points"):
        chamfer_distance(sphere, sphere, n_points=0)
    with pytest.raises(ValueError, match="threshold"):
        fscore(sphere, sphere, threshold=-1.0)
    with pytest.raises(ValueError, match="no sample"):
        volumetric_iou(lambda p: p[:, 0] > 2, lambda p: p[:, 0] > 2, n_points=10, domain=Domain.unit(3))


# ------------------------------------------------------------------------------- images
def test_psnr_and_ssim_match_scikit_image_and_closed_forms():
    rng = np.random.default_rng(0)
    target = rng.random((24, 20, 3))
    noisy = np.clip(target + 0.05 * rng.standard_normal(target.shape), 0, 1)
    assert psnr(target, noisy) == pytest.approx(peak_signal_noise_ratio(target, noisy, data_range=1.0), rel=1e-12)
    assert ssim(target, noisy) == pytest.approx(
        structural_similarity(target, noisy, data_range=1.0, channel_axis=-1), rel=1e-12)
    gray = target[..., 0]
    assert psnr(gray, gray + 0.01) == pytest.approx(40.0, rel=1e-9)  # 10 log10(1 / 0.01^2)
    assert psnr(gray[..., None], (gray + 0.1)[..., None], data_range=2.0) == pytest.approx(10 * np.log10(400), rel=1e-9)
    assert psnr(gray, gray) == float("inf") and ssim(gray, gray) == 1.0
    assert ssim(gray[..., None], noisy[..., :1]) == pytest.approx(
        structural_similarity(gray, noisy[..., 0], data_range=1.0), rel=1e-12)


def test_image_metrics_reject_bad_input():
    image = np.zeros((8, 8))
    with pytest.raises(ValueError, match="prediction: expected the target's shape"):
        psnr(image, np.zeros((8, 9)))
    with pytest.raises(TypeError, match="complex"):
        psnr(image, image.astype(complex))
    with pytest.raises(ValueError, match="NaN"):
        ssim(image, image * np.nan)
    with pytest.raises(ValueError, match="7x7"):
        ssim(np.zeros((5, 5)), np.zeros((5, 5)))
    with pytest.raises(ValueError, match="data_range"):
        psnr(image, image + 0.1, data_range=0)


def test_images_round_trip_through_sampled(tmp_path):
    from skimage import io

    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=(12, 10, 3), dtype=np.uint8)
    io.imsave(tmp_path / "im.png", pixels, check_contrast=False)
    image = read_image(tmp_path / "im.png")
    np.testing.assert_array_equal(image, pixels / 255.0)
    sampled = image_to_sampled(tmp_path / "im.png")
    assert sampled.values.shape == (1, 3, 12, 10)
    first_of_second_row = sampled.on.points().reshape(12, 10, 2)[1, 0].tolist()
    assert first_of_second_row == pytest.approx([1.5 / 12, 0.5 / 10])  # axis 0 runs down the rows
    np.testing.assert_array_equal(sampled_to_image(sampled), image)
    assert to_unit_float(np.array([[0, 65535], [0, 0]], dtype=np.uint16))[0, 1, 0] == 1.0
    assert to_unit_float(np.ones((3, 3), dtype=bool)).sum() == 9.0


def test_images_with_unsupported_dtypes_or_values_are_refused(tmp_path):
    with pytest.raises(TypeError, match="unsupported pixel dtype int16"):
        to_unit_float(np.zeros((4, 4), dtype=np.int16))
    with pytest.raises(TypeError, match="unsupported pixel dtype complex128"):
        to_unit_float(np.zeros((4, 4), dtype=complex))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        to_unit_float(np.full((4, 4), 2.0))
    with pytest.raises(ValueError, match="NaN"):
        to_unit_float(np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match="C in 1..4"):
        to_unit_float(np.zeros((4, 4, 5)))
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with pytest.raises(ValueError, match="could not read"):
        read_image(bad)
    with pytest.raises(FileNotFoundError):
        read_image(tmp_path / "missing.png")
