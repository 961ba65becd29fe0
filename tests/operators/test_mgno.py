"""MgNO: a real multigrid inside, exact linear operators, boundary symmetries, sizes, gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import sciml
from sciml.operators.mgno import MgNO, MgNOConfig, max_levels, paper_training
from sciml.operators.mgno_cycle import BOUNDARIES, VCycle, check_level_sizes, pad_boundary

LAPLACIAN_2D = torch.tensor([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]], dtype=torch.float64)
LAPLACIAN_1D = torch.tensor([-1.0, 2.0, -1.0], dtype=torch.float64)


# -- the building block is a textbook multigrid ------------------------------------------------------
def textbook_cycle(levels: int, boundary: str, omega: float = 0.8, smoothing: int = 1) -> VCycle:
    """V(1,1) for the 5-point Laplacian: rediscretised coarse operators, damped Jacobi, cell
    aggregation (restriction), cell-centred bilinear interpolation (prolongation), zero coarse guess."""
    cycle = VCycle(1, 1, ndim=2, levels=levels, pre_smoothing=smoothing, post_smoothing=smoothing,
                   boundary=boundary, coarse_guess=False, restriction_size=2).double()
    aggregate, bilinear = torch.full((2,), 0.5, dtype=torch.float64), torch.tensor([1.0, 3, 3, 1]) / 4
    with torch.no_grad():
        for level in range(levels):
            scale = 4.0 ** -level                        # h^2 L_h in units of the finest h: A_l = stencil / 4^l
            if str(level) in cycle.operators:
                cycle.operators[str(level)].weight.copy_(LAPLACIAN_2D * scale)
            jacobi = torch.zeros(3, 3, dtype=torch.float64)
            jacobi[1, 1] = omega / (4 * scale)
            for smoother in [*cycle.pre_smoothers[level], *cycle.post_smoothers[level]]:
                smoother.weight.copy_(jacobi)
        for restriction in cycle.restrict_residual:
            restriction.weight.copy_(torch.outer(aggregate, aggregate))
        for prolongation in cycle.prolong:
            prolongation.weight.copy_(torch.outer(bilinear, bilinear).double())
    return cycle


def laplacian(u: torch.Tensor, boundary: str) -> torch.Tensor:
    return F.conv2d(pad_boundary(u, 1, boundary), LAPLACIAN_2D[None, None])


def convergence_factor(cycle: VCycle, n: int, boundary: str, cycles: int = 20) -> float:
    """Asymptotic residual reduction per cycle of ``u <- u + V(f - A u)`` on an ``n x n`` Poisson problem."""
    f = torch.randn(1, 1, n, n, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    if boundary != "dirichlet":
        f = f - f.mean()                                 # compatible right-hand side (constants are the kernel)
    u, norms = torch.zeros_like(f), []
    with torch.no_grad():
        for _ in range(cycles):
            residual = f - laplacian(u, boundary)
            norms.append(float(residual.norm()))
            u = u + cycle(residual)
    return (norms[-1] / norms[-5]) ** 0.25


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_fixed_weight_vcycle_converges_like_textbook_multigrid(boundary):
    # V(1,1) with damped Jacobi (omega 0.8) on 16^2, 32^2, 64^2 down to one coarse cell: measured
    # factors 0.339/0.349/0.349 (dirichlet), 0.367/0.353/0.357 (periodic), 0.365/0.360/0.359 (neumann)
    factors = [convergence_factor(textbook_cycle(levels, boundary), n, boundary)
               for n, levels in ((16, 5), (32, 6), (64, 7))]
    assert max(factors) < 0.4, factors
    assert max(factors) / min(factors) < 1.05, f"not level independent: {factors}"
    # the coarse levels do the work: Jacobi alone (one level) stalls on the smooth error (measured 0.97)
    assert convergence_factor(textbook_cycle(1, boundary), 64, boundary) > 0.95


def test_restricted_initial_guess_with_zero_weights_is_the_error_correction_scheme():
    torch.manual_seed(0)
    guess = VCycle(2, 3, ndim=2, levels=3, pre_smoothing=2, post_smoothing=1, coarse_guess=True).double()
    plain = VCycle(2, 3, ndim=2, levels=3, pre_smoothing=2, post_smoothing=1, coarse_guess=False).double()
    state = {k: v for k, v in guess.state_dict().items() if not k.startswith("restrict_solution")}
    plain.load_state_dict(state)
    with torch.no_grad():
        for module in guess.restrict_solution:
            module.weight.zero_()
    f = torch.randn(2, 2, 16, 16, dtype=torch.float64)
    torch.testing.assert_close(guess(f), plain(f), rtol=0, atol=1e-14)


# -- a linear MgNO learns a discrete Laplacian inverse exactly ------------------------------------------
def inverse_laplacian_1d(n: int, boundary: str, shift: float) -> torch.Tensor:
    """``(A + shift I)^-1`` for the 3-point Laplacian with the boundary's ghost cells (column k: response to e_k)."""
    unit = torch.eye(n, dtype=torch.float64).reshape(n, 1, n)
    stencil = F.conv1d(pad_boundary(unit, 1, boundary), LAPLACIAN_1D[None, None]).reshape(n, n).T
    return torch.linalg.inv(stencil + shift * torch.eye(n, dtype=torch.float64))


