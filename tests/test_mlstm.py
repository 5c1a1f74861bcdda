"""mLSTM: the chunked memory equals xlstm's quadratic stabilised form (`parallel_stabilized_simple`, re-implemented
here) and the step form, in values, states and gradients, also under input gates so large that the unstabilised
form overflows; the block equals xlstm's layer written out, its chunked form equals its step form (values,
gradients, pieces, causality, gradcheck), bad settings name themselves, and it trains from the command line."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from mixer_forms import (
    assert_close,
    build,
    chunked_equals_step_by_step,
    no_output_sees_a_later_input,
    passes_gradcheck,
    stream_in_pieces_equals_whole,
)
from torch.utils.flop_counter import FlopCounterMode

import seqmem
from seqmem.cli import main
from seqmem.errors import ConfigError
from seqmem.kernels.mlstm import mlstm_chunked, mlstm_step_by_step
from seqmem.mixers.mlstm import MLSTM


def parallel_stabilized(queries, keys, values, igate_preact, fgate_preact, eps=1e-6):
    """NX-AI/xlstm `xlstm/blocks/mlstm/backends.py` `parallel_stabilized_simple` (rowwise stabilisation),
    re-implemented: log D[t, s] = sum_{s < j <= t} logsigmoid(f_j) + i_s for s <= t (else -inf), minus its row
    max; C = (Q K^T / sqrt(d)) * exp(log D - max); h = C V / (max(|row sum of C|, exp(-max)) + eps)."""
    L = queries.shape[2]
    F_cum = F.pad(F.logsigmoid(fgate_preact).cumsum(-1), (1, 0))  # (B, H, L + 1), 0 first
    log_fg = F_cum.unsqueeze(-1) - F_cum.unsqueeze(-2)  # (B, H, L + 1, L + 1): row minus column
    causal = torch.ones(L, L, dtype=torch.bool).tril()
    log_D = torch.where(causal, log_fg[:, :, 1:, 1:], -torch.inf) + igate_preact.unsqueeze(-2)  # (B, H, L, L)
    max_log_D = log_D.amax(-1, keepdim=True)  # (B, H, L, 1)
    D = (log_D - max_log_D).exp()
    C = queries @ (keys / math.sqrt(keys.shape[-1])).transpose(-1, -2) * D
    normalizer = torch.maximum(C.sum(-1, keepdim=True).abs(), (-max_log_D).exp())
    return (C / (normalizer + eps)) @ values


def unstabilised(q, k, v, log_i, log_f):
    """The paper's mLSTM recurrence as written, no stabiliser: C_t = f C + i k v^T, n_t = f n + i k,
    h = C^T q / max(|n^T q|, 1), with i = exp(log_i) formed as it is."""
    B, H, L, K = q.shape
    C, n, out = q.new_zeros(B, H, K, v.shape[-1]), q.new_zeros(B, H, K), []
    for t in range(L):
        f, i = log_f[:, :, t, None].exp(), log_i[:, :, t, None].exp()
        C = f.unsqueeze(-1) * C + (i * k[:, :, t]).unsqueeze(-1) * v[:, :, t].unsqueeze(-2)
        n = f * n + i * k[:, :, t]
        den = torch.maximum((n * q[:, :, t]).sum(-1).abs(), torch.ones_like(n[..., 0]))
        out.append((q[:, :, t].unsqueeze(-2) @ C).squeeze(-2) / den.unsqueeze(-1))
    return torch.stack(out, dim=2)


def random_inputs(B=2, H=3, L=45, K=6, V=5, seed=0, gate_scale=3.0, gate_shift=0.0, dtype=torch.float64):
    """q, k (unscaled), v, input gate pre-activations (the log input gate) and forget gate pre-activations."""
    gen = torch.Generator().manual_seed(seed)
    q, k = (torch.randn(B, H, L, K, generator=gen, dtype=dtype) for _ in range(2))
    v = torch.randn(B, H, L, V, generator=gen, dtype=dtype)
    i_pre = torch.randn(B, H, L, generator=gen, dtype=dtype) * gate_scale + gate_shift
    f_pre = torch.randn(B, H, L, generator=gen, dtype=dtype) * gate_scale + 2.0
    return q, k, v, i_pre, f_pre


def kernel_args(q, k, v, i_pre, f_pre):
    """The kernels' arguments: keys scaled by 1/sqrt(d) (xlstm scales inside its backends) and log f."""
    return q, k / math.sqrt(k.shape[-1]), v, i_pre, F.logsigmoid(f_pre)


