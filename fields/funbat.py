r"""FunBaT: functional Bayesian Tucker decomposition of continuous-indexed tensor data.

Fang, Yu, Wang, Li, Kirby & Zhe, *Functional Bayesian Tucker Decomposition for
Continuous-indexed Tensor Data*, ICLR 2024. An entry with continuous indices
:math:`\mathbf i = (i_1, \dots, i_K)` is modelled as a Tucker core
:math:`\mathcal W \in \mathbb R^{r_1\times\dots\times r_K}` contracted with one
vector of latent functions per mode,

.. math::

    y_{\mathbf i} = \operatorname{vec}(\mathcal W)^T
    \big(\mathbf u^1(i_1) \otimes \dots \otimes \mathbf u^K(i_K)\big) + \varepsilon,
    \qquad \varepsilon \sim N(0, \tau^{-1}),

with priors :math:`\operatorname{vec}(\mathcal W) \sim N(0, s_W^2 I)`,
:math:`\tau \sim \operatorname{Gamma}(a_0, b_0)` and every component
:math:`u^k_j \sim GP(0, \kappa_\nu)` with a Matérn-:math:`\nu` covariance,
written as a linear SDE (:mod:`sciml.fields.state_space`) so that each mode's
posterior is computed by a Kalman filter and RTS smoother over its sorted
distinct index values in :math:`O(T_k r_k^3)`.

Inference (conditional expectation propagation, CEP). The posterior is
approximated by :math:`q(\mathcal W)\,q(\tau)\prod_k q(\mathbf U^k)`. Every
likelihood factor is Gaussian-conjugate in one group of variables when the
others are fixed, so its message to :math:`\mathbf u^k(i^n_k)` is the Gaussian
pseudo-observation of :math:`\mathbf a_n^T\mathbf u^k` with
:math:`\mathbf a_n = \mathcal W_{(k)} \bigotimes_{j\neq k}\mathbf u^j(i^n_j)`:

.. math::

    \Lambda_n = \mathbb E[\tau]\,\mathbb E[\mathbf a_n\mathbf a_n^T], \qquad
    \eta_n = \mathbb E[\tau]\, y_n\,\mathbb E[\mathbf a_n].

``moments="mean_field"`` (default) takes the expectations over the current
posteriors of the other factors exactly (second moments included, which makes
each step a mean-field coordinate update); ``moments="delta"`` uses the
first-order (delta-method) approximation of the paper's CEP,
:math:`\mathbb E[\mathbf a\mathbf a^T] \approx \bar{\mathbf a}\bar{\mathbf a}^T`.
Messages at one index value add up and enter the Kalman filter as one update.
The core gets
:math:`q(\operatorname{vec}\mathcal W) = N(S\,\mathbb E[\tau]\sum_n y_n\mathbb E[\mathbf b_n], S)`,
:math:`S^{-1} = s_W^{-2} I + \mathbb E[\tau]\sum_n\mathbb E[\mathbf b_n\mathbf b_n^T]`,
:math:`\mathbf b_n = \bigotimes_k\mathbf u^k(i^n_k)`, and the noise precision
the Gamma posterior :math:`a = a_0 + N/2`,
:math:`b = b_0 + \tfrac12\sum_n\mathbb E[(y_n - f_n)^2]`. The three updates
repeat until the fitted values stop changing. The first sweeps (``warmup``)
use the delta moments whatever ``moments`` says: from a random start the full
second moments tend to switch components off before they fit anything. After
them, each mode's lengthscale may be fitted by type-II maximum likelihood of
its messages (:func:`~sciml.fields.state_space.log_marginal`, a multiplicative
coordinate search), which is the exact optimum of the mean-field objective
over the lengthscale. The sweeps are implemented in
:mod:`sciml.fields.funbat_inference`.

Prediction at unseen continuous indices uses the exact SDE conditional between
the neighbouring stored states (:meth:`GaussMarkovPosterior.values_at`); the
predictive mean is :math:`\mathbb E[\mathcal W]` contracted with the factor
means and the variance is :math:`\mathbb E[f^2] - \mathbb E[f]^2` under the
factorised posterior (plus :math:`\mathbb E[\tau^{-1}]` for a new noisy entry).

Coordinates are mapped to :math:`[0, 1]` per mode by the field's bounds before
the GP priors apply, so ``lengthscale`` is a fraction of each mode's index
range; values are divided by their root mean square before fitting (not
centred: subtracting a mean would raise the Tucker rank), so ``variance`` and
``core_variance`` are in those units.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence

import torch

from sciml._checks import as_float_tensor, check_finite, check_positive_int
from sciml.domain import Domain
from sciml.registry import register_model
from sciml.sampled import Sampled

from .base import Field, FieldConfig
from .funbat_inference import (
    _DTYPE,
    _contract_mean,
    _contract_second,
    _Inference,
    _sweep,
)
from .state_space import GaussMarkovPosterior, MaternStateSpace

__all__ = ["FunBaT", "FunBaTConfig", "fit_funbat"]

_POSTERIOR = ("times", "filtered_mean", "filtered_cov", "smoothed_mean", "smoothed_cov")


@dataclasses.dataclass
class FunBaTConfig(FieldConfig):
    r"""Configuration of a :class:`FunBaT` field (the prior; the posterior comes from fitting).

    Attributes
    ----------
    bounds : tuple of (lower, upper)
        Index range per mode (the number of modes :math:`K` is ``len(bounds)``).
    rank : int or tuple of int
        Tucker ranks :math:`(r_1, \dots, r_K)`; an int is used for every mode.
    nu : float
        Matérn smoothness of the latent functions, ``0.5`` or ``1.5``.
    lengthscale : float or tuple of float
        GP lengthscale per mode, as a fraction of the mode's index range.
    variance : float
        GP variance of each latent function (values scaled to unit root mean square).
    core_variance : float
        Prior variance :math:`s_W^2` of each core entry.
    noise_shape, noise_rate : float
        Gamma prior :math:`(a_0, b_0)` of the noise precision (scaled units).
    moments : str
        ``"mean_field"`` or ``"delta"`` (see the module notes).
    """

    bounds: tuple = ((0.0, 1.0), (0.0, 1.0))
    rank: int | tuple = 2
    nu: float = 1.5
    lengthscale: float | tuple = 0.1
    variance: float = 1.0
    core_variance: float = 1.0
    noise_shape: float = 1e-3
    noise_rate: float = 1e-3
    moments: str = "mean_field"


def _positive(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a positive finite number, got {value!r}")
    return float(value)


def _per_mode(value, count: int, name: str, check) -> tuple:
    values = tuple(value) if isinstance(value, Sequence) and not isinstance(value, str) else (value,) * count
    if len(values) != count:
        raise ValueError(f"{name}: expected one value per mode ({count}), got {len(values)}")
    return tuple(check(v, name) for v in values)


@register_model("funbat")
class FunBaT(Field):
    r"""Functional Bayesian Tucker decomposition: a posterior over functions of ``K`` continuous indices.

    Build it with :meth:`fit` or :func:`fit_funbat`; ``FunBaT(config)`` alone
    holds the prior and raises until fitted. Calling the field returns the
    posterior mean ``[..., 1]`` at coordinates ``[..., K]``; :meth:`predict`
    also returns the variance.

    Parameters
    ----------
    config : FunBaTConfig

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.rand(300, 2, generator=g, dtype=torch.float64)
    >>> y = torch.sin(3 * x[:, 0]) * torch.cos(2 * x[:, 1]) + 0.05 * torch.randn(300, generator=g, dtype=torch.float64)
    >>> field = FunBaT.fit(x, y, rank=1, lengthscale=0.3, iters=20, bounds=((0, 1), (0, 1)), progress=False)
    >>> mean, var = field.predict(torch.tensor([[0.5, 0.5]], dtype=torch.float64))
    >>> abs(float(mean) - math.sin(1.5) * math.cos(1.0)) < 0.05, float(var) < 0.01
    (True, True)
    """

    config_class = FunBaTConfig

    def __init__(self, config: FunBaTConfig):
        if not isinstance(config, FunBaTConfig):
            raise TypeError(f"config: expected a FunBaTConfig, got {type(config).__name__}")
        if config.out_channels != 1:
            raise ValueError(f"out_channels: FunBaT models a scalar tensor, expected 1, got {config.out_channels!r}")
        if any(config.periodic):
            raise ValueError(
                f"periodic: FunBaT's Matérn priors live on intervals, expected no periodic mode, "
                f"got {config.periodic!r}")
        super().__init__(config.domain(), out_channels=1)
        self.config = config
        modes = self.in_dim
        self.ranks = _per_mode(config.rank, modes, "rank", lambda v, n: check_positive_int(v, n))
        lengthscales = _per_mode(config.lengthscale, modes, "lengthscale", _positive)
        _positive(config.variance, "variance")
        for name in ("core_variance", "noise_shape", "noise_rate"):
            _positive(getattr(config, name), name)
        if config.moments not in ("mean_field", "delta"):
            raise ValueError(f"moments: expected 'mean_field' or 'delta', got {config.moments!r}")
        self.priors = [MaternStateSpace(config.nu, ell, float(config.variance), copies=r)
                       for ell, r in zip(lengthscales, self.ranks)]
        size = math.prod(self.ranks)
        for k, prior in enumerate(self.priors):
            s = prior.state_dim
            for name, shape in zip(_POSTERIOR, [(0,), (0, s), (0, s, s), (0, s), (0, s, s)]):
                self.register_buffer(f"{name}_{k}", torch.zeros(shape, dtype=_DTYPE))
        self.register_buffer("core_mean", torch.zeros(size, dtype=_DTYPE))
        self.register_buffer("core_cov", torch.zeros(size, size, dtype=_DTYPE))
        # Gamma posterior (a, b) of the noise precision, and the value scale y = scale * y_scaled.
        self.register_buffer("noise_posterior", torch.ones(2, dtype=_DTYPE))
        self.register_buffer("value_scale", torch.ones((), dtype=_DTYPE))
        self.metrics: dict = {}

    # ------------------------------------------------------------------ state
    @property
    def fitted(self) -> bool:
        """Whether a posterior is stored (after :meth:`fit` or loading a fitted state dict)."""
        return self.times_0.numel() > 0

    def posterior(self, mode: int) -> GaussMarkovPosterior:
        """The state-space posterior of mode ``mode``'s latent functions (unit-scaled index)."""
        self._require_fitted()
        parts = [getattr(self, f"{name}_{mode}") for name in _POSTERIOR]
        return GaussMarkovPosterior(self.priors[mode], *parts)

    def _set_posterior(self, mode: int, post: GaussMarkovPosterior) -> None:
        for name in _POSTERIOR:
            setattr(self, f"{name}_{mode}", getattr(post, name).detach().clone())

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # The posterior's sizes depend on the data: take the stored shapes before copying.
        for k in range(len(self.priors)):
            for name in _POSTERIOR:
                key = f"{prefix}{name}_{k}"
                if key in state_dict:
                    setattr(self, f"{name}_{k}", torch.empty_like(state_dict[key], dtype=_DTYPE))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _param_dtype(self) -> torch.dtype:
        return _DTYPE

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise RuntimeError("FunBaT: no posterior yet; build the field with FunBaT.fit(...) or fit_funbat(...)")

    @property
    def noise_variance(self) -> float:
        r"""Posterior mean :math:`\mathbb E[\tau^{-1}] = b/(a-1)` of the noise variance, in data units."""
        self._require_fitted()
        shape, rate = self.noise_posterior.tolist()
        return rate / max(shape - 1.0, 1e-12) * float(self.value_scale) ** 2

    # ------------------------------------------------------------------ prediction
    def factor_posterior(self, mode: int, index) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior of mode ``mode``'s latent functions at ``index`` ``[m]`` (in the mode's own coordinates).

        Returns the mean ``[m, r_k]`` and covariance ``[m, r_k, r_k]``.
        """
        if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode < self.in_dim:
            raise ValueError(f"mode: expected an int in [0, {self.in_dim}), got {mode!r}")
        index = check_finite(as_float_tensor(index, "index", _DTYPE).reshape(-1), "index")
        lower, upper = self.domain.bounds[mode]
        return self.posterior(mode).values_at((index - lower) / (upper - lower))

    def _factor_moments(self, unit: torch.Tensor):
        means, covs = [], []
        for k in range(self.in_dim):
            column = unit[:, k]
            if column.requires_grad:
                mean, cov = self.posterior(k).values_at(column)
            else:  # grids repeat each index value many times: interpolate the distinct ones
                distinct, inverse = torch.unique(column, return_inverse=True)
                mean, cov = self.posterior(k).values_at(distinct)
                mean, cov = mean[inverse], cov[inverse]
            means.append(mean)
            covs.append(cov)
        return means, covs

    def _moments(self, x: torch.Tensor, variance: bool):
        self._require_fitted()
        unit = self.to_unit(x.to(_DTYPE))
        means, covs = self._factor_moments(unit)
        core = self.core_mean.reshape(self.ranks)
        mean = _contract_mean(core, means)
        var = None
        if variance:
            second = [c + m[:, :, None] * m[:, None, :] for m, c in zip(means, covs)]
            var = (_contract_second(self._core_second_moment(), second) - mean ** 2).clamp(min=0.0)
            var = var * self.value_scale ** 2
        return self.value_scale * mean, var

    def _core_second_moment(self) -> torch.Tensor:
        m = self.core_mean
        return (self.core_cov + m[:, None] * m[None, :]).reshape(self.ranks + self.ranks)

    def evaluate(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior mean ``[n, 1]`` at coordinates ``x`` ``[n, K]``."""
        mean, _ = self._moments(x, variance=False)
        return mean[:, None].to(x.dtype)

    def predict(self, x: torch.Tensor, return_var: bool = True, include_noise: bool = False):
        r"""Posterior mean and variance at coordinates ``x`` ``[..., K]``.

        Parameters
        ----------
        x : Tensor ``[..., K]``
            Continuous indices inside the bounds.
        return_var : bool
            Also return the variance.
        include_noise : bool
            Add the noise variance :math:`\mathbb E[\tau^{-1}]`: the predictive
            variance of a new noisy entry rather than of the latent function.

        Returns
        -------
        mean : Tensor ``[..., 1]``
        var : Tensor ``[..., 1]``, only with ``return_var=True``
        """
        x = self.check_coordinates(x)
        lead = x.shape[:-1]
        mean, var = self._moments(x.reshape(-1, self.in_dim), variance=return_var)
        mean = mean.reshape(*lead, 1).to(x.dtype)
        if not return_var:
            return mean
        if include_noise:
            var = var + self.noise_variance
        return mean, var.reshape(*lead, 1).to(x.dtype)

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, coords, values, *, rank, bounds=None, progress: bool = True, **options) -> FunBaT:
        """Fit to observations ``values`` ``[n]`` at ``coords`` ``[n, K]``; returns the fitted field.

        ``bounds`` (one ``(lower, upper)`` per mode) defaults to the bounding
        box of ``coords``. The other options are those of :func:`fit_funbat`;
        its metrics are kept in ``field.metrics``.
        """
        field, _ = fit_funbat((coords, values), rank=rank, bounds=bounds, progress=progress, **options)
        return field


