"""`production_checkpoint`: the GenLCA checkpoint promoted to production only when it is not worse than the current
one on held-out evaluation metrics (the evaluation report's; the rule: `genlca.lineage_state.promotion_decision`)."""

import json
import shutil
from pathlib import Path

import dagster as dg

from assets.checkpoint_assets import checkpoint_folder
from assets.report_assets import production_evaluation_paths, report_folder
from genlca.diffusion.train import META_FILE
from genlca.eval.report import REPORT_JSON
from genlca.io_utils import staged_dir
from genlca.lineage_state import (EVALUATION_FILE, PROMOTION_METRICS, metric_value, promotion_decision,
                                  stored_evaluation, trained_version)
from orchestration.resources import ArtifactStore

# Training state and logs stay with the trained folder; production gets what sampling and deployment read.
NOT_PROMOTED = shutil.ignore_patterns("checkpoints", "logs", "history")


class ProductionCheckpointConfig(dg.Config):
    # Held-out metrics of the evaluation report -> "min" | "max" (which way is better).
    metrics: dict[str, str] = dict(PROMOTION_METRICS)
    tolerance: float = 0.05  # a candidate may be this much worse (relative to production's value) and still pass


@dg.asset(
    group_name="model",
    # The export's blocking parity check and the evaluation both come first: only a checked, evaluated export
    # reaches production, and the decision reads the evaluation.
    deps=["exported_sampler", "evaluation_report"],
    check_specs=[
        dg.AssetCheckSpec("not_worse_than_production", asset="production_checkpoint", blocking=True,
                          description="The candidate was promoted: on the chosen held-out metrics of its evaluation "
                                      "report it is within the tolerance of production's, evaluated on the same "
                                      "token dataset under the same protocol (or nothing comparable was there)."),
    ],
)
def production_checkpoint(context: dg.AssetExecutionContext, config: ProductionCheckpointConfig,
                          store: ArtifactStore) -> dg.MaterializeResult:
    """models/production: a copy of models/genlca (weights, normalizer, checkpoint.json, export/) and its evaluation
    report (evaluation.json), replaced only when the candidate is not worse; otherwise production stays as it was
    and the check fails."""
    src = checkpoint_folder(store)
    if not (src / META_FILE).is_file():
        raise dg.Failure(description=f"no GenLCA checkpoint at {src}: materialize genlca_checkpoint first")
    candidate = json.loads((src / META_FILE).read_text())
    report = stored_evaluation([report_folder(store) / REPORT_JSON], candidate.get("weights_sha256", ""))
    if report is None:
        raise dg.Failure(description=f"no evaluation report of the candidate {src} in {report_folder(store)}: "
                                     "materialize evaluation_report first")
    dst = store.path("models", "production", META_FILE).parent
    production = json.loads((dst / META_FILE).read_text()) if (dst / META_FILE).is_file() else None
    prod_report = None
    if production is not None:  # its stored evaluation, or the one evaluation_report made under this protocol
        paths, weights = production_evaluation_paths(store), production.get("weights_sha256", "")
        prod_report = (stored_evaluation(paths, weights, report["protocol"]["hash"])
                       or stored_evaluation(paths, weights)
                       or {"data_version": trained_version(production)})  # never evaluated: compares on data only
    decision = promotion_decision(report, prod_report, config.metrics, config.tolerance)
    if decision.promote:
        _replace_folder(src, dst, report)
    context.log.info(f"{'promoted' if decision.promote else 'kept production'}: {decision.reason}")
    metadata = {"promoted": decision.promote, "reason": decision.reason, "production": dg.MetadataValue.path(str(dst)),
                "production_weights": str((candidate if decision.promote else production or {})
                                          .get("weights_sha256", ""))[:16]}
    for name in config.metrics:  # the numbers the decision compared (NaN: production had none)
        metadata[f"candidate_{name}"] = metric_value(report, name)
        metadata[f"production_before_{name}"] = metric_value(prod_report or {}, name)
    return dg.MaterializeResult(
        metadata=metadata, data_version=dg.DataVersion(metadata["production_weights"] or "none"),
        check_results=[dg.AssetCheckResult(check_name="not_worse_than_production", passed=decision.promote,
                                            metadata={"reason": decision.reason})])


def _replace_folder(src: Path, dst: Path, report: dict) -> None:
    """Copy beside dst (with the evaluation that earned the place), then swap: readers see the old folder or the
    new one, never half of each; a kill part-way leaves a temporary the next write sweeps."""
    with staged_dir(dst) as tmp:
        shutil.copytree(src, tmp, ignore=NOT_PROMOTED, dirs_exist_ok=True)
        (tmp / EVALUATION_FILE).write_text(json.dumps(report, indent=1, default=float) + "\n")
