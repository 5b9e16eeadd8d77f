# Two commands set everything up on a fresh machine with only Python: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench clean lint typecheck docs wheel check oldest-torch

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	# torch pinned here (a CPU wheel is available offline); the package itself only declares a lower bound.
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[dev,ray]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tinycim quickstart --out runs/quickstart

test: $(STAMP)
	$(PY) -m pytest

# Quality gates (run by .ci/run before the tests). Rule sets and the type-checked modules are in
# pyproject.toml; every Python file is kept in `ruff format` style.
LINTED := src tests benchmarks scripts

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(PY) scripts/check_type_ignores.py src

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# The documentation site, offline, warnings as errors: build/site/index.html.
docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict --quiet

# sdist + wheel into dist/, installed into a fresh venv and run from there (scripts/check_wheel.sh).
wheel: $(STAMP)
	bash scripts/check_wheel.sh $(PY)

# Release check (not in .ci/run: about 5 GB of CUDA wheels): the tests against the oldest torch that
# pyproject.toml declares, in a scratch venv (scripts/check_oldest_torch.sh).
oldest-torch:
	bash scripts/check_oldest_torch.sh $(PYTHON)

check: lint typecheck docs wheel test

clean:
	rm -rf $(VENV) runs .pytest_cache build dist
