"""Benchmark of the exported sampler: per-step and per-avatar latency of one GenLCA denoiser in torch eager,
torch.compile and onnxruntime side by side in one run (on a GPU: torch vs onnxruntime-CUDA vs TensorRT), and the
sampler's achieved FLOP/s as a share of this machine's measured matmul FLOP/s.

What is timed, per case (model size, UV resolution R, patch size):
  step     one denoiser call at the sampler's batch: guidance terms x avatars (a caption with classifier-free
           guidance: 2 x 1), i.e. one Euler step (a Heun step is two calls);
  avatar   genlca.diffusion.flow.sample end to end, as `genlca generate` runs it (30 Heun steps, cfg 3: 59 calls
           plus the loop), the same loop for every backend (genlca.export.runtime).
Backends are interleaved: in each round every backend runs k calls, alternating call by call in a rotating
order, so load from elsewhere hits them alike; a round's value is the median of its k calls, the statistic the
median over rounds, and a speedup the median of the per-round ratios (quartiles kept). Avatars: one per backend
per round. torch.compile's first call (the compilation) is timed apart; if compiling fails, its error is the
result. Inputs are random (a caption-like embedding, standard normal noise): timing does not depend on them.

FLOPs per call: torch.utils.flop_counter.FlopCounterMode on the eager model (matmuls, convolutions, attention).
Achieved FLOP/s = FLOPs per call / seconds per call (per avatar: x calls / seconds per avatar, the loop
included). The reference is torch.mm of n x n float32 matrices at the same thread count (median of repeats).

onnxruntime levers (CPU, per call; each variant in rounds of its own with eager and the default session): graph
optimization levels, IOBinding vs run() with numpy feeds, the conditions packed at every call, all cores for
onnxruntime, ORT's transformer fusions (onnxruntime.transformers), and exports: of the model's forward as it is
(not ExportDenoiser's rearrangement), without onnxscript's optimizer, at opset 23 (the ONNX Attention op).
Parity: every backend's avatar against eager's, same seed: PSNR over the chart.

    python benchmarks/sampler.py                          # tiny at R=128 (the demo's) and S at R=64, CPU, 1 thread
    python benchmarks/sampler.py --cases S:128 --threads 2 --no-levers --out /tmp/sampler.json
    python benchmarks/sampler.py --device cuda --cases S:128 B:128 --avatars 4
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from common import RESULTS, base_machine_info, loadavg, proc_busy, write_result  # noqa: E402 (benchmarks/ on sys.path)

DEFAULT_OUT = RESULTS / "sampler.json"
DEFAULT_CASES = ("tiny:128", "S:64")
GOAL_SPEEDUP = 1.3  # onnxruntime over torch eager on the CPU, per avatar
MATMUL = "torch.mm reference"
TEXT_TOKENS = 24  # caption length (ours are ~25 word pieces); the graph pads to MAX_TOKENS
SHAPE_DIM = 6


# ---------------------------------------------------------------------------------------------
# Inputs and models


def parse_case(spec: str) -> tuple[str, int, int]:
    """"S:64" or "S:64:4" -> (size, R, patch size; default 8)."""
    parts = spec.split(":")
    return parts[0], int(parts[1]), int(parts[2]) if len(parts) > 2 else 8


def body_chart(resolution: int) -> tuple[torch.Tensor, str]:
    """The Anny UV chart at R, or a stand-in rectangle when the body model cannot be loaded."""
    try:
        from genlca.body import load_body_model
        from genlca.body.uv_layout import uv_layout

        return uv_layout(load_body_model(), resolution).mask.bool(), "anny uv_layout"
    except Exception as e:  # noqa: BLE001 - the benchmark still runs, on a stand-in chart
        chart = torch.zeros(resolution, resolution, dtype=torch.bool)
        m = resolution // 8
        chart[m:-m, m:-m] = True
        return chart, f"rectangle ({type(e).__name__})"


def make_model(size: str, R: int, patch: int, chart: torch.Tensor, seed: int):
    """A GenLCA model whose zero-initialised gates and heads are perturbed: every path computes something."""
    from genlca.diffusion.model import GenLCA_models

    torch.manual_seed(seed)
    model = GenLCA_models[size](input_size=R, patch_size=patch, shape_dim=SHAPE_DIM, chart=chart).eval()
    with torch.no_grad():
        for p in model.parameters():
            if not p.abs().any():
                p.normal_(0, 0.02)
    return model


def guided_batch(text: dict) -> dict:
    """The caption batch flow.sample builds for text guidance: the null caption rows, then the caption's."""
    null = {"pooled": text["pooled"] * 0, "tokens": text["tokens"] * 0, "mask": text["mask"] & False}
    return {k: torch.cat([null[k], text[k]]) for k in text}


