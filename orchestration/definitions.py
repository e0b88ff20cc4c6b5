"""The code location (`workspace.yaml` points here): assets, checks, resources, jobs."""

from __future__ import annotations

import os

import dagster as dg

from assets import avatar_assets
from orchestration.jobs import demo_job
from orchestration.resources import ArtifactStore, BodyModelResource

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([avatar_assets]),
    asset_checks=dg.load_asset_checks_from_modules([avatar_assets]),
    jobs=[demo_job],
    resources={
        "body_model": BodyModelResource(name=os.environ.get("GENLCA_BODY_MODEL", "anny"),
                                        smplx_dir=os.environ.get("GENLCA_SMPLX_DIR")),
        "store": ArtifactStore(root=os.environ.get("GENLCA_OUTPUTS", "outputs")),
    },
)
