"""Where caches and outputs live, and which names (drop names, partition keys) may become part of their paths.
Caches sit outside the repo so clones share them."""

from __future__ import annotations

import os
import re
from pathlib import Path


def cache_root() -> Path:
    """Persistent cache folder (Anny model data, Warp kernels, UV layouts): `$GENLCA_CACHE`."""
    return Path(os.environ.get("GENLCA_CACHE", Path.home() / ".cache" / "genlca")).expanduser()


def anny_cache_dir() -> Path:
    return Path(os.environ.get("ANNY_CACHE_DIR", cache_root() / "anny"))


def warp_cache_dir() -> Path:
    return Path(os.environ.get("WARP_CACHE_PATH", cache_root() / "warp"))


def configure_cache_env() -> None:
    """Point Anny and Warp at our cache before they are imported (they read env at import)."""
    os.environ.setdefault("ANNY_CACHE_DIR", str(anny_cache_dir()))
    os.environ.setdefault("WARP_CACHE_PATH", str(warp_cache_dir()))


def data_root() -> Path:
    """Where the pipeline writes its outputs (drops, tokens, models): `$GENLCA_DATA`, else ./data."""
    return Path(os.environ.get("GENLCA_DATA", "data"))


def default_checkpoint() -> Path:
    """The checkpoint the `genlca_checkpoint` asset (and `make demo`) writes."""
    return data_root() / "models" / "genlca"


# Drop names become Dagster partition keys and folder names under the data root: keep them boring
# (no separators, no "..", nothing hidden, no spaces or control characters, no leading "-").
DROP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
DROP_NAME_RULE = "1-100 letters, digits, '.', '_' or '-', starting with a letter or digit"


def name_problem(part: str) -> str:
    """Why `part` is not one plain file or folder name (so joining it to a folder could leave that
    folder), or "" when it is one."""
    if not isinstance(part, str):
        return f"it is a {type(part).__name__}, not a string"
    if part in ("", ".", ".."):
        return "it is empty" if not part else f"it is {part!r}, which names no file of its own"
    if part.startswith("/") or os.path.isabs(part):
        return "it is an absolute path"
    if "/" in part or "\\" in part:
        return "it holds a path separator"
    if "\0" in part:
        return "it holds a NUL byte"
    return ""


def drop_name_problem(name: str) -> str:
    """Why `name` is not a valid drop name (see DROP_NAME), or ""."""
    why = name_problem(name)
    if why:
        return why
    if "..." in name:
        return "it holds '...', which Dagster refuses in partition keys"
    if DROP_NAME.fullmatch(name):  # not match: "$" also matches before a final newline
        return ""
    if len(name) > 100:
        return "it is longer than 100 characters"
    if name.startswith((".", "-", "_")):
        return f"it starts with {name[0]!r}"
    odd = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c in "._-"))})
    return "it holds " + ", ".join(repr(c) for c in odd[:5])


def check_drop_name(name: str) -> str:
    """`name` if it is a valid drop name (partition key), else a ValueError naming it and why."""
    if why := drop_name_problem(name):
        raise ValueError(f"drop name {name!r} refused: {why} (drop names are {DROP_NAME_RULE})")
    return name
