"""Where a run computes (`device`) and in what precision, resolved on this machine (the names are TrainConfig's
settings, checked without PyTorch in seqmem.training.train_config).

Batches are drawn on the CPU from their seeded generators and moved to the model's device, so every device
sees the same sequences; the weights are drawn on the CPU too, then moved.
"""

from __future__ import annotations

import contextlib
from dataclasses import fields

import torch

from seqmem.errors import ConfigError
from seqmem.tasks.base import Batch
from seqmem.training.train_config import CHOOSE, check_device


def resolve(name: str):
    """The torch.device a setting names here; a device this machine lacks refused in one line saying how to choose.
    `auto` takes CUDA, else MPS, else the CPU."""
    check_device(name)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if mps_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            build = "this PyTorch is built without CUDA" if torch.version.cuda is None else "no CUDA device is visible"
            raise ConfigError(f"--device {name}: CUDA is not available here ({build}, torch {torch.__version__}): {CHOOSE}")
        index = int(name.partition(":")[2] or 0)
        count = torch.cuda.device_count()
        if index >= count:
            raise ConfigError(f"--device {name}: this machine has {count} CUDA device{'s' * (count != 1)} "
                              f"(cuda:0..cuda:{count - 1}): choose one of them, or --device cuda")
        return torch.device("cuda", index)
    if name == "mps" and not mps_available():
        raise ConfigError(f"--device mps: MPS (Apple's GPU) is not available here: {CHOOSE}")
    return torch.device(name)


def mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def check_precision(precision: str, device) -> None:
    """Refuse a precision the device cannot train in: bf16 on the CPU, CUDA (where the GPU has it) or MPS; fp16 on
    CUDA or MPS (on the CPU it is slower than fp32 and needs loss scaling the CPU does not have in every PyTorch)."""
    if precision == "fp32":
        return
    if precision == "fp16" and device.type == "cpu":
        raise ConfigError("--precision fp16 needs a GPU (--device cuda or mps): on the CPU use --precision bf16 or fp32")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError(f"--precision bf16: {torch.cuda.get_device_name(device)} has no bfloat16: use fp16 or fp32")


def autocast(device, precision: str):
    """The context one update's forward and loss run in: PyTorch's autocast for bf16 or fp16, nothing for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def model_device(model):
    """The device of a model's first weight or buffer (the CPU for a model with neither)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def to_device(value, device):
    """A batch, a carried state (tensors, tuples, lists or dicts of them) or None, on `device`."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, Batch):
        return Batch(*(to_device(getattr(value, f.name), device) for f in fields(value)))
    if isinstance(value, tuple | list):
        return type(value)(to_device(v, device) for v in value)
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    return value


def place(model, method, device) -> None:
    """The model, and every other module the method holds (target propagation's inverse), on `device`.
    `Module.to` moves weights in place, so optimizers made before keep pointing at them."""
    model.to(device)
    for value in getattr(method, "__dict__", {}).values():
        if isinstance(value, torch.nn.Module) and value is not model:
            value.to(device)
