"""Tables of finished runs: recall accuracy and the memoryless baseline always beside overall accuracy.

One table serves a list of runs and a sweep: rows are grouped by the settings given (a sweep's axes less
the seed), and each cell shows the mean and, over more than one run, the spread (min..max).
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path

from seqmem.config.user_code import label
from seqmem.errors import ConfigError

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
]
RUN_COLUMNS = [("run", "run"), ("task", "task"), ("model", "model"), ("method", "method")]
DELAY_KEYS = ("task.blank", "task.echo_step", "task.delay", "task.max_delay")


def readable(text: str) -> str:
    """`text` with the bytes of a name that is not UTF-8 (a folder's, kept by Python as lone surrogates) shown
    as U+FFFD: a page, a CSV file and matplotlib's fonts take only text that encodes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def field(record: dict, key: str):
    """A value by dotted key (`baseline.recall_accuracy`); a flat key holding dots is found as it is."""
    if key in record:
        return record[key]
    value = record
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def cell(values: list, fmt: str) -> str:
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


def table_rows(records: list[dict], by: list[str] | None = None, columns=COLUMNS) -> tuple[list[str], list[list[str]]]:
    """The header and the rows of the table: one row a run, or with `by` one row a group (mean (min..max)
    over its runs, `runs` counting them). The first `len(head) - len(columns)` columns are labels."""
    if by is None:
        head = [h for h, _ in RUN_COLUMNS]
        rows = [[shown(k, field(r, k)) for _, k in RUN_COLUMNS]
                + [cell([field(r, k)], f) for _, k, f in columns] for r in records]
    else:
        head = [axis_label(k) for k in by] + ["runs"]
        rows = [[shown(k, v) for k, v in zip(by, key, strict=True)] + [str(len(rs))]
                + [cell([field(r, k) for r in rs], f) for _, k, f in columns] for key, rs in group(records, by)]
    return head + [h for h, _, _ in columns], rows


def table(records: list[dict], by: list[str] | None = None, columns=COLUMNS, markdown: bool = False) -> str:
    """The table as plain text (or Markdown)."""
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


def data_rows(section, columns=COLUMNS) -> list[dict]:
    """The table's rows as numbers, one dict a row: the folder, the row's settings (dotted keys) and every tag,
    `runs` and `seeds`, and each score's mean with its min and max over the row's runs (`key min`, `key max`);
    a score no run has is None. What CSV and JSON hold."""
    by = section.rows_by or [k for _, k in RUN_COLUMNS]
    by += [t for t in section.tags if t not in by]
    rows = []
    for key, rs in group(section.records, by):
        seeds = sorted({s for s in (field(r, "train.seed") for r in rs) if s is not None})
        row = {"folder": section.title, **dict(zip(by, key, strict=True)), "runs": len(rs), "seeds": seeds}
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
    Test scores are never read to choose."""
    if key not in by:
        raise ConfigError(f"--choose {key}: it is not an axis of this sweep; its axes: {', '.join(by) or 'none'}")
    others = [k for k in by if k not in (key, "train.seed")]

    def mean_validation(item) -> float:
        values = [v for v in (field(r, metric) for r in item[1]) if v is not None]
        return statistics.fmean(values) if values else -math.inf

    chosen = []
    for _, runs in group(records, others):
        chosen += max(group(runs, [key]), key=mean_validation)[1]
    return chosen


def sweep_records(entries: list[dict]) -> list[dict]:
    """A sweep's finished points as flat records: its settings (dotted keys) and tags beside the run's summary."""
    return [{**e["summary"], **e.get("settings", {}), **e.get("tags", {}), "run": e["name"]}
            for e in entries if e.get("status") == "done"]


def sweep_table(entries: list[dict], axes: list[str], markdown: bool = False) -> str:
    """A sweep grouped by its axes less the seed: spreads over seeds."""
    return table(sweep_records(entries), by=[a for a in axes if a != "train.seed"], markdown=markdown)


def number(value) -> bool:
    """A finite int or float: JSON's NaN and Infinity are read as floats, and would be shown as nan or inf."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def summary_problem(summary: dict) -> str | None:
    """What is wrong with a run's summary for the table, or None: the scores must be numbers (or absent)."""
    if "diverged" in summary and not isinstance(summary["diverged"], bool):
        return f"'diverged' is {summary['diverged']!r}, not true or false"
    if not number(summary.get("recall_accuracy")) and not summary.get("diverged"):
        return f"its recall_accuracy is {summary.get('recall_accuracy')!r}, not a finite number"
    bad = next((k for _, k, _ in COLUMNS if field(summary, k) is not None and not number(field(summary, k))), None)
    return f"its {bad} is {field(summary, bad)!r}, not a finite number" if bad else None


def find_summaries(paths: list[str | Path], damaged: list[str] | None = None) -> list[dict]:
    """Every summary.json under the given run directories or folders of runs, oldest first (a diverged run's
    summary holds no scores and is left out). With `damaged`, a file that cannot be read is named there in
    one line and left out (a summary with a bad score is kept, that score shown as `-`); without, refused."""
    from seqmem.run.rundir import read_record

    found = []
    for root in map(Path, paths):
        files = [root / "summary.json"] if (root / "summary.json").exists() else sorted(root.rglob("summary.json"))
        for f in files:
            try:
                s = read_record(f, "delete it and rerun that run's command to rewrite it")
            except ConfigError as e:
                if damaged is None:
                    raise
                damaged.append(str(e))
                continue
            why = summary_problem(s)
            if why is not None:
                if damaged is None:
                    raise ConfigError(f"{f} is damaged ({why}): delete it and rerun that run's command to rewrite it")
                damaged.append(f"{f} is damaged ({why}); shown as '-': rerun that run's command to rewrite it")
            s["run"] = str(f.parent)
            if s.get("diverged") is not True:
                found.append(s)
    return found


@dataclass
class Section:
    """What the report shows of one folder: its runs as flat records, the axes to group them by (none for
    loose runs), each run's evaluations (`curves`, by run name), a memory horizon if one was searched and a
    memory profile (profile.json, `seqmem bench`) if one was measured."""

    title: str
    records: list[dict]
    by: list[str] | None
    curves: dict = dataclass_field(default_factory=dict)
    horizon: dict | None = None
    profile: dict | None = None

    tags: list[str] = dataclass_field(default_factory=list)

    @property
    def table_by(self) -> list[str] | None:
        return None if self.by is None else [a for a in self.by if a != "train.seed"]

    @property
    def rows_by(self) -> list[str] | None:
        """What names a row of the table: the tags that vary across the runs, then the axes less the seed."""
        if self.by is None:
            return None
        def repeats_an_axis(tag: str) -> bool:  # a horizon's `model` tag is its model.name axis again
            return any(all(str(r.get(tag)) == shown(a, field(r, a)) for r in self.records) for a in self.table_by)

        varying = [t for t in self.tags if len({hashable(r.get(t)) for r in self.records}) > 1
                   and not repeats_an_axis(t)]
        return varying + [a for a in self.table_by if a not in varying]


def collect(path: str | Path, damaged: list[str] | None = None) -> Section | None:
    """A sweep folder (sweep.json), a run directory, or a folder of runs, read for the report; None if it
    holds no finished run. With `damaged`, each damaged file is named there in one line and what can be read
    is still shown (a sweep whose index is unreadable, as its folder of runs); without, it is refused."""
    damaged = [] if damaged is None else damaged
    path = Path(path)
    if (path / "sweep.json").exists():
        index = read_index(path / "sweep.json", damaged)
        if index is not None:
            entries, axes = index
            records = [with_seed(r, path / r["run"]) for r in sweep_records(entries)]
            curves = {r["run"]: read_curve(path / r["run"], damaged) for r in records}
            horizon = read_shaped(path / "horizon.json", damaged, "horizon", horizon_shaped)
            by = axes or None  # a sweep without axes is a list of runs (a suite)
            tags = list(dict.fromkeys(t for e in entries for t in e.get("tags", {})))
            records = by_delay(records, by, horizon)
            profile = read_shaped(path / "profile.json", damaged, "bench", profile_shaped)
            return Section(str(path), records, by, curves, horizon, profile, tags) if records else None
    records = find_summaries([path], damaged)
    curves = {r["run"]: read_curve(Path(r["run"]), damaged) for r in records}
    return Section(str(path), records, None, curves) if records else None


def with_seed(record: dict, run: Path) -> dict:
    """The record with its training seed, read from the run's config.json where the seed is no axis of the
    sweep (the report's `seeds`); as it is where that file cannot be read."""
    from seqmem.run.atomic import read_json

    if "train.seed" in record:
        return record
    try:
        return {**record, "train.seed": read_json(run / "config.json")["train"]["seed"]}
    except (OSError, ValueError, KeyError, TypeError):
        return record


def by_delay(records: list[dict], by: list[str] | None, horizon: dict | None) -> list[dict]:
    """The records with each setting of the other axes together, in order of first appearance, and within it
    by delay (a horizon's key, or the first delay among the axes): a horizon's probes come in the order the
    search tried them."""
    delay = horizon["key"] if horizon else next((k for k in DELAY_KEYS if k in (by or [])), None)
    if delay is None or delay not in (by or []):
        return records
    others = [k for k in by if k not in (delay, "train.seed")]
    first = {key: i for i, (key, _) in enumerate(group(records, others))}

    def order(r):
        value = field(r, delay)
        return first[tuple(hashable(field(r, k)) for k in others)], not number(value), value if number(value) else 0

    return sorted(records, key=order)


def read_index(path: Path, damaged: list[str]) -> tuple[list[dict], list[str]] | None:
    """A sweep.json's usable entries and axes, naming what is damaged; None if it cannot be used at all."""
    from seqmem.run.rundir import read_record
    from seqmem.sweeps.point_names import inside

    fix = "rerun the sweep's command to rewrite it"
    try:
        index = read_record(path, f"delete it and {fix}")
    except ConfigError as e:
        damaged.append(f"{e}; the folder is read as loose runs")
        return None
    points, axes = index.get("points"), index.get("axes", [])
    if not isinstance(points, list) or not isinstance(axes, list) or not all(isinstance(a, str) for a in axes):
        what = "points" if not isinstance(points, list) else "axes"
        damaged.append(f"{path} is damaged ('{what}' is missing or of the wrong type): {fix}; the folder is read as "
                       "loose runs")
        return None
    entries, bad = [], []
    for entry in points:
        why = entry_problem(entry, inside)
        if why is None and entry["status"] == "done":
            why = summary_problem(entry["summary"])
            if why is not None and number(entry["summary"].get("recall_accuracy")):
                bad.append(why)  # kept, its bad score shown as `-`
                why = None
        if why is None:
            entries.append(entry)
        else:
            bad.append(why)
    if bad:
        damaged.append(f"{path} is damaged ({len(bad)} of its {len(points)} points: {bad[0]}); the rest is shown: {fix}")
    return entries, axes


def entry_problem(entry, inside) -> str | None:
    if not isinstance(entry, dict):
        return f"an entry is a {type(entry).__name__}, not an object"
    name = entry.get("name")
    if not isinstance(name, str) or not inside(name):
        return f"the name {name!r} is not a folder inside the sweep's"
    if not isinstance(entry.get("settings", {}), dict) or not isinstance(entry.get("tags", {}), dict):
        return f"{name}: its settings or tags are not an object"
    if entry.get("status") == "done" and not isinstance(entry.get("summary"), dict):
        return f"{name}: done, but its summary is not an object"
    return None


def read_curve(run: Path, damaged: list[str]) -> list[dict]:
    """A run's evaluations that a curve can draw (step, seconds and recall all numbers); the rest named."""
    from seqmem.run.rundir import RunDir

    try:
        records = RunDir(run).metrics()
    except ConfigError as e:
        damaged.append(f"{e}; its curve is left out")
        return []
    good = [r for r in records if all(number(r.get(k)) for k in ("step", "train_seconds", "recall_accuracy"))]
    if len(good) < len(records):
        damaged.append(f"{run / 'metrics.jsonl'} is damaged ({len(records) - len(good)} lines lack a step, seconds or "
                       "recall_accuracy as numbers); its curve leaves them out")
    return good


def read_shaped(path: Path, damaged: list[str], verb: str, shaped) -> dict | None:
    """A result file (horizon.json, profile.json) if it exists and `shaped` accepts it; else None, and a file
    that cannot be read or has the wrong shape named damaged in one line, with `verb`'s command to rewrite it."""
    from seqmem.run.rundir import read_record

    if not path.exists():
        return None
    fix = f"delete it and rerun the {verb}'s command to rewrite it"
    try:
        result = read_record(path, fix)
    except ConfigError as e:
        damaged.append(str(e))
        return None
    if not shaped(result):
        damaged.append(f"{path} is damaged (a value is missing or of the wrong type): {fix}")
        return None
    return result


def horizon_shaped(horizon: dict) -> bool:
    """horizon.json has the shape the report shows."""
    models = horizon.get("models")
    return (isinstance(horizon.get("key"), str) and isinstance(horizon.get("budget"), dict)
            and all(number(horizon.get(k)) for k in ("start", "limit", "target")) and isinstance(models, dict)
            and all(isinstance(h, dict) and all(number(h.get(k)) for k in ("mean", "min", "max"))
                    and isinstance(h.get("seeds"), dict) and all(map(number, h["seeds"].values()))
                    for h in models.values()))


def profile_shaped(result: dict) -> bool:
    """profile.json has the shape the report shows: every score a mean with its min and max."""
    def spread(s) -> bool:
        return isinstance(s, dict) and all(s.get(k) is None or number(s.get(k)) for k in ("mean", "min", "max"))

    models = result.get("models")
    return (isinstance(models, dict) and isinstance(result.get("suite"), str)
            and all(number(result.get(k)) for k in ("solved_at", "budget", "target_parameters"))
            and all(isinstance(m, dict) and spread(m.get("score")) and isinstance(m.get("tasks"), dict)
                    and all(isinstance(t, dict) and spread(t.get("solved")) and spread(t.get("test_recall"))
                            and number(t.get("memoryless_recall")) for t in m["tasks"].values())
                    for m in models.values()))


def chosen_section(section: Section, key: str) -> Section:
    """The section with only the runs of the `key` value chosen on validation, in each group of the others."""
    if section.by is None:
        raise ConfigError(f"--choose {key}: {section.title} is not a sweep; give a sweep's folder")
    key = key if key in section.by or "." in key else next((a for a in section.by if a.endswith(f".{key}")), key)
    records = choose_on_validation(section.records, section.by, key)
    return Section(f"{section.title}, {key} chosen on validation recall", records, section.by,
                   {r["run"]: section.curves[r["run"]] for r in records if r["run"] in section.curves},
                   tags=section.tags)


def horizon_text(horizon: dict) -> str:
    """A horizon's result as lines of text: each model's largest delay solved, mean (min..max) over seeds."""
    lines = [f"memory horizon: largest {horizon['key']} with validation recall >= {horizon['target']} "
             f"(searched {horizon['start']}..{horizon['limit']})"]
    for model, h in horizon["models"].items():
        spread = f" ({h['min']:g}..{h['max']:g})" if h["min"] != h["max"] else ""
        lines.append(f"  {model:<10} {h['mean']:.4g}{spread}" + ("  (reached the limit)" if h["reached_limit"] else ""))
    return "\n".join(lines)
