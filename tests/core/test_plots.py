"""plot_sampled draws the values at their physical coordinates."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from sciml import Domain, Grid, Mesh, PointCloud, Sampled
from sciml.plots import plot_sampled


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_grid_2d_pcolormesh_holds_values_in_xy_orientation(tmp_path):
    grid = Grid.chebyshev((6, 9), Domain([(0, 2), (-1, 1)]))
    x, y = grid.mesh().unbind(-1)
    u = Sampled((x + 10 * y)[None, None], grid, channel_names=["p"])
    ax = plot_sampled(u)
    quad = ax.collections[0]
    # pcolormesh is indexed [row=y, col=x]: the array equals values transposed
    np.testing.assert_allclose(np.asarray(quad.get_array()).reshape(9, 6), (x + 10 * y).numpy().T, rtol=1e-6)
    assert ax.figure.axes[1].get_ylabel() == "p"
    ax.figure.savefig(tmp_path / "u.png")
    assert (tmp_path / "u.png").stat().st_size > 1000


def test_grid_1d_line_and_mesh_and_cloud():
    grid = Grid.uniform(11)
    u = Sampled(torch.linspace(0, 1, 11)[None, None] ** 2, grid)
    line = plot_sampled(u).lines[0]
    np.testing.assert_allclose(line.get_xdata(), grid.axes[0].coordinates)
    np.testing.assert_allclose(line.get_ydata(), (np.linspace(0, 1, 11) ** 2).astype(np.float32))
    mesh = Mesh.structured((4, 4))
    values = mesh.points()[:, 0][None, None]
    tri = plot_sampled(Sampled(values, mesh)).collections[0]
    np.testing.assert_allclose(np.asarray(tri.get_array()), values[0, 0].numpy(), rtol=1e-6)
    cloud = PointCloud(np.random.default_rng(0).random((30, 2)))
    scatter = plot_sampled(Sampled(torch.arange(30.0)[None, None], cloud)).collections[0]
    np.testing.assert_allclose(np.asarray(scatter.get_array()), np.arange(30.0))


def test_plot_errors():
    with pytest.raises(TypeError, match="u: expected Sampled"):
        plot_sampled(np.zeros((4, 4)))
    u = Sampled(torch.zeros(1, 1, 3, 3, 3), Grid.uniform((3, 3, 3)))
    with pytest.raises(ValueError, match="u: plot_sampled draws 1D and 2D data"):
        plot_sampled(u)
    with pytest.raises(IndexError, match="channel: expected an index in \\[-1, 1\\), got 2"):
        plot_sampled(u, channel=2)
