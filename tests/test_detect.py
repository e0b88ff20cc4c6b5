"""Detection for body fits: mediapipe keypoints + person masks of the main subject of a video,
HOG proposals for small people, tracking, and the pluggable detector protocol."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from genlca.body import COCO_KEYPOINTS
from genlca.data.video import write_video
from genlca.fitting.detect import (
    MEDIAPIPE_TO_COCO,
    KeypointDetector,
    MediaPipeDetector,
    PersonDetection,
    detect_image,
    detect_video,
    implausible,
)
from genlca.fitting.tracking import box_iou, main_track, nms
from genlca.fitting.types import VideoDetections

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
VTEST = OPENCV_DATA / "vtest.avi"
MESSI = OPENCV_DATA / "messi5.jpg"
K = {k: i for i, k in enumerate(COCO_KEYPOINTS)}
LR_SWAP = [0] + [i + (1 if i % 2 else -1) for i in range(1, 17)]  # COCO left <-> right


@pytest.fixture(scope="module")
def detector():
    det = MediaPipeDetector()
    yield det
    det.close()


def _drop(tmp_path_factory, name, **kw):
    from genlca.data.synth import generate_drop

    out = tmp_path_factory.mktemp(name) / "drop"
    generate_drop(out, size=256, **kw)
    return out


@pytest.fixture(scope="module")
def full_drop(tmp_path_factory):
    return _drop(tmp_path_factory, "full", videos=2, frames=8, regime="full", seed=5)


@pytest.fixture(scope="module")
def lower_drop(tmp_path_factory):
    return _drop(tmp_path_factory, "lower", videos=1, frames=8, regime="partial", seed=6)  # legs only


def _check_format(d: VideoDetections, frames: int, width: int, height: int):
    assert d.keypoints.shape == (frames, 17, 2) and d.keypoints.dtype == torch.float32
    assert d.confidence.shape == (frames, 17) and d.boxes.shape == (frames, 4)
    assert d.detected.shape == (frames,) and d.detected.dtype == torch.bool
    assert (d.width, d.height) == (width, height)
    assert float(d.confidence.min()) >= 0 and float(d.confidence.max()) <= 1
    assert not d.confidence[~d.detected].any()  # zero confidence where the subject was not found
    if d.masks is not None:
        assert d.masks.shape == (frames, height, width) and d.masks.dtype == torch.bool
        assert not d.masks[d.boxes.sum(1) == 0].any()  # masks only where the subject is (maybe pose-less)
    inside = ((d.keypoints >= 0) & (d.keypoints < torch.tensor([width, height]))).all(-1)
    assert not (d.confidence > 0)[~inside].any()  # confident keypoints lie in the image


def _person_height(mask: torch.Tensor) -> float:
    rows = torch.nonzero(mask.any(dim=1)).ravel()
    return float(rows.max() - rows.min() + 1)


# ------------------------------------------------------------------ pure logic (no mediapipe)
def test_mapping_and_boxes():
    assert len(MEDIAPIPE_TO_COCO) == len(COCO_KEYPOINTS) == 17
    assert MEDIAPIPE_TO_COCO[K["left_shoulder"]] == 11 and MEDIAPIPE_TO_COCO[K["right_ankle"]] == 28
    a = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [100, 100, 110, 110]], float)
    iou = box_iou(a, a)
    assert np.allclose(np.diag(iou), 1) and iou[0, 1] == pytest.approx(50 / 150) and iou[0, 2] == 0
    assert nms(a, np.array([0.5, 0.9, 0.1]), iou=0.3) == [1, 2]


def test_main_track_is_the_largest_persistent_person_and_survives_cuts():
    rng = np.random.default_rng(0)
    boxes, weights = [], []
    for t in range(30):  # a big person walking right, a small one walking left, a short-lived big one
        b = [[10 + 3 * t, 50, 40 + 3 * t, 150], [300 - 2 * t, 80, 310 - 2 * t, 110]]
        if 10 <= t < 13:
            b.append([400, 0, 460, 200])
        b = np.array(b, float) + rng.normal(0, 1, (len(b), 4))
        order = rng.permutation(len(b))  # detectors list people in any order
        boxes.append(b[order])
        weights.append(np.ones(len(b)))
    chosen = main_track(boxes, weights, height=200)
    assert sorted(chosen) == list(range(30))
    xs = [boxes[t][i, 0] for t, i in chosen.items()]
    assert np.all(np.abs(np.diff(xs) - 3) < 5)  # always the big walker
    # A single-person video cut into two shots: both shots belong to the subject.
    shots = [np.array([[10, 10, 50, 110]], float)] * 5 + [np.array([[200, 40, 260, 190]], float)] * 5
    assert sorted(main_track(shots, [np.ones(1)] * 10, height=200)) == list(range(10))
    # Missing frames (nobody found) are simply absent.
    gaps = [np.zeros((0, 4))] * 3 + [np.array([[10, 10, 50, 110]], float)] * 4
    assert sorted(main_track(gaps, [np.zeros(0)] * 3 + [np.ones(1)] * 4, height=200)) == [3, 4, 5, 6]


def test_implausible_poses():
    # A standing person: 33 mediapipe landmarks in a 200x200 image, head up.
    xy = np.zeros((33, 2))
    xy[:11] = [100, 30]
    xy[[11, 12]] = [[115, 60], [85, 60]]
    xy[[13, 14, 15, 16]] = [[120, 90], [80, 90], [122, 115], [78, 115]]
    xy[17:23] = [100, 115]
    xy[[23, 24]] = [[110, 115], [90, 115]]
    xy[[25, 26, 27, 28]] = [[110, 150], [90, 150], [110, 185], [90, 185]]
    xy[29:33] = [100, 190]
    vis = np.ones(33)
    seg = np.zeros((200, 200), np.float32)
    seg[25:195, 70:130] = 1
    assert implausible(xy, vis, (200, 200), seg) == ""
    upside_down = xy * [1, -1] + [0, 200]
    assert implausible(upside_down, vis, (200, 200)) in ("not upright", "folded")
    assert implausible(upside_down, vis, (200, 200), upright=None) == ""
    folded = xy.copy()
    folded[[25, 26]] = [[110, 80], [90, 80]]  # knees back up at the chest
    assert implausible(folded, vis, (200, 200)) == "folded"
    assert implausible(xy, vis, (200, 200), np.zeros_like(seg)) == "off-mask"
    assert implausible(xy + 500, vis, (200, 200)) == "empty"
    squashed = xy.copy()
    squashed[[11, 12]] = [[180, 100], [20, 100]]
    squashed[[23, 24]] = [[110, 110], [90, 110]]
    assert implausible(squashed, vis, (200, 200)) == "squashed"


class _FakeDetector:
    """A detector from elsewhere: a bright square is 'a person' with keypoints on a grid."""

    name = "fake-square"

    def __init__(self):
        self.resets = 0

    def reset(self):
        self.resets += 1

    def detect(self, frame_rgb):
        ys, xs = np.nonzero(frame_rgb[..., 0] > 128)
        if len(ys) == 0:
            return []
        x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        kp = np.stack([np.linspace(x0, x1, 17), np.linspace(y0, y1, 17)], 1).astype(np.float32)
        return [PersonDetection(kp, np.full(17, 0.9, np.float32), np.array([x0, y0, x1, y1], np.float32),
                                frame_rgb[..., 0] > 128, 0.9)]


def test_detectors_are_pluggable(tmp_path):
    frames = np.zeros((10, 48, 64, 3), np.uint8)
    for t in range(10):
        if t != 4:  # frame 4: nobody
            frames[t, 10:30, 5 + 2 * t:20 + 2 * t] = 255
    path = write_video(tmp_path / "sq.mp4", frames, fps=10)
    fake = _FakeDetector()
    assert isinstance(fake, KeypointDetector) and isinstance(MediaPipeDetector, type)
    d = detect_video(path, fake)
    assert fake.resets == 1 and d.detector == "fake-square" and d.fps == pytest.approx(10)
    _check_format(d, 10, 64, 48)
    assert d.detected.tolist() == [t != 4 for t in range(10)]
    assert d.masks is not None and int(d.masks[0].sum()) > 200 and not d.masks[4].any()
    assert torch.all(d.boxes[4] == 0) and abs(float(d.boxes[6, 0]) - 17) <= 1
    d2 = detect_video(path, fake, max_frames=3, stride=2, keep_masks=False)
    assert d2.keypoints.shape[0] == 3 and d2.fps == pytest.approx(5) and d2.masks is None
    assert torch.allclose(d2.boxes[1], d.boxes[2])


# ------------------------------------------------------------------ mediapipe on synthetic renders
def test_full_body_renders_match_ground_truth(full_drop, detector):
    from genlca.data.synth import load_ground_truth

    for name in ("vid_000", "vid_001"):
        d = detect_video(full_drop / "videos" / f"{name}.mp4", detector)
        gt = load_ground_truth(full_drop / "ground_truth" / name)
        fr, views = gt["frames"], gt["subject"]["frame_views"]
        F = len(views)
        _check_format(d, F, 256, 256)
        assert d.detector.startswith("mediapipe==0.10.21 pose(complexity=1,static)")
        assert int(d.detected.sum()) >= F - 1, name
        errs, swapped, ious = [], [], []
        for t in np.flatnonzero(d.detected.numpy()):
            vis = fr["keypoints_in_frame"][t].bool()
            h = _person_height(fr["person_mask"][t])
            e = (d.keypoints[t] - fr["keypoints_2d"][t]).norm(dim=-1)[vis].mean() / h
            e_sw = (d.keypoints[t][LR_SWAP] - fr["keypoints_2d"][t]).norm(dim=-1)[vis].mean() / h
            errs.append(float(min(e, e_sw)))
            if views[t] != "back":  # from behind mediapipe often mirrors the whole person
                swapped.append(bool(e_sw < e))
            m, g = d.masks[t], fr["person_mask"][t]
            ious.append(float((m & g).sum() / (m | g).sum()))
        assert np.mean(errs) < 0.05, (name, errs)
        assert sum(swapped) <= len(swapped) // 4, (name, swapped)
        assert np.mean(ious) > 0.7, (name, ious)
        # Boxes hold the person.
        b = d.boxes[d.detected]
        assert torch.all(b[:, 2] > b[:, 0]) and torch.all(b[:, 3] > b[:, 1])


def test_video_mode_agrees_with_static_mode(full_drop, detector):
    path = full_drop / "videos" / "vid_000.mp4"
    static = detect_video(path, detector)
    with MediaPipeDetector(static_image_mode=False) as det:
        a = detect_video(path, det)
        b = detect_video(path, det)  # reset() between videos: the same again
    assert "video" in a.detector and bool(a.detected.all())
    assert torch.allclose(a.keypoints, b.keypoints, atol=1e-3)
    both = a.detected & static.detected
    assert float((a.keypoints[both] - static.keypoints[both]).norm(dim=-1).mean()) < 0.03 * 256


def test_legs_only_frames_are_not_detected(lower_drop, detector):
    from genlca.data.synth import load_ground_truth

    gt = load_ground_truth(lower_drop / "ground_truth" / "vid_000")
    assert set(gt["subject"]["frame_framings"]) == {"lower"}
    d = detect_video(lower_drop / "videos" / "vid_000.mp4", detector)
    _check_format(d, 8, 256, 256)
    assert int(d.detected.sum()) <= 2  # no head, no detection (mediapipe's raw skeletons here are nonsense)
    fr = gt["frames"]
    # ... but the person's mask is found (selfie segmentation), so fits can say why they are missing.
    masked = d.masks.flatten(1).any(dim=1)
    assert int(masked.sum()) >= 6
    inter = (d.masks & fr["person_mask"]).flatten(1).sum(1).float()
    union = (d.masks | fr["person_mask"]).flatten(1).sum(1).float().clamp(min=1)
    assert float((inter / union)[masked].median()) > 0.7
    for t in np.flatnonzero(d.detected.numpy()):  # whatever is reported is right
        vis = fr["keypoints_in_frame"][t].bool()
        e = (d.keypoints[t] - fr["keypoints_2d"][t]).norm(dim=-1)[vis].mean() / _person_height(fr["person_mask"][t])
        assert float(e) < 0.1


# ------------------------------------------------------------------ real photos and footage
def _check_upright(d: VideoDetections, hips: bool = True):
    kp, c = d.keypoints[0], d.confidence[0]
    assert bool(d.detected[0])
    for k in ("nose", "left_shoulder", "right_shoulder"):
        assert float(c[K[k]]) > 0.5, k
    shoulders_y = float(kp[[K["left_shoulder"], K["right_shoulder"]], 1].mean())
    assert float(kp[K["nose"], 1]) < shoulders_y  # nose above the shoulders
    if hips:
        assert float(kp[[K["left_hip"], K["right_hip"]], 1].mean()) > shoulders_y + 30
    # Frontal photos: the subject's left shoulder is on the right of the image.
    assert float(kp[K["left_shoulder"], 0]) > float(kp[K["right_shoulder"], 0])
    x0, y0, x1, y1 = d.boxes[0].tolist()
    assert 0 <= x0 < x1 <= d.width and 0 <= y0 < y1 <= d.height
    assert x0 <= float(kp[K["nose"], 0]) <= x1 and y0 <= float(kp[K["nose"], 1]) <= y1
    m = d.masks[0]
    assert m.float().mean() > 0.05 and bool(m[int(kp[K["nose"], 1]), int(kp[K["nose"], 0])])


@pytest.mark.skipif(not MESSI.is_file(), reason=f"{MESSI} absent (Debian package opencv-doc)")
def test_photo_messi(detector):
    d = detect_image(MESSI, detector)
    _check_format(d, 1, 548, 342)
    assert d.fps == 1.0
    _check_upright(d)


def test_photo_astronaut(detector):
    skimage_data = pytest.importorskip("skimage.data")
    img = skimage_data.astronaut()
    d = detect_image(img, detector)
    _check_format(d, 1, 512, 512)
    _check_upright(d, hips=False)  # a bust: the hips are below the picture
    assert float(d.confidence[0, K["left_ankle"]]) == 0  # out of the image
    rgba = np.concatenate([img, np.full(img.shape[:2] + (1,), 255, np.uint8)], axis=2)
    d2 = detect_image(rgba, detector)
    assert torch.allclose(d2.keypoints, d.keypoints, atol=1e-3)


@pytest.mark.skipif(not VTEST.is_file(), reason=f"{VTEST} absent (Debian package opencv-doc)")
def test_pedestrians_are_found_and_one_is_tracked(detector):
    from genlca.data.video import iter_frames

    first = next(iter_frames(VTEST))[1]
    boxes, scores = detector.people_boxes(first)
    assert len(boxes) >= 2  # several pedestrians, each ~15% of the frame height
    assert np.all((boxes[:, 3] - boxes[:, 1]) < 0.3 * first.shape[0])
    d = detect_video(VTEST, detector, max_frames=20, stride=2)  # the first 40 frames
    _check_format(d, 20, 768, 576)
    assert d.fps == pytest.approx(5.0)
    assert int(d.detected.sum()) >= 14
    present = np.flatnonzero((d.boxes[:, 2] > 0).numpy())
    assert len(present) >= 16
    c = ((d.boxes[:, :2] + d.boxes[:, 2:]) / 2).numpy()
    steps = np.diff(present)
    jumps = np.linalg.norm(np.diff(c[present], axis=0), axis=1) / steps
    h = (d.boxes[present, 3] - d.boxes[present, 1]).numpy()
    assert np.all((h > 40) & (h < 200))
    # The same walker all along: ~8 px of walking per 2 frames plus box jitter (arms swing);
    # other people are a body height or more away.
    assert jumps.max() < 0.4 * np.median(h), jumps
    # The subject's keypoints: head above hips in every detected frame.
    det = d.detected.numpy()
    kp = d.keypoints[det].numpy()
    assert np.all(kp[:, K["nose"], 1] < kp[:, [K["left_hip"], K["right_hip"]], 1].mean(1))


@pytest.mark.slow
@pytest.mark.skipif(not VTEST.is_file(), reason=f"{VTEST} absent (Debian package opencv-doc)")
def test_pedestrians_long_and_speed():
    with MediaPipeDetector() as det:
        t0 = time.perf_counter()
        d = detect_video(VTEST, det, max_frames=120)
        fps = 120 / (time.perf_counter() - t0)
    present = np.flatnonzero((d.boxes[:, 2] > 0).numpy())
    c = ((d.boxes[:, :2] + d.boxes[:, 2:]) / 2).numpy()
    jumps = np.linalg.norm(np.diff(c[present], axis=0), axis=1) / np.diff(present)
    h = float(np.median((d.boxes[present, 3] - d.boxes[present, 1]).numpy()))
    print(json.dumps({"vtest_fps": round(fps, 2), "detected": int(d.detected.sum()), "present": len(present),
                      "max_jump": float(jumps.max()), "timings": det.timings, "rejected": det.rejected}))
    assert int(d.detected.sum()) >= 60 and len(present) >= 70 and jumps.max() < 0.25 * h
