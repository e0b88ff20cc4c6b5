# GenLCA-Ops — the two commands: `make demo` and `make test`. Everything installs itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Caches (Anny body model, Warp kernels) live outside the repo and survive clones.
export GENLCA_CACHE ?= $(HOME)/.cache/genlca
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export HF_HUB_OFFLINE := 1
# DVC: its site cache (else /var/tmp/dvc) and the local remote, both outside the repo.
export DVC_SITE_CACHE_DIR ?= $(GENLCA_CACHE)/dvc-site
GENLCA_DVC_REMOTE ?= $(GENLCA_CACHE)/dvc-remote
PYTEST_ARGS ?=
PORT ?= 3000

.PHONY: setup home test test-slow reliability demo ui bench clean

setup: $(VENV)/.setup-done home

# The Dagster home (run history for `make ui`): made on every run, so `make clean` never breaks the next one.
home:
	@mkdir -p $(DAGSTER_HOME) && cp -n orchestration/dagster.yaml $(DAGSTER_HOME)/dagster.yaml 2>/dev/null || true

# torch==2.13.0 first (the CPU wheel on disk); then the project, whose pins co-resolve with it.
$(VENV)/.setup-done: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e .
	$(BIN)/genlca body build-cache
	$(BIN)/dvc remote add --local --force --default local $(GENLCA_DVC_REMOTE)
	@touch $@

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-slow: setup
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

# Kill-anywhere recovery, hostile input, atomic writes: prints the figures table (benchmarks/results/reliability.json).
reliability: setup
	$(BIN)/python benchmarks/reliability.py

demo: setup
	$(BIN)/python -m orchestration.demo

ui: setup
	$(BIN)/dagster dev -h 127.0.0.1 -p $(PORT) -w workspace.yaml

bench: setup
	$(BIN)/python benchmarks/render.py
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/fitting.py
	$(BIN)/python benchmarks/tokenizer.py
	$(BIN)/python benchmarks/train.py
	$(BIN)/python benchmarks/sampler.py

clean:
	rm -rf data/manifests data/avatars .dagster_home .pytest_cache
