"""`seqmem demo` and `predict_text`: the output format, on small runs trained for a few updates."""

import pytest
import torch

import seqmem
from seqmem.cli import main
from seqmem.errors import ConfigError
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


def test_cli_demo_copy_memory_shows_two_runs_side_by_side(tmp_path, capsys):
    task = {"name": "copy-memory", "blank": 15, "convention": "symbols", "test_size": 10}
    a = make_run(tmp_path / "a", task, {"name": "rnn", "hidden": 8})
    b = make_run(tmp_path / "b", task, {"name": "gru", "hidden": 8})
    assert main(["demo", str(a), str(b), "--index", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["input", "target", str(a), str(b)]
    sample = seqmem.load(a).task.get("test", torch.tensor([3]))
    assert [int(v) for v in lines[0].split()[1:]] == sample.x[0].tolist()
    assert [int(v) for v in lines[1].split()[1:]] == sample.y[0].tolist()
    assert all(len(line.split()) == 1 + 35 for line in lines)
    assert main(["demo", str(a), "abc"]) == 2
    assert "echo-letters" in capsys.readouterr().err


def test_cli_demo_refuses_runs_of_different_tasks(tmp_path, fixed_run, capsys):
    other = make_run(tmp_path / "other", {"name": "echo-letters", "delay": 2, "test_size": 20}, {"name": "gru", "hidden": 8})
    assert main(["demo", str(fixed_run), str(other)]) == 2
    assert "different tasks" in capsys.readouterr().err


def test_cli_demo_refuses_a_negative_seed(fixed_run, capsys):
    assert main(["demo", str(fixed_run), "--seed", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("seqmem: error: --seed must be an integer >= 0") and err.count("\n") == 1
