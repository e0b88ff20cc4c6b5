"""SMPL-X behind the BodyModel protocol, on synthetic model files (the real ones are licence-gated).

`tests/smplx_fixture.py` writes a mannequin with every key and shape of SMPLX_NEUTRAL.npz, built
Y-up in SMPL-X's native frame; these tests check what a user of the body model would: sizes,
the common frame (Z up, -Y front, +X left), A-pose, walking, root turns, keypoints, UV layout,
the pickle-free copy, and a clear SMPLXModelError (file + problem) for each broken file.
"""

from __future__ import annotations

import hashlib
import math
import shutil
import zipfile

import numpy as np
import pytest
import torch

from genlca.body import COCO_KEYPOINTS, GENERIC_JOINTS, PART_NAMES, BodyConfig, BodyModel, load_body_model
from genlca.body.poses import turn, walk
from genlca.body.smplx_body import SMPLXBody, SMPLXModelError
from genlca.body.uv_layout import build_uv_layout
from tests.body_checks import check_texels_on_faces, check_walk_moves_limbs
from tests.smplx_fixture import synthetic_arrays, write_synthetic_smplx, write_uv_obj

J = {n: i for i, n in enumerate(GENERIC_JOINTS)}
KP = {n: i for i, n in enumerate(COCO_KEYPOINTS)}


@pytest.fixture(scope="module", autouse=True)
def cache_dir(tmp_path_factory):
    """Every SMPL-X load in this module caches under a temporary $GENLCA_CACHE."""
    cache = tmp_path_factory.mktemp("genlca-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENLCA_CACHE", str(cache))
        yield cache
    shutil.rmtree(cache, ignore_errors=True)  # ~140 MB of pickle-free copies per model loaded


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("smplx-obj")
    write_synthetic_smplx(d, uv="obj")
    return d


@pytest.fixture(scope="module")
def body(model_dir):
    return SMPLXBody(model_dir, gender="neutral")


@pytest.fixture(scope="module")
def native():
    return synthetic_arrays()


def _to_common(v: np.ndarray) -> torch.Tensor:
    """SMPL-X native (x left, y up, z front) -> common frame (x left, z up, -y front)."""
    v = torch.as_tensor(v, dtype=torch.float32)
    return torch.stack([v[..., 0], -v[..., 2], v[..., 1]], dim=-1)


# ------------------------------------------------------------------------------ loading


def test_loads_with_smplx_sizes(body, native):
    assert isinstance(body, BodyModel)
    assert body.name == "smplx"
    assert body.num_vertices == 10475
    assert torch.equal(body.faces, torch.as_tensor(native["f"].astype(np.int64)))
    assert body.uv_faces.shape == body.faces.shape
    assert body.uv_coords.ndim == 2 and body.uv_coords.shape[1] == 2
    assert body.uv_coords.min() >= 0 and body.uv_coords.max() <= 1
    assert body.uv_faces.min() >= 0 and body.uv_faces.max() < len(body.uv_coords)
    assert body.face_parts.shape == (len(body.faces),)
    assert body.face_parts.min() >= 0 and body.face_parts.max() < len(PART_NAMES)
    assert body.shape_labels == tuple(f"beta{i}" for i in range(10))
    assert body.joint_names == GENERIC_JOINTS
    assert body.default_shape(3).shape == (3, 10)
    assert body.template(body.default_shape()).shape == (1, 10475, 3)


def test_every_part_is_used_and_sits_where_it_belongs(body):
    counts = torch.bincount(body.face_parts, minlength=len(PART_NAMES))
    assert (counts > 0).all(), dict(zip(PART_NAMES, counts.tolist()))
    v = body.template(body.default_shape())[0].detach()
    z = v[body.faces].mean(dim=1)[:, 2]
    mean_z = {p: float(z[body.face_parts == i].mean()) for i, p in enumerate(PART_NAMES)}
    order = ["head", "torso", "hips", "upper_leg", "lower_leg", "foot"]
    assert [mean_z[p] for p in order] == sorted(mean_z[p] for p in order)[::-1], mean_z
    # In the T-pose rest the hands are the outermost faces.
    x = v[body.faces].mean(dim=1)[:, 0].abs()
    assert PART_NAMES[int(body.face_parts[x.argmax()])] == "hand"


def test_uvs_from_the_npz_match_those_from_the_obj(body, tmp_path):
    write_synthetic_smplx(tmp_path, uv="npz")
    assert not (tmp_path / "smplx_uv.obj").exists()
    from_npz = SMPLXBody(tmp_path)
    assert torch.equal(from_npz.uv_faces, body.uv_faces)
    assert torch.allclose(from_npz.uv_coords, body.uv_coords, atol=1e-6)  # the .obj keeps 6 decimals


