"""Test configuration: slow tests are opt-in, CUDA tests skip with their reason."""

from __future__ import annotations

import numpy as np
import pytest
import torch


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    skip_slow = pytest.mark.skip(reason="slow test: run with --run-slow")
    skip_cuda = pytest.mark.skip(reason="needs a CUDA device; torch.cuda.is_available() is False here")
    has_cuda = torch.cuda.is_available()
    for item in items:
        if "slow" in item.keywords and not config.getoption("--run-slow"):
            item.add_marker(skip_slow)
        if "cuda" in item.keywords and not has_cuda:
            item.add_marker(skip_cuda)


@pytest.fixture(autouse=True)
def _strict_numpy():
    """NumPy overflow, invalid and divide errors raise instead of giving silent NaN/inf.

    Underflow to zero is benign and stays quiet.
    """
    with np.errstate(all="raise", under="ignore"):
        yield


@pytest.fixture
def devices():
    """Devices available here: the CPU, plus CUDA when present."""
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture
def one_thread():
    """Run torch with one thread, like subprocesses started with OMP_NUM_THREADS=1."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
