"""The chunk-to-chunk state scan: equal to the loop it replaces, and its hand-written backward to autograd's
(gradcheck), for a decay a head and a decay a key, from zeros or a given state, with either output unused."""

import pytest
import torch

from seqmem.kernels.chunk_scan import chunk_states


def loop(carry, added, initial):
    S, starts = initial, []
    for n in range(added.shape[2]):
        starts.append(S)
        S = carry[:, :, n] * S + added[:, :, n]
    return torch.stack(starts, dim=2), S


@pytest.mark.parametrize("carry_shape", [(2, 3, 5, 1, 1), (2, 3, 5, 4, 1), (1, 3, 5, 1, 1)])
def test_it_equals_the_loop_and_passes_gradcheck(carry_shape):
    gen = torch.Generator().manual_seed(0)
    carry = torch.rand(carry_shape, generator=gen, dtype=torch.float64).requires_grad_()
    added = torch.randn(2, 3, 5, 4, 6, generator=gen, dtype=torch.float64).requires_grad_()
    initial = torch.randn(2, 3, 4, 6, generator=gen, dtype=torch.float64).requires_grad_()
    for got, want in zip(chunk_states(carry, added, initial), loop(carry, added, initial), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    assert torch.autograd.gradcheck(chunk_states, (carry, added, initial))
    for which in (0, 1):  # each output alone: the other's gradient reaches the backward as None
        got = torch.autograd.grad(chunk_states(carry, added, initial)[which].sum(), (carry, added, initial))
        want = torch.autograd.grad(loop(carry, added, initial)[which].sum(), (carry, added, initial))
        for a, b in zip(got, want, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