def test_load_body_model_builds_smplx_from_a_folder(model_dir):
    body = load_body_model(BodyConfig(name="smplx", smplx_dir=str(model_dir)))
    assert isinstance(body, SMPLXBody) and body.num_vertices == 10475
    assert load_body_model(BodyConfig(name="smplx", smplx_dir=str(model_dir))) is body  # cached


def test_load_body_model_needs_smplx_dir():
    with pytest.raises(ValueError, match="smplx_dir"):
        load_body_model(BodyConfig(name="smplx"))


def test_fewer_shape_directions_give_fewer_betas(tmp_path, native):
    write_synthetic_smplx(tmp_path, shapedirs=native["shapedirs"][:, :, :5])
    body = SMPLXBody(tmp_path)
    assert body.shape_labels == tuple(f"beta{i}" for i in range(5))
    assert body.pose(body.default_shape(), walk(1.0)).vertices.shape == (1, 10475, 3)


# ------------------------------------------------------------------------------ common frame


def test_template_is_the_native_mesh_turned_z_up(body, native):
    v = body.template(body.default_shape())[0].detach()
    assert torch.allclose(v, _to_common(native["v_template"]), atol=1e-5)
    top = int(np.argmax(native["v_template"][:, 1]))  # highest vertex in SMPL-X's Y-up frame
    assert int(v[:, 2].argmax()) == top
    assert 1.7 < float(v[:, 2].max() - v[:, 2].min()) < 1.9


def test_keypoints_face_minus_y_with_left_on_plus_x(body):
    v = body.template(body.default_shape())
    kp = body.keypoints(v)[0]
    nose, l_sh, r_sh = kp[KP["nose"]], kp[KP["left_shoulder"]], kp[KP["right_shoulder"]]
    assert nose[2] > l_sh[2] > kp[KP["left_hip"]][2] > kp[KP["left_knee"]][2] > kp[KP["left_ankle"]][2]
    assert l_sh[0] > 0 > r_sh[0] and kp[KP["left_eye"]][0] > kp[KP["right_eye"]][0]
    assert nose[1] < l_sh[1] - 0.05  # the face is towards -Y


def test_shape_parameters_change_the_body(body):
    tall, short = body.default_shape(), body.default_shape()
    tall[0, 0], short[0, 0] = 2.0, -2.0

    def h(s):
        z = body.template(s)[0, :, 2].detach()
        return float(z.max() - z.min())

    assert h(tall) > h(short) + 0.1


# ------------------------------------------------------------------------------ posing


def test_keypoints_are_batched_and_agree_with_joints(body):
    posed = body.pose(body.default_shape(), walk(math.pi / 2))
    kp = body.keypoints(posed.vertices.expand(3, -1, -1))
    assert kp.shape == (3, 17, 3) and torch.isfinite(kp).all()
    # The body keypoints use the same regressor rows as the joints.
    for k, j in (("left_wrist", "wrist_l"), ("right_knee", "knee_r"), ("left_ankle", "ankle_l")):
        assert (kp[0, KP[k]] - posed.joints[0, J[j]]).norm() < 0.05, k


def test_a_pose_lowers_the_arms_from_the_t_pose(body):
    s = body.default_shape()
    rest = body.keypoints(body.template(s))[0].detach()  # T-pose
    a = body.pose(s, {}).joints[0].detach()
    for side, kp_name in (("l", "left_wrist"), ("r", "right_wrist")):
        wrist, shoulder = a[J[f"wrist_{side}"]], a[J[f"shoulder_{side}"]]
        assert wrist[2] < rest[KP[kp_name], 2] - 0.25  # lowered ~45 deg over ~0.52 m
        drop = float(shoulder[2] - wrist[2])
        reach = float((wrist[0] - shoulder[0]).abs())
        assert abs(math.degrees(math.atan2(drop, reach)) - 45) < 3
    assert (a[J["ankle_l"]] - rest[KP["left_ankle"]]).norm() < 0.05  # legs unchanged


def test_walk_moves_arms_and_legs(body):
    s = body.default_shape()
    a = body.pose(s, {})
    w = body.pose(s, walk(math.pi / 2))
    a, w = (type(p)(p.vertices.detach(), p.joints.detach()) for p in (a, w))  # plain numbers below
    check_walk_moves_limbs(a.joints, w.joints)
    # ... and the arms swing the other way.
    assert w.joints[0, J["wrist_l"], 1] > a.joints[0, J["wrist_l"], 1] + 0.05
    assert w.joints[0, J["wrist_r"], 1] < a.joints[0, J["wrist_r"], 1] - 0.05
    # Vertices follow their joints: the foot's lowest point goes where the left ankle goes.
    low = int(a.vertices[0, :, 2].argmin())
    foot_shift, ankle_shift = (w.vertices - a.vertices)[0, low], (w.joints - a.joints)[0, J["ankle_l"]]
    if a.vertices[0, low, 0] < 0:
        ankle_shift = (w.joints - a.joints)[0, J["ankle_r"]]
    assert (foot_shift - ankle_shift).norm() < 0.05 and ankle_shift.norm() > 0.08


