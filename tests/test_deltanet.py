"""DeltaNet and Gated DeltaNet: the chunked delta rule (the WY / UT transform) equals the recurrence written out
from its equations, and fla's naive forms where fla is installed; each mixer equals fla's layer written out on
its weights; the chunked form equals the step-by-step one in values and every gradient, a stream in pieces
equals the whole, no output sees a later input, gradcheck; negative eigenvalues flip a stored value; the
FLOP count is the matmuls' (counted by PyTorch) and the solve's; bad settings name themselves; it trains from
the command line and learns MQAR."""

import json
import math

import mixer_forms
import pytest
import torch
import torch.nn.functional as F
from fla_reference import fla_naive
from torch.utils.flop_counter import FlopCounterMode

import seqmem
from seqmem.cli import main
from seqmem.errors import ConfigError
from seqmem.kernels.delta_rule import delta_rule_chunked, delta_rule_steps
from seqmem.mixers.deltanet import DeltaNet
from seqmem.mixers.gated_deltanet import GatedDeltaNet

MIXERS = [DeltaNet, GatedDeltaNet]


def recurrence(q, k, v, beta, log_decay=None, state=None, scale=None):
    """The (gated) delta rule as the papers write it (Yang et al. 2024, arXiv 2406.06484, eq. 1; Yang, Kautz,
    Hatamizadeh 2024, arXiv 2412.06464, eq. 10), the state (K, V) with keys as rows:
    S_t = a_t (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T, o_t = scale S_t^T q_t. Shapes as the kernel's."""
    B, H, L, K = k.shape
    scale = K ** -0.5 if scale is None else scale
    S = k.new_zeros(B, H, K, v.shape[-1]) if state is None else state
    eye = torch.eye(K, dtype=k.dtype)
    outputs = []
    for t in range(L):
        k_t, b_t = k[:, :, t, :, None], beta[:, :, t, None, None]  # (B, H, K, 1), (B, H, 1, 1)
        a_t = 1.0 if log_decay is None else log_decay[:, :, t, None, None].exp()
        S = a_t * (eye - b_t * k_t @ k_t.transpose(-1, -2)) @ S + b_t * k_t @ v[:, :, t, None, :]
        outputs.append(scale * S.transpose(-1, -2) @ q[:, :, t, :, None])  # (B, H, V, 1)
    return torch.cat(outputs, dim=-1).transpose(-1, -2), S


def kernel_inputs(B=2, H=3, L=37, K=5, V=6, gated=True, seed=0):
    """q, k (k unit-norm, as the mixers make them), v, beta in [0, 2], log decays in [-1, 0], a state."""
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, L, K, generator=g, dtype=torch.float64)
    k = F.normalize(torch.randn(B, H, L, K, generator=g, dtype=torch.float64), dim=-1)
    v = torch.randn(B, H, L, V, generator=g, dtype=torch.float64)
    beta = 2 * torch.rand(B, H, L, generator=g, dtype=torch.float64)
    log_decay = -torch.rand(B, H, L, generator=g, dtype=torch.float64) if gated else None
    state = torch.randn(B, H, K, V, generator=g, dtype=torch.float64)
    return q, k, v, beta, log_decay, state


