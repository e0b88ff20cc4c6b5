"""Benchmark of drop ingest: decode throughput of `ingest_drop` against raw PyAV decoding.

Ingest probes, hashes and fully decodes every file, so its cost should be the decode itself.
On the same files, side by side in one run (methods interleaved in every repeat, after one
untimed warm-up pass of each), frames per second of:

  raw PyAV (default threading)   for f in container.decode(video=0): pass
  raw PyAV (thread_type AUTO)    the same with stream.thread_type = "AUTO" (what ingest uses)
  ingest_drop                    listing + sha256 + header checks + full decode + schema validation

ratio = ingest fps / raw fps, for both baselines (goal: >= 0.8 against each). The median of the
repeats is reported. Files: `--videos` H.264 videos of `--size`² px and `--frames` frames written
with genlca.data.video.write_video (a moving pattern over noise, so frames cost real bits), or
the files of an existing drop (`--drop DIR`; only those ingest finds valid, linked into a
temporary drop, so both sides do the same work).

`bench_synth` (synthetic drop generation in videos per minute, and whether ingest accepts what
it writes) runs when `genlca.data.synth` is importable (`--synth N` videos, default 2; 0 skips
it); it is recorded as skipped otherwise.

    python benchmarks/ingest.py                      # JSON to benchmarks/results/ingest.json
    python benchmarks/ingest.py --quick              # fewer repeats
    python benchmarks/ingest.py --drop data/drops/x  # a real drop
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from genlca.data.ingest import ingest_drop, sha256_file
from genlca.data.video import ENCODER, write_video

from common import RESULTS, base_machine_info, loadavg, proc_busy  # noqa: E402  (benchmarks/ is on sys.path)

DEFAULT_OUT = RESULTS / "ingest.json"
GOAL_RATIO = 0.8


# ---------------------------------------------------------------------------------------------
# Machine information


def machine_info() -> dict:
    return {
        **base_machine_info(),
        "pyav": av.__version__,
        "ffmpeg_libavcodec": ".".join(map(str, av.library_versions["libavcodec"])),
    }


# ---------------------------------------------------------------------------------------------
# Inputs


def make_videos(folder: Path, videos: int, frames: int, size: int, seed: int = 0) -> list[Path]:
    """H.264 .mp4 files: a bright square moving over slowly changing noise."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(videos):
        base = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        clip = np.empty((frames, size, size, 3), np.uint8)
        for t in range(frames):
            f = np.roll(base, shift=2 * t + i, axis=1)
            x = (5 * t + 17 * i) % (size - size // 4)
            f[size // 3: size // 3 + size // 4, x: x + size // 4] = (240, 200, 60)
            clip[t] = f
        paths.append(write_video(folder / f"video_{i:03d}.mp4", clip, fps=24))
    return paths


# ---------------------------------------------------------------------------------------------
# Methods


def raw_decode(paths: list[Path], thread_type: str | None) -> int:
    frames = 0
    for p in paths:
        with av.open(str(p)) as container:
            if thread_type:
                container.streams.video[0].thread_type = thread_type
            for _ in container.decode(video=0):
                frames += 1
    return frames


def run_ingest(drop: Path) -> int:
    df = ingest_drop(drop)
    return int(df.loc[df["status"] == "valid", "frames"].sum())


def hash_only(paths: list[Path]) -> int:
    for p in paths:
        sha256_file(p)
    return 0


def valid_only(drop: Path, into: Path) -> Path:
    """A drop holding only the files of `drop` that ingest finds valid (hard links, else copies),
    so ingest and raw decoding time exactly the same work."""
    df = ingest_drop(drop)
    for rel in df.loc[df["status"] == "valid", "path"]:
        dst = into / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        src = (drop / rel).resolve()
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
    return into


def bench_decode(drop: Path, repeats: int) -> dict:
    df = ingest_drop(drop)
    if (df["status"] != "valid").any():
        raise ValueError(f"{drop}: holds quarantined files; time valid_only(drop, ...) instead")
    valid = df[df["status"] == "valid"]
    paths = [drop / p for p in valid["path"]]
    if not paths:
        raise SystemExit(f"{drop}: no valid video to time")
    with av.open(str(paths[0])) as c:
        default_thread_type = str(c.streams.video[0].thread_type)
    methods = {
        "raw_default": lambda: raw_decode(paths, None),
        "raw_auto": lambda: raw_decode(paths, "AUTO"),
        "ingest": lambda: run_ingest(drop),
        "sha256_only": lambda: hash_only(paths),
    }
    # Warm-up (page cache, codec init); the ingest above was ingest's own.
    counts = {name: fn() for name, fn in methods.items() if name != "ingest"}
    counts["ingest"] = int(valid["frames"].sum())
    times: dict[str, list[float]] = {name: [] for name in methods}
    cpu: dict[str, list[float]] = {name: [] for name in methods}
    p0 = proc_busy()
    for _ in range(repeats):
        for name, fn in methods.items():
            c0, t0 = os.times(), time.perf_counter()
            counts[name] = fn()
            times[name].append(time.perf_counter() - t0)
            c1 = os.times()
            cpu[name].append((c1.user + c1.system) - (c0.user + c0.system))
    p1 = proc_busy()
    other = None
    if p0 and p1 and p1[0] > p0[0]:  # CPUs kept busy by other processes meanwhile
        wall, busy, own = (b - a for a, b in zip(p0, p1))
        other = round(max(0.0, busy - own) / wall, 2)
    frames = int(valid["frames"].sum())
    assert counts["raw_default"] == counts["raw_auto"] == counts["ingest"] == frames, counts
    med = {name: statistics.median(ts) for name, ts in times.items()}
    fps = {name: frames / med[name] for name in ("raw_default", "raw_auto", "ingest")}
    return {
        "files": len(paths),
        "frames": frames,
        "bytes": int(valid["size_bytes"].sum()),
        "pyav_default_thread_type": default_thread_type,
        "repeats": repeats,
        "seconds_median": {k: round(v, 5) for k, v in med.items()},
        "seconds_all": {k: [round(x, 5) for x in v] for k, v in times.items()},
        "cpu_seconds_median": {k: round(statistics.median(v), 5) for k, v in cpu.items()},
        "other_load_cpus": other,
        "ingest_overhead_s_vs_raw_auto": round(med["ingest"] - med["raw_auto"], 5),
        "fps": {k: round(v, 1) for k, v in fps.items()},
        "ratio_vs_raw_default": round(fps["ingest"] / fps["raw_default"], 3),
        "ratio_vs_raw_auto": round(fps["ingest"] / fps["raw_auto"], 3),
        "goal_ratio": GOAL_RATIO,
        "goal_met": bool(min(fps["ingest"] / fps["raw_default"], fps["ingest"] / fps["raw_auto"]) >= GOAL_RATIO),
    }


def bench_synth(videos: int, frames: int, size: int) -> dict:
    """Synthetic drop generation speed (videos per minute), and whether ingest accepts its output.
    Skipped when `genlca.data.synth` is not importable or videos == 0."""
    if videos <= 0:
        return {"skipped": "not requested (--synth 0)"}
    try:
        from genlca.data.synth import generate_drop
    except Exception as e:  # noqa: BLE001 - any import failure means "not available here"
        return {"skipped": f"genlca.data.synth not importable ({type(e).__name__}: {e})"}
    tmp = Path(tempfile.mkdtemp(prefix="genlca-bench-synth-"))
    try:
        out = tmp / "synth-bench"
        t0 = time.perf_counter()
        try:
            generate_drop(out, videos=videos, frames=frames, size=size, regime="mixed", seed=0)
        except Exception as e:  # noqa: BLE001 - report, do not crash the decode benchmark
            return {"error": f"{type(e).__name__}: {e}"}
        seconds = time.perf_counter() - t0
        df = ingest_drop(out)
        vids = df[df["kind"] == "video"]
        return {
            "videos": videos, "frames": frames, "size": size, "seconds": round(seconds, 2),
            "videos_per_minute": round(60 * videos / seconds, 2),
            "ingest_valid": int((vids["status"] == "valid").sum()), "ingest_videos": len(vids),
            "ingest_reasons": sorted(set(vids.loc[vids["status"] != "valid", "reason"])),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Report


def print_table(res: dict, synth: dict, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title, caption=f"{res['files']} files, {res['frames']} frames, "
                                   f"{res['bytes'] / 1e6:.1f} MB; medians of {res['repeats']} runs")
    t.add_column("method")
    t.add_column("seconds", justify="right")
    t.add_column("frames/s", justify="right")
    t.add_column("CPU s", justify="right")
    t.add_column("ingest / this", justify="right")
    labels = {"raw_default": f"raw PyAV decode (default: {res['pyav_default_thread_type']})",
              "raw_auto": "raw PyAV decode (thread_type AUTO)", "ingest": "ingest_drop (hash + probe + decode)"}
    ratios = {"raw_default": res["ratio_vs_raw_default"], "raw_auto": res["ratio_vs_raw_auto"], "ingest": 1.0}
    for key, label in labels.items():
        t.add_row(label, f"{res['seconds_median'][key]:.3f}", f"{res['fps'][key]:.0f}",
                  f"{res['cpu_seconds_median'][key]:.3f}", f"{ratios[key]:.2f}")
    t.add_row("sha256 of the same files", f"{res['seconds_median']['sha256_only']:.4f}", "",
              f"{res['cpu_seconds_median']['sha256_only']:.4f}", "")
    console = Console()
    console.print(t)
    verdict = "met" if res["goal_met"] else "NOT met"
    console.print(f"goal: ingest >= {GOAL_RATIO:.0%} of raw decode throughput (both baselines): {verdict}")
    if res["other_load_cpus"] is not None:
        console.print(f"other processes kept {res['other_load_cpus']} CPUs busy during the timed runs "
                      f"(timings are only comparable on an otherwise idle machine)")
    if "videos_per_minute" in synth:
        console.print(f"synth: {synth['videos_per_minute']} videos/min ({synth['videos']} videos of "
                      f"{synth['frames']} frames at {synth['size']} px); ingest valid "
                      f"{synth['ingest_valid']}/{synth['ingest_videos']}")
    else:
        console.print(f"synth: {synth.get('skipped') or synth.get('error')}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--drop", type=Path, help="time an existing drop instead of generated videos")
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="3 repeats")
    ap.add_argument("--synth", type=int, default=2, metavar="N",
                    help="time synthetic drop generation of N videos (skipped when genlca.data.synth is not "
                         "importable; 0: skip)")
    ap.add_argument("--synth-frames", type=int, default=24)
    ap.add_argument("--synth-size", type=int, default=256)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    repeats = 3 if args.quick else args.repeats

    info = machine_info()
    tmp = Path(tempfile.mkdtemp(prefix="genlca-bench-ingest-"))
    if args.drop:
        drop, source = valid_only(args.drop, tmp / "valid-files"), {"drop": str(args.drop)}
    else:
        drop = tmp / "bench-drop"
        make_videos(drop, args.videos, args.frames, args.size)
        source = {"generated": {"videos": args.videos, "frames": args.frames, "size": args.size,
                                "codec": ENCODER}}
    try:
        res = bench_decode(drop, repeats)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    synth = bench_synth(args.synth, args.synth_frames, args.synth_size)
    info["loadavg_end"] = loadavg()
    print_table(res, synth, title=f"ingest decode throughput ({info['cpu']}, {info['cpu_affinity']} CPUs)")
    report = {"benchmark": "ingest", "machine": info, "input": source, "decode": res, "synth": synth}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
