"""Every test on one PyTorch thread: the tests run a worker a core, and two threads each would compete.
`form` runs a test with each form of a scan that has one in C, and the PyTorch one. The key that signs a run's
config.json (seqmem.run.trust) lives in a configuration folder of the tests' own, never the user's."""

import os
import tempfile

import pytest
import torch

os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="seqmem-test-config-")  # subprocesses inherit it


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(params=["compiled", "pytorch"])
def form(request):
    """The test runs with the scans compiled from the package's C (they must build wherever a C compiler
    is found: tests/test_native.py), then with their PyTorch forms."""
    from seqmem.kernels import native

    if request.param == "pytorch":
        with native.switched_off():
            yield request.param
        return
    if native.compiler() is None:
        pytest.skip("no C compiler on this machine: the compiled form cannot be built")
    yield request.param
