"""LRU: the chunked scan (compiled and in PyTorch) and the doubling one equal the step-by-step loop from any state (the chunked one's
gradients too, and its hand-written backward passes gradcheck), the ring init holds, a chunked stream
equals the whole stream, it learns copy-memory, bad settings name themselves, and it trains from the CLI."""

import math

import pytest
import torch
from sequence_models import learns_to_recall_beyond_the_baseline, refused_naming, trains_by_bptt_and_truncated_bptt

import seqmem
from seqmem.cli import main
from seqmem.kernels.lru_scan import chunked_recurrence, lru_scan, lru_scan_chunked, lru_scan_loop
from seqmem.models.lru import LRU, LRULayer


def small_task():
    return seqmem.make_task("copy-memory", blank=5, recall_length=3, test_size=20, validation_size=20)


@pytest.mark.parametrize("length", [1, 7, 64, 1000])
def test_the_doubling_scan_equals_the_loop_from_any_state(length):
    g = torch.Generator().manual_seed(length)
    radius = torch.cat([torch.tensor([0.4, 0.999]), 0.4 + 0.599 * torch.rand(14, generator=g)])  # both ring edges
    lam = torch.polar(radius, 2 * math.pi * torch.rand(16, generator=g))  # (N,)
    b = torch.randn(3, length, 16, dtype=torch.complex64, generator=g)  # (B, L, N)
    h0 = 5 * torch.randn(3, 16, dtype=torch.complex64, generator=g)  # (B, N)
    h, h_loop = lru_scan(lam, b, h0), lru_scan_loop(lam, b, h0)
    assert torch.isfinite(torch.view_as_real(h)).all()
    assert torch.allclose(h, h_loop, rtol=1e-4, atol=1e-4)
    assert torch.allclose(h[:, -1], h_loop[:, -1], rtol=1e-4, atol=1e-4)  # the final state carried on
    assert torch.allclose(lru_scan(lam, b), lru_scan_loop(lam, b), rtol=1e-4, atol=1e-4)  # from zeros


@pytest.mark.parametrize("length, chunk", [(1, 32), (7, 3), (37, 2), (64, 16), (1000, 16)])  # partial chunks;
# (37, 2): the chunk edges in chunks of their own, five levels deep
def test_the_chunked_scan_and_its_gradients_equal_the_loops_from_any_state(length, chunk, form):
    g = torch.Generator().manual_seed(length)
    radius = torch.cat([torch.tensor([0.4, 0.999]), 0.4 + 0.599 * torch.rand(14, generator=g)])
    lam = torch.polar(radius, 2 * math.pi * torch.rand(16, generator=g))
    b = torch.randn(3, length, 16, dtype=torch.complex64, generator=g)
    h0 = 5 * torch.randn(3, 16, dtype=torch.complex64, generator=g)
    weights = torch.randn(3, length, 16, dtype=torch.complex64, generator=g)
    results = []
    for scan in (lru_scan_loop, lambda *a: lru_scan_chunked(*a, chunk=chunk)):
        leaves = [t.clone().requires_grad_() for t in (lam, b, h0)]
        h = scan(*leaves)
        results.append([h, *torch.autograd.grad((h * weights).real.sum(), leaves)])
    for name, ours, loop in zip(["h", "lam", "b", "h0"], *results, strict=True):
        assert torch.allclose(ours, loop, rtol=1e-4, atol=1e-4 * loop.abs().max().item()), name
    from_zeros = lru_scan_chunked(lam, b, chunk=chunk)
    assert torch.allclose(from_zeros, lru_scan_loop(lam, b), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("with_h0", [False, True])
@pytest.mark.parametrize("length, chunk", [(11, 4), (9, 2)])  # not multiples of the chunk; (9, 2) recurses
def test_the_hand_written_backward_passes_gradcheck(with_h0, length, chunk, form):
    g = torch.Generator().manual_seed(length)
    lam = torch.polar(0.5 + 0.45 * torch.rand(3, generator=g, dtype=torch.float64),
                      2 * math.pi * torch.rand(3, generator=g, dtype=torch.float64))
    b = torch.randn(2, length, 3, dtype=torch.complex128, generator=g)
    h0 = torch.randn(2, 3, dtype=torch.complex128, generator=g) if with_h0 else None
    leaves = [t.requires_grad_() for t in (lam, b, h0) if t is not None]
    assert torch.autograd.gradcheck(lambda *a: lru_scan_chunked(*a, chunk=chunk), leaves)
    assert torch.allclose(lru_scan_chunked(lam, b, h0, chunk=chunk), lru_scan_loop(lam, b, h0))


def test_a_stream_carried_across_calls_equals_the_whole_stream(form):
    g = torch.Generator().manual_seed(0)
    lam = torch.polar(0.9 + 0.09 * torch.rand(5, generator=g), 2 * math.pi * torch.rand(5, generator=g))
    log_lam = torch.log(lam)
    u = torch.randn(2, 5, 3, 48, generator=g)  # (2, N, B, L)
    whole = chunked_recurrence((log_lam.real, log_lam.imag), u, None, 16)
    state, parts = None, []
    for piece in u.split([16, 32], dim=-1):
        part = chunked_recurrence((log_lam.real, log_lam.imag), piece.contiguous(), state, 16)
        state = torch.complex(part[0, :, :, -1], part[1, :, :, -1]).T  # (B, N)
        parts.append(part)
    assert torch.allclose(torch.cat(parts, dim=-1), whole, atol=1e-5)


@pytest.mark.parametrize("r_min, r_max, max_phase", [(0.4, 0.99, 6.283), (0.9, 0.999, math.pi / 10), (0.0, 0.5, 1.0)])
def test_the_ring_init(r_min, r_max, max_phase):
    torch.manual_seed(0)
    layer = LRULayer(8, 2000, r_min, r_max, max_phase)
    lam = layer.lam().detach()
    radius, phase = lam.abs(), lam.angle() % (2 * math.pi)
    assert radius.min() >= r_min - 1e-5 and radius.max() <= r_max + 1e-5
    assert radius.min() < r_min + 0.05 and radius.max() > r_max - 0.05  # spread over the whole ring
    assert phase.max() <= max_phase + 1e-4 and phase.max() > 0.9 * max_phase
    gamma = layer.gamma_log.detach().exp()
    assert torch.allclose(gamma, torch.sqrt(1 - radius**2), atol=1e-4)


@pytest.mark.parametrize("length", [5, 50, 77])  # one chunk; chunks of 25; 77 has no divisor near 32: padded
def test_a_layers_chunked_form_and_its_gradients_equal_the_loops(length, form):
    torch.manual_seed(0)
    layer = LRULayer(8, 6, 0.4, 0.99, 6.283)
    x = torch.randn(2, length, 8)
    h0 = torch.randn(2, 6, dtype=torch.complex64)
    weights = torch.randn(2, length, 8), torch.randn(2, 6, dtype=torch.complex64)
    results = []
    for scan in (lru_scan_chunked, lru_scan_loop):
        y, h = layer(x, h0, scan)
        loss = (y * weights[0]).sum() + (h * weights[1]).real.sum()
        results.append([y, h, *torch.autograd.grad(loss, list(layer.parameters()))])
    names = ["y", "h", *(name for name, _ in layer.named_parameters())]
    for name, ours, loop in zip(names, *results, strict=True):
        assert torch.allclose(ours, loop, rtol=1e-4, atol=1e-4), name


def test_it_builds_on_the_meta_device():
    with torch.device("meta"):
        model = LRU(small_task(), d_model=16, layers=2, state_size=8)
    assert all(p.is_meta for p in model.parameters())


def test_a_stream_in_chunks_equals_the_whole_stream():
    task = small_task()
    model = seqmem.make_model("lru", task, d_model=16, layers=3, state_size=8, seed=0).eval()
    x = task.get("test", torch.arange(4)).x
    with torch.no_grad():
        whole, whole_state = model(x)
        loop, _ = seqmem.make_model("lru", task, d_model=16, layers=3, state_size=8, seed=0, scan="loop")(x)
        doubling, _ = seqmem.make_model("lru", task, d_model=16, layers=3, state_size=8, seed=0, scan="parallel")(x)
        parts, state = [], None
        for piece in x.split([5, 1, x.shape[1] - 6], dim=1):  # uneven chunks, one of a single step
            out, state = model(piece, state)
            parts.append(out)
    assert len(state) == 3 and state[0].shape == (4, 8) and state[0].is_complex()
    assert torch.allclose(torch.cat(parts, dim=1), whole, atol=1e-4)
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(state, whole_state, strict=True))
    assert torch.allclose(loop, whole, atol=1e-4) and torch.allclose(doubling, whole, atol=1e-4)


