"""fla's published naive forms (fla-org/flash-linear-attention's `fla/ops/<module>/naive.py`, shipped in the
fla-core distribution, the compare extra) for the tests to check seqmem's kernels against, read from the
installed files: they need only torch and einops, where importing fla.ops needs triton. A test that asks for
one skips, saying why, where fla-core is not installed."""

import importlib.util
from pathlib import Path

import pytest


def fla_naive(module: str):
    """fla's `fla/ops/<module>/naive.py` (fla-org/flash-linear-attention; the fla-core distribution), read from
    the installed file: it needs only torch and einops, where importing fla.ops needs triton."""
    spec = importlib.util.find_spec("fla")
    places = (spec.submodule_search_locations or []) if spec is not None else []
    found = [Path(p) / "ops" / module / "naive.py" for p in places if (Path(p) / "ops" / module / "naive.py").is_file()]
    if not found:
        pytest.skip("fla's naive forms are not installed (pip install fla-core)")
    pytest.importorskip("einops", reason="fla's naive forms use einops")
    loaded = importlib.util.spec_from_file_location(f"fla_naive_{module}", found[0])
    naive = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(naive)
    return naive
