"""The token dataset: every token file of every drop, indexed, split and normalized (`token_dataset`).

    info = build_token_dataset({"drop-a": "data/tokens/drop-a", ...}, "data/token_dataset")

writes OUT_DIR (all at once: the folder is swapped into place, so readers never mix versions):

    index.parquet       one row per token file (`TokenIndexSchema`); `path` is relative to OUT_DIR
    stats.safetensors   'mean', 'std' (14,): per Gaussian-map channel (genlca.avatar.CHANNELS) over
                        the valid texels (some frame saw them, inside the UV chart) of the train split;
                        std is 0 for a constant channel (`constant_channels`: clamp before dividing)
    dataset.json        counts per split, drops, content version (files, bytes, splits), the DVC
                        versions of the token folders and one hash of them all ('dvc_version')

The split hashes (seed, drop, video): a video keeps its split when others arrive. Only when a split
would otherwise be empty does the video whose hash lies nearest the boundary move into it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable, Mapping

import pandas as pd
import pandera.pandas as pa
import torch
from pandera.typing.pandas import Series

from genlca.avatar import CHANNELS, NUM_CHANNELS
from genlca.data.ingest import sha256_file
from genlca.io_utils import published, save_tensors, staged_dir
from genlca.tokenizer.tokens import AvatarTokens, load_tokens

INDEX_FILE, STATS_FILE, INFO_FILE = "index.parquet", "stats.safetensors", "dataset.json"
SPLITS = ("train", "val")
ChartFn = Callable[[str, int], torch.Tensor]  # (body model, R) -> (R, R) bool UV chart mask


class TokenIndexSchema(pa.DataFrameModel):
    """One row per token file of the dataset."""

    drop: Series[str] = pa.Field(str_length={"min_value": 1})
    video: Series[str] = pa.Field(str_length={"min_value": 1})
    path: Series[str] = pa.Field(unique=True, str_matches=r"^.+\.safetensors$")
    sha256: Series[str] = pa.Field(str_matches=r"^[0-9a-f]{64}$")
    body_model: Series[str] = pa.Field(str_length={"min_value": 1})
    resolution: Series[int] = pa.Field(gt=0)
    seen_share: Series[float] = pa.Field(ge=0, le=1)
    visibility_mean: Series[float] = pa.Field(ge=0, le=1)
    caption: Series[str]
    tokenizer: Series[str]
    split: Series[str] = pa.Field(isin=list(SPLITS))

    class Config:
        coerce = True
        strict = False
        ordered = False

    @pa.dataframe_check(error="(drop, video) must be unique")
    def one_row_per_video(cls, df: pd.DataFrame) -> bool:
        return not df.duplicated(["drop", "video"]).any()


def split_value(drop: str, video: str, seed: int = 0) -> float:
    """A stable number in [0, 1) per video: its place in the split."""
    digest = hashlib.sha256(f"{seed}/{drop}/{video}".encode()).hexdigest()
    return int(digest[:15], 16) / 16**15


def assign_splits(keys: list[tuple[str, str]], val_fraction: float, seed: int = 0) -> list[str]:
    """'val' where split_value < val_fraction, else 'train'; neither split left empty when it can
    be avoided (train first: the statistics come from it)."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    u = [split_value(d, v, seed) for d, v in keys]
    splits = ["val" if x < val_fraction else "train" for x in u]
    if keys and "train" not in splits:
        splits[max(range(len(u)), key=u.__getitem__)] = "train"
    if len(keys) >= 2 and val_fraction > 0 and "val" not in splits:
        splits[min(range(len(u)), key=u.__getitem__)] = "val"
    return splits


def valid_texels(tokens: AvatarTokens, chart: torch.Tensor | None) -> torch.Tensor:
    """(R, R) bool: some frame saw the texel and it lies inside the UV chart."""
    seen = tokens.count > 0
    return seen & chart.to(seen.device) if chart is not None else seen


class _ChannelStats:
    """Per-channel sum and sum of squares (float64) over valid texels."""

    def __init__(self):
        self.n = 0
        self.s = torch.zeros(NUM_CHANNELS, dtype=torch.float64)
        self.sq = torch.zeros(NUM_CHANNELS, dtype=torch.float64)

    def add(self, maps: torch.Tensor, valid: torch.Tensor) -> None:
        x = maps[:, valid].double()  # (C, N)
        self.n += x.shape[1]
        self.s += x.sum(dim=1)
        self.sq += (x * x).sum(dim=1)

    def result(self) -> dict[str, torch.Tensor]:
        n = self.n or float("nan")  # no valid texel: NaN statistics, which the check reports
        mean = self.s / n
        var = (self.sq / n - mean * mean).clamp(min=0)
        return {"mean": mean.float(), "std": var.sqrt().float(), "texels": torch.tensor([self.n], dtype=torch.int64)}


