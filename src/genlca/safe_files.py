"""Reading tensor files that may be hostile: safetensors only, never pickle.

Loading a pickle runs code from the file (what `torch.save` writes is a pickle, raw or inside a zip), so no genlca
loader calls `torch.load` or `pickle`: tokens, body fits, the tokenizer's refiner and GenLCA checkpoints are
safetensors files read through this module. A file under such a name that is not safetensors (a pickle renamed, a
zip, a NumPy file, text, an empty or cut file) is refused before safetensors parses it, with a `NotSafetensorsError`
(a ValueError) that names the file and says what it looks like; errors safetensors itself raises on a damaged file
("header too large", "incomplete metadata") come out the same way, naming the file. Should a pickle ever have to be
read (third-party weights), convert it once elsewhere with `torch.load(path, weights_only=True)`.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Iterator

# safetensors refuses JSON headers over 100 MB; so do we, before it reads them.
MAX_HEADER_BYTES = 100_000_000
ONLY_SAFETENSORS = ("only safetensors files are read; pickles (torch.save, pickle.dump) are refused because "
                    "loading one can run code")


class NotSafetensorsError(ValueError):
    """A file that should be safetensors is not (or is damaged); the message names the file."""


def describe(head: bytes, size: int) -> str:
    """What the first bytes of a file look like, in words (for error messages)."""
    if size == 0:
        return "an empty file"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive, the format of torch.save: a pickle inside"
    if len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return f"a pickle (protocol {head[1]}: torch.save's legacy format or pickle.dump)"
    if head.startswith(b"\x93NUMPY"):
        return "a NumPy .npy file"
    if b"\x00" not in head[:64]:
        try:
            head[:64].decode("utf-8")
            return "text"
        except UnicodeDecodeError:
            pass
    return "not in the safetensors layout"


def check_safetensors(path: str | os.PathLike) -> Path:
    """PATH if it starts like a safetensors file (8-byte little-endian header length, then a JSON object that fits
    in the file), else NotSafetensorsError. A missing file raises FileNotFoundError as usual."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(64)
        size = os.fstat(f.fileno()).st_size
    n = int.from_bytes(head[:8], "little") if len(head) >= 8 else 0
    if len(head) < 10 or not 2 <= n <= MAX_HEADER_BYTES or 8 + n > size or head[8:9] != b"{":
        raise NotSafetensorsError(f"{path}: not a safetensors file ({describe(head, size)}); {ONLY_SAFETENSORS}")
    return path


@contextlib.contextmanager
def _named(path: Path) -> Iterator[None]:
    """Errors of a damaged safetensors file (or its genlca header) re-raised naming the file."""
    from safetensors import SafetensorError

    try:
        yield
    except (SafetensorError, json.JSONDecodeError) as e:
        raise NotSafetensorsError(f"{path}: damaged safetensors file ({e}); {ONLY_SAFETENSORS}") from e


def load_tensors(path: str | os.PathLike, device: str = "cpu") -> dict:
    """Every tensor of a safetensors file (`safetensors.torch.load_file`, after `check_safetensors`)."""
    from safetensors.torch import load_file

    path = check_safetensors(path)
    with _named(path):
        return load_file(str(path), device=device)


@contextlib.contextmanager
def open_tensors(path: str | os.PathLike) -> Iterator:
    """`safetensors.safe_open(path, framework="pt")` after `check_safetensors` (read only the tensors you need)."""
    from safetensors import safe_open

    path = check_safetensors(path)
    with _named(path), safe_open(str(path), framework="pt") as f:
        yield f


def read_header(path: str | os.PathLike) -> dict | None:
    """The genlca metadata of a safetensors file (`io_utils.load_header`), after `check_safetensors`."""
    from genlca.io_utils import load_header

    path = check_safetensors(path)
    with _named(path):
        return load_header(path)


__all__ = ["MAX_HEADER_BYTES", "NotSafetensorsError", "check_safetensors", "describe", "load_tensors",
           "open_tensors", "read_header"]
