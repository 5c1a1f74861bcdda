"""The report: a sweep's table grouped by its axes with spreads over seeds, CSV with the same numbers, and a
self-contained page whose every image loads in headless Chromium."""

import csv
import json
import re
import shutil
import subprocess
import sys

import pytest
from in_process import InProcess, seqmem_main

from seqmem.cli import main
from seqmem.report.collect import Section, collect
from seqmem.report.page import write_page
from seqmem.report.plots import colours, draw_learning_curves, draw_recall_by_delay, draw_recall_by_state_size
from seqmem.sweeps.sweep import grid, name_points, run_sweep

BASE = {"task": {"name": "echo-letters", "seq_length": 10, "test_size": 60, "validation_size": 60},
        "model": {"name": "rnn"},
        "train": {"steps": 30, "eval_every": 10, "lr": 1e-2}}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Two models, two delays, two seeds: eight tiny runs."""
    out = tmp_path_factory.mktemp("report") / "sweep"
    points = name_points(grid(BASE, {"model.name": ["rnn", "gru"], "delay": [1, 3]}, [0, 1], [("model.hidden", 8, "")]))
    run_sweep(points, out, InProcess(), progress=False)
    return out


def test_the_table_groups_by_the_axes_with_the_spread_over_seeds(sweep, capsys):
    assert main(["report", str(sweep)]) == 0
    lines = capsys.readouterr().out.splitlines()
    head = lines[1].split()
    assert head[:6] == ["delay", "model", "runs", "recall", "memoryless", "solved"]
    assert all(len(line) <= 100 for line in lines)  # the deciding columns fit a terminal; --wide has every score
    rows = [line for line in lines[3:] if line.strip()]
    assert len(rows) == 4 and all(row.split()[2] == "2" for row in rows)
    index = json.loads((sweep / "sweep.json").read_text())
    runs = [p["summary"] for p in index["points"]
            if p["settings"]["model.name"] == "gru" and p["settings"]["task.delay"] == 3]
    recalls = sorted(r["recall_accuracy"] for r in runs)
    row = next(r for r in rows if r.split()[:2] == ["3", "gru"])
    mean = (recalls[0] + recalls[1]) / 2
    if recalls[0] != recalls[1]:  # the spread is the seeds' own min and max
        assert f"{mean:.4f} ({recalls[0]:.4f}..{recalls[1]:.4f})" in row
    losses = sorted(r["loss"] for r in runs)
    assert main(["report", str(sweep), "--wide"]) == 0
    wide = next(r for r in capsys.readouterr().out.splitlines() if r.split()[:2] == ["3", "gru"])
    assert f"{(losses[0] + losses[1]) / 2:.4g} ({losses[0]:.4g}..{losses[1]:.4g})" in wide  # every score


def test_csv_holds_the_same_numbers_unformatted(sweep, tmp_path):
    assert main(["report", str(sweep), "--csv", str(tmp_path / "t.csv")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "t.csv")))
    assert len(rows) == 4
    index = json.loads((sweep / "sweep.json").read_text())
    for row in rows:
        runs = [p["summary"] for p in index["points"] if p["settings"]["model.name"] == row["model.name"]
                and str(p["settings"]["task.delay"]) == row["task.delay"]]
        values = [r["recall_accuracy"] for r in runs]
        assert float(row["recall_accuracy"]) == pytest.approx(sum(values) / 2)
        assert float(row["recall_accuracy min"]) == min(values)
        assert float(row["baseline.recall_accuracy"]) == pytest.approx(1 / 26)


def test_the_page_embeds_every_figure(sweep, tmp_path):
    page = write_page(tmp_path / "report.html", [collect(sweep)]).read_text()
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', page)
    assert images == ["recall by delay", "learning curves", "recall by seconds"]
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)  # base64 can spell anything
    assert "http" not in text.replace("<!doctype html>", "")  # nothing to fetch: the page stands alone


def test_figures_can_be_written_as_png_files(sweep, tmp_path, capsys):
    assert main(["report", str(sweep), "--figures", str(tmp_path / "figs")]) == 0
    names = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert names == ["sweep-learning-curves.png", "sweep-recall-by-delay.png", "sweep-recall-by-seconds.png"]
    from matplotlib.image import imread

    width = imread(tmp_path / "figs" / "sweep-learning-curves.png").shape[1]
    assert width > 1000  # drawn for the page's full width, not half of it


def test_the_learning_curves_draw_each_runs_own_evaluations(sweep):
    """Every run is a thin line through its metrics.jsonl's (step, recall), read here apart, in the panel of its
    delay (the task axis), coloured by its model; a thick line is the mean over the seeds; the legend has an
    entry a model, outside the axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    section = collect(sweep)
    fig = draw_learning_curves(section)
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_visible()}
    assert sorted(panels) == ["delay=1", "delay=3"]
    index = json.loads((sweep / "sweep.json").read_text())
    colours, means = {}, {}
    for point in index["points"]:
        settings = point["settings"]
        ax = panels[f"delay={settings['task.delay']}"]
        thin = {(tuple(line.get_xdata()), tuple(line.get_ydata())): line for line in ax.get_lines()
                if line.get_gid() == "seed"}
        metrics = [json.loads(x) for x in (sweep / point["name"] / "metrics.jsonl").read_text().splitlines()]
        line = thin[(tuple(m["step"] for m in metrics), tuple(m["recall_accuracy"] for m in metrics))]
        colours.setdefault(settings["model.name"], set()).add(line.get_color())
        means.setdefault((settings["task.delay"], settings["model.name"]), []).append(
            [m["recall_accuracy"] for m in metrics])
    assert all(len(c) == 1 for c in colours.values()) and colours["rnn"] != colours["gru"]
    for ax in panels.values():
        assert len([line for line in ax.get_lines() if line.get_gid() == "seed"]) == 4  # two models, two seeds
        for line in (line for line in ax.get_lines() if line.get_gid() == "mean"):
            model = line.get_label().removeprefix("model=")
            seeds = means[(int(ax.get_title().removeprefix("delay=")), model)]
            assert list(line.get_ydata()) == pytest.approx([sum(v) / 2 for v in zip(*seeds, strict=True)])
            assert {line.get_color()} == colours[model]
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()][:2] == ["model=rnn", "model=gru"]
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    assert legend.get_window_extent(renderer).x0 > max(ax.get_window_extent(renderer).x1 for ax in fig.axes)


