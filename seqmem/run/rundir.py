"""A run directory: config.json, metrics.jsonl, checkpoint.pt and summary.json, every write atomic.

config.json holds everything needed to rerun (seeds included); an interrupted run resumes from its
last checkpoint, and metrics written after that checkpoint are dropped so no step is logged twice.
A damaged file is refused in one line that names it and says what to do; a checkpoint is loaded with
`weights_only=True`, so a planted one cannot run code; `.lock` keeps a second writer out.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import socket
import time
from pathlib import Path

import torch

from seqmem.config.user_code import changed_sources
from seqmem.errors import ConfigError
from seqmem.run import trust
from seqmem.run.atomic import atomic_write, not_regular, read_json, reported, write_json, write_jsonl
from seqmem.run.bounded import NotARunFile, check_regular, read_text
from seqmem.run.records import field, number
from seqmem.training.train_config import EXECUTION

__all__ = ["RunDir", "atomic_write", "read_json", "same_config", "write_json", "write_jsonl"]

# The scores summary.json holds, by dotted key: each a number where present (the report's columns).
SCORES = ("steps", "train_seconds", "loss", "accuracy", "recall_accuracy", "sequence_accuracy",
          "valid_recall_accuracy", "at_best.recall_accuracy", "baseline.accuracy", "baseline.recall_accuracy",
          "parameters", "state_size")


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


def identity(config: dict) -> dict:
    """What a run computes: its config without the settings of where it runs (`train.device`, `train.log`),
    which may change when it resumes."""
    train = config.get("train")
    if not isinstance(train, dict):
        return config
    return {**config, "train": {k: v for k, v in train.items() if k not in EXECUTION}}


class RunDir:
    """The files of one run. Opening a directory that holds another config is refused, not overwritten."""

    def __init__(self, path: str | Path):
        if not isinstance(path, str | os.PathLike):
            raise ConfigError(f"a run directory is a path, got {type(path).__name__}")
        self.path = Path(path)
        if "\0" in str(self.path) or any(len(part.encode(errors="replace")) > 255 for part in self.path.parts):
            raise ConfigError(f"{str(self.path)[:60]}...: a folder name longer than 255 bytes (or holding a "
                              "NUL) cannot be made: choose a shorter path")
        self.config_path = self.path / "config.json"
        self.metrics_path = self.path / "metrics.jsonl"
        self.checkpoint_path = self.path / "checkpoint.pt"
        self.summary_path = self.path / "summary.json"
        self.signature_path = self.path / trust.SIGNATURE

    def check(self, config: dict, upgrade=None) -> None:
        """Refuse, writing nothing, a directory that holds another run or other files. `upgrade` reads a
        config.json written in an older shape in today's."""
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"--out {self.path} is a file: choose a directory")
        for path in (self.config_path, self.metrics_path, self.checkpoint_path, self.summary_path, self.signature_path,
                     self.path / ".lock"):
            kind = not_regular(path)
            if kind is not None:  # writing through it would write elsewhere, or replace it
                raise ConfigError(f"--out {self.path}: {path.name} is {kind}, not a file of a run: remove it")
        if self.config_path.exists():
            old = self.config
            old = upgrade(old) if upgrade else old
            changed = changed_sources(old.get("sources") or {}, config.get("sources") or {})
            if changed:
                raise ConfigError(f"{changed[0]} has changed since the run in {self.path} started: restore it to "
                                  "resume, or choose a new --out to train the changed code")
            if not same_config(identity(old), identity(json.loads(json.dumps(config)))):
                raise ConfigError(
                    f"--out {self.path} holds a run with another config: choose a new --out, or delete it to start over"
                )
        elif self.path.exists() and any(not leftover(p) for p in self.path.iterdir()):
            raise ConfigError(f"--out {self.path} exists and is not a run directory: choose a new --out")
        writable(self.path)

    def open(self, config: dict, upgrade=None) -> RunDir:
        self.check(config, upgrade)
        write_json(self.config_path, config)
        trust.sign(self.path, config)  # this user's run: its code may be loaded again without --trust
        return self

    @property
    def config(self) -> dict:
        return read_record(self.config_path, "delete the run directory to start over")

    def lock(self):
        """Hold `.lock` while writing; a second writer is refused naming the first."""
        return lock(self.path, "--out")

    def finished(self) -> bool:
        return self.summary_path.exists()

    def metrics(self) -> list[dict]:
        """The logged evaluations; a last line cut short by a kill is left out (it is after the checkpoint)."""
        if not self.metrics_path.exists():
            return []
        try:
            lines = [line for line in read_text(self.metrics_path).splitlines() if line.strip()]
        except NotARunFile as e:
            raise ConfigError(f"{self.metrics_path} is damaged ({e}): delete the run directory to start over") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{self.metrics_path} is damaged (not text): delete the run directory to start over") from None
        records = []
        for i, line in enumerate(lines):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = None
            if isinstance(record, dict) and isinstance(record.get("step"), int):
                records.append(record)
            elif i < len(lines) - 1:
                raise ConfigError(f"{self.metrics_path}: line {i + 1} is damaged; delete the run directory to start over")
        return records

    def log(self, record: dict) -> None:
        with reported(self.metrics_path), open(self.metrics_path, "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def save_checkpoint(self, checkpoint: dict) -> None:
        data = io.BytesIO()  # serialized first, so a full disk is an OSError that names itself
        torch.save(checkpoint, data)
        atomic_write(self.checkpoint_path, lambda f: f.write(data.getbuffer()))

    def read_checkpoint(self) -> dict:
        """checkpoint.pt, loaded with weights_only=True (tensors and plain data only, never code) onto the CPU,
        whichever device saved it (map_location): a run trained on a GPU resumes, or is loaded, on a CPU, and
        load_state_dict copies the weights to wherever the model is."""
        try:
            check_regular(self.checkpoint_path)  # torch.load would wait on a FIFO forever
            checkpoint = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            reason = str(e).splitlines()[0] if str(e) else "it holds more than weights"
            raise ConfigError(f"{self.checkpoint_path} cannot be loaded safely ({reason[:120]}): it holds more "
                              "than tensors and plain data; delete it to restart the run from scratch") from None
        except NotARunFile as e:
            raise ConfigError(f"{self.checkpoint_path} is damaged ({e}): delete it to restart the run from scratch") from None
        except Exception as e:  # truncated, empty or not a checkpoint at all
            raise ConfigError(f"{self.checkpoint_path} is damaged ({type(e).__name__}): delete it to restart the run "
                              "from scratch") from None
        if not isinstance(checkpoint, dict) or not {"model", "step"} <= checkpoint.keys():
            raise ConfigError(f"{self.checkpoint_path} is not a seqmem checkpoint: delete it to restart the run")
        return checkpoint

    def load_checkpoint(self) -> dict | None:
        """The last checkpoint, with metrics logged after it dropped; None for a fresh run."""
        if not self.checkpoint_path.exists():
            if self.metrics_path.exists():
                self.metrics_path.unlink()
            return None
        checkpoint = self.read_checkpoint()
        kept = [m for m in self.metrics() if m["step"] <= checkpoint["step"]]
        write_jsonl(self.metrics_path, kept)
        return checkpoint

    def write_summary(self, summary: dict) -> None:
        write_json(self.summary_path, summary)

    def summary(self) -> dict:
        return read_record(self.summary_path, "delete it and run the same command again to rewrite it")


def summary_problem(summary: dict) -> str | None:
    """What is wrong with summary.json's shape for the report, or None: the scores must be numbers (or absent)."""
    if "diverged" in summary and not isinstance(summary["diverged"], bool):
        return f"'diverged' is {summary['diverged']!r}, not true or false"
    if not number(summary.get("recall_accuracy")) and not summary.get("diverged"):
        return f"its recall_accuracy is {summary.get('recall_accuracy')!r}, not a finite number"
    bad = next((k for k in SCORES if field(summary, k) is not None and not number(field(summary, k))), None)
    return f"its {bad} is {field(summary, bad)!r}, not a finite number" if bad else None


def restore(module, state: dict, path: Path) -> None:
    """Load a state dict saved in `path`, refusing in one line one of another architecture."""
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"{path} holds the state of another model or method ({first[:160]}): delete it to "
                          "restart the run, or use the config it was trained with") from None


