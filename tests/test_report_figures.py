"""Figures and a page that read: learning curves grouped (a panel a task setting, a colour a model, seeds thin
around their mean), no group hidden under another where their scores are equal, no matplotlib warning however
large the sweep, and the page's tables never wrapping a cell a character a line at 1280 pixels in Chromium.

The sweeps here are made up (records and curves written by hand, seeded), so nothing is trained."""

import random
import re
import subprocess
import warnings

import numpy as np
import pytest
from test_report import HEADLESS, chromium

from seqmem.report.collect import Section
from seqmem.report.page import write_page
from seqmem.report.plots import (
    FIGURES,
    KEYS,
    MARKERS,
    dodge,
    draw_learning_curves,
    draw_profile,
    draw_recall_by_delay,
    draw_recall_by_seconds,
    draw_recall_by_state_size,
    png,
)


def made_up_sweep(models=("rnn", "gru", "lstm"), delays=(2, 4, 8), seeds=(0, 1), equal=(), extra=None,
                  evaluations=15) -> Section:
    """A sweep's section as `collect` gives it: models x delays x seeds runs (18 by default), each with its
    curve; the models in `equal` score the same at every evaluation and seed; `extra` adds axes (key -> values)."""
    rng = random.Random(0)
    extra = extra or {}
    axes = ["model.name", "task.delay", *extra, "train.seed"]
    records, curves = [], {}
    combos = [{}]
    for key, values in extra.items():
        combos = [{**c, key: v} for c in combos for v in values]
    for model in models:
        for delay in delays:
            for combo in combos:
                for seed in seeds:
                    name = ",".join(f"{k}={v}" for k, v in [("model", model), ("delay", delay), *combo.items(),
                                                            ("seed", seed)])
                    rate = 0.03 if model in equal else rng.uniform(0.01, 0.08)
                    curve = [{"step": 100 * k, "train_seconds": 1.5 * k + 0.1 * seed,
                              "recall_accuracy": min(1.0, 1 / 26 + rate * k)} for k in range(1, evaluations + 1)]
                    curves[name] = curve
                    records.append({"run": name, "model.name": model, "task.delay": delay, **combo,
                                    "train.seed": seed, "recall_accuracy": curve[-1]["recall_accuracy"],
                                    "state_size": 16 * combo.get("model.d_model", delay), "steps": 100 * evaluations, "train_seconds": 20.0,
                                    "parameters": 1234, "baseline": {"recall_accuracy": 1 / 26}})
    return Section("sweep", records, axes, curves)


def test_an_18_run_sweep_draws_a_panel_a_delay_a_colour_a_model_and_a_legend_entry_a_model():
    section = made_up_sweep()
    assert len(section.records) == 18
    for draw in (draw_learning_curves, draw_recall_by_seconds):
        fig = draw(section)
        panels = [ax for ax in fig.axes if ax.get_visible()]
        assert [ax.get_title() for ax in panels] == ["delay=2", "delay=4", "delay=8"]
        for ax in panels:
            means = [line for line in ax.get_lines() if line.get_gid() == "mean"]
            seeds = [line for line in ax.get_lines() if line.get_gid() == "seed"]
            assert [line.get_label() for line in means] == ["model=rnn", "model=gru", "model=lstm"]
            assert len({line.get_color() for line in means}) == 3  # a colour a model
            assert len({line.get_marker() for line in means}) == 3  # and a marker
            assert len(seeds) == 6 and all(s.get_linewidth() < m.get_linewidth() for s in seeds for m in means)
            colour = {m.get_label(): m.get_color() for m in means}
            assert {s.get_color() for s in seeds} == set(colour.values())  # seeds in their model's colour
        colours = [{line.get_label(): line.get_color() for line in ax.get_lines() if line.get_gid() == "mean"}
                   for ax in panels]
        assert colours[0] == colours[1] == colours[2]  # a model keeps its colour from panel to panel
        (legend,) = fig.legends
        assert [t.get_text() for t in legend.get_texts()] == ["model=rnn", "model=gru", "model=lstm", *KEYS]


def test_a_sweep_without_a_task_axis_draws_one_panel():
    section = made_up_sweep(delays=(4,))
    section.by = ["model.name", "train.seed"]
    fig = draw_learning_curves(section)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 1 and draw_recall_by_delay(section) is None


