"""Body fits against synthetic ground truth (`genlca.data.synth`), per video and per drop.

Metrics (all on the 17 COCO keypoints, over the frames a fit marks fitted):
- `mpjpe_mm`: mean 3D keypoint error in the camera frame after moving the predicted mid-hip
  point onto the true one (GT camera-frame keypoints = viewmat applied to `keypoints_3d`;
  predicted = `body.keypoints` of the fitted vertices). Depth and scale errors of the whole
  body cancel; errors of height (shape) do not.
- `pa_mpjpe_mm`: the same after a per-frame similarity Procrustes alignment (rotation,
  translation, scale) of all 17 keypoints.
- `pa_mpjpe_visible_mm`: Procrustes on the in-frame GT keypoints only (frames with >= 4 of them),
  the error on those: what partial framings are judged by.
- `reproj_px`: predicted keypoints projected with the fit's own K vs GT 2D keypoints, in-frame
  keypoints only.
- `root_deg`: angle of the rotation between the fitted and the true body orientation in the
  camera frame, which Procrustes hides from PA-MPJPE and which decides which texels the
  tokenizer thinks a frame saw; `facing_flipped_share`: share of fitted frames where it is over
  90 degrees (the body fitted facing the wrong way).
- `fitted_share`, `fitted_share_by_framing`, `fitted_share_head_in_view`: share of frames
  fitted, overall, per framing name (`genlca.data.synth.FRAMINGS`, per frame from which
  keypoints are in frame) and over the frames with a head keypoint in frame.
Numbers over several videos are frame-weighted (`evaluate_drop`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import roma
import torch
from torch import Tensor

from genlca.body.protocol import COCO_KEYPOINTS, BodyModel
from genlca.fitting.fit import fitted_vertices, posed_keypoints, project
from genlca.fitting.types import BodyFit, VideoDetections

HIPS = (COCO_KEYPOINTS.index("left_hip"), COCO_KEYPOINTS.index("right_hip"))
MIN_VISIBLE = 4


def procrustes_align(pred: Tensor, gt: Tensor, weights: Tensor | None = None) -> Tensor:
    """Similarity-align (B, N, 3) `pred` onto `gt` (per batch item; optional (B, N) 0/1 weights)."""
    w = torch.ones(pred.shape[:2], dtype=pred.dtype) if weights is None else weights.to(pred.dtype)
    wn = w / w.sum(dim=1, keepdim=True).clamp(min=1e-9)
    mu_p = (wn[..., None] * pred).sum(1, keepdim=True)
    mu_g = (wn[..., None] * gt).sum(1, keepdim=True)
    p, g = pred - mu_p, gt - mu_g
    cov = torch.einsum("bn,bni,bnj->bij", wn, g, p)  # sum w g p^T
    u, s, vt = torch.linalg.svd(cov)
    d = torch.sign(torch.linalg.det(u @ vt))
    fix = torch.ones_like(s)
    fix[:, -1] = d
    r = u @ torch.diag_embed(fix) @ vt
    var_p = (wn * (p**2).sum(-1)).sum(1)
    scale = (s * fix).sum(1) / var_p.clamp(min=1e-12)
    return scale[:, None, None] * p @ r.transpose(1, 2) + mu_g


def gt_camera_keypoints(frames: dict) -> Tensor:
    """(F, 17, 3) ground-truth keypoints in the camera frame (OpenCV axes)."""
    vm = frames["viewmat"].float()
    return frames["keypoints_3d"].float() @ vm[:, :3, :3].transpose(1, 2) + vm[:, None, :3, 3]


def _unmeasured(frames: dict, fitted: np.ndarray) -> dict[str, np.ndarray]:
    """frame_errors' output with every error NaN: per-frame fitted flags, framing and head in view."""
    n = len(fitted)
    return {"mpjpe": np.full(n, np.nan), "pa_mpjpe": np.full(n, np.nan), "pa_mpjpe_visible": np.full(n, np.nan),
            "reproj": np.full(n, np.nan), "root_deg": np.full(n, np.nan), "fitted": fitted,
            "framing": frames["framing"].numpy().astype(int),
            "head_in_view": frames["keypoints_in_frame"][:, :5].bool().any(dim=1).numpy()}


