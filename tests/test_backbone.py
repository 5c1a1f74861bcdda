"""The backbone: a mixer written in zoology's convention and one in mad-lab's each build and train in it, fla's tuple
output is read, a streaming mixer's state is the backbone's (the state-space layers' included: chunks equal the whole),
the settings, dropout and weight-decay exemptions hold for any mixer, and bad settings and mixers are refused in one
line naming them."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import seqmem
from seqmem.cli import main
from seqmem.errors import ConfigError
from seqmem.mixers.attention import Attention
from seqmem.models.backbone import Backbone
from seqmem.models.lru import LRULayer
from seqmem.models.mamba import MambaBlock
from seqmem.models.s4d import S4DLayer
from seqmem.run.contract import model_checks
from seqmem.run.denormals import flushed_denormals
from seqmem.training.methods.shared import decays


class ZoologyGatedConv(nn.Module):
    """A gated short convolution in zoology's convention, re-implemented from the form of HazyResearch/zoology's
    `zoology/mixers/base_conv.py` (`BaseConv`): `(d_model, l_max, kernel_size, layer_idx, ..., **kwargs)`, the
    output a causal depthwise convolution of u times a linear map of u, plus u."""

    built = []

    def __init__(self, d_model: int, l_max: int, kernel_size: int = 3, layer_idx: int | None = None,
                 use_act: bool = False, **kwargs):
        super().__init__()
        self.d_model, self.l_max, self.layer_idx, self.use_act = d_model, l_max, layer_idx, use_act
        self.projection = nn.Linear(d_model, d_model)
        self.conv = nn.Conv1d(d_model, d_model, kernel_size, groups=d_model, padding=kernel_size - 1)
        ZoologyGatedConv.built.append((layer_idx, l_max, kwargs))

    def forward(self, u, *args, **kwargs):
        conv = self.conv(u.transpose(1, 2))[..., : u.shape[1]].transpose(1, 2)  # causal: the right padding cut
        proj = self.projection(u)
        y = F.silu(conv) * F.silu(proj) if self.use_act else conv * proj
        return y + u


class MadLabLongConv(nn.Module):
    """A layer in mad-lab's convention, `(dim, max_length, ...)`: a learned causal kernel as long as the sequence,
    one a channel, gated by a linear map of the input (an FFT convolution)."""

    def __init__(self, dim: int, max_length: int, decay: float = 0.3):
        super().__init__()
        self.max_length = max_length
        steps = torch.arange(max_length, dtype=torch.float)
        self.kernel = nn.Parameter(torch.randn(dim, max_length) * torch.exp(-decay * steps) / 4)  # (D, L)
        self.gate = nn.Linear(dim, dim)

    def forward(self, x):
        L = x.shape[1]
        n = 2 * L
        y = torch.fft.irfft(torch.fft.rfft(x.transpose(1, 2), n=n) * torch.fft.rfft(self.kernel[:, :L], n=n), n=n)
        return y[..., :L].transpose(1, 2) * torch.sigmoid(self.gate(x))  # (B, L, D)


class FlaStyle(nn.Module):
    """A layer as fla's layers are called: `forward(hidden_states, attention_mask=None, past_key_values=None)`
    returning `(o, attentions, past_key_values)`; here a causal running mean."""

    def __init__(self, d_model: int, layer_idx: int | None = None):
        super().__init__()
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, hidden_states, attention_mask=None, past_key_values=None, **kwargs):
        steps = torch.arange(1, hidden_states.shape[1] + 1).unsqueeze(-1)
        return self.proj(hidden_states.cumsum(1) / steps), None, past_key_values


class RunningSum(nn.Module):
    """A mixer that streams: y_t = W (sum of u up to t); its state the sum so far."""

    def __init__(self, d_model: int):
        super().__init__()
        self.map = nn.Linear(d_model, d_model)

    def forward(self, u, state=None):
        total = u.cumsum(1) + (0 if state is None else state.unsqueeze(1))
        return self.map(total) / 10, total[:, -1]


def recall_task(length=24):
    return seqmem.make_task("associative-recall", layout="zoology", length=length, pairs=3, queries=3, vocab=32,
                            test_size=16, validation_size=16)


def train_a_few_steps(model, task, steps=10, lr=1e-2):
    """The loss on one batch before and after `steps` Adam updates on it (denormals flushed, as seqmem trains)."""
    batch = task.get("test", torch.arange(16))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    with flushed_denormals():
        losses = [update(model, optimizer, batch) for _ in range(steps + 1)]
    return losses[0], losses[-1]


def update(model, optimizer, batch) -> float:
    loss = F.cross_entropy(model(batch.x, None, cond=batch.cond)[0].flatten(0, 1), batch.y.flatten())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()



def test_a_mixer_in_zoologys_convention_is_built_a_layer_with_its_index_and_the_tasks_length_and_trains():
    torch.manual_seed(0)
    ZoologyGatedConv.built.clear()
    task = recall_task()
    model = Backbone(task, ZoologyGatedConv, {"kernel_size": 4, "use_act": True, "extra": 1}, d_model=16, layers=3)
    assert ZoologyGatedConv.built == [(i, 24, {"extra": 1}) for i in range(3)]
    assert [b.mixer.conv.kernel_size for b in model.blocks] == [(4,)] * 3
    assert all(passed for passed, _ in model_checks(model, task)), list(model_checks(model, task))
    first, last = train_a_few_steps(model, task)
    assert last < 0.8 * first


def test_a_mixer_in_mad_labs_convention_gets_dim_and_max_length_and_trains():
    torch.manual_seed(0)
    task = recall_task()
    model = Backbone(task, MadLabLongConv, {"decay": 0.1}, d_model=16, layers=2, state_mixer="swiglu")
    assert [(b.mixer.kernel.shape, b.mixer.max_length) for b in model.blocks] == [((16, 24), 24)] * 2
    assert all(passed for passed, _ in model_checks(model, task))
    first, last = train_a_few_steps(model, task)
    assert last < 0.8 * first


def test_a_tuple_from_a_mixer_that_does_not_stream_is_read_as_its_output():
    torch.manual_seed(0)
    task = recall_task()
    model = Backbone(task, FlaStyle, d_model=16)
    logits, state = model(task.get("test", torch.arange(2)).x)
    assert logits.shape == (2, 24, task.num_classes) and state is None  # no state: chunks start afresh
    assert all(passed for passed, _ in model_checks(model, task))


def test_a_mixer_that_streams_carries_its_state_through_the_backbone():
    torch.manual_seed(0)
    task = recall_task()
    model = Backbone(task, RunningSum, d_model=16, layers=2)
    x = task.get("test", torch.arange(2)).x
    whole, state = model(x)
    assert len(state) == 2 and all(s.shape == (2, 16) for s in state)
    first, carried = model(x[:, :9])
    assert torch.allclose(torch.cat([first, model(x[:, 9:], carried)[0]], dim=1), whole, atol=1e-5)
    assert not torch.allclose(model(x[:, 9:])[0], whole[:, 9:], atol=1e-3)  # control: the state matters


@pytest.mark.parametrize("mixer, settings", [(S4DLayer, {"state_size": 8}), (LRULayer, {"state_size": 8}),
                                             (MambaBlock, {"state_size": 4}), (MambaBlock, {"scan": "loop"})])
def test_the_state_space_layers_are_mixers_whose_streams_in_chunks_equal_the_whole(mixer, settings):
    torch.manual_seed(0)
    task = recall_task()
    model = Backbone(task, mixer, settings, d_model=8, layers=2)
    x = task.get("test", torch.arange(3)).x
    weights = torch.randn(3, 24, task.num_classes, generator=torch.Generator().manual_seed(1))
    whole = model(x)[0]
    grads_whole = torch.autograd.grad((whole * weights).sum(), list(model.parameters()))
    pieces, state = [], None
    for piece in torch.tensor_split(x, [7, 8, 19], dim=1):
        logits, state = model(piece, state)
        pieces.append(logits)
    pieces = torch.cat(pieces, dim=1)
    grads_pieces = torch.autograd.grad((pieces * weights).sum(), list(model.parameters()))
    assert model.receptive_field == math.inf
    assert torch.allclose(pieces, whole, atol=1e-4)
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(grads_pieces, grads_whole, strict=True))
    assert not torch.allclose(model(x[:, 8:])[0], whole[:, 8:], atol=1e-3)  # control: the state matters


@pytest.mark.parametrize("task_name, settings", [
    ("adding", {"length": 20, "test_size": 8, "validation_size": 8}),  # float inputs, one answer a sequence
    ("echo-letters", {"max_delay": 3, "test_size": 8, "validation_size": 8}),  # a per-sequence condition
])
@pytest.mark.parametrize("condition", ["input", "head", "both"])
def test_any_task_is_encoded_and_answered_as_the_other_models_do(task_name, settings, condition):
    torch.manual_seed(0)
    task = seqmem.make_task(task_name, **settings)
    model = Backbone(task, Attention, d_model=8, condition=condition, encoder="onehot")
    results = list(model_checks(model, task))
    assert all(passed for passed, _ in results), results


def test_the_state_mixer_and_the_norm_are_what_they_say():
    task = recall_task()
    count = {k: sum(p.numel() for p in Backbone(task, FlaStyle, d_model=24, layers=1, state_mixer=k).parameters())
             for k in ("mlp", "swiglu", "none")}
    mlp = 24 * 96 + 96 + 96 * 24 + 24 + 2 * 24  # up, down, and the norm before it
    assert count["mlp"] - count["none"] == mlp
    assert abs(count["swiglu"] - count["mlp"]) < 0.05 * mlp  # about the MLP's parameters
    rms = Backbone(task, FlaStyle, d_model=24, norm="rmsnorm")
    assert isinstance(rms.norm, nn.RMSNorm) and isinstance(rms.blocks[0].mixer_norm, nn.RMSNorm)


def test_dropout_acts_in_training_only():
    torch.manual_seed(0)
    task = recall_task()
    model = Backbone(task, Attention, d_model=16, dropout=0.5)
    x = task.get("test", torch.arange(2)).x
    model.eval()
    evaluated = model(x)[0]
    model.train()
    assert not torch.allclose(model(x)[0], evaluated)
    model.blocks.apply(lambda m: setattr(m, "p", 0.0) if isinstance(m, nn.Dropout) else None)
    assert torch.allclose(model(x)[0], evaluated)  # control: dropout was the only difference


def test_weight_decay_spares_norms_biases_embeddings_and_dynamics_whatever_the_mixer():
    task = recall_task()
    names = {}
    for mixer, settings in ((Attention, {"positions": "learned"}), (S4DLayer, {}), (LRULayer, {}), (MambaBlock, {})):
        model = Backbone(task, mixer, settings, d_model=8)
        names.update({n: decays(n, p) for n, p in model.named_parameters()})
    spared = [n for n, d in names.items() if not d]
    assert "encoder.embedding.weight" in spared and "blocks.0.mixer.position" in spared
    assert {"blocks.0.mixer.log_dt", "blocks.0.mixer.nu_log", "blocks.1.mixer.A_log", "norm.weight",
            "blocks.0.mixer_norm.bias", "blocks.0.mixer.qkv.bias"} <= set(spared)
    assert {"blocks.0.mixer.qkv.weight", "blocks.0.state_mixer.up.weight", "head.linear.weight",
            "blocks.0.mixer.in_proj.weight"} <= {n for n, d in names.items() if d}  # control: weights decay


class Shrinks(nn.Module):
    def __init__(self, d_model: int):
        super().__init__()
        self.map = nn.Linear(d_model, d_model // 2)

    def forward(self, u):
        return self.map(u)


class NoWidth(nn.Module):
    def __init__(self, width: int):
        super().__init__()


class Raises(nn.Module):
    def __init__(self, d_model: int):
        super().__init__()
        raise ValueError("no such layer")


@pytest.mark.parametrize("mixer, settings, expected", [
    (Attention, {"state_mixer": "moe"}, "state_mixer must be one of mlp, swiglu, none, got 'moe'"),
    (Attention, {"norm": "batchnorm"}, "norm must be one of layernorm, rmsnorm, got 'batchnorm'"),
    (Attention, {"layers": 0}, "layers must be an integer >= 1"),
    (Attention, {"dropout": -0.1}, "dropout must be in [0, 1)"),
    (Attention, {"encoder": "bytes"}, "encoder must be one of onehot, embedding, linear"),
    (Attention, {"condition": "tail"}, "condition must be one of input, head, both"),
    (NoWidth, {}, "mixer NoWidth takes neither d_model (zoology's convention) nor dim (mad-lab's)"),
    (Raises, {}, "mixer Raises: its constructor raised ValueError: no such layer"),
    ("Attention", {}, "mixer must be a torch.nn.Module class, got 'Attention'"),
    (Attention, {"mixer_settings": {"head": 2}}, "mixer Attention has no setting 'head'; its settings: heads, positions"),
])
def test_bad_settings_and_mixers_are_refused_in_one_line_naming_them(mixer, settings, expected):
    with pytest.raises(ConfigError) as error:
        Backbone(recall_task(), mixer, **settings)
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_a_mixer_that_changes_the_shape_is_named_with_the_shapes():
    model = Backbone(recall_task(), Shrinks, d_model=8)
    with pytest.raises(ConfigError, match=r"mixer Shrinks returned \(2, 24, 4\) for an input of \(2, 24, 8\)"):
        model(recall_task().get("test", torch.arange(2)).x)


class Window(nn.Module):
    """A mixer that states its receptive field."""

    def __init__(self, d_model: int):
        super().__init__()
        self.receptive_field = 4

    def forward(self, u):
        return u


def test_the_receptive_field_adds_what_each_layer_states_and_is_infinite_otherwise():
    task = recall_task()
    assert Backbone(task, Window, d_model=8, layers=3).receptive_field == 1 + 3 * 3
    assert Backbone(task, FlaStyle, d_model=8).receptive_field == math.inf
    assert Backbone(task, Attention, {"window": 6}, d_model=8, layers=2).receptive_field == 11


def test_a_mixer_too_large_to_count_is_refused_naming_its_setting(tmp_path, capsys):
    code = main(["train", "associative-recall", "--model", "hyena", "--filter-width", "999999999999", "--steps", "1",
                 "--out", str(tmp_path / "run")])
    assert code == 2 and not (tmp_path / "run").exists()
    assert capsys.readouterr().err.strip() == ("seqmem: error: model hyena is too large to count (filter_width="
                                               "999999999999): its size overflows; make filter_width smaller")
