"""Shapes with exact SDFs, the shape dataset, cube symmetries of tri-planes and the tri-plane classifier."""

import math

import numpy as np
import pytest
import scipy.spatial
import torch

from sciml.fields import gradient
from sciml.fields.classifier import (
    TriPlaneClassifier,
    classifier_accuracy,
    fit_planes_for_classification,
    train_classifier,
    transform_planes,
)
from sciml.fields.shapes import SHAPE_CLASSES, Box, Sphere, Torus, make_shape_dataset, random_shape
from sciml.fields.triplane import TriPlaneConfig, triplane_features


def _inside(shape, x):
    """Independent inside test from the shape's definition (not from its SDF)."""
    p = ((x - np.asarray(shape.center)) @ np.asarray(shape.rotation))
    if isinstance(shape, Sphere):
        return np.linalg.norm(p, axis=1) < shape.radius
    if isinstance(shape, Box):
        return (np.abs(p) < np.asarray(shape.half_sizes)).all(1)
    return (np.hypot(p[:, 0], p[:, 1]) - shape.major_radius) ** 2 + p[:, 2] ** 2 < shape.minor_radius ** 2


@pytest.mark.parametrize("kind", SHAPE_CLASSES)
def test_sdfs_are_exact_against_brute_force_distance_to_surface_samples(kind):
    rng = np.random.default_rng(SHAPE_CLASSES.index(kind))
    shape = random_shape(kind, rng)
    surface = shape.sample_surface(150_000, rng)
    # surface samples lie on the zero level set
    assert np.abs(shape.sdf(torch.from_numpy(surface)).numpy()).max() < 1e-12
    x = rng.uniform(-1, 1, (400, 3))
    brute, _ = scipy.spatial.cKDTree(surface).query(x)
    sdf = shape.sdf(torch.from_numpy(x)).numpy()
    # nearest-sample distance overestimates the true distance by at most the sample spacing (~0.01 here)
    assert np.all(brute >= np.abs(sdf) - 1e-12)
    assert np.abs(np.abs(sdf) - brute).max() < 0.015, kind
    np.testing.assert_array_equal(sdf < 0, _inside(shape, x))
    # exact SDFs have unit gradient almost everywhere (eikonal equation)
    g = gradient(lambda p: shape.sdf(p)[:, None], torch.from_numpy(x[:50]))
    np.testing.assert_allclose(torch.linalg.vector_norm(g, dim=1).detach().numpy(), 1.0, atol=1e-12)


def test_random_shapes_fit_in_the_box_and_surface_sampling_is_area_uniform():
    rng = np.random.default_rng(5)
    for kind in SHAPE_CLASSES * 10:
        shape = random_shape(kind, rng)
        assert np.abs(shape.sample_surface(2000, rng)).max() <= 0.9 + 1e-12
    # box: the fraction of samples on the faces normal to axis i is proportional to their area
    box = Box(half_sizes=(0.1, 0.3, 0.5))
    p = box.sample_surface(60_000, rng)
    on_x = np.isclose(np.abs(p[:, 0]), 0.1).mean()
    assert abs(on_x - 0.15 / (0.15 + 0.05 + 0.03)) < 0.01
    # torus: the outer half (|p_xy| > R) carries the area fraction 1/2 + r/(pi R)
    torus = Torus(major_radius=0.5, minor_radius=0.2)
    p = torus.sample_surface(60_000, rng)
    outer = (np.hypot(p[:, 0], p[:, 1]) > 0.5).mean()
    assert abs(outer - (0.5 + 0.2 / (math.pi * 0.5))) < 0.01


def test_shape_dataset_labels_points_and_exact_values():
    data = make_shape_dataset(3, n_points=200, near_surface=0.5, noise=0.01, seed=2, dtype=torch.float64,
                              progress=False)
    assert data.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2] and data.classes == SHAPE_CLASSES
    assert [type(s).__name__ for s in data.shapes[::3]] == ["Sphere", "Box", "Torus"]
    assert float(data.points.abs().max()) <= 1.0
    for shape, x, s in zip(data.shapes, data.points, data.sdf):
        torch.testing.assert_close(s, shape.sdf(x), rtol=0, atol=0)
        assert float(s[:100].abs().median()) < 0.02 < float(s[100:].abs().median())  # near-surface half
    with pytest.raises(ValueError, match="classes: expected a non-empty subset"):
        make_shape_dataset(1, classes=("cone",), progress=False)
    with pytest.raises(ValueError, match="near_surface"):
        make_shape_dataset(1, near_surface=1.5, progress=False)
    with pytest.raises(ValueError, match="kind: expected one of"):
        random_shape("cube", np.random.default_rng(0))