def test_it_learns_to_recall_beyond_the_baseline():
    task = seqmem.make_task("copy-memory", blank=5, recall_length=3, test_size=200, validation_size=200)
    learns_to_recall_beyond_the_baseline("lru", task, {"steps": 400, "lr": 5e-3, "eval_every": 400}, d_model=32,
                                         layers=2, state_size=32)


@pytest.mark.parametrize("params, expected", [
    ({"d_model": 0}, "d_model must be an integer >= 1"),
    ({"layers": 0}, "layers must be an integer >= 1"),
    ({"state_size": -3}, "state_size must be an integer >= 1"),
    ({"dropout": 1.0}, "dropout must be in [0, 1)"),
    ({"r_min": -0.1}, "need 0 <= r_min < r_max < 1"),
    ({"r_min": 0.99}, "need 0 <= r_min < r_max < 1"),
    ({"r_max": 1.0}, "need 0 <= r_min < r_max < 1"),
    ({"r_max": float("nan")}, "r_max"),
    ({"max_phase": 0.0}, "max_phase must be in (0, 2*pi]"),
    ({"max_phase": 7.0}, "max_phase must be in (0, 2*pi]"),
    ({"scan": "fast"}, "scan must be one of chunked, parallel, loop"),
])
def test_bad_parameters_name_themselves(params, expected):
    refused_naming(expected, "lru", small_task(), **params)


def test_it_trains_from_the_command_line_by_bptt_and_truncated_bptt(tmp_path):
    trains_by_bptt_and_truncated_bptt("lru", tmp_path, steps=5)


@pytest.mark.parametrize("flag, value", [("--r-min", "1.5"), ("--r-max", "nan"), ("--max-phase", "-1"),
                                         ("--state-size", "0")])
def test_bad_flags_are_refused_in_one_line(flag, value, tmp_path, capsys):
    args = ["train", "copy-memory", "--model", "lru", "--blank", "5", "--d-model", "8", "--layers", "1", "--steps",
            "1", "--set", "test_size=8", "--set", "validation_size=8", "--quiet", flag, value,
            "--out", str(tmp_path / "run")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("seqmem: error: ") and err.count("\n") == 1
    assert flag in err or flag[2:].replace("-", "_") in err  # named as the flag or as the parameter
