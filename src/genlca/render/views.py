"""Multi-view pictures and turntables of Gaussians (what people look at)."""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from genlca.render.camera import framing_camera
from genlca.render.gaussians import Gaussians
from genlca.render.renderer import render


def _bounds_points(g: Gaussians) -> torch.Tensor:
    """Points to frame: robust to a few stray Gaussians (0.5% / 99.5% quantiles)."""
    m = g.means.detach()
    if len(m) < 200:
        return m
    lo = torch.quantile(m, 0.005, dim=0)
    hi = torch.quantile(m, 0.995, dim=0)
    return torch.stack([lo, hi])


def to_uint8(rgb: torch.Tensor) -> np.ndarray:
    return (rgb.detach().clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()


@torch.no_grad()
def render_views(g: Gaussians, n_views: int = 4, size: int = 512, elevation: float = 5.0,
                 background=(1.0, 1.0, 1.0), backend: str = "auto", progress: bool = False) -> list[np.ndarray]:
    """`n_views` images at evenly spaced azimuths, starting from the front."""
    cams = view_cameras(g, n_views, size, elevation)
    return [to_uint8(render(g, cam, background=background, backend=backend).rgb)
            for cam in tqdm(cams, desc="render", disable=not progress)]


def view_cameras(g: Gaussians, n_views: int = 4, size: int = 512, elevation: float = 5.0) -> list:
    """The cameras of `render_views`: framing `g`, at evenly spaced azimuths from the front
    (render other Gaussians from them to compare like with like)."""
    pts = _bounds_points(g)
    return [framing_camera(pts, 360.0 * i / n_views, size, size, elevation_deg=elevation) for i in range(n_views)]


def grid(images: list[np.ndarray], columns: int | None = None) -> np.ndarray:
    """Tile equal-size images into one picture, row-major."""
    columns = columns or len(images)
    rows = -(-len(images) // columns)
    h, w, c = images[0].shape
    out = np.full((rows * h, columns * w, c), 255, dtype=np.uint8)
    for i, im in enumerate(images):
        r, col = divmod(i, columns)
        out[r * h:(r + 1) * h, col * w:(col + 1) * w] = im
    return out
