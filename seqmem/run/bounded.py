"""Reading a run file whole, safely: only a regular file, and only one of a size a run file can have.

A run folder may come from anyone, and a name in it may be a FIFO (a read that waits forever), a link to
`/dev/zero` (a read that never ends) or a file of gigabytes; each is named damaged in one line instead.
The file is opened without blocking and its kind and size read from the open file, so it cannot be
swapped for another between the check and the read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

MAX_BYTES = 256 * 2**20  # more than any JSON record or metrics log a run writes (a 10 000-point sweep.json is ~30 MB)


class NotARunFile(ValueError):
    """A run file that is a special file, or larger than any run file can be: damaged, said why."""


def kind(mode: int) -> str | None:
    """What a file of this mode is, if not a regular file."""
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def read_bytes(path: str | Path, limit: int | None = None) -> bytes:
    """The whole of `path`; NotARunFile where it is no regular file or holds more than `limit` bytes
    (MAX_BYTES by default). FileNotFoundError and other OSErrors pass through."""
    limit = MAX_BYTES if limit is None else limit
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens at once instead of waiting for a writer
    try:
        info = os.fstat(fd)
        special = kind(info.st_mode)
        if special is not None:
            raise NotARunFile(f"{special}, not a regular file")
        if info.st_size > limit:
            raise NotARunFile(f"{info.st_size} bytes, more than a run file can hold ({limit})")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise NotARunFile(f"more than a run file can hold ({limit} bytes)")
        return data
    finally:
        os.close(fd)


def read_text(path: str | Path, limit: int | None = None) -> str:
    """`read_bytes` decoded as UTF-8 (a UnicodeDecodeError where it is not text)."""
    return read_bytes(path, limit).decode()


def check_regular(path: str | Path) -> None:
    """NotARunFile where `path` exists and is not a regular file (what a reader of its own would hang on)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    special = kind(mode)
    if special is not None:
        raise NotARunFile(f"{special}, not a regular file")
