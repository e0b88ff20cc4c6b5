"""Tokenize every fitted video of a drop, and measure tokens against a synthetic drop's truth.
Shared by `genlca tokenize` / `genlca evaluate tokenizer` (and the `avatar_tokens` asset)."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

from tqdm import tqdm

from genlca.avatar import CHANNELS, GaussianAvatar
from genlca.body.protocol import BodyModel
from genlca.body.uv_layout import UVLayout
from genlca.data.ingest import sha256_file
from genlca.data.video import read_video
from genlca.fitting.store import load_fit, load_fit_masks, load_fit_meta
from genlca.io_utils import published
from genlca.tokenizer.captions import caption_scores, caption_tokens, lighting_for
from genlca.tokenizer.refine import Refiner
from genlca.tokenizer.tokens import AvatarTokens, load_tokens, save_tokens, tokenize
from genlca.tokenizer.unproject import unproject_video


def tokenize_settings_key(body: BodyModel, layout: UVLayout, refiner: Refiner | None, tokenizer_name: str) -> str:
    """What tokens depend on besides the video and its fit: tokens saved under the same key are reused."""
    import hashlib

    h = hashlib.sha256(f"{body.name}|{layout.resolution}|{tokenizer_name}".encode())
    for name, t in (refiner.state_dict().items() if refiner is not None else ()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _reused_row(path: Path, fit_sha256: str, key: str) -> dict | None:
    """The row of tokens an earlier run made from the same fit with the same settings, or None."""
    from genlca.safe_files import read_header

    if not path.is_file():
        return None
    try:
        meta = (read_header(path) or {}).get("meta", {})  # the header only: no tensors read
    except Exception:  # unreadable: tokenize again (save_tokens replaces it atomically)
        return None
    if meta.get("fit_sha256") != fit_sha256 or meta.get("settings") != key or "row" not in meta:
        return None
    return dict(meta["row"]) | {"reused": True}


def tokenize_drop(drop_dir: str | os.PathLike, fits_dir: str | os.PathLike, out_dir: str | os.PathLike,
                  body: BodyModel, layout: UVLayout, refiner: Refiner | None = None, tokenizer_name: str = "",
                  progress: bool = False) -> list[dict]:
    """OUT/<video>.safetensors (`tokens.AvatarTokens`) for every fit in FITS_DIR whose video is in
    the drop; a video that fails is reported (its row's "error"), never a crash of the drop.

    Restartable: tokens already in OUT made from the same fit file with the same settings are kept, not redone.
    One writer at a time per OUT (`genlca.locks`)."""
    from genlca.locks import folder_lock

    drop_dir, fits_dir, out_dir = Path(drop_dir), Path(fits_dir), Path(out_dir)
    fits = published(fits_dir)
    if not fits:
        raise FileNotFoundError(f"{fits_dir}: no body fits (run `genlca fit` first)")
    out_dir.mkdir(parents=True, exist_ok=True)
    key = tokenize_settings_key(body, layout, refiner, tokenizer_name)
    rows = []
    with folder_lock(out_dir):
        for path in tqdm(fits, desc="tokenize", disable=not progress):
            t0 = time.time()
            fit_sha = sha256_file(path)
            reused = _reused_row(out_dir / path.name, fit_sha, key)
            if reused is not None:
                rows.append(reused | {"seconds": 0.0})
                continue
            row = {"video": path.stem, "frames": 0, "seen_share": 0.0, "visibility_mean": 0.0, "error": "",
                   "reused": False}
            try:
                source = load_fit_meta(path).get("source")
                if not source:
                    raise ValueError(f"{path}: the fit does not say which video it is of")
                video = drop_dir / source
                fit = load_fit(path)
                if fit.body_model != body.name:
                    raise ValueError(f"{path}: a fit of body model {fit.body_model!r}, tokenizing with {body.name!r}")
                up = unproject_video(read_video(video), fit, body, layout, load_fit_masks(path))
                meta = {"source": source, "source_sha256": sha256_file(video), "fit_sha256": fit_sha,
                        "tokenizer": tokenizer_name or ("unprojection" if refiner is None else "refiner"),
                        "frames_used": up.frames, "settings": key}
                tokens = tokenize(up, refiner, body, layout, fit.shape, meta)
                # Captions measure the de-lit unprojection, refiner or not: on held-out videos its colour
                # words are right 93% of the time, the refined maps' 83% (noisier per region).
                measured = tokens if refiner is None else tokenize(up, None, body, layout, fit.shape)
                cap = caption_tokens(measured, body, layout, lighting_for("unprojection"))
                chart = layout.mask
                row |= {"frames": up.frames, "seen_share": round(float(up.seen[chart].float().mean()), 4),
                        "visibility_mean": round(float(tokens.visibility[chart].mean()), 4)}
                tokens.meta |= {"caption": cap["caption"], "caption_regions": cap["regions"],
                                "caption_styles": cap["styles"], "caption_words": cap["words"],
                                "caption_light": cap["light"], "height_m": cap["height_m"], "row": row}
                save_tokens(tokens, out_dir / path.name)
            except Exception as e:  # one bad video never stops the drop; the reason is reported
                (out_dir / path.name).unlink(missing_ok=True)
                row["error"] = f"{type(e).__name__}: {e}"
            row["seconds"] = round(time.time() - t0, 2)
            rows.append(row)
    return rows


def render_psnr(tokens: AvatarTokens, truth: GaussianAvatar, body: BodyModel, layout: UVLayout, views: int = 4,
                size: int = 256) -> float:
    """PSNR (dB) of renders of the token avatar against renders of the true avatar, both in the
    A-pose from the same `views` cameras at size², over the pixels where texels the tokens saw
    are drawn (a render of the seen-texel indicator > 0.5, on the true body's silhouette)."""
    from genlca.eval.metrics import masked_render_psnr

    return masked_render_psnr(tokens.avatar(), truth, tokens.count > 0, body, layout, views, size, mask_geometry="gen")


def evaluate_tokens(drop_dir: str | os.PathLike, tokens_dir: str | os.PathLike, body: BodyModel, layout: UVLayout,
                    views: int = 4, size: int = 256) -> dict:
    """Tokens of a synthetic drop against its ground truth, per video and overall (texel-weighted;
    render PSNR: mean over videos):
    - render_psnr_db: `render_psnr` from `views` novel views at size² (0 views: skipped);
    - rgb_psnr_db: colour of the texels the tokens saw vs the true albedo;
    - seen_iou: texels the tokens saw vs those the true camera saw (fit and mask errors move it);
    - seen_share / true_seen_share: share of the UV charts seen, by the tokens and in truth;
    - unseen_neutral: share of unseen texels left at the neutral colour (must be 1);
    - caption_color_accuracy: colour words of the caption's regions (the tokens' `caption_regions`,
      or captioned now for older tokens) right against subject.json, over caption_words_scored
      words (regions the tokens saw too little of are not scored); overall also per region."""
    from genlca.data.synth import load_ground_truth
    from genlca.tokenizer.unproject import NEUTRAL_RGB

    drop_dir, tokens_dir = Path(drop_dir), Path(tokens_dir)
    per, sq, n_px, inter, union = {}, 0.0, 0, 0, 0
    words = {}  # region -> [correct, scored] colour words of the captions
    chart = layout.mask
    for path in published(tokens_dir):
        gt_dir = drop_dir / "ground_truth" / path.stem
        if not (gt_dir / "maps.safetensors").is_file():
            continue
        gt = load_ground_truth(gt_dir, unpack=False)
        tokens = load_tokens(path)
        seen = (tokens.count > 0) & chart
        true_seen = (gt["maps"]["visible_count"] > 0) & chart
        err = ((tokens.maps[CHANNELS["rgb"]] - gt["maps"]["maps"][CHANNELS["rgb"]])[:, seen] ** 2)
        i, u = int((seen & true_seen).sum()), int((seen | true_seen).sum())
        unseen = chart & ~seen
        neutral = (tokens.maps[CHANNELS["rgb"]][:, unseen] == NEUTRAL_RGB).all(0).float().mean()
        truth = GaussianAvatar(maps=gt["maps"]["maps"].float(), shape=gt["maps"]["shape"].float(),
                               body_model=tokens.body_model)
        per[path.stem] = {
            "render_psnr_db": round(render_psnr(tokens, truth, body, layout, views, size), 2) if views else math.nan,
            "rgb_psnr_db": round(-10 * math.log10(max(float(err.mean()), 1e-10)), 2) if seen.any() else math.nan,
            "seen_iou": round(i / max(u, 1), 4), "seen_share": round(float(seen.sum() / chart.sum()), 4),
            "true_seen_share": round(float(true_seen.sum() / chart.sum()), 4),
            "unseen_neutral": round(float(neutral), 4) if unseen.any() else 1.0,
        }
        regions = (tokens.meta.get("caption_regions")
                   or caption_tokens(tokens, body, layout, lighting_for(tokens.meta.get("tokenizer")))["regions"])
        scores = caption_scores(regions, gt["subject"])
        for region, (c, n) in scores.items():
            words[region] = [words.get(region, [0, 0])[0] + c, words.get(region, [0, 0])[1] + n]
        c, n = sum(c for c, _ in scores.values()), sum(n for _, n in scores.values())
        per[path.stem] |= {"caption_color_accuracy": round(c / n, 4) if n else math.nan, "caption_words_scored": n}
        sq, n_px, inter, union = sq + float(err.sum()), n_px + err.numel(), inter + i, union + u
    if not per:
        raise FileNotFoundError(f"{tokens_dir}: no token file of a video with ground truth in {drop_dir}")
    renders = [v["render_psnr_db"] for v in per.values() if v["render_psnr_db"] == v["render_psnr_db"]]
    overall = {"videos": len(per), "render_psnr_db": round(sum(renders) / len(renders), 2) if renders else math.nan,
               "rgb_psnr_db": round(-10 * math.log10(max(sq / max(n_px, 1), 1e-10)), 2),
               "seen_iou": round(inter / max(union, 1), 4),
               "unseen_neutral": min(v["unseen_neutral"] for v in per.values())}
    c, n = sum(v[0] for v in words.values()), sum(v[1] for v in words.values())
    overall |= {"caption_color_accuracy": round(c / n, 4) if n else math.nan, "caption_words_scored": n,
                "caption_color_accuracy_by_region": {r: round(a / b, 4) for r, (a, b) in words.items() if b}}
    return {"overall": overall, "videos": per}


__all__ = ["evaluate_tokens", "tokenize_drop"]
