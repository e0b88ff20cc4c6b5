"""DVC versions of data folders: the hash a manifest or checkpoint records as its data version."""

from __future__ import annotations

import os
from pathlib import Path

import yaml


def find_dvc_root(path: Path) -> Path | None:
    for p in [path.resolve(), *path.resolve().parents]:
        if (p / ".dvc").is_dir():
            return p
    return None


def _hash_from_dvc_file(dvc_file: Path) -> str | None:
    if not dvc_file.is_file():
        return None
    outs = (yaml.safe_load(dvc_file.read_text()) or {}).get("outs") or []
    return outs[0].get("md5") if outs else None


def _hash_from_lock(root: Path, rel: str) -> str | None:
    lock = root / "dvc.lock"
    if not lock.is_file():
        return None
    for stage in ((yaml.safe_load(lock.read_text()) or {}).get("stages") or {}).values():
        for out in stage.get("outs") or []:
            if out.get("path") == rel:
                return out.get("md5")
    return None


def dvc_version(path: str | os.PathLike, track: bool = True) -> tuple[str, str]:
    """(DVC hash, how it was found) of a file or folder. Already tracked (a `.dvc` file or a
    `dvc.lock` stage output) -> its recorded hash; else `dvc add` it when `track`.
    Outside a DVC repo -> ("", reason)."""
    path = Path(path).resolve()
    root = find_dvc_root(path)
    if root is None:
        return "", "not inside a DVC repository"
    rel = path.relative_to(root).as_posix()
    found = _hash_from_dvc_file(path.with_name(path.name + ".dvc"))
    if found:
        return found, f"{rel}.dvc"
    found = _hash_from_lock(root, rel)
    if found:
        return found, "dvc.lock"
    if not track:
        return "", "not tracked by DVC"
    from dvc.exceptions import OutputNotFoundError
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        try:
            (out,) = repo.find_outs_by_path(str(path), strict=False)
            if not out.stage.is_data_source:  # a dvc.yaml stage output not yet run/committed
                return "", f"output of stage '{out.stage.addressing}': run `dvc repro` or `dvc commit`"
        except OutputNotFoundError:
            pass
        repo.add(str(path))
    found = _hash_from_dvc_file(path.with_name(path.name + ".dvc"))
    return (found or "", f"dvc add {rel}")
