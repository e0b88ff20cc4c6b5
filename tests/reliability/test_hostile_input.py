"""Hostile and broken input (issue 10): each gets a clear error or status naming the file and the reason, and the
rest of its drop proceeds.

`HOSTILE_CASES` lists every bad input tried, here or in the test named in its `where` (cases tests/test_ingest.py
already covers are referenced, not repeated); `hostile_cases()` is what benchmarks/reliability.py counts and
`cases_markdown()` renders the README's table from the same list.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import re
import struct
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np
import pytest
import torch
from PIL import Image

from genlca.data.ingest import DropError, ingest_drop
from genlca.data.video import read_video, write_video
from genlca.safe_files import NotSafetensorsError

pytestmark = pytest.mark.usefixtures("one_thread")

MESSI = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")  # a real photo of a person (Debian opencv-doc)


class HostileCase(NamedTuple):
    name: str    # short id
    given: str   # the hostile input
    gets: str    # what it gets
    where: str   # the test that checks it


T = "tests/reliability/test_hostile_input.py"
TI = "tests/test_ingest.py"
HOSTILE_CASES: list[HostileCase] = [
    # Drop names and partition keys
    HostileCase("partition_key_dotdot", 'partition key "../x" (or "..", "a/b")',
                "refused where it meets the file system (`ArtifactStore.path`, `DropsFolder.path`): ValueError "
                "naming the key and why (\"it holds a path separator\"); its run fails with that message, nothing is "
                "created outside the store root; other partitions are unaffected",
                f"{T}::test_partition_keys_never_leave_the_store, ::test_a_hostile_partition_key_fails_only_its_run"),
    HostileCase("partition_key_absolute", 'partition key "/etc"', "refused: \"it is an absolute path\"",
                f"{T}::test_partition_keys_never_leave_the_store"),
    HostileCase("drop_name_odd_characters", "drop folder named `bad name`, `-rf`, `a...b`, non-UTF-8 bytes, > 100 "
                "characters, or a symbolic link", "the drop sensor skips it and logs why once (tick's skip reason "
                "lists it too); the other drops get their partitions and runs; `DropsFolder.path` refuses such a "
                "partition key added by hand", f"{T}::test_sensor_skips_and_logs_bad_folder_names"),
    HostileCase("cli_drop_path", "`genlca ingest` on `a/../drop`, an absolute path, a folder named "
                "`we ird;$(x) ü` or with non-UTF-8 bytes", "ingested (the path is the user's own); the manifest's "
                "`drop` is the folder's name, escaped where it is not UTF-8 (it used to crash writing the manifest); "
                "`/` is refused: \"has no folder name\"", f"{T}::test_cli_ingest_takes_any_drop_path"),
    # Links
    HostileCase("symlink_out", "symbolic link leaving the drop", "quarantined \"symbolic link points outside the "
                "drop\", never read", f"{TI}::test_links_leaving_the_drop_are_not_read"),
    HostileCase("symlink_dir_broken", "symbolic link to a folder, broken link", "quarantined with the reason",
                f"{TI}::test_every_file_is_listed_with_the_right_status_and_reason, ::test_odd_entries_are_listed_"
                "not_fatal"),
    HostileCase("hardlink_out", "hard link to a file outside the drop", "read like any file (a hard link IS a file "
                "of the drop: the same bytes under a second name; the drop is only read, and it reaches nothing but "
                "those bytes); a second name of a file inside the drop is a duplicate", f"{T}::test_media_cases"),
    # Headers that lie
    HostileCase("huge_resolution_png", "PNG whose header claims 100000x100000", "quarantined \"too large: "
                "100000x100000 pixels is over the limit of 16777216 pixels per frame\" before allocating",
                f"{TI}::test_every_file_is_listed_with_the_right_status_and_reason"),
    HostileCase("huge_resolution_video", "AVI whose headers claim 100000x100000", "quarantined \"too large: "
                "100000x100000 pixels ...\" (FFmpeg is told max_pixels)", f"{T}::test_media_cases"),
    HostileCase("huge_frame_count", "MP4 (stts) or AVI header claiming 2,000,000,000 frames", "quarantined \"too "
                "long: its header announces 2000000000 frames, over the limit of 100000\" before decoding",
                f"{T}::test_media_cases"),
    HostileCase("lying_durations", "MP4 whose mvhd/mdhd/tkhd claim 24 days", "valid with the true frame count "
                "(FFmpeg counts the sample table)", f"{T}::test_media_cases"),
    HostileCase("no_video_stream", "audio-only MP4", "quarantined \"no video stream: the file holds only audio\"",
                f"{TI}::test_every_file_is_listed_with_the_right_status_and_reason"),
    # Unusual but legitimate video
    HostileCase("variable_frame_rate", "MP4 with frame intervals of 20 and 70 ms", "valid; fps = the average "
                "(frames / duration: about 22 here), every frame decodes", f"{T}::test_variable_frame_rate"),
    HostileCase("rotated", "MP4 with a display matrix (90, 180, 270 degrees, and mirrored)", "valid; width and "
                "height as displayed; `read_video` returns upright frames (it ignored the matrix before)",
                f"{T}::test_rotated_video_reads_upright"),
    HostileCase("grey", "grey H.264 (gray, gray10le), grey JPEG and PNG", "valid, read as 8-bit RGB (R = G = B)",
                f"{T}::test_media_cases"),
    HostileCase("high_bit_depth", "10-bit H.264, 10-bit ProRes, 16-bit PNG (grey and RGB)", "valid, read as 8-bit "
                "RGB (16-bit values / 257)", f"{T}::test_media_cases"),
    HostileCase("16bit_video", "16-bit RGB video (PNG frames in MOV: no allowed codec stores 16 bits)",
                "quarantined \"unsupported codec png (allowed for videos: h264, ...)\"", f"{T}::test_media_cases"),
    HostileCase("one_frame_video", "1-frame video", "quarantined \"too short: 0.04 s (1 frame at 24 fps), the "
                "minimum is 0.5 s\"", f"{TI}::test_every_file_is_listed_with_the_right_status_and_reason"),
    HostileCase("no_person", "photo of no person (a coffee cup) next to a photo of a person",
                "fit stage: its frame is unfitted, with the reason in quality.parquet (\"no person detected\"; for "
                "the cup mediapipe's segmenter sees a person, so \"no pose found, but a person mask\"); the other "
                "photo is fitted", f"{T}::test_an_image_of_no_person_is_reported_and_the_rest_is_fitted"),
    # Pickles
    HostileCase("pickle_tokens", "token file that is a pickle (torch.save, legacy torch.save, pickle.dump)",
                "NotSafetensorsError (a ValueError): \"PATH: not a safetensors file (a zip archive, the format of "
                "torch.save: a pickle inside); only safetensors files are read ...\"; the pickle's code never runs",
                f"{T}::test_pickles_are_refused_naming_the_file"),
    HostileCase("pickle_fit", "body fit that is a pickle", "the same error from load_fit / load_fit_meta / "
                "load_fit_masks; `fit_drop` fits the video again over it", f"{T}::test_pickles_are_refused_naming_the_"
                "file, ::test_an_image_of_no_person_is_reported_and_the_rest_is_fitted"),
    HostileCase("pickle_refiner", "tokenizer refiner weights that are a pickle", "the same error from load_refiner",
                f"{T}::test_pickles_are_refused_naming_the_file"),
    HostileCase("pickle_checkpoint", "GenLCA checkpoint weights that are a pickle", "the same error from "
                "load_checkpoint", f"{T}::test_pickles_are_refused_naming_the_file"),
    HostileCase("damaged_safetensors", "safetensors header claiming 2 GB, cut file, empty file", "NotSafetensorsError "
                "naming the file (not safetensors' bare \"header too large\")",
                f"{T}::test_damaged_safetensors_are_refused_naming_the_file"),
    HostileCase("checkpoint_json", "checkpoint.json with an unknown model key, or whose `weights` names a file "
                "outside its folder (`../../x.safetensors`)", "ValueError naming checkpoint.json and the reason; "
                "nothing outside the checkpoint folder is opened", f"{T}::test_hostile_checkpoint_descriptions"),
    # Configs
    HostileCase("params_unknown_key", "params.yaml with an unknown key (or a string for a number)", "ValueError "
                "\"params.yaml: unknown key(s) in 'ingest': max_byts\" (\"IngestLimits.max_bytes must be a number, got "
                "'big'\"); `genlca ingest` exits 2 with it", f"{T}::test_params_with_unknown_keys_are_refused"),
    HostileCase("run_config_unknown_key", "Dagster run config with an unknown key", "refused by Dagster before the "
                'run, naming the key: Received unexpected config entry "max_byts" at path root:ops:raw_videos:config',
                f"{T}::test_run_config_with_unknown_keys_is_refused"),
]


def hostile_cases() -> list[HostileCase]:
    """Every hostile input tried (for benchmarks/reliability.py: "bad inputs tried")."""
    return list(HOSTILE_CASES)


def cases_markdown() -> str:
    """The README's table: hostile input | what it gets | where tested."""
    rows = ["| hostile input | what it gets | where tested |", "|---|---|---|"]
    rows += [f"| {c.given} | {c.gets} | `{c.where.replace('tests/reliability/', '').replace('tests/', '')}` |"
             for c in HOSTILE_CASES]
    return "\n".join(rows) + "\n"


