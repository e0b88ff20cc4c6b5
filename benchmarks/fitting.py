"""Benchmark of body fits: detection and fitting speed per video, with the accuracy they buy.

On a synthetic drop (made here with `genlca.data.synth`, or `--drop DIR` with ground truth),
for every video, side by side in one run:

  detect   mediapipe pose + segmentation (+ HOG for small people) over all frames
  fit      `fit_video` (one intra-op thread by design)

Reported per stage: wall seconds per video, frames per second, and frames per CPU-second of
this process (= frames per second per core: mediapipe may use more than one thread, so wall
fps alone would flatter it on a many-core machine). The machine's load from other processes
during the run is recorded (`others_busy_cores`); these machines are shared. Accuracy against
ground truth (PA-MPJPE, share of frames fitted, per framing) comes with it, so a faster setting
can be judged on what it costs.

    python benchmarks/fitting.py                        # JSON to benchmarks/results/fitting.json
    python benchmarks/fitting.py --quick                # 2 videos x 12 frames
    python benchmarks/fitting.py --regime partial --videos 8
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from common import RESULTS, base_machine_info, loadavg, proc_busy, write_result  # noqa: E402  (benchmarks/ is on sys.path)

DEFAULT_OUT = RESULTS / "fitting.json"


def _clock():
    snap = proc_busy()
    return snap if snap is not None else (time.perf_counter(), 0.0, 0.0)


def bench(drop: Path, max_videos: int | None) -> dict:
    from genlca.body import load_body_model
    from genlca.data.synth import load_ground_truth
    from genlca.fitting.detect import MediaPipeDetector, detect_video
    from genlca.fitting.evaluate import frame_errors, summarize
    from genlca.fitting.fit import FitConfig, fit_video

    body = load_body_model()
    config = FitConfig()
    videos = sorted((drop / "videos").glob("*.mp4"))[:max_videos]
    rows, errors = [], []
    with MediaPipeDetector() as detector:
        detect_video(videos[0], detector, max_frames=2)  # warm-up: graph creation is not per video
        for path in videos:
            c0 = _clock()
            det = detect_video(path, detector)
            c1 = _clock()
            fit = fit_video(det, body, config)
            c2 = _clock()
            n = int(det.keypoints.shape[0])
            errs = frame_errors(fit, load_ground_truth(drop / "ground_truth" / path.stem, unpack=False), body)
            errors.append(errs)
            stage = {}
            for name, (a, b) in (("detect", (c0, c1)), ("fit", (c1, c2))):
                wall, busy, own = b[0] - a[0], b[1] - a[1], b[2] - a[2]
                stage[name] = {"seconds": round(wall, 3), "fps": round(n / wall, 2),
                               "fps_per_core": round(n / own, 2) if own > 0 else None,
                               "cpu_seconds": round(own, 3), "others_busy_cores": round(max(busy - own, 0) / wall, 2)}
            rows.append({"video": path.stem, "frames": n, **stage,
                         "total_seconds": round(stage["detect"]["seconds"] + stage["fit"]["seconds"], 3),
                         "pa_mpjpe_mm": round(float(np.nanmean(errs["pa_mpjpe"])), 1) if errs["fitted"].any() else None,
                         "pa_mpjpe_visible_mm": (round(float(np.nanmean(errs["pa_mpjpe_visible"])), 1)
                                                 if np.isfinite(errs["pa_mpjpe_visible"]).any() else None),
                         "fitted_share": round(float(errs["fitted"].mean()), 3)})
    combined = {k: np.concatenate([e[k] for e in errors]) for k in errors[0]}
    med = lambda key, sub: round(statistics.median(r[key][sub] for r in rows), 3)  # noqa: E731
    return {
        "videos": rows,
        "summary": {
            "videos": len(rows), "frames_per_video": rows[0]["frames"] if rows else 0,
            "detect_fps": med("detect", "fps"), "detect_fps_per_core": med("detect", "fps_per_core"),
            "fit_fps": med("fit", "fps"), "fit_fps_per_core": med("fit", "fps_per_core"),
            "seconds_per_video": round(statistics.median(r["total_seconds"] for r in rows), 2),
            "fit_seconds_per_video": med("fit", "seconds"),
            "accuracy": summarize(combined),
        },
        "fit_config": config.to_dict(),
    }


def print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table("video", "frames", "det s", "det fps/core", "fit s", "fit fps/core", "busy", "PA mm", "PA vis mm",
              "fitted",
              title="body fits per video (busy: other processes' cores)")
    for r in result["videos"]:
        t.add_row(r["video"], str(r["frames"]), f"{r['detect']['seconds']:.2f}", str(r["detect"]["fps_per_core"]),
                  f"{r['fit']['seconds']:.2f}", str(r["fit"]["fps_per_core"]),
                  f"{max(r['detect']['others_busy_cores'], r['fit']['others_busy_cores']):.1f}",
                  str(r["pa_mpjpe_mm"]), str(r["pa_mpjpe_visible_mm"]), f"{r['fitted_share']:.0%}")
    c = Console(width=max(Console().width, 110))
    c.print(t)
    s = result["summary"]
    c.print(f"median per video: {s['seconds_per_video']} s ({s['fit_seconds_per_video']} s fitting); "
            f"detect {s['detect_fps_per_core']} fps/core, fit {s['fit_fps_per_core']} fps/core")
    a = s["accuracy"]
    c.print(f"PA-MPJPE {a['pa_mpjpe_mm']} mm (visible joints {a['pa_mpjpe_visible_mm']} mm), "
            f"fitted {a['fitted_share']:.0%}, per framing {json.dumps(a['fitted_share_by_framing'])}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--drop", type=Path, help="an existing synthetic drop (with ground_truth/)")
    p.add_argument("--videos", type=int, default=4)
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--regime", default="full", choices=["full", "partial", "mixed"])
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="2 videos x 12 frames")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    a = p.parse_args(argv)
    if a.quick:
        a.videos, a.frames = 2, 12
    info = base_machine_info()
    with tempfile.TemporaryDirectory() as tmp:
        drop = a.drop
        if drop is None:
            from genlca.data.synth import generate_drop

            drop = Path(tmp) / "drop"
            generate_drop(drop, videos=a.videos, frames=a.frames, size=a.size, regime=a.regime, seed=a.seed)
        result = bench(drop, a.videos)
    result = {"machine": {**info, "loadavg_end": loadavg()},
              "drop": str(a.drop) if a.drop else {"synthetic": True, "videos": a.videos, "frames": a.frames,
                                                  "size": a.size, "regime": a.regime, "seed": a.seed},
              **result}
    write_result(a.out, result, print_table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
