"""SMPL-X through the `smplx` package, from the user's own licence-gated model files.

The folder must hold `SMPLX_<GENDER>.npz`; UVs come from `vt`/`ft` inside the npz when present,
else from the SMPL-X UV `.obj` (`smplx_uv.obj`) beside it. Files are checked key by key with
`allow_pickle=False` and re-saved to a pickle-free copy before `smplx` (which loads with
`allow_pickle=True`) sees them, so a hostile npz cannot run code.
SMPL-X's native axes (Y up, +Z front) are converted to the common frame (Z up, -Y front).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from pathlib import Path

import numpy as np
import roma
import torch
from torch import Tensor

from genlca.body.protocol import COCO_KEYPOINTS, GENERIC_JOINTS, PART_NAMES, Pose, PosedBody, compose_with_a_pose
from genlca.body.rotations import axis_angle
from genlca.paths import cache_root

NUM_VERTICES = 10475
NUM_JOINTS = 55
# key -> expected shape (None = any length on that axis). Checked before smplx sees the file.
REQUIRED_KEYS: dict[str, tuple] = {
    "v_template": (NUM_VERTICES, 3),
    "f": (None, 3),
    "shapedirs": (NUM_VERTICES, 3, None),
    "posedirs": (NUM_VERTICES, 3, (NUM_JOINTS - 1) * 9),
    "J_regressor": (NUM_JOINTS, NUM_VERTICES),
    "weights": (NUM_VERTICES, NUM_JOINTS),
    "kintree_table": (2, NUM_JOINTS),
    "hands_componentsl": (45, 45),
    "hands_componentsr": (45, 45),
    "hands_meanl": (45,),
    "hands_meanr": (45,),
    "lmk_faces_idx": (None,),
    "lmk_bary_coords": (None, 3),
    "dynamic_lmk_faces_idx": (None, None),
    "dynamic_lmk_bary_coords": (None, None, 3),
}
UV_OBJ_NAME = "smplx_uv.obj"

# SMPL-X native (x left, y up, z front) -> common frame (x left, z up, -y front).
TO_COMMON = torch.tensor([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])

JOINT_INDEX = {
    "pelvis": 0, "spine": 3, "chest": 9, "neck": 12, "head": 15,
    "shoulder_l": 16, "elbow_l": 18, "wrist_l": 20, "shoulder_r": 17, "elbow_r": 19, "wrist_r": 21,
    "hip_l": 1, "knee_l": 4, "ankle_l": 7, "hip_r": 2, "knee_r": 5, "ankle_r": 8,
}
# SMPL-X joint index -> body part; skinning weights summed per part decide each face's part.
_JOINT_PART = {0: "hips", 1: "upper_leg", 2: "upper_leg", 3: "torso", 4: "lower_leg", 5: "lower_leg",
               6: "torso", 7: "foot", 8: "foot", 9: "torso", 10: "foot", 11: "foot", 12: "head",
               13: "torso", 14: "torso", 15: "head", 16: "upper_arm", 17: "upper_arm",
               18: "lower_arm", 19: "lower_arm", 20: "hand", 21: "hand", 22: "head", 23: "head", 24: "head"}
_COCO_FROM_JOINT = {"left_shoulder": 16, "right_shoulder": 17, "left_elbow": 18, "right_elbow": 19,
                    "left_wrist": 20, "right_wrist": 21, "left_hip": 1, "right_hip": 2,
                    "left_knee": 4, "right_knee": 5, "left_ankle": 7, "right_ankle": 8}
_COCO_FROM_VERTEX = {"nose": "nose", "left_eye": "leye", "right_eye": "reye", "left_ear": "lear", "right_ear": "rear"}


class SMPLXModelError(ValueError):
    """A missing or malformed SMPL-X model file; the message names the file and the problem."""


def load_checked_npz(path: Path) -> dict[str, np.ndarray]:
    """Read the required arrays with allow_pickle=False, checking presence and shapes."""
    if not path.is_file():
        raise SMPLXModelError(f"{path}: SMPL-X model file not found (expected SMPLX_<GENDER>.npz from the SMPL-X website)")
    try:
        npz = np.load(path, allow_pickle=False)
    except Exception as e:  # not a zip / not an npz
        raise SMPLXModelError(f"{path}: not a readable .npz file ({e})") from e
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise SMPLXModelError(f"{path}: holds a single array, not an .npz archive of named arrays")
    out: dict[str, np.ndarray] = {}
    with npz:
        missing = [k for k in REQUIRED_KEYS if k not in npz.files]
        if missing:
            raise SMPLXModelError(f"{path}: missing key(s) {', '.join(missing)}")
        for key, shape in REQUIRED_KEYS.items():
            try:
                arr = npz[key]
            except ValueError as e:
                raise SMPLXModelError(f"{path}: key {key!r} holds pickled objects, refused ({e})") from e
            except Exception as e:  # zipfile.BadZipFile, zlib.error, EOFError, OSError: a damaged member
                raise SMPLXModelError(f"{path}: key {key!r} is unreadable, the file is damaged ({e})") from e
            if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
                want = "x".join("*" if s is None else str(s) for s in shape)
                raise SMPLXModelError(f"{path}: key {key!r} has shape {arr.shape}, expected {want}")
            out[key] = arr
        for key in ("vt", "ft"):
            if key in npz.files:
                try:
                    out[key] = npz[key]
                except ValueError:
                    pass  # optional; the .obj is used instead
                except Exception as e:
                    raise SMPLXModelError(f"{path}: key {key!r} is unreadable, the file is damaged ({e})") from e
    _check_indices(path, out)
    return out


def _check_indices(path: Path, data: dict[str, np.ndarray]) -> None:
    """Index arrays must point inside what they index (smplx would fail later with a bare IndexError)."""
    n_faces = len(data["f"])
    for key, size in (("f", NUM_VERTICES), ("lmk_faces_idx", n_faces), ("dynamic_lmk_faces_idx", n_faces)):
        a = data[key]
        if a.size and (a.min() < 0 or a.max() >= size):
            raise SMPLXModelError(f"{path}: key {key!r} has indices outside 0..{size - 1}")
    parents = data["kintree_table"][0, 1:].astype(np.int64)
    if not ((parents >= 0) & (parents < np.arange(1, NUM_JOINTS))).all():
        raise SMPLXModelError(f"{path}: key 'kintree_table' must give every joint a parent listed before it")
    if "vt" in data and "ft" in data:
        vt, ft = data["vt"], data["ft"]
        if vt.ndim != 2 or vt.shape[1] != 2:
            raise SMPLXModelError(f"{path}: key 'vt' has shape {vt.shape}, expected *x2")
        if ft.shape != data["f"].shape:
            raise SMPLXModelError(f"{path}: key 'ft' has shape {ft.shape}, expected {data['f'].shape} like 'f'")
        if ft.size and (ft.min() < 0 or ft.max() >= len(vt)):
            raise SMPLXModelError(f"{path}: key 'ft' has indices outside 0..{len(vt) - 1} (the vt rows)")


def read_uv_obj(path: Path, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(vt (T,2), ft (F,3)) from an .obj whose `f v/vt` faces must match the model's faces."""
    if not path.is_file():
        raise SMPLXModelError(f"{path}: SMPL-X UV file not found (needed for tokens when the npz has no vt/ft)")
    vt, fv, ft = [], [], []
    with open(path) as fh:
        for n, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            if parts[0] == "vt":
                vt.append([float(parts[1]), float(parts[2])])
            elif parts[0] == "f":
                try:
                    idx = [p.split("/") for p in parts[1:4]]
                    fv.append([int(i[0]) - 1 for i in idx])
                    ft.append([int(i[1]) - 1 for i in idx])
                except (IndexError, ValueError) as e:
                    raise SMPLXModelError(f"{path}:{n}: face without UV indices ({line.strip()!r})") from e
    fv_arr, ft_arr, vt_arr = np.asarray(fv), np.asarray(ft), np.asarray(vt, dtype=np.float32)
    if fv_arr.shape != faces.shape or not np.array_equal(fv_arr, faces):
        raise SMPLXModelError(f"{path}: its faces do not match the SMPL-X model's faces ({fv_arr.shape} vs {faces.shape})")
    if len(vt_arr) == 0 or ft_arr.max() >= len(vt_arr):
        raise SMPLXModelError(f"{path}: UV indices out of range or no vt lines")
    return vt_arr, ft_arr