def test_cases_are_unique_and_complete():
    names = [c.name for c in HOSTILE_CASES]
    assert len(names) == len(set(names)) and all(c.given and c.gets and c.where for c in HOSTILE_CASES)
    tests = Path(__file__).resolve().parents[1]
    sources = {T: (tests / "reliability" / Path(T).name).read_text(), TI: (tests / Path(TI).name).read_text()}
    for c in HOSTILE_CASES:  # every test named here exists
        source = sources[c.where.split("::")[0]]
        for test in re.findall(r"::(test_\w+)", c.where):
            assert f"def {test}(" in source, (c.name, test)


# ---------------------------------------------------------------------------------------------
# Media


def _frames(n: int, w: int = 64, h: int = 48) -> np.ndarray:
    """Blue frames with a white bar moving right (every frame differs)."""
    out = np.empty((n, h, w, 3), np.uint8)
    out[:] = (40, 120, 200)
    for t in range(n):
        out[t, 8:24, 2 * t:2 * t + 12] = 250
    return out


def _encode(path: Path, codec: str = "libx264", pix_fmt: str = "yuv420p", n: int = 16, fmt: str | None = None,
            frames=None, src: str = "rgb24", rotation: int | None = None, hflip: bool = False) -> Path:
    frames = _frames(n) if frames is None else frames
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=24)
        s.height, s.width = frames[0].shape[:2]
        s.pix_fmt = pix_fmt
        if rotation is not None:
            s.set_display_rotation(rotation, hflip=hflip)
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format=src)):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def _patch(path: Path, edits) -> Path:
    """Overwrite header fields: (box/chunk tag, offset after the tag, struct format, value)."""
    data = bytearray(path.read_bytes())
    for tag, offset, fmt, value in edits:
        values = value if isinstance(value, tuple) else (value,)
        struct.pack_into(fmt, data, data.index(tag) + len(tag) + offset, *values)
    path.write_bytes(bytes(data))
    return path


