"""The denoiser as an exported graph sees it: fixed, all-tensor inputs in place of GenLCADiT's optional dicts.

    graph inputs   x (B, 14, R, R)  shape (B, S)  t (B,)
                   text_pooled (B, 384)  text_tokens (B, L, 384)  text_mask (B, L) bool
                   cond_maps (B, 14, R, R)  cond_visibility (B, R, R)
    graph outputs  velocity (B, 14, R, R)  shape_velocity (B, S)

B is dynamic. The absent conditions become the tensors the model treats alike (checked in tests/test_export.py):
no image = zero maps and visibility, which is what `cond_input(None)` builds, bit for bit; no caption = zero
pooled embedding and L padding tokens with an all-False mask, which leaves only the learned null token for the
cross-attention to attend to, as `text_context(None)` does (equal to round-off: the masked keys get weight
exactly 0, but the K/V projection runs over a longer sequence).

Why the caption length L is fixed (MAX_TOKENS = 48, what the text encoder cuts captions to) rather than a second
dynamic axis: one static shape per batch size lets TensorRT's optimization profile and onnxruntime's memory
planner work on a single dynamic axis, and padding costs little: the cross-attention over 49 keys is ~2% of
the S model's FLOPs at R = 128. Longer captions are refused with a message (pack_inputs), never cut silently.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
from torch import Tensor

from genlca.diffusion.model import text_dict
from genlca.diffusion.text import MAX_TOKENS

INPUT_NAMES = ("x", "shape", "t", "text_pooled", "text_tokens", "text_mask", "cond_maps", "cond_visibility")
OUTPUT_NAMES = ("velocity", "shape_velocity")


class ExportDenoiser(nn.Module):
    """GenLCADiT behind the graph's inputs (module docstring). `dtype` float16 runs the model in half precision
    with float32 inputs and outputs (the TensorRT fp16 engine's graph). The flow time stays float32: the model
    scales it by 1000 for its sinusoids (fp16 would be off by up to 0.25 there) and divides by it for the
    velocity; the sinusoids are cast to the timestep MLP's dtype on the way in."""

    def __init__(self, model: nn.Module, dtype: torch.dtype = torch.float32):
        super().__init__()
        if dtype != torch.float32:  # a half-precision copy: the caller's model stays as it is
            model = copy.deepcopy(model).to(dtype)
            model.t_embedder.mlp.register_forward_pre_hook(lambda _, args: tuple(a.to(dtype) for a in args))
        self.model, self.dtype = model, dtype

    def forward(self, x: Tensor, shape: Tensor, t: Tensor, text_pooled: Tensor, text_tokens: Tensor,
                text_mask: Tensor, cond_maps: Tensor, cond_visibility: Tensor) -> tuple[Tensor, Tensor]:
        d = self.dtype
        text = {"pooled": text_pooled.to(d), "tokens": text_tokens.to(d), "mask": text_mask}
        cond = {"maps": cond_maps.to(d), "visibility": cond_visibility.to(d)}
        v, v_shape = self.model(x.to(d), shape.to(d), t.float(), text=text, cond=cond)
        return v.float(), v_shape.float()


def pack_inputs(x: Tensor, shape: Tensor, t: Tensor, text=None, cond: dict | None = None,
                text_tokens: int = MAX_TOKENS, text_dim: int = 384) -> dict[str, Tensor]:
    """GenLCADiT's call (x, shape, t, text=..., cond=...) -> the graph's inputs by name, contiguous, on x's
    device; text: a dict, a TextBatch or None; cond: a dict or None (the module docstring's equivalences)."""
    B, _, R, _ = x.shape
    f32 = dict(dtype=torch.float32, device=x.device)
    text = text_dict(text) or {}
    pooled = text.get("pooled")
    pooled = torch.zeros(B, text_dim, **f32) if pooled is None else pooled.to(**f32)
    tokens = torch.zeros(B, text_tokens, text_dim, **f32)
    mask = torch.zeros(B, text_tokens, dtype=torch.bool, device=x.device)
    if text.get("tokens") is not None:
        given = text["tokens"].to(**f32)
        given_mask = text.get("mask")
        given_mask = (torch.ones(given.shape[:2], dtype=torch.bool, device=x.device) if given_mask is None
                      else given_mask.to(x.device).bool())
        n = given.shape[1]
        if n > text_tokens and given_mask[:, text_tokens:].any():
            raise ValueError(f"a caption of {int(given_mask.sum(1).max())} tokens: the exported graph takes at most "
                             f"{text_tokens} (export again with a larger text_tokens)")
        n = min(n, text_tokens)
        tokens[:, :n], mask[:, :n] = given[:, :n], given_mask[:, :n]
    if cond is None:
        cond_maps, cond_vis = torch.zeros_like(x, dtype=torch.float32), torch.zeros(B, R, R, **f32)
    else:
        cond_maps, cond_vis = cond["maps"].to(**f32), cond["visibility"].to(**f32).reshape(B, R, R)
    values = (x.float(), shape.float(), t.to(**f32).reshape(B), pooled, tokens, mask, cond_maps, cond_vis)
    return {k: v.contiguous() for k, v in zip(INPUT_NAMES, values)}


def example_inputs(config: dict, batch: int = 2, text_tokens: int = MAX_TOKENS, seed: int = 0) -> tuple[Tensor, ...]:
    """Random graph inputs in INPUT_NAMES order for a model config (tracing and shape checks)."""
    g = torch.Generator().manual_seed(seed)
    R, C, S, D = config["input_size"], config["in_channels"], config["shape_dim"], config["text_dim"]
    x = torch.randn(batch, C, R, R, generator=g)
    mask = torch.rand(batch, text_tokens, generator=g) < 0.5
    mask[:, 0] = True
    cond = {"maps": torch.randn(batch, C, R, R, generator=g), "visibility": torch.rand(batch, R, R, generator=g)}
    text = {"pooled": torch.randn(batch, D, generator=g), "tokens": torch.randn(batch, text_tokens, D, generator=g),
            "mask": mask}
    feed = pack_inputs(x, torch.randn(batch, S, generator=g), torch.rand(batch, generator=g), text, cond,
                       text_tokens, D)
    return tuple(feed[k] for k in INPUT_NAMES)


__all__ = ["ExportDenoiser", "INPUT_NAMES", "OUTPUT_NAMES", "example_inputs", "pack_inputs"]
