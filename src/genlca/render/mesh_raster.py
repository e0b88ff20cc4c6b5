"""Vectorized z-buffer triangle rasterizer in PyTorch (UV charts, silhouettes, visibility).

Written by hand because the pieces we need (face id + barycentrics per pixel, on CPU, for
a few 10k triangles) are small, and mesh-rasterizer packages either need CUDA/OpenGL or a
display. Each triangle enumerates the pixel centres in its bounding box, so the work is the
sum of bounding-box areas: fine for body meshes at a few hundred pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Fragments:
    face_id: Tensor  # (H, W) long, -1 where no triangle covers the pixel
    bary: Tensor  # (H, W, 3) barycentric coordinates (perspective-correct when depths are given)
    depth: Tensor  # (H, W) depth of the nearest surface, +inf where empty

    @property
    def mask(self) -> Tensor:
        return self.face_id >= 0


@torch.no_grad()
def rasterize_triangles(tri_xy: Tensor, height: int, width: int, tri_depth: Tensor | None = None) -> Fragments:
    """Rasterize (F, 3, 2) pixel-space triangles (x right, y down; pixel (i, j) has its centre
    at (j + 0.5, i + 0.5)). With (F, 3) depths, the nearest triangle wins and barycentrics are
    perspective-correct; without, later triangles win ties."""
    device = tri_xy.device
    tri_xy = tri_xy.double()
    n_faces = tri_xy.shape[0]
    face_id = torch.full((height * width,), -1, dtype=torch.long, device=device)
    bary_out = torch.zeros(height * width, 3, dtype=torch.float32, device=device)
    depth_out = torch.full((height * width,), float("inf"), dtype=torch.float32, device=device)
    if n_faces == 0:
        return Fragments(face_id.view(height, width), bary_out.view(height, width, 3), depth_out.view(height, width))

    lo = torch.ceil(tri_xy.min(dim=1).values - 0.5).long()
    hi = torch.floor(tri_xy.max(dim=1).values - 0.5).long()
    lo[:, 0].clamp_(0, width - 1), lo[:, 1].clamp_(0, height - 1)
    hi[:, 0].clamp_(-1, width - 1), hi[:, 1].clamp_(-1, height - 1)
    if tri_depth is not None:
        in_front = (tri_depth > 1e-6).all(dim=1)
        hi[~in_front] = -1
    w = (hi[:, 0] - lo[:, 0] + 1).clamp(min=0)
    h = (hi[:, 1] - lo[:, 1] + 1).clamp(min=0)
    counts = w * h
    fid = torch.repeat_interleave(torch.arange(n_faces, device=device), counts)
    if fid.numel() == 0:
        return Fragments(face_id.view(height, width), bary_out.view(height, width, 3), depth_out.view(height, width))
    start = torch.cumsum(counts, 0) - counts
    local = torch.arange(fid.numel(), device=device) - start[fid]
    px = lo[fid, 0] + local % w[fid]
    py = lo[fid, 1] + local // w[fid]

    # Edge functions at pixel centres.
    p = torch.stack([px.double() + 0.5, py.double() + 0.5], dim=-1)
    a, b, c = tri_xy[fid, 0], tri_xy[fid, 1], tri_xy[fid, 2]
    area = _cross(b - a, c - a)
    l0 = _cross(b - p, c - p) / area
    l1 = _cross(c - p, a - p) / area
    l2 = 1.0 - l0 - l1
    bary = torch.stack([l0, l1, l2], dim=-1)
    inside = (bary >= -1e-9).all(dim=-1) & (area.abs() > 1e-12)
    fid, px, py = fid[inside], px[inside], py[inside]
    bary = bary[inside].clamp(min=0)  # points on an edge: no tiny negative weights
    bary = bary / bary.sum(dim=-1, keepdim=True)
    pix = py * width + px

    if tri_depth is None:
        order = torch.arange(fid.numel(), device=device)
        win = torch.full((height * width,), -1, dtype=torch.long, device=device)
        win.scatter_reduce_(0, pix, order, reduce="amax")
        sel = win[win >= 0]
        z = torch.zeros(sel.numel(), dtype=torch.float32, device=device)
    else:
        zf = tri_depth.double()[fid]
        # Perspective-correct: interpolate 1/z in screen space.
        inv_z = (bary / zf).sum(dim=-1)
        bary = (bary / zf) / inv_z[:, None]
        zpix = 1.0 / inv_z
        best = torch.full((height * width,), float("inf"), dtype=torch.float64, device=device)
        best.scatter_reduce_(0, pix, zpix, reduce="amin")
        is_best = zpix <= best[pix]
        idx = torch.nonzero(is_best).squeeze(1)
        win = torch.full((height * width,), -1, dtype=torch.long, device=device)
        win.scatter_reduce_(0, pix[idx], idx, reduce="amax")
        sel = win[win >= 0]
        z = zpix[sel].float()
    target = pix[sel]
    face_id[target] = fid[sel]
    bary_out[target] = bary[sel].float()
    depth_out[target] = z
    return Fragments(face_id.view(height, width), bary_out.view(height, width, 3), depth_out.view(height, width))


def _cross(u: Tensor, v: Tensor) -> Tensor:
    return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]


def rasterize_mesh(vertices: Tensor, faces: Tensor, camera, height: int | None = None, width: int | None = None) -> Fragments:
    """Project (V, 3) world vertices with a `Camera` and rasterize the mesh with a z-buffer."""
    height = height or camera.height
    width = width or camera.width
    xy, z = camera.project(vertices)
    return rasterize_triangles(xy[faces], height, width, tri_depth=z[faces])
