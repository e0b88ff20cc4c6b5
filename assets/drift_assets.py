"""`drop_drift`: per drop, evidently drift reports of its videos, fits and tokens against the other drops."""

import dagster as dg
import pandas as pd

from assets.partitions import drops_partitions
from genlca.monitoring.drift import SUMMARY_FILE, DriftConfig, drift_report
from orchestration.resources import ArtifactStore


class DriftSettings(dg.Config):
    reference_drops: list[str] = []  # empty = every other drop partition
    alpha: float = DriftConfig.alpha  # false alarms per table
    min_videos: int = DriftConfig.min_videos  # fewer current videos: "too few rows", no verdict
    min_reference_videos: int = DriftConfig.min_reference_videos


@dg.asset(
    partitions_def=drops_partitions,
    group_name="ingest",  # runs with every drop (the ingest_drop job), after its tokens
    deps=["raw_videos", "body_fits", "avatar_tokens"],
    kinds={"evidently"},
    check_specs=[
        dg.AssetCheckSpec("no_drift", asset="drop_drift",
                          description="No per-video table (videos, fits, tokens) drifted from the reference drops."),
    ],
)
def drop_drift(context: dg.AssetExecutionContext, config: DriftSettings, store: ArtifactStore) -> dg.MaterializeResult:
    """monitoring/<drop>/: one evidently data-drift report (HTML) per table, the drop's tables (parquet) and
    summary.json: per table the verdict, drifted columns and row counts."""
    drop = context.partition_key
    out = store.path("monitoring", drop, SUMMARY_FILE).parent
    reference = config.reference_drops or context.instance.get_dynamic_partitions(drops_partitions.name)
    settings = DriftConfig(alpha=config.alpha, min_videos=config.min_videos,
                           min_reference_videos=config.min_reference_videos)
    summary = drift_report(store.root, drop, out, reference=reference, config=settings)
    tables = summary["tables"]
    drifted = {n: t["drifted_columns"] for n, t in tables.items() if t["decides"] and t["drift"]}
    metadata = {
        "verdict": summary["verdict"],
        "tables": dg.MetadataValue.md(_verdict_table(tables)),
        "reference": dg.MetadataValue.json(summary["reference"] | {"chosen": "named" if config.reference_drops
                                                                   else "every other drop partition"}),
        "summary": dg.MetadataValue.path(str(out / SUMMARY_FILE)),
    }
    metadata |= {f"report_{n}": dg.MetadataValue.path(str(out / t["report"])) for n, t in tables.items() if t["report"]}
    return dg.MaterializeResult(metadata=metadata, check_results=[
        dg.AssetCheckResult(check_name="no_drift", passed=not drifted, severity=dg.AssetCheckSeverity.WARN,
                            description=f"verdict: {summary['verdict']}",
                            metadata={"drifted_columns": dg.MetadataValue.json(drifted)}),
    ])


def _verdict_table(tables: dict) -> str:
    rows = [{"table": n, "verdict": t["status"] + ("" if t["decides"] else " (not checked)"),
             "current / reference rows": f"{t['rows']['current']} / {t['rows']['reference']}",
             "drifted columns": ", ".join(t["drifted_columns"]) or "-", "report": t["report"] or "-"}
            for n, t in tables.items()]
    return pd.DataFrame(rows).to_markdown(index=False)
