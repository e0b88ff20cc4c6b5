"""Rectified flow (flow matching) on avatar tokens: the path, the training loss with its visibility modes, and
Euler / Heun samplers with classifier-free guidance. The network is in model.py (SiT keeps the same split).

Convention: t = 0 is data, t = 1 is noise, velocity prediction:

    x_t = (1 - t) * x + t * noise          v = d x_t / dt = noise - x

Sampling integrates dx/dt = v from t = 1 (pure noise) down to t = 0. The body shape (B, S) follows the
same path as the maps. Timesteps for training are logit-normal: t = sigmoid(N(t_mean, t_std)).

Training modes (the paper's claim and its ablation):
  visibility_aware  the model's `valid` input is the observed texels (unobserved patches -> the learnable
                    token, unobserved texels zeroed) and the map loss counts only valid in-chart texels;
  naive             no replacement; the loss counts every in-chart texel, unobserved ones included;
  drop_partial      like naive, but only samples that are fully observed (share of valid chart texels >=
                    `full_share`) count; the others get zero weight, shape loss included.
The map loss is texel-weighted: squared velocity error averaged over the 14 channels, then averaged over
every texel that counts in the batch (a sample weighs by how many of its texels count). The shape loss is
a mean over samples: the shape is known even where the body was not seen.

Batches are dicts:
    maps (B, 14, R, R) normalized tokens   shape (B, S)   valid (B, R, R) bool or visibility (> 0 = observed)
    chart (R, R) bool, optional (default: the model's)
    text  {"pooled": (B, 384), "tokens": (B, L, 384), "mask": (B, L) bool} or a TextBatch, optional
    cond  {"maps": (B, 14, R, R), "visibility": (B, R, R)}, optional (image / partial-avatar condition)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from genlca.diffusion.model import text_dict

MODES = ("visibility_aware", "naive", "drop_partial")
METHODS = ("euler", "heun")


@dataclass
class FlowConfig:
    # Logit-normal timesteps. SD3 samples mean 0 at 256^2 and shifts towards noise as the data grows
    # (sqrt(dims ratio): ~3.7x, logit +1.3, for 14 x 128^2 tokens against their 16 x 32^2 latents): the
    # sample's global layout is decided at high t. Mean 1 leans that way.
    t_mean: float = 1.0
    t_std: float = 1.0
    p_drop_text: float = 0.1  # classifier-free guidance: condition dropped per sample, text and image apart
    p_drop_image: float = 0.1
    full_share: float = 0.98  # drop_partial: a sample is "fully observed" from this share of valid chart texels
    shape_weight: float = 1.0


@dataclass
class FlowLoss:
    loss: Tensor  # what to backpropagate
    maps: Tensor  # the map term (detached)
    shape: Tensor  # the shape term (detached)
    kept: Tensor  # samples that count (drop_partial: the fully observed ones; otherwise B)
    texel_share: Tensor  # share of the batch's chart texels that count in the map loss


def _randn(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> Tensor:
    """Normal noise drawn on the generator's device (CPU by default), so a seed means the same numbers anywhere."""
    gen_device = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=gen_device).to(device)


def _rand(n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    gen_device = generator.device if generator is not None else device
    return torch.rand(n, generator=generator, device=gen_device).to(device)


def interpolate(x: Tensor, noise: Tensor, t: Tensor) -> Tensor:
    """x_t = (1 - t) x + t noise, t (B,) broadcast over the other dimensions."""
    t = t.reshape(-1, *([1] * (x.dim() - 1)))
    return (1 - t) * x + t * noise


def sample_timesteps(n: int, cfg: FlowConfig, generator: torch.Generator | None = None,
                     device: torch.device | str = "cpu") -> Tensor:
    """(n,) logit-normal flow times in (0, 1)."""
    return torch.sigmoid(cfg.t_mean + cfg.t_std * _randn((n,), generator, torch.device(device)))


def drop_conditions(text: dict | None, cond: dict | None, cfg: FlowConfig, batch_size: int,
                    generator: torch.Generator | None, device: torch.device) -> tuple[dict | None, dict | None]:
    """Classifier-free guidance dropout: per sample, the caption (p_drop_text) and the image (p_drop_image)
    are replaced by the null condition (zeros, no text tokens) independently."""
    if text is not None and cfg.p_drop_text > 0:
        keep = _rand(batch_size, generator, device) >= cfg.p_drop_text
        text = _mask_text(text, keep)
    if cond is not None and cfg.p_drop_image > 0:
        keep = (_rand(batch_size, generator, device) >= cfg.p_drop_image)[:, None, None, None]
        vis = cond["visibility"].reshape(batch_size, 1, *cond["maps"].shape[-2:])
        cond = {"maps": cond["maps"] * keep, "visibility": vis * keep}
    return text, cond


def _mask_text(text: dict, keep: Tensor) -> dict:
    """The caption where `keep` (B,) is True, the null caption elsewhere."""
    out = {}
    if text.get("pooled") is not None:
        out["pooled"] = text["pooled"] * keep[:, None]
    if text.get("tokens") is not None:
        tokens = text["tokens"]
        mask = text.get("mask")
        mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device) if mask is None else mask.bool()
        out["tokens"] = tokens * keep[:, None, None]
        out["mask"] = mask & keep[:, None]
    return out


