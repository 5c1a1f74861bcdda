"""The memory profile's tables (profile.json, `seqmem bench`): the ranking, a row a model, and the cells, a row
a model's task setting (and width) with its parameter count and state size, the grid point chosen on
validation, the learning-rate window and the updates to solve; where a task scores other lengths than
training (`eval_lengths`), the test recall at each of them, a row a cell.

The text fits WIDTH columns (the cells' rows under a line naming their model, so a long model spec takes no
column); `wide` adds the spreads over seeds, the rates of the window, the weight decay chosen and the seconds.
Fields an older profile.json or a shipped reference lacks show as `-` with a line saying why.
"""

from __future__ import annotations

import statistics
import textwrap

from seqmem.report.tables import WIDTH
from seqmem.run.records import number
from seqmem.sweeps.scores import ranked

RANKING = ["rank", "score", "solved", "edges", "params", "model"]
CELLS = ["task", "setting", "params", "state", "solved", "recall", "memoryless", "lr", "window", "updates"]
WIDE = ["recall (min..max)", "updates (min..max)", "window lr", "wd", "train s"]


def profile_text(result: dict, wide: bool = False) -> str:
    """The profile as aligned text: what it measured, the ranking, the cells under their models, then notes."""
    ranking_head, ranking = ranking_rows(result)
    cells_head, cells = cell_rows(result, wide)
    lines = [*wrapped(headline(result)), "", *aligned(ranking_head, [r for _, r in ranking], {0, 5}), ""]
    lines += wrapped("score: test recall above the memoryless recall, (recall - memoryless) / (1 - memoryless), "
                     "0 at or below it, averaged over each task's settings then over the tasks; ranked on it, then on "
                     f"solved (the fraction of settings whose validation recall reached {result['solved_at']}, the "
                     "same averages); mean (min..max) over seeds. edges: the cells whose chosen rate is the grid's "
                     "smallest or largest and unsolved inside the grid.")
    lines += ["", *blocks(cells_head, cells, {0, 1})]
    lines += [""] + [w for note in notes(result) for w in wrapped(note)]
    lengths_head, lengths = length_rows(result, wide)
    if lengths:  # after the cells' notes, under a note of its own
        lines += ["", *wrapped("test recall at other lengths than training, at each cell's chosen grid point: trained, "
                               "at the training length (the best validation step, as above); then a column a length, "
                               "headed by its steps (the run's last weights); mean over seeds; memoryless, the "
                               "memoryless recall at those lengths."), "", *blocks(lengths_head, lengths, {0, 1})]
    return "\n".join(lines)


def headline(result: dict) -> str:
    budget = (f"until solved (validation recall >= {result['solved_at']}), at most {result['budget']} updates"
              if result.get("until_solved") else f"{result['budget']} updates")
    size = (f"widths {', '.join(map(str, result['widths']))} for every model" if result.get("widths")
            else f"~{result['target_parameters']} parameters")
    grid = result.get("grid") or {}
    tuned = "; ".join(f"{k} {', '.join(rate(v) for v in values)}" for k, values in grid.items())
    seeds = result.get("seeds")
    return (f"memory profile, suite {result['suite']}: {budget} a run; {size}" + (f"; grid {tuned}" if tuned else "")
            + (f"; {seeds} seed{'s' if seeds != 1 else ''}" if seeds else ""))


def ranking_rows(result: dict) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """A row a model in the order of its rank: rank, score, solved, cells at the grid's edge, parameter counts
    and the model last, so a long spec widens no column."""
    rows = []
    for i, model in enumerate(ranked(result), 1):
        m = result["models"][model]
        counts = [c["parameters"] for c in cells_of(m) if number(c.get("parameters"))]
        counts = counts or [t["parameters"] for t in m["tasks"].values() if number(t.get("parameters"))]
        params = "-" if not counts else count(min(counts)) if count(min(counts)) == count(max(counts)) \
            else f"{count(min(counts))}..{count(max(counts))}"
        edges = f"{m['edges']}/{m['cells']}" if "edges" in m else "-"
        rows.append((model, [str(m.get("rank", i)), span(m.get("recall_score")), span(m["score"]), edges, params,
                             str(model)]))
    return RANKING, rows


