"""Body-model fitting of one video from its 2D keypoints (and, optionally, person masks).

    fit = fit_video(detections, body)            # BodyFit (genlca.fitting.types)

What is fitted, in the camera frame (OpenCV axes: x right, y down, z forward; camera at the
origin, no distortion):
- one shape per video (Anny: the 6 phenotypes in [0, 1] through a sigmoid; SMPL-X: betas with
  an L2 prior),
- per frame: the 17 generic joint rotations (deltas from the A-pose, axis-angle; pelvis, wrists
  and ankles are held at the A-pose: global orientation lives in the root, and the COCO-17
  keypoints do not see hands or feet), and the root transform body -> camera (rotation as an
  axis-angle offset from its initial value, translation as (x/z, y/z, log z)).
The intrinsics are a guess from the image size: f = `focal_factor` * max(W, H), principal point
at the image centre (`FitConfig.focal_factor`; 1.4 is a vertical field of view of about 39 deg
for a square frame, between phone footage and the synthetic cameras' 25-50 deg).

Losses (weights in `FitConfig`): confidence-weighted (`keypoint_weights`: a ramp that is full
above `confidence_full`) Geman-McClure keypoint reprojection
(distances in units of max(W, H), the robust scale annealed from coarse to fine), joint limits
and an anisotropic pull towards the A-pose (`prior.py`), a shape prior, temporal smoothness
(pose velocity, root rotation velocity, root translation and 3D keypoint acceleration; only
between consecutive fitted frames), and optionally a silhouette term (projected body vertices
against the distance transform of the person mask, and mask outline pixels against the
nearest projected vertex; off by default: ~2.5 mm better PA-MPJPE on perfect masks, about
twice the time).

Stages, every one batched over all frames:
1. root only, in the A-pose, from `yaw_hypotheses` headings per frame (frames x headings in one
   batch), the depth initialised from segment pixel lengths (torso first) vs the template's
   metric lengths. The left/right labels of the keypoints (shoulder order) decide the facing
   through the fit; missing face keypoints with confident shoulders add a cost to headings
   that face the camera (`facing_cost`). Each frame is also read with the left/right labels
   of face, arms and legs swapped (`SWAP_GROUPS`, all 8 combinations, a small cost per swapped
   group): seen from behind, real detectors (mediapipe) flip them at random from frame to
   frame (mediapipe also mirrors runs of frontal frames). A Viterbi pass picks one heading and
   labelling per frame, with a cost for turning between frames and one for keypoints jumping
   between frames under the two labellings (`_label_motion`), so neither facing nor labels flip;
2a. every frame from several limb starts (`LIMBS`: arms hanging / forward / back / raised,
   legs straight / forward / back / raised), average shape, no temporal terms, with the knee
   and ankle labels as read and swapped; per frame the cheaper leg labelling is kept, then per
   limb a Viterbi pass picks a start per frame (its keypoints' cost + its joints' priors + a
   cost for changing between frames). This is what resolves the depth ambiguity of limbs that
   gradient descent cannot (it keeps a limb on the side of the camera it starts on);
2b. root, pose and shape of all frames together with Adam (cosine learning-rate decay).

Frames where fewer than `min_keypoints` keypoints have confidence > `min_confidence` are not
fitted directly; runs of at most `max_gap` such frames with fitted frames on both sides are
filled by interpolating root and pose (slerp) and marked fitted with the note "interpolated
from frames a and b (why)" in `reasons`; the others are reported unfitted with the reason.

Speed: keypoints are computed without skinning the whole mesh. Anny: a COCO keypoint is a
fixed blend of vertices, so under linear blend skinning it is a sum over bones of bone
transforms applied to per-bone blends of the rest vertices (bases precomputed per blendshape),
and bones without a pose delta follow their nearest posed ancestor, so only 17 rigid products
per frame remain (`_AnnyArticulator`). SMPL-X: smplx's own skinning restricted to the vertices
the regressor reads (`_SMPLXArticulator`). Both are exactly `body.keypoints(body.pose(...))`
(tested); other models use that directly. About 5 s per 24-frame video on one CPU core (Anny);
fitting runs on the CPU with one intra-op thread.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import roma
import torch
from torch import Tensor

from genlca.body.protocol import COCO_KEYPOINTS, GENERIC_JOINTS, BodyModel, pose_from_rotations
from genlca.fitting import prior
from genlca.fitting.types import BodyFit, VideoDetections

log = logging.getLogger(__name__)

# body -> camera rotation of an upright person facing the camera (body Z up -> camera -y,
# body front -Y -> camera -z, body left +X -> image right).
R_FACING_CAMERA = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])

# Joints held at the A-pose: the pelvis (global orientation is the root's), wrists and ankles
# (COCO-17 has no hand or foot points).
FIXED_JOINTS = ("pelvis", "wrist_l", "wrist_r", "ankle_l", "ankle_r")

KP = {n: i for i, n in enumerate(COCO_KEYPOINTS)}
# COCO index of each keypoint's mirror image (left <-> right).
LR_SWAP = [KP[n.replace("left_", "@").replace("right_", "left_").replace("@", "right_")] for n in COCO_KEYPOINTS]
# ... of the knees and ankles only (legs mixed up by the detector).
LEG_SWAP = [LR_SWAP[i] if COCO_KEYPOINTS[i].endswith(("knee", "ankle")) else i for i in range(17)]
# Keypoint groups whose left/right labels a detector flips together (seen from behind it flips
# them at random, group by group): face, arms (shoulders down), legs (hips down).
SWAP_GROUPS = (("eye", "ear"), ("shoulder", "elbow", "wrist"), ("hip", "knee", "ankle"))


def label_swaps() -> list[tuple[int, list[int]]]:
    """Every combination of swapped SWAP_GROUPS: (number of groups swapped, permutation (17,))."""
    import itertools

    out = []
    for flags in itertools.product((False, True), repeat=len(SWAP_GROUPS)):
        perm = list(range(17))
        for flag, group in zip(flags, SWAP_GROUPS):
            if flag:
                perm = [LR_SWAP[i] if COCO_KEYPOINTS[i].endswith(group) else perm[i] for i in range(17)]
        out.append((sum(flags), perm))
    return out
TORSO = (KP["left_shoulder"], KP["right_shoulder"], KP["left_hip"], KP["right_hip"])
HEAD = tuple(range(5))
# Segments whose pixel length vs metric length gives the depth (torso sides first).
SCALE_SEGMENTS = (
    ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"),
    ("left_hip", "left_knee"), ("right_hip", "right_knee"), ("left_knee", "left_ankle"), ("right_knee", "right_ankle"),
    ("left_shoulder", "left_elbow"), ("right_shoulder", "right_elbow"), ("left_elbow", "left_wrist"),
    ("right_elbow", "right_wrist"), ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"),
    ("nose", "left_shoulder"), ("nose", "right_shoulder"),
)


@dataclass(frozen=True)
class FitConfig:
    """Fitting settings. Loss weights multiply terms that are means over frames (and keypoints)."""

    focal_factor: float = 1.4  # f = focal_factor * max(W, H) pixels
    min_keypoints: int = 6  # a frame needs this many keypoints ...
    min_confidence: float = 0.3  # ... with confidence above this to be fitted directly
    confidence_floor: float = 0.1  # keypoints below this confidence get no weight at all ...
    confidence_full: float = 0.3  # ... and above this one full weight (linear between; 0: weight = confidence)
    max_gap: int = 12  # longest run of unfitted frames filled by interpolation
    # stage 1: root only
    yaw_hypotheses: int = 8
    root_iters: int = 60
    root_lr: float = 0.05
    flip_penalty: float = 0.3  # Viterbi: cost per squared radian of root rotation change between frames
    w_facing: float = 0.3  # cost of facing the camera when the face keypoints are missing (`facing_cost`)
    swap_search: bool = True  # also read frames with left/right labels swapped (by SWAP_GROUPS: detectors
    swap_penalty: float = 0.05  # flip them from behind); cost per swapped group, in per-frame data cost units
    leg_swap_penalty: float = 0.2  # the same for swapping the knees' and ankles' labels only
    w_label_motion: float = 1.0  # Viterbi: cost of keypoints jumping between frames under two labellings
    label_motion_scale: float = 0.08  # ... robust scale of that jump, as a fraction of the person's height
    # stage 2: everything
    limb_search: bool = True  # stage 2a: several limb starts per frame (see LIMBS)
    limb_iters: int = 80  # Adam steps of stage 2a
    limb_switch_penalty: float = 0.05  # Viterbi: cost per squared radian of limb rotation change
    iters: int = 200  # Adam steps of stage 2b
    lr: float = 0.03
    sigma_start: float = 0.08  # Geman-McClure scale (fraction of max(W, H)), annealed ...
    sigma_end: float = 0.025  # ... to this over the Adam steps of stage 2a
    sigma_refine_start: float = 0.03  # stage 2b anneals from this to sigma_end
    w_keypoints: float = 1.0
    w_limits: float = 1.0
    w_a_pose: float = 0.005
    w_shape: float = 0.002
    w_smooth_pose: float = 0.02  # squared rotvec velocity, per joint (rad^2 per frame at 12 fps)
    w_smooth_root: float = 0.05  # squared root rotation velocity (chordal)
    w_smooth_transl: float = 1.0  # squared root translation acceleration (m^2 per frame^2 at 12 fps)
    w_smooth_keypoints: float = 100.0  # squared 3D keypoint acceleration (m^2 per frame^2 at 12 fps)
    silhouette: bool = False  # mask term (needs detections with masks)
    w_silhouette: float = 0.3
    silhouette_vertices: int = 800  # body vertices projected for the mask term
    silhouette_pixels: int = 200  # mask outline pixels per frame
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


# ============================================================================ articulation
class _Articulator:
    """Shape + joint rotations -> body-frame COCO-17 keypoints (and a vertex subset)."""

    shape_dim: int

    def default_shape(self) -> Tensor: ...

    def __call__(self, shape: Tensor, rot: Tensor, vertices: bool = False) -> tuple[Tensor, Tensor | None]:
        """shape (S,), rot (B, 17, 3, 3) -> keypoints (B, 17, 3) and, with `vertices`, (B, N, 3)."""
        raise NotImplementedError

    def frozen(self, shape: Tensor):
        """rot (B, 17, 3, 3) -> keypoints (B, 17, 3) for a fixed shape (no gradient to it)."""
        shape = shape.detach()
        return lambda rot: self(shape, rot)[0]


def _subset(n: int, count: int) -> Tensor:
    count = min(n, count)
    return torch.linspace(0, n - 1, count).round().long()


class _GenericArticulator(_Articulator):
    """Any `BodyModel`: full `pose` + `keypoints` every call."""

    def __init__(self, body: BodyModel, n_vertices: int):
        self.body = body
        self.shape_dim = body.default_shape(1).shape[1]
        self.vertex_subset = _subset(body.num_vertices, n_vertices)

    def default_shape(self) -> Tensor:
        return self.body.default_shape(1)[0]

    def __call__(self, shape, rot, vertices=False):
        b = rot.shape[0]
        pose = {j: rot[:, i] for i, j in enumerate(GENERIC_JOINTS)}
        out = self.body.pose(shape.reshape(1, -1).expand(b, -1), pose)
        kp = self.body.keypoints(out.vertices)
        return kp, (out.vertices[:, self.vertex_subset.to(out.vertices.device)] if vertices else None)


class _AnnyArticulator(_Articulator):
    """Anny's COCO keypoints (and a vertex subset) without skinning the mesh and without the
    per-frame kinematics of its 104 bones.

    A keypoint is a fixed blend of vertices, so under linear blend skinning it is
    sum_c T_c (p_kc, s_kc): per bone c, p_kc = sum_v r_kv w_vc x_v and s_kc = sum_v r_kv w_vc,
    linear in the rest vertices x and so in the blendshape coefficients (precomputed bases).
    Only the 17 generic joints' bones are posed; every other bone c has an identity delta and
    follows its nearest posed ancestor a: in anny's kinematics (W_c = W_p K_c, T_c = W_c P_c^-1)
    that gives T_c = W_a (W0_a)^-1 T0_c, where W0 / T0 are the poses / transforms with identity
    deltas (one batch-1 forward kinematics per shape). A posed bone c below posed anchor a has
    W_c = W_a (W0_a)^-1 W0_c [U_c^T D_c U_c | 0] (U: anny's reference orientations, D: the
    delta). So per frame only 17 rigid products remain. Exact: tested against
    `body.keypoints(body.pose(...))`.
    """

    def __init__(self, body, n_vertices: int):
        import anny
        from genlca.body.anny_body import JOINT_TO_BONE

        m = body.model
        self.body, self.m = body, m
        dev = m.template_vertices.device
        self.shape_dim = len(body.shape_labels)
        n_bones = len(body.bone_labels)
        self.n_bones = n_bones
        posed = [body.bone_labels.index(JOINT_TO_BONE[j]) for j in GENERIC_JOINTS]
        if posed[0] != 0:
            raise ValueError("expected the pelvis joint on Anny's root bone")
        self.posed = torch.tensor(posed, device=dev)
        parents = [int(p) for p in m.bone_parents]
        # anchor of every bone: index (into GENERIC_JOINTS) of its nearest posed ancestor-or-self
        slot = {b: i for i, b in enumerate(posed)}
        anchor = []
        for b in range(n_bones):
            c = b
            while c not in slot:
                c = parents[c]
            anchor.append(slot[c])
        self.anchor = torch.tensor(anchor, device=dev)
        # posed parent anchor of each posed joint (-1 for the root) and depth levels
        self.joint_parent = [-1 if b == 0 else anchor[parents[b]] for b in posed]
        depth = [0] * len(posed)
        for i, pa in enumerate(self.joint_parent):
            d, q = 0, pa
            while q >= 0:
                d, q = d + 1, self.joint_parent[q]
            depth[i] = d
        self.levels = [[i for i in range(len(posed)) if depth[i] == d] for d in range(max(depth) + 1)]
        a_pose = body.a_pose()
        eye = torch.eye(3, device=dev)
        self.a_rot = torch.stack([a_pose.get(j, eye[None])[0].to(dev) for j in GENERIC_JOINTS])  # (17, 3, 3)
        u = m.reference_bone_orientations
        self.u = (eye.expand(n_bones, 3, 3) if u is None else u.to(torch.float32))[self.posed]  # (17, 3, 3)

        reg = anny.KeypointsRegressor.coco(m).regression_weights[:17].to(torch.float32)  # (17, V)
        weights = body.skinning_weights  # (V, bones)
        rows, verts, coefs = [], [], []
        for k in range(reg.shape[0]):
            vk = reg[k].nonzero().squeeze(1)
            wk = reg[k, vk, None] * weights[vk]  # (n, bones)
            vi, bi = wk.nonzero(as_tuple=True)
            rows.append(k * n_bones + bi)
            verts.append(vk[vi])
            coefs.append(wk[vi, bi])
        rows, verts, coefs = torch.cat(rows), torch.cat(verts), torch.cat(coefs)
        n_kb = reg.shape[0] * n_bones
        self.s = torch.zeros(n_kb, device=dev).index_add_(0, rows, coefs).view(-1, n_bones)  # (17, bones)
        # p = P0 + sum_a c_a P_a (17 x bones x 3 each), from the template and blendshapes.
        with torch.sparse.check_sparse_tensor_invariants(False):
            c = torch.sparse_coo_tensor(torch.stack([rows, verts]), coefs, (n_kb, body.num_vertices)).coalesce()
        basis = torch.cat([m.template_vertices[None], m.blendshapes]).to(torch.float32)  # (1 + A, V, 3)
        basis = basis.permute(1, 0, 2).reshape(body.num_vertices, -1)
        p = torch.sparse.mm(c, basis).view(n_kb, -1, 3).permute(1, 0, 2)  # (1 + A, 17 * bones, 3)
        self.p0 = p[0].reshape(-1, n_bones, 3).contiguous()
        self.pa = p[1:].reshape(p.shape[0] - 1, -1).contiguous()  # (A, 17 * bones * 3)
        self.sub = _subset(body.num_vertices, n_vertices).to(dev)
        self.sub_weights = weights[self.sub]  # (N, bones)
        self.sub_template = m.template_vertices[self.sub].to(torch.float32)
        self.sub_blend = m.blendshapes[:, self.sub].reshape(m.blendshapes.shape[0], -1).to(torch.float32)

    def default_shape(self) -> Tensor:
        return self.body.default_shape(1)[0]

    def _rest_bone_poses(self, coeffs: Tensor) -> Tensor:
        """`m.get_rest_model(coeffs)["rest_bone_poses"]` without the rest mesh (anny 0.6's
        'cached' bone orientation); other settings fall back to anny's own code."""
        m = self.m
        if m.bone_orientation != "cached" or not m.root_identity_orientation:
            return m.get_rest_model(coeffs)["rest_bone_poses"]
        from anny.skinning.skinning import apply_linear_blendshape

        heads = apply_linear_blendshape(m.template_bone_heads, m.bone_heads_blendshapes, coeffs)
        cov = m.bone_template_orientation_matrices[None] + torch.einsum("ba,akij->bkij", coeffs,
                                                                        m.bone_orientation_blendshapes)
        orient = roma.special_procrustes(cov)
        if m.rest_orientation_refiner is not None:
            orient = m.rest_orientation_refiner(orient, heads)
        poses = roma.Rigid(linear=orient, translation=heads).to_homogeneous()
        poses[:, 0, :3, :3] = torch.eye(3, device=poses.device, dtype=poses.dtype)
        return poses

    def _shape_terms(self, shape: Tensor):
        """Per shape: blendshape coefficients, identity-delta transforms T0 (bones, 4, 4) and
        poses W0 (bones, 4, 4)."""
        m = self.m
        _, pheno, local, facial = m.get_tensor_inputs(None, shape.reshape(1, -1), None, None)
        coeffs = m._get_phenotype_blendshape_coefficients(pheno, local, facial)
        rest = self._rest_bone_poses(coeffs)
        ident = torch.eye(4, dtype=rest.dtype, device=rest.device).expand(1, self.n_bones, 4, 4)
        t0, w0 = m.get_bone_transforms(ident, rest)
        return coeffs, t0[0], w0[0]

    def _grouped(self, t0: Tensor, w0: Tensor, pts: Tensor, wts: Tensor) -> tuple[Tensor, Tensor]:
        """Blend points pts (N, bones, 3) with weights wts (N, bones) by T0, sum per anchor and
        move into the anchors' identity-pose frames: (N, 17, 3) points and (N, 17) weights."""
        y = torch.einsum("bij,nbj->nbi", t0[:, :3, :3], pts) + wts[..., None] * t0[:, :3, 3]
        n = pts.shape[0]
        ya = torch.zeros(n, 17, 3, dtype=y.dtype, device=y.device).index_add(1, self.anchor, y)
        sa = torch.zeros(n, 17, dtype=y.dtype, device=y.device).index_add(1, self.anchor, wts)
        wa = w0[self.posed]  # (17, 4, 4)
        q = torch.einsum("aji,naj->nai", wa[:, :3, :3], ya - sa[..., None] * wa[:, :3, 3])
        return q, sa

    def _posed_frames(self, w0: Tensor, rot: Tensor) -> tuple[Tensor, Tensor]:
        """Per frame rotation (B, 17, 3, 3) and translation (B, 17, 3) of each posed joint's W."""
        b = rot.shape[0]
        d = rot @ self.a_rot  # delta per joint
        local = self.u.transpose(-1, -2) @ d @ self.u  # [U^T D U | 0]
        wa = w0[self.posed]
        rots: list[Tensor | None] = [None] * 17
        trans: list[Tensor | None] = [None] * 17
        for level in self.levels:
            for j in level:
                pa = self.joint_parent[j]
                if pa < 0:
                    jr, jt = wa[j, :3, :3], wa[j, :3, 3]
                    rots[j] = jr @ local[:, j]
                    trans[j] = jt.expand(b, 3)
                else:
                    # J = W0_a^-1 W0_c, then W_c = W_a J [L | 0]
                    ra, ta = wa[pa, :3, :3], wa[pa, :3, 3]
                    jr = ra.T @ wa[j, :3, :3]
                    jt = ra.T @ (wa[j, :3, 3] - ta)
                    rots[j] = rots[pa] @ jr @ local[:, j]
                    trans[j] = trans[pa] + (rots[pa] @ jt[:, None]).squeeze(-1)
        return torch.stack(rots, dim=1), torch.stack(trans, dim=1)

    def frozen(self, shape: Tensor):
        with torch.no_grad():
            coeffs, t0, w0 = self._shape_terms(shape.detach())
            q, sa = self._grouped(t0, w0, self.p0 + (coeffs @ self.pa).view(self.p0.shape), self.s)

        def keypoints(rot: Tensor) -> Tensor:
            wr, wt = self._posed_frames(w0, rot)
            return torch.einsum("baij,kaj->bki", wr, q) + torch.einsum("bai,ka->bki", wt, sa)

        return keypoints

    def __call__(self, shape, rot, vertices=False):
        coeffs, t0, w0 = self._shape_terms(shape)
        p = self.p0 + (coeffs @ self.pa).view(self.p0.shape)
        q, sa = self._grouped(t0, w0, p, self.s)  # (17 kp, 17 anchors, 3), (17, 17)
        wr, wt = self._posed_frames(w0, rot)
        kp = torch.einsum("baij,kaj->bki", wr, q) + torch.einsum("bai,ka->bki", wt, sa)
        verts = None
        if vertices:
            xs = self.sub_template + (coeffs @ self.sub_blend).view(-1, 3)
            pts = self.sub_weights[..., None] * xs[:, None, :]
            qv, sv = self._grouped(t0, w0, pts, self.sub_weights)
            verts = torch.einsum("baij,vaj->bvi", wr, qv) + torch.einsum("bai,va->bvi", wt, sv)
        return kp, verts


