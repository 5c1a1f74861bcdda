"""S4D: the FFT convolution equals the step-by-step recurrence from any state (its gradients too; its hand-written
backward passes gradcheck), a chunked stream equals the whole stream, the model builds on the meta device, bad settings are refused by name, and it learns."""

import pytest
import torch
from sequence_models import learns_to_recall_beyond_the_baseline, refused_naming, trains_by_bptt_and_truncated_bptt

import seqmem
from seqmem.kernels.fft_conv import CausalConvolution
from seqmem.models.s4d import S4D, S4DLayer


def small_task(**params):
    return seqmem.make_task("copy-memory", **{"blank": 5, "recall_length": 3, "test_size": 10,
                                              "validation_size": 10, **params})


@pytest.mark.parametrize("dtype, atol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
@pytest.mark.parametrize("length", [1, 7, 100])
def test_the_convolution_equals_the_recurrence_from_a_nonzero_state(dtype, atol, length):
    torch.manual_seed(0)
    layer = S4DLayer(d_model=6, state_size=16, dt_min=1e-3, dt_max=1e-1).to(dtype)
    u = torch.randn(3, length, 6, dtype=dtype)
    start = torch.randn(3, 6, 8, dtype=torch.complex128 if dtype == torch.float64 else torch.complex64)
    with torch.no_grad():
        y, end = layer(u, start)
        outputs, state = [], start
        for t in range(length):
            out, state = layer.step(u[:, t], state)
            outputs.append(out)
    assert y.shape == (3, length, 6) and end.shape == (3, 6, 8) and end.is_complex()
    assert torch.allclose(y, torch.stack(outputs, dim=1), atol=atol)
    assert torch.allclose(end, state, atol=atol)


def test_the_convolutions_gradients_equal_the_recurrences():
    torch.manual_seed(0)
    layer = S4DLayer(d_model=4, state_size=8, dt_min=1e-2, dt_max=1e-1).double()
    u = torch.randn(2, 30, 4, dtype=torch.float64)
    start = torch.randn(2, 4, 4, dtype=torch.complex128)
    weights = torch.randn(2, 30, 4, dtype=torch.float64), torch.randn(2, 4, 4, dtype=torch.complex128)
    grads = []
    for run in (layer, layer.loop):
        y, end = run(u, start)
        loss = (y * weights[0]).sum() + (end * weights[1]).real.sum()
        grads.append(torch.autograd.grad(loss, list(layer.parameters())))
    for (name, _), ours, loop in zip(layer.named_parameters(), *grads, strict=True):
        assert torch.allclose(ours, loop, atol=1e-8), name



@pytest.mark.parametrize("length", [1, 9])
def test_the_convolutions_hand_written_backward_passes_gradcheck(length):
    g = torch.Generator().manual_seed(length)
    u = torch.randn(2, 3, length, dtype=torch.float64, generator=g, requires_grad=True)
    K = torch.randn(3, length, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(CausalConvolution.apply, (u, K))
    direct = torch.stack([(K[:, : t + 1].flip(-1) * u[..., : t + 1]).sum(-1) for t in range(length)], dim=-1)
    assert torch.allclose(CausalConvolution.apply(u, K), direct)  # y_t = sum_(s <= t) K_(t-s) u_s

def test_no_state_is_a_zero_state():
    torch.manual_seed(0)
    layer = S4DLayer(4, 8, 1e-3, 1e-1)
    u = torch.randn(2, 9, 4)
    with torch.no_grad():
        y, end = layer(u)
        y0, end0 = layer(u, torch.zeros(2, 4, 4, dtype=torch.complex64))
    assert torch.allclose(y, y0, atol=1e-6) and torch.allclose(end, end0, atol=1e-6)


def test_a_stream_in_three_chunks_equals_the_whole_stream():
    task = small_task(blank=20)
    model = seqmem.make_model("s4d", task, d_model=16, layers=2, state_size=8, seed=0).eval()
    x = task.get("test", torch.arange(4)).x
    with torch.no_grad():
        whole, whole_state = model(x)
        parts, state = [], None
        for piece in x.split([7, 1, x.shape[1] - 8], dim=1):  # uneven chunks, one a single step
            out, state = model(piece, state)
            parts.append(out)
        loop, loop_state = seqmem.make_model("s4d", task, d_model=16, layers=2, state_size=8, seed=0,
                                             scan="loop").eval()(x)
    assert len(state) == 2
    assert torch.allclose(torch.cat(parts, dim=1), whole, atol=1e-4)
    assert torch.allclose(loop, whole, atol=1e-4)
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(loop_state, whole_state, strict=True))
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(state, whole_state, strict=True))


def test_it_builds_on_the_meta_device_with_the_same_parameter_count():
    task = small_task()
    with torch.device("meta"):
        meta = S4D(task, d_model=8, layers=2, state_size=4)
    real = S4D(task, d_model=8, layers=2, state_size=4)
    assert seqmem.models.count_parameters(meta) == seqmem.models.count_parameters(real)


def test_it_learns_to_recall_beyond_the_baseline():
    task = seqmem.make_task("copy-memory", blank=5, recall_length=3, test_size=200, validation_size=200)
    learns_to_recall_beyond_the_baseline("s4d", task, {"steps": 500, "lr": 1e-2, "eval_every": 500}, d_model=32,
                                         layers=2, state_size=16)


@pytest.mark.parametrize("params, expected", [
    ({"d_model": 0}, "d_model must be an integer >= 1"),
    ({"layers": 0}, "layers must be an integer >= 1"),
    ({"layers": 1000}, "layers must be at most 256"),
    ({"state_size": 7}, "state_size must be even"),
    ({"state_size": 0}, "state_size must be an integer >= 2"),
    ({"dt_min": 0.5, "dt_max": 0.1}, "need 0 < dt_min <= dt_max"),
    ({"dt_min": 0.0}, "need 0 < dt_min <= dt_max"),
    ({"dt_max": float("inf")}, "dt_max"),
    ({"dropout": 1.0}, "dropout must be in [0, 1)"),
    ({"encoder": "nope"}, "encoder must be one of"),
    ({"scan": "cuda"}, "scan must be fft"),
])
def test_bad_parameters_name_themselves(params, expected):
    refused_naming(expected, "s4d", small_task(), **params)


def test_it_trains_from_the_command_line_by_bptt_and_truncated_bptt(tmp_path):
    trains_by_bptt_and_truncated_bptt("s4d", tmp_path, steps=5)
