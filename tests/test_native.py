"""The package's C, compiled once per machine: cached by source, compiler and flags, loaded without touching
the process's floating-point mode, and where it can't be built the PyTorch form runs, said once."""

import subprocess
import sys

import pytest
import torch

from seqmem.kernels import lru_scan as lru
from seqmem.kernels import native
from seqmem.kernels import selective_scan as mamba_scan
from seqmem.kernels.selective_scan import SOURCE, selective_scan_chunked

pytestmark = pytest.mark.skipif(native.compiler() is None, reason="no C compiler on this machine")


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(native.DISABLE, raising=False)
    native.load.cache_clear()
    yield tmp_path / "seqmem" / "native"
    native.load.cache_clear()


@pytest.mark.parametrize("source, function", [(mamba_scan.SOURCE, "scan_forward"), (mamba_scan.SOURCE, "scan_backward"),
                                              (lru.SOURCE, "linear_recurrence")])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_c_file_builds_for_both_types(source, function, dtype):
    assert native.kernel(source, function, torch.zeros(1, dtype=dtype)) is not None
    assert native.kernel(source, function, torch.zeros(1, dtype=torch.bfloat16)) is None  # PyTorch's form then


def test_a_build_is_cached_and_reused_not_rebuilt(fresh_cache):
    assert native.load(SOURCE, "float32") is not None
    [built] = fresh_cache.glob("*.so")
    stamp = built.stat().st_mtime_ns
    assert native.build(SOURCE, "float32", native.compiler()) == built
    assert built.stat().st_mtime_ns == stamp
    assert native.load(SOURCE, "float64") is not None and len(list(fresh_cache.glob("*.so"))) == 2


@pytest.mark.parametrize("size", [3000, 0])
def test_a_damaged_cached_library_is_detected_and_built_again(fresh_cache, size):
    """Truncated to 3000 bytes, a library loads and then kills the process with SIGBUS when called: its
    hash, recorded when it was built, is checked before every load."""
    first = native.build(lru.SOURCE, "float32", native.compiler())
    whole = first.read_bytes()
    with open(first, "r+b") as f:
        f.truncate(size)
    native.load.cache_clear()
    assert not native.intact(first)
    assert native.kernel(lru.SOURCE, "linear_recurrence", torch.zeros(1)) is not None
    assert first.read_bytes() == whole and native.intact(first)


def test_loading_it_leaves_the_processs_denormal_mode_alone():
    """Linked with -ffast-math, a library would turn on flush-to-zero for the whole process when loaded."""
    code = ("import torch; from seqmem.run.denormals import flushing; "
            "from seqmem.kernels.native import kernel; from seqmem.kernels.selective_scan import SOURCE; "
            "assert not flushing(); assert kernel(SOURCE, 'scan_forward', torch.zeros(1)); print(flushing())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_without_a_compiler_the_pytorch_form_runs_and_says_so_once(fresh_cache, monkeypatch):
    monkeypatch.setattr(native, "compiler", lambda: None)
    x, delta, B, C = torch.randn(2, 9, 3), torch.rand(2, 9, 3), torch.randn(2, 9, 2), torch.randn(2, 9, 2)
    A, D = -torch.rand(3, 2), torch.randn(3)
    with pytest.warns(RuntimeWarning, match="no C compiler found .*set CC"):
        y, h = selective_scan_chunked(x, delta, A, B, C, D)
    with torch.no_grad(), native.switched_off():
        expected = selective_scan_chunked(x, delta, A, B, C, D)
    assert torch.equal(y, expected[0]) and torch.equal(h, expected[1])
    assert native.load(SOURCE, "float32") is None  # remembered: no second attempt, no second warning
    assert not fresh_cache.exists()


def test_a_compiler_that_fails_is_reported_with_its_message(fresh_cache, monkeypatch, tmp_path):
    broken = tmp_path / "cc"
    broken.write_text("#!/bin/sh\necho 'cc: fatal error: out of paper' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setattr(native, "compiler", lambda: str(broken))
    with pytest.warns(RuntimeWarning, match="could not be built.*out of paper"):
        assert native.load(SOURCE, "float32") is None
    assert list(fresh_cache.iterdir()) == []  # nothing half-written left behind


def test_it_can_be_switched_off(fresh_cache, monkeypatch):
    with native.switched_off():
        assert native.kernel(SOURCE, "scan_forward", torch.zeros(1)) is None
    monkeypatch.setenv(native.DISABLE, "1")
    assert native.kernel(SOURCE, "scan_forward", torch.zeros(1)) is None
    assert not fresh_cache.exists()  # nothing built
    monkeypatch.setenv(native.DISABLE, "0")
    assert native.kernel(SOURCE, "scan_forward", torch.zeros(1)) is not None


def test_a_backward_runs_the_form_its_forward_chose():
    """Switching the C off between a forward and its backward must not leave the backward without its kernel."""
    x, delta, B, C = (torch.randn(2, 40, 3, requires_grad=True), torch.rand(2, 40, 3, requires_grad=True),
                      torch.randn(2, 40, 2, requires_grad=True), torch.randn(2, 40, 2, requires_grad=True))
    A, D = (-torch.rand(3, 2)).requires_grad_(), torch.randn(3, requires_grad=True)
    y, _ = selective_scan_chunked(x, delta, A, B, C, D)
    with native.switched_off():
        y.sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(A.grad).all()
