"""`seqmem demo` and `predict_text`: the output format, on small runs trained for a few updates: inputs in the
task's symbols, targets and answers only where the task asks (its recall mask), the count of right answers
checked against the model's own logits."""

import re

import pytest
import torch

import seqmem
from seqmem.cli import main
from seqmem.errors import ConfigError
from seqmem.run.demo import demo_lines, shown_steps
from seqmem.tasks.base import generator_for
from seqmem.tasks.letters import decode_text, encode_text


def make_run(path, task: dict, model: dict, steps: int = 2):
    config = {"task": task, "model": model, "train": {"steps": steps, "batch_size": 8, "eval_batch_size": 100}}
    seqmem.run_experiment(config, path, progress=False, say=lambda _: None)
    return path


@pytest.fixture(scope="module")
def fixed_run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("runs") / "fixed", {"name": "echo-letters", "delay": 3, "test_size": 20},
                    {"name": "gru", "hidden": 8})


@pytest.fixture(scope="module")
def variable_run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("runs") / "variable",
                    {"name": "echo-letters", "max_delay": 4, "seq_length": 10, "test_size": 20},
                    {"name": "lstm", "hidden": 8, "condition": "both"})


def test_text_round_trip():
    assert encode_text("abCz").tolist() == [1, 2, 3, 26]
    assert decode_text([0, 1, 0, 26]) == " a z"
    with pytest.raises(ConfigError, match="letters a-z"):
        encode_text("ab1 c")


def test_predict_text_is_one_character_a_step(fixed_run):
    run = seqmem.load(fixed_run)
    out = run.predict_text("abcdefghij")
    assert len(out) == 10 and set(out) <= set(" abcdefghijklmnopqrstuvwxyz")
    # the model's own logits, read here without predict/encode/decode: token i is the i-th letter, 0 a blank
    with torch.no_grad():
        logits, _ = run.model.eval()(torch.arange(1, 11).unsqueeze(0))
    assert out == "".join(" " if i == 0 else chr(ord("a") + i - 1) for i in logits[0].argmax(-1).tolist())
    # one character a step, causally: a later letter changes no earlier answer
    assert run.predict_text("abcdefghiz")[:9] == out[:9]


def test_cli_demo_text_prints_input_target_and_output(fixed_run, capsys):
    assert main(["demo", str(fixed_run), "abcde"]) == 0
    lines = capsys.readouterr().out.splitlines()
    labels = [line.split()[0] for line in lines]
    assert labels == ["input", "target", str(fixed_run)]
    width = len(str(fixed_run)) + 2
    assert [line[width:] for line in lines[:2]] == ["abcde", "   ab"]
    assert lines[2][width:] == seqmem.load(fixed_run).predict_text("abcde")


