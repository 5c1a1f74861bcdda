"""Letters as tokens and back, and an echo-letters run's answer to a string.

Letters a-z are tokens 1..26 and the blank is 0, printed as a space, so an echo with delay 3 of "abcde"
reads "   ab".
"""

from __future__ import annotations

import string

import torch

from seqmem.errors import ConfigError


def encode_text(text: str) -> torch.Tensor:
    """Letters a-z (either case) as tokens 1..26."""
    text = text.lower()
    bad = sorted({c for c in text if c not in string.ascii_lowercase})
    if not text or bad:
        raise ConfigError(f"TEXT must be one or more letters a-z, got {text!r}"
                          + (f" (remove {''.join(bad)!r})" if bad else ""))
    return torch.tensor([ord(c) - ord("a") + 1 for c in text])


def decode_text(tokens) -> str:
    """Tokens 1..26 as letters, the blank 0 as a space."""
    return "".join(" " if t == 0 else chr(ord("a") + t - 1) for t in map(int, tokens))


def text_delay(task, delay: int | None) -> torch.Tensor | None:
    """The conditioning for one string: the delay a variable-delay run is told (None for a fixed delay)."""
    if task.max_delay is None:
        if delay is not None and delay != task.delay:
            raise ConfigError(f"this run echoes with the fixed delay {task.delay}: drop --delay (or give {task.delay})")
        return None
    if delay is None:
        raise ConfigError(f"this run echoes with the delay it is told: give --delay D with D in 0..{task.max_delay}")
    if not 0 <= delay <= task.max_delay:
        raise ConfigError(f"--delay must be in 0..{task.max_delay} for this run, got {delay}")
    return torch.tensor([delay])


def check_echo_letters(run) -> None:
    if not hasattr(run, "task") or not hasattr(run, "predict"):
        raise ConfigError(f"predict_text needs a run loaded by seqmem.load, got {type(run).__name__}")
    if run.task.name != "echo-letters":
        raise ConfigError(f"{run.path} is a run of {run.task.name}; text input needs an echo-letters run "
                          "(without TEXT, seqmem demo shows a test sample)")


def predict_text(run, text: str, delay: int | None = None) -> str:
    """The string an echo-letters run answers to `text`, blanks as spaces, one character a step."""
    check_echo_letters(run)
    x = encode_text(text).unsqueeze(0)
    return decode_text(run.predict(x, text_delay(run.task, delay))[0])
