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

`--floor` also fits every video from its TRUE 2D keypoints, exact and with Gaussian noise of
1.5% of the person's height (about mediapipe's median error here): how much of the error is
the detector's and how much is left to monocular fitting itself (depth ambiguity of limbs).

    python benchmarks/fitting.py                        # JSON to benchmarks/results/fitting.json
    python benchmarks/fitting.py --quick                # 2 videos x 12 frames
    python benchmarks/fitting.py --regime partial --videos 8
    python benchmarks/fitting.py --seeds 5 6 7 8 --floor --out benchmarks/results/fitting_floor.json
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


FLOOR_NOISE = 0.015  # x the person's height: about mediapipe's median keypoint error on these drops
# --floor's summary: mean PA-MPJPE per video of each source of 2D keypoints (summary key: row key)
FLOOR_MEANS = {"pa_mpjpe_mediapipe_mm": "pa_mpjpe_mm", "pa_mpjpe_true2d_mm": "pa_mpjpe_true2d_mm",
               "pa_mpjpe_true2d_noisy_mm": "pa_mpjpe_true2d_noisy_mm"}


def _frame_mean(errs: dict, key: str = "pa_mpjpe") -> float | None:
    """Mean of a per-frame error over the measured frames (mm, or degrees for root_deg), 1 decimal."""
    return round(float(np.nanmean(errs[key])), 1) if np.isfinite(errs[key]).any() else None


def floor_errors(gt: dict, body, config) -> dict:
    """PA-MPJPE of fits from the video's true 2D keypoints: exact, and with FLOOR_NOISE."""
    from genlca.fitting.evaluate import detections_from_ground_truth, frame_errors
    from genlca.fitting.fit import fit_video

    return {f"pa_mpjpe_true2d{'_noisy' if noise else ''}_mm": _frame_mean(frame_errors(
        fit_video(detections_from_ground_truth(gt, noise=noise), body, config), gt, body))
        for noise in (0.0, FLOOR_NOISE)}


def bench(drops: list[Path], max_videos: int | None, floor: bool = False) -> dict:
    from genlca.body import load_body_model
    from genlca.data.synth import load_ground_truth
    from genlca.fitting.detect import MediaPipeDetector, detect_video
    from genlca.fitting.evaluate import frame_errors, summarize
    from genlca.fitting.fit import FitConfig, fit_video

    body = load_body_model()
    config = FitConfig()
    videos = [v for drop in drops for v in sorted((drop / "videos").glob("*.mp4"))[:max_videos]]
    rows, errors = [], []
    with MediaPipeDetector() as detector:
        detect_video(videos[0], detector, max_frames=2)  # warm-up: graph creation is not per video
        for path in videos:
            drop = path.parent.parent
            c0 = _clock()
            det = detect_video(path, detector)
            c1 = _clock()
            fit = fit_video(det, body, config)
            c2 = _clock()
            n = int(det.keypoints.shape[0])
            gt = load_ground_truth(drop / "ground_truth" / path.stem, unpack=False)
            errs = frame_errors(fit, gt, body)
            errors.append(errs)
            stage = {}
            for name, (a, b) in (("detect", (c0, c1)), ("fit", (c1, c2))):
                wall, busy, own = b[0] - a[0], b[1] - a[1], b[2] - a[2]
                stage[name] = {"seconds": round(wall, 3), "fps": round(n / wall, 2),
                               "fps_per_core": round(n / own, 2) if own > 0 else None,
                               "cpu_seconds": round(own, 3), "others_busy_cores": round(max(busy - own, 0) / wall, 2)}
            rows.append({"video": path.stem if len(drops) == 1 else f"{drop.name}/{path.stem}", "frames": n, **stage,
                         "framing": gt["subject"].get("framing", ""),
                         "total_seconds": round(stage["detect"]["seconds"] + stage["fit"]["seconds"], 3),
                         "pa_mpjpe_mm": _frame_mean(errs), "pa_mpjpe_visible_mm": _frame_mean(errs, "pa_mpjpe_visible"),
                         "root_deg": _frame_mean(errs, "root_deg"),
                         "fitted_share": round(float(errs["fitted"].mean()), 3),
                         **(floor_errors(gt, body, config) if floor else {})})
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
            **({"mean_per_video": {out: round(statistics.fmean(r[k] for r in rows if r[k] is not None), 1)
                                   for out, k in FLOOR_MEANS.items()}} if floor else {}),
        },
        "fit_config": config.to_dict(),
    }


