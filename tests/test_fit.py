"""Body-model fitting: the fast Anny keypoint path, fitting synthetic clips from noisy ground-truth
keypoints (PA-MPJPE, reprojection), frames without a person, gap interpolation, priors, the fit
files and the pandera quality table, evaluation of a drop, and SMPL-X fitting."""

from __future__ import annotations

import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.errors
import pytest
import roma
import torch

from genlca.body import GENERIC_JOINTS
from genlca.body.poses import turn, walk, wave
from genlca.data.synth import generate_drop, load_ground_truth
from genlca.fitting import prior
from genlca.fitting.evaluate import (
    detections_from_ground_truth,
    evaluate_drop,
    evaluate_fit,
    fit_from_ground_truth,
    frame_errors,
    procrustes_align,
)
from genlca.fitting.fit import (
    LR_SWAP,
    FitConfig,
    _GenericArticulator,
    facing_cost,
    fit_video,
    frame_status,
    label_swaps,
    make_articulator,
    project,
)
from genlca.fitting.store import (
    QualitySchema,
    load_fit,
    load_fit_meta,
    load_quality,
    quality_table,
    save_fit,
    save_fits,
)
from genlca.fitting.types import VideoDetections

J = {n: i for i, n in enumerate(GENERIC_JOINTS)}


@pytest.fixture(scope="module")
def drop(tmp_path_factory):
    """Two 12-frame full-body videos (a side and a back view, with walking and waving)."""
    path = tmp_path_factory.mktemp("fit") / "drop"
    generate_drop(path, videos=2, frames=12, size=256, regime="full", seed=5)
    return path


@pytest.fixture(scope="module")
def gt0(drop):
    return load_ground_truth(drop / "ground_truth" / "vid_000")


@pytest.fixture(scope="module")
def fit0(anny, gt0):
    det = detections_from_ground_truth(gt0, noise=0.015, seed=1)
    return fit_video(det, anny)


