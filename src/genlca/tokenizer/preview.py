"""Pictures of tokens: the UV colour map beside the visibility map (what people look at)."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from genlca.avatar import CHANNELS
from genlca.io_utils import published
from genlca.tokenizer.tokens import load_tokens


def token_maps_image(path: str | os.PathLike) -> Image.Image:
    """[UV colour map | visibility map (grey: 0 black, 1 white)] of one token file, image rows = V down."""
    tokens = load_tokens(path)
    rgb = tokens.maps[CHANNELS["rgb"]].clamp(0, 1).permute(1, 2, 0).numpy()
    vis = np.repeat(tokens.visibility.clamp(0, 1).numpy()[..., None], 3, axis=2)
    both = np.concatenate([rgb, np.ones((rgb.shape[0], 4, 3)), vis], axis=1)
    return Image.fromarray((both * 255 + 0.5).astype(np.uint8))


def token_sheet(tokens_dir: str | os.PathLike, max_videos: int = 4, height: int = 160) -> Image.Image | None:
    """The first videos' `token_maps_image`s, stacked; None when there is no token file."""
    tiles = []
    for path in published(tokens_dir)[:max_videos]:
        im = token_maps_image(path)
        tiles.append(im.resize((round(im.width * height / im.height), height), Image.NEAREST))
    if not tiles:
        return None
    sheet = Image.new("RGB", (max(t.width for t in tiles), height * len(tiles)), "white")
    for k, t in enumerate(tiles):
        sheet.paste(t, (0, k * height))
    return sheet


__all__ = ["token_maps_image", "token_sheet"]