def _to(d: dict, device) -> dict:
    return {k: v.to(device) for k, v in d.items()}


# ---------------------------------------------------------------------------------------------
# Backends


@dataclass
class Backend:
    name: str
    model: object  # what flow.sample is given
    info: dict = field(default_factory=dict)
    error: str | None = None


def _error(e: BaseException) -> str:
    return f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:300]}"


def build_backends(model, device: torch.device, tmp: Path, a, call, log) -> list[Backend]:
    """eager, torch.compile, onnxruntime (CPU or CUDA provider), TensorRT (CUDA, where it runs)."""
    from genlca.export.onnx_export import export_onnx
    from genlca.export.runtime import OrtDenoiser

    out = [Backend("torch eager", model)]
    if not a.no_compile:
        b = Backend("torch.compile", None)
        try:
            t0 = time.perf_counter()
            b.model = torch.compile(model, dynamic=False)
            call(b.model)  # compiles
            b.info["compile_s"] = round(time.perf_counter() - t0, 1)
            from torch._dynamo.utils import counters  # a warm on-disk cache makes compiling much shorter

            b.info["inductor_fxgraph_cache"] = {k: int(counters["inductor"][f"fxgraph_cache_{k}"])
                                                for k in ("hit", "miss")}
        except Exception as e:  # noqa: BLE001 - the error is the result
            b.error = _error(e)
        log(f"    torch.compile: {b.error or str(b.info['compile_s']) + ' s to compile'}")
        out.append(b)
    cpu_model = model if device.type == "cpu" else copy.deepcopy(model).cpu()
    onnx_path = tmp / "denoiser.onnx"
    info = export_onnx(cpu_model, onnx_path)
    log(f"    exported ONNX in {info['export_seconds']} s ({info['bytes'] / 1e6:.1f} MB)")
    name = "onnxruntime" if device.type == "cpu" else "onnxruntime-cuda"
    b = Backend(name, None, {"export_s": info["export_seconds"], "onnx_bytes": info["bytes"]})
    try:
        b.model = OrtDenoiser(onnx_path, model.config, model.chart, device=device, threads=a.threads)
        b.info["providers"] = b.model.providers
    except Exception as e:  # noqa: BLE001 - e.g. no CUDA provider in this onnxruntime
        b.error = _error(e)
    out.append(b)
    if device.type == "cuda":
        out.append(_ort_tensorrt_backend(onnx_path, model, device, a))
        out.append(_tensorrt_backend(cpu_model, model, tmp, a, log))
    return out


def _ort_tensorrt_backend(onnx_path: Path, model, device: torch.device, a) -> Backend:
    """onnxruntime's TensorRT execution provider (fp16) on the fp32 graph, where onnxruntime-gpu has it."""
    import onnxruntime as ort

    from genlca.export.runtime import OrtDenoiser, ort_providers

    b = Backend("onnxruntime-tensorrt fp16", None)
    if "TensorrtExecutionProvider" not in ort.get_available_providers():
        b.error = f"skipped: onnxruntime {ort.__version__} has no TensorrtExecutionProvider"
        return b
    try:
        b.model = OrtDenoiser(onnx_path, model.config, model.chart, device=device, threads=a.threads,
                              providers=ort_providers(device, tensorrt=True))
        b.info["providers"] = b.model.providers
    except Exception as e:  # noqa: BLE001 - the error is the result
        b.error = _error(e)
    return b


