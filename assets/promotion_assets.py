"""`production_checkpoint`: the GenLCA checkpoint promoted to production only when it is not worse than the current
one (the rule: `genlca.lineage_state.promotion_decision`)."""

import json
import shutil
import tempfile
from pathlib import Path

import dagster as dg

from assets.checkpoint_assets import checkpoint_folder
from genlca.diffusion.train import META_FILE
from genlca.lineage_state import promotion_decision
from orchestration.resources import ArtifactStore

# Training state and logs stay with the trained folder; production gets what sampling and deployment read.
NOT_PROMOTED = shutil.ignore_patterns("checkpoints", "logs", "history")


class ProductionCheckpointConfig(dg.Config):
    tolerance: float = 0.05  # a candidate may be this much worse (relative loss_last) and still count as not worse


@dg.asset(
    group_name="model",
    deps=["exported_sampler"],  # blocked by its parity check: only a checked export reaches production
    check_specs=[
        dg.AssetCheckSpec("not_worse_than_production", asset="production_checkpoint", blocking=True,
                          description="The candidate was promoted: its loss_last is within the tolerance of "
                                      "production's on the same token dataset (or nothing comparable was there)."),
    ],
)
def production_checkpoint(context: dg.AssetExecutionContext, config: ProductionCheckpointConfig,
                          store: ArtifactStore) -> dg.MaterializeResult:
    """models/production: a copy of models/genlca (weights, normalizer, checkpoint.json, export/) replaced only
    when the candidate is not worse; otherwise production stays as it was and the check fails."""
    src = checkpoint_folder(store)
    if not (src / META_FILE).is_file():
        raise dg.Failure(description=f"no GenLCA checkpoint at {src}: materialize genlca_checkpoint first")
    dst = store.path("models", "production", META_FILE).parent
    candidate = json.loads((src / META_FILE).read_text())
    production = json.loads((dst / META_FILE).read_text()) if (dst / META_FILE).is_file() else None
    decision = promotion_decision(candidate, production, config.tolerance)
    if decision.promote:
        _replace_folder(src, dst)
    context.log.info(f"{'promoted' if decision.promote else 'kept production'}: {decision.reason}")
    current = candidate if decision.promote else production or {}
    loss = lambda m: float((m or {}).get("metrics", {}).get("loss_last", float("nan")))
    metadata = {"promoted": decision.promote, "reason": decision.reason, "candidate_loss_last": loss(candidate),
                "production_loss_last": loss(current), "production": dg.MetadataValue.path(str(dst)),
                "production_weights": str(current.get("weights_sha256", ""))[:16]}
    return dg.MaterializeResult(
        metadata=metadata, data_version=dg.DataVersion(metadata["production_weights"] or "none"),
        check_results=[dg.AssetCheckResult(check_name="not_worse_than_production", passed=decision.promote,
                                            metadata={"reason": decision.reason})])


def _replace_folder(src: Path, dst: Path) -> None:
    """Copy beside dst, then swap: readers see the old folder or the new one, never half of each."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    shutil.copytree(src, tmp / "new", ignore=NOT_PROMOTED)
    if dst.exists():
        dst.rename(tmp / "old")
    (tmp / "new").rename(dst)
    shutil.rmtree(tmp, ignore_errors=True)
