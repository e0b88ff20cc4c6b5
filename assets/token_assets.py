"""`avatar_tokens`: per drop, UV Gaussian tokens with per-texel visibility for every fitted video."""

import json
import time
from pathlib import Path

import dagster as dg

from assets.partitions import drops_partitions
from assets.preview import image_markdown
from assets.tokenizer_assets import model_dir
from genlca.avatar import CHANNELS
from genlca.body.uv_layout import uv_layout
from genlca.io_utils import published
from genlca.showcase import RenderRequest, render_avatar
from genlca.tokenizer.pipeline import tokenize_drop
from genlca.tokenizer.preview import token_sheet
from genlca.tokenizer.tokens import load_tokens
from genlca.tokenizer.train import CONFIG_FILE, MODEL_FILE, load_refiner
from orchestration.resources import ArtifactStore, BodyModelResource, DropsFolder


class TokenSettings(dg.Config):
    # "" = the `tokenizer_model` asset's refiner when it has been materialized, else unprojection only;
    # "none" = unprojection only; anything else: a trained refiner folder (`genlca train-tokenizer`)
    tokenizer: str = ""
    resolution: int = 128  # UV grid R (a trained refiner's own wins)
    min_seen_share: float = 0.15  # check: mean share of the UV charts that some frame saw


@dg.asset(
    partitions_def=drops_partitions,
    group_name="ingest",
    deps=["body_fits", "tokenizer_model"],
    kinds={"pytorch"},
    check_specs=[
        dg.AssetCheckSpec("finite_and_in_range", asset="avatar_tokens",
                          description="No NaN; opacity, colour and visibility in [0, 1]."),
        dg.AssetCheckSpec("visibility_distribution", asset="avatar_tokens",
                          description="Share of the UV charts seen per video (tokens that saw nothing are useless)."),
    ],
)
def avatar_tokens(context: dg.AssetExecutionContext, config: TokenSettings, drops: DropsFolder, store: ArtifactStore,
                  body_model: BodyModelResource) -> dg.MaterializeResult:
    """Unprojection of every fitted video onto the body's UV grid (+ the refinement network when
    one is configured): Gaussian attribute maps, visibility and frame counts; unseen texels neutral."""
    drop = context.partition_key
    fits = store.path("fits", drop, "quality.parquet").parent
    out = store.path("tokens", drop, "x").parent
    body = body_model.load()
    resolution = config.resolution
    refiner, refiner_dir = None, tokenizer_folder(config.tokenizer, store)
    if refiner_dir is not None:
        refiner = load_refiner(refiner_dir)
        resolution = int(json.loads((refiner_dir / CONFIG_FILE).read_text())["resolution"])
    tokenizer_name = str(refiner_dir or "")
    layout = uv_layout(body, resolution)
    t0 = time.time()
    rows = tokenize_drop(drops.path(drop), fits, out, body, layout, refiner, tokenizer_name=tokenizer_name)
    files = published(out)
    bad = []
    for path in files:
        t = load_tokens(path)
        finite = all(bool(x.isfinite().all()) for x in (t.maps, t.visibility))
        in_range = all(float(x.min()) >= 0 and float(x.max()) <= 1
                       for x in (t.maps[CHANNELS["opacity"]], t.maps[CHANNELS["rgb"]], t.visibility))
        if not (finite and in_range):
            bad.append(path.stem)
    seen = {r["video"]: r["seen_share"] for r in rows if not r["error"]}
    mean_seen = sum(seen.values()) / len(seen) if seen else 0.0
    metadata = {
        "tokens": dg.MetadataValue.path(str(out)),
        "videos": len(files),
        "failed": dg.MetadataValue.json({r["video"]: r["error"] for r in rows if r["error"]}),
        "seen_share": dg.MetadataValue.json(seen),
        "tokenizer": tokenizer_name or "unprojection only",
        "seconds": round(time.time() - t0, 1),
    }
    sheet = token_sheet(out)
    if sheet is not None:
        metadata["uv_colour_and_visibility"] = dg.MetadataValue.md(image_markdown(sheet, alt=f"tokens {drop}"))
        render = store.path("tokens", drop, "preview", f"{files[0].stem}.png")
        render_avatar(RenderRequest(avatar=str(files[0]), out=str(render), views=4, size=192, mark_unseen=True))
        metadata["render"] = dg.MetadataValue.md(image_markdown(str(render), alt="render, unseen in magenta"))
    return dg.MaterializeResult(metadata=metadata, check_results=[
        dg.AssetCheckResult(check_name="finite_and_in_range", passed=not bad and bool(files),
                            metadata={"bad": dg.MetadataValue.json(bad), "files": len(files)}),
        dg.AssetCheckResult(check_name="visibility_distribution", passed=mean_seen >= config.min_seen_share,
                            severity=dg.AssetCheckSeverity.WARN, metadata={"mean_seen_share": round(mean_seen, 4)}),
    ])


def tokenizer_folder(setting: str, store: ArtifactStore) -> Path | None:
    """The refiner folder TokenSettings.tokenizer names; None = unprojection only."""
    if setting.lower() == "none":
        return None
    if setting:
        return Path(setting)
    default = model_dir(store)
    return default if (default / MODEL_FILE).is_file() else None
