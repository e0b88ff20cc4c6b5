"""The tokenizer's refinement network: a U-Net on the UV grid, unprojected maps -> Gaussian attributes.

    model = Refiner_models["small"]()
    maps = model(features, template_maps)          # (B, 14, R, R), genlca.avatar.CHANNELS order

Inputs (`FEATURES`, built by `tokenizer.tokens.texel_features`): the unprojected albedo (the
video's light divided out), the colour as seen and the shading it was seen under, visibility
confidence and frame count (`tokenizer.unproject`), the template's canonical normals, one-hot
body parts and the chart mask. Outputs are residuals: geometry channels (offset, log-scale,
rotation, opacity) are added to the subject's template maps and colour is a change of the
unprojected albedo in logit space; the last layer starts at zero, so an untrained model
returns the template geometry with the unprojected colours. Where no frame saw a texel the
tokenizer does not use the output (`tokenizer.tokens`): completing those is diffusion's job.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genlca.avatar import CHANNELS, NUM_CHANNELS
from genlca.body.protocol import PART_NAMES

# Input channels, in order.
FEATURES: tuple[str, ...] = (
    "albedo_r", "albedo_g", "albedo_b", "rgb_r", "rgb_g", "rgb_b", "shading", "confidence", "count", "normal_x", "normal_y", "normal_z",
    *(f"part_{p}" for p in PART_NAMES), "chart",
)
GEOMETRY = [c for name in ("offset", "log_scale", "rotation", "opacity") for c in range(NUM_CHANNELS)[CHANNELS[name]]]
RGB = list(range(NUM_CHANNELS)[CHANNELS["rgb"]])


def _block(c_in: int, c_out: int) -> nn.Sequential:
    groups = min(8, c_out)
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1), nn.GroupNorm(groups, c_out), nn.SiLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1), nn.GroupNorm(groups, c_out), nn.SiLU(),
    )


class Refiner(nn.Module):
    """U-Net: `depth` levels (each halves the grid), `width` channels at the top, doubling per level,
    with a global-context MLP at the bottleneck (what the whole map says about exposure and light)."""

    def __init__(self, width: int = 32, depth: int = 3, in_channels: int = len(FEATURES)):
        super().__init__()
        self.config = {"width": width, "depth": depth, "in_channels": in_channels}
        chans = [width * 2**i for i in range(depth + 1)]
        self.stem = _block(in_channels, chans[0])
        self.down = nn.ModuleList(_block(chans[i], chans[i + 1]) for i in range(depth))
        # Whole-video context at the bottleneck (exposure, light): a U-Net's receptive field is local.
        self.context = nn.Sequential(nn.Linear(chans[-1], chans[-1]), nn.SiLU(), nn.Linear(chans[-1], chans[-1]))
        self.up = nn.ModuleList(_block(chans[i + 1] + chans[i], chans[i]) for i in reversed(range(depth)))
        self.head = nn.Conv2d(chans[0], NUM_CHANNELS, 1)
        nn.init.zeros_(self.head.weight)  # start at the template geometry and the unprojected albedo
        nn.init.zeros_(self.head.bias)

    def forward(self, features: Tensor, template: Tensor) -> Tensor:
        """features (B, len(FEATURES), R, R), template maps (B, 14, R, R) -> maps (B, 14, R, R)."""
        skips = [self.stem(features)]
        for block in self.down:
            skips.append(block(nn.functional.avg_pool2d(skips[-1], 2)))
        x = skips.pop()
        x = x + self.context(x.mean(dim=(2, 3)))[:, :, None, None]
        for block in self.up:
            skip = skips.pop()
            x = block(torch.cat([nn.functional.interpolate(x, size=skip.shape[-2:], mode="nearest"), skip], dim=1))
        delta = self.head(x)
        out = template.clone()
        out[:, GEOMETRY] = template[:, GEOMETRY] + delta[:, GEOMETRY]
        rgb = features[:, :3].clamp(1e-3, 1 - 1e-3)
        out[:, RGB] = torch.sigmoid(torch.logit(rgb) + delta[:, RGB])
        return out


def Refiner_tiny(**kw) -> Refiner:  # CPU tests
    return Refiner(width=8, depth=2, **kw)


def Refiner_small(**kw) -> Refiner:  # the CPU default
    return Refiner(width=24, depth=3, **kw)


def Refiner_base(**kw) -> Refiner:  # GPU
    return Refiner(width=64, depth=4, **kw)


Refiner_models = {"tiny": Refiner_tiny, "small": Refiner_small, "base": Refiner_base}

__all__ = ["FEATURES", "GEOMETRY", "RGB", "Refiner", "Refiner_models"]
