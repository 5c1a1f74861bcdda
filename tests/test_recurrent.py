"""Recurrent models: a carried state gives the same outputs as one call; conditioning and encoders."""

import pytest
import torch

import seqmem
from seqmem.errors import ConfigError
from seqmem.tasks.base import generator_for

MODELS = [("rnn", {"hidden": 4, "nonlinearity": "relu"}), ("rnn", {"hidden": 16, "layers": 3}),
          ("gru", {"hidden": 16, "layers": 2}), ("lstm", {"hidden": 16, "layers": 2})]


@pytest.mark.parametrize("name,params", MODELS)
@pytest.mark.parametrize("chunk", [1, 7, 20])
def test_state_carried_across_chunks_equals_the_whole_stream(name, params, chunk):
    task = seqmem.make_task("echo-stream", echo_step=3, series_length=100, streams=3)
    model = seqmem.make_model(name, task, seed=1, **params).eval()
    x = task.get("test", torch.arange(3)).x
    with torch.no_grad():
        whole, _ = model(x)
        state, pieces = None, []
        for start in range(0, x.shape[1], chunk):
            logits, state = model(x[:, start : start + chunk], state)
            pieces.append(logits)
    assert torch.allclose(torch.cat(pieces, dim=1), whole, atol=1e-5)


def test_a_fresh_state_differs_from_a_carried_one():
    """The test above can fail: dropping the state between chunks changes the outputs."""
    task = seqmem.make_task("echo-stream", series_length=40, streams=2)
    model = seqmem.make_model("gru", task, seed=1, hidden=8).eval()
    x = task.get("test", torch.arange(2)).x
    with torch.no_grad():
        whole, _ = model(x)
        second, _ = model(x[:, 20:])
    assert not torch.allclose(second, whole[:, 20:], atol=1e-3)


@pytest.mark.parametrize("condition", ["input", "head", "both"])
def test_conditioned_models_use_the_delay(condition):
    task = seqmem.make_task("echo-letters", max_delay=8, seq_length=20, test_size=4)
    model = seqmem.make_model("gru", task, seed=0, hidden=8, condition=condition).eval()
    batch = task.get("test", torch.arange(4))
    with torch.no_grad():
        logits, _ = model(batch.x, cond=batch.cond)
        other, _ = model(batch.x, cond=(batch.cond + 1) % 9)
    assert logits.shape == (4, 20, 27)
    assert not torch.allclose(logits, other)
    with pytest.raises(ConfigError, match="Batch.cond|has none"):
        model(batch.x)


def test_head_condition_picks_one_output_layer_per_delay():
    task = seqmem.make_task("echo-letters", max_delay=2, seq_length=5)
    model = seqmem.make_model("rnn", task, seed=0, hidden=6, condition="head").eval()
    x = task.sample(3, generator_for(1)).x
    with torch.no_grad():
        h, _ = model.rnn(model.encoder(x))
        logits, _ = model(x, cond=torch.tensor([0, 2, 1]))
        per_delay = model.head.linear(h).unflatten(-1, (3, 27))
    for row, d in enumerate([0, 2, 1]):
        assert torch.allclose(logits[row], per_delay[row, :, d])


def test_linear_encoder_is_an_input_layer():
    task = seqmem.make_task("echo-letters")
    model = seqmem.make_model("gru", task, seed=0, hidden=8, encoder="linear", embedding_dim=5)
    assert model.encoder.linear.in_features == 27 and model.rnn.input_size == 5
    stream = seqmem.make_task("echo-stream", series_length=30)
    model = seqmem.make_model("lstm", stream, seed=0, hidden=8, encoder="linear", embedding_dim=3)
    assert model.encoder.linear.in_features == 1
    assert model(stream.get("test", torch.arange(2)).x)[0].shape == (2, 30, 2)


@pytest.mark.parametrize("params,words", [
    ({"encoder": "linear"}, "embedding-dim"),
    ({"encoder": "conv", "embedding_dim": 3}, "encoder must be one of onehot, embedding, linear"),
    ({"condition": "state"}, "condition must be one of"),
    ({"hidden": 0}, "hidden"),
])
def test_bad_model_params_name_the_fix(params, words):
    with pytest.raises(ConfigError, match=words):
        seqmem.make_model("gru", seqmem.make_task("echo-letters"), **params)


def test_same_seed_same_weights():
    task = seqmem.make_task("echo-letters")
    a = seqmem.make_model("lstm", task, seed=3, hidden=8)
    b = seqmem.make_model("lstm", task, seed=3, hidden=8)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_orthogonal_init_makes_every_recurrent_gate_orthogonal():
    import torch

    from seqmem import ConfigError, make_model, make_task

    task = make_task("copy-memory", blank=3, convention="symbols", test_size=1)
    for name, gates in (("rnn", 1), ("gru", 3), ("lstm", 4)):
        model = make_model(name, task, hidden=12, layers=2, init="orthogonal")
        for layer in range(2):
            weight = getattr(model.rnn, f"weight_hh_l{layer}").detach()
            assert weight.shape == (12 * gates, 12)
            for gate in weight.split(12):
                assert torch.allclose(gate @ gate.T, torch.eye(12), atol=1e-5)
    default = make_model("rnn", task, hidden=12).rnn.weight_hh_l0.detach()
    assert not torch.allclose(default @ default.T, torch.eye(12), atol=1e-2)
    with pytest.raises(ConfigError, match="init must be one of"):
        make_model("gru", task, init="xavier")
