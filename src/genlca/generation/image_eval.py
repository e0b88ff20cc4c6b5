"""Image-to-avatar against ground truth: synthetic photos (one frame of a synthetic video, whose avatar is known)
are tokenized like a user's photo, completed by one or more checkpoints, and scored:

- visible side: render PSNR over the texels the photo shows (4 views, A-pose; `masked_render_psnr` on the true
  silhouette), for the photo's tokens alone and for each completed avatar (with keep="seen" the completion keeps
  every texel the photo saw, so the two differ only at the edges where Gaussians of both sides blend);
- unobserved side: render PSNR over the texels the photo does not show (`unobserved_render_psnr`), for each
  checkpoint and for the photo's tokens alone (grey template there: what no completion gives).

Photos are tokenized with their true fit and person mask (`fits="true"`: the generative stage measured apart from
fitting errors) or through the user's path, mediapipe + fitting (`fits="detect"`).
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import tempfile
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from genlca.avatar import GaussianAvatar
from genlca.fitting.types import BodyFit
from genlca.generation.generator import AvatarGenerator, SamplerOptions

FITS = ("true", "detect")


@dataclass
class SyntheticPhoto:
    name: str
    image: np.ndarray  # (H, W, 3) uint8
    fit: BodyFit  # the frame's true fit (one frame)
    mask: torch.Tensor  # (1, H, W) bool true person mask
    truth: GaussianAvatar
    caption: str


def synthetic_photos(drop_dir: str | os.PathLike, body_model: str = "anny",
                     videos: Collection[str] | None = None) -> list[SyntheticPhoto]:
    """The middle frame of every video (or of `videos` only) of a synthetic drop, with its ground truth."""
    from genlca.data.synth import load_ground_truth
    from genlca.data.video import read_video
    from genlca.fitting.evaluate import fit_from_ground_truth

    drop = Path(drop_dir)
    photos = []
    for gt_dir in sorted((drop / "ground_truth").glob("vid_*")):
        if videos is not None and gt_dir.name not in videos:
            continue
        gt = load_ground_truth(gt_dir)
        frames = read_video(drop / "videos" / f"{gt_dir.name}.mp4")
        f = len(frames) // 2
        truth = GaussianAvatar(gt["maps"]["maps"].float(), gt["maps"]["shape"].float(), body_model)
        photos.append(SyntheticPhoto(gt_dir.name, frames[f], fit_from_ground_truth(gt, body_model).frame(f),
                                     gt["frames"]["person_mask"][f:f + 1], truth, gt["subject"].get("caption", "")))
    if not photos:
        raise FileNotFoundError(f"{drop}: no ground_truth/vid_* (not a synthetic drop)")
    return photos


def photo_tokens(photo: SyntheticPhoto, body, layout, fits: str = "true", work_dir: str | os.PathLike | None = None,
                 tokenizer: str | os.PathLike | None = None):
    """The photo's partial avatar (AvatarTokens), through its true fit or through detection + fitting;
    `tokenizer`: a trained refiner folder (else unprojection only)."""
    from genlca.generation.photo import load_photo_refiner
    from genlca.tokenizer.tokens import tokenize
    from genlca.tokenizer.unproject import unproject_video

    if fits == "true":
        up = unproject_video([photo.image], photo.fit, body, layout, photo.mask)
        refiner = load_photo_refiner(tokenizer, layout.resolution)
        return tokenize(up, refiner, body, layout, photo.fit.shape,
                        {"source": photo.name, "tokenizer": str(tokenizer or "unprojection")})
    from PIL import Image

    from genlca.generation.photo import tokenize_photo

    with tempfile.TemporaryDirectory() if work_dir is None else contextlib.nullcontext(work_dir) as work:
        path = Path(work) / f"{photo.name}.png"  # the photo file and its fit: removed after unless work_dir is given
        Image.fromarray(photo.image).save(path)
        return tokenize_photo(path, body, layout.resolution, path.parent, tokenizer=tokenizer).tokens


def _mean(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return round(statistics.fmean(values), 3) if values else math.nan


def evaluate_image_to_avatar(checkpoints: dict[str, str | os.PathLike], drop_dir: str | os.PathLike,
                             fits: str = "true", opts: SamplerOptions = SamplerOptions(steps=25, method="euler"),
                             use_caption: bool = False, keep: str = "seen", views: int = 4, size: int = 128,
                             goal_visible_db: float = 22.0, tokenizer: str | os.PathLike | None = None,
                             progress: bool = False) -> dict:
    """Score each checkpoint (name -> folder) on the drop's synthetic photos; returns a JSON-able report."""
    from genlca.body import body_model_named
    from genlca.body.uv_layout import uv_layout
    from genlca.eval.metrics import masked_render_psnr, unobserved_render_psnr

    if fits not in FITS:
        raise ValueError(f"fits must be one of {FITS}, got {fits!r}")
    if not checkpoints:
        raise ValueError("give at least one checkpoint")
    t0 = time.time()
    gens = {name: AvatarGenerator(path) for name, path in checkpoints.items()}
    first = next(iter(gens.values()))
    for name, g in gens.items():
        if (g.resolution, g.body_model) != (first.resolution, first.body_model):
            raise ValueError(f"checkpoint {name}: R={g.resolution} {g.body_model}, the first is R={first.resolution} "
                             f"{first.body_model}; compare checkpoints of one layout")
    body = body_model_named(first.body_model)
    layout = uv_layout(body, first.resolution)
    chart = layout.mask.bool()
    photos = synthetic_photos(drop_dir, body.name)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for photo in tqdm(photos, desc="image-to-avatar", disable=not progress):
            if photo.truth.resolution != layout.resolution:
                raise ValueError(f"{drop_dir}: ground truth at R={photo.truth.resolution}, the checkpoints' is "
                                 f"R={layout.resolution} (synthesize the drop with --resolution {layout.resolution})")
            tokens = photo_tokens(photo, body, layout, fits, work, tokenizer)
            seen = (tokens.count > 0) & chart
            unseen = chart & ~seen
            row = {"photo": photo.name, "seen_share": round(float(seen.sum() / chart.sum()), 4),
                   "photo_tokens": {"visible_psnr_db": masked_render_psnr(tokens.avatar(), photo.truth, seen, body,
                                                                          layout, views, size),
                                    "unobserved_psnr_db": unobserved_render_psnr(tokens.avatar(), photo.truth,
                                                                                 unseen, body, layout, views, size)}}
            prompt = photo.caption if use_caption else ""
            for name, gen in gens.items():
                [avatar] = gen.complete([tokens], [prompt], opts, keep=keep)
                row[name] = {"visible_psnr_db": masked_render_psnr(avatar.avatar(), photo.truth, seen, body, layout,
                                                                   views, size),
                             "unobserved_psnr_db": unobserved_render_psnr(avatar.avatar(), photo.truth, unseen, body,
                                                                          layout, views, size)}
            rows.append(row)
    methods = ["photo_tokens", *gens]
    summary = {m: {k: _mean([r[m][k] for r in rows]) for k in ("visible_psnr_db", "unobserved_psnr_db")}
               for m in methods}
    names = list(gens)
    verdict = {f"{n}_visible_meets_goal": bool(summary[n]["visible_psnr_db"] >= goal_visible_db) for n in names}
    if len(names) > 1:
        ref = names[0]
        for other in names[1:]:
            diffs = [r[ref]["unobserved_psnr_db"] - r[other]["unobserved_psnr_db"] for r in rows]
            verdict[f"{ref}_minus_{other}_unobserved_db"] = _mean(diffs)
            verdict[f"{ref}_better_unobserved_than_{other}"] = sum(d > 0 for d in diffs) > len(diffs) / 2 and \
                _mean(diffs) > 0
    return {"drop": str(drop_dir), "fits": fits, "photos": len(rows), "checkpoints": {k: str(v) for k, v in
                                                                                       checkpoints.items()},
            "tokenizer": str(tokenizer or "unprojection"), "sampler": opts.info(), "use_caption": use_caption,
            "keep": keep, "views": views, "size": size,
            "goal_visible_db": goal_visible_db, "summary": summary, "verdict": verdict, "per_photo": rows,
            "seconds": round(time.time() - t0, 1)}


__all__ = ["FITS", "SyntheticPhoto", "evaluate_image_to_avatar", "photo_tokens", "synthetic_photos"]