def test_root_transform_turns_the_body(body):
    s = body.default_shape()
    front = body.pose(s, walk(0.3))
    back = body.pose(s, walk(0.3), root=turn(math.pi))
    assert torch.allclose(back.vertices[0, :, :2], -front.vertices[0, :, :2], atol=1e-4)
    assert torch.allclose(back.vertices[0, :, 2], front.vertices[0, :, 2], atol=1e-5)
    side = body.pose(s, walk(0.3), root=turn(math.pi / 2))
    kp = body.keypoints(side.vertices)[0]
    assert kp[KP["nose"], 0] > side.joints[0, J["head"], 0] + 0.05  # now facing +X
    assert torch.allclose(side.joints[0, :, 2], front.joints[0, :, 2], atol=1e-5)


def test_pose_takes_a_batch(body):
    s = body.default_shape(2)
    out = body.pose(s, walk(torch.tensor([0.0, math.pi / 2])))
    assert out.vertices.shape == (2, 10475, 3) and out.joints.shape == (2, 17, 3)
    one = body.pose(body.default_shape(), walk(math.pi / 2))
    assert torch.allclose(out.vertices[1], one.vertices[0], atol=1e-5)


def test_outputs_need_no_grad_unless_the_shape_does(body):
    s = body.default_shape()
    assert not body.template(s).requires_grad
    assert not body.pose(s, walk(1.0)).vertices.requires_grad


# ------------------------------------------------------------------------------ UV layout


def test_uv_layout_covers_the_charts(body):
    lay = build_uv_layout(body, 64)
    assert lay.body_model == "smplx" and lay.mask.shape == (64, 64)
    assert 0.3 < lay.mask.float().mean() < 0.99
    fid = check_texels_on_faces(lay, body)
    assert torch.equal(lay.part[lay.mask], body.face_parts[fid])
    pts = lay.surface_points(body.template(body.default_shape()), body.faces)
    assert pts.shape == (1, lay.num_texels, 3)


# ------------------------------------------------------------------------------ pickle safety


def test_smplx_gets_a_pickle_free_copy(body, model_dir, cache_dir):
    src = model_dir / "SMPLX_NEUTRAL.npz"
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
    copy = cache_dir / "smplx" / digest / "SMPLX_NEUTRAL.npz"
    assert copy.is_file()
    with np.load(copy, allow_pickle=False) as npz:
        assert "joint2num" not in npz.files  # the original's pickled extra key is dropped
        for key in npz.files:
            assert npz[key].dtype != object


