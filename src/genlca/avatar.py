"""UV Gaussian avatars: attribute maps on the body template's UV grid -> world Gaussians.

Every in-chart texel is one Gaussian anchored at its surface point. Its attributes live in a
(14, R, R) map, in the local frame of its mesh face (t = UV u-direction, b, n = normal):
  offset (3, metres, in the face frame) | log_scale (3, log metres, t/b/n axes) |
  rotation (4, unit quaternion wxyz, relative to the face frame) | opacity (1, [0, 1]) |
  rgb (3, [0, 1]).
Posing = skin the mesh, then rebuild each face frame on the posed mesh: anchors follow the
linear-blend-skinned surface and offsets/rotations turn with it (frames stay orthonormal).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from genlca.body.protocol import PART_NAMES, BodyModel, Pose
from genlca.body.rotations import quat_wxyz_to_rotmat, rotmat_to_quat_wxyz
from genlca.body.uv_layout import UVLayout
from genlca.render.gaussians import Gaussians

CHANNELS: dict[str, slice] = {
    "offset": slice(0, 3),
    "log_scale": slice(3, 6),
    "rotation": slice(6, 10),
    "opacity": slice(10, 11),
    "rgb": slice(11, 14),
}
NUM_CHANNELS = 14

# Template colours per body part (for `genlca avatar template`).
PART_COLORS: dict[str, tuple[float, float, float]] = {
    "head": (0.93, 0.75, 0.62), "torso": (0.80, 0.20, 0.20), "upper_arm": (0.95, 0.55, 0.15),
    "lower_arm": (0.95, 0.85, 0.20), "hand": (0.93, 0.75, 0.62), "hips": (0.20, 0.30, 0.70),
    "upper_leg": (0.20, 0.55, 0.80), "lower_leg": (0.20, 0.70, 0.45), "foot": (0.25, 0.25, 0.25),
}
# Gaussian std as a fraction of the texel spacing on the surface (tangent axes), and the
# thickness along the normal: enough overlap that neighbouring texels close the surface.
TANGENT_SCALE = 0.4
NORMAL_SCALE = 0.1


@dataclass
class GaussianAvatar:
    maps: Tensor  # (14, R, R)
    shape: Tensor  # (S,) body-model shape parameters
    body_model: str = "anny"

    @property
    def resolution(self) -> int:
        return self.maps.shape[-1]

    def channel(self, name: str) -> Tensor:
        return self.maps[CHANNELS[name]]

    def texel_values(self, layout: UVLayout) -> Tensor:
        """(N, 14) attributes of the in-chart texels, in Gaussian order."""
        return self.maps.reshape(NUM_CHANNELS, -1)[:, layout.texels].T


def face_frames(vertices: Tensor, faces: Tensor, uv_coords: Tensor, uv_faces: Tensor) -> tuple[Tensor, Tensor]:
    """Per face: (B, F, 3, 3) orthonormal frames with columns (t, b, n) and (B, F, 2) lengths
    of dp/du and dp/dv (metres per unit UV), from the UV parametrisation of each triangle."""
    v = vertices[:, faces]  # (B, F, 3, 3)
    e1, e2 = v[:, :, 1] - v[:, :, 0], v[:, :, 2] - v[:, :, 0]
    uv = uv_coords.to(vertices)[uv_faces]  # (F, 3, 2)
    d1, d2 = uv[:, 1] - uv[:, 0], uv[:, 2] - uv[:, 0]
    det = d1[:, 0] * d2[:, 1] - d2[:, 0] * d1[:, 1]
    det = torch.where(det.abs() < 1e-12, torch.full_like(det, 1e-12), det)
    dpdu = (e1 * d2[:, 1, None] - e2 * d1[:, 1, None]) / det[:, None]
    dpdv = (e2 * d1[:, 0, None] - e1 * d2[:, 0, None]) / det[:, None]
    n = torch.nn.functional.normalize(torch.linalg.cross(e1, e2, dim=-1), dim=-1)
    t = dpdu - (dpdu * n).sum(-1, keepdim=True) * n
    # Fall back to an edge where the UV map is degenerate.
    bad = t.norm(dim=-1, keepdim=True) < 1e-9
    t = torch.where(bad, e1, t)
    t = torch.nn.functional.normalize(t, dim=-1)
    b = torch.linalg.cross(n, t, dim=-1)
    frames = torch.stack([t, b, n], dim=-1)
    lengths = torch.stack([dpdu.norm(dim=-1), dpdv.norm(dim=-1)], dim=-1)
    return frames, lengths


def texel_frames(body: BodyModel, layout: UVLayout, vertices: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(B, N, 3) anchors, (B, N, 3, 3) frames and (B, N, 2) dp/du, dp/dv lengths per texel."""
    frames, lengths = face_frames(vertices, body.faces, body.uv_coords, body.uv_faces)
    fid = layout.face_id.flatten()[layout.texels].to(vertices.device)
    anchors = layout.surface_points(vertices, body.faces)
    return anchors, frames[:, fid], lengths[:, fid]


