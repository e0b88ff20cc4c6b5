"""Differentiable Gaussian rasterization in plain PyTorch, for machines without CUDA.

gsplat's rasterizer is CUDA-only (its `_torch_impl` has the projection but composites
through nerfacc/CUDA kernels), so compositing is written here by hand and mirrors gsplat's
CUDA rules: pixel centres at +0.5, alpha = min(0.999, o * exp(-sigma)), fragments with
alpha < 1/255 skipped, front-to-back until the transmittance would drop to 1e-4.

Instead of a per-pixel loop or a dense pixels x Gaussians matrix, it lists the (pixel,
Gaussian) pairs inside each Gaussian's footprint, sorts them by pixel then depth, and gets
transmittance from a segmented cumulative sum of log(1 - alpha). Everything is vectorized
and autograd gives the backward pass.
"""

from __future__ import annotations

import torch
from torch import Tensor

ALPHA_MIN = 1.0 / 255.0
ALPHA_MAX = 0.999
T_MIN = 1e-4


def rasterize_pairs(means2d: Tensor, conics: Tensor, depths: Tensor, radii: Tensor, opacities: Tensor,
                    colors: Tensor, width: int, height: int) -> tuple[Tensor, Tensor, Tensor]:
    """Composite projected Gaussians. Inputs are per Gaussian: means2d (N, 2), conics (N, 3)
    (upper triangle of the inverse 2D covariance), depths (N,), radii (N, 2) int (0 = culled),
    opacities (N,), colors (N, C). Returns colour (H, W, C), alpha (H, W), depth sum (H, W)."""
    device = means2d.device
    n_pix = width * height
    channels = colors.shape[-1]

    with torch.no_grad():
        pair_g, pair_pix = _footprint_pairs(means2d, conics, depths, radii, opacities, width, height)

    # Alpha of every pair, differentiable w.r.t. means2d, conics and opacities.
    px = (pair_pix % width).to(means2d.dtype) + 0.5
    py = torch.div(pair_pix, width, rounding_mode="floor").to(means2d.dtype) + 0.5
    dx = px - means2d[pair_g, 0]
    dy = py - means2d[pair_g, 1]
    c = conics[pair_g]
    sigma = 0.5 * (c[:, 0] * dx * dx + c[:, 2] * dy * dy) + c[:, 1] * dx * dy
    alpha = torch.clamp_max(opacities[pair_g] * torch.exp(-sigma), ALPHA_MAX)

    with torch.no_grad():
        keep = (sigma >= 0) & (alpha >= ALPHA_MIN)
    pair_g, pair_pix, alpha = pair_g[keep], pair_pix[keep], alpha[keep]

    # Transmittance before each fragment: exclusive segmented cumsum of log(1 - alpha)
    # (float64 so long segments keep their precision).
    log_t = torch.log1p(-alpha).double()
    incl = torch.cumsum(log_t, 0)
    excl = incl - log_t
    with torch.no_grad():
        first = torch.ones_like(pair_pix, dtype=torch.bool)
        first[1:] = pair_pix[1:] != pair_pix[:-1]
        seg_start = torch.cummax(torch.where(first, torch.arange(len(first), device=device), 0), 0).values
    trans = torch.exp(excl - excl[seg_start]).to(alpha.dtype)
    with torch.no_grad():
        alive = trans * (1.0 - alpha) > T_MIN  # gsplat stops before the fragment that ends the ray
    weight = alpha * trans * alive

    color = torch.zeros(n_pix, channels, dtype=colors.dtype, device=device)
    color = color.index_add(0, pair_pix, weight[:, None] * colors[pair_g])
    acc = torch.zeros(n_pix, dtype=alpha.dtype, device=device).index_add(0, pair_pix, weight)
    dsum = torch.zeros(n_pix, dtype=alpha.dtype, device=device).index_add(0, pair_pix, weight * depths[pair_g])
    return color.view(height, width, channels), acc.view(height, width), dsum.view(height, width)


def _footprint_pairs(means2d: Tensor, conics: Tensor, depths: Tensor, radii: Tensor, opacities: Tensor,
                     width: int, height: int) -> tuple[Tensor, Tensor]:
    """(Gaussian, pixel) pairs whose pixel centre lies where alpha can reach 1/255, ordered by
    pixel and, within a pixel, front to back."""
    device = means2d.device
    valid = (radii > 0).all(dim=-1) & (opacities >= ALPHA_MIN)
    # Tighter than gsplat's 3.33-sigma box: beyond sqrt(2 ln(255 o)) sigma alpha < 1/255,
    # so the skipped pixels would be dropped anyway.
    det = (conics[:, 0] * conics[:, 2] - conics[:, 1] ** 2).clamp(min=1e-12)
    var_x, var_y = conics[:, 2] / det, conics[:, 0] / det
    k = torch.sqrt(2.0 * torch.log((opacities * 255.0).clamp(min=1.0)))
    rx = torch.minimum(k * var_x.sqrt(), radii[:, 0].to(var_x))
    ry = torch.minimum(k * var_y.sqrt(), radii[:, 1].to(var_y))
    x0 = torch.ceil(means2d[:, 0] - rx - 0.5).clamp(0, width).long()
    x1 = torch.floor(means2d[:, 0] + rx - 0.5).clamp(-1, width - 1).long()
    y0 = torch.ceil(means2d[:, 1] - ry - 0.5).clamp(0, height).long()
    y1 = torch.floor(means2d[:, 1] + ry - 0.5).clamp(-1, height - 1).long()
    w = (x1 - x0 + 1).clamp(min=0) * valid
    h = (y1 - y0 + 1).clamp(min=0) * valid

    # Emit Gaussians front to back, then a stable sort by pixel keeps depth order inside pixels.
    order = torch.argsort(depths, stable=True)
    counts = (w * h)[order]
    g = torch.repeat_interleave(order, counts)
    if g.numel() == 0:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return empty, empty
    start = torch.cumsum(counts, 0) - counts
    local = torch.arange(g.numel(), device=device) - torch.repeat_interleave(start, counts)
    wg = w[g]
    pix = (y0[g] + local // wg) * width + (x0[g] + local % wg)
    pix, perm = torch.sort(pix, stable=True)
    return g[perm], pix

