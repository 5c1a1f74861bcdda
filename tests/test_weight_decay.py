"""Weight decay leaves the state-space models' dynamics (step sizes, eigenvalues), biases and norms alone:
with decay 0.1 they move exactly as the optimizer moves them on the gradient alone, while the weights decay."""

import copy

import pytest
import torch

import seqmem
from seqmem.tasks.base import generator_for
from seqmem.training.methods import make_method
from seqmem.training.methods.shared import decays, make_optimizer

DYNAMICS = {"s4d": {"log_dt", "log_neg_A_real", "A_imag"}, "lru": {"nu_log", "theta_log", "gamma_log"},
            "mamba": {"A_log"}}


@pytest.mark.parametrize("model_name, optimizer", [("s4d", "adam"), ("lru", "adamw"), ("mamba", "sgd")])
def test_a_run_with_weight_decay_moves_the_dynamics_by_the_gradient_alone(model_name, optimizer):
    torch.set_num_threads(1)
    task = seqmem.make_task("selective-copy", blank=12, recall_length=3, test_size=10, validation_size=10)
    model = seqmem.make_model(model_name, task, seed=0, **({"d_model": 16, "layers": 1, "state_size": 8}))
    start = copy.deepcopy(model)
    config = seqmem.TrainConfig(steps=5, lr=1e-2, optimizer=optimizer, weight_decay=0.1, clip=1.0)
    method = make_method(model, task, config)
    exempt = {n: p for n, p in model.named_parameters() if not decays(n, p)}
    assert {n.rsplit(".", 1)[-1] for n in exempt} >= DYNAMICS[model_name]
    # the same optimizer without decay, stepped on the gradients the run computed
    shadow = {n: p.detach().clone().requires_grad_() for n, p in start.named_parameters() if n in exempt}
    plain = make_optimizer(list(shadow.values()), seqmem.TrainConfig(lr=1e-2, optimizer=optimizer))
    for step in range(5):
        method.update(task.sample(8, generator_for(0, step)))
        for n, p in shadow.items():
            p.grad = exempt[n].grad.clone()
        plain.step()
    for n, p in exempt.items():
        assert torch.equal(p.detach(), shadow[n].detach()), n
        assert not torch.equal(p.detach(), dict(start.named_parameters())[n].detach()) or p.grad.abs().max() == 0
    # and the weights did decay: a run without decay ends elsewhere
    undecayed = copy.deepcopy(start)
    method = make_method(undecayed, task, seqmem.TrainConfig(steps=5, lr=1e-2, optimizer=optimizer, clip=1.0))
    for step in range(5):
        method.update(task.sample(8, generator_for(0, step)))
    weights = [(p, q) for (n, p), q in zip(model.named_parameters(), undecayed.parameters(), strict=True)
               if decays(n, p)]
    assert weights and any(not torch.equal(p, q) for p, q in weights)


def test_without_weight_decay_the_optimizer_keeps_one_group():
    task = seqmem.make_task("selective-copy", blank=12, recall_length=3, test_size=10, validation_size=10)
    model = seqmem.make_model("s4d", task, seed=0, d_model=16, layers=1, state_size=8)
    assert len(make_optimizer(model, seqmem.TrainConfig(weight_decay=0.0)).param_groups) == 1
    groups = make_optimizer(model, seqmem.TrainConfig(weight_decay=0.1)).param_groups
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