class _Payload:
    """Unpickling this runs code: it creates a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def test_hostile_pickles_in_the_npz_never_run(tmp_path, native):
    marker = tmp_path / "pwned"
    bomb = np.array([_Payload(marker)], dtype=object)
    path = write_synthetic_smplx(tmp_path / "m", uv="obj", joint2num=bomb, vt=bomb, ft=native["ft"])
    body = SMPLXBody(tmp_path / "m")  # vt refused (pickled) -> UVs from smplx_uv.obj
    body.pose(body.default_shape(), walk(1.0))
    assert body.uv_faces.shape == body.faces.shape
    assert not marker.exists()
    with np.load(path, allow_pickle=True) as npz:  # the payload is live: loading it naively runs it
        npz["joint2num"]
    assert marker.exists()


# ------------------------------------------------------------------------------ clear errors


def test_missing_folder_or_file(tmp_path):
    with pytest.raises(SMPLXModelError, match=r"nowhere[/\\]SMPLX_NEUTRAL\.npz: SMPL-X model file not found"):
        SMPLXBody(tmp_path / "nowhere")
    write_synthetic_smplx(tmp_path, uv="npz")
    with pytest.raises(SMPLXModelError, match=r"SMPLX_FEMALE\.npz: SMPL-X model file not found"):
        SMPLXBody(tmp_path, gender="female")


def test_not_an_npz(tmp_path):
    (tmp_path / "SMPLX_NEUTRAL.npz").write_bytes(b"this is not a zip file")
    with pytest.raises(SMPLXModelError, match=r"SMPLX_NEUTRAL\.npz: not a readable \.npz file"):
        SMPLXBody(tmp_path)


@pytest.mark.parametrize("key", ["J_regressor", "kintree_table"])
def test_missing_key_is_named(tmp_path, key):
    write_synthetic_smplx(tmp_path, **{key: None})
    with pytest.raises(SMPLXModelError, match=rf"SMPLX_NEUTRAL\.npz: missing key\(s\) {key}$"):
        SMPLXBody(tmp_path)


@pytest.mark.parametrize("key, bad, shown", [
    ("v_template", np.zeros((10000, 3)), r"\(10000, 3\), expected 10475x3"),
    ("posedirs", np.zeros((10475, 3, 207)), r"\(10475, 3, 207\), expected 10475x3x486"),
    ("weights", np.zeros((10475, 55, 1)), r"\(10475, 55, 1\), expected 10475x55"),
])
def test_wrong_shape_names_key_and_shape(tmp_path, key, bad, shown):
    write_synthetic_smplx(tmp_path, **{key: bad})
    with pytest.raises(SMPLXModelError, match=rf"SMPLX_NEUTRAL\.npz: key '{key}' has shape {shown}"):
        SMPLXBody(tmp_path)


def test_pickled_object_array_is_refused(tmp_path, native):
    weights = native["weights"].astype(object)  # right shape, but stored as pickled objects
    write_synthetic_smplx(tmp_path, weights=weights)
    with pytest.raises(SMPLXModelError, match=r"SMPLX_NEUTRAL\.npz: key 'weights' holds pickled objects, refused"):
        SMPLXBody(tmp_path)


def test_no_uvs_anywhere_names_the_obj(tmp_path):
    write_synthetic_smplx(tmp_path, uv=None)
    with pytest.raises(SMPLXModelError, match=r"smplx_uv\.obj: SMPL-X UV file not found"):
        SMPLXBody(tmp_path)


@pytest.mark.parametrize("change", ["fewer faces", "reordered faces"])
def test_obj_whose_faces_do_not_match(tmp_path, native, change):
    write_synthetic_smplx(tmp_path, uv="obj")
    f, ft = native["f"], native["ft"]
    f, ft = (f[:-100], ft[:-100]) if change == "fewer faces" else (f[::-1], ft[::-1])
    write_uv_obj(tmp_path / "smplx_uv.obj", native["v_template"], native["vt"], f, ft)
    with pytest.raises(SMPLXModelError, match=r"smplx_uv\.obj: its faces do not match the SMPL-X model's faces"):
        SMPLXBody(tmp_path)


def test_obj_faces_without_uvs(tmp_path, native):
    write_synthetic_smplx(tmp_path, uv="obj")
    obj = tmp_path / "smplx_uv.obj"
    obj.write_text(obj.read_text().replace("f 1/", "f 1 2 3\nf 1/", 1))
    with pytest.raises(SMPLXModelError, match=r"smplx_uv\.obj:\d+: face without UV indices"):
        SMPLXBody(tmp_path)


# Gaps found while writing these tests: each should be a SMPLXModelError at load time.


@pytest.mark.parametrize("ft", ["short", "out of range"])
def test_npz_uv_faces_must_match_the_faces(tmp_path, native, ft):
    bad = native["ft"][:-10] if ft == "short" else native["ft"] + len(native["vt"])
    write_synthetic_smplx(tmp_path, uv="npz", ft=bad)
    with pytest.raises(SMPLXModelError, match=r"SMPLX_NEUTRAL\.npz: .*'ft'"):
        SMPLXBody(tmp_path)


@pytest.mark.parametrize("key", ["f", "kintree_table", "lmk_faces_idx"])
def test_indices_out_of_range_are_refused(tmp_path, native, key):
    bad = {"f": native["f"].astype(np.int64) + 20000,
           "kintree_table": np.array([[-1] + [99] * 54, list(range(55))]),
           "lmk_faces_idx": np.full(51, 10**6)}[key]
    write_synthetic_smplx(tmp_path, uv="npz", **{key: bad})
    with pytest.raises(SMPLXModelError, match=rf"'{key}'"):
        body = SMPLXBody(tmp_path)
        body.pose(body.default_shape(), {})


@pytest.mark.parametrize("damage", ["npy renamed", "corrupt member"])
def test_damaged_files_give_a_model_error(tmp_path, damage):
    path = tmp_path / "SMPLX_NEUTRAL.npz"
    if damage == "npy renamed":
        with open(path, "wb") as fh:
            np.save(fh, np.zeros((10475, 3)))
    else:
        write_synthetic_smplx(tmp_path, uv="npz")
        data = bytearray(path.read_bytes())
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo("weights.npy")
        name_len, extra_len = np.frombuffer(bytes(data[info.header_offset + 26:info.header_offset + 30]), "<u2")
        start = info.header_offset + 30 + int(name_len) + int(extra_len) + 64  # inside the compressed data
        data[start:start + 256] = bytes(b ^ 0xFF for b in data[start:start + 256])
        path.write_bytes(bytes(data))
    with pytest.raises(SMPLXModelError, match=r"SMPLX_NEUTRAL\.npz"):
        SMPLXBody(tmp_path)
