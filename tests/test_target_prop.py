"""Target propagation: the inverse learns, the difference correction is exact, nothing else is touched."""

import json

import pytest
import torch

from seqmem import ConfigError, TrainConfig, make_model, make_task, run_experiment
from seqmem.training.methods import make_method
from seqmem.training.methods.target_prop import propagate_targets

SMALL = {
    "task": {"name": "copy-memory", "blank": 3, "recall_length": 3, "convention": "symbols", "test_size": 100},
    "model": {"name": "rnn", "hidden": 16},
    "method": {"name": "target-prop", "warmup_steps": 5},
    "train": {"steps": 20, "eval_every": 10, "batch_size": 16, "seed": 1, "clip": 1.0},
}


def small(**options):
    task = make_task("copy-memory", blank=3, recall_length=3, convention="symbols", test_size=100)
    model = make_model("rnn", task, hidden=16, seed=0)
    method = make_method(model, task, TrainConfig(steps=1, batch_size=16), "target-prop", **options)
    return task, model, method, next(task.batches("train", 16, seed=0))


def snapshot(module: torch.nn.Module) -> dict:
    return {k: v.clone() for k, v in module.state_dict().items()}


def same(a: dict, module: torch.nn.Module) -> bool:
    return all(torch.equal(a[k], v) for k, v in module.state_dict().items())


def forward_states(model, batch):
    x = model.encoder(batch.x)
    with torch.no_grad():
        h, _ = model.rnn(x)
    return x, h, torch.cat([torch.zeros_like(h[:, :1]), h[:, :-1]], dim=1)


def test_the_explicit_step_is_the_rnn_step():
    _, model, method, batch = small()
    x, h, h_prev = forward_states(model, batch)
    with torch.no_grad():
        assert torch.allclose(method.step(h_prev, x), h, atol=1e-6)


def test_the_inverse_learns_to_reconstruct_on_a_fixed_batch():
    _, model, method, batch = small(inverse_lr=1e-2)
    x, _, h_prev = forward_states(model, batch)
    torch.manual_seed(0)
    losses = [method.train_inverse(h_prev, x) for _ in range(60)]
    assert losses[-1] < 0.2 * losses[0]


def test_with_a_perfect_inverse_the_targets_map_forward_onto_the_gradient_step_target():
    """f(ĥ_t, x_{t+1}) = ĥ_{t+1} at every step, so the corrected targets reach h_L - lr dL/dh_L at the top.

    And an inverse off by a constant gives the same targets: the difference correction cancels its error.
    """
    _, model, method, batch = small()
    r = model.rnn
    with torch.no_grad():
        r.weight_hh_l0.copy_(0.9 * torch.linalg.qr(torch.randn(16, 16, generator=torch.Generator().manual_seed(0)))[0])
    x, h, _ = forward_states(model, batch)

    def exact(h_next, x_next):  # f^-1: the state one step back
        pre = torch.atanh(h_next) - x_next @ r.weight_ih_l0.T - r.bias_ih_l0 - r.bias_hh_l0
        return pre @ torch.linalg.inv(r.weight_hh_l0).T

    dh = torch.zeros_like(h)
    dh[:, -1] = torch.randn(h.shape[0], h.shape[2], generator=torch.Generator().manual_seed(1))
    target = propagate_targets(h, dh, x, exact, target_lr=0.01)
    with torch.no_grad():
        ahead = method.step(target[:, :-1], x[:, 1:])
    assert torch.allclose(ahead, target[:, 1:], atol=1e-4)
    assert torch.allclose(target[:, -1], h[:, -1] - 0.01 * dh[:, -1])
    assert not torch.allclose(target[:, 0], h[:, 0], atol=1e-3)  # the top's error did reach the first step
    shifted = propagate_targets(h, dh, x, lambda a, b: exact(a, b) + 0.3, target_lr=0.01)
    assert torch.allclose(shifted, target, atol=1e-5)


def test_warm_up_trains_only_the_inverse():
    _, model, method, batch = small(warmup_steps=2)
    weights, inverse = snapshot(model), snapshot(method.inverse)
    method.update(batch)
    assert same(weights, model) and not same(inverse, method.inverse)


