"""Driving an avatar: procedural motions, the fitted motion of another video (motion transfer), or a video
fitted on the spot. The avatar's Gaussians ride on the skinned body surface (genlca.avatar), so animation is
posing the body model per frame and rendering from one camera.

    clip = procedural_clip("walk", seconds=2)            # or fit_clip(load_fit("fits/vid_000.safetensors"))
    clip = with_expression(clip, "talk", body)           # facial expression, where the body model has face units
    report = animate(tokens, clip, "walk.mp4", body)

`report["intact"]`: every frame's Gaussian centres lie within the posed mesh's bounding box grown by a margin
(no Gaussian flies off as the body moves).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from genlca.body.protocol import BodyModel, Pose, pose_from_rotations
from genlca.tokenizer.tokens import AvatarTokens

MOTIONS: tuple[str, ...] = ("walk", "wave", "turn")
INTACT_MARGIN_M = 0.15  # how far a Gaussian centre may stick out of the posed mesh's box (loose hair, offsets)


@dataclass
class MotionClip:
    pose: Pose  # joint -> (F, 3, 3) deltas from the A-pose (GENERIC_JOINTS)
    root: Tensor | None  # (F, 4, 4) body -> world; None = standing at the origin
    fps: float
    source: str
    expression: Tensor | None = None  # (F, E) weights of the body model's face units (`expression_names`)
    expression_name: str = "neutral"

    @property
    def frames(self) -> int:
        return int(next(iter(self.pose.values())).shape[0]) if self.pose else (
            0 if self.root is None else int(self.root.shape[0]))


def procedural_clip(name: str, seconds: float = 2.0, fps: float = 24.0) -> MotionClip:
    """walk: a gait in place, one stride per second; wave: the right arm waving twice a second; turn: a full
    turn about the vertical axis while walking slowly."""
    from genlca.body.poses import turn, walk, wave

    if name not in MOTIONS:
        raise ValueError(f"unknown motion {name!r}; choose one of {', '.join(MOTIONS)} or give a fits file / video")
    n = max(2, round(seconds * fps))
    t = torch.arange(n, dtype=torch.float32) / fps
    if name == "walk":
        return MotionClip(walk(2 * math.pi * t), None, fps, "walk")
    if name == "wave":
        return MotionClip(wave(2 * math.pi * 2 * t), None, fps, "wave")
    return MotionClip(walk(2 * math.pi * 0.75 * t), turn(2 * math.pi * t / (n / fps)), fps, "turn")


def fit_clip(fit, source: str = "", fps: float = 24.0) -> MotionClip:
    """The motion of a body fit (`genlca fit`), re-rooted so the body starts at the origin facing front:
    root_world(f) = root(first fitted)^-1 @ root(f). Unfitted frames hold the previous fitted pose."""
    fitted = fit.fitted.bool()
    if not bool(fitted.any()):
        raise ValueError(f"{source or 'fit'}: no fitted frame to take a motion from")
    idx = torch.arange(len(fitted))
    last = torch.cummax(torch.where(fitted, idx, torch.full_like(idx, -1)), 0).values
    first = int(idx[fitted][0])
    last = torch.where(last < 0, torch.full_like(last, first), last)  # frames before the first fitted one
    rot, root = fit.joint_rotations[last].float(), fit.root[last].float()
    rel = torch.linalg.inv(fit.root[first].float())[None] @ root
    return MotionClip(pose_from_rotations(rot), rel, fps, source or "fit")


def video_clip(video: str | os.PathLike, body: BodyModel, max_frames: int | None = None) -> MotionClip:
    """Detect and fit the main person of a video, then take its motion (`fit_clip`)."""
    from genlca.fitting.detect import detect_video
    from genlca.fitting.fit import fit_video

    det = detect_video(video, max_frames=max_frames, progress=True)
    return fit_clip(fit_video(det, body), str(video), float(det.fps or 24.0))


def load_clip(motion: str, body: BodyModel, seconds: float = 2.0, fps: float = 24.0) -> MotionClip:
    """`motion`: a MOTIONS name, a fits file (.safetensors from `genlca fit`) or a video file."""
    if motion in MOTIONS:
        return procedural_clip(motion, seconds, fps)
    path = Path(motion)
    if not path.is_file():
        raise ValueError(f"{motion}: neither a motion ({', '.join(MOTIONS)}) nor an existing fits file or video")
    if path.suffix.lower() == ".safetensors":
        from genlca.fitting.store import load_fit

        fit = load_fit(path)
        if fit.body_model != body.name:
            raise ValueError(f"{path}: a fit of body model {fit.body_model!r}, the avatar's is {body.name!r}")
        return fit_clip(fit, str(path), fps)
    return video_clip(path, body)


def with_expression(clip: MotionClip, name: str, body: BodyModel) -> MotionClip:
    """The clip with a procedural facial expression (`genlca.generation.expressions.EXPRESSIONS`)."""
    from genlca.generation.expressions import expression_weights

    if name == "neutral":
        return replace(clip, expression=None, expression_name=name)
    names = getattr(body, "expression_names", ())
    try:
        weights = expression_weights(name, clip.frames, clip.fps, names)
    except ValueError as e:
        raise ValueError(f"body model {body.name!r}: {e}") from None
    return replace(clip, expression=weights, expression_name=name)


@torch.no_grad()
def posed_frames(tokens: AvatarTokens, clip: MotionClip, body: BodyModel, chunk: int = 16):
    """Yields (Gaussians, posed mesh vertices (V, 3)) per frame of the clip."""
    from genlca.avatar import gaussians_from_texels, texel_frames
    from genlca.body.uv_layout import uv_layout

    layout = uv_layout(body, tokens.maps.shape[-1])
    values = tokens.avatar().texel_values(layout).float()
    shape = tokens.shape.float().reshape(1, -1)
    for lo in range(0, clip.frames, chunk):
        hi = min(clip.frames, lo + chunk)
        pose = {k: v[lo:hi] for k, v in clip.pose.items()}
        root = None if clip.root is None else clip.root[lo:hi]
        face = {} if clip.expression is None else {"expression": clip.expression[lo:hi]}
        verts = body.pose(shape.expand(hi - lo, -1), pose, root, **face).vertices
        anchors, frames, _ = texel_frames(body, layout, verts)
        for f in range(hi - lo):
            yield gaussians_from_texels(values, anchors[f], frames[f]), verts[f]


def head_vertices(body: BodyModel) -> Tensor:
    """(V,) bool: vertices of the body model's head faces (what a close-up frames)."""
    from genlca.body.protocol import PART_NAMES

    mask = torch.zeros(body.num_vertices, dtype=torch.bool, device=body.faces.device)
    mask[body.faces[body.face_parts == PART_NAMES.index("head")].flatten()] = True
    return mask


