"""Video writing and reading with PyAV (its wheels bundle FFmpeg with libx264).

Frames are read as 8-bit RGB whatever the stored format (grey, 10-bit, 16-bit PNG: FFmpeg converts) and upright:
phones store portrait video as landscape frames plus a display matrix (rotation, maybe a mirror), which FFmpeg's
library API leaves to the caller, so `iter_frames` applies it as the `ffmpeg` command line and players do.
"""

from __future__ import annotations

import math
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


def display_matrix(frame) -> np.ndarray | None:
    """The frame's display matrix (9 int32 in FFmpeg's layout, from the container's rotation tag), or None."""
    try:
        sd = frame.side_data.get("DISPLAYMATRIX")
    except (AttributeError, KeyError, ValueError):
        return None
    m = np.frombuffer(bytes(sd), np.int32) if sd is not None else None
    return m if m is not None and m.size == 9 else None


def _orientation(m: np.ndarray | None) -> str:
    """What FFmpeg's command line does to show a frame with display matrix `m` (fftools' autorotate): "" (as
    stored), "clock" / "cclock" (quarter turns), "transpose" / "antitranspose" (a quarter turn and a mirror),
    "hflip", "vflip" or "hvflip". Angles that are not quarter turns are left as stored."""
    if m is None:
        return ""
    a, b, c, d = (float(v) / 65536 for v in (m[0], m[1], m[3], m[4]))
    s0, s1 = math.hypot(a, c), math.hypot(b, d)
    if not s0 or not s1:
        return ""
    theta = float(round(math.degrees(math.atan2(b / s1, a / s0))))  # = -av_display_rotation_get(m)
    theta -= 360 * math.floor(theta / 360 + 0.9 / 360)
    if abs(theta - 90) < 1:
        return "transpose" if m[3] > 0 else "clock"
    if abs(theta - 180) < 1:
        return {(True, True): "hvflip", (True, False): "hflip", (False, True): "vflip"}.get((m[0] < 0, m[4] < 0), "")
    if abs(theta - 270) < 1:
        return "antitranspose" if m[3] < 0 else "cclock"
    return "vflip" if abs(theta) < 1 and m[4] < 0 else ""


def upright(image: np.ndarray, matrix: np.ndarray | None) -> np.ndarray:
    """(H, W, C) as displayed: the display matrix applied (see `_orientation`)."""
    op = _orientation(matrix)
    if not op:
        return image
    out = {"clock": lambda x: np.rot90(x, -1), "cclock": lambda x: np.rot90(x, 1),
           "transpose": lambda x: x.transpose(1, 0, 2), "antitranspose": lambda x: np.rot90(x, -1)[::-1],
           "hflip": lambda x: x[:, ::-1], "vflip": lambda x: x[::-1], "hvflip": lambda x: x[::-1, ::-1]}[op](image)
    return np.ascontiguousarray(out)


def upright_size(frame) -> tuple[int, int]:
    """(width, height) of a decoded frame as displayed (swapped by a quarter turn)."""
    turned = _orientation(display_matrix(frame)) in ("clock", "cclock", "transpose", "antitranspose")
    return (frame.height, frame.width) if turned else (frame.width, frame.height)


def iter_frames(path: str | os.PathLike, max_frames: int | None = None,
                stride: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """Decode a video (or an image) with PyAV: (frame index, (H, W, 3) uint8 RGB, upright), every
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
            yield i, upright(frame.to_ndarray(format="rgb24"), display_matrix(frame))
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
    """Decode a video to (T, H, W, 3) uint8 RGB, upright (see `iter_frames`)."""
    return np.stack([frame for _, frame in iter_frames(path, max_frames)])
