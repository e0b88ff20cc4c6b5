"""Visibility of texels in a frame: in frame, facing the camera, not hidden by the body itself
(depth test against the posed mesh's z-buffer) and not under an occluder. The synthetic drops'
ground truth and the tokenizer's unprojection (occluder = outside the person mask) both use it."""

from __future__ import annotations

import torch
from torch import Tensor

from genlca.render.camera import Camera
from genlca.render.mesh_raster import rasterize_mesh

DEPTH_TOLERANCE = 0.015  # metres


@torch.no_grad()
def texel_visibility(anchors: Tensor, normals: Tensor, vertices: Tensor, faces: Tensor, cam: Camera,
                     occluder: Tensor | None = None, tol: float = DEPTH_TOLERANCE) -> Tensor:
    """(N,) bool for posed texel anchors (N, 3) with normals (N, 3) on the posed mesh (V, 3);
    `occluder`: (H, W) bool, True where a foreground object covers the pixel."""
    h, w = cam.height, cam.width
    uv, z = cam.project(anchors)
    col, row = torch.floor(uv[:, 0]).long(), torch.floor(uv[:, 1]).long()
    inside = (z > 1e-3) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
    facing = ((anchors - cam.position.to(anchors)) * normals).sum(dim=1) < 0
    zbuf = rasterize_mesh(vertices, faces, cam).depth
    pix = row.clamp(0, h - 1) * w + col.clamp(0, w - 1)
    unoccluded = z <= zbuf.flatten()[pix] + tol
    vis = inside & facing & unoccluded
    if occluder is not None:
        vis &= ~occluder.flatten()[pix]
    return vis
