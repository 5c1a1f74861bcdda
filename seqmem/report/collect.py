"""What a folder holds, read for the report: a sweep's index (sweep.json) with its points, a run directory or a
folder of runs, each run's evaluations, and a horizon or a profile searched there. A damaged file is named
in one line on the damaged list, and what can still be read is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path

from seqmem.errors import ConfigError
from seqmem.report.tables import DELAY_KEYS, choose_on_validation, group, hashable, shown, sweep_records
from seqmem.run.atomic import read_json
from seqmem.run.records import field, number
from seqmem.sweeps.horizon import horizon_shaped
from seqmem.sweeps.scores import profile_shaped
from seqmem.sweeps.sweep import entry_problem, index_problem


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


def merged(sections: list[Section]) -> Section:
    """Several sweep folders read as one sweep: the passes of one sweep file run into folders of their own
    (a grid on one seed, then more seeds at the value chosen). Their axes are joined; a run's value of an axis
    its own folder did not vary (or any, for a folder of loose runs) is read from its config.json."""
    by = list(dict.fromkeys(a for s in sections for a in s.by or []))
    records, curves = [], {}
    for s in sections:
        for r in s.records:
            run = Path(s.title) / r["run"]
            name = str(run)
            records.append({**r, **axis_values(run, [a for a in by if a not in r]), "run": name})
            curves[name] = s.curves.get(r["run"], [])
    title = str(Path(sections[0].title).parent / "+".join(Path(s.title).name for s in sections))
    tags = list(dict.fromkeys(t for s in sections for t in s.tags))
    return Section(title, records, by, curves, tags=tags)


def axis_values(run: Path, axes: list[str]) -> dict:
    """A run's values of dotted axes (`train.lr`) from its config.json; None where it cannot be read."""
    try:
        config = read_json(run / "config.json") if axes else {}
    except (OSError, ValueError):
        config = {}
    return {axis: field(config, axis) for axis in axes}


def find_summaries(paths: list[str | Path], damaged: list[str] | None = None) -> list[dict]:
    """Every summary.json under the given run directories or folders of runs, oldest first (a diverged run's
    summary holds no scores and is left out). With `damaged`, a file that cannot be read is named there in
    one line and left out (a summary with a bad score is kept, that score shown as `-`); without, refused."""
    from seqmem.run.rundir import read_record, summary_problem  # rundir imports PyTorch: the page does without

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


def with_seed(record: dict, run: Path) -> dict:
    """The record with its training seed, read from the run's config.json where the seed is no axis of the
    sweep (the report's `seeds`); as it is where that file cannot be read."""
    if "train.seed" in record:
        return record
    seed = axis_values(run, ["train.seed"])["train.seed"]
    return record if seed is None else {**record, "train.seed": seed}


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
    from seqmem.run.rundir import read_record, summary_problem  # rundir imports PyTorch: the page does without

    fix = "rerun the sweep's command to rewrite it"
    try:
        index = read_record(path, f"delete it and {fix}")
    except ConfigError as e:
        damaged.append(f"{e}; the folder is read as loose runs")
        return None
    why = index_problem(index)
    if why is not None:
        damaged.append(f"{path} is damaged ({why}): {fix}; the folder is read as loose runs")
        return None
    points, axes = index["points"], index.get("axes", [])
    entries, bad = [], []
    for entry in points:
        why = entry_problem(entry)
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


def read_curve(run: Path, damaged: list[str]) -> list[dict]:
    """A run's evaluations that a curve can draw (step, seconds and recall all numbers); the rest named."""
    from seqmem.run.rundir import RunDir  # rundir imports PyTorch: the page does without

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
    from seqmem.run.rundir import read_record  # rundir loads PyTorch (checkpoints): only once a file is read

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


def chosen_section(section: Section, key: str) -> Section:
    """The section with only the runs of the `key` value chosen on validation, in each group of the others."""
    if section.by is None:
        raise ConfigError(f"--choose {key}: {section.title} is not a sweep; give a sweep's folder")
    key = key if key in section.by or "." in key else next((a for a in section.by if a.endswith(f".{key}")), key)
    records = choose_on_validation(section.records, section.by, key)
    return Section(f"{section.title}, {key} chosen on validation recall", records, section.by,
                   {r["run"]: section.curves[r["run"]] for r in records if r["run"] in section.curves},
                   tags=section.tags)
