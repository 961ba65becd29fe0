# Fresh machine: `make test` or `make bench` sets everything up in .venv first.
# torch is pinned to a CPU build so a CPU machine never downloads a multi-GB CUDA wheel;
# GPU users: see "Installing on a GPU machine" in README.md (TORCH_SPEC overrides the pin).

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sciml-installed

.PHONY: setup test test-all lint bench info clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -e ".[test,io,fields]"
	touch $(STAMP)

test: setup
	$(PY) -m pytest -q

test-all: setup
	$(PY) -m pytest -q --run-slow

lint: setup
	$(PY) -m pip install --quiet "ruff>=0.6"
	$(VENV)/bin/ruff check .

bench: setup
	$(VENV)/bin/sciml info
	$(VENV)/bin/sciml bench darcy --quick --models fno --out runs/bench-darcy-quick

info: setup
	$(VENV)/bin/sciml info

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
