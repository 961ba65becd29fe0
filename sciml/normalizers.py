r"""Per-channel normalizers: fit statistics on training data, encode inputs, decode outputs.

A normalizer is an :class:`torch.nn.Module` whose statistics are registered
buffers, so they travel with ``state_dict()`` and ``.to(device)``; :meth:`Normalizer.to_dict`
gives the same information as plain JSON to save next to a model's weights.

Statistics are plain (unweighted) per-channel statistics over every sample of
the batch and every point of space: on non-uniform grids and meshes each point
counts once, whatever its quadrature weight. They are computed in float64 and
stored as float64 buffers; :meth:`encode` and :meth:`decode` cast them to the
dtype of their input.

Examples
--------
>>> data = 3.0 + 2.0 * torch.randn(64, 2, 16, 16, dtype=torch.float64)
>>> normalizer = GaussianNormalizer(channels=2).fit(data)
>>> encoded = normalizer.encode(data)
>>> torch.allclose(normalizer.decode(encoded), data)
True
>>> restored = Normalizer.from_dict(json.loads(json.dumps(normalizer.to_dict())))
>>> torch.equal(restored.encode(data), encoded)
True
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable

import torch
from torch import nn

from ._checks import as_float_tensor, check_finite, check_positive_int
from ._validators import check_finite_float, check_positive_float
from .sampled import Sampled

__all__ = ["GaussianNormalizer", "MinMaxNormalizer", "Normalizer"]


class Normalizer(nn.Module):
    """Base class: per-channel affine maps fitted to data ``[batch, channels, *spatial]``.

    Subclasses name their statistics in ``statistic_names`` (float64 buffers of
    shape ``[channels]``) and implement :meth:`_fit_statistics`, :meth:`_encode`
    and :meth:`_decode`. Extra constructor arguments are returned by
    :meth:`_constructor_arguments` so that :meth:`from_dict` can rebuild the object.

    Parameters
    ----------
    channels : int
        Number of channels (dimension 1 of the data).
    eps : float
        Floor of the scale statistic: no channel is ever divided by less than ``eps``.
    """

    statistic_names: tuple[str, ...] = ()

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.channels = check_positive_int(channels, "channels")
        self.eps = check_positive_float(eps, "eps")
        for name in self.statistic_names:
            self.register_buffer(name, torch.zeros(self.channels, dtype=torch.float64))
        self.register_buffer("fitted", torch.tensor(False))

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` has run (or fitted statistics were loaded)."""
        return bool(self.fitted)

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, data) -> Normalizer:
        """Compute the per-channel statistics of ``data``; returns ``self``.

        Parameters
        ----------
        data : Sampled, tensor ``[B, C, *spatial]``, or an iterable of them
            An iterable is reduced chunk by chunk (e.g. ``(a for a, u in loader)``),
            so the data need not fit in memory at once.

        Raises
        ------
        ValueError
            The data hold NaN or infinite values (the message names the chunk
            ``data[i]`` of an iterable), or have the wrong number of channels.
        """
        if isinstance(data, (Sampled, torch.Tensor)):
            chunks = [self._channels_by_points(data, "data")]
        else:
            chunks = [self._channels_by_points(item, f"data[{i}]") for i, item in enumerate(_as_list(data))]
        statistics = self._fit_statistics(chunks)
        with torch.no_grad():
            for name in self.statistic_names:
                getattr(self, name).copy_(statistics[name])
            self.fitted.fill_(True)
        return self

    def _channels_by_points(self, item, name: str) -> torch.Tensor:
        values = self._checked_values(item, name)
        if values[:, :1].numel() == 0:
            raise ValueError(f"{name}: expected at least one sample to fit, got shape {tuple(values.shape)}")
        check_finite(values.detach(), name)
        return values.detach().to(torch.float64).transpose(0, 1).reshape(self.channels, -1)

    # -- transforms ----------------------------------------------------------------------------
    def encode(self, x):
        """Normalize ``x`` (Sampled or tensor ``[B, C, ...]``); returns the same kind."""
        return self._transform(x, self._encode)

    def decode(self, x):
        """Undo :meth:`encode`: ``decode(encode(x)) == x`` up to rounding."""
        return self._transform(x, self._decode)

    def forward(self, x):
        """Same as :meth:`encode`."""
        return self.encode(x)

    def _transform(self, x, function):
        if not self.is_fitted:
            raise RuntimeError(f"{type(self).__name__}: not fitted; call fit(training_data) "
                               "or load fitted statistics before encode/decode")
        values = self._checked_values(x, "x")
        shape = (1, self.channels) + (1,) * (values.ndim - 2)
        statistics = {name: getattr(self, name).to(device=values.device, dtype=values.dtype).reshape(shape)
                      for name in self.statistic_names}
        out = function(values, **statistics)
        return x.with_values(out) if isinstance(x, Sampled) else out

    def _checked_values(self, x, name: str) -> torch.Tensor:
        if not isinstance(x, (Sampled, torch.Tensor)):
            raise TypeError(f"{name}: expected Sampled or torch.Tensor, got {type(x).__name__}")
        values = x.values if isinstance(x, Sampled) else as_float_tensor(x, name)
        if values.is_complex():
            raise TypeError(f"{name}: expected real values, got dtype {values.dtype}")
        if values.ndim < 2 or values.shape[1] != self.channels:
            raise ValueError(f"{name}: expected {self.channels} channels in dimension 1 of "
                             f"[batch, channels, ...], got shape {tuple(values.shape)}")
        return values

    # -- serialization -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-serializable description: kind, constructor arguments and statistics (lists)."""
        return {"kind": type(self).__name__, "channels": self.channels, "eps": self.eps,
                **self._constructor_arguments(), "fitted": self.is_fitted,
                "statistics": {name: getattr(self, name).tolist() for name in self.statistic_names}}

    @staticmethod
    def from_dict(data: dict) -> Normalizer:
        """Rebuild a normalizer written by :meth:`to_dict` (any subclass, by its ``kind``).

        Raises
        ------
        ValueError
            ``data`` is not what :meth:`to_dict` writes: unknown kind, unknown or
            missing constructor arguments, bad argument values, statistics of the
            wrong length or not finite. The message names the entry.
        """
        if not isinstance(data, dict) or "kind" not in data:
            raise ValueError(f"data: expected a dict with a 'kind' key, got {type(data).__name__}")
        kinds = _normalizer_kinds()
        kind = data["kind"]
        if not isinstance(kind, str) or kind not in kinds:
            raise ValueError(f"data['kind']: expected one of {sorted(kinds)}, got {kind!r}")
        arguments = {k: v for k, v in data.items() if k not in ("kind", "fitted", "statistics")}
        _check_arguments(kinds[kind], arguments)
        try:
            normalizer = kinds[kind](**arguments)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"data: cannot rebuild {kind} from {arguments}: {exc}") from exc
        fitted = data.get("fitted", False)
        if not isinstance(fitted, bool):
            raise ValueError(f"data['fitted']: expected true or false, got {fitted!r}")
        normalizer._load_statistics(data.get("statistics", {}), fitted)
        return normalizer

    def _load_statistics(self, statistics: dict, fitted: bool) -> None:
        if not isinstance(statistics, dict):
            raise ValueError(f"data['statistics']: expected a dict of name -> list, got {type(statistics).__name__}")
        missing = [name for name in self.statistic_names if name not in statistics]
        if fitted and missing:
            raise ValueError(f"data['statistics']: expected entries {list(self.statistic_names)}, missing {missing}")
        with torch.no_grad():
            for name in self.statistic_names:
                if name in statistics:
                    getattr(self, name).copy_(self._statistic(statistics[name], f"data['statistics'][{name!r}]"))
            self.fitted.fill_(fitted)

    def _statistic(self, value, name: str) -> torch.Tensor:
        try:
            value = torch.as_tensor(value, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ValueError(f"{name}: expected {self.channels} numbers, got {value!r:.80}") from exc
        if tuple(value.shape) != (self.channels,):
            raise ValueError(f"{name}: expected {self.channels} values, got shape {tuple(value.shape)}")
        return check_finite(value, name)

    def extra_repr(self) -> str:
        extra = "".join(f", {k}={v}" for k, v in self._constructor_arguments().items())
        return f"channels={self.channels}, eps={self.eps}{extra}, fitted={self.is_fitted}"

    # -- subclass hooks ---------------------------------------------------------------------------
    def _constructor_arguments(self) -> dict:
        """Constructor arguments beyond ``channels`` and ``eps``."""
        return {}

    def _fit_statistics(self, chunks: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Statistics ``[C]`` from float64 chunks ``[C, n_k]``."""
        raise NotImplementedError(f"{type(self).__name__} must implement _fit_statistics")

    def _encode(self, values: torch.Tensor, **statistics) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement _encode")

    def _decode(self, values: torch.Tensor, **statistics) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement _decode")


class GaussianNormalizer(Normalizer):
    r"""Zero mean, unit standard deviation per channel: :math:`(x - \mu_c) / \max(\sigma_c, \varepsilon)`.

    :math:`\mu_c` and :math:`\sigma_c` are the mean and the population standard
    deviation (``ddof=0``) of channel :math:`c` over all samples and points.
    A constant channel (:math:`\sigma_c = 0`) is divided by ``eps`` and encodes to 0.

    Examples
    --------
    >>> data = torch.stack([torch.zeros(100), torch.arange(100.0)], dim=1)[:, :, None]  # [100, 2, 1]
    >>> normalizer = GaussianNormalizer(2).fit(data)
    >>> normalizer.mean.tolist(), round(float(normalizer.std[1]), 3)
    ([0.0, 49.5], 28.866)
    """

    statistic_names = ("mean", "std")

    def _fit_statistics(self, chunks):
        # sums of (x - shift) with the first chunk's mean as shift: no catastrophic cancellation
        shift = chunks[0].mean(dim=1)
        count = sum(chunk.shape[1] for chunk in chunks)
        first = sum((chunk - shift[:, None]).sum(dim=1) for chunk in chunks) / count
        second = sum(((chunk - shift[:, None]) ** 2).sum(dim=1) for chunk in chunks) / count
        return {"mean": shift + first, "std": (second - first**2).clamp_min(0.0).sqrt()}

    def _encode(self, values, mean, std):
        return (values - mean) / std.clamp_min(self.eps)

    def _decode(self, values, mean, std):
        return values * std.clamp_min(self.eps) + mean


class MinMaxNormalizer(Normalizer):
    r"""Map each channel's range :math:`[m_c, M_c]` affinely onto ``[low, high]``.

    .. math::
        \mathrm{encode}(x) = \mathrm{low} + (x - m_c)\,
        \frac{\mathrm{high} - \mathrm{low}}{\max(M_c - m_c, \varepsilon)} .

    A constant channel (:math:`M_c = m_c`) maps to ``low`` without dividing by zero.

    Parameters
    ----------
    channels : int
    low, high : float
        Target interval, ``low < high``.
    eps : float
        Floor of the range :math:`M_c - m_c`.

    Examples
    --------
    >>> data = torch.tensor([[[2.0, 4.0, 6.0]]])              # [1, 1, 3]
    >>> MinMaxNormalizer(1, low=-1, high=1).fit(data).encode(data)
    tensor([[[-1.,  0.,  1.]]])
    """

    statistic_names = ("minimum", "maximum")

    def __init__(self, channels: int, low: float = 0.0, high: float = 1.0, eps: float = 1e-6):
        super().__init__(channels, eps)
        low = check_finite_float(low, "low")
        high = check_finite_float(high, "high")
        if not low < high:
            raise ValueError(f"high: expected a value above low={low}, got {high}")
        self.low, self.high = low, high

    def _constructor_arguments(self):
        return {"low": self.low, "high": self.high}

    def _fit_statistics(self, chunks):
        minimum = torch.stack([chunk.amin(dim=1) for chunk in chunks]).amin(dim=0)
        maximum = torch.stack([chunk.amax(dim=1) for chunk in chunks]).amax(dim=0)
        return {"minimum": minimum, "maximum": maximum}

    def _scale(self, minimum, maximum):
        return (self.high - self.low) / (maximum - minimum).clamp_min(self.eps)

    def _encode(self, values, minimum, maximum):
        return self.low + (values - minimum) * self._scale(minimum, maximum)

    def _decode(self, values, minimum, maximum):
        return (values - self.low) / self._scale(minimum, maximum) + minimum


def _normalizer_kinds() -> dict[str, type[Normalizer]]:
    kinds, pending = {}, [Normalizer]
    while pending:
        for sub in pending.pop().__subclasses__():
            kinds[sub.__name__] = sub
            pending.append(sub)
    return kinds


def _check_arguments(kind: type[Normalizer], arguments: dict) -> None:
    """Unknown or missing constructor arguments of ``kind`` as a ``ValueError`` naming them."""
    parameters = dict(inspect.signature(kind.__init__).parameters)
    parameters.pop("self", None)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    unknown = sorted(set(arguments) - set(parameters))
    if unknown:
        raise ValueError(f"data: unknown entries {unknown} for {kind.__name__}; expected some of "
                         f"{sorted(parameters)} besides 'kind', 'fitted' and 'statistics'")
    missing = [name for name, p in parameters.items() if p.default is inspect.Parameter.empty
               and p.kind is not inspect.Parameter.VAR_POSITIONAL and name not in arguments]
    if missing:
        raise ValueError(f"data: missing entries {missing} for {kind.__name__}")


def _as_list(data) -> list:
    if not isinstance(data, Iterable) or isinstance(data, (str, bytes, dict)):
        raise TypeError(f"data: expected Sampled, torch.Tensor or an iterable of them, got {type(data).__name__}")
    items = list(data)
    if not items:
        raise ValueError("data: expected at least one batch to fit, got an empty iterable")
    return items
