"""Triangle surfaces: reading, watertightness, normalisation, distances and sampling against closed forms."""

from __future__ import annotations

import warnings

import meshio
import numpy as np
import pytest

from sciml.fields.geometry import (
    NotWatertightWarning,
    TriangleSurface,
    UnitBoxTransform,
    icosphere,
    occupancy,
    sample_near_surface,
    signed_distance,
    unsigned_distance,
    watertight_report,
    winding_number,
)
from sciml.mesh import Mesh

CENTER = np.array([0.5, 0.4, 0.6])
RADIUS = 0.3


@pytest.fixture(scope="module")
def sphere():
    return icosphere(4, RADIUS, CENTER)


def faceting_gap(surface: TriangleSurface, center, radius) -> float:
    """``delta = r - min_f dist(c, plane_f)``: the inscribed polyhedron lies between the balls of radii r - delta and r."""
    v = surface.vertices[surface.faces]
    plane_distance = np.abs(np.einsum("ij,ij->i", surface.face_normals(), v[:, 0] - center))
    return radius - plane_distance.min()


def random_points(n, seed=0):
    return np.random.default_rng(seed).random((n, 3))


# ------------------------------------------------------------------------------- distances
def test_signed_distance_of_a_meshed_sphere_matches_the_analytic_distance(sphere):
    # B(r - delta) is inside the polyhedron, which is inside B(r): |d_mesh - d_exact| <= delta exactly.
    delta = faceting_gap(sphere, CENTER, RADIUS)
    assert 0 < delta < 2e-3  # 5120 faces on r = 0.3
    points = random_points(3000)
    exact = np.linalg.norm(points - CENTER, axis=1) - RADIUS
    for fast in (True, False):
        d = signed_distance(points, sphere, fast=fast)
        assert np.abs(d - exact).max() <= delta + 1e-12


def test_sign_is_negative_inside_and_positive_outside(sphere):
    delta = faceting_gap(sphere, CENTER, RADIUS)
    points = random_points(3000, seed=1)
    radius = np.linalg.norm(points - CENTER, axis=1)
    d = signed_distance(points, sphere)
    inside, outside = radius < RADIUS - delta, radius > RADIUS
    assert inside.sum() > 100 and outside.sum() > 1000
    assert (d[inside] < 0).all() and (d[outside] > 0).all()
    np.testing.assert_array_equal(occupancy(points[inside | outside], sphere), inside[inside | outside])


def test_winding_number_is_one_inside_zero_outside(sphere):
    w = winding_number(np.array([CENTER, CENTER + 0.1, [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]), sphere)
    np.testing.assert_allclose(w, [1.0, 1.0, 0.0, 0.0], atol=1e-9)  # exact hierarchical evaluation
    fast = winding_number(np.array([CENTER, [0.0, 0.0, 0.0]]), sphere, fast=True)
    np.testing.assert_allclose(fast, [1.0, 0.0], atol=1e-2)  # Barnes-Hut approximation


def test_unsigned_distance_to_a_plane_is_the_height():
    square = TriangleSurface(np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float), np.array([[0, 1, 2], [0, 2, 3]]))
    points = np.array([[0.3, 0.7, 0.25], [0.5, 0.5, -0.1], [2.0, 0.5, 0.0]])
    np.testing.assert_allclose(unsigned_distance(points, square), [0.25, 0.1, 1.0], atol=1e-12)


def test_open_surface_warns_and_falls_back_to_unsigned_distance(sphere):
    opened = TriangleSurface.from_arrays(sphere.vertices, sphere.faces[10:])
    points = random_points(500, seed=2)
    with pytest.warns(NotWatertightWarning, match="boundary edges.*unsigned distance"):
        d = signed_distance(points, opened)
    np.testing.assert_array_equal(d, unsigned_distance(points, opened))
    assert (d >= 0).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # explicit choices do not warn
        forced = signed_distance(points, opened, signed=True)
    inside = np.linalg.norm(points - CENTER, axis=1) < 0.25  # far from the small hole
    assert (forced[inside] < 0).all()  # the generalised winding number still tells inside from outside


