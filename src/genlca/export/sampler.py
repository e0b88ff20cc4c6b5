"""A GenLCA checkpoint as a deployable sampler folder, verified against the checkpoint, and loaded back.

    config = export_sampler("data/models/genlca", "data/models/genlca/export", ExportConfig(format="onnx"))
    model = load_runtime("data/models/genlca/export", backend="onnx")     # stands in for the model in flow.sample

OUT after an export:
    denoiser.onnx            fp32 graph, dynamic batch (denoiser.py: inputs and outputs)
    denoiser.fp16.onnx       format "tensorrt", where TensorRT runs: the fp16 graph (float32 I/O) the engine is
                             built from (elsewhere the TensorRT step is skipped, with the reason in config.json)
    denoiser.fp16.engine     format "tensorrt", where TensorRT runs: the engine (tensorrt.py)
    chart.safetensors        the UV chart (the sampler zeroes texels off it; the graph holds it as a constant)
    normalizer.safetensors   the checkpoint's per-channel statistics (samples come out normalized)
    parity.json              denoiser and whole-sampler parity against the checkpoint's PyTorch model (parity.py)
    config.json              model config, checkpoint identity, graph I/O, parity summary, TensorRT status, file
                             sizes; written last, so its presence means the folder is complete

Where a backend finds its export (runtime_for_checkpoint, used by `genlca generate --backend`): the checkpoint's
own `export/` folder (the exported_sampler asset writes it there, so copying a checkpoint folder carries its
sampler) when it belongs to the same weights; otherwise $GENLCA_CACHE/exported/<weights sha256>-<format>, made
on first use. A folder the user named as a checkpoint is never written to.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from genlca.diffusion.text import MAX_TOKENS

FORMATS = ("onnx", "tensorrt")
BACKENDS = ("torch", "onnx", "tensorrt")
ONNX_FILE, FP16_ONNX_FILE = "denoiser.onnx", "denoiser.fp16.onnx"
CHART_FILE, NORMALIZER_FILE, PARITY_FILE, CONFIG_FILE = ("chart.safetensors", "normalizer.safetensors",
                                                         "parity.json", "config.json")
EXPORT_SUBDIR = "export"
FORMAT_VERSION = 1


@dataclass
class ExportConfig:
    format: str = "onnx"  # onnx | tensorrt (the ONNX graph, plus the fp16 engine where TensorRT runs)
    opset: int = 20
    text_tokens: int = MAX_TOKENS  # caption length of the graph (denoiser.py: why fixed)
    parity_batches: tuple[int, ...] = (1, 2, 5)
    parity_samples: int = 2
    parity_steps: int = 10
    max_abs_tol: float = 1e-4  # fp32 denoiser parity
    psnr_min_db: float = 40.0  # whole-sampler parity
    max_batch: int = 64  # TensorRT profile
    seed: int = 0

    def __post_init__(self):
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {self.format!r}")
        self.parity_batches = tuple(self.parity_batches)


def _parity(model, runtime, cfg: ExportConfig) -> dict:
    from genlca.export.parity import denoiser_parity, sampler_parity

    t0 = time.perf_counter()
    den = denoiser_parity(model, runtime, cfg.parity_batches, seed=cfg.seed)
    smp = sampler_parity(model, runtime, cfg.parity_samples, cfg.parity_steps, seed=cfg.seed)
    return {"denoiser": den, "sampler": smp, "seconds": round(time.perf_counter() - t0, 2)}


def _verdict(parity: dict, cfg: ExportConfig) -> dict:
    max_abs, psnr = parity["denoiser"]["max_abs"], parity["sampler"]["psnr_db"]
    return {"denoiser_max_abs": max_abs, "denoiser_max_abs_tol": cfg.max_abs_tol,
            "sampler_psnr_db": psnr, "sampler_psnr_min_db": cfg.psnr_min_db,
            "passed": bool(max_abs <= cfg.max_abs_tol and psnr >= cfg.psnr_min_db)}


def _tensorrt(model, out: Path, cfg: ExportConfig, log) -> tuple[dict, dict]:
    """(the TensorRT record for config.json, parity reports). Where TensorRT cannot run, the step is skipped and
    the reason recorded. Where it runs: the fp16 graph (checked, and compared in onnxruntime on the CPU), its
    engine, and the engine's parity against the model on the GPU."""
    from genlca.export.onnx_export import check_graph, export_onnx
    from genlca.export.runtime import OrtDenoiser
    from genlca.export.tensorrt import ENGINE_FILE, TensorRTDenoiser, build_engine, tensorrt_status

    status = tensorrt_status()
    if not status["available"]:
        log(f"TensorRT engine skipped: {status['reason']}")
        return {"status": "skipped", "reason": status["reason"], "available": False,
                "tensorrt": status["version"]}, {}
    info = export_onnx(model, out / FP16_ONNX_FILE, cfg.text_tokens, cfg.opset, dtype=torch.float16)
    check_graph(out / FP16_ONNX_FILE)
    record = {"fp16_onnx": info, "available": True, "tensorrt": status["version"]}
    fp16_cpu = OrtDenoiser(out / FP16_ONNX_FILE, model.config, model.chart, cfg.text_tokens)
    parity = {"fp16_onnx_cpu": _parity(model, fp16_cpu, cfg)}
    record["fp16_onnx_cpu_parity"] = _summary(parity["fp16_onnx_cpu"])
    log(f"building the TensorRT fp16 engine on {status['device']} ...")
    record |= build_engine(out / FP16_ONNX_FILE, out / ENGINE_FILE, cfg.max_batch)
    gpu_model = copy.deepcopy(model).to("cuda").eval()
    engine = TensorRTDenoiser(out / ENGINE_FILE, model.config, model.chart, cfg.text_tokens, "cuda")
    parity["engine"] = _parity(gpu_model, engine, cfg)
    record["engine_parity"] = _summary(parity["engine"])
    return record, parity


