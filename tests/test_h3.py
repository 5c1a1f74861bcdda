"""H3 (seqmem/mixers/h3.py): the chunked form equals the step-by-step one and H3 written out from the paper's
equations (its shift and diagonal SSMs as explicit convolutions from their matrices), a stream in pieces equals
the whole, no output sees a later input; its settings refused where bad; it trains from the command line and
learns MQAR past the memoryless baseline."""

import json

import mixer_forms as forms
import pytest
import torch
from convolutions import convolve
from torch.utils.flop_counter import FlopCounterMode

import seqmem
from seqmem.cli import main
from seqmem.errors import ConfigError
from seqmem.kernels.stream_conv import fft_flops
from seqmem.mixers.h3 import H3

SETTINGS = [{"d_state": 8}, {"d_state": 32}, {"d_state": 4, "head_dim": 2}, {"d_state": 6, "head_dim": 4}]


def shift_kernel(mixer: H3, length: int) -> torch.Tensor:
    """The shift SSM's kernel from its matrices (Fu et al. 2023, section 3.1): A the N x N shift down, B = e_1, C
    the mixer's, K_j = C A^j B, and D at lag 0: `(D, length)`."""
    N = mixer.d_state
    A = torch.diag(torch.ones(N - 1, dtype=mixer.shift.dtype), -1)  # x_t[n] = x_(t-1)[n - 1]
    x, taps = torch.zeros(N, dtype=A.dtype), []
    x[0] = 1  # B = e_1
    for _ in range(length):
        taps.append(mixer.shift @ x)  # (D,): C A^j B
        x = A @ x
    K = torch.stack(taps, dim=1)
    K[:, 0] += mixer.shift_skip
    return K


def diagonal_kernel(mixer: H3, length: int) -> torch.Tensor:
    """The diagonal SSM's kernel (S4D, Gu et al. 2022): K_j = 2 Re(sum_n C_n dA_n^j dB_n), dA = exp(dt A) and
    dB = (dA - 1) / A (zero-order hold), A_n = -exp(a_n) + i b_n, and D at lag 0: `(H, length)`, in complex128."""
    ssm = mixer.ssm
    A = torch.complex(-torch.exp(ssm.log_neg_A_real.double()), ssm.A_imag.double())  # (H, N/2)
    dA = torch.exp(A * torch.exp(ssm.log_dt.double()).unsqueeze(-1))
    dB = (dA - 1) / A
    C = torch.view_as_complex(ssm.C.double().contiguous())
    j = torch.arange(length, dtype=torch.float64)
    powers = dA.unsqueeze(-1) ** j  # (H, N/2, length)
    K = 2 * (C.unsqueeze(-1) * dB.unsqueeze(-1) * powers).sum(1).real
    K[:, 0] += ssm.D.double()
    return K


def reference(mixer: H3, u: torch.Tensor) -> torch.Tensor:
    """H3: q, k, v linear maps; k through the shift SSM, times v, through the diagonal SSM, times q, the output map;
    with heads, y_j = sum_i q_i SSM_diag(SSM_shift(k)_i v_j) in each head (H3's `src/models/ssm/h3.py`)."""
    B, L, D = u.shape
    q, k, v = mixer.qkv(u).chunk(3, dim=-1)
    k = convolve(k, shift_kernel(mixer, L).to(u.dtype))
    K, E = diagonal_kernel(mixer, L).to(u.dtype), mixer.head_dim
    q, k, v = (t.view(B, L, mixer.heads, E) for t in (q, k, v))
    y = torch.zeros(B, L, mixer.heads, E, dtype=u.dtype)
    for i in range(E):
        for j in range(E):
            y[..., j] += q[..., i] * convolve(k[..., i] * v[..., j], K)
    return mixer.out(y.reshape(B, L, D))


@pytest.mark.parametrize("settings", SETTINGS)
def test_it_equals_h3_written_out_from_its_ssms(settings):
    mixer = forms.build(H3, **settings)
    u = forms.inputs(2, 40, 16)  # longer than the shift SSM's taps
    forms.assert_close(mixer(u)[0], reference(mixer, u), "output")
    control = forms.build(H3, seed=1, **settings)  # other weights: differs
    assert (control(u)[0] - reference(mixer, u)).abs().max() > 1e-3


def test_the_shift_ssm_is_a_convolution_with_its_c():
    mixer = forms.build(H3, d_state=8)
    K = shift_kernel(mixer, 12)
    assert torch.equal(K[:, 1:8], mixer.shift[:, 1:].detach()) and not K[:, 8:].any()
    assert torch.allclose(K[:, 0], (mixer.shift[:, 0] + mixer.shift_skip).detach())


