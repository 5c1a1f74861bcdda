"""Atomic writes: a file is either its old whole self or its new whole self, never half of each.

Only regular files are written: a path that is a device, a FIFO, a socket or a symbolic link is refused,
since renaming over it would replace the device node (`/dev/null`) or the link, not write to it. A write
that fails (a full disk, a read-only folder) is one line naming the file and the cause.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
from pathlib import Path

from seqmem.errors import ConfigError
from seqmem.run.bounded import read_text

KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
         (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


RUN_FILES = ("config.json", "metrics.jsonl", "checkpoint.pt", "summary.json", "sweep.json", "horizon.json",
             "profile.json", ".lock")  # what a run or sweep writes, and goes on from when it stops


class DiskFull(ConfigError):
    """No space left (or the quota is used up) where a run writes: free some, then rerun to resume."""


def umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def not_regular(path: Path) -> str | None:
    """What `path` is if it exists and is not a regular file ("a FIFO", ...), else None."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        return f"unreadable ({e.strerror})"
    return next((kind for test, kind in KINDS if test(mode)), None)


@contextlib.contextmanager
def reported(path: Path):
    """An OSError while writing `path` as one line: a full disk named as such, anything else by its cause."""
    try:
        yield
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            resumes = " to go on from the last checkpoint" if Path(path).name in RUN_FILES else ""
            raise DiskFull(f"the disk holding {path} is full ({e.strerror}): free some space, then run the same "
                           f"command again{resumes}") from None
        raise ConfigError(f"cannot write {path} ({e.strerror or type(e).__name__}): choose a place you can write "
                          "to") from None


def atomic_write(path: Path, write) -> None:
    """Write through `write(file)` to a temporary file beside `path`, then rename it over `path`. The file
    gets the permissions any new file would (the user's umask), not the temporary file's 0600."""
    path = Path(path)
    kind = not_regular(path)
    if kind is not None:
        raise ConfigError(f"{path} is {kind}: seqmem writes only regular files (renaming over it would replace it): "
                          "give another path")
    with reported(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:100]}.", suffix=".tmp")
    try:
        with reported(path):
            os.fchmod(fd, 0o666 & ~umask())
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_writable(path: str | Path, what: str, folder: bool = False) -> Path:
    """Refuse, before any work, an output (a file, or with `folder` a folder of files) that could not be
    written: an empty name, a folder given for a file, a special file, or a place no file can be made."""
    if str(path) == "":
        raise ConfigError(f"{what} is empty: give a {'folder' if folder else 'file name'}")
    if "\0" in str(path):
        raise ConfigError(f"{what} {str(path)!r} holds a NUL byte, which no file name can: choose another path")
    path = Path(path)
    kind = not_regular(path)  # None for a regular file or nothing
    if folder:
        kind = None if kind == "a folder" else kind or ("a file" if os.path.lexists(path) else None)
    if kind is not None:
        raise ConfigError(f"{what} {path} is {kind}: give a {'folder' if folder else 'file name'}")
    existing = path if folder else path.parent
    try:
        while not existing.exists():
            existing = existing.parent
    except OSError as e:
        raise ConfigError(f"{what} {path}: {e.strerror}: choose another path") from None
    if not existing.is_dir():
        raise ConfigError(f"{what} {path}: {existing} is a file, so nothing can be made under it")
    try:  # the only sure test: make a file there (and remove it)
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".seqmem-probe-", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ConfigError(f"{what} {path}: no file can be written in {existing} ({e.strerror}): choose another "
                          "place") from None
    return path


def write_json(path: Path, data) -> None:
    atomic_write(Path(path), lambda f: f.write((json.dumps(data, indent=2, sort_keys=True) + "\n").encode()))


def write_jsonl(path: Path, records: list[dict]) -> None:
    """JSON lines, one record a line, written atomically."""
    atomic_write(Path(path), lambda f: f.write("".join(json.dumps(r) + "\n" for r in records).encode()))


def read_json(path: Path):
    """A run's JSON file; `bounded.NotARunFile` (a ValueError) for a special file or one too large to be one."""
    return json.loads(read_text(path))
