"""Per-region completion error on held-out avatars: each body region (generation.regions.EDIT_REGIONS) of a
validation avatar is hidden in turn, the checkpoint completes it from the rest, and the completion is scored
against the held-out tokens on the hidden texels the tokenizer saw (elsewhere nothing is known to compare with).

    masks = region_masks(held_out, body, layout)                      # (N, K, R, R) bool
    result = region_errors(held_out, masks, complete, normalizer, chart)
    region_error_png(result, "regions.png")                           # UV heat map + per-region bars

Errors are RMS over the 14 channels in the checkpoint's normalized token space (the scale the model learns in:
every attribute counts, 1 = one data-set standard deviation), and RMS of the RGB colour in [0, 1] beside it.
A baseline fills the hidden texels with the data set's mean token. A sample is not a mean: one drawn without
looking at the rest of the avatar scores about sqrt(2) x the baseline (twice the variance), so a completion between
the two uses the rest somewhat, and one below the baseline predicts the region from the rest.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import replace
from typing import Callable

import torch
from torch import Tensor

from genlca.avatar import CHANNELS
from genlca.tokenizer.tokens import AvatarTokens

Complete = Callable[[list[AvatarTokens]], list[AvatarTokens]]  # partial avatars -> completed ones


def region_masks(tokens: list[AvatarTokens], body, layout, regions: tuple[str, ...] | None = None) -> Tensor:
    """(N, K, R, R) bool: each avatar's texels of each region (garment regions follow its body shape)."""
    from genlca.generation.regions import EDIT_REGIONS, region_mask

    regions = regions or EDIT_REGIONS
    return torch.stack([torch.stack([region_mask(r, body, layout, t.shape.float()) for r in regions])
                        for t in tokens])


def hide(tokens: AvatarTokens, hidden: Tensor, fill: Tensor) -> AvatarTokens:
    """A copy with `hidden` (R, R) unseen (count and visibility 0) and its maps replaced by `fill` (14, R, R), so
    no model, visibility-aware or not, can read the hidden values."""
    return replace(tokens, maps=torch.where(hidden[None], fill, tokens.maps.float()),
                   visibility=tokens.visibility.float() * ~hidden, count=tokens.count * ~hidden,
                   meta=dict(tokens.meta))


def _rms(sq: Tensor, mask: Tensor) -> float:
    n = int(mask.sum())
    return math.sqrt(float(sq[mask].sum()) / n) if n else math.nan


def _nanmean(values: list[float]) -> float:
    values = [v for v in values if math.isfinite(v)]
    return sum(values) / len(values) if values else math.nan


@torch.no_grad()
def region_errors(held_out: list[AvatarTokens], masks: Tensor, complete: Complete, normalizer, chart: Tensor,
                  regions: tuple[str, ...] | None = None) -> dict:
    """Hide each region of each held-out avatar, complete all N * K partial avatars with one `complete` call and
    score them. Returns per region {token_rmse, rgb_rmse, baseline_token_rmse, texels, avatars} (means over the
    avatars where the region has seen texels; NaN when none has), "mean" (each region counts once), "error_map"
    (R, R): per-texel token RMSE over every run that hid and knew the texel (NaN where none did), and the runs
    themselves: "completed" (N * K avatars, avatar-major) and "scored" (N * K, R, R) bool."""
    from genlca.generation.regions import EDIT_REGIONS

    regions = regions or EDIT_REGIONS
    n, k = masks.shape[:2]
    if n == 0:
        raise ValueError("no held-out avatar to complete")
    chart = chart.bool()
    fill = normalizer.denormalize(torch.zeros(1, len(normalizer.mean), 1, 1))[0].expand_as(held_out[0].maps)
    partial = [hide(t, masks[i, j] & chart, fill) for i, t in enumerate(held_out) for j in range(k)]
    completed = complete(partial)
    truth = torch.stack([t.maps.float() for t in held_out]).repeat_interleave(k, dim=0)
    known = torch.stack([(t.count > 0) & chart for t in held_out]).repeat_interleave(k, dim=0)
    scored = masks.reshape(n * k, *masks.shape[2:]) & known  # hidden and seen by the tokenizer
    norm_truth = normalizer.normalize(truth)
    sq = (normalizer.normalize(torch.stack([c.maps.float() for c in completed])) - norm_truth).square().mean(1)
    sq_base = norm_truth.square().mean(1)  # the mean token is 0 in normalized space
    rgb = CHANNELS["rgb"]
    sq_rgb = (torch.stack([c.maps.float()[rgb] for c in completed]) - truth[:, rgb]).square().mean(1)

    per_region = {}
    for j, name in enumerate(regions):
        runs = [i * k + j for i in range(n) if scored[i * k + j].any()]
        per_region[name] = {
            "token_rmse": _nanmean([_rms(sq[r], scored[r]) for r in runs]),
            "rgb_rmse": _nanmean([_rms(sq_rgb[r], scored[r]) for r in runs]),
            "baseline_token_rmse": _nanmean([_rms(sq_base[r], scored[r]) for r in runs]),
            "texels": int(scored[runs].sum()) if runs else 0, "avatars": len(runs)}
    hits = scored.sum(0)
    error_map = torch.where(hits > 0, ((sq * scored).sum(0) / hits.clamp(min=1)).sqrt(), torch.nan)
    mean = {key: _nanmean([r[key] for r in per_region.values()])
            for key in ("token_rmse", "rgb_rmse", "baseline_token_rmse")}
    return {"regions": per_region, "mean": mean, "avatars": n, "error_map": error_map, "completed": completed,
            "scored": scored}


def region_error_png(result: dict, out: str | os.PathLike | None = None) -> bytes | None:
    """The UV heat map of `error_map` beside a bar chart per region (completion vs the mean-token baseline), as
    PNG bytes (also written to `out`); None without matplotlib (optional, as for the other plots)."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display: render to bytes only
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    names = list(result["regions"])
    fig, (ax_map, ax_bar) = plt.subplots(1, 2, figsize=(9, 3.6), dpi=100, gridspec_kw={"width_ratios": [1, 1.4]})
    cmap = matplotlib.colormaps["magma"].with_extremes(bad="#d0d0d0")  # grey: never hidden-and-known
    im = ax_map.imshow(result["error_map"].numpy(), cmap=cmap, interpolation="nearest")
    fig.colorbar(im, ax=ax_map, fraction=0.046, label="token RMSE")
    ax_map.set(title="error per texel (UV)", xticks=[], yticks=[])
    x = range(len(names))
    ours = [result["regions"][r]["token_rmse"] for r in names]
    base = [result["regions"][r]["baseline_token_rmse"] for r in names]
    ax_bar.bar([i - 0.2 for i in x], ours, width=0.4, label="completion")
    ax_bar.bar([i + 0.2 for i in x], base, width=0.4, color="#bbbbbb", label="mean token")
    ax_bar.set_xticks(list(x), names, rotation=30, fontsize=8)
    ax_bar.set(ylabel="token RMSE (hidden, seen texels)", title=f"per region (held-out avatars: {result['avatars']})")
    ax_bar.legend(fontsize=8)
    ax_bar.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    if out is not None:
        from genlca.io_utils import atomic_path

        with atomic_path(out) as tmp:
            tmp.write_bytes(buf.getvalue())
    return buf.getvalue()


__all__ = ["hide", "region_error_png", "region_errors", "region_masks"]