@pytest.mark.parametrize("settings", SETTINGS)
def test_the_chunked_form_equals_the_step_by_step_one_in_values_and_gradients(settings):
    forms.chunked_equals_step_by_step(forms.build(H3, **settings))


@pytest.mark.parametrize("settings", SETTINGS[1:3])
def test_a_stream_in_pieces_equals_the_whole(settings):
    forms.stream_in_pieces_equals_whole(forms.build(H3, **settings))


@pytest.mark.parametrize("settings", SETTINGS[2:3])
def test_no_output_sees_a_later_input_and_gradients_pass_gradcheck(settings):
    mixer = forms.build(H3, **settings)
    forms.no_output_sees_a_later_input(mixer)
    forms.passes_gradcheck(mixer)


def test_its_state_is_the_shift_register_and_the_diagonal_modes():
    mixer = H3(16, d_state=8, head_dim=2)
    _, (keys, modes) = mixer(torch.randn(3, 5, 16))
    assert keys.shape == (3, 7, 16) and modes.shape == (3 * 4, 8, 4) and modes.is_complex()
    assert mixer.state_size(sequence_length=100) == 16 * 7 + 8 * 4 * 8 == keys[0].numel() + 2 * modes[:4].numel()
    assert not hasattr(mixer, "receptive_field")  # the diagonal SSM sees the whole past


@pytest.mark.parametrize("settings", [{"d_state": 8}, {"d_state": 64}, {"d_state": 8, "head_dim": 2}])
def test_its_flops_are_the_matmuls_pytorch_counts_plus_the_ffts_gates_and_complex_products(settings):
    """PyTorch's counter sees the projections, a short shift convolution, the diagonal SSM's matmuls (its complex
    kernel product counted as real, 2 a multiply-add where it costs 8) and the heads' readout."""
    mixer, L, D, N = H3(16, l_max=64, **settings), 64, 16, settings["d_state"]
    with FlopCounterMode(display=False) as counter:
        mixer(torch.randn(1, L, D))
    conv = 3 * fft_flops(2 * L) + 6 * (L + 1)
    unseen = (D * conv if N > 32 else 0) + mixer.heads * mixer.head_dim ** 2 * conv  # the FFT convolutions
    unseen += 6 * mixer.heads * (N // 2) * L + D * mixer.head_dim * L  # the kernel's complex products, k v
    unseen += 2 * D * L if mixer.head_dim == 1 else 0  # q read elementwise
    assert mixer.flops(L) == counter.get_total_flops() + unseen


@pytest.mark.parametrize("settings, expected", [
    ({"d_state": 7}, "d_state must be even"),
    ({"d_state": 0}, "d_state must be an integer >= 2"),
    ({"head_dim": 3}, "head_dim must divide d_model (16), got 3"),
    ({"dt_min": 0.5, "dt_max": 0.1}, "need 0 < dt_min <= dt_max"),
])
def test_bad_settings_name_themselves(settings, expected):
    task = seqmem.make_task("associative-recall", layout="zoology", length=24, pairs=3, queries=3, vocab=32,
                            test_size=4, validation_size=4)
    with pytest.raises(ConfigError) as error:
        seqmem.make_model("h3", task, d_model=16, **settings)
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_it_trains_from_the_command_line_with_its_own_flags(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "associative-recall", "--layout", "zoology", "--length", "24", "--pairs", "3", "--queries",
                 "3", "--vocab", "32", "--model", "h3", "--d-model", "16", "--layers", "1", "--d-state", "24",
                 "--head-dim", "2", "--steps", "3", "--set", "test_size=8", "--set", "validation_size=8",
                 "--quiet", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["d_state"] == 24 and config["model"]["head_dim"] == 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["state_size"] == 16 * 23 + 8 * 4 * 24


def test_it_learns_mqar_far_past_the_memoryless_baseline():
    task = seqmem.make_task("associative-recall", layout="zoology", length=16, pairs=2, queries=2, vocab=32,
                            test_size=200, validation_size=200)
    model = seqmem.make_model("h3", task, d_model=32, layers=2, seed=0)
    result = seqmem.train(model, task, seqmem.TrainConfig(steps=200, lr=3e-3, clip=1.0, batch_size=32,
                                                          eval_every=200), progress=False)
    assert result.recall_accuracy > 0.3 > 4 * task.baseline().recall_accuracy
