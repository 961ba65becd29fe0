"""The examples in the operators' docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest
import torch

import sciml
import sciml.operators as operators

MODULES = ["config", "layers", "embedding", "padding", "spectral", "factorization", "blocks", "fno",
           "joint_tucker", "multigrid", "mg_tfno"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"sciml.operators.{name}")
    namespace = {"torch": torch, "sciml": sciml, **{k: getattr(operators, k) for k in operators.__all__}}
    torch.manual_seed(0)
    result = doctest.testmod(module, extraglobs=namespace, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples of {name} failed"
