"""Files of a drop: the ground truth of each video (videos go through genlca.data.video).

DROP_DIR/videos/<name>.mp4
DROP_DIR/ground_truth/<name>/subject.json       shape, caption, clothing, framing, camera, motion, scene
DROP_DIR/ground_truth/<name>/maps.safetensors   maps (14,R,R) f32, visibility (R,R) f32, visible_count (R,R)
                                                i32, mask (R,R) u8, regions (R,R) i8, shape (S,) f32
DROP_DIR/ground_truth/<name>/frames.safetensors per-frame arrays (see FRAME_KEYS)
DROP_DIR/ground_truth/<name>/gt_avatar.ply      the ground-truth avatar, canonical pose
DROP_DIR/ground_truth/synth.json, then DROP_DIR/_READY (last)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from genlca.io_utils import atomic_path, unpack_bits
from genlca.safe_files import load_tensors as load_file

GT_FORMAT_VERSION = 1
MAP_KEYS = ("maps", "visibility", "visible_count", "mask", "regions", "shape")
FRAME_KEYS = ("joint_rotations", "root", "viewmat", "K", "keypoints_2d", "keypoints_3d", "keypoints_in_frame",
              "framing", "view", "view_azimuth", "whole_body", "visibility_packed", "person_mask_packed")


def save_json(path: Path, data: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")


def load_ground_truth(gt_dir: str | os.PathLike, unpack: bool = True) -> dict:
    """Read one video's ground truth: {'subject': dict, 'maps': {...}, 'frames': {...}}.
    With `unpack`, frames['visibility'] (F, R, R) and frames['person_mask'] (F, H, W) are bool."""
    d = Path(gt_dir)
    subject = json.loads((d / "subject.json").read_text())
    maps = load_file(str(d / "maps.safetensors"))
    frames = load_file(str(d / "frames.safetensors"))
    for name, got, keys in (("maps", maps, MAP_KEYS), ("frames", frames, FRAME_KEYS)):
        missing = [k for k in keys if k not in got]
        if missing:
            raise ValueError(f"{d / (name + '.safetensors')}: missing {', '.join(missing)} (not a ground-truth file "
                             f"of format {GT_FORMAT_VERSION})")
    if unpack:
        r, size = subject["resolution"], subject["size"]
        frames["visibility"] = unpack_bits(frames["visibility_packed"], r)
        frames["person_mask"] = unpack_bits(frames["person_mask_packed"], size)
    return {"subject": subject, "maps": maps, "frames": frames}