def print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    floor = "pa_mpjpe_true2d_mm" in result["videos"][0]
    t = Table("video", "framing", "frames", "det s", "det fps/core", "fit s", "fit fps/core", "busy", "PA mm",
              "PA vis mm", "root deg", "fitted", *(("PA mm true 2D", "PA mm true 2D + noise") if floor else ()),
              title="body fits per video (busy: other processes' cores)")
    for r in result["videos"]:
        t.add_row(r["video"], r["framing"], str(r["frames"]), f"{r['detect']['seconds']:.2f}",
                  str(r["detect"]["fps_per_core"]), f"{r['fit']['seconds']:.2f}", str(r["fit"]["fps_per_core"]),
                  f"{max(r['detect']['others_busy_cores'], r['fit']['others_busy_cores']):.1f}",
                  str(r["pa_mpjpe_mm"]), str(r["pa_mpjpe_visible_mm"]), str(r.get("root_deg")),
                  f"{r['fitted_share']:.0%}",
                  *((str(r["pa_mpjpe_true2d_mm"]), str(r["pa_mpjpe_true2d_noisy_mm"])) if floor else ()))
    c = Console(width=max(Console().width, 150))
    c.print(t)
    s = result["summary"]
    c.print(f"median per video: {s['seconds_per_video']} s ({s['fit_seconds_per_video']} s fitting); "
            f"detect {s['detect_fps_per_core']} fps/core, fit {s['fit_fps_per_core']} fps/core")
    a = s["accuracy"]
    c.print(f"PA-MPJPE {a['pa_mpjpe_mm']} mm (visible joints {a['pa_mpjpe_visible_mm']} mm), "
            f"body orientation {a['root_deg']} deg off "
            f"({a['facing_flipped_share']:.0%} of frames facing the wrong way), "
            f"fitted {a['fitted_share']:.0%}, per framing {json.dumps(a['fitted_share_by_framing'])}")
    if floor:
        m = s["mean_per_video"]
        c.print(f"mean per video: mediapipe {m['pa_mpjpe_mediapipe_mm']} mm; from the true 2D keypoints "
                f"{m['pa_mpjpe_true2d_mm']} mm exact, {m['pa_mpjpe_true2d_noisy_mm']} mm with noise "
                f"{FLOOR_NOISE:.1%} of the height")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--drop", type=Path, help="an existing synthetic drop (with ground_truth/)")
    p.add_argument("--videos", type=int, default=4)
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--regime", default="full", choices=["full", "partial", "mixed"])
    p.add_argument("--seeds", type=int, nargs="+", default=[5], help="one synthetic drop per seed")
    p.add_argument("--floor", action="store_true", help="also fit from the true 2D keypoints (exact and noisy)")
    p.add_argument("--quick", action="store_true", help="2 videos x 12 frames")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    a = p.parse_args(argv)
    if a.quick:
        a.videos, a.frames = 2, 12
    info = base_machine_info()
    with tempfile.TemporaryDirectory() as tmp:
        drops = [a.drop] if a.drop else []
        if a.drop is None:
            from genlca.data.synth import generate_drop

            for seed in a.seeds:
                drops.append(Path(tmp) / f"seed{seed}")
                generate_drop(drops[-1], videos=a.videos, frames=a.frames, size=a.size, regime=a.regime, seed=seed)
        result = bench(drops, a.videos, a.floor)
    seeds = a.seeds if len(a.seeds) > 1 else a.seeds[0]
    result = {"machine": {**info, "loadavg_end": loadavg()},
              "drop": str(a.drop) if a.drop else {"synthetic": True, "videos": a.videos, "frames": a.frames,
                                                  "size": a.size, "regime": a.regime, "seed": seeds},
              **result}
    write_result(a.out, result, print_table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
