"""Benchmark of the Gaussian renderer: forward and backward time per (Gaussian count, image size).

Inputs are realistic: body-surface Gaussians of the template avatar (A-pose), built at the
smallest UV resolution R that gives at least N Gaussians, then a fixed-seed random subset of
exactly N (so the whole body stays covered), framed by `framing_camera` from the front.

Per case: `warmup` untimed runs, then `repeats` timed runs, each one
  forward  = render(...)                                   (autograd on)
  backward = (rgb.mean() + alpha.mean()).backward()        (grads w.r.t. means, quats, scales,
                                                            opacities, colors)
and the median of each is reported. Backends: "torch" on CPU always; on a CUDA machine also
"gsplat" and "torch" on the GPU (timed with torch.cuda.synchronize()).

    python benchmarks/render.py                    # full run, JSON to benchmarks/results/render.json
    python benchmarks/render.py --quick            # fewer repeats
    python benchmarks/render.py --counts 16384 --sizes 256 512 --out /tmp/render.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch

from common import REPO, base_machine_info, loadavg, proc_busy, rss_mib  # noqa: E402  (benchmarks/ is on sys.path)
from genlca.render.gaussians import Gaussians
DEFAULT_OUT = REPO / "benchmarks" / "results" / "render.json"
DEFAULT_COUNTS = (16384, 65536)
DEFAULT_SIZES = (256, 512)
PARAMS = ("means", "quats", "scales", "opacities", "colors")

# Goals (reported, not asserted): (device, backend, N, size) -> (forward s, backward s).
GOALS = {("cpu", "torch", 16384, 256): (0.5, 1.5)}


# ---------------------------------------------------------------------------------------------
# Machine information and memory






def machine_info() -> dict:
    try:
        import gsplat
        gsplat_version = gsplat.__version__
    except Exception as e:  # noqa: BLE001 - only informational
        gsplat_version = f"unavailable ({type(e).__name__})"
    info = {
        **base_machine_info(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "gsplat": gsplat_version,
        "cuda_available": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name()
        info["cuda_version"] = torch.version.cuda
    return info




class OtherLoad:
    """CPUs kept busy by anything but this process (other processes, hypervisor steal) between
    start() and stop(), from /proc/stat minus our own CPU time. Other work on the cores skews
    CPU timings badly: torch's OpenMP threads spin-wait, and one concurrent test run on a
    2-core box made the renderer ~30x slower. Linux only; None elsewhere."""

    def __init__(self):
        self._t0 = None

    def start(self) -> "OtherLoad":
        self._t0 = proc_busy()
        return self

    def stop(self) -> float | None:
        t1 = proc_busy()
        if self._t0 is None or t1 is None or t1[0] <= self._t0[0]:
            return None
        wall, busy, own = (b - a for a, b in zip(self._t0, t1))
        return round(max(0.0, busy - own) / wall, 2)


def _idle_check(samples: int = 3, seconds: float = 0.3) -> float | None:
    """CPUs busy with other work while this process sleeps (median of short samples, so a
    passing blip does not count)."""
    loads = []
    for _ in range(samples):
        probe = OtherLoad().start()
        time.sleep(seconds)
        loads.append(probe.stop())
    return None if None in loads else statistics.median(loads)


def _reset_peak_rss() -> bool:
    """Linux: writing 5 to clear_refs resets VmHWM (the peak resident set size)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# Inputs


def body_gaussians(counts: list[int], seed: int, log) -> dict[int, tuple[Gaussians, int]]:
    """For each N: (exactly N template-avatar Gaussians, the UV resolution they came from)."""
    from genlca.avatar import template_avatar, to_gaussians
    from genlca.body import load_body_model
    from genlca.body.uv_layout import uv_layout

    body = load_body_model()

    def at(r: int):
        layout = uv_layout(body, r)
        return to_gaussians(template_avatar(body, layout), body, layout)

    density = len(at(128)) / 128**2  # Gaussians per texel of the R x R map (~0.6)
    out = {}
    for n in counts:
        r = max(8, math.ceil(math.sqrt(n / density)))
        g = at(r)
        while len(g) < n:  # the density estimate is close; step up until there are enough
            r += 1
            g = at(r)
        gen = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(g), generator=gen)[:n].sort().values
        out[n] = (g.select(idx).detach(), r)
        log(f"  N={n}: {len(g)} Gaussians at R={r}, random subset of {n} (seed {seed})")
    return out


