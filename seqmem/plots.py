"""The report's figures (matplotlib, drawn off-screen to PNG): learning curves, recall against delay, recall
against training seconds. Every figure draws the memoryless baseline, so a flat line at chance reads as one.

Each function takes a report section (seqmem.report.Section) and returns PNG bytes, or None where the
figure has nothing to show (no delay among the axes, say).
"""

from __future__ import annotations

import io

from seqmem.report import axis_label, field, group, number, shown

DELAY_KEYS = ("task.blank", "task.echo_step", "task.delay", "task.max_delay")
MAX_GROUPS = 12


def figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    return plt, fig, ax


def png(plt, fig, ax, title: str, xlabel: str, ylabel: str) -> bytes:
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()


def label(by: list[str], key: tuple) -> str:
    """A legend entry; `$` escaped, so a run's name is never read as mathtext."""
    text = ", ".join(f"{axis_label(k)}={shown(k, v)}" for k, v in zip(by, key, strict=True)) or "runs"
    return text.replace("$", r"\$")


def baselines(ax, records: list[dict]) -> None:
    """One dashed line a distinct memoryless recall."""
    values = sorted({round(b, 6) for b in (field(r, "baseline.recall_accuracy") for r in records) if number(b)})
    for i, value in enumerate(values):
        ax.axhline(value, color="grey", linestyle="--", linewidth=1, label="memoryless" if i == 0 else None)


def curves(section, x: str, title: str, xlabel: str) -> bytes | None:
    """Test recall at every evaluation against `x` (step or train_seconds), a line a run, a colour a group."""
    if not section.records:
        return None
    plt, fig, ax = figure()
    by = ["run"] if section.by is None else [k for k in section.by if k != "train.seed"]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (key, runs) in enumerate(group(section.records, by)[:MAX_GROUPS]):
        for j, run in enumerate(runs):
            history = section.curves.get(run["run"], [])
            ax.plot([h[x] for h in history], [h["recall_accuracy"] for h in history], color=colours[i % len(colours)],
                    linewidth=1.2, alpha=0.8, marker="." if len(history) < 30 else None,
                    label=label(by, key) if j == 0 else None)
    baselines(ax, section.records)
    return png(plt, fig, ax, title, xlabel, "test recall accuracy")


def learning_curves(section) -> bytes | None:
    return curves(section, "step", "Learning curves", "updates")


def recall_by_seconds(section) -> bytes | None:
    return curves(section, "train_seconds", "Recall against training time", "training seconds")


def recall_by_delay(section) -> bytes | None:
    """Test recall against the delay, mean over seeds with the spread (min..max) as error bars, a line for each
    setting of the other axes (each model, say)."""
    delay = next((k for k in DELAY_KEYS if k in (section.by or [])), None)
    if delay is None:
        return None
    records = [r for r in section.records if number(field(r, delay)) and number(r.get("recall_accuracy"))]
    if not records:
        return None
    plt, fig, ax = figure()
    others = [k for k in section.by if k not in (delay, "train.seed")]
    for key, runs in group(records, others)[:MAX_GROUPS]:
        points = sorted(group(runs, [delay]), key=lambda g: g[0][0])
        xs, means, lows, highs = [], [], [], []
        for (d,), rs in points:
            values = [r["recall_accuracy"] for r in rs]
            mean = sum(values) / len(values)
            xs.append(d)
            means.append(mean)
            lows.append(max(0.0, mean - min(values)))  # rounding can put the mean a hair outside the range
            highs.append(max(0.0, max(values) - mean))
        ax.errorbar(xs, means, yerr=[lows, highs], marker="o", capsize=3, label=label(others, key))
    baselines(ax, records)
    if max(field(r, delay) for r in records) > 20 * max(1, min(field(r, delay) for r in records)):
        ax.set_xscale("log")
    return png(plt, fig, ax, f"Recall against {axis_label(delay)}", axis_label(delay), "test recall accuracy")


FIGURES = (recall_by_delay, learning_curves, recall_by_seconds)
