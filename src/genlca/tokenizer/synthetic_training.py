"""Training the tokenizer's refiner on synthetic drops it makes itself (the `tokenizer_model` asset).

    data = SyntheticTrainingData(train_videos=16, val_videos=4, frames=8, size=128)
    metrics = train_tokenizer_on_synthetic(data_root, model_dir, data, size="tiny", steps=100)

A train and a validation drop are synthesized under DATA_ROOT (`train/`, `val/`, with a different
seed each) unless drops with the same parameters are already there: each drop's
`ground_truth/synth.json` records what made it (videos, frames, size, regime, seed, resolution,
generator version), so changed parameters or a new generator regenerate it. Then
`train.train_refiner` writes MODEL_DIR (model.safetensors, config.json, metrics.json).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


from genlca.body.protocol import BodyModel
from genlca.threads import torch_threads

VAL_SEED_OFFSET = 10_000  # the validation drop's seed: far from any training seed someone would pick


@dataclass(frozen=True)
class SyntheticTrainingData:
    """What the synthetic train and validation drops are made of."""

    train_videos: int = 16  # many short videos: with a handful the refiner overfits and loses to unprojection
    val_videos: int = 4
    frames: int = 8
    size: int = 128  # frame size (px)
    regime: str = "mixed"
    seed: int = 0
    resolution: int = 128  # UV grid R of the ground truth (and of the trained refiner)


def _drop_matches(drop: Path, want: dict) -> bool:
    from genlca.data.synth.generator import GENERATOR_VERSION, READY

    summary_file = drop / "ground_truth" / "synth.json"
    if not ((drop / READY).is_file() and summary_file.is_file()):
        return False
    s = json.loads(summary_file.read_text())
    have = {k: s.get(k) for k in ("frames", "size", "regime", "seed", "resolution")}
    have["videos"] = len(s.get("videos", []))
    return have == want and s.get("generator_version") == GENERATOR_VERSION


def synthetic_drop(out: str | os.PathLike, videos: int, frames: int, size: int, regime: str, seed: int,
                   resolution: int, progress: bool = False) -> bool:
    """Make sure OUT is a synthetic drop of these parameters; True when an existing one was reused."""
    from genlca.data.synth import generate_drop

    want = {"videos": videos, "frames": frames, "size": size, "regime": regime, "seed": seed, "resolution": resolution}
    if _drop_matches(Path(out), want):
        return True
    generate_drop(out, **want, progress=progress)  # replaces an earlier synthetic drop in place
    return False


def training_drops(root: str | os.PathLike, data: SyntheticTrainingData, progress: bool = False) -> dict:
    """{'train': path, 'val': path, 'reused': {split: bool}} under ROOT, made or reused."""
    if data.train_videos < 1 or data.val_videos < 1:
        raise ValueError("need at least one training and one validation video")
    root = Path(root)
    common = {"frames": data.frames, "size": data.size, "regime": data.regime, "resolution": data.resolution}
    reused = {
        "train": synthetic_drop(root / "train", data.train_videos, seed=data.seed, progress=progress, **common),
        "val": synthetic_drop(root / "val", data.val_videos, seed=data.seed + VAL_SEED_OFFSET, progress=progress,
                              **common),
    }
    return {"train": root / "train", "val": root / "val", "reused": reused}


def train_tokenizer_on_synthetic(data_root: str | os.PathLike, model_dir: str | os.PathLike,
                                 data: SyntheticTrainingData = SyntheticTrainingData(), body: BodyModel | None = None,
                                 size: str = "tiny", steps: int = 100, batch_size: int = 4, lr: float = 2e-3,
                                 seed: int = 0, threads: int | None = None, progress: bool = False,
                                 photos_per_video: int = 0, loss_weight: str = "texel", render_weight: float = 0.0,
                                 render_frames: int = 4) -> dict:
    """Make/reuse the synthetic drops, train a refiner on them, write MODEL_DIR. Returns the
    metrics of `train_refiner` plus 'drops' (paths) and 'reused' (which drops already existed).
    loss_weight, render_weight: `train.train_refiner`'s; render_frames: frames per video kept for
    the rendering loss (when render_weight > 0)."""
    from genlca.body import load_body_model
    from genlca.body.uv_layout import uv_layout
    from genlca.tokenizer.train import check_loss_options, examples_from_drop, train_refiner

    check_loss_options(loss_weight, render_weight)  # before drops are made
    with torch_threads(threads):
        drops = training_drops(data_root, data, progress=progress)
        body = body or load_body_model()
        layout = uv_layout(body, data.resolution)
        frames = render_frames if render_weight else 0
        train = examples_from_drop(drops["train"], body, layout, progress, photos_per_video, frames)
        val = examples_from_drop(drops["val"], body, layout, progress=progress)
        metrics = train_refiner(train, val, model_dir, size=size, steps=steps, batch_size=batch_size, lr=lr,
                                seed=seed, progress=progress, loss_weight=loss_weight, render_weight=render_weight,
                                extra_config={"body_model": body.name, "synthetic_data": asdict(data),
                                              "train_drops": [str(drops["train"])],
                                              "photos_per_video": photos_per_video, "render_frames": frames})
    return metrics | {"drops": {k: str(drops[k]) for k in ("train", "val")}, "reused": drops["reused"]}


__all__ = ["SyntheticTrainingData", "VAL_SEED_OFFSET", "synthetic_drop",
           "train_tokenizer_on_synthetic", "training_drops"]
