"""The one interface every body model implements (Anny by default, SMPL-X from user files).

World frame for every model, whatever its native axes: metres, **Z up, -Y is the body's
front, +X is the subject's left** (Anny's native frame; SMPL-X is converted).

Poses are given in a body-model-independent vocabulary (`GENERIC_JOINTS`): a dict from joint
name to a (B, 3, 3) rotation, applied at the joint in world-aligned axes and carried by its
children (both Anny's `local-ref` and SMPL-X's rest frames behave this way). Rotations are
deltas from the model's own A-pose (`a_pose()`), so procedural motions look alike on every model.

Optional, where a model has named face units (Anny's 52 ARKit-named ones): `expression_names` and
`pose(..., expression=(B, E) weights)`; callers check `getattr(body, "expression_names", ())`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

# Coarse body parts used for clothing, captions and editing. -1 marks interior faces
# (eye backs, mouth cavity, tongue) that never carry Gaussians.
PART_NAMES: tuple[str, ...] = (
    "head",
    "torso",
    "upper_arm",
    "lower_arm",
    "hand",
    "hips",
    "upper_leg",
    "lower_leg",
    "foot",
)
INTERIOR_PART = -1

GENERIC_JOINTS: tuple[str, ...] = (
    "pelvis", "spine", "chest", "neck", "head",
    "shoulder_l", "elbow_l", "wrist_l", "shoulder_r", "elbow_r", "wrist_r",
    "hip_l", "knee_l", "ankle_l", "hip_r", "knee_r", "ankle_r",
)

# The 17 COCO keypoints, in COCO order.
COCO_KEYPOINTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)

Pose = dict[str, Tensor]  # generic joint name -> (B, 3, 3) rotation


@dataclass
class PosedBody:
    vertices: Tensor  # (B, V, 3) world space
    joints: Tensor  # (B, J, 3) world-space joint positions, in `joint_names` order


@runtime_checkable
class BodyModel(Protocol):
    """A parametric body: template for a shape, faces, UVs, parts, skinning and keypoints."""

    name: str  # "anny" | "smplx": recorded in tokens and checkpoints
    faces: Tensor  # (F, 3) long
    uv_coords: Tensor  # (T, 2) float in [0, 1], v pointing up
    uv_faces: Tensor  # (F, 3) long: per-face indices into uv_coords
    face_parts: Tensor  # (F,) long: index into PART_NAMES, or INTERIOR_PART
    shape_labels: tuple[str, ...]  # names of the shape parameters
    joint_names: tuple[str, ...]  # names of the joints `pose()` returns

    @property
    def num_vertices(self) -> int: ...

    def default_shape(self, batch: int = 1) -> Tensor:
        """(B, S) shape parameters of the average subject."""

    def template(self, shape: Tensor) -> Tensor:
        """(B, V, 3) canonical (rest pose) vertices for (B, S) shape parameters."""

    def a_pose(self) -> Pose:
        """Model-specific rotations taking the rest pose to the common A-pose (batch 1)."""

    def pose(self, shape: Tensor, pose: Pose | None = None, root: Tensor | None = None) -> PosedBody:
        """Skin the template: `pose` holds deltas from the A-pose; `root` is (B, 4, 4) world rigid."""

    def keypoints(self, vertices: Tensor) -> Tensor:
        """(B, 17, 3) COCO-17 keypoints regressed from (B, V, 3) vertices."""


def compose_with_a_pose(a_pose: Pose, pose: Pose | None, batch: int, dtype, device) -> Pose:
    """Per joint R = R_pose @ R_apose: first take the A-pose, then apply the motion in world axes."""
    out: Pose = {}
    names = set(a_pose) | set(pose or {})
    for name in names:
        if name not in GENERIC_JOINTS:
            raise KeyError(f"unknown joint {name!r}; expected one of {', '.join(GENERIC_JOINTS)}")
        r_a = a_pose.get(name)
        r_p = (pose or {}).get(name)
        r_a = torch.eye(3, dtype=dtype, device=device).expand(batch, 3, 3) if r_a is None else r_a.to(dtype=dtype, device=device).expand(batch, 3, 3)
        r_p = torch.eye(3, dtype=dtype, device=device).expand(batch, 3, 3) if r_p is None else r_p.to(dtype=dtype, device=device).expand(batch, 3, 3)
        out[name] = r_p @ r_a
    return out


def pose_from_rotations(rotations: Tensor) -> Pose:
    """(B, 17, 3, 3) rotations in GENERIC_JOINTS order -> a Pose dict (the stored form of poses)."""
    return {name: rotations[:, j] for j, name in enumerate(GENERIC_JOINTS)}


def rotations_from_pose(pose: Pose, batch: int) -> Tensor:
    """A Pose dict -> (B, 17, 3, 3), identity for joints it does not name."""
    out = torch.eye(3).repeat(batch, len(GENERIC_JOINTS), 1, 1)
    for j, name in enumerate(GENERIC_JOINTS):
        if name in pose:
            out[:, j] = pose[name].to(out).expand(batch, 3, 3)
    return out
