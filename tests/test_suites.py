"""The suites for the published figures (Mamba's Tables 1 and 11, Grazzi et al.'s and Merrill et al.'s state
tracking): each loads, every point's config builds, and the settings the papers fix are the suite's."""

import argparse
from pathlib import Path

import pytest

from seqmem.cli.command import build_parser
from seqmem.run.build import make_task
from seqmem.sweeps.bench import bench_points, load_suite

ROOT = Path(__file__).resolve().parent.parent


def points_of(name: str):
    suite = load_suite(name)
    points, sizes = bench_points(list(suite.models), suite, say=lambda *_: None)
    return suite, points, sizes


def test_selective_copy_is_mambas_table_1_in_the_s4_layout_at_a_laptops_lengths():
    """s4's generator at vocabulary 16 (14 symbols, blank, marker), 16 symbols, 2 layers at d_model 64; sequences
    of 256 and 1024 steps where Mamba's are 4096 (which the description says)."""
    suite, points, _ = points_of("selective-copy")
    assert suite.models == ("s4d", "h3", "hyena", "mamba", "attention")
    assert suite.widths == (64,) and suite.model == {"layers": 2} and suite.until_solved and suite.seeds == 3
    tasks = [make_task(**{**p.config.task, "test_size": 2, "validation_size": 2}) for p in points]
    assert {(t.layout, t.recall_length, t.vocab_size) for t in tasks} == {("s4", 16, 16)}
    assert sorted({t.span for t in tasks}) == [256, 1024]
    assert {t.baseline().recall_accuracy for t in tasks} == {1 / 14}  # a guess among the symbols at each answer
    assert len(points) == 5 * 2 * len(suite.grid["lr"]) * 3
    assert {(p.config.model["d_model"], p.config.model["layers"]) for p in points} == {(64, 2)}
    assert {p.config.train["stop_at"] for p in points} == {0.99}
    assert "4096" in suite.description and "no gate" in suite.description


def test_induction_heads_trains_at_64_and_scores_to_two_to_the_14():
    """Mamba's Table 11 at a quarter of its training length (256, where nothing left chance at a laptop's budget):
    16 tokens, 2 layers at d_model 64, scored at every power of two from 2^7 to 2^14; attention with rotary
    positions (MHA-RoPE), which reach past the training length."""
    suite, points, _ = points_of("induction-heads")
    assert suite.models == ("attention", "h3", "hyena", "mamba") and suite.widths == (64,)
    (task,) = {make_task(**p.config.task) for p in points[:1]}
    assert (task.length, task.vocab) == (64, 16) and "256" in suite.description
    assert task.eval_lengths == tuple(2**k for k in range(7, 15)) and max(task.eval_lengths) >= 2**14
    assert {p.config.task["eval_lengths"] for p in points} == {task.eval_lengths_text}
    assert {(p.config.model["d_model"], p.config.model["layers"]) for p in points} == {(64, 2)}
    assert {p.config.model["positions"] for p in points if p.config.model["name"] == "attention"} == {"rope"}
    assert len(points) == 4 * len(suite.grid["lr"]) * 3 and suite.until_solved


def test_the_small_induction_heads_suite_is_the_shipped_suite_at_table_11s_length():
    """benchmarks/induction_heads_small.toml (docs/results.md) keeps the shipped suite's task, sizes and batch at
    Table 11's training length, 256, with fewer updates, rates, models and lengths; every point's config builds."""
    small, full = load_suite(str(ROOT / "benchmarks" / "induction_heads_small.toml")), load_suite("induction-heads")
    (task,), (reference,) = small.tasks, full.tasks
    assert (task.name, task.key, task.values, reference.values) == (reference.name, reference.key, (256,), (64,))
    assert task.settings["vocab"] == reference.settings["vocab"] == 16
    lengths = task.settings["eval_lengths"].split(",")
    assert set(lengths) <= set(reference.settings["eval_lengths"].split(",")) and "16384" in lengths
    assert (small.widths, small.model, small.until_solved) == (full.widths, full.model, full.until_solved)
    assert small.budget < full.budget and set(small.models) <= set(full.models)
    assert small.train["batch_size"] == full.train["batch_size"] and set(small.grid["lr"]) <= set(full.grid["lr"])
    points, _ = bench_points(list(small.models), small, say=lambda *_: None)
    assert len(points) == 2 * 2 * 3 and {p.config.train["steps"] for p in points} == {1000}