@pytest.mark.parametrize("chunk", [64, 16, 7, 1])
def test_the_chunked_memory_equals_xlstm_s_parallel_stabilised_form(chunk):
    """Without eps the two are the same function, h = C q / max(|n q|, 1), whatever the stabiliser; with xlstm's
    eps (added in stabilised units, which differ: the parallel form's row max leaves out the state's m_0 = 0)
    they differ by about eps relative."""
    inputs = random_inputs()
    h, _ = mlstm_chunked(*kernel_args(*inputs), chunk=chunk, eps=0.0)
    assert_close(h, parallel_stabilized(*inputs, eps=0.0), "output without eps", 1e-10)
    h_eps, _ = mlstm_chunked(*kernel_args(*inputs), chunk=chunk)
    assert_close(h_eps, parallel_stabilized(*inputs), "output with eps", 1e-5)
    q, k, v, i_pre, f_pre = inputs
    assert (h - parallel_stabilized(q, k, v, i_pre, f_pre - 1.0, eps=0.0)).abs().max() > 1e-3  # control: gates matter


@pytest.mark.parametrize("chunk", [64, 16, 7, 1])
def test_the_chunked_memory_equals_the_step_form_in_values_states_and_gradients(chunk):
    q, k, v, log_i, log_f = kernel_args(*random_inputs())
    gen = torch.Generator().manual_seed(4)
    state = (torch.randn(2, 3, 6, 5, generator=gen, dtype=torch.float64),
             torch.randn(2, 3, 6, generator=gen, dtype=torch.float64),
             torch.randn(2, 3, generator=gen, dtype=torch.float64))
    leaves = [x.clone().requires_grad_(True) for x in (q, k, v, log_i, log_f)]
    weights = torch.randn(2, 3, 45, 5, generator=gen, dtype=torch.float64)
    h, end = mlstm_chunked(*leaves, state, chunk=chunk)
    grads = torch.autograd.grad((h * weights).sum(), leaves)
    leaves_steps = [x.clone().requires_grad_(True) for x in (q, k, v, log_i, log_f)]
    h_steps, end_steps = mlstm_step_by_step(*leaves_steps, state)
    grads_steps = torch.autograd.grad((h_steps * weights).sum(), leaves_steps)
    assert_close(h, h_steps, "output", 1e-10)
    for name, a, b in zip(("C", "n", "m"), end, end_steps, strict=True):
        assert_close(a, b, f"state {name}", 1e-10)
    for name, a, b in zip(("q", "k", "v", "log i", "log f"), grads, grads_steps, strict=True):
        assert_close(a, b, f"gradient of {name}", 1e-9)
    assert (mlstm_chunked(q, k, v, log_i, log_f, chunk=chunk)[0] - h).abs().max() > 1e-3  # control: the state


@pytest.mark.parametrize("dtype, shift, scale", [(torch.float32, 50.0, 1.0), (torch.float32, 100.0, 1.0),
                                                 (torch.float64, 800.0, 1.0), (torch.float32, 50.0, 30.0)])