def _equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Exact equality, NaN == NaN."""
    return a.dtype == b.dtype and a.shape == b.shape and bool(
        ((a == b) | (torch.isnan(a) & torch.isnan(b)) if a.is_floating_point() else (a == b)).all())


# ----------------------------------------------------------------------------- keypoints
def test_fast_anny_keypoints_match_the_body_model(anny):
    torch.manual_seed(0)
    art = make_articulator(anny, n_vertices=500)
    ref = _GenericArticulator(anny, 500)
    assert type(art).__name__ == "_AnnyArticulator"
    rot = roma.rotvec_to_rotmat(torch.randn(5, 17, 3) * 0.5)
    shape = torch.rand(6)
    kp, verts = art(shape, rot, vertices=True)
    kp_ref, verts_ref = ref(shape, rot, vertices=True)
    assert (kp - kp_ref).abs().max() < 1e-4  # metres
    assert (verts - verts_ref).abs().max() < 1e-4
    assert (art.frozen(shape)(rot) - kp_ref).abs().max() < 1e-4
    # gradients reach pose and shape
    rv = (torch.randn(3, 17, 3) * 0.3).requires_grad_(True)
    sh = torch.rand(6).requires_grad_(True)
    art(sh, roma.rotvec_to_rotmat(rv))[0].square().sum().backward()
    assert rv.grad.abs().sum() > 0 and sh.grad.abs().sum() > 0


# ----------------------------------------------------------------------------- priors
def test_priors_accept_natural_poses_and_reject_impossible_ones():
    names = list(GENERIC_JOINTS)

    def rotvecs(pose):
        rv = torch.zeros(pose[next(iter(pose))].shape[0], 17, 3)
        for k, r in pose.items():
            rv[:, names.index(k)] = roma.rotmat_to_rotvec(r)
        return rv

    walking = rotvecs(walk(torch.linspace(0, 2 * math.pi, 9)))
    assert float(prior.joint_limit_loss(walking).max()) == 0.0
    assert prior.violations(walking) == []
    bad = torch.zeros(2, 17, 3)
    bad[0, J["knee_l"], 0] = math.radians(-40)  # knee bent forwards
    bad[1, J["elbow_r"], 0] = math.radians(60)  # elbow bent backwards
    loss = prior.joint_limit_loss(bad)
    assert bool((loss > 0.1).all())
    assert {v[1] for v in prior.violations(bad)} == {"knee_l", "elbow_r"}
    # the A-pose pull: bending a knee backwards (natural) costs less than forwards by the same angle
    fwd, back = torch.zeros(1, 17, 3), torch.zeros(1, 17, 3)
    back[0, J["knee_l"], 0], fwd[0, J["knee_l"], 0] = 0.5, -0.5
    assert prior.a_pose_loss(back) < prior.a_pose_loss(fwd)
    assert prior.shape_prior(torch.full((6,), 0.5), "anny") == 0
    assert prior.shape_prior(torch.ones(10), "smplx") == 10


def test_procrustes_recovers_a_similarity():
    torch.manual_seed(1)
    gt = torch.randn(4, 17, 3)
    r = roma.random_rotmat(4)
    pred = 1.7 * gt @ r.transpose(1, 2) + torch.randn(4, 1, 3)
    assert (procrustes_align(pred, gt) - gt).abs().max() < 1e-4


# ----------------------------------------------------------------------------- fitting
def test_fit_full_body_clip_from_noisy_keypoints(anny, gt0, fit0):
    """Noise of 1.5% of the person's height (the real detector: 1-1.6%)."""
    n = gt0["frames"]["keypoints_3d"].shape[0]
    assert fit0.body_model == "anny" and fit0.fitted.all() and fit0.reasons == [""] * n
    assert fit0.joint_rotations.shape == (n, 17, 3, 3) and fit0.root.shape == (n, 4, 4)
    assert torch.allclose(fit0.root[:, 3], torch.tensor([0.0, 0, 0, 1]).expand(n, 4))
    assert bool((fit0.shape >= 0).all() and (fit0.shape <= 1).all())
    m = evaluate_fit(fit0, gt0, anny)
    assert m["fitted_share"] == 1.0 and m["fitted_share_by_framing"] == {"full": 1.0}
    assert m["pa_mpjpe_mm"] <= 60, m
    assert m["reproj_px"] < 4.0, m  # against the noise-free GT keypoints
    assert float(fit0.reproj_error_px.max()) < 8.0
    # camera frame: the person stands in front of the camera, upright (head above the feet: -y)
    assert bool((fit0.root[:, 2, 3] > 0.5).all())
    head_up = fit0.root[:, :3, :3] @ torch.tensor([0.0, 0.0, 1.0])
    assert bool((head_up[:, 1] < -0.8).all())


@pytest.mark.parametrize("face", [True, False])
def test_fit_recovers_the_facing(anny, drop, face):
    """vid_001 is seen from behind: the fit must not turn the person round (with face keypoints,
    as ground truth gives them, or without, as a detector behind a person does)."""
    gt = load_ground_truth(drop / "ground_truth" / "vid_001")
    det = detections_from_ground_truth(gt, noise=0.01, seed=2)
    if not face:
        det.confidence[:, :5] = 0
    fit = fit_video(det, anny, FitConfig(iters=60, limb_iters=40))
    true_root = gt["frames"]["viewmat"] @ gt["frames"]["root"]
    err = roma.rotmat_geodesic_distance(true_root[:, :3, :3], fit.root[:, :3, :3])
    assert float(err.max()) < math.radians(35), torch.rad2deg(err)


def test_body_orientation_error_is_reported(anny, drop):
    """PA-MPJPE hides the body's orientation; root_deg and facing_flipped_share show it."""
    gt = load_ground_truth(drop / "ground_truth" / "vid_001")
    true = fit_from_ground_truth(gt)
    m = evaluate_fit(true, gt, anny)
    assert m["root_deg"] < 0.1 and m["facing_flipped_share"] == 0.0, m
    turned = replace(true, root=true.root.clone())
    half = torch.arange(true.root.shape[0]) % 2 == 0
    about_up = roma.rotvec_to_rotmat(torch.tensor([0.0, 0.0, math.radians(150)]))  # Z: the body's up
    turned.root[half, :3, :3] = turned.root[half, :3, :3] @ about_up
    e = frame_errors(turned, gt, anny)
    assert np.allclose(e["root_deg"][half.numpy()], 150, atol=0.1)
    assert np.allclose(e["root_deg"][~half.numpy()], 0, atol=0.1)
    m = evaluate_fit(turned, gt, anny)
    assert m["facing_flipped_share"] == 0.5 and abs(m["root_deg"] - 75) < 0.1, m


