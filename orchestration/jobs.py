"""Jobs: named selections of assets."""

import dagster as dg

from assets.partitions import drops_partitions

demo_job = dg.define_asset_job("demo", selection=dg.AssetSelection.groups("avatars"),
                               description="The template avatar and its turntable.")

ingest_job = dg.define_asset_job("ingest_drop", selection=dg.AssetSelection.groups("ingest"),
                                 partitions_def=drops_partitions,
                                 description="Everything per drop, from raw videos on (one partition = one drop).")
