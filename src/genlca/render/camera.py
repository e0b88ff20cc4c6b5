"""Pinhole cameras in gsplat's convention: world-to-camera `viewmat` (OpenCV axes: x right,
y down, z forward) and intrinsics `K`; pixel (i, j) has its centre at (j + 0.5, i + 0.5)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Camera:
    viewmat: Tensor  # (4, 4) world -> camera
    K: Tensor  # (3, 3)
    width: int
    height: int

    def to(self, device) -> "Camera":
        return Camera(self.viewmat.to(device), self.K.to(device), self.width, self.height)

    @property
    def position(self) -> Tensor:
        r, t = self.viewmat[:3, :3], self.viewmat[:3, 3]
        return -r.T @ t

    def world_to_camera(self, points: Tensor) -> Tensor:
        return points @ self.viewmat[:3, :3].T.to(points) + self.viewmat[:3, 3].to(points)

    def project(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """(N, 3) world points -> ((N, 2) pixel coordinates, (N,) depth along the optical axis)."""
        pc = self.world_to_camera(points)
        z = pc[:, 2]
        uv = pc @ self.K.T.to(points)
        return uv[:, :2] / z.clamp(min=1e-8)[:, None], z

    def scaled(self, factor: float) -> "Camera":
        """The same view at `factor` times the resolution."""
        k = self.K.clone()
        k[:2] *= factor
        return Camera(self.viewmat, k, round(self.width * factor), round(self.height * factor))


def intrinsics(width: int, height: int, fov_y_deg: float) -> Tensor:
    f = 0.5 * height / math.tan(math.radians(fov_y_deg) / 2)
    return torch.tensor([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])


def look_at(eye, target, up=(0.0, 0.0, 1.0)) -> Tensor:
    """(4, 4) world-to-camera matrix for a camera at `eye` looking at `target`."""
    eye, target, up = (torch.as_tensor(v, dtype=torch.float32) for v in (eye, target, up))
    f = torch.nn.functional.normalize(target - eye, dim=0)
    r = torch.linalg.cross(f, up)
    if r.norm() < 1e-6:  # looking straight along `up`
        r = torch.linalg.cross(f, torch.tensor([0.0, 1.0, 0.0]))
    r = torch.nn.functional.normalize(r, dim=0)
    d = torch.linalg.cross(f, r)
    rot = torch.stack([r, d, f])
    m = torch.eye(4)
    m[:3, :3] = rot
    m[:3, 3] = -rot @ eye
    return m


def orbit_camera(target, distance: float, azimuth_deg: float, elevation_deg: float, width: int, height: int,
                 fov_y_deg: float = 30.0) -> Camera:
    """Camera on a sphere around `target`. Azimuth 0 looks at the body's front (from -Y);
    positive azimuth walks round towards the subject's left (+X)."""
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    target = torch.as_tensor(target, dtype=torch.float32)
    offset = torch.tensor([math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el)]) * distance
    return Camera(look_at(target + offset, target), intrinsics(width, height, fov_y_deg), width, height)


def framing_camera(points: Tensor, azimuth_deg: float = 0.0, width: int = 256, height: int = 256,
                   elevation_deg: float = 5.0, fov_y_deg: float = 30.0, margin: float = 1.15) -> Camera:
    """Orbit camera that keeps all `points` (N, 3) in frame from any azimuth."""
    lo, hi = points.min(dim=0).values, points.max(dim=0).values
    center = (lo + hi) / 2
    half_h = float((hi[2] - lo[2]) / 2)
    half_w = float(torch.linalg.norm((hi[:2] - lo[:2]) / 2))
    tan_y = math.tan(math.radians(fov_y_deg) / 2)
    tan_x = tan_y * width / height
    distance = margin * max(half_h / tan_y, half_w / tan_x) + half_w
    return orbit_camera(center, distance, azimuth_deg, elevation_deg, width, height, fov_y_deg)