def to_gaussians(avatar: GaussianAvatar, body: BodyModel, layout: UVLayout, pose: Pose | None = None,
                 root: Tensor | None = None, canonical: bool = False) -> Gaussians:
    """World Gaussians of the avatar: in the canonical template (rest) pose if `canonical`,
    else in `pose` (deltas from the A-pose; `{}` or None = A-pose)."""
    if avatar.body_model != body.name:
        raise ValueError(f"avatar was made for body model {avatar.body_model!r}, not {body.name!r}")
    if avatar.resolution != layout.resolution:
        raise ValueError(f"avatar maps are {avatar.resolution}x{avatar.resolution}, layout is R={layout.resolution}")
    shape = avatar.shape.reshape(1, -1)
    verts = body.template(shape) if canonical else body.pose(shape, pose, root).vertices
    anchors, frames, _ = texel_frames(body, layout, verts.to(avatar.maps))
    anchors, frames = anchors[0], frames[0]
    return gaussians_from_texels(avatar.texel_values(layout), anchors, frames)


def gaussians_from_texels(values: Tensor, anchors: Tensor, frames: Tensor) -> Gaussians:
    """Gaussians from (N, 14) texel values, posed anchors (N, 3) and face frames (N, 3, 3): the
    offset and rotation are in the face frame, the rest is activated (exp scale, clamped
    opacity and colour). Callers that pose once for several uses (synthetic renders) call it directly."""
    c = CHANNELS
    means = anchors + (frames @ values[:, c["offset"]].unsqueeze(-1)).squeeze(-1)
    rot = frames @ quat_wxyz_to_rotmat(values[:, c["rotation"]])
    return Gaussians(
        means=means,
        quats=rotmat_to_quat_wxyz(rot),
        scales=torch.exp(values[:, c["log_scale"]]),
        opacities=values[:, c["opacity"]].squeeze(-1).clamp(0, 1),
        colors=values[:, c["rgb"]].clamp(0, 1),
    )


def default_log_scales(body: BodyModel, layout: UVLayout, shape: Tensor) -> Tensor:
    """(3, R, R) log-scales that tile the template surface: std along t/b is a fraction of the
    texel spacing there (|dp/du| / R, |dp/dv| / R), thin along the normal."""
    verts = body.template(shape.reshape(1, -1))
    _, _, lengths = texel_frames(body, layout, verts)
    spacing = lengths[0] / layout.resolution  # (N, 2) metres per texel
    tangent = TANGENT_SCALE * spacing
    normal = NORMAL_SCALE * spacing.min(dim=-1).values
    scales = torch.cat([tangent, normal[:, None]], dim=-1).clamp(min=1e-5)
    return scatter_texels(layout, torch.log(scales))


def template_avatar(body: BodyModel, layout: UVLayout, shape: Tensor | None = None,
                    colors: dict[str, tuple[float, float, float]] | None = None,
                    opacity: float = 0.95) -> GaussianAvatar:
    """The body template as an avatar: no offsets, surface-tiling scales, coloured by part."""
    shape = body.default_shape(1)[0] if shape is None else shape.reshape(-1)
    colors = colors or PART_COLORS
    r = layout.resolution
    maps = torch.zeros(NUM_CHANNELS, r, r)
    maps[CHANNELS["log_scale"]] = default_log_scales(body, layout, shape).detach()
    tex = layout.texels
    flat = maps.view(NUM_CHANNELS, -1)
    flat[6, tex] = 1.0  # identity quaternion (w = 1)
    flat[10, tex] = opacity
    palette = torch.tensor([colors[p] for p in PART_NAMES])
    flat[11:14, tex] = palette[layout.part.flatten()[tex]].T
    return GaussianAvatar(maps=maps, shape=shape.detach().cpu().float(), body_model=body.name)


def scatter_texels(layout: UVLayout, values: Tensor, fill: float = 0.0) -> Tensor:
    """(N, C) per-texel values -> (C, R, R) map, `fill` outside the charts."""
    r = layout.resolution
    out = torch.full((values.shape[1], r * r), fill, dtype=values.dtype, device=values.device)
    out[:, layout.texels.to(values.device)] = values.T
    return out.view(-1, r, r)