def _snapshot(root: Path) -> list[tuple]:
    out = []
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        extra = os.readlink(p) if p.is_symlink() else hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        out.append((p.relative_to(root).as_posix(), st.st_mode, st.st_size, st.st_mtime_ns, extra))
    return out


# path -> (status, reason regex); every valid one is also decoded by `read_video` below.
MEDIA = {
    "good.mp4": ("valid", ""),
    "grey/gray.mp4": ("valid", ""),
    "grey/gray10.mp4": ("valid", ""),
    "grey/gray8.jpg": ("valid", ""),
    "grey/gray8.png": ("valid", ""),
    "depth/ten_bit.mp4": ("valid", ""),
    "depth/prores.mov": ("valid", ""),
    "depth/gray16.png": ("valid", ""),
    "depth/rgb48.png": ("valid", ""),
    "depth/rgb48_video.mov": ("quarantined", r"^unsupported codec png \(allowed for videos: h264, hevc, "),
    "header/huge_res.avi": ("quarantined", r"^too large: 100000x100000 pixels is over the limit of 16777216 pixels "
                                           r"per frame$"),
    "header/huge_frames.avi": ("quarantined", r"^too long: its header announces 2000000000 frames, over the limit "
                                              r"of 100000$"),
    "header/huge_frames.mp4": ("quarantined", r"^too long: its header announces 2000000000 frames, over the limit "
                                              r"of 100000$"),
    "header/lying_durations.mp4": ("valid", ""),
    "links/hardlink_in.mp4": ("quarantined", r"^duplicate of good\.mp4 \(identical content\)$"),
    "links/hardlink_out.mp4": ("valid", ""),
}


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    drop = base / "drop"
    for sub in ("grey", "depth", "header", "links"):
        (drop / sub).mkdir(parents=True)
    write_video(drop / "good.mp4", _frames(16))
    _encode(drop / "grey/gray.mp4", pix_fmt="gray")
    _encode(drop / "grey/gray10.mp4", pix_fmt="gray10le")
    Image.fromarray(_frames(1)[0, :, :, 2]).save(drop / "grey/gray8.jpg", quality=95)
    Image.fromarray(_frames(1)[0, :, :, 2]).save(drop / "grey/gray8.png")
    _encode(drop / "depth/ten_bit.mp4", pix_fmt="yuv420p10le")
    _encode(drop / "depth/prores.mov", codec="prores", pix_fmt="yuv422p10le")
    Image.fromarray(np.arange(48 * 64, dtype=np.uint16).reshape(48, 64) * 21).save(drop / "depth/gray16.png")
    rgb48 = [f.astype(np.uint16) * 257 for f in _frames(16)]
    _encode(drop / "depth/rgb48.png", codec="png", pix_fmt="rgb48be", fmt="image2", frames=rgb48[:1], src="rgb48le")
    _encode(drop / "depth/rgb48_video.mov", codec="png", pix_fmt="rgb48be", frames=rgb48, src="rgb48le")
    huge = _encode(drop / "header/huge_res.avi", codec="mpeg4")
    _patch(huge, [(b"avih", 4 + 32, "<II", (100_000, 100_000)), (b"strf", 4 + 4, "<ii", (100_000, 100_000))])
    _patch(_encode(drop / "header/huge_frames.avi", codec="mpeg4"),
           [(b"avih", 4 + 16, "<I", 2_000_000_000), (b"strh", 4 + 32, "<I", 2_000_000_000)])
    _patch(_encode(drop / "header/huge_frames.mp4"), [(b"stts", 8, ">I", 2_000_000_000)])  # entry 1's count
    _patch(_encode(drop / "header/lying_durations.mp4"),
           [(b"mvhd", 16, ">I", 0x7FFFFFFF), (b"mdhd", 16, ">I", 0x7FFFFFFF), (b"tkhd", 20, ">I", 0x7FFFFFFF)])
    outside = write_video(base / "outside.mp4", _frames(20))
    os.link(outside, drop / "links/hardlink_out.mp4")
    os.link(drop / "good.mp4", drop / "links/hardlink_in.mp4")
    before = _snapshot(base)
    df = ingest_drop(drop)
    return drop, df.set_index("path"), before


