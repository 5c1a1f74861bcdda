"""A folder's runs as pandas DataFrames, the form a notebook reads results in.

`results(DIR)`: one row a finished run, its whole config flattened (`task.blank`, `model.name`,
`train.seed`, ...), its scores (`recall_accuracy`, `accuracy`, ...), the memoryless baseline
(`baseline.recall_accuracy`), the scores at the best validation step (`at_best.*`) and, for a task scored at
other lengths than training, the scores at each (`by_length.N.recall_accuracy`, ...). `history(DIR)`: one
row an evaluation of a run (`run`, `step`, `train_seconds`, test and `valid_*` scores). Both read what
`seqmem report` reads (`report.collect`), so a groupby gives the report's table.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from seqmem.errors import ConfigError
from seqmem.report.collect import collect


def sections(path):
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path} does not exist: give a run directory, a sweep folder or a folder of runs")
    damaged: list[str] = []
    section = collect(path, damaged)
    if section is None:
        raise ConfigError(damaged[0] if damaged else f"no finished runs (summary.json) under {path}: train or sweep first")
    for line in damaged:  # what the report names in its warnings
        warnings.warn(line, stacklevel=3)
    return path, section


def run_folder(path: Path, section, run: str) -> Path:
    return path / run if section.by is not None or (path / run).is_dir() else Path(run)


def results(path):
    """The finished runs under `path` (a run, a sweep or a folder of runs), one row each."""
    from seqmem.run.rundir import RunDir  # rundir loads PyTorch (checkpoints): only once runs are read

    path, section = sections(path)
    rows = []
    for record in section.records:
        folder = run_folder(path, section, record["run"])
        config = RunDir(folder).config if (folder / "config.json").exists() else {}
        config = {k: v for k, v in config.items() if k != "sources"}
        summary = {k: v for k, v in record.items() if k != "run" and "." not in k}  # the sweep's settings come from config
        rows.append({"run": str(folder), **pd.json_normalize(config).iloc[0].to_dict(),
                     **pd.json_normalize(summary).iloc[0].to_dict()})
    return pd.DataFrame(rows)


def history(path):
    """Every evaluation of every finished run under `path`, one row each, `run` naming its run."""
    path, section = sections(path)
    rows = [{"run": str(run_folder(path, section, run)), **pd.json_normalize(line).iloc[0].to_dict()}
            for run, curve in section.curves.items() for line in curve]
    return pd.DataFrame(rows)
