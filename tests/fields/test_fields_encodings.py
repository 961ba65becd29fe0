"""Grid encodings: exact multilinear interpolation, double backward, hash collisions, GridField."""

import itertools
import math

import numpy as np
import pytest
import torch

import sciml
from sciml import Domain
from sciml.fields import gradient, hessian
from sciml.fields.encodings import (
    HASH_PRIMES,
    DenseGridEncoding,
    GridField,
    GridFieldConfig,
    HashGridEncoding,
    _corner_offsets,
    level_resolutions,
    multilinear_interpolate,
)


def _multilinear_function(u, coeffs):
    """sum_S c_S prod_{i in S} u_i over all subsets S of the axes: multilinear, so interpolated exactly."""
    d = u.shape[-1]
    out = 0
    for k, subset in enumerate(itertools.chain.from_iterable(itertools.combinations(range(d), r)
                                                             for r in range(d + 1))):
        term = coeffs[k]
        for i in subset:
            term = term * u[..., i]
        out = out + term
    return out


@pytest.mark.parametrize("d, sizes", [(1, (5,)), (2, (4, 7)), (3, (3, 5, 4))])
def test_interpolation_reproduces_multilinear_functions_and_their_derivatives(d, sizes):
    gen = torch.Generator().manual_seed(d)
    coeffs = [torch.randn(2, dtype=torch.float64, generator=gen) for _ in range(2 ** d)]  # 2 channels
    axes = [torch.linspace(0, 1, s, dtype=torch.float64) for s in sizes]
    nodes = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1)                      # [*R, d]
    grid = torch.movedim(_multilinear_function(nodes[..., None, :].expand(*sizes, 2, d), coeffs), -1, 0)  # [2, *R]
    u = torch.rand(3, 20, d, dtype=torch.float64, generator=gen)
    batched = grid.expand(3, *grid.shape)                                              # batch of 3 grids
    exact = _multilinear_function(u[..., None, :].expand(3, 20, 2, d), coeffs)          # [3, 20, 2]
    torch.testing.assert_close(multilinear_interpolate(batched, u), exact, rtol=1e-12, atol=1e-12)

    def channel0(p):
        return multilinear_interpolate(grid, p)[:, :1]

    x = u[0]
    ref = x.detach().clone().requires_grad_(True)
    f_ref = _multilinear_function(ref[..., None, :].expand(20, 2, d), coeffs)[:, :1]
    g_ref = torch.autograd.grad(f_ref.sum(), ref, create_graph=True)[0]
    torch.testing.assert_close(gradient(channel0, x.detach()), g_ref.detach(), rtol=1e-10, atol=1e-10)
    if d > 1:
        h_ref = torch.stack([torch.autograd.grad(g_ref[:, i].sum(), ref, retain_graph=True)[0] for i in range(d)], 1)
        h = hessian(channel0, x.detach())
        torch.testing.assert_close(h, h_ref, rtol=1e-10, atol=1e-10)
        assert float(h.detach().diagonal(dim1=1, dim2=2).abs().max()) < 1e-12  # affine along each axis in a cell
        assert float(h.detach().abs().max()) > 1e-3  # mixed derivatives are there


def test_interpolation_gradcheck_and_gradgradcheck_in_float64():
    gen = torch.Generator().manual_seed(1)
    grid = torch.randn(2, 3, 4, 5, dtype=torch.float64, generator=gen).requires_grad_(True)
    u = (0.05 + 0.9 * torch.rand(2, 6, 2, dtype=torch.float64, generator=gen)).requires_grad_(True)
    assert torch.autograd.gradcheck(multilinear_interpolate, (grid, u), eps=1e-6, atol=1e-7)
    assert torch.autograd.gradgradcheck(multilinear_interpolate, (grid, u), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("make", [
    lambda: DenseGridEncoding(3, n_levels=3, features_per_level=2, base_resolution=2, max_resolution=6,
                              init_scale=1.0),
    lambda: HashGridEncoding(2, n_levels=3, features_per_level=2, base_resolution=3, max_resolution=20,
                             hashmap_size=50, init_scale=1.0),
])
def test_encodings_gradcheck_and_gradgradcheck_in_coordinates_and_features(make):
    enc = make().double()
    u = (0.02 + 0.96 * torch.rand(5, enc.in_dim, dtype=torch.float64)).requires_grad_(True)
    assert torch.autograd.gradcheck(enc, (u,), eps=1e-6, atol=1e-7)
    assert torch.autograd.gradgradcheck(enc, (u,), eps=1e-6, atol=1e-7)

    table = enc.table.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: torch.func.functional_call(enc, {"table": t}, (u,)), (table,),
                                    eps=1e-6, atol=1e-7)


