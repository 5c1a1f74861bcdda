"""Image sequence tasks on tiny IDX files written here; one test reads the real Fashion-MNIST files, where
Debian's dataset-fashion-mnist has installed them."""

import json
import math
from pathlib import Path

import pytest
import torch

from seqmem.cli import main
from seqmem.errors import ConfigError
from seqmem.run.build import make_task
from seqmem.run.experiment import run_experiment
from seqmem.tasks.idx import write_idx
from seqmem.tasks.images import MissingDataError, fixed_permutation, search_folders

NAMES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def make_data(folder, n_train=40, n_test=20, side=4, gz=True, seed=0, cue=False):
    """Random images and labels; with `cue`, the label (0 or 1) is written in the first pixel only, so the
    answer needs memory of the start of the sequence."""
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    data = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = torch.randint(0, 256, (n, side, side), dtype=torch.uint8, generator=g)
        labels = torch.randint(0, 2 if cue else 10, (n,), dtype=torch.uint8, generator=g)
        if cue:
            images[:, 0, 0] = labels * 255
        suffix = ".gz" if gz else ""
        write_idx(folder / (NAMES[split][0] + suffix), images)
        write_idx(folder / (NAMES[split][1] + suffix), labels)
        data[split] = images, labels
    return data


@pytest.fixture(autouse=True)
def no_installed_data(monkeypatch, tmp_path):
    """Search only the test's own folders: an empty working directory and no SEQMEM_DATA."""
    monkeypatch.delenv("SEQMEM_DATA", raising=False)
    monkeypatch.chdir(tmp_path)


def test_sequence_layout_and_normalisation(tmp_path):
    data = make_data(tmp_path / "d")
    images, labels = data["train"]
    task = make_task("sequential-mnist", data_dir=str(tmp_path / "d"), normalize="none")
    assert (task.span, task.input_channels, task.per_step, task.size("train"), task.size("test")) == (16, 1, False, 37, 20)
    batch = task.get("train", torch.tensor([3, 0]))
    rows = task.rows["train"][[3, 0]]  # training rows are the file's rows less the validation ones
    assert batch.x.shape == (2, 16, 1) and batch.y.tolist() == labels[rows].tolist()
    assert batch.recall.tolist() == [True, True]
    assert torch.allclose(batch.x[0, :, 0], images[rows[0]].flatten().float() / 255)
    # four channels: channel c carries the c-th quarter of the pixel sequence, as the source notebook's view
    four = make_task("sequential-mnist", data_dir=str(tmp_path / "d"), normalize="mnist", input_channels=4)
    x = four.get("test", torch.tensor([1])).x[0]
    pixels = (data["test"][0][1].flatten().float() / 255 - 0.1307) / 0.3081
    assert x.shape == (4, 4) and torch.allclose(x[:, 2], pixels[8:12]) and torch.allclose(x[1], pixels[[1, 5, 9, 13]])


def test_data_normalisation_uses_training_statistics(tmp_path):
    make_data(tmp_path / "d")
    task = make_task("sequential-fashion-mnist", data_dir=str(tmp_path / "d"))
    x = task.get("train", torch.arange(task.size("train"))).x
    assert abs(x.mean().item()) < 1e-5 and abs(x.std(unbiased=False).item() - 1) < 1e-5


def test_input_channels_must_divide_the_pixels(tmp_path):
    make_data(tmp_path / "d")
    with pytest.raises(ConfigError, match="input_channels must divide the 16 pixels.*1, 2, 4, 8, 16"):
        make_task("sequential-mnist", data_dir=str(tmp_path / "d"), input_channels=3)


def test_fixed_permutation_is_a_stable_permutation():
    p = fixed_permutation(784, 0)
    assert sorted(p.tolist()) == list(range(784))
    assert torch.equal(p, fixed_permutation(784, 0))
    assert not torch.equal(p, fixed_permutation(784, 1))
    assert p[:8].tolist() == [242, 23, 688, 732, 664, 567, 480, 506]  # pinned: the same on every machine
    assert fixed_permutation(10, 0).tolist() == [3, 6, 4, 0, 7, 8, 5, 9, 1, 2]


