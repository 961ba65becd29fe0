"""The field base class: coordinates ``[..., d]`` -> values ``[..., c]`` on a :class:`~sciml.Domain`."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from sciml.discretization import Discretization
from sciml.domain import Domain
from sciml.sampled import Sampled

__all__ = ["Field", "FieldConfig"]


@dataclasses.dataclass
class FieldConfig:
    """Fields common to every field config: the box and the number of outputs.

    Field configs subclass this dataclass (every added attribute with a
    default), so a field is rebuilt from JSON as ``cls(cls.config_class(**d))``
    like every registered model (see :func:`sciml.register_model`).

    Attributes
    ----------
    bounds : tuple of (lower, upper)
        One pair per coordinate axis.
    periodic : tuple of bool
        Periodic flag per axis (empty means none periodic).
    out_channels : int
        Values per point.
    """

    bounds: tuple[tuple[float, float], ...] = ((0.0, 1.0), (0.0, 1.0), (0.0, 1.0))
    periodic: tuple[bool, ...] = ()
    out_channels: int = 1

    def domain(self) -> Domain:
        """The :class:`~sciml.Domain` these bounds describe."""
        return Domain(self.bounds, periodic=tuple(self.periodic) or False)


class Field(nn.Module):
    """A function on a box, evaluable at any coordinates.

    Subclasses implement :meth:`evaluate`, which maps coordinates ``[n, d]``
    (already validated, in the field's dtype and device) to values ``[n, c]``.
    :meth:`forward` accepts any leading shape ``[..., d]`` and returns
    ``[..., c]``; :meth:`sample` evaluates on a :class:`~sciml.Discretization`
    and returns a :class:`~sciml.Sampled`.

    Every field is differentiable in its coordinates to second order by
    autograd (see :mod:`sciml.fields.autodiff`), which the eikonal losses and
    INSR rely on.

    Parameters
    ----------
    domain : Domain
        The box the field is defined on. Coordinates are checked against it.
    out_channels : int
        Number of output values per point ``c``.
    check_domain : bool
        If true (default), :meth:`forward` raises ``ValueError`` for
        coordinates outside ``domain`` (with a relative tolerance of 1e-6 of
        the box size). Periodic axes are never checked.

    Examples
    --------
    >>> class Plane(Field):
    ...     def evaluate(self, x):
    ...         return x.sum(-1, keepdim=True)
    >>> f = Plane(Domain.unit(2), out_channels=1)
    >>> f(torch.tensor([[0.25, 0.5]]))
    tensor([[0.7500]])
    >>> f.sample(Grid.uniform((3, 3), Domain.unit(2))).values.shape
    torch.Size([1, 1, 3, 3])
    """

    @classmethod
    def for_domain(cls, domain: Domain, **kwargs) -> Field:
        """Build a field of this (registered, config-built) class on ``domain``.

        ``kwargs`` are the other attributes of ``cls.config_class``.
        """
        config_class = getattr(cls, "config_class", None)
        if config_class is None:
            raise TypeError(f"{cls.__name__} has no config_class; construct it directly")
        if not isinstance(domain, Domain):
            raise TypeError(f"domain: expected a sciml.Domain, got {type(domain).__name__}")
        return cls(config_class(bounds=tuple(domain.bounds), periodic=tuple(domain.periodic), **kwargs))

    #: whether the field is periodic along the domain's periodic axes; classes that are not
    #: refuse periodic domains instead of silently ignoring the flag
    periodic_axes: bool = True

    def __init__(self, domain: Domain, out_channels: int = 1, check_domain: bool = True):
        super().__init__()
        if not isinstance(domain, Domain):
            raise TypeError(f"domain: expected a sciml.Domain, got {type(domain).__name__}")
        if any(domain.periodic) and not self.periodic_axes:
            where = "config.periodic" if hasattr(self, "config_class") else "domain.periodic"
            raise ValueError(
                f"{where}: {type(self).__name__} is not periodic along periodic axes, got periodic="
                f"{tuple(domain.periodic)}; use a non-periodic box, or wrap the field in a periodic encoding "
                "(sciml.fields.insr.PeriodicField)"
            )
        if isinstance(out_channels, bool) or not isinstance(out_channels, int) or out_channels < 1:
            raise ValueError(f"out_channels: expected a positive int, got {out_channels!r}")
        self.domain = domain
        self.out_channels = out_channels
        self.check_domain = bool(check_domain)
        lower = torch.tensor(domain.lower, dtype=torch.float64)
        upper = torch.tensor(domain.upper, dtype=torch.float64)
        # Buffers follow .to(dtype/device); not saved in state dicts (the domain is in the config).
        self.register_buffer("_lower", lower, persistent=False)
        self.register_buffer("_upper", upper, persistent=False)

    @property
    def in_dim(self) -> int:
        """Number of coordinates ``d``."""
        return self.domain.ndim

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, out_channels={self.out_channels}"

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, x: torch.Tensor) -> torch.Tensor:
        """Values ``[n, c]`` at coordinates ``x`` ``[n, d]``; implemented by subclasses."""
        raise NotImplementedError(f"{type(self).__name__} must implement evaluate")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.check_coordinates(x)
        lead = x.shape[:-1]
        out = self.evaluate(x.reshape(-1, self.in_dim))
        return out.reshape(*lead, out.shape[-1])

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """Map coordinates from the domain to ``[0, 1]^d`` (differentiably)."""
        lower = self._lower.to(x.dtype)
        return (x - lower) / (self._upper.to(x.dtype) - lower)

    def check_coordinates(self, x) -> torch.Tensor:
        """Validate ``x`` ``[..., d]``: a finite floating tensor inside the domain."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x: expected a torch.Tensor of coordinates [..., {self.in_dim}], got {type(x).__name__}")
        if x.ndim < 1 or x.shape[-1] != self.in_dim:
            raise ValueError(f"x: expected coordinates of shape [..., {self.in_dim}], got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"x: expected a floating tensor, got dtype {x.dtype}")
        with torch.no_grad():
            if x.numel() and not bool(torch.isfinite(x).all()):
                bad = int((~torch.isfinite(x)).any(-1).sum())
                raise ValueError(f"x: expected finite coordinates, found {bad} points with NaN or infinite entries")
            if self.check_domain and x.numel():
                flat = x.detach().reshape(-1, self.in_dim).to(torch.float64)
                lower, upper = self._lower.to(flat.device), self._upper.to(flat.device)
                tol = 1e-6 * (upper - lower)
                outside = ((flat < lower - tol) | (flat > upper + tol))
                periodic = torch.tensor(self.domain.periodic, device=flat.device)
                outside = (outside & ~periodic).any(-1)
                if bool(outside.any()):
                    i = int(outside.nonzero()[0, 0])
                    raise ValueError(
                        f"x: {int(outside.sum())} of {flat.shape[0]} points lie outside the domain "
                        f"{list(self.domain.bounds)}, e.g. {flat[i].tolist()}"
                    )
        return x

    def sample(self, on: Discretization, chunk: int = 65536, dtype: torch.dtype | None = None) -> Sampled:
        """Evaluate the field at the points of ``on``.

        Parameters
        ----------
        on : Discretization
            Where to evaluate (its domain should lie in the field's domain).
        chunk : int
            Points evaluated per call, to bound memory on large grids.
        dtype : torch.dtype, optional
            Coordinate dtype; defaults to the dtype of the field's parameters.

        Returns
        -------
        Sampled
            Values ``[1, c, *on.shape]`` on ``on``.
        """
        if not isinstance(on, Discretization):
            raise TypeError(f"on: expected a sciml Discretization, got {type(on).__name__}")
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
            raise ValueError(f"chunk: expected a positive int, got {chunk!r}")
        dtype = dtype or self._param_dtype()
        device = self._param_device()
        points = on.points(dtype=dtype, device=device)
        outs = [self(points[i:i + chunk]) for i in range(0, points.shape[0], chunk)]
        values = torch.cat(outs, 0) if outs else points.new_zeros(0, self.out_channels)
        values = values.transpose(0, 1).reshape(1, values.shape[-1], *on.shape)
        return Sampled(values, on)

    def _param_dtype(self) -> torch.dtype:
        for p in self.parameters():
            if p.is_floating_point():
                return p.dtype
        return torch.get_default_dtype()

    def _param_device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return self._lower.device

    def num_parameters(self) -> int:
        """Number of trainable scalars (the budget ``sciml fit --params`` compares)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
