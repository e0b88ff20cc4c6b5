"""Cameras as in real footage: a framing (which part of the body, from where), slow pan / zoom /
orbit, a little handheld shake, then a check that the frames really are what the framing says
(whole body in every frame, or never) with the zoom or crop corrected until they are."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

from genlca.body.protocol import COCO_KEYPOINTS
from genlca.render.camera import Camera, intrinsics, look_at

VIEWS = ("front", "side", "back")
HEAD_KEYPOINTS = tuple(COCO_KEYPOINTS.index(k) for k in ("nose", "left_eye", "right_eye", "left_ear", "right_ear"))
HIP_KEYPOINTS = tuple(COCO_KEYPOINTS.index(k) for k in ("left_hip", "right_hip"))
KNEE_ANKLE = tuple(COCO_KEYPOINTS.index(k) for k in ("left_knee", "right_knee", "left_ankle", "right_ankle"))


@dataclass
class CameraSpec:
    framing: str  # one of vocab.FRAMINGS
    whole_body: bool  # every COCO keypoint in frame in every frame (else: in no frame)
    roi: str = "body"  # body | upper (head to hips) | lower (hips down): the part to frame
    azimuth: float = 0.0  # degrees relative to the subject's initial facing (0 = front, 180 = back)
    follow: float = 0.0  # 1: the camera turns with the subject (a follow cam), 0: fixed in the world
    orbit: float = 0.0  # extra orbit, degrees per second
    elevation: float = 5.0  # degrees (camera above the target looks down)
    fov: float = 35.0  # vertical field of view, degrees
    fill: float = 0.75  # ROI height as a fraction of the frame height
    zoom: float = 0.0  # relative change of `fill` over the clip
    shift_x: float = 0.0  # screen position of the ROI centre, [-1, 1] of the half-frame (crops)
    shift_y: float = 0.0
    shake: float = 0.0  # handheld jitter, fraction of the ROI height
    shake_seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def sample_camera(rng: np.random.Generator, framing: str, whole_body: bool) -> CameraSpec:
    u = lambda a, b: round(float(rng.uniform(a, b)), 3)  # noqa: E731
    spec = CameraSpec(framing=framing, whole_body=whole_body, fov=u(25, 50), elevation=u(-3, 12),
                      orbit=u(-12, 12) if rng.uniform() < 0.5 else 0.0, zoom=u(-0.15, 0.15),
                      shake=u(0.0, 0.012), shake_seed=int(rng.integers(0, 2**31 - 1)))
    if framing == "full":
        spec.azimuth, spec.follow, spec.fill = u(-180, 180), float(rng.uniform() < 0.4), u(0.65, 0.9)
    elif framing in ("back", "side"):
        base = 180.0 if framing == "back" else float(rng.choice([-90.0, 90.0]))
        spec.azimuth, spec.follow, spec.orbit = base + u(-20, 20), 1.0, 0.0
        spec.fill = u(0.65, 0.9)
        if not whole_body:  # a cropped back / side view: upper or lower body, or cut by the edge
            kind = rng.choice(["upper", "lower", "crop"])
            if kind == "crop":
                spec.shift_x, spec.shift_y = _crop_shift(rng)
                spec.fill = u(1.0, 1.4)
            else:
                spec.roi, spec.fill = str(kind), u(0.85, 1.0)
    elif framing == "upper":
        spec.roi, spec.azimuth, spec.fill, spec.follow = "upper", u(-60, 60), u(0.8, 0.95), 1.0
        spec.elevation = u(-5, 8)
    elif framing == "lower":
        spec.roi, spec.azimuth, spec.fill = "lower", u(-180, 180), u(0.85, 1.0)
        spec.elevation, spec.follow = u(5, 25), float(rng.uniform() < 0.5)
    elif framing == "crop":
        spec.azimuth, spec.follow = u(-120, 120), float(rng.uniform() < 0.5)
        spec.shift_x, spec.shift_y = _crop_shift(rng)
        spec.fill = u(1.0, 1.4)
    else:
        raise ValueError(f"unknown framing {framing!r}")
    return spec


def _crop_shift(rng: np.random.Generator) -> tuple[float, float]:
    """Move the body off-centre so a frame edge cuts it: sideways, or the head / feet out."""
    side = rng.choice(["left", "right", "top", "bottom"], p=[0.3, 0.3, 0.15, 0.25])
    s = round(float(rng.uniform(0.25, 0.6)), 3)
    return {"left": (-s, 0.0), "right": (s, 0.0), "top": (0.0, -s), "bottom": (0.0, s)}[str(side)]


def roi_vertex_mask(template: Tensor, keypoints: Tensor, roi: str) -> Tensor:
    """(V,) bool: template vertices of the region to frame (from template heights)."""
    z = template[:, 2]
    hip = float(keypoints[list(HIP_KEYPOINTS), 2].mean())
    if roi == "upper":
        return z >= hip - 0.06
    if roi == "lower":
        return z <= hip + 0.08
    return torch.ones_like(z, dtype=torch.bool)


def _moving_average(x: Tensor, window: int) -> Tensor:
    """Centred moving average along dim 0 with edge padding (a smooth pan)."""
    if window <= 1 or x.shape[0] < 2:
        return x
    pad = window // 2
    xp = torch.cat([x[:1].expand(pad, *x.shape[1:]), x, x[-1:].expand(pad, *x.shape[1:])])
    c = torch.cumsum(torch.cat([torch.zeros_like(xp[:1]), xp]), dim=0)
    return (c[window:] - c[:-window])[: x.shape[0]] / window


def _shake(spec: CameraSpec, frames: int, fps: float) -> Tensor:
    """(F, 3) smooth pseudo-random jitter in [-1, 1] (a few sine waves per axis)."""
    gen = torch.Generator().manual_seed(spec.shake_seed)
    freq = 0.3 + 1.5 * torch.rand(3, 3, generator=gen)
    phase = 2 * math.pi * torch.rand(3, 3, generator=gen)
    t = torch.arange(frames, dtype=torch.float32)[:, None, None] / fps
    return torch.sin(2 * math.pi * freq * t + phase).mean(dim=-1)


def plan_cameras(spec: CameraSpec, vertices: Tensor, roi_mask: Tensor, heading: Tensor, size: int, fps: float,
                 distance_scale: float = 1.0, shift_scale: float = 1.0) -> list[Camera]:
    """Per-frame cameras for posed (F, V, 3) vertices."""
    f = vertices.shape[0]
    pts = vertices[:, roi_mask]
    lo, hi = pts.min(dim=1).values, pts.max(dim=1).values
    center = _moving_average((lo + hi) / 2, max(1, int(round(fps * 0.8))))
    half_h = float(((hi[:, 2] - lo[:, 2]) / 2).max())
    radius = float((pts[..., :2] - center[:, None, :2]).norm(dim=-1).max())
    t = torch.arange(f, dtype=torch.float32) / fps
    duration = max(f / fps, 1e-6)
    fill = spec.fill * (1 + spec.zoom * (t / duration - 0.5))
    tan_y = math.tan(math.radians(spec.fov) / 2)
    dist = (half_h / (tan_y * fill) + 0.5 * radius) * distance_scale
    az = math.radians(spec.azimuth) + heading[0] + spec.follow * (heading - heading[0]) \
        + math.radians(spec.orbit) * t
    el = math.radians(spec.elevation)
    shake = _shake(spec, f, fps) * spec.shake * 2 * half_h
    k = intrinsics(size, size, spec.fov)
    cams = []
    for i in range(f):
        a = float(az[i])
        back = torch.tensor([math.sin(a) * math.cos(el), -math.cos(a) * math.cos(el), math.sin(el)])
        right = torch.tensor([math.cos(a), math.sin(a), 0.0])  # camera x axis (screen right)
        up = torch.linalg.cross(right, -back)  # camera -y axis (screen up)
        reach = float(dist[i]) * tan_y
        target = center[i] - spec.shift_x * shift_scale * reach * right + spec.shift_y * shift_scale * reach * up \
            + shake[i]
        eye = target + float(dist[i]) * back
        cams.append(Camera(look_at(eye, target), k.clone(), size, size))
    return cams


def project(cams: list[Camera], points: Tensor) -> tuple[Tensor, Tensor]:
    """(F, P, 3) world points -> (F, P, 2) pixels and (F, P) depths."""
    uv, z = zip(*(c.project(p) for c, p in zip(cams, points)))
    return torch.stack(uv), torch.stack(z)


def in_frame(uv: Tensor, z: Tensor, size: int, margin: float = 0.0) -> Tensor:
    m = margin * size
    return (z > 1e-3) & (uv[..., 0] >= m) & (uv[..., 0] < size - m) & (uv[..., 1] >= m) & (uv[..., 1] < size - m)


def fit_cameras(spec: CameraSpec, vertices: Tensor, keypoints: Tensor, roi_mask: Tensor, heading: Tensor,
                size: int, fps: float, max_iter: int = 25) -> tuple[list[Camera], dict]:
    """Plan cameras, then zoom / shift until the framing holds in every frame:
    whole body -> every vertex inside the frame; partial -> never all 17 keypoints in frame;
    `lower` -> no head keypoint in frame; `upper` -> the nose stays in frame where possible."""
    dscale, sscale = 1.0, 1.0
    stride = max(1, vertices.shape[1] // 3000)  # a vertex subset is plenty for the bounds check
    sub = vertices[:, ::stride]
    for it in range(max_iter):
        cams = plan_cameras(spec, vertices, roi_mask, heading, size, fps, dscale, sscale)
        kuv, kz = project(cams, keypoints)
        kin = in_frame(kuv, kz, size)
        if spec.whole_body:
            vuv, vz = project(cams, sub)
            if bool(in_frame(vuv, vz, size, margin=0.01).all()):
                break
            dscale *= 1.06
            continue
        all_in = kin.all(dim=1).any()
        head_in = kin[:, list(HEAD_KEYPOINTS)].any()
        if spec.roi == "lower" and spec.framing != "crop" and head_in:
            dscale *= 0.93
        elif all_in:
            if spec.shift_x or spec.shift_y:
                sscale *= 1.12
            else:
                dscale *= 0.93
        else:
            break
    return cams, {"distance_scale": round(dscale, 4), "shift_scale": round(sscale, 4), "iterations": it + 1}


def view_labels(cams: list[Camera], heading: Tensor, body_center: Tensor) -> tuple[Tensor, Tensor]:
    """Per frame: camera azimuth relative to the subject's facing (degrees, 0 = front,
    +-180 = back) and the view id into VIEWS."""
    rel = []
    for c, h, p in zip(cams, heading, body_center):
        d = c.position - p
        az = math.atan2(float(d[0]), -float(d[1]))  # same convention as orbit_camera
        r = (math.degrees(az - float(h)) + 180.0) % 360.0 - 180.0
        rel.append(r)
    rel_t = torch.tensor(rel, dtype=torch.float32)
    a = rel_t.abs()
    view = torch.where(a > 135, 2, torch.where(a > 45, 1, 0))
    return rel_t, view


def extent_labels(kin: Tensor) -> Tensor:
    """Per frame framing id (into vocab.FRAMINGS) from which keypoints are in frame:
    full (all 17) / upper (head and hips, not the ankles) / lower (no head, hips or legs) / crop."""
    from genlca.data.synth.vocab import FRAMINGS

    head = kin[:, list(HEAD_KEYPOINTS)].any(dim=1)
    hips = kin[:, list(HIP_KEYPOINTS)].any(dim=1)
    legs = kin[:, list(KNEE_ANKLE)].any(dim=1)
    ankles = kin[:, list(KNEE_ANKLE[2:])].any(dim=1)
    full = kin.all(dim=1)
    out = torch.full((kin.shape[0],), FRAMINGS.index("crop"), dtype=torch.long)
    out[~head & (hips | legs)] = FRAMINGS.index("lower")
    out[head & hips & ~ankles] = FRAMINGS.index("upper")
    out[full] = FRAMINGS.index("full")
    return out
