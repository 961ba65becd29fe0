"""FunBaT against a discrete Tucker + interpolation baseline on continuous-indexed synthetic data.

Ground truth: a rank-(2, 2) Tucker function on [0, 1]^2 with smooth factor
functions, ``f(x1, x2) = sum_ab W_ab phi_a(x1) psi_b(x2)`` (:func:`truth`).

Two settings, each over several seeds:

* ``grid``: per mode ``--size`` continuous indices drawn uniformly in [0, 1]
  (sorted, not equispaced); a fraction ``--observed`` of the entries of that
  size x size tensor is observed with Gaussian noise (std ``--noise`` times
  the RMS of f). Tested on (a) the held-out entries of the same tensor and
  (b) ``--test`` entries at new continuous indices (off the grid).
* ``scattered``: ``--points`` observations at random continuous coordinates
  (every index value distinct, so a discrete tensor of the observed indices
  has one entry per row); tested at new random coordinates.

Baseline: a discrete Tucker decomposition of the same rank on the tensor of
the observed distinct indices (for scattered data: of a bins x bins grid of
cell centres), either tensorly's masked Tucker (:func:`tucker_em`: HOOI with
EM imputation of the missing entries) or ridge-regularised ALS on the
observed entries (:func:`tucker_als`), then linear interpolation of the
factor matrices to the test indices (constant beyond the outermost ones).
Per seed the baseline reports its best variant (method, ridge in
``1e-3 .. 1``, bin count among ``--bins``) *on the test set* -- an oracle
choice in its favour. FunBaT uses the same rank, Matérn 3/2 priors
and starts from ``--lengthscale``, which it then fits by marginal likelihood
(the default); the column "fixed lengthscale" keeps it at ``--lengthscale``.

Reported per setting: median RMSE against the noiseless f, the ratio
baseline/FunBaT, the coverage of FunBaT's 95% predictive intervals for new
noisy entries (mean +- 1.96 sqrt(var + noise var)), the noise estimate and
the run times.

Example::

    python benchmarks/funbat.py --seeds 5
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import tensorly
import torch
from tensorly.decomposition import tucker

from sciml.fields.funbat import fit_funbat

CORE = np.array([[1.0, 0.6], [-0.4, 0.8]])


def truth(x: np.ndarray) -> np.ndarray:
    """The rank-(2, 2) ground truth at coordinates ``x`` ``[n, 2]``."""
    phi = np.stack([np.sin(2 * np.pi * x[:, 0]), np.cos(3 * x[:, 0]) * (1 - x[:, 0])], 1)
    psi = np.stack([np.exp(-2 * x[:, 1]), np.sin(5 * x[:, 1] + 0.5)], 1)
    return np.einsum("ab,na,nb->n", CORE, phi, psi)


def grid_problem(seed: int, size: int = 60, observed: float = 0.2, noise: float = 0.1, test: int = 2000):
    """Observed entries of a size x size tensor at random continuous indices, plus test sets."""
    rng = np.random.default_rng(seed)
    axes = [np.sort(rng.uniform(0, 1, size)) for _ in range(2)]
    mesh = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)
    f = truth(mesh)
    sigma = noise * float(np.sqrt(np.mean(f ** 2)))
    mask = rng.uniform(size=f.size) < observed
    y = f + sigma * rng.standard_normal(f.size)
    new = rng.uniform(0, 1, (test, 2))
    new = np.clip(new, [axes[0][0], axes[1][0]], [axes[0][-1], axes[1][-1]])  # inside the fitted box
    return {
        "axes": axes, "train_x": mesh[mask], "train_y": y[mask], "sigma": sigma,
        "heldout_x": mesh[~mask], "heldout_y": y[~mask],
        "new_x": new, "new_y": truth(new) + sigma * rng.standard_normal(test),
    }


def scattered_problem(seed: int, points: int = 800, noise: float = 0.1, test: int = 2000):
    """Observations at random continuous coordinates, plus new random test coordinates."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (points, 2))
    f = truth(x)
    sigma = noise * float(np.sqrt(np.mean(f ** 2)))
    new = np.clip(rng.uniform(0, 1, (test, 2)), x.min(0), x.max(0))
    return {
        "train_x": x, "train_y": f + sigma * rng.standard_normal(points), "sigma": sigma,
        "new_x": new, "new_y": truth(new) + sigma * rng.standard_normal(test),
    }


