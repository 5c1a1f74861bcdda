"""Target propagation through time for the vanilla RNN: difference target propagation (DTP) over time steps.

The variant of Manchev & Spratling, "Target Propagation in Recurrent Neural Networks" (JMLR 2020), built on
Lee et al., "Difference Target Propagation" (2015): every time step is a layer. The forward step is the
nn.RNN's own f(h_{t-1}, x_t) = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh); a learned inverse
g(h_{t+1}, x_{t+1}) = tanh(V h_{t+1} + U x_{t+1} + c) ≈ h_t has weights of its own. One update:

1. run the nn.RNN forward without a graph: h_1 .. h_L (`step` writes the same f out, for the local losses);
2. the output head learns from its own cross-entropy on the (constant) h_t;
3. targets, from the last step back: ĥ_t = h_t - lr_i dL_t/dh_t + g(ĥ_{t+1}, x_{t+1}) - g(h_{t+1}, x_{t+1}),
   where L_t is the summed cross-entropy of step t's output (a gradient step on the local output loss; zero
   where a step has no output) and the difference correction is absent at the last step;
4. the forward weights learn from the layer-local loss sum_t ||f(h_{t-1}, x_t) - ĥ_t||² / B, with h_{t-1},
   x_t and ĥ_t held constant: no gradient crosses a time step or goes through g;
5. g learns to reconstruct: sum_t ||g(f(h_t + e, x_{t+1}), x_{t+1}) - (h_t + e)||² / B, e ~ N(0, noise²),
   f held constant.

During the first `warmup_steps` updates only g learns. The forward weights and the head share one optimizer
(`optimizer`, `lr`); g has its own of the same kind (`inverse_lr`). These options are the method's own
(`--method target-prop --inverse-lr ...`, or the `[method]` table of a recipe).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from seqmem.config.settings import check_int
from seqmem.errors import ConfigError
from seqmem.models.recurrent import RNN
from seqmem.tasks.base import Batch
from seqmem.training.methods import register_method
from seqmem.training.methods.shared import make_optimizer, task_loss
from seqmem.training.train_config import TrainConfig


class Inverse(nn.Module):
    """g(h_{t+1}, x_{t+1}) ≈ h_t: one tanh layer from the next state and the next input."""

    def __init__(self, hidden: int, features: int):
        super().__init__()
        self.state = nn.Linear(hidden, hidden)
        self.input = nn.Linear(features, hidden, bias=False)

    def forward(self, h_next: torch.Tensor, x_next: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.state(h_next) + self.input(x_next))


@torch.no_grad()
def propagate_targets(h, dh, x, inverse, target_lr: float) -> torch.Tensor:
    """Targets for every h_t `(B, L, H)`: a gradient step on each step's output, plus the difference correction.

    `dh` is dL/dh_t of each step's own output loss, `inverse(h_next, x_next)` maps a state back one step.
    """
    target = h - target_lr * dh
    back = inverse(h[:, 1:], x[:, 1:])  # g(h_{t+1}, x_{t+1}) for every t < L-1, at once
    for t in range(h.shape[1] - 2, -1, -1):
        target[:, t] += inverse(target[:, t + 1], x[:, t + 1]) - back[:, t]
    return target


@register_method("target-prop")
class TargetProp:
    """Difference target propagation through time (Manchev & Spratling 2020) for a 1-layer tanh `rnn`."""

    chunk_length = None

    @dataclass
    class Options:
        inverse_lr: float = field(default=1e-3, metadata={"help": "learning rate of the learned inverse g"})
        target_lr: float = field(default=1.0, metadata={"help": "step size of the targets h - target_lr dL/dh"})
        noise: float = field(default=0.1, metadata={"help": "std of the noise on h when g learns to reconstruct it"})
        warmup_steps: int = field(default=0, metadata={"help": "first updates in which only g learns"})

        def __post_init__(self):
            for name in ("inverse_lr", "target_lr"):
                if not getattr(self, name) > 0:
                    raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
            if not self.noise >= 0:
                raise ConfigError(f"noise must be >= 0 (0 turns the noise off), got {self.noise!r}")
            check_int("warmup_steps", self.warmup_steps, 0)

    def __init__(self, model: nn.Module, task, config: TrainConfig, options=None):
        fix = None
        if not isinstance(model, RNN):
            fix = f"it trains the rnn model, not {getattr(model, 'name', type(model).__name__)}: use --model rnn"
        elif model.rnn.num_layers != 1:
            fix = f"it trains one recurrent layer, not {model.rnn.num_layers}: use --layers 1"
        elif model.rnn.nonlinearity != "tanh":
            fix = "its inverse inverts tanh: use --nonlinearity tanh"
        elif any(True for _ in model.encoder.parameters()):
            fix = "it does not train an input layer: use --encoder onehot"
        if fix:
            raise ConfigError(f"method target-prop: {fix}")
        self.model, self.config, self.rnn, self.updates = model, config, model.rnn, 0
        self.options = options if options is not None else self.Options()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.inverse = Inverse(model.rnn.hidden_size, model.encoder.features)
        self.optimizer = make_optimizer(model, config)
        self.inverse_optimizer = make_optimizer(self.inverse, config, lr=self.options.inverse_lr)

    @property
    def optimizers(self) -> list:
        """What a learning-rate schedule scales: the forward weights' and the inverse's alike."""
        return [self.optimizer, self.inverse_optimizer]

    def step(self, h_prev: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The forward step f(h_{t-1}, x_t), for all steps at once (h_prev, x: `(B, L, ·)`)."""
        r = self.rnn
        return torch.tanh(F.linear(x, r.weight_ih_l0, r.bias_ih_l0) + F.linear(h_prev, r.weight_hh_l0, r.bias_hh_l0))

    def update(self, batch: Batch, state=None):
        x = self.model.encoder(batch.x, batch.cond)
        h0 = torch.zeros(1, x.shape[0], self.rnn.hidden_size, device=x.device) if state is None else state
        with torch.no_grad():
            h, _ = self.rnn(x, h0)
        h_prev = torch.cat([h0[0].unsqueeze(1), h[:, :-1]], dim=1)

        self.optimizer.zero_grad(set_to_none=True)
        h.requires_grad_(True)  # a leaf: the head's loss reaches the head's weights and dL/dh, nothing else
        loss = task_loss(self.model.head(h, batch.cond), batch)
        loss.backward()
        h, dh = h.detach(), h.grad * batch.y.numel()  # dL_t/dh_t of each step's summed (not mean) cross-entropy
        if self.updates >= self.options.warmup_steps:
            target = propagate_targets(h, dh, x, self.inverse, self.options.target_lr)
            self.train_forward(h_prev, x, target)
        self.train_inverse(h_prev, x)
        self.updates += 1
        return loss.item(), h[:, -1].unsqueeze(0)

    def train_forward(self, h_prev: torch.Tensor, x: torch.Tensor, target: torch.Tensor) -> None:
        """The layer-local loss on the forward weights; the head's gradient is already in place."""
        local = (self.step(h_prev, x) - target).pow(2).sum() / x.shape[0]
        local.backward()
        if self.config.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip)
        self.optimizer.step()

    def train_inverse(self, h_prev: torch.Tensor, x: torch.Tensor) -> float:
        """One step of g on reconstructing noisy states one step back; f is held constant."""
        noisy = h_prev[:, 1:] + self.options.noise * torch.randn_like(h_prev[:, 1:])
        with torch.no_grad():
            ahead = self.step(noisy, x[:, 1:])
        loss = (self.inverse(ahead, x[:, 1:]) - noisy).pow(2).sum() / x.shape[0]
        self.inverse_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.inverse_optimizer.step()
        return loss.item()

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "inverse": self.inverse.state_dict(),
                "inverse_optimizer": self.inverse_optimizer.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.inverse.load_state_dict(state["inverse"])
        self.inverse_optimizer.load_state_dict(state["inverse_optimizer"])
        self.updates = state["updates"]
