"""Atomic file writes: readers never see a half-written artifact, and a killed writer leaves nothing that counts.

Temporaries are named `.NAME.<host>.<pid>.<random>.tmp...` beside their target: a later writer to the same folder
removes those of writers that are dead (same host, pid gone), so a SIGKILL mid-write leaves no litter after the
re-run. A full disk (or a file-size limit) gives `DiskFullError` naming the file; the target keeps its old content.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from genlca import faults

_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32] or "host"
_TEMP = re.compile(r"^\..+\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[^.]+\.(tmp|old)")
_swept: set[str] = set()
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class DiskFullError(OSError):
    """No space left (or over a quota / file-size limit) while writing an artifact; nothing was published."""


def temp_prefix(path: Path) -> str:
    """The prefix of this process's temporaries for `path` (see the module docstring)."""
    return f".{path.name}.{_HOST}.{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def sweep_stale_temps(folder: str | os.PathLike, force: bool = False) -> list[Path]:
    """Remove temporaries (files or folders) in FOLDER left by dead writers on this host; once per folder per process
    unless `force`. Returns what was removed. Temporaries of live writers and of other hosts are left alone."""
    folder = Path(folder)
    key = str(folder.resolve()) if folder.exists() else ""
    if not key or (key in _swept and not force):
        return []
    _swept.add(key)
    removed = []
    for entry in os.scandir(folder):
        m = _TEMP.match(entry.name)
        if not m or m["host"] != _HOST or int(m["pid"]) == os.getpid() or _alive(int(m["pid"])):
            continue
        p = Path(entry.path)
        if m.group(3) == "old":  # replace_dir died between its two renames: put the published folder back
            for inner in p.iterdir():
                if not (folder / inner.name).exists():
                    os.replace(inner, folder / inner.name)
        shutil.rmtree(p, ignore_errors=True) if entry.is_dir(follow_symlinks=False) else p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def temp_dir_beside(path: str | os.PathLike, tag: str = "tmp") -> Path:
    """A new empty folder beside PATH named like this process's temporaries (tag: "tmp" or "old")."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(path.parent)
    return Path(tempfile.mkdtemp(prefix=temp_prefix(path), suffix=f".{tag}", dir=path.parent))


@contextlib.contextmanager
def disk_full_names(path: str | os.PathLike) -> Iterator[None]:
    """Turn ENOSPC / EDQUOT / EFBIG inside the block into a DiskFullError that names PATH."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as e:
        # Writers in Rust (safetensors) or C report the OS error inside their own exception's text.
        code = e.errno if isinstance(e, OSError) else int((re.search(r"os error (\d+)", str(e)) or [0, 0])[1])
        if code not in _NO_SPACE:
            raise
        raise DiskFullError(code, f"{path}: no space left to write it ({os.strerror(code)}); nothing was "
                                  "written in its place, an earlier version is unchanged") from e


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; published files get the usual mode
    tmp_path = Path(tmp)
    try:
        with disk_full_names(path):
            yield tmp_path
        faults.point("before_publish", path)
        os.replace(tmp_path, path)
        faults.point("after_publish", path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """PATH holds TEXT, or (after a crash) what it held before."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


@functools.cache  # os.umask can only be read by setting it: do that once, not on every write
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_tensors(path: Path, tensors: dict, metadata: dict | None = None) -> None:
    """safetensors file; metadata goes in ONE header key ('genlca', sorted JSON) because the
    writer orders several metadata keys at random, which would break byte-identical output."""
    from safetensors.torch import save_file

    meta = {"genlca": json.dumps(metadata, sort_keys=True)} if metadata else None
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=meta)


def load_header(path: str | os.PathLike) -> dict | None:
    """The metadata `save_tensors` wrote (its 'genlca' header), or None where there is none."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        raw = (f.metadata() or {}).get("genlca")
    return None if raw is None else json.loads(raw)


def pack_bits(mask: torch.Tensor) -> torch.Tensor:
    """(..., W) bool -> (..., ceil(W / 8)) uint8, numpy.packbits order (big-endian bits): masks
    stored at 1 bit per pixel."""
    import numpy as np
    import torch

    return torch.from_numpy(np.packbits(mask.cpu().numpy().astype(bool), axis=-1))


def unpack_bits(packed: torch.Tensor, width: int) -> torch.Tensor:
    """The inverse of `pack_bits` for rows of `width` bits."""
    return torch.from_numpy(np.unpackbits(packed.cpu().numpy(), axis=-1, count=width).astype(bool))


def replace_dir(tmp: str | os.PathLike, out: str | os.PathLike) -> None:
    """Swap a finished folder TMP into place at OUT (on the same file system): readers see the old folder or the
    new one, never a mix. An earlier OUT is moved aside first and removed after."""
    tmp, out = Path(tmp), Path(out)
    old = None
    faults.point("before_publish", out)
    if out.exists():
        old = temp_dir_beside(out, tag="old")
        os.replace(out, old / out.name)
    os.replace(tmp, out)
    faults.point("after_publish", out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def staged_dir(out: str | os.PathLike) -> Iterator[Path]:
    """A new folder beside OUT to fill; swapped into place at OUT (`replace_dir`) when the block succeeds, removed
    either way: readers see the old folder or the finished new one, never a mix."""
    out = Path(out)
    tmp = temp_dir_beside(out)
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; published folders get the usual mode
    try:
        yield tmp
        replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_replaceable(out: str | os.PathLike, is_previous, what: str) -> None:
    """FileExistsError unless OUT is absent, an empty folder, or a folder IS_PREVIOUS(OUT) says is an earlier WHAT
    (which a new one may replace)."""
    out = Path(out)
    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or is_previous(out))):
        raise FileExistsError(f"{out} exists and is not an empty folder or an earlier {what}; not overwriting it")


def published(folder: str | os.PathLike, pattern: str = "*.safetensors") -> list[Path]:
    """The finished artifacts in FOLDER matching PATTERN, sorted: hidden names (temporaries, locks) never count."""
    folder = Path(folder)
    return sorted(p for p in folder.glob(pattern) if not p.name.startswith(".")) if folder.is_dir() else []
