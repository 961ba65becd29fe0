r"""Matérn Gaussian processes as linear state-space models, with Kalman filtering and RTS smoothing.

A stationary Gaussian process :math:`u(t)` with a Matérn covariance of
half-integer smoothness :math:`\nu = p + 1/2` is the first component of the
state :math:`z(t) = (u, u', \dots, u^{(p)})` of a linear time-invariant SDE

.. math::

    \mathrm{d}z = F z\,\mathrm{d}t + L\,\mathrm{d}\beta, \qquad
    \mathbb{E}[\mathrm{d}\beta^2] = q_c\,\mathrm{d}t, \qquad u = H z
    \qquad \text{(Hartikainen \& Särkkä, 2010)}.

With :math:`\lambda = \sqrt{2\nu}/\ell`:

* :math:`\nu = 1/2` (one state, Ornstein--Uhlenbeck):
  :math:`k(\Delta) = \sigma^2 e^{-\lambda|\Delta|}`, :math:`F = -\lambda`,
  :math:`q_c = 2\sigma^2\lambda`, :math:`P_\infty = \sigma^2`.
* :math:`\nu = 3/2` (two states):
  :math:`k(\Delta) = \sigma^2 (1 + \lambda|\Delta|) e^{-\lambda|\Delta|}`,
  :math:`F = \begin{pmatrix} 0 & 1 \\ -\lambda^2 & -2\lambda \end{pmatrix}`,
  :math:`L = (0, 1)^T`, :math:`q_c = 4\sigma^2\lambda^3`,
  :math:`P_\infty = \operatorname{diag}(\sigma^2, \lambda^2\sigma^2)`.

Between two index values a step :math:`\Delta` apart the SDE is discretised
exactly: :math:`z_{j+1} = A z_j + q_j`, :math:`A = e^{F\Delta}` (matrix
exponential), :math:`q_j \sim N(0, Q)`, :math:`Q = P_\infty - A P_\infty A^T`
(the stationary covariance is preserved). Several independent copies of the
process (one per latent function of a tensor mode) are stacked into one
block-diagonal model, so observations may couple the copies.

Observations are passed in *information form* per time point: a precision
:math:`\Lambda_t` ``[p, p]`` and an information vector :math:`\eta_t` ``[p]``
on the observed values :math:`u_t = H z_t \in \mathbb{R}^p`, i.e. a Gaussian
likelihood factor :math:`\exp(-\tfrac12 u_t^T\Lambda_t u_t + \eta_t^T u_t)`.
Scalar observations :math:`y_{ti} = u_t + e`, :math:`e \sim N(0, s^2)`, give
:math:`\Lambda_t = n_t / s^2`, :math:`\eta_t = \sum_i y_{ti}/s^2` (see
:func:`scalar_observations`); vector observations :math:`y = C u_t + e`,
:math:`e \sim N(0, R)`, give :math:`\Lambda_t = C^T R^{-1} C`,
:math:`\eta_t = C^T R^{-1} y`. Several observations at one time point add up.
All computations run in float64.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from tqdm.auto import tqdm

from sciml._checks import as_float_tensor, check_finite

__all__ = ["GaussMarkovPosterior", "MaternStateSpace", "kalman_smoother", "log_marginal", "scalar_observations"]

_DTYPE = torch.float64


@dataclasses.dataclass(frozen=True)
class MaternStateSpace:
    r"""``copies`` independent Matérn-:math:`\nu` processes as one LTI SDE.

    Parameters
    ----------
    nu : float
        Smoothness, ``0.5`` or ``1.5``.
    lengthscale : float
        :math:`\ell > 0`, in the units of the time/index axis.
    variance : float
        Marginal variance :math:`\sigma^2 > 0` of each process.
    copies : int
        Number of independent processes stacked block-diagonally (state
        dimension ``copies * order``).

    Examples
    --------
    >>> model = MaternStateSpace(nu=1.5, lengthscale=0.5, variance=2.0)
    >>> A, Q = model.transition(torch.tensor([0.1], dtype=torch.float64))
    >>> P = model.stationary_covariance()
    >>> torch.allclose(A[0] @ P @ A[0].T + Q[0], P)
    True
    >>> r = math.sqrt(3) * 0.3 / 0.5
    >>> math.isclose(float(model.covariance(0.3)), 2 * (1 + r) * math.exp(-r))
    True
    """

    nu: float = 1.5
    lengthscale: float = 1.0
    variance: float = 1.0
    copies: int = 1

    def __post_init__(self):
        if self.nu not in (0.5, 1.5):
            raise ValueError(f"nu: expected 0.5 or 1.5 (Matérn smoothness with a state-space form), got {self.nu!r}")
        for name in ("lengthscale", "variance"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name}: expected a positive finite number, got {value!r}")
        if isinstance(self.copies, bool) or not isinstance(self.copies, int) or self.copies < 1:
            raise ValueError(f"copies: expected a positive int, got {self.copies!r}")

    @property
    def order(self) -> int:
        """States per process: 1 for :math:`\\nu = 1/2`, 2 for :math:`\\nu = 3/2`."""
        return 1 if self.nu == 0.5 else 2

    @property
    def state_dim(self) -> int:
        """Dimension of the stacked state, ``copies * order``."""
        return self.copies * self.order

    @property
    def rate(self) -> float:
        r""":math:`\lambda = \sqrt{2\nu}/\ell`."""
        return math.sqrt(2 * self.nu) / self.lengthscale

    def _stack(self, block: torch.Tensor) -> torch.Tensor:
        return torch.kron(torch.eye(self.copies, dtype=_DTYPE), block)

    def feedback(self) -> torch.Tensor:
        """The drift matrix :math:`F` ``[state_dim, state_dim]``."""
        lam = self.rate
        block = torch.tensor([[-lam]] if self.order == 1 else [[0.0, 1.0], [-lam * lam, -2 * lam]], dtype=_DTYPE)
        return self._stack(block)

    def noise_effect(self) -> torch.Tensor:
        """The noise input matrix :math:`L` ``[state_dim, copies]``."""
        block = torch.ones(1, 1, dtype=_DTYPE) if self.order == 1 else torch.tensor([[0.0], [1.0]], dtype=_DTYPE)
        return self._stack(block)

    def spectral_density(self) -> float:
        r"""White-noise spectral density :math:`q_c` of each copy."""
        lam = self.rate
        return 2 * self.variance * lam if self.order == 1 else 4 * self.variance * lam ** 3

    def stationary_covariance(self) -> torch.Tensor:
        r""":math:`P_\infty` ``[state_dim, state_dim]``, solving :math:`F P + P F^T + L q_c L^T = 0`."""
        diag = [self.variance] if self.order == 1 else [self.variance, self.variance * self.rate ** 2]
        return self._stack(torch.diag(torch.tensor(diag, dtype=_DTYPE)))

    def measurement(self) -> torch.Tensor:
        """:math:`H` ``[copies, state_dim]`` picking each process value from the state."""
        block = torch.zeros(1, self.order, dtype=_DTYPE)
        block[0, 0] = 1.0
        return self._stack(block)

    def value_index(self) -> torch.Tensor:
        """Positions of the process values in the state (the columns where :math:`H` is one)."""
        return torch.arange(self.copies) * self.order

    def transition(self, dt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Exact discretisation over steps ``dt`` ``[m]``: :math:`A = e^{F\Delta}`, :math:`Q = P_\infty-AP_\infty A^T`.

        Returns ``A, Q``, each ``[m, state_dim, state_dim]``.
        """
        dt = as_float_tensor(dt, "dt", _DTYPE).reshape(-1)
        if dt.numel() and float(dt.detach().min()) < 0:
            raise ValueError(f"dt: expected non-negative steps, got minimum {float(dt.detach().min())}")
        block_f = self.feedback()[: self.order, : self.order]
        block_a = torch.linalg.matrix_exp(dt[:, None, None] * block_f)
        eye = torch.eye(self.copies, dtype=_DTYPE)
        a = torch.einsum("ij,mkl->mikjl", eye, block_a).reshape(-1, self.state_dim, self.state_dim)
        p_inf = self.stationary_covariance()
        q = p_inf - a @ p_inf @ a.transpose(-1, -2)
        return a, 0.5 * (q + q.transpose(-1, -2))

    def covariance(self, lag: torch.Tensor) -> torch.Tensor:
        r"""The Matérn covariance :math:`k(\Delta)` of one copy, elementwise in ``lag``."""
        r = self.rate * as_float_tensor(lag, "lag", _DTYPE).abs()
        poly = torch.ones_like(r) if self.order == 1 else 1 + r
        return self.variance * poly * torch.exp(-r)