@torch.no_grad()
def frame_errors(fit: BodyFit, gt: dict, body: BodyModel) -> dict[str, np.ndarray]:
    """Per-frame errors (NaN where not fitted / not measurable): mpjpe, pa_mpjpe, pa_mpjpe_visible
    (mm), reproj (px), root_deg (degrees), plus fitted (bool) and framing (int) per frame."""
    if fit.body_model != body.name:
        raise ValueError(f"the fit is of body model {fit.body_model!r}, evaluating with {body.name!r}")
    frames = gt["frames"]
    n = int(frames["keypoints_3d"].shape[0])
    if fit.fitted.shape[0] != n:
        raise ValueError(f"the fit has {fit.fitted.shape[0]} frames, the ground truth {n}")
    out = _unmeasured(frames, fit.fitted.numpy().astype(bool))
    idx = fit.fitted.nonzero().squeeze(1)
    if idx.numel() == 0:
        return out
    pred = posed_keypoints(fit, body, idx).float()
    true = gt_camera_keypoints(frames)[idx]
    vis = frames["keypoints_in_frame"][idx].bool()

    hp, ht = pred[:, list(HIPS)].mean(1, keepdim=True), true[:, list(HIPS)].mean(1, keepdim=True)
    out["mpjpe"][idx.numpy()] = ((pred - hp) - (true - ht)).norm(dim=-1).mean(1).numpy() * 1000
    aligned = procrustes_align(pred, true)
    out["pa_mpjpe"][idx.numpy()] = (aligned - true).norm(dim=-1).mean(1).numpy() * 1000
    enough = vis.sum(1) >= MIN_VISIBLE
    if bool(enough.any()):
        w = vis[enough].float()
        al = procrustes_align(pred[enough], true[enough], w)
        err = ((al - true[enough]).norm(dim=-1) * w).sum(1) / w.sum(1)
        out["pa_mpjpe_visible"][idx[enough].numpy()] = err.numpy() * 1000
    uv = project(pred, fit.K.float())
    e2 = (uv - frames["keypoints_2d"][idx].float()).norm(dim=-1)
    v = vis.float()
    rep = (e2 * v).sum(1) / v.sum(1).clamp(min=1)
    rep[v.sum(1) == 0] = float("nan")
    out["reproj"][idx.numpy()] = rep.numpy()
    true_root = (frames["viewmat"][idx] @ frames["root"][idx])[:, :3, :3].float()
    out["root_deg"][idx.numpy()] = torch.rad2deg(roma.rotmat_geodesic_distance(fit.root[idx, :3, :3].float(),
                                                                                true_root)).numpy()
    return out


@torch.no_grad()
def keypoint_error_fraction(fit: BodyFit, det: VideoDetections, body: BodyModel, min_confidence: float = 0.5) -> Tensor:
    """(F,) median pixel distance between the fitted keypoints and the detections with confidence
    >= `min_confidence`, as a fraction of the person's height in the image (the fitted body's
    projected extent, head to feet, so a waist-up photo still has its whole height); NaN where
    not fitted. The check of fits on real photos, which have no ground truth."""
    out = torch.full((fit.fitted.shape[0],), float("nan"))
    idx = fit.fitted.nonzero().squeeze(1)
    if idx.numel() == 0:
        return out
    verts = fitted_vertices(fit, body, idx).float()
    uv = project(body.keypoints(verts).float(), fit.K.float())
    height = project(verts, fit.K.float())[..., 1]
    height = (height.max(dim=1).values - height.min(dim=1).values).clamp(min=1.0)
    err = (uv - det.keypoints[idx].float()).norm(dim=-1)
    for k, i in enumerate(idx.tolist()):
        ok = det.confidence[i] >= min_confidence
        if bool(ok.any()):
            out[i] = err[k][ok].median() / height[k]
    return out


def summarize(errors: dict[str, np.ndarray]) -> dict:
    """Frame-weighted means of per-frame errors (from one or several videos, concatenated)."""
    from genlca.data.synth import FRAMINGS

    def mean(a):
        a = a[np.isfinite(a)]
        return round(float(a.mean()), 2) if a.size else math.nan

    fitted = errors["fitted"]
    root = errors["root_deg"][np.isfinite(errors["root_deg"])]
    flipped = round(float((root > 90).mean()), 4) if root.size else math.nan
    by = {}
    for i, name in enumerate(FRAMINGS):
        sel = errors["framing"] == i
        if sel.any():
            by[name] = round(float(fitted[sel].mean()), 4)
    return {
        "frames": int(fitted.size), "fitted_frames": int(fitted.sum()),
        "fitted_share": round(float(fitted.mean()), 4) if fitted.size else math.nan,
        "fitted_share_by_framing": by,
        "fitted_share_head_in_view": (round(float(fitted[errors["head_in_view"]].mean()), 4)
                                      if errors["head_in_view"].any() else math.nan),
        "mpjpe_mm": mean(errors["mpjpe"]), "pa_mpjpe_mm": mean(errors["pa_mpjpe"]),
        "pa_mpjpe_visible_mm": mean(errors["pa_mpjpe_visible"]), "reproj_px": mean(errors["reproj"]),
        "root_deg": mean(errors["root_deg"]), "facing_flipped_share": flipped,
    }