@pytest.mark.parametrize("boundary,shift", [("dirichlet", 0.0), ("neumann", 1.0), ("periodic", 1.0)])
def test_linear_mgno_trained_in_fp64_reproduces_the_inverse_laplacian(boundary, shift):
    # 4 cells, 2 levels, width 2, identity activation, no bias: a linear map R^4 -> R^4. L-BFGS on
    # the 4 unit inputs reaches ~1e-10 relative error from most initialisations (some stall near
    # 4e-5 in a local minimum: restart with the next seed, at most 4 tries).
    n = 4
    target = inverse_laplacian_1d(n, boundary, shift)
    inputs = torch.eye(n, dtype=torch.float64).reshape(n, 1, n)
    targets = target.T.reshape(n, 1, n)
    config = MgNOConfig(1, 1, width=2, levels=2, n_layers=1, ndim=1, boundary=boundary, activation="identity",
                        bias_size=0)
    errors = []
    for seed in range(4):
        torch.manual_seed(seed)
        model = MgNO(config).double()
        optimizer = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=150, history_size=50, tolerance_grad=1e-15,
                                      tolerance_change=1e-20, line_search_fn="strong_wolfe")

        def closure(model=model, optimizer=optimizer):
            optimizer.zero_grad()
            loss = (model(inputs) - targets).square().sum() / targets.square().sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        with torch.no_grad():
            errors.append(float((model(inputs) - targets).norm() / targets.norm()))
        if errors[-1] < 1e-8:
            break
    assert errors[-1] < 1e-8, f"relative errors per restart: {errors}"
    # and it is the operator, not a fit of 4 samples: any input is mapped by the inverse
    f = torch.randn(3, 1, n, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(model(f)[:, 0], f[:, 0] @ target.T, rtol=1e-7, atol=1e-9)


# -- boundary conditions ---------------------------------------------------------------------------
def symmetrize(model: torch.nn.Module) -> None:
    """Make every stencil even about its centre on each axis (mirror-symmetric weights)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 3 and "bias" not in name:
                axes = list(range(2, p.ndim))
                total = torch.zeros_like(p)
                for mask in range(2 ** len(axes)):
                    flips = [a for i, a in enumerate(axes) if mask >> i & 1]
                    total += p.flip(flips) if flips else p
                p.copy_(total / 2 ** len(axes))


def twin(model: MgNO, boundary: str) -> MgNO:
    """The same weights with another boundary condition."""
    fields = sciml.config_to_dict(model.config)
    other = MgNO(sciml.config_from_dict(MgNOConfig, {**fields, "boundary": boundary})).double()
    other.load_state_dict(model.state_dict())
    return other


def mirror_extend(x: torch.Tensor, sign: float) -> torch.Tensor:
    """``[x, sign * flip(x)]`` along every spatial axis (the even or odd extension across the faces)."""
    for dim in range(2, x.ndim):
        x = torch.cat([x, sign * x.flip(dim)], dim=dim)
    return x


@pytest.mark.parametrize("restriction_size", [2, 4])
def test_neumann_model_is_the_periodic_model_on_the_even_extension(restriction_size):
    # With mirror-symmetric stencils the reflecting wall is a symmetry plane of the periodic
    # problem on the doubled box, on every level; the activation and a constant bias keep it.
    torch.manual_seed(1)
    model = MgNO(MgNOConfig(1, 2, width=3, levels=3, n_layers=2, boundary="neumann", bias_size=1,
                            restriction_size=restriction_size)).double()
    symmetrize(model)
    with torch.no_grad():
        for layer in model.layers:
            layer.bias.values.normal_()
    x = torch.randn(2, 1, 8, 12, dtype=torch.float64)
    extended = twin(model, "periodic")(mirror_extend(x, 1.0))
    torch.testing.assert_close(model(x), extended[..., :8, :12], rtol=0, atol=1e-12)


def test_dirichlet_linear_model_is_the_periodic_model_on_the_odd_extension():
    # Zero Dirichlet on the faces = odd reflection on every level: a linear, bias-free model with
    # mirror-symmetric stencils maps odd extensions to odd extensions.
    torch.manual_seed(2)
    config = MgNOConfig(2, 1, width=3, levels=3, n_layers=2, boundary="dirichlet", activation="identity",
                        bias_size=0, restriction_size=4, post_smoothing=1)
    model = MgNO(config).double()
    symmetrize(model)
    x = torch.randn(2, 2, 16, 8, dtype=torch.float64)
    extended = twin(model, "periodic")(mirror_extend(x, -1.0))
    torch.testing.assert_close(model(x), extended[..., :16, :8], rtol=0, atol=1e-12)
    torch.testing.assert_close(extended, mirror_extend(extended[..., :16, :8], -1.0), rtol=0, atol=1e-12)


def test_periodic_model_commutes_with_shifts_by_whole_coarse_cells():
    torch.manual_seed(3)
    model = MgNO(MgNOConfig(1, 1, width=4, levels=3, n_layers=2, boundary="periodic", bias_size=1)).double()
    with torch.no_grad():
        for layer in model.layers:
            layer.bias.values.normal_()
    x = torch.randn(2, 1, 16, 16, dtype=torch.float64)
    for shift in ((4, 0), (8, 12), (-4, 4)):                    # multiples of 2^(levels-1) = 4
        torch.testing.assert_close(model(x.roll(shift, (2, 3))), model(x).roll(shift, (2, 3)), rtol=0, atol=1e-12)
    # strided restriction samples every other cell: a one-cell shift is not a symmetry
    assert not torch.allclose(model(x.roll(1, 2)), model(x).roll(1, 2), atol=1e-6)


def test_pad_boundary_mirrors_wraps_and_negates():
    x = torch.arange(1.0, 5.0).reshape(1, 1, 4)
    assert pad_boundary(x, 2, "dirichlet")[0, 0].tolist() == [-2, -1, 1, 2, 3, 4, -4, -3]
    assert pad_boundary(x, 2, "neumann")[0, 0].tolist() == [2, 1, 1, 2, 3, 4, 4, 3]
    assert pad_boundary(x, 2, "periodic")[0, 0].tolist() == [3, 4, 1, 2, 3, 4, 1, 2]
    with pytest.raises(ValueError, match="boundary: expected one of"):
        pad_boundary(x, 1, "zeros")


# -- resolutions and sizes -------------------------------------------------------------------------
def test_bias_is_one_function_at_every_resolution():
    torch.manual_seed(4)
    model = MgNO(MgNOConfig(1, 1, width=2, levels=2, n_layers=1, bias_size=4))
    bias = model.layers[0].bias
    with torch.no_grad():
        bias.values.normal_()
    domain = sciml.Domain.unit(2)
    coarse, fine = sciml.Grid.uniform((8, 8), domain, "cell"), sciml.Grid.uniform((16, 16), domain, "cell")
    b_coarse, b_fine = bias(coarse, torch.float64), bias(fine, torch.float64)
    # the cell centres of the 8-grid are midpoints of fine centres: a multilinear function's values
    # there are the means of its values at the two neighbouring fine centres, per axis
    pairs = 0.25 * (b_fine[:, 0::2, 0::2] + b_fine[:, 1::2, 0::2] + b_fine[:, 0::2, 1::2] + b_fine[:, 1::2, 1::2])
    interior = (slice(None), slice(1, -1), slice(1, -1))       # away from the clamped outer half-cells
    torch.testing.assert_close(b_coarse[interior], pairs[interior], rtol=0, atol=1e-12)
    # and on the bias' own cell centres (a 4-grid) it returns its values
    torch.testing.assert_close(bias(sciml.Grid.uniform((4, 4), domain, "cell"), torch.float64),
                               bias.values.double(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("n", [32, 33, 12])
def test_reference_shape_model_is_exact_for_multilinear_inputs_at_any_resolution(n):
    # the network runs on 16 x 16 nodes; inputs elsewhere are interpolated to it and outputs back,
    # both exact for multilinear functions: model(u on n x n) = interp(model(u on 16 x 16))
    torch.manual_seed(8)
    model = MgNO(MgNOConfig(1, 1, width=3, levels=3, n_layers=2, bias_size=4, reference_shape=[16, 16])).double()
    reference, grid = sciml.Grid.uniform((16, 16)), sciml.Grid.uniform((n, n))

    def bilinear(on):
        x, y = on.mesh(torch.float64).unbind(-1)
        return torch.stack([1 + 2 * x - y + 3 * x * y, x - 0.5 * y])[:, None]     # two samples

    expected = sciml.resample(model(sciml.Sampled(bilinear(reference), reference)), grid, method="linear")
    out = model(sciml.Sampled(bilinear(grid), grid))
    assert model.reference_grid(reference) is None
    torch.testing.assert_close(out.values, expected.values, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="reference_shape: spatial size 30 cannot be coarsened"):
        MgNOConfig(1, 1, levels=3, reference_shape=[30, 32])


def test_model_evaluates_every_valid_resolution_and_refuses_the_others():
    torch.manual_seed(5)
    model = MgNO(MgNOConfig(1, 1, width=4, levels=4, n_layers=2))
    for n in (8, 16, 32, 64):                                   # multiples of 2^3
        grid = sciml.Grid.uniform((n, n))
        out = model(sciml.Sampled(torch.randn(1, 1, n, n), grid))
        assert out.on == grid and torch.isfinite(out.values).all()
    with pytest.raises(ValueError, match="size 33 cannot be coarsened 3 times.*nearest valid sizes: 32 or 40"):
        model(torch.randn(1, 1, 33, 32))
    with pytest.raises(ValueError, match="nearest valid sizes: 8 or 16"):
        check_level_sizes((12,), 4)
    with pytest.raises(ValueError, match="fewer than the 2 ghost cells of a 5-point stencil"):
        check_level_sizes((8,), 4, kernel_size=5)


def test_input_contract_errors_name_the_argument():
    model = MgNO(MgNOConfig(2, 1, width=2, levels=2, n_layers=1))
    grid = sciml.Grid.uniform((8, 8))
    with pytest.raises(ValueError, match="values: expected 2 input channels, got 1"):
        model(sciml.Sampled(torch.randn(1, 1, 8, 8), grid))
    with pytest.raises(TypeError, match="on: expected a sciml.Grid"):
        model.forward_values(torch.randn(1, 2, 64), sciml.PointCloud(torch.rand(64, 2)))
    with pytest.raises(ValueError, match="on: expected a uniform 2D grid"):
        model(sciml.Sampled(torch.randn(1, 2, 8, 8), sciml.Grid.chebyshev((8, 8))))
    with pytest.raises(ValueError, match="values: expected a tensor"):
        model.forward_values(torch.randn(2, 8, 8), grid)


@pytest.mark.parametrize("fields,error,match", [
    (dict(boundary="zeros"), ValueError, "boundary: expected one of"),
    (dict(restriction_size=5), ValueError, "restriction_size: expected one of"),
    (dict(levels=3, pre_smoothing=[1, 1]), ValueError, "pre_smoothing: expected an integer >= 1 or 3"),
    (dict(levels=2, pre_smoothing=[1, 0]), ValueError, "pre_smoothing: expected an integer >= 1 or 2"),
    (dict(levels=2, post_smoothing=-1), ValueError, "post_smoothing: expected an integer >= 0 or 2"),
    (dict(post_smoothing=1.5), TypeError, "post_smoothing: expected an integer or a list of 6"),
    (dict(kernel_size=4), ValueError, "kernel_size: expected an odd"),
    (dict(width=2.5), TypeError, "width: expected an integer"),
    (dict(ndim=4), ValueError, "ndim: expected 1, 2 or 3"),
    (dict(coarse_guess=1), TypeError, "coarse_guess: expected a bool"),
])
def test_config_rejects_bad_fields(fields, error, match):
    with pytest.raises(error, match=match):
        MgNOConfig(1, 1, **fields)


# -- gradients, configs, bench sizes ----------------------------------------------------------------
def test_gradcheck_and_gradgradcheck_fp64_tiny_model():
    torch.manual_seed(6)
    model = MgNO(MgNOConfig(1, 1, width=2, levels=3, n_layers=2, ndim=1, pre_smoothing=[1, 2, 1], post_smoothing=1,
                            bias_size=3, boundary="neumann", restriction_size=3)).double()
    # one parameter of every kind (operator, pre/post smoother, both restrictions, prolongation, bias, read-out)
    kinds = ("layers.1.cycle.operators.1.", "layers.1.cycle.pre_smoothers.1.1.", "layers.0.cycle.post_smoothers.0.0",
             "layers.1.cycle.restrict_residual.1.", "layers.0.cycle.restrict_solution.0.", "layers.1.cycle.prolong.1.",
             "layers.0.bias.", "readout.")
    checked = {name: p.detach().clone().requires_grad_(True) for name, p in model.named_parameters()
               if name.startswith(kinds)}
    assert len(checked) == len(kinds)
    x = torch.randn(1, 1, 8, dtype=torch.float64, requires_grad=True)

    def function(x, *values):
        return torch.func.functional_call(model, dict(zip(checked, values)), (x,), strict=False)

    assert torch.autograd.gradcheck(function, (x, *checked.values()), eps=1e-6, atol=1e-7, rtol=1e-5)
    assert torch.autograd.gradgradcheck(lambda x: model(x).square(), (x,), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_config_round_trip_rebuilds_the_same_model():
    config = MgNOConfig(3, 2, width=4, levels=3, n_layers=2, pre_smoothing=[2, 1, 1], boundary="periodic")
    assert sciml.config_from_dict(MgNOConfig, sciml.config_to_dict(config)) == config
    model = MgNO(config)
    rebuilt = sciml.build_model("mgno", sciml.config_to_dict(config))
    rebuilt.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(rebuilt(x), model(x), rtol=0, atol=0)


def test_paper_profiles_and_bench_sizes():
    darcy = MgNO(MgNOConfig.paper("darcy", in_channels=1, out_channels=1))
    assert 0.5e6 < sum(p.numel() for p in darcy.parameters()) < 0.6e6          # the paper: about 0.57M
    from sciml.workflows.bench import bench_model_config, bench_profile

    profile = bench_profile("darcy", quick=True)
    config = bench_model_config("mgno", profile, sciml.Grid.uniform((32, 32)))
    assert config == dict(levels=6, n_layers=4, width=24, boundary="dirichlet", ndim=2, reference_shape=[32, 32])
    assert bench_model_config("mgno", profile, sciml.Grid.uniform((48, 48)))["levels"] == 5      # 48 = 3 * 16
    ns = bench_profile("navier-stokes", quick=True)
    periodic = sciml.Grid.uniform((32, 32), sciml.Domain.unit(2, periodic=True))
    assert bench_model_config("mgno", ns, periodic) == dict(levels=5, n_layers=5, width=32, boundary="periodic",
                                                           ndim=2, reference_shape=[32, 32])
    assert max_levels((40, 24), 6) == 4
    trainer, loss = paper_training("navier-stokes", epochs=7)
    assert (trainer.epochs, trainer.lr, trainer.batch_size, trainer.scheduler) == (7, 5e-4, 8, "onecycle")
    assert isinstance(loss, sciml.losses.H1Loss)


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_vcycle_is_linear_for_every_boundary(boundary):
    torch.manual_seed(7)
    cycle = VCycle(2, 3, ndim=3, levels=2, pre_smoothing=1, post_smoothing=1, boundary=boundary).double()
    f, g = torch.randn(2, 2, 4, 4, 8, dtype=torch.float64), torch.randn(2, 2, 4, 4, 8, dtype=torch.float64)
    torch.testing.assert_close(cycle(2 * f - 3 * g), 2 * cycle(f) - 3 * cycle(g), rtol=1e-12, atol=1e-12)