def _leaves(g, device: torch.device):
    """A fresh copy of `g` on `device` whose attributes are leaves that require grad."""
    from genlca.render.gaussians import Gaussians
    return Gaussians(**{f.name: getattr(g, f.name).detach().to(device).clone().requires_grad_(True)
                        for f in fields(g)})


def count_pairs(g, camera, size: int) -> int | None:
    """(pixel, Gaussian) pairs the CPU rasterizer lists (footprints inside the 1/255 contour).
    Mirrors renderer._render_torch's projection; uses private helpers, so None if they moved."""
    try:
        from gsplat.cuda._torch_impl import _fully_fused_projection, _quat_scale_to_covar_preci

        from genlca.render.rasterize_cpu import _footprint_pairs
        from genlca.render.renderer import EPS2D
        with torch.no_grad():
            covars, _ = _quat_scale_to_covar_preci(g.quats, g.scales, compute_covar=True, compute_preci=False)
            radii, means2d, depths, conics, comp = _fully_fused_projection(
                g.means, covars, camera.viewmat[None], camera.K[None], size, size, eps2d=EPS2D,
                calc_compensations=True)
            pair_g, _ = _footprint_pairs(means2d[0], conics[0], depths[0], radii[0], g.opacities * comp[0],
                                         size, size)
        return int(pair_g.numel())
    except Exception:  # noqa: BLE001 - optional statistic
        return None


# ---------------------------------------------------------------------------------------------
# Timing


@dataclass
class Result:
    count: int
    size: int
    device: str  # "cpu" or "cuda"
    backend: str  # "torch" or "gsplat"
    uv_resolution: int
    forward_s: float | None = None  # medians
    backward_s: float | None = None
    forward_runs: list[float] = field(default_factory=list)
    backward_runs: list[float] = field(default_factory=list)
    pairs: int | None = None
    peak_rss_mib: float | None = None  # CPU: process peak RSS during the case (includes the baseline)
    peak_cuda_mib: float | None = None  # CUDA: peak torch allocation during the case
    other_cpus_busy: float | None = None  # CPUs used by other processes during the case (contention)
    goal_forward_s: float | None = None
    goal_backward_s: float | None = None
    goal_met: bool | None = None
    error: str | None = None

    @property
    def case(self) -> str:
        return f"{self.count // 1024}k @ {self.size}²" if self.count % 1024 == 0 else f"{self.count} @ {self.size}²"


def time_case(g, size: int, device: torch.device, backend: str, warmup: int, repeats: int, azimuth: float):
    from genlca.render.camera import framing_camera
    from genlca.render.renderer import render

    cuda = device.type == "cuda"

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    camera = framing_camera(g.means.detach().cpu(), azimuth, size, size).to(device)
    params = _leaves(g, device)
    fwd, bwd = [], []
    for i in range(warmup + repeats):
        for name in PARAMS:
            getattr(params, name).grad = None
        sync()
        t0 = time.perf_counter()
        out = render(params, camera, size, size, backend=backend)
        sync()
        t1 = time.perf_counter()
        loss = out.rgb.mean() + out.alpha.mean()
        loss.backward()
        sync()
        t2 = time.perf_counter()
        if i >= warmup:
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
        missing = [n for n in PARAMS if getattr(params, n).grad is None]
        if missing:
            raise RuntimeError(f"no gradient reached {', '.join(missing)}")
        del out, loss
    return camera, fwd, bwd


