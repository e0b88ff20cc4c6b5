"""Sensors: a new, complete drop folder becomes a partition and a run of the ingest job. Folders whose names
cannot be partition keys (`genlca.paths.drop_name_problem`) and links are skipped, logged once, never fatal."""

import json
import time
from pathlib import Path

import dagster as dg

from assets.partitions import drops_partitions
from genlca.data.ingest import listing_signature
from genlca.paths import DROP_NAME, drop_name_problem
from orchestration.jobs import ingest_job
from orchestration.resources import DropsFolder

READY_MARKER = "_READY"
SKIPPED_KEY = "_skipped"  # in the cursor; no drop name starts with "_"


def drop_is_complete(folder: Path, previous: dict | None, settle_seconds: float, now: float) -> tuple[bool, dict]:
    """Complete = a `_READY` marker, or the same listing for `settle_seconds` (two ticks)."""
    if (folder / READY_MARKER).exists():
        return True, {}
    sig = listing_signature(folder)
    if previous and previous.get("sig") == sig:
        return now - previous["since"] >= settle_seconds, previous
    return False, {"sig": sig, "since": now}


@dg.sensor(job=ingest_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.STOPPED,
           description="Watches the drops folder; each new complete drop gets a partition and an ingest run.")
def drop_sensor(context: dg.SensorEvaluationContext, drops: DropsFolder) -> dg.SensorResult:
    root = Path(drops.root)
    if not root.is_dir():
        return dg.SensorResult(skip_reason=f"drops folder {root} does not exist")
    known = set(context.instance.get_dynamic_partitions(drops_partitions.name))
    pending = json.loads(context.cursor) if context.cursor else {}
    warned = set(pending.pop(SKIPPED_KEY, []))  # bad folders are logged once, not on every tick
    now = time.time()
    new, skipped = [], []
    try:
        folders = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError as e:
        return dg.SensorResult(skip_reason=f"drops folder {root} cannot be read: {e.strerror or e}")
    for folder in folders:
        name = folder.name
        if name in known or name.startswith("."):
            continue
        # A bad name would become a partition key and a folder name downstream: log it and go on.
        if folder.is_symlink():
            skipped.append((name, "it is a symbolic link (drop folders are not followed)"))
            continue
        if why := drop_name_problem(name):
            skipped.append((name, f"{why} (drop names must match {DROP_NAME.pattern})"))
            continue
        try:
            complete, state = drop_is_complete(folder, pending.get(name), drops.settle_seconds, now)
        except OSError as e:  # e.g. removed or made unreadable between listing and reading
            skipped.append((name, f"cannot be read: {e.strerror or e}"))
            continue
        if complete:
            new.append(name)
            pending.pop(name, None)
        else:
            pending[name] = state
    for name, why in skipped:
        if name not in warned:
            context.log.warning(f"drop folder {name!r} skipped: {why}")
    if skipped:
        pending[SKIPPED_KEY] = sorted(name for name, _ in skipped)
    if not new:
        reason = "no new complete drop"
        if skipped:
            reason += f"; skipped: {', '.join(f'{name!r} ({why})' for name, why in skipped)}"
        return dg.SensorResult(skip_reason=reason, cursor=json.dumps(pending))
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=name, run_key=f"drop:{name}") for name in new],
        dynamic_partitions_requests=[drops_partitions.build_add_request(new)],
        cursor=json.dumps(pending),
    )