def read_record(path: Path, fix: str) -> dict:
    """A JSON file of the run, or one line naming it and the fix."""
    try:
        data = read_json(path)
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing: {fix}") from None
    except NotARunFile as e:  # a FIFO, a device, or gigabytes: never read
        raise ConfigError(f"{path} is damaged ({e}): {fix}") from None
    except (ValueError, OSError) as e:  # empty, truncated or garbage
        raise ConfigError(f"{path} is damaged ({type(e).__name__}): {fix}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} does not hold a JSON object: {fix}")
    return data


def leftover(path: Path) -> bool:
    """A temporary file of an interrupted atomic write, or a lock: not a sign of another run."""
    return path.name in (".lock", trust.SIGNATURE) or (path.name.startswith(".") and path.name.endswith(".tmp"))


def writable(path: Path) -> None:
    """Refuse a folder that cannot be written (or whose nearest existing parent cannot), before any work."""
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"--out {path}: {existing} is a file, so the folder cannot be made there")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {path}: {existing} is not writable: choose another --out")


def started(pid: int) -> str:
    """When process `pid` started (clock ticks since boot, from /proc), or "" where that is unknown: with
    the id it tells a lock's writer from a later process that was given the same id."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return ""


def holder_alive(host: str, pid: str, start: str) -> bool:
    """Whether the lock's writer may still be running: on another host we cannot tell, so yes."""
    if host != socket.gethostname():
        return True
    if not pid.isdigit() or not alive(int(pid)):
        return False
    return not start or not started(int(pid)) or started(int(pid)) == start


@contextlib.contextmanager
def lock(folder: Path, what: str):
    """Hold `folder/.lock` (host, process id and its start time) while writing; a second writer is refused
    naming the first, and a lock left by a process that has died is taken over, even if its id has been
    given to another process since."""
    folder = Path(folder)
    with reported(folder / ".lock"):
        folder.mkdir(parents=True, exist_ok=True)
    path, mine = folder / ".lock", f"{socket.gethostname()} {os.getpid()} {started(os.getpid())}".strip()
    for attempt in range(100):
        try:
            with reported(path):
                try:
                    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                except FileExistsError:
                    fd = None
            if fd is not None:
                break
            try:
                holder = path.read_text().strip()
            except FileNotFoundError:
                continue
            host, pid, start = (holder.split() + ["", "", ""])[:3]
            stale = host and not holder_alive(host, pid, start)
            if stale or (not holder and attempt >= 20):  # its writer died (or never wrote): take it over
                path.unlink(missing_ok=True)
                continue
            if not holder:
                time.sleep(0.01)  # being written this instant
                continue
            raise ConfigError(f"{what} {folder} is in use by process {pid or '?'} on {host or '?'} (lock "
                              f"{path}): wait for it to finish, or stop it; delete the lock only if it is gone")
        except UnicodeDecodeError:
            path.unlink(missing_ok=True)  # not a lock seqmem wrote
    else:
        raise ConfigError(f"{what} {folder}: could not take {path}; delete it if no run is writing there")
    try:
        with reported(path):
            os.write(fd, mine.encode())
            os.close(fd)
        yield folder
    finally:
        path.unlink(missing_ok=True)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
