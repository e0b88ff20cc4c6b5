"""`body_fits`: per drop, body-model parameters and a camera for every valid video."""

import time

import dagster as dg
import numpy as np

from assets.partitions import drops_partitions
from assets.preview import image_markdown
from genlca.data.manifest import read_manifest
from genlca.fitting.fit import FitConfig
from genlca.fitting.pipeline import fit_drop
from genlca.fitting.preview import overlay_sheet
from orchestration.resources import ArtifactStore, BodyModelResource, DropsFolder


class FitSettings(dg.Config):
    iters: int = FitConfig.iters
    silhouette: bool = FitConfig.silhouette
    max_frames: int = 0  # 0 = every frame
    min_fitted_share: float = 0.5  # check: share of frames fitted over the drop
    max_median_error_px: float = 15.0  # check: median reprojection error


@dg.asset(
    partitions_def=drops_partitions,
    group_name="ingest",
    deps=["raw_videos"],
    kinds={"pytorch"},
    check_specs=[
        dg.AssetCheckSpec("frames_fitted", asset="body_fits", description="Share of frames fitted."),
        dg.AssetCheckSpec("reprojection_error", asset="body_fits", description="Median keypoint reprojection error (px)."),
    ],
)
def body_fits(context: dg.AssetExecutionContext, config: FitSettings, drops: DropsFolder, store: ArtifactStore,
              body_model: BodyModelResource) -> dg.MaterializeResult:
    """Keypoints + person masks (mediapipe), then the body model fitted per video: shape per
    video, pose, orientation and translation per frame, in the camera frame."""
    drop = context.partition_key
    manifest = read_manifest(store.path("manifests", f"{drop}.parquet"))
    out = store.path("fits", drop, "quality.parquet").parent
    body = body_model.load()
    t0 = time.time()
    fit_config = FitConfig(iters=config.iters, silhouette=config.silhouette)
    result = fit_drop(drops.path(drop), manifest, out, body, fit_config, max_frames=config.max_frames or None)
    q = result.quality
    fitted_share = float(q["fitted"].mean()) if len(q) else 0.0
    errors = q.loc[q["fitted"], "reproj_error_px"]
    median_err = float(np.nanmedian(errors)) if len(errors) else float("nan")
    per_framing = q.groupby("video")["fitted"].mean().round(3).to_dict() if len(q) else {}
    metadata = {
        "fits": dg.MetadataValue.path(str(out)),
        "videos": len(result.videos),
        "frames": len(q),
        "fitted_share": round(fitted_share, 3),
        "median_reprojection_px": round(median_err, 2),
        "per_video": dg.MetadataValue.json({"fitted_share": per_framing, "runs": result.videos}),
        "seconds": round(time.time() - t0, 1),
    }
    sheet = overlay_sheet(drops.path(drop), manifest, out, body)
    if sheet is not None:
        metadata["overlays"] = dg.MetadataValue.md(image_markdown(sheet, alt=f"fits {drop}"))
    return dg.MaterializeResult(metadata=metadata, check_results=[
        dg.AssetCheckResult(check_name="frames_fitted", passed=fitted_share >= config.min_fitted_share,
                            severity=dg.AssetCheckSeverity.WARN, metadata={"fitted_share": fitted_share}),
        dg.AssetCheckResult(check_name="reprojection_error", passed=bool(median_err <= config.max_median_error_px),
                            severity=dg.AssetCheckSeverity.WARN, metadata={"median_px": median_err}),
    ])
