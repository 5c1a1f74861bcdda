"""What the tests of every chunked mixer check the same way (seqmem/mixers/): its chunked form (`forward`) equals
its step-by-step form (`step_by_step`) in values and in every gradient, a stream fed in pieces equals the whole
in both forms, no output sees a later input, and float64 gradients pass gradcheck at a small size.

A chunked mixer is built as `cls(d_model, **settings)`; `forward(u, state=None)` and `step_by_step(u,
state=None)` both return `(y, state)` for u, y of shape `(B, L, D)`, and take each other's states."""

from __future__ import annotations

import torch


def build(cls, d_model: int = 16, seed: int = 0, dtype=torch.float64, **settings):
    torch.manual_seed(seed)
    return cls(d_model, **settings).to(dtype)


def inputs(batch: int, length: int, d_model: int, seed: int = 1, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(batch, length, d_model, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def outputs_and_gradients(mixer, u: torch.Tensor, form: str, pieces: list[int] | None = None):
    """y and the gradients of a fixed random projection of y with respect to every parameter and to u, the input
    fed whole or split at `pieces`, the state carried between."""
    u = u.detach().requires_grad_(True)
    run = getattr(mixer, form)
    ys, state = [], None
    for piece in torch.tensor_split(u, pieces or [], dim=1):
        y, state = run(piece, state)
        ys.append(y)
    y = torch.cat(ys, dim=1)
    weights = torch.randn(y.shape, generator=torch.Generator().manual_seed(2), dtype=y.dtype)
    params = [p for p in mixer.parameters() if p.requires_grad]
    grads = torch.autograd.grad((y * weights).sum(), [*params, u], allow_unused=True)
    return y.detach(), [torch.zeros_like(t) if g is None else g for g, t in zip(grads, [*params, u], strict=True)]


def assert_close(a, b, what: str, tol: float = 1e-8) -> None:
    error = (a - b).abs().max().item()
    scale = max(b.abs().max().item(), 1.0)
    assert error <= tol * scale, f"{what}: differs by {error:.3g} (scale {scale:.3g})"


def chunked_equals_step_by_step(mixer, length: int = 37, batch: int = 2, tol: float = 1e-8) -> None:
    """The chunked form equals the step-by-step one, in values and every gradient (float64: a length that
    is not a multiple of the chunk, so a partial last chunk is covered)."""
    u = inputs(batch, length, u_width(mixer))
    y_chunked, g_chunked = outputs_and_gradients(mixer, u, "forward")
    y_steps, g_steps = outputs_and_gradients(mixer, u, "step_by_step")
    assert_close(y_chunked, y_steps, "output", tol)
    names = [n for n, p in mixer.named_parameters() if p.requires_grad] + ["input"]
    for name, a, b in zip(names, g_chunked, g_steps, strict=True):
        assert_close(a, b, f"gradient of {name}", tol)


def stream_in_pieces_equals_whole(mixer, pieces=(5, 6, 29), length: int = 37, tol: float = 1e-8) -> None:
    """Fed in pieces with the state carried, each form gives the whole stream's outputs and gradients; and the
    state matters (control: the last piece fed alone differs)."""
    u = inputs(2, length, u_width(mixer))
    for form in ("forward", "step_by_step"):
        y_whole, g_whole = outputs_and_gradients(mixer, u, form)
        y_pieces, g_pieces = outputs_and_gradients(mixer, u, form, list(pieces))
        assert_close(y_pieces, y_whole, f"{form}: output in pieces", tol)
        for a, b in zip(g_pieces, g_whole, strict=True):
            assert_close(a, b, f"{form}: gradient in pieces", tol)
        alone = getattr(mixer, form)(u[:, pieces[-1]:])[0]
        assert (alone - y_whole[:, pieces[-1]:]).abs().max() > 1e-6, f"{form}: the state carried changes nothing"


def no_output_sees_a_later_input(mixer, length: int = 40, at: int = 23) -> None:
    """Changing the input at step `at` leaves every output before it as it was, and changes the one at it."""
    u = inputs(2, length, u_width(mixer))
    changed = u.clone()
    changed[:, at] += 1.0
    with torch.no_grad():
        y, y_changed = mixer(u)[0], mixer(changed)[0]
    assert torch.equal(y[:, :at], y_changed[:, :at]) or (y[:, :at] - y_changed[:, :at]).abs().max() < 1e-12
    assert (y[:, at] - y_changed[:, at]).abs().max() > 1e-6


def passes_gradcheck(mixer, length: int = 9, batch: int = 1) -> None:
    """float64 gradients of the chunked form against finite differences, at a small size."""
    u = inputs(batch, length, u_width(mixer)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: mixer(x)[0], (u,), eps=1e-6, atol=1e-5)


def u_width(mixer) -> int:
    return mixer.d_model
