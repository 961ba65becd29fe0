r"""CEP inference of :mod:`sciml.fields.funbat` (private): the sweeps that fit a FunBaT posterior.

One run holds the factor posteriors at the observed distinct index values of
every mode, the Gaussian posterior of the Tucker core and the Gamma posterior
of the noise precision, and updates them in turn (:class:`_Inference`):

* mode :math:`k`: the likelihood messages to :math:`\mathbf u^k` are the
  pseudo-observations :math:`\Lambda_n = \mathbb E[\tau]\,\mathbb E[\mathbf a_n\mathbf a_n^T]`,
  :math:`\eta_n = \mathbb E[\tau]\,y_n\,\mathbb E[\mathbf a_n]`, summed per
  distinct index value and passed through a Kalman filter and RTS smoother
  (:func:`~sciml.fields.state_space.kalman_smoother`); optionally one step of a
  multiplicative search on the lengthscale by type-II maximum likelihood
  (:func:`~sciml.fields.state_space.log_marginal`) first;
* core: the conjugate Gaussian update;
* noise: the Gamma update :math:`b = b_0 + \tfrac12\sum_n\mathbb E[(y_n - f_n)^2]`.

:func:`_sweep` repeats them (delta moments during the warm-up) until the fitted
values and lengthscales settle. The einsum contractions of the Tucker core with
per-point factor moments (shared with the field's prediction) live here too.
The maths is in :mod:`sciml.fields.funbat`'s notes.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import torch
from tqdm.auto import tqdm

from .state_space import kalman_smoother, log_marginal

if TYPE_CHECKING:
    from .funbat import FunBaT

_DTYPE = torch.float64
_CHUNK = 8192
_P = 50  # einsum label of the point axis (mode labels are 0 .. 2K-1)
_LENGTHSCALE_STEP = 1.25
_LENGTHSCALE_RANGE = (1e-3, 10.0)


# ---------------------------------------------------------------------- contractions
def _einsum_points(fixed: list, points: list, out: list) -> torch.Tensor:
    """``torch.einsum`` in sublist form, the ``points`` operands chunked along their first (point) axis.

    ``fixed`` and ``points`` are lists of ``(tensor, sublist)``; the point axis
    has the label ``_P``. Chunks are concatenated if ``P`` is in ``out``,
    summed otherwise (bounded memory for many points).
    """
    count = points[0][0].shape[0]
    parts = []
    for start in range(0, count, _CHUNK):
        operands = [x for pair in fixed for x in pair]
        for tensor, sub in points:
            operands += [tensor[start:start + _CHUNK], sub]
        parts.append(torch.einsum(*operands, out))
    return torch.cat(parts) if _P in out else torch.stack(parts).sum(0)


def _contract_mean(core: torch.Tensor, vectors: list, skip: int | None = None) -> torch.Tensor:
    """``core`` ``[r_1..r_K]`` times ``vectors[j]`` ``[n, r_j]`` on all modes but ``skip`` (``[n]``, ``[n, r]``)."""
    points = [(v, [_P, j]) for j, v in enumerate(vectors) if j != skip]
    return _einsum_points([(core, list(range(core.ndim)))], points, [_P] if skip is None else [_P, skip])


def _contract_second(core2: torch.Tensor, matrices: list, skip: int | None = None) -> torch.Tensor:
    """``core2`` ``[r.., r..]`` times ``matrices[j]`` ``[n, r_j, r_j]`` on every mode but ``skip``."""
    modes = core2.ndim // 2
    points = [(m, [_P, j, modes + j]) for j, m in enumerate(matrices) if j != skip]
    out = [_P] if skip is None else [_P, skip, modes + skip]
    return _einsum_points([(core2, list(range(2 * modes)))], points, out)


def _sum_kron(matrices: list) -> torch.Tensor:
    r""":math:`\sum_n \bigotimes_k M_k[n]` ``[R, R]`` for ``matrices[k]`` ``[n, r_k, r_k]``."""
    modes, size = len(matrices), math.prod(m.shape[-1] for m in matrices)
    points = [(m, [_P, j, modes + j]) for j, m in enumerate(matrices)]
    return _einsum_points([], points, list(range(2 * modes))).reshape(size, size)


def _weighted_kron(weights: torch.Tensor, vectors: list) -> torch.Tensor:
    r""":math:`\sum_n w_n \bigotimes_k v_k[n]` ``[R]``."""
    points = [(weights, [_P])] + [(v, [_P, j]) for j, v in enumerate(vectors)]
    return _einsum_points([], points, list(range(len(vectors)))).reshape(-1)



# ---------------------------------------------------------------------- inference
class _Inference:
    """One CEP run: posteriors at the observed distinct index values, updated in turn."""

    def __init__(self, field: FunBaT, unit: torch.Tensor, y: torch.Tensor, seed: int):
        self.field, self.y, self.n = field, y, y.numel()
        cfg = field.config
        self.delta = True  # the first sweeps use the delta moments (see fit_funbat's warmup)
        gen = torch.Generator().manual_seed(seed)
        self.times, self.inverse, self.means, self.covs = [], [], [], []
        for k, r in enumerate(field.ranks):
            times, inverse = torch.unique(unit[:, k], sorted=True, return_inverse=True)
            self.times.append(times)
            self.inverse.append(inverse)
            self.means.append(torch.randn(times.numel(), r, generator=gen, dtype=_DTYPE) * math.sqrt(cfg.variance))
            self.covs.append(torch.zeros(times.numel(), r, r, dtype=_DTYPE))
        size = math.prod(field.ranks)
        self.core_mean = torch.randn(size, generator=gen, dtype=_DTYPE) * math.sqrt(cfg.core_variance)
        self.core_cov = torch.zeros(size, size, dtype=_DTYPE)
        self.shape = cfg.noise_shape + 0.5 * self.n
        self.rate = self.shape * 0.1  # start from a noise variance of 10% of the data variance
        self.posteriors: list = [None] * len(field.ranks)

    @property
    def tau(self) -> float:
        return self.shape / self.rate

    def gathered(self):
        means = [m[i] for m, i in zip(self.means, self.inverse)]
        if self.delta:
            seconds = [m[:, :, None] * m[:, None, :] for m in means]
        else:
            seconds = [c[i] + m[:, :, None] * m[:, None, :] for m, c, i in zip(means, self.covs, self.inverse)]
        return means, seconds

    def core_second(self) -> torch.Tensor:
        ranks = self.field.ranks
        m = self.core_mean
        second = m[:, None] * m[None, :] if self.delta else self.core_cov + m[:, None] * m[None, :]
        return second.reshape(ranks + ranks)

    def update_mode(self, k: int, learn: bool = False) -> bool:
        """Kalman/RTS update of mode ``k``; returns whether its lengthscale changed."""
        means, seconds = self.gathered()
        core = self.core_mean.reshape(self.field.ranks)
        mean_a = _contract_mean(core, means, skip=k)
        if self.delta:
            second_a = mean_a[:, :, None] * mean_a[:, None, :]
        else:
            second_a = _contract_second(self.core_second(), seconds, skip=k)
        count, r = self.times[k].numel(), self.field.ranks[k]
        precision = torch.zeros(count, r, r, dtype=_DTYPE).index_add_(0, self.inverse[k], self.tau * second_a)
        information = torch.zeros(count, r, dtype=_DTYPE).index_add_(
            0, self.inverse[k], self.tau * self.y[:, None] * mean_a)
        prior = start = self.field.priors[k]
        if learn:  # one step of a multiplicative search on the lengthscale (type-II maximum likelihood)
            best = log_marginal(prior, self.times[k], precision, information)
            for factor in (1 / _LENGTHSCALE_STEP, _LENGTHSCALE_STEP):
                ell = min(max(start.lengthscale * factor, _LENGTHSCALE_RANGE[0]), _LENGTHSCALE_RANGE[1])
                candidate = dataclasses.replace(start, lengthscale=ell)
                value = log_marginal(candidate, self.times[k], precision, information)
                if value > best:
                    prior, best = candidate, value
            self.field.priors[k] = prior
        post = kalman_smoother(prior, self.times[k], precision, information)
        self.posteriors[k] = post
        self.means[k], self.covs[k] = post.values()
        return prior is not start

    def update_core(self) -> None:
        means, seconds = self.gathered()
        size = self.core_mean.numel()
        precision = torch.eye(size, dtype=_DTYPE) / self.field.config.core_variance + self.tau * _sum_kron(seconds)
        chol = torch.linalg.cholesky(0.5 * (precision + precision.T))
        self.core_cov = torch.cholesky_inverse(chol)
        self.core_mean = self.core_cov @ (self.tau * _weighted_kron(self.y, means))

    def update_noise(self) -> torch.Tensor:
        """Gamma update of the noise precision; returns the fitted values (posterior means)."""
        means, seconds = self.gathered()
        fitted = _contract_mean(self.core_mean.reshape(self.field.ranks), means)
        sse = float(((self.y - fitted) ** 2).sum())
        if not self.delta:
            sse += float((_contract_second(self.core_second(), seconds) - fitted ** 2).clamp(min=0).sum())
        self.rate = self.field.config.noise_rate + 0.5 * sse
        return fitted


def _sweep(run: _Inference, iters: int, progress: bool, *, tol: float, warmup: int, learn: bool):
    """CEP sweeps (modes, core, noise) until the fitted values and lengthscales settle.

    Returns the fitted values (scaled units), the number of sweeps and whether it converged.
    """
    previous, fitted = None, None
    bar = tqdm(range(iters), desc="FunBaT", disable=not progress, leave=False)
    for sweep in bar:
        run.delta = run.field.config.moments == "delta" or sweep < warmup
        moved = [run.update_mode(k, learn=learn and sweep >= warmup) for k in range(run.field.in_dim)]
        run.update_core()
        fitted = run.update_noise()
        if not (bool(torch.isfinite(fitted).all()) and math.isfinite(run.rate) and run.rate > 0):
            raise FloatingPointError(
                f"fit_funbat: non-finite values at sweep {sweep + 1} (a lengthscale far below the spacing of "
                f"the indices ({[p.lengthscale for p in run.field.priors]}), or badly scaled data)"
            )
        bar.set_postfix(scaled_rmse=f"{float((fitted - run.y).square().mean().sqrt()):.4g}")
        if (sweep >= warmup and not any(moved) and previous is not None
                and float((fitted - previous).norm()) <= tol * float(previous.norm())):
            return fitted, sweep + 1, True
        previous = fitted
    return fitted, iters, False
