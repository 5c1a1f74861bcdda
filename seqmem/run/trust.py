"""Whose code a run directory may run: a run received from elsewhere runs none unless the user says so.

A run whose task, model or method is named by import path (`file.py:Class`, `package.module:Class`) imports
that code again when it is loaded (`seqmem demo`, `seqmem.load`). config.json is only data, and anyone can
write one that names a file of theirs, so such a run is loaded only when:

- its config.json is signed (`config.sig`, an HMAC-SHA256 of the file) with a key kept in this user's own
  configuration folder (`$XDG_CONFIG_HOME/seqmem/key`, else `~/.config/seqmem/key`, readable by the user
  alone): a run this user made on this machine; a received, copied-from-elsewhere or edited config.json is
  not signed by it;
- every file it names still has the SHA-256 recorded for it, checked before anything is imported;
- every dotted name comes from an installed package, never from the working folder (where a received
  folder would put its module).

Anything else is refused in one line naming the file (or module) and its recorded hash; `--trust`
(`seqmem.load(..., trust=True)`) loads it anyway, as the user's own decision, the way `trust_remote_code`
works in the Hugging Face libraries.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.machinery
import os
import secrets
import sys
from pathlib import Path

from seqmem.config import user_code
from seqmem.errors import ConfigError
from seqmem.run.atomic import atomic_write
from seqmem.run.bounded import read_bytes

PARTS = ("task", "model", "method")
SIGNATURE = "config.sig"
KEY_BYTES = 32


def key_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "seqmem" / "key"


def user_key(create: bool) -> bytes | None:
    """This user's signing key; made on first use (readable by the user alone) when `create`, else None
    where there is none."""
    path = key_path()
    try:
        key = path.read_bytes()
        return key if len(key) == KEY_BYTES else None
    except FileNotFoundError:
        if not create:
            return None
    except OSError:
        return None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".key.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(KEY_BYTES))
        try:
            os.link(tmp, path)  # whole or not at all; a process that made one first wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
        return user_key(create=False)
    except OSError:
        return None  # a read-only home: runs are not signed, and loading them asks for trust


def code_parts(config: dict) -> dict[str, str]:
    """Part -> name for each part named by import path (the code a load would import)."""
    parts = {part: (config.get(part) or {}).get("name") for part in PARTS if isinstance(config.get(part), dict)}
    return {part: name for part, name in parts.items() if user_code.is_import_path(name)}


def signature(key: bytes, data: bytes) -> str:
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def sign(folder: Path, config: dict) -> None:
    """Sign the config.json just written in `folder`, where it names code (nothing to sign otherwise)."""
    path = Path(folder) / SIGNATURE
    if not code_parts(config):
        path.unlink(missing_ok=True)
        return
    key = user_key(create=True)
    if key is None:
        return
    data = (Path(folder) / "config.json").read_bytes()
    atomic_write(path, lambda f: f.write(signature(key, data).encode() + b"\n"))


def signed(folder: Path) -> bool:
    """Whether `folder`'s config.json is as this user's run wrote it."""
    key = user_key(create=False)
    if key is None:
        return False
    try:
        data = read_bytes(Path(folder) / "config.json")
        recorded = read_bytes(Path(folder) / SIGNATURE).decode().strip()
    except (OSError, ValueError):  # missing, special, oversized or not text: not signed
        return False
    return hmac.compare_digest(recorded, signature(key, data))


def working_folder(entry: str) -> bool:
    try:
        return os.path.realpath(entry or ".") == os.path.realpath(os.getcwd())
    except OSError:
        return False


def installed(module: str) -> bool:
    """Whether the top-level package of `module` is found on `sys.path` without the working folder, and is
    the one an import would find (not shadowed by a file there)."""
    top = module.split(".")[0]
    if top in sys.modules:
        found = getattr(sys.modules[top], "__file__", None)
        return found is None or not working_folder(os.path.dirname(found))
    if top in sys.builtin_module_names:
        return True
    paths = [p for p in sys.path if not working_folder(p)]
    spec = importlib.machinery.PathFinder.find_spec(top, paths)
    anywhere = importlib.machinery.PathFinder.find_spec(top, sys.path)
    return spec is not None and anywhere is not None and spec.origin == anywhere.origin


def refuse(run: Path, what: str, why: str) -> ConfigError:
    return ConfigError(f"{run}: {what} {why}: it is not loaded, since a run folder could run anyone's code; "
                       "pass --trust (seqmem.load(..., trust=True)) if you trust it")


def check(run: Path, config: dict, trust: bool = False, warn=None) -> None:
    """Refuse, before anything is imported, a run whose code is not trusted (see the module's docstring).
    With `trust`, a file that changed since is warned of (`warn`) and loaded as it is now."""
    parts = code_parts(config)
    if not parts:
        return
    recorded = config.get("sources") if isinstance(config.get("sources"), dict) else {}
    is_signed = trust or signed(run)
    for part, name in parts.items():
        try:
            where, _ = user_code.split(name)
        except ConfigError:
            continue  # make_config names it
        if not user_code.is_file(where):
            if not trust and not is_signed:
                raise refuse(run, f"its {part} {name} (a module)", "is named by a config.json this user's key did "
                             "not sign (a run made elsewhere, or edited)")
            if not trust and not installed(where):
                raise refuse(run, f"its {part} {name}", f"is not from an installed package ({where.split('.')[0]} "
                             "would be imported from the working folder)")
            continue
        sha = recorded.get(where)
        shown = f"{where} (recorded sha256 {sha[:16] if isinstance(sha, str) else 'none'})"
        if not is_signed:
            raise refuse(run, f"its {part} is {shown}, and", "its config.json is not signed by this user's key (a run "
                         "made elsewhere, or edited)")
        now = current_digest(Path(where))
        if now != sha:
            if not trust:
                state = "is gone" if now is None else f"has changed (sha256 now {now[:16]})"
                raise refuse(run, f"its {part} file {shown}", state)
            if warn is not None and now is not None:
                warn(f"{where} has changed since {run} was trained: its code is loaded as it is now")


def current_digest(path: Path) -> str | None:
    try:
        return user_code.digest(path)
    except ConfigError:
        return None