def run_case(g, r: int, size: int, device: torch.device, backend: str, warmup: int, repeats: int,
             azimuth: float, pairs: dict) -> Result:
    res = Result(count=len(g), size=size, device=device.type, backend=backend, uv_resolution=r)
    goal = GOALS.get((device.type, backend, len(g), size))
    if goal:
        res.goal_forward_s, res.goal_backward_s = goal
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    reset_ok = _reset_peak_rss()
    load = OtherLoad().start()
    try:
        camera, res.forward_runs, res.backward_runs = time_case(g, size, device, backend, warmup, repeats, azimuth)
    except Exception as e:  # noqa: BLE001 - one failing case must not end the run
        res.error = f"{type(e).__name__}: {e}".splitlines()[0][:300]
        return res
    res.other_cpus_busy = load.stop()
    if reset_ok and not cuda:
        res.peak_rss_mib = rss_mib("VmHWM")
    if cuda:
        res.peak_cuda_mib = torch.cuda.max_memory_allocated(device) / 2**20
    res.forward_s = statistics.median(res.forward_runs)
    res.backward_s = statistics.median(res.backward_runs)
    key = (len(g), size)
    if key not in pairs:
        pairs[key] = count_pairs(g, camera.to("cpu"), size)
    res.pairs = pairs[key]
    if goal:
        res.goal_met = res.forward_s <= goal[0] and res.backward_s <= goal[1]
    return res


# ---------------------------------------------------------------------------------------------
# Report


def _busy_cell(busy: float | None, ncpu: int) -> str:
    if busy is None:
        return "—"
    return f"[yellow]{busy:.2f}[/]" if busy > 0.1 * ncpu else f"{busy:.2f}"


