"""Errors of the data pipeline that say *where*: which file, variable and sample.

Every reader and the generation pipeline raise these (subclasses of
``ValueError``, so ``except ValueError`` and the ``sciml`` command line's error
handling catch them) instead of letting a NaN, a wrong shape or a truncated
file travel into training.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["DataFileError", "SampleError", "check_finite_samples", "first_bad_sample"]


class DataFileError(ValueError):
    """A data file that cannot be used, located as precisely as known.

    Parameters
    ----------
    path : path-like
        The file (or zarr directory).
    message : str
        What is wrong: expected and actual.
    variable : str, optional
        The variable (HDF5 dataset, netCDF/zarr variable, ``.pt`` key).
    index : int, optional
        The sample index along the file's sample dimension.

    Examples
    --------
    >>> str(DataFileError("a.h5", "expected finite values", variable="u", index=3))
    "a.h5: variable 'u', sample 3: expected finite values"
    """

    def __init__(self, path, message: str, variable: str | None = None, index: int | None = None):
        self.path = os.fspath(path)
        self.variable = variable
        self.index = index
        where = [f"variable {variable!r}"] if variable is not None else []
        if index is not None:
            where.append(f"sample {index}")
        prefix = f"{self.path}: " + (", ".join(where) + ": " if where else "")
        self.message = message
        super().__init__(prefix + message)

    def __reduce__(self):  # keep the fields through pickling (worker processes)
        return type(self), (self.path, self.message, self.variable, self.index)


class SampleError(ValueError):
    """A generated sample that is not finite or blew up; nothing of its chunk was written.

    Attributes ``index`` (global sample index), ``seed`` (its per-sample seed),
    ``variable`` and ``params`` (the problem's config) make it reproducible:
    ``problem.solve_batch(np.array([seed]))`` gives the same sample again.
    """

    def __init__(self, index: int, seed: int, variable: str, params: dict, detail: str):
        self.index, self.seed, self.variable, self.params, self.detail = index, seed, variable, params, detail
        super().__init__(f"sample {index} (seed {seed}), variable {variable!r}: {detail}; "
                         f"problem parameters {params}")

    def __reduce__(self):  # keep the fields through pickling (worker processes)
        return type(self), (self.index, self.seed, self.variable, self.params, self.detail)


def first_bad_sample(values: np.ndarray, max_abs: float | np.ndarray = np.inf) -> tuple[int, str] | None:
    """Index of the first sample (axis 0) holding NaN, inf or ``|value| > max_abs``, and why.

    ``max_abs`` is one bound, or one per sample (shape ``[len(values)]``).

    Examples
    --------
    >>> first_bad_sample(np.array([[0.0, 1.0], [np.nan, 2.0]]))
    (1, '1 NaN and 0 infinite values')
    """
    flat = np.asarray(values).reshape(len(values), -1)
    finite = np.isfinite(flat)
    bound = np.asarray(max_abs, dtype=float)
    bound = bound.reshape(-1, 1) if bound.ndim else bound
    with np.errstate(invalid="ignore"):
        ok = finite.all(axis=1) & (np.abs(np.where(finite, flat, 0.0)) <= bound).all(axis=1)
    if ok.all():
        return None
    i = int(np.argmin(ok))
    row = flat[i]
    n_nan, n_inf = int(np.isnan(row).sum()), int(np.isinf(row).sum())
    if n_nan or n_inf:
        return i, f"{n_nan} NaN and {n_inf} infinite values"
    limit = float(bound.reshape(-1)[i] if bound.ndim else bound)
    return i, f"max |value| {float(np.abs(row).max()):.3g} exceeds the blow-up bound {limit:g}"


def check_finite_samples(values: np.ndarray, path, variable: str, offset: int = 0) -> None:
    """Raise :class:`DataFileError` naming the first non-finite sample of ``values`` (axis 0).

    ``offset`` is added to the index, for blocks read from the middle of a file.
    """
    bad = first_bad_sample(values)
    if bad is not None:
        raise DataFileError(path, f"expected finite values, found {bad[1]}", variable, offset + bad[0])
