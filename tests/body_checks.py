"""Checks every body model passes (Anny in test_body_anny / test_uv_layout, SMPL-X in test_smplx_body)."""

from __future__ import annotations

import torch

from genlca.body import GENERIC_JOINTS, BodyModel
from genlca.body.uv_layout import UVLayout

J = {n: i for i, n in enumerate(GENERIC_JOINTS)}


def check_walk_moves_limbs(a_joints: torch.Tensor, w_joints: torch.Tensor) -> None:
    """(1, 17, 3) joints in the A-pose and at walk(pi / 2): hands and feet move, the pelvis does
    not; the left leg swings forward (-Y), the right one back."""
    moved = (w_joints - a_joints)[0].norm(dim=-1)
    for name in ("ankle_l", "ankle_r", "wrist_l", "wrist_r"):
        assert moved[J[name]] > 0.08, f"{name} moved only {moved[J[name]]:.3f} m"
    assert moved[J["pelvis"]] < 1e-4
    assert w_joints[0, J["ankle_l"], 1] < a_joints[0, J["ankle_l"], 1] - 0.1
    assert w_joints[0, J["ankle_r"], 1] > a_joints[0, J["ankle_r"], 1] + 0.1


def check_texels_on_faces(lay: UVLayout, body: BodyModel) -> torch.Tensor:
    """Every texel's barycentrics are valid and rebuild the texel centre's UV from its face.
    Returns the face of each texel."""
    res = lay.resolution
    tex = lay.texels
    bary = lay.bary.reshape(-1, 3)[tex]
    assert (bary >= -1e-6).all() and torch.allclose(bary.sum(-1), torch.ones(len(tex)), atol=1e-5)
    fid = lay.face_id.flatten()[tex]
    uv = (body.uv_coords[body.uv_faces[fid]] * bary[:, :, None]).sum(1)
    i, j = tex // res, tex % res
    centre = torch.stack([(j + 0.5) / res, 1 - (i + 0.5) / res], -1)
    assert (uv - centre).abs().max() < 1e-5
    return fid
