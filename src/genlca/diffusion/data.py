"""Training data for the diffusion model: token maps normalized per channel, with what was observed.

    ds = load_token_dataset("data/token_dataset", split="train")   # a `token_dataset` folder
    item = ds[0]   # {"maps", "shape", "valid", "caption", "cond_maps", "cond_visibility", "index"}

Items:
    maps (14, R, R)         normalized tokens (zero outside the UV chart)
    shape (S,)              body shape, raw (the body model's parameters are already of order 1)
    valid (R, R) bool       texels some frame saw, inside the chart
    caption str
    cond_maps (14, R, R)    the sample's own observed tokens (normalized, zero where not valid) and their
    cond_visibility (R, R)  visibility (the tokenizer's confidence where given, else 1 on valid texels):
                            training restricts them to a random sub-region (`partial_condition`) so the model
                            learns to complete what an image condition lacks
    index int               the row, to look up the caption's cached text embedding

The dataset holds every map in memory (0.9 MB per sample at R = 128), which suits the data sets here;
a larger one would read the token files lazily.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from genlca.avatar import NUM_CHANNELS

MIN_STD = 1e-3  # synthetic geometry channels are constant (std 0): never divide by less


def _per_channel(v: Tensor, like: Tensor) -> Tensor:
    """(C,) -> broadcastable over (..., C, R, R)."""
    return v.to(like.device, like.dtype)[:, None, None]


class Normalizer:
    """Per-channel affine normalization of (..., 14, R, R) token maps: (x - mean) / std."""

    def __init__(self, mean: Tensor, std: Tensor):
        self.mean = mean.detach().float().cpu().reshape(-1)
        self.std = std.detach().float().cpu().reshape(-1).clamp(min=MIN_STD)
        if self.mean.shape != self.std.shape:
            raise ValueError(f"mean {tuple(self.mean.shape)} and std {tuple(self.std.shape)} differ")

    @classmethod
    def from_stats(cls, mean: Tensor, std: Tensor) -> "Normalizer":
        return cls(mean, std)

    @classmethod
    def fit(cls, maps: Tensor, valid: Tensor) -> "Normalizer":
        """Statistics over the valid texels only: maps (N, 14, R, R), valid (N, R, R) bool."""
        x = maps.permute(1, 0, 2, 3)[:, valid.bool()].double()  # (C, texels)
        if x.shape[1] == 0:
            raise ValueError("no valid texel to fit the normalizer on")
        return cls(x.mean(dim=1), x.std(dim=1, unbiased=False))

    def normalize(self, maps: Tensor) -> Tensor:
        return (maps - _per_channel(self.mean, maps)) / _per_channel(self.std, maps)

    def denormalize(self, maps: Tensor) -> Tensor:
        return maps * _per_channel(self.std, maps) + _per_channel(self.mean, maps)

    def state(self) -> dict[str, Tensor]:
        return {"mean": self.mean.clone(), "std": self.std.clone()}


def default_regions(resolution: int, blocks: int = 4) -> Tensor:
    """(R, R) long: a blocks x blocks grid of squares on the UV map, the regions `partial_condition` drops
    when no body-part map is given (UV charts are laid out per body part, so squares roughly follow parts)."""
    idx = torch.arange(resolution) * blocks // resolution
    return idx[:, None] * blocks + idx[None, :]


class TokenMapsDataset(Dataset):
    """Token maps of N samples (see the module docstring for the items).

    maps: (N, 14, R, R) raw tokens (they are normalized here, once), shape (N, S), valid (N, R, R) observed
    texels, captions (N,), normalizer, chart (R, R) bool UV chart; names: one per sample (e.g. "drop/video");
    visibility (N, R, R): the tokenizer's confidence for the image condition (default: valid as 1);
    regions (R, R) long: region ids partial conditions drop (body parts; -1 outside; default: UV squares);
    version: what the data is (the token_dataset's version), recorded in checkpoints; tokenizers: what made the
    tokens (e.g. "unprojection", a refiner folder, "ground_truth_albedo"), recorded too.
    """

    def __init__(self, maps: Tensor, shape: Tensor, valid: Tensor, captions: list[str], normalizer: Normalizer,
                 chart: Tensor, names: list[str] | None = None, visibility: Tensor | None = None,
                 regions: Tensor | None = None, version: str | None = None, body_model: str = "anny",
                 tokenizers: list[str] | None = None):
        n, c, r, _ = maps.shape
        if c != NUM_CHANNELS or maps.shape[-1] != r:
            raise ValueError(f"maps must be (N, {NUM_CHANNELS}, R, R), got {tuple(maps.shape)}")
        if not (shape.shape[0] == valid.shape[0] == len(captions) == n):
            raise ValueError(f"{n} maps, {shape.shape[0]} shapes, {valid.shape[0]} masks, {len(captions)} captions")
        self.chart = chart.bool().cpu()
        if self.chart.shape != (r, r):
            raise ValueError(f"chart {tuple(self.chart.shape)} does not match maps of R = {r}")
        inside = self.chart.float()
        self.normalizer = normalizer
        self.maps = (normalizer.normalize(maps.float()) * inside).contiguous()
        self.shape = shape.float().reshape(n, -1)
        self.valid = valid.bool() & self.chart
        vis = self.valid.float() if visibility is None else visibility.float() * self.valid
        self.cond_visibility = vis.contiguous()
        # What the image condition's visibility channel holds (recorded in checkpoints, so that inference feeds
        # the same kind): "binary" (1 on observed texels) or "confidence" (the tokenizer's, in [0, 1]).
        self.cond_visibility_kind = "binary" if visibility is None else "confidence"
        self.captions = list(captions)
        self.names = list(names) if names is not None else [str(i) for i in range(n)]
        self.regions = (default_regions(r) if regions is None else regions.long().cpu()).where(self.chart, -1)
        self.version = version or ""
        self.body_model = body_model
        self.tokenizers = sorted(set(tokenizers or []))  # what made the tokens (recorded in checkpoints)

    @property
    def resolution(self) -> int:
        return int(self.maps.shape[-1])

    @property
    def shape_dim(self) -> int:
        return int(self.shape.shape[1])

    def __len__(self) -> int:
        return self.maps.shape[0]

    def __getitem__(self, i: int) -> dict:
        valid = self.valid[i]
        return {"maps": self.maps[i], "shape": self.shape[i], "valid": valid, "caption": self.captions[i],
                "cond_maps": self.maps[i] * valid, "cond_visibility": self.cond_visibility[i], "index": i}


def partial_condition(cond_maps: Tensor, cond_visibility: Tensor, regions: Tensor, prob: float,
                      generator: torch.Generator | None = None, keep_share: float = 0.5) -> dict[str, Tensor]:
    """The image condition of a training batch: with probability `prob` per sample, its observed tokens
    restricted to a random subset of regions (each kept with `keep_share`), else none (zeros, the model's
    "no image" input). The model must then complete what the condition lacks, as from a partial video."""
    B, R = cond_maps.shape[0], cond_maps.shape[-1]
    n = int(regions.max()) + 1 if (regions >= 0).any() else 1
    # Drawn on the generator's device (CPU): the same seed gives the same condition on any device.
    keep_region = torch.rand(B, n, generator=generator) < keep_share
    use = torch.rand(B, generator=generator) < prob
    flat = regions.reshape(1, -1).clamp(min=0).expand(B, -1)
    keep = keep_region.gather(1, flat).reshape(B, R, R) & (regions >= 0) & use[:, None, None]
    keep = keep.to(cond_maps.device)
    return {"maps": cond_maps * keep[:, None], "visibility": cond_visibility * keep}


def load_token_dataset(folder: str | os.PathLike, split: str = "train", chart: Tensor | None = None,
                       body=None) -> TokenMapsDataset:
    """The `split` rows of a token_dataset folder (genlca.tokenizer.dataset), normalized by its stats.
    chart / body: the UV layout comes from the token files' body model (Anny loads by itself; pass
    `body` for SMPL-X, or a `chart` to skip the body model; regions are then UV squares)."""
    from genlca.safe_files import load_tensors as load_file

    from genlca.tokenizer.dataset import INFO_FILE, STATS_FILE, read_token_index, valid_texels
    from genlca.tokenizer.tokens import load_tokens

    folder = Path(folder)
    index = read_token_index(folder)
    rows = index[index["split"] == split]
    if rows.empty:
        raise ValueError(f"{folder}: no token file in split {split!r} ({len(index)} in all)")
    for col in ("body_model", "resolution"):
        if rows[col].nunique() != 1:
            raise ValueError(f"{folder}: token files of several {col}s: {sorted(rows[col].unique())}")
    body_model, resolution = str(rows["body_model"].iloc[0]), int(rows["resolution"].iloc[0])
    regions = None
    if chart is None:
        from genlca.body import BodyConfig, load_body_model
        from genlca.body.uv_layout import uv_layout

        body = body or load_body_model(BodyConfig(name=body_model))
        if body.name != body_model:
            raise ValueError(f"{folder}: tokens of body model {body_model!r}, given {body.name!r}")
        layout = uv_layout(body, resolution)
        chart, regions = layout.mask, layout.part

    tokens = [load_tokens(folder / p) for p in rows["path"]]
    stats = load_file(str(folder / STATS_FILE))
    info_file = folder / INFO_FILE
    info = json.loads(info_file.read_text()) if info_file.is_file() else {}
    return TokenMapsDataset(
        maps=torch.stack([t.maps for t in tokens]), shape=torch.stack([t.shape.reshape(-1) for t in tokens]),
        valid=torch.stack([valid_texels(t, chart) for t in tokens]), captions=list(rows["caption"]),
        normalizer=Normalizer.from_stats(stats["mean"], stats["std"]), chart=chart,
        names=[f"{d}/{v}" for d, v in zip(rows["drop"], rows["video"])],
        visibility=torch.stack([t.visibility for t in tokens]), regions=regions,
        version=info.get("dvc_version") or info.get("version", ""), body_model=body_model,
        tokenizers=list(rows["tokenizer"]))


__all__ = ["MIN_STD", "Normalizer", "TokenMapsDataset", "default_regions", "load_token_dataset", "partial_condition"]