class _SMPLXArticulator(_Articulator):
    """SMPL-X (`genlca.body.smplx_body.SMPLXBody`) keypoints by skinning only the vertices the
    COCO regressor reads (and, on request, the vertex subset): smplx's own linear blend
    skinning with shape and pose correctives, restricted to those rows. Exact: tested against
    `body.pose`."""

    def __init__(self, body, n_vertices: int):
        from genlca.body.smplx_body import JOINT_INDEX

        m = body.model
        self.body = body
        self.shape_dim = len(body.shape_labels)
        kpm = body._kp_matrix.float()  # (17, V)
        n_v = kpm.shape[1]
        nb = self.shape_dim
        kp_rows = kpm.abs().sum(0).nonzero().squeeze(1)
        self.kp_w = kpm[:, kp_rows]
        posedirs = m.posedirs.view(m.posedirs.shape[0], n_v, 3)
        self.rows = {}
        for key, rows in (("kp", kp_rows), ("sub", _subset(n_v, n_vertices))):
            self.rows[key] = (m.v_template[rows].float(), m.shapedirs[rows, :, :nb].float(),
                              posedirs[:, rows].reshape(posedirs.shape[0], -1).float(), m.lbs_weights[rows].float())
        self.j_t = m.J_regressor.float() @ m.v_template.float()  # (55, 3)
        self.j_d = torch.einsum("jv,vcb->jcb", m.J_regressor.float(), m.shapedirs[:, :, :nb].float())
        self.parents = m.parents
        self.joint_index = torch.tensor([JOINT_INDEX[j] for j in GENERIC_JOINTS])
        self.c = body._to_common.float()
        eye = torch.eye(3)
        a_pose = body.a_pose()
        self.a_rot = torch.stack([a_pose.get(j, eye[None])[0] for j in GENERIC_JOINTS])
        mean = m.pose_mean.view(-1, 3).float()  # rotvec offsets smplx adds (the hands' mean pose)
        self.rest_rot = roma.rotvec_to_rotmat(mean)  # (55, 3, 3); identity for the body joints

    def default_shape(self) -> Tensor:
        return self.body.default_shape(1)[0]

    def _skin(self, key: str, shape: Tensor, feat: Tensor, transforms: Tensor) -> Tensor:
        v_t, sdirs, pdirs, weights = self.rows[key]
        b = feat.shape[0]
        v_posed = v_t + torch.einsum("vcb,b->vc", sdirs, shape) + (feat @ pdirs).view(b, -1, 3)
        t = torch.einsum("vj,bjrc->bvrc", weights, transforms)
        v = (t[..., :3] @ v_posed[..., None]).squeeze(-1) + t[..., 3]
        return v @ self.c.T

    def __call__(self, shape, rot, vertices=False):
        from smplx.lbs import batch_rigid_transform

        b = rot.shape[0]
        native = self.c.T @ (rot @ self.a_rot) @ self.c  # (B, 17, 3, 3) in SMPL-X axes
        rot_mats = self.rest_rot.expand(b, -1, -1, -1).clone()
        rot_mats[:, self.joint_index] = native
        joints = (self.j_t + torch.einsum("jcb,b->jc", self.j_d, shape)).expand(b, -1, -1)
        feat = (rot_mats[:, 1:] - torch.eye(3)).reshape(b, -1)
        _, a = batch_rigid_transform(rot_mats, joints, self.parents, dtype=rot.dtype)
        a = a[:, :, :3, :]
        kp = torch.einsum("kv,bvc->bkc", self.kp_w, self._skin("kp", shape, feat, a))
        return kp, (self._skin("sub", shape, feat, a) if vertices else None)


