"""Contact sheets: many avatars at a glance, each with its prompt underneath (for evaluators)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from genlca.tokenizer.tokens import AvatarTokens

CAPTION_LINES = 4


def _label(text: str, width: int) -> Image.Image:
    font = ImageFont.load_default()
    chars = max(8, width // 6)  # the default bitmap font is ~6 px per character
    lines = textwrap.wrap(text, chars)[:CAPTION_LINES] or [""]
    im = Image.new("RGB", (width, 12 * CAPTION_LINES + 6), "white")
    draw = ImageDraw.Draw(im)
    for i, line in enumerate(lines):
        draw.text((3, 3 + 12 * i), line, fill=(0, 0, 0), font=font)
    return im


def avatar_views(tokens: AvatarTokens, views: int, size: int, body=None, backend: str = "auto") -> np.ndarray:
    """(size, views * size, 3) uint8: the avatar in the A-pose from `views` sides, front first."""
    from genlca.avatar import to_gaussians
    from genlca.body import body_model_named
    from genlca.body.uv_layout import uv_layout
    from genlca.render.views import grid, render_views

    body = body or body_model_named(tokens.body_model)
    g = to_gaussians(tokens.avatar(), body, uv_layout(body, tokens.maps.shape[-1]), pose={})
    return grid(render_views(g, views, size, backend=backend))


def contact_sheet(avatars: list[AvatarTokens], labels: list[str], out: str | os.PathLike, size: int = 192,
                  views: int = 2, columns: int | None = None, body=None) -> Path:
    """A PNG grid: per avatar its `views` sides and its label; `columns` tiles per row (default ~square)."""
    from genlca.io_utils import atomic_path

    if not avatars:
        raise ValueError("no avatar to put on a contact sheet")
    tiles = []
    for tokens, label in zip(avatars, labels):
        im = Image.fromarray(avatar_views(tokens, views, size, body))
        cap = _label(label, im.width)
        tile = Image.new("RGB", (im.width, im.height + cap.height), "white")
        tile.paste(im, (0, 0))
        tile.paste(cap, (0, im.height))
        tiles.append(tile)
    columns = columns or max(1, round(len(tiles) ** 0.5))
    rows = -(-len(tiles) // columns)
    w, h = tiles[0].size
    sheet = Image.new("RGB", (columns * w, rows * h), "white")
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        sheet.paste(tile, (c * w, r * h))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        sheet.save(tmp, format="PNG")
    return out


__all__ = ["avatar_views", "contact_sheet"]
