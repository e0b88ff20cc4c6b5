"""Does an exported denoiser compute what the PyTorch model does? Two measures, both against the model itself:

  denoiser  max |difference| of the velocities over random inputs, at several batch sizes, with and without
            a caption and an image condition (the reference gets None where the graph gets its null tensors);
  sampler   PSNR of whole sampler outputs (flow.sample, same seed, classifier-free guidance on both
            conditions, so every call batches three guidance terms) between the two backends, Euler and Heun.

Inputs are random but in the ranges sampling produces: x and shape standard normal, t uniform in [0, 1] (down
to the model's t_min, where x-prediction divides by t), captions of 4..L tokens, partial image conditions.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genlca.diffusion.flow import sample


def psnr_db(reference: Tensor, other: Tensor, mask: Tensor | None = None) -> float:
    """PSNR (dB) of `other` against `reference` over the masked texels (mask (R, R) broadcast over the leading
    dimensions), with the reference's own range there as the peak; inf when they are equal."""
    from torchmetrics.functional.image import peak_signal_noise_ratio

    if mask is not None:
        reference, other = reference[..., mask.bool()], other[..., mask.bool()]
    peak = float(reference.max() - reference.min())
    return float(peak_signal_noise_ratio(other.double(), reference.double(), data_range=peak))  # inf when equal


def random_text(n: int, tokens: int, dim: int = 384, generator: torch.Generator | None = None) -> dict:
    """Caption-like embeddings: a unit pooled vector and 4..`tokens` token vectors per row (mask True on them)."""
    lengths = torch.randint(min(4, tokens), tokens + 1, (n,), generator=generator)
    mask = torch.arange(tokens)[None] < lengths[:, None]
    pooled = torch.nn.functional.normalize(torch.randn(n, dim, generator=generator), dim=1)
    return {"pooled": pooled, "tokens": torch.randn(n, tokens, dim, generator=generator) * mask[..., None],
            "mask": mask}


def random_cond(n: int, channels: int, resolution: int, chart: Tensor,
                generator: torch.Generator | None = None) -> dict:
    """A partial image condition: maps seen on a random half of the chart, visibility in (0, 1] there."""
    seen = (torch.rand(n, resolution, resolution, generator=generator) < 0.5) & chart.cpu().bool()
    vis = seen * (0.2 + 0.8 * torch.rand(n, resolution, resolution, generator=generator))
    return {"maps": torch.randn(n, channels, resolution, resolution, generator=generator) * seen[:, None],
            "visibility": vis}


def _to(d: dict | None, device) -> dict | None:
    return None if d is None else {k: v.to(device) for k, v in d.items()}


@torch.no_grad()
def denoiser_parity(reference, runtime, batch_sizes: tuple[int, ...] = (1, 2, 5), text_tokens: int = 24,
                    seed: int = 0) -> dict:
    """Max |velocity difference| per (batch size, caption or not, image or not); text_tokens: the length of the
    random captions (the runtime pads them to its own length)."""
    g = torch.Generator().manual_seed(seed)
    device = next(reference.parameters()).device
    R, C, S = reference.input_size, reference.in_channels, reference.shape_dim
    rows = []
    for B in batch_sizes:
        for use_text in (False, True):
            for use_cond in (False, True):
                x, s = torch.randn(B, C, R, R, generator=g), torch.randn(B, S, generator=g)
                t = torch.rand(B, generator=g)
                text = random_text(B, text_tokens, reference.config["text_dim"], g) if use_text else None
                cond = random_cond(B, C, R, reference.chart, g) if use_cond else None
                args = [a.to(device) for a in (x, s, t)]
                v_ref, vs_ref = reference(*args, text=_to(text, device), cond=_to(cond, device))
                v, vs = runtime(*args, text=_to(text, device), cond=_to(cond, device))
                rows.append({"batch": B, "text": use_text, "image": use_cond,
                             "max_abs": float((v.float() - v_ref).abs().max()),
                             "max_abs_shape": float((vs.float() - vs_ref).abs().max()),
                             "reference_max_abs": float(v_ref.abs().max())})
    worst = max(max(r["max_abs"], r["max_abs_shape"]) for r in rows)
    return {"max_abs": worst, "batch_sizes": list(batch_sizes), "cases": rows}


@torch.no_grad()
def sampler_parity(reference, runtime, num_samples: int = 2, steps: int = 10,
                   methods: tuple[str, ...] = ("euler", "heun"), cfg_text: float = 3.0, cfg_image: float = 2.0,
                   seed: int = 0, text_tokens: int = 24) -> dict:
    """PSNR (dB) of the runtime's samples against the reference's per method (same seed, same conditions)."""
    g = torch.Generator().manual_seed(seed + 1)
    R, C = reference.input_size, reference.in_channels
    text = random_text(num_samples, text_tokens, reference.config["text_dim"], g)
    cond = random_cond(num_samples, C, R, reference.chart, g)
    chart = reference.chart.cpu().bool()
    rows = []
    for method in methods:
        kw = dict(steps=steps, method=method, text=text, cond=cond, cfg_text=cfg_text, cfg_image=cfg_image, seed=seed)
        m_ref, s_ref = sample(reference, num_samples, **kw)
        m, s = sample(runtime, num_samples, **kw)
        rows.append({"method": method, "steps": steps, "psnr_db": psnr_db(m_ref.cpu(), m.cpu(), chart),
                     "shape_max_abs": float((s.cpu() - s_ref.cpu()).abs().max()),
                     "maps_max_abs": float((m.cpu() - m_ref.cpu()).abs().max())})
    return {"psnr_db": min(r["psnr_db"] for r in rows), "num_samples": num_samples, "cfg_text": cfg_text,
            "cfg_image": cfg_image, "seed": seed, "runs": rows}


__all__ = ["denoiser_parity", "psnr_db", "random_cond", "random_text", "sampler_parity"]
