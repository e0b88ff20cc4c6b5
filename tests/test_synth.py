"""The synthetic in-the-wild video drop generator: layout, determinism, framings, visibility,
captions, ground-truth format, and that a real person detector (mediapipe) finds the people."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch

from genlca.avatar import gaussians_from_texels, template_avatar, texel_frames, to_gaussians
from genlca.body.protocol import COCO_KEYPOINTS, GENERIC_JOINTS, PART_NAMES
from genlca.data.synth import (
    COLORS,
    FRAMINGS,
    READY,
    REGIONS,
    generate_drop,
    garment_regions,
    load_ground_truth,
)
from genlca.data.synth.generator import plan_framings, render_video, sample_video
from genlca.data.synth.motion import animate
from genlca.data.video import read_video
from genlca.render.ply import load_ply

SIZE = 256
HEAD = [COCO_KEYPOINTS.index(k) for k in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _gt_files(root):
    return [f for f in _files(root) if f.startswith("ground_truth/")]


@pytest.fixture(scope="module")
def drops(tmp_path_factory):
    base = tmp_path_factory.mktemp("synth")
    out = {
        "mixed": generate_drop(base / "mixed", videos=3, frames=8, size=SIZE, regime="mixed", seed=0),
        "again": generate_drop(base / "again", videos=3, frames=8, size=SIZE, regime="mixed", seed=0),
        "other": generate_drop(base / "other", videos=1, frames=4, size=SIZE, regime="mixed", seed=1),
        "partial": generate_drop(base / "partial", videos=4, frames=8, size=SIZE, regime="partial", seed=2),
        "full": generate_drop(base / "full", videos=3, frames=8, size=SIZE, regime="full", seed=3),
    }
    return base, out


# ----------------------------------------------------------------------------- layout
def test_layout_ready_last_and_summary(drops):
    base, s = drops
    root = base / "mixed"
    files = _files(root)
    names = s["mixed"]["videos"]
    assert names == ["vid_000", "vid_001", "vid_002"]
    expected = {"ground_truth/synth.json", READY} | {f"videos/{n}.mp4" for n in names} | {
        f"ground_truth/{n}/{f}" for n in names
        for f in ("subject.json", "maps.safetensors", "frames.safetensors", "gt_avatar.ply")}
    assert set(files) == expected
    ready = (root / READY).stat().st_mtime_ns
    assert all((root / f).stat().st_mtime_ns <= ready for f in files)
    assert not [p for p in base.iterdir() if p.name.startswith(".")]  # no temporary folders left
    assert s["mixed"]["seconds"] > 0 and s["mixed"]["regime"] == "mixed"
    assert json.loads((root / "ground_truth" / "synth.json").read_text())["videos"] == names


def test_videos_are_playable(drops):
    base, s = drops
    for n in s["mixed"]["videos"]:
        frames = read_video(base / "mixed" / "videos" / f"{n}.mp4")
        assert frames.shape == (8, SIZE, SIZE, 3)
        assert frames.std() > 10  # not blank


def test_ground_truth_format(drops, anny, layout128):
    base, _ = drops
    gt = load_ground_truth(base / "mixed" / "ground_truth" / "vid_000")
    m, f, subj = gt["maps"], gt["frames"], gt["subject"]
    r, n_frames = 128, 8
    assert m["maps"].shape == (14, r, r) and m["maps"].dtype == torch.float32
    assert m["visibility"].shape == (r, r) and m["visible_count"].dtype == torch.int32
    assert m["regions"].shape == (r, r) and m["mask"].shape == (r, r) and m["shape"].shape == (6,)
    shapes = {"joint_rotations": (n_frames, 17, 3, 3), "root": (n_frames, 4, 4), "viewmat": (n_frames, 4, 4),
              "K": (n_frames, 3, 3), "keypoints_2d": (n_frames, 17, 2), "keypoints_3d": (n_frames, 17, 3),
              "keypoints_in_frame": (n_frames, 17), "framing": (n_frames,), "view": (n_frames,),
              "view_azimuth": (n_frames,), "whole_body": (n_frames,), "visibility_packed": (n_frames, r, r // 8),
              "person_mask_packed": (n_frames, SIZE, SIZE // 8), "visibility": (n_frames, r, r),
              "person_mask": (n_frames, SIZE, SIZE)}
    for k, shp in shapes.items():
        assert tuple(f[k].shape) == shp, k
    # Aggregates agree with the per-frame visibility; nothing visible outside the charts.
    assert torch.equal(f["visibility"].sum(0).int(), m["visible_count"])
    assert torch.allclose(m["visibility"], m["visible_count"].float() / n_frames)
    assert not f["visibility"][:, ~layout128.mask].any()
    assert 0 < m["visibility"][layout128.mask].mean() < 1
    # Ground truth = the template of that shape with the clothing albedo as colour.
    shape = m["shape"]
    tmpl = template_avatar(anny, layout128, shape)
    non_rgb = [i for i in range(14) if i not in range(11, 14)]
    assert torch.allclose(m["maps"][non_rgb], tmpl.maps[non_rgb], atol=1e-6)
    assert m["maps"][11:14][:, ~layout128.mask].abs().max() == 0
    # Regions partition the charts; the .ply carries the same maps.
    assert torch.equal(m["regions"] >= 0, layout128.mask)
    _, avatar = load_ply(base / "mixed" / "ground_truth" / "vid_000" / "gt_avatar.ply")
    assert torch.equal(avatar.maps, m["maps"])
    # Subject record.
    for key in ("body_model", "shape", "caption", "clothing", "regime", "framing", "fps", "size", "seed",
                "frame_framings", "camera", "motion", "scene"):
        assert key in subj, key
    assert subj["body_model"] == "anny" and subj["fps"] == 12 and subj["size"] == SIZE
    assert set(subj["clothing"]) >= set(REGIONS)
    assert subj["framing"] in FRAMINGS and len(subj["frame_framings"]) == n_frames
    assert subj["joint_order"] == list(GENERIC_JOINTS)
    # The 2D keypoints are the projected 3D ones.
    cam_pts = f["keypoints_3d"] @ f["viewmat"][:, :3, :3].transpose(1, 2) + f["viewmat"][:, None, :3, 3]
    uv = cam_pts @ f["K"].transpose(1, 2)
    assert torch.allclose(uv[..., :2] / uv[..., 2:], f["keypoints_2d"], atol=1e-2)


# ----------------------------------------------------------------------------- determinism
def test_same_seed_same_files_other_seed_differs(drops):
    base, _ = drops
    a, b = base / "mixed", base / "again"
    assert _files(a) == _files(b)
    for rel in _gt_files(a):
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    for n in ("vid_000", "vid_001", "vid_002"):
        fa = read_video(a / "videos" / f"{n}.mp4").astype(int)
        fb = read_video(b / "videos" / f"{n}.mp4").astype(int)
        assert np.abs(fa - fb).mean() < 1.0  # identical here; codec tolerance elsewhere
    other = base / "other" / "ground_truth" / "vid_000"
    assert (other / "maps.safetensors").read_bytes() != (a / "ground_truth/vid_000/maps.safetensors").read_bytes()
    assert json.loads((other / "subject.json").read_text())["caption"] != \
        json.loads((a / "ground_truth/vid_000/subject.json").read_text())["caption"]


# ----------------------------------------------------------------------------- captions
def test_caption_names_every_colour_of_the_spec(drops):
    base, s = drops
    for drop in ("mixed", "partial", "full"):
        for n in s[drop]["videos"]:
            subj = json.loads((base / drop / "ground_truth" / n / "subject.json").read_text())
            cap, cl = subj["caption"], subj["clothing"]
            for region in REGIONS:
                assert cl[region]["color"] in cap, (region, cap)
                if "color2" in cl[region]:
                    assert cl[region]["color2"] in cap, (region, cap)
            for region in ("top", "bottom", "shoes"):
                assert cl[region]["color"] in COLORS


# ----------------------------------------------------------------------------- framings
def test_partial_regime_never_shows_the_whole_body(drops):
    base, s = drops
    for n in s["partial"]["videos"]:
        gt = load_ground_truth(base / "partial" / "ground_truth" / n, unpack=False)
        kin = gt["frames"]["keypoints_in_frame"].bool()
        assert not kin.all(dim=1).any(), n
        assert not gt["subject"]["whole_body"]
        if gt["subject"]["framing"] == "lower":
            assert not kin[:, HEAD].any(), n


def test_full_regime_shows_the_whole_body(drops):
    base, s = drops
    for n in s["full"]["videos"]:
        gt = load_ground_truth(base / "full" / "ground_truth" / n, unpack=False)
        kin = gt["frames"]["keypoints_in_frame"].bool()
        assert kin.all(dim=1).float().mean() >= 0.95, n
        assert gt["subject"]["framing"] in ("full", "back", "side")
        assert all(f == "full" for f in gt["subject"]["frame_framings"])


def test_plan_framings():
    rng = np.random.default_rng(0)
    for _ in range(20):
        assert any(f == "full" for f, _ in plan_framings("mixed", 3, rng))
    assert all(w for _, w in plan_framings("full", 10, rng))
    assert not any(w for _, w in plan_framings("partial", 10, rng))
    with pytest.raises(ValueError, match="regime"):
        plan_framings("nope", 1, rng)


# ----------------------------------------------------------------------------- regions, posing
def test_garment_regions_partition_and_variants(anny, layout128):
    parts = layout128.part
    long_ = garment_regions(anny, layout128, sleeves="long", legwear="trousers", hair="short")
    short = garment_regions(anny, layout128, sleeves="short", legwear="shorts", hair="long")
    for regions in (long_, short):
        stack = torch.stack([regions[r] for r in REGIONS]).int()
        assert torch.equal(stack.sum(0), layout128.mask.int())  # a partition of the charts
    lower_arm, lower_leg = parts == PART_NAMES.index("lower_arm"), parts == PART_NAMES.index("lower_leg")
    assert long_["top"][lower_arm].all() and short["skin"][lower_arm].all()
    assert long_["bottom"][lower_leg].all() and short["skin"][lower_leg].all()
    assert short["hair"].sum() > long_["hair"].sum() > 0
    head = parts == PART_NAMES.index("head")
    assert 0.1 < long_["hair"][head].float().mean() < 0.7  # the face stays skin
    assert long_["shoes"].sum() > 0 and not long_["shoes"][~(parts == PART_NAMES.index("foot"))].any()


def test_gaussians_from_texels_match_to_gaussians(anny, layout128, template):
    spec = sample_video("t", 0, 0, "full", True, anny)
    motion = animate(spec.motion, 3, 12, 0.9)
    pose = {k: v[1:2] for k, v in motion.pose.items()}
    ref = to_gaussians(template, anny, layout128, pose=pose, root=motion.root[1:2])
    verts = anny.pose(template.shape[None], pose, motion.root[1:2]).vertices
    anchors, frames, _ = texel_frames(anny, layout128, verts)
    g = gaussians_from_texels(template.texel_values(layout128), anchors[0], frames[0])
    assert torch.allclose(g.means, ref.means, atol=1e-5) and torch.allclose(g.quats, ref.quats, atol=1e-5)


# ----------------------------------------------------------------------------- visibility
def _region_masks(anny, layout, shape):
    """Texel masks (flat, in-chart order) of the face and of the upper back, from the template."""
    verts = anny.template(shape[None])
    a = texel_frames(anny, layout, verts)[0][0]
    kp = anny.keypoints(verts)[0]
    ears = kp[[3, 4]].mean(0)
    part = layout.part.flatten()[layout.texels]
    face = (part == PART_NAMES.index("head")) & (a[:, 1] < ears[1] - 0.05) & (a[:, 2] > kp[0, 2] - 0.08)
    back = (part == PART_NAMES.index("torso")) & (a[:, 1] > 0.06) & (a[:, 2] > kp[11, 2] + 0.15)
    return face, back


def _still_spec(anny, framing, azimuth):
    spec = sample_video("vis", 0, 5, framing, True, anny)
    spec.motion.locomotion, spec.motion.turn, spec.motion.gesture, spec.motion.head_yaw = "stand", 0.0, "none", 0.0
    spec.camera.azimuth, spec.camera.orbit, spec.camera.shake = azimuth, 0.0, 0.0
    spec.scene.occluders = []
    return spec


def test_back_view_sees_the_back_not_the_face(anny, layout128):
    spec = _still_spec(anny, "back", 180.0)
    res = render_video(spec, anny, layout128, frames=3, size=128, fps=12)
    vis = res["maps_gt"]["visibility"].flatten()[layout128.texels]
    face, back = _region_masks(anny, layout128, spec.subject.shape)
    assert face.sum() > 50 and back.sum() > 50
    assert vis[face].mean() < 0.1
    assert vis[back].mean() > 0.6
    assert all(v == "back" for v in [["front", "side", "back"][i] for i in res["frames_gt"]["view"].tolist()])


def test_occluder_reduces_visibility(anny, layout128):
    spec = _still_spec(anny, "full", 0.0)
    clear = render_video(spec, anny, layout128, frames=2, size=128, fps=12)
    occluded = copy.deepcopy(spec)
    occluded.scene.occluders = [{"kind": "box", "x": 0.0, "vx": 0.0, "width": 1.0, "height": 0.5,
                                 "color": (0.3, 0.3, 0.3)}]
    blocked = render_video(occluded, anny, layout128, frames=2, size=128, fps=12)
    c0 = clear["maps_gt"]["visible_count"].sum()
    c1 = blocked["maps_gt"]["visible_count"].sum()
    assert c1 < 0.8 * c0
    # Texels seen with the box are a subset of those seen without it.
    assert not (blocked["frames_gt"]["visibility_packed"] & ~clear["frames_gt"]["visibility_packed"]).any()
    # The person mask excludes the box.
    assert blocked["frames_gt"]["person_mask_packed"].sum() < clear["frames_gt"]["person_mask_packed"].sum()


# ----------------------------------------------------------------------------- overwrite rules
def test_refuses_foreign_folder_and_replaces_an_earlier_drop(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        generate_drop(foreign, videos=1, frames=2, size=64)
    assert (foreign / "keep.txt").read_text() == "mine"
    drop = tmp_path / "drop"
    generate_drop(drop, videos=1, frames=2, size=64, seed=0)
    first = (drop / "ground_truth/vid_000/subject.json").read_text()
    generate_drop(drop, videos=1, frames=2, size=64, seed=1)
    assert (drop / "ground_truth/vid_000/subject.json").read_text() != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drop", "foreign"]
    with pytest.raises(ValueError, match="regime"):
        generate_drop(tmp_path / "x", regime="sideways")


# ----------------------------------------------------------------------------- realism
def _pose_detector():
    from mediapipe.python.solutions import pose as mp_pose  # not `import mediapipe`: it pulls sounddevice

    return mp_pose.Pose(static_image_mode=True, model_complexity=1)


def _detection_rate(root, names, max_frames=None):
    found = total = 0
    with _pose_detector() as det:
        for n in names:
            frames = read_video(root / "videos" / f"{n}.mp4")
            subj = json.loads((root / "ground_truth" / n / "subject.json").read_text())
            idx = [i for i, f in enumerate(subj["frame_framings"]) if f == "full"]
            if max_frames:
                idx = idx[:: max(1, math.ceil(len(idx) / max_frames))]
            for i in idx:
                total += 1
                found += det.process(frames[i]).pose_landmarks is not None
    return found, total


def test_mediapipe_finds_people_in_full_body_frames_fast(drops):
    base, s = drops
    found, total = _detection_rate(base / "full", s["full"]["videos"], max_frames=2)
    assert total >= 5
    assert found >= total - 1, (found, total)


@pytest.mark.slow
def test_mediapipe_detection_rate_full_body(tmp_path):
    summary = generate_drop(tmp_path / "full", videos=8, frames=24, size=SIZE, regime="full", seed=3)
    found, total = _detection_rate(tmp_path / "full", summary["videos"])
    assert total >= 150
    assert found / total >= 0.9, (found, total)
