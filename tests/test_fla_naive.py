"""seqmem's linear-attention kernels against fla's published naive forms (fla-org/flash-linear-attention,
`fla/ops/{gla,simple_gla,retention,linear_attn}/naive.py`, shipped in fla-core, the compare extra): the same
inputs in fla's layout (B, L, H, D) and its 1/sqrt(K) query scale, the outputs and final states equal.
The delta rules' comparisons are in tests/test_deltanet.py."""

import math

import torch
from fla_reference import fla_naive

from seqmem.kernels import scalar_decay
from seqmem.kernels.gated_linear import gla_chunked, gla_step_by_step


def draws(B=2, H=3, L=37, K=8, V=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k = torch.randn(B, H, L, K, generator=g), torch.randn(B, H, L, K, generator=g)
    v = torch.randn(B, H, L, V, generator=g)
    state = torch.randn(B, H, K, V, generator=g)
    return q, k, v, state, g


def fla_layout(*tensors):
    return [t.transpose(1, 2) for t in tensors]  # (B, H, L, ...) -> fla's (B, L, H, ...)


def test_gla_equals_flas_naive_recurrent_gla():
    naive = fla_naive("gla")
    q, k, v, state, g = draws()
    gk = torch.nn.functional.logsigmoid(torch.randn(q.shape, generator=g)) / 4  # a log decay per key dimension
    o_ref, S_ref = naive.naive_recurrent_gla(*fla_layout(q, k, v, gk), initial_state=state, output_final_state=True)
    scaled = q * q.shape[-1] ** -0.5  # fla scales the queries inside
    for form in (gla_step_by_step, lambda *a, **kw: gla_chunked(*a, chunk=16, **kw)):
        o, S = form(scaled, k, v, gk, state=state)
        assert torch.allclose(o.transpose(1, 2), o_ref, atol=1e-4) and torch.allclose(S, S_ref, atol=1e-4)


def test_the_scalar_decay_kernel_equals_flas_naive_simple_gla():
    naive = fla_naive("simple_gla")
    q, k, v, state, g = draws()
    log_a = torch.nn.functional.logsigmoid(torch.randn(q.shape[:3], generator=g) + 2)  # (B, H, L)
    o_ref, S_ref = naive.naive_recurrent_simple_gla(*fla_layout(q, k, v), log_a.transpose(1, 2),
                                                    initial_state=state, output_final_state=True)
    scaled = q * q.shape[-1] ** -0.5
    for form in (scalar_decay.step_by_step, lambda *a, **kw: scalar_decay.chunked(*a, chunk=16, **kw)):
        o, S = form(scaled, k, v, log_a, state=state)
        assert torch.allclose(o.transpose(1, 2), o_ref, atol=1e-4) and torch.allclose(S, S_ref, atol=1e-4)


def test_a_fixed_decay_a_head_is_flas_naive_retention():
    naive = fla_naive("retention")
    q, k, v, _, _ = draws(H=4)
    heads = torch.arange(4, dtype=torch.float32)
    gamma = 1 - 2.0 ** (-5 - heads)  # RetNet's decay of head h
    log_a = gamma.log().view(1, 4, 1).expand(q.shape[:3])
    o_ref = naive.naive_retention(q, k, v)  # (B, H, L, V) in and out, the queries scaled inside
    o, _ = scalar_decay.chunked(q * q.shape[-1] ** -0.5, k, v, log_a, chunk=16)
    assert torch.allclose(o, o_ref, atol=1e-4)


def test_no_decay_is_flas_naive_linear_attention_normalised_or_not():
    naive = fla_naive("linear_attn")
    q, k, v, _, _ = draws()
    q, k = q.exp(), k.exp()  # a positive feature map, so the normaliser is positive
    scale = q.shape[-1] ** -0.5
    for normalize in (False, True):
        o_ref, _ = naive.naive_recurrent_linear_attn(*fla_layout(q, k, v), normalize=normalize)
        if normalize:
            o = scalar_decay.normalise(scalar_decay.chunked(q * scale, k, scalar_decay.with_ones(v), chunk=16)[0])
        else:
            o = scalar_decay.chunked(q * scale, k, v, chunk=16)[0]
        assert torch.allclose(o.transpose(1, 2), o_ref, atol=1e-4 * math.e), normalize
