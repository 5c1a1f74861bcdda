"""A minimal training method, written against seqmem's method contract (docs/extending.md): BPTT with
annealed Gaussian gradient noise (Neelakantan et al. 2015, "Adding Gradient Noise Improves Learning for
Very Deep Networks"), variance eta / (1 + t)^gamma at update t.

    seqmem check examples/noisy_sgd.py:GradientNoise
    seqmem train echo-letters --model gru --method examples/noisy_sgd.py:GradientNoise --eta 0.01 --steps 300
"""

from dataclasses import dataclass

import torch

from seqmem import detach_state, make_optimizer, task_loss


class GradientNoise:
    """BPTT with annealed Gaussian noise added to every gradient"""

    @dataclass
    class Options:
        """The noise's schedule.

        Args:
            eta: the noise variance at the first update
            gamma: how fast the variance decays, eta / (1 + t)^gamma
        """

        eta: float = 0.01
        gamma: float = 0.55

    def __init__(self, model, task, config, options):
        self.model, self.config, self.options = model, config, options
        self.optimizer = make_optimizer(model.parameters(), config)  # the optimizer --optimizer and --lr name
        self.noise = torch.Generator().manual_seed(config.seed)
        self.step = 0

    @property
    def optimizers(self) -> list:  # what a learning-rate schedule scales
        return [self.optimizer]

    def update(self, batch, state=None):
        self.optimizer.zero_grad(set_to_none=True)
        logits, state = self.model(batch.x, state, cond=batch.cond)
        loss = task_loss(logits, batch)
        loss.backward()
        std = (self.options.eta / (1 + self.step) ** self.options.gamma) ** 0.5
        for p in self.model.parameters():
            if p.grad is not None:
                p.grad += std * torch.randn(p.grad.shape, generator=self.noise)
        self.optimizer.step()
        self.step += 1
        return loss.item(), detach_state(state)  # carried to the next chunk without its graph

    def state_dict(self) -> dict:  # a checkpoint resumes the method exactly
        return {"optimizer": self.optimizer.state_dict(), "step": self.step, "noise": self.noise.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, _ = state["step"], self.noise.set_state(state["noise"])
