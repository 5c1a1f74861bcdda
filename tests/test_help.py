"""Help for every setting: --help groups each under its owners with its help and default, `seqmem models NAME`
shows one class's settings, and a mistyped flag or name is refused in one line with the nearest known one."""

import re
from pathlib import Path

import pytest

from seqmem.cli import VERBS, build_parser, main
from seqmem.config.compose import REGISTRIES, section_params
from seqmem.config.settings import docstring_help

MIN_GRU = str(Path(__file__).resolve().parents[1] / "examples" / "min_gru.py") + ":MinGRU"


def help_groups(args, capsys) -> dict[str, str]:
    """`seqmem ARGS --help` as {group title: its text}."""
    with pytest.raises(SystemExit) as done:
        main([*args, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    return {m[1]: m[2] for m in re.finditer(r"^(\S[^\n]*):\n(.*?)(?=^\S|\Z)", text, re.S | re.M)}


def flag_help(group: str, flag: str) -> str:
    """The help of `flag` in a group's text, its wrapped lines joined."""
    found = re.search(rf"^  {re.escape(flag)} \S+\s+(.*?)(?=^  --|\Z)", group, re.S | re.M)
    assert found, f"{flag} not in {group!r}"
    return " ".join(found[1].split())


def test_train_help_puts_each_setting_under_its_owners_with_its_help_and_default(capsys):
    groups = help_groups(["train"], capsys)
    assert flag_help(groups["model tcn"], "--levels").startswith("residual blocks; level i dilates by 2**i")
    assert flag_help(groups["model tcn"], "--levels").endswith("(default 8)")
    assert flag_help(groups["model gru, lstm, rnn"], "--hidden") == "units of each recurrent layer (default 128)"
    assert flag_help(groups["task copy-memory, selective-copy"], "--recall-length") == \
        "symbols to remember and reproduce (default 10 for copy-memory; 8 for selective-copy)"
    assert flag_help(groups["method tbptt"], "--chunk-length") == "steps a truncated-BPTT chunk (required)"
    assert flag_help(groups["training"], "--batch-size") == "sequences a batch (default 32)"
    layers = [title for title, text in groups.items() if "--layers" in text]  # shared, with each owner's help
    assert len(layers) == 1 and layers[0].startswith("model ")  # the mixers of seqmem/mixers among them
    assert {"attention", "gru", "lru", "lstm", "mamba", "rnn", "s4d"} <= set(layers[0].removeprefix("model ").split(", "))
    text = flag_help(groups[layers[0]], "--layers")  # the mixers of seqmem/mixers after the models, in each part
    mixers = r"(, [\w -]+)*"  # names, a long one maybe broken at its hyphen where the help wraps
    assert re.fullmatch(rf"attention, lru, mamba, s4d{mixers}: residual blocks stacked \(default 2 for attention, "
                        rf"mamba{mixers}; 4 for lru, s4d\); rnn, gru, lstm: recurrent layers stacked \(default 1\)", text)
    assert "--hidden" not in groups["model tcn"] and "--levels" not in groups["model gru, lstm, rnn"]


def test_help_narrows_to_the_named_task_and_model_and_still_takes_every_flag(capsys):
    groups = help_groups(["sweep", "copy-memory", "--model", "tcn"], capsys)
    assert "model tcn" in groups and "task copy-memory" in groups
    assert not any("gru" in title or "echo" in title for title in groups)
    assert flag_help(groups["model tcn"], "--dropout") == "dropout probability inside each block (0: off) (default 0.0)"
    args = build_parser().parse_args(["train", "copy-memory", "--model", "tcn", "--hidden", "3"])
    assert vars(args)["param.hidden"] == "3"  # refused by the config, naming the setting, not by the parser
    assert tuple(build_parser().verbs) == VERBS  # what build_parser reads argv's verb against


def test_every_built_in_setting_has_a_help_line():
    missing = [f"{section} {name}: {key}" for section, registry in REGISTRIES.items() for name in registry
               for key, param in section_params(section, name).items() if not param.help]
    assert missing == []
    assert all(p.help for p in section_params("train").values())


def test_models_name_shows_each_setting_with_type_default_and_help(capsys):
    assert main(["models", "tcn"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("model tcn: temporal convolutional network")
    assert re.search(r"^  --kernel-size\s+int\s+8\s+taps of each causal convolution$", out, re.M)
    assert re.search(r"^  --dropout\s+float\s+0\.0\s+dropout probability", out, re.M)
    assert main(["tasks", "echo-letters"]) == 0
    assert re.search(r"^  --max-delay\s+int \| none\s+none\s+draw each", capsys.readouterr().out, re.M)
    assert main(["methods", "bptt"]) == 0
    assert "no settings of its own" in capsys.readouterr().out


def test_models_name_reads_a_users_class_and_its_docstring(tmp_path, capsys):
    assert main(["models", MIN_GRU]) == 0
    assert re.search(r"^  --hidden\s+int\s+64\s+units of the state", capsys.readouterr().out, re.M)
    bare = tmp_path / "bare.py"  # no docstring: the settings are still shown, with no help
    bare.write_text("class Net:\n    receptive_field = 1\n    def __init__(self, task, width: int = 3, rate: float = 0.5):\n"
                    "        pass\n")
    assert main(["models", f"{bare}:Net"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  --width\s+int\s+3\s*$", out, re.M) and re.search(r"^  --rate\s+float\s+0\.5\s*$", out, re.M)


def test_docstring_args_are_read_with_continuations_and_types():
    doc = """Summary line.

    Args:
        width (int): units
            of each layer
        rate: a number: with a colon

    Returns:
        nothing: this is not a setting
    """
    assert docstring_help(doc) == {"width": "units of each layer", "rate": "a number: with a colon"}
    assert docstring_help("Just a summary, width: not a setting.") == {} and docstring_help(None) == {}


@pytest.mark.parametrize("args,expected", [
    (["train", "copy-memory", "--model", "gru", "--hiden", "3"], "unrecognized arguments: --hiden 3 (did you mean --hidden?)"),
    (["sweep", "copy-memory", "--model", "gru", "--worker=1"], "unrecognized arguments: --worker=1 (did you mean --workers?)"),
    (["train", "copy-memroy", "--model", "gru"], "unknown task 'copy-memroy' (did you mean copy-memory?)"),
    (["models", "tnc"], "unknown model 'tnc' (did you mean tcn?)"),
    (["train", "copy-memory", "--model", "gru", "--method", "tbtt"], "(did you mean tbptt?)"),
    (["train", "copy-memory", "--model", "gru", "--set", "model.hiden=3"], "no setting 'hiden' (did you mean hidden?)"),
    (["train", "--recipe", "seed-copy-tcm"], "unknown recipe 'seed-copy-tcm' (did you mean seed-copy-tcn?)"),
    (["trian"], "invalid choice: 'trian'"),
    (["suite", "nope"], "unknown suite 'nope': choose one of quick"),
])
def test_a_mistyped_flag_or_name_is_refused_in_one_line_with_the_nearest(args, expected, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err
    assert ("did you mean" in err) == (args != ["suite", "nope"])  # nothing near "nope": the list, no guess
    assert not list(tmp_path.iterdir())


def test_a_name_near_nothing_gets_no_guess(capsys):
    assert main(["models", "transformer"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'transformer'" in err and "did you mean" not in err and "tcn" in err