def test_input_gates_that_overflow_the_unstabilised_form_stay_finite_and_equal(dtype, shift, scale):
    """Input gate pre-activations around 50, 100 (float32: exp overflows past 88) and 800 (float64: past 709),
    and spread by 30 around 50: the paper's unstabilised
    recurrence gives inf or nan where exp overflows; the chunked form stays finite, in values and gradients,
    and equals the step form computed in float64."""
    inputs = random_inputs(dtype=dtype, gate_scale=scale, gate_shift=shift)
    args = kernel_args(*inputs)
    if args[3].max() > (88 if dtype == torch.float32 else 709):
        assert not torch.isfinite(unstabilised(*args)).all()
    leaves = [x.clone().requires_grad_(True) for x in args]
    h, (C, n, m) = mlstm_chunked(*leaves, chunk=16)
    grads = torch.autograd.grad(h.sum(), leaves)
    h_steps, (C_steps, _, m_steps) = mlstm_step_by_step(*(x.double() for x in args))
    assert torch.isfinite(h).all() and torch.isfinite(C).all() and all(torch.isfinite(g).all() for g in grads)
    assert_close(h.double(), h_steps, "output", 1e-3 if dtype == torch.float32 else 1e-10)
    assert_close(m.double(), m_steps, "stabiliser", 1e-5)
    assert m.min() > shift - 10 * scale  # the memory is kept scaled by exp(-m), m near the gates' size


def test_the_unstabilised_form_agrees_where_it_does_not_overflow():
    """The stabiliser changes nothing but the range: with small gates the paper's plain recurrence (no eps)
    equals the chunked form without eps."""
    args = kernel_args(*random_inputs(gate_scale=1.0))
    assert_close(mlstm_chunked(*args, chunk=8, eps=0.0)[0], unstabilised(*args), "output", 1e-10)


