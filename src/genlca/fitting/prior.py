"""Pose and shape priors for body fitting: joint limits, a pull towards the A-pose, shape priors.

Poses are axis-angle vectors (rotvec, radians) of the 17 `GENERIC_JOINTS`, each the delta from
the A-pose in the common frame's axes (X the subject's left, Y the body's back, Z up), carried
by the parent joint (`genlca.body.protocol`). For a limb hanging down, +X swings it backwards
and -X forwards; +X bends the knee, -X bends the elbow; +X on the spine bends the trunk forward;
+Y on the left shoulder lowers the arm towards the body, -Y raises it sideways (mirrored on the
right); Z twists about the vertical.

Joint limits are hinge losses on the rotvec components (a good stand-in for Euler angles at
the angles a body reaches), in degrees below. They only forbid what a body cannot do (knees and
elbows bending the wrong way, a twisted spine, a head turned backwards); they are loose enough
for every motion of the synthetic generator (walks, waves, raised arms, pointing, head turns).
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

from genlca.body.protocol import GENERIC_JOINTS

# joint -> ((x_lo, x_hi), (y_lo, y_hi), (z_lo, z_hi)) in degrees, on the rotvec from the A-pose.
JOINT_LIMITS_DEG: dict[str, tuple[tuple[float, float], ...]] = {
    "pelvis": ((-5, 5), (-5, 5), (-5, 5)),  # global orientation lives in the root transform
    "spine": ((-20, 40), (-25, 25), (-30, 30)),
    "chest": ((-20, 35), (-25, 25), (-30, 30)),
    "neck": ((-35, 45), (-30, 30), (-50, 50)),
    "head": ((-40, 40), (-30, 30), (-60, 60)),
    "shoulder_l": ((-170, 60), (-150, 60), (-90, 90)),
    "elbow_l": ((-150, 15), (-45, 45), (-60, 60)),
    "wrist_l": ((-80, 80), (-40, 40), (-80, 80)),
    "shoulder_r": ((-170, 60), (-60, 150), (-90, 90)),
    "elbow_r": ((-150, 15), (-45, 45), (-60, 60)),
    "wrist_r": ((-80, 80), (-40, 40), (-80, 80)),
    "hip_l": ((-120, 35), (-50, 25), (-45, 45)),
    "knee_l": ((-5, 150), (-10, 10), (-20, 20)),
    "ankle_l": ((-45, 45), (-25, 25), (-35, 35)),
    "hip_r": ((-120, 35), (-25, 50), (-45, 45)),
    "knee_r": ((-5, 150), (-10, 10), (-20, 20)),
    "ankle_r": ((-45, 45), (-25, 25), (-35, 35)),
}

# Spread of each rotvec component around the A-pose, in degrees, separately for negative and
# positive values: the pull towards the A-pose is sum ((rotvec / spread)^2). Hinges (knees,
# elbows) bend one way about X and barely move otherwise; limbs swing forward (-X) more readily
# than backward (+X); arms are raised (-Y left, +Y right) more than pressed into the body; hips
# swing more than they spread (Y) or twist (Z); the trunk and neck move little.
A_POSE_SPREAD_DEG: dict[str, tuple[tuple[float, float], ...]] = {
    "pelvis": ((5, 5), (5, 5), (5, 5)),
    "spine": ((8, 12), (8, 8), (10, 10)),
    "chest": ((8, 12), (8, 8), (10, 10)),
    "neck": ((15, 15), (10, 10), (20, 20)),
    "head": ((20, 20), (15, 15), (35, 35)),
    "shoulder_l": ((60, 25), (60, 25), (25, 25)),
    "elbow_l": ((60, 5), (20, 20), (15, 15)),
    "wrist_l": ((30, 30), (30, 30), (30, 30)),
    "shoulder_r": ((60, 25), (25, 60), (25, 25)),
    "elbow_r": ((60, 5), (20, 20), (15, 15)),
    "wrist_r": ((30, 30), (30, 30), (30, 30)),
    "hip_l": ((40, 35), (12, 12), (10, 10)),
    "knee_l": ((5, 60), (5, 5), (5, 5)),
    "ankle_l": ((20, 20), (10, 10), (10, 10)),
    "hip_r": ((40, 35), (12, 12), (10, 10)),
    "knee_r": ((5, 60), (5, 5), (5, 5)),
    "ankle_r": ((20, 20), (10, 10), (10, 10)),
}


@functools.lru_cache(maxsize=8)  # the losses run every optimiser step: build the tables once
def limit_bounds(device=None, dtype=torch.float32) -> tuple[Tensor, Tensor]:
    """(17, 3) lower and upper bounds in radians, in GENERIC_JOINTS order (shared: do not modify)."""
    lim = torch.tensor([JOINT_LIMITS_DEG[j] for j in GENERIC_JOINTS], dtype=dtype, device=device) * (math.pi / 180)
    return lim[..., 0], lim[..., 1]


@functools.lru_cache(maxsize=8)
def _a_pose_spread(device=None, dtype=torch.float32) -> Tensor:
    """(17, 3, 2) spread of the A-pose prior below / above zero, radians (shared: do not modify)."""
    return torch.tensor([A_POSE_SPREAD_DEG[j] for j in GENERIC_JOINTS], dtype=dtype, device=device) * (math.pi / 180)


def joint_limit_loss(rotvec: Tensor, per_joint: bool = False) -> Tensor:
    """(..., 17, 3) rotvecs -> (...,) sum of squared hinge violations (radians^2); (..., 17)
    with `per_joint`."""
    lo, hi = limit_bounds(rotvec.device, rotvec.dtype)
    over = torch.relu(rotvec - hi) + torch.relu(lo - rotvec)
    per = (over**2).sum(dim=-1)
    return per if per_joint else per.sum(dim=-1)


def a_pose_loss(rotvec: Tensor, per_joint: bool = False) -> Tensor:
    """(..., 17, 3) rotvecs -> (...,) sum of squared components in units of their spread;
    (..., 17) with `per_joint`."""
    spread = _a_pose_spread(rotvec.device, rotvec.dtype)
    s = torch.where(rotvec < 0, spread[..., 0], spread[..., 1])
    per = ((rotvec / s) ** 2).sum(dim=-1)
    return per if per_joint else per.sum(dim=-1)


def violations(rotvec: Tensor, tolerance_deg: float = 1.0) -> list[tuple[int, str, str, float]]:
    """(F, 17, 3) rotvecs -> [(frame, joint, axis, degrees beyond the limit)] for a report."""
    lo, hi = limit_bounds(rotvec.device, rotvec.dtype)
    over = torch.rad2deg(torch.relu(rotvec - hi) + torch.relu(lo - rotvec))
    out = []
    for f, j, a in (over > tolerance_deg).nonzero().tolist():
        out.append((f, GENERIC_JOINTS[j], "xyz"[a], round(float(over[f, j, a]), 2)))
    return out


def shape_prior(shape: Tensor, body_name: str) -> Tensor:
    """Squared distance of the shape from the average subject. Anny: phenotypes in [0, 1]
    around 0.5 (scaled so 0.5 away costs 1 per parameter); SMPL-X and others: betas (unit
    Gaussian) squared."""
    if body_name == "anny":
        return (((shape - 0.5) / 0.5) ** 2).sum(dim=-1)
    return (shape**2).sum(dim=-1)
