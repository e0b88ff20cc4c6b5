"""great-expectations suite on a drop manifest's statistics (beyond the row schema pandera checks)."""

from __future__ import annotations

import logging

import pandas as pd

SUITE_NAME = "drop_manifest"


def manifest_expectations(df: pd.DataFrame, fps_range=(1.0, 240.0), min_side: int = 16, max_side: int = 8192) -> dict:
    """Run the suite on the valid videos of a manifest; returns {"success", "results": [...]}."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch = (context.data_sources.add_pandas("manifest")
             .add_dataframe_asset("rows")
             .add_batch_definition_whole_dataframe("all")
             .get_batch(batch_parameters={"dataframe": df}))
    valid_videos = 'status == "valid" and kind == "video"'
    suite = gx.ExpectationSuite(name=SUITE_NAME, expectations=[
        gxe.ExpectColumnDistinctValuesToContainSet(column="status", value_set=["valid"]),  # >= 1 valid file
        gxe.ExpectColumnValuesToBeInSet(column="status", value_set=["valid", "quarantined"]),
        gxe.ExpectColumnValuesToBeBetween(column="fps", min_value=fps_range[0], max_value=fps_range[1],
                                          row_condition=valid_videos, condition_parser="pandas"),
        gxe.ExpectColumnValuesToBeBetween(column="width", min_value=min_side, max_value=max_side,
                                          row_condition='status == "valid"', condition_parser="pandas"),
        gxe.ExpectColumnValuesToBeBetween(column="height", min_value=min_side, max_value=max_side,
                                          row_condition='status == "valid"', condition_parser="pandas"),
        gxe.ExpectColumnValuesToBeUnique(column="path"),
    ])
    result = batch.validate(suite)
    rows = [{"expectation": r.expectation_config.type, "column": r.expectation_config.kwargs.get("column"),
             "success": bool(r.success)} for r in result.results]
    return {"success": bool(result.success), "results": rows}
