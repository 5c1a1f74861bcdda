"""The report's figures: learning curves, and recall against delay, state size and training seconds. Every figure
draws the memoryless baseline, so a flat line at chance reads as one.

Each `draw_*` takes a report section (seqmem.report.collect.Section) and returns a `matplotlib.figure.Figure`, or
None where the figure has nothing to show (no delay among the axes, say); `png` renders one. The figures are
made with `Figure` itself, not pyplot, so no backend is chosen for the process: a notebook keeps showing its
own figures inline, and nothing here needs a display.

What keeps a figure readable:
- Learning curves come a panel a task setting (the sweep's task axes), a colour, marker and line style a group
  of the other axes (a model, say); each seed is a thin line and the group's mean over its seeds a thick one,
  so 18 runs read as a few means with their spread, and the legend has an entry a group, not a run. The
  groups' markers sit on different evaluations, so equal curves (all at 1.0, say) all show.
- Recall against delay or state size gives each group its own marker and line style and moves its points a
  little sideways (a dodge), so two groups with equal scores both stay in sight, neither under the other.
- The figures lay themselves out with matplotlib's constrained layout and put the legend outside the axes, on
  the right, its entries wrapped to a few words a line: nothing covers a curve, and no layout warning is printed
  however many or long the entries are.
"""

from __future__ import annotations

import io
import math
import textwrap

from seqmem.report.tables import DELAY_KEYS, axis_label, group, readable, shown
from seqmem.run.records import field, number
from seqmem.sweeps.scores import ranked

MAX_GROUPS = 20
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
LINESTYLES = ("-", "--", "-.", ":")
LEGEND_WIDTH = 42  # characters a legend line: a sweep's many axes make long labels, which would squeeze the axes
PANEL_COLUMNS = 3
KEYS = ("memoryless", "each seed (thin); mean over seeds (thick)")  # the legend's keys, after the groups
MIN_STEP = 0.01  # the least shift between two groups, a share of the x axis' span
DODGE = 0.12  # the share of the smallest gap between two x values that a figure's groups spread across


def colours(n: int) -> list:
    """`n` distinct colours: tab10 up to 10, tab20 up to 20."""
    from matplotlib import colormaps  # matplotlib: loaded only when a figure is drawn, not for a text report

    palette = colormaps["tab10" if n <= 10 else "tab20"]
    return [palette(i) for i in range(n)]


def new_figure(panels: int = 1):
    """A figure of `panels` axes sharing the recall scale, at most PANEL_COLUMNS a row: (figure, list of axes)."""
    from matplotlib.figure import Figure  # as above

    columns = min(panels, PANEL_COLUMNS)
    rows = math.ceil(panels / columns)
    fig = Figure(figsize=(11, 4.4 if rows == 1 else 1.2 + 3.0 * rows), dpi=100, layout="constrained")
    axes = fig.subplots(rows, columns, sharey=True, squeeze=False).ravel()
    for ax in axes[panels:]:
        ax.set_visible(False)
    return fig, list(axes[:panels])


def finish(fig, axes: list, title: str, xlabel: str, ylabel: str, more: int = 0):
    """Titles, labels, the recall scale and one legend for the figure, outside the axes on the right."""
    title = readable(title) + (f" (the first {MAX_GROUPS} groups; {more} more not drawn)" if more else "")
    if len(axes) == 1:
        axes[0].set_title(title, fontsize=11)
    else:
        fig.suptitle(title, fontsize=11)
    for i, ax in enumerate(axes):
        ax.set_xlabel(xlabel)
        if i % PANEL_COLUMNS == 0:
            ax.set_ylabel(ylabel)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    entries = {}
    for ax in axes:  # an entry a label over every panel, the first panel's handle
        for handle, text in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(text, handle)
    entries = {**{t: h for t, h in entries.items() if t not in KEYS}, **{t: h for t, h in entries.items() if t in KEYS}}
    if entries:
        fig.legend(list(entries.values()), [wrapped(t) for t in entries], fontsize=8, loc="outside right upper")
    return fig


