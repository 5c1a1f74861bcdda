"""The IDX reader against bytes written by hand, and its refusal of corrupt files."""

import gzip
import struct

import pytest
import torch

from seqmem.cli import main
from seqmem.errors import ConfigError
from seqmem.tasks.idx import IdxError, read_idx, read_images, read_labels, read_pair, write_idx

IMAGES = bytes([0, 0, 8, 3]) + struct.pack(">III", 2, 2, 3) + bytes(range(12))  # 2 images of 2x3
LABELS = bytes([0, 0, 8, 1]) + struct.pack(">I", 2) + bytes([7, 3])


def write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_images_from_known_bytes(tmp_path):
    images = read_images(write(tmp_path / "images", IMAGES))
    assert images.dtype == torch.uint8
    assert images.tolist() == [[[0, 1, 2], [3, 4, 5]], [[6, 7, 8], [9, 10, 11]]]


def test_labels_from_known_bytes_gzipped_whatever_the_name(tmp_path):
    assert read_labels(write(tmp_path / "labels.gz", gzip.compress(LABELS))).tolist() == [7, 3]
    assert read_labels(write(tmp_path / "labels-no-suffix", gzip.compress(LABELS))).tolist() == [7, 3]


def test_multibyte_types_are_big_endian(tmp_path):
    data = bytes([0, 0, 0x0B, 1]) + struct.pack(">I", 3) + struct.pack(">hhh", 1, -2, 300)
    assert read_idx(write(tmp_path / "shorts", data)).tolist() == [1, -2, 300]


def test_write_idx_round_trip_leaves_no_partial_file(tmp_path):
    images = torch.randint(0, 256, (5, 4, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    path = write_idx(tmp_path / "x-idx3-ubyte.gz", images)
    assert torch.equal(read_images(path), images)
    assert gzip.decompress(path.read_bytes())[:4] == bytes([0, 0, 8, 3])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x-idx3-ubyte.gz"]


@pytest.mark.parametrize("data, message", [
    (bytes([1, 0, 8, 3]) + IMAGES[4:], "bad magic"),
    (bytes([0, 0, 0x42, 3]) + IMAGES[4:], "bad magic"),
    (IMAGES[:-1], "truncated"),
    (IMAGES[:10], "truncated header"),
    (IMAGES + b"\0", "longer than its header says"),
    (b"\0\0", "too short"),
])
def test_corrupt_files_are_refused(tmp_path, data, message):
    with pytest.raises(IdxError, match=message) as error:
        read_idx(write(tmp_path / "bad", data))
    assert str(tmp_path / "bad") in str(error.value)


def test_labels_file_is_not_an_images_file(tmp_path):
    with pytest.raises(IdxError, match="bad magic number 0x00000801; expected images"):
        read_images(write(tmp_path / "labels", LABELS))
    with pytest.raises(IdxError, match="expected labels"):
        read_labels(write(tmp_path / "images", IMAGES))


def test_truncated_gzip_is_refused(tmp_path):
    packed = gzip.compress(IMAGES)
    with pytest.raises(IdxError, match="corrupt or truncated gzip"):
        read_images(write(tmp_path / "cut.gz", packed[: len(packed) // 2]))


def test_pair_must_agree(tmp_path):
    images = write(tmp_path / "images", IMAGES)
    three = write(tmp_path / "three", bytes([0, 0, 8, 1]) + struct.pack(">I", 3) + bytes([1, 2, 3]))
    with pytest.raises(IdxError, match="2 images but .* 3 labels"):
        read_pair(images, three)
    big = write(tmp_path / "big", bytes([0, 0, 8, 1]) + struct.pack(">I", 2) + bytes([1, 10]))
    with pytest.raises(IdxError, match="label 10 is not one of the 10 classes"):
        read_pair(images, big)
    x, y = read_pair(images, write(tmp_path / "labels", LABELS))
    assert x.shape == (2, 2, 3) and y.tolist() == [7, 3]


@pytest.mark.parametrize("bad, message", [(IMAGES[:-1], "truncated"), (LABELS, "expected images")])
def test_errors_are_config_errors_so_the_cli_prints_one_line(tmp_path, capsys, bad, message):
    """A corrupt file among the four a task reads: the command line says so in one line and exits 2, writing
    nothing."""
    assert issubclass(IdxError, ConfigError)
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name, data in (("train-images-idx3-ubyte", bad), ("train-labels-idx1-ubyte", LABELS),
                       ("t10k-images-idx3-ubyte", IMAGES), ("t10k-labels-idx1-ubyte", LABELS)):
        write(folder / name, data)
    out = tmp_path / "run"
    code = main(["train", "sequential-mnist", "--data-dir", str(folder), "--model", "rnn", "--steps", "1",
                 "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith(f"seqmem: error: {folder / 'train-images-idx3-ubyte'}"), err
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_an_oversized_header_names_its_exact_byte_count(tmp_path):
    data = bytes([0, 0, 8, 3]) + struct.pack(">III", 2**32 - 1, 2**32 - 1, 3) + bytes(12)
    with pytest.raises(IdxError, match=f"needs {(2**32 - 1) ** 2 * 3} bytes of data, found 12"):
        read_idx(write(tmp_path / "huge-header", data))


def test_a_gzip_that_expands_beyond_any_idx_file_is_refused_unread(tmp_path, monkeypatch):
    from seqmem.tasks import idx

    monkeypatch.setattr(idx, "MAX_BYTES", 1000)
    bomb = gzip.compress(bytes([0, 0, 8, 1]) + struct.pack(">I", 2000) + bytes(2000))
    with pytest.raises(IdxError, match="holds more than 1000 bytes of data"):
        read_labels(write(tmp_path / "bomb.gz", bomb))
    assert read_labels(write(tmp_path / "fits.gz", gzip.compress(LABELS))).tolist() == [7, 3]  # the control
