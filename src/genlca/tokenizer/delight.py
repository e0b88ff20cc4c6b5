"""Separate albedo from shading: one light per video, fitted to the colours a texel shows as the
body turns (hand-written: no maintained library fits Lambertian light on a body's UV grid).

Model: a texel's observed colour c_t = albedo * s(n_t), with shading linear in the camera-frame
normal, s(n) = L . (1, n): an ambient plus one directional term (first-order spherical harmonics;
the clamped cosine of a real light is close to it over the lit side). The camera frame is what a
fit knows; a camera that pans a lot blurs the estimate, and the ridge keeps a weak one near
uniform light. A texel seen under one normal says nothing about the light; only texels whose
normal changes between frames do.

While unprojecting, per texel: M = sum_t w Y Y^T (4x4) and B = sum_t w c Y^T (3x4), Y = (1, n).
With the albedo eliminated (albedo = B L / L^T M L), the light maximises
sum_texels sum_channels (B L)^2 / (L^T M L) (invariant to the scale of L; we set L0 = 1 and solve
for the 3 directional terms). Albedo times shading is ambiguous by a constant: it is fixed by the
brightest shading being 1 (a lit surface facing the light, correctly exposed).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

RIDGE = 0.005  # penalty on the directional light, relative to the total observed energy
MAX_DIRECTIONAL = 0.9  # |L_dir| / L0: keeps shading positive on every side the camera sees


@dataclass
class LightStats:
    """Sufficient statistics of the observations of N texels."""

    M: Tensor  # (N, 4, 4) sum w Y Y^T
    B: Tensor  # (N, 3, 4) sum w c Y^T
    energy: Tensor  # () sum w |c|^2

    @classmethod
    def zeros(cls, n: int) -> "LightStats":
        return cls(torch.zeros(n, 4, 4), torch.zeros(n, 3, 4), torch.zeros(()))

    def add(self, weight: Tensor, colors: Tensor, normals: Tensor) -> None:
        """One frame: weights (N,), colours (N, 3), camera-frame unit normals (N, 3)."""
        y = torch.cat([torch.ones_like(weight)[:, None], normals], dim=1)
        wy = weight[:, None] * y
        self.M += wy[:, :, None] * y[:, None, :]
        self.B += colors[:, :, None] * wy[:, None, :]
        self.energy += (weight[:, None] * colors**2).sum()


def fit_light(stats: LightStats, ridge: float = RIDGE, iters: int = 30) -> Tensor:
    """(4,) light L = (L0, L_dir) with max shading L0 + |L_dir| = 1; uniform light (1, 0, 0, 0)
    when nothing constrains it."""
    uniform = torch.tensor([1.0, 0.0, 0.0, 0.0])
    if float(stats.energy) <= 0:
        return uniform
    d = torch.zeros(3, requires_grad=True)
    opt = torch.optim.LBFGS([d], lr=1.0, max_iter=iters, line_search_fn="strong_wolfe")
    m, b, energy = stats.M.double(), stats.B.double(), stats.energy.double()

    def loss():
        opt.zero_grad()
        light = torch.cat([torch.ones(1, dtype=torch.float64), d.double()])
        quad = torch.einsum("i,nij,j->n", light, m, light).clamp(min=1e-12)
        explained = ((b @ light) ** 2).sum(dim=1) / quad
        value = (-explained.sum() + ridge * energy * (d.double() ** 2).sum()) / energy
        value.backward()
        return value

    opt.step(loss)
    d = d.detach()
    if not bool(d.isfinite().all()):
        return uniform
    d = d * min(1.0, MAX_DIRECTIONAL / max(float(d.norm()), 1e-12))
    light = torch.cat([torch.ones(1), d])
    return light / (1.0 + float(d.norm()))


def albedo_and_shading(stats: LightStats, light: Tensor, weight_sum: Tensor) -> tuple[Tensor, Tensor]:
    """Per texel: albedo (N, 3) in [0, 1] (least squares over its frames) and mean shading (N,)
    (1 where unseen)."""
    quad = torch.einsum("i,nij,j->n", light, stats.M, light)
    albedo = (stats.B @ light) / quad.clamp(min=1e-8)[:, None]
    shading = (stats.M[:, :, 0] @ light) / weight_sum.clamp(min=1e-8)
    seen = (weight_sum > 0) & (quad > 1e-8)
    return albedo.clamp(0, 1) * seen[:, None], torch.where(seen, shading, torch.ones_like(shading))


__all__ = ["LightStats", "albedo_and_shading", "fit_light"]
