"""The report's figures: learning curves, and recall against delay, state size and training seconds. Every figure
draws the memoryless baseline, so a flat line at chance reads as one.

Each `draw_*` takes a report section (seqmem.report.collect.Section) and returns a `matplotlib.figure.Figure`, or
None where the figure has nothing to show (no delay among the axes, say); `png` renders one. The figures are
made with `Figure` itself, not pyplot, so no backend is chosen for the process: a notebook keeps showing its
own figures inline, and nothing here needs a display.

Colours: one a group (a model, say), from a qualitative map with as many distinct colours as groups (up to
20); the seeds of a group share its colour and differ by line style. The legend sits outside the axes, on
the right, so it never covers a curve.
"""

from __future__ import annotations

import io

from seqmem.report.tables import DELAY_KEYS, axis_label, group, readable, shown
from seqmem.run.records import field, number

MAX_GROUPS = 20
LINESTYLES = ("-", "--", ":", "-.")


def colours(n: int) -> list:
    """`n` distinct colours: tab10 up to 10, tab20 up to 20."""
    from matplotlib import colormaps  # matplotlib: loaded only when a figure is drawn, not for a text report

    palette = colormaps["tab10" if n <= 10 else "tab20"]
    return [palette(i) for i in range(n)]


def new_figure():
    from matplotlib.figure import Figure  # as above

    fig = Figure(figsize=(11, 4.4), dpi=100)
    return fig, fig.add_subplot()


def finish(fig, ax, title: str, xlabel: str, ylabel: str, more: int = 0):
    ax.set_title(readable(title) + (f" (the first {MAX_GROUPS} groups; {more} more not drawn)" if more else ""), fontsize=11)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    return fig


def png(fig) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", bbox_inches="tight")
    return out.getvalue()


def label(by: list[str], key: tuple) -> str:
    """A legend entry; `$` escaped, so a run's name is never read as mathtext."""
    text = ", ".join(f"{axis_label(k)}={shown(k, v)}" for k, v in zip(by, key, strict=True)) or "runs"
    return readable(text).replace("$", r"\$")


def baselines(ax, records: list[dict]) -> None:
    """One dashed grey line a distinct memoryless recall."""
    values = sorted({round(b, 6) for b in (field(r, "baseline.recall_accuracy") for r in records) if number(b)})
    for i, value in enumerate(values):
        ax.axhline(value, color="grey", linestyle=(0, (6, 3)), linewidth=1, label="memoryless" if i == 0 else None)


def draw_curves(section, x: str, title: str, xlabel: str):
    """Test recall at every evaluation against `x` (step or train_seconds): a colour a group, a line style a seed."""
    if not section.records:
        return None
    fig, ax = new_figure()
    by = ["run"] if section.by is None else section.rows_by
    groups = group(section.records, by)
    palette = colours(min(len(groups), MAX_GROUPS))
    for i, (key, runs) in enumerate(groups[:MAX_GROUPS]):
        for j, run in enumerate(runs):
            history = section.curves.get(run["run"], [])
            ax.plot([h[x] for h in history], [h["recall_accuracy"] for h in history], color=palette[i],
                    linestyle=LINESTYLES[j % len(LINESTYLES)], linewidth=1.3, alpha=0.9,
                    marker="." if len(history) < 30 else None, label=label(by, key) if j == 0 else None)
    if any(len(runs) > 1 for _, runs in groups):
        ax.plot([], [], color="black", linestyle="-", label="line style: seed")
    baselines(ax, section.records)
    return finish(fig, ax, title, xlabel, "test recall accuracy", max(0, len(groups) - MAX_GROUPS))


def draw_learning_curves(section):
    return draw_curves(section, "step", "Learning curves", "updates")


def draw_recall_by_seconds(section):
    return draw_curves(section, "train_seconds", "Recall against training time", "training seconds")


def draw_recall_by_delay(section):
    """Test recall against the delay, mean over seeds with the spread (min..max) as error bars, a line for each
    setting of the other axes (each model, say)."""
    delay = next((k for k in DELAY_KEYS if k in (section.by or [])), None)
    if delay is None:
        return None
    records = [r for r in section.records if number(field(r, delay)) and number(r.get("recall_accuracy"))]
    if not records:
        return None
    fig, ax = new_figure()
    others = [k for k in section.rows_by if k != delay]
    groups = group(records, others)
    palette = colours(min(len(groups), MAX_GROUPS))
    for colour, (key, runs) in zip(palette, groups, strict=False):
        points = sorted(group(runs, [delay]), key=lambda g: g[0][0])
        xs, means, lows, highs = [], [], [], []
        for (d,), rs in points:
            values = [r["recall_accuracy"] for r in rs]
            mean = sum(values) / len(values)
            xs.append(d)
            means.append(mean)
            lows.append(max(0.0, mean - min(values)))  # rounding can put the mean a hair outside the range
            highs.append(max(0.0, max(values) - mean))
        ax.errorbar(xs, means, yerr=[lows, highs], marker="o", capsize=3, color=colour, label=label(others, key))
    baselines(ax, records)
    if max(field(r, delay) for r in records) > 20 * max(1, min(field(r, delay) for r in records)):
        ax.set_xscale("log")
    return finish(fig, ax, f"Recall against {axis_label(delay)}", axis_label(delay), "test recall accuracy",
                  max(0, len(groups) - MAX_GROUPS))


