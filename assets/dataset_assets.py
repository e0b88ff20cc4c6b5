"""`token_dataset`: the tokens of every drop as one versioned data set (index, split, statistics)."""

import functools
import time

import dagster as dg
import pandas as pd

from assets.partitions import drops_partitions, valid_drop_keys
from genlca.avatar import CHANNELS
from genlca.body.uv_layout import uv_layout
from genlca.io_utils import published
from genlca.safe_files import load_tensors as load_file
from genlca.tokenizer.dataset import INDEX_FILE, STATS_FILE, build_token_dataset, constant_channels
from orchestration.resources import ArtifactStore, BodyModelResource


class TokenDatasetConfig(dg.Config):
    val_fraction: float = 0.25  # share of videos in the validation split (by a hash of drop/video)
    seed: int = 0  # changes which videos the hash puts in validation
    dvc_track: bool = True  # `dvc add` the token folders (when inside a DVC repo) and record their hashes


@dg.asset(
    group_name="datasets",
    deps=["avatar_tokens"],  # every partition: the data set spans all drops
    kinds={"parquet", "pytorch"},
    check_specs=[
        dg.AssetCheckSpec("splits_non_empty", asset="token_dataset",
                          description="Train and validation both hold videos (when there are >= 2)."),
        dg.AssetCheckSpec("stats_finite", asset="token_dataset",
                          description="Per-channel mean and std finite (over at least one valid texel)."),
        dg.AssetCheckSpec("colours_vary", asset="token_dataset",
                          description="The colour channels' std > 0. Geometry channels may be constant (synthetic "
                                      "truth and unprojection keep the template's offset, rotation, opacity): they "
                                      "are listed, and normalization clamps their std."),
    ],
)
def token_dataset(context: dg.AssetExecutionContext, config: TokenDatasetConfig, store: ArtifactStore,
                  body_model: BodyModelResource) -> dg.MaterializeResult:
    """index.parquet (one row per token file, with its split), stats.safetensors (per-channel mean
    and std over valid texels of the train split) and dataset.json (counts, versions)."""
    partitions = valid_drop_keys(context.instance.get_dynamic_partitions(drops_partitions.name), context.log)
    token_dirs = {d: store.path("tokens", d, "x").parent for d in partitions}
    token_dirs = {d: p for d, p in token_dirs.items() if published(p)}
    if not token_dirs:
        raise dg.Failure(description="no token files in any drop: materialize avatar_tokens first")
    out = store.path("token_dataset", INDEX_FILE).parent
    t0 = time.time()
    info = build_token_dataset(token_dirs, out, val_fraction=config.val_fraction, seed=config.seed,
                               chart=_chart_fn(body_model), dvc_track=config.dvc_track)
    index = pd.read_parquet(out / INDEX_FILE)
    stats = load_file(str(out / STATS_FILE))
    counts = info["counts"]
    metadata = {
        "dataset": dg.MetadataValue.path(str(out)),
        "videos": info["videos"],
        "train": counts["train"],
        "val": counts["val"],
        "drops": dg.MetadataValue.json(info["drops"]),
        "version": info["version"][:16],
        "dvc_version": info["dvc_version"][:16] or "none (see dvc_per_drop)",
        "dvc_per_drop": dg.MetadataValue.json({d: v["hash"] or f"none ({v['how']})" for d, v in info["dvc"].items()}),
        "per_drop": dg.MetadataValue.md(_per_drop_table(index)),
        "channel_stats": dg.MetadataValue.md(_stats_table(stats)),
        "seconds": round(time.time() - t0, 2),
    }
    both = counts["train"] > 0 and counts["val"] > 0
    finite = bool(stats["mean"].isfinite().all() and stats["std"].isfinite().all())
    constant = constant_channels(stats)
    return dg.MaterializeResult(metadata=metadata, check_results=[
        dg.AssetCheckResult(check_name="splits_non_empty", passed=both or info["videos"] < 2, metadata=counts),
        dg.AssetCheckResult(check_name="stats_finite", passed=finite, metadata={"texels": info["stats_texels"]}),
        dg.AssetCheckResult(check_name="colours_vary", passed=finite and not any(c.startswith("rgb") for c in constant),
                            severity=dg.AssetCheckSeverity.WARN,
                            metadata={"constant": dg.MetadataValue.json(constant)}),
    ])


def _chart_fn(body_model: BodyModelResource):
    """(body model, R) -> UV chart mask, for token files of the configured body model."""
    body = body_model.load()

    @functools.cache
    def chart(name: str, resolution: int):
        if name != body.name:
            raise ValueError(f"token files of body model {name!r}, the code location uses {body.name!r}")
        return uv_layout(body, resolution).mask

    return chart


def _per_drop_table(index: pd.DataFrame) -> str:
    t = index.groupby(["drop", "split"]).size().unstack(fill_value=0).reindex(columns=["train", "val"], fill_value=0)
    t["mean seen share"] = index.groupby("drop")["seen_share"].mean().round(3)
    return t.reset_index().to_markdown(index=False)


def _stats_table(stats: dict) -> str:
    rows = [{"channel": f"{name}[{i - s.start}]", "mean": round(float(stats["mean"][i]), 4),
             "std": round(float(stats["std"][i]), 4)}
            for name, s in CHANNELS.items() for i in range(s.start, s.stop)]
    return pd.DataFrame(rows).to_markdown(index=False)
