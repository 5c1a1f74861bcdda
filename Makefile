# The two commands: `make run` (the quick suite) and `make test` (lint + tests). Each sets up .venv first,
# with the ray extra: the sweep tests run a local Ray for real.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch is pinned here, in the install step only: 2.13.0 is the CPU build this machine has on disk, and an
# unpinned install would pull a CUDA build of several GB. The package itself asks for torch>=2.2.
TORCH := torch==2.13.0

.PHONY: run test bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check $(TORCH)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev,ray]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/seqmem suite quick

test: $(BIN)/.installed
	$(BIN)/ruff check seqmem tests benchmarks
	$(BIN)/pytest

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/copy_tcn.py

clean:
	rm -rf $(VENV) runs
