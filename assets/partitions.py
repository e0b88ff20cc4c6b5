"""Partitions: one per video drop (added by the drop sensor or by `make demo`).

Dagster accepts almost any partition key ("../x", "/etc", "a b"), and one can be added by hand in the UI: every
drop key is checked where it meets the file system (`DropsFolder.path`, `ArtifactStore.path`). Stages over all drops
use `valid_drop_keys`, so one bad key is logged and left out instead of failing every drop."""

import dagster as dg

from genlca.paths import drop_name_problem

drops_partitions = dg.DynamicPartitionsDefinition(name="drops")


def valid_drop_keys(keys, log=None) -> list:
    """The keys that are valid drop names (`genlca.paths.DROP_NAME`); each other one is logged with the reason."""
    out = []
    for key in keys:
        if why := drop_name_problem(key):
            if log is not None:
                log.warning(f"drop partition {key!r} left out: {why}")
            continue
        out.append(key)
    return out
