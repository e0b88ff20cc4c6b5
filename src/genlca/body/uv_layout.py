"""Rasterize a body model's UV charts into an R x R texel grid: each texel inside a chart is
one Gaussian anchor (face id + barycentrics on the template). Cached per (body model, R)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import Tensor

from genlca.body.protocol import BodyModel
from genlca.io_utils import atomic_path
from genlca.paths import cache_root
from genlca.safe_files import load_tensors as load_file
from genlca.render.mesh_raster import rasterize_triangles

LAYOUT_VERSION = 2


@dataclass
class UVLayout:
    body_model: str
    resolution: int
    face_id: Tensor  # (R, R) long, -1 outside every chart
    bary: Tensor  # (R, R, 3)
    part: Tensor  # (R, R) long: PART_NAMES index, -1 outside
    mask: Tensor  # (R, R) bool: texel carries a Gaussian

    @property
    def texels(self) -> Tensor:
        """(N,) flat indices (row-major) of the in-chart texels: the Gaussians' order."""
        return torch.nonzero(self.mask.flatten()).squeeze(1)

    @property
    def num_texels(self) -> int:
        return int(self.mask.sum())

    def surface_points(self, vertices: Tensor, faces: Tensor) -> Tensor:
        """(B, V, 3) mesh vertices -> (B, N, 3) points of the in-chart texels on that mesh."""
        tex = self.texels
        fid = self.face_id.flatten()[tex]
        bary = self.bary.reshape(-1, 3)[tex].to(vertices)
        corners = vertices[:, faces[fid]]  # (B, N, 3, 3)
        return (corners * bary[None, :, :, None]).sum(dim=2)


def build_uv_layout(body: BodyModel, resolution: int = 128) -> UVLayout:
    """Rasterize the UV triangles of all non-interior faces (v up -> row 0 is v = 1)."""
    keep = torch.nonzero(body.face_parts >= 0).squeeze(1).cpu()
    uv = body.uv_coords.cpu().double()
    tri = uv[body.uv_faces.cpu()[keep]]  # (F', 3, 2)
    xy = torch.stack([tri[..., 0] * resolution, (1.0 - tri[..., 1]) * resolution], dim=-1)
    frags = rasterize_triangles(xy, resolution, resolution)
    mask = frags.face_id >= 0
    face_id = torch.where(mask, keep[frags.face_id.clamp(min=0)], torch.full_like(frags.face_id, -1))
    part = torch.where(mask, body.face_parts.cpu()[face_id.clamp(min=0)], torch.full_like(face_id, -1))
    return UVLayout(body.name, resolution, face_id, frags.bary, part, mask)


def _fingerprint(body: BodyModel) -> str:
    h = hashlib.sha256()
    for t in (body.faces, body.uv_faces, body.uv_coords, body.face_parts):
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def uv_layout(body: BodyModel, resolution: int = 128, cache_dir: Path | None = None) -> UVLayout:
    """The layout for (body, R), loaded from the cache or built and cached atomically."""
    cache_dir = Path(cache_dir or cache_root() / "uv_layouts")
    path = cache_dir / f"{body.name}-{_fingerprint(body)}-R{resolution}-v{LAYOUT_VERSION}.safetensors"
    if path.exists():
        t = load_file(str(path))
        return UVLayout(body.name, resolution, t["face_id"], t["bary"], t["part"], t["mask"].bool())
    layout = build_uv_layout(body, resolution)
    with atomic_path(path) as tmp:
        save_file({"face_id": layout.face_id, "bary": layout.bary, "part": layout.part,
                   "mask": layout.mask.to(torch.uint8)}, str(tmp))
    return layout