def make_articulator(body: BodyModel, n_vertices: int = 1000) -> _Articulator:
    """The fastest exact keypoint path for `body`: Anny's and SMPL-X's own, else the protocol's."""
    if body.name == "anny" and hasattr(body, "model") and hasattr(body.model, "get_bone_transforms") \
            and getattr(body.model, "pose_parameterization", None) == "local-ref":
        return _AnnyArticulator(body, n_vertices)
    if body.name == "smplx" and hasattr(body, "_kp_matrix") and hasattr(body, "model") \
            and hasattr(body.model, "posedirs"):
        return _SMPLXArticulator(body, n_vertices)
    return _GenericArticulator(body, n_vertices)


# ============================================================================ helpers
def intrinsics_guess(width: int, height: int, focal_factor: float) -> Tensor:
    f = focal_factor * max(width, height)
    return torch.tensor([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])


def project(points: Tensor, K: Tensor) -> Tensor:
    """(..., 3) camera-frame points -> (..., 2) pixels."""
    z = points[..., 2:3].clamp(min=1e-3)
    xy = points[..., :2] / z
    return xy * torch.stack([K[0, 0], K[1, 1]]) + torch.stack([K[0, 2], K[1, 2]])


def geman_mcclure(sq: Tensor, sigma: float) -> Tensor:
    """rho(d) = d^2 / (d^2 + sigma^2), of squared distances."""
    return sq / (sq + sigma**2)


