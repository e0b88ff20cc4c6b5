"""`raw_videos`: one drop's files probed, hashed, validated; bad ones quarantined (never moved)."""

import os
import time

import dagster as dg
import pandera.errors

from assets.partitions import drops_partitions
from assets.preview import image_markdown
from genlca.data.expectations import manifest_expectations
from genlca.data.ingest import RESERVED_FOLDERS, IngestLimits, ingest_drop, is_ignored_name, listing_signature
from genlca.data.manifest import ManifestSchema, write_manifest
from genlca.data.preview import contact_sheet
from genlca.data.versioning import dvc_version
from genlca.params import stage_params
from orchestration.resources import ArtifactStore, DropsFolder

_INGEST = stage_params("ingest")


class IngestConfig(dg.Config):
    """Defaults come from params.yaml (`ingest:`), shared with `dvc repro`."""

    min_duration_s: float = _INGEST["min_duration_s"]
    max_bytes: int = _INGEST["max_bytes"]
    max_pixels: int = _INGEST["max_pixels"]
    max_frames: int = _INGEST["max_frames"]
    dvc_track: bool = True  # `dvc add` the drop (when inside a DVC repo) and record its hash


@dg.asset(
    partitions_def=drops_partitions,
    group_name="ingest",
    kinds={"pandas", "parquet"},
    check_specs=[
        dg.AssetCheckSpec("manifest_schema", asset="raw_videos", blocking=True,
                          description="The manifest passes the pandera schema."),
        dg.AssetCheckSpec("manifest_expectations", asset="raw_videos",
                          description="great-expectations suite: >= 1 valid file, fps and resolution in range."),
        dg.AssetCheckSpec("every_file_accounted", asset="raw_videos", blocking=True,
                          description="files in = valid + quarantined"),
    ],
)
def raw_videos(context: dg.AssetExecutionContext, config: IngestConfig, drops: DropsFolder,
               store: ArtifactStore) -> dg.MaterializeResult:
    """Manifest of a drop: one row per file (path, sha256, codec, size, fps, frames, duration,
    status, reason). Good files go on; bad ones are listed as quarantined with the reason."""
    drop = context.partition_key
    drop_dir = drops.path(drop)
    t0 = time.time()
    limits = IngestLimits(min_duration_s=config.min_duration_s, max_bytes=config.max_bytes,
                          max_pixels=config.max_pixels, max_frames=config.max_frames)
    listing = listing_signature(drop_dir)
    df = ingest_drop(drop_dir, limits=limits)
    if listing_signature(drop_dir) != listing:  # the sensor waits for complete drops; a hand-started run may not
        raise dg.Failure(description=f"{drop_dir}: the drop changed while it was ingested (files added, removed or "
                                     "still growing); no manifest written. Materialize it again once it is complete "
                                     "(a _READY marker, or an unchanged listing).")
    version, how = dvc_version(drop_dir, track=config.dvc_track) if config.dvc_track else ("", "disabled")
    df["dvc_hash"] = version
    out = store.path("manifests", f"{drop}.parquet")

    try:
        write_manifest(df, out)  # validates against ManifestSchema; nothing is written if it fails
    except pandera.errors.SchemaErrors as e:
        raise dg.Failure(description=f"{out}: manifest fails its schema, not written:\n{str(e)[:2000]}") from e

    n_files = count_drop_files(drop_dir)
    valid, quarantined = int((df["status"] == "valid").sum()), int((df["status"] == "quarantined").sum())
    gx = manifest_expectations(df)
    sheet = contact_sheet(drop_dir, df)
    bad = df[df["status"] == "quarantined"][["path", "reason"]]
    metadata = {
        "manifest": dg.MetadataValue.path(str(out)),
        "files": len(df),
        "valid": valid,
        "quarantined": quarantined,
        "total_duration_s": round(float(df.loc[df["status"] == "valid", "duration_s"].sum()), 2),
        "dvc_hash": version or f"none ({how})",
        "quarantine": dg.MetadataValue.md(bad.to_markdown(index=False) if len(bad) else "nothing quarantined"),
        "seconds": round(time.time() - t0, 2),
    }
    if sheet is not None:
        metadata["contact_sheet"] = dg.MetadataValue.md(image_markdown(sheet, alt=f"drop {drop}"))
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[
            dg.AssetCheckResult(check_name="manifest_schema", passed=True,
                                metadata={"schema": ManifestSchema.__name__, "rows": len(df)}),
            dg.AssetCheckResult(check_name="manifest_expectations", passed=gx["success"],
                                severity=dg.AssetCheckSeverity.WARN,
                                metadata={"results": dg.MetadataValue.json(gx["results"])}),
            dg.AssetCheckResult(check_name="every_file_accounted", passed=n_files == valid + quarantined,
                                metadata={"files_in_drop": n_files, "valid": valid, "quarantined": quarantined}),
        ],
    )


def count_drop_files(drop_dir) -> int:
    """Files in the drop, counted independently of ingest: every non-folder entry and every link
    to a folder, skipping hidden/marker names and the reserved ground_truth/ folder."""
    count = 0
    for folder, dirs, files in os.walk(drop_dir, followlinks=False):
        top = os.path.samefile(folder, drop_dir)
        dirs[:] = [d for d in dirs if not is_ignored_name(d) and not (top and d in RESERVED_FOLDERS)]
        count += sum(1 for d in dirs if os.path.islink(os.path.join(folder, d)))
        count += sum(1 for f in files if not is_ignored_name(f))
    return count
