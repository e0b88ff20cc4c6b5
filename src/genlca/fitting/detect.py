"""2D keypoints and person masks of the main subject of a video (detection for body fits).

    dets = detect_video("clip.mp4")          # VideoDetections (genlca.fitting.types)
    dets = detect_image("photo.jpg")         # the same with F = 1

Detectors are pluggable: anything with a `name` and `detect(frame_rgb) -> list[PersonDetection]`
(`KeypointDetector`). The default, `MediaPipeDetector`, runs mediapipe Pose (BlazePose,
complexity 1) on the whole frame; when it finds nobody or a small person (box under
`small_person` of the frame height), OpenCV's HOG people detector proposes people, each is cut
out with a margin, resized to `crop_size` and given to Pose, and the keypoints are mapped back.
Person masks come from Pose's own segmentation (default) or SelfieSegmentation, on the same
image Pose saw (whole frame or crop), restricted to the person's box. Poses that cannot be a
person (BlazePose always returns a whole skeleton, also for a pair of legs) are dropped
(`implausible`). `detect_video` links the candidates of all frames into tracks by box overlap
and keeps the main subject (`genlca.fitting.tracking`).

Measured (272 synthetic 256x256 frames, 2-core CPU): whole-body frames all found, mean keypoint
error 1.9% of the person's height (3.8% counting back views that mediapipe mirrors left/right,
42% of back-view frames), mask IoU 0.95 (Pose segmentation) vs 0.89 (SelfieSegmentation);
legs-only frames 23% found (error 5%). Static mode (the default) at ~30 frames/s; video mode
(Pose tracks its region) ~51 frames/s but lags a few frames after a cut; frames that go to the
HOG path ~12 frames/s at 256 px, ~3 frames/s on 768x576 street footage with 4-6 people.

Conventions: keypoints in pixels, x right, y down, pixel centres at +0.5 (x = landmark.x *
width), COCO-17 order (`genlca.body.COCO_KEYPOINTS`); confidence = the landmark's mediapipe
`visibility`, 0 for landmarks outside the image (or outside the crop Pose saw).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from genlca.data.video import iter_frames, video_fps
from genlca.fitting.tracking import BOX_ONLY_WEIGHT, box_overlap_min, main_track, nms

# mediapipe Pose landmark index of each COCO-17 keypoint.
MEDIAPIPE_TO_COCO: tuple[int, ...] = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)


@dataclass
class PersonDetection:
    """One person in one frame (pixel coordinates of that frame)."""

    keypoints: np.ndarray  # (17, 2) float32, COCO order
    confidence: np.ndarray  # (17,) float32 in [0, 1]; all 0 without a pose
    box: np.ndarray  # (4,) float32 x0, y0, x1, y1
    mask: np.ndarray | None = None  # (H, W) bool
    score: float = 0.0  # mean keypoint confidence (pose) or the people detector's score
    pose: bool = True  # False: a box (people detector) or a mask (segmentation) without a pose


@runtime_checkable
class KeypointDetector(Protocol):
    """A people detector. Optional extras that detect_video/detect_image use when present:
    `has_masks` (bool: return a masks tensor, all False where nobody was found, even when no
    frame has a person; without it, masks are returned when some candidate had one), `reset()`
    (called before each video) and `close()` is the caller's business."""

    name: str

    def detect(self, frame_rgb: np.ndarray) -> list[PersonDetection]:
        """People in one (H, W, 3) uint8 RGB frame, in any order."""
        ...


