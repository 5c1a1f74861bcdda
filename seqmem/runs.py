"""A run directory: config.json, metrics.jsonl, checkpoint.pt and summary.json, every write atomic.

config.json holds everything needed to rerun (seeds included); an interrupted run resumes from its
last checkpoint, and metrics written after that checkpoint are dropped so no step is logged twice.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch

from seqmem.errors import ConfigError


def atomic_write(path: Path, write) -> None:
    """Write through `write(file)` to a temporary file beside `path`, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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


def same_config(old: dict, new: dict) -> bool:
    """Equal, except for settings the older config predates (a setting added later defaults to the old
    behaviour), so a run recorded before a new setting existed still resumes."""
    if old.keys() - new.keys():
        return False
    for key, value in old.items():
        if isinstance(value, dict) and isinstance(new[key], dict):
            if not same_config(value, new[key]):
                return False
        elif value != new[key]:
            return False
    return True


class RunDir:
    """The files of one run. Opening a directory that holds another config is refused, not overwritten."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.config_path = self.path / "config.json"
        self.metrics_path = self.path / "metrics.jsonl"
        self.checkpoint_path = self.path / "checkpoint.pt"
        self.summary_path = self.path / "summary.json"

    def open(self, config: dict) -> RunDir:
        if self.config_path.exists():
            old = read_json(self.config_path)
            if not same_config(old, json.loads(json.dumps(config))):
                raise ConfigError(
                    f"--out {self.path} holds a run with another config: choose a new --out, or delete it to start over"
                )
        elif self.path.exists() and any(self.path.iterdir()):
            raise ConfigError(f"--out {self.path} exists and is not a run directory: choose a new --out")
        write_json(self.config_path, config)
        return self

    @property
    def config(self) -> dict:
        return read_json(self.config_path)

    def finished(self) -> bool:
        return self.summary_path.exists()

    def metrics(self) -> list[dict]:
        if not self.metrics_path.exists():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line.strip()]

    def log(self, record: dict) -> None:
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def save_checkpoint(self, checkpoint: dict) -> None:
        atomic_write(self.checkpoint_path, lambda f: torch.save(checkpoint, f))

    def load_checkpoint(self) -> dict | None:
        """The last checkpoint, with metrics logged after it dropped; None for a fresh run."""
        if not self.checkpoint_path.exists():
            if self.metrics_path.exists():
                self.metrics_path.unlink()
            return None
        checkpoint = torch.load(self.checkpoint_path, weights_only=False)
        kept = [m for m in self.metrics() if m["step"] <= checkpoint["step"]]
        write_jsonl(self.metrics_path, kept)
        return checkpoint

    def write_summary(self, summary: dict) -> None:
        write_json(self.summary_path, summary)

    def summary(self) -> dict:
        return read_json(self.summary_path)