def _reference_encoding(enc, u, hashmap_size=None):
    """Point-by-point NumPy/Python-int reference of the multi-resolution (hash) encoding."""
    table = enc.table.detach().double().numpy()
    d, out = enc.in_dim, []
    for point in u.double().numpy():
        feats, offset = [], 0
        for n in level_resolutions(enc.n_levels, enc.resolutions[0], enc.resolutions[-1]):
            dense = (n + 1) ** d
            size = min(dense, hashmap_size) if hashmap_size else dense
            pos = point * n
            low = np.minimum(np.floor(pos), n - 1).astype(int)
            t = pos - low
            acc = np.zeros(table.shape[1])
            for corner in itertools.product((0, 1), repeat=d):
                c = low + np.array(corner)
                w = np.prod([t[i] if corner[i] else 1 - t[i] for i in range(d)])
                if size < dense:
                    h = 0
                    for i in range(d):
                        h ^= int(c[i]) * HASH_PRIMES[i]
                    row = h % size
                else:
                    row = sum(int(c[i]) * (n + 1) ** (d - 1 - i) for i in range(d))
                acc += w * table[offset + row]
            feats.append(acc)
            offset += size
        out.append(np.concatenate(feats))
    return torch.tensor(np.array(out))


def test_dense_and_hash_encodings_match_a_pointwise_reference():
    u = torch.rand(12, 3, dtype=torch.float64)
    dense = DenseGridEncoding(3, n_levels=3, features_per_level=2, base_resolution=2, max_resolution=9,
                              init_scale=1.0).double()
    torch.testing.assert_close(dense(u), _reference_encoding(dense, u), rtol=1e-12, atol=1e-12)
    hashed = HashGridEncoding(3, n_levels=4, features_per_level=3, base_resolution=2, max_resolution=40,
                              hashmap_size=300, init_scale=1.0).double()
    assert hashed.hashed == [False, False, True, True]
    torch.testing.assert_close(hashed(u), _reference_encoding(hashed, u, 300), rtol=1e-12, atol=1e-12)


def test_hash_encoding_with_a_big_table_is_the_dense_encoding():
    kwargs = {"n_levels": 3, "features_per_level": 2, "base_resolution": 3, "max_resolution": 12, "init_scale": 0.5, "seed": 4}
    dense = DenseGridEncoding(2, **kwargs)
    hashed = HashGridEncoding(2, hashmap_size=13 ** 2, **kwargs)
    assert not any(hashed.hashed)
    u = torch.rand(50, 2)
    torch.testing.assert_close(hashed(u), dense(u), rtol=0, atol=0)


def test_hash_collisions_share_features_when_the_table_is_smaller_than_the_grid():
    # finest level: 33^2 = 1089 nodes in a table of 64 rows -> nodes collide.
    enc = HashGridEncoding(2, n_levels=2, features_per_level=1, base_resolution=4, max_resolution=32,
                           hashmap_size=64, init_scale=1.0).double()
    assert enc.level_sizes == [25, 64] and enc.hashed == [False, True]
    nodes = torch.stack(torch.meshgrid(torch.arange(33), torch.arange(33), indexing="ij"), -1).reshape(-1, 2)
    rows = enc.level_index(torch.stack([nodes, nodes], 1))[:, 1] - 25
    counts = torch.bincount(rows, minlength=64)
    assert int((counts > 0).sum()) == 64                      # every row used
    assert float(counts.max()) < 2.0 * 1089 / 64               # spread evenly (mean 17 nodes per row)
    # two nodes far apart sharing a row: a step on the features seen at one changes the other
    a = 0
    b = int(((rows == rows[a]) & ((nodes - nodes[a]).abs().sum(1) > 10)).nonzero()[0, 0])
    ua, ub = (nodes[a].double() / 32)[None], (nodes[b].double() / 32)[None]
    before = enc(ub).detach()[0, 1]
    enc(ua)[0, 1].backward()
    with torch.no_grad():
        enc.table -= 0.5 * enc.table.grad
    after = enc(ub).detach()[0, 1]
    torch.testing.assert_close(after - before, torch.tensor(-0.5, dtype=torch.float64))  # same row, weight 1
    dense = DenseGridEncoding(2, n_levels=2, features_per_level=1, base_resolution=4, max_resolution=32).double()
    dense(ua)[0, 1].backward()
    assert float(dense.table.grad[dense.level_sizes[0]:].abs().sum()) == 1.0  # only node a's own row


@pytest.mark.parametrize("d, hashmap_size", [(2, 50), (3, 256), (3, 300), (3, 10 ** 6), (1, 3)])  # 256: bit mask
def test_corner_rows_by_broadcasting_match_level_index_corner_by_corner(d, hashmap_size):
    # the forward pass builds the 2^d rows of a cell from per-axis terms; level_index hashes each corner on its own
    enc = HashGridEncoding(d, n_levels=4, base_resolution=2, max_resolution=40, hashmap_size=hashmap_size)
    gen = torch.Generator().manual_seed(3)
    lower = torch.stack([torch.randint(n, (64, d), generator=gen) for n in enc.resolutions], 1)   # [64, L, d]
    corners = lower.unsqueeze(-2) + _corner_offsets(d, None)                                        # [64, L, 2^d, d]
    expected = enc.level_index(corners.transpose(1, 2)).transpose(1, 2)                             # [64, L, 2^d]
    assert torch.equal(enc._corner_rows(lower), expected)
    assert enc.n_dense == sum(not h for h in enc.hashed)