def reference_block(mixer: MLSTM, u: torch.Tensor) -> torch.Tensor:
    """NX-AI/xlstm `xlstm/blocks/mlstm/layer.py` `mLSTMLayer.forward` and `cell.py` `mLSTMCell.forward` with its
    default backend `parallel_stabilized_simple`, written out with the mixer's weights: proj_up into the mLSTM
    and z branches; the causal conv1d and SiLU; q, k from the conv branch, v from the branch before it; the gates
    from cat(q, k, v); the cell; the per-head norm (weight, no bias); plus learnable_skip times the conv branch;
    times SiLU(z); proj_down."""
    B, L, _ = u.shape
    H, W = mixer.heads, mixer.inner
    x, z = mixer.up(u).chunk(2, dim=-1)
    x_conv = F.silu(F.conv1d(F.pad(x.transpose(1, 2), (mixer.conv_size - 1, 0)), mixer.conv.weight,
                             mixer.conv.bias, groups=W).transpose(1, 2))
    q, k, v = mixer.q_map(x_conv), mixer.k_map(x_conv), mixer.v_map(x)
    gates_in = torch.cat([q, k, v], dim=-1)
    i_pre, f_pre = (gate(gates_in).transpose(1, 2) for gate in (mixer.input_gate, mixer.forget_gate))  # (B, H, L)
    q, k, v = (t.view(B, L, H, -1).transpose(1, 2) for t in (q, k, v))
    h = parallel_stabilized(q, k, v, i_pre, f_pre)  # (B, H, L, E)
    h = F.layer_norm(h, (W // H,), eps=1e-5) * mixer.norm_weight.view(H, 1, -1)
    h = h.transpose(1, 2).reshape(B, L, W) + mixer.skip * x_conv
    return mixer.down(h * F.silu(z))


@pytest.mark.parametrize("settings", [{}, {"heads": 2, "chunk": 8}, {"heads": 1, "proj_factor": 1.0, "chunk": 5,
                                                                      "qkv_blocksize": 2, "conv_size": 2}])
def test_the_block_equals_xlstm_s_layer_written_out(settings):
    mixer = build(MLSTM, 16, **settings)
    with torch.no_grad():  # gates that depend on the input, not only xlstm's initial biases
        for gate in (mixer.input_gate, mixer.forget_gate):
            gate.weight.normal_(0.0, 0.3, generator=torch.Generator().manual_seed(7))
    u = torch.randn(2, 21, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = mixer(u)[0]
    assert_close(y, reference_block(mixer, u), "output", 1e-5)
    with torch.no_grad():
        mixer.forget_gate.bias.sub_(4.0)  # control: more forgetting, another output
    assert (mixer(u)[0] - y).abs().max() > 1e-3


@pytest.mark.parametrize("settings", [{"chunk": 8}, {"chunk": 64, "heads": 2}, {"chunk": 3, "conv_size": 1}])
def test_chunked_equals_step_by_step_in_values_and_gradients(settings):
    mixer = build(MLSTM, 16, **settings)
    with torch.no_grad():
        mixer.input_gate.weight.normal_(0.0, 0.3, generator=torch.Generator().manual_seed(7))
    chunked_equals_step_by_step(mixer)


def test_a_stream_in_pieces_equals_the_whole():
    stream_in_pieces_equals_whole(build(MLSTM, 16, chunk=8))


def test_no_output_sees_a_later_input():
    no_output_sees_a_later_input(build(MLSTM, 16, chunk=8))


def test_gradients_pass_gradcheck():
    passes_gradcheck(build(MLSTM, 8, heads=2, chunk=4), length=7)


def test_its_state_size_counts_the_memory_and_the_convolution():
    mixer = MLSTM(16, heads=2)  # inner width 32, heads of 16
    assert mixer.state_size(sequence_length=100) == 2 * (16 * 16 + 16 + 1) + 3 * 32
    _, state = mixer(torch.randn(3, 10, 16))
    assert sum(t.numel() for t in state) == 3 * mixer.state_size(sequence_length=10)


@pytest.mark.parametrize("d_model, length, settings", [(32, 100, {}), (64, 64, {"chunk": 16, "heads": 2})])
def test_its_flops_are_the_matmuls_pytorch_counts(d_model, length, settings):
    """`flops` (the count its docstring writes out) equals PyTorch's count of the forward's matmuls and
    convolutions, one sequence (the normaliser n rides in them as the state's last column)."""
    mixer = MLSTM(d_model, **settings)
    with FlopCounterMode(display=False) as counter:
        mixer(torch.randn(1, length, d_model))
    assert counter.get_total_flops() == mixer.flops(length)


@pytest.mark.parametrize("params, expected", [
    ({"heads": 5}, "heads must divide the inner width d_model x proj_factor (32), got 5"),
    ({"heads": 0}, "heads must be an integer >= 1"),
    ({"proj_factor": 0}, "proj_factor must be a finite number > 0, got 0"),
    ({"proj_factor": float("nan")}, "proj_factor must be a finite number > 0, got nan"),
    ({"qkv_blocksize": 3}, "qkv_blocksize must divide the inner width d_model x proj_factor (32), got 3"),
    ({"conv_size": 0}, "conv_size must be an integer >= 1"),
    ({"chunk": 0}, "chunk must be an integer >= 1"),
])
def test_bad_settings_name_themselves(params, expected):
    with pytest.raises(ConfigError) as error:
        MLSTM(16, **params)
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_it_learns_mqar_far_past_the_memoryless_baseline():
    task = seqmem.make_task("associative-recall", layout="zoology", length=16, pairs=2, queries=2, vocab=32,
                            test_size=200, validation_size=200)
    model = seqmem.make_model("mlstm", task, d_model=32, layers=2, heads=2, seed=0)
    result = seqmem.train(model, task, seqmem.TrainConfig(steps=200, lr=3e-3, clip=1.0, batch_size=32,
                                                          eval_every=200), progress=False)
    assert result.recall_accuracy > 0.8 > 0.1 > task.baseline().recall_accuracy  # 0.915 here


def test_it_trains_from_the_command_line_with_its_own_flags(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "associative-recall", "--model", "mlstm", "--heads", "2", "--chunk", "8",
                 "--d-model", "16", "--layers", "1", "--layout", "zoology", "--length", "24", "--pairs", "3",
                 "--queries", "3", "--vocab", "32", "--steps", "3", "--set", "test_size=8", "--set",
                 "validation_size=8", "--quiet", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["name"] == "mlstm" and config["model"]["heads"] == 2 and config["model"]["chunk"] == 8
    assert json.loads((out / "summary.json").read_text())["state_size"] == 2 * (16 * 16 + 16 + 1) + 3 * 32