def _row(drop: str, path: Path, tokens: AvatarTokens, chart: torch.Tensor | None, out_dir: Path) -> dict:
    inside = chart if chart is not None else torch.ones_like(tokens.visibility, dtype=torch.bool)
    n_chart = max(int(inside.sum()), 1)
    return {"drop": drop, "video": path.stem, "path": os.path.relpath(path.resolve(), out_dir.resolve()),
            "sha256": sha256_file(path), "body_model": tokens.body_model, "resolution": int(tokens.maps.shape[-1]),
            "seen_share": round(int(valid_texels(tokens, chart).sum()) / n_chart, 4),
            "visibility_mean": round(float(tokens.visibility[inside].mean()), 4) if inside.any() else 0.0,
            "caption": str(tokens.meta.get("caption", "")), "tokenizer": str(tokens.meta.get("tokenizer", ""))}


def folder_version(folder: str | os.PathLike, track: bool) -> dict[str, str]:
    """{'hash', 'how'}: the DVC version of a token folder (`dvc_version`). Tokens are rewritten when
    re-materialized, so an existing `.dvc` file is refreshed (`dvc add` again) before it is read."""
    from genlca.data.versioning import dvc_version, find_dvc_root

    if not track:
        return {"hash": "", "how": "disabled"}
    folder = Path(folder)
    root = find_dvc_root(folder)
    if root is not None and folder.with_name(folder.name + ".dvc").is_file():
        from dvc.repo import Repo

        with Repo(str(root)) as repo:
            repo.add(str(folder.resolve()))
    version, how = dvc_version(folder, track=True)
    return {"hash": version, "how": how}


def _combined(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _index_and_stats(token_dirs: Mapping[str, str | os.PathLike], out_dir: Path, val_fraction: float, seed: int,
                     chart: ChartFn | None) -> tuple[pd.DataFrame, dict[str, torch.Tensor]]:
    files = [(drop, p) for drop in sorted(token_dirs) for p in published(token_dirs[drop])]
    if not files:
        raise FileNotFoundError(f"no token files in {', '.join(str(d) for d in token_dirs.values()) or 'no folder'}")
    splits = assign_splits([(d, p.stem) for d, p in files], val_fraction, seed)
    stats, rows = _ChannelStats(), []
    for (drop, path), split in zip(files, splits):
        tokens = load_tokens(path)
        mask = chart(tokens.body_model, int(tokens.maps.shape[-1])) if chart is not None else None
        rows.append(_row(drop, path, tokens, mask, out_dir) | {"split": split})
        if split == "train":  # statistics from train only: validation stays unseen
            stats.add(tokens.maps, valid_texels(tokens, mask))
    return TokenIndexSchema.validate(pd.DataFrame(rows), lazy=True).reset_index(drop=True), stats.result()


def build_token_dataset(token_dirs: Mapping[str, str | os.PathLike], out_dir: str | os.PathLike,
                        val_fraction: float = 0.2, seed: int = 0, chart: ChartFn | None = None,
                        dvc_track: bool = False) -> dict:
    """Index, split and channel statistics of the token files (`*.safetensors`) in TOKEN_DIRS
    ({drop: folder}); CHART gives the UV chart per (body model, R) (None: every texel counts as
    inside); DVC_TRACK: `dvc add` the token folders when inside a DVC repo. Returns dataset.json."""
    out_dir = Path(out_dir)
    index, stats = _index_and_stats(token_dirs, out_dir, val_fraction, seed, chart)
    dvc = {d: folder_version(token_dirs[d], dvc_track) for d in sorted(token_dirs)}
    info = {
        "videos": len(index), "counts": {s: int((index["split"] == s).sum()) for s in SPLITS},
        "drops": {d: int((index["drop"] == d).sum()) for d in sorted(token_dirs)},
        "val_fraction": val_fraction, "seed": seed, "stats_texels": int(stats["texels"]),
        # content version: which files, with which bytes, in which split
        "version": _combined([" ".join(r) for r in index[["drop", "video", "sha256", "split"]].values.tolist()]),
        "dvc": dvc,
        "dvc_version": _combined([f"{d} {v['hash']}" for d, v in dvc.items()]) if all(
            v["hash"] for v in dvc.values()) else "",
        "channels": {name: [s.start, s.stop] for name, s in CHANNELS.items()},
    }
    with staged_dir(out_dir) as tmp:
        index.to_parquet(tmp / INDEX_FILE, index=False)
        save_tensors(tmp / STATS_FILE, stats, {"kind": "token_stats", "channels": info["channels"]})
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=1) + "\n")
    return info


def read_token_index(out_dir: str | os.PathLike) -> pd.DataFrame:
    """index.parquet of a token dataset, validated."""
    return TokenIndexSchema.validate(pd.read_parquet(Path(out_dir) / INDEX_FILE), lazy=True)


def constant_channels(stats: Mapping[str, torch.Tensor]) -> list[str]:
    """Names ('offset[0]', ...) of the channels whose std is 0: normalizing must not divide by it."""
    return [f"{name}[{i - s.start}]" for name, s in CHANNELS.items() for i in range(s.start, s.stop)
            if not float(stats["std"][i]) > 0]


__all__ = ["INDEX_FILE", "INFO_FILE", "SPLITS", "STATS_FILE", "TokenIndexSchema", "assign_splits",
           "build_token_dataset", "constant_channels", "folder_version", "read_token_index", "split_value", "valid_texels"]
