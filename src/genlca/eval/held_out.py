"""The report's held-out evaluation: what the checkpoint does on the token dataset's validation split, which it
never trained on, and what production promotion compares (`genlca.lineage_state.promotion_decision`).

- region_error: each body region of a few validation avatars hidden in turn and completed (genlca.eval.region_error);
  `region_error` is the mean over regions of the token RMSE, `region_error.<region>` each region's;
- recon_psnr / recon_ssim / recon_lpips: renders of image-conditioned completions against a reference
  (genlca.eval.reconstruction): the true avatars of validation videos that kept their ground truth (synthetic
  drops), else the held-out tokens, completed from the region-hidden avatars and scored on the hidden texels the
  tokenizer saw. Which reference was used is in each metric's "reference".

Everything is seeded: the same checkpoint, data set and `HeldOutConfig` give the same numbers, so two checkpoints
evaluated under the same `protocol()` compare.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from genlca.generation.regions import EDIT_REGIONS

REGIONS_PNG, RECONSTRUCTION_PNG = "regions.png", "reconstruction.png"


@dataclass
class HeldOutConfig:
    """Defaults keep the demo fast (seconds on 2 CPU cores); raise avatars / steps for a real evaluation."""

    avatars: int = 2  # validation avatars whose regions are hidden in turn (all regions: avatars x 7 completions)
    steps: int = 10  # sampler steps of every completion
    method: str = "euler"
    regions: tuple[str, ...] = EDIT_REGIONS
    recon_inputs: int = 2  # synthetic photos with ground truth (validation videos) for the reconstruction metrics
    views: int = 2  # render views of the reconstruction metrics
    size: int = 128
    seed: int = 0
    use_caption: bool = False  # complete under the avatar's caption too (False: from the visible part alone)
    extra: dict = field(default_factory=dict)  # anything else that changes the numbers (recorded in the protocol)

    def protocol(self) -> dict:
        """The settings and their hash: numbers of two checkpoints compare only under the same hash."""
        settings = asdict(self) | {"regions": list(self.regions)}
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
        return {"settings": settings, "hash": digest}


def validation_rows(dataset_dir: str | os.PathLike):
    from genlca.tokenizer.dataset import read_token_index

    index = read_token_index(dataset_dir)
    return index[index["split"] == "val"]


def _complete(gen, cfg: HeldOutConfig):
    from genlca.generation.generator import SamplerOptions

    opts = SamplerOptions(steps=cfg.steps, method=cfg.method, seed=cfg.seed)

    def complete(partial):
        prompts = [p.meta.get("caption", "") for p in partial] if cfg.use_caption and gen.has_text else None
        return gen.complete(partial, prompts, opts)
    return complete


def _recon(pairs: list, cfg: HeldOutConfig, body, layout, image_config, reference: str, note: str,
           out_png: Path) -> dict:
    """The three reconstruction metrics over (completed, reference, texels) pairs, and a picture of the first."""
    from PIL import Image

    from genlca.eval.reconstruction import paired_renders, reconstruction_metrics
    from genlca.io_utils import atomic_path
    from genlca.render.views import grid, to_uint8

    renders = [paired_renders(p, r, t, body, layout, cfg.views, cfg.size) for p, r, t in pairs]
    pred, ref, mask = (torch.cat([x[i] for x in renders]) for i in range(3))
    m = reconstruction_metrics(pred, ref, mask, image_config)
    picture = grid([to_uint8(im) for a, b, _ in renders[:2] for im in (*b, *a)], 2 * cfg.views)
    with atomic_path(out_png) as tmp:
        Image.fromarray(picture).save(tmp, format="PNG")
    info = {"reference": reference, "inputs": len(pairs), "note": note}
    return {f"recon_{k}": {**v, **info} if "value" in v else {**v, "reference": reference} for k, v in m.items()}


def held_out_evaluation(gen, dataset_dir: str | os.PathLike, out_dir: str | os.PathLike, body,
                        cfg: HeldOutConfig = HeldOutConfig(), drops_dir: str | os.PathLike | None = None,
                        image_config=None) -> dict:
    """{"metrics": {name: result}, "regions": per-region table, "reconstruction": what was compared, "pictures":
    file names in out_dir}; a metric that cannot run says why ("skipped")."""
    from genlca.body.uv_layout import uv_layout
    from genlca.eval.reconstruction import ground_truth_inputs
    from genlca.eval.region_error import region_error_png, region_errors, region_masks
    from genlca.tokenizer.tokens import load_tokens

    out = Path(out_dir)
    layout = uv_layout(body, gen.resolution)
    chart = gen.chart
    rows = validation_rows(dataset_dir)
    held_out = [load_tokens(Path(dataset_dir) / p) for p in rows["path"].head(cfg.avatars)]
    complete = _complete(gen, cfg)
    metrics: dict[str, dict] = {}
    pictures: dict[str, str] = {}
    region_table, result = {}, None
    if not held_out:
        why = f"{dataset_dir}: no validation avatar (the split is empty)"
        metrics["region_error"] = {"skipped": why}
    else:
        masks = region_masks(held_out, body, layout, cfg.regions)
        result = region_errors(held_out, masks, complete, gen.normalizer, chart, cfg.regions)
        mean = result["mean"]
        metrics["region_error"] = {"value": mean["token_rmse"], "rgb_rmse": mean["rgb_rmse"],
                                   "baseline": mean["baseline_token_rmse"], "avatars": result["avatars"],
                                   "split": "val", "note": f"token RMSE, mean of {len(cfg.regions)} regions hidden "
                                                           f"in turn, val avatars: {result['avatars']}; mean-token "
                                                           f"baseline {mean['baseline_token_rmse']:.3g}"}
        for name, r in result["regions"].items():
            metrics[f"region_error.{name}"] = ({"value": r["token_rmse"], **r, "note": f"rgb {r['rgb_rmse']:.3g}, "
                                               f"baseline {r['baseline_token_rmse']:.3g}, {r['texels']} texels"}
                                               if r["avatars"] else {"skipped": "no seen texel of this region in the "
                                                                                "validation avatars"})
        region_table = result["regions"]
        if region_error_png(result, out / REGIONS_PNG) is not None:
            pictures["regions"] = REGIONS_PNG

    partial, truth, names = ([], [], []) if drops_dir is None else \
        ground_truth_inputs(rows, drops_dir, body, layout, cfg.recon_inputs)
    recon = {"reference": "none"}
    if partial:
        completed = complete(partial)
        pairs = [(c.avatar(), t, chart) for c, t in zip(completed, truth)]
        note = f"vs ground truth, synthetic photos of val videos: {len(pairs)}; on the true silhouette"
        metrics |= _recon(pairs, cfg, body, layout, image_config, "ground_truth", note, out / RECONSTRUCTION_PNG)
        recon = {"reference": "ground_truth", "inputs": names}
    elif result is not None and result["scored"].any():
        n, k = len(held_out), len(cfg.regions)
        pairs = [(result["completed"][i * k + j].avatar(), held_out[i].avatar(), result["scored"][i * k + j])
                 for i in range(n) for j in range(k) if result["scored"][i * k + j].any()]
        note = (f"no ground truth: vs the held-out tokens, {len(pairs)} region-hidden completions, on the hidden "
                f"texels the tokenizer saw")
        metrics |= _recon(pairs, cfg, body, layout, image_config, "held_out_tokens", note, out / RECONSTRUCTION_PNG)
        recon = {"reference": "held_out_tokens", "inputs": [f"{d}/{v}" for d, v in
                                                            zip(rows["drop"].head(n), rows["video"].head(n))]}
    else:
        for k in ("psnr", "ssim", "lpips"):
            metrics[f"recon_{k}"] = {"skipped": "nothing to reconstruct: no ground truth, and no seen texel of a "
                                                "validation avatar to compare with"}
    if recon["reference"] != "none":
        pictures["reconstruction"] = RECONSTRUCTION_PNG
    return {"metrics": metrics, "regions": region_table, "reconstruction": recon, "pictures": pictures,
            "protocol": cfg.protocol()}


__all__ = ["RECONSTRUCTION_PNG", "REGIONS_PNG", "HeldOutConfig", "held_out_evaluation", "validation_rows"]