def test_permuted_task_permutes_the_sequential_one(tmp_path):
    make_data(tmp_path / "d")
    folder = str(tmp_path / "d")
    plain = make_task("sequential-mnist", data_dir=folder).get("test", torch.arange(5)).x[..., 0]
    permuted = make_task("permuted-mnist", data_dir=folder, permute_seed=7)
    assert torch.equal(permuted.get("test", torch.arange(5)).x[..., 0], plain[:, fixed_permutation(16, 7)])
    again = make_task("permuted-mnist", data_dir=folder, permute_seed=7)
    assert torch.equal(again.permutation, permuted.permutation)
    assert permuted.params()["permute_seed"] == 7
    assert "permute_seed" not in make_task("sequential-mnist", data_dir=folder).params()


def test_validation_split_is_held_back_deterministically(tmp_path):
    make_data(tmp_path / "d")
    folder = str(tmp_path / "d")
    task = make_task("sequential-mnist", data_dir=folder, validation=10, train_size=25)
    train, valid = set(task.rows["train"].tolist()), set(task.rows["validation"].tolist())
    assert (len(train), len(valid), train & valid) == (25, 10, set())
    assert train | valid <= set(range(40))
    same = make_task("sequential-mnist", data_dir=folder, validation=10, train_size=25)
    assert torch.equal(same.rows["validation"], task.rows["validation"])
    default = make_task("sequential-mnist", data_dir=folder)  # a twelfth held back, the rest trains
    assert (default.size("validation"), default.size("train"), default.params()["validation"]) == (3, 37, 3)
    with pytest.raises(ConfigError, match="train_size must be at most 30"):
        make_task("sequential-mnist", data_dir=folder, validation=10, train_size=31)
    with pytest.raises(ConfigError, match="validation must be an integer >= 1"):
        make_task("sequential-mnist", data_dir=folder, validation=0)


def test_baseline_is_the_training_class_prior(tmp_path):
    data = make_data(tmp_path / "d")
    task = make_task("sequential-mnist", data_dir=str(tmp_path / "d"))
    train_labels, test_labels = data["train"][1][task.rows["train"]].long(), data["test"][1].long()
    prior = torch.bincount(train_labels, minlength=10).double() / len(train_labels)
    majority = int(prior.argmax())
    base = task.baseline()
    assert math.isclose(base.loss, -sum(math.log(prior[y]) for y in test_labels.tolist()) / 20)
    assert base.accuracy == base.recall_accuracy == (test_labels == majority).double().mean().item()


@pytest.mark.parametrize("layout", ["raw", "MNIST/raw", "."])
def test_torchvision_and_raw_layouts_are_found(tmp_path, layout):
    make_data(tmp_path / "root" / layout, gz=False)
    assert make_task("sequential-mnist", data_dir=str(tmp_path / "root")).size("test") == 20


def test_default_search_places(tmp_path, monkeypatch):
    make_data(tmp_path / "store" / "fashion-mnist")
    monkeypatch.setenv("SEQMEM_DATA", str(tmp_path / "store"))
    assert make_task("sequential-fashion-mnist").size("train") == 37
    assert search_folders("fashion-mnist")[-1].as_posix() == "/usr/share/datasets/fashion-mnist"
    assert search_folders("mnist", "x")[2].as_posix() == "x/MNIST/raw"


def test_missing_data_names_files_places_and_the_fix(tmp_path):
    folder = tmp_path / "half"
    make_data(folder)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(MissingDataError) as error:
        make_task("permuted-fashion-mnist", data_dir=str(folder))
    message = str(error.value)
    for part in ("permuted-fashion-mnist", "t10k-labels-idx1-ubyte", str(folder), str(folder / "FashionMNIST/raw"),
                 "has only t10k-images-idx3-ubyte, train-images-idx3-ubyte, train-labels-idx1-ubyte",
                 "apt-get install dataset-fashion-mnist"):
        assert part in message
    assert "\n" not in message