def table(results: list[Result], info: dict):
    from rich.table import Table

    title = f"render() benchmark — {info['cpu']} ({info['torch_threads']} torch threads)"
    if info.get("cuda_device"):
        title += f", {info['cuda_device']}"
    t = Table(title=title, caption="forward/backward: medians (s); pairs: (pixel, Gaussian) pairs in the CPU "
                    "rasterizer's footprints; peak: process RSS on CPU, torch allocation on CUDA; other CPUs: "
                    "CPUs kept busy by other processes during the case (should be ~0)")
    ncpu = info.get("cpu_affinity") or info.get("cpu_count") or 1
    t.add_column("case")
    t.add_column("device")
    t.add_column("backend")
    t.add_column("forward s", justify="right")
    t.add_column("backward s", justify="right")
    t.add_column("goal met", justify="center")
    t.add_column("pairs", justify="right")
    t.add_column("peak MiB", justify="right")
    t.add_column("other CPUs", justify="right")
    for r in results:
        device = info.get("cuda_device", "cuda") if r.device == "cuda" else "cpu"
        if r.error:
            t.add_row(r.case, device, r.backend, "[red]error[/]", "[red]error[/]", "—", "—", "—", "—")
            continue
        if r.goal_met is None:
            goal = "—"
        else:
            goal = "[green]yes[/]" if r.goal_met else "[red]no[/]"
        peak = r.peak_cuda_mib if r.device == "cuda" else r.peak_rss_mib
        t.add_row(r.case, device, r.backend, f"{r.forward_s:.4f}", f"{r.backward_s:.4f}", goal,
                  f"{r.pairs:,}" if r.pairs is not None else "—", f"{peak:.0f}" if peak is not None else "—",
                  _busy_cell(r.other_cpus_busy, ncpu))
    return t


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--counts", type=int, nargs="+", default=list(DEFAULT_COUNTS), help="numbers of Gaussians (default: %(default)s)")
    p.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="square image sizes in pixels (default: %(default)s)")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per case (default 10, 3 with --quick)")
    p.add_argument("--warmup", type=int, default=None, help="untimed runs per case (default 2, 1 with --quick)")
    p.add_argument("--quick", action="store_true", help="fewer repeats and warm-ups")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--no-cuda", action="store_true", help="skip the CUDA cases even when CUDA is available")
    p.add_argument("--azimuth", type=float, default=0.0, help="camera azimuth in degrees (default 0 = front)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random Gaussian subset (default 0)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output (default: benchmarks/results/render.json)")
    args = p.parse_args(argv)

    from rich.console import Console
    console = Console()
    if not console.is_terminal:  # piped to a file: don't squeeze the table into 80 columns
        console = Console(width=120)
    log = console.log if console.is_terminal else (lambda *a: print(*a, flush=True))

    repeats = args.repeats if args.repeats is not None else (3 if args.quick else 10)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    if repeats < 1 or warmup < 0:
        p.error("--repeats must be >= 1 and --warmup >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    info = machine_info()
    log(f"torch {info['torch']} ({info['torch_threads']} threads), {info['cpu_count']} CPUs, "
        f"{info['platform']}" + (f", CUDA: {info['cuda_device']}" if info.get("cuda_device") else ", no CUDA"))

    info["other_cpus_busy_before"] = _idle_check()
    ncpu = info.get("cpu_affinity") or info.get("cpu_count") or 1
    if info["other_cpus_busy_before"] is not None and info["other_cpus_busy_before"] > 0.1 * ncpu:
        console.print(f"[yellow]warning:[/] other processes keep {info['other_cpus_busy_before']} of {ncpu} CPUs "
                      "busy: CPU timings will be unreliable (torch threads spin-wait under contention)")
    t_start = time.perf_counter()
    log("building inputs (template avatar, A-pose)")
    inputs = body_gaussians(sorted(set(args.counts)), args.seed, log)

    plan = [(torch.device("cpu"), "torch")]
    if torch.cuda.is_available() and not args.no_cuda:
        plan += [(torch.device("cuda"), "gsplat"), (torch.device("cuda"), "torch")]

    results: list[Result] = []
    pairs: dict = {}
    for device, backend in plan:
        for n in args.counts:
            g, r = inputs[n]
            for size in args.sizes:
                log(f"{device.type}/{backend}: N={n} at {size}x{size} ({warmup} warm-up + {repeats} runs)")
                res = run_case(g, r, size, device, backend, warmup, repeats, args.azimuth, pairs)
                if res.error:
                    log(f"  error: {res.error}")
                else:
                    log(f"  forward {res.forward_s:.4f} s, backward {res.backward_s:.4f} s")
                results.append(res)
    elapsed = time.perf_counter() - t_start
    info["loadavg_end"] = loadavg()

    console.print(table(results, info))
    for r in results:
        if r.error:
            console.print(f"[red]error[/] {r.device}/{r.backend} {r.case}: {r.error}", markup=True, highlight=False)
    goals = [r for r in results if (r.device, r.backend, r.count, r.size) in GOALS]
    for r in goals:
        if r.error:
            continue
        console.print(f"goal {r.device}/{r.backend} {r.case}: forward {r.forward_s:.3f} s (≤ {r.goal_forward_s:g}), "
                      f"backward {r.backward_s:.3f} s (≤ {r.goal_backward_s:g}) -> "
                      + ("met" if r.goal_met else "NOT met"))

    contended = [r.case for r in results if r.other_cpus_busy is not None and r.other_cpus_busy > 0.1 * ncpu]
    if contended:
        console.print(f"[yellow]warning:[/] other processes used the CPUs during {len(contended)} case(s); "
                      "rerun on a quiet machine before trusting those timings")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "genlca.render.render",
        "machine": info,
        "settings": {"counts": args.counts, "sizes": args.sizes, "repeats": repeats, "warmup": warmup,
                     "quick": args.quick, "azimuth_deg": args.azimuth, "seed": args.seed,
                     "loss": "rgb.mean() + alpha.mean()", "grad_wrt": list(PARAMS),
                     "inputs": "template avatar (A-pose) Gaussians, random subset of N",
                     "statistic": "median of the timed runs"},
        "goals": [{"device": d, "backend": b, "count": n, "size": s, "forward_s": f, "backward_s": w}
                  for (d, b, n, s), (f, w) in GOALS.items()],
        "elapsed_s": round(elapsed, 2),
        "results": [asdict(r) | {"case": r.case} for r in results],
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {args.out} ({elapsed:.0f} s)")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
