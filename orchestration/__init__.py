"""Dagster code location: definitions, resources, jobs (sensors and schedules come with later stages)."""
