"""A contact sheet of fit overlays: the middle frame of the first videos of a drop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from genlca.body.protocol import BodyModel
from genlca.fitting.overlay import overlay
from genlca.fitting.pipeline import fit_path
from genlca.fitting.store import load_fit


def overlay_sheet(drop_dir: str | Path, manifest: pd.DataFrame, fits_dir: str | Path, body: BodyModel,
                  max_videos: int = 4, thumb: int = 256) -> Image.Image | None:
    from genlca.data.video import read_video

    tiles = []
    for rel in manifest.loc[manifest["status"] == "valid", "path"]:
        path = fit_path(Path(fits_dir), Path(rel).stem)
        if not path.exists() or len(tiles) >= max_videos:
            continue
        try:
            frames = read_video(Path(drop_dir) / rel) if Path(rel).suffix.lower() not in (".jpg", ".jpeg", ".png") \
                else np.asarray(Image.open(Path(drop_dir) / rel).convert("RGB"))[None]
            fit = load_fit(path)
            i = min(len(frames), len(fit.fitted)) // 2
            tile = overlay(frames[i], fit, body, i)
        except Exception:  # previews never fail a run
            continue
        tile.thumbnail((thumb, thumb))
        tiles.append(tile)
    if not tiles:
        return None
    sheet = Image.new("RGB", (thumb * len(tiles), thumb), "white")
    for k, t in enumerate(tiles):
        sheet.paste(t, (k * thumb, 0))
    return sheet
