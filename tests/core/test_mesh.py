"""Mesh and PointCloud: lumped-mass quadrature, meshio I/O, bad input."""

import os

import meshio
import numpy as np
import pytest
import torch
from scipy.spatial import Delaunay

from sciml import Domain, Mesh, PointCloud, Sampled, discretization_from_dict


def square_mesh(n: int) -> Mesh:
    return Mesh.structured((n, n))


def cube_mesh(n: int) -> Mesh:
    return Mesh.structured((n, n, n))


def test_structured_mesh_is_conforming_and_fills_the_box():
    for shape, n_cells in (((5,), 4), ((4, 3), 12), ((3, 3, 3), 48)):
        mesh = Mesh.structured(shape, Domain([(0, 2)] * len(shape)))
        assert len(mesh.simplices()) == n_cells
        np.testing.assert_allclose(mesh.cell_measures(), 2.0 ** len(shape) / n_cells, rtol=1e-12)
    # every interior facet of the Kuhn triangulation is shared by exactly two tetrahedra
    tets = Mesh.structured((3, 3, 3)).simplices()
    faces = np.sort(np.concatenate([tets[:, [0, 1, 2]], tets[:, [0, 1, 3]], tets[:, [0, 2, 3]], tets[:, [1, 2, 3]]]), 1)
    _, counts = np.unique(faces, axis=0, return_counts=True)
    assert set(counts.tolist()) == {1, 2}
    assert (counts == 1).sum() == 6 * 2 * 4  # boundary: 6 faces x 4 squares x 2 triangles


def test_delaunay_mesh_of_scattered_points():
    pts = np.random.default_rng(0).random((50, 2))
    mesh = Mesh(pts, {"triangle": Delaunay(pts).simplices})
    x, y = mesh.points().unbind(-1)
    hull_area = float(mesh.cell_measures().sum())
    assert float(mesh.weights().sum()) == pytest.approx(hull_area, rel=1e-13)
    assert float((mesh.weights() * (x - 2 * y)).sum()) == pytest.approx(
        float((torch.tensor(mesh.cell_measures()) * (x - 2 * y)[mesh.simplices()].mean(1)).sum()), rel=1e-12)


def test_lumped_mass_integrates_linear_functions_exactly():
    mesh = square_mesh(7)
    x, y = mesh.points().unbind(-1)
    w = mesh.weights()
    assert float(w.sum()) == pytest.approx(1.0, rel=1e-13)
    assert float((w * (2 * x - y + 3)).sum()) == pytest.approx(3.5, rel=1e-13)
    cube = cube_mesh(5)
    x, y, z = cube.points().unbind(-1)
    assert float((cube.weights() * (x + 2 * y + 3 * z)).sum()) == pytest.approx(3.0, rel=1e-12)


def test_lumped_mass_is_second_order_for_smooth_functions():
    exact = (2 / np.pi) ** 2  # integral of sin(pi x) sin(pi y) on the unit square
    errors = []
    for n in (9, 17, 33):
        mesh = square_mesh(n)
        x, y = mesh.points().unbind(-1)
        errors.append(abs(float((mesh.weights() * torch.sin(np.pi * x) * torch.sin(np.pi * y)).sum()) - exact))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 1.9), orders


def test_surface_mesh_in_3d_measures_area():
    # unit cube surface from an axis-aligned box: 6 faces, 2 triangles each
    pts = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=float)
    faces = [[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
             [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]]
    mesh = Mesh(pts, {"triangle": faces})
    assert mesh.topological_dim == 2 and mesh.ndim == 3
    assert float(mesh.weights().sum()) == pytest.approx(6.0, rel=1e-14)


@pytest.mark.parametrize("suffix", [".vtu", ".ply", ".obj", ".msh", ".vtk"])
def test_meshio_round_trip_through_files(tmp_path, suffix):
    mesh = square_mesh(4) if suffix != ".msh" else cube_mesh(3)
    before = mesh.to_dict()
    path = mesh.write(tmp_path / f"m{suffix}")
    assert mesh.to_dict() == before, "write must not mutate the mesh"
    back = Mesh.read(path)
    np.testing.assert_allclose(back.points(), mesh.points(), rtol=0, atol=1e-6)
    assert back.cells.keys() == mesh.cells.keys()
    np.testing.assert_array_equal(next(iter(back.cells.values())), next(iter(mesh.cells.values())))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_write_failure_leaves_no_partial_file(tmp_path):
    mesh = square_mesh(3)
    with pytest.raises(ValueError, match=r"path: expected a suffix meshio writes \(.*\.vtu.*got '.*m\.unknownformat'"):
        mesh.write(tmp_path / "m.unknownformat")
    assert list(tmp_path.iterdir()) == []


def test_from_meshio_drops_flat_z_and_ignores_vertex_cells():
    m = meshio.Mesh(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], float), [("vertex", [[0]]), ("triangle", [[0, 1, 2]])])
    mesh = Mesh.from_meshio(m)
    assert mesh.ndim == 2 and list(mesh.cells) == ["triangle"]
    assert float(mesh.weights().sum()) == pytest.approx(0.5)


