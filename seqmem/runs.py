"""A run directory: config.json, metrics.jsonl, checkpoint.pt and summary.json, every write atomic.

config.json holds everything needed to rerun (seeds included); an interrupted run resumes from its
last checkpoint, and metrics written after that checkpoint are dropped so no step is logged twice.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from seqmem.atomic import atomic_write, read_json, write_json, write_jsonl
from seqmem.errors import ConfigError

__all__ = ["RunDir", "atomic_write", "read_json", "same_config", "write_json", "write_jsonl"]


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

    def check(self, config: dict, upgrade=None) -> None:
        """Refuse, writing nothing, a directory that holds another run or other files. `upgrade` reads a
        config.json written in an older shape in today's."""
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"--out {self.path} is a file: choose a directory")
        if self.config_path.exists():
            old = read_json(self.config_path)
            old = upgrade(old) if upgrade else old
            if not same_config(old, json.loads(json.dumps(config))):
                raise ConfigError(
                    f"--out {self.path} holds a run with another config: choose a new --out, or delete it to start over"
                )
        elif self.path.exists() and any(self.path.iterdir()):
            raise ConfigError(f"--out {self.path} exists and is not a run directory: choose a new --out")

    def open(self, config: dict, upgrade=None) -> RunDir:
        self.check(config, upgrade)
        write_json(self.config_path, config)
        return self

    @property
    def config(self) -> dict:
        return read_json(self.config_path)

    def finished(self) -> bool:
        return self.summary_path.exists()

    def metrics(self) -> list[dict]:
        """The logged evaluations; a last line cut short by a kill is left out (it is after the checkpoint)."""
        if not self.metrics_path.exists():
            return []
        lines = [line for line in self.metrics_path.read_text().splitlines() if line.strip()]
        records = []
        for i, line in enumerate(lines):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                if i < len(lines) - 1:
                    raise ConfigError(f"{self.metrics_path}: line {i + 1} is not JSON; delete the run to start over") from None
        return records

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