def discrete_indices(train_x, bins: int | None = None):
    """Per-mode discrete index of every observation and the index values (axes) of the discrete tensor.

    With ``bins=None`` the indices are the distinct observed values per mode;
    otherwise each mode is cut into ``bins`` equal cells indexed by their centres.
    """
    modes = train_x.shape[1]
    if bins is None:
        axes, index = zip(*(np.unique(train_x[:, k], return_inverse=True) for k in range(modes)))
        return tuple(axes), tuple(i.reshape(-1) for i in index)
    lower, upper = train_x.min(0), train_x.max(0)
    index = tuple(np.minimum(((train_x[:, k] - lower[k]) / (upper[k] - lower[k]) * bins).astype(int), bins - 1)
                  for k in range(modes))
    axes = tuple(lower[k] + (np.arange(bins) + 0.5) / bins * (upper[k] - lower[k]) for k in range(modes))
    return axes, index


def tucker_em(train_x, train_y, rank, bins: int | None = None, n_iter_max: int = 500):
    """tensorly's masked Tucker (HOOI, EM imputation of missing entries) on cell averages; ``(core, factors, axes)``."""
    axes, index = discrete_indices(train_x, bins)
    shape = tuple(a.size for a in axes)
    total, count = np.zeros(shape), np.zeros(shape)
    np.add.at(total, index, train_y)
    np.add.at(count, index, 1.0)
    mask = count > 0
    tensor = np.where(mask, total / np.maximum(count, 1.0), 0.0)
    with tensorly.backend_context("numpy"):
        core, factors = tucker(tensor, rank=list(rank), mask=mask.astype(float), n_iter_max=n_iter_max, tol=1e-9,
                               init="svd")
    return np.asarray(core), [np.asarray(f) for f in factors], axes


def tucker_als(train_x, train_y, rank, ridge: float, bins: int | None = None, sweeps: int = 100, seed: int = 0):
    """Tucker by ridge-regularised alternating least squares on the observed entries; ``(core, factors, axes)``.

    Each factor row solves ``(sum_n a_n a_n^T + ridge I) u = sum_n y_n a_n`` over
    its observations (``a_n`` = core times the other modes' rows), then the core
    ``(sum_n b_n b_n^T + ridge I) w = sum_n y_n b_n`` with ``b_n`` the Kronecker
    product of the rows: FunBaT's updates without the GP priors.
    """
    axes, index = discrete_indices(train_x, bins)
    modes, rng = len(axes), np.random.default_rng(seed)
    factors = [rng.standard_normal((a.size, r)) for a, r in zip(axes, rank)]
    core = rng.standard_normal(rank)
    for _ in range(sweeps):
        for k in range(modes):
            rows = [factors[j][index[j]] for j in range(modes)]
            a = _contract(core, rows, skip=k)
            gram = np.zeros((axes[k].size, rank[k], rank[k]))
            np.add.at(gram, index[k], a[:, :, None] * a[:, None, :])
            rhs = np.zeros((axes[k].size, rank[k]))
            np.add.at(rhs, index[k], train_y[:, None] * a)
            factors[k] = np.linalg.solve(gram + ridge * np.eye(rank[k]), rhs[..., None])[..., 0]
        rows = [factors[j][index[j]] for j in range(modes)]
        b = rows[0]
        for row in rows[1:]:
            b = (b[:, :, None] * row[:, None, :]).reshape(b.shape[0], -1)
        core = np.linalg.solve(b.T @ b + ridge * np.eye(b.shape[1]), b.T @ train_y).reshape(rank)
    return core, factors, axes


def interpolated(core, factors, axes):
    """Predictor ``x [m, K] -> [m]``: factor rows interpolated linearly between the tensor's index values."""

    def predict(x):
        rows = [np.stack([np.interp(x[:, k], axes[k], f[:, j]) for j in range(f.shape[1])], 1)
                for k, f in enumerate(factors)]
        return _contract(core, rows)

    return predict


def _contract(core, rows, skip=None):
    """``core`` contracted with ``rows[j]`` ``[n, r_j]`` on every mode but ``skip``."""
    out = np.broadcast_to(core, (rows[0].shape[0],) + core.shape)
    for j in reversed(range(len(rows))):
        if j != skip:
            out = np.einsum("n...a,na->n...", np.moveaxis(out, j + 1, -1), rows[j])
    return out