def pixels_of(fig, colour) -> int:
    """How many pixels of the rendered figure are (nearly) `colour`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    image = np.asarray(canvas.buffer_rgba())[:, :, :3].astype(int)
    target = (np.array(colour[:3]) * 255).round().astype(int)
    return int((np.abs(image - target).sum(axis=2) < 30).sum())


@pytest.mark.parametrize("draw", [draw_recall_by_delay, draw_recall_by_state_size])
def test_two_groups_with_equal_scores_both_stay_in_sight(draw):
    """rnn and gru score alike at every delay: each keeps its own marker and a small sideways shift, and both
    colours show in the rendered image (the control: lstm's colour, whose scores differ, shows too)."""
    sizes = draw is draw_recall_by_state_size  # a sweep over width, whose state size follows it
    fig = draw(made_up_sweep(equal=("rnn", "gru"), delays=(4,) if sizes else (2, 4, 8),
                             extra={"model.d_model": [2, 4, 8]} if sizes else None))
    ax = fig.axes[0]
    drawn = {bars.get_label().split(",")[0]: bars.lines[0] for bars in ax.containers}
    rnn, gru = drawn["model=rnn"], drawn["model=gru"]
    assert list(rnn.get_ydata()) == list(gru.get_ydata())  # the same scores
    assert rnn.get_marker() != gru.get_marker() and rnn.get_linestyle() != gru.get_linestyle()
    assert all(a < b for a, b in zip(rnn.get_xdata(), gru.get_xdata(), strict=True))  # side by side
    ticks = [float(t.get_text()) for t in ax.get_xticklabels()]
    assert ticks == [16 * d if sizes else d for d in (2, 4, 8)]  # the ticks at the true values
    for line in drawn.values():
        assert pixels_of(fig, line.get_color()) > 60, line.get_label()


def test_two_models_with_equal_learning_curves_both_show_their_markers():
    fig = draw_learning_curves(made_up_sweep(equal=("rnn", "gru"), delays=(2,), evaluations=16))
    means = {line.get_label(): line for line in fig.axes[0].get_lines() if line.get_gid() == "mean"}
    rnn, gru = means["model=rnn"], means["model=gru"]
    assert list(rnn.get_ydata()) == list(gru.get_ydata())
    assert rnn.get_markevery() != gru.get_markevery() and rnn.get_marker() != gru.get_marker()
    assert rnn.get_linestyle() != gru.get_linestyle()  # a dashed line over a solid one lets it show through
    assert pixels_of(fig, rnn.get_color()) > 30  # drawn first, under gru's line: its markers still show
    assert MARKERS[0] == rnn.get_marker()


def test_no_figure_of_a_large_sweep_prints_a_warning():
    """22 groups (over the 20 drawn) with long labels, in 3 panels, and a loose list of runs: every figure drawn
    and rendered with warnings raised as errors (a crowded legend of long labels made tight_layout warn)."""
    big = made_up_sweep(models=[f"examples/some_long_module_name.py:AnUnusuallyLongModelClassName{i}" for i in range(11)],
                        extra={"train.lr": [1e-3, 3e-3], "model.hidden": [64], "method.chunk_length": [100],
                               "model.init_std": [0.01]}, evaluations=20)
    loose = Section("loose", [{k: v for k, v in r.items() if k != "task.delay"} | {"task": "echo-letters"}
                              for r in big.records[:24]], None, big.curves)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        drawn = 0
        for section in (big, loose):
            for draw in FIGURES:
                fig = draw(section)
                if fig is not None:
                    assert png(fig)[:4] == b"\x89PNG"
                    drawn += 1
        assert drawn == 3 + 2  # every figure each section has: the control that something was drawn
        by_model = Section("models", [{k: v for k, v in r.items() if k != "task.delay"} for r in big.records],
                           [k for k in big.by if k != "task.delay"], big.curves)
        assert draw_recall_by_state_size(big) is None  # a delay varies: recall against it is the figure
        assert png(draw_recall_by_state_size(by_model))[:4] == b"\x89PNG"  # 22 crowded groups, no warning
        profile = made_up_profile([f"examples/some_long_module_name.py:AModel{i}" for i in range(20)],
                                  ["copy-memory", "echo-letters", "selective-copy", "associative-recall"])
        fig = draw_profile(Section("bench", [], None, profile=profile))
        assert png(fig)[:4] == b"\x89PNG" and len(fig.legends[0].get_texts()) == 20 + 1  # and the memoryless


def made_up_profile(models: list[str], tasks: list[str]) -> dict:
    """A profile.json's shape (`seqmem bench`), its numbers seeded."""
    rng = random.Random(1)

    def spread():
        mean = rng.random()
        return {"mean": mean, "min": mean * 0.9, "max": min(1.0, mean * 1.1)}

    return {"suite": "made-up", "budget": 1000, "target_parameters": 50_000, "models": {
        m: {"tasks": {t: {"test_recall": spread(), "solved": spread(), "memoryless_recall": 0.125} for t in tasks},
            "score": spread()} for m in models}}


# After load: every <details> opened, then the right edge of the widest table (or of the box it scrolls in), the window's width, and the most
# lines any cell's text takes (its text's line boxes, counted by their tops).
MEASURE = """<script>addEventListener('load', () => {
  document.querySelectorAll('details').forEach(d => d.open = true);
  const right = Math.max(...[...document.querySelectorAll('table')].map(
    t => (t.closest('div.table') || t).getBoundingClientRect().right));
  const lines = [...document.querySelectorAll('td, th')].map(c => {
    const range = document.createRange(); range.selectNodeContents(c);
    return new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top))).size; });
  const tables = document.querySelectorAll('table').length;
  document.title = `right ${Math.ceil(right)} window ${document.documentElement.clientWidth} lines ${Math.max(...lines)}`
    + ` tables ${tables}`;
});</script>"""


def test_the_page_never_wraps_a_table_cell_in_chromium_at_1280_pixels(tmp_path):
    """A sweep with many axes and long names: each table sits in a box no wider than the window (a wider one
    scrolls inside it), and no cell's text takes more than two lines (a mean, and its spread under it)."""
    browser = chromium()
    section = made_up_sweep(models=["examples/min_gru.py:MinGRU", "package.module:AVeryLongModelClassName"],
                            delays=(2, 8), extra={"train.lr": [1e-3], "model.hidden": [64], "method.chunk_length": [50],
                                                  "model.init_std": [0.01]}, evaluations=3)
    page = write_page(tmp_path / "report.html", [section])
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    done = subprocess.run([browser, *HEADLESS, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
                           "--window-size=1280,2000", "--dump-dom", probe.as_uri()], capture_output=True, text=True,
                          timeout=120)
    found = re.search(r"<title>right (\d+) window (\d+) lines (\d+) tables (\d+)</title>", done.stdout)
    assert found, done.stderr[-2000:]
    right, window, lines, tables = map(int, found.groups())
    assert window <= 1280 and right <= window, (right, window)  # the page never scrolls sideways
    assert lines == 2, lines  # a spread under its mean (the control: a cell of two lines is found), and never more
    assert tables == 2  # the deciding columns, and every score (opened)


def test_the_sideways_shift_parts_groups_even_at_close_delays():
    """A horizon's bisection probes delays a step apart (20, 21) beside 1: the shift is still a visible share of
    the axis, and centred on the true value."""
    low, high = dodge([1, 2, 4, 8, 16, 20, 21], 2, log=True)
    assert high / low > 1.025 and low * high == pytest.approx(1.0)
    shifts = dodge([1, 3, 5], 3, log=False)
    assert shifts == pytest.approx([-0.12, 0.0, 0.12])  # a share of the gap between delays, less than half of it


def test_a_run_stopped_at_its_first_evaluation_shows_as_a_marker_and_panels_go_by_value():
    """A horizon's probes: a run that solved its delay at the first evaluation is one point, drawn as its marker
    (a line of one point draws nothing); the panels go by delay as numbers (10 after 8, not after 32)."""
    section = made_up_sweep(models=("rnn", "gru", "lstm", "tcn"), delays=(32, 8, 10), seeds=(0,))
    for record in section.records:
        if record["model.name"] == "tcn":  # the fourth group: its markers would start at the fourth point
            section.curves[record["run"]] = section.curves[record["run"]][:1]
    fig = draw_learning_curves(section)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["delay=8", "delay=10", "delay=32"]
    for ax in panels:
        (tcn,) = [line for line in ax.get_lines() if line.get_label() == "model=tcn"]
        assert len(tcn.get_xdata()) == 1 and tcn.get_markevery()[0] == 0 and tcn.get_marker() not in ("", "None")


def test_only_the_groups_that_share_a_state_size_are_shifted_sideways():
    """Eighteen models on MQAR: two share a state size and part sideways; every other point stays at its true
    size, however many groups the figure has."""
    sizes = [64 * 2 ** i for i in range(17)] + [64 * 2 ** 5]  # the last model's size is the sixth's
    records = [{"model.name": f"m{i}", "state_size": size, "recall_accuracy": 0.1 + i / 40, "train.seed": 0,
                "baseline.recall_accuracy": 1 / 128} for i, size in enumerate(sizes)]
    fig = draw_recall_by_state_size(Section("mqar", records, ["model.name"]))
    xs = {bars.get_label(): bars.lines[0].get_xdata()[0] for bars in fig.axes[0].containers}
    shared = (xs["model=m5"], xs["model=m17"])
    assert shared[0] < sizes[5] < shared[1]  # side by side around the true size
    assert all(xs[f"model=m{i}"] == sizes[i] for i in range(17) if i != 5)
