"""Metrics of generated avatars against ground truth, on the regions an observation did not see.

    unobs = unobserved_mask(valid, chart)                       # (N, R, R): chart texels nobody saw
    token_l2(gen, truth, unobs)                                 # RMS error in normalized token space
    opacity_deficit(gen_maps, true_maps, unobs)                 # > 0: the generation is more transparent
    unobserved_render_psnr(gen, truth, unseen, body, layout)    # renders of the unseen parts, dB
    frechet_distance(token_features(a, chart), token_features(b, chart))

Maps are (N, 14, R, R) or (14, R, R) in the layout of genlca.avatar.CHANNELS. Token-space metrics take
normalized maps; opacity and renders take real (denormalized) maps.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor

from genlca.avatar import CHANNELS, GaussianAvatar, to_gaussians
from genlca.body.protocol import BodyModel
from genlca.body.uv_layout import UVLayout


def unobserved_mask(valid: Tensor, chart: Tensor) -> Tensor:
    """Texels inside the UV chart that the observation did not see (valid: bool or counts, > 0 = seen)."""
    return chart.bool() & ~(valid > 0)


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of values (..., R, R) over mask (..., R, R); NaN where the mask is empty."""
    mask = mask.to(values.dtype)
    return (values * mask).flatten(-2).sum(-1) / mask.flatten(-2).sum(-1)


def token_l2(gen: Tensor, truth: Tensor, mask: Tensor) -> Tensor:
    """Root-mean-square error per sample over the channels and the masked texels: (N, C, R, R) -> (N,)."""
    return _masked_mean((gen - truth).square().mean(dim=-3), mask).sqrt()


def opacity(maps: Tensor) -> Tensor:
    """(..., 14, R, R) -> (..., R, R) per-texel opacity as the avatar draws it (clamped to [0, 1], as
    genlca.avatar.gaussians_from_texels does)."""
    return maps[..., CHANNELS["opacity"].start, :, :].clamp(0, 1)


def opacity_deficit(gen: Tensor, truth: Tensor, mask: Tensor) -> Tensor:
    """Mean of (true opacity - generated opacity) per sample over the masked texels: (N,). Positive means the
    generation is more transparent than the truth there (holes); negative, more opaque."""
    return _masked_mean(opacity(truth) - opacity(gen), mask)


@torch.no_grad()
def paired_renders(gen: GaussianAvatar, truth: GaussianAvatar, texels: Tensor, body: BodyModel, layout: UVLayout,
                   views: int = 4, size: int = 128, mask_geometry: str = "truth", clamp: bool = False
                   ) -> tuple[Tensor, Tensor, Tensor]:
    """(gen (V, H, W, 3), truth (V, H, W, 3), mask (V, H, W) bool): renders in the A-pose from `views` cameras
    framing the truth at size², black background; mask: where the `texels` (R, R) bool are drawn (their indicator
    rendered with the geometry of `mask_geometry`, "truth" or "gen", > 0.5) on the true silhouette. clamp: colours
    clipped to [0, 1] (as images are stored)."""
    from genlca.render.renderer import render
    from genlca.render.views import view_cameras

    g_gen = to_gaussians(gen, body, layout)
    g_true = to_gaussians(truth, body, layout)
    indicator = texels.flatten()[layout.texels].float()[:, None].expand(-1, 3)
    g_mask = replace(g_true if mask_geometry == "truth" else g_gen, colors=indicator)
    a, b, m = [], [], []
    for cam in view_cameras(g_true, views, size):
        ra, rb, rm = (render(g, cam, background=(0.0, 0.0, 0.0), backend="torch") for g in (g_gen, g_true, g_mask))
        a.append(ra.rgb.clamp(0, 1) if clamp else ra.rgb)
        b.append(rb.rgb.clamp(0, 1) if clamp else rb.rgb)
        m.append((rm.rgb[..., 0] > 0.5) & (rb.alpha > 0.5))
    return torch.stack(a), torch.stack(b), torch.stack(m)


def masked_render_psnr(gen: GaussianAvatar, truth: GaussianAvatar, texels: Tensor, body: BodyModel,
                       layout: UVLayout, views: int = 4, size: int = 128, mask_geometry: str = "truth") -> float:
    """PSNR (dB) of renders of `gen` against renders of `truth` over the pixels of `paired_renders`' mask."""
    from torchmetrics.functional.image import peak_signal_noise_ratio

    a, b, mask = paired_renders(gen, truth, texels, body, layout, views, size, mask_geometry)
    if not bool(mask.any()):
        return math.nan
    return min(float(peak_signal_noise_ratio(a[mask].double(), b[mask].double(), data_range=1.0)), 100.0)


def unobserved_render_psnr(gen: GaussianAvatar, truth: GaussianAvatar, unseen: Tensor, body: BodyModel,
                           layout: UVLayout, views: int = 4, size: int = 128) -> float:
    """`masked_render_psnr` over the `unseen` (R, R) texels, masked with the TRUE geometry so every method
    is scored on the same pixels; a generation that leaves holes there is compared as black."""
    return masked_render_psnr(gen, truth, unseen, body, layout, views, size, mask_geometry="truth")


#################################################################################
#                       Token-space Frechet distance                            #
#################################################################################

def token_features(maps: Tensor, chart: Tensor, grid: int = 8, dim: int = 16, seed: int = 0) -> Tensor:
    """(N, 14, R, R) normalized maps -> (N, dim) features for the Frechet distance: each channel averaged over
    the chart texels of each cell of a grid x grid partition of the UV square (where on the body, which colour),
    then a fixed random Gaussian projection (seeded: every method gets the same features) down to `dim`.
    Why project: a Gaussian fit in d dimensions needs clearly more than d samples, and we compare tens of
    avatars, not the 14 * grid² = 896 pooled numbers' worth."""
    chart = chart.to(maps.dtype)
    cell = maps.shape[-1] // grid
    sums = F.avg_pool2d(maps * chart, cell)
    count = F.avg_pool2d(chart[None, None], cell)
    pooled = torch.where(count > 0, sums / count.clamp(min=1e-8), torch.zeros_like(sums)).flatten(1)
    gen = torch.Generator().manual_seed(seed)
    proj = torch.randn(pooled.shape[1], dim, generator=gen, dtype=torch.float64) / math.sqrt(dim)
    return (pooled.double() @ proj).float()


class _Features(torch.nn.Module):
    """Identity feature extractor: torchmetrics' FID accepts any module as its 'inception' network."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, x: Tensor) -> Tensor:
        return x


def frechet_distance(a: Tensor, b: Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N, D) and (M, D):
    |mu_a - mu_b|² + Tr(S_a + S_b - 2 (S_a S_b)^1/2). torchmetrics' FrechetInceptionDistance takes a custom
    feature module, so with an identity module it is the generic distance on our features (float64 sums,
    matrix square root through eigenvalues)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    if a.shape[0] < 2 or b.shape[0] < 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"need >= 2 samples of equal dimension in both sets, got {tuple(a.shape)}, {tuple(b.shape)}")
    fid = FrechetInceptionDistance(feature=_Features(a.shape[1]), reset_real_features=True)
    fid.update(a.double(), real=True)
    fid.update(b.double(), real=False)
    # Eigenvalues of S_a S_b can come out slightly complex/negative in floating point: never below zero.
    return max(float(fid.compute()), 0.0)


__all__ = ["frechet_distance", "opacity", "opacity_deficit", "token_features", "token_l2", "unobserved_mask",
           "masked_render_psnr", "paired_renders", "unobserved_render_psnr"]