def test_cli_without_mnist_exits_2_with_one_line(capsys):
    assert main(["train", "--recipe", "seed-smnist-tcn", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "train-images-idx3-ubyte" in err and "data/mnist" in err and "--data-dir" in err
    assert "https://" in err


def test_recipes_hold_the_notebook_settings():
    from seqmem.recipes import load_recipe

    for name, task in (("seed-smnist-tcn", "sequential-mnist"), ("seed-pmnist-tcn", "permuted-mnist"),
                       ("seed-sfmnist-tcn", "sequential-fashion-mnist"), ("seed-pfmnist-tcn", "permuted-fashion-mnist")):
        recipe = load_recipe(name)
        assert recipe["task"]["name"] == task
        assert recipe["model"] == {"name": "tcn", "levels": 8, "kernel_size": 7, "channels": 30, "dropout": 0.05}
        assert recipe["train"] == {"optimizer": "adam", "lr": 2e-3, "batch_size": 128, "epochs": 5, "seed": 1111}


def test_recurrent_models_classify_from_the_last_step(tmp_path):
    from seqmem.run.build import make_model

    make_data(tmp_path / "d")
    task = make_task("sequential-mnist", data_dir=str(tmp_path / "d"), input_channels=2)
    logits, _ = make_model("gru", task, hidden=8)(task.get("train", torch.arange(3)).x)
    assert logits.shape == (3, 10)


@pytest.mark.parametrize("task_name", ["sequential-mnist", "permuted-mnist"])
def test_a_tcn_learns_a_cue_it_must_remember(tmp_path, task_name):
    """The label sits in the first pixel only; the last step must carry it to score well above the prior."""
    make_data(tmp_path / "d", n_train=256, n_test=128, cue=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is faster on a busy machine
    try:
        config = {"task": {"name": task_name, "data_dir": str(tmp_path / "d"), "validation": 64},
                  "model": {"name": "tcn", "levels": 2, "kernel_size": 5, "channels": 8, "init_std": 0.0},
                  "train": {"steps": 60, "batch_size": 32, "lr": 1e-2, "seed": 3}}
        summary = run_experiment(config, tmp_path / "run", progress=False, say=lambda _: None)
    finally:
        torch.set_num_threads(threads)
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())["task"]
    assert recorded["validation"] == 64 and recorded.get("permute_seed", 0) == 0
    assert summary["baseline"]["accuracy"] < 0.6
    assert summary["accuracy"] > 0.85, summary


def test_benchmark_quick_mode_writes_its_json_lines(tmp_path, monkeypatch):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent.parent / "benchmarks" / "smnist_tcn.py"
    monkeypatch.syspath_prepend(str(path.parent))  # its harness, as the script finds it beside itself
    spec = importlib.util.spec_from_file_location("smnist_tcn", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    make_data(tmp_path / "d", n_train=32, n_test=16)
    threads = torch.get_num_threads()
    try:
        assert bench.run(["--quick", "--threads", "1", "--data-dir", str(tmp_path / "d"),
                           "--out", str(tmp_path / "out.jsonl")]) == 0
    finally:
        torch.set_num_threads(threads)
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [line["metric"] for line in lines] == ["train_throughput", "train_seconds_per_batch", "test_accuracy"]
    assert all(line["benchmark"] == "smnist_tcn" and line["value"] > 0 for line in lines[:2])
    assert lines[0]["parameters"] == 96040 and lines[2]["test_images"] == 16 and 0 <= lines[2]["value"] <= 1


REAL = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not (REAL / "t10k-labels-idx1-ubyte.gz").exists(),
                    reason="the Debian package dataset-fashion-mnist is not installed (make test installs it as root)")
def test_the_real_fashion_mnist_reads_as_ten_balanced_classes_of_784_pixels():
    """The files as the Debian package ships them: 60000 training and 10000 test images, 1000 of each class
    in the test set, the validation split held out of training, a memoryless baseline of 1/10."""
    task = make_task("sequential-fashion-mnist", data_dir=str(REAL))
    assert task.size("test") == 10000 and task.size("train") + task.size("validation") == 60000
    assert torch.bincount(task.labels("test"), minlength=10).tolist() == [1000] * 10
    batch = task.get("test", torch.arange(8))
    assert batch.x.shape == (8, 784, 1) and batch.y.tolist() == task.labels("test")[:8].tolist()
    assert abs(task.baseline().accuracy - 0.1) < 1e-9