def wrapped(text: str) -> str:
    return "\n".join(textwrap.wrap(text, LEGEND_WIDTH, break_on_hyphens=False)) or text


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


def task_keys(section) -> list[str]:
    """What sets a learning-curve panel apart: the task axes of a sweep (its task's settings); a list of unrelated
    runs, the task."""
    if section.by is None:
        return ["task"]
    return [k for k in section.rows_by if k == "task" or k.startswith("task.")]


def mean_curve(histories: list[list[dict]], x: str) -> tuple[list, list]:
    """The mean over seeds, evaluation by evaluation up to the shortest run (an early-stopped seed ends there):
    x the mean of the seeds' x (steps agree; seconds differ a little), y the mean recall."""
    length = min(len(h) for h in histories)
    xs = [sum(h[i][x] for h in histories) / len(histories) for i in range(length)]
    ys = [sum(h[i]["recall_accuracy"] for h in histories) / len(histories) for i in range(length)]
    return xs, ys


def spaced(points: int, i: int, groups: int) -> tuple[int, int]:
    """Markers on about eight of a curve's points, or every few points where there are few, each group starting
    one later than the one before: groups with equal curves show their markers side by side, not one over the
    other. A curve shorter than its group's start (a run stopped at its first evaluation) is marked from its
    first point: a line of one point is its marker alone."""
    every = max(min(groups, len(LINESTYLES)), round(points / 8), 1)
    start = i % every
    return (start if start < points else 0, every)


def in_order(key: tuple) -> tuple:
    """A panel's place: numbers by value (delay 10 after 8), then anything else by its text."""
    return tuple((0, v, "") if number(v) else (1, 0, str(v)) for v in key)


def draw_curves(section, x: str, title: str, xlabel: str):
    """Test recall at every evaluation against `x` (step or train_seconds): a panel a task setting, a colour,
    marker and line style a group of the other axes, each seed a thin line and the group's mean over seeds a
    thick one (a group of one run, its own line thick)."""
    if not section.records:
        return None
    panel_by = task_keys(section)
    colour_by = [k for k in (["run"] if section.by is None else section.rows_by) if k not in panel_by]
    groups = group(section.records, colour_by)
    palette = colours(min(len(groups), MAX_GROUPS))
    colour_of = {key: i for i, (key, _) in enumerate(groups[:MAX_GROUPS])}
    panels = sorted(group(section.records, panel_by), key=lambda p: in_order(p[0]))
    fig, axes = new_figure(len(panels))
    seeds = False
    for ax, (panel_key, records) in zip(axes, panels, strict=True):
        for key, runs in group(records, colour_by):
            if key not in colour_of:
                continue
            i = colour_of[key]
            histories = [h for h in (section.curves.get(r["run"], []) for r in runs) if h]
            if not histories:
                continue
            if len(histories) > 1:
                seeds = True
                for history in histories:
                    ax.plot([h[x] for h in history], [h["recall_accuracy"] for h in history], color=palette[i],
                            linewidth=0.8, alpha=0.45, gid="seed")
            xs, ys = mean_curve(histories, x)
            ax.plot(xs, ys, color=palette[i], linewidth=2.2, gid="mean", label=label(colour_by, key),
                    linestyle=LINESTYLES[i % len(LINESTYLES)], marker=MARKERS[i % len(MARKERS)], markersize=6,
                    markerfacecolor="none", markeredgewidth=1.4, markevery=spaced(len(xs), i, len(colour_of)))
        baselines(ax, records)
        if panel_by and len(panels) > 1:
            ax.set_title(label(panel_by, panel_key), fontsize=10)
    if seeds:
        axes[0].plot([], [], color="black", linewidth=0.8, alpha=0.45, label=KEYS[1])
    return finish(fig, axes, title, xlabel, "test recall accuracy", max(0, len(groups) - MAX_GROUPS))