def _root_matrix(delta: Tensor, r0: Tensor, transl: Tensor) -> tuple[Tensor, Tensor]:
    """Root rotation (B, 3, 3) = exp(delta) @ r0 and translation (B, 3) from (x/z, y/z, log z)."""
    r = roma.rotvec_to_rotmat(delta) @ r0
    z = torch.exp(transl[:, 2:3])
    t = torch.cat([transl[:, :2] * z, z], dim=1)
    return r, t


def _rigid4(r: Tensor, t: Tensor) -> Tensor:
    m = torch.eye(4, dtype=r.dtype, device=r.device).repeat(r.shape[0], 1, 1)
    m[:, :3, :3] = r
    m[:, :3, 3] = t
    return m


def _yaw(angles: Tensor) -> Tensor:
    """(N,) radians -> (N, 3, 3) rotations about the body's Z (up) axis."""
    v = torch.zeros(angles.shape[0], 3)
    v[:, 2] = angles
    return roma.rotvec_to_rotmat(v)


def _consecutive(index: Tensor, step: int) -> Tensor:
    """Positions i in a sorted frame index list such that index[i + step] == index[i] + step."""
    if index.numel() <= step:
        return torch.zeros(0, dtype=torch.long)
    return (index[step:] - index[:-step] == step).nonzero().squeeze(1)


# ============================================================================ stage 1: root
def _depth_guess(kp_body: Tensor, x: Tensor, w: Tensor, f: float) -> Tensor:
    """(F,) depth from the pixel length of segments vs their metric length in the template."""
    depths = []
    for a, b in SCALE_SEGMENTS:
        ia, ib = KP[a], KP[b]
        ok = (w[:, ia] > 0) & (w[:, ib] > 0)
        px = (x[:, ia] - x[:, ib]).norm(dim=-1)
        metres = float((kp_body[ia] - kp_body[ib]).norm())
        d = torch.where(ok & (px > 1.0), f * metres / px.clamp(min=1.0), torch.full_like(px, float("inf")))
        depths.append(d)
    d = torch.stack(depths, dim=1)  # (F, segments); foreshortening only makes a segment look farther
    torso = d[:, :2].min(dim=1).values
    best = d.min(dim=1).values
    out = torch.where(torch.isfinite(torso), torso, best)
    return torch.where(torch.isfinite(out), out, torch.full_like(out, 3.0))


def _root_weights(w: Tensor) -> Tensor:
    """Keypoint weights for the root stage: torso 1, head 0.5, limbs 0.25 (the A-pose misfits them)."""
    scale = torch.full((17,), 0.25)
    scale[list(TORSO)] = 1.0
    scale[list(HEAD)] = 0.5
    return w * scale


