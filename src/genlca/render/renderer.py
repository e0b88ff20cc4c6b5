"""`render()`: one entry point, two backends that give the same image.

- "gsplat": gsplat's fused CUDA rasterizer (CUDA tensors only; gsplat tries to JIT-compile
  CUDA on every call without it, so it is never called on CPU).
- "torch": gsplat's pure-PyTorch projection + our PyTorch compositor (rasterize_cpu.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from genlca.render.camera import Camera
from genlca.render.gaussians import Gaussians
from genlca.render.rasterize_cpu import rasterize_pairs

BACKENDS = ("auto", "torch", "gsplat")
EPS2D = 0.3  # gsplat's default low-pass added to every 2D covariance


@dataclass
class RenderOutput:
    rgb: Tensor  # (H, W, 3), background composited
    alpha: Tensor  # (H, W)
    depth: Tensor  # (H, W) expected depth (0 where alpha is 0)


def pick_backend(backend: str, device: torch.device) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown render backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "gsplat" if device.type == "cuda" else "torch"
    if backend == "gsplat" and device.type != "cuda":
        raise RuntimeError("the gsplat backend needs CUDA tensors; use backend='torch' on CPU")
    return backend


def render(gaussians: Gaussians, camera: Camera, width: int | None = None, height: int | None = None,
           background: Tensor | tuple[float, float, float] = (1.0, 1.0, 1.0), backend: str = "auto") -> RenderOutput:
    """Render RGB, alpha and depth; differentiable with respect to every Gaussian attribute."""
    width = width or camera.width
    height = height or camera.height
    device = gaussians.means.device
    bg = torch.as_tensor(background, dtype=gaussians.means.dtype, device=device)
    camera = camera.to(device)
    if pick_backend(backend, device) == "gsplat":
        return _render_gsplat(gaussians, camera, width, height, bg)
    return _render_torch(gaussians, camera, width, height, bg)


def _render_torch(g: Gaussians, camera: Camera, width: int, height: int, bg: Tensor) -> RenderOutput:
    from gsplat.cuda._torch_impl import _fully_fused_projection, _quat_scale_to_covar_preci

    covars, _ = _quat_scale_to_covar_preci(g.quats, g.scales, compute_covar=True, compute_preci=False)
    radii, means2d, depths, conics, comp = _fully_fused_projection(
        g.means, covars, camera.viewmat[None].to(g.means), camera.K[None].to(g.means), width, height, eps2d=EPS2D,
        calc_compensations=True)
    # Anti-aliased mode (gsplat's rasterize_mode="antialiased"): the low-pass filter keeps a
    # Gaussian's energy, not its peak, so sub-pixel Gaussians do not pile up into a halo.
    color, alpha, dsum = rasterize_pairs(means2d[0], conics[0], depths[0], radii[0], g.opacities * comp[0],
                                         g.colors, width, height)
    rgb = color + (1.0 - alpha)[..., None] * bg
    depth = torch.where(alpha > 0, dsum / alpha.clamp(min=1e-10), torch.zeros_like(dsum))
    return RenderOutput(rgb=rgb, alpha=alpha, depth=depth)


def _render_gsplat(g: Gaussians, camera: Camera, width: int, height: int, bg: Tensor) -> RenderOutput:
    import gsplat

    out, alpha, _ = gsplat.rasterization(
        g.means, g.quats, g.scales, g.opacities, g.colors, camera.viewmat[None].to(g.means),
        camera.K[None].to(g.means), width, height, eps2d=EPS2D, render_mode="RGB+ED", packed=False,
        rasterize_mode="antialiased",
        backgrounds=bg[None])
    return RenderOutput(rgb=out[0, ..., :3], alpha=alpha[0, ..., 0], depth=out[0, ..., 3])
