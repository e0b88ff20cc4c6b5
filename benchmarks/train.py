"""Benchmark of the diffusion training step: seconds per optimizer step, samples/s and peak memory, and the
overhead of visibility-aware training over naive training (goal: at most 5%).

One training step is what `genlca.diffusion.train`'s Lightning module does per batch, without Lightning:

    training_loss(model, batch, mode)   forward: noise, timesteps, CFG dropout, the DiT, the masked loss
    loss.backward()                     backward
    clip_grad_norm_ + AdamW.step + EMA  optimizer (TrainConfig defaults: grad_clip 1.0, EMA lerp per parameter)

Batches are synthetic but shaped like training's: random normalized maps zero off the body's UV chart (the
Anny layout at resolution R), a partial-visibility mask per sample (a random subset of body parts observed,
each with some texels missing), and the image condition `partial_condition` builds (probability 0.5).
Methods, per model size and R, all on ONE model and optimizer, interleaved:

    visibility_aware        flow.training_loss(mode="visibility_aware"): learnable mask token + masked loss
    naive                   mode="naive": no token, loss over every chart texel
    visibility_aware+text   visibility-aware with a random caption embedding (pooled + up to 32 tokens)

After `warmup` untimed steps per method, each of `rounds` rounds runs every method for k steps (k: about
`round_seconds` per method), alternating step by step in a rotating order so that machine noise hits them
alike. A round's value is the median of its k steps; the statistic is the median over rounds, and the
overhead is the median of the per-round ratios visibility_aware / naive (quartiles reported with it).
Each step's process CPU seconds are recorded too: other processes preempting this one inflate wall time but
not CPU time, so on a shared CPU the CPU-time ratio is the steadier of the two (on CUDA it means nothing).
The goal is judged on wall time. On a busy 2-core machine an A/A test (naive against naive) shows a noise
floor of a few percent in either ratio: read the quartiles before a pass or FAIL near 1.05.
Peak memory is measured per (size, R, method) in a fresh subprocess: on CPU the peak resident set (VmHWM,
reset after the model, optimizer and batches exist) minus the resident set at that point; on CUDA
torch.cuda.max_memory_allocated minus the allocation at that point.

    python benchmarks/train.py                         # tiny + S at R=64, batch 8, CPU
    python benchmarks/train.py --sizes S --resolutions 64 128 --out /tmp/train.json
    python benchmarks/train.py --device cuda --sizes S B --resolutions 128 --batch-size 32
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from common import (RESULTS, base_machine_info, loadavg, proc_busy, rss_mib,  # noqa: E402  (on sys.path)
                    write_result)

DEFAULT_OUT = RESULTS / "train.json"
GOAL_OVERHEAD = 1.05  # visibility_aware / naive seconds per step
METHODS = {  # name -> (flow mode, text conditioning)
    "visibility_aware": ("visibility_aware", False),
    "naive": ("naive", False),
    "drop_partial": ("drop_partial", False),
    "visibility_aware+text": ("visibility_aware", True),
}
TEXT_TOKENS = 32  # padded caption length (captions are ~25 word pieces; MAX_TOKENS is 48)
SHAPE_DIM = 6
N_BATCHES = 4  # distinct batches cycled through


# ---------------------------------------------------------------------------------------------
# Inputs


def body_chart(resolution: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(chart (R, R) bool, regions (R, R) long, -1 off the chart, where they came from): the Anny UV layout,
    or a stand-in rectangle split in squares when the body model cannot be loaded."""
    try:
        from genlca.body import load_body_model
        from genlca.body.uv_layout import uv_layout

        layout = uv_layout(load_body_model(), resolution)
        return layout.mask.bool(), layout.part.long().where(layout.mask.bool(), -1), "anny uv_layout"
    except Exception as e:  # noqa: BLE001 - the benchmark still runs, on a stand-in chart
        from genlca.diffusion.data import default_regions

        chart = torch.zeros(resolution, resolution, dtype=torch.bool)
        m = resolution // 8
        chart[m:-m, m:-m] = True
        return chart, default_regions(resolution).where(chart, -1), f"rectangle ({type(e).__name__})"