def scalar_observations(times, values, noise_variance: float):
    r"""Group scalar observations :math:`y_i = u(t_i) + e_i`, :math:`e_i \sim N(0, s^2)`, by time.

    Parameters
    ----------
    times : array-like ``[n]``
        Observation times (any order, repeats allowed).
    values : array-like ``[n]``
        Observed values.
    noise_variance : float
        :math:`s^2 > 0`.

    Returns
    -------
    unique_times : Tensor ``[T]``
        Sorted distinct times.
    precision : Tensor ``[T, 1, 1]``
        :math:`n_t / s^2`.
    information : Tensor ``[T, 1]``
        :math:`\sum_{i: t_i = t} y_i / s^2`.

    Examples
    --------
    >>> t, lam, eta = scalar_observations([0.5, 0.1, 0.5], [1.0, 2.0, 3.0], 0.5)
    >>> t.tolist(), lam.flatten().tolist(), eta.flatten().tolist()
    ([0.1, 0.5], [2.0, 4.0], [4.0, 8.0])
    """
    times = check_finite(as_float_tensor(times, "times", _DTYPE).reshape(-1), "times")
    values = check_finite(as_float_tensor(values, "values", _DTYPE).reshape(-1), "values")
    if times.shape != values.shape:
        raise ValueError(f"values: expected {times.numel()} values (one per time), got {values.numel()}")
    if not (isinstance(noise_variance, (int, float)) and noise_variance > 0):
        raise ValueError(f"noise_variance: expected a positive number, got {noise_variance!r}")
    unique, inverse = torch.unique(times, sorted=True, return_inverse=True)
    count = torch.zeros(unique.numel(), dtype=_DTYPE).index_add_(0, inverse, torch.ones_like(values))
    total = torch.zeros(unique.numel(), dtype=_DTYPE).index_add_(0, inverse, values)
    return unique, (count / noise_variance)[:, None, None], (total / noise_variance)[:, None]