@pytest.mark.parametrize("path", sorted(MEDIA))
def test_media_cases(media, path):
    """Status and reason of each file; valid ones decode to 8-bit RGB of the size and count the manifest says."""
    drop, df, _ = media
    status, pattern = MEDIA[path]
    row = df.loc[path]
    assert row.status == status and re.search(pattern, row.reason), (path, row.status, row.reason)
    if status != "valid":
        assert row.reason
        return
    frames = read_video(drop / path)
    assert frames.dtype == np.uint8 and frames.shape == (row.frames, row.height, row.width, 3), path
    if "gray" in path:  # grey in, grey out: R = G = B
        assert np.abs(frames.astype(int) - frames[..., :1]).max() <= 1, path
    if path == "depth/gray16.png":  # 16-bit values scaled to 8 bits
        want = np.arange(48 * 64).reshape(48, 64) * 21 / 257
        assert np.abs(frames[0, :, :, 0] - want).max() < 2  # swscale rounds its own way
    elif path == "depth/rgb48.png":
        assert np.abs(frames[0].astype(int) - _frames(1)[0]).max() <= 1
    elif "gray" not in path:  # lossy: the bar and the background are where they should be
        assert np.abs(frames[0, 40:, :].mean((0, 1)) - (40, 120, 200)).max() < 12, path
        assert frames[0, 10:20, 2:10].mean() > 220, path
    if path == "header/lying_durations.mp4":
        assert row.frames == 16 and row.duration_s == pytest.approx(16 / 24, abs=1e-3)
    if path.startswith("links/hardlink_out"):
        assert row.frames == 20 and row.sha256 == hashlib.sha256((drop.parent / "outside.mp4").read_bytes()).hexdigest()


def test_media_drop_and_its_neighbours_are_untouched(media):
    drop, df, before = media
    assert _snapshot(drop.parent) == before  # nothing in the drop or beside it was written
    assert len(df) == len(MEDIA) and df.loc["good.mp4", "status"] == "valid"  # the rest of the drop proceeds


