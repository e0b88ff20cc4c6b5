"""Procedural motion: locomotion (walk with forward travel, walk in place, stand), root turning,
arm gestures and head turns, as per-frame generic-joint rotations (deltas from the A-pose) and
root transforms. Arms hang relaxed (lowered from Anny's 48-degree rest) unless a gesture lifts them."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

from genlca.body.poses import walk
from genlca.body.protocol import GENERIC_JOINTS, Pose
from genlca.body.rotations import axis_angle

LOCOMOTIONS = ("walk", "walk_in_place", "stand")
GESTURES = ("none", "wave_right", "wave_left", "raise_arms", "point")
X, Y, Z = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)
RELAX_DEG = 32.0  # extra lowering of the arms from the rest pose (about Y, + for the left arm)


@dataclass
class MotionSpec:
    locomotion: str = "walk"
    speed: float = 0.8  # m/s forward (walk only)
    stride_hz: float = 0.9  # gait cycles per second
    phase0: float = 0.0  # radians
    heading0: float = 0.0  # degrees; 0 = facing -Y
    turn: float = 0.0  # degrees of heading change over the clip
    gesture: str = "none"
    gesture_start: float = 0.2  # fraction of the clip
    gesture_length: float = 0.6  # fraction of the clip
    head_yaw: float = 0.0  # degrees, amplitude of looking around
    head_hz: float = 0.3

    def to_dict(self) -> dict:
        return asdict(self)


def sample_motion(rng: np.random.Generator) -> MotionSpec:
    loco = LOCOMOTIONS[int(rng.choice(3, p=[0.5, 0.25, 0.25]))]
    gesture = GESTURES[int(rng.choice(len(GESTURES), p=[0.45, 0.2, 0.1, 0.1, 0.15]))]
    turn = 0.0
    if rng.uniform() < 0.6:
        turn = float(rng.choice([-1, 1]) * rng.uniform(45, 200))
    return MotionSpec(
        locomotion=loco,
        speed=round(float(rng.uniform(0.5, 1.1)), 3) if loco == "walk" else 0.0,
        stride_hz=round(float(rng.uniform(0.75, 1.0)), 3),
        phase0=round(float(rng.uniform(0, 2 * math.pi)), 4),
        heading0=round(float(rng.uniform(-180, 180)), 2),
        turn=round(turn, 2),
        gesture=gesture,
        gesture_start=round(float(rng.uniform(0.0, 0.4)), 3),
        gesture_length=round(float(rng.uniform(0.4, 0.7)), 3),
        head_yaw=round(float(rng.uniform(0, 25)), 2),
        head_hz=round(float(rng.uniform(0.15, 0.5)), 3),
    )


@dataclass
class Motion:
    pose: Pose  # generic joint -> (F, 3, 3)
    root: Tensor  # (F, 4, 4) world rigid transform of the body
    heading: Tensor  # (F,) radians; the subject faces (sin h, -cos h, 0)

    def rotations(self) -> Tensor:
        """(F, 17, 3, 3) rotations in GENERIC_JOINTS order (identity where unset)."""
        f = self.root.shape[0]
        eye = torch.eye(3).expand(f, 3, 3)
        return torch.stack([self.pose.get(j, eye).expand(f, 3, 3) for j in GENERIC_JOINTS], dim=1).contiguous()


def _smoothstep(x: Tensor) -> Tensor:
    x = x.clamp(0, 1)
    return x * x * (3 - 2 * x)


def _envelope(t: Tensor, start: float, length: float, ramp: float) -> Tensor:
    """1 inside [start, start + length] with smooth ramps of `ramp` (same units as t)."""
    return _smoothstep((t - start) / ramp) * _smoothstep((start + length - t) / ramp)


def animate(spec: MotionSpec, frames: int, fps: float, ground_z: float) -> Motion:
    """Per-frame pose and root. `ground_z` lifts the pelvis so the rest-pose soles touch z = 0."""
    t = torch.arange(frames, dtype=torch.float32) / fps
    duration = max(frames / fps, 1e-6)
    amp = {"walk": 1.0, "walk_in_place": 0.8, "stand": 0.0}[spec.locomotion]
    phase = spec.phase0 + 2 * math.pi * spec.stride_hz * t
    pose: Pose = {k: _scale_rotation(v, amp) for k, v in walk(phase).items()} if amp else {}
    f = frames

    def rot(axis, deg):
        return axis_angle(axis, torch.as_tensor(deg, dtype=torch.float32).expand(f) * math.pi / 180)

    def get(name):
        return pose.get(name, torch.eye(3).expand(f, 3, 3))

    # Relaxed arms: lower them, then apply the walk's swing (world axes, swing after lowering).
    env = _envelope(t, spec.gesture_start * duration, spec.gesture_length * duration, 0.35) \
        if spec.gesture != "none" else torch.zeros(f)
    g = spec.gesture
    lift_r = env if g in ("wave_right", "raise_arms") else torch.zeros(f)
    lift_l = env if g in ("wave_left", "raise_arms") else torch.zeros(f)
    wave_osc = torch.sin(2 * math.pi * 1.6 * t)
    for side, sign, lift in (("l", 1.0, lift_l), ("r", -1.0, lift_r)):
        # Lowered -RELAX .. raised +110 degrees (about Y, mirrored per side).
        up = (-RELAX_DEG * (1 - lift) + 110.0 * lift)
        swing = get(f"shoulder_{side}")
        swing = _blend_identity(swing, 1 - lift)
        pose[f"shoulder_{side}"] = swing @ rot(Y, sign * -up)
        wave_elbow = rot(Y, sign * -25.0 * wave_osc * lift) if g != "raise_arms" else rot(Y, sign * -10.0 * lift)
        pose[f"elbow_{side}"] = wave_elbow @ _blend_identity(get(f"elbow_{side}"), 1 - lift)
    if g == "point":
        pose["shoulder_r"] = rot(X, -75.0 * env) @ pose["shoulder_r"]
        pose["elbow_r"] = _blend_identity(pose["elbow_r"], 1 - env)
    if spec.head_yaw:
        pose["head"] = rot(Z, spec.head_yaw * torch.sin(2 * math.pi * spec.head_hz * t))
    if amp == 0.0:  # standing: a slow sway
        pose["spine"] = rot(Y, 2.0 * torch.sin(2 * math.pi * 0.25 * t))

    # Root: heading eases from heading0 to heading0 + turn; travel along the facing direction.
    heading = (spec.heading0 + spec.turn * _smoothstep(t / duration * 1.1 - 0.05)) * math.pi / 180
    front = torch.stack([torch.sin(heading), -torch.cos(heading)], dim=-1)
    speed = spec.speed if spec.locomotion == "walk" else 0.0
    step = front * speed / fps
    xy = torch.cumsum(step, dim=0) - step[0]
    xy = xy - xy.mean(dim=0) if speed else xy  # keep the clip centred on the origin
    bob = 0.012 * amp * torch.cos(2 * phase)
    root = torch.eye(4).repeat(f, 1, 1)
    root[:, :3, :3] = axis_angle(Z, heading)
    root[:, :2, 3] = xy
    root[:, 2, 3] = ground_z + bob
    return Motion(pose=pose, root=root, heading=heading)


def _scale_rotation(r: Tensor, s: float) -> Tensor:
    """Rotation with its angle scaled by s (about the same axis)."""
    if s == 1.0:
        return r
    import roma

    return roma.rotvec_to_rotmat(roma.rotmat_to_rotvec(r) * s)


def _blend_identity(r: Tensor, w: Tensor) -> Tensor:
    """Per-frame rotation scaled towards the identity: angle * w (w: (F,))."""
    import roma

    return roma.rotvec_to_rotmat(roma.rotmat_to_rotvec(r) * w[:, None])
