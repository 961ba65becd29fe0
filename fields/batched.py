r"""Many tri-planes fitted at once: :class:`BatchedTriPlanes` and :func:`fit_batched_sdf`.

``K`` tri-planes of one :class:`~sciml.fields.triplane.TriPlaneConfig` are stored as one
parameter ``planes`` ``[K, 3, C, R, R]``; their decoder is either shared (one
:class:`~sciml.fields.mlp.MLP`, optionally frozen, as when fitting planes for
:mod:`sciml.fields.classifier`) or one per field, evaluated for all fields together by batched
matrix products (:func:`torch.baddbmm`). Evaluation takes points ``[K, n, 3]`` (``n`` points per
field) and returns ``[K, n, c]``.

Fitting minimises :math:`\sum_k \frac1n \sum_j \ell(f_k(x_{kj}) - s_{kj})` with Adam. Adam acts
elementwise and the fields share no trainable parameter (per-field or frozen decoder), so the
batched fit takes exactly the steps ``K`` separate fits would take, in one vectorised pass.

Field ``k`` of ``BatchedTriPlanes(config, K)`` starts as ``TriPlane(replace(config, seed=config.seed
+ k))`` (planes, and decoder when per-field); a shared decoder starts as ``TriPlane(config)``'s.

Examples
--------
>>> config = TriPlaneConfig(resolution=8, channels=4, width=16, depth=1)
>>> model = BatchedTriPlanes(config, n_fields=5, shared_decoder=False)
>>> model(torch.rand(5, 100, 3)).shape
torch.Size([5, 100, 1])
>>> model.field(2)(torch.rand(4, 3)).shape
torch.Size([4, 1])
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn
from tqdm.auto import tqdm

from sciml._checks import check_finite
from sciml.config import config_to_dict

from ._optim import descend
from .mlp import MLP, FrequencyEncoding, _check_choice, _check_int, _check_positive, make_activation
from .triplane import TriPlane, TriPlaneConfig, make_planes, make_triplane_decoder, triplane_features

__all__ = ["BatchedTriPlanes", "fit_batched_sdf"]

LOSSES = ("l1", "mse")


class BatchedTriPlanes(nn.Module):
    """``K`` tri-plane fields of one config, evaluated and trained together.

    Parameters
    ----------
    config : TriPlaneConfig
        Shared by all fields (``config.seed`` is the seed of field 0).
    n_fields : int
        ``K``.
    shared_decoder : bool
        One decoder for all fields (``decoder``) or one per field (``weights``/``biases``,
        ``[K, in, out]`` and ``[K, 1, out]`` per layer).
    decoder : MLP, optional
        Use this module as the shared decoder (it is not copied); implies ``shared_decoder``.

    Attributes
    ----------
    planes : nn.Parameter ``[K, 3, C, R, R]``
    """

    def __init__(self, config: TriPlaneConfig, n_fields: int, shared_decoder: bool = True, decoder: MLP | None = None):
        super().__init__()
        if not isinstance(config, TriPlaneConfig):
            raise TypeError(f"config: expected a TriPlaneConfig, got {type(config).__name__}")
        self.config = config
        self.n_fields = _check_int("n_fields", n_fields, 1)
        self.shared_decoder = bool(shared_decoder) or decoder is not None
        self.domain = config.domain()
        self.register_buffer("_lower", torch.tensor(self.domain.lower), persistent=False)
        self.register_buffer("_upper", torch.tensor(self.domain.upper), persistent=False)
        configs = [dataclasses.replace(config, seed=config.seed + k) for k in range(n_fields)]
        self.planes = nn.Parameter(torch.stack([make_planes(c) for c in configs]))
        self.encoding = FrequencyEncoding(3, config.n_frequencies, "positional")
        if decoder is not None:
            if not isinstance(decoder, MLP) or decoder.in_features != config.decoder_in_features \
                    or decoder.out_features != config.out_channels:
                raise ValueError(f"decoder: expected an MLP({config.decoder_in_features} -> {config.out_channels}) "
                                 f"for this config, got {decoder!r}")
            self.decoder = decoder
        elif self.shared_decoder:
            self.decoder = make_triplane_decoder(config)
        else:
            self._stack_decoders([make_triplane_decoder(c) for c in configs])

    def _stack_decoders(self, decoders: list[MLP]) -> None:
        self.act = make_activation(self.config.activation)
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.stack([d.linears[i].weight.detach().T for d in decoders]).contiguous())
             for i in range(len(decoders[0].linears))])
        self.biases = nn.ParameterList(
            [nn.Parameter(torch.stack([d.linears[i].bias.detach()[None] for d in decoders]))
             for i in range(len(decoders[0].linears))])

    @classmethod
    def from_fields(cls, fields: list[TriPlane], shared_decoder: bool = False) -> BatchedTriPlanes:
        """Stack tri-planes of one config (seeds aside); ``shared_decoder`` takes the first one's decoder."""
        if not fields or not all(isinstance(f, TriPlane) for f in fields):
            raise TypeError("fields: expected a non-empty list of TriPlane fields")
        config = fields[0].config
        reference = config_to_dict(config)
        for i, f in enumerate(fields):
            if config_to_dict(dataclasses.replace(f.config, seed=config.seed)) != reference:
                raise ValueError(f"fields: field {i} has config {f.config}, expected {config} (seed aside)")
        dtype = fields[0].planes.dtype
        model = cls(config, len(fields), shared_decoder=shared_decoder).to(dtype)
        with torch.no_grad():
            model.planes.copy_(torch.stack([f.planes for f in fields]))
            if shared_decoder:
                model.decoder.load_state_dict(fields[0].decoder.state_dict())
            else:
                model._stack_decoders([f.decoder for f in fields])
        return model.to(dtype)

    def field(self, k: int) -> TriPlane:
        """A standalone copy of field ``k`` as a :class:`TriPlane`."""
        _check_int("k", k, 0)
        if k >= self.n_fields:
            raise ValueError(f"k: expected a field index < {self.n_fields}, got {k}")
        out = TriPlane(dataclasses.replace(self.config, seed=self.config.seed + k)).to(self.planes.dtype)
        with torch.no_grad():
            out.planes.copy_(self.planes[k])
            if self.shared_decoder:
                out.decoder.load_state_dict(self.decoder.state_dict())
            else:
                for i, linear in enumerate(out.decoder.linears):
                    linear.weight.copy_(self.weights[i][k].T)
                    linear.bias.copy_(self.biases[i][k, 0])
        return out

    def decode(self, features: torch.Tensor) -> torch.Tensor:
        """Decoder outputs ``[K, n, c]`` for features ``[K, n, in]``."""
        if self.shared_decoder:
            return self.decoder(features)
        h = features
        for i in range(len(self.weights)):
            h = torch.baddbmm(self.biases[i], h, self.weights[i])
            if i < len(self.weights) - 1:
                h = self.act(h)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim != 3 or x.shape[0] != self.n_fields or x.shape[2] != 3:
            raise ValueError(f"x: expected points [{self.n_fields}, n, 3] (one set per field), "
                             f"got {tuple(getattr(x, 'shape', ()))}")
        check_finite(x, "x")
        lower, upper = self._lower.to(x.dtype), self._upper.to(x.dtype)
        u = (x - lower) / (upper - lower)
        feats = torch.cat([triplane_features(self.planes, u, self.config.aggregate), self.encoding(2 * u - 1)], -1)
        return self.decode(feats)


