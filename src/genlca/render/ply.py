"""3D Gaussian Splatting .ply files (the layout of the original 3DGS code, read by common
splat viewers) with the genlca UV maps carried losslessly in extra properties.

Per vertex: x y z, nx ny nz (zeros), f_dc_0..2 (SH degree 0: (rgb - 0.5) / C0), opacity
(logit), scale_0..2 (log), rot_0..3 (w x y z); genlca avatars add `texel` (flat UV index) and
`uvmap_0..13` (the raw attribute maps), and a header comment `genlca {json}` with the body
model, resolution and shape. Viewers skip the extra properties.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from plyfile import PlyData, PlyElement

from genlca.avatar import NUM_CHANNELS, GaussianAvatar
from genlca.io_utils import atomic_path
from genlca.render.gaussians import Gaussians

SH_C0 = 0.28209479177387814
PLY_FORMAT_VERSION = 1
_BASE = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2", "opacity",
         "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]


class PlyFormatError(ValueError):
    """A .ply that is not a 3D Gaussian splat file; the message names the file."""


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


def save_ply(path: str | os.PathLike, gaussians: Gaussians, avatar: GaussianAvatar | None = None,
             texels: torch.Tensor | None = None) -> Path:
    """Write `gaussians` (and, if given, the avatar's maps at `texels`, one per Gaussian) atomically."""
    g = gaussians.detach().to("cpu")
    n = len(g)
    cols: dict[str, np.ndarray] = {}
    xyz = g.means.numpy().astype(np.float32)
    cols.update(x=xyz[:, 0], y=xyz[:, 1], z=xyz[:, 2])
    for k in ("nx", "ny", "nz"):
        cols[k] = np.zeros(n, np.float32)
    f_dc = (g.colors.numpy() - 0.5) / SH_C0
    for i in range(3):
        cols[f"f_dc_{i}"] = f_dc[:, i].astype(np.float32)
    cols["opacity"] = _logit(g.opacities.numpy()).astype(np.float32)
    log_s = np.log(np.clip(g.scales.numpy(), 1e-12, None))
    for i in range(3):
        cols[f"scale_{i}"] = log_s[:, i].astype(np.float32)
    for i in range(4):
        cols[f"rot_{i}"] = g.quats.numpy()[:, i].astype(np.float32)
    comments = []
    if avatar is not None:
        if texels is None or len(texels) != n:
            raise ValueError("saving an avatar needs one texel index per Gaussian")
        flat = avatar.maps.detach().cpu().reshape(NUM_CHANNELS, -1)[:, texels.cpu()].numpy()
        cols["texel"] = texels.cpu().numpy().astype(np.int32)
        for c in range(NUM_CHANNELS):
            cols[f"uvmap_{c}"] = flat[c].astype(np.float32)
        meta = {"version": PLY_FORMAT_VERSION, "body_model": avatar.body_model, "resolution": avatar.resolution,
                "shape": [float(x) for x in avatar.shape.reshape(-1)]}
        comments.append("genlca " + json.dumps(meta))
    arr = np.empty(n, dtype=[(k, v.dtype) for k, v in cols.items()])
    for k, v in cols.items():
        arr[k] = v
    path = Path(path)
    with atomic_path(path) as tmp:
        PlyData([PlyElement.describe(arr, "vertex")], comments=comments).write(str(tmp))
    return path


def load_ply(path: str | os.PathLike) -> tuple[Gaussians, GaussianAvatar | None]:
    """Read a 3DGS .ply; returns the Gaussians and, for genlca files, the avatar (maps exact)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        ply = PlyData.read(str(path))
        v = ply["vertex"].data
    except Exception as e:
        raise PlyFormatError(f"{path}: not a readable .ply with a vertex element ({e})") from e
    missing = [k for k in _BASE if k not in v.dtype.names and not k.startswith("n")]
    if missing:
        raise PlyFormatError(f"{path}: not a 3D Gaussian splat file, missing properties {', '.join(missing)}")

    def col(*names: str) -> torch.Tensor:
        return torch.from_numpy(np.stack([np.asarray(v[k], dtype=np.float32) for k in names], axis=-1))

    gaussians = Gaussians(
        means=col("x", "y", "z"),
        quats=torch.nn.functional.normalize(col("rot_0", "rot_1", "rot_2", "rot_3"), dim=-1),
        scales=torch.exp(col("scale_0", "scale_1", "scale_2")),
        opacities=torch.sigmoid(col("opacity")[:, 0]),
        colors=(col("f_dc_0", "f_dc_1", "f_dc_2") * SH_C0 + 0.5).clamp(0, 1),
    )
    meta = next((json.loads(c[len("genlca "):]) for c in ply.comments if c.startswith("genlca ")), None)
    if meta is None:
        return gaussians, None
    r = int(meta["resolution"])
    texels = torch.from_numpy(np.asarray(v["texel"], dtype=np.int64))
    if texels.numel() and (texels.min() < 0 or texels.max() >= r * r):
        raise PlyFormatError(f"{path}: texel index out of range for resolution {r}")
    maps = torch.zeros(NUM_CHANNELS, r * r)
    maps[:, texels] = col(*[f"uvmap_{c}" for c in range(NUM_CHANNELS)]).T
    avatar = GaussianAvatar(maps=maps.view(NUM_CHANNELS, r, r), shape=torch.tensor(meta["shape"], dtype=torch.float32),
                            body_model=meta["body_model"])
    return gaussians, avatar
