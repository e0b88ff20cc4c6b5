"""What a new user does first with a checkpoint, in one call (the `user_avatars` asset and `make demo`):
generate an avatar from text, edit one region, animate it. Writes into OUT_DIR:

    avatar.ply, avatar.png      the generated avatar (3DGS file; four sides)
    edited.ply, edit.png        the avatar with one region regenerated (before | after)
    <motion>.mp4                the edited avatar animated
    report.json                 prompts, seeds, timings, the edit's colour change inside / outside the region,
                                the animation's integrity
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from genlca.generation.generator import AvatarGenerator, SamplerOptions, save_avatar
from genlca.io_utils import atomic_path


@dataclass
class DemoRequest:
    prompt: str = "a woman with long brown hair in a red and white striped t-shirt, black trousers and white shoes"
    edit_region: str = "upper_body"
    edit_prompt: str = "a woman with long brown hair in a green t-shirt, black trousers and white shoes"
    motion: str = "walk"
    expression: str = "neutral"  # or smile | surprise | frown | talk | blink (body models with face units: Anny)
    seconds: float = 2.0
    fps: float = 12.0
    size: int = 256
    steps: int = 20
    seed: int = 0


def region_color_change(before, after, mask: torch.Tensor) -> dict[str, float]:
    """Mean RGB distance between two avatars' colours inside and outside a (R, R) region mask."""
    from genlca.avatar import CHANNELS

    d = (after.maps[CHANNELS["rgb"]].float() - before.maps[CHANNELS["rgb"]].float()).norm(dim=0)
    chart = after.visibility > 0
    inside, outside = mask & chart, ~mask & chart
    return {"inside": round(float(d[inside].mean()) if inside.any() else 0.0, 4),
            "outside": round(float(d[outside].mean()) if outside.any() else 0.0, 4),
            "outside_max": round(float(d[outside].max()) if outside.any() else 0.0, 4)}


def demo_avatars(checkpoint: str | os.PathLike, out_dir: str | os.PathLike, req: DemoRequest = DemoRequest(),
                 progress: bool = False) -> dict:
    from genlca.body import body_model_named
    from genlca.body.uv_layout import uv_layout
    from genlca.generation.animate import animate, load_clip, with_expression
    from genlca.generation.regions import region_mask
    from genlca.generation.sheet import contact_sheet

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    gen = AvatarGenerator(checkpoint)
    body = body_model_named(gen.body_model)
    opts = SamplerOptions(steps=req.steps, seed=req.seed)
    prompt = req.prompt if gen.has_text else ""
    edit_prompt = req.edit_prompt if gen.has_text else ""
    [avatar] = gen.from_text([prompt], opts)
    save_avatar(avatar, out / "avatar.ply", body)
    contact_sheet([avatar], [prompt or "(unconditional: the checkpoint has no text conditioning)"],
                  out / "avatar.png", size=req.size, views=4, body=body)
    t_gen = time.time() - t0

    edited = gen.edit(avatar, req.edit_region, edit_prompt, 1.0, opts, body=body)
    save_avatar(edited, out / "edited.ply", body)
    contact_sheet([avatar, edited], ["before", f"after: {req.edit_region} -> {edit_prompt}"], out / "edit.png",
                  size=req.size, views=4, columns=1, body=body)
    mask = region_mask(req.edit_region, body, uv_layout(body, gen.resolution), avatar.shape.float())
    change = region_color_change(avatar, edited, mask)
    t_edit = time.time() - t0 - t_gen

    clip = with_expression(load_clip(req.motion, body, req.seconds, req.fps), req.expression, body)
    anim = animate(edited, clip, out / f"{req.motion}.mp4", body, size=req.size, progress=progress)
    report = {"checkpoint": str(checkpoint), "text_conditioned": gen.has_text, "prompt": prompt,
              "edit": {"region": req.edit_region, "prompt": edit_prompt, "region_share": edited.meta["region_share"],
                       "color_change": change},
              "animation": anim, "seconds": {"generate": round(t_gen, 1), "edit": round(t_edit, 1),
                                             "total": round(time.time() - t0, 1)},
              "files": {k: str(out / v) for k, v in (("avatar", "avatar.ply"), ("avatar_views", "avatar.png"),
                                                     ("edited", "edited.ply"), ("edit_views", "edit.png"),
                                                     ("animation", f"{req.motion}.mp4"))}}
    with atomic_path(out / "report.json") as tmp:
        tmp.write_text(json.dumps(report, indent=1) + "\n")
    return report


__all__ = ["DemoRequest", "demo_avatars", "region_color_change"]
