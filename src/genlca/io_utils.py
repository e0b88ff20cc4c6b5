"""Atomic file writes: readers never see a half-written artifact."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import torch


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; published files get the usual mode
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


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
    import shutil

    tmp, out = Path(tmp), Path(out)
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, old / out.name)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
