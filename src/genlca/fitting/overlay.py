"""Overlay pictures of a fit: detected keypoints, fitted keypoints and the fitted mesh outline."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw
from scipy.ndimage import binary_erosion

from genlca.body.protocol import BodyModel
from genlca.fitting.fit import fitted_vertices
from genlca.fitting.types import BodyFit, VideoDetections
from genlca.render.camera import Camera
from genlca.render.mesh_raster import rasterize_mesh

# COCO-17 limbs, for drawing skeletons.
SKELETON = ((5, 7), (7, 9), (6, 8), (8, 10), (5, 6), (5, 11), (6, 12), (11, 12), (11, 13), (13, 15),
            (12, 14), (14, 16), (0, 1), (0, 2), (1, 3), (2, 4))


def camera_of(fit: BodyFit) -> Camera:
    return Camera(torch.eye(4), fit.K.float(), fit.width, fit.height)


@torch.no_grad()
def overlay(frame: np.ndarray, fit: BodyFit, body: BodyModel, index: int,
            detections: VideoDetections | None = None) -> Image.Image:
    """The frame with the fitted mesh outline (cyan), fitted keypoints (white skeleton) and
    detected keypoints (red dots, size = confidence)."""
    im = Image.fromarray(frame).convert("RGB")
    draw = ImageDraw.Draw(im)
    if bool(fit.fitted[index]):
        cam = camera_of(fit)
        verts = fitted_vertices(fit, body, [index])[0]
        mask = rasterize_mesh(verts, body.faces, cam).mask.numpy()
        edge = mask & ~binary_erosion(mask, border_value=1)  # the outline (the frame border is not one)
        rgb = np.asarray(im).copy()
        rgb[edge] = (0, 230, 255)
        im = Image.fromarray(rgb)
        draw = ImageDraw.Draw(im)
        kp, _ = cam.project(body.keypoints(verts[None])[0])
        for a, b in SKELETON:
            draw.line([tuple(kp[a].tolist()), tuple(kp[b].tolist())], fill=(255, 255, 255), width=2)
    else:
        draw.text((4, 4), (fit.reasons[index] if fit.reasons else "not fitted")[:60], fill=(255, 60, 60))
    if detections is not None:
        for (x, y), c in zip(detections.keypoints[index].tolist(), detections.confidence[index].tolist()):
            if c > 0.1:
                r = 1 + 3 * c
                draw.ellipse([x - r, y - r, x + r, y + r], fill=(255, 40, 40))
    return im

