"""Training the refinement network on synthetic drops (the `tokenizer_model` asset).

    train = examples_from_drop(train_drop, body, layout)     # true fits + true person masks
    val = examples_from_drop(val_drop, body, layout)
    result = train_refiner(train, val, out_dir, size="small", steps=300)

An example is one video: the network's input features (`tokens.texel_features` of its
unprojection), the neutral maps (template geometry), the ground-truth maps and the texels some
frame saw. The loss is L1 against the ground truth on seen texels only (unseen texels are never
the tokenizer's to fill), every texel alike or weighted by its area on the body (`area_weights`),
plus, optionally, a rendering loss against some of the video's frames (`render_loss`). Written files: `model.safetensors`, `config.json` (size, features,
resolution, body model), `metrics.json` (per-step losses; colour PSNR on the validation videos
of the raw unprojection and of the refined maps, on seen texels). Lightning runs the loop.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import torch
from torch import Tensor

from genlca.avatar import CHANNELS
from genlca.body.protocol import BodyModel
from genlca.body.uv_layout import UVLayout
from genlca.io_utils import atomic_path
from genlca.tokenizer.refine import FEATURES, Refiner, Refiner_models
from genlca.tokenizer.render_loss import RENDER_KEYS, render_l1
from genlca.tokenizer.tokens import neutral_maps, template_features, texel_features
from genlca.tokenizer.unproject import unproject_video

MODEL_FILE, CONFIG_FILE, METRICS_FILE = "model.safetensors", "config.json", "metrics.json"


def examples_from_drop(drop_dir: str | os.PathLike, body: BodyModel, layout: UVLayout,
                       progress: bool = False, photos_per_video: int = 0,
                       render_frames: int = 0) -> list[dict[str, Tensor]]:
    """One training example per video of a synthetic drop, unprojected through its true fit
    and true person masks (fitting errors are measured by the fitting stage, not learned here),
    plus `photos_per_video` one-frame examples per video (frames evenly spaced through it): a
    photo is tokenized as a one-frame video, whose colours and light come from one view only.
    `render_frames` > 0: each example also carries that many of its frames for the rendering loss
    (`render_loss.frame_targets`, lit by the scene's true light; a photo's one frame repeated)."""
    from tqdm import tqdm

    from genlca.data.synth import load_ground_truth
    from genlca.data.video import read_video
    from genlca.fitting.evaluate import fit_from_ground_truth
    from genlca.tokenizer.render_loss import frame_targets, scene_lights

    drop_dir = Path(drop_dir)
    names = sorted(p.name for p in (drop_dir / "ground_truth").iterdir() if (p / "maps.safetensors").is_file())
    if not names:
        raise FileNotFoundError(f"{drop_dir}: no ground truth of any video")
    out = []
    for name in tqdm(names, desc="examples", disable=not progress):
        gt = load_ground_truth(drop_dir / "ground_truth" / name)
        frames = read_video(drop_dir / "videos" / f"{name}.mp4")
        fit, masks = fit_from_ground_truth(gt, body.name), gt["frames"]["person_mask"]
        shape = gt["maps"]["shape"].float()
        common = {"neutral": neutral_maps(body, layout, shape), "target": gt["maps"]["maps"].float()}
        template = template_features(body, layout, shape)
        picks = [(None, f"{drop_dir.name}/{name}")]
        picks += [(f, f"{drop_dir.name}/{name}#{f}")
                  for f in sorted({int((k + 0.5) * len(frames) / photos_per_video) for k in range(photos_per_video)})]
        for f, label in picks:
            up = (unproject_video(frames, fit, body, layout, masks) if f is None else
                  unproject_video([frames[f]], fit.frame(f), body, layout, masks[f:f + 1]))
            example = common | {"features": texel_features(up, template), "seen": up.seen, "name": label,
                                "photo": f is not None}
            if render_frames:
                shown = ([int((k + 0.5) * len(frames) / render_frames) for k in range(render_frames)] if f is None
                         else [f] * render_frames)
                example |= frame_targets(frames, fit, body, layout, masks, scene_lights(gt), shown)
            out.append(example)
    return out


def masked_l1(pred: Tensor, target: Tensor, seen: Tensor, weight: Tensor | None = None) -> Tensor:
    """Mean absolute error over seen texels and all channels; (B, C, R, R), (B, R, R), optional
    per-texel weights (B, R, R)."""
    w = seen.float() if weight is None else seen.float() * weight
    w = w[:, None].expand_as(pred)
    return ((pred - target).abs() * w).sum() / w.sum().clamp(min=1.0)


def area_weights(neutral: Tensor, seen: Tensor) -> Tensor:
    """(B, R, R) each texel's share of the body's surface (the product of its template Gaussian's two
    tangent scales), normalised to mean 1 over the seen texels of each example. A renderer gives a
    texel pixels in proportion to its area, so this weights the loss as the renders are judged;
    the head's texels are dense on the UV grid and small on the body."""
    area = torch.exp(neutral[:, CHANNELS["log_scale"].start] + neutral[:, CHANNELS["log_scale"].start + 1])
    s = seen.float()
    mean = (area * s).sum(dim=(1, 2)) / s.sum(dim=(1, 2)).clamp(min=1.0)
    return area / mean.clamp(min=1e-12)[:, None, None]


