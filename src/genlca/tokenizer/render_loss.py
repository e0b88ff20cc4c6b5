"""The refiner's rendering loss: the refined avatar, posed and lit as in a frame, against that frame.

    targets = frame_targets(frames, fit, body, layout, masks, scene_lights(gt), picks=[3, 11])
    loss = render_l1(pred_maps, batch, texels, k)     # k (B,): which stored frame of each example

The UV-space loss (`train.masked_l1`) treats every seen texel alike; a render gives each texel the
pixels it covers in a real view, so small texels (the head's, dense on the UV grid) count for less
and the colour is judged as the evaluation judges it: after the Gaussians are splatted. It needs the
frame's light: on synthetic drops the scene's own (`scene_lights`: sun, ambient share, exposure and
vignette, turned into each frame's camera frame), with the shading model of `tokenizer.delight`
(the synthetic renderer's). The avatar is not fully opaque, so the render is composited over a guess
of the background (the nearest pixel outside the person mask, as `unproject.remove_background_spill`
guesses it). Pixels count inside the person mask, eroded by EDGE_PX: silhouette pixels are mixed.

Measured on drop seed 5 (true maps, true fits and light): the render matches the frames to an L1 of
0.016-0.019 composited over that guess (video noise and compression), 0.036-0.057 over black.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from genlca.avatar import CHANNELS, gaussians_from_texels, texel_frames
from genlca.body.protocol import BodyModel
from genlca.body.uv_layout import UVLayout
from genlca.fitting.fit import fitted_vertices
from genlca.fitting.types import BodyFit
from genlca.render.camera import Camera
from genlca.tokenizer.delight import shading
from genlca.tokenizer.unproject import nearest_background

EDGE_PX = 1
RENDER_KEYS = ("r_anchors", "r_frames", "r_image", "r_background", "r_mask", "r_light", "r_up", "r_gain", "r_vignette",
               "r_K")


def scene_lights(gt: dict) -> dict[str, Tensor]:
    """Per frame of a synthetic video (`load_ground_truth`): 'light' (F, 4) ambient share and the
    direction towards the sun in the camera frame, 'up' (F, 3) the world's up in the camera frame,
    'gain' (F,) exposure, 'vignette' (H, W)."""
    from genlca.data.synth.scenes import vignette

    scene, size = gt["subject"]["scene"], int(gt["subject"]["size"])
    rot = gt["frames"]["viewmat"][:, :3, :3].float()  # world -> camera
    sun = torch.nn.functional.normalize(torch.tensor(scene["light_dir"], dtype=torch.float32), dim=0)
    n = rot.shape[0]
    light = torch.cat([torch.full((n, 1), float(scene["ambient"])), rot @ sun], dim=1)
    return {"light": light, "up": rot[:, :, 2], "gain": torch.full((n,), float(scene["exposure"])),
            "vignette": torch.from_numpy(vignette(size, size, float(scene["vignette"]))).float()}


@torch.no_grad()
def frame_targets(frames: list[np.ndarray], fit: BodyFit, body: BodyModel, layout: UVLayout, masks: Tensor,
                  lights: dict[str, Tensor], picks: list[int]) -> dict[str, Tensor]:
    """What `render_l1` needs of the frames `picks` (K of them): the posed texel anchors and face
    frames, the image (uint8), the eroded person mask, the light; keys RENDER_KEYS."""
    from scipy.ndimage import binary_erosion

    verts = fitted_vertices(fit, body, picks).float()
    anchors, tframes, _ = texel_frames(body, layout, verts)
    eroded = [torch.from_numpy(binary_erosion(masks[t].numpy(), iterations=EDGE_PX)) if EDGE_PX else masks[t].bool()
              for t in picks]
    images = torch.from_numpy(np.stack([np.asarray(frames[t]) for t in picks]))
    backgrounds = torch.stack([nearest_background(im, masks[t]) if bool(masks[t].any()) and not bool(masks[t].all())
                               else torch.zeros_like(im) for im, t in zip(images, picks)])
    return {"r_anchors": anchors, "r_frames": tframes, "r_image": images, "r_background": backgrounds,
            "r_mask": torch.stack(eroded), "r_light": lights["light"][picks], "r_up": lights["up"][picks],
            "r_gain": lights["gain"][picks], "r_vignette": lights["vignette"], "r_K": fit.K.float()}


def render_frame(values: Tensor, anchors: Tensor, tframes: Tensor, K: Tensor, light: Tensor, up: Tensor,
                 gain: Tensor, vignette: Tensor) -> tuple[Tensor, Tensor]:
    """The avatar's texel values (N, 14) posed (anchors (N, 3), face frames (N, 3, 3), camera frame)
    and lit: (image (H, W, 3) as the camera would record it, over black and before clipping, alpha (H, W))."""
    from genlca.render.renderer import render

    g = gaussians_from_texels(values, anchors, tframes)
    shade = shading(tframes[:, :, 2], light[None, 1:], light[:1], up)[:, 0, 0]
    g.colors = (values[:, CHANNELS["rgb"]].clamp(0, 1) * shade[:, None]).clamp(0, 1)
    h, w = vignette.shape
    out = render(g, Camera(torch.eye(4), K, w, h), background=(0.0, 0.0, 0.0))  # gsplat on CUDA
    return out.rgb * gain * vignette[..., None], out.alpha


def render_l1(maps: Tensor, batch: dict[str, Tensor], texels: Tensor, k: Tensor) -> Tensor:
    """Mean absolute error between the frames k (B,) of each example and renders of `maps`
    (B, 14, R, R) in them, over the eroded person masks (clipped as a camera clips)."""
    values = maps.flatten(2)[:, :, texels].transpose(1, 2)  # (B, N, 14)
    total, pixels = maps.new_zeros(()), 0
    for b in range(maps.shape[0]):
        i = int(k[b])
        image, alpha = render_frame(values[b], batch["r_anchors"][b, i], batch["r_frames"][b, i], batch["r_K"][b],
                                    batch["r_light"][b, i], batch["r_up"][b, i], batch["r_gain"][b, i],
                                    batch["r_vignette"][b])
        image = image + (1 - alpha)[..., None] * batch["r_background"][b, i].to(image.dtype) / 255.0
        mask = batch["r_mask"][b, i]
        target = batch["r_image"][b, i].to(image.dtype) / 255.0
        total = total + (image.clamp(max=1.0) - target).abs()[mask].sum()
        pixels += int(mask.sum()) * 3
    return total / max(pixels, 1)


__all__ = ["EDGE_PX", "RENDER_KEYS", "frame_targets", "render_frame", "render_l1", "scene_lights"]