def test_left_right_swaps_of_the_detector_are_undone(anny, drop):
    """Seen from behind, detectors flip left and right labels in some frames (whole body or by
    groups): the fit reads those frames swapped instead of turning the person round."""
    gt = load_ground_truth(drop / "ground_truth" / "vid_001")
    det = detections_from_ground_truth(gt, noise=0.01, seed=2)
    flip = [3, 7]
    det.keypoints[flip] = det.keypoints[flip][:, LR_SWAP]
    legs = 9  # only the legs' labels flipped
    det.keypoints[legs] = det.keypoints[legs][[i if i < 11 else LR_SWAP[i] for i in range(17)]]
    fit = fit_video(det, anny, FitConfig(iters=60, limb_iters=40))
    true_root = gt["frames"]["viewmat"] @ gt["frames"]["root"]
    err = roma.rotmat_geodesic_distance(true_root[:, :3, :3], fit.root[:, :3, :3])
    assert float(err.max()) < math.radians(35), torch.rad2deg(err)
    assert float(fit.reproj_error_px[flip + [legs]].max()) < 8.0, fit.reproj_error_px  # against the labels as read
    assert sorted(p[1] for p in label_swaps())[0] == list(range(17)) and len(label_swaps()) == 8


def test_facing_cue():
    conf = torch.full((2, 17), 0.9)
    conf[1, :5] = 0.0  # frame 1: shoulders but no face
    front = torch.tensor([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # facing the camera
    back = roma.rotvec_to_rotmat(torch.tensor([0.0, math.pi, 0.0])) @ front  # turned round
    rot = torch.stack([front.expand(2, 3, 3), back.expand(2, 3, 3)])  # (H=2, F=2)
    cost = facing_cost(conf, rot)
    assert cost[:, 0].abs().max() == 0  # a visible face says nothing
    assert float(cost[0, 1]) > 0.9 and float(cost[1, 1]) == 0.0


def _detections(gt, **kw) -> VideoDetections:
    return detections_from_ground_truth(gt, noise=0.01, seed=3, **kw)


def test_frames_without_a_person_are_reported_not_crashed(anny, gt0):
    det = _detections(gt0)
    n = det.keypoints.shape[0]
    det.detected[:2] = False  # at the start: nothing to interpolate from
    det.confidence[:2] = 0
    det.keypoints[:2] = 0
    det.masks[0] = False  # frame 0: nobody at all; frame 1: a person mask but no pose
    det.confidence[-1, 4:] = 0  # the last frame: only 4 keypoints
    fit = fit_video(det, anny, FitConfig(iters=40, limb_iters=20))
    assert fit.fitted.tolist() == [False, False] + [True] * (n - 3) + [False]
    assert fit.reasons[0].startswith("no person detected") and "not interpolated" in fit.reasons[0]
    assert fit.reasons[1].startswith("no pose found, but a person mask") and "not interpolated" in fit.reasons[1]
    assert fit.reasons[-1].startswith("only 4 keypoints detected")
    assert bool(torch.isnan(fit.reproj_error_px[[0, 1, -1]]).all())
    assert float(fit.keypoint_confidence[0]) == 0.0
    assert all(r == "" for r in fit.reasons[2:-1])

    nobody = _detections(gt0)
    nobody.detected[:] = False
    nobody.confidence[:] = 0
    nobody.masks = None
    fit = fit_video(nobody, anny)
    assert not fit.fitted.any() and all(r.startswith("no person detected") for r in fit.reasons)
    assert torch.isnan(fit.reproj_error_px).all()
    m = evaluate_fit(fit, gt0, anny)
    assert m["fitted_share"] == 0.0 and math.isnan(m["pa_mpjpe_mm"])


def test_gap_frames_are_interpolated(anny, gt0):
    det = _detections(gt0)
    gap = [5, 6]
    det.confidence[gap, 3:] = 0  # 3 keypoints left: too few to fit directly
    fit = fit_video(det, anny, FitConfig(iters=80, limb_iters=40))
    assert fit.fitted.all()
    for i in gap:
        assert fit.reasons[i] == ("interpolated from frames 4 and 7 "
                                  "(only 3 keypoints detected (need 6 with confidence > 0.3))")
    # the interpolated root lies between its neighbours
    t = fit.root[:, :3, 3]
    for i in gap:
        lo, hi = torch.minimum(t[4], t[7]) - 1e-5, torch.maximum(t[4], t[7]) + 1e-5
        assert bool(((t[i] >= lo) & (t[i] <= hi)).all())
    e = frame_errors(fit, gt0, anny)
    assert np.isfinite(e["pa_mpjpe"][gap]).all() and e["pa_mpjpe"][gap].max() < 150
    q = quality_table({"v": fit})
    assert q["interpolated"].tolist() == [i in gap for i in range(len(q))]

    long_gap = _detections(gt0)
    long_gap.confidence[2:9, 3:] = 0
    fit = fit_video(long_gap, anny, FitConfig(iters=20, limb_iters=10, max_gap=4))
    assert not fit.fitted[2:9].any() and "gap longer than 4 frames" in fit.reasons[5]


def test_frame_status_reasons():
    det = VideoDetections(keypoints=torch.zeros(3, 17, 2), confidence=torch.zeros(3, 17), boxes=torch.zeros(3, 4),
                          detected=torch.tensor([False, True, True]), masks=None, width=64, height=48, fps=10.0)
    det.confidence[1, :5] = 0.9
    det.confidence[2, :6] = 0.31
    direct, reasons = frame_status(det, FitConfig())
    assert direct.tolist() == [False, False, True]
    assert reasons == ["no person detected", "only 5 keypoints detected (need 6 with confidence > 0.3)", ""]


def test_silhouette_term_runs(anny, gt0):
    det = _detections(gt0)
    det.keypoints, det.confidence, det.detected = det.keypoints[:4], det.confidence[:4], det.detected[:4]
    det.masks = det.masks[:4]
    fit = fit_video(det, anny, FitConfig(silhouette=True, iters=20, limb_iters=10))
    assert fit.fitted.all() and bool(torch.isfinite(fit.root).all())


# ----------------------------------------------------------------------------- files
def test_store_round_trip_and_quality_table(tmp_path, fit0, gt0, anny):
    fit = fit0
    fit.reasons = list(fit.reasons)
    other = load_fit(save_fit(fit, tmp_path / "x.safetensors"))  # plain save/load
    path = save_fits(tmp_path / "fits", {"vid_000": fit, "b": other}, meta={"detector": "gt"})
    back = load_fit(tmp_path / "fits" / "vid_000.safetensors")
    for key in ("shape", "joint_rotations", "root", "K", "fitted", "reproj_error_px", "keypoint_confidence"):
        assert _equal(getattr(back, key), getattr(fit, key).float() if key != "fitted" else fit.fitted), key
    assert (back.body_model, back.width, back.height, back.reasons) == (fit.body_model, fit.width, fit.height,
                                                                         fit.reasons)
    assert load_fit_meta(tmp_path / "fits" / "vid_000.safetensors") == {"detector": "gt"}
    q = load_quality(path)
    assert q["video"].tolist() == ["b"] * 12 + ["vid_000"] * 12
    assert q["fitted"].all() and (q["reason"] == "").all() and q["reproj_error_px"].notna().all()
    assert q.equals(load_quality(tmp_path / "fits"))
    # the schema rejects inconsistent rows
    broken = q.copy()
    broken.loc[3, "fitted"] = False  # not fitted without a reason
    with pytest.raises(pandera.errors.SchemaError):
        QualitySchema.validate(broken)
    broken = q.copy()
    broken.loc[3, "keypoint_confidence"] = 1.5
    with pytest.raises(pandera.errors.SchemaError):
        QualitySchema.validate(broken)
    with pytest.raises(ValueError, match="not a body fit"):
        from safetensors.torch import save_file

        save_file({"a": torch.zeros(1)}, str(tmp_path / "plain.safetensors"))
        load_fit(tmp_path / "plain.safetensors")


def test_evaluate_drop(tmp_path, drop, fit0, anny):
    fits = tmp_path / "fits"
    save_fits(fits, {"vid_000": fit0})  # vid_001 has no fit: its frames count as unfitted
    report = evaluate_drop(fits, drop, anny)
    assert set(report["videos"]) == {"vid_000", "vid_001"}
    assert report["videos"]["vid_001"]["fitted_share"] == 0.0 and report["videos"]["vid_001"]["fit"] is None
    o = report["overall"]
    assert o["frames"] == 24 and o["fitted_frames"] == 12 and o["fitted_share"] == 0.5
    assert o["pa_mpjpe_mm"] == report["videos"]["vid_000"]["pa_mpjpe_mm"] <= 60


# ----------------------------------------------------------------------------- SMPL-X
@pytest.fixture(scope="module")
def smplx_body(tmp_path_factory):
    from genlca.body.smplx_body import SMPLXBody
    from tests.smplx_fixture import write_synthetic_smplx

    cache = tmp_path_factory.mktemp("genlca-cache")
    folder = tmp_path_factory.mktemp("smplx")
    write_synthetic_smplx(folder, uv="obj")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENLCA_CACHE", str(cache))
        yield SMPLXBody(folder)
    shutil.rmtree(cache, ignore_errors=True)


def test_fast_smplx_keypoints_match_the_body_model(smplx_body):
    torch.manual_seed(2)
    art = make_articulator(smplx_body, n_vertices=300)
    assert type(art).__name__ == "_SMPLXArticulator"
    rot = roma.rotvec_to_rotmat(torch.randn(4, 17, 3) * 0.5)
    shape = torch.randn(smplx_body.default_shape().shape[1]) * 0.5
    kp, verts = art(shape, rot, vertices=True)
    kp_ref, verts_ref = _GenericArticulator(smplx_body, 300)(shape, rot, vertices=True)
    assert (kp - kp_ref).abs().max() < 1e-4 and (verts - verts_ref).abs().max() < 1e-4


def test_smplx_fitting_runs_and_reduces_the_error(smplx_body):
    """Keypoints (+ 1.5 px noise) of a walking, waving SMPL-X body seen by a camera: fitting
    must get much closer than its root-only start, to about the noise."""
    body = smplx_body
    n, size = 6, 256
    phase = torch.linspace(0, math.pi, n)
    pose = walk(phase) | wave(phase)  # walking, the right arm raised and waving
    cam = torch.eye(4).repeat(n, 1, 1)  # body -> camera: facing the camera, 3.5 m away
    cam[:, :3, :3] = torch.tensor([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]) @ turn(torch.full((n,), 0.4))[:, :3, :3]
    cam[:, :3, 3] = torch.tensor([0.05, 0.1, 3.5])
    with torch.no_grad():
        verts = body.pose(body.default_shape(n), pose, cam).vertices
        kp = body.keypoints(verts)
    K = torch.tensor([[1.4 * size, 0, size / 2], [0, 1.4 * size, size / 2], [0, 0, 1]])
    uv = project(kp, K) + torch.randn(n, 17, 2, generator=torch.Generator().manual_seed(0)) * 1.5
    det = VideoDetections(keypoints=uv, confidence=torch.full((n, 17), 0.9), boxes=torch.zeros(n, 4),
                          detected=torch.ones(n, dtype=torch.bool), masks=None, width=size, height=size, fps=12.0)
    start = fit_video(det, body, FitConfig(limb_search=False, limb_iters=0, iters=0))
    fit = fit_video(det, body, FitConfig(iters=80, limb_iters=40))
    assert fit.body_model == "smplx" and fit.fitted.all() and fit.shape.shape == (body.default_shape().shape[1],)
    assert float(fit.reproj_error_px.mean()) < 0.3 * float(start.reproj_error_px.mean())
    assert float(fit.reproj_error_px.mean()) < 3.0


# ----------------------------------------------------------------------------- slow: targets
@pytest.mark.slow
@pytest.mark.parametrize("regime, metric, target",
                         [("full", "pa_mpjpe_mm", 60.0), ("partial", "pa_mpjpe_visible_mm", 90.0)])
def test_targets_on_a_synthetic_drop(tmp_path, anny, regime, metric, target):
    """The issue's targets on 4 videos x 24 frames, detections = GT + 1.5% of height noise."""
    drop = tmp_path / regime
    generate_drop(drop, videos=4, frames=24, size=256, regime=regime, seed=5)
    fits = {}
    for g in sorted((drop / "ground_truth").iterdir()):
        if g.is_dir():
            fits[g.name] = fit_video(detections_from_ground_truth(load_ground_truth(g), noise=0.015, seed=1), anny)
    save_fits(tmp_path / "fits", fits)
    report = evaluate_drop(tmp_path / "fits", drop, anny)
    assert report["overall"]["fitted_share"] == 1.0
    assert report["overall"][metric] <= target, report["overall"]
    assert isinstance(load_quality(tmp_path / "fits"), pd.DataFrame)


# ----------------------------------------------------------------------------- real photos
PHOTOS = {"messi5": Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg"), "astronaut": None}


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_fit_real_photo_reprojects_onto_the_detections(tmp_path, anny, name):
    """A full-body (messi5, opencv-doc) and a waist-up (skimage astronaut) photo: the fitted
    keypoints land within 5% of the person's height of the confident detections, and the
    overlay picture is written at the photo's size."""
    from PIL import Image

    from genlca.fitting.pipeline import fit_image

    path = PHOTOS[name]
    if path is None:
        skimage_data = pytest.importorskip("skimage.data")
        path = tmp_path / f"{name}.png"
        Image.fromarray(skimage_data.astronaut()).save(path)
    elif not path.is_file():
        pytest.skip(f"{path} absent (Debian package opencv-doc)")
    r = fit_image(path, tmp_path / "fits", anny)
    assert bool(r.fit.fitted[0]) and r.fit.reasons == [""]
    assert r.keypoint_error < 0.05, r.keypoint_error
    with Image.open(r.overlay_file) as im:
        assert im.size == Image.open(path).size
    assert load_fit(r.fit_file).joint_rotations.shape == (1, 17, 3, 3)
    confident = r.detections.confidence[0] >= 0.5
    assert int(confident.sum()) >= (12 if name == "messi5" else 6)  # whole body vs head and shoulders


@pytest.mark.slow
@pytest.mark.parametrize("regime, seed", [("full", 5), ("partial", 15)])
def test_targets_with_real_detections(tmp_path, anny, regime, seed):
    """The issue's targets with mediapipe detections (what `genlca fit` runs): regime full
    PA-MPJPE <= 60 mm (the acceptance drop: seed 5); regime partial <= 90 mm on the visible
    joints and >= 95% of the frames with the head in view fitted. Legs-only frames have no pose;
    they are reported unfitted with the reason."""
    from genlca.data.ingest import ingest_drop
    from genlca.fitting.pipeline import fit_drop

    drop = tmp_path / regime
    generate_drop(drop, videos=4, frames=24, size=256, regime=regime, seed=seed)
    fit_drop(drop, ingest_drop(drop), tmp_path / "fits", anny)
    o = evaluate_drop(tmp_path / "fits", drop, anny)["overall"]
    assert o["fitted_share_head_in_view"] >= 0.95, o
    if regime == "full":
        assert o["pa_mpjpe_mm"] <= 60.0, o
    else:
        assert o["pa_mpjpe_visible_mm"] <= 90.0, o
        assert o["fitted_share_by_framing"].get("lower", 0.0) < 0.5, o  # legs only: no pose, no fit
        q = load_quality(tmp_path / "fits")
        lower = q[~q["fitted"]]
        assert len(lower) and lower["reason"].str.len().gt(0).all()


def test_fit_names_never_collide():
    from genlca.fitting.store import fit_names

    paths = ["a/x.mp4", "b/x.mp4", "x.png", "y.mp4", "c/z.jpg"]
    names = fit_names(paths)
    assert names["y.mp4"] == "y" and names["c/z.jpg"] == "z"  # unique stems stay the video's name
    assert len(set(names.values())) == len(paths) and not any("/" in n for n in names.values())


def test_fit_files_carry_the_person_masks(tmp_path, fit0, gt0):
    from genlca.fitting.store import load_fit_masks

    masks = gt0["frames"]["person_mask"]
    path = save_fit(fit0, tmp_path / "m.safetensors", masks=masks)
    assert torch.equal(load_fit_masks(path), masks)
    assert load_fit_masks(save_fit(fit0, tmp_path / "n.safetensors")) is None
    with pytest.raises(ValueError, match="masks are"):
        save_fit(fit0, tmp_path / "o.safetensors", masks=masks[:, :10])
