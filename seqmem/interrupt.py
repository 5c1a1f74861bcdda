"""Ctrl-C and SIGTERM during training: finish the update in hand, checkpoint, then stop.

Inside `deferred()` the first SIGINT or SIGTERM only sets a flag that the training loop reads between
updates, so the checkpoint it writes is never of a half-made update; a second signal stops at once.
Outside it, both signals raise KeyboardInterrupt (SIGTERM included, so a scheduler's stop behaves as
Ctrl-C does).
"""

from __future__ import annotations

import contextlib
import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)
received: list[int] = []


def raise_interrupt(signum, frame):
    received.append(signum)
    raise KeyboardInterrupt


def note(signum, frame):
    if received:  # a second signal: stop now
        raise_interrupt(signum, frame)
    received.append(signum)


def requested() -> bool:
    return bool(received)


def install(handler=raise_interrupt) -> dict:
    """Set `handler` for SIGINT and SIGTERM (main thread only); return the handlers it replaced."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {s: signal.signal(s, handler) for s in SIGNALS}


@contextlib.contextmanager
def deferred():
    """Signals set a flag instead of interrupting; the previous handlers come back on exit."""
    received.clear()
    previous = install(note)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def exit_code() -> int:
    """128 + the signal that stopped the run (130 for Ctrl-C, 143 for SIGTERM)."""
    return 128 + (received[-1] if received else signal.SIGINT)
