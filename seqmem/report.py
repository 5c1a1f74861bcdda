"""Tables of finished runs: recall accuracy and the memoryless baseline always beside overall accuracy."""

from __future__ import annotations

import json
from pathlib import Path

COLUMNS = [
    ("run", "run", "{}"),
    ("task", "task", "{}"),
    ("model", "model", "{}"),
    ("method", "method", "{}"),
    ("steps", "steps", "{}"),
    ("train s", "train_seconds", "{:.1f}"),
    ("loss", "loss", "{:.4f}"),
    ("accuracy", "accuracy", "{:.4f}"),
    ("recall acc", "recall_accuracy", "{:.4f}"),
    ("seq acc", "sequence_accuracy", "{:.4f}"),
    ("memoryless acc", "baseline.accuracy", "{:.4f}"),
    ("memoryless recall", "baseline.recall_accuracy", "{:.4f}"),
]


def field(summary: dict, key: str):
    value = summary
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def table(summaries: list[dict]) -> str:
    """A plain-text table, one row a run."""
    rows = [[h for h, _, _ in COLUMNS]]
    for s in summaries:
        rows.append(["-" if field(s, k) is None else fmt.format(field(s, k)) for _, k, fmt in COLUMNS])
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) if i < 4 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def find_summaries(paths: list[str | Path]) -> list[dict]:
    """Every summary.json under the given run directories or folders of runs, oldest first."""
    found = []
    for root in map(Path, paths):
        files = [root / "summary.json"] if (root / "summary.json").exists() else sorted(root.rglob("summary.json"))
        for f in files:
            s = json.loads(f.read_text())
            s.setdefault("run", str(f.parent))
            found.append(s)
    return found
