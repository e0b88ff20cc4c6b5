"""Where caches and outputs live. Caches sit outside the repo so clones share them."""

from __future__ import annotations

import os
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
