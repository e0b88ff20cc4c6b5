"""What detection hands to fitting, and what fitting hands to the tokenizer."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from torch import Tensor


@dataclass
class VideoDetections:
    """Per-frame detections of ONE main subject in a video (or a one-frame image)."""

    keypoints: Tensor  # (F, 17, 2) pixel coordinates (x right, y down; pixel centres at +0.5), COCO order
    confidence: Tensor  # (F, 17) in [0, 1]; 0 where the keypoint was not detected / outside the frame
    boxes: Tensor  # (F, 4) x0, y0, x1, y1 of the main subject (also box- or mask-only finds); zeros where none
    detected: Tensor  # (F,) bool: the pose detector found the subject in this frame
    masks: Tensor | None  # (F, H, W) bool person mask of the main subject (also where no pose was found), or None
    width: int
    height: int
    fps: float
    detector: str = ""  # name + version of the detector, recorded in the fit


@dataclass
class BodyFit:
    """Body-model parameters of one video, in the camera frame (OpenCV axes; camera at the origin)."""

    body_model: str
    shape: Tensor  # (S,) shared by all frames
    joint_rotations: Tensor  # (F, 17, 3, 3) GENERIC_JOINTS deltas from the A-pose
    root: Tensor  # (F, 4, 4) body -> camera rigid transform
    K: Tensor  # (3, 3) intrinsics (focal length from the image size)
    width: int
    height: int
    fitted: Tensor  # (F,) bool
    reproj_error_px: Tensor  # (F,) mean confidence-weighted keypoint error; nan where not fitted
    keypoint_confidence: Tensor  # (F,) mean detected keypoint confidence
    reasons: list[str] = field(default_factory=list)  # per frame: "" when fitted, else why not

    def frame(self, f: int) -> "BodyFit":
        """The fit of frame `f` alone (a one-frame video: a photo taken from the video)."""
        one = slice(f, f + 1)
        return replace(self, joint_rotations=self.joint_rotations[one], root=self.root[one], fitted=self.fitted[one],
                       reproj_error_px=self.reproj_error_px[one], keypoint_confidence=self.keypoint_confidence[one],
                       reasons=self.reasons[one])
