"""Tables of finished runs: recall accuracy and the memoryless baseline always beside overall accuracy.

One table serves a list of runs and a sweep: rows are grouped by the settings given (a sweep's axes less
the seed), and each cell shows the mean and, over more than one run, the spread (min..max). The records
come from `seqmem.report.collect`; this module only groups and formats them.
"""

from __future__ import annotations

import json
import math
import statistics

from seqmem.config.user_code import label
from seqmem.errors import ConfigError
from seqmem.run.records import field, number

# The summary's scores (seqmem.run.rundir.SCORES, which the report checks are numbers): header, key, format.
COLUMNS = [
    ("steps", "steps", "{:.0f}"),
    ("train s", "train_seconds", "{:.1f}"),
    ("loss", "loss", "{:.4g}"),  # significant digits: a regression's MSE can be 1e-5
    ("accuracy", "accuracy", "{:.4f}"),
    ("recall acc", "recall_accuracy", "{:.4f}"),
    ("seq acc", "sequence_accuracy", "{:.4f}"),
    ("valid recall", "valid_recall_accuracy", "{:.4f}"),
    ("recall at best valid", "at_best.recall_accuracy", "{:.4f}"),
    ("memoryless acc", "baseline.accuracy", "{:.4f}"),
    ("memoryless recall", "baseline.recall_accuracy", "{:.4f}"),
    ("params", "parameters", "{:.0f}"),
    ("state size", "state_size", "{:.0f}"),  # the numbers the model carries, zoology's count ('-' where none given)
]
# What decides a comparison, first and within WIDTH columns: the recall beside the memoryless figure, how many
# runs solved the task, then the budget and the size; every score is in COLUMNS (--wide, CSV, JSON, the page).
DECIDING = [
    ("recall", "recall_accuracy", "{:.4f}"),
    ("memoryless", "baseline.recall_accuracy", "{:.4f}"),
    ("solved", "solved", None),
    ("steps", "steps", "{:.0f}"),
    ("train s", "train_seconds", "{:.0f}"),
    ("params", "parameters", "{:.0f}"),
    ("state size", "state_size", "{:.0f}"),
]
SOLVED_AT = 0.99  # test recall at or above which a run counts as having solved its task
WIDTH = 100  # the narrow table's aim in characters: a terminal's, with the labels of two axes
RUN_COLUMNS = [("run", "run"), ("task", "task"), ("model", "model"), ("method", "method")]
DELAY_KEYS = ("task.blank", "task.echo_step", "task.delay", "task.max_delay")


def readable(text: str) -> str:
    """`text` with the bytes of a name that is not UTF-8 (a folder's, kept by Python as lone surrogates) shown
    as U+FFFD: a page, a CSV file and matplotlib's fonts take only text that encodes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def cell(values: list, fmt: str | None) -> str:
    """Mean (min..max) of the numbers among `values`; with no format, how many of them reach SOLVED_AT."""
    if fmt is None:
        recalls = [v for v in values if number(v)]
        return f"{sum(v >= SOLVED_AT for v in recalls)}/{len(recalls)}" if recalls else "-"
    values = [v for v in values if number(v)]  # a NaN or infinite score (named damaged) shows as '-'
    if not values:
        return "-"
    if len(values) == 1 or fmt.format(min(values)) == fmt.format(max(values)):
        return fmt.format(values[0])
    return f"{fmt.format(statistics.fmean(values))} ({fmt.format(min(values))}..{fmt.format(max(values))})"


def group(records: list[dict], by: list[str]) -> list[tuple[tuple, list[dict]]]:
    """Records grouped by their values of `by`, in order of first appearance."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault(tuple(hashable(field(r, k)) for k in by), []).append(r)
    return list(groups.items())


def shown(key: str, value) -> str:
    """A label cell: a class named by import path shows as its class name."""
    if value is None:
        return "-"
    return str(label(value)) if key in ("task", "model", "method") or key.endswith(".name") else str(value)


def hashable(value):
    """A value as a group key: a list or an object (from a hand-edited index) as its JSON text."""
    try:
        hash(value)
        return value
    except TypeError:
        return json.dumps(value, sort_keys=True, default=str)


def axis_label(key: str) -> str:
    return key.split(".")[0] if key.endswith(".name") else key.split(".")[-1]


def score(record: dict, key: str):
    """A column's value for one run: `solved` reads the test recall (the cell counts those that reach SOLVED_AT)."""
    return field(record, "recall_accuracy" if key == "solved" else key)


