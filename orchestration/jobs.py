"""Jobs: named selections of assets."""

import dagster as dg

from assets.partitions import drops_partitions

demo_job = dg.define_asset_job("demo", selection=dg.AssetSelection.groups("avatars"),
                               description="The template avatar and its turntable; an avatar generated, edited and "
                                           "animated with the GenLCA checkpoint.")

ingest_job = dg.define_asset_job("ingest_drop", selection=dg.AssetSelection.groups("ingest"),
                                 partitions_def=drops_partitions,
                                 description="Everything per drop, from raw videos on (one partition = one drop).")

tokenizer_job = dg.define_asset_job("train_tokenizer", selection=dg.AssetSelection.groups("tokenizer"),
                                    description="The tokenizer's refiner, trained on synthetic drops it makes.")

dataset_job = dg.define_asset_job("build_token_dataset", selection=dg.AssetSelection.groups("datasets"),
                                  description="The tokens of every drop as one data set: index, split, statistics.")

model_job = dg.define_asset_job("train_genlca", selection=dg.AssetSelection.groups("model"),
                                description="The GenLCA diffusion model, trained on the token dataset (with lineage), "
                                            "exported for deployment (ONNX) behind a blocking parity check, "
                                            "evaluated on the held-out split (evaluation_report), then promoted to "
                                            "production only if not worse there (blocking check).")
