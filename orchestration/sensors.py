"""Sensors: a new, complete drop folder becomes a partition and a run of the ingest job."""

import hashlib
import json
import re
import time
from pathlib import Path

import dagster as dg

from assets.partitions import drops_partitions
from orchestration.jobs import ingest_job
from orchestration.resources import DropsFolder

READY_MARKER = "_READY"
# Drop names become partition keys and folder names downstream: keep them boring.
DROP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def listing_signature(folder: Path) -> str:
    """Changes whenever a file is added, removed, grows or is touched."""
    entries = []
    for p in sorted(folder.rglob("*")):
        try:
            st = p.lstat()
        except OSError:
            continue
        entries.append(f"{p.relative_to(folder)}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha1("\n".join(entries).encode()).hexdigest()


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
    now = time.time()
    new, skipped = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()):
        name = folder.name
        if name in known or name.startswith("."):
            continue
        if not DROP_NAME.match(name):
            skipped.append(name)
            continue
        complete, state = drop_is_complete(folder, pending.get(name), drops.settle_seconds, now)
        if complete:
            new.append(name)
            pending.pop(name, None)
        else:
            pending[name] = state
    for name in skipped:
        context.log.warning(f"drop folder {name!r} skipped: names must match {DROP_NAME.pattern}")
    if not new:
        return dg.SensorResult(skip_reason="no new complete drop", cursor=json.dumps(pending))
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=name, run_key=f"drop:{name}") for name in new],
        dynamic_partitions_requests=[drops_partitions.build_add_request(new)],
        cursor=json.dumps(pending),
    )
