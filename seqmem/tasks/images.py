"""Sequential and permuted image classification (sMNIST, pMNIST, sequential Fashion-MNIST).

An image is read as a sequence of `pixels / input_channels` steps and classified from the last step, so
the answer needs memory of the whole sequence. As in the TCN paper's script, the (optionally permuted)
row-major pixel sequence is cut into `input_channels` equal pieces that run side by side: channel c at
step t is pixel `c * L + t`. With one channel that is one pixel a step; with 28 channels on MNIST, step t
is column t. The permutation is drawn from its own seed by hashing, so it is the same on every machine
and every version of torch.

The data are the four standard IDX files, read from a folder already on disk (see `search_folders`).
Pixels are kept as uint8 and normalised per batch, so the training set costs 47 MB, not 188.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from seqmem.config.settings import check_int
from seqmem.errors import ConfigError
from seqmem.tasks import register_task
from seqmem.tasks.base import Baseline, Batch, Task, check_choice
from seqmem.tasks.idx import read_pair

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # the usual MNIST constants (the source notebook's)


@dataclass(frozen=True)
class Dataset:
    folder: str  # its folder name under a data root, and under /usr/share/datasets
    torchvision: str  # the folder torchvision's loader leaves behind: <root>/<torchvision>/raw
    how: str  # how to get the files, for the error that says they are missing


DATASETS = {
    "mnist": Dataset(
        "mnist", "MNIST",
        "download the four .gz files once by hand from https://ossci-datasets.s3.amazonaws.com/mnist/ (a mirror "
        "of http://yann.lecun.com/exdb/mnist/) into a folder, then pass --data-dir FOLDER or put them in data/mnist",
    ),
    "fashion-mnist": Dataset(
        "fashion-mnist", "FashionMNIST",
        "install them with `apt-get install dataset-fashion-mnist` (it puts them in /usr/share/datasets/fashion-mnist), "
        "or download the four files from https://github.com/zalandoresearch/fashion-mnist (folder data/fashion) "
        "and pass --data-dir FOLDER",
    ),
}


class MissingDataError(ConfigError):
    """The data files are not where we looked."""


def search_folders(dataset: str, data_dir: str = "") -> list[Path]:
    """Where the files may be, in order: under `data_dir` if given, else `$SEQMEM_DATA`, `data/` and
    `/usr/share/datasets/` (where Debian's dataset packages install). A root may hold the files itself,
    in `raw/`, or in torchvision's `<Name>/raw/`."""
    d = DATASETS[dataset]
    if data_dir:
        root = Path(data_dir).expanduser()
        return [root, root / "raw", root / d.torchvision / "raw"]
    roots = [Path(os.environ["SEQMEM_DATA"]).expanduser()] if os.environ.get("SEQMEM_DATA") else []
    roots.append(Path("data"))
    folders = []
    for root in roots:
        folders += [root / d.folder, root / d.folder / "raw", root / d.torchvision / "raw"]
    return folders + [Path("/usr/share/datasets") / d.folder]


def file_variants(name: str) -> list[str]:
    """The standard name, gzipped or not, and the dotted form some mirrors use (train-images.idx3-ubyte)."""
    dotted = name.replace("-idx", ".idx")
    return [name, name + ".gz", dotted, dotted + ".gz"]


def find_in(folder: Path) -> dict[str, Path]:
    """The standard files present in `folder`, by standard name."""
    found = {}
    for names in FILES.values():
        for name in names:
            for variant in file_variants(name):
                if (folder / variant).is_file():
                    found[name] = folder / variant
                    break
    return found


def locate(dataset: str, data_dir: str = "", task: str = "") -> dict[str, Path]:
    """The four files of the first folder that holds them all, or an error naming what, where, and how."""
    folders = search_folders(dataset, data_dir)
    partial = []
    for folder in folders:
        found = find_in(folder)
        if len(found) == 4:
            return found
        if found:
            partial.append(f"{folder.absolute()} has only {', '.join(sorted(found))}")
    wanted = [name for names in FILES.values() for name in names]
    where = ", ".join(str(f.absolute()) for f in folders)
    raise MissingDataError(
        f"{task or dataset} needs the {dataset} files {', '.join(wanted)} (.gz or not); none of these folders "
        f"holds all four: {where}{'; ' + '; '.join(partial) if partial else ''}. To get them: {DATASETS[dataset].how}"
    )


@functools.lru_cache(maxsize=2)
def load_cached(files: tuple[tuple[str, int, int], ...]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Read each split once per process (a sweep checks every point's task before running it); keyed by path,
    mtime and size."""
    paths = [f[0] for f in files]
    return {"train": read_pair(paths[0], paths[1]), "test": read_pair(paths[2], paths[3])}


def load(files: dict[str, Path]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    order = [files[name] for names in FILES.values() for name in names]
    return load_cached(tuple((str(p.resolve()), p.stat().st_mtime_ns, p.stat().st_size) for p in order))


def fixed_permutation(n: int, seed: int, salt: str = "permutation") -> torch.Tensor:
    """A permutation of range(n) given by sorting BLAKE2 hashes of (salt, seed, i): the same everywhere."""
    keys = [hashlib.blake2b(f"{salt}:{seed}:{i}".encode(), digest_size=8).digest() for i in range(n)]
    return torch.tensor(sorted(range(n), key=keys.__getitem__), dtype=torch.long)


def pixel_statistics(images: torch.Tensor) -> tuple[float, float]:
    """Mean and standard deviation of the pixels (on the 0..1 scale), exactly, from a 256-bin histogram."""
    counts = torch.bincount(images.reshape(-1), minlength=256).double()
    values = torch.arange(256, dtype=torch.float64) / 255
    total = counts.sum()
    mean = (counts * values).sum() / total
    variance = (counts * (values - mean) ** 2).sum() / total
    return float(mean), float(variance.sqrt())


class ImageSequence(Task):
    """An image data set read as a sequence; subclasses set `dataset` and whether pixels are permuted.

    `validation` holds back that many training images (chosen by a fixed hash, the same every run) as the
    split "validation", which early stopping reads (default: a twelfth, 5000 of MNIST's 60000).

    Args:
        data_dir: folder of the four IDX files (default: searched in $SEQMEM_DATA, data/ and /usr/share/datasets)
        input_channels: pixels read a step, side by side (1: one a step; 28 on MNIST: a column a step)
        normalize: data (the training images' mean and deviation), mnist (0.1307 / 0.3081) or none (pixels in 0..1)
        validation: training images held back as the validation split (default none: a twelfth of them)
        train_size: train on a fixed subset of this many of the other training images (0: all of them)
    """

    dataset: str
    num_classes = 10
    per_step = False

    def __init__(
        self,
        data_dir: str = "",
        input_channels: int = 1,
        normalize: str = "data",
        validation: int | None = None,
        train_size: int = 0,
    ):
        self.data_dir = str(data_dir)
        self.input_channels = check_int("input_channels", input_channels)
        self.normalize = check_choice("normalize", normalize, ("data", "mnist", "none"))
        self.validation = None if validation is None else check_int("validation", validation)
        self.train_size = check_int("train_size", train_size, 0)
        self.files = locate(self.dataset, self.data_dir, self.name)
        self.data = load(self.files)
        (train_images, _), (test_images, _) = self.data["train"], self.data["test"]
        if train_images.shape[1:] != test_images.shape[1:]:
            raise ConfigError(f"training images are {tuple(train_images.shape[1:])} but test images are "
                              f"{tuple(test_images.shape[1:])}: {self.files['train-images-idx3-ubyte'].parent}")
        pixels = train_images.shape[1] * train_images.shape[2]
        if pixels % input_channels:
            divisors = [d for d in range(1, pixels + 1) if pixels % d == 0]
            raise ConfigError(f"input_channels must divide the {pixels} pixels of an image, got {input_channels}; "
                              f"choose one of {', '.join(map(str, divisors))}")
        self.pixels, self.span = pixels, pixels // input_channels
        if self.validation is None:
            self.validation = max(1, len(train_images) // 12)
        self.rows = self.split_rows(len(train_images), len(test_images))
        self.permutation = None
        if self.normalize == "data":
            self.mean, self.std = pixel_statistics(train_images[self.rows["train"]])
        elif self.normalize == "mnist":
            self.mean, self.std = MNIST_MEAN, MNIST_STD
        else:
            self.mean, self.std = 0.0, 1.0

    def split_rows(self, n_train: int, n_test: int) -> dict[str, torch.Tensor]:
        """Rows of the training file for "train" and "validation", of the test file for "test"."""
        if self.validation >= n_train:
            raise ConfigError(f"validation must be below the {n_train} training images, got {self.validation}")
        rest = n_train - self.validation
        if self.train_size > rest:
            raise ConfigError(f"train_size must be at most {rest} (training images less validation), got "
                              f"{self.train_size}; 0 means all")
        order = fixed_permutation(n_train, 0, salt="validation")
        return {"test": torch.arange(n_test), "validation": order[: self.validation].sort().values,
                "train": order[self.validation : self.validation + (self.train_size or rest)].sort().values}

    def params(self) -> dict:
        names = list(inspect.signature(type(self).__init__).parameters)[1:]
        return {name: getattr(self, name) for name in names}

    def size(self, split: str) -> int:
        if split not in self.rows:
            raise ConfigError(f"split must be one of {', '.join(self.rows)}, got {split!r}")
        return len(self.rows[split])

    def labels(self, split: str) -> torch.Tensor:
        return self.data["test" if split == "test" else "train"][1][self.rows[split]].long()

    def get(self, split: str, index: torch.Tensor) -> Batch:
        self.size(split)
        images, labels = self.data["test" if split == "test" else "train"]
        rows = self.rows[split][index]
        x = images[rows].reshape(len(rows), self.pixels).float()
        x = x.sub_(255 * self.mean).div_(255 * self.std)
        if self.permutation is not None:
            x = x[:, self.permutation]
        x = x.view(len(rows), self.input_channels, self.span).transpose(1, 2)
        y = labels[rows].long()
        return Batch(x, y, torch.ones(len(rows), dtype=torch.bool))

    def baseline(self) -> Baseline:
        """Answer with the training set's class prior: its cross-entropy on the scored labels, and the share
        of them in the training set's most common class."""
        prior = torch.bincount(self.labels("train"), minlength=self.num_classes).double()
        prior /= prior.sum()
        scored = self.labels("test")
        loss = float(-prior[scored].log().mean())
        accuracy = float((scored == prior.argmax()).double().mean())
        return Baseline(loss=loss, accuracy=accuracy, recall_accuracy=accuracy, sequence_accuracy=accuracy)


class PermutedImageSequence(ImageSequence):
    """The same, with the pixels in a fixed random order drawn from `permute_seed`.

    Args:
        permute_seed: seed of the fixed pixel order
    """

    def __init__(
        self,
        data_dir: str = "",
        input_channels: int = 1,
        normalize: str = "data",
        validation: int | None = None,
        train_size: int = 0,
        permute_seed: int = 0,
    ):
        self.permute_seed = check_int("permute_seed", permute_seed, 0)
        super().__init__(data_dir, input_channels, normalize, validation, train_size)
        self.permutation = fixed_permutation(self.pixels, permute_seed)


@register_task("sequential-mnist")
class SequentialMNIST(ImageSequence):
    summary = "classify an MNIST digit read one pixel a step (784 steps), from the last step"
    dataset = "mnist"


@register_task("permuted-mnist")
class PermutedMNIST(PermutedImageSequence):
    summary = "sequential MNIST with the pixels in a fixed random order (--permute-seed)"
    dataset = "mnist"


@register_task("sequential-fashion-mnist")
class SequentialFashionMNIST(ImageSequence):
    summary = "classify a Fashion-MNIST image read one pixel a step (784 steps), from the last step"
    dataset = "fashion-mnist"


@register_task("permuted-fashion-mnist")
class PermutedFashionMNIST(PermutedImageSequence):
    summary = "sequential Fashion-MNIST with the pixels in a fixed random order (--permute-seed)"
    dataset = "fashion-mnist"
