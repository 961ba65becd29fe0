r"""The neural field INSR evolves: a SIREN, behind a periodic encoding on periodic axes.

On a periodic axis of length :math:`L` the coordinate enters the network as
:math:`(\cos 2\pi x/L, \sin 2\pi x/L)`, so every function the network represents is exactly
periodic (with all its derivatives); non-periodic axes enter as they are.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from sciml.domain import Domain
from sciml.fields.base import Field
from sciml.fields.mlp import SIREN, SirenConfig

__all__ = ["NetworkConfig", "PeriodicField", "make_field"]


@dataclasses.dataclass
class NetworkConfig:
    """Size of the SIREN of every evolved field.

    Attributes
    ----------
    width, depth : int
        Units per sine layer and number of sine layers.
    omega0, hidden_omega0 : float
        SIREN frequency factors of the first and the other layers.
    seed : int
        Initialisation seed (field ``i`` of a problem uses ``seed + i``).
    """

    width: int = 32
    depth: int = 3
    omega0: float = 30.0
    hidden_omega0: float = 30.0
    seed: int = 0


class PeriodicField(Field):
    r"""A field made periodic on the periodic axes of ``domain`` by a sine/cosine encoding.

    .. math::

       u(x) = \Phi(\gamma(x)), \quad \gamma(x)_a = \begin{cases}
       (\cos 2\pi (x_a - \ell_a)/L_a,\ \sin 2\pi (x_a - \ell_a)/L_a) & \text{periodic } a \\
       2 (x_a - \ell_a)/L_a - 1 & \text{otherwise} \end{cases}

    with :math:`\Phi` an inner field on :math:`[-1, 1]^m` (``m`` = number of encoded features).

    Parameters
    ----------
    domain : Domain
        The (partly) periodic box.
    inner : Field
        A field on ``[-1, 1]^m`` with ``m = d + (number of periodic axes)``.

    Examples
    --------
    >>> domain = Domain(((0.0, 1.0),), periodic=True)
    >>> inner = SIREN(SirenConfig(bounds=((-1, 1), (-1, 1)), width=8, depth=1))
    >>> f = PeriodicField(domain, inner)
    >>> bool(torch.allclose(f(torch.tensor([[0.0]])), f(torch.tensor([[1.0]])), atol=1e-6))
    True
    """

    def __init__(self, domain: Domain, inner: Field):
        if not isinstance(inner, Field):
            raise TypeError(f"inner: expected a sciml Field, got {type(inner).__name__}")
        m = domain.ndim + sum(domain.periodic)
        if inner.in_dim != m:
            raise ValueError(f"inner: expected a field of {m} coordinates for the encoding of {domain}, "
                             f"got {inner.in_dim}")
        super().__init__(domain, inner.out_channels)
        self.inner = inner
        self.register_buffer("_periodic", torch.tensor(domain.periodic), persistent=False)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The features ``[n, m]`` of coordinates ``[n, d]``."""
        unit = self.to_unit(x)
        feats = []
        for a, periodic in enumerate(self.domain.periodic):
            if periodic:
                angle = 2 * math.pi * unit[:, a]
                feats += [torch.cos(angle), torch.sin(angle)]
            else:
                feats.append(2 * unit[:, a] - 1)
        return torch.stack(feats, -1)

    def evaluate(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner.evaluate(self.encode(x))


def make_field(domain: Domain, out_channels: int, network: NetworkConfig, index: int = 0) -> Field:
    """A SIREN on ``domain`` (wrapped in :class:`PeriodicField` when an axis is periodic); ``index`` offsets the seed.

    Examples
    --------
    >>> make_field(Domain.unit(1), 1, NetworkConfig(width=8, depth=2)).num_parameters()
    97
    """
    if not isinstance(network, NetworkConfig):
        raise TypeError(f"network: expected a NetworkConfig, got {type(network).__name__}")
    kw = {"width": network.width, "depth": network.depth, "omega0": network.omega0,
          "hidden_omega0": network.hidden_omega0, "seed": network.seed + index, "out_channels": out_channels}
    if not any(domain.periodic):
        return SIREN(SirenConfig(bounds=tuple(domain.bounds), **kw))
    m = domain.ndim + sum(domain.periodic)
    inner = SIREN(SirenConfig(bounds=((-1.0, 1.0),) * m, **kw))
    return PeriodicField(domain, inner)