def test_variable_frame_rate(tmp_path):
    with av.open(str(tmp_path / "vfr.mp4"), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)
        t = 0
        for i, f in enumerate(_frames(24)):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts, vf.time_base = t, Fraction(1, 1000)
            t += 70 if i % 2 == 0 else 20  # 14 fps and 50 fps, alternating
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    row = ingest_drop(tmp_path).iloc[0]
    assert row.status == "valid", row.reason
    assert row.frames == 24 and 14 < row.fps < 50
    assert row.fps == pytest.approx(24 / row.duration_s) and row.duration_s == pytest.approx(24 * 0.045, rel=0.05)
    assert read_video(tmp_path / "vfr.mp4").shape == (24, 48, 64, 3)


@pytest.mark.parametrize("rotation, hflip", [(90, False), (180, False), (-90, False), (90, True)])
def test_rotated_video_reads_upright(tmp_path, rotation, hflip):
    """A phone's portrait clip: landscape frames + a display matrix. The pipeline must see the person upright."""
    upright = np.zeros((64, 48, 3), np.uint8)  # portrait, as displayed: red top, blue bottom-left quarter
    upright[:32] = (230, 20, 20)
    upright[32:, :24] = (20, 20, 230)
    stored = np.rot90(upright[:, ::-1] if hflip else upright, -rotation // 90)  # what the camera wrote
    _encode(tmp_path / "phone.mp4", frames=[np.ascontiguousarray(stored)] * 12, rotation=rotation, hflip=hflip)
    row = ingest_drop(tmp_path).iloc[0]
    assert row.status == "valid" and (row.width, row.height) == (48, 64)  # as displayed
    got = read_video(tmp_path / "phone.mp4")
    assert got.shape == (12, 64, 48, 3)
    assert np.abs(got[0].astype(int) - upright).mean() < 8


# ---------------------------------------------------------------------------------------------
# Drop names and partition keys


BAD_KEYS = {"../x": "it holds a path separator", "/etc": "it is an absolute path", "..": "which names no file",
            ".": "which names no file", "": "it is empty", "a/b": "path separator", "a\\b": "path separator",
            "x\0y": "NUL byte"}
ODD_NAMES = {"a b": "it holds ' '", "-rf": "it starts with '-'", "a...b": "'...'", "caf\udce9": "it holds '\\udce9'",
             "x" * 101: "longer than 100", ".hidden": "it starts with '.'", "x;rm -rf ~": "it holds ' ', ';', '~'",
             "d1\n": "it holds '\\n'"}


@pytest.mark.parametrize("key", sorted(BAD_KEYS))
def test_partition_keys_never_leave_the_store(tmp_path, key):
    from orchestration.resources import ArtifactStore, DropsFolder

    store = ArtifactStore(root=str(tmp_path / "store" / "data"))
    drops = DropsFolder(root=str(tmp_path / "store" / "drops"))
    calls = [(key, lambda: store.path("fits", key, "quality.parquet")), (key, lambda: drops.path(key))]
    if re.search(r"[/\\\0]", key):  # with a suffix ("..parquet") the others are plain file names
        calls.append((f"{key}.parquet", lambda: store.path("manifests", f"{key}.parquet")))
    for named, call in calls:
        with pytest.raises(ValueError) as e:
            call()
        assert f"{named!r} refused: " in str(e.value), str(e.value)
        assert BAD_KEYS[key] in str(e.value), str(e.value)
    assert list(tmp_path.rglob("*")) == []  # nothing created, inside the root or out of it


@pytest.mark.parametrize("name", sorted(ODD_NAMES))
def test_odd_drop_names_are_refused_as_partition_keys(tmp_path, name):
    from orchestration.resources import DropsFolder

    with pytest.raises(ValueError, match=re.escape(ODD_NAMES[name])) as e:
        DropsFolder(root=str(tmp_path)).path(name)
    assert str(e.value).startswith(f"drop name {name!r} refused: ")
    assert DropsFolder(root=str(tmp_path)).path("drop-2024.06_01") == tmp_path / "drop-2024.06_01"


def test_a_hostile_partition_key_fails_only_its_run(tmp_path):
    import dagster as dg

    from assets.drop_assets import raw_videos
    from assets.partitions import drops_partitions, valid_drop_keys
    from orchestration.resources import ArtifactStore, DropsFolder

    root = tmp_path / "jail"
    write_video(root / "drops" / "d1" / "a.mp4", _frames(16))
    (root / "data").mkdir()  # the store root (so its parent's listing does not change below)
    (tmp_path / "x").mkdir()  # what "../x" would reach from drops/
    write_video(tmp_path / "x" / "a.mp4", _frames(16))
    before = _snapshot(tmp_path)
    res = {"drops": DropsFolder(root=str(root / "drops")), "store": ArtifactStore(root=str(root / "data"))}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(drops_partitions.name, ["../x", "d1"])
        assert valid_drop_keys(instance.get_dynamic_partitions(drops_partitions.name)) == ["d1"]
        bad = dg.materialize([raw_videos], instance=instance, partition_key="../x", resources=res,
                             raise_on_error=False, run_config={"ops": {"raw_videos": {"config": {"dvc_track": False}}}})
        good = dg.materialize([raw_videos], instance=instance, partition_key="d1", resources=res,
                              run_config={"ops": {"raw_videos": {"config": {"dvc_track": False}}}})
    assert not bad.success
    errors = []
    for event in bad.all_events:
        err = event.step_failure_data.error if event.is_step_failure else None
        while err is not None:  # Dagster's error, then the asset's own as its cause
            errors.append(err.message)
            err = err.cause
    assert any("drop name '../x' refused: it holds a path separator" in m for m in errors), errors
    assert good.success
    outside = lambda snap: [s for s in snap if not s[0].startswith("jail/data")]  # noqa: E731
    assert outside(_snapshot(tmp_path)) == outside(before)  # nothing outside the store root was created or changed
    assert sorted(p.name for p in (root / "data").rglob("*.parquet")) == ["d1.parquet"]


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def _tick(instance, drops, cursor=None):
    """One sensor evaluation: (its result, the lines it logged)."""
    import dagster as dg

    from orchestration.sensors import drop_sensor

    ctx = dg.build_sensor_context(instance=instance, resources={"drops": drops}, cursor=cursor)
    lines = _Lines()
    ctx.log.addHandler(lines)  # the sensor's logger is Dagster's own, outside the logging tree
    return drop_sensor(ctx), [line for line in lines.lines if "skipped" in line]


def test_sensor_skips_and_logs_bad_folder_names(tmp_path):
    import dagster as dg

    from orchestration.resources import DropsFolder

    for name in ["good-1", "a b", "-rf", "a...b", "x" * 101]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "_READY").touch()
    os.mkdir(os.fsencode(tmp_path) + b"/caf\xe9")
    (tmp_path / "elsewhere").symlink_to(tmp_path / "good-1")  # a drop that is a link: not followed
    drops = DropsFolder(root=str(tmp_path), settle_seconds=3600)
    with dg.instance_for_test() as instance:
        first, warned = _tick(instance, drops)
        instance.add_dynamic_partitions("drops", ["good-1"])
        second, warned_again = _tick(instance, drops, first.cursor)
    assert [r.partition_key for r in first.run_requests] == ["good-1"]  # the good drop proceeds
    assert len(warned) == 6
    for name, why in [("a b", "it holds ' '"), ("-rf", "it starts with '-'"), ("a...b", "'...'"),
                      ("caf\udce9", "it holds '\\udce9'"), ("x" * 101, "longer than 100 characters"),
                      ("elsewhere", "symbolic link")]:
        assert any(m.startswith(f"drop folder {name!r} skipped: ") and why in m for m in warned), (name, warned)
    assert not second.run_requests and not warned_again  # logged once, not on every tick
    assert second.skip_reason.skip_message.startswith("no new complete drop; skipped: '-rf' (it starts with '-'")


