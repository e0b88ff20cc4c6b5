"""Partitions: one per video drop (added by the drop sensor or by `make demo`)."""

import dagster as dg

drops_partitions = dg.DynamicPartitionsDefinition(name="drops")
