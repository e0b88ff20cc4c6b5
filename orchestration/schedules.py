"""Schedules: retrain the GenLCA model when the token dataset changed since the last checkpoint."""

import os
from pathlib import Path

import dagster as dg

from genlca.diffusion.train import META_FILE
from genlca.lineage_state import retrain_decision
from genlca.tokenizer.dataset import INFO_FILE
from orchestration.jobs import model_job
from orchestration.resources import ArtifactStore

RETRAIN_CRON = os.environ.get("GENLCA_RETRAIN_CRON", "0 3 * * *")


@dg.schedule(job=model_job, cron_schedule=RETRAIN_CRON, default_status=dg.DefaultScheduleStatus.STOPPED,
             description="Trains (and exports) the GenLCA model when token_dataset's version differs from the one "
                         "the checkpoint was trained on. Cron: $GENLCA_RETRAIN_CRON.")
def retrain_schedule(context: dg.ScheduleEvaluationContext, store: ArtifactStore):
    root = Path(store.root)  # not store.path(): a tick only reads, it creates no folders
    d = retrain_decision(root / "token_dataset" / INFO_FILE, root / "models" / "genlca" / META_FILE)
    if not d.retrain:
        return dg.SkipReason(d.reason)
    context.log.info(d.reason)
    # One run per dataset version: a tick during a long training does not start a second one; a failed run is
    # retried by hand (launch train_genlca), not every night.
    return dg.RunRequest(run_key=f"token_dataset:{d.version}", tags={"genlca/retrain_reason": d.reason[:200]})
