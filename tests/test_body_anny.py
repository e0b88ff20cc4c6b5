"""Anny behind the BodyModel protocol: sizes, frame, parts, keypoints, posing."""

import math

import pytest
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


@pytest.mark.slow  # builds Anny a second time, with facial_actions="all": ~2.5 min and 790 MB of scratch
def test_face_units_match_annys_own_facial_build(anny, tmp_path):
    """The face units read from the package's target files (`pose(..., expression=)`) give exactly the
    vertices of Anny built with its facial actions, posed and shaped alike."""
    import anny as anny_pkg  # `anny` is the fixture here
    import anny.paths as anny_paths

    import genlca.body.anny_body as ab
    from genlca.body.protocol import compose_with_a_pose

    shape = torch.tensor([[0.3, 0.6, 0.5, 0.4, 0.7, 0.5]])
    pose = {k: v for k, v in walk(torch.tensor([0.7])).items()}
    previous = anny_paths.get_anny_cache_path()
    try:
        anny_paths.set_anny_cache_path(tmp_path)  # a scratch cache: the project's keeps only its own build
        full = anny_pkg.Anny(**dict(ab.ANNY_KW, facial_actions="all")).to(dtype=torch.float32)
    finally:
        anny_paths.set_anny_cache_path(previous)
    params = {}
    for joint, r in compose_with_a_pose(anny.a_pose(), pose, 1, torch.float32, "cpu").items():
        t = torch.eye(4)[None].clone()
        t[:, :3, :3] = r
        params[ab.JOINT_TO_BONE[joint]] = t
    names = anny.expression_names
    for unit in ("jawOpen", "mouthSmileLeft", "eyeBlinkRight", "browInnerUp"):
        weights = torch.zeros(1, len(names))
        weights[0, names.index(unit)] = 0.8
        ours = anny.pose(shape, pose, expression=weights).vertices[0]
        theirs = full(pose_parameters=params, phenotype_kwargs=shape, facial_actions={unit: torch.tensor([0.8])})
        assert float((ours - theirs["vertices"][0]).abs().max()) < 1e-5, unit
