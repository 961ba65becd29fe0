r"""Coordinate networks: a plain :class:`MLP`, :class:`SIREN` and :class:`FourierMLP`.

* :class:`MLP` -- a reusable multilayer perceptron ``[..., in] -> [..., out]`` (the decoder
  of grid, tri-plane and RBF fields).
* :class:`SIREN` -- sine-activated network of Sitzmann et al. (2020),
  :math:`\Phi(u) = W_L\,\phi_{L-1}\circ\dots\circ\phi_0(u) + b_L` with
  :math:`\phi_i(y) = \sin(\omega_i (W_i y + b_i))`.
* :class:`FourierMLP` -- an MLP on a frequency encoding of the coordinates: random Fourier
  features (Tancik et al. 2020) or the NeRF positional encoding (:class:`FrequencyEncoding`).

Both fields first map the domain to :math:`u \in [-1, 1]^d` with :meth:`Field.to_unit`.
All activations offered except ``"relu"`` are smooth, so second derivatives in the coordinates
(Laplacians for INSR, Hessians, eikonal losses) exist and are non-trivial.

Each field has ``for_budget(domain, params, ...)``, which picks the largest width whose
:meth:`~sciml.fields.Field.num_parameters` does not exceed ``params`` (the ``sciml fit --params``
budget); the depth and other settings come from the keyword arguments or the config defaults.

Examples
--------
>>> field = SIREN.for_domain(sciml.Domain.unit(2), width=32, depth=2)
>>> field(torch.rand(5, 2)).shape
torch.Size([5, 1])
>>> FourierMLP.for_budget(sciml.Domain.unit(3), params=5000).num_parameters() <= 5000
True
"""

from __future__ import annotations

import contextlib
import dataclasses
import math

import torch
from torch import nn

import sciml
from sciml.domain import Domain

from .base import Field, FieldConfig

__all__ = ["ACTIVATIONS", "FourierMLP", "FourierMLPConfig", "FrequencyEncoding", "MLP", "SIREN", "seeded",
           "SirenConfig", "Sine", "largest_within_budget", "make_activation"]

ACTIVATIONS = ("softplus", "silu", "gelu", "tanh", "sine", "relu")
ENCODINGS = ("gaussian", "positional")


# ---------------------------------------------------------------------------- small helpers
def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}")
    return value


def _check_positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a finite number > 0, got {value}")
    return float(value)


def _check_domain(domain) -> Domain:
    if not isinstance(domain, Domain):
        raise TypeError(f"domain: expected a sciml.Domain, got {type(domain).__name__}")
    return domain


def _check_choice(name: str, value, choices) -> str:
    if value not in choices:
        raise ValueError(f"{name}: expected one of {choices}, got {value!r}")
    return value


class Sine(nn.Module):
    r"""Elementwise :math:`\sin(\omega y)`."""

    def __init__(self, omega: float = 1.0):
        super().__init__()
        self.omega = _check_positive("omega", omega)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.omega * y)

    def extra_repr(self) -> str:
        return f"omega={self.omega}"


def make_activation(name: str) -> nn.Module:
    """The activation module called ``name`` (one of :data:`ACTIVATIONS`).

    ``"relu"`` has a zero second derivative almost everywhere: avoid it for fields whose
    Laplacian or Hessian enters a loss.
    """
    _check_choice("activation", name, ACTIVATIONS)
    return {"softplus": nn.Softplus, "silu": nn.SiLU, "gelu": nn.GELU, "tanh": nn.Tanh,
            "sine": Sine, "relu": nn.ReLU}[name]()


def largest_within_budget(count, budget: int, lower: int = 1, upper: int = 1 << 20, name: str = "params") -> int:
    """The largest integer ``s`` in ``[lower, upper]`` with ``count(s) <= budget`` (``count`` non-decreasing).

    Raises ``ValueError`` naming ``name`` if even ``count(lower)`` exceeds the budget.

    Examples
    --------
    >>> largest_within_budget(lambda w: w * w, 50)
    7
    """
    _check_int(name, budget, 1)
    if count(lower) > budget:
        raise ValueError(f"{name}: a budget of {budget} parameters is too small; the smallest model "
                         f"of this kind has {count(lower)}")
    lo, hi = lower, upper
    while lo < hi:  # invariant: count(lo) <= budget
        mid = (lo + hi + 1) // 2
        if count(mid) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


