"""Video writing and reading with PyAV (its wheels bundle FFmpeg with libx264)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import av
import numpy as np

from genlca.io_utils import atomic_path

# Fixed encoder settings: one encoder thread makes the output byte-identical for the same
# frames on any machine (x264's output depends on its thread count).
ENCODER = {"codec": "libx264", "pix_fmt": "yuv420p", "crf": "18", "preset": "medium", "threads": "1", "bframes": "2"}


class VideoEncoder:
    """Streaming H.264 .mp4 writer with the fixed ENCODER settings, atomic: frames are encoded
    as they come (no clip held in memory) and the file appears only when `close()` succeeds.

        with VideoEncoder(path, fps) as enc:
            enc.write(frame)  # (H, W, 3) uint8
    """

    def __init__(self, path: str | os.PathLike, fps: int, settings: dict | None = None):
        self.path, self.fps = Path(path), fps
        self.settings = {**ENCODER, **(settings or {})}
        self._atomic = atomic_path(self.path)
        self._tmp = self._atomic.__enter__()
        self._container = av.open(str(self._tmp), mode="w", format="mp4")
        self._stream = None

    def write(self, frame: np.ndarray) -> None:
        if self._stream is None:
            h, w = frame.shape[:2]
            if h % 2 or w % 2:
                raise ValueError(f"{self.path}: H.264 needs even frame sizes, got {w}x{h}")
            st = self._container.add_stream(self.settings["codec"], rate=self.fps)
            st.width, st.height, st.pix_fmt = w, h, self.settings["pix_fmt"]
            st.thread_count = int(self.settings["threads"])
            st.options = {"crf": self.settings["crf"], "preset": self.settings["preset"], "threads": self.settings["threads"],
                          "bf": self.settings["bframes"]}
            self._stream = st
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame, dtype=np.uint8), format="rgb24")
        for packet in self._stream.encode(vf):
            self._container.mux(packet)

    def close(self, ok: bool = True) -> None:
        """Flush and publish the file (`ok`), or discard it."""
        try:
            if ok:
                if self._stream is None:
                    raise ValueError(f"{self.path}: no frames to write")
                for packet in self._stream.encode():
                    self._container.mux(packet)
        except BaseException:
            ok = False
            raise
        finally:
            self._container.close()
            if ok:
                self._atomic.__exit__(None, None, None)  # rename into place
            else:
                err = RuntimeError("video not finished")
                self._atomic.__exit__(RuntimeError, err, None)  # removes the temporary file

    def __enter__(self) -> "VideoEncoder":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(ok=exc_type is None)


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: int = 24,
                settings: dict | None = None) -> Path:
    """Encode (H, W, 3) uint8 frames to H.264 .mp4 (yuv420p: width and height must be even), atomically."""
    with VideoEncoder(path, fps, settings) as enc:
        for frame in frames:
            enc.write(frame)
    return Path(path)


def read_video(path: str | os.PathLike, max_frames: int | None = None) -> np.ndarray:
    """Decode a video to (T, H, W, 3) uint8 RGB."""
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if max_frames and len(frames) >= max_frames:
                break
    return np.stack(frames)
