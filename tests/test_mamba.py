"""Mamba: the chunked scan (compiled and in PyTorch) and the parallel one equal the step-by-step loop and mambapy's scans
(values and every gradient), a whole block equals mambapy's on the same weights, a chunked stream equals
the whole stream, and it learns."""

import functools

import pytest
import torch
from sequence_models import learns_to_recall_beyond_the_baseline, refused_naming, trains_by_bptt_and_truncated_bptt

import seqmem
from seqmem.kernels.selective_scan import linear_scan, selective_scan, selective_scan_chunked, selective_scan_loop
from seqmem.models.mamba import MambaBlock

mambapy = pytest.importorskip("mambapy.mamba", reason="the compare extra (pip install 'seqmem[compare]') has mambapy")


def scan_inputs(length: int, seed: int = 0, batch: int = 3, inner: int = 6, state: int = 4, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, length, inner, generator=g, dtype=dtype)
    delta = torch.nn.functional.softplus(torch.randn(batch, length, inner, generator=g, dtype=dtype))
    A = -torch.rand(inner, state, generator=g, dtype=dtype) * 2
    B = torch.randn(batch, length, state, generator=g, dtype=dtype)
    C = torch.randn(batch, length, state, generator=g, dtype=dtype)
    D = torch.randn(inner, generator=g, dtype=dtype)
    return x, delta, A, B, C, D


def values_and_gradients(scan, inputs, h0=None, seed=1):
    """The scan's outputs and the gradients of a random weighting of them (y and the last state) with
    respect to every input."""
    leaves = [t.detach().clone().requires_grad_() for t in (*inputs, *([] if h0 is None else [h0]))]
    y, h = scan(*leaves[:6], *leaves[6:])
    g = torch.Generator().manual_seed(seed)
    loss = (y * torch.randn(y.shape, generator=g)).sum() + (h * torch.randn(h.shape, generator=g)).sum()
    return [y, h, *torch.autograd.grad(loss, leaves)]


@pytest.mark.parametrize("length, chunk", [(1, 16), (5, 2), (37, 8), (64, 16), (100, 32)])  # a partial last chunk
def test_the_chunked_scan_and_its_gradients_equal_the_loops_from_any_state(length, chunk, form):
    inputs = scan_inputs(length)
    h0 = torch.randn(3, 6, 4, generator=torch.Generator().manual_seed(9))
    ours = values_and_gradients(lambda *a: selective_scan_chunked(*a, chunk=chunk), inputs, h0)
    loop = values_and_gradients(selective_scan_loop, inputs, h0)
    names = ["y", "h", "x", "delta", "A", "B", "C", "D", "h0"]
    for name, a, b in zip(names, ours, loop, strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4), name


