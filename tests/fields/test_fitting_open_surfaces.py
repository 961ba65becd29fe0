r"""Open surfaces: the unsigned distance has no zero crossing, the winding-number sign restores an inside.

References: the exact distance of a ball, :math:`|\,\lVert x - c\rVert - r\,|` unsigned; its level set
:math:`\epsilon` is the two spheres of radii :math:`r \pm \epsilon`; a learnable ball fitted to the
winding-number-signed distance of a sphere with a small hole recovers the sphere (L1 minimiser).
"""

from __future__ import annotations

import importlib.util
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from sciml.domain import Domain
from sciml.fields.base import Field
from sciml.fields.fitting import fit_sdf
from sciml.fields.geometry import NotWatertightWarning, TriangleSurface, icosphere, occupancy
from sciml.fields.metrics import volumetric_iou
from sciml.fields.surface import extract_surface

CENTER = np.array([0.5, 0.45, 0.55])
RADIUS = 0.3


class UnsignedBall(Field):
    r"""The exact unsigned distance to a sphere, :math:`|\lVert x - c\rVert - r|`."""

    def __init__(self):
        super().__init__(Domain.unit(3))

    def evaluate(self, x):
        centre = torch.as_tensor(CENTER, dtype=x.dtype)
        return ((x - centre).norm(dim=-1, keepdim=True) - RADIUS).abs()


class LearnableBall(Field):
    """``f(x) = |x - c| - r`` with learnable ``c`` and ``r`` (float64)."""

    def __init__(self):
        super().__init__(Domain.unit(3))
        self.center = torch.nn.Parameter(torch.tensor([0.45, 0.5, 0.5], dtype=torch.float64))
        self.radius = torch.nn.Parameter(torch.tensor(0.2, dtype=torch.float64))

    def evaluate(self, x):
        return (x - self.center).norm(dim=-1, keepdim=True) - self.radius


@pytest.fixture(scope="module")
def holed_sphere():
    """A sphere of 5120 triangles with a hole of 40 of them (0.8% of the area)."""
    sphere = icosphere(4, RADIUS, CENTER)
    return TriangleSurface.from_arrays(sphere.vertices, sphere.faces[40:])


def test_unsigned_distance_has_no_zero_crossing_and_its_shell_has_two_sheets():
    field = UnsignedBall()
    with pytest.raises(ValueError, match="do not cross the level 0"):
        extract_surface(field, resolution=33, level=0.0)
    resolution, cells = 65, 1.5  # the level of ``sciml fit`` for unsigned fits
    eps = cells / (resolution - 1)
    shell = TriangleSurface.from_mesh(extract_surface(field, resolution=resolution, level=eps))
    # two concentric spheres r +- eps: area and enclosed (outer minus inner) volume of the pair;
    # marching cubes at h = 1/64 underestimates sphere areas and volumes by well under 2%
    area = 4 * math.pi * ((RADIUS + eps) ** 2 + (RADIUS - eps) ** 2)
    volume = 4 / 3 * math.pi * ((RADIUS + eps) ** 3 - (RADIUS - eps) ** 3)
    assert shell.area == pytest.approx(area, rel=0.02)
    assert shell.volume == pytest.approx(volume, rel=0.05)
    radii = np.linalg.norm(shell.vertices - CENTER, axis=1)
    inner, outer = radii[radii < RADIUS], radii[radii > RADIUS]
    np.testing.assert_allclose(inner, RADIUS - eps, atol=2e-3)
    np.testing.assert_allclose(outer, RADIUS + eps, atol=2e-3)


def test_winding_sign_recovers_the_ball_through_a_small_hole(holed_sphere):
    # the unsigned target of the default has no negative value anywhere ...
    with pytest.warns(NotWatertightWarning, match="unsigned distance"):
        unsigned = fit_sdf(LearnableBall(), holed_sphere, steps=1, n_points=2000, progress=False)
    assert unsigned.signed is False
    # ... the winding-number sign gives the ball's SDF away from the hole: the L1 fit recovers it
    field = LearnableBall()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = fit_sdf(field, holed_sphere, steps=400, lr=1e-2, batch_size=1000, n_points=4000, signed=True,
                         eikonal_weight=0.0, progress=False)
    assert result.signed is True
    np.testing.assert_allclose(field.center.detach().numpy(), CENTER, atol=3e-3)
    assert float(field.radius.detach()) == pytest.approx(RADIUS, abs=3e-3)
    inside = lambda p: (field(torch.as_tensor(p))[:, 0] < 0).detach().numpy()
    assert volumetric_iou(inside, lambda p: occupancy(p, holed_sphere), n_points=20000,
                          domain=Domain.unit(3)) > 0.97


def _fields_fit_benchmark():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "fields_fit.py"
    if not path.is_file():
        pytest.skip(f"benchmark script not found at {path}")
    spec = importlib.util.spec_from_file_location("fields_fit_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_measures_unsigned_fits_without_an_inside(holed_sphere, monkeypatch):
    """``benchmarks/fields_fit.py``: an unsigned fit gets no IoU and its shell 1.5 cells up; a signed one both."""
    bench = _fields_fit_benchmark()
    torch.manual_seed(0)
    common = dict(params=1500, seconds=None, steps=150, resolution=33, seed=0, batch_size=512)
    fit = {"n_points": 3000, "lr": 3e-3}
    with pytest.warns(NotWatertightWarning, match="unsigned distance"):
        unsigned = bench.fit_mesh_once("siren", holed_sphere, fit_options={**fit, "signed": None}, **common)
    assert unsigned["signed"] == 0.0 and math.isnan(unsigned["iou"])
    assert math.isfinite(unsigned["chamfer"]) and unsigned["steps"] == 150
    signed = bench.fit_mesh_once("siren", holed_sphere, fit_options={**fit, "signed": True}, **common)
    assert signed["signed"] == 1.0 and 0.0 <= signed["iou"] <= 1.0
