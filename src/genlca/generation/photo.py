"""A photo -> the partial avatar the model completes: detect and fit the person (a one-frame video), then
unproject (and refine, with a tokenizer) what the photo shows. Unseen texels keep visibility 0."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from genlca.body.protocol import BodyModel
from genlca.tokenizer.tokens import AvatarTokens


@dataclass
class PhotoTokens:
    tokens: AvatarTokens
    fit_file: Path
    overlay_file: Path  # detections and the fitted mesh outline on the photo
    keypoint_error: float  # median fitted-vs-detected keypoint error, share of the person's height
    seen_share: float  # share of the UV chart the photo shows


def tokenize_photo(photo: str | os.PathLike, body: BodyModel, resolution: int, work_dir: str | os.PathLike,
                   tokenizer: str | os.PathLike | None = None) -> PhotoTokens:
    """Fit and tokenize one photo; the fit and its overlay go to WORK_DIR. `tokenizer`: a trained refiner
    folder (its resolution must be `resolution`); None = unprojection (de-lit colours on the template)."""
    from genlca.body.uv_layout import uv_layout
    from genlca.data.ingest import sha256_file
    from genlca.data.video import read_video
    from genlca.fitting.pipeline import fit_image
    from genlca.fitting.store import load_fit_masks
    from genlca.tokenizer.tokens import tokenize
    from genlca.tokenizer.unproject import unproject_video

    photo = Path(photo)
    if not photo.is_file():
        raise FileNotFoundError(f"{photo}: no such photo")
    refiner = load_photo_refiner(tokenizer, resolution)
    fit = fit_image(photo, work_dir, body)
    layout = uv_layout(body, resolution)
    up = unproject_video(read_video(photo), fit.fit, body, layout, load_fit_masks(fit.fit_file))
    meta = {"source": str(photo), "source_sha256": sha256_file(photo), "fit_sha256": sha256_file(fit.fit_file),
            "tokenizer": str(tokenizer or "unprojection"), "frames_used": up.frames}
    tokens = tokenize(up, refiner, body, layout, fit.fit.shape, meta)
    seen = float(up.seen[layout.mask.bool()].float().mean())
    return PhotoTokens(tokens, fit.fit_file, fit.overlay_file, fit.keypoint_error, round(seen, 4))


def load_photo_refiner(tokenizer: str | os.PathLike | None, resolution: int):
    """The refiner in folder `tokenizer` (None: none), which must be for UV resolution `resolution`."""
    import json

    from genlca.tokenizer.train import CONFIG_FILE, load_refiner

    if not tokenizer:
        return None
    r = int(json.loads((Path(tokenizer) / CONFIG_FILE).read_text())["resolution"])
    if r != resolution:
        raise ValueError(f"{tokenizer}: a tokenizer for UV resolution {r}, the checkpoint's is {resolution}")
    return load_refiner(tokenizer)


__all__ = ["PhotoTokens", "load_photo_refiner", "tokenize_photo"]
