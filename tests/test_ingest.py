"""Ingest of a video drop: every file listed, bad ones quarantined with a reason, drop untouched."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import struct
import zlib
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pandera.errors
import pytest
from PIL import Image

from genlca.data.ingest import DropError, IngestLimits, ingest_drop, is_ignored_name
from genlca.data.manifest import COLUMNS, ManifestSchema, read_manifest, write_manifest
from genlca.data.video import write_video

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


# ---------------------------------------------------------------------------------------------
# Building files


def _frames(n: int, w: int = 64, h: int = 48, seed: int = 0) -> np.ndarray:
    """Moving bar over a textured background (so every frame costs real bits)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, h, w, 3), np.uint8)
    for t in range(n):
        f = out[t]
        f[:] = (30 + 9 * t % 200, 90, 160)
        f[h // 2:] = rng.integers(0, 255, (h - h // 2, w, 3))
        x = (4 * t) % (w - 8)
        f[4:16, x:x + 8] = 255
    return out


def _encode(path: Path, n: int, codec: str = "libx264", fmt: str = "mp4", w: int = 64, h: int = 48,
            fps: int = 24, pix_fmt: str = "yuv420p", container_options: dict | None = None) -> Path:
    with av.open(str(path), "w", format=fmt, options=container_options or {}) as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        for f in _frames(n, w, h):
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("aac", rate=44100)
        for i in range(30):
            fr = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            fr.sample_rate, fr.pts = 44100, i * 1024
            for p in s.encode(fr):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def _png_claiming(path: Path, w: int, h: int) -> Path:
    """A tiny PNG whose header claims w x h pixels (a decompression-bomb style header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    return path


def _snapshot(root: Path) -> list[tuple]:
    """Relative path, type, size, mtime and content hash (or link target) of everything."""
    out = []
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        if p.is_symlink():
            extra = os.readlink(p)
        elif p.is_file():
            extra = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            extra = "dir"
        out.append((p.relative_to(root).as_posix(), st.st_mode, st.st_size, st.st_mtime_ns, extra))
    return out


# Expected status / reason (regex) / kind of every file of the drop built below.
EXPECTED = {
    "Camera/CLIP.MP4": ("valid", "", "video"),
    "bad/audio.mp4": ("quarantined", r"^no video stream: the file holds only audio$", "video"),
    "bad/corrupt.mp4": ("quarantined", r"^truncated or corrupt video: decoding failed after \d+ of 48 frames \(.+\)$",
                        "video"),
    "bad/empty.mp4": ("quarantined", r"^empty file \(0 bytes\)$", "video"),
    "bad/huge_header.png": ("quarantined", r"^too large: 100000x100000 pixels is over the limit of 16777216 ",
                            "image"),
    "bad/lossless.mkv": ("quarantined", r"^unsupported codec ffv1 \(allowed for videos: h264, ", "video"),
    "bad/no_index.mp4": ("quarantined", r"^truncated or corrupt video: FFmpeg cannot open it \(.*moov atom not found\)$",
                         "video"),
    "bad/one_frame.mp4": ("quarantined", r"^too short: 0\.04 s \(1 frame at 24 fps\), the minimum is 0\.5 s$", "video"),
    "bad/text.mp4": ("quarantined", r"^not a video file: it contains text$", "video"),
    "bad/truncated.mp4": ("quarantined", r"^truncated or corrupt video: the file ends after \d+ of the 48 frames its "
                          r"header announces \(\d+ decoded\)$", "video"),
    "bad/truncated.webm": ("quarantined", r"^truncated or corrupt video: the file ends at 0\.\d\d s of the 1\.00 s its "
                           r"header announces", "video"),
    "good/a.mp4": ("valid", "", "video"),
    "good/a_copy.mp4": ("quarantined", r"^duplicate of good/a\.mp4 \(identical content\)$", "video"),
    "good/b.avi": ("valid", "", "video"),
    "good/c.webm": ("valid", "", "video"),
    "good/photo.jpg": ("valid", "", "image"),
    "good/photo.png": ("valid", "", "image"),
    "good/z_link.mp4": ("quarantined", r"^duplicate of good/a\.mp4 \(identical content\)$", "video"),
    "good_again": ("quarantined", r"^symbolic link to a folder \(links to folders are not followed\)$", "other"),
    "link_out.mp4": ("quarantined", r"^symbolic link points outside the drop$", "video"),
    "notes.txt": ("quarantined", r"^unsupported file type \.txt$", "other"),
}

# (width, height, frames, fps, duration_s, codec) of the valid files.
GOOD = {
    "Camera/CLIP.MP4": (48, 32, 20, 24.0, 20 / 24, "h264"),
    "good/a.mp4": (64, 48, 16, 24.0, 16 / 24, "h264"),
    "good/b.avi": (64, 48, 24, 24.0, 1.0, "mpeg4"),
    "good/c.webm": (64, 48, 24, 24.0, 1.0, "vp9"),
    "good/photo.jpg": (64, 48, 1, 1.0, 0.0, "mjpeg"),
    "good/photo.png": (64, 48, 1, 1.0, 0.0, "png"),
}


@pytest.fixture(scope="module")
def drop(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("ingest")
    root = base / "drop-2024-06-01"
    good, bad = root / "good", root / "bad"
    for d in (good, bad, root / "Camera", root / ".hidden"):
        d.mkdir(parents=True)
    write_video(good / "a.mp4", _frames(16), fps=24)
    _encode(good / "b.avi", 24, codec="mpeg4", fmt="avi")
    _encode(good / "c.webm", 24, codec="libvpx-vp9", fmt="webm")
    _encode(root / "Camera" / "CLIP.MP4", 20, w=48, h=32)
    Image.fromarray(_frames(1)[0]).save(good / "photo.png")
    Image.fromarray(_frames(1)[0]).save(good / "photo.jpg", quality=90)
    shutil.copyfile(good / "a.mp4", good / "a_copy.mp4")
    (good / "z_link.mp4").symlink_to("a.mp4")                      # inside the drop: a duplicate
    (root / "good_again").symlink_to("good", target_is_directory=True)
    outside = write_video(base / "outside.mp4", _frames(16, seed=3))
    (root / "link_out.mp4").symlink_to(outside)                     # leaves the drop
    (root / "notes.txt").write_text("shot on my phone\n")

    # Truncated: with the index in front (faststart) the first half still decodes ...
    full = _encode(base / "fs.mp4", 48, container_options={"movflags": "faststart"}).read_bytes()
    (bad / "truncated.mp4").write_bytes(full[: len(full) // 2])
    # ... with the index at the end (write_video's layout) the file cannot even be opened.
    full = write_video(base / "tail.mp4", _frames(16)).read_bytes()
    (bad / "no_index.mp4").write_bytes(full[: len(full) // 2])
    full = _encode(base / "full.webm", 24, codec="libvpx-vp9", fmt="webm").read_bytes()
    (bad / "truncated.webm").write_bytes(full[: len(full) // 2])
    # Corrupt: a zeroed range in the middle (lost sectors, a broken download).
    data = bytearray(_encode(base / "c48.mp4", 48).read_bytes())
    n = len(data)
    data[n // 4: n // 2] = bytes(n // 2 - n // 4)
    (bad / "corrupt.mp4").write_bytes(bytes(data))
    (bad / "text.mp4").write_text("this is not a video\n" * 20)
    (bad / "empty.mp4").write_bytes(b"")
    _audio_only(bad / "audio.mp4")
    _encode(bad / "lossless.mkv", 12, codec="ffv1", fmt="matroska")
    _encode(bad / "one_frame.mp4", 1)
    _png_claiming(bad / "huge_header.png", 100_000, 100_000)

    # Not part of the drop's content: never listed.
    (root / ".DS_Store").write_bytes(b"\x00\x01junk")
    (root / "_READY").write_text("")
    write_video(root / ".hidden" / "secret.mp4", _frames(16))
    return root


@pytest.fixture(scope="module")
def ingested(drop):
    before = _snapshot(drop)
    df = ingest_drop(drop)
    return df, before


def test_every_file_is_listed_with_the_right_status_and_reason(ingested, drop):
    df, _ = ingested
    assert list(df["path"]) == sorted(EXPECTED)  # exactly these rows, sorted by path
    assert set(COLUMNS) <= set(df.columns)
    assert (df["drop"] == drop.name).all()
    for row in df.itertuples():
        status, pattern, kind = EXPECTED[row.path]
        assert (row.status, row.kind) == (status, kind), (row.path, row.status, row.reason)
        if status == "valid":
            assert row.reason == "" and row.duplicate_of == ""
        else:
            assert re.search(pattern, row.reason), (row.path, row.reason)
    ManifestSchema.validate(df)


def test_valid_rows_carry_the_true_probe_values(ingested, drop):
    df = ingested[0].set_index("path")
    for path, (w, h, frames, fps, duration, codec) in GOOD.items():
        row = df.loc[path]
        assert (row.width, row.height, row.frames, row.codec) == (w, h, frames, codec), path
        assert row.fps == pytest.approx(fps) and row.duration_s == pytest.approx(duration, abs=1e-4), path
        assert row.sha256 == hashlib.sha256((drop / path).read_bytes()).hexdigest()
        assert row.size_bytes == (drop / path).stat().st_size


def test_duplicates_point_at_the_first_copy_and_keep_its_probe(ingested):
    df = ingested[0].set_index("path")
    for dup in ("good/a_copy.mp4", "good/z_link.mp4"):
        assert df.loc[dup, "duplicate_of"] == "good/a.mp4"
        assert df.loc[dup, "sha256"] == df.loc["good/a.mp4", "sha256"]
        assert df.loc[dup, "frames"] == 16
    assert (df.loc[df["duplicate_of"] != "", "status"] == "quarantined").all()


def test_links_leaving_the_drop_are_not_read(ingested):
    row = ingested[0].set_index("path").loc["link_out.mp4"]
    assert row.sha256 == "" and row.size_bytes == 0 and row.frames == 0


def test_the_drop_is_left_byte_identical(ingested, drop):
    _, before = ingested
    ingest_drop(drop, limits=IngestLimits(max_bytes=1000))  # a second pass with other limits, too
    assert _snapshot(drop) == before


def test_ingest_is_deterministic(ingested, drop):
    pd.testing.assert_frame_equal(ingested[0], ingest_drop(drop))


def test_size_limits_refuse_before_decoding(drop):
    df = ingest_drop(drop, limits=IngestLimits(max_bytes=2000)).set_index("path")
    row = df.loc["good/a.mp4"]
    assert row.status == "quarantined" and row.sha256 == ""  # not even hashed
    assert re.fullmatch(r"too large: \d+\.\d KiB is over the limit of 2\.0 KiB", row.reason), row.reason

    df = ingest_drop(drop, limits=IngestLimits(max_pixels=64 * 48 - 1)).set_index("path")
    assert df.loc["good/a.mp4", "reason"] == "too large: 64x48 pixels is over the limit of 3071 pixels per frame"
    assert df.loc["Camera/CLIP.MP4", "status"] == "valid"  # 48x32 fits


def test_frame_limits_from_header_and_while_decoding(tmp_path):
    _encode(tmp_path / "a.mp4", 40)                                  # header: 40 frames
    _encode(tmp_path / "b.webm", 40, codec="libvpx-vp9", fmt="webm")  # header: duration only
    df = ingest_drop(tmp_path, limits=IngestLimits(max_frames=30)).set_index("path")
    assert df.loc["a.mp4", "reason"] == "too long: its header announces 40 frames, over the limit of 30"
    assert re.fullmatch(r"too long: its header announces 1\.7 s at 24 fps \(about 40 frames\), over the limit of 30 "
                        r"frames", df.loc["b.webm", "reason"])
    assert df.loc["a.mp4", "frames"] == 0  # refused before decoding
    df = ingest_drop(tmp_path, limits=IngestLimits(max_frames=39)).set_index("path")
    assert df.loc["b.webm", "reason"] == "too long: more than 39 frames"  # 40 > 39 but within the 5% header slack


def test_codec_list_and_min_duration_are_configurable(drop):
    df = ingest_drop(drop, limits=IngestLimits(video_codecs=("h264", "ffv1"), min_duration_s=0.0)).set_index("path")
    assert df.loc["bad/lossless.mkv", "status"] == "valid"
    assert df.loc["bad/one_frame.mp4", "status"] == "valid"
    assert df.loc["good/b.avi", "reason"].startswith("unsupported codec mpeg4 (allowed for videos: h264, ffv1)")


def test_strict_mode_quarantines_concealed_decoder_errors(tmp_path):
    img = tmp_path / "p.jpg"
    Image.fromarray(_frames(1)[0]).save(img, quality=90)
    data = img.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) * 2 // 3])  # FFmpeg conceals the missing part
    img.unlink()
    row = ingest_drop(tmp_path).iloc[0]
    assert row.status == "quarantined"
    assert row.reason.startswith("truncated or corrupt image: the decoder reported errors near frame 1"), row.reason
    assert ingest_drop(tmp_path, limits=IngestLimits(strict=False)).iloc[0].status == "valid"


def test_missing_drop_and_not_a_folder_raise_drop_error(tmp_path):
    with pytest.raises(DropError, match=re.escape(str(tmp_path / "nope"))):
        ingest_drop(tmp_path / "nope")
    (tmp_path / "f.mp4").write_bytes(b"x")
    with pytest.raises(DropError, match="not a directory"):
        ingest_drop(tmp_path / "f.mp4")


def test_unreadable_drop_raises_and_unreadable_subfolder_is_listed(tmp_path, monkeypatch):
    # Permissions are simulated (tests may run as root, who reads everything).
    import genlca.data.ingest as ingest

    drop = tmp_path / "d"
    (drop / "private").mkdir(parents=True)
    write_video(drop / "ok.mp4", _frames(16))
    denied = {str(drop / "private")}
    real_scandir = os.scandir

    def scandir(path="."):
        if str(path) in denied:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(ingest.os, "scandir", scandir)
    df = ingest_drop(drop)
    assert list(df["path"]) == ["ok.mp4", "private"]
    assert list(df["status"]) == ["valid", "quarantined"]
    assert df["reason"].iloc[1] == "cannot read the folder: permission denied"
    denied.add(str(drop))
    with pytest.raises(DropError, match=f"{re.escape(str(drop))} cannot be read: permission denied"):
        ingest_drop(drop)


def test_empty_drop_gives_an_empty_valid_manifest(tmp_path):
    (tmp_path / "_READY").write_text("")
    (tmp_path / ".DS_Store").write_bytes(b"x")
    df = ingest_drop(tmp_path)
    assert len(df) == 0 and set(COLUMNS) <= set(df.columns)
    back = read_manifest(write_manifest(df, tmp_path.parent / "empty.parquet"))
    assert len(back) == 0


def test_manifest_round_trip(ingested, tmp_path):
    df = ingested[0].copy()
    df["dvc_hash"] = "abc"  # extra columns are allowed and kept
    out = write_manifest(df, tmp_path / "m" / "drop.parquet")
    assert sorted(p.name for p in out.parent.iterdir()) == ["drop.parquet"]  # atomic: no temp file left
    pd.testing.assert_frame_equal(read_manifest(out), df)


def _valid_row(**kw) -> dict:
    row = dict(drop="d", path="a.mp4", kind="video", status="valid", reason="", sha256="0" * 64, size_bytes=10,
               codec="h264", width=64, height=48, fps=24.0, frames=16, duration_s=0.67, duplicate_of="")
    row.update(kw)
    return row


@pytest.mark.parametrize("bad", [
    dict(sha256=""),                                  # valid without a hash
    dict(fps=0.0),                                    # valid without a frame rate
    dict(reason="looks odd"),                         # valid with a reason
    dict(status="quarantined"),                       # quarantined without a reason
    dict(status="ok"),                                # unknown status
    dict(kind="other"),                               # "other" files are never valid
    dict(path="/abs/a.mp4"),                          # not relative
    dict(path="../a.mp4"),                            # leaves the drop
    dict(duplicate_of="b.mp4", status="quarantined", reason="duplicate of b.mp4"),  # names no row
])
def test_schema_rejects_bad_rows(bad):
    ManifestSchema.validate(pd.DataFrame([_valid_row()]))
    with pytest.raises(pandera.errors.SchemaErrors):
        write_manifest(pd.DataFrame([_valid_row(**bad)]), "/nonexistent/never-written.parquet")


def test_schema_rejects_duplicate_and_unsorted_paths():
    with pytest.raises(pandera.errors.SchemaError):
        ManifestSchema.validate(pd.DataFrame([_valid_row(), _valid_row()]))
    with pytest.raises(pandera.errors.SchemaError):
        ManifestSchema.validate(pd.DataFrame([_valid_row(path="b.mp4"), _valid_row(path="a.mp4", sha256="1" * 64)]))


def test_ignored_names():
    assert all(is_ignored_name(n) for n in (".DS_Store", "._clip.mp4", "_READY", "Thumbs.db", ".Trashes"))
    assert not any(is_ignored_name(n) for n in ("clip.mp4", "notes.txt", "_clip.mp4", "READY"))


@pytest.mark.skipif(not VTEST.is_file(), reason=f"{VTEST} is absent (Debian package opencv-doc not installed)")
def test_real_footage_vtest_avi_is_valid(tmp_path):
    shutil.copyfile(VTEST, tmp_path / "vtest.avi")
    row = ingest_drop(tmp_path).iloc[0]
    assert row.status == "valid", row.reason
    assert (row.width, row.height, row.codec) == (768, 576, "msmpeg4v3")
    assert row.frames == 795 and row.fps == pytest.approx(10.0) and row.duration_s == pytest.approx(79.5)


def test_odd_entries_are_listed_not_fatal(tmp_path):
    drop = tmp_path / "odd"
    drop.mkdir()
    write_video(drop / "ok.mp4", _frames(16))
    os.mkfifo(drop / "pipe.mp4")                       # opening it would block forever
    (drop / "gone.mp4").symlink_to(drop / "missing.mp4")
    (drop / "README").write_text("x")
    (drop / "z\\slash.mp4").write_bytes((drop / "ok.mp4").read_bytes())
    bad_name = os.fsencode(str(drop)) + b"/caf\xe9.mp4"    # Latin-1 name, not UTF-8
    with open(bad_name, "wb") as f:
        f.write(b"\x00" * 10)
    df = ingest_drop(drop).set_index("path")
    reasons = df["reason"].to_dict()
    assert reasons["ok.mp4"] == ""
    assert reasons["pipe.mp4"] == "not a regular file (a named pipe)"
    assert reasons["gone.mp4"] == "broken symbolic link: its target does not exist"
    assert reasons["README"] == "unsupported file type (no extension)"
    assert reasons["z\\slash.mp4"] == "duplicate of ok.mp4 (identical content)"
    assert reasons["caf\\xe9.mp4"] == "file name is not valid UTF-8 (rename it)"
    read_manifest(write_manifest(df.reset_index(), tmp_path / "odd.parquet"))
