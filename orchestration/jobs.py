"""Jobs: named selections of assets."""

import dagster as dg

demo_job = dg.define_asset_job("demo", selection=dg.AssetSelection.groups("avatars"),
                               description="The embedded default end to end (so far: template avatar + turntable).")