def rmse(a, b) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def run_funbat(problem, rank, lengthscale, iters, fit_lengthscale=True):
    start = time.perf_counter()
    x = torch.tensor(problem["train_x"])
    field, metrics = fit_funbat((x, torch.tensor(problem["train_y"])), rank=rank, lengthscale=lengthscale,
                                iters=iters, bounds=((0.0, 1.0), (0.0, 1.0)), fit_lengthscale=fit_lengthscale,
                                progress=False)
    seconds = time.perf_counter() - start
    out = {"seconds": seconds, "noise_std": metrics["noise_std"], "true_noise_std": problem["sigma"],
           "iterations": metrics["iterations"]}
    for name in ("heldout", "new"):
        if f"{name}_x" not in problem:
            continue
        mean, var = field.predict(torch.tensor(problem[f"{name}_x"]), include_noise=True)
        mean, std = mean[:, 0].numpy(), var[:, 0].sqrt().numpy()
        out[f"{name}_rmse"] = rmse(mean, truth(problem[f"{name}_x"]))
        out[f"{name}_coverage"] = float(np.mean(np.abs(problem[f"{name}_y"] - mean) <= 1.959964 * std))
    return out


def run_baseline(problem, rank, bins_choices, ridges=(1e-3, 1e-2, 1e-1, 1.0)):
    """Best (on the new-index test set: an oracle choice in the baseline's favour) of EM-HOOI and ridge ALS."""
    start = time.perf_counter()
    best = None
    for bins in bins_choices:
        fits = [("em", tucker_em(problem["train_x"], problem["train_y"], rank, bins))]
        fits += [(f"als{ridge:g}", tucker_als(problem["train_x"], problem["train_y"], rank, ridge, bins))
                 for ridge in ridges]
        for method, fit in fits:
            predict = interpolated(*fit)
            scores = {f"{name}_rmse": rmse(predict(problem[f"{name}_x"]), truth(problem[f"{name}_x"]))
                      for name in ("heldout", "new") if f"{name}_x" in problem}
            if best is None or scores["new_rmse"] < best["new_rmse"]:
                best = dict(scores, bins=bins, method=method)
    best["seconds"] = time.perf_counter() - start
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--size", type=int, default=60)
    parser.add_argument("--observed", type=float, default=0.2)
    parser.add_argument("--points", type=int, default=800)
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--rank", type=int, default=2)
    parser.add_argument("--lengthscale", type=float, default=0.15)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--bins", type=int, nargs="+", default=[8, 12, 16, 24, 32, 48])
    parser.add_argument("--json", default=None, help="also write the per-seed results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rank = (args.rank, args.rank)
    results = {"grid": [], "scattered": []}
    for seed in range(args.seeds):
        for setting, problem, bins in (("grid", grid_problem(seed, args.size, args.observed, args.noise), [None]),
                                   ("scattered", scattered_problem(seed, args.points, args.noise), args.bins)):
            results[setting].append({
                "funbat": run_funbat(problem, rank, args.lengthscale, args.iters),
                "funbat_fixed": run_funbat(problem, rank, args.lengthscale, args.iters, fit_lengthscale=False),
                "baseline": run_baseline(problem, rank, bins),
            })
        print(f"seed {seed}: " + json.dumps({k: v[-1] for k, v in results.items()}, default=float), flush=True)
    print(f"\nmachine: {platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread, "
          f"{args.seeds} seeds, rank {rank}, Matérn 3/2, lengthscale {args.lengthscale}, noise {args.noise} x RMS")
    print("| setting | test set | FunBaT RMSE | FunBaT, fixed lengthscale | baseline RMSE | baseline / FunBaT "
          "| FunBaT 95% coverage | FunBaT s | baseline s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    med = statistics.median
    for setting, rows in results.items():
        for name in ("heldout", "new"):
            key = f"{name}_rmse"
            if key not in rows[0]["funbat"]:
                continue
            ours = med(r["funbat"][key] for r in rows)
            base = med(r["baseline"][key] for r in rows)
            ratio = med(r["baseline"][key] / r["funbat"][key] for r in rows)
            cover = med(r["funbat"][f"{name}_coverage"] for r in rows)
            fixed = med(r["funbat_fixed"][key] for r in rows)
            print(f"| {setting} | {name} | {ours:.4f} | {fixed:.4f} | {base:.4f} | {ratio:.2f} | {cover:.3f} | "
                  f"{med(r['funbat']['seconds'] for r in rows):.1f} | "
                  f"{med(r['baseline']['seconds'] for r in rows):.1f} |")
    sigmas = [r["funbat"]["noise_std"] for r in results["grid"]]
    truths = [r["funbat"]["true_noise_std"] for r in results["grid"]]
    print(f"\nnoise std (grid setting): estimate median {med(sigmas):.4f}, true median {med(truths):.4f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1, default=float)


if __name__ == "__main__":
    main()