def draw_learning_curves(section):
    return draw_curves(section, "step", "Learning curves", "updates")


def draw_recall_by_seconds(section):
    return draw_curves(section, "train_seconds", "Recall against training time", "training seconds")


def dodge(xs: list[float], groups: int, log: bool) -> list[float]:
    """Each group's factor (log scale) or shift (linear) sideways, centred on the true x: spread over DODGE of
    the smallest gap between two distinct x values, so the points of equal groups sit side by side; at least
    MIN_STEP of the axis' span apart, so close values (a horizon's bisection: 20, 21) still part them."""
    values = sorted({math.log10(v) if log else v for v in xs if not log or v > 0})
    gaps = [b - a for a, b in zip(values, values[1:], strict=False) if b > a]
    span = values[-1] - values[0] if gaps else (0.3 if log else max(1.0, abs(values[0]) if values else 1.0))
    step = max(DODGE * (min(gaps) if gaps else span) / max(1, groups - 1), MIN_STEP * span)
    shifts = [(i - (groups - 1) / 2) * step for i in range(groups)]
    return [10 ** s for s in shifts] if log else shifts


def draw_by(records: list[dict], key: str, by: list[str], log: bool, title: str, xlabel: str):
    """Test recall against `key`, a line a group of `by` through its values: each point the mean over seeds with
    the spread (min..max) as error bars, a marker, line style and small sideways shift a group; the x ticks at
    the true values."""
    fig, axes = new_figure()
    ax = axes[0]
    groups = group(records, by)
    drawn = groups[:MAX_GROUPS]
    palette = colours(len(drawn))
    holders: dict = {}  # each x value: the groups with a point there, in order
    for i, (_, runs) in enumerate(drawn):
        for value in dict.fromkeys(field(r, key) for r in runs):
            holders.setdefault(value, []).append(i)
    everywhere = [field(r, key) for r in records]
    shifts = {n: dodge(everywhere, n, log) for n in {len(h) for h in holders.values()} if n > 1}  # by groups sharing

    def moved(value, i: int):
        """Shifted sideways among the groups that share the value alone; a value of one group stays true."""
        if len(holders[value]) < 2:
            return value
        shift = shifts[len(holders[value])][holders[value].index(i)]
        return value * shift if log else value + shift

    for i, (colour, (name, runs)) in enumerate(zip(palette, drawn, strict=True)):
        points = sorted(group(runs, [key]), key=lambda g: g[0][0])
        xs, means, lows, highs = [], [], [], []
        for (value,), rs in points:
            scores = [r["recall_accuracy"] for r in rs]
            mean = sum(scores) / len(scores)
            xs.append(moved(value, i))
            means.append(mean)
            lows.append(max(0.0, mean - min(scores)))  # rounding can put the mean a hair outside the range
            highs.append(max(0.0, max(scores) - mean))
        ax.errorbar(xs, means, yerr=[lows, highs], marker=MARKERS[i % len(MARKERS)], markersize=6, capsize=3,
                    color=colour, linestyle=LINESTYLES[i % len(LINESTYLES)], linewidth=1.5, alpha=0.9,
                    label=label(by, name))
    baselines(ax, records)
    if log:
        ax.set_xscale("log")
    ticks = sorted({field(r, key) for r in records})
    apart = all((b / a if log else b - a) >= (1.25 if log else (ticks[-1] - ticks[0]) / 20)
                for a, b in zip(ticks, ticks[1:], strict=False))  # labels that would overlap are left to matplotlib
    if len(ticks) <= 12 and apart:
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
    return finish(fig, axes, title, xlabel, "test recall accuracy", max(0, len(groups) - MAX_GROUPS))


