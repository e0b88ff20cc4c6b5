"""Named poses and procedural motions in the generic joint vocabulary (deltas from the A-pose).

Signs in the common frame (Z up, -Y front, +X subject's left): a negative rotation about X
swings a hanging limb forward; a positive one bends the knee backwards.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genlca.body.protocol import Pose
from genlca.body.rotations import axis_angle

X, Y, Z = (1, 0, 0), (0, 1, 0), (0, 0, 1)
NAMED_POSES = ("a-pose", "walk", "wave")


def walk(phase: Tensor | float) -> Pose:
    """One walking gait; `phase` in radians (2*pi per stride), a (B,) tensor or float."""
    phase = torch.as_tensor(phase, dtype=torch.float32).reshape(-1)
    s = torch.sin(phase)
    leg, arm = math.radians(28), math.radians(22)
    knee_l = math.radians(50) * torch.clamp(torch.sin(phase + math.pi / 2), min=0)
    knee_r = math.radians(50) * torch.clamp(torch.sin(phase - math.pi / 2), min=0)
    return {
        "hip_l": axis_angle(X, -leg * s), "hip_r": axis_angle(X, leg * s),
        "knee_l": axis_angle(X, knee_l + math.radians(5)), "knee_r": axis_angle(X, knee_r + math.radians(5)),
        "shoulder_l": axis_angle(X, arm * s), "shoulder_r": axis_angle(X, -arm * s),
        "elbow_l": axis_angle(X, torch.full_like(s, -math.radians(15))),
        "elbow_r": axis_angle(X, torch.full_like(s, -math.radians(15))),
        "spine": axis_angle(Z, math.radians(4) * s),
    }


def wave(phase: Tensor | float) -> Pose:
    """Right arm raised sideways, forearm waving."""
    phase = torch.as_tensor(phase, dtype=torch.float32).reshape(-1)
    ones = torch.ones_like(phase)
    return {
        "shoulder_r": axis_angle(Y, math.radians(115) * ones),
        "elbow_r": axis_angle(Y, math.radians(25) * torch.sin(phase)),
    }


def named_pose(name: str, phase: float = 0.0) -> Pose:
    if name == "a-pose":
        return {}
    if name == "walk":
        return walk(phase if phase else math.pi / 2)
    if name == "wave":
        return wave(phase)
    raise ValueError(f"unknown pose {name!r}; choose one of {', '.join(NAMED_POSES)}")


def turn(angle: Tensor | float) -> Tensor:
    """(B, 4, 4) root transform: rotation about the vertical axis."""
    r = axis_angle(Z, angle)
    t = torch.eye(4).repeat(r.shape[0], 1, 1)
    t[:, :3, :3] = r
    return t
