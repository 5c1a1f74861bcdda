"""Progress that shows wherever the output goes: tqdm's bar on a terminal or in a notebook, and where there is
neither (a job under nohup, CI, a log file, a notebook's subprocess) a plain line at most every
`SEQMEM_PROGRESS_SECONDS` seconds (default 30): what is done of the total, what failed, the time elapsed and
an estimate of the time left, so a person tailing the log sees the work move.
"""

from __future__ import annotations

import os
import sys
import time

DEFAULT_SECONDS = 30.0


def interval() -> float:
    """Seconds between plain lines, from SEQMEM_PROGRESS_SECONDS (0: a line at every step of progress)."""
    text = os.environ.get("SEQMEM_PROGRESS_SECONDS", "")
    try:
        seconds = float(text) if text else DEFAULT_SECONDS
    except ValueError:
        seconds = DEFAULT_SECONDS
    return max(0.0, seconds) if seconds == seconds else DEFAULT_SECONDS  # NaN: the default


def duration(seconds: float) -> str:
    """`42s`, `3m05s`, `1h02m`."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def on_terminal(stream) -> bool:
    """Whether a bar can redraw itself there: a terminal, or a notebook's own output (which tqdm.auto draws as
    a widget)."""
    if type(stream).__module__.startswith("ipykernel"):  # a notebook cell's own output stream
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """A bar's interface (`update`, `write`, `set_postfix`, `close`) that is tqdm's bar on a terminal and plain
    timed lines elsewhere. `enabled` False shows nothing but what is written."""

    def __init__(self, total: int, initial: int = 0, desc: str = "", unit: str = "step", enabled: bool = True,
                 leave: bool = True, stream=None):
        self.stream = sys.stderr if stream is None else stream
        self.total, self.done, self.start, self.desc, self.unit = total, initial, initial, desc, unit
        self.failed, self.postfix, self.enabled = 0, "", enabled
        self.running: int | None = None  # where the caller knows it: points being worked on now
        self.bar = None
        if enabled and on_terminal(self.stream):
            from tqdm.auto import tqdm  # it looks for IPython: loaded only when a bar is drawn

            self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True, leave=leave,
                            file=self.stream)
        self.tic = self.last = time.monotonic()
        self.every = interval()

    def update(self, n: int = 1, failed: bool = False) -> None:
        self.done += n
        self.failed += failed
        if self.bar is not None:
            self.bar.update(n)
        elif self.enabled and (time.monotonic() - self.last >= self.every or self.done >= self.total):
            self.line()

    def set_postfix(self, **values) -> None:
        self.postfix = ", ".join(f"{k} {v}" for k, v in values.items())
        if self.bar is not None:
            self.bar.set_postfix(values, refresh=False)

    def write(self, text: str) -> None:
        """A line of its own (an evaluation, a failure), printed to stdout, the bar kept below it."""
        if self.bar is not None:
            self.bar.write(text, file=sys.stdout)
        else:
            print(text, flush=True)

    def line(self) -> None:
        """`sweep x: 5/18 points done (2 running, 1 failed), 3m12s elapsed, about 7m05s left`."""
        self.last = time.monotonic()
        elapsed = self.last - self.tic
        made = self.done - self.start
        left = (self.total - self.done) * elapsed / made if made else None
        counts = [f"{self.running} running"] if self.running else []
        counts += [f"{self.failed} failed"] if self.failed else []
        parts = [f"{self.done}/{self.total} {self.unit}s done" + (f" ({', '.join(counts)})" if counts else ""),
                 f"{duration(elapsed)} elapsed"]
        if left is not None and self.done < self.total:
            parts.append(f"about {duration(left)} left")
        if self.postfix:
            parts.append(self.postfix)
        print(f"{self.desc}: " + ", ".join(parts), file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
