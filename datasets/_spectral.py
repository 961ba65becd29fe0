"""FFT helpers shared by the periodic solvers: wavenumbers, dealiasing, ETDRK4.

Conventions (owned here, used by :mod:`.burgers`, :mod:`.navier_stokes` and
:mod:`.grf`):

- a periodic axis of length ``L`` with ``n`` nodes ``x_j = j L / n`` (right end
  dropped, like ``sciml.Grid.uniform`` on a periodic domain);
- spectra are ``scipy.fft.rfftn`` over the trailing axes: all axes full
  (``fftfreq`` order) except the last, which is halved (``rfftfreq`` order);
- angular wavenumbers ``k = 2 pi m / L`` for the integer mode ``m``;
- the 2/3 rule keeps modes with ``|m| < n / 3`` on every axis, which makes a
  quadratic product of kept modes alias-free.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from sciml._validators import check_nonnegative_float, check_positive_float

from .errors import first_bad_sample

__all__ = ["BlowUpError", "ETDRK4", "angular_wavenumbers", "check_positive", "check_seeds", "check_times",
           "check_lengths", "dealias_mask", "integer_modes", "march", "raise_if_blown_up", "substeps"]


def integer_modes(shape: Sequence[int]) -> list[np.ndarray]:
    """Integer modes per axis, broadcastable to the ``rfftn`` layout of ``shape``."""
    shape = tuple(shape)
    modes = []
    for axis, n in enumerate(shape):
        m = np.fft.rfftfreq(n, 1.0 / n) if axis == len(shape) - 1 else np.fft.fftfreq(n, 1.0 / n)
        view = [1] * len(shape)
        view[axis] = m.size
        modes.append(m.reshape(view))
    return modes


def angular_wavenumbers(shape: Sequence[int], lengths: Sequence[float]) -> list[np.ndarray]:
    """Angular wavenumbers ``2 pi m / L`` per axis, broadcastable to the ``rfftn`` layout."""
    return [2.0 * np.pi * m / length for m, length in zip(integer_modes(shape), lengths)]


def dealias_mask(shape: Sequence[int]) -> np.ndarray:
    """Boolean 2/3-rule mask in the ``rfftn`` layout: ``|m_i| < n_i / 3`` on every axis."""
    mask = np.ones((), dtype=bool)
    for m, n in zip(integer_modes(shape), shape):
        mask = mask & (3.0 * np.abs(m) < n)
    return mask


@dataclass(frozen=True)
class ETDRK4:
    r"""Fourth-order exponential time differencing Runge–Kutta for ``v_t = L v + N(v)``.

    ``L`` is diagonal in Fourier space (an array of eigenvalues), ``N`` the
    nonlinear part. The coefficients are the Kassam–Trefethen (2005) ones,
    evaluated by a mean over ``n_contour`` points of a unit circle around each
    ``dt L`` to avoid the cancellation in :math:`(e^z - 1 - z - \dots)/z^3`.

    Parameters
    ----------
    linear : array
        Eigenvalues of ``L`` (real, non-positive for the dissipative problems here).
    dt : float
        Time step.
    n_contour : int
        Points on the contour (32 gives double precision for ``|dt L|`` of any size).

    Examples
    --------
    >>> stepper = ETDRK4(np.array([0.0, -1.0]), dt=0.1)
    >>> v = stepper.step(np.array([1.0, 1.0]), lambda v: np.zeros_like(v))
    >>> np.allclose(v, [1.0, np.exp(-0.1)])
    True
    """

    linear: np.ndarray
    dt: float
    n_contour: int = 32

    def __post_init__(self):
        z = self.dt * np.asarray(self.linear, dtype=float)
        roots = np.exp(1j * np.pi * (np.arange(1, self.n_contour + 1) - 0.5) / self.n_contour)
        lr = z[..., None] + roots
        with np.errstate(under="ignore"):
            e_lr, e_half = np.exp(lr), np.exp(lr / 2)
            coeffs = {
                "E": np.exp(z), "E2": np.exp(z / 2),
                "Q": self.dt * np.mean((e_half - 1.0) / lr, axis=-1).real,
                "f1": self.dt * np.mean((-4.0 - lr + e_lr * (4.0 - 3.0 * lr + lr**2)) / lr**3, axis=-1).real,
                "f2": self.dt * np.mean((2.0 + lr + e_lr * (lr - 2.0)) / lr**3, axis=-1).real,
                "f3": self.dt * np.mean((-4.0 - 3.0 * lr - lr**2 + e_lr * (4.0 - lr)) / lr**3, axis=-1).real,
            }
        object.__setattr__(self, "_c", coeffs)

    def step(self, v: np.ndarray, nonlinear: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """One step from ``v`` (Fourier coefficients, any leading batch dims)."""
        c = self._c
        nv = nonlinear(v)
        a = c["E2"] * v + c["Q"] * nv
        na = nonlinear(a)
        b = c["E2"] * v + c["Q"] * na
        nb = nonlinear(b)
        cc = c["E2"] * a + c["Q"] * (2.0 * nb - nv)
        nc = nonlinear(cc)
        return c["E"] * v + c["f1"] * nv + 2.0 * c["f2"] * (na + nb) + c["f3"] * nc


def substeps(t0: float, t1: float, max_dt: float) -> tuple[int, float]:
    """Number of equal steps (and their size) to go from ``t0`` to ``t1`` with steps <= ``max_dt``."""
    n = max(1, int(np.ceil((t1 - t0) / max_dt - 1e-9)))
    return n, (t1 - t0) / n


def march(state: np.ndarray, times: np.ndarray, max_dt: float, make_step, rhs, record) -> np.ndarray:
    """Advance a spectral ``state`` through the output ``times`` (from t = 0) in equal sub-steps.

    Between consecutive output times the interval is cut into the fewest equal steps no longer
    than ``max_dt``; ``make_step(dt)`` builds the one-step map ``(state, rhs) -> state`` once per
    distinct step size (ETDRK4 coefficients are costly) and ``record(i, t, state)`` runs at output
    time ``i`` (store it, check for blow-up). Floating-point overflow warnings are silenced: the
    blow-up check in ``record`` is what reports a diverging run.
    """
    steps: dict[float, object] = {}
    t = 0.0
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        for i, t_out in enumerate(times):
            n_steps, dt = substeps(t, t_out, max_dt)
            step = steps.get(round(dt, 15))
            if step is None:
                step = steps[round(dt, 15)] = make_step(dt)
            for _ in range(n_steps):
                state = step(state, rhs)
            record(i, t_out, state)
            t = t_out
    return state


def check_times(times, name: str = "times") -> np.ndarray:
    """Output times: a 1D, finite, strictly increasing array of times > 0."""
    t = np.atleast_1d(np.asarray(times, dtype=float))
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"{name}: expected a non-empty 1D array of times, got shape {t.shape}")
    if not np.all(np.isfinite(t)) or t[0] <= 0 or np.any(np.diff(t) <= 0):
        raise ValueError(f"{name}: expected finite, strictly increasing times > 0, got {t.tolist()}")
    return t


def check_positive(value, name: str, allow_zero: bool = False) -> float:
    """A finite real number > 0 (or >= 0): ``TypeError`` for non-numbers (bools, strings), ``ValueError`` otherwise."""
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        value = value.item()
    return check_nonnegative_float(value, name) if allow_zero else check_positive_float(value, name)


def check_lengths(lengths, ndim: int) -> tuple[float, ...]:
    """Box side lengths: exactly ``ndim`` finite numbers > 0."""
    try:
        values = tuple(lengths)
    except TypeError:
        raise TypeError(f"lengths: expected {ndim} side lengths, got {lengths!r}") from None
    if len(values) != ndim:
        raise ValueError(f"lengths: expected {ndim} side lengths (one per axis), got {len(values)}: {lengths!r}")
    return tuple(check_positive(v, f"lengths[{i}]") for i, v in enumerate(values))


def check_seeds(seeds) -> np.ndarray:
    """Seeds as a 1D int64 array of non-negative integers."""
    s = np.atleast_1d(np.asarray(seeds))
    if s.ndim != 1 or s.size == 0 or not np.issubdtype(s.dtype, np.integer) or np.any(s < 0):
        raise ValueError(f"seeds: expected a non-empty 1D array of non-negative integers, got {seeds!r}")
    return s.astype(np.int64)


class BlowUpError(FloatingPointError):
    """A sample became non-finite or left its a-priori bound; ``sample`` is its index in the batch."""

    def __init__(self, detail: str, sample: int):
        super().__init__(f"sample {sample} blew up (non-finite or above its a-priori bound): {detail}")
        self.sample = sample
        self.detail = detail

    def for_seed(self, problem: str, seed: int, config) -> FloatingPointError:
        """The error to show a user who asked for ``seed``: names the seed, the parameters and the cause."""
        return FloatingPointError(f"{problem}: seed {seed} blew up (non-finite or above its a-priori bound): "
                                  f"{self.detail}; config {config}")


def raise_if_blown_up(values: np.ndarray, bound, what: str) -> None:
    """Raise :class:`BlowUpError` for the first sample (axis 0) that is non-finite or above ``bound``."""
    bad = first_bad_sample(values, bound)
    if bad is not None:
        raise BlowUpError(f"{what}: {bad[1]}", bad[0])
