"""Ingest of a video drop: every file probed, hashed and fully decoded into a validated manifest.

A drop is a folder of user videos (.mp4 .avi .mov .mkv .webm) and images (.jpg .jpeg .png),
searched recursively. Every file found becomes one manifest row (`genlca.data.manifest`):
good files are "valid"; bad ones are "quarantined" with one sentence saying why. Quarantine is
a mark in the manifest only: nothing in the drop is ever moved, modified or deleted (files are
only opened for reading).

Not part of a drop, so not listed: hidden names (starting with ".", e.g. `.DS_Store`, and
everything inside a hidden folder such as `.Trashes/`), completion markers (`_READY`,
`_SUCCESS`, `_DONE`, `_COMPLETE`) and OS thumbnail caches (`Thumbs.db`, `desktop.ini`). See
`is_ignored_name`. Everything else is listed, e.g. `notes.txt` as quarantined "unsupported
file type .txt".

Checks, cheapest first, so a hostile file is refused before any expensive work:
  1. the entry: a symbolic link whose target leaves the drop (never read), a broken link, a
     link to a folder (not followed), not a regular file (pipe, socket, device), unreadable,
     a name that is not UTF-8;
  2. size over `max_bytes` (the file is not even hashed);
  3. sha256 (streamed in 1 MiB chunks), then: an unknown extension (kind "other"), an empty
     file, or the same bytes as an earlier file in path order: a duplicate (`duplicate_of`; its
     probe values are copied from the first file, it is not decoded again);
  4. the header (PyAV/FFmpeg, which is told `max_pixels` so it refuses huge frames before
     allocating them): not a video at all (text or unknown bytes), unopenable (truncated,
     corrupt), no video stream (audio only), codec not allowed, too many pixels, too many
     frames announced;
  5. a full decode (frames counted, never converted to arrays; `DECODE_THREAD_TYPE` "AUTO"):
     decoding errors, fewer frames / less time than the header announces (truncation), errors
     the decoder reports while it conceals them (with `strict`), frames flagged corrupt, too
     many frames, too short. A file that shows any trouble is decoded a second time on one
     thread, so its reason (frame counts, FFmpeg's message) is the same on every run; good
     files are decoded once.

Images are one-frame videos: kind "image", frames 1, fps 1.0 (nominal, so every valid row has
fps > 0) and duration_s 0.0; `min_duration_s` does not apply to them.

Valid, as the rest of the pipeline reads them (`genlca.data.video.iter_frames`): grey and high bit depth frames
(grey or 10-bit H.264, ProRes, 16-bit PNG; read as 8-bit RGB), variable frame rate (fps is the stream's average:
frames / duration), rotated video (a display matrix: width and height are reported as displayed, frames are read
upright). A hard link in the drop is a regular file of the drop (the same bytes under a second name, wherever the
other name is): it is read like any file, because the drop is only read and the link gives access to nothing but
those bytes; two names of one file in the drop are a duplicate. A symbolic link is a name pointing elsewhere, so
one that leaves the drop is never followed. The drop's own name (its folder) is stored as given, escaped where it
is not UTF-8; the Dagster side allows only plain drop names (`genlca.paths.DROP_NAME`).

Limits of detection: damage that still decodes to a syntactically valid stream (e.g. flipped
bits inside entropy-coded picture data of H.264 CABAC) cannot be seen without a reference
checksum; FFmpeg decodes it to wrong pixels without an error. Zeroed or cut-out ranges,
truncation and broken headers are found.
"""

from __future__ import annotations

import contextlib
import hashlib
import numbers
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import av
import pandas as pd

from genlca.data.manifest import COLUMNS, validate_manifest
from genlca.data.video import IMAGE_EXTENSIONS, main_stream, stream_fps, upright_size

VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm"})
MARKER_NAMES = frozenset({"_READY", "_SUCCESS", "_DONE", "_COMPLETE"})
JUNK_NAMES = frozenset({"thumbs.db", "desktop.ini"})  # compared lower-case
# Top-level folders of a drop that are not its content: synthetic drops keep the evaluation's
# ground truth there (the pipeline never reads it).
RESERVED_FOLDERS = frozenset({"ground_truth"})

# FFmpeg canonical codec names (`av.Codec(name, "r").canonical_name`). Consumer and camera
# codecs; excluded on purpose: lossless/archival (ffv1, huffyuv, rawvideo), animation (gif,
# png/apng in a video container) and obsolete ones (cinepak, indeo, ...).
DEFAULT_VIDEO_CODECS = ("h264", "hevc", "av1", "vp8", "vp9", "mpeg4", "msmpeg4v2", "msmpeg4v3",
                        "mpeg1video", "mpeg2video", "mjpeg", "prores")
DEFAULT_IMAGE_CODECS = ("png", "mjpeg")

# Frame threading (what "AUTO" picks for H.264 and most codecs) is the big win for long or large
# videos on many cores. Measured on a 2-vCPU box, 8 x 48-frame 256x256 H.264 clips decoded ~15%
# faster with PyAV's default ("SLICE": one thread for single-slice streams); change it here if
# drops are mostly tiny clips on small machines.
DECODE_THREAD_TYPE = "AUTO"
_PIXELS_REFUSED = re.compile(r"Picture size (\d+)x(\d+) (?:exceeds specified max pixel count|is invalid)")


class DropError(Exception):
    """The drop itself cannot be read (missing, not a folder, permission denied). Problems of
    single files never raise: they are quarantined in the manifest."""


