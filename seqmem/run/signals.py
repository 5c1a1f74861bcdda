"""Ctrl-C and SIGTERM during training: finish the update in hand, checkpoint, then stop.

Inside `deferred()` the first SIGINT or SIGTERM only sets a flag that the training loop reads between
updates, so the checkpoint it writes is never of a half-made update; a second signal stops at once (but not
a copy of the first arriving with it, as when a sweep forwards the SIGTERM its process group also got).
Outside it, both signals raise KeyboardInterrupt (SIGTERM included, so a scheduler's stop behaves as
Ctrl-C does).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time

SIGNALS = (signal.SIGINT, signal.SIGTERM)
SAME_REQUEST_SECONDS = 1.0  # a signal this soon after the first is taken as the same request
received: list[int] = []
first_at: list[float] = []


def raise_interrupt(signum, frame):
    received.append(signum)
    raise KeyboardInterrupt


def note(signum, frame):
    if received:
        if time.monotonic() - first_at[0] > SAME_REQUEST_SECONDS:  # a second request: stop now
            raise_interrupt(signum, frame)
        return
    received.append(signum)
    first_at[:] = [time.monotonic()]


def requested() -> bool:
    return bool(received)


def install(handler=raise_interrupt) -> dict:
    """Set `handler` for SIGINT and SIGTERM (main thread only); return the handlers it replaced."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {s: signal.signal(s, handler) for s in SIGNALS}


def ignore() -> None:
    """Ignore further signals: once the process is on its way out, a second Ctrl-C must not end it by the
    signal (exit -2) in the middle of its cleanup."""
    install(signal.SIG_IGN)


@contextlib.contextmanager
def deferred():
    """Signals set a flag instead of interrupting; the previous handlers come back on exit."""
    received.clear()
    first_at.clear()
    previous = install(note)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def terminated() -> bool:
    """Whether the signal that stopped us was SIGTERM (sent to this process), not Ctrl-C (sent to its group)."""
    return bool(received) and received[-1] == signal.SIGTERM


def exit_code() -> int:
    """128 + the signal that stopped the run (130 for Ctrl-C, 143 for SIGTERM)."""
    return 128 + (received[-1] if received else signal.SIGINT)
