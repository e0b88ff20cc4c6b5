"""Avatars from a trained GenLCA checkpoint: from text, completed from a partial avatar (a photo's tokens), or
edited region by region. One loaded model serves many requests.

    gen = AvatarGenerator("data/models/genlca")
    [a] = gen.from_text(["a woman in a red striped t-shirt and black trousers"], seed=0)
    [b] = gen.complete([photo_tokens], ["a woman in a red t-shirt"])       # image-to-avatar
    c = gen.edit(a, "upper_body", "a woman in a green t-shirt", strength=1.0)
    save_avatar(c, "edited.ply")

Completion and editing use the model's image-condition channels: the known texels (a photo's observed ones,
or everything outside the edited region) are the condition, the model generates the rest, and the known texels
are then put back (every texel the photo saw, or blended by its visibility confidence; exactly, outside an edited
region). The body shape is known in both cases and held on its flow path while sampling (flow.sample's
`known_shape`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from genlca.tokenizer.tokens import AvatarTokens


KEEP = ("seen", "confidence")  # what `complete` keeps of the partial avatar


@dataclass
class SamplerOptions:
    steps: int = 30
    method: str = "heun"
    cfg_text: float = 3.0  # classifier-free guidance of the prompt
    cfg_image: float = 1.0  # of the image / kept-region condition (1: the plain conditional model)
    seed: int = 0
    batch: int = 8  # avatars sampled per model call (memory)

    def info(self) -> dict:
        return {"seed": self.seed, "steps": self.steps, "method": self.method, "cfg_text": self.cfg_text,
                "cfg_image": self.cfg_image}


@dataclass
class AvatarGenerator:
    checkpoint: str | os.PathLike
    device: str = "cpu"
    text_encoder: object | None = None
    backend: str = "torch"  # torch | onnx | tensorrt: the denoiser exported (genlca.export), same sampling loop

    def __post_init__(self):
        from genlca.diffusion.train import load_checkpoint

        self.model, self.normalizer, self.meta = load_checkpoint(self.checkpoint, self.device)
        if self.backend != "torch":
            from genlca.export import runtime_for_checkpoint

            self.model = runtime_for_checkpoint(self.checkpoint, self.backend, self.device)
        self.body_model = self.meta.get("body_model", "anny")

    @property
    def resolution(self) -> int:
        return int(self.model.input_size)

    @property
    def chart(self) -> Tensor:
        return self.model.chart.cpu().bool()

    @property
    def has_text(self) -> bool:
        return bool(self.meta.get("text_model"))

    def _text(self, prompts: list[str]):
        if not any(prompts):
            return None
        if not self.has_text:
            raise ValueError(f"{self.checkpoint}: trained without text conditioning; generate without --text")
        if self.text_encoder is None:
            from genlca.diffusion.text import TextEncoder

            self.text_encoder = TextEncoder()
        return self.text_encoder.encode(list(prompts))

    def _check(self, tokens: AvatarTokens, what: str) -> None:
        if tokens.body_model != self.body_model:
            raise ValueError(f"{what}: an avatar of body model {tokens.body_model!r}, the checkpoint's is "
                             f"{self.body_model!r}")
        if tokens.maps.shape[-1] != self.resolution:
            raise ValueError(f"{what}: UV resolution {tokens.maps.shape[-1]}, the checkpoint's is {self.resolution}")

    @torch.no_grad()
    def _sample(self, prompts: list[str], opts: SamplerOptions, cond: dict | None = None,
                known_shape: Tensor | None = None, init: Tensor | None = None, t_start: float = 1.0,
                progress: bool = False):
        """(maps (N, 14, R, R) normalized, shape (N, S)), opts.batch avatars per call; the chunk from prompt
        `lo` on is seeded seed + lo: the same prompts, seed and batch give the same avatars."""
        from tqdm import tqdm

        from genlca.diffusion.flow import sample

        maps, shapes = [], []
        for lo in tqdm(range(0, len(prompts), opts.batch), desc="generate", disable=not progress):
            hi = min(len(prompts), lo + opts.batch)
            part = lambda d: None if d is None else {k: v[lo:hi] for k, v in d.items()}  # noqa: E731
            m, s = sample(self.model, hi - lo, steps=opts.steps, method=opts.method,
                          text=self._text(prompts[lo:hi]), cond=part(cond), cfg_text=opts.cfg_text,
                          cfg_image=opts.cfg_image, seed=opts.seed + lo,
                          init=None if init is None else init[lo:hi], t_start=t_start,
                          known_shape=None if known_shape is None else known_shape[lo:hi])
            maps.append(m.cpu())
            shapes.append(s.cpu())
        return torch.cat(maps), torch.cat(shapes)

    def _tokens(self, maps: Tensor, shape: Tensor, info: dict) -> list[AvatarTokens]:
        from genlca.diffusion.train import to_avatar_tokens

        info = {"source": "genlca generate", "checkpoint": str(self.meta.get("weights_sha256", ""))[:16], **info}
        return to_avatar_tokens(maps, shape, self.model, self.normalizer, self.body_model, info)

    def from_text(self, prompts: list[str], opts: SamplerOptions = SamplerOptions(),
                  progress: bool = False) -> list[AvatarTokens]:
        """One avatar per prompt ('' = unconditional); `progress`: a bar over the model calls."""
        maps, shape = self._sample(list(prompts), opts, progress=progress)
        out = self._tokens(maps, shape, opts.info())
        for t, p in zip(out, prompts):
            t.meta["caption"] = p
        return out

    def _condition(self, tokens: list[AvatarTokens], keep: Tensor) -> dict:
        """The image condition: normalized maps and their weight `keep` (N, R, R) in [0, 1]."""
        maps = torch.stack([t.maps.float() for t in tokens])
        return {"maps": self.normalizer.normalize(maps) * self.chart, "visibility": keep * self.chart}

    def complete(self, partial: list[AvatarTokens], prompts: list[str] | None = None,
                 opts: SamplerOptions = SamplerOptions(), keep: str = "seen") -> list[AvatarTokens]:
        """Whole avatars from partial ones (a photo's or a video's tokens): the unobserved texels generated.
        keep="seen": every texel the photo saw keeps the photo's value; "confidence": blended with the
        generation by the tokenizer's visibility confidence (low at grazing views)."""
        if keep not in KEEP:
            raise ValueError(f"keep must be one of {KEEP}, got {keep!r}")
        for i, t in enumerate(partial):
            self._check(t, f"partial avatar {i}")
        prompts = list(prompts) if prompts is not None else [""] * len(partial)
        seen = torch.stack([(t.count > 0) & self.chart for t in partial])
        vis = torch.stack([t.visibility.float().clamp(0, 1) for t in partial]) * seen
        shape = torch.stack([t.shape.float().reshape(-1) for t in partial])
        # The condition's visibility channel as the checkpoint was trained with it.
        cond_vis = seen.float() if self.meta.get("cond_visibility") == "binary" else vis
        maps, _ = self._sample(prompts, opts, cond=self._condition(partial, cond_vis), known_shape=shape)
        out = self._tokens(maps, shape, opts.info() | {"mode": "complete", "keep": keep})
        weight = seen.float() if keep == "seen" else vis
        for o, t, v, p in zip(out, partial, weight, prompts):
            o.maps = v * t.maps + (1 - v) * o.maps
            o.meta |= {"caption": p or t.meta.get("caption", ""), "observed_share": _share(v > 0, self.chart),
                       "source_meta": {k: t.meta[k] for k in ("source", "source_sha256", "tokenizer") if k in t.meta}}
        return out

    def edit(self, avatar: AvatarTokens, region: str, prompt: str, strength: float = 1.0,
             opts: SamplerOptions = SamplerOptions(), body=None) -> AvatarTokens:
        """`avatar` with `region` (generation.regions.EDIT_REGIONS) regenerated under `prompt`, the rest kept
        exactly. strength 1: the region from noise, conditioned on the rest; below 1: SDEdit, from the region's
        current content noised to t = strength (fewer steps: round(steps * strength))."""
        from genlca.body import body_model_named
        from genlca.body.uv_layout import uv_layout
        from genlca.generation.regions import region_mask

        self._check(avatar, "avatar")
        body = body or body_model_named(self.body_model)
        mask = region_mask(region, body, uv_layout(body, self.resolution), avatar.shape.float())
        keep = (self.chart & ~mask).float()[None]
        shape = avatar.shape.float().reshape(1, -1)
        init = self.normalizer.normalize(avatar.maps.float()[None]) * self.chart if strength < 1 else None
        steps = max(1, round(opts.steps * strength))
        run = SamplerOptions(**{**opts.__dict__, "steps": steps})
        maps, _ = self._sample([prompt], run, cond=self._condition([avatar], keep[0][None]), known_shape=shape,
                               init=init, t_start=strength)
        [out] = self._tokens(maps, shape, run.info() | {"mode": "edit", "region": region, "strength": strength})
        out.maps = torch.where(mask[None], out.maps, avatar.maps.float())
        out.meta |= {"caption": prompt, "edited_from": avatar.meta.get("caption", ""),
                     "region_share": _share(mask, self.chart)}
        return out


