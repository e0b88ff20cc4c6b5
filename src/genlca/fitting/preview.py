"""A contact sheet of fit overlays: the middle frame of the first videos of a drop."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from PIL import Image

from genlca.body.protocol import BodyModel
from genlca.data.video import read_video
from genlca.fitting.overlay import overlay
from genlca.fitting.store import fit_names, fit_path, load_fit


def overlay_sheet(drop_dir: str | Path, manifest: pd.DataFrame, fits_dir: str | Path, body: BodyModel,
                  max_videos: int = 4, thumb: int = 256) -> Image.Image | None:
    tiles = []
    valid = list(manifest.loc[manifest["status"] == "valid", "path"])
    names = fit_names(valid)
    for rel in valid:
        if len(tiles) >= max_videos:
            break
        path = fit_path(Path(fits_dir), names[rel])
        if not path.exists():
            continue
        try:
            fit = load_fit(path)
            frames = read_video(Path(drop_dir) / rel, max_frames=len(fit.fitted) // 2 + 1)  # up to the middle
            tile = overlay(frames[-1], fit, body, len(frames) - 1)
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