@dataclasses.dataclass
class GaussMarkovPosterior:
    r"""Filtered and smoothed Gaussian marginals of the state at sorted times (from :func:`kalman_smoother`).

    Attributes
    ----------
    model : MaternStateSpace
    times : Tensor ``[T]``
    filtered_mean, smoothed_mean : Tensor ``[T, s]``
    filtered_cov, smoothed_cov : Tensor ``[T, s, s]``
    log_normaliser : float
        :math:`\log \int p(u)\prod_t \exp(-\tfrac12 u_t^T\Lambda_t u_t + \eta_t^T u_t)\,du`: the log
        marginal likelihood of the observations up to terms free of the prior (for scalar
        observations, :math:`\log N(y; 0, K + s^2 I) + \sum_i y_i^2/2s^2 + \tfrac n2\log 2\pi s^2`).
    """

    model: MaternStateSpace
    times: torch.Tensor
    filtered_mean: torch.Tensor
    filtered_cov: torch.Tensor
    smoothed_mean: torch.Tensor
    smoothed_cov: torch.Tensor
    log_normaliser: float = float("nan")

    def values(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean ``[T, copies]`` and covariance ``[T, copies, copies]`` of the process values."""
        return _values(self.model, self.smoothed_mean, self.smoothed_cov)

    def state_at(self, new_times) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Posterior state marginals at any times ``[m]``: mean ``[m, s]`` and covariance ``[m, s, s]``.

        Exact: equal to smoothing with the new times inserted without
        observations. Between neighbours :math:`t_j < t^* < t_{j+1}` the
        filtered state at :math:`t_j` is predicted to :math:`t^*` and one RTS
        step against the smoothed state at :math:`t_{j+1}` follows; before
        :math:`t_0` the prediction is the stationary prior; after the last
        time the smoothed state is only predicted forward.
        """
        new_times = as_float_tensor(new_times, "new_times", _DTYPE).reshape(-1).contiguous()
        check_finite(new_times.detach(), "new_times")
        times, model = self.times, self.model
        count = times.numel()
        plain = new_times.detach()
        right = torch.searchsorted(times, plain, right=True)  # first stored time > t*
        left = right - 1
        exact = (left >= 0) & (times[left.clamp(min=0)] == plain)
        p_inf = model.stationary_covariance()
        has_left = left >= 0
        li = left.clamp(min=0)
        # Filtered (or, with no later time, smoothed) state at the left neighbour, predicted to t*.
        last = right >= count
        base_mean = torch.where(last[:, None], self.smoothed_mean[li], self.filtered_mean[li])
        base_cov = torch.where(last[:, None, None], self.smoothed_cov[li], self.filtered_cov[li])
        a1, q1 = model.transition(torch.where(has_left, new_times - times[li], torch.zeros_like(new_times)))
        mean = torch.where(has_left[:, None], (a1 @ base_mean[..., None])[..., 0], torch.zeros_like(base_mean))
        cov = torch.where(has_left[:, None, None], a1 @ base_cov @ a1.transpose(-1, -2) + q1, p_inf.expand_as(base_cov))
        # One RTS step against the smoothed right neighbour.
        ri = right.clamp(max=count - 1)
        a2, q2 = model.transition(torch.where(last, torch.zeros_like(new_times), times[ri] - new_times))
        pred_cov = a2 @ cov @ a2.transpose(-1, -2) + q2
        pred_mean = (a2 @ mean[..., None])[..., 0]
        pred_cov = torch.where(last[:, None, None], torch.eye(model.state_dim, dtype=_DTYPE), pred_cov)
        gain = torch.linalg.solve(pred_cov, a2 @ cov).transpose(-1, -2)  # cov A2^T pred_cov^{-1}
        gain = torch.where(last[:, None, None], torch.zeros_like(gain), gain)
        mean = mean + (gain @ (self.smoothed_mean[ri] - pred_mean)[..., None])[..., 0]
        cov = cov + gain @ (self.smoothed_cov[ri] - pred_cov) @ gain.transpose(-1, -2)
        mean = torch.where(exact[:, None], self.smoothed_mean[li], mean)
        cov = torch.where(exact[:, None, None], self.smoothed_cov[li], 0.5 * (cov + cov.transpose(-1, -2)))
        return mean, cov

    def values_at(self, new_times) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean ``[m, copies]`` and covariance ``[m, copies, copies]`` of the values at ``new_times``."""
        return _values(self.model, *self.state_at(new_times))


def _values(model: MaternStateSpace, mean: torch.Tensor, cov: torch.Tensor):
    idx = model.value_index()
    return mean[:, idx], cov[:, idx][:, :, idx]


def _check_information(times, precision, information, copies):
    times = check_finite(as_float_tensor(times, "times", _DTYPE).reshape(-1), "times")
    count = times.numel()
    if count == 0:
        raise ValueError("times: expected at least one time point, got none")
    if count > 1 and not bool((times[1:] > times[:-1]).all()):
        raise ValueError("times: expected strictly increasing times (group repeated observations per time)")
    precision = check_finite(as_float_tensor(precision, "precision", _DTYPE), "precision")
    information = check_finite(as_float_tensor(information, "information", _DTYPE), "information")
    if tuple(precision.shape) != (count, copies, copies):
        raise ValueError(f"precision: expected shape {(count, copies, copies)}, got {tuple(precision.shape)}")
    if tuple(information.shape) != (count, copies):
        raise ValueError(f"information: expected shape {(count, copies)}, got {tuple(information.shape)}")
    return times, precision, information


def kalman_smoother(model: MaternStateSpace, times, precision, information, *, method: str = "parallel",
                    progress: bool = False) -> GaussMarkovPosterior:
    r"""Kalman filter and Rauch--Tung--Striebel smoother for a Matérn state-space prior.

    The prior is :math:`z_0 \sim N(0, P_\infty)`, :math:`z_{j+1} = A_j z_j + q_j`
    (exact discretisation, :meth:`MaternStateSpace.transition`). At each time
    the likelihood factor :math:`\exp(-\tfrac12 u^T\Lambda u + \eta^T u)` on
    :math:`u = H z` updates the predicted :math:`N(m^-, P^-)` by

    .. math::

        C = H P^- H^T,\quad
        m^+ = m^- + P^- H^T (I + \Lambda C)^{-1}(\eta - \Lambda H m^-),\quad
        P^+ = P^- - P^- H^T (I + \Lambda C)^{-1}\Lambda H P^-,

    which needs no inverse of :math:`\Lambda` (rank-deficient or zero
    precisions are fine). The smoother runs
    :math:`G_j = P^f_j A_j^T (P^-_{j+1})^{-1}`,
    :math:`m^s_j = m^f_j + G_j(m^s_{j+1} - m^-_{j+1})`,
    :math:`P^s_j = P^f_j + G_j(P^s_{j+1} - P^-_{j+1})G_j^T`.

    Parameters
    ----------
    model : MaternStateSpace
        The prior (``copies = p`` processes).
    times : array-like ``[T]``
        Strictly increasing times.
    precision : Tensor ``[T, p, p]``
        :math:`\Lambda_t`, symmetric positive semi-definite.
    information : Tensor ``[T, p]``
        :math:`\eta_t`.
    method : str
        ``"parallel"`` (default): the same recursions as associative prefix
        scans (Särkkä & García-Fernández, 2021), :math:`O(\log T)` batched
        steps; ``"sequential"``: the readable step-by-step reference. The
        two agree to round-off (tested).
    progress : bool
        Show a tqdm bar over the time steps (sequential method only).

    Returns
    -------
    GaussMarkovPosterior

    Examples
    --------
    >>> model = MaternStateSpace(nu=0.5, lengthscale=1.0, variance=1.0)
    >>> t, lam, eta = scalar_observations([0.0, 1.0], [1.0, -1.0], noise_variance=0.1)
    >>> mean, cov = kalman_smoother(model, t, lam, eta).values()
    >>> mean.flatten()  # GP closed form: (1 - e^-1) / (1 - e^-1 + 0.1) = 0.8634
    tensor([ 0.8634, -0.8634], dtype=torch.float64)
    """
    if not isinstance(model, MaternStateSpace):
        raise TypeError(f"model: expected a MaternStateSpace, got {type(model).__name__}")
    if method not in ("parallel", "sequential"):
        raise ValueError(f"method: expected 'parallel' or 'sequential', got {method!r}")
    times, precision, information = _check_information(times, precision, information, model.copies)
    run = _parallel if method == "parallel" else _sequential
    filt_mean, filt_cov, smooth_mean, smooth_cov = run(model, times, precision, information, progress)
    log_z = _log_normaliser(model, times, precision, information, filt_mean, filt_cov)
    finite = bool(torch.isfinite(smooth_mean).all()) and bool(torch.isfinite(smooth_cov).all())
    if not (math.isfinite(log_z) and finite):
        raise FloatingPointError(
            "kalman_smoother: the smoothed states are not finite (ill-conditioned prior: lengthscale far "
            "below the spacing of the times, or huge precisions)"
        )
    return GaussMarkovPosterior(model, times, filt_mean, filt_cov, smooth_mean, smooth_cov, log_z)


def log_marginal(model: MaternStateSpace, times, precision, information) -> float:
    r"""The log normaliser :attr:`GaussMarkovPosterior.log_normaliser` by the Kalman filter alone.

    :math:`\log\int p(u)\prod_t\exp(-\tfrac12 u_t^T\Lambda_t u_t + \eta_t^T u_t)\,du` under the
    prior ``model``: the quantity to maximise over hyperparameters (type-II maximum likelihood),
    at about half the cost of :func:`kalman_smoother`.

    Examples
    --------
    >>> t, lam, eta = scalar_observations([0.0, 0.5, 1.0], [0.3, 0.1, -0.4], noise_variance=0.1)
    >>> [round(log_marginal(MaternStateSpace(nu=1.5, lengthscale=ell), t, lam, eta), 3) for ell in (0.1, 1.0)]
    [-2.415, -1.81]
    """
    if not isinstance(model, MaternStateSpace):
        raise TypeError(f"model: expected a MaternStateSpace, got {type(model).__name__}")
    times, precision, information = _check_information(times, precision, information, model.copies)
    filt_mean, filt_cov = _parallel_filter(model, times, precision, information)
    value = _log_normaliser(model, times, precision, information, filt_mean, filt_cov)
    if not math.isfinite(value):
        raise FloatingPointError("log_marginal: not finite (ill-conditioned prior or huge precisions)")
    return value


def _log_normaliser(model, times, precision, information, filt_mean, filt_cov) -> float:
    r"""Sum over steps of :math:`\log\int N(u; \mu, V)\exp(-\tfrac12 u^T\Lambda u + \eta^T u)\,du`.

    With the predicted :math:`\mu = H m^-`, :math:`V = H P^- H^T` and
    :math:`B = I + \Lambda V`, each term is (no inverse of :math:`\Lambda`)
    :math:`-\tfrac12\log|B| + \tfrac12\eta^T V B^{-1}\eta + \mu^T B^{-1}\eta
    - \tfrac12\mu^T B^{-1}\Lambda\mu`.
    """
    idx = model.value_index()
    a, q = model.transition(times[1:] - times[:-1])
    pred_mean = torch.cat([torch.zeros_like(filt_mean[:1]), _mv(a, filt_mean[:-1])])
    pred_cov = torch.cat([model.stationary_covariance()[None], a @ filt_cov[:-1] @ a.transpose(-1, -2) + q])
    mu, var = pred_mean[:, idx], pred_cov[:, idx][:, :, idx]
    eye = torch.eye(model.copies, dtype=_DTYPE)
    b = eye + precision @ var
    sol = torch.linalg.solve(b, torch.stack([information, _mv(precision, mu)], -1))  # B^-1 eta, B^-1 Lambda mu
    quad = (information * _mv(var, sol[..., 0])).sum(-1)
    terms = (-0.5 * torch.linalg.slogdet(b)[1] + 0.5 * quad
             + (mu * sol[..., 0]).sum(-1) - 0.5 * (mu * sol[..., 1]).sum(-1))
    return float(terms.sum())


def _sequential(model, times, precision, information, progress):
    """Step-by-step Kalman filter and RTS smoother (the reference for :func:`_parallel`)."""
    count, size = times.numel(), model.state_dim
    idx = model.value_index()
    a, q = model.transition(times[1:] - times[:-1])
    eye = torch.eye(model.copies, dtype=_DTYPE)
    pred_mean = torch.zeros(count, size, dtype=_DTYPE)
    pred_cov = torch.empty(count, size, size, dtype=_DTYPE)
    filt_mean = torch.empty(count, size, dtype=_DTYPE)
    filt_cov = torch.empty(count, size, size, dtype=_DTYPE)
    pred_cov[0] = model.stationary_covariance()
    steps = tqdm(range(count), desc="Kalman filter", disable=not progress, leave=False)
    mean, cov = pred_mean[0], pred_cov[0]
    for j in steps:
        if j > 0:
            mean = a[j - 1] @ filt_mean[j - 1]
            cov = a[j - 1] @ filt_cov[j - 1] @ a[j - 1].T + q[j - 1]
            pred_mean[j], pred_cov[j] = mean, cov
        cross = cov[:, idx]  # P^- H^T  [s, p]
        lam = precision[j]
        rhs = torch.cat([lam, (information[j] - lam @ mean[idx])[:, None]], 1)
        sol = torch.linalg.solve(eye + lam @ cross[idx], rhs)
        filt_mean[j] = mean + cross @ sol[:, -1]
        upd = cov - cross @ sol[:, :-1] @ cross.T
        filt_cov[j] = 0.5 * (upd + upd.T)
    smooth_mean, smooth_cov = filt_mean.clone(), filt_cov.clone()
    for j in range(count - 2, -1, -1):
        gain = torch.linalg.solve(pred_cov[j + 1], a[j] @ filt_cov[j]).T
        smooth_mean[j] = filt_mean[j] + gain @ (smooth_mean[j + 1] - pred_mean[j + 1])
        upd = filt_cov[j] + gain @ (smooth_cov[j + 1] - pred_cov[j + 1]) @ gain.T
        smooth_cov[j] = 0.5 * (upd + upd.T)
    return filt_mean, filt_cov, smooth_mean, smooth_cov


def _sym(m: torch.Tensor) -> torch.Tensor:
    return 0.5 * (m + m.transpose(-1, -2))


def _mv(m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return (m @ v[..., None])[..., 0]


def _scan(elements: tuple, combine, reverse: bool = False) -> tuple:
    """Inclusive scan of an associative ``combine(earlier, later)`` over dimension 0.

    Odd-even recursion (work-efficient, about ``2 T`` combinations in
    ``2 log2 T`` batched rounds); ``reverse=True`` accumulates suffixes.
    """
    if reverse:
        flipped = tuple(e.flip(0) for e in elements)
        return tuple(e.flip(0) for e in _scan(flipped, lambda later, earlier: combine(earlier, later)))
    count = elements[0].shape[0]
    if count == 1:
        return elements
    half = count // 2
    pairs = combine(tuple(e[0:2 * half:2] for e in elements), tuple(e[1:2 * half:2] for e in elements))
    odd = _scan(pairs, combine)  # prefixes ending at 1, 3, 5, ...
    even = combine(tuple(o[: (count - 1) // 2] for o in odd), tuple(e[2::2] for e in elements))
    out = []
    for e, o, v in zip(elements, odd, even):
        merged = torch.empty_like(e)
        merged[0] = e[0]
        merged[1::2] = o
        merged[2::2] = v
        out.append(merged)
    return tuple(out)


def _filter_combine(first: tuple, second: tuple) -> tuple:
    r"""Compose two filtering elements :math:`(A, b, C, \eta, J)` (Särkkä & García-Fernández, 2021, Lemma 8)."""
    a1, b1, c1, e1, j1 = first
    a2, b2, c2, e2, j2 = second
    size = a1.shape[-1]
    eye = torch.eye(size, dtype=a1.dtype)
    x = eye + c1 @ j2
    sol = torch.linalg.solve(x, torch.cat([a1, (b1 + _mv(c1, e2))[..., None], c1], -1))
    a = a2 @ sol[..., :size]
    b = _mv(a2, sol[..., size]) + b2
    c = _sym(a2 @ sol[..., size + 1:] @ a2.transpose(-1, -2) + c2)
    # (I + J2 C1) = X^T since C1 and J2 are symmetric.
    sol = torch.linalg.solve(x.transpose(-1, -2), torch.cat([(e2 - _mv(j2, b1))[..., None], j2 @ a1], -1))
    a1t = a1.transpose(-1, -2)
    e = _mv(a1t, sol[..., 0]) + e1
    j = _sym(a1t @ sol[..., 1:] + j1)
    return a, b, c, e, j


def _smoother_combine(earlier: tuple, later: tuple) -> tuple:
    """Compose two smoothing elements ``(E, g, L)``: ``(E1 E2, E1 g2 + g1, E1 L2 E1^T + L1)``."""
    e1, g1, l1 = earlier
    e2, g2, l2 = later
    return e1 @ e2, _mv(e1, g2) + g1, _sym(e1 @ l2 @ e1.transpose(-1, -2) + l1)


def _parallel(model, times, precision, information, progress):
    """Kalman filter and RTS smoother as two associative scans (batched over all time steps)."""
    filt_mean, filt_cov = _parallel_filter(model, times, precision, information)
    return (filt_mean, filt_cov) + _parallel_smoother(model, times, filt_mean, filt_cov)


def _parallel_filter(model, times, precision, information):
    """Filtered means ``[T, s]`` and covariances ``[T, s, s]`` by one associative scan."""
    size = model.state_dim
    idx = model.value_index()
    a, q = model.transition(times[1:] - times[:-1])
    # Step 0 is a "transition" from nothing: F = 0, Q = P_inf.
    f = torch.cat([torch.zeros(1, size, size, dtype=_DTYPE), a])
    q0 = torch.cat([model.stationary_covariance()[None], q])
    # Condition each transition N(F x, Q) on the step's likelihood factor (Lambda, eta) on u = H x.
    cross = q0[:, :, idx]  # Q H^T  [T, s, p]
    eye = torch.eye(model.copies, dtype=_DTYPE)
    sol = torch.linalg.solve(eye + precision @ cross[:, idx], torch.cat([precision, information[..., None]], -1))
    gain_lam, gain_eta = sol[..., :-1], sol[..., -1]  # (I + Lambda V)^{-1} Lambda, (I + Lambda V)^{-1} eta
    hf = f[:, idx]  # H F  [T, p, s]
    elements = (
        f - cross @ gain_lam @ hf,
        _mv(cross, gain_eta),
        _sym(q0 - cross @ gain_lam @ cross.transpose(-1, -2)),
        _mv(hf.transpose(-1, -2), gain_eta),
        _sym(hf.transpose(-1, -2) @ gain_lam @ hf),
    )
    _, filt_mean, filt_cov, _, _ = _scan(elements, _filter_combine)
    return filt_mean, filt_cov


def _parallel_smoother(model, times, filt_mean, filt_cov):
    """Smoothed means and covariances from the filtered ones by one reverse associative scan."""
    size = model.state_dim
    a, q = model.transition(times[1:] - times[:-1])
    # Smoothing elements: E_k = P^f_k F^T (P^-_{k+1})^{-1}, g_k = m^f_k - E_k F m^f_k, L_k = P^f_k - E_k P^- E_k^T.
    pred_cov = _sym(a @ filt_cov[:-1] @ a.transpose(-1, -2) + q)
    gain = torch.linalg.solve(pred_cov, a @ filt_cov[:-1]).transpose(-1, -2)
    g = filt_mean[:-1] - _mv(gain @ a, filt_mean[:-1])
    low = _sym(filt_cov[:-1] - gain @ pred_cov @ gain.transpose(-1, -2))
    elements = (
        torch.cat([gain, torch.zeros(1, size, size, dtype=_DTYPE)]),
        torch.cat([g, filt_mean[-1:]]),
        torch.cat([low, filt_cov[-1:]]),
    )
    _, smooth_mean, smooth_cov = _scan(elements, _smoother_combine, reverse=True)
    return smooth_mean, smooth_cov
