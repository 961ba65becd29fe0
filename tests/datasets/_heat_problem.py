"""Small but real test problems for the data pipeline, solved exactly by FFT.

``heat-test``: 1D periodic heat equation ``u_t = kappa u_xx`` on [0, 1) from a random
trigonometric initial condition; the trajectory is exact: each Fourier mode decays as
``exp(-kappa (2 pi k)^2 t)``.

``poisson-test``: 2D periodic Poisson ``-lap u = f - mean(f)`` with a random trigonometric
``f``; ``u`` (zero mean) is exact mode by mode: ``u_k = f_k / |2 pi k|^2``.

Both are registered under test-only names. They live in their own module (not in a test
file) so worker processes of ``generate`` and killed subprocesses can import them by name.
``SCIML_TEST_SLEEP`` (seconds per ``solve_batch`` call) slows generation for the kill test;
``poison_seed`` makes the sample with that seed non-finite, for the NaN test.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

import sciml
from sciml.datasets.problem import PDEProblem, register_problem

#: solve_batch calls in this process (the cache tests count regenerations with it)
CALLS = {"count": 0}


def _random_coefficients(seed: int, modes: int, shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng(int(seed))
    return rng.standard_normal(shape + (modes,)) + 1j * rng.standard_normal(shape + (modes,))


def _slow_down() -> None:
    CALLS["count"] += 1
    delay = float(os.environ.get("SCIML_TEST_SLEEP", "0"))
    if delay:
        time.sleep(delay)


@dataclass
class HeatConfig:
    resolution: int = 32
    kappa: float = 0.01
    modes: int = 6
    n_times: int = 4
    final_time: float = 0.5
    poison_seed: int = -1


@register_problem
class HeatProblem(PDEProblem):
    """``u0 -> u(t_1..t_T)`` for the periodic heat equation, exact in Fourier space."""

    name = "heat-test"
    config_class = HeatConfig
    input_names = ("u0",)
    output_names = ("u",)
    output_time_dim = "t"
    units = {"x": "m", "t": "s", "u": "K", "u0": "K"}  # noqa: RUF012 (read-only)

    def grid(self) -> sciml.Grid:
        return sciml.Grid.uniform(self.config.resolution, sciml.Domain.unit(1, periodic=True))

    def times(self) -> np.ndarray:
        c = self.config
        return np.linspace(c.final_time / c.n_times, c.final_time, c.n_times)

    def exact(self, seed: int, t: np.ndarray) -> np.ndarray:
        """``u(t, x)`` for ``t`` of shape ``[T]``: ``[T, resolution]``."""
        c = self.config
        coef = _random_coefficients(seed, c.modes, ())
        k = np.arange(1, c.modes + 1)
        x = self.grid().axes[0].coordinates
        decay = np.exp(-c.kappa * (2 * np.pi * k) ** 2 * np.asarray(t)[:, None])            # [T, K]
        waves = np.exp(2j * np.pi * k[:, None] * x[None, :])                               # [K, X]
        return ((decay * coef / k) @ waves).real

    def solve_batch(self, seeds: np.ndarray) -> dict[str, np.ndarray]:
        _slow_down()
        c = self.config
        u0, u = [], []
        for seed in seeds:
            u0.append(self.exact(seed, np.zeros(1))[0])
            traj = self.exact(seed, self.times())
            if int(seed) == c.poison_seed:
                traj[-1, 3] = np.nan
            u.append(traj)
        return {"u0": np.stack(u0), "u": np.stack(u)}


@dataclass
class PoissonConfig:
    resolution: int = 16
    modes: int = 3


@register_problem
class PoissonTestProblem(PDEProblem):
    """``f -> u`` with ``-lap u = f`` on the periodic unit square (zero-mean trigonometric ``f``)."""

    name = "poisson-test"
    config_class = PoissonConfig
    input_names = ("f",)
    output_names = ("u",)

    def grid(self) -> sciml.Grid:
        n = self.config.resolution
        return sciml.Grid.uniform((n, n), sciml.Domain.unit(2, periodic=True))

    def solve_batch(self, seeds: np.ndarray) -> dict[str, np.ndarray]:
        _slow_down()
        m = self.config.modes
        x, y = np.meshgrid(*(a.coordinates for a in self.grid().axes), indexing="ij")
        f, u = [], []
        for seed in seeds:
            coef = _random_coefficients(seed, m, (m,))
            fi = np.zeros_like(x)
            ui = np.zeros_like(x)
            for kx in range(1, m + 1):
                for ky in range(1, m + 1):
                    wave = (coef[kx - 1, ky - 1] * np.exp(2j * np.pi * (kx * x + ky * y))).real
                    fi += wave
                    ui += wave / ((2 * np.pi) ** 2 * (kx ** 2 + ky ** 2))
            f.append(fi)
            u.append(ui)
        return {"f": np.stack(f), "u": np.stack(u)}
