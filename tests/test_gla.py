"""GLA: the chunked kernel equals the recurrence written out from the paper's equations (as fla's
`naive_recurrent_gla`) and its quadratic form, stays finite and exact under decays that overflow the one-level
form; the mixer equals fla's layer written out, its chunked form equals its step form (values, gradients,
pieces, causality, gradcheck), bad settings name themselves, and it trains from the command line."""

import json

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
from seqmem.kernels import gated_linear
from seqmem.kernels.gated_linear import SPAN, gla_chunked, gla_step_by_step
from seqmem.mixers.gla import GatedLinearAttention


def recurrence(q, k, v, g, state=None):
    """GLA's recurrence from the paper's equations (Yang et al. 2023, arXiv 2312.06635, the gate
    G_t = exp(g_t) 1^T), as fla-org/flash-linear-attention `fla/ops/gla/naive.py` `naive_recurrent_gla` loops
    it (there q is also scaled by K^-0.5; here the caller scales): for each step, S <- diag(exp(g_t)) S +
    k_t v_t^T, o_t = q_t S."""
    B, H, L, K = q.shape
    S = torch.zeros(B, H, K, v.shape[-1], dtype=q.dtype) if state is None else state.clone()
    o = torch.zeros(B, H, L, v.shape[-1], dtype=q.dtype)
    for t in range(L):
        S = S * g[:, :, t, :, None].exp() + k[:, :, t, :, None] * v[:, :, t, None, :]
        o[:, :, t] = torch.einsum("bhk,bhkv->bhv", q[:, :, t], S)
    return o, S


def quadratic(q, k, v, g):
    """The paper's parallel form: Q~ = Q * exp(cumsum g), K~ = K * exp(-cumsum g),
    O = (Q~ K~^T masked causally) V. Exact in exact arithmetic, but exp(-cumsum g) overflows once the
    decay adds up: the reason the kernel works by chunks and sub-chunks."""
    G = g.cumsum(dim=2)  # (B, H, L, K)
    scores = (q * G.exp()) @ (k * (-G).exp()).transpose(-1, -2)  # (B, H, L, L)
    L = q.shape[2]
    return (scores * torch.ones(L, L, dtype=q.dtype).tril()) @ v


