"""Backpropagation through time, whole or truncated: one update for both. Truncated BPTT only adds
`chunk_length`, which the loop reads to cut each batch into chunks, carrying the state detached between them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from seqmem.config.settings import REQUIRED, check_int
from seqmem.training.methods import register_method
from seqmem.training.train_config import TrainConfig

if TYPE_CHECKING:
    import torch

    from seqmem.tasks.base import Batch

# PyTorch is imported inside the methods below: a config naming bptt or tbptt is checked, its Options
# included, before PyTorch loads (a refused command answers in a tenth of a second).


@register_method("bptt")
class Backprop:
    """Backpropagation through the whole batch (through each chunk, for truncated BPTT)."""

    precisions = ("fp32", "bf16", "fp16")  # what `--precision` may be for this method (others train in fp32)

    @dataclass
    class Options:
        pass

    def __init__(self, model: torch.nn.Module, task, config: TrainConfig, options=None):
        self.model, self.config = model, config
        self.options = options if options is not None else self.Options()
        from seqmem.training.methods.shared import make_optimizer  # PyTorch: see the note at the top

        self.optimizer = make_optimizer(model, config)
        self.scaler, self.scaler_state = None, None  # fp16's loss scaler, made on the model's device when first used

    @property
    def optimizers(self) -> list:
        """What a learning-rate schedule scales."""
        return [self.optimizer]

    @property
    def chunk_length(self) -> int | None:
        """Steps a chunk for truncated BPTT; None trains on whole sequences."""
        return getattr(self.options, "chunk_length", None)

    def update(self, batch: Batch, state=None):
        import torch  # see the note at the top

        from seqmem.training.device import autocast, model_device  # PyTorch, as above
        from seqmem.training.methods.shared import detach_state, task_loss
        from seqmem.training.scored import forward

        device, precision = model_device(self.model), self.config.precision
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(device, precision):  # the forward and the loss in bf16 or fp16 where asked; fp32 weights
            logits, where, state = forward(self.model, batch, state)  # the head where the task scores
            loss = task_loss(logits, batch, where)
        scaler = self.loss_scaler(device)
        (loss if scaler is None else scaler.scale(loss)).backward()
        if scaler is not None:
            scaler.unscale_(self.optimizer)  # clipping reads the true gradients
        if self.config.clip > 0:  # after backward(): before it there is no gradient to clip
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip)
        if scaler is None:
            self.optimizer.step()
        else:
            scaler.step(self.optimizer)  # skipped where the scaled gradients overflowed
            scaler.update()
        return loss.item(), detach_state(state)

    def loss_scaler(self, device):
        """fp16's GradScaler (made on the first update, on the model's device); None in fp32 and bf16, whose range
        needs none."""
        import torch  # see the note at the top

        if self.config.precision != "fp16":
            return None
        if self.scaler is None:
            self.scaler = torch.amp.GradScaler(device.type)
            if self.scaler_state:
                self.scaler.load_state_dict(self.scaler_state)
        return self.scaler

    def state_dict(self) -> dict:
        state = {"optimizer": self.optimizer.state_dict()}
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler_state = state.get("scaler")  # fp16's loss scale, given to the scaler when it is made


@register_method("tbptt")
class TruncatedBackprop(Backprop):
    """The same update over chunks of `chunk_length` steps, the state carried and detached between them."""

    @dataclass
    class Options:
        chunk_length: int = field(default=REQUIRED, metadata={"help": "steps a truncated-BPTT chunk"})

        def __post_init__(self):
            check_int("chunk_length", self.chunk_length)
