"""`generate_drop`: a folder of synthetic "in-the-wild" videos with their full ground truth.

Per video: a random subject (shape + outfit + caption), a motion, a camera framing, a scene;
the ground-truth avatar (template maps with the clothing albedo) is posed per frame and
rendered with the Gaussian renderer (Lambert-shaded), so frames and ground truth agree.
Everything is drawn from `numpy.random.default_rng([seed, video index])`: the same seed gives
the same files. The drop is written in a hidden folder beside `out` and renamed into place,
with `_READY` written last inside it."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from genlca.avatar import CHANNELS, gaussians_from_texels, template_avatar, texel_frames, to_gaussians
from genlca.body import load_body_model
from genlca.body.protocol import BodyModel
from genlca.body.uv_layout import UVLayout, uv_layout
from genlca.data.synth import cameras as cam_mod
from genlca.data.synth.clothing import garment_regions, paint_albedo, region_labels, template_geometry
from genlca.data.synth.motion import Motion, MotionSpec, animate, sample_motion
from genlca.data.synth.scenes import Backdrop, SceneSpec, available_photos, occluder_layer, sample_scene, sensor, shade_colors
from genlca.data.synth.subject import Subject, sample_subject
from genlca.render.visibility import texel_visibility
from genlca.data.synth.vocab import FRAMINGS, REGIMES, REGIONS
from genlca.data.synth.writer import GT_FORMAT_VERSION, save_json
from genlca.io_utils import check_replaceable, pack_bits, save_tensors, staged_dir
from genlca.data.video import ENCODER, VideoEncoder
from genlca.render.ply import save_ply
from genlca.render.renderer import render

GENERATOR_VERSION = 1
READY = "_READY"
OCCLUDER_PROBABILITY = 0.3
CHUNK = 32  # frames posed at once


@dataclass
class VideoSpec:
    """Everything that decides one video (JSON-able via the parts' to_dict)."""

    name: str
    index: int
    subject: Subject
    motion: MotionSpec
    camera: cam_mod.CameraSpec
    scene: SceneSpec


# ----------------------------------------------------------------------------- planning
def plan_framings(regime: str, videos: int, rng: np.random.Generator) -> list[tuple[str, bool]]:
    """(framing, whole_body) per video. full: whole-body framings from any side; partial: no
    video shows the whole body; mixed: anything, at least one plain full-body video."""
    if regime not in REGIMES:
        raise ValueError(f"unknown regime {regime!r}; choose one of {', '.join(REGIMES)}")
    out = []
    for _ in range(videos):
        if regime == "full":
            out.append((str(rng.choice(["full", "back", "side"], p=[0.6, 0.2, 0.2])), True))
        elif regime == "partial":
            out.append((str(rng.choice(["upper", "lower", "crop", "back", "side"], p=[0.3, 0.25, 0.25, 0.1, 0.1])),
                        False))
        else:
            f = str(rng.choice(FRAMINGS, p=[0.3, 0.2, 0.15, 0.1, 0.1, 0.15]))
            whole = f == "full" or (f in ("back", "side") and bool(rng.uniform() < 0.5))
            out.append((f, whole))
    if regime == "mixed" and videos and not any(f == "full" for f, _ in out):
        out[int(rng.integers(videos))] = ("full", True)
    return out


def sample_video(name: str, index: int, seed: int, framing: str, whole_body: bool, body: BodyModel) -> VideoSpec:
    rng = np.random.default_rng([seed, index])
    subject = sample_subject(rng, body)
    motion = sample_motion(rng)
    camera = cam_mod.sample_camera(rng, framing, whole_body)
    scene = sample_scene(rng, occluded=bool(rng.uniform() < OCCLUDER_PROBABILITY))
    return VideoSpec(name, index, subject, motion, camera, scene)


# ----------------------------------------------------------------------------- avatar
def subject_avatar(body: BodyModel, layout: UVLayout, subject: Subject):
    """Ground-truth avatar (template maps, rgb = clothing albedo), its regions and geometry."""
    geom = template_geometry(body, layout, subject.shape)
    c = subject.clothing
    regions = garment_regions(body, layout, subject.shape, sleeves=c.top.style, legwear=c.bottom.style,
                              hair=c.hair.style, geometry=geom)
    avatar = template_avatar(body, layout, subject.shape)
    avatar.maps[CHANNELS["rgb"]] = paint_albedo(c, regions, geom, layout)
    return avatar, regions, geom


def _pose_slice(motion: Motion, lo: int, hi: int) -> tuple[dict, torch.Tensor]:
    return {k: v[lo:hi] for k, v in motion.pose.items()}, motion.root[lo:hi]


@torch.no_grad()
def pose_frames(body: BodyModel, shape: torch.Tensor, motion: Motion) -> torch.Tensor:
    """(F, V, 3) posed vertices, in chunks."""
    f = motion.root.shape[0]
    out = []
    for lo in range(0, f, CHUNK):
        hi = min(f, lo + CHUNK)
        pose, root = _pose_slice(motion, lo, hi)
        out.append(body.pose(shape.reshape(1, -1).expand(hi - lo, -1), pose, root).vertices)
    return torch.cat(out)


# ----------------------------------------------------------------------------- one video
@torch.no_grad()
def render_video(spec: VideoSpec, body: BodyModel, layout: UVLayout, frames: int, size: int, fps: int,
                 progress: bool = False, on_frame: Callable[[np.ndarray], None] | None = None) -> dict:
    """Render one video. Frames go to `on_frame` as they are made (e.g. a VideoEncoder), or, without
    it, are returned. Returns {'frames': [uint8 (H, W, 3)], 'avatar', 'maps_gt': {...},
    'frames_gt': {...}, 'subject_json': {...}}."""
    subject = spec.subject
    avatar, regions, geom = subject_avatar(body, layout, subject)
    template = body.template(subject.shape.reshape(1, -1))[0]
    ground_z = -float(template[:, 2].min())
    motion = animate(spec.motion, frames, fps, ground_z)
    verts = pose_frames(body, subject.shape, motion)
    kp3d = body.keypoints(verts)

    roi = cam_mod.roi_vertex_mask(template, geom.keypoints, spec.camera.roi)
    cams, fit = cam_mod.fit_cameras(spec.camera, verts, kp3d, roi, motion.heading, size, fps)
    kuv, kz = cam_mod.project(cams, kp3d)
    kin = cam_mod.in_frame(kuv, kz, size)
    center = verts.mean(dim=1)
    rel_az, view = cam_mod.view_labels(cams, motion.heading, center)
    extent = cam_mod.extent_labels(kin)

    # The backdrop cylinder stands round the subject's path, 2-6 m beyond the farthest camera.
    traj = motion.root[:, :2, 3]
    axis = traj.mean(dim=0).numpy().astype(np.float64)
    cam_xy = torch.stack([c.position[:2] for c in cams])
    reach = float((cam_xy - traj.mean(dim=0)).norm(dim=-1).max())
    rng = np.random.default_rng([spec.index, 7, int(spec.subject.clothing.noise_seed)])
    scene = replace(spec.scene, wall_radius=round(reach + 2.0 + 4.0 * float(rng.uniform()), 3))

    backdrop = Backdrop(scene, axis)
    values = avatar.texel_values(layout)
    albedo = values[:, CHANNELS["rgb"]]
    tex_n = layout.num_texels
    vis = torch.zeros(frames, tex_n, dtype=torch.bool)
    person = torch.zeros(frames, size, size, dtype=torch.bool)
    images = []
    faces = body.faces
    it = tqdm(range(frames), desc=spec.name, leave=False, disable=not progress)
    for lo in range(0, frames, CHUNK):
        hi = min(frames, lo + CHUNK)
        anchors, fr, _ = texel_frames(body, layout, verts[lo:hi])
        for k in range(hi - lo):
            t = lo + k
            cam = cams[t]
            g = gaussians_from_texels(values, anchors[k], fr[k])
            g.colors = shade_colors(albedo, fr[k][..., 2], scene.light_dir, scene.ambient)
            out = render(g, cam, background=(0.0, 0.0, 0.0), backend="torch")
            feet = kp3d[t, -2:, :2].numpy()
            bg = backdrop.render(cam, feet)
            alpha = out.alpha.numpy()
            img = out.rgb.numpy() + (1 - alpha)[..., None] * bg
            occ_cov = np.zeros((size, size), np.float32)
            for occ in scene.occluders:
                cov, col = occluder_layer(occ, t / fps, size)
                img = img * (1 - cov[..., None]) + col * cov[..., None]
                occ_cov = np.maximum(occ_cov, cov)
            occ_mask = torch.from_numpy(occ_cov > 0.5)
            frame = sensor(img, scene, rng)
            if on_frame is None:
                images.append(frame)
            else:
                on_frame(frame)
            vis[t] = texel_visibility(anchors[k], fr[k][..., 2], verts[t], faces, cam, occ_mask)
            person[t] = (out.alpha > 0.5) & ~occ_mask
            it.update(1)
    it.close()

    r = layout.resolution
    vis_maps = torch.zeros(frames, r * r, dtype=torch.bool)
    vis_maps[:, layout.texels] = vis
    vis_maps = vis_maps.view(frames, r, r)
    count = vis_maps.sum(dim=0).to(torch.int32)
    maps_gt = {
        "maps": avatar.maps.float(),
        "visibility": (count.float() / max(frames, 1)),
        "visible_count": count,
        "mask": layout.mask.to(torch.uint8),
        "regions": region_labels(regions),
        "shape": subject.shape.float(),
    }
    frames_gt = {
        "joint_rotations": motion.rotations().float(),
        "root": motion.root.float(),
        "viewmat": torch.stack([c.viewmat for c in cams]).float(),
        "K": torch.stack([c.K for c in cams]).float(),
        "keypoints_2d": kuv.float(),
        "keypoints_3d": kp3d.float(),
        "keypoints_in_frame": kin.to(torch.uint8),
        "framing": extent.long(),
        "view": view.long(),
        "view_azimuth": rel_az.float(),
        "whole_body": kin.all(dim=1).to(torch.uint8),
        "visibility_packed": pack_bits(vis_maps),
        "person_mask_packed": pack_bits(person),
    }
    height_m = float(template[:, 2].max() - template[:, 2].min())
    subject_json = {
        "format_version": GT_FORMAT_VERSION,
        "generator_version": GENERATOR_VERSION,
        "name": spec.name,
        "video": f"videos/{spec.name}.mp4",
        "body_model": body.name,
        "shape": subject.shape_labels,
        "shape_vector": [float(x) for x in subject.shape],
        "height_m": round(height_m, 4),
        "caption": subject.caption,
        "clothing": subject.clothing.to_dict(),
        "regions": list(REGIONS),
        "framing": spec.camera.framing,
        "whole_body": spec.camera.whole_body,
        "frame_framings": [FRAMINGS[i] for i in extent.tolist()],
        "frame_views": [cam_mod.VIEWS[i] for i in view.tolist()],
        "whole_body_frames": int(kin.all(dim=1).sum()),
        "camera": spec.camera.to_dict() | {"fit": fit},
        "motion": spec.motion.to_dict(),
        "scene": scene.to_dict(),
        "frames": frames,
        "fps": fps,
        "size": size,
        "resolution": r,
        "num_texels": tex_n,
        "visible_texels": int((count > 0).sum()),
        "framings_vocabulary": list(FRAMINGS),
        "views_vocabulary": list(cam_mod.VIEWS),
        "joint_order": list(body.joint_names),
    }
    return {"frames": images, "avatar": avatar, "maps_gt": maps_gt, "frames_gt": frames_gt,
            "subject_json": subject_json}


# ----------------------------------------------------------------------------- the drop
def _is_previous_drop(path: Path) -> bool:
    return (path / READY).is_file() and (path / "ground_truth" / "synth.json").is_file()


def _check_target(out: Path) -> None:
    check_replaceable(out, _is_previous_drop, "synthetic drop")


def generate_drop(out: str | Path, videos: int = 4, frames: int = 24, size: int = 256, regime: str = "mixed",
                  seed: int = 0, resolution: int = 128, fps: int = 12, progress: bool = False) -> dict:
    """Write a synthetic video drop to `out` (see the module and writer docs for the layout).
    Returns a summary: {'videos': [names], 'seconds': float, 'out', 'regime', 'seed', ...}."""
    t0 = time.time()
    out = Path(out)
    if videos < 1 or frames < 1:
        raise ValueError("need at least one video of at least one frame")
    if size % 2:
        raise ValueError(f"size must be even for H.264, got {size}")
    if regime not in REGIMES:
        raise ValueError(f"unknown regime {regime!r}; choose one of {', '.join(REGIMES)}")
    _check_target(out)
    body = load_body_model()
    layout = uv_layout(body, resolution)
    plan = plan_framings(regime, videos, np.random.default_rng([seed, 1_000_003]))
    names = [f"vid_{i:03d}" for i in range(videos)]

    threads = torch.get_num_threads()
    # Per-frame tensors are small: one intra-op thread is as fast on an idle machine and several
    # times faster on a busy one (OpenMP threads spin when a core is taken). Output is identical.
    torch.set_num_threads(1)
    try:
        with staged_dir(out) as tmp:
            per_video = []
            for i, (name, (framing, whole)) in enumerate(tqdm(list(zip(names, plan)), desc="synth videos",
                                                              disable=not progress)):
                spec = sample_video(name, i, seed, framing, whole, body)
                with VideoEncoder(tmp / "videos" / f"{name}.mp4", fps) as enc:
                    res = render_video(spec, body, layout, frames, size, fps, progress=progress,
                                       on_frame=enc.write)
                gt_dir = tmp / "ground_truth" / name
                gt_dir.mkdir(parents=True)
                res["subject_json"] |= {"seed": seed, "index": i, "regime": regime}
                meta = {"format_version": GT_FORMAT_VERSION, "name": name}
                save_tensors(gt_dir / "maps.safetensors", res["maps_gt"], meta)
                save_tensors(gt_dir / "frames.safetensors", res["frames_gt"], meta)
                save_json(gt_dir / "subject.json", res["subject_json"])
                canon = to_gaussians(res["avatar"], body, layout, canonical=True)
                save_ply(gt_dir / "gt_avatar.ply", canon, res["avatar"], layout.texels)
                sj = res["subject_json"]
                per_video.append({"name": name, "framing": sj["framing"], "whole_body": sj["whole_body"],
                                  "caption": sj["caption"], "whole_body_frames": sj["whole_body_frames"]})
            summary = {
                "generator": "genlca.data.synth", "generator_version": GENERATOR_VERSION,
                "format_version": GT_FORMAT_VERSION, "body_model": body.name, "videos": names, "frames": frames,
                "size": size, "fps": fps, "resolution": resolution, "regime": regime, "seed": seed,
                "encoder": ENCODER, "photo_backgrounds": list(available_photos()), "per_video": per_video,
            }
            save_json(tmp / "ground_truth" / "synth.json", summary)  # ingest skips ground_truth/
            (tmp / READY).write_text(json.dumps({"videos": len(names)}) + "\n")  # last file in the drop
            _check_target(out)  # still replaceable: nothing else was written there meanwhile
    finally:
        torch.set_num_threads(threads)
    summary = dict(summary, out=str(out), seconds=round(time.time() - t0, 3))
    return summary


__all__ = ["READY", "VideoSpec", "generate_drop", "plan_framings", "render_video", "sample_video",
           "subject_avatar"]
