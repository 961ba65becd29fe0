"""SIREN, FourierMLP and MLP: initialisation statistics, fitting accuracy, exact derivatives, budgets."""

import math

import numpy as np
import pytest
import scipy.stats
import torch

import sciml
from sciml import Domain
from sciml.fields import gradient, laplacian
from sciml.fields.mlp import (
    MLP,
    SIREN,
    FourierMLP,
    FourierMLPConfig,
    FrequencyEncoding,
    SirenConfig,
    largest_within_budget,
)


def test_siren_initialisation_matches_the_papers_distributions():
    # Sitzmann et al. (2020), Sec. 3.2: the first layer's sines (arguments spanning many periods) are
    # arcsine-distributed on [-1, 1] (variance 1/2); W ~ U(+-sqrt(6/n)/w0) then makes the next
    # pre-activation ~N(0, 1). Exactly, deeper pre-activations are N(0, s_k^2) with
    # s_{k+1}^2 = 2 n Var(W) Var(sin N(0, s_k^2)) = 1 - exp(-2 s_k^2): a stable fixed point s ~ 0.89,
    # so the distribution neither explodes nor vanishes with depth (the paper's claim).
    field = SIREN(SirenConfig(bounds=((0, 1), (0, 1)), width=512, depth=6, seed=3)).double()
    x = torch.rand(2000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pre = field.pre_activations(x)
    h0 = torch.sin(pre[0]).flatten().numpy()[::7]
    ks = scipy.stats.kstest(h0, scipy.stats.arcsine(loc=-1, scale=2).cdf).statistic
    assert ks < 0.02, f"first-layer sines differ from arcsine(-1, 1): KS={ks:.3f} (tolerance 0.02)"
    assert abs(h0.var() - 0.5) < 0.01
    s2 = 1.0
    for i, z in enumerate(pre[1:], start=1):
        std = float(z.std())
        assert abs(std - math.sqrt(s2)) < 0.02 * math.sqrt(s2), f"layer {i}: std {std:.4f}, predicted {s2 ** .5:.4f}"
        normal_ks = scipy.stats.kstest(z.flatten().numpy()[::7] / math.sqrt(s2), "norm").statistic
        assert normal_ks < 0.02, f"layer {i}: pre-activations not ~N(0, {s2:.3f}): KS={normal_ks:.3f}"
        s2 = 1 - math.exp(-2 * s2)
    assert 0.85 < std < 0.95


def _fit(field, x, y, steps, lr):
    opt = torch.optim.Adam(field.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((field(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
    return field


def _relative_l2(a, b):
    return float(torch.linalg.norm(a - b) / torch.linalg.norm(b))


def test_siren_fits_a_smooth_1d_function_in_few_steps():
    torch.manual_seed(0)
    domain = Domain(((0.0, 2.0),))
    x = torch.linspace(0, 2, 200)[:, None]
    y = torch.sin(2 * math.pi * x) + 0.5 * torch.cos(5 * math.pi * x)
    field = _fit(SIREN.for_domain(domain, width=64, depth=2, seed=1), x, y, steps=150, lr=1e-3)
    x_test = torch.rand(300, 1) * 2
    y_test = torch.sin(2 * math.pi * x_test) + 0.5 * torch.cos(5 * math.pi * x_test)
    with torch.no_grad():
        err = _relative_l2(field(x_test), y_test)
    assert err < 2e-2, f"relative L2 error {err:.2e} after 150 steps (target < 2e-2)"


@pytest.mark.parametrize("encoding", ["gaussian", "positional"])
def test_fourier_mlp_fits_a_smooth_2d_function(encoding):
    torch.manual_seed(0)
    domain = Domain(((-1.0, 1.0), (0.0, 2.0)))
    grid = sciml.Grid.uniform((24, 24), domain)
    x = grid.points(dtype=torch.float32)

    def target(p):
        return (torch.sin(math.pi * p[:, :1]) * torch.cos(math.pi * p[:, 1:]) + p[:, :1] * p[:, 1:])

    n_freq = 32 if encoding == "gaussian" else 4
    field = FourierMLP.for_domain(domain, width=64, depth=2, encoding=encoding, n_frequencies=n_freq,
                                  sigma=1.0, seed=2)
    field = _fit(field, x, target(x), steps=300, lr=3e-3)
    x_test = torch.rand(400, 2) * torch.tensor([2.0, 2.0]) + torch.tensor([-1.0, 0.0])
    with torch.no_grad():
        err = _relative_l2(field(x_test), target(x_test))
    assert err < 3e-2, f"{encoding}: relative L2 error {err:.2e} off the training grid (target < 3e-2)"


def test_siren_derivatives_match_closed_form_for_one_hidden_layer():
    # Phi(x) = W1 sin(w0 (W0 u + b0)) + b1, u = 2 (x - a) / (b - a) - 1: gradient and Laplacian by hand.
    domain = Domain(((0.0, 2.0), (-1.0, 3.0)))
    field = SIREN.for_domain(domain, width=8, depth=1, omega0=3.0, seed=4).double()
    W0, b0 = field.linears[0].weight, field.linears[0].bias
    W1 = field.linears[1].weight
    scale = torch.tensor([2 / 2.0, 2 / 4.0], dtype=torch.float64)  # du/dx per axis
    x = torch.rand(10, 2, dtype=torch.float64) * torch.tensor([2.0, 4.0]) + torch.tensor([0.0, -1.0])
    u = 2 * (x - torch.tensor([0.0, -1.0])) / torch.tensor([2.0, 4.0]) - 1
    z = 3.0 * (u @ W0.T + b0)
    grad_exact = (W1 * 3.0 * torch.cos(z)) @ (W0 * scale)
    lap_exact = -(W1 * 9.0 * torch.sin(z) * ((W0 * scale) ** 2).sum(1)).sum(1, keepdim=True)
    torch.testing.assert_close(gradient(field, x), grad_exact.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(laplacian(field, x), lap_exact.detach(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("make", [
    lambda d: SIREN.for_domain(d, width=12, depth=3, seed=0),
    lambda d: FourierMLP.for_domain(d, width=12, depth=2, n_frequencies=6, sigma=1.0, activation="softplus"),
    lambda d: FourierMLP.for_domain(d, width=12, depth=2, n_frequencies=2, encoding="positional",
                                    activation="tanh"),
])
def test_fields_have_exact_first_and_second_coordinate_derivatives(make):
    field = make(Domain.unit(3)).double()
    x = (0.1 + 0.8 * torch.rand(4, 3, dtype=torch.float64)).requires_grad_(True)
    assert torch.autograd.gradcheck(field, (x,), eps=1e-6, atol=1e-6)
    assert torch.autograd.gradgradcheck(field, (x,), eps=1e-6, atol=1e-6)
    # Laplacian by autograd vs central second differences (h = 1e-4: O(h^2) ~ 1e-8 truncation)
    h = 1e-4
    lap_fd = sum((field(x + h * e) - 2 * field(x) + field(x - h * e)) / h ** 2
                 for e in torch.eye(3, dtype=torch.float64))
    torch.testing.assert_close(laplacian(field, x), lap_fd.detach(), rtol=1e-4, atol=1e-4)


def test_frequency_encoding_closed_forms():
    u = torch.tensor([[0.25, -0.5]], dtype=torch.float64)
    enc = FrequencyEncoding(2, 2, kind="positional").double()
    expected = [0.25, -0.5,
                math.sin(math.pi * 0.25), math.sin(2 * math.pi * 0.25),
                math.sin(-math.pi * 0.5), math.sin(-2 * math.pi * 0.5),
                math.cos(math.pi * 0.25), math.cos(2 * math.pi * 0.25),
                math.cos(-math.pi * 0.5), math.cos(-2 * math.pi * 0.5)]
    torch.testing.assert_close(enc(u)[0], torch.tensor(expected, dtype=torch.float64))
    gauss = FrequencyEncoding(2, 5, kind="gaussian", sigma=3.0, seed=7).double()
    phase = 2 * math.pi * u @ gauss.frequencies.T
    torch.testing.assert_close(gauss(u), torch.cat([torch.cos(phase), torch.sin(phase)], -1))
    again = FrequencyEncoding(2, 5, kind="gaussian", sigma=3.0, seed=7).double()
    torch.testing.assert_close(again.frequencies, gauss.frequencies, rtol=0, atol=0)


@pytest.mark.parametrize("cls", [SIREN, FourierMLP])
@pytest.mark.parametrize("params", [300, 5000, 123_457])
def test_for_budget_is_the_largest_width_within_the_budget(cls, params):
    domain = Domain.unit(3)
    field = cls.for_budget(domain, params=params, out_channels=2, depth=2)
    n = field.num_parameters()
    assert n <= params
    wider = cls.for_domain(domain, out_channels=2, depth=2, width=field.config.width + 1)
    assert wider.num_parameters() > params
    assert field.out_channels == 2 and field.config.depth == 2


def test_for_budget_rejects_too_small_budgets_and_width():
    with pytest.raises(ValueError, match="params: a budget of 5"):
        SIREN.for_budget(Domain.unit(2), params=5)
    with pytest.raises(ValueError, match="width"):
        SIREN.for_budget(Domain.unit(2), params=500, width=3)
    assert largest_within_budget(lambda s: 3 * s + 1, 100) == 33


def test_registry_round_trip_rebuilds_the_same_field():
    field = SIREN.for_domain(Domain(((0, 1), (2, 5))), width=16, depth=2, seed=5)
    spec = sciml.model_spec(field)
    assert spec["name"] == "siren"
    rebuilt = sciml.build_model(spec["name"], spec["config"])
    x = torch.rand(6, 2) * torch.tensor([1.0, 3.0]) + torch.tensor([0.0, 2.0])
    torch.testing.assert_close(rebuilt(x), field(x), rtol=0, atol=0)
    fmlp = FourierMLP.for_domain(Domain.unit(2), width=8, depth=1, seed=9)
    rebuilt = sciml.build_model("fourier-mlp", sciml.model_spec(fmlp)["config"])
    torch.testing.assert_close(rebuilt(x[:, :1].repeat(1, 2)), fmlp(x[:, :1].repeat(1, 2)), rtol=0, atol=0)


def test_mlp_parameter_count_and_errors():
    mlp = MLP(3, 2, width=7, depth=3)
    assert mlp.num_parameters() == (3 + 1) * 7 + 2 * (7 + 1) * 7 + (7 + 1) * 2
    assert MLP(4, 1, depth=0).num_parameters() == 5
    with pytest.raises(ValueError, match=r"x: expected \[..., 3\]"):
        mlp(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="activation: expected one of"):
        MLP(3, 2, activation="swish")


@pytest.mark.parametrize("cls, kwargs, exc, match", [
    (SirenConfig, {"width": 0}, ValueError, "width: expected an integer >= 1"),
    (SirenConfig, {"depth": 2.5}, TypeError, "depth: expected an integer"),
    (SirenConfig, {"omega0": -1.0}, ValueError, "omega0: expected a finite number > 0"),
    (SirenConfig, {"hidden_omega0": float("nan")}, ValueError, "hidden_omega0"),
    (FourierMLPConfig, {"encoding": "hash"}, ValueError, "encoding: expected one of"),
    (FourierMLPConfig, {"sigma": 0}, ValueError, "sigma: expected a finite number > 0"),
    (FourierMLPConfig, {"activation": "elu"}, ValueError, "activation: expected one of"),
    (FourierMLPConfig, {"n_frequencies": 0}, ValueError, "n_frequencies"),
])
def test_bad_config_values_raise_naming_the_field(cls, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cls(**kwargs)


def test_bad_coordinates_raise():
    field = SIREN.for_domain(Domain.unit(2), width=4, depth=1)
    with pytest.raises(ValueError, match=r"x: expected coordinates of shape \[..., 2\]"):
        field(torch.zeros(3, 3))
    with pytest.raises(ValueError, match="outside the domain"):
        field(torch.full((1, 2), 2.0))
    with pytest.raises(TypeError, match="config: expected a SirenConfig"):
        SIREN(FourierMLPConfig())
    assert np.isfinite(field(torch.rand(3, 2)).detach().numpy()).all()

