"""A report's outputs never land on what it reads: no output replaces a file of a run or an index, and none
is written inside a run folder, checked before anything is read or written.

`seqmem report b2 --html b2/delay=3/checkpoint.pt` would otherwise replace trained weights with a page.
"""

from __future__ import annotations

import os
from pathlib import Path

from seqmem.errors import ConfigError

RUN_FILES = ("config.json", "summary.json", "metrics.jsonl", "checkpoint.pt", "config.sig")
INDEX_FILES = ("sweep.json", "horizon.json", "profile.json")


def real(path: str | Path) -> Path:
    return Path(os.path.realpath(path))


def run_folder(folder: Path) -> bool:
    """Whether `folder` holds a run (any of a run's own files)."""
    return any(os.path.lexists(folder / name) for name in RUN_FILES)


def inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_outputs(outputs: dict[str, str | None], inputs: list[str], folders: dict[str, str | None]) -> None:
    """Refuse, in one line, an output file (flag -> path) or figures folder that is an input, a run's or an
    index's file, or lies inside a run folder."""
    roots = [real(p) for p in inputs]
    for flag, given in outputs.items():
        if given is None or str(given) == "" or "\0" in str(given):
            continue  # check_writable names these
        path = real(given)
        if any(path == root for root in roots):
            raise ConfigError(f"{flag} {given} is one of the folders this report reads: give another file name")
        if path.name in RUN_FILES + INDEX_FILES and (path.exists() or any(inside(path, r) for r in roots)):
            raise ConfigError(f"{flag} {given} would replace a run's {path.name}: give another file name")
        folder = path.parent
        if run_folder(folder):
            raise ConfigError(f"{flag} {given} lies inside the run folder {folder}: write it outside any run")
    for flag, given in folders.items():
        if given is None or str(given) == "" or "\0" in str(given):
            continue
        folder = real(given)
        if run_folder(folder) or any(run_folder(parent) for parent in folder.parents):
            raise ConfigError(f"{flag} {given} lies inside a run folder: write the figures outside any run")