def init_root(kp_body: Tensor, x: Tensor, w: Tensor, K: Tensor, size: float, config: FitConfig,
              idx: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Per-frame root from the A-pose keypoints `kp_body` (17, 3), detections x (F, 17, 2) with
    weights w (F, 17) of the frames `idx` (sorted frame numbers; default 0..F-1). Returns the
    rotation (F, 3, 3), translation parameters (F, 3) as (x/z, y/z, log z), and (F, 17) the
    detection to read as each keypoint (identity, or left/right swapped by groups: `swap_search`)."""
    n_frames = x.shape[0]
    f = float(K[0, 0])
    swaps = label_swaps() if config.swap_search else label_swaps()[:1]
    variants = [(x[:, perm], w[:, perm]) for _, perm in swaps]
    yaw = torch.arange(config.yaw_hypotheses, dtype=torch.float32) * (2 * math.pi / config.yaw_hypotheses)
    heads = R_FACING_CAMERA @ _yaw(yaw)  # (Y, 3, 3)
    hyp = len(variants) * len(yaw)

    r0s, t0s, xs, ws, depths = [], [], [], [], []
    for xv, wv in variants:
        depth = _depth_guess(kp_body, xv, wv, f)
        depths.append(depth)
        wr = _root_weights(wv)
        # Initial translation: the weighted keypoint centroid lands on the detected centroid.
        wsum = wr.sum(dim=1, keepdim=True).clamp(min=1e-6)
        c_px = (xv * wr[..., None]).sum(dim=1) / wsum  # (F, 2)
        c_body = (wr @ kp_body) / wsum  # (F, 3)
        ray = torch.cat([(c_px - K[:2, 2]) / f, torch.ones(n_frames, 1)], dim=1)
        for r in heads:
            t = ray * depth[:, None] - c_body @ r.T
            r0s.append(r.expand(n_frames, 3, 3))
            t0s.append(torch.cat([t[:, :2] / t[:, 2:3].clamp(min=0.1), torch.log(t[:, 2:3].clamp(min=0.1))], dim=1))
            xs.append(xv)
            ws.append(wr)
    r0, xt, wt = torch.cat(r0s), torch.cat(xs), torch.cat(ws)

    delta = torch.zeros(hyp * n_frames, 3, requires_grad=True)
    transl = torch.cat(t0s).requires_grad_(True)
    opt = torch.optim.Adam([delta, transl], lr=config.root_lr)
    sigmas = np.geomspace(config.sigma_start, config.sigma_end * 2, max(config.root_iters, 1))

    def cost(sigma: float) -> Tensor:
        r, tt = _root_matrix(delta, r0, transl)
        sq = ((project(kp_body @ r.transpose(1, 2) + tt[:, None], K) - xt) ** 2).sum(-1) / size**2
        return (wt * geman_mcclure(sq, sigma)).sum(1) / wt.sum(1).clamp(min=1e-6)

    for it in range(config.root_iters):
        opt.zero_grad()
        cost(float(sigmas[it])).sum().backward()
        opt.step()
    with torch.no_grad():
        c = cost(config.sigma_end * 2).view(hyp, n_frames)
        r = _root_matrix(delta, r0, transl)[0].view(hyp, n_frames, 3, 3)
        c = c + config.w_facing * facing_cost(w, r, config.min_confidence)  # symmetric in left/right
        n_swapped = torch.tensor([k for k, _ in swaps]).repeat_interleave(len(yaw)).float()
        c += config.swap_penalty * n_swapped[:, None]
        gaps = None if idx is None else idx[1:] - idx[:-1]
        pairs = _rotation_pairs(r, config.flip_penalty, gaps)
        if len(swaps) > 1 and n_frames > 1 and config.w_label_motion > 0:
            height_px = f * float(kp_body[:, 2].max() - kp_body[:, 2].min()) / depths[0]  # as labelled
            jump = _label_motion(x, w, [perm for _, perm in swaps], height_px * config.label_motion_scale, gaps)
            pairs = pairs + config.w_label_motion * jump.repeat_interleave(len(yaw), 1).repeat_interleave(len(yaw), 2)
        choice = _viterbi_pairs(c, pairs)
        frames = torch.arange(n_frames)
        perms = torch.tensor([perm for _, perm in swaps]).repeat_interleave(len(yaw), dim=0)  # (hyp, 17)
        return r[choice, frames], transl.detach().view(hyp, n_frames, 3)[choice, frames], perms[choice]


def _label_motion(x: Tensor, w: Tensor, perms: list[list[int]], scale: Tensor, gaps: Tensor | None) -> Tensor:
    """(F - 1, S_prev, S_cur): how far the keypoints jump between consecutive frames when frame
    t - 1 is read with labelling perms[a] and frame t with perms[b] (Geman-McClure of the pixel
    distance over `scale` (F,) pixels, mean over keypoints seen in both frames). A detector that
    flips left and right in one frame makes every keypoint of the flipped groups jump; reading
    that frame swapped keeps the tracks continuous, whatever the heading."""
    p = torch.tensor(perms)  # (S, 17)
    xs, ws = x[:, p], w[:, p]  # (F, S, 17, 2), (F, S, 17)
    d2 = ((xs[:-1, :, None] - xs[1:, None]) ** 2).sum(-1)  # (F - 1, S_prev, S_cur, 17)
    s = scale[1:].clamp(min=1.0) if gaps is None else scale[1:].clamp(min=1.0) * gaps.clamp(min=1).float()
    both = ((ws[:-1, :, None] > 0) & (ws[1:, None] > 0)).float()
    rho = geman_mcclure(d2 / s[:, None, None, None] ** 2, 1.0)
    return (rho * both).sum(-1) / both.sum(-1).clamp(min=1.0)


def facing_cost(conf: Tensor, rot: Tensor, min_confidence: float = 0.3) -> Tensor:
    """Cue for the heading from keypoint confidences: a detector that finds both shoulders but
    none of the face points (nose, eyes, ears) is likely looking at a back. conf (F, 17), rot
    (H, F, 3, 3) body -> camera -> (H, F) in [0, 1]: how much hypothesis h faces the camera,
    times how strongly the face is missing. Left/right keypoint identity decides the rest (the
    headings are fitted to the labelled keypoints); detections that give face points a high
    confidence from behind (e.g. ground-truth stand-ins) leave this at 0."""
    face = conf[:, list(HEAD)].max(dim=1).values
    shoulders = torch.minimum(conf[:, KP["left_shoulder"]], conf[:, KP["right_shoulder"]])
    away = ((shoulders - face) / 0.5).clamp(0, 1) * (face < min_confidence).float()  # (F,)
    front_z = (rot @ torch.tensor([0.0, -1.0, 0.0]))[..., 2]  # body front in the camera: < 0 faces it
    return (-front_z).clamp(min=0) * away


def _rotation_pairs(rot: Tensor, penalty: float, gaps: Tensor | None = None) -> Tensor:
    """rot (H, F, 3, 3) -> (F - 1, H_prev, H_cur) penalty * squared angle between consecutive
    frames' hypotheses, divided by the frame gap (`gaps` (F - 1,), 1 for adjacent frames)."""
    rel = rot[:, None, :-1].transpose(-1, -2) @ rot[None, :, 1:]  # (H prev, H cur, F - 1, 3, 3)
    ang = roma.rotmat_geodesic_distance(rel, torch.eye(3).expand_as(rel))
    pair = penalty * ang.permute(2, 0, 1) ** 2
    return pair if gaps is None else pair / gaps.clamp(min=1).float()[:, None, None]


# ============================================================================ silhouette
def _mask_targets(masks: Tensor, n_pixels: int, size: float, seed: int) -> tuple[Tensor, Tensor]:
    """Per frame: the outside distance transform of the mask (F, H, W) in units of `size`, and
    `n_pixels` sampled pixels of its outline (F, n, 2) (pixel centres; NaN rows where empty)."""
    from scipy.ndimage import binary_erosion, distance_transform_edt

    gen = np.random.default_rng(seed)
    dts, pts = [], []
    for m in masks.cpu().numpy().astype(bool):
        dts.append(distance_transform_edt(~m).astype(np.float32) / size if m.any() else np.zeros(m.shape, np.float32))
        ys, xs = np.nonzero(m & ~binary_erosion(m))
        if len(xs) == 0:
            pts.append(np.full((n_pixels, 2), np.nan, np.float32))
            continue
        pick = gen.choice(len(xs), size=n_pixels, replace=len(xs) < n_pixels)
        pts.append(np.stack([xs[pick] + 0.5, ys[pick] + 0.5], axis=1).astype(np.float32))
    return torch.from_numpy(np.stack(dts)), torch.from_numpy(np.stack(pts))


def _silhouette_loss(uv: Tensor, dt: Tensor, pts: Tensor, size: float, width: int, height: int,
                     sigma: float) -> Tensor:
    """uv (F, N, 2) projected body vertices; dt (F, H, W); pts (F, P, 2) mask outline pixels ->
    (F,) robust (Geman-McClure, scale `sigma` of `size`) mean of: the distance outside the mask
    of each vertex inside the image, and the distance of each outline pixel to its nearest
    projected vertex. Occluders and frame edges make the first term biased where they cut the
    person; the robust scale limits that."""
    grid = torch.stack([uv[..., 0] / width * 2 - 1, uv[..., 1] / height * 2 - 1], dim=-1)[:, :, None]
    inside = (grid.abs() <= 1).all(dim=-1).squeeze(-1).float()
    d_out = torch.nn.functional.grid_sample(dt[:, None], grid, align_corners=False, padding_mode="border")[:, 0, :, 0]
    fwd = (inside * geman_mcclure(d_out**2, sigma)).sum(1) / inside.sum(1).clamp(min=1)
    valid = torch.isfinite(pts[..., 0]).float()
    p = torch.nan_to_num(pts)
    with torch.no_grad():  # the nearest vertex of each pixel; the gradient flows through the distance
        nearest = torch.cdist(p, uv).argmin(dim=-1)
    near = (p - torch.gather(uv, 1, nearest[..., None].expand(-1, -1, 2))).norm(dim=-1) / size
    back = (valid * geman_mcclure(near**2, sigma)).sum(1) / valid.sum(1).clamp(min=1)
    return fwd + back


# ============================================================================ stage 2: limbs
# Each limb's image can be explained by the limb swung towards or away from the camera (the
# classic depth ambiguity of monocular fits); gradient descent keeps whichever side it starts
# on. So stage 2a fits every frame from several limb starts at once (a batch of frames x
# hypotheses, no temporal terms, average shape), then each limb picks its start per frame
# (Viterbi: its keypoints' cost plus its joints' priors, and a cost for changing between
# frames), and stage 2b refines the whole video from that pose.
LIMBS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "arm_l": (("shoulder_l", "elbow_l"), ("left_elbow", "left_wrist")),
    "arm_r": (("shoulder_r", "elbow_r"), ("right_elbow", "right_wrist")),
    "leg_l": (("hip_l", "knee_l"), ("left_knee", "left_ankle")),
    "leg_r": (("hip_r", "knee_r"), ("right_knee", "right_ankle")),
}
# Limb starts, rotvec degrees (shoulder/hip, elbow/knee) for the left side; the right side
# mirrors them: (x, -y, -z).
ARM_STARTS = (
    ((0, 0, 0), (-12, 0, 0)),  # hanging (A-pose), elbow slightly bent
    ((-60, 0, 0), (-30, 0, 0)),  # forward
    ((35, 0, 0), (-20, 0, 0)),  # backward
    ((0, -90, 0), (-20, 0, 0)),  # raised sideways
    ((-120, 0, 0), (-20, 0, 0)),  # raised forward, high
)
LEG_STARTS = (
    ((0, 0, 0), (12, 0, 0)),  # straight, knee slightly bent
    ((-35, 0, 0), (25, 0, 0)),  # forward
    ((25, 0, 0), (35, 0, 0)),  # backward
    ((-70, 0, 0), (70, 0, 0)),  # raised forward (a high step, sitting)
    ((-10, 0, 0), (95, 0, 0)),  # knee deeply bent, the shin back (a lunge, kicking, kneeling)
)


