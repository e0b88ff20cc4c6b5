"""Stage parameters from params.yaml: shared by DVC stages, the CLI defaults and Dagster configs."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import yaml

_DEFAULTS = {
    "synth": {"drop": "synth-demo", "videos": 4, "frames": 24, "size": 256, "regime": "mixed", "seed": 0},
    "ingest": {"min_duration_s": 0.5, "max_bytes": 2 * 1024**3, "max_pixels": 4096 * 4096, "max_frames": 100_000},
}


def params_path() -> Path:
    return Path(os.environ.get("GENLCA_PARAMS", "params.yaml"))


@functools.lru_cache(maxsize=8)
def _load(path: str) -> dict:
    p = Path(path)
    data = yaml.safe_load(p.read_text()) if p.is_file() else {}
    return data or {}


def stage_params(stage: str, path: str | os.PathLike | None = None) -> dict:
    """Parameters of one stage: params.yaml over built-in defaults. Unknown keys are an error."""
    defaults = _DEFAULTS.get(stage, {})
    given = _load(str(path or params_path())).get(stage, {}) or {}
    unknown = set(given) - set(defaults)
    if unknown:
        raise ValueError(f"{path or params_path()}: unknown key(s) in '{stage}': {', '.join(sorted(unknown))}")
    return {**defaults, **given}