def test_level_resolutions_grow_geometrically():
    assert level_resolutions(5, 16, 256) == [16, 32, 64, 128, 256]
    assert level_resolutions(1, 4, 9) == [9]
    res = level_resolutions(8, 4, 200)
    assert res == [4, 6, 12, 21, 37, 65, 114, 200]  # floor(4 * 50 ** (l / 7)), Instant-NGP's rule
    with pytest.raises(ValueError, match="max_resolution: expected an integer >= 8"):
        level_resolutions(3, 8, 4)


@pytest.mark.parametrize("encoding", ["dense", "hash"])
def test_grid_field_fits_a_2d_function(encoding):
    torch.manual_seed(0)
    domain = Domain(((0.0, 2.0), (-1.0, 1.0)))
    x = sciml.Grid.uniform((24, 24), domain).points(dtype=torch.float32)

    def target(p):
        return torch.sin(2 * p[:, :1]) * torch.cos(3 * p[:, 1:]) + 0.3 * p[:, :1]

    field = GridField.for_domain(domain, encoding=encoding, n_levels=4, features_per_level=2, base_resolution=4,
                                 max_resolution=32, hashmap_size=256, width=32, depth=1, seed=1)
    opt = torch.optim.Adam(field.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        loss = ((field(x) - target(x)) ** 2).mean()
        loss.backward()
        opt.step()
    x_test = torch.rand(500, 2) * torch.tensor([2.0, 2.0]) + torch.tensor([0.0, -1.0])
    with torch.no_grad():
        err = float(torch.linalg.norm(field(x_test) - target(x_test)) / torch.linalg.norm(target(x_test)))
    assert err < 4e-2, f"{encoding}: relative L2 error {err:.2e} off the training grid (target < 4e-2)"


@pytest.mark.parametrize("encoding", ["dense", "hash"])
@pytest.mark.parametrize("params", [3000, 40_000])
def test_grid_field_for_budget(encoding, params):
    domain = Domain.unit(3)
    field = GridField.for_budget(domain, params, out_channels=2, encoding=encoding, n_levels=3)
    assert field.num_parameters() == field.config.count_parameters(3) <= params
    key = "max_resolution" if encoding == "dense" else "hashmap_size"
    bigger = GridFieldConfig(**{**sciml.config_to_dict(field.config), key: getattr(field.config, key) + 1})
    assert bigger.count_parameters(3) > params
    with pytest.raises(ValueError, match="params: a budget of 10"):
        GridField.for_budget(domain, 10, encoding=encoding)
    with pytest.raises(ValueError, match=key):
        GridField.for_budget(domain, params, encoding=encoding, **{key: 8})


def test_grid_field_registry_round_trip_and_second_derivatives():
    field = GridField.for_domain(Domain.unit(2), encoding="hash", n_levels=3, max_resolution=16, hashmap_size=64,
                                 init_scale=0.5, seed=3).double()
    rebuilt = sciml.build_model("grid", sciml.model_spec(field)["config"]).double()
    x = torch.rand(7, 2, dtype=torch.float64)
    torch.testing.assert_close(rebuilt(x), field(x), rtol=0, atol=0)
    x = (0.01 + 0.98 * torch.rand(3, 2, dtype=torch.float64)).requires_grad_(True)
    assert torch.autograd.gradgradcheck(field, (x,), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"encoding": "tri"}, ValueError, "encoding: expected one of"),
    ({"n_levels": 0}, ValueError, "n_levels: expected an integer >= 1"),
    ({"base_resolution": 8, "max_resolution": 4}, ValueError, "max_resolution: expected an integer >= 8"),
    ({"hashmap_size": 1.5}, TypeError, "hashmap_size: expected an integer"),
    ({"init_scale": 0.0}, ValueError, "init_scale"),
    ({"activation": "prelu"}, ValueError, "activation"),
])
def test_grid_config_rejects_bad_values(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        GridFieldConfig(**kwargs)


def test_interpolation_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"grid: expected shape \[\*batch, C, R_1..R_2\]"):
        multilinear_interpolate(torch.zeros(1, 4, 4, 4), torch.zeros(5, 2))
    with pytest.raises(ValueError, match="at least 2 nodes"):
        multilinear_interpolate(torch.zeros(1, 1, 4), torch.zeros(5, 2))
    with pytest.raises(ValueError, match=r"u: expected unit coordinates of shape \[..., 3\]"):
        DenseGridEncoding(3)(torch.zeros(4, 2))
    assert math.isfinite(float(HashGridEncoding(3)(torch.rand(2, 3)).detach().sum()))
