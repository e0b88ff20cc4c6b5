"""Body regions a user can edit, as masks on the UV grid of a body model.

Regions follow the garment boundaries of the synthetic subjects (genlca.data.synth.clothing), so an
edit of `upper_body` replaces exactly what a caption calls the top: the torso above the waist and
the arms (long sleeves), and `lower_body` what it calls the bottom (trousers to the ankle). `hair`
is the largest hairline (long hair over the nape and upper back)."""

from __future__ import annotations

import torch
from torch import Tensor

from genlca.body.protocol import PART_NAMES, BodyModel
from genlca.body.uv_layout import UVLayout

EDIT_REGIONS: tuple[str, ...] = ("upper_body", "lower_body", "head", "hair", "arms", "legs", "feet")
_PARTS: dict[str, tuple[str, ...]] = {
    "head": ("head",),
    "arms": ("upper_arm", "lower_arm", "hand"),
    "legs": ("upper_leg", "lower_leg"),
    "feet": ("foot",),
}


def region_mask(region: str, body: BodyModel, layout: UVLayout, shape: Tensor | None = None) -> Tensor:
    """(R, R) bool: the texels of `region` (one of EDIT_REGIONS), inside the UV chart."""
    if region not in EDIT_REGIONS:
        raise ValueError(f"unknown region {region!r}; choose one of {', '.join(EDIT_REGIONS)}")
    if region in _PARTS:
        ids = torch.tensor([PART_NAMES.index(p) for p in _PARTS[region]])
        return torch.isin(layout.part.long(), ids) & layout.mask.bool()
    from genlca.data.synth.clothing import garment_regions

    garments = garment_regions(body, layout, shape, sleeves="long", legwear="trousers", hair="long")
    name = {"upper_body": "top", "lower_body": "bottom", "hair": "hair"}[region]
    return garments[name] & layout.mask.bool()


__all__ = ["EDIT_REGIONS", "region_mask"]
