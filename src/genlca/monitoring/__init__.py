"""Monitoring: is a new drop like the data the project already holds (evidently drift reports)."""

from genlca.monitoring.drift import (DriftConfig, compare_table, drift_report, drop_tables, fit_tables, held_drops,
                                     token_table, video_table)

__all__ = ["DriftConfig", "compare_table", "drift_report", "drop_tables", "fit_tables", "held_drops", "token_table",
           "video_table"]
