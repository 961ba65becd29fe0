"""PDE data -- imported as ``sciml.datasets``.

Solvers (``PDEProblem`` subclasses, registered by name), generation of benchmark datasets
(:func:`generate`: parallel, reproducible, resumable, into zarr or netCDF), cached train/test
splits (:func:`load`), lazy streaming of stores larger than memory
(:class:`LazyOperatorDataset`) and readers of community formats (:mod:`sciml.datasets.readers`:
neuraloperator ``.pt``, PDEBench and The Well HDF5, any netCDF/zarr/HDF5 through a mapping).

Examples
--------
>>> from sciml.datasets import load
>>> data = load("darcy", resolution=64, n_train=1000, n_test=200)
>>> a, u = data.train.collate([data.train[0], data.train[1]])
"""

from . import burgers, darcy, grf, navier_stokes, poisson, readers
from .burgers import BurgersConfig, BurgersProblem, solve_burgers
from .darcy import DarcyConfig, DarcyProblem, solve_darcy
from .errors import DataFileError, SampleError
from .generate import generate, sample_seeds, solve_samples
from .grf import GaussianRandomField, lognormal, threshold
from .lazy import LazyOperatorDataset, StoreLayout
from .load import DatasetSplits, cache_dir, cached_store, from_store, load, split_seed
from .navier_stokes import (
                            NavierStokesConfig,
                            NavierStokesProblem,
                            fno_forcing,
                            solve_navier_stokes,
                            velocity_from_vorticity,
)
from .pairs import Pairing, SpatialMap
from .poisson import HelmholtzConfig, HelmholtzProblem, PoissonConfig, PoissonProblem, solve_poisson
from .problem import PDEProblem, get_problem, register_problem, registered_problems
from .readers import read, read_splits
from .store import open_dataset, write_dataset

__all__ = [
    "BurgersConfig",
    "BurgersProblem",
    "DarcyConfig",
    "DarcyProblem",
    "DataFileError",
    "DatasetSplits",
    "GaussianRandomField",
    "HelmholtzConfig",
    "HelmholtzProblem",
    "LazyOperatorDataset",
    "NavierStokesConfig",
    "NavierStokesProblem",
    "PDEProblem",
    "Pairing",
    "PoissonConfig",
    "PoissonProblem",
    "SampleError",
    "SpatialMap",
    "StoreLayout",
    "burgers",
    "cache_dir",
    "cached_store",
    "darcy",
    "fno_forcing",
    "from_store",
    "generate",
    "get_problem",
    "grf",
    "load",
    "lognormal",
    "navier_stokes",
    "open_dataset",
    "poisson",
    "read",
    "read_splits",
    "readers",
    "register_problem",
    "registered_problems",
    "sample_seeds",
    "solve_burgers",
    "solve_darcy",
    "solve_navier_stokes",
    "solve_poisson",
    "solve_samples",
    "split_seed",
    "threshold",
    "velocity_from_vorticity",
    "write_dataset",
]
