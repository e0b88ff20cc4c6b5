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
import torch.nn.functional as F
from torch import Tensor

from genlca.diffusion.model import modulate, text_dict
from genlca.diffusion.text import MAX_TOKENS

INPUT_NAMES = ("x", "shape", "t", "text_pooled", "text_tokens", "text_mask", "cond_maps", "cond_visibility")
OUTPUT_NAMES = ("velocity", "shape_velocity")


class ExportDenoiser(nn.Module):
    """GenLCADiT behind the graph's inputs (module docstring). `dtype` float16 runs the model in half precision
    with float32 inputs and outputs (the TensorRT fp16 engine's graph). The flow time stays float32: the model
    scales it by 1000 for its sinusoids (fp16 would be off by up to 0.25 there) and divides by it for the
    velocity; the sinusoids are cast to the timestep MLP's dtype on the way in.

    forward is GenLCADiT.forward for sampling (valid=None, the chart buffer) with its maps side rearranged for
    onnxruntime, where the model's patch convolutions (im2col), its unpatchify (an Einsum) and its passes over
    full maps took ~45% of a tiny-model call at R = 128 (everything else runs the model's own modules;
    tests/test_export.py checks it against the model):
      - patchify is one Reshape + Transpose (runs of p texels), the two patch convolutions (stride = kernel) are
        MatMuls over the patches; the chart and visibility masks are applied to the maps before it;
      - the final linear's rows are reordered from (p, p, C) to (C, p, p), so unpatchify is one Transpose too;
      - the text key mask becomes SDPA's additive bias once (exported bool, each cross-attention converts it and
        zeroes NaN rows, which the always-present null token never produces).
    Same sums in another order: differences at round-off. rearranged=False: the model's forward as it is.
    """

    def __init__(self, model: nn.Module, dtype: torch.dtype = torch.float32, rearranged: bool = True):
        super().__init__()
        if dtype != torch.float32:  # a half-precision copy: the caller's model stays as it is
            model = copy.deepcopy(model).to(dtype)
            model.t_embedder.mlp.register_forward_pre_hook(lambda _, args: tuple(a.to(dtype) for a in args))
        self.model, self.dtype, self.rearranged = model, dtype, rearranged

    def _patches(self, x: Tensor) -> Tensor:
        """(B, C, R, R) -> (B * T, C * p*p): patches in row-major grid order, channel-major inside (the layout of
        Conv2d's weight)."""
        B, C, R, _ = x.shape
        p = self.model.patch_size
        g = R // p
        return x.reshape(B, C, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(B * g * g, C * p * p)

    def _maps(self, patches: Tensor) -> Tensor:
        """(B, T, C, p*p) -> (B, C, R, R), the inverse of _patches (but for the batch flattening)."""
        B, _, C, _ = patches.shape
        p, g = self.model.patch_size, self.model.grid_size
        return patches.reshape(B, g, g, C, p, p).permute(0, 3, 1, 4, 2, 5).reshape(B, C, g * p, g * p)

    def forward(self, x: Tensor, shape: Tensor, t: Tensor, text_pooled: Tensor, text_tokens: Tensor,
                text_mask: Tensor, cond_maps: Tensor, cond_visibility: Tensor) -> tuple[Tensor, Tensor]:
        m, d = self.model, self.dtype
        if not self.rearranged:  # GenLCADiT.forward as it is (the benchmark's reference)
            text = {"pooled": text_pooled.to(d), "tokens": text_tokens.to(d), "mask": text_mask}
            cond = {"maps": cond_maps.to(d), "visibility": cond_visibility.to(d)}
            v, v_shape = m(x.to(d), shape.to(d), t.float(), text=text, cond=cond)
            return v.float(), v_shape.float()
        B, C, D, p2 = x.shape[0], m.in_channels, m.x_embedder.out_channels, m.patch_size**2
        shape, t = shape.to(d), t.float()
        text = {"pooled": text_pooled.to(d), "tokens": text_tokens.to(d), "mask": text_mask}
        x_in = x.to(d) * m.chart.to(d)  # off-chart texels carry no information
        vis = cond_visibility.to(d)[:, None]  # (B, 1, R, R)
        maps = cond_maps.to(d) * (vis > 0)  # cond_input's maps
        w_cond = m.cond_embedder.weight.reshape(D, C + 1, p2)  # over the [maps, visibility] channels
        h = (F.linear(self._patches(x_in), m.x_embedder.weight.reshape(D, -1), m.x_embedder.bias)
             + self._patches(maps) @ w_cond[:, :C].reshape(D, -1).T + self._patches(vis) @ w_cond[:, C].T)
        h = torch.cat([h.reshape(B, -1, D), m.shape_embedder(shape)[:, None]], dim=1) + m.pos_embed  # (B, T + 1, D)

        c = m.t_embedder(t) + m.text_pooled_embedder(m.text_pooled(text, h))
        tokens, mask = m.text_context(text, h)
        mask = torch.zeros(mask.shape, dtype=d, device=mask.device).masked_fill(~mask, float("-inf"))
        for block in m.blocks:
            h = block(h, c, tokens, mask)
        fl = m.final_layer
        shift, scale = fl.adaLN_modulation(c).chunk(2, dim=1)
        h = modulate(fl.norm_final(h), shift, scale)
        w = fl.linear.weight.reshape(p2, C, D).transpose(0, 1).reshape(C * p2, D)  # rows (p, p, C) -> (C, p, p)
        b = fl.linear.bias.reshape(p2, C).T.reshape(C * p2)
        out_maps = self._maps(F.linear(h[:, :-1].reshape(-1, D), w, b).reshape(B, -1, C, p2))
        out_shape = fl.shape_linear(h[:, -1])
        if m.prediction == "x":  # velocity from the predicted clean sample, as GenLCADiT.forward
            inv_t = 1 / t.clamp(min=m.t_min)
            out_maps, out_shape = (x_in - out_maps) * inv_t[:, None, None, None], (shape - out_shape) * inv_t[:, None]
        return out_maps.float(), out_shape.float()


def pack_inputs(x: Tensor, shape: Tensor, t: Tensor, text=None, cond: dict | None = None,
                text_tokens: int = MAX_TOKENS, text_dim: int = 384) -> dict[str, Tensor]:
    """GenLCADiT's call (x, shape, t, text=..., cond=...) -> the graph's inputs by name, contiguous, on x's
    device; text: a dict, a TextBatch or None; cond: a dict or None (the module docstring's equivalences)."""
    B, _, R, _ = x.shape
    f32 = dict(dtype=torch.float32, device=x.device)
    values = (x.float(), shape.float(), t.to(**f32).reshape(B))
    return ({k: v.contiguous() for k, v in zip(INPUT_NAMES[:3], values)}
            | pack_text(text, B, x.device, text_tokens, text_dim) | pack_cond(cond, x.shape[1], B, R, x.device))


def pack_text(text, batch: int, device: torch.device, text_tokens: int = MAX_TOKENS,
              text_dim: int = 384) -> dict[str, Tensor]:
    """The caption's graph inputs (text_pooled, text_tokens, text_mask): pack_inputs' text part."""
    f32 = dict(dtype=torch.float32, device=device)
    text = text_dict(text) or {}
    pooled = text.get("pooled")
    pooled = torch.zeros(batch, text_dim, **f32) if pooled is None else pooled.to(**f32)
    tokens = torch.zeros(batch, text_tokens, text_dim, **f32)
    mask = torch.zeros(batch, text_tokens, dtype=torch.bool, device=device)
    if text.get("tokens") is not None:
        given = text["tokens"].to(**f32)
        given_mask = text.get("mask")
        given_mask = (torch.ones(given.shape[:2], dtype=torch.bool, device=device) if given_mask is None
                      else given_mask.to(device).bool())
        n = given.shape[1]
        if n > text_tokens and given_mask[:, text_tokens:].any():
            raise ValueError(f"a caption of {int(given_mask.sum(1).max())} tokens: the exported graph takes at most "
                             f"{text_tokens} (export again with a larger text_tokens)")
        n = min(n, text_tokens)
        tokens[:, :n], mask[:, :n] = given[:, :n], given_mask[:, :n]
    return {"text_pooled": pooled.contiguous(), "text_tokens": tokens, "text_mask": mask}


def pack_cond(cond: dict | None, channels: int, batch: int, resolution: int,
              device: torch.device) -> dict[str, Tensor]:
    """The image condition's graph inputs (cond_maps, cond_visibility): pack_inputs' condition part."""
    f32 = dict(dtype=torch.float32, device=device)
    B, R = batch, resolution
    if cond is None:
        return {"cond_maps": torch.zeros(B, channels, R, R, **f32), "cond_visibility": torch.zeros(B, R, R, **f32)}
    return {"cond_maps": cond["maps"].to(**f32).contiguous(),
            "cond_visibility": cond["visibility"].to(**f32).reshape(B, R, R).contiguous()}


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


__all__ = ["ExportDenoiser", "INPUT_NAMES", "OUTPUT_NAMES", "example_inputs", "pack_cond", "pack_inputs",
           "pack_text"]