def _tensorrt_backend(cpu_model, model, tmp: Path, a, log) -> Backend:
    from genlca.export.onnx_export import export_onnx
    from genlca.export.tensorrt import TensorRTDenoiser, build_engine, tensorrt_status

    b = Backend("tensorrt fp16", None)
    status = tensorrt_status()
    if not status["available"]:
        b.error = f"skipped: {status['reason']}"
        return b
    try:
        export_onnx(cpu_model, tmp / "denoiser.fp16.onnx", dtype=torch.float16)
        b.info = build_engine(tmp / "denoiser.fp16.onnx", tmp / "denoiser.fp16.engine",
                              max_batch=max(64, 4 * a.avatars))
        b.model = TensorRTDenoiser(tmp / "denoiser.fp16.engine", model.config, model.chart, device="cuda")
        log(f"    TensorRT {status['version']}: engine built in {b.info['build_seconds']} s")
    except Exception as e:  # noqa: BLE001 - the error is the result
        b.error = _error(e)
    return b


# ---------------------------------------------------------------------------------------------
# Timing


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device: torch.device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


def _quartiles(xs: list[float]) -> tuple[float, float]:
    if len(xs) < 2:
        return xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


def interleaved(fns: dict[str, object], rounds: int, k: int, device: torch.device) -> dict[str, list[float]]:
    """Per name, the median of its k calls in each round; calls alternate between names in a rotating order."""
    names = list(fns)
    out = {n: [] for n in names}
    for r in range(rounds):
        runs = {n: [] for n in names}
        for i in range(k):
            j = (r * k + i) % len(names)
            for n in names[j:] + names[:j]:
                runs[n].append(_timed(fns[n], device))
        for n in names:
            out[n].append(statistics.median(runs[n]))
    return out


def speedup(base: list[float], other: list[float]) -> dict:
    ratios = [b / o for b, o in zip(base, other)]
    q1, q3 = _quartiles(ratios)
    return {"median": round(statistics.median(ratios), 3), "q1": round(q1, 3), "q3": round(q3, 3)}


def matmul_flops(device: torch.device, n: int, dtype: torch.dtype = torch.float32, repeats: int = 10) -> dict:
    """FLOP/s of torch.mm on n x n matrices (2 n^3 per product): median and best of `repeats`."""
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    for _ in range(2):
        torch.mm(a, b)
    times = [_timed(lambda: torch.mm(a, b), device) for _ in range(repeats)]
    flops = 2 * n**3
    return {"n": n, "dtype": str(dtype).removeprefix("torch."), "median_flops": flops / statistics.median(times),
            "best_flops": flops / min(times)}


def count_flops(model, call) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        call(model)
    return int(counter.get_total_flops())


# ---------------------------------------------------------------------------------------------
# onnxruntime levers