def test_each_loss_reaches_only_its_own_weights(monkeypatch):
    """The inverse loss leaves the model alone; the head and local losses leave g alone and touch only the
    recurrent weights and the head (the one-hot encoder has none)."""
    _, model, method, batch = small()
    x, _, h_prev = forward_states(model, batch)
    weights = snapshot(model)
    method.train_inverse(h_prev, x)
    assert same(weights, model)
    monkeypatch.setattr(method, "train_inverse", lambda *_: 0.0)
    inverse = snapshot(method.inverse)
    method.update(batch)
    assert same(inverse, method.inverse)
    assert list(model.encoder.parameters()) == []
    changed = {k for k, v in model.state_dict().items() if not torch.equal(weights[k], v)}
    assert changed == set(weights)  # every forward weight and the head moved


def test_the_local_loss_does_not_cross_time_steps():
    """The forward weights' gradient is that of sum_t ||f(h_{t-1}, x_t) - ĥ_t||² with h_{t-1} constant:
    the same as summing each step's loss computed on its own."""
    _, model, method, batch = small()
    x, h, h_prev = forward_states(model, batch)
    target = h + 0.1 * torch.randn(h.shape, generator=torch.Generator().manual_seed(2))
    whole = torch.autograd.grad((method.step(h_prev, x) - target).pow(2).sum(), model.rnn.weight_hh_l0)[0]
    parts = sum(torch.autograd.grad((method.step(h_prev[:, t], x[:, t]) - target[:, t]).pow(2).sum(),
                                    model.rnn.weight_hh_l0)[0] for t in range(h.shape[1]))
    assert torch.allclose(whole, parts, atol=1e-5)


@pytest.mark.parametrize("model, params, fix", [
    ("gru", {}, "--model rnn"),
    ("rnn", {"layers": 2}, "--layers 1"),
    ("rnn", {"nonlinearity": "relu"}, "--nonlinearity tanh"),
    ("rnn", {"encoder": "embedding", "embedding_dim": 4}, "--encoder onehot"),
])
def test_other_models_are_refused_with_the_fix(model, params, fix):
    task = make_task("copy-memory", blank=3, recall_length=3, convention="symbols", test_size=10)
    net = make_model(model, task, hidden=8, **params)
    with pytest.raises(ConfigError, match=f"target-prop.*{fix}"):
        make_method(net, task, TrainConfig(steps=1), "target-prop")


@pytest.mark.parametrize("name, value", [("inverse_lr", 0.0), ("target_lr", -1.0), ("noise", -0.1),
                                         ("warmup_steps", -1)])
def test_bad_settings_name_themselves(name, value):
    task = make_task("copy-memory", blank=3, recall_length=3, convention="symbols", test_size=10)
    net = make_model("rnn", task, hidden=8)
    with pytest.raises(ConfigError, match=name):
        make_method(net, task, TrainConfig(steps=1), "target-prop", **{name: value})


def test_its_options_are_its_own():
    """Target propagation's options live in its own part of the config; other methods refuse them."""
    from seqmem.config.compose import make_config

    config = make_config({**SMALL, "method": {"name": "target-prop", "noise": 0.2}})
    assert config.method == {"name": "target-prop", "inverse_lr": 1e-3, "target_lr": 1.0, "noise": 0.2,
                             "warmup_steps": 0}
    assert "noise" not in config.train
    with pytest.raises(ConfigError, match="method bptt has no setting 'noise'; its settings: none"):
        make_config({**SMALL, "method": {"name": "bptt", "noise": 0.2}})
    legacy = {**SMALL, "method": None, "train": {**SMALL["train"], "method": "target-prop", "tp_noise": 0.3}}
    assert make_config(legacy).method["noise"] == 0.3  # a config recorded before methods owned their options


def test_an_interrupted_run_resumes_to_the_same_weights_and_inverse(tmp_path):
    quiet = {"progress": False, "say": lambda *_: None}
    whole = run_experiment(SMALL, tmp_path / "whole", **quiet)
    run_experiment({**SMALL, "train": {**SMALL["train"], "steps": 10}}, tmp_path / "cut", **quiet)
    (tmp_path / "cut" / "config.json").write_text((tmp_path / "whole" / "config.json").read_text())
    (tmp_path / "cut" / "summary.json").unlink()
    resumed = run_experiment(SMALL, tmp_path / "cut", **quiet)
    a, b = (torch.load(tmp_path / d / "checkpoint.pt", weights_only=False) for d in ("whole", "cut"))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert all(torch.equal(a["method"]["inverse"][k], b["method"]["inverse"][k]) for k in a["method"]["inverse"])
    assert resumed["recall_accuracy"] == whole["recall_accuracy"] and whole["method"] == "target-prop"
    assert json.loads((tmp_path / "cut" / "config.json").read_text())["method"]["warmup_steps"] == 5