@pytest.mark.parametrize("gated", [False, True])
@pytest.mark.parametrize("chunk", [1, 5, 16, 64])  # 37 steps: partial last chunks, and one chunk of all
def test_the_chunked_delta_rule_equals_the_recurrence_in_values_and_gradients(gated, chunk):
    inputs = [t if t is None else t.requires_grad_(True) for t in kernel_inputs(gated=gated)]
    weights = torch.randn(2, 3, 37, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    given = [t for t in inputs if t is not None]
    results = []
    for form in (lambda *a: delta_rule_chunked(*a, chunk=chunk), recurrence):
        o, S = form(*inputs)
        results.append((o, S, torch.autograd.grad((o * weights).sum() + S.sum(), given)))
    (o, S, grads), (o_ref, S_ref, grads_ref) = results
    mixer_forms.assert_close(o, o_ref, "output")
    mixer_forms.assert_close(S, S_ref, "state")
    for a, b in zip(grads, grads_ref, strict=True):
        mixer_forms.assert_close(a, b, "gradient")
    steps = delta_rule_steps(*inputs)
    mixer_forms.assert_close(steps[0], o_ref, "step by step")
    if gated:  # control: the decay matters
        assert (delta_rule_chunked(*inputs[:4], None, inputs[5])[0] - o_ref).abs().max() > 1e-3


def test_a_chunk_of_transitions_is_one_less_a_low_rank_term():
    """The WY representation (Yang et al. 2024, sec. 3.2): a chunk's transitions prod_t (I - beta_t k_t k_t^T)
    are I - K^T W with W = T diag(beta) K, T = (I + tril(diag(beta) K K^T, -1))^{-1}; the kernel, fed S_0 = I
    and no values, gives that product as its state."""
    q, k, v, beta, _, _ = kernel_inputs(B=1, H=1, L=12, K=6, V=6, gated=False)
    product = torch.eye(6, dtype=torch.float64)
    for t in range(12):
        product = (torch.eye(6, dtype=torch.float64) - beta[0, 0, t] * torch.outer(k[0, 0, t], k[0, 0, t])) @ product
    K_, b = k[0, 0], beta[0, 0, :, None]  # (L, K), (L, 1)
    T = torch.linalg.inv(torch.eye(12, dtype=torch.float64) + (b * K_ @ K_.T).tril(-1))
    mixer_forms.assert_close(torch.eye(6, dtype=torch.float64) - K_.T @ (T @ (b * K_)), product, "I - K^T W")
    _, S = delta_rule_chunked(q, k, torch.zeros_like(v), beta, state=torch.eye(6, dtype=torch.float64).expand(1, 1, 6, 6))
    mixer_forms.assert_close(S[0, 0], product, "the kernel's state")


def test_negative_eigenvalues_flip_a_stored_value():
    """beta = 2 makes I - beta k k^T a reflection (eigenvalue -1 along k, Grazzi et al. 2024): a step with v = 0
    turns the value stored under k into its negative, where beta = 1 erases it."""
    k = F.normalize(torch.randn(1, 1, 1, 4, dtype=torch.float64), dim=-1)
    stored = torch.randn(1, 1, 1, 3, dtype=torch.float64)
    state = k.transpose(-1, -2) @ stored  # k v^T, (1, 1, 4, 3)
    for beta, expected in ((2.0, -state), (1.0, torch.zeros_like(state))):
        _, S = delta_rule_chunked(k, k, torch.zeros_like(stored), torch.full((1, 1, 1), beta, dtype=torch.float64),
                                  state=state)
        mixer_forms.assert_close(S, expected, f"beta {beta}")
    torch.manual_seed(0)
    for cls in MIXERS:
        mixer = cls(16, negative_eigenvalues=True)
        with torch.no_grad():
            mixer.in_proj.weight.mul_(20)  # wide logits, so beta reaches near its bounds
            beta = mixer.split(torch.randn(2, 30, 16))[1]
        assert 0 <= beta.min() and beta.max() <= 2 and beta.max() > 1.5  # control: past 1, where [0, 1] stops


def test_the_delta_rule_equals_flas_naive_forms():
    naive = fla_naive("delta_rule")
    q, k, v, beta, _, state = kernel_inputs(L=32, gated=False)
    o_ref, S_ref = naive.delta_rule_recurrence(q, k, v, beta, state.clone())
    o, S = delta_rule_chunked(q.float(), k.float(), v.float(), beta.float(), state=state.float(), chunk=16)
    assert torch.allclose(o, o_ref.float(), atol=1e-4) and torch.allclose(S, S_ref, atol=1e-4)
    o_ref, S_ref = naive.delta_rule_chunkwise(*(x.float() for x in (q, k, v, beta)), chunk_size=8)  # from zeros
    o, S = delta_rule_chunked(q.float(), k.float(), v.float(), beta.float(), chunk=16)
    assert torch.allclose(o, o_ref, atol=1e-4) and torch.allclose(S, S_ref, atol=1e-4)


def test_the_gated_delta_rule_equals_flas_naive_forms():
    naive = fla_naive("gated_delta_rule")
    q, k, v, beta, log_decay, state = (x.float() for x in kernel_inputs(L=37))
    o, S = delta_rule_chunked(q, k, v, beta, log_decay, state, chunk=16)
    as_fla = [x.transpose(1, 2) for x in (q, k, v, beta, log_decay)]  # fla's (B, L, H, ...)
    o_ref, S_ref = naive.naive_recurrent_gated_delta_rule(*as_fla, initial_state=state, output_final_state=True)
    assert torch.allclose(o, o_ref.transpose(1, 2), atol=1e-4) and torch.allclose(S, S_ref, atol=1e-4)
    q_, k_, v_, beta_, g_ = as_fla
    o_ref, S_ref = naive.naive_chunk_gated_delta_rule(q_, k_, v_, g_, beta_, chunk_size=8, initial_state=state,
                                                      output_final_state=True)
    assert torch.allclose(o, o_ref.transpose(1, 2), atol=1e-4) and torch.allclose(S, S_ref, atol=1e-4)


def layer_reference(mixer: DeltaNet, u: torch.Tensor) -> torch.Tensor:
    """fla's `fla/layers/delta_net.py` and `fla/layers/gated_deltanet.py` (`forward`, chunk mode) written out on
    the mixer's weights: q, k, v projected, each a causal depthwise convolution (left zero padding) and SiLU;
    q and k L2-normalised a head; beta = sigmoid (times 2 with negative eigenvalues); gated, the decay
    -exp(A_log) softplus(a + dt_bias); the recurrence; RMSNorm a head (times SiLU of the gate); the out map."""
    B, L, _ = u.shape
    H, K, V = mixer.heads, mixer.key, mixer.value
    parts = [H * K, H * K, H * V, H] + ([H, H * V] if mixer.gated else [])
    q, k, v, b, *gated = (u @ mixer.in_proj.weight.T).split(parts, dim=-1)
    x = torch.cat([q, k, v], dim=-1).transpose(1, 2)  # (B, C, L)
    x = F.silu(F.conv1d(F.pad(x, (mixer.conv_size - 1, 0)), mixer.conv.weight, groups=x.shape[1])).transpose(1, 2)
    q, k, v = x.split([H * K, H * K, H * V], dim=-1)
    q, k = (t.view(B, L, H, K) / (t.view(B, L, H, K).pow(2).sum(-1, keepdim=True) + 1e-6).sqrt() for t in (q, k))
    beta = torch.sigmoid(b) * (2 if mixer.negative_eigenvalues else 1)  # (B, L, H)
    log_decay = -mixer.A_log.exp() * F.softplus(gated[0] + mixer.dt_bias) if mixer.gated else None
    o, _ = recurrence(q.transpose(1, 2), k.transpose(1, 2), v.view(B, L, H, V).transpose(1, 2), beta.transpose(1, 2),
                      None if log_decay is None else log_decay.transpose(1, 2))
    o = o.transpose(1, 2)  # (B, L, H, V)
    o = o / (o.pow(2).mean(-1, keepdim=True) + 1e-5).sqrt() * mixer.norm.weight
    if mixer.gated:
        o = o * F.silu(gated[1].view(B, L, H, V))
    return o.reshape(B, L, H * V) @ mixer.out_proj.weight.T


@pytest.mark.parametrize("cls", MIXERS)
@pytest.mark.parametrize("settings", [{}, {"heads": 2, "chunk": 8, "negative_eigenvalues": True},
                                      {"heads": 1, "expand_v": 3, "conv_size": 2, "chunk": 5}])
def test_the_mixer_equals_flas_layer_written_out(cls, settings):
    mixer = mixer_forms.build(cls, **settings)
    u = mixer_forms.inputs(2, 21, 16)
    with torch.no_grad():
        mixer_forms.assert_close(mixer(u)[0], layer_reference(mixer, u), "output")
        other = mixer_forms.build(cls, seed=1, **settings)  # control: other weights differ
        assert (other(u)[0] - layer_reference(mixer, u)).abs().max() > 1e-3


FORMS = [(cls, settings) for cls in MIXERS
         for settings in ({}, {"heads": 2, "chunk": 8, "negative_eigenvalues": True}, {"conv_size": 1, "chunk": 5})]


@pytest.mark.parametrize("cls, settings", FORMS)
def test_the_chunked_form_equals_step_by_step_and_streams(cls, settings):
    mixer = mixer_forms.build(cls, **settings)
    mixer_forms.chunked_equals_step_by_step(mixer)
    mixer_forms.stream_in_pieces_equals_whole(mixer)
    mixer_forms.no_output_sees_a_later_input(mixer)


@pytest.mark.parametrize("cls, settings", FORMS[:2] + FORMS[3:5])
def test_gradcheck(cls, settings):
    mixer_forms.passes_gradcheck(mixer_forms.build(cls, d_model=8, **{"heads": 2, **settings}))


@pytest.mark.parametrize("cls", MIXERS)
def test_either_form_continues_the_others_state(cls):
    mixer = mixer_forms.build(cls, chunk=4)
    u = mixer_forms.inputs(2, 19, 16)
    with torch.no_grad():
        whole = mixer(u)[0]
        first, state = mixer.step_by_step(u[:, :7])
        second, state = mixer(u[:, 7:15], state)
        third, _ = mixer.step_by_step(u[:, 15:], state)
    mixer_forms.assert_close(torch.cat([first, second, third], dim=1), whole, "alternating forms")


@pytest.mark.parametrize("cls, settings, length", [(DeltaNet, {}, 100), (GatedDeltaNet, {"heads": 2, "chunk": 16}, 40),
                                                   (DeltaNet, {"conv_size": 1, "expand_v": 2}, 7)])
def test_the_flop_count_is_the_matmuls_and_the_triangular_solve(cls, settings, length):
    """PyTorch's FlopCounterMode counts the forward's matmuls and convolution; `flops` adds the solve it does not
    count, C^2 (K + V) a chunk and head (forward substitution)."""
    mixer = cls(32, **settings)
    with FlopCounterMode(display=False) as counter:
        mixer(torch.randn(1, length, 32))
    C = min(mixer.chunk, length)
    solve = mixer.heads * math.ceil(length / C) * C * C * (mixer.key + mixer.value)
    assert mixer.flops(length) == counter.get_total_flops() + solve


def test_its_state_size_is_each_heads_matrix_and_the_convolutions_inputs():
    assert DeltaNet(16).state_size(sequence_length=100) == 4 * 4 * 4 + 3 * 4 * (2 * 4 + 4)
    assert GatedDeltaNet(16, heads=2).state_size(sequence_length=100) == 2 * 8 * 16 + 3 * 2 * (2 * 8 + 16)
    for mixer in (DeltaNet(16), GatedDeltaNet(16, heads=2)):
        conv, S = mixer(torch.randn(1, 5, 16))[1]
        assert conv.numel() + S.numel() == mixer.state_size(sequence_length=5)  # what it carries, all of it
    _, (past, S) = DeltaNet(16, heads=2, conv_size=3)(torch.randn(2, 5, 16))
    assert S.shape == (2, 2, 8, 8) and past.shape == (2, 2, 3 * 16)  # the convolution's last 2 inputs of q, k, v


def make_task():
    return seqmem.make_task("associative-recall", layout="zoology", length=24, pairs=3, queries=3, vocab=32,
                            test_size=4, validation_size=4)


@pytest.mark.parametrize("name", ["deltanet", "gated-deltanet"])
@pytest.mark.parametrize("params, expected", [
    ({"heads": 3}, "heads must divide d_model (16), got 3"),
    ({"heads": 0}, "heads must be an integer >= 1"),
    ({"expand_v": 0}, "expand_v must be an integer >= 1"),
    ({"conv_size": 0}, "conv_size must be an integer >= 1"),
    ({"chunk": 0}, "chunk must be an integer >= 1"),
    ({"d_model": 0}, "d_model must be an integer >= 1"),
])
def test_bad_settings_name_themselves(name, params, expected):
    with pytest.raises(ConfigError) as error:
        seqmem.make_model(name, make_task(), **{"d_model": 16, **params})
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_a_flag_that_is_not_a_truth_value_is_refused():
    with pytest.raises(ConfigError, match="negative_eigenvalues must be true or false, got 'yes'"):
        DeltaNet(16, negative_eigenvalues="yes")


@pytest.mark.parametrize("name, flags", [("deltanet", ["--negative-eigenvalues", "true"]),
                                         ("gated-deltanet", ["--heads", "2", "--chunk", "8"])])
def test_it_trains_from_the_command_line_with_its_own_flags(tmp_path, name, flags):
    out = tmp_path / "run"
    assert main(["train", "associative-recall", "--model", name, "--d-model", "16", "--layers", "1", *flags,
                 "--layout", "zoology", "--length", "24", "--pairs", "3", "--queries", "3", "--vocab", "32",
                 "--steps", "3", "--set", "test_size=8", "--set", "validation_size=8", "--quiet",
                 "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["name"] == name
    assert config["model"]["negative_eigenvalues"] is ("--negative-eigenvalues" in flags)
    summary = json.loads((out / "summary.json").read_text())
    heads = 2 if "--heads" in flags else 4
    expand_v = 2 if name == "gated-deltanet" else 1
    key, value = 16 // heads, expand_v * 16 // heads
    assert summary["state_size"] == heads * key * value + 3 * heads * (2 * key + value)


def test_it_learns_mqar_far_past_the_memoryless_baseline():
    task = seqmem.make_task("associative-recall", layout="zoology", length=16, pairs=2, queries=2, vocab=32,
                            test_size=200, validation_size=200)
    model = seqmem.make_model("deltanet", task, d_model=32, layers=2, heads=1, seed=0)
    result = seqmem.train(model, task, seqmem.TrainConfig(steps=150, lr=3e-3, clip=1.0, batch_size=32,
                                                          eval_every=150), progress=False)
    assert result.recall_accuracy > 0.8 > 0.1 > task.baseline().recall_accuracy
