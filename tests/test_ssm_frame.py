"""s4d, lru and mamba as mixers on the backbone (seqmem/models/ssm_frame.py): the same models as their own
frames built (parameters, names of the dynamics, the embedding kept from decay, the same function of the same
weights), and a run folder the old frames wrote (tests/old_runs: made by seqmem at commit b4fb6f9, 2 updates
of copy memory at width 4; logits.pt its model's logits on 4 test sequences, computed by that code) refused in
one line, before anything in it is changed. initial.pt: the logits of models freshly built from seed 3 by that
code, two layers, with and without the input map."""

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

import seqmem
from seqmem.errors import ConfigError
from seqmem.models import count_parameters
from seqmem.models.backbone import Backbone
from seqmem.models.ssm_frame import written_by_old_frame
from seqmem.run.experiment import run_experiment
from seqmem.training.methods.shared import decays

OLD_RUNS = Path(__file__).parent / "old_runs"
MODELS = ("s4d", "lru", "mamba")
RENAMED = [(r"^norms\.(\d+)\.", r"blocks.\1.mixer_norm."), (r"^ssms\.(\d+)\.", r"blocks.\1.mixer.ssm."),
           (r"^mixes\.(\d+)\.", r"blocks.\1.mixer.mix."), (r"^blocks\.(\d+)\.norm\.", r"blocks.\1.mixer_norm."),
           (r"^blocks\.(\d+)\.(lru|mix)\.", r"blocks.\1.mixer.\2."),
           (r"^blocks\.(\d+)\.(?!mixer)", r"blocks.\1.mixer.")]  # old frame's key -> the backbone's


def mqar():
    return seqmem.make_task("associative-recall", layout="zoology", length=64, pairs=4, queries=4, vocab=256,
                            test_size=8, validation_size=8)


@pytest.mark.parametrize("name, parameters", [("s4d", 70848), ("mamba", 102848)])
def test_the_mqar_recipes_build_the_model_of_the_old_frame(name, parameters):
    """The mqar-64 recipes' settings (width 64, 2 layers, an embedding of 64 then the input map): the old
    frame's parameter count, blocks of the mixer alone (no MLP), the embedding kept from weight decay."""
    model = seqmem.make_model(name, mqar(), d_model=64, layers=2, encoder="embedding", embedding_dim=64,
                              state_size=64 if name == "s4d" else 16)
    assert isinstance(model, Backbone) and count_parameters(model) == parameters
    assert all(block.state_mixer is None for block in model.blocks)
    assert isinstance(model.input, torch.nn.Linear) and model.encoder.embedding.embedding_dim == 64
    assert not decays("encoder.embedding.weight", model.encoder.embedding.weight)


@pytest.mark.parametrize("name, parameters", [("s4d", 67978), ("lru", 101258), ("mamba", 66442)])
def test_the_defaults_build_the_model_of_the_old_frame(name, parameters):
    """Copy memory (blank 10, recall 3) at each model's defaults: the old frame's parameter counts, its
    dynamics still named as weight decay spares them."""
    model = seqmem.make_model(name, seqmem.make_task("copy-memory", blank=10, recall_length=3))
    assert count_parameters(model) == parameters
    names = {n.rsplit(".", 1)[-1] for n, p in model.named_parameters() if p.dim() >= 2 and not decays(n, p)}
    assert names == {"s4d": {"log_neg_A_real", "A_imag"}, "lru": set(), "mamba": {"A_log"}}[name]


@pytest.mark.parametrize("name", MODELS)
def test_a_checkpoint_of_the_new_frame_loads_and_is_not_taken_for_an_old_one(name):
    model = seqmem.make_model(name, seqmem.make_task("copy-memory", blank=3, recall_length=2), d_model=4,
                              layers=2, state_size=2)
    assert not any(written_by_old_frame(k) for k in model.state_dict())
    model.load_state_dict(model.state_dict())


@pytest.mark.parametrize("name", MODELS)
def test_an_old_run_folder_is_refused_in_one_line_for_demo_and_resume(name, tmp_path):
    run = tmp_path / name
    shutil.copytree(OLD_RUNS / name, run)
    with pytest.raises(ConfigError) as loaded:
        seqmem.load(run)
    message = str(loaded.value)
    assert "\n" not in message and f"{name} weights from before its move onto the backbone" in message
    assert "train it again, or load it with seqmem at commit b4fb6f9" in message
    (run / "summary.json").unlink()  # as if it had stopped before its end: training the same config resumes it
    config = json.loads((run / "config.json").read_text())
    before = (run / "config.json").read_bytes(), (run / "checkpoint.pt").read_bytes()
    with pytest.raises(ConfigError, match=f"{name} weights from before its move onto the backbone"):
        run_experiment({k: v for k, v in config.items() if k != "sources"}, run, progress=False, say=lambda _: None)
    assert ((run / "config.json").read_bytes(), (run / "checkpoint.pt").read_bytes()) == before


def renamed(key: str) -> str:
    for old, new in RENAMED:
        key, count = re.subn(old, new, key)
        if count:
            return key
    return key


@pytest.mark.parametrize("name", MODELS)
def test_the_old_frames_weights_renamed_give_the_same_logits(name):
    """Each old run's weights, under the backbone's names, in the model its config.json builds now: the
    logits the old frame gave (so the move changed how the model is assembled, not what it computes)."""
    config = json.loads((OLD_RUNS / name / "config.json").read_text())
    task = seqmem.make_task(config["task"].pop("name"), **config["task"])
    model = seqmem.make_model(config["model"].pop("name"), task, **config["model"]).eval()
    weights = torch.load(OLD_RUNS / name / "checkpoint.pt", weights_only=True)["model"]
    model.load_state_dict({renamed(k): v for k, v in weights.items()})
    old = torch.load(OLD_RUNS / name / "logits.pt", weights_only=True)
    with torch.no_grad():
        torch.testing.assert_close(model(old["x"])[0], old["logits"], rtol=0, atol=1e-6)


def test_a_seed_draws_the_weights_the_old_frame_drew():
    """Built from the same seed, each model gives the old frame's logits to the last bit: its weights are drawn
    in the old order, so a recipe's run is the run it was."""
    fixture = torch.load(OLD_RUNS / "initial.pt", weights_only=True)
    task = seqmem.make_task(fixture["task"].pop("name"), **fixture["task"])
    assert len(fixture["models"]) == 6
    for old in fixture["models"]:
        model = seqmem.make_model(old["name"], task, seed=3, **old["settings"]).eval()
        with torch.no_grad():
            assert torch.equal(model(fixture["x"])[0], old["logits"]), old["name"]


def test_the_keys_only_the_old_frames_wrote():
    assert written_by_old_frame("norms.0.weight") and written_by_old_frame("ssms.1.log_dt")
    assert written_by_old_frame("blocks.0.lru.nu_log") and written_by_old_frame("blocks.2.in_proj.weight")
    assert not written_by_old_frame("blocks.0.mixer.ssm.log_dt") and not written_by_old_frame("blocks.0.mixer_norm.bias")
    assert not written_by_old_frame("input.weight") and not written_by_old_frame("head.linear.bias")