def random_inputs(B=2, H=3, L=45, K=5, V=4, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    q, k = (torch.randn(B, H, L, K, generator=gen, dtype=dtype) for _ in range(2))
    v = torch.randn(B, H, L, V, generator=gen, dtype=dtype)
    g = F.logsigmoid(torch.randn(B, H, L, K, generator=gen, dtype=dtype) + 1.0)  # log decays in (-inf, 0)
    return q, k, v, g


@pytest.mark.parametrize("span", [SPAN, 0.0], ids=["one level", "two levels"])
@pytest.mark.parametrize("chunk, subchunk", [(64, 16), (16, 4), (8, 8), (10, 3), (1, 1), (64, 8)])
def test_the_chunked_kernel_equals_the_recurrence_from_the_equations(chunk, subchunk, span):
    """Both ways of the chunk (span 0 forces two levels; the decays here take at most exp(-28) across 64 steps,
    so SPAN keeps one level)."""
    q, k, v, g = random_inputs()
    assert -g[:, :, :48].sum(2).min() < SPAN
    state = torch.randn(2, 3, 5, 4, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    o, S = gla_chunked(q, k, v, g, state, chunk=chunk, subchunk=subchunk, span=span)
    o_ref, S_ref = recurrence(q, k, v, g, state)
    assert_close(o, o_ref, "output", 1e-12)
    assert_close(S, S_ref, "state", 1e-12)
    o_steps, S_steps = gla_step_by_step(q, k, v, g, state)
    assert_close(o_steps, o_ref, "step form's output", 1e-12)
    assert_close(S_steps, S_ref, "step form's state", 1e-12)
    o_cold, _ = gla_chunked(q, k, v, g, chunk=chunk, subchunk=subchunk)
    assert (o_cold - o).abs().max() > 1e-3  # control: the state given matters


@pytest.mark.parametrize("span", [SPAN, 0.0], ids=["one level", "two levels"])
def test_the_chunked_kernel_equals_the_quadratic_form(span):
    q, k, v, g = random_inputs(L=30)
    o, _ = gla_chunked(q, k, v, g, chunk=16, subchunk=4, span=span)
    assert_close(o, quadratic(q, k, v, g), "output", 1e-10)
    assert (o - quadratic(q, k, v, g * 0.5)).abs().max() > 1e-3  # control: the decay matters


def test_decays_that_overflow_the_one_level_form_stay_finite_and_exact():
    """Key dimensions decaying by exp(-50) a step (float32): exp(-cumsum g) overflows after two steps, so the
    quadratic form gives inf and nan; the chunked kernel (two levels, the decay past SPAN) equals the
    recurrence, and so do its gradients."""
    q, k, v, g = random_inputs(L=70, dtype=torch.float32)
    g = g.clone()
    g[..., :2] = -50.0
    g[:, :, 20:30, 2] = -200.0  # a burst of forgetting in another dimension
    assert not torch.isfinite(quadratic(q, k, v, g)).all()  # the one-level form fails here
    leaves = [x.clone().requires_grad_(True) for x in (q, k, v, g)]
    weights = torch.randn(2, 3, 70, 4, generator=torch.Generator().manual_seed(3))
    o, S = gla_chunked(*leaves, chunk=32, subchunk=8)
    grads = torch.autograd.grad((o * weights).sum(), leaves)
    o_ref, S_ref = recurrence(*(x.double() for x in (q, k, v, g)))
    assert torch.isfinite(o).all() and all(torch.isfinite(grad).all() for grad in grads)
    assert_close(o.double(), o_ref, "output", 1e-5)
    assert_close(S.double(), S_ref, "state", 1e-5)
    leaves_steps = [x.clone().requires_grad_(True) for x in (q, k, v, g)]
    o_steps, _ = gla_step_by_step(*leaves_steps)
    grads_steps = torch.autograd.grad((o_steps * weights).sum(), leaves_steps)
    for name, a, b in zip("qkvg", grads, grads_steps, strict=True):
        assert_close(a, b, f"gradient of {name}", 1e-4)


def test_in_float16_the_one_level_form_keeps_to_float16_s_range(monkeypatch):
    """Decays adding up to about exp(-20) a chunk: one level's key factor exp(20) would overflow float16
    (65504), so in float16 (or under float16 autocast) the chunk takes two levels and stays finite, near the
    float64 recurrence."""
    q, k, v, g = random_inputs(L=40)
    g = g.clone()
    g[..., 0] = -0.6
    half = [x.half() for x in (q, k, v, g)]
    o, _ = gla_chunked(*half, chunk=32, subchunk=8)
    o_ref, _ = recurrence(*(x.double() for x in half))
    assert torch.isfinite(o).all()
    assert_close(o.double(), o_ref, "output", 2e-2)
    with torch.autocast("cpu", dtype=torch.float16):  # float32 tensors, float16 matmuls: the same
        assert torch.isfinite(gla_chunked(*(x.float() for x in half), chunk=32, subchunk=8)[0]).all()
    monkeypatch.setattr(gated_linear, "HALF_SPAN", SPAN)  # control: float32's bound kept in float16 overflows
    assert not torch.isfinite(gla_chunked(*half, chunk=32, subchunk=8)[0]).all()
    with torch.autocast("cpu", dtype=torch.float16):
        assert not torch.isfinite(gla_chunked(*(x.float() for x in half), chunk=32, subchunk=8)[0]).all()


def reference_layer(mixer: GatedLinearAttention, u: torch.Tensor) -> torch.Tensor:
    """fla-org/flash-linear-attention `fla/layers/gla.py` `GatedLinearAttention.forward` (no short convolution,
    no feature map, one key head a query head), written out with the mixer's weights: q, k, v maps split into
    heads; gk = logsigmoid(gk_proj(x)) / gate_logit_normalizer; the kernel with scale K^-0.5 on q; the fused
    RMSNorm and swish gate (rms-normalise each head's output, times the weight, times swish of g_proj(x));
    o_proj."""
    B, L, D = u.shape
    H = mixer.heads
    q_proj, k_proj, v_proj, g_proj, gk_down = mixer.in_proj.weight.split(mixer.widths)  # fla's maps, one matmul
    q, k, v = (F.linear(u, w).view(B, L, H, -1).transpose(1, 2) for w in (q_proj, k_proj, v_proj))
    gk = F.logsigmoid(mixer.gate_up(F.linear(u, gk_down))).view(B, L, H, -1).transpose(1, 2) / 16
    o, _ = recurrence(q * q.shape[-1] ** -0.5, k, v, gk)  # (B, H, L, V)
    o = o * torch.rsqrt(o.pow(2).mean(-1, keepdim=True) + 1e-5) * mixer.norm_weight
    o = o.transpose(1, 2).reshape(B, L, D) * F.silu(F.linear(u, g_proj))
    return mixer.out(o)


@pytest.mark.parametrize("settings", [{}, {"heads": 2, "chunk": 8}, {"heads": 1, "expand_k": 1.0, "chunk": 5}])
def test_the_mixer_equals_fla_s_layer_written_out(settings):
    mixer = build(GatedLinearAttention, 16, **settings)
    u = torch.randn(2, 21, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert_close(mixer(u)[0], reference_layer(mixer, u), "output", 1e-10)
    with torch.no_grad():
        mixer.gate_up.bias.add_(3.0)  # control: other decays, another output
    assert (mixer(u)[0] - reference_layer(build(GatedLinearAttention, 16, **settings), u)).abs().max() > 1e-4


@pytest.mark.parametrize("settings", [{"chunk": 8}, {"chunk": 64, "heads": 2}, {"chunk": 3},
                                      {"chunk": 16, "gate_normalizer": 0.02}])  # the last: decays past SPAN
def test_chunked_equals_step_by_step_in_values_and_gradients(settings):
    chunked_equals_step_by_step(build(GatedLinearAttention, 16, **settings))


def test_a_stream_in_pieces_equals_the_whole():
    stream_in_pieces_equals_whole(build(GatedLinearAttention, 16, chunk=8))


def test_no_output_sees_a_later_input():
    no_output_sees_a_later_input(build(GatedLinearAttention, 16, chunk=8))


def test_gradients_pass_gradcheck():
    passes_gradcheck(build(GatedLinearAttention, 8, heads=2, chunk=4), length=7)


def test_its_state_size_is_the_matrix_as_zoology_counts_it():
    mixer = GatedLinearAttention(16, heads=2)
    assert mixer.state_size(sequence_length=100) == 8 * 8  # key width 8 x value width a head 8
    _, S = mixer(torch.randn(3, 10, 16))
    assert S.numel() == 3 * mixer.state_size(sequence_length=10)


@pytest.mark.parametrize("d_model, length, settings", [(32, 100, {}), (64, 64, {"chunk": 16, "heads": 2})])
def test_its_flops_are_the_matmuls_pytorch_counts(d_model, length, settings):
    """`flops` (the count its docstring writes out) equals PyTorch's count of the forward's matmuls, one
    sequence, in the one-level form the initial decays take."""
    mixer = GatedLinearAttention(d_model, **settings)
    with FlopCounterMode(display=False) as counter:
        mixer(torch.randn(1, length, d_model))
    assert counter.get_total_flops() == mixer.flops(length)


@pytest.mark.parametrize("params, expected", [
    ({"heads": 3}, "heads must divide d_model (16) and the key width d_model x expand_k (8), got 3"),
    ({"heads": 0}, "heads must be an integer >= 1"),
    ({"expand_k": 0}, "expand_k must be a finite number > 0, got 0"),
    ({"expand_k": float("inf")}, "expand_k must be a finite number > 0, got inf"),
    ({"gate_normalizer": -1.0}, "gate_normalizer must be a finite number > 0"),
    ({"gate_low_rank": 0}, "gate_low_rank must be an integer >= 1"),
    ({"chunk": 0}, "chunk must be an integer >= 1"),
])
def test_bad_settings_name_themselves(params, expected):
    with pytest.raises(ConfigError) as error:
        GatedLinearAttention(16, **params)
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_it_learns_mqar_far_past_the_memoryless_baseline():
    """In 200 updates GLA recalls about half the answers (0.47 here; attention 0.9 in the same budget), against
    the memoryless baseline's 0.06: linear attention's memory is learnt, but slower than softmax's."""
    task = seqmem.make_task("associative-recall", layout="zoology", length=16, pairs=2, queries=2, vocab=32,
                            test_size=200, validation_size=200)
    model = seqmem.make_model("gla", task, d_model=32, layers=2, heads=2, seed=0)
    result = seqmem.train(model, task, seqmem.TrainConfig(steps=200, lr=3e-3, clip=1.0, batch_size=32,
                                                          eval_every=200), progress=False)
    assert result.recall_accuracy > 0.35 > 0.1 > task.baseline().recall_accuracy


def test_it_trains_from_the_command_line_with_its_own_flags(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "associative-recall", "--model", "gla", "--heads", "2", "--chunk", "8",
                 "--d-model", "16", "--layers", "1", "--layout", "zoology", "--length", "24", "--pairs", "3",
                 "--queries", "3", "--vocab", "32", "--steps", "3", "--set", "test_size=8", "--set",
                 "validation_size=8", "--quiet", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["name"] == "gla" and config["model"]["heads"] == 2 and config["model"]["chunk"] == 8
    assert json.loads((out / "summary.json").read_text())["state_size"] == 8 * 8