def implausible(xy: np.ndarray, vis: np.ndarray, image_hw: tuple[int, int], seg: np.ndarray | None = None,
                threshold: float = 0.5, upright: float | None = 0.5, max_shoulder_torso: float = 2.0) -> str:
    """Why a mediapipe pose (33 landmarks in image pixels, visibilities) is not a person, or "".

    BlazePose always returns a full skeleton, also where there is no person or no head
    (measured on synthetic renders of legs only: skeletons squeezed onto the legs, upside down,
    lying or with the thighs folded back over the torso; one found in a flower of a background
    photo). Correct poses of standing and walking people measured cos >= 0.99 for the torso
    against image-down, cos >= 0.92 for thigh against torso, shoulder width <= 0.76 torso lengths.
    - "folded": the thighs point back along the torso (cos(shoulders->hips, hips->knees) < -0.2);
    - "not upright": the torso is more than acos(`upright`) from image-down (None: any angle; this
      also drops people lying down or upside down, rare in footage made for avatars);
    - "squashed": shoulder width > `max_shoulder_torso` x shoulders-to-hips length;
    - "off-mask": fewer than half of the visible in-image torso landmarks (shoulders, hips; all
      visible landmarks when no torso one is) lie on the segmentation (`seg`, probabilities on
      the same image, looked up with a tolerance of 2% of the image size);
    - "empty": no landmark is both visible (>= 0.5) and inside the image."""
    ih, iw = image_hw
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < iw) & (xy[:, 1] >= 0) & (xy[:, 1] < ih)
    seen = inside & (vis >= 0.5)
    if not seen.any():
        return "empty"
    sh, hp, kn = xy[[11, 12]].mean(0), xy[[23, 24]].mean(0), xy[[25, 26]].mean(0)
    torso, thigh = hp - sh, kn - hp
    nt, nl = np.linalg.norm(torso), np.linalg.norm(thigh)
    if nt > 1e-6 and nl > 1e-6 and float(torso @ thigh) / (nt * nl) < -0.2:
        return "folded"
    if upright is not None and (nt <= 1e-6 or torso[1] / nt < upright):
        return "not upright"
    if np.linalg.norm(xy[11] - xy[12]) > max_shoulder_torso * nt:
        return "squashed"
    if seg is not None:
        torso_ids = np.array([11, 12, 23, 24])
        ids = torso_ids[seen[torso_ids]]
        if len(ids) == 0:
            ids = np.flatnonzero(seen)
        r = max(1, int(round(0.02 * max(ih, iw))))
        sh_, sw_ = seg.shape[:2]
        on = 0
        for i in ids:
            x = int(np.clip(xy[i, 0] * sw_ / iw, 0, sw_ - 1))
            y = int(np.clip(xy[i, 1] * sh_ / ih, 0, sh_ - 1))
            on += bool((seg[max(y - r, 0):y + r + 1, max(x - r, 0):x + r + 1] > threshold).any())
        if on * 2 < len(ids):
            return "off-mask"
    return ""


def _mediapipe():
    """mediapipe's Pose and SelfieSegmentation modules. Only the vision solutions are imported:
    `mediapipe.tasks.audio` pulls `sounddevice`, which fails without PortAudio."""
    try:
        import mediapipe.python.solutions.pose as pose
        import mediapipe.python.solutions.selfie_segmentation as selfie
    except OSError as e:  # pragma: no cover - depends on the machine
        raise ImportError(f"mediapipe's vision solutions failed to import ({e}); "
                          "install mediapipe==0.10.21 (see DESIGN.md)") from e
    return pose, selfie


_POSE_MODELS = {0: "pose_landmark_lite.tflite", 1: "pose_landmark_full.tflite", 2: "pose_landmark_heavy.tflite"}


def _check_pose_model(pose_module, complexity: int) -> None:
    """mediapipe's wheel ships only the complexity-1 landmark model; the others are downloaded
    from the internet at first use. Fail clearly instead of reaching for the network."""
    if complexity not in _POSE_MODELS:
        raise ValueError(f"model_complexity must be 0, 1 or 2, got {complexity}")
    path = Path(pose_module.__file__).resolve().parents[2] / "modules" / "pose_landmark" / _POSE_MODELS[complexity]
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: mediapipe ships only model_complexity=1 and downloads the "
                                "others at first use; use model_complexity=1 or place the model file there")


def _mediapipe_version() -> str:
    try:
        from importlib.metadata import version

        return version("mediapipe")
    except Exception:  # pragma: no cover
        return "?"


