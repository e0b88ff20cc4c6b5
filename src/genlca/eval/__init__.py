"""Evaluation metrics against synthetic ground truth (the protocols that use them live in evaluation/)."""

from genlca.eval.metrics import (
    frechet_distance,
    masked_render_psnr,
    opacity,
    opacity_deficit,
    token_features,
    token_l2,
    unobserved_mask,
    unobserved_render_psnr,
)

__all__ = ["frechet_distance", "masked_render_psnr", "opacity", "opacity_deficit", "token_features", "token_l2", "unobserved_mask",
           "unobserved_render_psnr"]
