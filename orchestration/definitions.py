"""The code location (`workspace.yaml` points here): assets, checks, resources, jobs, sensors, schedules."""

import os

import dagster as dg

from assets import (avatar_assets, checkpoint_assets, dataset_assets, drift_assets, drop_assets, export_assets,
                    fit_assets, generation_assets, promotion_assets, report_assets, token_assets, tokenizer_assets)
from genlca.paths import data_root
from orchestration.executors import executor_from_env
from orchestration.jobs import dataset_job, demo_job, ingest_job, model_job, tokenizer_job
from orchestration.resources import ArtifactStore, BodyModelResource, DropsFolder
from orchestration.schedules import retrain_schedule
from orchestration.sensors import drop_sensor

DATA = str(data_root())

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([avatar_assets, checkpoint_assets, dataset_assets, drift_assets, drop_assets,
                                        export_assets, fit_assets, generation_assets, promotion_assets, report_assets,
                                        token_assets, tokenizer_assets]),
    asset_checks=dg.load_asset_checks_from_modules([avatar_assets]),
    jobs=[demo_job, ingest_job, tokenizer_job, dataset_job, model_job],
    sensors=[drop_sensor],
    schedules=[retrain_schedule],
    executor=executor_from_env(),  # $GENLCA_EXECUTOR: multiprocess (default), in_process, dask, k8s
    resources={
        "body_model": BodyModelResource(name=os.environ.get("GENLCA_BODY_MODEL", "anny"),
                                        smplx_dir=os.environ.get("GENLCA_SMPLX_DIR")),
        "store": ArtifactStore(root=DATA),
        "drops": DropsFolder(root=os.environ.get("GENLCA_DROPS", f"{DATA}/drops")),
    },
)