@dataclass(frozen=True)
class MediaPipeSettings:
    """Settings of `MediaPipeDetector` (which also takes them as keyword arguments).

    static_image_mode   True: Pose detects the person afresh in every frame (robust to cuts);
                        False: video mode, Pose tracks its region of interest from frame to frame
                        and smooths landmarks (call `reset()` between videos; detect_video does).
                        Crops always use a static graph.
    model_complexity    BlazePose 1 (full, in the wheel); 0 (lite) and 2 (heavy) need their model
                        file in mediapipe/modules/pose_landmark (mediapipe would download it).
    masks               "selfie" (SelfieSegmentation), "pose" (Pose's own segmentation) or None.
    selfie_model        SelfieSegmentation model 0 (general, 256x256) or 1 (landscape, 144x256).
    small_person        a whole-frame pose whose box is below this fraction of the frame height
                        (or no pose at all) sends the frame to the people detector.
    people_detector     use HOG proposals at all.
    min_person          the smallest person (fraction of the frame height) HOG should find; sets the
                        resampling of the frame HOG sees (its window finds people ~100 px tall).
    min_person_px       ... but never smaller than this many pixels (upscaling a 256 px frame 3x for
                        30 px people made HOG ~0.3 s a frame for little gain).
    max_people          at most this many HOG proposals (highest scores) get a pose per frame.
    hog_threshold, hog_scale_step  HOG's SVM score threshold and pyramid step (1.05 finds a few
                        more people at twice the time).
    crop_size, crop_margin  crops are squares of crop_margin x the proposal's height, resized to crop_size.
    upright, max_shoulder_torso  plausibility rules for poses (see `implausible`); implausible
                        poses count as not found (`rejected` counts them by reason).
    mask_people         where no pose is found at all, person masks from SelfieSegmentation (pieces
                        of at least `min_mask_area` of the frame) become pose-less people: frames
                        that show only the legs have no pose (mediapipe needs the head) but a mask,
                        so their fits can say a person is there (measured IoU 0.72-0.98 with the
                        true mask on legs-only renders).
    """

    static_image_mode: bool = True
    model_complexity: int = 1
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    masks: str | None = "pose"
    selfie_model: int = 0
    mask_threshold: float = 0.5
    small_person: float = 0.3
    people_detector: bool = True
    min_person: float = 0.12
    min_person_px: float = 48
    max_people: int = 6
    hog_threshold: float = 0.3
    hog_scale_step: float = 1.1
    crop_size: int = 256
    crop_margin: float = 1.2
    upright: float | None = 0.5
    max_shoulder_torso: float = 2.0
    mask_people: bool = True
    min_mask_area: float = 0.005

    def __post_init__(self):
        if self.masks not in ("selfie", "pose", None):
            raise ValueError(f"masks must be 'selfie', 'pose' or None, got {self.masks!r}")


