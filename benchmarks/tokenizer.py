"""Benchmark of the tokenizer: unprojection and refinement-network speed, side by side.

On a synthetic drop (made here, or `--drop DIR`), per video with its true fit and masks:

  unproject   pose the template per frame, texel visibility (z-buffer), colour sampling, with the
              frames un-mixed from their background (a render of the avatar's alpha per frame), and
              side by side without the un-mixing (`unproject_video(unmix=False)`): its cost
  refine      one forward pass of the refinement network per video (each size asked for)

Reported: frames per second and frames per CPU-second of this process (= per core) for the
unprojection, videos per second and per CPU-second for each network size, and how busy other
processes kept the machine (`others_busy_cores`; these machines are shared).

    python benchmarks/tokenizer.py                 # JSON to benchmarks/results/tokenizer.json
    python benchmarks/tokenizer.py --quick         # 2 videos x 12 frames
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from common import RESULTS, base_machine_info, loadavg, proc_busy, write_result  # noqa: E402  (benchmarks/ is on sys.path)

DEFAULT_OUT = RESULTS / "tokenizer.json"


def _clock():
    snap = proc_busy()
    return snap if snap is not None else (time.perf_counter(), 0.0, 0.0)


def _rates(a, b, items: int) -> dict:
    wall, busy, own = b[0] - a[0], b[1] - a[1], b[2] - a[2]
    return {"seconds": round(wall, 4), "per_second": round(items / wall, 2),
            "per_core_second": round(items / own, 2) if own > 0 else None,
            "others_busy_cores": round(max(busy - own, 0) / wall, 2) if wall > 0 else None}


def bench(drop: Path, sizes: list[str], repeats: int) -> dict:
    from genlca.body import load_body_model
    from genlca.body.uv_layout import uv_layout
    from genlca.data.synth import load_ground_truth
    from genlca.data.video import read_video
    from genlca.fitting.evaluate import fit_from_ground_truth
    from genlca.tokenizer.refine import Refiner_models
    from genlca.tokenizer.tokens import neutral_maps, template_features, texel_features
    from genlca.tokenizer.unproject import unproject_video

    body = load_body_model()
    layout = uv_layout(body, 128)
    rows, inputs = [], []
    for gt_dir in sorted(p for p in (drop / "ground_truth").iterdir() if (p / "maps.safetensors").is_file()):
        gt = load_ground_truth(gt_dir)
        frames = read_video(drop / "videos" / f"{gt_dir.name}.mp4")
        fit = fit_from_ground_truth(gt)
        c0 = _clock()
        unproject_video(frames, fit, body, layout, gt["frames"]["person_mask"], unmix=False)
        c1 = _clock()
        up = unproject_video(frames, fit, body, layout, gt["frames"]["person_mask"])
        c2 = _clock()
        rows.append({"video": gt_dir.name, "frames": len(frames), **_rates(c1, c2, len(frames)),
                     "without_unmixing": _rates(c0, c1, len(frames))})
        shape = gt["maps"]["shape"]
        inputs.append((texel_features(up, template_features(body, layout, shape)), neutral_maps(body, layout, shape)))
    feats = torch.stack([f for f, _ in inputs])
    neutral = torch.stack([n for _, n in inputs])
    nets = {}
    for size in sizes:
        model = Refiner_models[size]().eval()
        with torch.no_grad():
            model(feats[:1], neutral[:1])  # warm-up
            runs = []
            for _ in range(repeats):
                c0 = _clock()
                for i in range(len(inputs)):
                    model(feats[i:i + 1], neutral[i:i + 1])
                runs.append(_rates(c0, _clock(), len(inputs)))
        best = min(runs, key=lambda r: r["seconds"])
        nets[size] = {"parameters": sum(p.numel() for p in model.parameters()), **best}
    return {
        "unproject": rows,
        "summary": {
            "videos": len(rows), "frames_per_video": rows[0]["frames"] if rows else 0,
            "unproject_fps": statistics.median(r["per_second"] for r in rows),
            "unproject_fps_per_core": statistics.median(r["per_core_second"] for r in rows if r["per_core_second"]),
            "unproject_fps_without_unmixing": statistics.median(r["without_unmixing"]["per_second"] for r in rows),
            "unproject_fps_per_core_without_unmixing": statistics.median(
                r["without_unmixing"]["per_core_second"] for r in rows if r["without_unmixing"]["per_core_second"]),
        },
        "refiner": nets,
        "threads": torch.get_num_threads(),
    }


def print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    c = Console(width=max(Console().width, 100))
    t = Table("stage", "unit", "per second", "per core-second", "others busy", title="tokenizer speed")
    s = result["summary"]
    busy = max((r["others_busy_cores"] or 0) for r in result["unproject"])
    t.add_row(f"unproject ({s['frames_per_video']} frames/video)", "frames", f"{s['unproject_fps']:.1f}",
              f"{s['unproject_fps_per_core']:.1f}", f"{busy:.1f}")
    t.add_row("  the same without un-mixing", "frames", f"{s['unproject_fps_without_unmixing']:.1f}",
              f"{s['unproject_fps_per_core_without_unmixing']:.1f}", "")
    for size, r in result["refiner"].items():
        t.add_row(f"refiner {size} ({r['parameters'] / 1e6:.2f} M)", "videos", f"{r['per_second']:.1f}",
                  str(r["per_core_second"]), str(r["others_busy_cores"]))
    c.print(t)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--drop", type=Path, help="an existing synthetic drop (with ground_truth/)")
    p.add_argument("--videos", type=int, default=4)
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--sizes", default="tiny,small,base")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="2 videos x 12 frames, 1 repeat")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    a = p.parse_args(argv)
    if a.quick:
        a.videos, a.frames, a.repeats = 2, 12, 1
    info = base_machine_info()
    with tempfile.TemporaryDirectory() as tmp:
        drop = a.drop
        if drop is None:
            from genlca.data.synth import generate_drop

            drop = Path(tmp) / "drop"
            generate_drop(drop, videos=a.videos, frames=a.frames, size=256, regime="full", seed=a.seed)
        result = bench(drop, a.sizes.split(","), a.repeats)
    result = {"machine": {**info, "loadavg_end": loadavg()},
              "drop": str(a.drop) if a.drop else {"synthetic": True, "videos": a.videos, "frames": a.frames,
                                                  "seed": a.seed}, **result}
    write_result(a.out, result, print_table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
