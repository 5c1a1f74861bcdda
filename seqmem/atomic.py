"""Atomic writes: a file is either its old whole self or its new whole self, never half of each."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def atomic_write(path: Path, write) -> None:
    """Write through `write(file)` to a temporary file beside `path`, then rename it over `path`. The file
    gets the permissions any new file would (the user's umask), not the temporary file's 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, 0o666 & ~umask())
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data) -> None:
    atomic_write(Path(path), lambda f: f.write((json.dumps(data, indent=2, sort_keys=True) + "\n").encode()))


def write_jsonl(path: Path, records: list[dict]) -> None:
    """JSON lines, one record a line, written atomically."""
    atomic_write(Path(path), lambda f: f.write("".join(json.dumps(r) + "\n" for r in records).encode()))


def read_json(path: Path):
    return json.loads(Path(path).read_text())
