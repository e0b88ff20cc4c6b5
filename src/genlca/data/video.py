"""Video writing and reading with PyAV (its wheels bundle FFmpeg with libx264)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import av
import numpy as np

from genlca.io_utils import atomic_path


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: int = 24, crf: int = 20) -> Path:
    """Encode (H, W, 3) uint8 frames to H.264 .mp4 (yuv420p, so width and height must be even)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = None
            for frame in frames:
                if stream is None:
                    h, w = frame.shape[:2]
                    if h % 2 or w % 2:
                        raise ValueError(f"{path}: H.264 needs even frame sizes, got {w}x{h}")
                    stream = container.add_stream("libx264", rate=fps)
                    stream.width, stream.height = w, h
                    stream.pix_fmt = "yuv420p"
                    stream.options = {"crf": str(crf)}
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame, dtype=np.uint8), format="rgb24")
                for packet in stream.encode(vf):
                    container.mux(packet)
            if stream is None:
                raise ValueError(f"{path}: no frames to write")
            for packet in stream.encode():
                container.mux(packet)
    return path


def read_video(path: str | os.PathLike, max_frames: int | None = None) -> np.ndarray:
    """Decode a video to (T, H, W, 3) uint8 RGB."""
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if max_frames and len(frames) >= max_frames:
                break
    return np.stack(frames)