def test_the_induction_heads_suite_at_64_is_the_shipped_suite_at_two_rates():
    """benchmarks/induction_heads_64.toml (docs/results.md) is the shipped suite with two of its rates, half its
    test sequences and six of its lengths, up to 256 times the training length."""
    short, full = load_suite(str(ROOT / "benchmarks" / "induction_heads_64.toml")), load_suite("induction-heads")
    (task,), (reference,) = short.tasks, full.tasks
    assert (task.name, task.key, task.values) == (reference.name, reference.key, reference.values) == (
        "induction-heads", "length", (64,))
    assert task.settings["vocab"] == reference.settings["vocab"] == 16
    assert set(task.settings["eval_lengths"].split(",")) <= set(reference.settings["eval_lengths"].split(","))
    assert (short.models, short.widths, short.model, short.until_solved, short.budget, short.train) == (
        full.models, full.widths, full.model, full.until_solved, full.budget, full.train)
    assert set(short.grid["lr"]) < set(full.grid["lr"])
    points, _ = bench_points(list(short.models), short, say=lambda *_: None)
    (built,) = {make_task(**{**p.config.task, "test_size": 2, "validation_size": 2}) for p in points[:1]}
    assert built.length == 64 and max(built.eval_lengths) == 256 * 64 and 64 not in built.eval_lengths
    assert len(points) == 4 * 2 * 3 and {p.config.train["steps"] for p in points} == {3000}


def test_state_tracking_sets_each_eigenvalue_range_beside_the_other_on_parity_and_s5():
    """Parity (modulus 2) and the S5 word problem, scored at longer lengths than training; Mamba-2 and DeltaNet
    with eigenvalues in [0, 1] and in [-1, 1]; every model one layer at ~50k parameters."""
    suite, points, sizes = points_of("state-tracking")
    assert set(suite.models) == {"gru", "lstm", "attention", "mamba", "mamba2", "mamba2[negative_eigenvalues=true]",
                                 "deltanet", "deltanet[negative_eigenvalues=true]"}
    assert suite.params == 50_000 and suite.model == {"layers": 1}
    tasks = {p.config.task["name"]: make_task(**{**p.config.task, "test_size": 2, "validation_size": 2})
             for p in points}
    assert tasks["parity"].modulus == 2 and tasks["word-problem"].group == "s5"
    assert tasks["word-problem"].num_classes == 120
    for p in points:
        task = make_task(**{**p.config.task, "test_size": 2, "validation_size": 2})
        assert min(task.eval_lengths) > task.length  # scored beyond training
        negative = p.tags["bench.model"].endswith("[negative_eigenvalues=true]")
        if p.config.model["name"] in ("mamba2", "deltanet"):
            assert p.config.model["negative_eigenvalues"] is negative
        assert p.config.model["layers"] == 1
    assert len(points) == 8 * 2 * 2 * len(suite.grid["lr"]) * 3
    for (model, task, _), (_, parameters) in sizes.items():
        assert abs(parameters - 50_000) < 0.25 * 50_000, (model, task)  # Mamba-2's width steps by 16


@pytest.mark.parametrize("name", ["selective-copy", "induction-heads", "state-tracking"])
def test_every_published_suite_is_named_in_the_help_and_the_docs(name):

    root = Path(__file__).resolve().parents[1]
    verbs = next(a for a in build_parser(["bench"])._actions if isinstance(a, argparse._SubParsersAction))
    suite = next(a for a in verbs.choices["bench"]._actions if "--suite" in a.option_strings)
    assert name in suite.help
    assert f"--suite {name}" in (root / "docs" / "profile.md").read_text()
    assert name in (root / "docs" / "usage.md").read_text().split("## The memory profile")[1].split("\n## ")[0]


def test_the_small_parity_suite_is_the_state_tracking_suite_scaled_down():
    """benchmarks/parity_small.toml (docs/results.md) keeps the state-tracking suite's parity, sizes, layer
    and batch, with each eigenvalue range of Mamba-2 and DeltaNet beside the other, fewer updates and rates."""
    small, full = load_suite(str(ROOT / "benchmarks" / "parity_small.toml")), load_suite("state-tracking")
    (task,) = small.tasks
    reference = next(t for t in full.tasks if t.name == "parity")
    assert task.settings["modulus"] == reference.settings["modulus"] == 2 and set(task.values) <= set(reference.values)
    assert (small.params, small.model, small.until_solved) == (full.params, full.model, full.until_solved)
    assert set(small.models) <= set(full.models)
    assert {m.split("[")[0] for m in small.models if "negative_eigenvalues" in m} == {"mamba2", "deltanet"}
    assert small.budget < full.budget and small.train["batch_size"] == full.train["batch_size"]
    points, _ = bench_points(list(small.models), small, say=lambda *_: None)
    assert len(points) == 5 * 2 * 3 and {p.config.model["layers"] for p in points} == {1}