class MediaPipeDetector:
    """mediapipe Pose (+ its segmentation or SelfieSegmentation), with OpenCV HOG people
    proposals for small people. Making the graphs is slow: reuse one detector for many videos
    (one per thread or process) and `close()` it (or use `with`). There is deliberately no
    `__del__`: closing mediapipe graphs while the interpreter shuts down hangs the process.
    Settings: `MediaPipeSettings`, given whole (`settings=`) and/or field by field.
    """

    def __init__(self, settings: MediaPipeSettings | None = None, **overrides):
        self.settings = replace(settings or MediaPipeSettings(), **overrides)
        self._pose_mod, self._selfie_mod = _mediapipe()
        _check_pose_model(self._pose_mod, self.settings.model_complexity)
        self._static = None
        self._video = None
        self._selfie = None
        self._hog = None
        self.timings = {"pose": 0.0, "selfie": 0.0, "hog": 0.0, "calls": 0}
        self.rejected: dict[str, int] = {}  # implausible poses dropped, by reason
        import cv2

        cfg = self.settings
        mode = "static" if cfg.static_image_mode else "video"
        seg = {"selfie": f"+selfie_segmentation(model={cfg.selfie_model})", "pose": "+pose_segmentation",
               None: ""}[cfg.masks]
        hog = f"+opencv=={cv2.__version__} HOG people" if cfg.people_detector else ""
        masked = "+selfie masks without pose" if self.mask_people else ""
        self.name = (f"mediapipe=={_mediapipe_version()} pose(complexity={cfg.model_complexity},{mode})"
                     f"{seg}{hog}{masked}")

    # ------------------------------------------------------------------ graphs
    def _new_pose(self, static: bool):
        return self._pose_mod.Pose(static_image_mode=static, model_complexity=self.settings.model_complexity,
                                   smooth_landmarks=True, enable_segmentation=self.settings.masks == "pose",
                                   smooth_segmentation=not static,
                                   min_detection_confidence=self.settings.min_detection_confidence,
                                   min_tracking_confidence=self.settings.min_tracking_confidence)

    @property
    def _static_pose(self):
        if self._static is None:
            self._static = self._new_pose(True)
        return self._static

    @property
    def _frame_pose(self):
        if self.settings.static_image_mode:
            return self._static_pose
        if self._video is None:
            self._video = self._new_pose(False)
        return self._video

    def reset(self) -> None:
        """Forget the video-mode tracking state (a new video starts)."""
        if self._video is not None:
            self._video.close()
            self._video = None

    def close(self) -> None:
        for g in (self._static, self._video, self._selfie):
            if g is not None:
                g.close()
        self._static = self._video = self._selfie = None

    @property
    def mask_people(self) -> bool:
        return self.settings.mask_people and self.settings.masks is not None

    @property
    def has_masks(self) -> bool:
        return self.settings.masks is not None

    def __enter__(self) -> "MediaPipeDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ pieces
    def _run_pose(self, graph, image: np.ndarray):
        t0 = time.perf_counter()
        res = graph.process(np.ascontiguousarray(image))
        self.timings["pose"] += time.perf_counter() - t0
        return res

    def _pose_and_mask(self, graph, image: np.ndarray):
        """Pose's result on `image` and, where it found someone, the person probabilities (or None)."""
        res = self._run_pose(graph, image)
        if res.pose_landmarks is None or self.settings.masks is None:
            return res, None
        return res, self._segment(image) if self.settings.masks == "selfie" else res.segmentation_mask

    def masked_people(self, frame: np.ndarray) -> list[PersonDetection]:
        """Pose-less people from the selfie segmentation of the whole frame: one per connected
        piece of at least `min_mask_area` of the frame, largest first."""
        from scipy import ndimage

        m = np.asarray(self._segment(frame)) > self.settings.mask_threshold
        # Pieces a few pixels apart are one person cut by an occluder or a thin limb.
        near = ndimage.binary_dilation(m, iterations=max(1, round(0.02 * max(m.shape))))
        labels, n = ndimage.label(near)
        labels = labels * m
        if n == 0:
            return []
        areas = np.bincount(labels.ravel(), minlength=n + 1)[1:n + 1]
        out = []
        for k in np.argsort(-areas):
            if areas[k] < self.settings.min_mask_area * m.size:
                break
            piece = labels == k + 1
            ys, xs = np.nonzero(piece)
            box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
            out.append(PersonDetection(np.zeros((17, 2), np.float32), np.zeros(17, np.float32), box, piece,
                                       float(areas[k]) / m.size, False))
        return out

    def _segment(self, image: np.ndarray) -> np.ndarray:
        if self._selfie is None:
            self._selfie = self._selfie_mod.SelfieSegmentation(model_selection=self.settings.selfie_model)
        t0 = time.perf_counter()
        res = self._selfie.process(np.ascontiguousarray(image))
        self.timings["selfie"] += time.perf_counter() - t0
        return res.segmentation_mask

    def people_boxes(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """HOG people proposals: (N, 4) boxes x0, y0, x1, y1 in frame pixels and (N,) scores,
        after non-maximum suppression, best first."""
        import cv2

        if self._hog is None:
            self._hog = cv2.HOGDescriptor()
            self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        t0 = time.perf_counter()
        h = frame.shape[0]
        s = float(np.clip(100.0 / max(self.settings.min_person * h, self.settings.min_person_px), 0.25, 4.0))
        img = frame if abs(s - 1) < 0.05 else cv2.resize(
            frame, None, fx=s, fy=s, interpolation=cv2.INTER_LINEAR if s > 1 else cv2.INTER_AREA)
        if min(img.shape[:2]) < 128:
            self.timings["hog"] += time.perf_counter() - t0
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        rects, weights = self._hog.detectMultiScale(img, winStride=(8, 8), padding=(8, 8),
                                                    scale=self.settings.hog_scale_step)
        self.timings["hog"] += time.perf_counter() - t0
        if len(rects) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        rects = np.asarray(rects, np.float64) / s
        boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
        scores = np.asarray(weights, np.float64).reshape(-1)
        ok = scores >= self.settings.hog_threshold
        boxes, scores = boxes[ok], scores[ok]
        keep = nms(boxes, scores, iou=0.3, contain=0.6)
        return boxes[keep].astype(np.float32), scores[keep].astype(np.float32)

    def _person(self, res, frame_hw: tuple[int, int], origin: tuple[int, int], side: int | None,
                image_hw: tuple[int, int], seg: np.ndarray | None) -> PersonDetection | None:
        """A PersonDetection from Pose's result on `image` (the frame, or a square crop of `side`
        frame pixels at `origin` resized to image_hw)."""
        if res.pose_landmarks is None:
            return None
        H, W = frame_hw
        ih, iw = image_hw
        lm = res.pose_landmarks.landmark
        xy = np.array([[p.x, p.y] for p in lm], np.float64) * (iw, ih)  # image pixels
        vis = np.clip(np.array([p.visibility for p in lm], np.float64), 0.0, 1.0)
        cfg = self.settings
        why = implausible(xy, vis, (ih, iw), seg, cfg.mask_threshold, cfg.upright, cfg.max_shoulder_torso)
        if why:
            self.rejected[why] = self.rejected.get(why, 0) + 1
            return None
        ox, oy = origin
        if side is not None:  # crop -> frame
            xy = xy * (side / iw) + (ox, oy)
            lo = np.array([max(ox, 0), max(oy, 0)], np.float64)
            hi = np.array([min(ox + side, W), min(oy + side, H)], np.float64)
        else:
            lo, hi = np.zeros(2), np.array([W, H], np.float64)
        inside = ((xy >= lo) & (xy < hi)).all(axis=1)
        kp = xy[list(MEDIAPIPE_TO_COCO)]
        conf = np.where(inside, vis, 0.0)[list(MEDIAPIPE_TO_COCO)]
        # Box: all 33 landmarks clipped to the image, with room for the top of the head and the feet.
        c = np.clip(xy, 0, [W, H])
        x0, y0 = c.min(axis=0)
        x1, y1 = c.max(axis=0)
        bh = max(y1 - y0, 1.0)
        box = np.clip(np.array([x0 - 0.06 * bh, y0 - 0.1 * bh, x1 + 0.06 * bh, y1 + 0.03 * bh]), 0, [W, H, W, H])
        if box[2] - box[0] < 1 or box[3] - box[1] < 1:
            return None
        mask = None
        if seg is not None:
            mask = self._to_frame_mask(seg, frame_hw, origin, side, box)
        return PersonDetection(kp.astype(np.float32), conf.astype(np.float32), box.astype(np.float32),
                               mask, float(conf.mean()), True)

    def _to_frame_mask(self, prob: np.ndarray, frame_hw, origin, side, box) -> np.ndarray:
        """Segmentation probabilities on the image Pose saw -> (H, W) bool frame mask of the
        person, restricted to the box grown by 10%."""
        import cv2

        H, W = frame_hw
        if side is not None:
            ox, oy = origin
            prob = cv2.resize(np.asarray(prob, np.float32), (side, side), interpolation=cv2.INTER_LINEAR)
            crop = prob > self.settings.mask_threshold
            full = np.zeros((H, W), bool)
            fx0, fy0 = max(ox, 0), max(oy, 0)
            fx1, fy1 = min(ox + side, W), min(oy + side, H)
            if fx1 > fx0 and fy1 > fy0:
                full[fy0:fy1, fx0:fx1] = crop[fy0 - oy:fy1 - oy, fx0 - ox:fx1 - ox]
            m = full
        else:
            m = prob > self.settings.mask_threshold
        bw, bh = box[2] - box[0], box[3] - box[1]
        x0, y0 = int(max(np.floor(box[0] - 0.05 * bw), 0)), int(max(np.floor(box[1] - 0.05 * bh), 0))
        x1, y1 = int(min(np.ceil(box[2] + 0.05 * bw), W)), int(min(np.ceil(box[3] + 0.05 * bh), H))
        out = np.zeros((H, W), bool)
        out[y0:y1, x0:x1] = m[y0:y1, x0:x1]
        return out

    def _crop(self, frame: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, tuple[int, int], int]:
        """A square crop (zero padding outside the frame) around a proposal, resized to crop_size."""
        import cv2

        H, W = frame.shape[:2]
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        side = int(round(max(box[3] - box[1], box[2] - box[0]) * self.settings.crop_margin))
        side = max(side, 8)
        ox, oy = int(round(cx - side / 2)), int(round(cy - side / 2))
        pad = np.zeros((side, side, 3), np.uint8)
        fx0, fy0, fx1, fy1 = max(ox, 0), max(oy, 0), min(ox + side, W), min(oy + side, H)
        if fx1 > fx0 and fy1 > fy0:
            pad[fy0 - oy:fy1 - oy, fx0 - ox:fx1 - ox] = frame[fy0:fy1, fx0:fx1]
        interp = cv2.INTER_LINEAR if side < self.settings.crop_size else cv2.INTER_AREA
        return cv2.resize(pad, (self.settings.crop_size, self.settings.crop_size), interpolation=interp), (ox, oy), side

    # ------------------------------------------------------------------ the protocol
    def detect(self, frame_rgb: np.ndarray) -> list[PersonDetection]:
        frame = np.asarray(frame_rgb)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got {frame.shape} {frame.dtype}")
        self.timings["calls"] += 1
        H, W = frame.shape[:2]
        res, seg = self._pose_and_mask(self._frame_pose, frame)
        whole = self._person(res, (H, W), (0, 0), None, (H, W), seg)
        if whole is not None and (whole.box[3] - whole.box[1]) >= self.settings.small_person * H:
            return [whole]
        if not self.settings.people_detector:
            return [whole] if whole is not None else (self.masked_people(frame) if self.mask_people else [])
        boxes, scores = self.people_boxes(frame)
        found: list[PersonDetection] = []
        for box, score in list(zip(boxes, scores))[: self.settings.max_people]:
            crop, origin, side = self._crop(frame, box)
            r, cseg = self._pose_and_mask(self._static_pose, crop)
            p = self._person(r, (H, W), origin, side, crop.shape[:2], cseg)
            if p is None or box_overlap_min(p.box, box)[0, 0] < 0.5:  # nobody, or a different person
                found.append(PersonDetection(np.zeros((17, 2), np.float32), np.zeros(17, np.float32),
                                             np.asarray(box, np.float32), None, float(score), False))
            else:
                found.append(p)
        if whole is not None:
            posed = [f.box for f in found if f.pose]
            if not posed or (box_overlap_min(whole.box, np.stack(posed)) < 0.5).all():
                found.append(whole)
        if len(found) > 1:  # a crop can hold a neighbour: drop duplicates, posed first
            keep = nms(np.stack([f.box for f in found]),
                       np.array([(1.0 if f.pose else BOX_ONLY_WEIGHT) * (f.box[3] - f.box[1]) for f in found]),
                       iou=0.5, contain=0.8)
            found = [found[i] for i in keep]
        if self.mask_people and not any(f.pose for f in found):
            masked = self.masked_people(frame)
            boxes = [f for f in found if not any(box_overlap_min(f.box, m.box)[0, 0] > 0.5 for m in masked)]
            found = masked + boxes  # a HOG box that a mask covers is the same person
        return found


# ---------------------------------------------------------------------- videos and images
class _PackedMask:
    """A person mask kept small while the whole video is detected: its bounding rows/columns, bit-packed."""

    def __init__(self, mask: np.ndarray):
        self.hw = mask.shape
        ys, xs = np.nonzero(mask)
        if len(ys) == 0:
            self.y0 = self.x0 = 0
            self.shape = (0, 0)
            self.bits = np.zeros(0, np.uint8)
            return
        self.y0, self.x0 = int(ys.min()), int(xs.min())
        sub = mask[self.y0:ys.max() + 1, self.x0:xs.max() + 1]
        self.shape = sub.shape
        self.bits = np.packbits(sub, axis=-1)

    def unpack(self) -> np.ndarray:
        out = np.zeros(self.hw, bool)
        if self.shape[0]:
            sub = np.unpackbits(self.bits, axis=-1, count=self.shape[1]).astype(bool)
            out[self.y0:self.y0 + self.shape[0], self.x0:self.x0 + self.shape[1]] = sub
        return out


def _assemble(per_frame: list[list[PersonDetection]], choice: dict[int, int], width: int, height: int,
              fps: float, name: str, keep_masks: bool, has_masks: bool = False):
    import torch

    from genlca.fitting.types import VideoDetections

    F = len(per_frame)
    kp = np.zeros((F, 17, 2), np.float32)
    conf = np.zeros((F, 17), np.float32)
    boxes = np.zeros((F, 4), np.float32)
    detected = np.zeros(F, bool)
    any_mask = any(c.mask is not None for cands in per_frame for c in cands)
    masks = np.zeros((F, height, width), bool) if keep_masks and (has_masks or any_mask) else None
    for t, i in choice.items():
        c = per_frame[t][i]
        boxes[t] = c.box
        if masks is not None and c.mask is not None:  # pose-less people may have a mask
            masks[t] = c.mask.unpack() if isinstance(c.mask, _PackedMask) else c.mask
        if c.pose:
            kp[t], conf[t], detected[t] = c.keypoints, c.confidence, True
    return VideoDetections(keypoints=torch.from_numpy(kp), confidence=torch.from_numpy(conf),
                           boxes=torch.from_numpy(boxes), detected=torch.from_numpy(detected),
                           masks=None if masks is None else torch.from_numpy(masks),
                           width=width, height=height, fps=fps, detector=name)


def _track_inputs(per_frame: list[list[PersonDetection]]):
    boxes = [np.stack([c.box for c in cands]) if cands else np.zeros((0, 4), np.float32) for cands in per_frame]
    weights = [np.array([1.0 if c.pose else BOX_ONLY_WEIGHT for c in cands], np.float64) for cands in per_frame]
    return boxes, weights


def detect_frames(frames, detector: KeypointDetector, width: int, height: int, fps: float,
                  keep_masks: bool = True, progress: bool = False, total: int | None = None):
    """Detect people in an iterable of (H, W, 3) uint8 RGB frames and keep the main subject
    (VideoDetections)."""
    from tqdm import tqdm

    per_frame: list[list[PersonDetection]] = []
    for frame in tqdm(frames, desc="detect", total=total, disable=not progress):
        cands = list(detector.detect(frame))
        for c in cands:  # masks of candidates are packed until the subject is known
            if c.mask is not None:
                c.mask = _PackedMask(np.asarray(c.mask, bool))
        per_frame.append(cands)
    if not per_frame:
        raise ValueError("no frames to detect")
    boxes, weights = _track_inputs(per_frame)
    choice = main_track(boxes, weights, height)
    return _assemble(per_frame, choice, width, height, fps, detector.name, keep_masks,
                     bool(getattr(detector, "has_masks", False)))


def detect_video(path: str | os.PathLike, detector: KeypointDetector | None = None,
                 max_frames: int | None = None, stride: int = 1, progress: bool = False,
                 keep_masks: bool = True):
    """Keypoints, box and mask of the main subject in every `stride`-th frame of a video (at most
    `max_frames` frames) -> VideoDetections (fps divided by stride). Without `detector`, a
    MediaPipeDetector is made and closed; a detector's `reset()` (if any) is called first."""
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    own = detector is None
    det = MediaPipeDetector() if own else detector
    try:
        if hasattr(det, "reset"):
            det.reset()
        frames = iter_frames(path, max_frames, stride)
        first = next(frames, None)
        if first is None:
            raise ValueError(f"{path}: no video frames")
        h, w = first[1].shape[:2]

        def all_frames():
            yield first[1]
            for _, f in frames:
                yield f

        return detect_frames(all_frames(), det, w, h, video_fps(path) / stride, keep_masks, progress)
    finally:
        if own:
            det.close()


def _read_image(path: str | os.PathLike) -> np.ndarray:
    """The first frame as PyAV decodes it, exactly as ingest and the rest of the pipeline see
    the file (PIL's JPEG decoder differs by a few levels; EXIF orientation is not applied)."""
    first = next(iter_frames(path, max_frames=1), None)
    if first is None:
        raise ValueError(f"{path}: no image could be decoded")
    return first[1]


def detect_image(image: str | os.PathLike | np.ndarray, detector: KeypointDetector | None = None,
                 keep_masks: bool = True):
    """The main person of one image (a path, or an (H, W, 3) uint8 RGB / (H, W) grey / (H, W, 4)
    RGBA array) -> VideoDetections with F = 1 and fps 1.0 (images are one-frame videos)."""
    if isinstance(image, np.ndarray):
        a = image
        if a.ndim == 2:
            a = np.repeat(a[..., None], 3, axis=2)
        elif a.ndim == 3 and a.shape[2] == 4:
            a = a[..., :3]
        if a.dtype != np.uint8:
            if np.issubdtype(a.dtype, np.floating) and a.max() <= 1.0:
                a = a * 255.0
            a = np.clip(np.round(a), 0, 255).astype(np.uint8)
        frame = np.ascontiguousarray(a)
    else:
        frame = _read_image(image)
    own = detector is None
    det = MediaPipeDetector() if own else detector
    try:
        if hasattr(det, "reset"):
            det.reset()
        h, w = frame.shape[:2]
        return detect_frames([frame], det, w, h, 1.0, keep_masks)
    finally:
        if own:
            det.close()