# ------------------------------------------------------------------------------- watertightness
def test_watertight_report_counts_each_defect():
    closed = icosphere(1)
    assert watertight_report(closed).watertight and watertight_report(closed).describe() == "watertight"
    flipped = closed.faces.copy()
    flipped[0] = flipped[0, ::-1]
    report = watertight_report(TriangleSurface(closed.vertices, flipped))
    assert (report.misoriented_edges, report.boundary_edges, report.nonmanifold_edges) == (3, 0, 0)
    # a fin: a third triangle on an existing edge (plus a new vertex) makes one edge non-manifold
    a, b = closed.faces[0, :2]
    fin_vertices = np.vstack([closed.vertices, [[3.0, 3.0, 3.0]]])
    fin = np.vstack([closed.faces, [[a, b, len(closed.vertices)]]])
    report = watertight_report(TriangleSurface(fin_vertices, fin))
    assert report.nonmanifold_edges == 1 and report.boundary_edges == 2 and not report.watertight


def test_two_tetrahedra_touching_at_a_vertex_are_not_manifold():
    tet = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    vertices = np.vstack([v, -v[1:]])  # second tetrahedron mirrored through the shared vertex 0
    second = np.where(tet == 0, 0, tet + 3)[:, ::-1]  # mirrored: reverse to keep outward orientation
    report = watertight_report(TriangleSurface(vertices, np.vstack([tet, second])))
    assert report.nonmanifold_vertices == 1
    assert report.boundary_edges == report.nonmanifold_edges == report.misoriented_edges == 0
    assert "pinched" in report.describe()


# ------------------------------------------------------------------------------- normalisation
def test_unit_box_transform_round_trips_and_scales_distances(sphere):
    stretched = TriangleSurface(sphere.vertices * [10.0, 3.0, 1.0] + [-5, 7, 100], sphere.faces)
    t = UnitBoxTransform.from_bounds(stretched.vertices, padding=0.1)
    unit = stretched.transformed(t)
    lo, hi = unit.vertices.min(0), unit.vertices.max(0)
    np.testing.assert_allclose((lo[0], hi[0]), (0.1, 0.9), atol=1e-12)  # longest side fills [0.1, 0.9]
    np.testing.assert_allclose(0.5 * (lo + hi), 0.5, atol=1e-12)  # centred
    np.testing.assert_allclose(unit.transformed(t, inverse=True).vertices, stretched.vertices, rtol=1e-13, atol=1e-12)
    points = stretched.domain.lower + np.asarray(stretched.domain.lengths) * random_points(200)
    d_original = signed_distance(points, stretched)
    d_unit = signed_distance(t(points), unit)
    np.testing.assert_allclose(d_unit, t.scale * d_original, rtol=1e-9, atol=1e-12)
    assert UnitBoxTransform.from_dict(t.to_dict()) == t
    assert unit.volume == pytest.approx(stretched.volume * t.scale**3, rel=1e-12)


def test_unit_box_transform_rejects_bad_input():
    with pytest.raises(ValueError, match="padding"):
        UnitBoxTransform.from_bounds(np.zeros((2, 3)) + [[0, 0, 0], [1, 1, 1]], padding=0.5)
    with pytest.raises(ValueError, match="coincide"):
        UnitBoxTransform.from_bounds(np.ones((3, 3)))
    with pytest.raises(ValueError, match="finite"):
        UnitBoxTransform.from_bounds(np.array([[0, 0, np.nan], [1, 1, 1]]))


# ------------------------------------------------------------------------------- sampling
def test_jitter_of_near_surface_samples_has_the_requested_scale(sphere):
    # For sigma << r the distance of a jittered point is ~ N(0, sigma^2) along the normal:
    # E|d| = sigma sqrt(2 / pi). 20000 samples: relative standard error of the mean ~ 0.5%.
    sigma = 0.002
    big = icosphere(6, RADIUS, CENTER)  # faceting gap 3e-5 << sigma
    points = sample_near_surface(big, 20000, 0, sigmas=(sigma,), seed=3)
    d = np.abs(np.linalg.norm(points - CENTER, axis=1) - RADIUS)
    assert d.mean() == pytest.approx(sigma * np.sqrt(2 / np.pi), rel=0.03)
    uniform = sample_near_surface(sphere, 0, 20000, seed=4)
    inside = np.linalg.norm(uniform - CENTER, axis=1) < RADIUS
    assert inside.mean() == pytest.approx(4 / 3 * np.pi * RADIUS**3, abs=4 * 0.0035)  # 4 standard errors