def draw_profile(section):
    """The memory profile (`seqmem bench`): a panel a task with a bar a model, its test recall at the grid point
    chosen on validation (mean over seeds, min..max as error bars) and the fraction of the task's settings it
    solved written above; the memoryless recall dashed; a last panel with each model's overall score (the
    solved fraction averaged over tasks). None where the folder holds no profile."""
    from matplotlib.figure import Figure  # as in new_figure

    result = section.profile
    if not result or not result["models"]:
        return None
    models = list(result["models"])[:MAX_GROUPS]
    tasks = list(dict.fromkeys(t for m in result["models"].values() for t in m["tasks"]))
    fig = Figure(figsize=(2.6 * (len(tasks) + 1) + 2.2, 4.4), dpi=100)
    axes = fig.subplots(1, len(tasks) + 1, sharey=True, squeeze=False)[0]
    palette = colours(len(models))

    def bars(ax, spreads: list, title: str, ylabel: str | None, notes: list[str] | None = None):
        xs = [i for i, s in enumerate(spreads) if s and s["mean"] is not None]
        means = [spreads[i]["mean"] for i in xs]
        errors = [[max(0.0, spreads[i]["mean"] - spreads[i]["min"]) for i in xs],
                  [max(0.0, spreads[i]["max"] - spreads[i]["mean"]) for i in xs]]
        for i, mean, low, high in zip(xs, means, *errors, strict=True):
            ax.bar(i, mean, yerr=[[low], [high]], capsize=3, color=palette[i], label=readable(models[i]))
            if notes:
                ax.text(i, min(1.0, mean + high) + 0.02, notes[i], ha="center", fontsize=7)
        ax.set_title(readable(title).replace("$", r"\$"), fontsize=10)
        ax.set_xticks([])
        ax.set_ylim(0, 1.1)
        ax.grid(axis="y", alpha=0.3)
        if ylabel:
            ax.set_ylabel(ylabel)

    for ax, task in zip(axes, tasks, strict=False):
        scores = [result["models"][m]["tasks"].get(task) for m in models]
        bars(ax, [s and s["test_recall"] for s in scores], task, "test recall at the chosen grid point" if ax is axes[0]
             else None, [f"{s['solved']['mean']:.2f}" if s and s["solved"]["mean"] is not None else "" for s in scores])
        memoryless = [s["memoryless_recall"] for s in scores if s]
        ax.axhline(sum(memoryless) / len(memoryless), color="grey", linestyle=(0, (6, 3)), linewidth=1, gid="memoryless",
                   label="memoryless" if ax is axes[0] else None)
    scores = [result["models"][m]["score"] for m in models]
    bars(axes[-1], scores, "score: settings solved,\nmean over tasks", None,
         [f"{s['mean']:.2f}" if s["mean"] is not None else "" for s in scores])
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, [x.replace("$", r"\$") for x in labels], fontsize=8, loc="upper left",
               bbox_to_anchor=(1.0, 0.9))
    fig.suptitle(f"Memory profile, suite {result.get('suite')}: {result['budget']} updates, ~{result['target_parameters']}"
                 f" parameters; above each bar the fraction of settings solved", fontsize=10)
    fig.tight_layout()
    return fig


def draw_recall_by_state_size(section):
    """Test recall against the numbers a model carries (summary.json's state_size), as zoology's README and Based's
    Figure 2 plot MQAR: a line a model through its sizes, each point the mean over seeds with the spread (min..max)
    as error bars, the state size on a log scale. None unless the runs carry at least two state sizes. A sweep over
    learning rates is drawn as given; `seqmem report --choose lr` draws each point at its rate chosen on validation.
    """
    records = [r for r in section.records if number(r.get("state_size")) and number(r.get("recall_accuracy"))]
    if section.by is None or len({r["state_size"] for r in records}) < 2:
        return None
    fig, ax = new_figure()
    by = [k for k in section.rows_by if k == "model.name" or k == "model" or k.startswith("task.")]
    groups = group(records, by)
    palette = colours(min(len(groups), MAX_GROUPS))
    for colour, (key, runs) in zip(palette, groups, strict=False):
        points = sorted(group(runs, ["state_size"]), key=lambda g: g[0][0])
        xs = [size for (size,), _ in points]
        values = [[r["recall_accuracy"] for r in rs] for _, rs in points]
        means = [sum(v) / len(v) for v in values]
        lows = [max(0.0, m - min(v)) for m, v in zip(means, values, strict=True)]
        highs = [max(0.0, max(v) - m) for m, v in zip(means, values, strict=True)]
        ax.errorbar(xs, means, yerr=[lows, highs], marker="o", capsize=3, color=colour, label=label(by, key))
    baselines(ax, records)
    ax.set_xscale("log")
    return finish(fig, ax, "Recall against state size", "state size (numbers carried, zoology's count)",
                  "test recall accuracy", max(0, len(groups) - MAX_GROUPS))


FIGURES = (draw_profile, draw_recall_by_delay, draw_recall_by_state_size, draw_learning_curves, draw_recall_by_seconds)


def figure_name(draw) -> str:
    """`draw_recall_by_delay` -> `recall by delay`: the page's alt text, and (dashed) the PNG file's name."""
    return draw.__name__.removeprefix("draw_").replace("_", " ")