def test_cli_ingest_takes_any_drop_path(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from genlca.cli import app
    from genlca.data.manifest import read_manifest

    odd = tmp_path / "we ird;$(x) ü"
    latin1 = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9"))
    for d in (odd, latin1):
        write_video(d / "a.mp4", _frames(16))
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    runner = CliRunner()
    for given, name in [(f"../sub/../{odd.name}", odd.name), (str(odd), odd.name), (str(latin1), "caf\\xe9")]:
        out = tmp_path / "m.parquet"
        r = runner.invoke(app, ["ingest", given, "--out", str(out)])
        assert r.exit_code == 0, r.output
        df = read_manifest(out)
        assert list(df["drop"]) == [name] and list(df["status"]) == ["valid"], given
    with pytest.raises(DropError, match="has no folder name"):
        ingest_drop("/")


# ---------------------------------------------------------------------------------------------
# Pickles and damaged tensor files


class _Payload:
    """Unpickling this creates its marker file: proof that a loader ran the pickle's code."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return open, (self.marker, "w")


def _write_pickle(path: Path, marker: Path, how: str) -> Path:
    obj = {"maps": torch.zeros(2), "payload": _Payload(str(marker))}
    path.parent.mkdir(parents=True, exist_ok=True)
    if how == "torch.save":
        torch.save(obj, path)
    elif how == "torch.save legacy":
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    else:
        path.write_bytes(pickle.dumps(obj, protocol=4))
    return path


def _loaders():
    from genlca.diffusion.train import load_checkpoint
    from genlca.fitting.store import load_fit, load_fit_masks, load_fit_meta
    from genlca.tokenizer.refine import FEATURES
    from genlca.tokenizer.tokens import load_tokens
    from genlca.tokenizer.train import CONFIG_FILE, MODEL_FILE, load_refiner

    def refiner(folder: Path) -> Path:
        config = {"features": list(FEATURES), "width": 8, "depth": 1, "in_channels": len(FEATURES)}
        (folder / CONFIG_FILE).write_text(json.dumps(config))
        return folder / MODEL_FILE

    def checkpoint(folder: Path) -> Path:
        (folder / "checkpoint.json").write_text('{"model": {"input_size": 16, "patch_size": 8, "hidden_size": 32, '
                                                '"depth": 1, "num_heads": 2}, "weights": "model.safetensors"}')
        return folder / "model.safetensors"

    return {  # name -> (the file a loader reads, given its folder; the loader, given that folder)
        "tokens": (lambda f: f / "vid_000.safetensors", lambda f: load_tokens(f / "vid_000.safetensors")),
        "fit": (lambda f: f / "vid_000.safetensors", lambda f: load_fit(f / "vid_000.safetensors")),
        "fit_meta": (lambda f: f / "vid_000.safetensors", lambda f: load_fit_meta(f / "vid_000.safetensors")),
        "fit_masks": (lambda f: f / "vid_000.safetensors", lambda f: load_fit_masks(f / "vid_000.safetensors")),
        "refiner": (refiner, load_refiner),
        "checkpoint": (checkpoint, load_checkpoint),
    }


@pytest.mark.parametrize("how", ["torch.save", "torch.save legacy", "pickle.dump"])
@pytest.mark.parametrize("loader", ["tokens", "fit", "fit_meta", "fit_masks", "refiner", "checkpoint"])
def test_pickles_are_refused_naming_the_file(tmp_path, loader, how):
    target, load = _loaders()[loader]
    folder = tmp_path / "model"
    folder.mkdir()
    marker = tmp_path / "pwned"
    path = _write_pickle(target(folder), marker, how)
    with pytest.raises(NotSafetensorsError) as e:
        load(folder)
    msg = str(e.value)
    assert msg.startswith(f"{path}: not a safetensors file (") and "only safetensors files are read" in msg, msg
    assert ("zip archive" if how == "torch.save" else "a pickle (protocol") in msg, msg
    assert isinstance(e.value, ValueError) and not marker.exists()  # refused before anything was unpickled
    if loader == "tokens" and how == "torch.save":  # weights_only refuses it too, and the file is truly hostile
        copy = tmp_path / "tokens.pt"  # (torch.load hands *.safetensors names to safetensors)
        copy.write_bytes(path.read_bytes())
        with pytest.raises(pickle.UnpicklingError):
            torch.load(copy, weights_only=True)
        assert not marker.exists()
        torch.load(copy, weights_only=False)
        assert marker.exists()


@pytest.mark.parametrize("damage, what", [
    ("header_2gb", "not a safetensors file (not in the safetensors layout)"),
    ("cut", "damaged safetensors file ("),
    ("empty", "not a safetensors file (an empty file)"),
    ("text", "not a safetensors file (text)"),
])
def test_damaged_safetensors_are_refused_naming_the_file(tmp_path, damage, what):
    from genlca.io_utils import save_tensors
    from genlca.tokenizer.tokens import load_tokens

    path = tmp_path / "t.safetensors"
    save_tensors(path, {"maps": torch.zeros(64, 64)}, {"kind": "avatar_tokens", "body_model": "anny"})
    data = path.read_bytes()
    path.write_bytes({"header_2gb": struct.pack("<Q", 2**31) + data[8:], "cut": data[: len(data) // 2],
                      "empty": b"", "text": b"maps: [0, 0, 0]\n" * 4}[damage])
    with pytest.raises(NotSafetensorsError) as e:
        load_tokens(path)
    assert str(e.value).startswith(f"{path}: {what}"), str(e.value)


# ---------------------------------------------------------------------------------------------
# Configs


def test_params_with_unknown_keys_are_refused(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from genlca.cli import app
    from genlca.data.ingest import IngestLimits
    from genlca.params import stage_params

    params = tmp_path / "params.yaml"
    params.write_text("ingest:\n  max_byts: 5\n")
    with pytest.raises(ValueError, match=re.escape(f"{params}: unknown key(s) in 'ingest': max_byts")):
        stage_params("ingest", params)
    write_video(tmp_path / "drop" / "a.mp4", _frames(16))
    monkeypatch.setenv("GENLCA_PARAMS", str(params))
    r = CliRunner().invoke(app, ["ingest", str(tmp_path / "drop"), "--out", str(tmp_path / "m.parquet")])
    assert r.exit_code == 2 and "unknown key(s) in 'ingest': max_byts" in " ".join(r.output.split()), r.output
    assert not (tmp_path / "m.parquet").exists()
    with pytest.raises(ValueError, match=r"^IngestLimits\.max_bytes must be a number, got 'big'$"):
        IngestLimits(max_bytes="big")


def test_run_config_with_unknown_keys_is_refused(tmp_path):
    import dagster as dg

    from assets.drop_assets import raw_videos
    from assets.partitions import drops_partitions
    from orchestration.resources import ArtifactStore, DropsFolder

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(drops_partitions.name, ["d1"])
        with pytest.raises(dg.DagsterInvalidConfigError) as e:
            dg.materialize([raw_videos], instance=instance, partition_key="d1",
                           resources={"drops": DropsFolder(root=str(tmp_path / "drops")),
                                      "store": ArtifactStore(root=str(tmp_path / "data"))},
                           run_config={"ops": {"raw_videos": {"config": {"max_byts": 5}}}})
    assert 'unexpected config entry "max_byts" at path root:ops:raw_videos:config' in str(e.value)
    assert not (tmp_path / "data").exists()


# ---------------------------------------------------------------------------------------------
# Fitting


@pytest.mark.skipif(not MESSI.is_file(), reason=f"{MESSI} is absent (Debian package opencv-doc not installed)")
def test_an_image_of_no_person_is_reported_and_the_rest_is_fitted(tmp_path, anny):
    import shutil

    import skimage.data

    from genlca.fitting.fit import FitConfig
    from genlca.fitting.pipeline import fit_drop
    from genlca.fitting.store import load_fit, load_quality

    drop, out = tmp_path / "drop", tmp_path / "fits"
    drop.mkdir()
    shutil.copyfile(MESSI, drop / "messi5.jpg")
    Image.fromarray(skimage.data.coffee()).save(drop / "coffee.jpg")  # a cup of coffee: nobody
    marker = tmp_path / "pwned"
    _write_pickle(out / "messi5.safetensors", marker, "torch.save")  # a pickle planted where the fit goes
    manifest = ingest_drop(drop)
    assert list(manifest["status"]) == ["valid", "valid"]
    result = fit_drop(drop, manifest, out, anny, FitConfig(iters=40, limb_iters=20, root_iters=30))
    q = load_quality(out).set_index("video")
    assert not q.loc["coffee", "fitted"]
    # The segmenter sees a "person" in the cup (a false positive), so the reason may be the mask one.
    assert q.loc["coffee", "reason"] in ("no person detected",
                                         "no pose found, but a person mask (only part of the body in view?)")
    assert q.loc["messi5", "fitted"] and q.loc["messi5", "reproj_error_px"] < 20
    assert {v["video"]: v["error"] for v in result.videos} == {"coffee": "", "messi5": ""}
    assert load_fit(out / "messi5.safetensors").fitted.all() and not marker.exists()  # refitted, never unpickled


@pytest.mark.parametrize("meta, why", [
    ('{"model": {"input_size": 16, "patch_size": 8, "hidden_size": 32, "depth": 1, "num_heads": 2, "evil": 1}}',
     "not a usable GenLCA checkpoint description"),
    ('{"model": {"input_size": 16, "patch_size": 8, "hidden_size": 32, "depth": 1, "num_heads": 2}, '
     '"weights": "../../outside.safetensors"}', "'weights' must name a file inside the checkpoint folder"),
    ("{not json", "not a usable GenLCA checkpoint description"),
])
def test_hostile_checkpoint_descriptions(tmp_path, meta, why):
    from genlca.diffusion.train import load_checkpoint

    folder = tmp_path / "a" / "b" / "ckpt"
    folder.mkdir(parents=True)
    (folder / "checkpoint.json").write_text(meta)
    with pytest.raises(ValueError) as e:
        load_checkpoint(folder)
    assert str(e.value).startswith(f"{folder / 'checkpoint.json'}: ") and why in str(e.value)