def cell_rows(result: dict, wide: bool = False) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """A row a model's task setting (and width): `(model, row)`; a task an older profile.json holds without
    cells is one row of its means."""
    rows = []
    for model in ranked(result):
        m = result["models"][model]
        for task, t in m["tasks"].items():
            if "cells" not in t:
                row = [task, "-", count(t.get("parameters")), "-", f"{t['solved']['mean']:.2f}",
                       fixed(t["test_recall"]["mean"]), fixed(t["memoryless_recall"]), "-", "-", "-"]
                rows.append((model, row + ["-"] * len(WIDE) if wide else row))
                continue
            for c in t["cells"].values():
                row = [task, setting_text(t, c), count(c.get("parameters")), count(c.get("state_size")), solved(c),
                       fixed(mean(c["test_recall"])), fixed(c["memoryless_recall"]), chosen_rate(c), window(c),
                       updates(c)]
                if wide:
                    row += [span(spread(c["test_recall"])), span(spread(c["updates"]), "{:.0f}"),
                            "..".join(dict.fromkeys([rate(min(c["window"]["lr"])), rate(max(c["window"]["lr"]))]))
                            if c["window"].get("lr") else "-",
                            f"{c['chosen']['weight_decay']:g}" if "weight_decay" in c["chosen"] else "-",
                            f"{c['train_seconds']:.0f}" if number(c.get("train_seconds")) else "-"]
                rows.append((model, row))
    return CELLS + WIDE if wide else CELLS, rows


def setting_text(task: dict, cell: dict) -> str:
    """`blank=10`, or `64/4/4` for a setting of several keys, with `/64` after it where the suite fixes widths."""
    key, width = task.get("key"), cell.get("width")
    text = f"{key}={cell['setting']}" if isinstance(key, str) and width is None else str(cell["setting"])
    return text if width is None else f"{text}/{width}"


def length_rows(result: dict, wide: bool = False) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """A row a cell scored at other lengths than training (a task's `eval_lengths`): its test recall at the
    training length, then at each length (mean over seeds; with `wide`, min..max), the memoryless recall there
    last. No rows where no cell was."""
    lengths = sorted({int(n) for m in result["models"].values() for c in cells_of(m) for n in c.get("by_length", {})})
    head = ["task", "setting", "trained", *map(str, lengths), "memoryless"]  # L=16384 would push 8 lengths past WIDTH
    rows = []
    for model in ranked(result):
        for task, t in result["models"][model]["tasks"].items():
            for c in t.get("cells", {}).values():
                at = c.get("by_length")
                if not at:
                    continue
                scores = [spread(at[str(n)]["recall"]) if str(n) in at else None for n in lengths]
                guesses = sorted({round(s["memoryless"], 2) for s in at.values() if number(s.get("memoryless"))})
                rows.append((model, [task, setting_text(t, c), fixed(mean(c["test_recall"])),
                                     *(span(s) if wide else fixed(s["mean"]) if s else "-" for s in scores),
                                     "..".join(f"{g:.2f}" for g in dict.fromkeys([guesses[0], guesses[-1]]))
                                     if guesses else "-"]))
    return head, rows


def notes(result: dict) -> list[str]:
    """What the cells' columns mean, and what is missing and why."""
    out = [f"per setting, at the grid point chosen on validation: solved, the seeds whose validation recall reached "
           f"{result['solved_at']}; recall, test recall (mean over seeds); lr, the rate chosen (> the grid's largest, "
           "< its smallest, where no rate inside the grid solves: the grid should reach further); window, the grid points whose validation recall, mean "
           "over seeds, reached it, of the grid's; updates, the updates to solve, mean over the seeds that solved; "
           "state, the numbers the model carries (its state_size)."]
    cells = [c for m in result["models"].values() for c in cells_of(m)]
    edges = sum(c.get("edge") is not None for c in cells)
    if edges:
        out.append(f"The chosen rate is at the grid's edge in {edges} of {len(cells)} cells: the grid should reach "
                   "further before a ranking is read from them.")
    legend = {task: [*([t["key"]] if isinstance(t["key"], str) else t["key"]),
                     *(["width"] if any(c.get("width") is not None for c in t["cells"].values()) else [])]
              for m in result["models"].values() for task, t in m["tasks"].items() if "cells" in t}
    out += [f"{task} settings: {'/'.join(keys)}." for task, keys in legend.items() if len(keys) > 1]
    reference = [str(name) for name, m in result["models"].items() if m.get("reference")]
    stateless = [str(name) for name, m in result["models"].items()
                 if not m.get("reference") and cells_of(m) and all(c.get("state_size") is None for c in cells_of(m))]
    if reference:
        out.append(f"From the shipped reference: {', '.join(reference)}; state - where it records none.")
    if stateless:
        out.append(f"state -: the model gives no state_size ({', '.join(stateless)}).")
    if any(updates(c).endswith("?") for c in cells):
        out.append("updates ?: a run solved, but its evaluations were not at hand to say when.")
    older = [str(name) for name, m in result["models"].items() if m["tasks"] and not cells_of(m)]
    if older:
        out.append(f"{', '.join(older)}: written by an older seqmem, with no per-setting cells; score -.")
    return out