class SMPLXBody:
    """SMPL-X behind the `BodyModel` protocol."""

    name = "smplx"

    def __init__(self, model_dir: str | os.PathLike, gender: str = "neutral", num_betas: int = 10,
                 device: str | torch.device = "cpu"):
        import smplx

        model_dir = Path(model_dir)
        path = model_dir / f"SMPLX_{gender.upper()}.npz"
        data = load_checked_npz(path)
        if "vt" in data and "ft" in data:
            vt, ft = data["vt"].astype(np.float32), data["ft"].astype(np.int64)
        else:
            vt, ft = read_uv_obj(model_dir / UV_OBJ_NAME, data["f"].astype(np.int64))

        # Hand smplx a pickle-free copy (it loads with allow_pickle=True).
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        safe_dir = cache_root() / "smplx" / digest
        safe = safe_dir / path.name
        if not safe.exists():
            safe_dir.mkdir(parents=True, exist_ok=True)
            tmp = safe_dir / f".tmp-{os.getpid()}.npz"
            np.savez(tmp, **{k: v for k, v in data.items() if k in REQUIRED_KEYS})
            os.replace(tmp, safe)

        self.device = torch.device(device)
        n_betas = min(num_betas, data["shapedirs"].shape[-1])
        with contextlib.redirect_stdout(io.StringIO()):  # smplx prints shape-space warnings to stdout
            self.model = smplx.SMPLX(str(safe_dir), gender=gender, ext="npz", num_betas=n_betas, use_pca=False,
                                     num_expression_coeffs=0 if data["shapedirs"].shape[-1] <= n_betas else 10,
                                     use_face_contour=False).to(self.device)
        self.model.requires_grad_(False)  # its nn.Parameters are unused defaults, not things to fit
        self.shape_labels = tuple(f"beta{i}" for i in range(self.model.num_betas))
        self.joint_names = GENERIC_JOINTS
        self.faces = torch.as_tensor(data["f"].astype(np.int64), device=self.device)
        self.uv_coords = torch.as_tensor(vt, device=self.device)
        self.uv_faces = torch.as_tensor(ft, device=self.device)
        self._to_common = TO_COMMON.to(self.device)
        self._joint_idx = torch.tensor([JOINT_INDEX[j] for j in GENERIC_JOINTS], device=self.device)
        weights = torch.as_tensor(data["weights"], dtype=torch.float32, device=self.device)
        self.face_parts = _face_parts(weights, self.faces)
        self._kp_matrix = _coco_regressor(torch.as_tensor(data["J_regressor"], dtype=torch.float32), self.device)

    @property
    def num_vertices(self) -> int:
        return NUM_VERTICES

    def default_shape(self, batch: int = 1) -> Tensor:
        return torch.zeros(batch, len(self.shape_labels), device=self.device)

    def template(self, shape: Tensor) -> Tensor:
        return self.pose(shape, pose=None, _a_pose=False).vertices

    def a_pose(self) -> Pose:
        # SMPL-X rests in a T-pose: lower both arms 45 deg (about the front axis).
        return {"shoulder_l": axis_angle([0, 1, 0], np.pi / 4), "shoulder_r": axis_angle([0, 1, 0], -np.pi / 4)}

    def pose(self, shape: Tensor, pose: Pose | None = None, root: Tensor | None = None, _a_pose: bool = True) -> PosedBody:
        shape = shape.to(self.device, torch.float32)
        b = shape.shape[0]
        rots = compose_with_a_pose(self.a_pose() if _a_pose else {}, pose, b, torch.float32, self.device)
        c = self._to_common
        rotvec = torch.zeros(b, NUM_JOINTS, 3, device=self.device)
        for joint, r in rots.items():
            rotvec[:, JOINT_INDEX[joint]] = roma.rotmat_to_rotvec(c.T @ r @ c)
        zeros = lambda n: torch.zeros(b, n, device=self.device)  # noqa: E731
        # Pass every input: smplx's own defaults are batch-1 parameters.
        out = self.model(betas=shape, global_orient=rotvec[:, 0], body_pose=rotvec[:, 1:22].reshape(b, -1),
                         jaw_pose=zeros(3), leye_pose=zeros(3), reye_pose=zeros(3),
                         left_hand_pose=zeros(45), right_hand_pose=zeros(45),
                         expression=zeros(self.model.num_expression_coeffs), transl=zeros(3), return_verts=True)
        verts = out.vertices @ c.T
        joints = out.joints[:, self._joint_idx] @ c.T
        if root is not None:
            root = root.to(verts)
            verts = verts @ root[:, :3, :3].transpose(1, 2) + root[:, None, :3, 3]
            joints = joints @ root[:, :3, :3].transpose(1, 2) + root[:, None, :3, 3]
        return PosedBody(vertices=verts, joints=joints)

    def keypoints(self, vertices: Tensor) -> Tensor:
        return torch.einsum("kv,bvc->bkc", self._kp_matrix.to(vertices), vertices)


def _face_parts(weights: Tensor, faces: Tensor) -> Tensor:
    part_of_joint = torch.tensor([PART_NAMES.index(_JOINT_PART.get(j, "hand")) for j in range(NUM_JOINTS)])
    part_w = torch.zeros(weights.shape[0], len(PART_NAMES), device=weights.device)
    part_w.index_add_(1, part_of_joint.to(weights.device), weights)
    return part_w[faces].mean(dim=1).argmax(dim=1)


def _coco_regressor(j_regressor: Tensor, device) -> Tensor:
    """(17, V): body joints from the joint regressor, face points from SMPL-X's vertex ids."""
    from smplx.vertex_ids import vertex_ids

    m = torch.zeros(len(COCO_KEYPOINTS), NUM_VERTICES)
    for k, name in enumerate(COCO_KEYPOINTS):
        if name in _COCO_FROM_JOINT:
            m[k] = j_regressor[_COCO_FROM_JOINT[name]]
        else:
            m[k, vertex_ids["smplx"][_COCO_FROM_VERTEX[name]]] = 1.0
    return m.to(device)
