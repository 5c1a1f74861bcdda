"""Folder names made from settings and labels: one path component that every common file system holds.

A point of a sweep lives in `OUT/<name>`. A name made from settings is cleaned (separators and NUL become
`_`); a name a user gives (a sweep file's `name`, a horizon model's label) that holds a separator, a NUL
or a reserved name is refused, since changing it would put the run somewhere the user does not expect.
A name longer than a component may be (255 bytes) keeps a readable prefix and gains a short hash of the
whole name, so it stays unique and the same on every rerun; `sweep.json` keeps the full settings.
"""

from __future__ import annotations

import hashlib

from seqmem.errors import ConfigError

MAX_BYTES = 255  # a path component on ext4, XFS, Btrfs, APFS, NTFS
HASH_CHARS = 12
RESERVED = {"", ".", "..", "sweep.json", "horizon.json", "report.html", "config.json", "metrics.jsonl",
            "checkpoint.pt", "summary.json"}
UNSAFE = ("/", "\\", "\0")


def problem(name: str) -> str | None:
    """Why `name` cannot be a folder of its own, or None."""
    if not isinstance(name, str):
        return f"a name must be a string, got {type(name).__name__}"
    if name in RESERVED:
        return f"{name!r} is reserved" if name else "it is empty"
    bad = next((c for c in UNSAFE if c in name), None)
    if bad is not None:
        return f"it holds {'a NUL byte' if bad == chr(0) else repr(bad)}, a path separator"
    if name.startswith("."):
        return "it starts with '.' (hidden and temporary files do)"
    if any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in name):
        return "it holds a control character"
    return None


def clean(name: str) -> str:
    """A name made from settings, with whatever a folder name cannot hold replaced by `_`."""
    for c in UNSAFE:
        name = name.replace(c, "_")
    name = "".join("_" if ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF else c for c in name)
    if name.startswith("."):
        name = "_" + name[1:]
    return name if problem(name) is None else f"_{name}"


def shorten(name: str) -> str:
    """`name` if it fits in one component, else a prefix of it, `-`, and a hash of the whole of it."""
    data = name.encode()
    if len(data) <= MAX_BYTES:
        return name
    digest = hashlib.sha256(data).hexdigest()[:HASH_CHARS]
    prefix = data[: MAX_BYTES - HASH_CHARS - 1].decode(errors="ignore")  # never half a character
    return f"{prefix}-{digest}"


def folder_name(name: str, what: str = "point") -> str:
    """A user's name as a folder name (shortened if it must be), or a ConfigError saying why it cannot be."""
    why = problem(name)
    if why is not None:
        shown = repr(name if not isinstance(name, str) or len(name) <= 60 else name[:57] + "...")
        raise ConfigError(f"{what} name {shown} cannot name a folder: {why}; give a plain name (letters, digits, "
                          "'=', ',', '-', '_')")
    return shorten(name)


def inside(child: str) -> bool:
    """Whether `child` (a name read from an index) names one folder inside its parent and nothing else."""
    return problem(child) is None and len(child.encode()) <= MAX_BYTES