def _summary(parity: dict) -> dict:
    return {"denoiser_max_abs": parity["denoiser"]["max_abs"], "sampler_psnr_db": parity["sampler"]["psnr_db"]}


def export_sampler(checkpoint: str | os.PathLike, out: str | os.PathLike, cfg: ExportConfig = ExportConfig(),
                   log=None) -> dict:
    """Export the checkpoint's EMA model into OUT (module docstring) and check it against the model: returns
    config.json's content, whose "parity"["passed"] says whether the fp32 graph met cfg's tolerances."""
    from genlca.diffusion.train import NORMALIZER_FILE as CKPT_NORMALIZER
    from genlca.diffusion.train import checkpoint_dir, load_checkpoint
    from genlca.export.onnx_export import check_graph, export_onnx
    from genlca.export.runtime import OrtDenoiser
    from genlca.export.tensorrt import ENGINE_FILE
    from genlca.io_utils import atomic_path, save_tensors

    log = log or (lambda *_: None)
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in (CONFIG_FILE, PARITY_FILE, ONNX_FILE, FP16_ONNX_FILE, ENGINE_FILE):  # none left from an earlier run
        for stale in (out / name, out / f"{name}.data"):
            stale.unlink(missing_ok=True)
    model, _, meta = load_checkpoint(checkpoint)
    log(f"exporting the denoiser to {out / ONNX_FILE} (torch.onnx dynamo, opset {cfg.opset}) ...")
    onnx_info = export_onnx(model, out / ONNX_FILE, cfg.text_tokens, cfg.opset)
    graph = check_graph(out / ONNX_FILE)
    save_tensors(out / CHART_FILE, {"chart": model.chart.cpu().bool()}, {"kind": "genlca_chart"})
    with atomic_path(out / NORMALIZER_FILE) as tmp:
        shutil.copyfile(checkpoint_dir(checkpoint) / meta.get("normalizer", CKPT_NORMALIZER), tmp)

    runtime = OrtDenoiser(out / ONNX_FILE, model.config, model.chart, cfg.text_tokens)
    parity = {"onnx_cpu": _parity(model, runtime, cfg)}
    verdict = _verdict(parity["onnx_cpu"], cfg)
    log(f"parity: denoiser max |diff| {verdict['denoiser_max_abs']:.2e} (tolerance {cfg.max_abs_tol:g}), sampler "
        f"PSNR {verdict['sampler_psnr_db']:.1f} dB (minimum {cfg.psnr_min_db:g})")
    if cfg.format == "tensorrt":
        tensorrt, more = _tensorrt(model, out, cfg, log)
        parity |= more
    else:
        from genlca.export.tensorrt import tensorrt_status

        status = tensorrt_status()
        tensorrt = {"status": "not requested", "reason": "format onnx", "available": status["available"],
                    "here": status["reason"] or f"TensorRT {status['version']} on {status['device']}"}
    with atomic_path(out / PARITY_FILE) as tmp:
        tmp.write_text(json.dumps(parity, indent=1, default=float) + "\n")

    import onnxruntime as ort

    # What the runtimes load (the parity report is a measurement: its size would carry its timings).
    files = {p.name: p.stat().st_size for p in sorted(out.iterdir())
             if p.is_file() and not p.name.startswith(".") and p.name != PARITY_FILE}
    config = {
        "format_version": FORMAT_VERSION, "kind": "genlca_exported_sampler", "format": cfg.format,
        "export": asdict(cfg), "model": model.config, "text_tokens": cfg.text_tokens,
        "checkpoint": {"path": str(checkpoint_dir(checkpoint)), "weights_sha256": meta.get("weights_sha256"),
                       "step": meta.get("step"), "run_id": meta.get("run_id"), "body_model": meta.get("body_model"),
                       "text_model": meta.get("text_model")},
        "onnx": onnx_info | {"graph": graph}, "tensorrt": tensorrt, "parity": verdict,
        "onnxruntime": {"version": ort.__version__, "providers": ort.get_available_providers()},
        "files": files, "seconds": round(time.perf_counter() - t0, 1),
    }
    with atomic_path(out / CONFIG_FILE) as tmp:
        tmp.write_text(json.dumps(config, indent=1, default=str) + "\n")
    return config


