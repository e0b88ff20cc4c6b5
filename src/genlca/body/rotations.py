"""Small rotation helpers; quaternion maths comes from `roma` (a dependency of anny)."""

from __future__ import annotations

import roma
import torch
from torch import Tensor


def axis_angle(axis, angle) -> Tensor:
    """(1, 3, 3) rotation of `angle` radians (float or (B,) tensor) about a fixed axis -> (B, 3, 3)."""
    axis = torch.as_tensor(axis, dtype=torch.float32)
    axis = axis / axis.norm()
    angle = torch.as_tensor(angle, dtype=torch.float32).reshape(-1, 1)
    return roma.rotvec_to_rotmat(axis[None] * angle)


def rotmat_to_quat_wxyz(r: Tensor) -> Tensor:
    """(..., 3, 3) -> (..., 4) unit quaternions in gsplat's (w, x, y, z) order."""
    q = roma.rotmat_to_unitquat(r)  # roma: (x, y, z, w)
    return torch.cat([q[..., 3:], q[..., :3]], dim=-1)


def quat_wxyz_to_rotmat(q: Tensor) -> Tensor:
    q = torch.nn.functional.normalize(q, dim=-1)
    return roma.unitquat_to_rotmat(torch.cat([q[..., 1:], q[..., :1]], dim=-1))