def make_batches(chart: torch.Tensor, regions: torch.Tensor, batch_size: int, text: bool, seed: int,
                 device: torch.device, n: int = N_BATCHES) -> list[dict]:
    """`n` synthetic training batches (the keys training_step hands to training_loss)."""
    from genlca.diffusion.data import partial_condition

    g = torch.Generator().manual_seed(seed)
    R = chart.shape[-1]
    n_parts = int(regions.max()) + 1
    out = []
    for _ in range(n):
        maps = torch.randn(batch_size, 14, R, R, generator=g) * chart
        seen_part = torch.rand(batch_size, n_parts, generator=g) < 0.6  # ~60% of the body parts observed
        seen_part[:, 0] |= ~seen_part.any(1)
        part_ok = seen_part.gather(1, regions.clamp(min=0).reshape(1, -1).expand(batch_size, -1)).reshape(-1, R, R)
        valid = part_ok & (torch.rand(batch_size, R, R, generator=g) > 0.15) & chart
        vis = valid.float() * (0.5 + 0.5 * torch.rand(batch_size, R, R, generator=g))
        cond = partial_condition(maps * valid[:, None], vis, regions, 0.5, generator=g)
        batch = {"maps": maps, "shape": torch.randn(batch_size, SHAPE_DIM, generator=g), "valid": valid,
                 "cond": cond}
        if text:
            from genlca.export.parity import random_text

            batch["text"] = random_text(batch_size, TEXT_TOKENS, generator=g)
        out.append(_to(batch, device))
    return out


def _to(obj, device):
    if isinstance(obj, dict):
        return {k: _to(v, device) for k, v in obj.items()}
    return obj.to(device) if isinstance(obj, torch.Tensor) else obj


# ---------------------------------------------------------------------------------------------
# The training step


class Trainer:
    """One model, its EMA copy and AdamW, as `_lightning_module` builds them (TrainConfig defaults)."""

    def __init__(self, size: str, resolution: int, chart: torch.Tensor, device: torch.device, precision: str,
                 lr: float = 3e-4, grad_clip: float = 1.0, ema_decay: float = 0.999, seed: int = 0):
        from genlca.diffusion.flow import FlowConfig
        from genlca.diffusion.model import GenLCA_models

        torch.manual_seed(seed)
        self.model = GenLCA_models[size](input_size=resolution, shape_dim=SHAPE_DIM, chart=chart).to(device)
        self.ema = copy.deepcopy(self.model).requires_grad_(False).eval()
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=0.0)
        self.flow_cfg = FlowConfig()
        self.device, self.grad_clip, self.ema_decay, self.seed = device, grad_clip, ema_decay, seed
        self.cuda = device.type == "cuda"
        self.autocast = precision == "bf16-mixed"
        self.n = 0

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def step(self, batch: dict, mode: str) -> tuple[float, float, float, float]:
        """One optimizer step; (forward, backward, optimizer) wall seconds and this process's CPU seconds."""
        from genlca.diffusion.flow import training_loss

        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.n)  # per step, as training does
        amp = (torch.autocast(self.device.type, dtype=torch.bfloat16) if self.autocast
               else contextlib.nullcontext())
        self.sync()
        c0, t0 = time.process_time(), time.perf_counter()
        with amp:
            out = training_loss(self.model, batch, mode, self.flow_cfg, generator=g)
        self.sync()
        t1 = time.perf_counter()
        out.loss.backward()
        self.sync()
        t2 = time.perf_counter()
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        self.n += 1
        decay = min(self.ema_decay, (1 + self.n) / (10 + self.n))
        with torch.no_grad():
            for e, p in zip(self.ema.parameters(), self.model.parameters()):
                e.lerp_(p.detach(), 1 - decay)
        self.sync()
        return t1 - t0, t2 - t1, time.perf_counter() - t2, time.process_time() - c0


