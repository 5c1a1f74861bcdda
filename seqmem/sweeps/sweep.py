"""Sweeps: a list of configs, each trained into its own run directory under one folder, on a backend.

A point is a named config; its run is `DIR/<name>`, named by the settings that vary across the sweep
(`model=gru,delay=8,seed=1`). `DIR/sweep.json` indexes every point with its status (`pending`, `done`,
`failed` with its one-line error) and the sweep's axes. Every point is checked and built before any runs;
a rerun skips finished points and resumes unfinished ones from their last checkpoint. Backends: a local
process pool (`process`) or Ray (`ray`), through the same `run_point`, each worker on one thread.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import os
import runpy
import signal
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

from seqmem.config import user_code
from seqmem.config.compose import Config, make_config, replace_length, set_value, upgrade
from seqmem.errors import ConfigError
from seqmem.run.atomic import read_json, write_json
from seqmem.run.bounded import NotARunFile
from seqmem.run.progress import Progress
from seqmem.sweeps.point_names import clean, folder_name, inside, shorten
from seqmem.sweeps.pool import ProcessPool, one_thread

INDEX = "sweep.json"


@dataclass(frozen=True)
class Point:
    """A named config; `tags` are labels of the point's own (e.g. `{"variant": "gru-64"}`) that the index and
    the report carry beside its settings."""

    name: str
    config: Config
    tags: dict = field(default_factory=dict)

    def __post_init__(self):  # the name is a folder of its own under the sweep's: safe, one component
        object.__setattr__(self, "name", folder_name(self.name))


def grid(base: dict, over: dict[str, list], seeds: list[int] | None = None, settings: list = ()) -> list[Config]:
    """Every combination of the `over` values (keys as for `--set`: `delay`, `model.hidden`), for each seed.

    A `*.name` key applies first, then `settings` (`(key, value, label)`, the flags every point shares), then
    the other keys: so `model.name=rnn,gru` with `--hidden 64` gives each model that width.
    """
    for key, values in over.items():
        if not values:
            raise ConfigError(f"--over {key}: give one or more values (e.g. {key}=1,2,3)")
    keys = sorted(over, key=lambda k: not k.endswith(".name"))
    base = copy.deepcopy(base)
    replace_length(base, settings)
    configs = []
    for values in itertools.product(*(over[k] for k in keys)):
        for seed in seeds if seeds is not None else [None]:
            data = copy.deepcopy(base)
            chosen = list(zip(keys, values, strict=True))
            for key, value in chosen:
                if key.endswith(".name"):
                    set_value(data, key, value, label=f"--over {key}")
            for key, value, label in settings:
                set_value(data, key, value, label=label)
            for key, value in chosen:
                if not key.endswith(".name"):
                    set_value(data, key, value, label=f"--over {key}")
            if seed is not None:
                set_value(data, "train.seed", seed, label="--seeds")
            try:
                configs.append(make_config(data))
            except ConfigError as e:
                shown = ", ".join(f"{k}={v}" for k, v in zip(keys, values, strict=True))
                raise ConfigError(f"the point {shown or 'of the sweep'}: {e}") from None
    return configs


def flat_settings(config: Config) -> dict:
    """`{"task.blank": 1000, "model.name": "tcn", ...}`: every leaf setting under its dotted key."""
    out = {}
    for section, value in config.as_dict().items():
        if section == "sources":  # a file's hash follows its name, and is not a setting of its own
            continue
        if isinstance(value, dict):
            out.update({f"{section}.{k}": v for k, v in value.items()})
        else:
            out[section] = value
    return out


def axes(configs: list[Config], everywhere: bool = True) -> list[str]:
    """The dotted keys whose values differ across the configs, in config order. With `everywhere`, only keys
    every config has: a setting that comes with one model (an rnn's nonlinearity) is not an axis of its own."""
    flats = [flat_settings(c) for c in configs]
    keys = list(dict.fromkeys(k for f in flats for k in f))
    if everywhere:
        keys = [k for k in keys if all(k in f for f in flats)]
    return [k for k in keys if len({repr(f.get(k)) for f in flats}) > 1]


def short_names(keys: list[str]) -> dict[str, str]:
    """`model.name` -> `model`, `task.blank` -> `blank`, unless two keys would share a short name."""
    short = {k: k.split(".")[0] if k.endswith(".name") else k.split(".")[-1] for k in keys}
    clashes = {s for s in short.values() if list(short.values()).count(s) > 1}
    return {k: k if s in clashes else s for k, s in short.items()}


def point_name(config: Config, keys: list[str]) -> str:
    flat, short = flat_settings(config), short_names(keys)
    shown = {k: user_code.label(v) if k.endswith(".name") else v for k, v in flat.items()}
    name = ",".join(f"{short[k]}={shown[k]}" for k in keys if k in flat)
    return shorten(clean(name or f"{user_code.label(config.task['name'])}-{user_code.label(config.model['name'])}"))


def sweep_axes(configs: list[Config]) -> list[str]:
    """The settings that tell the points apart: those every point has, if they suffice, else every one that
    varies. Two equal configs are refused."""
    for everywhere in (True, False):
        keys = axes(configs, everywhere)
        names = [point_name(c, keys) for c in configs]
        if len(set(names)) == len(names):
            return keys
    first = next(i for i, n in enumerate(names) if names.count(n) > 1)
    second = names.index(names[first], first + 1)
    raise ConfigError(f"points {first + 1} and {second + 1} of the sweep are the same config ({names[first]})")


def name_points(configs: list[Config]) -> list[Point]:
    """Each config named by the settings that vary across the sweep (`model=gru,delay=8,seed=1`)."""
    keys = sweep_axes(configs)
    return [Point(point_name(c, keys), c) for c in configs]


def check_tags(tags, where: str) -> dict:
    """Tags as a sweep file gives them: names to text, numbers, true/false or None (what JSON holds as is)."""
    if not isinstance(tags, dict) or not all(isinstance(k, str) and k for k in tags):
        raise ConfigError(f"{where}: `tags` must be a dict of names to values, e.g. {{\"variant\": \"gru-64\"}}")
    bad = next((k for k, v in tags.items() if not isinstance(v, str | int | float | bool | type(None))), None)
    if bad is not None:
        raise ConfigError(f"{where}: tag {bad!r} is a {type(tags[bad]).__name__}; give text, a number, true/false "
                          "or None")
    return dict(tags)


def load_sweep_file(path: str | Path) -> list[Point]:
    """A Python file that defines `configs`, a list of config dicts (or Configs); a dict may carry `name` and
    `tags` (labels the index and the report carry beside its settings), and the file may define `tags` that
    every point carries (a config's own win)."""
    path = Path(path)
    try:
        namespace = runpy.run_path(str(path), run_name="seqmem_sweep")
    except ConfigError as e:
        raise ConfigError(f"sweep file {path}: {e}") from None
    except SystemExit as e:  # sys.exit() in the file would end the sweep with nothing said
        raise ConfigError(f"sweep file {path} called sys.exit({e.code!r}): a sweep file defines `configs` and "
                          "must not exit") from None
    except Exception as e:  # the file is the user's code: any error it raises is reported in one line
        raise ConfigError(f"sweep file {path} raised {type(e).__name__}: {e}") from None
    configs = namespace.get("configs")
    if not isinstance(configs, list | tuple) or not configs:
        raise ConfigError(f"sweep file {path} must define `configs`, a non-empty list of config dicts")
    shared = check_tags(namespace.get("tags", {}), f"sweep file {path}")
    names, tags, checked = [], [], []
    for i, item in enumerate(configs):
        item = dict(item) if isinstance(item, dict) else item
        names.append(item.pop("name", None) if isinstance(item, dict) else None)
        own = item.pop("tags", {}) if isinstance(item, dict) else {}
        try:
            tags.append({**shared, **check_tags(own, "tags")})
            checked.append(make_config(item))
            if names[-1] is not None:
                names[-1] = folder_name(str(names[-1]))
        except ConfigError as e:
            raise ConfigError(f"sweep file {path}, config {i + 1}: {e}") from None
    points = name_points(checked)
    return [Point(str(n) if n else p.name, p.config, t) for n, p, t in zip(names, points, tags, strict=True)]


def plan(points: list[Point], out: Path, built: dict | None = None) -> list[tuple[str, dict, str]]:
    """Every point checked and built, and its directory checked against the config it holds, before anything
    is written; returns the jobs `(name, recorded config, run directory)`. `built` keeps each point's
    recorded config between calls, so a search that plans its growing list each round builds a point once."""
    from seqmem.run.build import build  # PyTorch: loaded only once a worker has set its threads
    from seqmem.run.rundir import RunDir

    if not points:
        raise ConfigError("the sweep has no points")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file: choose a directory for the sweep")
    if (out / "config.json").exists() or (out / "checkpoint.pt").exists():
        raise ConfigError(f"--out {out} is a run directory: choose another folder for the sweep (its points are "
                          "folders of their own)")
    names = [p.name for p in points]
    if len(set(names)) != len(names):
        raise ConfigError(f"two points of the sweep share the name {next(n for n in names if names.count(n) > 1)!r}")
    jobs, built = [], {} if built is None else built
    for point in points:
        if (out / point.name).is_symlink():
            raise ConfigError(f"point {point.name}: {out / point.name} is a symbolic link; a point is written only "
                              "into a folder of its own under --out: remove the link")
        try:
            if built.get(point.name, (None,))[0] is not point.config:
                built[point.name] = (point.config, build(point.config).config.as_dict())
            recorded = built[point.name][1]
            RunDir(out / point.name).check(recorded, upgrade)
        except ConfigError as e:
            raise ConfigError(f"point {point.name}: {e}") from None
        jobs.append((point.name, recorded, str(out / point.name)))
    return jobs


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if isinstance(error, ConfigError) else f"{type(error).__name__}: {text}"


def run_point(job: tuple[str, dict, str]) -> dict:
    """Train one point into its run directory (a worker's whole job); a failure comes back as one line."""
    one_thread()
    from seqmem.run.experiment import run_experiment  # PyTorch: loaded only once a worker has set its threads

    name, config, path = job
    try:
        summary = run_experiment(config, path, progress=False, say=lambda *_: None)
    except Exception as e:  # recorded in the index; the other points go on
        return {"name": name, "status": "failed", "error": one_line(e)}
    if summary.get("diverged"):  # finished, but without scores to report
        return {"name": name, "status": "failed", "error": f"Diverged: {summary['error']}"}
    return {"name": name, "status": "done", "summary": summary}


class RayBackend:
    """Points run as Ray tasks of one CPU each: on the cluster at `address`, or on a local Ray started for the
    sweep with `workers` CPUs and shut down after it. The sweep folder must be reachable from every node."""

    def __init__(self, workers: int = 2, address: str | None = None):
        self.workers, self.address = workers, address

    def run(self, fn, jobs):
        try:
            import ray  # an optional extra
        except ImportError:
            raise ConfigError("--backend ray needs Ray: pip install 'seqmem[ray]'") from None
        handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        ray.init(address=self.address, num_cpus=None if self.address else self.workers, include_dashboard=False,
                 logging_level="ERROR", log_to_driver=False, runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
        if threading.current_thread() is threading.main_thread():
            for signum, handler in handlers.items():  # Ray's own SIGTERM handler dumps a stack and exits 1
                signal.signal(signum, handler)
        try:
            remote = ray.remote(num_cpus=1, max_retries=0)(fn)
            pending = {remote.remote(job): job for job in jobs}
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    job = pending.pop(ref)
                    try:
                        yield ray.get(ref)
                    except Exception as e:
                        yield {"name": job[0], "status": "failed", "error": one_line(e)}
        except BaseException:  # Ctrl-C or SIGTERM: the running points are told to stop, none new starts
            for ref in pending:
                with contextlib.suppress(Exception):
                    ray.cancel(ref)
            raise
        finally:
            ray.shutdown()


def make_backend(name: str, workers: int, address: str | None = None):
    cores = os.cpu_count() or 1
    limit = 4 * cores
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= limit:
        raise ConfigError(f"--workers must be an integer in 1..{limit} (four a core of this machine's {cores}; more "
                          f"only compete), got {workers!r}")
    if name == "process":
        if address:
            raise ConfigError("--address joins a Ray cluster: use it with --backend ray")
        return ProcessPool(workers)
    if name == "ray":
        if address is not None:
            check_address(address)
        return RayBackend(workers, address)
    raise ConfigError(f"--backend must be process or ray, got {name!r}")


def check_address(address: str, seconds: float = 3.0) -> None:
    """Refuse, within seconds, a Ray address that is malformed or where nothing answers (Ray itself would
    wait for minutes)."""
    if address == "auto":
        return
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    host = host.strip("[]")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--address must be HOST:PORT (or ray://HOST:PORT, or auto), got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=seconds).close()
    except (OSError, UnicodeError) as e:
        reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
        raise ConfigError(f"--address {address}: cannot reach a Ray cluster there ({reason}): start one (ray start "
                          "--head) or check the address") from None


def read_index(out: Path) -> dict:
    path = out / INDEX
    return read_json(path) if path.exists() else {"points": []}


def run_sweep(points: list[Point], out: str | Path, backend=None, progress: bool = True,
              keys: list[str] | None = None, built: dict | None = None) -> list[dict]:
    """Run every point not yet finished; return the index's entries (name, settings, status, summary or error).

    `keys` are the axes the index records (default: the settings that tell the points apart); a list of
    unrelated runs (a suite) passes `[]`, and is reported one run a row. `built`: as for `plan`."""
    from seqmem.run.rundir import lock  # PyTorch: loaded only once a worker has set its threads

    out = Path(out)
    jobs = plan(points, out, built)
    keys = sweep_axes([p.config for p in points]) if keys is None else keys
    with lock(out, "--out"):  # a second sweep on this folder is refused, naming this one's process
        return run_jobs(points, jobs, out, keys, backend, progress)


def run_jobs(points: list[Point], jobs: list, out: Path, keys: list[str], backend, progress: bool) -> list[dict]:
    from seqmem.run.rundir import RunDir  # PyTorch: loaded only once a worker has set its threads

    entries, rerun = {}, []
    for point, (name, _, path) in zip(points, jobs, strict=True):
        flat = flat_settings(point.config)
        run = RunDir(path)
        entry = {"name": name, "settings": {k: flat.get(k) for k in keys}, "tags": point.tags, "status": "pending"}
        if run.finished():
            summary, why = finished_summary(run)
            if why is not None:  # its scores are lost, its checkpoint is not: run it again, from there
                rerun.append(f"{run.summary_path} is damaged ({why}): point {name} runs again from its last checkpoint")
                run.summary_path.unlink()
            elif summary.get("diverged"):
                entry.update(status="failed", error=f"Diverged: {summary['error']}")
            else:
                entry.update(status="done", summary=summary)
        entries[name] = entry
    entries.update(earlier_points(out, entries))
    keys = list(dict.fromkeys([*keys, *read_axes(out)])) if len(entries) > len(jobs) else keys
    write_index(out, keys, entries)
    todo = [job for job in jobs if entries[job[0]]["status"] == "pending"]
    backend = backend or ProcessPool()
    bar = Progress(len(jobs), len(jobs) - len(todo), f"sweep {out.name}", "point", enabled=progress)
    workers = getattr(backend, "workers", None)
    for line in rerun:
        bar.write(line)
    try:
        bar.running = min(workers, len(todo)) if workers else None
        for result in backend.run(run_point, todo) if todo else ():
            entry = entries[result["name"]]
            entry.pop("error", None)
            entry.update({k: v for k, v in result.items() if k != "name"})
            write_index(out, keys, entries)
            bar.running = min(workers, len(jobs) - bar.done - 1) if workers else None
            bar.update(1, failed=result["status"] == "failed")
            if result["status"] == "failed":
                bar.write(f"{result['name']}: failed: {result['error']}")
    finally:
        bar.close()
    return [entries[name] for name, _, _ in jobs]  # this command's points (the index keeps the others too)


SCORES = ("loss", "accuracy", "recall_accuracy", "sequence_accuracy", "train_seconds", "steps")


def summary_damage(summary: dict) -> str | None:
    """What makes a finished run's summary.json unusable for a sweep, a report or a profile, or None: each
    score a number, `at_best` and `baseline` objects of scores (a diverged run: its error said)."""
    def number(value) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    if summary.get("diverged") is True:
        return None if isinstance(summary.get("error"), str) else "diverged, but its error is missing"
    missing = next((k for k in SCORES if not number(summary.get(k))), None)
    if missing is not None:
        return f"its {missing} is missing or not a number"
    for part in ("at_best", "baseline"):
        scores = summary.get(part)
        if not isinstance(scores, dict) or not number(scores.get("recall_accuracy")):
            return f"its {part} is missing or holds no recall_accuracy"
    valid = summary["at_best"].get("valid_recall_accuracy", "missing")
    if valid is not None and not number(valid):
        return "its at_best holds no valid_recall_accuracy"
    return None


def finished_summary(run) -> tuple[dict, str | None]:
    """A finished run's summary, and what is damaged in it (None where nothing is)."""
    try:
        summary = read_json(run.summary_path)
    except NotARunFile as e:
        return {}, str(e)
    except (OSError, ValueError) as e:
        return {}, f"{type(e).__name__}: not JSON"
    if not isinstance(summary, dict):
        return {}, "not a JSON object"
    return summary, summary_damage(summary)


def earlier_points(out: Path, current: dict) -> dict:
    """The index's entries for points this run of the sweep does not name (an earlier command's, or a subset
    rerun now), whose folders are still there: kept, so the index, the report and `seqmem.results` still
    show them."""
    try:
        points = read_index(out).get("points")
    except (OSError, ValueError, AttributeError):
        return {}  # an unreadable index is rewritten from the points at hand
    if not isinstance(points, list):
        return {}
    return {e["name"]: e for e in points if isinstance(e, dict) and isinstance(e.get("name"), str)
            and e["name"] not in current and inside(e["name"]) and (out / e["name"]).is_dir()}


def read_axes(out: Path) -> list[str]:
    try:
        axes = read_index(out).get("axes")
    except (OSError, ValueError, AttributeError):
        return []
    return [a for a in axes if isinstance(a, str)] if isinstance(axes, list) else []


def write_index(out: Path, keys: list[str], entries: dict) -> None:
    write_json(out / INDEX, {"axes": keys, "points": list(entries.values())})


def index_problem(index: dict) -> str | None:
    """What is wrong with sweep.json's shape as a whole (as `write_index` writes it), or None."""
    points, axes = index.get("points"), index.get("axes", [])
    if not isinstance(points, list) or not isinstance(axes, list) or not all(isinstance(a, str) for a in axes):
        return f"'{'points' if not isinstance(points, list) else 'axes'}' is missing or of the wrong type"
    return None


def entry_problem(entry) -> str | None:
    """What is wrong with one of sweep.json's entries, or None: its name a folder inside the sweep's, its
    settings and tags objects, and a summary object where it is done."""
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