# ---------------------------------------------------------------------- data
def _observations(data, bounds):
    """``(coords [n, K], values [n], domain)`` from a Sampled (NaN = missing) or a ``(coords, values)`` pair."""
    if isinstance(data, Sampled):
        if bounds is not None:
            raise ValueError("bounds: a Sampled brings its own domain; pass bounds only with (coords, values)")
        if data.batch_size != 1 or data.channels != 1:
            raise ValueError(
                f"data: expected one scalar tensor (batch 1, channel 1), got values {tuple(data.values.shape)}")
        coords = data.on.points(dtype=_DTYPE)
        values = data.values.detach().to(_DTYPE).reshape(-1)
        if bool(torch.isinf(values).any()):
            raise ValueError(f"data: expected finite values or NaN for missing entries, found "
                             f"{int(torch.isinf(values).sum())} infinite")
        keep = ~torch.isnan(values)
        coords, values, domain = coords[keep], values[keep], data.on.domain
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        coords = check_finite(as_float_tensor(data[0], "coords", _DTYPE), "coords")
        values = check_finite(as_float_tensor(data[1], "values", _DTYPE), "values")
        if coords.ndim != 2:
            raise ValueError(f"coords: expected shape [n, K], got {tuple(coords.shape)}")
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.shape != coords.shape[:1]:
            raise ValueError(
                f"values: expected shape [{coords.shape[0]}] (one per coordinate row), got {tuple(values.shape)}")
        domain = Domain.bounding(coords) if bounds is None else Domain(bounds)
        if domain.ndim != coords.shape[1]:
            raise ValueError(f"bounds: expected {coords.shape[1]} (lower, upper) pairs, got {domain.ndim}")
    else:
        raise TypeError(f"data: expected a sciml.Sampled or a (coords, values) pair, got {type(data).__name__}")
    if values.numel() < 2:
        raise ValueError(f"data: expected at least 2 observed entries, got {values.numel()}")
    return coords.detach(), values.detach(), domain


