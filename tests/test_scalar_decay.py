"""The scalar-decay kernel: both forms equal the recurrence S_t = a_t S_{t-1} + k_t v_t^T, o_t = q_t S_t written
out here a step at a time, in values and gradients, from a carried state, with negative decays, heads shared
by q and k, the normaliser, and decays far below what exp can undo."""

import pytest
import torch

from seqmem.kernels.scalar_decay import (
    WithinChunks,
    chunked,
    flops,
    normalise,
    split_decay,
    step_by_step,
    with_ones,
)


def recurrence(q, k, v, a, S):
    """The equations, one batch, head and step at a time: S <- a S + k v^T, o = q S."""
    B, H, L, _ = v.shape
    out = torch.zeros(B, H, L, v.shape[-1], dtype=v.dtype)
    S = S.clone()
    for b in range(B):
        for h in range(H):
            for t in range(L):
                qh, kh = q[b, min(h, q.shape[1] - 1), t], k[b, min(h, k.shape[1] - 1), t]
                S[b, h] = a[b, h, t] * S[b, h] + torch.outer(kh, v[b, h, t])
                out[b, h, t] = qh @ S[b, h]
    return out, S


def draw(B=2, H=3, L=23, K=4, V=5, shared=False, negative=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, 1 if shared else H, L, K, generator=g, dtype=torch.float64)
    k = torch.randn(B, 1 if shared else H, L, K, generator=g, dtype=torch.float64)
    v = torch.randn(B, H, L, V, generator=g, dtype=torch.float64)
    a = torch.rand(B, H, L, generator=g, dtype=torch.float64) * 0.6 + 0.4  # in (0.4, 1)
    if negative:
        a = a * torch.where(torch.rand(B, H, L, generator=g) < 0.4, -1.0, 1.0).double()
    S0 = torch.randn(B, H, K, V, generator=g, dtype=torch.float64)
    return q, k, v, a, S0


@pytest.mark.parametrize("chunk", [1, 4, 7, 23, 64])
@pytest.mark.parametrize("shared, negative", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("K, V", [(4, 5), (6, 3)])  # the decays scale the narrower side: both sides covered
def test_both_forms_equal_the_recurrence_from_a_carried_state(chunk, shared, negative, K, V):
    q, k, v, a, S0 = draw(shared=shared, negative=negative, K=K, V=V)
    expected, S_expected = recurrence(q, k, v, a, S0)
    log_a, sign = split_decay(a)
    sign = sign if negative else None
    for form in (lambda: chunked(q, k, v, log_a, sign, S0, chunk=chunk), lambda: step_by_step(q, k, v, log_a, sign, S0)):
        o, S = form()
        assert torch.allclose(o, expected, atol=1e-10) and torch.allclose(S, S_expected, atol=1e-10)
    if negative:  # control: the signs dropped, the outputs differ
        assert not torch.allclose(chunked(q, k, v, log_a, None, S0, chunk=chunk)[0], expected, atol=1e-3)


def test_no_decay_is_plain_causal_linear_attention():
    q, k, v, _, _ = draw()
    expected = ((q @ k.transpose(-1, -2)).tril()) @ v  # (Q K^T masked) V
    assert torch.allclose(chunked(q, k, v, chunk=5)[0], expected, atol=1e-10)
    assert torch.allclose(step_by_step(q, k, v)[0], expected, atol=1e-10)


@pytest.mark.parametrize("shared", [False, True])  # shared: the state's matmuls with the heads side by side
def test_gradients_of_the_chunked_form_equal_the_step_form(shared):
    q, k, v, a, S0 = draw(negative=True, L=19, shared=shared)
    log_a, sign = split_decay(a)
    inputs = [t.clone().requires_grad_(True) for t in (q, k, v, log_a, S0)]
    weights = torch.randn(2, 3, 19, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)

    def grads(form, **kw):
        o, S = form(*inputs[:4], sign, inputs[4], **kw)
        return torch.autograd.grad((o * weights).sum() + S.sum(), inputs)

    for a_grad, b_grad in zip(grads(chunked, chunk=4), grads(step_by_step), strict=True):
        assert torch.allclose(a_grad, b_grad, atol=1e-9)


def test_decays_far_beyond_exp_stay_finite_in_float32():
    """log decays of -200 a step: the cumulative sums reach -4000, whose exp underflows and whose negation
    overflows; masked differences keep every output finite, the state forgets, and gradients are finite."""
    q, k, v, _, S0 = draw(L=20)
    q, k, v, S0 = (t.float() for t in (q, k, v, S0))
    log_a = torch.full((2, 3, 20), -200.0, requires_grad=True)
    o, S = chunked(q, k, v, log_a, None, S0, chunk=16)
    assert torch.isfinite(o).all() and torch.isfinite(S).all()
    assert torch.allclose(o, (q * k).sum(-1, keepdim=True) * v, atol=1e-5)  # each step sees only itself
    o.sum().backward()
    assert torch.isfinite(log_a.grad).all()
    zero = split_decay(torch.zeros(3))[0]  # a decay of exactly 0 has a finite log
    assert torch.isfinite(zero).all()


def test_the_normaliser_is_q_dot_the_decayed_sum_of_keys():
    q, k, v, a, _ = draw()
    q, k = q.abs(), k.abs()
    log_a, _ = split_decay(a)
    o, S = chunked(q, k, with_ones(v), log_a, chunk=6)
    z = torch.zeros(2, 3, 4, dtype=torch.float64)
    for t in range(23):
        z = a[:, :, t, None] * z + k[:, :, t]
        assert torch.allclose(o[:, :, t, -1], (q[:, :, t] * z).sum(-1), atol=1e-10)
    expected, _ = recurrence(q, k, v, a, torch.zeros(2, 3, 4, 5, dtype=torch.float64))
    assert torch.allclose(normalise(o), expected / (o[..., -1:] + 1e-6), atol=1e-10)
    assert torch.allclose(S[..., -1], z, atol=1e-10)


def test_flops_count_the_padded_chunks():
    assert flops(64, 1, 4, 5, chunk=64) == 64 * (2 * 64 * 9 + 4 * 20)
    assert flops(65, 2, 4, 5, chunk=64) == 2 * 128 * (2 * 64 * 9 + 4 * 20)
    assert flops(10, 1, 4, 5, chunk=64) == 10 * (2 * 10 * 9 + 4 * 20)


@pytest.mark.parametrize("shared", [False, True])
def test_the_within_chunk_backward_written_out_passes_gradcheck(shared):
    g = torch.Generator().manual_seed(4)
    q, k = (torch.randn(1, 1 if shared else 2, 3, 5, 3, generator=g, dtype=torch.float64, requires_grad=True)
            for _ in range(2))
    c = (-torch.rand(1, 2, 3, 5, generator=g, dtype=torch.float64)).cumsum(-1).requires_grad_(True)
    v = torch.randn(1, 2, 3, 5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(WithinChunks.apply, (q, k, c, v), eps=1e-6, atol=1e-6)