def test_mesh_dict_round_trip_and_sampled_point_data(tmp_path):
    mesh = square_mesh(3)
    assert discretization_from_dict(mesh.to_dict()) == mesh
    u = Sampled(torch.arange(9.0).reshape(1, 1, 9), mesh)
    mesh.write(tmp_path / "u.vtu", point_data={"u": u.values[0, 0].numpy()})
    np.testing.assert_array_equal(meshio.read(tmp_path / "u.vtu").point_data["u"], np.arange(9.0))


def test_mesh_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="path: no mesh file at"):
        Mesh.read(tmp_path / "missing.ply")
    garbage = tmp_path / "garbage.ply"
    garbage.write_bytes(os.urandom(64))
    with pytest.raises(ValueError, match="path: could not read .*garbage.ply.* as a mesh"):
        Mesh.read(garbage)
    with pytest.raises(ValueError, match="points: expected a non-empty \\[n, d\\] array"):
        Mesh(np.zeros((0, 2)), {"triangle": [[0, 1, 2]]})
    with pytest.raises(ValueError, match="cells: the mesh has no cells of a supported type"):
        Mesh([[0, 0], [1, 0]], {})
    with pytest.raises(ValueError, match="cells: expected cell types among"):
        Mesh([[0, 0], [1, 0]], {"polygon": [[0, 1]]})
    with pytest.raises(ValueError, match=r"cells\['triangle'\]: vertex indices must lie in \[0, 3\)"):
        Mesh([[0, 0], [1, 0], [0, 1]], {"triangle": [[0, 1, 3]]})
    with pytest.raises(ValueError, match="cells: 1 of 2 triangle cells are degenerate"):
        Mesh([[0, 0], [1, 0], [0, 1], [2, 0]], {"triangle": [[0, 1, 2], [0, 1, 3]]})
    with pytest.raises(ValueError, match="points: expected finite values"):
        Mesh([[0, 0], [1, np.nan], [0, 1]], {"triangle": [[0, 1, 2]]})
    with pytest.raises(TypeError, match="mesh: expected meshio.Mesh"):
        Mesh.from_meshio("bunny.ply")


def test_point_cloud_weights_and_errors():
    gen = torch.Generator().manual_seed(0)
    cloud = PointCloud(torch.rand(4000, 2, generator=gen), domain=Domain.unit(2))
    x, y = cloud.points().unbind(-1)
    assert float(cloud.weights().sum()) == pytest.approx(1.0, rel=1e-14)
    # Monte Carlo: 4000 points, std of x*y is ~0.22, so 5 sigma ~ 0.018
    assert float((cloud.weights() * x * y).sum()) == pytest.approx(0.25, abs=0.018)
    given = PointCloud([[0.0], [1.0]], weights=[0.5, 0.5])
    assert given.weights().tolist() == [0.5, 0.5]
    assert discretization_from_dict(given.to_dict()) == given
    assert discretization_from_dict(cloud.to_dict()) == cloud
    with pytest.raises(ValueError, match="weights: expected shape \\(2,\\) to match points, got \\(3,\\)"):
        PointCloud([[0.0], [1.0]], weights=[1, 2, 3])
    with pytest.raises(ValueError, match="points: some points lie outside the given domain"):
        PointCloud([[2.0, 0.0]], domain=Domain.unit(2))
    with pytest.raises(ValueError, match="points: expected at least one point"):
        PointCloud(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="points: expected 2 dimensions"):
        PointCloud(np.zeros(5))
    with pytest.raises(TypeError, match="points: expected numeric values"):
        PointCloud([["a", "b"]])


def test_read_only_points_are_accepted_and_junk_files_raise_value_error(tmp_path):
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    points.setflags(write=False)
    mesh = Mesh(points, {"triangle": np.array([[0, 1, 2]])})
    assert mesh.num_points == 3 and float(mesh.weights().sum()) == pytest.approx(0.5)
    junk = tmp_path / "junk.ply"
    junk.write_bytes(b"ply\nformat nonsense\n\x00\x01")
    with pytest.raises(ValueError, match="could not read"):
        Mesh.read(junk)