def rgb_psnr(pred: Tensor, target: Tensor, seen: Tensor) -> float:
    """PSNR (dB) of the colour channels over seen texels."""
    rgb = CHANNELS["rgb"]
    w = seen[:, None].float().expand_as(pred[:, rgb])
    mse = (((pred[:, rgb] - target[:, rgb]) ** 2) * w).sum() / w.sum().clamp(min=1.0)
    return float(-10 * torch.log10(mse.clamp(min=1e-10)))


def _stack(examples: list[dict]) -> dict[str, Tensor]:
    return {k: torch.stack([e[k] for e in examples]) for k in ("features", "neutral", "target", "seen")}


def recolor(batch: dict[str, Tensor], gain: Tensor) -> dict[str, Tensor]:
    """The same videos with every albedo scaled per channel by `gain` (B, 3): the frames' colours,
    as seen and de-lit, scale with it (clipped as a camera clips), the targets too. Synthetic
    garments come from a short colour list; this keeps the refiner from learning that list."""
    seen = batch["seen"][:, None].float()
    g = 1 + (gain[:, :, None, None] - 1) * seen  # unseen texels keep their neutral input
    features, target = batch["features"].clone(), batch["target"].clone()
    features[:, 0:3] = (features[:, 0:3] * g).clamp(0, 1)
    features[:, 3:6] = (features[:, 3:6] * g).clamp(0, 1)
    target[:, CHANNELS["rgb"]] = (target[:, CHANNELS["rgb"]] * g).clamp(0, 1)
    return batch | {"features": features, "target": target}


LOSS_WEIGHTS = ("texel", "area")


def check_loss_options(loss_weight: str = "texel", render_weight: float = 0.0, augment: float = 0.0) -> None:
    """ValueError for loss options `train_refiner` refuses; callers check before the slow example building."""
    if loss_weight not in LOSS_WEIGHTS:
        raise ValueError(f"unknown loss weight {loss_weight!r}; choose one of {', '.join(LOSS_WEIGHTS)}")
    if render_weight < 0:
        raise ValueError(f"render_weight must be >= 0, got {render_weight}")
    if render_weight and augment:
        raise ValueError("augment recolours the maps but not the frames: it cannot go with render_weight")


def _module(model: Refiner, lr: float, steps: int, augment: float = 0.0, loss_weight: str = "texel",
            render_weight: float = 0.0, texels: Tensor | None = None):
    import lightning as L

    class RefinerModule(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = model
            self.losses: list[float] = []
            self.render_losses: list[float] = []

        def training_step(self, batch, _):
            if augment:
                gain = 1 + augment * (2 * torch.rand(batch["features"].shape[0], 3, device=self.device) - 1)
                batch = recolor(batch, gain)
            pred = self.model(batch["features"], batch["neutral"])
            weight = area_weights(batch["neutral"], batch["seen"]) if loss_weight == "area" else None
            loss = masked_l1(pred, batch["target"], batch["seen"], weight)
            self.log("train/l1", loss, prog_bar=True)
            self.losses.append(float(loss.detach()))
            if render_weight:
                k = torch.randint(batch["r_image"].shape[1], (pred.shape[0],))  # one stored frame per example
                rendered = render_l1(pred, batch, texels.to(pred.device), k)
                self.log("train/render_l1", rendered, prog_bar=True)
                self.render_losses.append(float(rendered.detach()))
                loss = loss + render_weight * rendered
            return loss

        def configure_optimizers(self):
            opt = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=1e-4)
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * min(i / steps, 1))))
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    return RefinerModule()


