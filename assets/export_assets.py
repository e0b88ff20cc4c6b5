"""`exported_sampler`: the GenLCA checkpoint as a deployable sampler (ONNX; a TensorRT fp16 engine where TensorRT
runs), checked against the checkpoint's PyTorch model before anything may use it (a blocking check)."""

import time

import dagster as dg
import pandas as pd

from assets.checkpoint_assets import checkpoint_folder
from genlca.data.ingest import sha256_file
from genlca.export import ExportConfig, export_sampler
from genlca.export.sampler import EXPORT_SUBDIR, ONNX_FILE, PARITY_FILE
from genlca.threads import torch_threads
from orchestration.resources import ArtifactStore


class ExportedSamplerConfig(dg.Config):
    """Defaults export the demo's tiny model in seconds; `tensorrt` adds the fp16 graph and, on a GPU with
    TensorRT, its engine (elsewhere the engine is skipped and the reason recorded)."""

    format: str = "onnx"  # onnx | tensorrt
    parity_steps: int = 10  # sampler steps of the whole-sampler parity
    max_abs_tol: float = 1e-4  # denoiser parity (fp32)
    psnr_min_db: float = 40.0  # whole-sampler parity
    torch_threads: int = 1  # 1: fastest on a shared CPU; 0: torch's default (onnxruntime takes the same)


@dg.asset(
    group_name="model",
    deps=["genlca_checkpoint"],
    kinds={"onnx"},
    check_specs=[
        dg.AssetCheckSpec("parity", asset="exported_sampler", blocking=True,
                          description="The ONNX denoiser matches the PyTorch model (max |diff| <= 1e-4 at batch "
                                      "1, 2, 5, with and without conditions) and whole sampler outputs agree "
                                      "(PSNR >= 40 dB, Euler and Heun with guidance, same seed)."),
    ],
)
def exported_sampler(context: dg.AssetExecutionContext, config: ExportedSamplerConfig,
                     store: ArtifactStore) -> dg.MaterializeResult:
    """The denoiser of genlca_checkpoint exported with torch's dynamo ONNX exporter into the checkpoint's
    export/ folder (ONNX, chart, normalizer, config, parity report), so the folder deploys as a whole and
    `genlca generate --backend onnx` finds it."""
    ckpt = checkpoint_folder(store)
    if not (ckpt / "checkpoint.json").is_file():
        raise dg.Failure(description=f"no GenLCA checkpoint at {ckpt}: materialize genlca_checkpoint first")
    cfg = ExportConfig(format=config.format, parity_steps=config.parity_steps, max_abs_tol=config.max_abs_tol,
                       psnr_min_db=config.psnr_min_db)
    out = ckpt / EXPORT_SUBDIR
    t0 = time.time()
    with torch_threads(config.torch_threads or None):
        c = export_sampler(ckpt, out, cfg, log=context.log.info)
    p, trt = c["parity"], c["tensorrt"]
    metadata = {
        "export": dg.MetadataValue.path(str(out)),
        "format": c["format"],
        "denoiser_max_abs_diff": p["denoiser_max_abs"], "sampler_psnr_db": p["sampler_psnr_db"],
        "parity": dg.MetadataValue.md(_parity_table(out)),
        "file_bytes": dg.MetadataValue.json(c["files"]),
        "onnx": dg.MetadataValue.json({k: c["onnx"][k] for k in ("opset", "dtype", "text_tokens", "exporter",
                                                                   "export_seconds")}
                                      | {"nodes": c["onnx"]["graph"]["nodes"],
                                         "inputs": c["onnx"]["graph"]["inputs"]}),
        "tensorrt_status": trt["status"],
        "tensorrt_reason": trt.get("reason") or "",
        "tensorrt": dg.MetadataValue.json(trt),
        "onnxruntime_providers": ", ".join(c["onnxruntime"]["providers"]),
        "checkpoint_weights": str(c["checkpoint"]["weights_sha256"])[:16],
        "seconds": round(time.time() - t0, 1),
    }
    return dg.MaterializeResult(
        metadata=metadata, data_version=dg.DataVersion(sha256_file(out / ONNX_FILE)[:16]),
        check_results=[dg.AssetCheckResult(
            check_name="parity", passed=p["passed"], severity=dg.AssetCheckSeverity.ERROR,
            metadata={"denoiser_max_abs_diff": p["denoiser_max_abs"], "tolerance": p["denoiser_max_abs_tol"],
                      "sampler_psnr_db": p["sampler_psnr_db"], "psnr_min_db": p["sampler_psnr_min_db"]})],
    )


def _parity_table(out) -> str:
    import json

    report = json.loads((out / PARITY_FILE).read_text())
    rows = []
    for backend, r in report.items():
        rows += [(backend, f"denoiser B={c['batch']}{' text' if c['text'] else ''}{' image' if c['image'] else ''}",
                  f"{max(c['max_abs'], c['max_abs_shape']):.2e}") for c in r["denoiser"]["cases"]]
        rows += [(backend, f"sampler {s['method']} {s['steps']} steps", f"{s['psnr_db']:.1f} dB")
                 for s in r["sampler"]["runs"]]
    return pd.DataFrame(rows, columns=["backend", "case", "max |diff| / PSNR"]).to_markdown(index=False)