def test_surface_samples_are_uniform_by_area():
    # two squares of areas 1 and 4: a fifth of the samples on the first
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [2, 0, 1], [2, 2, 1], [0, 2, 1]], float)
    f = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    points = sample_near_surface(TriangleSurface(v, f), 10000, 0, sigmas=(0.0,), bounds=((0, 2),) * 3, seed=5)
    assert (points[:, 2] == 0).mean() == pytest.approx(0.2, abs=4 * 0.004)


# ------------------------------------------------------------------------------- reading and bad input
@pytest.mark.parametrize("suffix", [".ply", ".obj", ".vtu", ".off"])
def test_write_read_round_trip(tmp_path, suffix, sphere):
    path = sphere.write(tmp_path / f"sphere{suffix}")
    back = TriangleSurface.read(path)
    np.testing.assert_allclose(back.vertices, sphere.vertices, rtol=1e-6 if suffix != ".obj" else 1e-5)
    np.testing.assert_array_equal(back.faces, sphere.faces)


def test_stl_triangle_soup_keeps_area_and_volume(tmp_path, sphere):
    back = TriangleSurface.read(sphere.write(tmp_path / "sphere.stl"))
    assert back.area == pytest.approx(sphere.area, rel=1e-6)
    assert back.volume == pytest.approx(sphere.volume, rel=1e-6)


def test_tetrahedral_mesh_gives_its_boundary():
    cube = Mesh.structured((3, 3, 3))
    surface = TriangleSurface.from_mesh(cube)
    assert surface.area == pytest.approx(6.0, rel=1e-12)
    assert abs(surface.volume) == pytest.approx(1.0, rel=1e-12)
    assert watertight_report(surface).watertight


def test_degenerate_triangles_are_dropped_with_a_warning():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [2, 0, 0]], float)
    with pytest.warns(UserWarning, match="dropped 1 of 2 degenerate"):
        s = TriangleSurface.from_arrays(v, np.array([[0, 1, 2], [0, 1, 3]]))
    assert len(s.faces) == 1 and len(s.vertices) == 3  # the unreferenced vertex is gone too
    with pytest.raises(ValueError, match="all 1 triangles are degenerate"):
        TriangleSurface.from_arrays(v, np.array([[0, 1, 3]]))


def test_bad_surfaces_and_points_raise_clear_errors(tmp_path, sphere):
    with pytest.raises(ValueError, match="finite"):
        TriangleSurface(np.array([[0, 0, 0], [1, 0, np.nan], [0, 1, 0]]), np.array([[0, 1, 2]]))
    with pytest.raises(ValueError, match="faces: expected a non-empty"):
        TriangleSurface(np.eye(3), np.zeros((0, 3), dtype=int))
    with pytest.raises(ValueError, match="vertex indices"):
        TriangleSurface(np.eye(3), np.array([[0, 1, 3]]))
    with pytest.raises(ValueError, match=r"points: expected finite"):
        signed_distance(np.array([[np.nan, 0.0, 0.0]]), sphere)
    with pytest.raises(ValueError, match=r"points: expected a numeric \[n, 3\]"):
        unsigned_distance(np.zeros((4, 2)), sphere)
    with pytest.raises(TypeError, match="surface: expected a TriangleSurface"):
        signed_distance(np.zeros((1, 3)), "sphere.ply")
    with pytest.raises(FileNotFoundError, match="no mesh file"):
        TriangleSurface.read(tmp_path / "missing.ply")
    junk = tmp_path / "junk.ply"
    junk.write_text("this is not a mesh")
    with pytest.raises(ValueError, match="could not read"):
        TriangleSurface.read(junk)
    lines = tmp_path / "lines.vtu"
    meshio.write(lines, meshio.Mesh(np.eye(3), [("line", np.array([[0, 1], [1, 2]]))]))
    with pytest.raises(ValueError, match="no triangles"):
        TriangleSurface.read(lines)
    nan_obj = tmp_path / "nan.obj"
    nan_obj.write_text("v 0 0 0\nv 1 0 nan\nv 0 1 0\nf 1 2 3\n")
    with pytest.raises(ValueError, match="NaN"):
        TriangleSurface.read(nan_obj)
    with pytest.raises(ValueError, match="3D"):
        TriangleSurface.from_mesh(Mesh.structured((3, 3)))