def train_refiner(train: list[dict], val: list[dict], out_dir: str | os.PathLike, size: str = "small",
                  steps: int = 300, batch_size: int = 4, lr: float = 2e-3, seed: int = 0,
                  accelerator: str = "auto", progress: bool = True, extra_config: dict | None = None,
                  augment: float = 0.0, loss_weight: str = "texel", render_weight: float = 0.0) -> dict:
    """Train a `Refiner_models[size]` and write the tokenizer model folder; returns its metrics.
    `augment`: per-video colour gains drawn from 1 +- augment (`recolor`); 0 = off. `loss_weight`:
    "texel" (every seen texel alike) or "area" (`area_weights`: as renders judge them).
    `render_weight` > 0 adds the rendering loss against the examples' frames (`render_loss.render_l1`;
    the examples must carry them: `examples_from_drop(render_frames=...)`)."""
    import lightning as L
    from safetensors.torch import save_file

    if size not in Refiner_models:
        raise ValueError(f"unknown refiner size {size!r}; choose one of {', '.join(Refiner_models)}")
    if not train:
        raise ValueError("no training examples")
    check_loss_options(loss_weight, render_weight, augment)
    if render_weight and not all(k in e for e in train for k in RENDER_KEYS):
        raise ValueError("render_weight > 0 needs examples with frames (examples_from_drop(render_frames=...))")
    L.seed_everything(seed, verbose=False)
    t0 = time.time()
    model = Refiner_models[size]()
    # The Gaussians' texels (in-chart, row-major: `UVLayout.texels`), read once from the chart feature.
    texels = torch.nonzero(train[0]["features"][FEATURES.index("chart")].flatten() > 0.5).squeeze(1)
    module = _module(model, lr, steps, augment, loss_weight, render_weight, texels)
    data = [{k: v for k, v in e.items() if isinstance(v, Tensor)} for e in train]  # the loader stacks tensors only
    loader = torch.utils.data.DataLoader(data, batch_size=min(batch_size, len(data)), shuffle=True, drop_last=True,
                                         generator=torch.Generator().manual_seed(seed))
    trainer = L.Trainer(max_steps=steps, accelerator=accelerator, devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=progress, enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(module, loader)
    model = module.model.cpu().eval()
    photos = sum(bool(e.get("photo")) for e in train)  # one-frame examples (examples_from_drop)
    metrics = {"steps": steps, "train_videos": len(train) - photos, "train_photos": photos, "val_videos": len(val),
               "seconds": round(time.time() - t0, 1),
               "train_l1_first": module.losses[0], "train_l1_last": module.losses[-1],
               "train_l1": [round(x, 5) for x in module.losses]}
    if module.render_losses:
        metrics |= {"train_render_l1_first": module.render_losses[0], "train_render_l1_last": module.render_losses[-1],
                    "train_render_l1": [round(x, 5) for x in module.render_losses]}
    if val:
        metrics |= evaluate_refiner(model, val)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = {"size": size, **model.config, "features": list(FEATURES), "resolution": int(train[0]["target"].shape[-1]),
              "loss_weight": loss_weight, "render_weight": render_weight, **(extra_config or {})}
    with atomic_path(out_dir / MODEL_FILE) as tmp:
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp))
    for name, obj in ((CONFIG_FILE, config), (METRICS_FILE, metrics)):
        with atomic_path(out_dir / name) as tmp:
            tmp.write_text(json.dumps(obj, indent=1))
    return metrics


@torch.no_grad()
def evaluate_refiner(model: Refiner, examples: list[dict]) -> dict:
    """Colour PSNR on seen texels: the colours as seen, the unprojected albedo (the untrained
    start) and the refined maps."""
    b = _stack(examples)
    raw, seen_as = b["neutral"].clone(), b["neutral"].clone()
    raw[:, CHANNELS["rgb"]] = b["features"][:, :3]
    seen_as[:, CHANNELS["rgb"]] = b["features"][:, 3:6]
    pred = model.eval()(b["features"], b["neutral"])
    return {"val_rgb_psnr_as_seen": round(rgb_psnr(seen_as, b["target"], b["seen"]), 2),
            "val_rgb_psnr_unprojected": round(rgb_psnr(raw, b["target"], b["seen"]), 2),
            "val_rgb_psnr_refined": round(rgb_psnr(pred, b["target"], b["seen"]), 2),
            "val_l1_refined": round(float(masked_l1(pred, b["target"], b["seen"])), 5)}


def load_refiner(model_dir: str | os.PathLike) -> Refiner:
    """A trained refiner from its folder (safetensors weights + config.json)."""
    from genlca.safe_files import load_tensors as load_file  # refuses pickles, naming the file

    model_dir = Path(model_dir)
    config = json.loads((model_dir / CONFIG_FILE).read_text())
    if config.get("features") != list(FEATURES):
        raise ValueError(f"{model_dir}: trained on features {config.get('features')}, this code has {list(FEATURES)}")
    model = Refiner(width=config["width"], depth=config["depth"], in_channels=config["in_channels"])
    model.load_state_dict(load_file(str(model_dir / MODEL_FILE)))
    return model.eval()


__all__ = ["LOSS_WEIGHTS", "area_weights", "check_loss_options", "evaluate_refiner", "examples_from_drop", "load_refiner",
           "masked_l1", "recolor", "rgb_psnr", "train_refiner"]