def _share(mask: Tensor, chart: Tensor) -> float:
    return round(float((mask & chart).sum() / chart.sum().clamp(min=1)), 4)


def load_avatar_tokens(path: str | os.PathLike) -> AvatarTokens:
    """An avatar to edit or animate: a token file, or a genlca .ply (its maps; fully 'observed')."""
    from genlca.render.ply import load_ply
    from genlca.tokenizer.tokens import load_tokens

    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        return load_tokens(path)
    _, avatar = load_ply(path)
    if avatar is None:
        raise ValueError(f"{path}: a plain 3D Gaussian splat file, not a genlca avatar (no UV maps to edit)")
    on = avatar.maps.abs().sum(0) > 0
    return AvatarTokens(maps=avatar.maps, visibility=on.float(), count=on.to(torch.int32), shape=avatar.shape,
                        body_model=avatar.body_model, meta={"source": str(path)})


def save_avatar(tokens: AvatarTokens, path: str | os.PathLike, body=None) -> Path:
    """.ply (3D Gaussian splats in the canonical pose, with the UV maps for genlca) or .safetensors (tokens)."""
    from genlca.tokenizer.tokens import save_tokens

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".safetensors":
        return save_tokens(tokens, path)
    if path.suffix.lower() != ".ply":
        raise ValueError(f"{path}: write an avatar as .ply or .safetensors")
    from genlca.avatar import to_gaussians
    from genlca.body import body_model_named
    from genlca.body.uv_layout import uv_layout
    from genlca.render.ply import save_ply

    body = body or body_model_named(tokens.body_model)
    layout = uv_layout(body, tokens.maps.shape[-1])
    avatar = tokens.avatar()
    return save_ply(path, to_gaussians(avatar, body, layout, canonical=True), avatar, layout.texels)


__all__ = ["KEEP", "AvatarGenerator", "SamplerOptions", "load_avatar_tokens", "save_avatar"]
