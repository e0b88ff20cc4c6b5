"""The two things people do with an avatar file so far: make the template, and look at it.
Shared by the CLI and the Dagster assets so both do exactly the same."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from genlca.avatar import GaussianAvatar, template_avatar, to_gaussians
from genlca.body import BodyConfig, load_body_model
from genlca.body.poses import NAMED_POSES, named_pose
from genlca.body.uv_layout import uv_layout
from genlca.data.video import write_video
from genlca.io_utils import atomic_path
from genlca.render.gaussians import Gaussians
from genlca.render.ply import load_ply, save_ply
from genlca.render.views import grid, render_views

POSES = ("canonical",) + NAMED_POSES


def write_template(out: str | os.PathLike, body: BodyConfig = BodyConfig(), resolution: int = 128) -> dict:
    """Save the body template as a part-coloured avatar .ply; returns a summary."""
    model = load_body_model(body)
    layout = uv_layout(model, resolution)
    avatar = template_avatar(model, layout)
    gaussians = to_gaussians(avatar, model, layout, canonical=True)
    save_ply(out, gaussians, avatar, layout.texels)
    return {"path": str(out), "gaussians": len(gaussians), "resolution": resolution, "body_model": model.name}


UNSEEN_TINT = (1.0, 0.0, 1.0)  # `mark_unseen`: texels no frame saw are drawn magenta


def load_avatar_file(path: str | os.PathLike,
                     mark_unseen: bool = False) -> tuple[Gaussians | None, GaussianAvatar | None]:
    """(stored Gaussians or None, avatar maps or None) of a .ply or a token file (.safetensors
    from `genlca tokenize`); with `mark_unseen`, a token avatar's unseen texels get UNSEEN_TINT."""
    if Path(path).suffix.lower() != ".safetensors":
        return load_ply(path)
    from genlca.avatar import CHANNELS
    from genlca.tokenizer.tokens import load_tokens

    tokens = load_tokens(path)
    avatar = tokens.avatar()
    if mark_unseen:
        rgb = avatar.maps[CHANNELS["rgb"]]
        tint = torch.tensor(UNSEEN_TINT)[:, None, None].expand_as(rgb)
        avatar.maps[CHANNELS["rgb"]] = torch.where((tokens.count == 0)[None], tint, rgb)
    return None, avatar


def posed_gaussians(path: str | os.PathLike, pose: str = "a-pose", body: BodyConfig | None = None,
                    mark_unseen: bool = False) -> tuple[Gaussians, GaussianAvatar | None]:
    """Gaussians of an avatar file in a named pose. Plain 3DGS files (no genlca maps) render as stored."""
    if pose not in POSES:
        raise ValueError(f"unknown pose {pose!r}; choose one of {', '.join(POSES)}")
    gaussians, avatar = load_avatar_file(path, mark_unseen)
    if avatar is None or (pose == "canonical" and gaussians is not None):
        return gaussians, avatar
    body = body or BodyConfig(name=avatar.body_model)
    if body.name != avatar.body_model:
        raise ValueError(f"{path}: avatar belongs to body model {avatar.body_model!r}, configured {body.name!r}")
    model = load_body_model(body)
    layout = uv_layout(model, avatar.resolution)
    if pose == "canonical":
        return to_gaussians(avatar, model, layout, canonical=True), avatar
    return to_gaussians(avatar, model, layout, pose=named_pose(pose)), avatar


@dataclass
class RenderRequest:
    avatar: str
    out: str | None = None  # PNG of the views side by side
    views: int = 4
    size: int = 512
    pose: str = "a-pose"
    turntable: str | None = None  # MP4
    frames: int = 48
    fps: int = 24
    backend: str = "auto"
    body: BodyConfig | None = None
    mark_unseen: bool = False  # token files: tint the texels no frame saw


def render_avatar(req: RenderRequest, progress: bool = False) -> dict:
    """Render views (PNG) and/or a turntable (MP4) of an avatar file; returns what was written."""
    gaussians, avatar = posed_gaussians(req.avatar, req.pose, req.body, req.mark_unseen)
    written: dict = {"gaussians": len(gaussians), "pose": req.pose if avatar is not None else "as stored"}
    if req.out:
        images = render_views(gaussians, req.views, req.size, backend=req.backend, progress=progress)
        with atomic_path(req.out) as tmp:
            Image.fromarray(grid(images)).save(tmp, format="PNG")
        written["image"] = str(req.out)
    if req.turntable:
        frames = render_views(gaussians, req.frames, req.size - req.size % 2, backend=req.backend, progress=progress)
        write_video(req.turntable, frames, fps=req.fps)
        written["turntable"] = str(req.turntable)
    return written
