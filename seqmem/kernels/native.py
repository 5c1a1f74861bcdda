"""A C file of the package compiled once per machine by its C compiler, and loaded with ctypes.

Why not a library: no kept package runs Mamba's scan fast on a CPU (mamba-ssm's kernels are CUDA only;
mambapy's scans are PyTorch, `benchmarks/ssm_speed.py`), numba has no vectorised exp without Intel's
SVML (its fused scan ran 8x slower than this C), and PyTorch's own extension loader needs ninja and
compiles its headers for a minute. A plain C file builds in about a second with the `cc` a Linux or
macOS machine has. The library lands in the user's cache directory under a name that hashes the source,
the compiler and the flags, so an edited source or another compiler builds anew; it is written under a
temporary name and renamed, so processes that build at once never load half a file; its SHA-256 is kept
beside it and checked before every load, so a library damaged in the cache since (truncated, it would kill
the process with SIGBUS when called) is built again instead. Where no compiler works, `load` returns None
and says why once, and the callers run their PyTorch form.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sysconfig
import tempfile
import warnings
from pathlib import Path

FLAGS = ("-O3", "-ffast-math", "-fPIC")  # fast-math: exp vectorised (glibc's libmvec) and sums reordered
TYPES = {"float32": ("float", "f32"), "float64": ("double", "f64")}
DISABLE = "SEQMEM_NO_NATIVE"  # set (to anything but 0 or empty) to run the PyTorch forms only


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "seqmem" / "native"


def compiler() -> str | None:
    """The C compiler: $CC, then the one Python was built with, then cc, gcc or clang on the PATH."""
    names = [os.environ.get("CC"), (sysconfig.get_config_var("CC") or "").split(" ")[0], "cc", "gcc", "clang"]
    return next((shutil.which(n) for n in names if n and shutil.which(n)), None)


def build(source: Path, dtype: str, cc: str) -> Path:
    """The shared library of `source` for `dtype`, compiled unless the cache holds it."""
    real, suffix = TYPES[dtype]
    defines = (f"-DREAL={real}", f"-DSUFFIX={suffix}")
    texts = [p.read_text() for p in (source, *sorted(source.parent.glob("*.h")))]  # the source and its headers
    key = hashlib.sha256("\0".join([*texts, cc, *FLAGS, *defines, platform.machine()]).encode())
    target = cache_dir() / f"{source.stem}-{suffix}-{key.hexdigest()[:16]}.so"
    if intact(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        # compiled and linked apart: a library linked with -ffast-math would set the CPU's flush-to-zero mode
        # for the whole process when loaded (crtfastmath), which is the caller's to choose
        obj, lib = Path(scratch) / "scan.o", Path(scratch) / "scan.so"
        run = functools.partial(subprocess.run, capture_output=True, text=True, check=True, timeout=120)
        run([cc, *FLAGS, *defines, "-c", str(source), "-o", str(obj)])
        run([cc, "-shared", str(obj), "-o", str(lib), "-lm"])
        digest = Path(scratch) / "scan.sha256"
        digest.write_text(sha256(lib) + "\n")
        os.replace(digest, digest_path(target))
        os.replace(lib, target)
    return target


def digest_path(library: Path) -> Path:
    return library.with_name(library.name + ".sha256")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def intact(library: Path) -> bool:
    """Whether the cached library is whole: its SHA-256 is the one recorded when it was built."""
    try:
        return digest_path(library).read_text().strip() == sha256(library)
    except OSError:
        return False


_switched_off = False


@contextlib.contextmanager
def switched_off():
    """Inside, every caller runs its PyTorch form: to compare the two, or to rule the C out."""
    global _switched_off
    before, _switched_off = _switched_off, True
    try:
        yield
    finally:
        _switched_off = before


def kernel(source: Path, name: str, x):
    """C function `name` of `source` for the type of tensor `x` (`name_f32` or `name_f64`), or None: x not
    on the CPU, nor float32 or float64, the C switched off (`switched_off`, or $SEQMEM_NO_NATIVE set to
    anything but 0), or the source cannot be built here."""
    dtype = str(x.dtype).removeprefix("torch.")
    if x.device.type != "cpu" or dtype not in TYPES or _switched_off or os.environ.get(DISABLE, "") not in ("", "0"):
        return None
    lib = load(source, dtype)
    return None if lib is None else getattr(lib, f"{name}_{TYPES[dtype][1]}")


def address(t) -> ctypes.c_void_p:
    """A contiguous tensor's data, as a C function takes it (None: a null pointer)."""
    return ctypes.c_void_p(None if t is None else t.data_ptr())


@functools.cache
def load(source: Path, dtype: str) -> ctypes.CDLL | None:
    """`source` compiled for `dtype` ("float32" or "float64") and loaded, or None (said once) where it can't be."""
    cc = compiler()
    try:
        if cc is None:
            raise OSError("no C compiler found (set CC, or install gcc or clang)")
        return ctypes.CDLL(str(build(source, dtype, cc)))
    except (OSError, subprocess.SubprocessError) as error:
        detail = getattr(error, "stderr", None) or str(error)
        warnings.warn(f"seqmem: {source.name} could not be built, so its PyTorch form runs instead "
                      f"(several times slower): {detail.strip().splitlines()[-1] if detail.strip() else error}",
                      RuntimeWarning, stacklevel=3)
        return None