def cells_of(model: dict) -> list[dict]:
    return [c for t in model["tasks"].values() for c in t.get("cells", {}).values()]


def solved(cell: dict) -> str:
    return f"{sum(bool(v) for v in cell['solved'].values())}/{len(cell['solved'])}"


def chosen_rate(cell: dict) -> str:
    lr = cell["chosen"].get("lr")
    if lr is None:
        return "-"
    return rate(lr) + {"largest": ">", "smallest": "<"}.get(cell.get("edge"), "")


def window(cell: dict) -> str:
    return f"{cell['window']['solving']}/{cell['window']['grid']}"


def updates(cell: dict) -> str:
    """Mean updates to solve over the seeds that solved; `?` after it where a seed solved without a step known."""
    solved_seeds = [s for s, v in cell["solved"].items() if v]
    known = [cell["updates"][s] for s in solved_seeds if number(cell["updates"].get(s))]
    if not solved_seeds:
        return "-"
    return (f"{statistics.fmean(known):.0f}" if known else "") + ("?" if len(known) < len(solved_seeds) else "")


def mean(per_seed: dict):
    values = [v for v in per_seed.values() if number(v)]
    return statistics.fmean(values) if values else None


def spread(per_seed: dict) -> dict:
    values = [v for v in per_seed.values() if number(v)]
    return {"mean": statistics.fmean(values) if values else None, "min": min(values, default=None),
            "max": max(values, default=None)}


def span(s: dict | None, fmt: str = "{:.2f}") -> str:
    """Mean (min..max), or the mean alone where they print the same; `-` for none."""
    if not s or s.get("mean") is None:
        return "-"
    low, high = fmt.format(s["min"]), fmt.format(s["max"])
    return fmt.format(s["mean"]) + (f" ({low}..{high})" if low != high else "")


def fixed(value) -> str:
    return f"{value:.2f}" if number(value) else "-"


def count(n) -> str:
    """A count in at most 6 characters: 950, 18.9k, 1.23M."""
    if not number(n):
        return "-"
    return str(int(n)) if n < 1000 else f"{n / 1000:.1f}k" if n < 999_500 else f"{n / 1e6:.2f}M"


def rate(x: float) -> str:
    """A learning rate (or weight decay) in few characters: 1e-3, 4.6e-4, 0.1, 0."""
    if x == 0 or 0.1 <= abs(x) < 100:
        return f"{x:g}"
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa.removesuffix('.0')}e{int(exponent)}"


def wrapped(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH) or [""]


def aligned(head: list[str], rows: list[list[str]], left: set[int]) -> list[str]:
    """Columns two spaces apart, the labels (columns `left`) to the left and numbers to the right, a rule under
    the head."""
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             .rstrip() for r in [head, *rows]]
    return [lines[0], "  ".join("-" * w for w in widths), *lines[1:]]


def blocks(head: list[str], rows: list[tuple[str, list[str]]], left: set[int]) -> list[str]:
    """The cells' rows aligned as one table, each model's under a line naming it, a task named on its first row."""
    shown, previous = [], None
    for model, row in rows:
        task = row[0] if (model, row[0]) != previous else ""
        previous = (model, row[0])
        shown.append((model, [task, *row[1:]]))
    lines = aligned(head, [r for _, r in shown], left)
    out, model = lines[:2], None
    for (name, _), line in zip(shown, lines[2:], strict=True):
        if name != model:
            out.append(f"{name}:")
            model = name
        out.append(line)
    return out


def profile_tables(result: dict) -> list[tuple[list[str], list[list[str]], int]]:
    """The page's tables: the ranking and every cell with every column, a model a column of its own."""
    ranking_head, ranking = ranking_rows(result)
    cells_head, cells = cell_rows(result, wide=True)
    def model_second(row: list[str]) -> list[str]:  # the page scrolls: its labels lead
        return [row[0], row[-1], *row[1:-1]]

    lengths_head, lengths = length_rows(result, wide=True)
    return [(model_second(ranking_head), [model_second(r) for _, r in ranking], 2),
            (["model", *cells_head], [[m, *r] for m, r in cells], 3),
            *([(["model", *lengths_head], [[m, *r] for m, r in lengths], 3)] if lengths else [])]
