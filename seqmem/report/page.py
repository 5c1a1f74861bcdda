"""The report as one self-contained HTML page: each section's table and figures, images embedded as data
URLs, so the file can be mailed or opened offline."""

from __future__ import annotations

import base64
import html
import json
import re
import time
from pathlib import Path

from seqmem.report.collect import Section
from seqmem.report.plots import FIGURES, draw_profile, figure_name, png
from seqmem.report.profile import headline, notes, profile_tables
from seqmem.report.tables import COLUMNS, DECIDING, SOLVED_AT, axis_label, group, readable, shown, table_rows
from seqmem.run.atomic import atomic_write, read_json
from seqmem.run.records import field, number

# A table never wraps a cell a character a line: no cell wraps (a cell's spread, min..max, sits on a second line
# under its mean), and a table wider than the window scrolls sideways in its own box, the page itself staying
# put. The deciding columns (tables.DECIDING, as the text table) show first; every score folds out below them.
STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em 2em; color: #222; }
div.table { overflow-x: auto; max-width: 100%; margin: 1em 0; }
table { border-collapse: collapse; font-size: 0.8em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; vertical-align: top;
         white-space: nowrap; }
th { background: #f4f4f4; font-weight: 600; }
td.label { text-align: left; }
td span.spread { display: block; color: #666; font-size: 0.85em; }
details { margin: 0.5em 0 1em; }
summary { cursor: pointer; color: #555; font-size: 0.9em; }
img { display: block; width: 100%; max-width: 1400px; margin: 0.5em 0; }
p.note { color: #555; font-size: 0.9em; }
"""


def html_cell(text: str, label: bool) -> str:
    if label:
        return f"<td class=label>{html.escape(text)}</td>"
    mean, _, spread = text.partition(" (")
    spread = f"<span class=spread>({html.escape(spread)}</span>" if spread else ""
    return f"<td>{html.escape(mean)}{spread}</td>"


def html_table(head: list[str], rows: list[list[str]], labels: int) -> str:
    cells = ["<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    cells += ["<tr>" + "".join(html_cell(c, i < labels) for i, c in enumerate(row)) + "</tr>" for row in rows]
    return "<div class=table><table>\n" + "\n".join(cells) + "\n</table></div>"


def horizon_table(horizon: dict) -> str:
    """The horizon's table and note; every value from horizon.json is escaped (a run folder travels)."""
    head = ["model", "horizon mean", "min", "max", "per seed"]
    rows = [[str(model), f"{h['mean']:.4g}", f"{h['min']:g}", f"{h['max']:g}",
             ", ".join(f"{s}: {v:g}" for s, v in h["seeds"].items())] for model, h in horizon["models"].items()]
    budget = ", ".join(f"{k} {v}" for k, v in horizon["budget"].items() if v is not None)
    text = {k: html.escape(str(horizon[k])) for k in ("key", "target", "start", "limit")}
    note = (f"The largest {text['key']} at which each model reaches validation recall >= "
            f"{text['target']} within the budget ({html.escape(budget)}), found by doubling and bisection "
            f"from {text['start']} (searched up to {text['limit']}); a horizon of 0 means even the "
            "smallest delay failed.")
    return f"<h3>Memory horizon</h3>\n<p class=note>{note}</p>\n" + html_table(head, rows, 1)


def task_settings(section, record: dict) -> dict:
    """The task part of a run's config.json (a suite's point under the folder, or a loose run), or {}."""
    for folder in (Path(section.title) / record["run"], Path(record["run"])):
        try:
            return read_json(folder / "config.json")["task"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return {}


def per_task(section) -> list:
    """A list of unrelated runs (a suite) as one part a task (its name and settings), so each part compares
    the models on one task; a sweep, or runs of one task, as it is."""
    if section.by is not None:
        return [section]
    settings = {r["run"]: task_settings(section, r) for r in section.records}
    keyed = [{**r, "task settings": json.dumps(settings[r["run"]], sort_keys=True, default=str)}
             for r in section.records]
    parts = group(keyed, ["task", "task settings"])
    if len(parts) < 2:
        return [section]
    names = [task for (task, _), _ in parts]
    out = []
    for (task, _), records in parts:
        mine = settings[records[0]["run"]]
        if names.count(task) > 1:  # tell apart two tasks of one name by the settings they differ in
            others = [settings[rs[0]["run"]] for (t, _), rs in parts if t == task and rs is not records]
            differ = [k for k in mine if k != "name" and any(o.get(k) != mine[k] for o in others)]
            title = f"{shown('task', task)} ({', '.join(f'{k}={mine[k]}' for k in differ)})"
        else:
            title = shown("task", task)
        records = [{k: v for k, v in r.items() if k != "task settings"} for r in records]
        out.append(Section(f"{section.title}: {title}", records, None,
                           {r["run"]: section.curves.get(r["run"], []) for r in records}, tags=section.tags))
    return out


def best_note(section) -> str:
    """Which row recalls best (mean over its seeds), beside the memoryless recall: on a suite's task, which
    model remembers; on a sweep, which setting."""
    by = ["run"] if section.by is None else section.rows_by
    means = []
    for _, runs in group(section.records, by):
        values = [r["recall_accuracy"] for r in runs if number(r.get("recall_accuracy"))]
        if values:
            means.append((sum(values) / len(values), runs[0]))
    if len(means) < 2 or sorted(m[0] for m in means)[-2] == max(m[0] for m in means):
        return ""  # nothing to tell apart, or a tie at the top
    recall, best = max(means, key=lambda m: m[0])
    keys = ["model", "method"] if section.by is None else by
    who = ", ".join(f"{axis_label(k)}={shown(k, field(best, k))}" for k in keys)
    baseline = field(best, "baseline.recall_accuracy")
    against = f" (memoryless {baseline:.4f})" if number(baseline) else ""
    return f"<p class=note>Highest test recall: <b>{html.escape(who)}</b>, {recall:.4f}{html.escape(against)}.</p>"


def profile_html(section) -> str:
    """The memory profile's tables, notes and figure; every value from profile.json is escaped."""
    result = section.profile
    tables = "\n".join(html_table(head, rows, labels) for head, rows, labels in profile_tables(result))
    note = (f"{html.escape(headline(result))}. Score: test recall above the memoryless recall, (recall - memoryless) "
            "/ (1 - memoryless), averaged over settings then tasks, at the grid point chosen on validation for each "
            f"setting; ranked on it, then on solved (validation recall >= {html.escape(str(result['solved_at']))}); "
            "mean (min..max) over seeds.")
    below = "".join(f"<p class=note>{html.escape(line)}</p>\n" for line in notes(result))
    data = base64.b64encode(png(draw_profile(section))).decode()
    return (f"<h3>Memory profile</h3>\n<p class=note>{note}</p>\n{tables}\n{below}"
            f'<img alt="profile" src="data:image/png;base64,{data}">')


def section_html(section, level: int = 2) -> str:
    parts = [f"<h{level}>{html.escape(section.title)}</h{level}>"]
    if section.profile:
        parts.append(profile_html(section))
    pieces = per_task(section)
    if len(pieces) > 1:
        parts.append("<p class=note>Unrelated tasks: each has a table and figures of its own.</p>")
        return "\n".join(parts + [section_html(piece, level + 1) for piece in pieces])
    head, rows = table_rows(section.records, section.rows_by, DECIDING)
    every_head, every_rows = table_rows(section.records, section.rows_by, COLUMNS)
    parts += ["<p class=note>Test scores of each run's last evaluation; mean (min..max) over seeds; the "
              "memoryless baseline beside recall; solved counts the runs that reach test recall "
              f"{SOLVED_AT}. Early stopping and the best step read validation only.</p>",
              best_note(section), html_table(head, rows, len(head) - len(DECIDING)),
              "<details><summary>Every score (loss, accuracy, sequence accuracy, validation recall, recall at the "
              "best validation step, memoryless accuracy)</summary>\n"
              + html_table(every_head, every_rows, len(every_head) - len(COLUMNS)) + "\n</details>"]
    if section.horizon:
        parts.append(horizon_table(section.horizon))
    for draw in FIGURES:
        fig = None if draw is draw_profile else draw(section)  # the profile's figure stands with its table
        if fig is not None:
            data = base64.b64encode(png(fig)).decode()
            parts.append(f'<img alt="{html.escape(figure_name(draw))}" src="data:image/png;base64,{data}">')
    return "\n".join(p for p in parts if p)


def write_page(path: str | Path, sections: list) -> Path:
    """Write the page atomically and return its path."""
    body = "\n".join(section_html(s) for s in sections)
    page = (f"<!doctype html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n<title>seqmem report</title>\n"
            f"<style>{STYLE}</style>\n</head>\n<body>\n<h1>seqmem report</h1>\n"
            f"<p class=note>Written {time.strftime('%Y-%m-%d %H:%M')}.</p>\n{body}\n</body>\n</html>\n")
    path = Path(path)
    atomic_write(path, lambda f: f.write(readable(page).encode()))
    return path


def file_stem(text: str) -> str:
    """A title as a file name a shell takes unquoted: each run of spaces, commas and the like becomes one `-`."""
    return re.sub(r"[^\w.+=-]+", "-", text).strip("-")


def write_figures(folder: str | Path, sections: list) -> list[Path]:
    """Each section's figures as PNG files, `<section>-<figure>.png`, written atomically."""
    written = []
    for i, section in enumerate(sections):
        prefix = file_stem(Path(section.title).name) or f"section{i}"
        for draw in FIGURES:
            fig = draw(section)
            if fig is not None:
                path = Path(folder) / f"{prefix}-{file_stem(figure_name(draw))}.png"
                image = png(fig)
                atomic_write(path, lambda f, image=image: f.write(image))
                written.append(path)
    return written