def training_loss(model, batch: dict, mode: str = "visibility_aware", cfg: FlowConfig | None = None,
                  generator: torch.Generator | None = None) -> FlowLoss:
    """The flow-matching loss of one batch (module docstring: batch keys and modes)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    cfg = cfg or FlowConfig()
    x, shape = batch["maps"], batch["shape"]
    B, device = x.shape[0], x.device
    chart = batch.get("chart")
    chart = (model.chart if chart is None else chart).to(device).bool()
    valid = (batch["valid"].to(device) > 0) & chart  # (B, R, R)

    sample_w = torch.ones(B, device=device)
    if mode == "visibility_aware":
        texel_w, model_valid = valid, valid
    else:
        texel_w, model_valid = chart.expand(B, -1, -1), None
        if mode == "drop_partial":
            share = valid.flatten(1).sum(1) / chart.sum().clamp(min=1)
            sample_w = (share >= cfg.full_share).float()
            texel_w = texel_w & (sample_w[:, None, None] > 0)

    t = sample_timesteps(B, cfg, generator, device)
    noise = _randn(tuple(x.shape), generator, device).to(x.dtype)
    noise_shape = _randn(tuple(shape.shape), generator, device).to(shape.dtype)
    text, cond = drop_conditions(text_dict(batch.get("text")), batch.get("cond"), cfg, B, generator, device)

    v, v_shape = model(interpolate(x, noise, t), interpolate(shape, noise_shape, t), t, text=text, cond=cond,
                       valid=model_valid, chart=chart)
    texel_w = texel_w.to(v.dtype)
    err = (v - (noise - x)).square().mean(dim=1)  # (B, R, R): mean over channels
    map_loss = (err * texel_w).sum() / texel_w.sum().clamp(min=1)
    shape_err = (v_shape - (noise_shape - shape)).square().mean(dim=1)  # (B,)
    shape_loss = (shape_err * sample_w).sum() / sample_w.sum().clamp(min=1)
    loss = map_loss + cfg.shape_weight * shape_loss
    return FlowLoss(loss=loss, maps=map_loss.detach(), shape=shape_loss.detach(), kept=sample_w.sum().detach(),
                    texel_share=(texel_w.sum() / (B * chart.sum()).clamp(min=1)).detach())


#################################################################################
#                                   Sampling                                    #
#################################################################################

def _to(d: dict | None, device: torch.device) -> dict | None:
    return None if d is None else {k: v.to(device) for k, v in d.items() if v is not None}


def _cat(dicts: list[dict | None]) -> dict | None:
    if dicts[0] is None:
        return None
    return {k: torch.cat([d[k] for d in dicts]) for k in dicts[0] if dicts[0][k] is not None}


def guidance_terms(has_text: bool, has_image: bool, cfg_text: float,
                   cfg_image: float) -> list[tuple[float, bool, bool]]:
    """(weight, use text, use image) per model evaluation. With both conditions (InstructPix2Pix's composition):
        v = v(0, 0) + s_img (v(0, img) - v(0, 0)) + s_txt (v(txt, img) - v(0, img))
    i.e. weights 1 - s_img, s_img - s_txt, s_txt; with one condition the usual v(0) + s (v(c) - v(0)).
    Terms of weight 0 are skipped: scales of 1 cost one evaluation."""
    if has_text and has_image:
        terms = [(1 - cfg_image, False, False), (cfg_image - cfg_text, False, True), (cfg_text, True, True)]
    elif has_text:
        terms = [(1 - cfg_text, False, False), (cfg_text, True, False)]
    elif has_image:
        terms = [(1 - cfg_image, False, False), (cfg_image, False, True)]
    else:
        terms = [(1.0, False, False)]
    return [term for term in terms if term[0] != 0]


@torch.no_grad()
def sample(model, num_samples: int, steps: int = 50, method: str = "heun", text: dict | None = None,
           cond: dict | None = None, cfg_text: float = 1.0, cfg_image: float = 1.0, seed: int = 0,
           generator: torch.Generator | None = None, init: Tensor | None = None, t_start: float = 1.0,
           known_shape: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Generate (maps (N, 14, R, R), shape (N, S)) in the model's normalized space, from t = t_start to 0 in
    `steps` uniform steps. text / cond: batched like the model's inputs (N rows), None = unconditional. Heun
    makes two model evaluations per step except the last (to t = 0, Euler, as EDM). Deterministic for a given
    seed (or generator); texels outside the chart are zero.
    init (N, 14, R, R) with t_start < 1: SDEdit, start from init noised to t_start (strength = t_start).
    known_shape (N, S): the body shape is given (a fitted photo, an avatar being edited): it is held on its
    path point (1 - t) shape + t noise at every step, so the maps are generated for that body."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not 0 < t_start <= 1:
        raise ValueError(f"t_start (strength) must lie in (0, 1], got {t_start}")
    if t_start < 1 and init is None:
        raise ValueError("t_start < 1 starts from an existing avatar: give init")
    device = next(model.parameters()).device
    generator = generator if generator is not None else torch.Generator().manual_seed(seed)
    R, C, S = model.input_size, model.in_channels, model.shape_dim
    x = _randn((num_samples, C, R, R), generator, device)
    s = _randn((num_samples, S), generator, device)
    s_noise = s.clone()
    if init is not None:
        x = interpolate(init.to(device, x.dtype), x, torch.full((num_samples,), float(t_start), device=device))
    if known_shape is not None:
        known_shape = known_shape.to(device, s.dtype).reshape(num_samples, S)
        s = (1 - t_start) * known_shape + t_start * s_noise

    text, cond = _to(text_dict(text), device), _to(cond, device)
    terms = guidance_terms(text is not None, cond is not None, cfg_text, cfg_image)
    # The null condition in the same tensor shapes, so that all branches run as one batch.
    null_text = None if text is None else _mask_text(text, torch.zeros(num_samples, dtype=torch.bool, device=device))
    null_cond = None if cond is None else {k: torch.zeros_like(v) for k, v in cond.items()}
    n = len(terms)
    text_all = _cat([text if use_t else null_text for _, use_t, _ in terms])
    cond_all = _cat([cond if use_i else null_cond for _, _, use_i in terms])
    weights = torch.tensor([w for w, _, _ in terms], device=device)

    def velocity(x: Tensor, s: Tensor, t: float) -> tuple[Tensor, Tensor]:
        tt = torch.full((n * num_samples,), t, device=device)
        v, vs = model(x.repeat(n, 1, 1, 1), s.repeat(n, 1), tt, text=text_all, cond=cond_all)
        # Guidance as one matmul over the n branches: a single pass over the maps (the loop's own passes are the
        # same work for every backend and, for small models, a fifth of a step).
        v = (weights.to(v.dtype) @ v.reshape(n, -1)).reshape(num_samples, *v.shape[1:])
        vs = (weights.to(vs.dtype) @ vs.reshape(n, -1)).reshape(num_samples, -1)
        return v, vs

    was_training = model.training
    model.eval()
    ts = torch.linspace(t_start, 0, steps + 1).tolist()
    for t, t_next in zip(ts[:-1], ts[1:]):
        dt = t_next - t
        v, vs = velocity(x, s, t)
        x_next, s_next = torch.add(x, v, alpha=dt), torch.add(s, vs, alpha=dt)
        if known_shape is not None:
            s_next = (1 - t_next) * known_shape + t_next * s_noise
        if method == "heun" and t_next > 0:
            v2, vs2 = velocity(x_next, s_next, t_next)
            x_next, s_next = torch.add(x, v.add_(v2), alpha=dt / 2), torch.add(s, vs.add_(vs2), alpha=dt / 2)
            if known_shape is not None:
                s_next = (1 - t_next) * known_shape + t_next * s_noise
        x, s = x_next, s_next
    model.train(was_training)
    return x * model.chart.to(x.dtype), s


__all__ = ["FlowConfig", "FlowLoss", "METHODS", "MODES", "drop_conditions", "guidance_terms", "interpolate",
           "sample", "sample_timesteps", "training_loss"]
