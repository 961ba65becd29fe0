"""The examples in the kernel docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
import torch

MODULES = ["fft", "dft", "dct", "dispatch", "mixing", "factorized", "spectral_conv"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"sciml.kernels.{name}")
    result = doctest.testmod(module, extraglobs={"torch": torch, "np": np}, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