@pytest.mark.parametrize("perm, flips", [((0, 1, 2), (True, False, False)), ((1, 0, 2), (False, False, False)),
                                         ((2, 0, 1), (False, True, True)), ((1, 2, 0), (True, True, True))])
def test_transform_planes_is_the_exact_change_of_coordinates(perm, flips):
    gen = torch.Generator().manual_seed(0)
    planes = torch.randn(3, 2, 6, 6, dtype=torch.float64, generator=gen)
    u = torch.rand(40, 3, dtype=torch.float64, generator=gen)
    u_new = u[:, list(perm)]
    u_new = torch.where(torch.tensor(flips), 1 - u_new, u_new)
    torch.testing.assert_close(triplane_features(transform_planes(planes, perm, flips), u_new),
                               triplane_features(planes, u), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="perm, flips"):
        transform_planes(planes, (0, 0, 1))


def _blob_planes(n, seed):
    """Class c has a Gaussian blob at a random place in plane c (xy, xz or yz), plus noise elsewhere."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    grid = torch.linspace(0, 1, 12)
    planes = 0.3 * torch.randn(n, 3, 2, 12, 12, generator=gen)
    for i, c in enumerate(labels.tolist()):
        cx, cy = 0.2 + 0.6 * torch.rand(2, generator=gen)
        blob = torch.exp(-((grid[:, None] - cx) ** 2 + (grid[None] - cy) ** 2) / 0.02)
        planes[i, c, 0] += 2 * blob
    return planes, labels


def test_classifier_learns_an_easy_problem():
    torch.manual_seed(0)
    planes, labels = _blob_planes(60, seed=0)
    test_planes, test_labels = _blob_planes(30, seed=1)
    model = TriPlaneClassifier(channels=2, n_classes=3, width=8, dropout=0.0)
    history = train_classifier(model, planes, labels, epochs=25, lr=3e-3, batch_size=16, augment=False,
                               progress=False)
    assert history[-1] < 0.3 * history[0]
    accuracy = classifier_accuracy(model, test_planes, test_labels)
    assert accuracy >= 0.9, f"test accuracy {accuracy:.2f} on the blob problem (target >= 0.9)"


def test_fit_planes_for_classification_shares_one_frozen_decoder():
    data = make_shape_dataset(2, n_points=256, classes=("sphere", "torus"), seed=3, progress=False)
    config = TriPlaneConfig(bounds=((-1.0, 1.0),) * 3, resolution=6, channels=2, width=8, depth=1, n_frequencies=0)
    planes, decoder, loss = fit_planes_for_classification(data.points, data.sdf, config, decoder_fields=2,
                                                          decoder_steps=30, plane_steps=30, chunk=3,
                                                          batch_points=None, clamp=None, progress=False)
    assert planes.shape == (4, 3, 2, 6, 6) and loss.shape == (4,)
    assert not any(p.requires_grad for p in decoder.parameters())
    # the planes reproduce each shape through the shared decoder better than the common start does
    from sciml.fields.batched import BatchedTriPlanes

    model = BatchedTriPlanes(config, 4, decoder=decoder)
    with torch.no_grad():
        model.planes.copy_(planes)
        fitted = (model(data.points)[..., 0] - data.sdf).abs().mean(1)
        model.planes.copy_(planes.mean(0, keepdim=True).expand_as(planes))
        common = (model(data.points)[..., 0] - data.sdf).abs().mean(1)
    torch.testing.assert_close(fitted, loss, rtol=1e-5, atol=1e-6)
    assert bool((fitted < common).all())


def test_classifier_input_errors():
    model = TriPlaneClassifier(channels=2, n_classes=3)
    with pytest.raises(ValueError, match=r"planes: expected \[B, 3, 2, R, R\]"):
        model(torch.zeros(4, 3, 5, 8, 8))
    with pytest.raises(ValueError, match="labels: expected values in"):
        train_classifier(model, torch.zeros(4, 3, 2, 8, 8), torch.tensor([0, 1, 2, 3]), progress=False)
    with pytest.raises(ValueError, match="labels: expected integer class indices"):
        train_classifier(model, torch.zeros(4, 3, 2, 8, 8), torch.zeros(4), progress=False)
    with pytest.raises(ValueError, match="n_classes"):
        TriPlaneClassifier(channels=2, n_classes=1)