def ort_levers(model, onnx_path: Path, feed_args, a, call, tmp: Path, log, reexport: bool = True) -> list[dict]:
    """Per-call latency of onnxruntime variants against eager and the default session (interleaved)."""
    import onnxruntime as ort

    from genlca.export.denoiser import pack_inputs
    from genlca.export.onnx_export import export_onnx
    from genlca.export.runtime import OrtDenoiser, session_options

    x, s, t, text = feed_args
    numpy_feed = {k: v.numpy() for k, v in pack_inputs(x, s, t, text).items()}
    default = OrtDenoiser(onnx_path, model.config, model.chart, threads=a.threads)
    variants: dict[str, object] = {"torch eager": lambda: call(model), "ort default (ALL, IOBinding)":
                                   lambda: call(default)}
    notes: dict[str, str] = {}

    def add(name: str, make) -> None:
        try:
            fn = make()
            fn()
            variants[name] = fn
        except Exception as e:  # noqa: BLE001 - a lever that does not apply is a result too
            notes[name] = _error(e)
            log(f"    lever '{name}': {notes[name]}")

    for level in ("ORT_DISABLE_ALL", "ORT_ENABLE_BASIC", "ORT_ENABLE_EXTENDED"):
        def make(level=level):
            so = session_options(a.threads)
            so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
            r = OrtDenoiser(onnx_path, model.config, model.chart, options=so)
            return lambda: call(r)
        add(f"graph optimization {level}", make)

    def eager_rearranged():  # what the exported graph's layout alone gives, without onnxruntime
        from genlca.export.denoiser import ExportDenoiser

        wrapper, feed = ExportDenoiser(model).eval(), tuple(pack_inputs(x, s, t, text).values())

        def run():
            with torch.no_grad():
                return wrapper(*feed)
        return run
    add("torch eager running ExportDenoiser's rearranged forward (no onnxruntime)", eager_rearranged)

    def plain_run():
        sess = default.session
        return lambda: sess.run(None, numpy_feed)
    add("run() with numpy feeds (no IOBinding, no packing)", plain_run)

    def repack():  # the runtime keeps the packed conditions between calls; this packs them at every call
        r = OrtDenoiser(onnx_path, model.config, model.chart, threads=a.threads)
        r._cached = lambda slot, parts, pack: pack()
        return lambda: call(r)
    add("conditions packed at every call (no cache)", repack)

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if cores and cores > a.threads:
        def all_cores():  # without spinning: idle pool threads that spin would slow the other variants down
            so = session_options(cores)
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            r = OrtDenoiser(onnx_path, model.config, model.chart, options=so)
            return lambda: call(r)
        add(f"intra-op threads {cores} (all cores, no spinning; torch keeps {a.threads})", all_cores)

    def fused():
        from onnxruntime.transformers.fusion_options import FusionOptions
        from onnxruntime.transformers.optimizer import optimize_model

        opts = FusionOptions("bert")  # its SkipLayerNorm fusion fails on this graph: off
        opts.enable_skip_layer_norm = opts.enable_bias_skip_layer_norm = False
        cfg = model.config
        m = optimize_model(str(onnx_path), model_type="bert", num_heads=cfg["num_heads"],
                           hidden_size=cfg["hidden_size"], opt_level=0, optimization_options=opts)
        fused_ops = {k: v for k, v in m.get_fused_operator_statistics().items() if v}
        notes["onnxruntime.transformers fusion"] = f"fused: {fused_ops or 'nothing'}"
        m.save_model_to_file(str(tmp / "fused.onnx"))
        r = OrtDenoiser(tmp / "fused.onnx", model.config, model.chart, threads=a.threads)
        return lambda: call(r)
    add("onnxruntime.transformers fusion", fused)
    if not reexport:  # the levers below export the model again (minutes for the larger sizes)
        notes["export levers"] = "run on the first case only (--cases order)"
        return _lever_rows(variants, notes, a)

    def exported(name: str, file: str, note: str = "", **export_kwargs) -> None:
        def make():
            info = export_onnx(model, tmp / file, **export_kwargs)
            notes[name] = f"export {info['export_seconds']} s{note}"
            r = OrtDenoiser(tmp / file, model.config, model.chart, threads=a.threads)
            return lambda: call(r)
        add(name, make)
    exported("export of GenLCADiT.forward as it is", "as_is.onnx", " (before issue 8)", rearranged=False)
    exported("export without onnxscript optimizer", "plain.onnx", optimize=False)

    def opset23():
        info = export_onnx(model, tmp / "opset23.onnx", opset=23)
        notes["opset 23 (ONNX Attention op)"] = f"export {info['export_seconds']} s"
        so = session_options(a.threads)
        so.log_severity_level = 4  # its failure is reported below, once
        r = OrtDenoiser(tmp / "opset23.onnx", model.config, model.chart, options=so)
        return lambda: call(r)
    add("opset 23 (ONNX Attention op)", opset23)
    return _lever_rows(variants, notes, a)


