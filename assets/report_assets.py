"""`evaluation_report`: evaluation follows the checked export and comes before promotion: the candidate's report
(samples, metrics, held-out per-region error and reconstruction, lineage), which `production_checkpoint` reads."""

import json
from pathlib import Path

import dagster as dg
from PIL import Image

from assets.checkpoint_assets import checkpoint_folder
from assets.preview import image_markdown
from genlca.diffusion.train import META_FILE
from genlca.eval import report as eval_report
from genlca.eval.held_out import HeldOutConfig
from genlca.lineage_state import EVALUATION_FILE, stored_evaluation, trained_version
from genlca.threads import torch_threads
from orchestration.resources import ArtifactStore, DropsFolder


class EvaluationReportConfig(dg.Config):
    samples: int = 4  # avatars generated from the data set's captions
    steps: int = 20
    size: int = 128
    region_avatars: int = 2  # validation avatars whose body regions are hidden in turn and completed
    region_steps: int = 10  # sampler steps of those completions (Euler)
    recon_inputs: int = 2  # synthetic photos with ground truth for PSNR / SSIM / LPIPS
    ablation_json: str = ""  # an ablation report to include (`genlca evaluate ablation --json`)
    torch_threads: int = 1


def report_folder(store: ArtifactStore, name: str = "genlca") -> Path:
    return store.path("reports", name, eval_report.REPORT_JSON).parent


def production_evaluation_paths(store: ArtifactStore) -> list[Path]:
    """Where production's evaluation may be: kept with it at promotion, made by `evaluation_report` when that one
    was under another protocol, or the candidate's own report when production holds the same weights."""
    return [store.path("models", "production", EVALUATION_FILE),
            report_folder(store, "production") / eval_report.REPORT_JSON,
            report_folder(store) / eval_report.REPORT_JSON]


@dg.asset(group_name="model", deps=["exported_sampler"], kinds={"html"})
def evaluation_report(context: dg.AssetExecutionContext, config: EvaluationReportConfig, store: ArtifactStore,
                      drops: DropsFolder) -> dg.MaterializeResult:
    """reports/genlca/report.html: samples, token-space Frechet distance to the data set, FID / KID where the
    Inception weights exist (else the reason), the held-out completion error per body region and the
    image-conditioned reconstruction metrics, the checkpoint lineage; the metric table and a preview in the
    metadata. When production was trained on the same token dataset but never evaluated under these settings, it
    is evaluated too (reports/production/), so promotion compares like with like."""
    ckpt = checkpoint_folder(store)
    data = store.path("token_dataset", "index.parquet").parent
    run = lambda checkpoint, name: eval_report.evaluation_report(  # noqa: E731
        checkpoint, data, report_folder(store, name), samples=config.samples, steps=config.steps, size=config.size,
        ablation_json=config.ablation_json or None, drops_dir=drops.root,
        held_out=HeldOutConfig(avatars=config.region_avatars, steps=config.region_steps,
                               recon_inputs=config.recon_inputs, size=config.size))
    with torch_threads(config.torch_threads or None):
        r = run(ckpt, "genlca")
        reevaluated = _evaluate_production(store, r, run)
    if reevaluated:
        context.log.info(f"production evaluated under protocol {r['protocol']['hash']}: {reevaluated}")
    out = report_folder(store)
    pictures = [out / eval_report.SAMPLES_PNG] + [out / p for p in r["held_out"]["pictures"].values()]
    return dg.MaterializeResult(metadata={
        "report": dg.MetadataValue.path(str(out / eval_report.REPORT_HTML)),
        "metrics": dg.MetadataValue.md(eval_report.report_markdown(r)),
        "preview": dg.MetadataValue.md(image_markdown(_stack(pictures), alt="samples, per-region error, "
                                                                            "reconstruction")),
        "reconstruction_reference": r["held_out"]["reconstruction"]["reference"],
        "checkpoint": r["weights"], "protocol": r["protocol"]["hash"], "seconds": r["seconds"],
        "held_out_seconds": r["timings"]["held_out_s"], "production_reevaluated": reevaluated or "",
    })


def _evaluate_production(store: ArtifactStore, report: dict, run) -> str | None:
    """Evaluate models/production when its numbers would otherwise not compare with the candidate's: same token
    dataset, but no evaluation of its weights under this protocol. Returns its weights when it did."""
    prod = store.path("models", "production", META_FILE)
    if not prod.is_file():
        return None
    meta = json.loads(prod.read_text())
    weights = meta.get("weights_sha256", "")
    if trained_version(meta) != report["data_version"] or weights[:16] == report["weights"] or \
            stored_evaluation(production_evaluation_paths(store), weights, report["protocol"]["hash"]):
        return None
    run(prod.parent, "production")
    return weights[:16]


def _stack(paths: list[Path]) -> Image.Image:
    """The pictures one below the other (the preview the UI shows inline)."""
    ims = [Image.open(p).convert("RGB") for p in paths if p.is_file()]
    out = Image.new("RGB", (max(im.width for im in ims), sum(im.height for im in ims)), "white")
    y = 0
    for im in ims:
        out.paste(im, (0, y))
        y += im.height
    return out
