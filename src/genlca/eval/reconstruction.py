"""Image-conditioned reconstruction against a reference: renders of a completed avatar against renders of the
reference avatar (A-pose, `views` cameras framing the reference), scored on the pixels where the texels that
count are drawn: PSNR and SSIM (always) and LPIPS (when its weights exist: genlca.eval.image_metrics).

    pred, ref, mask = paired_renders(completed.avatar(), truth, texels, body, layout)
    reconstruction_metrics(pred, ref, mask)       # {"psnr": ..., "ssim": ..., "lpips": ...}

References, best first: the true avatar of a synthetic photo (`ground_truth_inputs`: a validation video of a
drop that keeps <drop>/ground_truth; its middle frame tokenized through the true fit, as in image_eval), or,
where no truth exists, the held-out tokens themselves, scored only on texels the tokenizer saw.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor

from genlca.avatar import GaussianAvatar


@torch.no_grad()
def paired_renders(pred: GaussianAvatar, ref: GaussianAvatar, texels: Tensor, body, layout, views: int = 2,
                   size: int = 128) -> tuple[Tensor, Tensor, Tensor]:
    """(pred (V, H, W, 3), ref (V, H, W, 3), mask (V, H, W) bool) on a black background, colours in [0, 1]; mask:
    where the `texels` (R, R) bool are drawn with the reference's geometry on the reference's silhouette."""
    from genlca.eval.metrics import paired_renders as renders

    return renders(pred, ref, texels, body, layout, views, size, mask_geometry="truth", clamp=True)


def reconstruction_metrics(pred: Tensor, ref: Tensor, mask: Tensor, config=None) -> dict:
    """{"psnr", "ssim", "lpips"} of pred against ref images (N, H, W, 3) on `mask` (N, H, W). PSNR pools the
    squared error over the masked pixels; SSIM averages its map there; LPIPS compares whole images with pred
    replaced by ref outside the mask, so all three judge the same pixels."""
    from genlca.eval.image_metrics import lpips, psnr_ssim

    out = psnr_ssim(pred, ref, mask)
    out["lpips"] = lpips(torch.where(mask[..., None], pred, ref), ref, config)
    return out


def ground_truth_inputs(rows, drops_dir: str | os.PathLike, body, layout, limit: int) -> tuple[list, list, list]:
    """(partial avatars, true avatars, names) of at most `limit` synthetic photos: the middle frame of each
    (drop, video) of `rows` (index rows, e.g. the validation split) whose drop keeps its ground truth at the
    layout's resolution. Empty lists when none does (a real drop)."""
    from genlca.generation.image_eval import photo_tokens, synthetic_photos

    partial, truth, names = [], [], []
    for drop, group in rows.groupby("drop", sort=True):
        gt = Path(drops_dir) / str(drop) / "ground_truth"
        videos = [v for v in group["video"] if (gt / v).is_dir()][:limit - len(names)]
        if not videos:
            continue
        for photo in synthetic_photos(gt.parent, body.name, videos=videos):
            if photo.truth.resolution != layout.resolution:
                continue  # truth at another R does not compare texel for texel
            partial.append(photo_tokens(photo, body, layout, "true"))
            truth.append(photo.truth)
            names.append(f"{drop}/{photo.name}")
        if len(names) >= limit:
            break
    return partial, truth, names


__all__ = ["ground_truth_inputs", "paired_renders", "reconstruction_metrics"]