def fit_funbat(data, *, rank, nu: float = 1.5, lengthscale=0.1, variance: float = 1.0, iters: int = 50,
               progress: bool = True, **options):
    r"""Fit a :class:`FunBaT` posterior to continuous-indexed tensor entries.

    Parameters
    ----------
    data : Sampled or (coords, values)
        Either a :class:`~sciml.Sampled` with values ``[1, 1, *shape]`` on any
        discretization (a :class:`~sciml.Grid` gives the entries of a gridded
        tensor; **NaN values mark missing entries**, which are left out: build
        it with ``Sampled(values, grid, validate=False)``), or a
        pair ``coords`` ``[n, K]``, ``values`` ``[n]`` of observations at
        continuous indices (no NaN; repeated indices are fine).
    rank : int or tuple of int
        Tucker ranks per mode (each >= 1).
    nu : float
        Matérn smoothness, ``0.5`` or ``1.5``.
    lengthscale : float or tuple of float
        GP lengthscale per mode, as a fraction of each mode's index range:
        the starting value when ``fit_lengthscale`` is true (default), the
        value used otherwise. The fitted values are in ``metrics`` and the
        field's config.
    variance : float
        GP variance of the latent functions (values are scaled to unit root mean square first).
    iters : int
        Maximum number of CEP sweeps (modes, core, noise).
    progress : bool
        Show a tqdm bar over the sweeps.
    **options
        ``tol`` (1e-4: stop when the relative change of the fitted values
        falls below it), ``seed`` (0: random initial factor means),
        ``fit_lengthscale`` (True: after the warm-up every mode update also
        tries the lengthscale times and divided by 1.25 and keeps
        the one with the larger marginal likelihood of its messages, the
        :func:`~sciml.fields.state_space.log_marginal` -- type-II maximum
        likelihood by coordinate search, three Kalman filter runs per mode),
        ``warmup`` (3: sweeps run with the delta moments before switching to
        ``moments``; starting from random factors, the full second moments
        otherwise tend to switch components off before they fit anything),
        ``bounds`` (only with ``(coords, values)``; default the bounding box),
        ``core_variance``, ``noise_shape``, ``noise_rate``, ``moments``
        (see :class:`FunBaTConfig`).

    Returns
    -------
    field : FunBaT
        The fitted field (its ``metrics`` attribute holds the metrics too).
    metrics : dict
        ``train_rmse`` (data units), ``noise_std`` (:math:`\sqrt{\mathbb E[\tau^{-1}]}`),
        ``noise_precision`` (:math:`\mathbb E[\tau]`), ``params`` (posterior
        mean values stored: latent function values per distinct index and
        core entries), ``iterations``, ``converged``, ``seconds`` and the
        hyperparameters ``rank``, ``nu``, ``lengthscale``, ``variance``.

    Raises
    ------
    ValueError, TypeError
        Bad data (NaN or infinite coordinates, wrong shapes), ranks below 1,
        bad hyperparameters or unknown options, naming the argument.
    FloatingPointError
        If the updates produce non-finite values.

    Examples
    --------
    >>> import sciml
    >>> grid = sciml.Grid.uniform((20, 15), sciml.Domain.unit(2))
    >>> x = grid.mesh(dtype=torch.float64)
    >>> values = (torch.exp(-x[..., 0]) * torch.cos(2 * x[..., 1]))[None, None].clone()
    >>> values[0, 0, ::3, ::2] = float("nan")  # missing entries
    >>> data = sciml.Sampled(values, grid, validate=False)  # validate=False lets NaN through
    >>> field, metrics = fit_funbat(data, rank=1, lengthscale=0.5, iters=20, progress=False)
    >>> metrics["train_rmse"] < 0.01, field.sample(grid).values.shape
    (True, torch.Size([1, 1, 20, 15]))
    """
    start = time.perf_counter()
    fit_options, config_options = _split_options(options)
    iters = check_positive_int(iters, "iters")
    coords, values, domain = _observations(data, fit_options.pop("bounds"))
    if isinstance(rank, Sequence) and not isinstance(rank, str):
        rank = tuple(rank)
    config = FunBaTConfig(bounds=tuple(domain.bounds), periodic=(), rank=rank, nu=nu, lengthscale=lengthscale,
                          variance=variance, **config_options)
    field = FunBaT(config)
    field.check_coordinates(coords)
    # Root mean square (no centring: a shift would raise the Tucker rank), computed without overflow.
    peak = values.abs().max()
    scale = peak * (values / peak).square().mean().sqrt() if float(peak) > 0 else values.new_tensor(1.0)
    run = _Inference(field, field.to_unit(coords).clamp(0.0, 1.0), values / scale, fit_options.pop("seed"))
    fitted, sweeps, converged = _sweep(run, iters, progress, **fit_options)
    for k, post in enumerate(run.posteriors):
        field._set_posterior(k, post)
    field.config.lengthscale = tuple(p.lengthscale for p in field.priors)
    field.core_mean, field.core_cov = run.core_mean.clone(), run.core_cov.clone()
    field.noise_posterior = torch.tensor([run.shape, run.rate], dtype=_DTYPE)
    field.value_scale = scale.clone()
    field.metrics = {
        "train_rmse": float(((fitted - run.y) ** 2).mean().sqrt() * scale),
        "noise_std": math.sqrt(field.noise_variance),
        "noise_precision": run.tau / float(scale) ** 2,
        "params": sum(t.numel() * r for t, r in zip(run.times, field.ranks)) + run.core_mean.numel(),
        "iterations": sweeps,
        "converged": converged,
        "seconds": time.perf_counter() - start,
        "rank": list(field.ranks),
        "nu": nu,
        "lengthscale": list(field.config.lengthscale),
        "variance": variance,
    }
    return field, dict(field.metrics)


def _split_options(options: dict) -> tuple[dict, dict]:
    """Split ``fit_funbat``'s options into loop options and :class:`FunBaTConfig` fields (unknown -> TypeError)."""
    options = dict(options)
    loop = {"tol": options.pop("tol", 1e-4), "seed": options.pop("seed", 0), "bounds": options.pop("bounds", None),
            "warmup": check_positive_int(options.pop("warmup", 3), "warmup", minimum=0),
            "learn": options.pop("fit_lengthscale", True)}
    if not isinstance(loop["learn"], bool):
        raise TypeError(f"fit_lengthscale: expected a bool, got {type(loop['learn']).__name__}")
    known = {"core_variance", "noise_shape", "noise_rate", "moments"}
    unknown = sorted(set(options) - known)
    if unknown:
        allowed = sorted(known | {"tol", "seed", "bounds", "warmup", "fit_lengthscale"})
        raise TypeError(f"options: unexpected {unknown}; expected some of {allowed}")
    return loop, options
