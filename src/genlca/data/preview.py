"""Contact sheets: the first frame of each video of a drop, tiled (what people look at first)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from genlca.data.video import read_video


def first_frame(path: str | Path) -> np.ndarray | None:
    """The first frame as the pipeline decodes it (PyAV; images too), or None."""
    try:
        return read_video(path, max_frames=1)[0]
    except Exception:  # a preview never fails a run
        return None


def contact_sheet(drop_dir: str | Path, manifest: pd.DataFrame, thumb: int = 128, columns: int = 6,
                  max_items: int = 36) -> Image.Image | None:
    """Thumbnails of the first frame of each valid file, captioned with its name."""
    rows = manifest[manifest["status"] == "valid"].head(max_items)
    tiles = []
    for rel in rows["path"]:
        im = first_frame(Path(drop_dir) / rel)
        if im is None:
            continue
        tile = Image.fromarray(im)
        tile.thumbnail((thumb, thumb))
        canvas = Image.new("RGB", (thumb, thumb + 14), "white")
        canvas.paste(tile, ((thumb - tile.width) // 2, (thumb - tile.height) // 2))
        ImageDraw.Draw(canvas).text((2, thumb + 1), Path(rel).name[:22], fill="black")
        tiles.append(canvas)
    if not tiles:
        return None
    columns = min(columns, len(tiles))
    n_rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * thumb, n_rows * (thumb + 14)), "white")
    for i, t in enumerate(tiles):
        r, c = divmod(i, columns)
        sheet.paste(t, (c * thumb, r * (thumb + 14)))
    return sheet
