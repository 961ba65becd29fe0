"""Root pytest configuration: the names docstring examples may use without importing them."""

import json

import numpy as np
import pytest
import torch

import sciml

# importing the command-line entry module would run the command line
collect_ignore = ["sciml/__main__.py"]


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    doctest_namespace.update({name: getattr(sciml, name) for name in sciml.__all__})
    doctest_namespace.update(json=json, np=np, torch=torch, sciml=sciml)
