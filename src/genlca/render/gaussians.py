"""A set of 3D Gaussians in world space, as gsplat takes them."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor


@dataclass
class Gaussians:
    means: Tensor  # (N, 3)
    quats: Tensor  # (N, 4) unit quaternions, (w, x, y, z)
    scales: Tensor  # (N, 3) standard deviations along the rotated axes (metres)
    opacities: Tensor  # (N,) in [0, 1]
    colors: Tensor  # (N, 3) RGB in [0, 1]

    def __len__(self) -> int:
        return self.means.shape[0]

    def to(self, device) -> "Gaussians":
        return Gaussians(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def detach(self) -> "Gaussians":
        return Gaussians(**{f.name: getattr(self, f.name).detach() for f in fields(self)})

    def select(self, index: Tensor) -> "Gaussians":
        return Gaussians(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @staticmethod
    def cat(parts: list["Gaussians"]) -> "Gaussians":
        return Gaussians(**{f.name: torch.cat([getattr(p, f.name) for p in parts]) for f in fields(Gaussians)})