def test_recall_by_delay_draws_the_mean_over_seeds_at_each_delay(sweep):
    fig = draw_recall_by_delay(collect(sweep))
    index = json.loads((sweep / "sweep.json").read_text())
    curves = {bars.get_label(): (list(bars.lines[0].get_xdata()), list(bars.lines[0].get_ydata()))
              for bars in fig.axes[0].containers}  # one errorbar a model: its line, caps and bars
    assert set(curves) == {"model=rnn", "model=gru"}
    for model in ("rnn", "gru"):
        means = []
        for delay in (1, 3):
            values = [p["summary"]["recall_accuracy"] for p in index["points"]
                      if p["settings"]["model.name"] == model and p["settings"]["task.delay"] == delay]
            means.append(sum(values) / len(values))
        assert curves[f"model={model}"][0] == pytest.approx([1, 3], abs=0.2)  # a small sideways shift a model
        assert curves[f"model={model}"][1] == pytest.approx(means)
    assert curves["model=rnn"][0] != curves["model=gru"][0]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["1", "3"]  # the ticks at the true delays


def test_twenty_groups_get_twenty_colours():
    assert len(set(colours(20))) == 20 and len(set(colours(9))) == 9


def test_the_figures_choose_no_matplotlib_backend():
    """Drawing a figure neither imports pyplot nor sets a backend, so a notebook's inline figures still work."""
    code = ("import sys, matplotlib; before = matplotlib.rcParams._get_backend_or_none()\n"
            "from seqmem.report.plots import draw_learning_curves, png\n"
            "from seqmem.report.collect import Section\n"
            "s = Section('x', [{'run': 'a', 'baseline': {'recall_accuracy': 0.1}}], None,\n"
            "            {'a': [{'step': 1, 'train_seconds': 0.1, 'recall_accuracy': 0.5}]})\n"
            "assert png(draw_learning_curves(s))[:4] == b'\\x89PNG'\n"
            "print('matplotlib.pyplot' in sys.modules, matplotlib.rcParams._get_backend_or_none() == before)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]


def test_a_list_of_unrelated_runs_is_reported_one_run_a_row(tmp_path):
    """A suite: runs with nothing in common to group by; the page still draws their curves."""
    points = name_points(grid(BASE, {"model.name": ["rnn", "gru"]}, None))
    run_sweep(points, tmp_path / "suite", InProcess(), progress=False, keys=[])
    section = collect(tmp_path / "suite")
    assert section.by is None and sorted(r["run"] for r in section.records) == ["model=gru", "model=rnn"]
    page = write_page(tmp_path / "report.html", [section]).read_text()
    assert re.findall(r'<img alt="([^"]+)"', page) == ["learning curves", "recall by seconds"]
    assert page.count("<td class=label>model=") == 2 * 2  # the deciding columns, and every score folded below


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("chromium is not installed and `make test` could not install it (apt-get install chromium)")
    return path


HEADLESS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PROBE = ("<script>addEventListener('load', () => { const all = [...document.images]; document.title = "
         "'loaded ' + all.filter(i => i.complete && i.naturalWidth > 0).length + ' of ' + all.length + "
         "' wide ' + Math.ceil(Math.max(...[...document.querySelectorAll('div.table')].map(t => "
         "t.getBoundingClientRect().right))); });</script>")  # each table's box: a wider table scrolls inside it


def test_the_page_renders_in_headless_chromium_with_every_image_loaded(sweep, tmp_path):
    browser = chromium()
    page = write_page(tmp_path / "report.html", [collect(sweep)])
    probe = tmp_path / "probe.html"  # the report itself runs no script; a copy carries the check
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    common = [browser, *HEADLESS, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000"]
    done = subprocess.run([*common, "--window-size=1280,2400", "--dump-dom", probe.as_uri()], capture_output=True,
                          text=True, timeout=120)
    loaded, wide = re.search(r"<title>(loaded \d+ of \d+) wide (\d+)</title>", done.stdout).groups()
    assert loaded == "loaded 3 of 3", done.stderr[-2000:]
    assert int(wide) <= 1280  # every table's box in the window: the page never scrolls sideways
    shot = tmp_path / "report.png"  # kept out of the repository: it lives in the test's own folder
    subprocess.run([*common, "--window-size=1280,2400", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.stat().st_size > 20_000


@pytest.mark.parametrize("args, expected", [
    (["report", "{empty}"], "no finished runs (summary.json) under"),
    (["report", "{missing}"], "does not exist"),
    (["report", "{sweep}", "--html", "{empty}"], "is a folder: give a file name"),
])
def test_bad_report_input_exits_2_in_one_line(sweep, tmp_path, args, expected):
    (tmp_path / "empty").mkdir()
    names = {"empty": tmp_path / "empty", "missing": tmp_path / "missing", "sweep": sweep}
    args = [a.format(**names) for a in args]
    done = seqmem_main(*args)  # in-process: the command line's own exit path is pinned in test_cli
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and expected in done.stderr


def test_choose_keeps_the_value_with_the_best_mean_validation_recall(sweep, capsys):
    """A tuning axis reported as its tuned result: per model, the delay whose runs' mean validation recall is
    highest (test scores never read), beside the full grid."""
    assert main(["report", str(sweep), "--choose", "delay"]) == 0
    out = capsys.readouterr().out
    chosen = out.split("chosen on validation recall:")[1].splitlines()
    rows = [line.split() for line in chosen[3:] if line.strip()]
    index = json.loads((sweep / "sweep.json").read_text())
    for model in ("rnn", "gru"):
        def valid(delay, model=model):
            runs = [p["summary"]["valid_recall_accuracy"] for p in index["points"]
                    if p["settings"]["model.name"] == model and p["settings"]["task.delay"] == delay]
            return sum(runs) / len(runs)
        best = max([1, 3], key=valid)
        assert [r[:3] for r in rows if r[1] == model] == [[str(best), model, "2"]]


def test_a_chosen_sections_figures_have_file_names_without_spaces_or_commas(sweep, tmp_path):
    assert main(["report", str(sweep), "--choose", "delay", "--figures", str(tmp_path / "figs")]) == 0
    names = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert "sweep-task.delay-chosen-on-validation-recall-learning-curves.png" in names
    assert not [n for n in names if re.search(r"[\s,]", n)]


def test_choose_refuses_a_key_that_is_not_an_axis(sweep, capsys):
    assert main(["report", str(sweep), "--choose", "train.lr"]) == 2
    err = capsys.readouterr().err
    assert "--choose train.lr: it is not an axis of this sweep" in err and "Traceback" not in err


def test_every_column_is_a_score_the_summary_check_reads_as_a_number():
    """The table's columns and summary.json's shape check (beside its writer) name the same scores."""
    from seqmem.report.tables import COLUMNS
    from seqmem.run.rundir import SCORES, summary_problem

    assert [key for _, key, _ in COLUMNS] == list(SCORES)
    assert summary_problem({"recall_accuracy": 0.5, "baseline": {"accuracy": "high"}}) == \
        "its baseline.accuracy is 'high', not a finite number"
    assert summary_problem({"recall_accuracy": 0.5, "baseline": {"accuracy": 0.1}}) is None  # the control


def test_runs_and_sweeps_never_import_the_report():
    """Data flows one way: the report reads what runs and sweeps write, so they never import it (no cycle)."""
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "seqmem"
    found = []
    for stage in ("run", "sweeps"):
        for path in sorted((package / stage).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                    [a.name for a in node.names] if isinstance(node, ast.Import) else []
                found += [f"{path.name}: {n}" for n in names if n.startswith("seqmem.report")]
    assert not found, found
    assert "report" in {p.name for p in package.iterdir()}  # the control: the folder the check looks for exists


def test_recall_by_state_size_draws_each_model_through_its_sizes_with_the_mean_over_seeds(tmp_path):
    """zoology's plot: a sweep of attention over d_model, each point at the state size summary.json records."""
    base = {"task": {"name": "associative-recall", "layout": "zoology", "length": 12, "pairs": 2, "queries": 2,
                     "vocab": 16, "test_size": 16, "validation_size": 16},
            "model": {"name": "attention", "layers": 1}, "train": {"steps": 3, "eval_every": 3}}
    points = name_points(grid(base, {"model.d_model": [8, 16]}, [0, 1], []))
    run_sweep(points, tmp_path / "sweep", InProcess(), progress=False)
    section = collect(tmp_path / "sweep")
    fig = draw_recall_by_state_size(section)
    (bars,) = fig.axes[0].containers
    index = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    sizes = sorted({p["summary"]["state_size"] for p in index["points"]})
    assert sizes == [2 * 12 * 8, 2 * 12 * 16]  # a key and a value of d_model a step, over the task's 12 steps
    means = [sum(p["summary"]["recall_accuracy"] for p in index["points"] if p["summary"]["state_size"] == s) / 2
             for s in sizes]
    assert list(bars.lines[0].get_xdata()) == pytest.approx(sizes)  # one line: no sideways shift
    assert list(bars.lines[0].get_ydata()) == pytest.approx(means)
    assert fig.axes[0].get_xscale() == "log"
    one_size = Section("x", [{**r, "state_size": 5} for r in section.records], section.by)
    assert draw_recall_by_state_size(one_size) is None  # nothing to draw against


def passes(root, lrs, seeds):
    """One sweep's passes in folders of their own: the learning rates on seed 0, then more seeds at one."""
    base = {**BASE, "model": {"name": "rnn", "hidden": 8}}
    first = root / "grid"
    run_sweep(name_points(grid(base, {"train.lr": lrs})), first, InProcess(), progress=False)
    more = root / "seeds"
    run_sweep(name_points(grid({**base, "train": {**BASE["train"], "lr": lrs[0]}}, {}, seeds)), more, InProcess(),
              progress=False)
    return first, more


def test_merge_reads_a_sweeps_passes_as_one_and_choose_compares_rates_on_their_shared_seed(tmp_path, capsys):
    """A grid of rates on seed 0, then seeds 1 and 2 at the first rate: merged, every run has its rate and seed
    (read from its config where its folder did not vary them), and the rate is chosen on seed 0 alone."""
    first, more = passes(tmp_path, [1e-2, 3e-3], [1, 2])
    grid_runs = {p["settings"]["train.lr"]: p["summary"] for p in json.loads((first / "sweep.json").read_text())["points"]}
    assert main(["report", str(first), str(more), "--merge", "--choose", "train.lr", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    merged_rows = [r for r in rows if "chosen" not in r["folder"]]
    chosen_rows = [r for r in rows if "chosen" in r["folder"]]
    assert {r["folder"] for r in merged_rows} == {str(tmp_path / "grid+seeds")}
    assert {(r["train.lr"], tuple(r["seeds"])) for r in merged_rows} == {(1e-2, (0, 1, 2)), (3e-3, (0,))}
    best = max(grid_runs, key=lambda lr: grid_runs[lr]["valid_recall_accuracy"])  # seed 0 decides
    assert [r["train.lr"] for r in chosen_rows] == [best]


def test_merge_takes_loose_runs_beside_a_sweep_their_settings_read_from_their_configs(tmp_path, capsys):
    first, _ = passes(tmp_path, [1e-2, 3e-3], [1])
    loose = tmp_path / "loose"
    shutil.copytree(first / next(p.name for p in first.iterdir() if p.is_dir()), loose / "run")
    assert main(["report", str(first), str(loose), "--merge", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted((r["train.lr"], r["runs"]) for r in rows) in ([(3e-3, 1), (1e-2, 2)], [(3e-3, 2), (1e-2, 1)])