def table_rows(records: list[dict], by: list[str] | None = None, columns=COLUMNS) -> tuple[list[str], list[list[str]]]:
    """The header and the rows of the table: one row a run, or with `by` one row a group (mean (min..max)
    over its runs, `runs` counting them). The first `len(head) - len(columns)` columns are labels."""
    if by is None:
        head = [h for h, _ in RUN_COLUMNS]
        rows = [[shown(k, field(r, k)) for _, k in RUN_COLUMNS]
                + [cell([score(r, k)], f) for _, k, f in columns] for r in records]
    else:
        head = [axis_label(k) for k in by] + ["runs"]
        rows = [[shown(k, v) for k, v in zip(by, key, strict=True)] + [str(len(rs))]
                + [cell([score(r, k) for r in rs], f) for _, k, f in columns] for key, rs in group(records, by)]
    return head + [h for h, _, _ in columns], rows


def length_columns(records: list[dict]) -> list[tuple[str, str, str]]:
    """A column of test recall for each length the runs were also scored at (a task's eval_lengths), shortest
    first."""
    lengths = {int(k) for r in records if isinstance(r.get("by_length"), dict) for k in r["by_length"]
               if str(k).isdigit()}
    return [(f"L={n}", f"by_length.{n}.recall_accuracy", "{:.4f}") for n in sorted(lengths)]


def table(records: list[dict], by: list[str] | None = None, columns=None, markdown: bool = False,
          wide: bool = False) -> str:
    """The table as plain text (or Markdown): the deciding columns (DECIDING), or with `wide` every score;
    where runs were scored at other lengths, a second table of their recall at each length below it."""
    if columns is None and length_columns(records):
        return "\n\n".join([table(records, by, COLUMNS if wide else DECIDING, markdown),
                             "recall accuracy at other lengths than training:",
                             table(records, by, length_columns(records), markdown)])
    columns = columns or (COLUMNS if wide else DECIDING)
    head, rows = table_rows(records, by, columns)
    left = len(head) - len(columns)
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * left + "---:|" * len(columns)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def data_rows(section, columns=None) -> list[dict]:
    """The table's rows as numbers, one dict a row: the folder, the row's settings (dotted keys) and every tag,
    `runs` and `seeds`, and each score's mean with its min and max over the row's runs (`key min`, `key max`),
    the recall at each other length scored (`by_length.N.recall_accuracy`); a score no run has is None. What
    CSV and JSON hold."""
    columns = columns or COLUMNS + length_columns(section.records)
    by = section.rows_by or [k for _, k in RUN_COLUMNS]
    by += [t for t in section.tags if t not in by]
    rows = []
    for key, rs in group(section.records, by):
        seeds = sorted({s for s in (field(r, "train.seed") for r in rs) if s is not None})
        row = {"folder": section.title, **dict(zip(by, key, strict=True)), "runs": len(rs), "seeds": seeds,
               "solved": sum(v >= SOLVED_AT for v in (field(r, "recall_accuracy") for r in rs) if number(v))}
        for _, name, _ in columns:
            values = [v for v in (field(r, name) for r in rs) if number(v)]
            row.update({name: statistics.fmean(values) if values else None, f"{name} min": min(values, default=None),
                        f"{name} max": max(values, default=None)})
        rows.append(row)
    return rows


def choose_on_validation(records: list[dict], by: list[str], key: str,
                         metric: str = "valid_recall_accuracy") -> list[dict]:
    """A tuning grid reported as its tuned result: in each group of the other axes (`by` less `key` and the
    seed), only the runs of the `key` value whose mean validation score is highest (the first of equals).
    The values are compared on the seeds every one of them has run (a grid on seed 0, then more seeds at the
    value chosen: seed 0 decides, not the mean of three against one), on all their runs where they share none.
    Test scores are never read to choose."""
    if key not in by:
        raise ConfigError(f"--choose {key}: it is not an axis of this sweep; its axes: {', '.join(by) or 'none'}")
    others = [k for k in by if k not in (key, "train.seed")]

    def mean_validation(runs: list[dict], seeds: set) -> float:
        values = [v for v in (field(r, metric) for r in runs if not seeds or field(r, "train.seed") in seeds)
                  if v is not None]
        return statistics.fmean(values) if values else -math.inf

    chosen = []
    for _, runs in group(records, others):
        candidates = group(runs, [key])
        seeds = set.intersection(*({hashable(field(r, "train.seed")) for r in rs} for _, rs in candidates))
        seeds.discard(None)
        chosen += max(candidates, key=lambda item: mean_validation(item[1], seeds))[1]
    return chosen


def sweep_records(entries: list[dict]) -> list[dict]:
    """A sweep's finished points as flat records: its settings (dotted keys) and tags beside the run's summary."""
    return [{**e["summary"], **e.get("settings", {}), **e.get("tags", {}), "run": e["name"]}
            for e in entries if e.get("status") == "done"]


def sweep_table(entries: list[dict], axes: list[str], markdown: bool = False) -> str:
    """A sweep grouped by its axes less the seed: spreads over seeds."""
    return table(sweep_records(entries), by=[a for a in axes if a != "train.seed"], markdown=markdown)
