"""Test configuration: slow tests are opt-in, CUDA tests skip with their reason."""

from __future__ import annotations

import signal
import time

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


def _kill_when(proc, ready, *, timeout: float = 60.0, poll: float = 0.005, what: str = "run"):
    """SIGKILL ``proc`` as soon as ``ready()`` holds; fail the test if it ends before that.

    Always reaps the process and closes its pipes (``stdout``/``stderr`` must be ``PIPE``).
    """
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"the {what} ended before it was killed:\n{proc.stderr.read().decode()[-3000:]}")
            if ready():
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(poll)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    return proc


@pytest.fixture
def kill_when():
    """``kill_when(proc, ready, timeout=..., what=...)``: SIGKILL a subprocess at the moment ``ready()`` holds."""
    return _kill_when