@dataclass(frozen=True)
class IngestLimits:
    """What a file must satisfy to be valid.

    min_frames      frames a file must decode to (videos and images)
    min_duration_s  shortest video (frames / fps); not applied to images
    max_bytes       largest file; bigger files are not read at all
    max_pixels      largest frame (width * height), checked from the header before decoding
                    and by the decoder itself for every frame
    max_frames      most frames: checked against the header before decoding, then while
                    decoding (a stream that does not announce its length is cut off there)
    video_codecs    allowed codecs of videos, FFmpeg canonical names (decoder names such as
                    "msmpeg4" are accepted too)
    image_codecs    allowed codecs of images
    strict          also quarantine files whose decoder reports errors it then conceals
                    (what `ffmpeg -v error -i FILE -f null -` prints); False: only hard
                    failures, truncation and frames flagged corrupt
    """

    min_frames: int = 1
    min_duration_s: float = 0.5
    max_bytes: int = 2 * 1024**3
    max_pixels: int = 4096 * 4096
    max_frames: int = 100_000
    video_codecs: tuple[str, ...] = DEFAULT_VIDEO_CODECS
    image_codecs: tuple[str, ...] = DEFAULT_IMAGE_CODECS
    strict: bool = True

    def __post_init__(self):
        for name in ("video_codecs", "image_codecs"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = (value,)
            object.__setattr__(self, name, tuple(str(c).lower() for c in value))
        for name in ("min_frames", "max_bytes", "max_pixels", "max_frames", "min_duration_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):  # e.g. a string from params.yaml
                raise ValueError(f"IngestLimits.{name} must be a number, got {value!r}")
        for name in ("min_frames", "max_bytes", "max_pixels", "max_frames"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"IngestLimits.{name} must be >= 1, got {getattr(self, name)}")
        if self.min_duration_s < 0:
            raise ValueError(f"IngestLimits.min_duration_s must be >= 0, got {self.min_duration_s}")


def is_ignored_name(name: str) -> bool:
    """True for names that are not part of a drop's content: hidden names (".DS_Store", and
    hidden folders with all they hold), completion markers (_READY, ...) and OS thumbnail
    caches (Thumbs.db, desktop.ini)."""
    return name.startswith(".") or name in MARKER_NAMES or name.lower() in JUNK_NAMES


def kind_of(name: str) -> str:
    """The kind of a file from its extension (case-insensitive): "video", "image" or "other"."""
    ext = os.path.splitext(name)[1].lower()
    return "video" if ext in VIDEO_EXTENSIONS else "image" if ext in IMAGE_EXTENSIONS else "other"


# ---------------------------------------------------------------------------------------------
# Walking the drop


@dataclass
class _Entry:
    rel: str                      # path relative to the drop, posix (may hold escapes if not UTF-8)
    path: str                     # path to open (through links inside the drop)
    kind: str
    reason: str = ""              # set when the entry is refused before its bytes are read
    size: int = 0


def _check_drop(drop_dir: str | os.PathLike) -> Path:
    drop = Path(drop_dir)
    if not drop.exists():
        raise DropError(f"video drop {drop} does not exist")
    if not drop.is_dir():
        raise DropError(f"video drop {drop} is not a directory")
    try:
        with os.scandir(drop):
            pass
    except PermissionError as e:
        raise DropError(f"video drop {drop} cannot be read: permission denied") from e
    except OSError as e:
        raise DropError(f"video drop {drop} cannot be read: {e.strerror or e}") from e
    return drop


def _display(rel: str) -> str:
    """A path that can be stored as UTF-8 (names that are not valid UTF-8 get escapes)."""
    try:
        rel.encode("utf-8")
        return rel
    except UnicodeEncodeError:
        return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _walk(root: Path) -> list[_Entry]:
    """Every entry of the drop that is not ignored, sorted by relative path."""
    root_real = os.path.realpath(root)
    entries: list[_Entry] = []

    def inside(target: str) -> bool:
        return target == root_real or target.startswith(root_real.rstrip(os.sep) + os.sep)

    def visit(folder: str, prefix: str) -> None:
        try:
            with os.scandir(folder) as it:
                children = sorted(it, key=lambda e: e.name)
        except OSError as e:
            if not prefix:
                raise DropError(f"video drop {root} cannot be read: {e.strerror or e}") from e
            entries.append(_Entry(prefix.rstrip("/"), folder, "other",
                                  f"cannot read the folder: {(e.strerror or str(e)).lower()}"))
            return
        for child in children:
            if is_ignored_name(child.name) or (not prefix and child.name in RESERVED_FOLDERS):
                continue
            rel = prefix + child.name
            kind = kind_of(child.name)
            try:
                if child.is_symlink():
                    target = os.path.realpath(child.path)
                    if not inside(target):
                        entries.append(_Entry(rel, child.path, kind, "symbolic link points outside the drop"))
                    elif not os.path.exists(target):
                        entries.append(_Entry(rel, child.path, kind, "broken symbolic link: its target does not exist"))
                    elif os.path.isdir(target):
                        entries.append(_Entry(rel, child.path, "other",
                                              "symbolic link to a folder (links to folders are not followed)"))
                    else:
                        entries.append(_file_entry(rel, target, kind, os.stat(target)))
                elif child.is_dir(follow_symlinks=False):
                    visit(child.path, rel + "/")
                else:
                    entries.append(_file_entry(rel, child.path, kind, child.stat(follow_symlinks=False)))
            except OSError as e:
                entries.append(_Entry(rel, child.path, kind, f"cannot read the file: {(e.strerror or str(e)).lower()}"))

    visit(str(root), "")
    for e in entries:
        shown = _display(e.rel)
        if shown != e.rel:
            e.rel = shown
            e.reason = e.reason or "file name is not valid UTF-8 (rename it)"
    entries.sort(key=lambda e: e.rel)
    return entries


def _file_entry(rel: str, path: str, kind: str, st: os.stat_result) -> _Entry:
    if not stat.S_ISREG(st.st_mode):
        what = ("named pipe" if stat.S_ISFIFO(st.st_mode) else "socket" if stat.S_ISSOCK(st.st_mode)
                else "device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "special file")
        return _Entry(rel, path, kind, f"not a regular file (a {what})")
    return _Entry(rel, path, kind, "", int(st.st_size))


# ---------------------------------------------------------------------------------------------
# Hashing and sniffing


def listing_signature(folder: str | os.PathLike) -> str:
    """Of a drop's listing: changes whenever a file is added, removed, grows or is touched (the drop sensor waits
    for it to settle; `raw_videos` compares it before and after ingest)."""
    folder = Path(folder)
    entries = []
    for p in sorted(folder.rglob("*")):
        try:
            st = p.lstat()
        except OSError:
            continue
        entries.append(f"{p.relative_to(folder)}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha1("\n".join(entries).encode()).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """sha256 of a file, streamed."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _looks_like_media(head: bytes) -> bool:
    """Signatures of the containers and images we accept (ISO BMFF/QuickTime, Matroska/WebM,
    AVI, PNG, JPEG)."""
    return (head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid")
            or head.startswith(b"\x1a\x45\xdf\xa3")
            or (head.startswith(b"RIFF") and head[8:12] == b"AVI ")
            or head.startswith(b"\x89PNG\r\n\x1a\n")
            or head.startswith(b"\xff\xd8\xff"))


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head[:-4].decode("utf-8") if len(head) > 4 else head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _read_head(path: str, n: int = 4096) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


# ---------------------------------------------------------------------------------------------
# Probing and decoding


@contextlib.contextmanager
def _ffmpeg_errors() -> Iterator[list]:
    """Capture FFmpeg's error messages (from every thread, decoder threads included) as
    (level, source, message) tuples; restores PyAV's logging settings afterwards."""
    old_level, old_skip = av.logging.get_level(), av.logging.get_skip_repeated()
    if old_level is None or old_level < av.logging.ERROR:
        av.logging.set_level(av.logging.ERROR)
    av.logging.set_skip_repeated(False)  # else repeats are reported late, under the next file
    try:
        with av.logging.Capture(local=False) as logs:
            yield logs
    finally:
        av.logging.set_skip_repeated(old_skip)
        av.logging.set_level(old_level)


def _errors(logs: list, start: int = 0) -> list[str]:
    """FFmpeg's error messages (level ERROR or worse), trimmed."""
    msgs = (msg.strip().rstrip(".").strip() for level, _, msg in logs[start:] if level <= av.logging.ERROR)
    return [m for m in msgs if m]


def _pixels_refused(logs: list, max_pixels: int) -> tuple[int, int] | None:
    """(width, height) of a frame FFmpeg refused for its size (our max_pixels or its own limits)."""
    for _, _, msg in logs:
        if (m := _PIXELS_REFUSED.search(msg)) and int(m.group(1)) * int(m.group(2)) > max_pixels:
            return int(m.group(1)), int(m.group(2))
    return None


def _ffmpeg_detail(exc: BaseException, logs: list, start: int = 0) -> str:
    """The error's own text (without PyAV's possibly stale 'last error log') + FFmpeg's first message."""
    base = getattr(exc, "strerror", None) or str(exc).split(";")[0]
    errs = _errors(logs, start)
    return f"{base}: {errs[0]}" if errs and errs[0] not in base else base


def _fmt_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def _too_many_pixels(w: int, h: int, limits: IngestLimits) -> str:
    return f"too large: {w}x{h} pixels is over the limit of {limits.max_pixels} pixels per frame"


def _probe(path: str, kind: str, limits: IngestLimits) -> tuple[dict, str]:
    """Open, check the header, decode everything. Returns (manifest fields, reason or "")."""
    with _ffmpeg_errors() as logs:
        # Every PyAV object lives in _probe_logged's frame only, so decoder threads are torn
        # down (and their last messages captured) before logging is restored.
        return _probe_logged(path, kind, limits, logs)


def _open(path: str, limits: IngestLimits):
    # FFmpeg is told max_pixels here, so probing refuses a huge frame before allocating it.
    return av.open(path, options={"max_pixels": str(limits.max_pixels)})


def _probe_logged(path: str, kind: str, limits: IngestLimits, logs: list) -> tuple[dict, str]:
    noun = "video" if kind == "video" else "image"
    bad = f"truncated or corrupt {noun}"
    fields: dict = {}
    try:
        container = _open(path, limits)
    except (av.FFmpegError, OSError) as e:
        if px := _pixels_refused(logs, limits.max_pixels):
            return fields, _too_many_pixels(*px, limits)
        try:
            head = _read_head(path)
        except OSError:
            head = b""
        if not _looks_like_media(head):
            a = "an" if noun == "image" else "a"
            if _looks_like_text(head):
                return fields, f"not {a} {noun} file: it contains text"
            return fields, f"not {a} {noun} file: its content is not a known video or image format"
        return fields, f"{bad}: FFmpeg cannot open it ({_ffmpeg_detail(e, logs)})"
    with container:
        stream = main_stream(container)
        if stream is None:
            types = sorted({s.type for s in container.streams})
            if container.streams.video:
                types = sorted(set(types) - {"video"}) + ["cover art"]
            held = " and ".join(types) if types else "no streams at all"
            return fields, f"no video stream: the file holds {'only ' if types else ''}{held}"
        cc = stream.codec_context
        if cc is None:
            return fields, f"unsupported codec: FFmpeg has no decoder for this {noun}'s codec"
        codec = cc.codec.canonical_name
        width, height = int(cc.width or 0), int(cc.height or 0)
        fields.update(codec=codec, width=width, height=height)
        allowed = limits.video_codecs if kind == "video" else limits.image_codecs
        if codec not in allowed and cc.name not in allowed:
            return fields, f"unsupported codec {codec} (allowed for {noun}s: {', '.join(allowed)})"
        if px := _pixels_refused(logs, limits.max_pixels):
            return fields, _too_many_pixels(*px, limits)
        if width * height > limits.max_pixels:
            return fields, _too_many_pixels(width, height, limits)
        fps = stream_fps(stream) if kind == "video" else 1.0
        header_frames = int(stream.frames or 0)
        if stream.duration and stream.time_base:
            header_s = float(stream.duration * stream.time_base)
        elif len(container.streams) == 1 and container.duration:
            header_s = container.duration / av.time_base
        else:
            header_s = 0.0
        rate = float(stream.average_rate or 0)
        if kind == "video":
            if header_frames > limits.max_frames:
                return fields, (f"too long: its header announces {header_frames} frames, over the limit "
                                f"of {limits.max_frames}")
            if rate and header_s * rate > limits.max_frames * 1.05:
                return fields, (f"too long: its header announces {header_s:.1f} s at {rate:.3g} fps (about "
                                f"{int(header_s * rate)} frames), over the limit of {limits.max_frames} frames")
        index = stream.index
        decoded = _decode(container, stream, limits, logs, threaded=True)
    if decoded["trouble"]:
        # Frame threads report errors in a racy order and may stop at a different frame: decode
        # again on one thread so the reason is reproducible (only bad files pay for this).
        with _open(path, limits) as container:
            decoded = _decode(container, container.streams[index], limits, logs, threaded=False)
    fields["frames"] = n = decoded["frames"]
    if decoded["width"]:
        fields.update(width=decoded["width"], height=decoded["height"])
    if kind == "video" and not fps and decoded["span_s"] > 0 and n > 1:
        fps = n / decoded["span_s"]
    fields["fps"] = round(fps, 6)
    fields["duration_s"] = round(n / fps, 6) if kind == "video" and fps else 0.0
    return fields, _judge(decoded, kind, fps, header_frames, header_s, limits, bad)


def _decode(container, stream, limits: IngestLimits, logs: list, threaded: bool) -> dict:
    """Demux and decode the whole stream; count packets and frames, note the first error."""
    if threaded:
        stream.thread_type = DECODE_THREAD_TYPE
    else:
        stream.thread_type = "NONE"
        stream.codec_context.thread_count = 1
    stream.codec_context.options = {"max_pixels": str(limits.max_pixels)}
    start = len(logs)
    out = dict(frames=0, packets=0, width=0, height=0, span_s=0.0, error=False, error_detail="",
               error_frames=0, error_at=0, corrupt_at=0, too_many=False, pixels=None)
    t_min = t_max = None
    t_end = 0
    try:
        for packet in container.demux(stream):
            ts = packet.pts if packet.pts is not None else packet.dts
            if ts is not None:
                out["packets"] += 1
                t_min = ts if t_min is None else min(t_min, ts)
                if t_max is None or ts >= t_max:
                    t_max, t_end = ts, ts + (packet.duration or 0)
            elif packet.size:
                out["packets"] += 1
            try:
                frames = packet.decode()
            except (av.FFmpegError, MemoryError) as e:
                if not out["error"]:
                    out.update(error=True, error_frames=out["frames"], error_detail=_ffmpeg_detail(e, logs, start))
                if threaded:
                    break  # the single-threaded pass will look at the whole file
                continue  # read on: how much of the file is there, does decoding recover?
            for frame in frames:
                out["frames"] += 1
                if out["frames"] == 1:
                    out["width"], out["height"] = upright_size(frame)  # as displayed (rotation tags)
                if frame.is_corrupt and not out["corrupt_at"]:
                    out["corrupt_at"] = out["frames"]
            if not out["error_at"] and len(logs) > start and _errors(logs, start):
                out["error_at"] = max(out["frames"], 1)
            if out["frames"] > limits.max_frames:
                out["too_many"] = True
                break
    except (av.FFmpegError, OSError, MemoryError) as e:  # the demuxer gave up
        if not out["error"]:
            out.update(error=True, error_frames=out["frames"], error_detail=_ffmpeg_detail(e, logs, start))
    finally:
        # Let frame threads finish (GIL released) before the context is freed: freeing it joins
        # them while holding the GIL, and a thread that still has an error to log needs the GIL
        # for PyAV's log callback, a deadlock (seen after a decoding error with threads busy).
        stream.codec_context.flush_buffers()
    out["pixels"] = _pixels_refused(logs[start:], limits.max_pixels)
    out["messages"] = _errors(logs, start)
    if t_min is not None and stream.time_base:
        out["span_s"] = float((max(t_end, t_max) - t_min) * stream.time_base)
    header_frames = int(stream.frames or 0)
    out["trouble"] = bool(out["error"] or out["messages"] or out["corrupt_at"] or out["pixels"]
                          or (header_frames and out["packets"] < header_frames))
    return out


def _judge(d: dict, kind: str, fps: float, header_frames: int, header_s: float, limits: IngestLimits,
           bad: str) -> str:
    """The reason a decoded file is quarantined, or ""."""
    n = d["frames"]
    of = f" of {header_frames}" if header_frames else ""
    if d["pixels"]:
        return _too_many_pixels(*d["pixels"], limits)
    if d["too_many"]:
        return f"too long: more than {limits.max_frames} frames"
    if header_frames and d["packets"] < header_frames:
        return (f"{bad}: the file ends after {d['packets']} of the {header_frames} frames its header announces "
                f"({n} decoded)")
    if kind == "video" and header_s > 0 and d["span_s"] > 0 and fps:
        missing = header_s - d["span_s"]
        if missing > max(2.0 / fps, 0.02 * header_s):
            return (f"{bad}: the file ends at {d['span_s']:.2f} s of the {header_s:.2f} s its header "
                    f"announces ({n} frames decoded)")
    if d["error"]:
        return f"{bad}: decoding failed after {d['error_frames']}{of} frames ({d['error_detail']})"
    if limits.strict and d["messages"]:
        return f"{bad}: the decoder reported errors near frame {d['error_at'] or n}{of} ({d['messages'][0]})"
    if d["corrupt_at"]:
        return f"{bad}: frame {d['corrupt_at']}{of} is damaged (the decoder flagged it corrupt)"
    if n == 0:
        return f"{bad}: no frame could be decoded"
    if n < limits.min_frames:
        return f"too few frames: {n}, the minimum is {limits.min_frames}"
    if kind == "video":
        if not fps:
            return "unknown frame rate: the stream declares none and its timestamps give none"
        duration = n / fps
        if duration < limits.min_duration_s:
            return (f"too short: {duration:.2f} s ({n} frame{'s' if n != 1 else ''} at {fps:.3g} fps), "
                    f"the minimum is {limits.min_duration_s:g} s")
    return ""


# ---------------------------------------------------------------------------------------------
# The drop


def _row(drop: str, e: _Entry) -> dict:
    return dict(drop=drop, path=e.rel, kind=e.kind, status="quarantined", reason=e.reason, sha256="",
                size_bytes=e.size, codec="", width=0, height=0, fps=0.0, frames=0, duration_s=0.0,
                duplicate_of="")


def _ingest_entry(e: _Entry, drop: str, limits: IngestLimits, first_by_hash: dict[str, dict]) -> dict:
    row = _row(drop, e)
    if e.reason:
        return row
    if e.size > limits.max_bytes:
        row["reason"] = f"too large: {_fmt_bytes(e.size)} is over the limit of {_fmt_bytes(limits.max_bytes)}"
        return row
    try:
        row["sha256"] = sha256_file(e.path)
    except OSError as err:
        row["reason"] = f"cannot read the file: {(err.strerror or str(err)).lower()}"
        return row
    if e.kind == "other":
        ext = os.path.splitext(e.rel)[1].lower()
        row["reason"] = f"unsupported file type {ext}" if ext else "unsupported file type (no extension)"
        return row
    if e.size == 0:
        row["reason"] = "empty file (0 bytes)"
        return row
    src = first_by_hash.get(row["sha256"])  # the first file with this content (its row is probed below)
    if src is not None:
        row.update({k: src[k] for k in ("codec", "width", "height", "fps", "frames", "duration_s")})
        row["duplicate_of"] = src["path"]
        row["reason"] = f"duplicate of {src['path']} (identical content)"
        return row
    first_by_hash[row["sha256"]] = row
    fields, reason = _probe(e.path, e.kind, limits)
    row.update(fields)
    if reason:
        row["reason"] = reason
    else:
        row["status"] = "valid"
    return row


def ingest_drop(drop_dir: str | os.PathLike, *, limits: IngestLimits = IngestLimits(),
                progress: bool = False) -> pd.DataFrame:
    """Probe, hash and fully decode every file of a drop; returns the validated manifest
    (`genlca.data.manifest.ManifestSchema`), one row per file, sorted by path. Bad files are
    quarantined (status + reason); the drop is only read. Raises DropError only when the drop
    folder itself cannot be read."""
    root = _check_drop(drop_dir)
    drop = _display(Path(os.path.abspath(root)).name)  # the folder's name, escaped where it is not UTF-8
    if not drop:
        raise DropError(f"video drop {root} has no folder name (a drop is a folder below the file system root)")
    entries = _walk(root)
    rows: list[dict] = []
    first_by_hash: dict[str, dict] = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(e.size for e in entries), unit="B", unit_scale=True, unit_divisor=1024,
                   desc=f"ingest {drop}", dynamic_ncols=True)
    try:
        for e in entries:
            if bar is not None:
                bar.set_postfix_str(e.rel[-40:], refresh=False)
            rows.append(_ingest_entry(e, drop, limits, first_by_hash))
            if bar is not None:
                bar.update(e.size)
    finally:
        if bar is not None:
            bar.close()
    return validate_manifest(pd.DataFrame(rows, columns=list(COLUMNS)))  # coerces the types, also of no rows


__all__ = ["DropError", "IngestLimits", "ingest_drop", "is_ignored_name", "kind_of", "sha256_file",
           "DEFAULT_VIDEO_CODECS", "DEFAULT_IMAGE_CODECS", "VIDEO_EXTENSIONS", "IMAGE_EXTENSIONS"]

