"""`tokenizer_model`: the refinement network, trained on synthetic drops the asset makes itself."""

import time
from pathlib import Path

import dagster as dg

from assets.preview import image_markdown
from genlca.plots import loss_curve_png
from genlca.tokenizer.synthetic_training import SyntheticTrainingData, train_tokenizer_on_synthetic
from genlca.tokenizer.train import MODEL_FILE
from orchestration.resources import ArtifactStore, BodyModelResource

_DATA = SyntheticTrainingData()


class TokenizerModelConfig(dg.Config):
    """Defaults train in well under a minute on 2 CPU cores (the demo); raise videos and steps for real use."""

    train_videos: int = _DATA.train_videos
    val_videos: int = _DATA.val_videos
    frames: int = _DATA.frames
    size: int = _DATA.size  # frame size (px) of the synthetic videos
    regime: str = _DATA.regime  # mixed | full | partial
    seed: int = _DATA.seed
    resolution: int = _DATA.resolution  # UV grid R of the refiner (and so of the tokens it makes)
    refiner: str = "tiny"  # tiny | small | base
    photos_per_video: int = 0  # also train on one-frame examples (photos, `generate --image --tokenizer`)
    loss_weight: str = "texel"  # texel | area: UV-loss weights (area: as renders show the texels)
    render_weight: float = 0.0  # rendering loss against the frames: 1.0 for real use (+0.4 dB, 1.3x the time); 0: off
    render_frames: int = 4  # frames per video kept for the rendering loss
    steps: int = 100
    batch_size: int = 4
    lr: float = 2e-3
    torch_threads: int = 1  # 1: fastest on a shared CPU; 0: torch's default


def model_dir(store: ArtifactStore) -> Path:
    """Where `tokenizer_model` writes (and `avatar_tokens` looks by default)."""
    return store.path("tokenizer", "model", MODEL_FILE).parent


@dg.asset(
    group_name="tokenizer",
    kinds={"pytorch"},
    check_specs=[
        dg.AssetCheckSpec("refined_beats_unprojection", asset="tokenizer_model",
                          description="Validation colour PSNR of the refined maps >= that of plain unprojection."),
    ],
)
def tokenizer_model(context: dg.AssetExecutionContext, config: TokenizerModelConfig, store: ArtifactStore,
                    body_model: BodyModelResource) -> dg.MaterializeResult:
    """The tokenizer's refinement network (model.safetensors + config.json + metrics.json),
    trained on a synthetic train drop and scored on a synthetic validation drop (both reused
    while their parameters stay the same)."""
    data = SyntheticTrainingData(train_videos=config.train_videos, val_videos=config.val_videos,
                                 frames=config.frames, size=config.size, regime=config.regime, seed=config.seed,
                                 resolution=config.resolution)
    out = model_dir(store)
    t0 = time.time()
    m = train_tokenizer_on_synthetic(store.path("tokenizer", "synthetic", "x").parent, out, data,
                                     body=body_model.load(), size=config.refiner, steps=config.steps,
                                     batch_size=config.batch_size, lr=config.lr, seed=config.seed,
                                     threads=config.torch_threads or None, photos_per_video=config.photos_per_video,
                                     loss_weight=config.loss_weight, render_weight=config.render_weight,
                                     render_frames=config.render_frames)
    unprojected, refined = m.get("val_rgb_psnr_unprojected", float("nan")), m.get("val_rgb_psnr_refined", float("nan"))
    metadata = {
        "model": dg.MetadataValue.path(str(out)),
        "val_rgb_psnr_unprojected_db": unprojected,
        "val_rgb_psnr_refined_db": refined,
        "steps": m["steps"],
        "train_examples": dg.MetadataValue.json({"videos": m["train_videos"], "photos": m["train_photos"]}),
        "train_seconds": m["seconds"],
        "seconds": round(time.time() - t0, 1),
        "synthetic_drops": dg.MetadataValue.json({k: {"path": m["drops"][k], "reused": m["reused"][k]}
                                                  for k in ("train", "val")}),
    }
    curve = loss_curve_png(m["train_l1"], store.path("tokenizer", "loss_curve.png"))
    if curve is not None:
        metadata["loss_curve"] = dg.MetadataValue.md(image_markdown(str(curve), alt="training loss"))
    context.log.info(f"refiner: val colour PSNR {unprojected} dB unprojected -> {refined} dB refined")
    return dg.MaterializeResult(metadata=metadata, check_results=[
        dg.AssetCheckResult(check_name="refined_beats_unprojection", passed=bool(refined >= unprojected),
                            severity=dg.AssetCheckSeverity.WARN,
                            metadata={"unprojected_db": unprojected, "refined_db": refined}),
    ])
