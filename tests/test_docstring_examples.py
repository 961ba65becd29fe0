"""The examples in the docstrings of the sub-packages run and give what they show.

pytest's ``--doctest-modules`` covers ``sciml/`` (the core); the sub-packages live in
folders installed under other names (``operators/`` is ``sciml.operators``), so their
modules are imported here by their installed names and run with :mod:`doctest`.
"""

from __future__ import annotations

import doctest
import importlib
import json
import pkgutil

import numpy as np
import pytest
import torch

import sciml

PACKAGES = ("sciml.kernels", "sciml.operators", "sciml.fields", "sciml.datasets")


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        module = importlib.import_module(package)
        names.append(package)
        names += [info.name for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}.")]
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    module = importlib.import_module(name)
    globs = {n: getattr(sciml, n) for n in sciml.__all__}
    globs.update(json=json, np=np, torch=torch, sciml=sciml)
    result = doctest.testmod(module, extraglobs=globs, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