# ---------------------------------------------------------------------------------------------
# Timing: methods interleaved in rounds


def _clock():
    snap = proc_busy()
    return snap if snap is not None else (time.perf_counter(), 0.0, 0.0)


def _quartiles(xs: list[float]) -> tuple[float, float]:
    if len(xs) < 2:
        return xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


def time_size(size: str, resolution: int, chart, regions, methods: list[str], a, device: torch.device, log) -> dict:
    trainer = Trainer(size, resolution, chart, device, a.precision, grad_clip=a.grad_clip, seed=a.seed)
    batches = {m: make_batches(chart, regions, a.batch_size, METHODS[m][1], a.seed, device) for m in methods}
    it = {m: 0 for m in methods}

    def run(m: str) -> tuple[float, float, float, float]:
        b = batches[m][it[m] % len(batches[m])]
        it[m] += 1
        return trainer.step(b, METHODS[m][0])

    warm = {m: [] for m in methods}
    for _ in range(a.warmup):
        for m in methods:
            warm[m].append(sum(run(m)[:3]))
    per_step = statistics.median(warm[methods[0]][-max(1, a.warmup // 2):]) if a.warmup else None
    k = a.steps_per_round or (max(1, round(a.round_seconds / per_step)) if per_step else 1)
    log(f"  {size} R={resolution}: {trainer.parameters / 1e6:.2f} M parameters, ~{per_step or 0:.3f} s/step "
        f"after warm-up: {a.rounds} rounds x {k} steps per method")

    # Per round: the median (forward, backward, optimizer, total) of each method's k steps. Within a round the
    # methods alternate step by step (the order rotating), so a burst of load from elsewhere hits them alike.
    rounds = {m: [] for m in methods}
    c0 = _clock()
    for r in range(a.rounds):
        steps = {m: [] for m in methods}
        for i in range(k):
            j = (r * k + i) % len(methods)
            for m in methods[j:] + methods[:j]:
                f, b, o, cpu = run(m)
                steps[m].append((f, b, o, f + b + o, cpu))
        for m in methods:
            rounds[m].append(tuple(statistics.median(x[i] for x in steps[m]) for i in range(5)))
    c1 = _clock()
    wall, busy, own = c1[0] - c0[0], c1[1] - c0[1], c1[2] - c0[2]

    rows = {}
    for m in methods:
        tot = [x[3] for x in rounds[m]]
        med = statistics.median(tot)
        q1, q3 = _quartiles(tot)
        rows[m] = {
            "size": size, "resolution": resolution, "method": m, "mode": METHODS[m][0], "text": METHODS[m][1],
            "parameters": trainer.parameters, "batch_size": a.batch_size, "steps_per_round": k,
            "step_s": round(med, 5), "step_s_q1": round(q1, 5), "step_s_q3": round(q3, 5),
            "samples_per_s": round(a.batch_size / med, 2),
            "forward_s": round(statistics.median(x[0] for x in rounds[m]), 5),
            "backward_s": round(statistics.median(x[1] for x in rounds[m]), 5),
            "optimizer_s": round(statistics.median(x[2] for x in rounds[m]), 5),
            "cpu_step_s": round(statistics.median(x[4] for x in rounds[m]), 5),
            "round_step_s": [round(x, 5) for x in tot],
            "round_cpu_step_s": [round(x[4], 5) for x in rounds[m]],
            "others_busy_cores": round(max(busy - own, 0) / wall, 2) if wall > 0 else None,
        }
    if "naive" in methods:
        for m in methods:
            if m == "naive":
                continue
            ratios = [x[3] / y[3] for x, y in zip(rounds[m], rounds["naive"])]
            q1, q3 = _quartiles(ratios)
            rows[m]["vs_naive"] = round(statistics.median(ratios), 4)
            rows[m]["vs_naive_q1"], rows[m]["vs_naive_q3"] = round(q1, 4), round(q3, 4)
            cpu = [x[4] / y[4] for x, y in zip(rounds[m], rounds["naive"])]
            q1, q3 = _quartiles(cpu)
            rows[m]["cpu_vs_naive"] = round(statistics.median(cpu), 4)
            rows[m]["cpu_vs_naive_q1"], rows[m]["cpu_vs_naive_q3"] = round(q1, 4), round(q3, 4)
            for phase in ("forward", "backward", "optimizer"):
                rows[m][f"{phase}_vs_naive"] = round(rows[m][f"{phase}_s"] / rows["naive"][f"{phase}_s"], 4)
    if "visibility_aware+text" in methods and "visibility_aware" in methods:  # what the caption adds
        ratios = [x[3] / y[3] for x, y in zip(rounds["visibility_aware+text"], rounds["visibility_aware"])]
        rows["visibility_aware+text"]["vs_visibility_aware"] = round(statistics.median(ratios), 4)
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rows


# ---------------------------------------------------------------------------------------------
# Peak memory: one fresh process per (size, R, method)


def memory_probe(spec: dict) -> dict:
    """Runs in the subprocess: build everything, note the baseline, run `steps` steps, report the peak."""
    torch.set_num_threads(spec["threads"])
    device = torch.device(spec["device"])
    saved = torch.load(spec["chart_file"])
    trainer = Trainer(spec["size"], spec["resolution"], saved["chart"], device, spec["precision"],
                      grad_clip=spec["grad_clip"], seed=spec["seed"])
    mode, text = METHODS[spec["method"]]
    batches = make_batches(saved["chart"], saved["regions"], spec["batch_size"], text, spec["seed"], device)
    out = {}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    else:
        base = rss_mib("VmRSS")
        try:  # Linux: 5 -> clear_refs resets VmHWM (the peak resident set) to the current RSS
            Path("/proc/self/clear_refs").write_text("5")
            out["peak_source"] = "VmHWM after reset"
        except OSError:
            out["peak_source"] = "ru_maxrss (includes import-time peaks)"
    for i in range(spec["steps"]):
        trainer.step(batches[i % len(batches)], mode)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        out.update(peak_mib=round((peak - base) / 2**20, 1), baseline_mib=round(base / 2**20, 1),
                   peak_source="torch.cuda.max_memory_allocated")
    else:
        hwm = rss_mib("VmHWM") if out["peak_source"].startswith("VmHWM") else None
        if hwm is None:
            hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        out.update(peak_mib=round(hwm - base, 1), baseline_mib=round(base, 1))
    return out


def measure_memory(spec: dict, log) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_memory-probe", json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        err = (proc.stderr.strip().splitlines() or ["?"])[-1][:300]
        log(f"  memory probe {spec['size']} R={spec['resolution']} {spec['method']} failed: {err}")
        return {"peak_mib": None, "memory_error": err}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# Report


def print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    m = result["machine"]
    s = result["settings"]
    t = Table("model", "R", "method", "s/step", "samples/s", "fwd s", "bwd s", "opt s",
              "peak MiB", "vs naive", f"≤ {GOAL_OVERHEAD}", "CPU-time vs naive", "busy",
              title=f"diffusion training step — {m['device_name']} ({s['device']}, {s['threads']} thread(s), "
                    f"{s['precision']}), batch {s['batch_size']}",
              caption="s/step: median over interleaved rounds (fwd = training_loss, bwd = backward, opt = clip + "
                      "AdamW + EMA); vs naive: median of per-round ratios of s/step \\[quartiles]; CPU-time: the "
                      "same for this process's CPU seconds (blind to preemption by other processes); peak: "
                      + ("CUDA allocation" if s["device"] == "cuda" else "RSS")
                      + " above the model + optimizer + batches, fresh process; busy: other processes' cores")
    for r in result["results"]:
        ratio, goal, cpu = "—", "—", "—"
        if r.get("cpu_vs_naive") is not None and s["device"] == "cpu":
            cpu = f"{r['cpu_vs_naive']:.3f} [{r['cpu_vs_naive_q1']:.3f}, {r['cpu_vs_naive_q3']:.3f}]"
        if r.get("vs_naive") is not None:
            ratio = f"{r['vs_naive']:.3f} [{r['vs_naive_q1']:.3f}, {r['vs_naive_q3']:.3f}]"
            if r["method"] == "visibility_aware":
                goal = "[green]pass[/]" if r["vs_naive"] <= GOAL_OVERHEAD else "[red]FAIL[/]"
        peak = r.get("peak_mib")
        t.add_row(f"{r['size']} ({r['parameters'] / 1e6:.2f} M)", str(r["resolution"]), r["method"],
                  f"{r['step_s']:.4f}", f"{r['samples_per_s']:.1f}", f"{r['forward_s']:.4f}",
                  f"{r['backward_s']:.4f}", f"{r['optimizer_s']:.4f}", f"{peak:.0f}" if peak is not None else "—",
                  ratio, goal, cpu, str(r["others_busy_cores"]))
    c = Console(width=max(Console().width, 170))
    c.print(t)
    for o in result["overhead"]:
        c.print(f"{o['size']} R={o['resolution']}: visibility_aware / naive = {o['ratio']:.3f} "
                f"(goal ≤ {GOAL_OVERHEAD}: {'pass' if o['goal_met'] else 'FAIL'}"
                + (f"; CPU time {o['cpu_ratio']:.3f})" if s["device"] == "cpu" else ")")
                + (f", text conditioning {(o['text_ratio'] - 1) * 100:+.1f}% over visibility_aware"
                   if o.get("text_ratio") else ""))
    c.print(f"elapsed {result['elapsed_s']:.0f} s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", default=["tiny", "S"], help="GenLCA_models keys (default: %(default)s)")
    p.add_argument("--resolutions", type=int, nargs="+", default=[64], help="UV resolutions R (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--methods", nargs="+", default=["visibility_aware", "naive", "visibility_aware+text"],
                   choices=list(METHODS), help="(default: %(default)s)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--precision", default="auto", choices=["auto", "32-true", "bf16-mixed"],
                   help="auto: bf16-mixed on CUDA, 32-true on CPU (as TrainConfig)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: a shared CPU)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per method (default %(default)s)")
    p.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default %(default)s)")
    p.add_argument("--round-seconds", type=float, default=1.0,
                   help="about this long per method per round sets its steps (default %(default)s)")
    p.add_argument("--steps-per-round", type=int, default=0, help="fixed steps per method per round (0: auto)")
    p.add_argument("--grad-clip", type=float, default=1.0, help="max gradient norm, 0 = off (default 1.0)")
    p.add_argument("--memory-steps", type=int, default=4, help="steps in each memory probe (default %(default)s)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="tiny only, 3 rounds, no memory")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--_memory-probe", dest="memory_probe", help=argparse.SUPPRESS)
    a = p.parse_args(argv)

    if a.memory_probe:  # a subprocess of this script
        print(json.dumps(memory_probe(json.loads(a.memory_probe))))
        return 0
    if a.quick:
        a.sizes, a.rounds, a.no_memory = ["tiny"], 3, True
    if a.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: CUDA is not available")
    a.precision = a.precision if a.precision != "auto" else ("bf16-mixed" if a.device == "cuda" else "32-true")
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    methods = list(dict.fromkeys(a.methods))
    log = lambda *x: print(*x, flush=True)  # noqa: E731

    info = {**base_machine_info(), "torch": torch.__version__, "torch_threads": torch.get_num_threads()}
    info["device_name"] = torch.cuda.get_device_name(device) if a.device == "cuda" else info["cpu"]
    t_start = time.perf_counter()
    results, overhead, charts = [], [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for R in a.resolutions:
            chart, regions, source = body_chart(R)
            charts[R] = {"source": source, "chart_share": round(float(chart.float().mean()), 4)}
            chart_file = Path(tmp) / f"chart{R}.pt"
            torch.save({"chart": chart, "regions": regions}, chart_file)
            b = make_batches(chart, regions, a.batch_size, False, a.seed, torch.device("cpu"))
            charts[R]["valid_share_of_chart"] = round(float(sum(x["valid"].sum() for x in b) /
                                                            (len(b) * a.batch_size * chart.sum())), 3)
            for size in a.sizes:
                rows = time_size(size, R, chart, regions, methods, a, device, log)
                if not a.no_memory:
                    for m in methods:
                        spec = {"size": size, "resolution": R, "method": m, "batch_size": a.batch_size,
                                "device": a.device, "precision": a.precision, "threads": a.threads,
                                "grad_clip": a.grad_clip, "seed": a.seed, "steps": a.memory_steps,
                                "chart_file": str(chart_file)}
                        rows[m].update(measure_memory(spec, log))
                for m in methods:
                    r = rows[m]
                    log(f"    {m:22s} {r['step_s']:.4f} s/step, {r['samples_per_s']:.1f} samples/s"
                        + (f", peak {r['peak_mib']:.0f} MiB" if r.get("peak_mib") is not None else "")
                        + (f", x{r['vs_naive']:.3f} naive" if r.get("vs_naive") else ""))
                results.extend(rows.values())
                if "visibility_aware" in rows and "naive" in rows:
                    va = rows["visibility_aware"]
                    o = {"size": size, "resolution": R, "ratio": va["vs_naive"],
                         "ratio_q1": va["vs_naive_q1"], "ratio_q3": va["vs_naive_q3"],
                         "ratio_of_medians": round(va["step_s"] / rows["naive"]["step_s"], 4),
                         "cpu_ratio": va["cpu_vs_naive"], "cpu_ratio_q1": va["cpu_vs_naive_q1"],
                         "cpu_ratio_q3": va["cpu_vs_naive_q3"],
                         "goal": GOAL_OVERHEAD, "goal_met": va["vs_naive"] <= GOAL_OVERHEAD}
                    if "visibility_aware+text" in rows:
                        o["text_ratio"] = rows["visibility_aware+text"]["vs_visibility_aware"]
                    overhead.append(o)
    elapsed = time.perf_counter() - t_start
    result = {
        "benchmark": "genlca.diffusion training step (training_loss + backward + clip + AdamW + EMA)",
        "machine": {**info, "loadavg_end": loadavg()},
        "settings": {"sizes": a.sizes, "resolutions": a.resolutions, "batch_size": a.batch_size, "methods": methods,
                     "device": a.device, "precision": a.precision, "threads": a.threads, "warmup": a.warmup,
                     "rounds": a.rounds, "round_seconds": a.round_seconds, "steps_per_round": a.steps_per_round,
                     "grad_clip": a.grad_clip, "ema_decay": 0.999, "lr": 3e-4, "memory_steps": a.memory_steps,
                     "seed": a.seed, "text_tokens": TEXT_TOKENS, "image_cond_prob": 0.5,
                     "inputs": "synthetic normalized maps on the UV chart; ~60% of body parts observed, 15% of "
                               "their texels missing",
                     "charts": {str(k): v for k, v in charts.items()},
                     "statistic": "per round the median of k steps (methods alternating step by step), then the "
                                  "median over rounds; overhead = median of per-round ratios"},
        "goal": {"visibility_aware_over_naive_max": GOAL_OVERHEAD},
        "overhead": overhead,
        "results": results,
        "elapsed_s": round(elapsed, 1),
    }
    write_result(a.out, result, print_table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
