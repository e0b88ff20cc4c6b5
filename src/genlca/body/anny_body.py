"""Anny (PyPI `anny`, Apache-2.0 code, CC0 MakeHuman data): the offline default body model.

Facts this relies on are measured in shared/ANNY_NOTES.md: Z up, -Y front, +X subject's left;
the first build takes minutes and writes ~790 MB of cache, of which only the 51 MB
`build_compact_model_data_*` file is needed afterwards (the others embed absolute paths).

Facial expressions: the 52 ARKit-named face units that ship with the package (`expression_names`;
`pose(..., expression=weights)`). They are read from the package's target files and mapped onto this
topology through the model's `base_mesh_vertex_indices`, instead of building the model with
`facial_actions="all"`: that is a second build of minutes and 790 MB for every user, while the face
units are a few thousand vertex offsets.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import shutil
import tempfile
from pathlib import Path

import torch
from torch import Tensor

from genlca.body.protocol import (
    GENERIC_JOINTS,
    INTERIOR_PART,
    PART_NAMES,
    Pose,
    PosedBody,
    compose_with_a_pose,
)
from genlca.body.rotations import axis_angle
from genlca.paths import anny_cache_dir, configure_cache_env

log = logging.getLogger(__name__)

ANNY_KW = dict(rig="anny", topology="anny", local_changes="none", facial_actions="none")

# Generic joint -> Anny bone.
JOINT_TO_BONE = {
    "pelvis": "root", "spine": "spine04", "chest": "spine02", "neck": "neck01", "head": "head",
    "shoulder_l": "upperarm01.L", "elbow_l": "lowerarm01.L", "wrist_l": "wrist.L",
    "shoulder_r": "upperarm01.R", "elbow_r": "lowerarm01.R", "wrist_r": "wrist.R",
    "hip_l": "upperleg01.L", "knee_l": "lowerleg01.L", "ankle_l": "foot.L",
    "hip_r": "upperleg01.R", "knee_r": "lowerleg01.R", "ankle_r": "foot.R",
}

# Anny bone-name prefix -> body part (first match wins).
BONE_PART_PREFIXES = (
    ("upperarm", "upper_arm"), ("lowerarm", "lower_arm"),
    ("wrist", "hand"), ("finger", "hand"), ("metacarpal", "hand"),
    ("upperleg", "upper_leg"), ("lowerleg", "lower_leg"), ("foot", "foot"), ("toe", "foot"),
    ("neck", "head"), ("head", "head"), ("eye", "head"),
    ("spine", "torso"), ("clavicle", "torso"), ("shoulder", "torso"),
    ("pelvis", "hips"), ("root", "hips"),
)
INTERIOR_SEGMENTS = ("eye_back.L", "eye_back.R", "eye_cavity.L", "eye_cavity.R", "mouth_cavity", "tongue")


def _compact_cache_files(cache: Path) -> list[Path]:
    return sorted(cache.glob("v*/build_compact_model_data_*.safetensors"))


def build_anny_cache(cache: Path | None = None) -> Path:
    """Build Anny's model data once (minutes) and keep only the compact file, atomically.

    The build runs in a scratch folder inside the cache; the compact file is renamed into
    place last, so an interrupted build leaves nothing that looks finished.
    """
    cache = Path(cache or anny_cache_dir())
    found = _compact_cache_files(cache)
    if found:
        return found[0]
    cache.mkdir(parents=True, exist_ok=True)
    configure_cache_env()
    import anny.paths

    scratch = Path(tempfile.mkdtemp(prefix=".build-", dir=cache))
    try:
        anny.paths.set_anny_cache_path(scratch)
        _quiet_warp()
        import anny

        anny.Anny(**ANNY_KW)
        built = _compact_cache_files(scratch)
        if not built:
            raise RuntimeError(f"Anny build in {scratch} produced no compact model file")
        target = cache / built[0].relative_to(scratch)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(built[0], target)
        return target
    finally:
        anny.paths.set_anny_cache_path(cache)
        shutil.rmtree(scratch, ignore_errors=True)


def _quiet_warp() -> None:
    try:
        import warp

        # Warp logs its device table and a "no CUDA driver" warning on stdout at init.
        warp.config.log_level = warp.LOG_ERROR
    except Exception:  # warp is optional for Anny (torch skinning fallback)
        pass


class AnnyBody:
    """Anny behind the `BodyModel` protocol; float32, CPU or CUDA."""

    name = "anny"

    def __init__(self, cache_dir: str | os.PathLike | None = None, device: str | torch.device = "cpu"):
        cache = Path(cache_dir or anny_cache_dir())
        os.environ["ANNY_CACHE_DIR"] = str(cache)
        configure_cache_env()
        build_anny_cache(cache)
        _quiet_warp()
        import anny
        import anny.paths
        from anny.face_segmentation import get_face_segmentation_mask
        from anny.skinning.skinning import dense_bone_weights

        anny.paths.set_anny_cache_path(cache)
        self.device = torch.device(device)
        self.model = anny.Anny(**ANNY_KW).to(dtype=torch.float32, device=self.device)
        m = self.model
        self.bone_labels: tuple[str, ...] = tuple(m.bone_labels)
        self.shape_labels: tuple[str, ...] = tuple(m.phenotype_labels)
        self.faces = torch.as_tensor(m.faces, dtype=torch.long, device=self.device)
        self.uv_coords = torch.as_tensor(m.texture_coordinates, dtype=torch.float32, device=self.device)
        self.uv_faces = torch.as_tensor(m.face_texture_coordinate_indices, dtype=torch.long, device=self.device)
        self.joint_names = GENERIC_JOINTS
        self._bone_index = {b: i for i, b in enumerate(self.bone_labels)}
        self._joint_bones = torch.tensor([self._bone_index[JOINT_TO_BONE[j]] for j in GENERIC_JOINTS], device=self.device)
        self._kp = anny.KeypointsRegressor.coco(m).to(dtype=torch.float32, device=self.device)

        weights = dense_bone_weights(m.vertex_bone_weights, m.vertex_bone_indices, len(self.bone_labels))
        self.skinning_weights = weights.to(dtype=torch.float32, device=self.device)  # (V, bones)
        self.face_parts = self._face_parts(get_face_segmentation_mask)

    # ----------------------------------------------------------------------------- protocol
    @property
    def num_vertices(self) -> int:
        return self.skinning_weights.shape[0]

    def default_shape(self, batch: int = 1) -> Tensor:
        return torch.full((batch, len(self.shape_labels)), 0.5, device=self.device)

    def template(self, shape: Tensor) -> Tensor:
        out = self.model(phenotype_kwargs=shape.to(self.device, torch.float32))
        return out["rest_vertices"]

    def a_pose(self) -> Pose:
        # Anny's rest pose already has the upper arms ~48 deg below horizontal; only the
        # forearms (bent ~48 deg forward at rest) need straightening: Rx(+50 deg) brings the
        # wrist back in line with the elbow (measured: wrist y -0.028 m vs elbow -0.019 m).
        straighten = axis_angle([1, 0, 0], 50 * math.pi / 180)
        return {"elbow_l": straighten, "elbow_r": straighten}

    def pose(self, shape: Tensor, pose: Pose | None = None, root: Tensor | None = None,
             expression: Tensor | None = None) -> PosedBody:
        """`expression`: optional (B, E) weights (0 neutral .. 1 full) of `expression_names`."""
        shape = shape.to(self.device, torch.float32)
        b = shape.shape[0]
        rots = compose_with_a_pose(self.a_pose(), pose, b, torch.float32, self.device)
        params = {}
        for joint, r in rots.items():
            t = torch.eye(4, device=self.device).repeat(b, 1, 1)
            t[:, :3, :3] = r
            params[JOINT_TO_BONE[joint]] = t
        out = self.model(pose_parameters=params, phenotype_kwargs=shape)
        verts = out["vertices"]
        if expression is not None:
            verts = verts + self._expression_displacement(out, expression)
        joints = out["bone_poses"][:, self._joint_bones, :3, 3]
        if root is not None:
            verts = _apply_rigid(root, verts)
            joints = _apply_rigid(root, joints)
        return PosedBody(vertices=verts, joints=joints)

    def keypoints(self, vertices: Tensor) -> Tensor:
        # Anny's COCO regressor gives 23 points: the 17 COCO ones first, then toes and heels.
        return self._kp({"vertices": vertices})[:, :17]

    # ----------------------------------------------------------------------------- facial expressions
    @property
    def expression_names(self) -> tuple[str, ...]:
        """The face units `pose(..., expression=)` takes weights of, in order (ARKit names: jawOpen, ...)."""
        from anny.models.facial_actions import FACIAL_ACTION_LABELS

        return tuple(FACIAL_ACTION_LABELS)

    @functools.cached_property
    def _expression_basis(self) -> tuple[Tensor, Tensor]:
        """(E, N, 3) rest-space offsets (metres) of the N vertices some face unit moves, and their (N,) indices
        (read once per body model: parsing the target files takes seconds)."""
        basis = _face_units(self.model.base_mesh_vertex_indices.long().cpu())
        moved = torch.nonzero(basis.norm(dim=-1).amax(0) > 0).squeeze(1)
        return basis[:, moved].to(self.device), moved.to(self.device)

    def _expression_displacement(self, out: dict, expression: Tensor) -> Tensor:
        """(B, V, 3) posed displacement of face-unit weights (B, E): the rest offsets skinned with the
        frame's bone transforms (skinning is linear in the rest position, so this equals skinning the
        offset template; the face units do not move the bones)."""
        if expression.shape[-1] != len(self.expression_names):
            raise ValueError(f"expression weights for {len(self.expression_names)} face units expected, "
                             f"got {expression.shape[-1]}")
        basis, idx = self._expression_basis
        offsets = torch.einsum("be,enk->bnk", expression.to(basis), basis)
        bones = out["bone_poses"] @ torch.linalg.inv(out["rest_bone_poses"])  # (B, bones, 4, 4)
        bi, bw = self.model.vertex_bone_indices[idx].long(), self.model.vertex_bone_weights[idx].to(basis)
        linear = (bw[None, ..., None, None] * bones[:, bi, :3, :3]).sum(2)  # (B, N, 3, 3)
        disp = torch.zeros(offsets.shape[0], self.num_vertices, 3, dtype=basis.dtype, device=basis.device)
        disp[:, idx] = (linear @ offsets[..., None])[..., 0]
        return disp

    # ----------------------------------------------------------------------------- helpers
    def _face_parts(self, get_face_segmentation_mask) -> Tensor:
        bone_part = torch.tensor([_bone_part(b) for b in self.bone_labels], device=self.device)
        part_w = torch.zeros(self.num_vertices, len(PART_NAMES), device=self.device)
        part_w.index_add_(1, bone_part, self.skinning_weights)
        face_w = part_w[self.faces].mean(dim=1)  # (F, parts)
        parts = face_w.argmax(dim=1)
        interior = torch.as_tensor(get_face_segmentation_mask(self.model, list(INTERIOR_SEGMENTS)), device=self.device).bool()
        parts[interior] = INTERIOR_PART
        return parts


def _face_units(base_indices: Tensor) -> Tensor:
    """(E, V, 3) float32 offsets of Anny's face units on the vertices of a topology whose vertex v is the
    MakeHuman base-mesh vertex base_indices[v] (Anny's loader, with its decimetre -> metre, Y-up -> Z-up
    transformation)."""
    import roma
    from anny.models.facial_actions import FACIAL_ACTION_LABELS, load_facial_action_blendshapes
    from anny.paths import get_anny_root_dir

    folder = Path(get_anny_root_dir()) / "data/faceunits01/targets/faceunits"
    ids = [int(line.split()[0]) for label in FACIAL_ACTION_LABELS
           for line in (folder / f"{label}.target").read_text().splitlines() if line.strip() and line[0] != "#"]
    count = max(max(ids), int(base_indices.max())) + 1
    to_world = roma.Linear(0.1 * roma.euler_to_rotmat("X", [90], degrees=True, dtype=torch.float64))[None]
    _, units = load_facial_action_blendshapes(vertices_count=count, world_transformation=to_world)
    return units[:, base_indices].float()


def _bone_part(bone: str) -> int:
    for prefix, part in BONE_PART_PREFIXES:
        if bone.startswith(prefix):
            return PART_NAMES.index(part)
    raise KeyError(f"Anny bone {bone!r} has no body part")


def _apply_rigid(root: Tensor, points: Tensor) -> Tensor:
    root = root.to(points)
    return points @ root[:, :3, :3].transpose(1, 2) + root[:, None, :3, 3]