def test_the_chunked_scans_backward_passes_gradcheck_in_float64(form):
    x, delta, A, B, C, D = scan_inputs(7, batch=2, inner=3, state=2, dtype=torch.float64)
    h0 = torch.randn(2, 3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    inputs = [t.requires_grad_() for t in (x, delta, A, B, C, D, h0)]
    scan = functools.partial(selective_scan_chunked, chunk=3)
    assert torch.autograd.gradcheck(scan, inputs)
    assert torch.autograd.gradcheck(lambda *a: scan(*a)[0], inputs[:6])  # from zeros


def test_the_compiled_scan_takes_strided_inputs_as_mambas_block_passes_them(form):
    """B and C are slices of one projection, A a transpose: the scan must read them as they are."""
    x, delta, A, B, C, D = scan_inputs(40, inner=8)
    BC = torch.cat([B, C], dim=-1)
    args = (x, delta, A.T.contiguous().T, BC[..., :4], BC[..., 4:], D)
    ours = values_and_gradients(lambda *a: selective_scan_chunked(*a), args)
    loop = values_and_gradients(selective_scan_loop, (x, delta, A, B, C, D))
    for a, b in zip(ours, loop, strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("method", ["selective_scan", "selective_scan_seq"])  # mambapy's pscan and its loop
def test_the_chunked_scan_and_its_gradients_equal_mambapys(method, form):
    inputs = scan_inputs(50, inner=16)
    ours = values_and_gradients(lambda *a: (selective_scan_chunked(*a)[0], torch.zeros(())), inputs)
    scan = getattr(reference_block(), method)  # its output only: it returns no state
    theirs = values_and_gradients(lambda *a: (scan(*a), torch.zeros(())), inputs)
    for name, a, b in zip(["y", "_", "x", "delta", "A", "B", "C", "D"], ours, theirs, strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4), name


@pytest.mark.parametrize("length", [1, 5, 64, 300])
def test_the_parallel_scan_equals_the_loop_from_any_state(length):
    x, delta, A, B, C, D = scan_inputs(length)
    h0 = torch.randn(3, 6, 4, generator=torch.Generator().manual_seed(9))
    y, h = selective_scan(x, delta, A, B, C, D, h0)
    y_loop, h_loop = selective_scan_loop(x, delta, A, B, C, D, h0)
    assert torch.allclose(y, y_loop, atol=1e-5) and torch.allclose(h, h_loop, atol=1e-5)


def test_linear_scan_is_the_recurrence():
    a, b = torch.rand(2, 37, 3), torch.randn(2, 37, 3)
    h, expected = linear_scan(a, b), []
    state = torch.zeros(2, 3)
    for t in range(37):
        state = a[:, t] * state + b[:, t]
        expected.append(state)
    assert torch.allclose(h, torch.stack(expected, 1), atol=1e-5)


def reference_block(d_model=8, state=4, expand=2, conv=4, rank=2):
    config = mambapy.MambaConfig(d_model=d_model, n_layers=1, d_state=state, expand_factor=expand, d_conv=conv,
                                 dt_rank=rank)
    return mambapy.MambaBlock(config)


@pytest.mark.parametrize("length", [16, 64])
def test_the_scan_equals_mambapys_reference_scan(length):
    x, delta, A, B, C, D = scan_inputs(length, inner=16)
    theirs = reference_block().selective_scan(x, delta, A, B, C, D)
    assert torch.allclose(selective_scan(x, delta, A, B, C, D)[0], theirs, atol=1e-4)


@pytest.mark.parametrize("scan", ["chunked", "loop", "parallel"])
def test_a_block_equals_mambapys_block_on_the_same_weights(scan):
    torch.manual_seed(0)
    ours = MambaBlock(8, 4, 2, 4, 2, 1e-3, 0.1, scan)
    theirs = reference_block()
    weights = {k.replace("conv.", "conv1d."): v for k, v in ours.state_dict().items()}
    theirs.load_state_dict(weights)
    u = torch.randn(2, 32, 8)
    with torch.no_grad():
        assert torch.allclose(ours(u)[0], theirs(u), atol=1e-5)


@pytest.mark.parametrize("scan", ["chunked", "loop", "parallel"])
def test_a_stream_in_chunks_equals_the_whole_stream(scan):
    task = seqmem.make_task("copy-memory", blank=20, recall_length=3, test_size=10, validation_size=10)
    model = seqmem.make_model("mamba", task, d_model=16, layers=2, state_size=8, scan=scan, seed=0).eval()
    x = task.get("test", torch.arange(4)).x
    with torch.no_grad():
        whole, _ = model(x)
        parts, state = [], None
        for piece in x.split([7, 1, 18], dim=1):  # uneven chunks, one shorter than the convolution
            out, state = model(piece, state)
            parts.append(out)
    assert torch.allclose(torch.cat(parts, dim=1), whole, atol=1e-5)


def test_it_learns_to_recall_beyond_the_baseline():
    task = seqmem.make_task("copy-memory", blank=5, recall_length=3, convention="symbols", test_size=200,
                            validation_size=200)
    learns_to_recall_beyond_the_baseline("mamba", task, {"steps": 200, "lr": 1e-2, "clip": 1.0, "eval_every": 200},
                                         d_model=32, layers=2, state_size=16)


@pytest.mark.parametrize("params, expected", [
    ({"d_model": 0}, "d_model must be an integer >= 1"),
    ({"dt_min": 0.5, "dt_max": 0.1}, "need 0 < dt_min <= dt_max"),
    ({"conv_size": 0}, "conv_size must be an integer >= 1"),
    ({"dropout": 1.0}, "dropout must be in [0, 1)"),
])
def test_bad_parameters_name_themselves(params, expected):
    refused_naming(expected, "mamba", seqmem.make_task("copy-memory", blank=3, test_size=10, validation_size=10),
                   **params)


def test_it_trains_from_the_command_line_by_bptt_and_truncated_bptt(tmp_path):
    trains_by_bptt_and_truncated_bptt("mamba", tmp_path, steps=4)