# ---------------------------------------------------------------------------- MLP
class MLP(nn.Module):
    r"""Multilayer perceptron ``[..., in_features] -> [..., out_features]``.

    .. math::
        y = W_{D} \,\sigma(\dots \sigma(W_1 \sigma(W_0 x + b_0) + b_1) \dots) + b_{D},

    with ``depth`` hidden layers of ``width`` units (``depth=0`` is one linear map) and
    PyTorch's default initialisation. The output layer is linear.

    Parameters
    ----------
    in_features, out_features : int
    width : int
        Units per hidden layer.
    depth : int
        Number of hidden layers (``>= 0``).
    activation : str
        One of :data:`ACTIVATIONS`; smooth by default so second derivatives exist.

    Examples
    --------
    >>> mlp = MLP(3, 2, width=16, depth=2)
    >>> mlp(torch.randn(4, 3)).shape, mlp.num_parameters() == MLP.count_parameters(3, 2, 16, 2)
    (torch.Size([4, 2]), True)
    """

    def __init__(self, in_features: int, out_features: int, width: int = 64, depth: int = 2,
                 activation: str = "softplus"):
        super().__init__()
        self.in_features = _check_int("in_features", in_features, 1)
        self.out_features = _check_int("out_features", out_features, 1)
        self.width = _check_int("width", width, 1)
        self.depth = _check_int("depth", depth, 0)
        self.activation = _check_choice("activation", activation, ACTIVATIONS)
        sizes = [in_features] + [width] * depth + [out_features]
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.act = make_activation(activation)

    @staticmethod
    def count_parameters(in_features: int, out_features: int, width: int, depth: int) -> int:
        """Number of weights and biases of ``MLP(in_features, out_features, width, depth)``."""
        sizes = [in_features] + [width] * depth + [out_features]
        return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x: expected [..., {self.in_features}] features, got shape {tuple(x.shape)}")
        for linear in self.linears[:-1]:
            x = self.act(linear(x))
        return self.linears[-1](x)


# ---------------------------------------------------------------------------- frequency encodings
class FrequencyEncoding(nn.Module):
    r"""Sinusoidal features of coordinates :math:`u \in [-1, 1]^d`.

    ``kind="positional"`` (NeRF): :math:`\gamma(u) = [u, \sin(2^k \pi u), \cos(2^k \pi u)]_{k<L}`,
    ``d (2L + 1)`` features. ``kind="gaussian"`` (random Fourier features):
    :math:`\gamma(u) = [\cos(2\pi B u), \sin(2\pi B u)]` with :math:`B \in \mathbb R^{m \times d}`,
    :math:`B_{ij} \sim \mathcal N(0, \sigma^2)` drawn from ``seed`` and stored as a buffer,
    ``2m`` features.

    Parameters
    ----------
    in_dim : int
    n_frequencies : int
        ``L`` octaves (positional) or ``m`` random frequencies (gaussian).
    kind : {"positional", "gaussian"}
    sigma : float
        Standard deviation of the random frequencies (gaussian only).
    seed : int or None
        Seed of the random frequencies (``None``: torch's global generator).

    Examples
    --------
    >>> enc = FrequencyEncoding(2, 3, kind="positional")
    >>> enc.out_features, enc(torch.zeros(1, 2))[0, :4].tolist()
    (14, [0.0, 0.0, 0.0, 0.0])
    """

    def __init__(self, in_dim: int, n_frequencies: int, kind: str = "positional", sigma: float = 5.0,
                 seed: int | None = 0):
        super().__init__()
        self.in_dim = _check_int("in_dim", in_dim, 1)
        self.n_frequencies = _check_int("n_frequencies", n_frequencies, 0 if kind == "positional" else 1)
        self.kind = _check_choice("kind", kind, ENCODINGS)
        self.sigma = _check_positive("sigma", sigma)
        if kind == "gaussian":
            matrix = torch.randn(n_frequencies, in_dim, generator=_generator(seed), dtype=torch.float64) * sigma
        else:
            matrix = 2.0 ** torch.arange(n_frequencies, dtype=torch.float64)
        self.register_buffer("frequencies", matrix.to(torch.get_default_dtype()))

    @property
    def out_features(self) -> int:
        if self.kind == "gaussian":
            return 2 * self.n_frequencies
        return self.in_dim * (2 * self.n_frequencies + 1)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        if u.shape[-1] != self.in_dim:
            raise ValueError(f"u: expected [..., {self.in_dim}] coordinates, got shape {tuple(u.shape)}")
        freq = self.frequencies.to(u.dtype)
        if self.kind == "gaussian":
            phase = 2 * math.pi * (u @ freq.T)
            return torch.cat([torch.cos(phase), torch.sin(phase)], -1)
        phase = math.pi * (u.unsqueeze(-1) * freq).flatten(-2)  # [..., d L], axis-major
        return torch.cat([u, torch.sin(phase), torch.cos(phase)], -1)


