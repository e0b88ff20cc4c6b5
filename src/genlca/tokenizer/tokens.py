"""Avatar tokens: the tokenizer's output per video, and how it is made from an unprojection.

    feats = texel_features(unprojection, body, layout, shape)     # (len(FEATURES), R, R)
    tokens = tokenize(unprojection, refiner, body, layout, shape)  # AvatarTokens

Tokens are the 14 Gaussian attribute maps on the UV grid (genlca.avatar.CHANNELS) plus a
per-texel visibility in [0, 1] (the unprojection's confidence) and the number of frames that
saw each texel. Where no frame saw a texel the tokens hold the neutral value (the subject's
template geometry, colour NEUTRAL_RGB) and visibility 0: the tokenizer never invents what
nobody saw.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from genlca.avatar import CHANNELS, NUM_CHANNELS, GaussianAvatar, scatter_texels, template_avatar, texel_frames
from genlca.body.protocol import PART_NAMES, BodyModel
from genlca.body.uv_layout import UVLayout
from genlca.io_utils import save_tensors
from genlca.safe_files import load_tensors, read_header
from genlca.tokenizer.refine import FEATURES, Refiner
from genlca.tokenizer.unproject import NEUTRAL_RGB, Unprojection

TOKENS_FORMAT_VERSION = 1
COUNT_SCALE = 16  # frame counts enter the network as log1p(count) / log1p(COUNT_SCALE)


@torch.no_grad()
def template_features(body: BodyModel, layout: UVLayout, shape: Tensor) -> Tensor:
    """(3 + len(PART_NAMES) + 1, R, R): canonical normals of the subject's template, one-hot body
    parts and the chart mask: what the network knows about each texel before seeing any frame."""
    _, frames, _ = texel_frames(body, layout, body.template(shape.reshape(1, -1)))
    normals = scatter_texels(layout, frames[0][..., 2].float())
    parts = torch.nn.functional.one_hot(layout.part.clamp(min=0).long(), len(PART_NAMES)).permute(2, 0, 1).float()
    chart = layout.mask.float()[None]
    return torch.cat([normals, parts * chart, chart])


def texel_features(up: Unprojection, template_feats: Tensor) -> Tensor:
    """The refinement network's input (len(FEATURES), R, R) from an unprojection."""
    count = torch.log1p(up.count.float()) / torch.log1p(torch.tensor(float(COUNT_SCALE)))
    out = torch.cat([up.albedo, up.rgb, up.shading[None], up.confidence[None], count[None], template_feats])
    assert out.shape[0] == len(FEATURES), (out.shape, len(FEATURES))
    return out


def neutral_maps(body: BodyModel, layout: UVLayout, shape: Tensor) -> Tensor:
    """(14, R, R) the subject's template geometry with colour NEUTRAL_RGB: tokens where unseen."""
    maps = template_avatar(body, layout, shape).maps
    maps[CHANNELS["rgb"]] = NEUTRAL_RGB * layout.mask.float()
    return maps


@dataclass
class AvatarTokens:
    maps: Tensor  # (14, R, R) Gaussian attributes (genlca.avatar.CHANNELS)
    visibility: Tensor  # (R, R) in [0, 1]; 0 where unseen and outside the charts
    count: Tensor  # (R, R) int32 frames that saw the texel
    shape: Tensor  # (S,) body-model shape
    body_model: str
    meta: dict = field(default_factory=dict)  # caption, sources (hashes), tokenizer, ...

    def avatar(self) -> GaussianAvatar:
        return GaussianAvatar(maps=self.maps, shape=self.shape, body_model=self.body_model)


@torch.no_grad()
def tokenize(up: Unprojection, refiner: Refiner | None, body: BodyModel, layout: UVLayout, shape: Tensor,
             meta: dict | None = None) -> AvatarTokens:
    """Tokens of one video: the refined maps where some frame saw the texel, neutral elsewhere.
    Without a refiner: the template geometry with the unprojected albedo."""
    neutral = neutral_maps(body, layout, shape)
    if refiner is None:
        maps = neutral.clone()
        maps[CHANNELS["rgb"]] = up.albedo * layout.mask.float()
    else:
        feats = texel_features(up, template_features(body, layout, shape))
        maps = refiner.eval()(feats[None], neutral[None])[0]
    seen = up.seen[None].expand(NUM_CHANNELS, -1, -1)
    return AvatarTokens(maps=torch.where(seen, maps, neutral), visibility=up.confidence * up.seen,
                        count=up.count.to(torch.int32), shape=shape.detach().float().reshape(-1),
                        body_model=body.name, meta=dict(meta or {}))


def save_tokens(tokens: AvatarTokens, path: str | os.PathLike) -> Path:
    """safetensors (atomic); the header holds the body model and `meta`."""
    path = Path(path)
    save_tensors(path, {"maps": tokens.maps.float().contiguous(), "visibility": tokens.visibility.float().contiguous(),
                        "count": tokens.count.to(torch.int32).contiguous(), "shape": tokens.shape.float().contiguous()},
                 {"format_version": TOKENS_FORMAT_VERSION, "kind": "avatar_tokens", "body_model": tokens.body_model,
                  "meta": tokens.meta})
    return path


def load_tokens(path: str | os.PathLike) -> AvatarTokens:
    path = Path(path)
    header = read_header(path) or {}  # refuses pickles and other non-safetensors files, naming the file
    if header.get("kind") != "avatar_tokens":
        raise ValueError(f"{path}: not an avatar token file (no 'avatar_tokens' header)")
    t = load_tensors(path)
    missing = [k for k in ("maps", "visibility", "count", "shape") if k not in t]
    if missing:
        raise ValueError(f"{path}: missing tensor(s) {', '.join(missing)}")
    return AvatarTokens(maps=t["maps"], visibility=t["visibility"], count=t["count"], shape=t["shape"],
                        body_model=header["body_model"], meta=header.get("meta", {}))


__all__ = ["AvatarTokens", "COUNT_SCALE", "load_tokens", "neutral_maps", "save_tokens", "template_features",
           "texel_features", "tokenize"]