def limb_starts() -> Tensor:
    """(H, 17, 3) initial rotvecs (radians) of the stage-2a hypotheses; the first is the plain start."""
    n = max(len(ARM_STARTS), len(LEG_STARTS))
    out = torch.zeros(n, 17, 3)
    for h in range(n):
        arm = ARM_STARTS[h] if h < len(ARM_STARTS) else ARM_STARTS[0]
        leg = LEG_STARTS[h] if h < len(LEG_STARTS) else LEG_STARTS[0]
        for side, sign in (("l", 1.0), ("r", -1.0)):
            mirror = torch.tensor([1.0, sign, sign])
            for joint, rv in ((f"shoulder_{side}", arm[0]), (f"elbow_{side}", arm[1]),
                              (f"hip_{side}", leg[0]), (f"knee_{side}", leg[1])):
                out[h, GENERIC_JOINTS.index(joint)] = torch.deg2rad(torch.tensor(rv, dtype=torch.float32)) * mirror
    return out


def _viterbi_pairs(cost: Tensor, pair: Tensor) -> Tensor:
    """cost (H, F), pair (F - 1, H_prev, H_cur) -> (F,) path of least total cost."""
    hyp, n = cost.shape
    acc = cost[:, 0].clone()
    back = torch.zeros(hyp, n, dtype=torch.long)
    for t in range(1, n):
        total = acc[:, None] + pair[t - 1]
        acc, back[:, t] = total.min(dim=0)
        acc = acc + cost[:, t]
    out = torch.zeros(n, dtype=torch.long)
    out[-1] = acc.argmin()
    for t in range(n - 1, 0, -1):
        out[t - 1] = back[out[t], t]
    return out


# ============================================================================ the fit
def _shape_from_param(z: Tensor, body_name: str) -> Tensor:
    return torch.sigmoid(z) if body_name == "anny" else z


def _param_from_shape(shape: Tensor, body_name: str) -> Tensor:
    return torch.logit(shape.clamp(1e-4, 1 - 1e-4)) if body_name == "anny" else shape.clone()


def keypoint_weights(conf: Tensor, config: FitConfig) -> Tensor:
    """Data-term weights from detector confidences: 0 below `confidence_floor`, then the
    confidence, or with `confidence_full` > 0 a ramp that reaches 1 there (mediapipe gives
    self-occluded limbs low confidences although their positions are mostly right)."""
    w = conf.clone()
    if config.confidence_full > 0:
        w = (w / config.confidence_full).clamp(max=1.0)
    return torch.where(conf < config.confidence_floor, torch.zeros_like(w), w)


def frame_status(det: VideoDetections, config: FitConfig) -> tuple[Tensor, list[str]]:
    """(F,) bool frames to fit directly, and the reason for each one that is not."""
    conf = det.confidence * det.detected[:, None].to(det.confidence.dtype)
    n_ok = (conf > config.min_confidence).sum(dim=1)
    direct = det.detected.bool() & (n_ok >= config.min_keypoints)
    reasons = []
    masked = det.masks.flatten(1).any(dim=1) if det.masks is not None else torch.zeros(conf.shape[0], dtype=torch.bool)
    for i in range(conf.shape[0]):
        if not bool(det.detected[i]):
            reasons.append("no pose found, but a person mask (only part of the body in view?)" if bool(masked[i])
                           else "no person detected")
        elif not bool(direct[i]):
            reasons.append(f"only {int(n_ok[i])} keypoints detected (need {config.min_keypoints} with "
                           f"confidence > {config.min_confidence:g})")
        else:
            reasons.append("")
    return direct, reasons


def fit_video(det: VideoDetections, body: BodyModel, config: FitConfig = FitConfig(),
              progress: bool = False) -> BodyFit:
    """Fit `body` to one video's detections (see the module docstring). Runs on one intra-op
    thread (the tensors are small; more threads only slow it down on a busy machine)."""
    device = getattr(body, "device", None)
    if device is not None and torch.device(device).type != "cpu":
        raise ValueError(f"fitting runs on the CPU; load the body model with device='cpu' (got {device})")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _fit_video(det, body, config, progress)
    finally:
        torch.set_num_threads(threads)


def _fit_video(det: VideoDetections, body: BodyModel, config: FitConfig, progress: bool) -> BodyFit:
    t_start = time.perf_counter()
    torch.manual_seed(config.seed)
    n_frames = det.keypoints.shape[0]
    width, height = int(det.width), int(det.height)
    size = float(max(width, height))
    K = intrinsics_guess(width, height, config.focal_factor)
    direct, reasons = frame_status(det, config)
    conf_all = (det.confidence.float() * det.detected[:, None].float()).cpu()
    kp_conf = conf_all.mean(dim=1)
    art = make_articulator(body, config.silhouette_vertices)

    rotvec_all = torch.zeros(n_frames, 17, 3)
    root_all = torch.eye(4).repeat(n_frames, 1, 1)
    shape = art.default_shape().detach().cpu().float()
    fitted = direct.clone()
    labels = torch.arange(17).repeat(n_frames, 1)  # per frame: the detection read as each keypoint
    if bool(direct.any()):
        idx = direct.nonzero().squeeze(1)
        x = det.keypoints[idx].float().cpu()
        w = keypoint_weights(conf_all[idx], config)
        problem = _Problem(art, body.name, x, w, idx, K, size, det, config)
        with torch.no_grad():
            kp_a = art(shape, torch.eye(3).expand(1, 17, 3, 3))[0][0].float().cpu()
        r0, transl0, perm = init_root(kp_a, x, w, K, size, config, idx)
        swapped = (perm != torch.arange(17)).any(dim=1)
        if bool(swapped.any()):
            x, w = torch.gather(x, 1, perm[..., None].expand(-1, -1, 2)), torch.gather(w, 1, perm)
            labels[idx] = perm
            problem.relabel(x, w)
        if progress:
            log.info("stage 1 (root) done at %.1fs; %d frames read with left and right (partly) swapped",
                     time.perf_counter() - t_start, int(swapped.sum()))
        rotvec0, r0, transl0, leg_swap = _limb_search(problem, r0, transl0, progress)
        if bool(leg_swap.any()):
            x[leg_swap], w[leg_swap] = x[leg_swap][:, LEG_SWAP], w[leg_swap][:, LEG_SWAP]
            labels[idx[leg_swap]] = labels[idx[leg_swap]][:, LEG_SWAP]
            problem.relabel(x, w)
        if progress:
            log.info("stage 2a (limb starts) done at %.1fs; %d frames with the legs' labels swapped",
                     time.perf_counter() - t_start, int(leg_swap.sum()))
        shape, rotvec, root = problem.refine(rotvec0, r0, transl0, progress)
        rotvec_all[idx] = rotvec
        root_all[idx] = root
        fitted, reasons = _fill_gaps(direct, rotvec_all, root_all, reasons, config.max_gap)

    rot_all = roma.rotvec_to_rotmat(rotvec_all)
    reproj = _reprojection_error(art, shape, rot_all, root_all, det, conf_all, K, fitted, labels)
    log.info("fitted %d/%d frames in %.1fs", int(fitted.sum()), n_frames, time.perf_counter() - t_start)
    return BodyFit(body_model=body.name, shape=shape, joint_rotations=rot_all, root=root_all, K=K,
                   width=width, height=height, fitted=fitted, reproj_error_px=reproj, keypoint_confidence=kp_conf,
                   reasons=reasons)


