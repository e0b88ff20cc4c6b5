"""Anny behind the BodyModel protocol: sizes, frame, parts, keypoints, posing."""

import math

import torch

from genlca.body import COCO_KEYPOINTS, GENERIC_JOINTS, PART_NAMES, BodyModel
from genlca.body.poses import named_pose, turn, walk
from tests.body_checks import check_walk_moves_limbs


def test_protocol_and_sizes(anny):
    assert isinstance(anny, BodyModel)
    assert anny.name == "anny"
    assert anny.num_vertices == 13718
    assert anny.faces.shape == (27420, 3) and anny.uv_faces.shape == anny.faces.shape
    assert anny.uv_coords.min() >= 0 and anny.uv_coords.max() <= 1
    assert anny.shape_labels == ("gender", "age", "muscle", "weight", "height", "proportions")


def test_template_is_z_up_and_faces_minus_y(anny):
    v = anny.template(anny.default_shape())[0]
    height = v[:, 2].max() - v[:, 2].min()
    assert 1.5 < height < 1.8  # default phenotype is ~1.63 m
    kp = anny.keypoints(v[None])[0]
    nose, l_sh, r_sh = kp[COCO_KEYPOINTS.index("nose")], kp[5], kp[6]
    assert nose[2] > l_sh[2]  # head above shoulders
    assert l_sh[0] > 0 > r_sh[0]  # +X is the subject's left
    assert nose[1] < l_sh[1]  # the face is towards -Y


def test_shape_parameters_change_the_body(anny):
    tall = anny.default_shape()
    tall[0, anny.shape_labels.index("height")] = 1.0
    short = tall.clone()
    short[0, anny.shape_labels.index("height")] = 0.0
    h = lambda s: float(anny.template(s)[0, :, 2].max() - anny.template(s)[0, :, 2].min())
    assert h(tall) > h(short) + 0.1


def test_every_visible_face_has_a_part(anny):
    parts = anny.face_parts
    assert parts.min() >= -1 and parts.max() < len(PART_NAMES)
    counts = torch.bincount(parts[parts >= 0], minlength=len(PART_NAMES))
    assert (counts > 0).all(), dict(zip(PART_NAMES, counts.tolist()))
    assert (parts == -1).sum() > 0  # eye backs, mouth cavity, tongue are interior


def test_parts_sit_where_they_belong(anny):
    v = anny.template(anny.default_shape())[0]
    z = v[anny.faces].mean(dim=1)[:, 2]
    mean_z = {p: float(z[anny.face_parts == i].mean()) for i, p in enumerate(PART_NAMES)}
    assert mean_z["head"] > mean_z["torso"] > mean_z["hips"] > mean_z["upper_leg"] > mean_z["lower_leg"] > mean_z["foot"]


def test_walk_moves_arms_and_legs(anny):
    s = anny.default_shape()
    a = anny.pose(s, named_pose("a-pose"))
    w = anny.pose(s, walk(math.pi / 2))
    check_walk_moves_limbs(a.joints, w.joints)


def test_root_transform_turns_the_body(anny):
    s = anny.default_shape()
    front = anny.pose(s)
    back = anny.pose(s, root=turn(math.pi))
    assert torch.allclose(back.vertices[0, :, :2], -front.vertices[0, :, :2], atol=1e-4)


def test_keypoints_follow_the_pose(anny):
    s = anny.default_shape()
    posed = anny.pose(s, walk(math.pi / 2))
    kp = anny.keypoints(posed.vertices)
    assert kp.shape == (1, 17, 3)
    j = {n: i for i, n in enumerate(GENERIC_JOINTS)}
    assert (kp[0, 15] - posed.joints[0, j["ankle_l"]]).norm() < 0.08  # COCO left_ankle