def detections_from_ground_truth(gt: dict, noise: float = 0.015, confidence: float = 0.9, seed: int = 0,
                                 masks: bool = True) -> VideoDetections:
    """Stand-in detections from ground truth: GT 2D keypoints plus Gaussian pixel noise of
    `noise` x the person's pixel height (f * height / depth of the mid-hip; per axis),
    confidence = in-frame x `confidence`, detected where any keypoint is in frame, masks from
    the GT person mask (with `masks`). The real detector's error is ~1-1.6% of the height."""
    from genlca.io_utils import unpack_bits

    frames, subject = gt["frames"], gt["subject"]
    kp = frames["keypoints_2d"].float()
    n = kp.shape[0]
    inside = frames["keypoints_in_frame"].bool()
    depth = gt_camera_keypoints(frames)[:, list(HIPS), 2].mean(1).clamp(min=0.1)
    height_px = frames["K"][:, 0, 0].float() * float(subject["height_m"]) / depth
    gen = torch.Generator().manual_seed(seed)
    noisy = kp + torch.randn(kp.shape, generator=gen) * (noise * height_px)[:, None, None]
    conf = inside.float() * confidence
    noisy = torch.where(inside[..., None], noisy, torch.zeros_like(noisy))
    detected = inside.any(dim=1)
    boxes = torch.zeros(n, 4)
    for i in range(n):
        if bool(detected[i]):
            pts = noisy[i][inside[i]]
            boxes[i] = torch.cat([pts.min(0).values, pts.max(0).values])
    mask = None
    if masks:
        m = frames.get("person_mask")
        mask = m.bool() if m is not None else unpack_bits(frames["person_mask_packed"], int(subject["size"]))
    size = int(subject["size"])
    return VideoDetections(keypoints=noisy, confidence=conf, boxes=boxes, detected=detected, masks=mask,
                           width=size, height=size, fps=float(subject["fps"]),
                           detector=f"ground truth + {noise:g} x height noise")


def fit_from_ground_truth(gt: dict, body_model: str = "anny") -> BodyFit:
    """The true 'fit' of a synthetic video (`load_ground_truth`): its shape, joint rotations and
    body -> camera transform (viewmat @ root), every frame fitted. Stages after fitting
    (tokenizer) are measured on it apart from fitting errors, and trained on it."""
    frames, subject = gt["frames"], gt["subject"]
    n = int(frames["root"].shape[0])
    size = int(subject["size"])
    return BodyFit(body_model=body_model, shape=gt["maps"]["shape"].float(),
                   joint_rotations=frames["joint_rotations"].float(),
                   root=(frames["viewmat"] @ frames["root"]).float(), K=frames["K"][0].float(), width=size,
                   height=size, fitted=torch.ones(n, dtype=torch.bool), reproj_error_px=torch.zeros(n),
                   keypoint_confidence=torch.ones(n), reasons=[""] * n)


def evaluate_fit(fit: BodyFit, gt: dict, body: BodyModel) -> dict:
    """Metrics of one video's fit against its ground truth (`load_ground_truth`); see the module doc."""
    return summarize(frame_errors(fit, gt, body))


def evaluate_drop(fits_dir: str | os.PathLike, drop_dir: str | os.PathLike, body: BodyModel | None = None) -> dict:
    """Every video of a synthetic drop (`DROP/ground_truth/<video>/`) against its fit
    (`FITS_DIR/<video>.safetensors`, written by `genlca.fitting.store.save_fits`). A video
    without a fit counts as all frames unfitted. Returns {'overall': metrics, 'videos': {name: metrics}}."""
    from genlca.body import load_body_model
    from genlca.data.synth import load_ground_truth
    from genlca.fitting.store import fit_path, load_fit

    fits_dir, drop_dir = Path(fits_dir), Path(drop_dir)
    gt_root = drop_dir / "ground_truth"
    names = sorted(p.name for p in gt_root.iterdir() if (p / "frames.safetensors").is_file())
    if not names:
        raise FileNotFoundError(f"{gt_root}: no ground truth of any video")
    body = body or load_body_model()
    per_video, parts = {}, []
    for name in names:
        gt = load_ground_truth(gt_root / name, unpack=False)
        path = fit_path(fits_dir, name)
        if path.is_file():
            errs = frame_errors(load_fit(path), gt, body)
        else:
            errs = _unmeasured(gt["frames"], np.zeros(int(gt["frames"]["keypoints_3d"].shape[0]), bool))
        per_video[name] = summarize(errs) | {"fit": path.name if path.is_file() else None,
                                             "framing": gt["subject"].get("framing", "")}
        parts.append(errs)
    combined = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return {"overall": summarize(combined), "videos": per_video}


__all__ = ["detections_from_ground_truth", "evaluate_drop", "evaluate_fit", "fit_from_ground_truth", "frame_errors", "gt_camera_keypoints",
           "keypoint_error_fraction", "procrustes_align", "summarize"]