def test_cli_demo_variable_delay(variable_run, capsys):
    assert main(["demo", str(variable_run), "abcdef", "--delay", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    width = len(str(variable_run)) + 2
    assert lines[1][width:] == "  abcd"
    assert len(lines[2][width:]) == 6


@pytest.mark.parametrize("args,words", [
    ([], "--delay D with D in 0..4"),
    (["--delay", "9"], "0..4"),
])
def test_cli_demo_delay_errors_exit_2(variable_run, capsys, args, words):
    assert main(["demo", str(variable_run), "abc", *args]) == 2
    assert words in capsys.readouterr().err


def test_fixed_run_refuses_another_delay(fixed_run):
    with pytest.raises(ConfigError, match="fixed delay 3"):
        seqmem.load(fixed_run).predict_text("abc", delay=5)


def cells(line: str) -> list[str]:
    return line.split()[1:]


def starts(line: str) -> list[int]:
    """Where each cell after the label begins: cells of one column begin together."""
    return [m.start() for m in re.finditer(r"\S+", line)][1:]


def model_answers(run, batch) -> torch.Tensor:
    """The model's classes, read from its logits without predict or the demo."""
    with torch.no_grad():
        logits, _ = run.model.eval()(batch.x, cond=batch.cond)
    return logits.argmax(-1)[0]


def check_answers(lines: list[str], run, batch, show) -> None:
    """Target and answer cells only at the recall mask's steps, each answer the model's, marked `!` where wrong,
    and the count of right ones in the last line: for a row shown whole."""
    y, asked, answers = batch.y[0], batch.recall[0], model_answers(run, batch)
    target, given = cells(lines[1]), cells(lines[2])
    assert len(target) == len(given) == len(y)
    for t in range(len(y)):
        if asked[t]:
            right = bool(answers[t] == y[t])
            assert target[t] == show(int(y[t]))
            assert given[t] == show(int(answers[t])) + ("" if right else "!")
        else:
            assert target[t] == given[t] == "."
    assert starts(lines[1]) == starts(lines[2]) == starts(lines[0])
    right = int(((answers == y) & asked).sum())
    assert lines[3].split()[1:6] == [str(right), "of", str(int(asked.sum())), "answers", "right"]


def test_cli_demo_copy_memory_shows_two_runs_side_by_side(tmp_path, capsys):
    task = {"name": "copy-memory", "blank": 15, "convention": "symbols", "test_size": 10}
    a = make_run(tmp_path / "a", task, {"name": "rnn", "hidden": 8})
    b = make_run(tmp_path / "b", task, {"name": "gru", "hidden": 8})
    assert main(["demo", str(a), str(b), "--index", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["input", "target", str(a), str(b), str(a), str(b)]
    sample = seqmem.load(a).task.get("test", torch.tensor([3]))
    symbols = sample.x[0, :10].tolist()
    # symbols 0..7 as digits, 14 blanks `_`, the marker `:`, 10 blanks while the answers are given
    assert cells(lines[0]) == [str(s) for s in symbols] + ["_"] * 14 + [":"] + ["_"] * 10
    assert cells(lines[1]) == ["."] * 25 + [str(s) for s in symbols]
    assert all(len(cells(line)) == 35 for line in lines[:4])
    for run, line in ((a, lines[2]), (b, lines[3])):
        check_answers([lines[0], lines[1], line, lines[4 if run == a else 5]], seqmem.load(run), sample,
                      lambda t: {8: "_", 9: ":"}.get(t, str(t)))
    assert main(["demo", str(a), "abc"]) == 2
    assert "echo-letters" in capsys.readouterr().err


def test_cli_demo_associative_recall_shows_keys_values_and_only_the_queries(tmp_path, capsys):
    task = {"name": "associative-recall", "pairs": 4, "queries": 3, "keys": 8, "values": 8, "test_size": 10}
    path = make_run(tmp_path / "mqar", task, {"name": "gru", "hidden": 8}, steps=20)
    assert main(["demo", str(path), "--index", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    run = seqmem.load(path)
    sample = run.task.get("test", torch.tensor([2]))
    x = sample.x[0].tolist()
    assert cells(lines[0]) == [f"k{t}" if t < 8 else f"v{t - 8}" for t in x]
    assert cells(lines[1])[:8] == ["."] * 8 and all(c.startswith("v") for c in cells(lines[1])[8:])
    check_answers(lines, run, sample, lambda t: f"k{t}" if t < 8 else "_" if t == 16 else f"v{t - 8}")


def test_demo_selective_copy_in_symbols(tmp_path):
    task = {"name": "selective-copy", "blank": 12, "recall_length": 4, "alphabet": 4, "test_size": 10}
    run = seqmem.load(make_run(tmp_path / "sel", task, {"name": "lstm", "hidden": 8}, steps=20))
    lines = demo_lines([run], seed=5)
    sample = run.task.sample(1, generator_for(5))
    show = {4: "_", 5: ":"}
    assert cells(lines[0]) == [show.get(t, str(t)) for t in sample.x[0].tolist()]
    assert cells(lines[0])[12] == ":" and sum(c != "_" for c in cells(lines[0])[:12]) == 4
    check_answers(lines, run, sample, lambda t: show.get(t, str(t)))


def test_a_long_row_keeps_every_answer_in_view(tmp_path):
    """zoology's MQAR over 1024 steps with uniform gaps: queries far past the first and last 60 steps."""
    task = {"name": "associative-recall", "layout": "zoology", "pairs": 6, "queries": 6, "length": 1024,
            "vocab": 2048, "power_a": 1.0, "test_size": 4, "validation_size": 4}
    run = seqmem.load(make_run(tmp_path / "zoo", task, {"name": "attention", "d_model": 16, "layers": 1}))
    sample = run.task.get("test", torch.tensor([0]))
    asked = sample.recall[0].nonzero().flatten().tolist()
    assert any(60 + 2 < t < 1024 - 60 - 2 for t in asked)  # some answer would fall in a cut
    lines = demo_lines([run])
    target, given, inputs = cells(lines[1]), cells(lines[2]), cells(lines[0])
    assert "..." in target and len(target) < 1024 // 2
    answers = model_answers(run, sample)
    shown = [c for c in target if c not in (".", "...")]
    assert shown == [run.task.show(int(sample.y[0, t])) for t in asked]
    assert [c for c in given if c not in (".", "...")] == [
        run.task.show(int(answers[t])) + ("" if answers[t] == sample.y[0, t] else "!") for t in asked]
    for t in asked:  # each answer stands below its query key, with the steps either side
        i = [j for j, c in enumerate(target) if c not in (".", "...")][asked.index(t)]
        assert inputs[i - 2 : i + 3] == [run.task.show(int(v)) for v in sample.x[0, t - 2 : t + 3]]
    assert starts(lines[0]) == starts(lines[1]) == starts(lines[2])
    right = int(((answers == sample.y[0]) & sample.recall[0]).sum())
    assert lines[3].split()[1:4] == [str(right), "of", "6"] and "not shown" not in lines[3]


def test_shown_steps_cut_long_rows_but_keep_a_window_around_each_answer():
    assert shown_steps(10, [3]) == list(range(10))
    steps = shown_steps(1000, [500, 990])
    assert steps == list(range(60)) + [498, 499, 500, 501, 502] + list(range(940, 1000))
    many = shown_steps(10000, list(range(100, 9000, 10)))  # more answers than fit: the first and last few
    assert 100 in many and 8990 in many and 5000 not in many


def test_copy_memory_digits_read_float_inputs_as_symbols(tmp_path):
    """locuslab's layout feeds the symbols as one float channel: the demo reads them as the same symbols."""
    task = {"name": "copy-memory", "blank": 6, "recall_length": 3, "test_size": 4, "validation_size": 4}
    run = seqmem.load(make_run(tmp_path / "digits", task, {"name": "gru", "hidden": 8}))
    lines = demo_lines([run], index=2)
    sample = run.task.get("test", torch.tensor([2]))
    digits = [str(int(v)) for v in sample.x[0, :3, 0]]
    assert set(digits) <= set("12345678")
    assert cells(lines[0]) == digits + ["_"] * 5 + [":"] * 4
    assert cells(lines[1]) == ["."] * 9 + digits
    check_answers(lines, run, sample, lambda t: {0: "_", 9: ":"}.get(t, str(t)))


def test_a_per_sequence_answer_stands_at_the_last_step(tmp_path):
    task = {"name": "temporal-order", "length": 20, "test_size": 10}
    run = seqmem.load(make_run(tmp_path / "order", task, {"name": "gru", "hidden": 8}))
    lines = demo_lines([run], index=1)
    sample = run.task.get("test", torch.tensor([1]))
    x = cells(lines[0])
    assert x[0] == "E" and x[-1] == "B" and set(x) - set("abcdEB") <= {"X", "Y"}
    assert sum(c in "XY" for c in x) == 2
    target, given = cells(lines[1]), cells(lines[2])
    assert target[:-1] == given[:-1] == ["."] * 19
    assert target[-1] == ("XX", "XY", "YX", "YY")[int(sample.y[0])]
    answer = int(model_answers(run, sample))
    assert given[-1].rstrip("!") == ("XX", "XY", "YX", "YY")[answer]
    assert given[-1].endswith("!") == (answer != int(sample.y[0]))


def test_a_regression_answer_is_the_number_right_within_tolerance(tmp_path):
    run = seqmem.load(make_run(tmp_path / "adding", {"name": "adding", "length": 12, "test_size": 10},
                               {"name": "gru", "hidden": 8}))
    lines = demo_lines([run])
    sample = run.task.get("test", torch.tensor([0]))
    with torch.no_grad():
        out = float(run.model.eval()(sample.x)[0].reshape(-1)[0])
    assert cells(lines[1])[-1] == f"{float(sample.y[0]):.3f}"
    right = abs(out - float(sample.y[0])) < run.task.tolerance
    assert cells(lines[2])[-1] == f"{out:.3f}" + ("" if right else "!")
    assert cells(lines[0])[0] == "/".join(f"{round(float(v), 2):g}" for v in sample.x[0, 0])


def test_cli_demo_refuses_runs_of_different_tasks(tmp_path, fixed_run, capsys):
    other = make_run(tmp_path / "other", {"name": "echo-letters", "delay": 2, "test_size": 20}, {"name": "gru", "hidden": 8})
    assert main(["demo", str(fixed_run), str(other)]) == 2
    assert "different tasks" in capsys.readouterr().err


def test_cli_demo_refuses_a_negative_seed(fixed_run, capsys):
    assert main(["demo", str(fixed_run), "--seed", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("seqmem: error: --seed must be an integer >= 0") and err.count("\n") == 1