def draw_recall_by_delay(section):
    """Test recall against the delay, mean over seeds with the spread (min..max) as error bars, a line for each
    setting of the other axes (each model, say)."""
    delay = next((k for k in DELAY_KEYS if k in (section.by or [])), None)
    if delay is None:
        return None
    records = [r for r in section.records if number(field(r, delay)) and number(r.get("recall_accuracy"))]
    if not records:
        return None
    delays = [field(r, delay) for r in records]
    log = min(delays) > 0 and max(delays) > 20 * max(1, min(delays))
    return draw_by(records, delay, [k for k in section.rows_by if k != delay], log,
                   f"Recall against {axis_label(delay)}", axis_label(delay))


def draw_profile(section):
    """The memory profile (`seqmem bench`): a panel a task with a bar a model, its test recall at the grid point
    chosen on validation (mean over seeds, min..max as error bars) and the fraction of the task's settings it
    solved written above; the memoryless recall dashed; a last panel with each model's overall score (its test
    recall above the memoryless recall averaged over settings and tasks, what the ranking reads; the solved
    fraction where an older profile.json has no such score), the solved fraction above. None where the folder
    holds no profile."""
    from matplotlib.figure import Figure  # as in new_figure

    result = section.profile
    if not result or not result["models"]:
        return None
    models = ranked(result)[:MAX_GROUPS]
    tasks = list(dict.fromkeys(t for m in result["models"].values() for t in m["tasks"]))
    fig = Figure(figsize=(2.6 * (len(tasks) + 1) + 2.2, 4.4), dpi=100, layout="constrained")
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
    by_recall = all("recall_score" in result["models"][m] for m in models)  # an older profile.json has none
    scores = [result["models"][m]["recall_score" if by_recall else "score"] for m in models]
    solved = [result["models"][m]["score"]["mean"] for m in models]
    bars(axes[-1], scores, "score: recall above\nmemoryless, mean over tasks" if by_recall else
         "score: settings solved,\nmean over tasks", None, [f"{s:.2f}" if s is not None else "" for s in solved])
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, [wrapped(x.replace("$", r"\$")) for x in labels], fontsize=8, loc="outside right upper")
    size = (f"widths {', '.join(map(str, result['widths']))}" if result.get("widths")
            else f"~{result.get('target_parameters')} parameters")
    fig.suptitle(f"Memory profile, suite {result.get('suite')}: {result['budget']} updates, {size}; above each bar "
                 "the fraction of settings solved", fontsize=10)
    return fig


def draw_recall_by_state_size(section):
    """Test recall against the numbers a model carries (summary.json's state_size), as zoology's README and Based's
    Figure 2 plot MQAR: a line a model through its sizes, each point the mean over seeds with the spread (min..max)
    as error bars, the state size on a log scale; a marker and a small sideways shift a line, as against delay.
    None unless the runs carry at least two state sizes, or where a delay varies (recall against the delay is
    then the figure: a sweep of the same models over delays has nothing new to say against state size). A
    sweep over learning rates is drawn as given;
    `seqmem report --choose lr` draws each point at its rate chosen on validation.
    """
    records = [r for r in section.records if number(r.get("state_size")) and number(r.get("recall_accuracy"))]
    varies = any(len({repr(field(r, k)) for r in records}) > 1 for k in section.by or [] if k in DELAY_KEYS)
    if section.by is None or varies or len({r["state_size"] for r in records}) < 2 or min(r["state_size"] for r in records) <= 0:
        return None
    by = [k for k in section.rows_by if k == "model.name" or k == "model" or k.startswith("task.")]
    return draw_by(records, "state_size", by, True, "Recall against state size",
                   "state size (numbers the state carries)")


FIGURES = (draw_profile, draw_recall_by_delay, draw_recall_by_state_size, draw_learning_curves, draw_recall_by_seconds)


def figure_name(draw) -> str:
    """`draw_recall_by_delay` -> `recall by delay`: the page's alt text, and (dashed) the PNG file's name."""
    return draw.__name__.removeprefix("draw_").replace("_", " ")