class _Problem:
    """The objective over one video's directly fitted frames, and its two optimisers."""

    def __init__(self, art: _Articulator, body_name: str, x: Tensor, w: Tensor, idx: Tensor, K: Tensor, size: float,
                 det: VideoDetections, config: FitConfig):
        self.art, self.body_name, self.idx, self.K, self.size = art, body_name, idx, K, size
        self.det, self.config = det, config
        self.free = torch.tensor([j not in FIXED_JOINTS for j in GENERIC_JOINTS], dtype=torch.float32)[None, :, None]
        self.relabel(x, w)
        self.fps_scale = max(float(det.fps), 1.0) / 12.0
        c1 = _consecutive(idx, 1)
        c2 = _consecutive(idx, 2)
        self.c1 = c1
        self.c2 = c2[torch.isin(c2 + 1, c1) & torch.isin(c2, c1)] if c2.numel() else c2
        self.use_sil = bool(config.silhouette and det.masks is not None)
        if self.use_sil:
            self.dt, self.pix = _mask_targets(det.masks[idx], config.silhouette_pixels, size, config.seed)

    def relabel(self, x: Tensor, w: Tensor) -> None:
        """New keypoints (F, 17, 2) and weights (F, 17) for the same frames (left/right relabelled)."""
        self.x, self.w = x, w
        self.wsum = w.sum(dim=1).clamp(min=1e-6)

    def data_terms(self, kp_b: Tensor, r: Tensor, t: Tensor, x: Tensor, sigma: float) -> tuple[Tensor, Tensor]:
        """Camera-frame keypoints (N, 17, 3) and robust residuals (N, 17)."""
        kp_c = kp_b @ r.transpose(1, 2) + t[:, None]
        sq = ((project(kp_c, self.K) - x) ** 2).sum(-1) / self.size**2
        return kp_c, geman_mcclure(sq, sigma)

    def pose_prior(self, rv: Tensor) -> Tensor:
        """(N, 17) weighted joint-limit + A-pose prior per joint."""
        c = self.config
        return (c.w_limits * prior.joint_limit_loss(rv, per_joint=True)
                + c.w_a_pose * prior.a_pose_loss(rv, per_joint=True))

    def per_frame(self, rv0: Tensor, r0: Tensor, transl0: Tensor, x: Tensor, w: Tensor, iters: int):
        """Stage 2a: independent frames (a batch of any size), average shape, no temporal terms.
        Returns rotvecs, root rotations, translation parameters, weighted residuals (N, 17)
        normalised like the data term, and per-joint priors (N, 17)."""
        c = self.config
        wsum = w.sum(dim=1).clamp(min=1e-6)
        delta = torch.zeros(rv0.shape[0], 3, requires_grad=True)
        transl = transl0.clone().requires_grad_(True)
        rotvec = rv0.clone().requires_grad_(True)
        opt = torch.optim.Adam([delta, transl, rotvec], lr=c.lr)
        sigmas = np.geomspace(c.sigma_start, c.sigma_end, max(iters, 1))
        keypoints = self.art.frozen(self.art.default_shape().detach())
        for it in range(iters):
            rv = rotvec * self.free
            r, t = _root_matrix(delta, r0, transl)
            _, rho = self.data_terms(keypoints(roma.rotvec_to_rotmat(rv)), r, t, x, float(sigmas[it]))
            loss = ((w * rho).sum(1) / wsum).sum() + self.pose_prior(rv).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            rv = rotvec * self.free
            r, t = _root_matrix(delta, r0, transl)
            _, rho = self.data_terms(keypoints(roma.rotvec_to_rotmat(rv)), r, t, x, c.sigma_end)
            return rv, r, transl.detach(), (w * rho) / wsum[:, None], self.pose_prior(rv)

    def refine(self, rv0: Tensor, r0: Tensor, transl0: Tensor, progress: bool = False):
        """Stage 2b: all frames together, with the shape, temporal terms (and the mask term)."""
        c = self.config
        art, body_name = self.art, self.body_name
        n = rv0.shape[0]
        delta = torch.zeros(n, 3, requires_grad=True)
        transl = transl0.clone().requires_grad_(True)
        rotvec = rv0.clone().requires_grad_(True)
        shape_p = _param_from_shape(art.default_shape().detach().cpu().float(), body_name).requires_grad_(True)
        fs = self.fps_scale
        c1, c2 = self.c1, self.c2

        def objective(sigma: float) -> tuple[Tensor, Tensor]:
            rv = rotvec * self.free
            shape = _shape_from_param(shape_p, body_name)
            kp_b, verts = art(shape, roma.rotvec_to_rotmat(rv), vertices=self.use_sil)
            r, t = _root_matrix(delta, r0, transl)
            kp_c, rho = self.data_terms(kp_b, r, t, self.x, sigma)
            l_kp = ((self.w * rho).sum(1) / self.wsum).mean()
            loss = c.w_keypoints * l_kp + self.pose_prior(rv).sum(1).mean()
            loss = loss + c.w_shape * prior.shape_prior(shape, body_name)
            if c1.numel():
                loss = loss + c.w_smooth_pose * fs**2 * ((rv[c1 + 1] - rv[c1]) ** 2).sum((-1, -2)).mean()
                loss = loss + c.w_smooth_root * fs**2 * ((r[c1 + 1] - r[c1]) ** 2).sum((-1, -2)).mean()
            if c2.numel():
                acc_t = t[c2 + 2] - 2 * t[c2 + 1] + t[c2]
                acc_k = kp_c[c2 + 2] - 2 * kp_c[c2 + 1] + kp_c[c2]
                loss = loss + c.w_smooth_transl * fs**4 * (acc_t**2).sum(-1).mean()
                loss = loss + c.w_smooth_keypoints * fs**4 * (acc_k**2).sum(-1).mean()
            if self.use_sil:
                v_c = verts @ r.transpose(1, 2) + t[:, None]
                loss = loss + c.w_silhouette * _silhouette_loss(project(v_c, self.K), self.dt, self.pix, self.size,
                                                                self.det.width, self.det.height, c.sigma_end).mean()
            return loss, l_kp

        iters = c.iters
        opt = torch.optim.Adam([delta, transl, rotvec, shape_p], lr=c.lr)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda i: 0.2 + 0.8 * 0.5 * (1 + math.cos(math.pi * min(i / max(iters, 1), 1))))
        sigmas = np.geomspace(c.sigma_refine_start, c.sigma_end, max(iters, 1))
        for it in range(iters):
            loss, l_kp = objective(float(sigmas[it]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if progress and (it % 50 == 0 or it == iters - 1):
                log.info("refine %d loss %.5f keypoints %.5f", it, float(loss.detach()), float(l_kp.detach()))
        with torch.no_grad():
            r, t = _root_matrix(delta, r0, transl)
            return _shape_from_param(shape_p, body_name).detach(), (rotvec * self.free).detach(), _rigid4(r, t)


def _limb_search(problem: _Problem, r0: Tensor, transl0: Tensor,
                 progress: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Stage 2a (see LIMBS): the initial rotvecs (F, 17, 3), root rotations (F, 3, 3) and
    translation parameters (F, 3) for stage 2b, and (F,) bool: frames whose knee and ankle
    labels read better swapped (detectors mix up crossing legs; with `swap_search`)."""
    c = problem.config
    n = r0.shape[0]
    starts = limb_starts() if c.limb_search else limb_starts()[:1]
    hyp = starts.shape[0]
    variants = [(problem.x, problem.w)]
    if c.swap_search:
        variants.append((problem.x[:, LEG_SWAP], problem.w[:, LEG_SWAP]))
    nv = len(variants)
    rv0 = starts[None, :, None].expand(nv, hyp, n, 17, 3).reshape(-1, 17, 3)

    def rep(a: Tensor) -> Tensor:
        return a[None].expand(nv * hyp, *a.shape).reshape(-1, *a.shape[1:])

    xs = torch.stack([v[0] for v in variants])[:, None].expand(nv, hyp, n, 17, 2).reshape(-1, 17, 2)
    ws = torch.stack([v[1] for v in variants])[:, None].expand(nv, hyp, n, 17).reshape(-1, 17)
    rv, r, tr, rho, pri = problem.per_frame(rv0, rep(r0), rep(transl0), xs, ws, c.limb_iters)
    rv, r, tr = rv.view(nv, hyp, n, 17, 3), r.view(nv, hyp, n, 3, 3), tr.view(nv, hyp, n, 3)
    rho, pri = rho.view(nv, hyp, n, 17), pri.view(nv, hyp, n, 17)
    frames = torch.arange(n)

    def limb_cost(v: int, limb: str) -> Tensor:
        joints, kps = LIMBS[limb]
        k = [KP[a] for a in kps]
        return rho[v][:, :, k].sum(-1) + pri[v][:, :, [GENERIC_JOINTS.index(a) for a in joints]].sum(-1)

    leg_swap = torch.zeros(n, dtype=torch.bool)
    if nv > 1:  # per frame: the leg labelling whose best legs cost least
        legs = torch.stack([limb_cost(v, "leg_l").min(0).values + limb_cost(v, "leg_r").min(0).values
                            for v in range(nv)])
        legs[1:] += c.leg_swap_penalty
        leg_swap = legs.argmin(0) == 1
    # The trunk (root, spine, neck, head) and arms from the labels as given; legs as chosen.
    rv_, rho_, pri_ = rv[0].clone(), rho[0].clone(), pri[0].clone()
    if bool(leg_swap.any()):
        rv_[:, leg_swap], rho_[:, leg_swap], pri_[:, leg_swap] = (rv[1][:, leg_swap], rho[1][:, leg_swap],
                                                                  pri[1][:, leg_swap])
    if hyp == 1:
        return rv_[0], r[0, 0], tr[0, 0], leg_swap
    base = (rho[0].sum(-1) + pri[0].sum(-1)).argmin(dim=0)  # trunk: least total cost per frame
    out_rv, out_r, out_t = rv[0][base, frames].clone(), r[0][base, frames], tr[0][base, frames]
    consecutive = (problem.idx[1:] - problem.idx[:-1] == 1).float()  # no switching cost across gaps
    for limb, (joints, kps) in LIMBS.items():
        j = [GENERIC_JOINTS.index(a) for a in joints]
        k = [KP[a] for a in kps]
        cost = rho_[:, :, k].sum(-1) + pri_[:, :, j].sum(-1)  # (H, F)
        limb_rv = rv_[:, :, j]  # (H, F, 2, 3)
        diff = ((limb_rv[None, :, :-1] - limb_rv[:, None, 1:]) ** 2).sum((-1, -2))  # (H cur, H prev, F - 1)
        pair = c.limb_switch_penalty * diff.permute(2, 1, 0) * consecutive[:, None, None]
        choice = _viterbi_pairs(cost, pair)
        out_rv[:, j] = rv_[choice, frames][:, j]
        if progress:
            log.info("limb %s: starts chosen %s", limb, torch.bincount(choice, minlength=hyp).tolist())
    return out_rv, out_r, out_t, leg_swap


# ============================================================================ gaps, errors
def _slerp(r0: Tensor, r1: Tensor, a: float) -> Tensor:
    """Rotation matrices (..., 3, 3): geodesic interpolation a in [0, 1]."""
    rel = roma.rotmat_to_rotvec(r0.transpose(-1, -2) @ r1)
    return r0 @ roma.rotvec_to_rotmat(rel * a)


def _fill_gaps(direct: Tensor, rotvec: Tensor, root: Tensor, reasons: list[str],
               max_gap: int) -> tuple[Tensor, list[str]]:
    """Interpolate runs of at most `max_gap` frames that have fitted frames on both sides (in place)."""
    fitted = direct.clone()
    reasons = list(reasons)
    idx = direct.nonzero().squeeze(1).tolist()
    for a, b in zip(idx[:-1], idx[1:]):
        gap = b - a - 1
        if gap < 1 or gap > max_gap:
            continue
        ra, rb = roma.rotvec_to_rotmat(rotvec[a]), roma.rotvec_to_rotmat(rotvec[b])
        for i in range(a + 1, b):
            s = (i - a) / (b - a)
            rotvec[i] = roma.rotmat_to_rotvec(_slerp(ra, rb, s))
            root[i, :3, :3] = _slerp(root[a, :3, :3], root[b, :3, :3], s)
            root[i, :3, 3] = (1 - s) * root[a, :3, 3] + s * root[b, :3, 3]
            fitted[i] = True
            reasons[i] = f"interpolated from frames {a} and {b} ({reasons[i]})"
    for i in range(len(reasons)):
        if not bool(fitted[i]) and reasons[i] and not bool(direct[i]):
            why = ("no frame of the video could be fitted" if not idx else "no fitted frame before it" if i < idx[0]
                   else "no fitted frame after it" if i > idx[-1] else f"gap longer than {max_gap} frames")
            reasons[i] = f"{reasons[i]}; not interpolated: {why}"
    return fitted, reasons


@torch.no_grad()
def _reprojection_error(art: _Articulator, shape: Tensor, rot: Tensor, root: Tensor, det: VideoDetections,
                        conf: Tensor, K: Tensor, fitted: Tensor, labels: Tensor) -> Tensor:
    """(F,) confidence-weighted mean pixel error of the fitted keypoints against the detections as
    read (`labels` (F, 17): the detection used as each keypoint); NaN where not fitted or where
    no keypoint is detected."""
    n = rot.shape[0]
    out = torch.full((n,), float("nan"))
    idx = fitted.nonzero().squeeze(1)
    if idx.numel() == 0:
        return out
    kp = art(shape, rot[idx])[0]
    kp_c = kp @ root[idx, :3, :3].transpose(1, 2) + root[idx, None, :3, 3]
    lab = labels[idx]
    x = torch.gather(det.keypoints[idx].float().cpu(), 1, lab[..., None].expand(-1, -1, 2))
    c = torch.gather(conf[idx], 1, lab)
    err = (project(kp_c, K) - x).norm(dim=-1)
    e = (c * err).sum(1) / c.sum(1)
    out[idx] = torch.where(c.sum(1) > 0, e, torch.full_like(e, float("nan")))
    return out


@torch.no_grad()
def fitted_vertices(fit: BodyFit, body: BodyModel, frames: Tensor | list[int] | None = None) -> Tensor:
    """(F, V, 3) camera-frame vertices of a fit (all frames, or `frames`), via `body.pose`."""
    idx = torch.arange(fit.fitted.shape[0]) if frames is None else torch.as_tensor(frames)
    shape = fit.shape.reshape(1, -1).expand(len(idx), -1)
    return body.pose(shape, pose_from_rotations(fit.joint_rotations[idx]), fit.root[idx]).vertices


def posed_keypoints(fit: BodyFit, body: BodyModel, frames: Tensor | None = None) -> Tensor:
    """(F, 17, 3) camera-frame COCO keypoints of a fit (all frames, or `frames`)."""
    return body.keypoints(fitted_vertices(fit, body, frames))


__all__ = ["LR_SWAP", "FitConfig", "facing_cost", "fit_video", "frame_status", "init_root", "intrinsics_guess",
           "fitted_vertices", "label_swaps", "make_articulator", "posed_keypoints", "project"]