def test_the_small_selective_copy_suite_is_table_1s_task_at_the_shorter_length():
    """benchmarks/selective_copy_small.toml keeps the selective-copy suite's layout, vocabulary, models, sizes and
    batch at its shorter length, with fewer updates, rates and seeds."""
    small, full = load_suite(str(ROOT / "benchmarks" / "selective_copy_small.toml")), load_suite("selective-copy")
    (task,), (reference,) = small.tasks, full.tasks
    assert task.values == (224,) and set(task.values) <= set(reference.values) and task.settings == reference.settings
    assert (small.widths, small.model, small.until_solved, small.models) == (
        full.widths, full.model, full.until_solved, full.models)
    assert small.budget < full.budget and small.train == full.train and set(small.grid["lr"]) <= set(full.grid["lr"])
    points, _ = bench_points(list(small.models), small, say=lambda *_: None)
    assert len(points) == 5 * 2 and {make_task(**{**p.config.task, "test_size": 2, "validation_size": 2}).span for p in points} == {256}


def test_the_small_zoology_suite_is_figure_2s_protocol_at_one_setting():
    """benchmarks/zoology_figure2_small.toml keeps the zoology-figure2 suite's vocabulary, optimizer, schedule,
    grid and one seed, at (L=64, 4 pairs) and d_model 64, for the figure's models seqmem has."""
    small, full = load_suite(str(ROOT / "benchmarks" / "zoology_figure2_small.toml")), load_suite("zoology-figure2")
    (task,), (reference,) = small.tasks, full.tasks
    assert task.values == ((64, 4, 4),) and (64, 4, 4) in reference.values
    assert task.settings == reference.settings and task.settings["vocab"] == 8192
    assert (small.model, small.grid, small.train, small.seeds) == (full.model, full.grid, full.train, full.seeds)
    assert set(small.models) == {"attention", "baseconv", "hyena", "h3"} <= set(full.models)
    assert small.widths == (64,) and small.budget < full.budget
    points, _ = bench_points(list(small.models), small, say=lambda *_: None)
    assert len(points) == 4 * 4 and {p.config.model["d_model"] for p in points} == {64}


def test_the_small_s5_suite_is_the_state_tracking_suites_word_problem_scaled_down():
    """benchmarks/s5_small.toml (docs/results.md) keeps the state-tracking suite's S5 word problem, models, sizes,
    layer and batch, at its shorter length, with fewer updates, rates and seeds."""
    small, full = load_suite(str(ROOT / "benchmarks" / "s5_small.toml")), load_suite("state-tracking")
    (task,) = small.tasks
    reference = next(t for t in full.tasks if t.name == "word-problem")
    assert task.settings["group"] == reference.settings["group"] == "s5" and set(task.values) <= set(reference.values)
    assert (small.params, small.model, small.until_solved, small.models) == (
        full.params, full.model, full.until_solved, full.models)
    assert small.budget < full.budget and small.train["batch_size"] == full.train["batch_size"]
    assert set(small.grid["lr"]) <= set(full.grid["lr"]) and small.seeds < full.seeds
    points, _ = bench_points(list(small.models), small, say=lambda *_: None)
    assert len(points) == 8 * 2 * 2 and {p.config.model["layers"] for p in points} == {1}


def test_the_small_mad_suite_is_the_mad_suite_at_a_shorter_budget():
    """benchmarks/mad_small.toml keeps the mad suite's six tasks at their settings, its optimizer, schedule, batch
    and size, with one point of its grid and fewer updates."""
    small, full = load_suite(str(ROOT / "benchmarks" / "mad_small.toml")), load_suite("mad")
    assert [(t.name, t.values, t.settings) for t in small.tasks] == [(t.name, t.values, t.settings) for t in full.tasks]
    assert (small.params, small.seeds, small.until_solved) == (full.params, full.seeds, full.until_solved)
    assert {k: v for k, v in small.train.items() if k != "eval_every"} == {
        k: v for k, v in full.train.items() if k != "eval_every"}
    assert all(set(small.grid[k]) <= set(full.grid[k]) for k in full.grid) and small.budget < full.budget
    points, _ = bench_points(list(small.models), small, say=lambda *_: None)
    assert len(points) == 3 * 6
