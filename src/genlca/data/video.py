"""Video writing and reading with PyAV (its wheels bundle FFmpeg with libx264)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator

import av
import numpy as np

from genlca.io_utils import atomic_path

# Fixed encoder settings: one encoder thread makes the output byte-identical for the same
# frames on any machine (x264's output depends on its thread count).
ENCODER = {"codec": "libx264", "pix_fmt": "yuv420p", "crf": "18", "preset": "medium", "threads": "1", "bframes": "2"}
# Still images a drop may hold (one-frame videos to the rest of the pipeline; PyAV decodes them too).
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png"})


class VideoEncoder:
    """Streaming H.264 .mp4 writer with the fixed ENCODER settings, atomic: frames are encoded
    as they come (no clip held in memory) and the file appears only when `close()` succeeds.

        with VideoEncoder(path, fps) as enc:
            enc.write(frame)  # (H, W, 3) uint8
    """

    def __init__(self, path: str | os.PathLike, fps: int):
        self.path, self.fps = Path(path), fps
        self.settings = dict(ENCODER)
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


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: int = 24) -> Path:
    """Encode (H, W, 3) uint8 frames to H.264 .mp4 (yuv420p: width and height must be even), atomically."""
    with VideoEncoder(path, fps) as enc:
        for frame in frames:
            enc.write(frame)
    return Path(path)


def main_stream(container):
    """The first video stream that is not cover art, or None (what ingest checks and the rest reads)."""
    attached = av.stream.Disposition.attached_pic
    for s in container.streams.video:
        if not (s.disposition & attached):
            return s
    return None


def stream_fps(stream) -> float:
    """Frames per second of a stream (average, guessed, then base rate; 0.0 if none is plausible)."""
    for r in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if r:
            value = float(r)
            if 0 < value < 1000:
                return value
    return 0.0


def iter_frames(path: str | os.PathLike, max_frames: int | None = None,
                stride: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """Decode a video (or an image) with PyAV: (frame index, (H, W, 3) uint8 RGB), every
    `stride`-th frame of its main stream, at most `max_frames` of them."""
    n = 0
    with av.open(str(path)) as container:
        stream = main_stream(container)
        if stream is None:
            raise ValueError(f"{path}: no video stream")
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            if i % stride:
                continue
            yield i, frame.to_ndarray(format="rgb24")
            n += 1
            if max_frames and n >= max_frames:
                break


def video_fps(path: str | os.PathLike) -> float:
    """Frames per second of a video's main stream; 1.0 for still images."""
    if Path(path).suffix.lower() in IMAGE_EXTENSIONS:
        return 1.0
    with av.open(str(path)) as container:
        stream = main_stream(container)
        return stream_fps(stream) if stream is not None else 0.0


def read_video(path: str | os.PathLike, max_frames: int | None = None) -> np.ndarray:
    """Decode a video to (T, H, W, 3) uint8 RGB."""
    return np.stack([frame for _, frame in iter_frames(path, max_frames)])
