"""`evaluation_report`: evaluation follows training: the checkpoint's report (samples, metrics, lineage)."""

import dagster as dg

from assets.checkpoint_assets import checkpoint_folder
from assets.preview import image_markdown
from genlca.eval import report as eval_report
from genlca.threads import torch_threads
from orchestration.resources import ArtifactStore


class EvaluationReportConfig(dg.Config):
    samples: int = 4  # avatars generated from the data set's captions
    steps: int = 20
    size: int = 128
    ablation_json: str = ""  # an ablation report to include (`genlca evaluate ablation --json`)
    torch_threads: int = 1


@dg.asset(group_name="model", deps=["genlca_checkpoint"], kinds={"html"})
def evaluation_report(config: EvaluationReportConfig, store: ArtifactStore) -> dg.MaterializeResult:
    """reports/genlca/report.html: samples, token-space Frechet distance to the data set, FID / KID where the
    Inception weights exist (else the reason), the checkpoint lineage; the metric table in the metadata."""
    ckpt = checkpoint_folder(store)
    out = store.path("reports", "genlca", eval_report.REPORT_HTML).parent
    with torch_threads(config.torch_threads or None):
        r = eval_report.evaluation_report(ckpt, store.path("token_dataset", "index.parquet").parent, out,
                                          samples=config.samples, steps=config.steps, size=config.size,
                                          ablation_json=config.ablation_json or None)
    return dg.MaterializeResult(metadata={
        "report": dg.MetadataValue.path(str(out / eval_report.REPORT_HTML)),
        "metrics": dg.MetadataValue.md(eval_report.report_markdown(r)),
        "samples": dg.MetadataValue.md(image_markdown(str(out / eval_report.SAMPLES_PNG), alt="samples")),
        "checkpoint": r["weights"], "seconds": r["seconds"],
    })
