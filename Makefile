# The two commands: `make run` (a first memory profile: four kinds of model on two tasks) and `make test`
# (lint + tests). Each sets up .venv first,
# with the ray extra (the sweep tests run a local Ray for real) and the compare extra (peers the tests
# check against: mambapy's selective scan, fla-core's naive forms of the linear-attention family).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch is pinned here, in the install step only: 2.13.0 is the CPU build this machine has on disk, and an
# unpinned install would pull a CUDA build of several GB. The package itself asks for torch>=2.2.
TORCH := torch==2.13.0

.PHONY: run test bench clean system-deps

# editable_mode=compat installs the checkout as a path entry (.pth): setuptools' default editable finder runs
# after Python's path finder, so a script beside a clone folder named seqmem imported that folder as an
# empty namespace package instead of the package.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check $(TORCH)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev,ray,compare,tensorboard]' --config-settings editable_mode=compat
	touch $@

run: $(BIN)/.installed
	$(BIN)/seqmem bench --suite first --workers 2 --out runs/first --html runs/first/report.html

test: $(BIN)/.installed system-deps
	$(BIN)/ruff check seqmem tests benchmarks
	$(BIN)/pytest

# What the tests need from the system: headless Chromium renders the report's page, and one test reads the
# real Fashion-MNIST files (Debian's dataset-fashion-mnist). Installed where missing
# (as root, from Debian's packages); where it cannot be, the page test skips and says why.
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium (the report page test renders it headless)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "chromium could not be installed: the report page test will skip"; }
	@test -e /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz || { \
	  echo "installing dataset-fashion-mnist (a test reads the real images)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
	  || echo "dataset-fashion-mnist could not be installed: the real-images test will skip"; }

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/copy_tcn.py

clean:
	rm -rf $(VENV) runs