# ---------------------------------------------------------------------------- SIREN
@dataclasses.dataclass
class SirenConfig(FieldConfig):
    """Configuration of :class:`SIREN`.

    Attributes
    ----------
    width : int
        Units per hidden layer.
    depth : int
        Number of sine layers (``>= 1``); one linear output layer follows.
    omega0 : float
        Frequency factor of the first layer (30 in the paper).
    hidden_omega0 : float
        Frequency factor of the other sine layers (30 in the paper).
    seed : int or None
        Seed of the initialisation (``None``: torch's global generator).
    """

    width: int = 256
    depth: int = 3
    omega0: float = 30.0
    hidden_omega0: float = 30.0
    seed: int | None = 0

    def __post_init__(self):
        _check_int("width", self.width, 1)
        _check_int("depth", self.depth, 1)
        _check_positive("omega0", self.omega0)
        _check_positive("hidden_omega0", self.hidden_omega0)
        _check_int("out_channels", self.out_channels, 1)
        if self.seed is not None:
            _check_int("seed", self.seed, 0)


@contextlib.contextmanager
def seeded(seed: int | None):
    """Run the block with torch's global generator seeded by ``seed`` (restored after); ``None``: unchanged."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def _generator(seed):
    return None if seed is None else torch.Generator().manual_seed(int(seed))


def _uniform_(tensor: torch.Tensor, bound: float, gen) -> None:
    with torch.no_grad():
        tensor.copy_(torch.rand(tensor.shape, generator=gen, dtype=torch.float64).mul_(2 * bound).sub_(bound))


@sciml.register_model("siren")
class SIREN(Field):
    r"""Sinusoidal representation network (Sitzmann et al., NeurIPS 2020).

    .. math::
        \Phi(x) = W_L\, h_{L-1} + b_L,\quad h_i = \sin\big(\omega_i (W_i h_{i-1} + b_i)\big),
        \quad h_{-1} = u = 2\,\mathrm{to\_unit}(x) - 1 \in [-1, 1]^d,

    with :math:`\omega_0` = ``omega0`` and :math:`\omega_{i>0}` = ``hidden_omega0``.
    Initialisation from the paper: first layer :math:`W_0 \sim U(-1/n, 1/n)` (``n = d``), the
    others :math:`W_i \sim U(-\sqrt{6/n}/\omega_i, \sqrt{6/n}/\omega_i)` (``n`` the fan-in); biases
    are drawn like the weights of their layer. The first layer's sines span many periods and are
    arcsine-distributed on :math:`[-1, 1]` (variance 1/2), so the second pre-activation
    :math:`\omega_1 (W_1 h_0 + b_1)` is close to :math:`\mathcal N(0, 1)`; deeper ones are
    :math:`\mathcal N(0, s_k^2)` with :math:`s_{k+1}^2 = 1 - e^{-2 s_k^2}`, which settles at
    :math:`s \approx 0.89`: the activations neither explode nor vanish with depth.

    Parameters
    ----------
    config : SirenConfig

    Examples
    --------
    >>> field = SIREN(SirenConfig(bounds=((0, 2),), width=16, depth=2))
    >>> field(torch.linspace(0, 2, 3)[:, None]).shape
    torch.Size([3, 1])
    """

    periodic_axes = False
    config_class = SirenConfig

    def __init__(self, config: SirenConfig):
        if not isinstance(config, SirenConfig):
            raise TypeError(f"config: expected a SirenConfig, got {type(config).__name__}")
        super().__init__(config.domain(), config.out_channels)
        self.config = config
        sizes = [self.in_dim] + [config.width] * config.depth + [config.out_channels]
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.omegas = [float(config.omega0)] + [float(config.hidden_omega0)] * (config.depth - 1)
        self._initialise(_generator(config.seed))

    def _initialise(self, gen) -> None:
        first = self.linears[0]
        _uniform_(first.weight, 1.0 / first.in_features, gen)
        _uniform_(first.bias, 1.0 / first.in_features, gen)
        for linear in self.linears[1:]:
            bound = math.sqrt(6.0 / linear.in_features) / self.config.hidden_omega0
            _uniform_(linear.weight, bound, gen)
            _uniform_(linear.bias, bound, gen)

    @staticmethod
    def count_parameters(in_dim: int, out_channels: int, width: int, depth: int) -> int:
        """Number of parameters of a SIREN of this size."""
        return MLP.count_parameters(in_dim, out_channels, width, depth)

    @classmethod
    def for_budget(cls, domain: Domain, params: int, out_channels: int = 1, **kwargs) -> SIREN:
        """The widest SIREN on ``domain`` with at most ``params`` parameters (depth from ``kwargs``)."""
        _check_domain(domain)
        if "width" in kwargs:
            raise ValueError("width: for_budget chooses the width; pass depth or other settings only")
        depth = kwargs.get("depth", SirenConfig.depth)
        width = largest_within_budget(lambda w: cls.count_parameters(domain.ndim, out_channels, w, depth), params)
        return cls.for_domain(domain, out_channels=out_channels, width=width, **kwargs)

    def pre_activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        r"""The arguments :math:`\omega_i (W_i h_{i-1} + b_i)` of every sine, ``[n, width]`` each."""
        h = 2 * self.to_unit(self.check_coordinates(x).reshape(-1, self.in_dim)) - 1
        out = []
        for omega, linear in zip(self.omegas, self.linears[:-1]):
            out.append(omega * linear(h))
            h = torch.sin(out[-1])
        return out

    def evaluate(self, x: torch.Tensor) -> torch.Tensor:
        h = 2 * self.to_unit(x) - 1
        for omega, linear in zip(self.omegas, self.linears[:-1]):
            h = torch.sin(omega * linear(h))
        return self.linears[-1](h)


# ---------------------------------------------------------------------------- Fourier-feature MLP
@dataclasses.dataclass
class FourierMLPConfig(FieldConfig):
    """Configuration of :class:`FourierMLP`.

    Attributes
    ----------
    width, depth : int
        Hidden units per layer and number of hidden layers of the MLP.
    encoding : {"gaussian", "positional"}
        Random Fourier features or the NeRF positional encoding.
    n_frequencies : int
        Number of random frequencies ``m`` or of octaves ``L``.
    sigma : float
        Standard deviation of the random frequencies, for ``u`` in ``[-1, 1]``.
    activation : str
        One of :data:`ACTIVATIONS`.
    seed : int or None
        Seed of the random frequencies and of the weights (``None``: torch's global generator).
    """

    width: int = 128
    depth: int = 3
    encoding: str = "gaussian"
    n_frequencies: int = 64
    sigma: float = 5.0
    activation: str = "silu"
    seed: int | None = 0

    def __post_init__(self):
        _check_int("width", self.width, 1)
        _check_int("depth", self.depth, 0)
        _check_choice("encoding", self.encoding, ENCODINGS)
        _check_int("n_frequencies", self.n_frequencies, 1)
        _check_positive("sigma", self.sigma)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_int("out_channels", self.out_channels, 1)
        if self.seed is not None:
            _check_int("seed", self.seed, 0)


@sciml.register_model("fourier-mlp")
class FourierMLP(Field):
    r"""MLP on a frequency encoding of the coordinates: :math:`f(x) = \mathrm{MLP}(\gamma(u))`.

    :math:`u = 2\,\mathrm{to\_unit}(x) - 1` and :math:`\gamma` is a :class:`FrequencyEncoding`
    (random Fourier features with scale ``sigma``, or the positional encoding). Larger ``sigma``
    or more octaves fit finer detail and generalise less smoothly between samples.

    Parameters
    ----------
    config : FourierMLPConfig

    Examples
    --------
    >>> field = FourierMLP.for_domain(sciml.Domain.unit(2), width=32, depth=2, n_frequencies=16)
    >>> field(torch.rand(7, 2)).shape
    torch.Size([7, 1])
    """

    periodic_axes = False
    config_class = FourierMLPConfig

    def __init__(self, config: FourierMLPConfig):
        if not isinstance(config, FourierMLPConfig):
            raise TypeError(f"config: expected a FourierMLPConfig, got {type(config).__name__}")
        super().__init__(config.domain(), config.out_channels)
        self.config = config
        self.encoding = FrequencyEncoding(self.in_dim, config.n_frequencies, config.encoding, config.sigma,
                                          config.seed)
        with seeded(config.seed):
            self.mlp = MLP(self.encoding.out_features, config.out_channels, config.width, config.depth,
                           config.activation)

    @classmethod
    def for_budget(cls, domain: Domain, params: int, out_channels: int = 1, **kwargs) -> FourierMLP:
        """The widest FourierMLP on ``domain`` with at most ``params`` parameters."""
        _check_domain(domain)
        if "width" in kwargs:
            raise ValueError("width: for_budget chooses the width; pass depth or other settings only")
        probe = FourierMLPConfig(bounds=tuple(domain.bounds), **{k: v for k, v in kwargs.items() if k != "periodic"})
        n_features = FrequencyEncoding(domain.ndim, probe.n_frequencies, probe.encoding, probe.sigma).out_features
        width = largest_within_budget(
            lambda w: MLP.count_parameters(n_features, out_channels, w, probe.depth), params)
        return cls.for_domain(domain, out_channels=out_channels, width=width, **kwargs)

    def evaluate(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.encoding(2 * self.to_unit(x) - 1))