def _lever_rows(variants: dict, notes: dict, a) -> list[dict]:
    # Each variant against eager and the default session in rounds of its own: three-way interleaving keeps the
    # ratios steady on a busy machine, where one ten-way rotation spreads a burst of load unevenly.
    eager_name, default_name = list(variants)[:2]
    rows = []
    for name, fn in variants.items():
        if name == eager_name:
            continue
        trio = {eager_name: variants[eager_name], default_name: variants[default_name], name: fn}
        times = interleaved(trio, a.lever_rounds, a.lever_k, torch.device("cpu"))
        rows.append({"lever": name, "call_ms": round(statistics.median(times[name]) * 1e3, 3),
                     "eager_ms": round(statistics.median(times[eager_name]) * 1e3, 3),
                     "vs_eager": speedup(times[eager_name], times[name])["median"],
                     "vs_ort_default": speedup(times[default_name], times[name])["median"],
                     "note": notes.get(name, "")})
    rows += [{"lever": n, "call_ms": None, "eager_ms": None, "vs_eager": None, "vs_ort_default": None, "note": msg}
             for n, msg in notes.items() if n not in variants]
    return rows


# ---------------------------------------------------------------------------------------------
# One case


def run_case(spec: str, a, device: torch.device, log, first: bool = True) -> dict:
    from genlca.diffusion.flow import sample
    from genlca.export.parity import psnr_db, random_text

    size, R, patch = parse_case(spec)
    chart, chart_source = body_chart(R)
    model = make_model(size, R, patch, chart, a.seed)
    params = sum(p.numel() for p in model.parameters())
    log(f"  {size} R={R} patch {patch}: {params / 1e6:.2f} M parameters, {(R // patch) ** 2 + 1} tokens")
    g = torch.Generator().manual_seed(a.seed)
    N = a.avatars
    text = random_text(N, TEXT_TOKENS, model.config["text_dim"], g)
    n_terms = 2  # caption guidance: unconditional + conditional rows in one call
    x = torch.randn(n_terms * N, 14, R, R, generator=g)
    s = torch.randn(n_terms * N, SHAPE_DIM, generator=g)
    t = torch.full((n_terms * N,), 0.5)
    text_all = guided_batch(text)
    dev_args = [v.to(device) for v in (x, s, t)]
    dev_text = _to(text_all, device)

    def call(m):
        with torch.no_grad():
            return m(*dev_args, text=dev_text)

    model.to(device)
    flops_call = count_flops(model, call)
    calls = 2 * a.steps - 1 if a.method == "heun" else a.steps
    with tempfile.TemporaryDirectory() as tmp:
        backends = build_backends(model, device, Path(tmp), a, call, log)
        live = [b for b in backends if b.error is None]
        for b in live:  # warm-up (compile happened already)
            for _ in range(a.warmup):
                call(b.model)
        per_call = statistics.median(_timed(lambda: call(model), device) for _ in range(3))
        k = a.k or max(1, round(a.round_seconds / per_call))
        log(f"    ~{per_call * 1e3:.1f} ms per eager call: {a.rounds} rounds x {k} calls per backend")
        c0 = proc_busy()
        mm_a, mm_b = (torch.randn(a.matmul_n, a.matmul_n, device=device) for _ in range(2))
        fns = {b.name: (lambda b=b: call(b.model)) for b in live} | {MATMUL: lambda: torch.mm(mm_a, mm_b)}
        steps = interleaved(fns, a.rounds, k, device)  # the reference matmul in the same rounds, under the same load
        avatars: dict[str, tuple] = {}

        def one_avatar(b):
            avatars[b.name] = sample(b.model, N, steps=a.steps, method=a.method, text=_to(text, device),
                                     cfg_text=a.cfg, seed=a.seed)
        t_avatar = _timed(lambda: one_avatar(live[0]), device) * len(live)
        avatar_rounds = a.avatar_rounds or min(9, max(3, round(a.avatar_seconds / t_avatar)))
        log(f"    ~{t_avatar / len(live):.2f} s per eager avatar: {avatar_rounds} rounds")
        avatar_times = interleaved({b.name: (lambda b=b: one_avatar(b)) for b in live}, avatar_rounds, 1, device)
        c1 = proc_busy()
        levers = []
        if device.type == "cpu" and not a.no_levers:
            log("    onnxruntime levers ...")
            levers = ort_levers(model, Path(tmp) / "denoiser.onnx", (x, s, t, text_all), a, call, Path(tmp), log,
                                reexport=first)

    mm_s = steps.pop(MATMUL)
    mm = {"n": a.matmul_n, "dtype": "float32", "median_flops": 2 * a.matmul_n**3 / statistics.median(mm_s),
          "best_flops": 2 * a.matmul_n**3 / min(mm_s), "statistic": "median over the step rounds (interleaved)"}
    ref_flops = mm["median_flops"]
    eager_steps, eager_avatars = steps["torch eager"], avatar_times["torch eager"]
    ref_maps = avatars["torch eager"][0].cpu()
    rows = []
    for b in backends:
        row = {"backend": b.name, "error": b.error, **{k: v for k, v in b.info.items() if k != "status"}}
        if b.error is None:
            st, av = steps[b.name], avatar_times[b.name]
            step_s, avatar_s = statistics.median(st), statistics.median(av)
            q1, q3 = _quartiles(st)
            row.update({
                "step_ms": round(step_s * 1e3, 3), "step_ms_q1": round(q1 * 1e3, 3), "step_ms_q3": round(q3 * 1e3, 3),
                "avatar_s": round(avatar_s, 3), "round_step_ms": [round(v * 1e3, 3) for v in st],
                "round_avatar_s": [round(v, 3) for v in av],
                "speedup_step": speedup(eager_steps, st), "speedup_avatar": speedup(eager_avatars, av),
                "achieved_gflops_step": round(flops_call / step_s / 1e9, 2),
                "matmul_fraction_step": round(flops_call / step_s / ref_flops, 3),
                "achieved_gflops_avatar": round(flops_call * calls / avatar_s / 1e9, 2),
                "matmul_fraction_avatar": round(flops_call * calls / avatar_s / ref_flops, 3),
                "parity_psnr_db_vs_eager": round(psnr_db(ref_maps, avatars[b.name][0].cpu(), chart), 2),
            })
        rows.append(row)
    ort_row = next((r for r in rows if r["backend"].startswith("onnxruntime")), None)
    goal = None
    if device.type == "cpu" and ort_row is not None and ort_row.get("error") is None:
        sa, ss = ort_row["speedup_avatar"]["median"], ort_row["speedup_step"]["median"]
        goal = {"speedup_avatar": sa, "speedup_step": ss, "goal": GOAL_SPEEDUP, "met_avatar": sa >= GOAL_SPEEDUP,
                "met_step": ss >= GOAL_SPEEDUP, "met": sa >= GOAL_SPEEDUP and ss >= GOAL_SPEEDUP}
    busy = None
    if c0 and c1 and c1[0] > c0[0]:
        busy = round(max(0.0, (c1[1] - c0[1]) - (c1[2] - c0[2])) / (c1[0] - c0[0]), 2)
    return {"case": spec, "size": size, "resolution": R, "patch": patch, "parameters": params,
            "avatar_rounds": avatar_rounds,
            "tokens": (R // patch) ** 2 + 1, "chart": chart_source, "avatars": N, "model_batch": n_terms * N,
            "flops_per_call": flops_call, "calls_per_avatar": calls, "matmul": mm, "steps_per_round": k,
            "backends": rows, "levers": levers, "goal": goal, "others_busy_cores": busy}


# ---------------------------------------------------------------------------------------------
# Report


def print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    m, s = result["machine"], result["settings"]
    c = Console(width=max(Console().width, 160))
    t = Table("case", "backend", "ms/step", "s/avatar", "x eager step", "x eager avatar", "GFLOP/s",
              "of matmul", "PSNR vs eager", f"≥ {GOAL_SPEEDUP}x step / avatar",
              title=f"exported sampler — {m['device_name']} ({s['device']}, {s['threads']} thread(s)); "
                    f"{s['avatars']} avatar(s), {s['steps']} {s['method']} steps, cfg {s['cfg']}",
              caption="medians over interleaved rounds; x eager: median of per-round ratios \\[quartiles]; GFLOP/s "
                      "and 'of matmul' per step (model FLOPs / time, against torch.mm n x n float32 here); PSNR: "
                      "the backend's avatar against eager's, same seed")
    for case in result["cases"]:
        mm = case["matmul"]
        label = (f"{case['size']} R={case['resolution']}/p{case['patch']} ({case['parameters'] / 1e6:.1f} M, "
                 f"{case['flops_per_call'] / 1e9:.2f} GFLOP/call; matmul {mm['median_flops'] / 1e9:.1f} GFLOP/s)")
        for r in case["backends"]:
            if r.get("error"):
                t.add_row(label, r["backend"], f"[red]{r['error'][:90]}[/]", *["—"] * 7)
                continue
            sp, sa = r["speedup_step"], r["speedup_avatar"]
            goal = "—"
            if r["backend"] == "onnxruntime" and case.get("goal"):
                goal = " / ".join("[green]pass[/]" if case["goal"][k] else "[red]FAIL[/]"
                                  for k in ("met_step", "met_avatar"))
            t.add_row(label, r["backend"], f"{r['step_ms']:.2f}", f"{r['avatar_s']:.3f}",
                      f"{sp['median']:.2f} [{sp['q1']:.2f}, {sp['q3']:.2f}]",
                      f"{sa['median']:.2f} [{sa['q1']:.2f}, {sa['q3']:.2f}]", f"{r['achieved_gflops_step']:.1f}",
                      f"{r['matmul_fraction_step']:.0%}", f"{r['parity_psnr_db_vs_eager']:.1f}", goal)
            label = ""
    c.print(t)
    for case in result["cases"]:
        if case["levers"]:
            lt = Table("lever", "ms/call", "eager ms/call", "x eager", "x ort default", "note",
                       title=f"onnxruntime levers — {case['size']} R={case['resolution']} (per call; each variant "
                             "interleaved with eager and the default session)")
            for r in case["levers"]:
                lt.add_row(r["lever"], "—" if r["call_ms"] is None else f"{r['call_ms']:.2f}",
                           "—" if r["eager_ms"] is None else f"{r['eager_ms']:.2f}",
                           "—" if r["vs_eager"] is None else f"{r['vs_eager']:.2f}",
                           "—" if r["vs_ort_default"] is None else f"{r['vs_ort_default']:.2f}", r["note"][:100])
            c.print(lt)
        for r in case["backends"]:
            if r.get("compile_s"):
                c.print(f"{case['case']}: torch.compile took {r['compile_s']} s to compile")
        if case.get("goal"):
            g = case["goal"]
            verdict = lambda ok: "pass" if ok else "FAIL"  # noqa: E731
            c.print(f"{case['case']}: onnxruntime / eager = {g['speedup_step']:.3f}x per step "
                    f"({verdict(g['met_step'])}), {g['speedup_avatar']:.3f}x per avatar ({verdict(g['met_avatar'])}),"
                    f" goal ≥ {g['goal']}x; other processes kept {case['others_busy_cores']} cores busy")
    c.print(f"elapsed {result['elapsed_s']:.0f} s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", nargs="+", default=list(DEFAULT_CASES), help="size:R[:patch] (default: %(default)s)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=1, help="torch and onnxruntime intra-op threads (default 1)")
    p.add_argument("--avatars", type=int, default=1, help="avatars per sampler call (model batch = 2 x this)")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--method", default="heun", choices=["heun", "euler"])
    p.add_argument("--cfg", type=float, default=3.0, help="text guidance scale (as genlca generate)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls per backend (default %(default)s)")
    p.add_argument("--rounds", type=int, default=15, help="interleaved rounds of step calls (default %(default)s)")
    p.add_argument("--round-seconds", type=float, default=0.5, help="about this long per backend per round")
    p.add_argument("--k", type=int, default=0, help="fixed calls per backend per round (0: from --round-seconds)")
    p.add_argument("--avatar-rounds", type=int, default=0, help="avatars per backend, interleaved (0: as many as "
                   "fit in --avatar-seconds, 3 to 9)")
    p.add_argument("--avatar-seconds", type=float, default=90.0, help="time budget of the avatar rounds per case")
    p.add_argument("--lever-rounds", type=int, default=9, help="rounds per lever (with eager and the default)")
    p.add_argument("--lever-k", type=int, default=3, help="calls per round and variant")
    p.add_argument("--no-levers", action="store_true", help="skip the onnxruntime levers")
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    p.add_argument("--matmul-n", type=int, default=0, help="reference matmul size (0: 1024 CPU, 8192 CUDA)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="tiny only, few rounds, no levers")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    a = p.parse_args(argv)
    if a.quick:
        a.cases, a.rounds, a.avatar_rounds, a.no_levers = ["tiny:128"], 5, 3, True
    if a.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: CUDA is not available")
    a.matmul_n = a.matmul_n or (8192 if a.device == "cuda" else 1024)
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    log = lambda *x: print(*x, flush=True)  # noqa: E731

    import onnxruntime as ort

    info = {**base_machine_info(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "onnxruntime": ort.__version__, "onnxruntime_providers": ort.get_available_providers()}
    info["device_name"] = torch.cuda.get_device_name(device) if a.device == "cuda" else info["cpu"]
    if a.device == "cuda":
        info["matmul_fp16"] = matmul_flops(device, a.matmul_n, torch.float16)
    t0 = time.perf_counter()
    cases = []
    for i, spec in enumerate(a.cases):
        cases.append(run_case(spec, a, device, log, first=i == 0))
    result = {
        "benchmark": "genlca exported sampler: torch eager vs torch.compile vs onnxruntime (vs TensorRT on CUDA)",
        "machine": {**info, "loadavg_end": loadavg()},
        "settings": {"cases": a.cases, "device": a.device, "threads": a.threads, "avatars": a.avatars,
                     "steps": a.steps, "method": a.method, "cfg": a.cfg, "warmup": a.warmup, "rounds": a.rounds,
                     "round_seconds": a.round_seconds, "k": a.k, "avatar_rounds": a.avatar_rounds,
                     "avatar_seconds": a.avatar_seconds,
                     "lever_rounds": a.lever_rounds, "lever_k": a.lever_k, "matmul_n": a.matmul_n, "seed": a.seed,
                     "text_tokens": TEXT_TOKENS,
                     "statistic": "per round the median of k calls (backends alternating call by call), then the "
                                  "median over rounds; speedups = median of per-round ratios"},
        "goal": {"onnxruntime_over_eager_per_avatar_min": GOAL_SPEEDUP},
        "cases": cases,
        "elapsed_s": round(time.perf_counter() - t0, 1),
    }
    write_result(a.out, result, print_table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