def animate(tokens: AvatarTokens, clip: MotionClip, out: str | os.PathLike, body: BodyModel, size: int = 384,
            azimuth: float = 20.0, backend: str = "auto", framing: str = "body", progress: bool = False) -> dict:
    """Render the avatar driven by `clip` into an MP4 from one camera that frames the whole motion (`framing`
    "body") or the head throughout it ("face": a close-up for expressions); returns {path, frames, fps,
    seconds of video, motion, expression, max_excursion_m, intact}."""
    from genlca.data.video import write_video
    from genlca.render.camera import framing_camera
    from genlca.render.renderer import render
    from genlca.render.views import to_uint8

    if tokens.body_model != body.name:
        raise ValueError(f"avatar of body model {tokens.body_model!r}, animating with {body.name!r}")
    if framing not in ("body", "face"):
        raise ValueError(f"framing must be 'body' or 'face', got {framing!r}")
    posed = list(tqdm(posed_frames(tokens, clip, body), total=clip.frames, desc="pose", disable=not progress))
    boxes = torch.stack([torch.stack([v.min(0).values, v.max(0).values]) for _, v in posed])  # (F, 2, 3)
    framed = boxes
    if framing == "face":
        head = head_vertices(body)
        framed = torch.stack([torch.stack([v[head].min(0).values, v[head].max(0).values]) for _, v in posed])
    camera = framing_camera(torch.cat([framed[:, 0], framed[:, 1]]), azimuth, size - size % 2, size - size % 2)
    excursion = []
    images = []
    for (g, _), box in tqdm(list(zip(posed, boxes)), desc="render", disable=not progress):
        below = (box[0] - g.means).clamp(min=0).max()
        above = (g.means - box[1]).clamp(min=0).max()
        excursion.append(float(torch.maximum(below, above)))
        images.append(to_uint8(render(g, camera, background=(1.0, 1.0, 1.0), backend=backend).rgb))
    write_video(out, images, fps=max(1, round(clip.fps)))
    worst = max(excursion) if excursion else 0.0
    return {"path": str(out), "frames": len(images), "fps": clip.fps, "seconds": round(len(images) / clip.fps, 2),
            "motion": clip.source, "expression": clip.expression_name, "max_excursion_m": round(worst, 4),
            "intact": worst <= INTACT_MARGIN_M}


__all__ = ["INTACT_MARGIN_M", "MOTIONS", "MotionClip", "animate", "fit_clip", "head_vertices", "load_clip",
           "posed_frames", "procedural_clip", "video_clip", "with_expression"]