def read_config(folder: str | os.PathLike) -> dict | None:
    """config.json of a complete export folder, or None."""
    f = Path(folder) / CONFIG_FILE
    return json.loads(f.read_text()) if f.is_file() else None


def load_runtime(folder: str | os.PathLike, backend: str = "onnx", device: str | torch.device = "cpu",
                 threads: int | None = None):
    """The exported denoiser of FOLDER for `backend` (onnx: onnxruntime, CPU or CUDA provider by device;
    tensorrt: the engine, on CUDA), ready for flow.sample."""
    from genlca.safe_files import load_tensors as load_file

    folder = Path(folder)
    config = read_config(folder)
    if config is None:
        raise FileNotFoundError(f"{folder}: no {CONFIG_FILE} (not a complete `genlca export` folder)")
    chart = load_file(str(folder / CHART_FILE))["chart"]
    if backend == "onnx":
        from genlca.export.runtime import OrtDenoiser

        return OrtDenoiser(folder / ONNX_FILE, config["model"], chart, config["text_tokens"], device, threads=threads)
    if backend == "tensorrt":
        from genlca.export.tensorrt import ENGINE_FILE, TensorRTDenoiser

        if not (folder / ENGINE_FILE).is_file():
            reason = config.get("tensorrt", {}).get("reason", "")
            raise FileNotFoundError(f"{folder}: no TensorRT engine ({reason or 'exported as ' + config['format']})")
        return TensorRTDenoiser(folder / ENGINE_FILE, config["model"], chart, config["text_tokens"],
                                device if torch.device(device).type == "cuda" else "cuda")
    raise ValueError(f"backend must be onnx or tensorrt here, got {backend!r}")


def _usable(folder: Path, weights_sha256: str | None, backend: str) -> bool:
    from genlca.export.tensorrt import ENGINE_FILE

    config = read_config(folder)
    return (config is not None and config["checkpoint"].get("weights_sha256") == weights_sha256
            and config["parity"]["passed"] and (backend != "tensorrt" or (folder / ENGINE_FILE).is_file()))


def runtime_for_checkpoint(checkpoint: str | os.PathLike, backend: str = "onnx", device: str | torch.device = "cpu",
                           cfg: ExportConfig | None = None):
    """The checkpoint's denoiser on an exported backend, exported first if no folder of the same weights has one
    (module docstring: where). Raises when a new export fails its parity check."""
    from genlca.diffusion.train import META_FILE, checkpoint_dir
    from genlca.paths import cache_root

    if backend not in ("onnx", "tensorrt"):
        raise ValueError(f"backend must be one of {BACKENDS[1:]}, got {backend!r}")
    folder = checkpoint_dir(checkpoint)
    meta_file = folder / META_FILE
    if not meta_file.is_file():
        raise FileNotFoundError(f"{folder}: no {META_FILE} (not a trained GenLCA checkpoint)")
    sha = json.loads(meta_file.read_text()).get("weights_sha256")
    fmt = "tensorrt" if backend == "tensorrt" else "onnx"
    if backend == "tensorrt":
        from genlca.export.tensorrt import tensorrt_status

        status = tensorrt_status()
        if not status["available"]:
            raise RuntimeError(f"the tensorrt backend cannot run here: {status['reason']}")
    cached = cache_root() / "exported" / f"{str(sha)[:16]}-{fmt}"
    for candidate in (folder / EXPORT_SUBDIR, cached):
        if _usable(candidate, sha, backend):
            return load_runtime(candidate, backend, device)
    tmp = cached.with_name(f".{cached.name}.{uuid.uuid4().hex[:8]}")
    config = export_sampler(folder, tmp, cfg or ExportConfig(format=fmt))
    if not config["parity"]["passed"]:
        raise RuntimeError(f"the {fmt} export of {folder} failed its parity check ({config['parity']}); kept in {tmp}")
    shutil.rmtree(cached, ignore_errors=True)
    try:
        tmp.rename(cached)
    except OSError:  # another process got there first: theirs is as good
        shutil.rmtree(tmp, ignore_errors=True)
    return load_runtime(cached, backend, device)


__all__ = ["BACKENDS", "EXPORT_SUBDIR", "ExportConfig", "FORMATS", "export_sampler", "load_runtime", "read_config",
           "runtime_for_checkpoint"]