def _check_samples(model, points, values):
    if not isinstance(points, torch.Tensor) or points.ndim != 3 or points.shape[0] != model.n_fields \
            or points.shape[2] != 3:
        raise ValueError(f"points: expected [{model.n_fields}, n, 3], got {tuple(getattr(points, 'shape', ()))}")
    if not isinstance(values, torch.Tensor) or tuple(values.shape) != tuple(points.shape[:2]):
        raise ValueError(f"sdf: expected [{model.n_fields}, {points.shape[1]}] values, "
                         f"got {tuple(getattr(values, 'shape', ()))}")
    check_finite(points, "points")
    check_finite(values, "sdf")


def fit_batched_sdf(model: BatchedTriPlanes, points: torch.Tensor, sdf: torch.Tensor, steps: int = 500,
                    lr: float = 1e-2, decoder_lr: float = 1e-3, batch_points: int | None = None,
                    loss: str = "l1", clamp: float | None = None, train_decoder: bool = True, seed: int = 0,
                    progress: bool = True) -> dict:
    r"""Fit all fields of ``model`` to signed-distance samples at once.

    Minimises :math:`\sum_k \operatorname{mean}_j \ell(r_{kj})` with Adam (planes at ``lr``,
    decoder at ``decoder_lr``), where :math:`\ell` is ``|.|`` or ``(.)^2`` and the residual is
    :math:`r = f_k(x_{kj}) - s_{kj}`. With ``clamp`` (:math:`\delta`) only the band
    :math:`|s| < \delta` is fitted exactly, as in DeepSDF; beyond it the residual is
    :math:`\max(0, \delta - \operatorname{sign}(s) f)`, zero once the prediction is past the band
    edge on the right side. Unlike DeepSDF's ``clamp(f) - clamp(s)``, this keeps a gradient when a
    prediction inside the band has saturated beyond it, so no field stalls.

    Parameters
    ----------
    model : BatchedTriPlanes
    points : Tensor ``[K, n, 3]``
        Sample points of each field, inside ``model.domain``.
    sdf : Tensor ``[K, n]``
        Target values.
    steps : int
    lr, decoder_lr : float
    batch_points : int, optional
        Points per field and step, drawn at random (default: all ``n``, full batch).
    loss : {"l1", "mse"}
    clamp : float, optional
    train_decoder : bool
        If false the decoder is held fixed (``requires_grad_(False)``) and only planes move.
    seed : int
        Seed of the point subsampling.
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    dict
        ``"loss"``: list of the summed (batch) loss per step; ``"field_loss"``: Tensor ``[K]``, the
        loss of each field on all its samples after the last step.

    Raises
    ------
    FloatingPointError
        If the loss becomes NaN or infinite (lower the learning rates).
    """
    if not isinstance(model, BatchedTriPlanes):
        raise TypeError(f"model: expected a BatchedTriPlanes, got {type(model).__name__}")
    _check_samples(model, points, sdf)
    _check_int("steps", steps, 1)
    _check_positive("lr", lr)
    _check_positive("decoder_lr", decoder_lr)
    _check_choice("loss", loss, LOSSES)
    if batch_points is not None:
        _check_int("batch_points", batch_points, 1)
    if clamp is not None:
        _check_positive("clamp", clamp)
    dtype, device = model.planes.dtype, model.planes.device
    points, sdf = points.to(dtype=dtype, device=device), sdf.to(dtype=dtype, device=device)
    decoder_params = [p for name, p in model.named_parameters() if name != "planes"]
    for p in decoder_params:
        p.requires_grad_(train_decoder)
    groups = [{"params": [model.planes], "lr": lr}]
    if train_decoder and decoder_params:
        groups.append({"params": decoder_params, "lr": decoder_lr})
    optimizer = torch.optim.Adam(groups)
    gen = torch.Generator(device=device).manual_seed(seed)
    n = points.shape[1]
    history = []
    for step in tqdm(range(steps), disable=not progress, desc="fit tri-planes", leave=False):
        if batch_points is None or batch_points >= n:
            x, target = points, sdf
        else:
            idx = torch.randint(0, n, (model.n_fields, batch_points), generator=gen, device=device)
            x, target = points.gather(1, idx[..., None].expand(-1, -1, 3)), sdf.gather(1, idx)
        total = _field_losses(model(x)[..., 0], target, loss, clamp).sum()
        history.append(descend(optimizer, total, f"fit_batched_sdf, step {step}",
                               f"lower lr={lr} / decoder_lr={decoder_lr} or check the samples"))
    with torch.no_grad():
        final = _field_losses(model(points)[..., 0], sdf, loss, clamp)
    return {"loss": history, "field_loss": final}


def _field_losses(pred, target, loss, clamp):
    """Per-field mean of ``l(pred - target)``; with ``clamp``, the truncated residual of :func:`fit_batched_sdf`."""
    diff = pred - target
    if clamp is not None:
        beyond = torch.relu(clamp - torch.sign(target) * pred)   # wrong side of the band edge
        diff = torch.where(target.abs() < clamp, diff, beyond)
    return (diff.abs() if loss == "l1" else diff ** 2).mean(1)
