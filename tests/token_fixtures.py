"""A small token dataset of random avatars on Anny's UV layout, for tests that train (not a quality benchmark)."""

from __future__ import annotations

from pathlib import Path


def random_token_dataset(base: Path, videos: int = 4, resolution: int = 16, seed: int = 0) -> Path:
    """BASE/tokens/d/vid_*.safetensors (random maps, ~70% of the chart seen, caption "a person") and
    BASE/token_dataset built from them. Returns the dataset folder."""
    import torch

    from genlca.body import load_body_model
    from genlca.body.uv_layout import uv_layout
    from genlca.tokenizer.dataset import build_token_dataset
    from genlca.tokenizer.tokens import AvatarTokens, save_tokens

    r = resolution
    body = load_body_model()
    chart = uv_layout(body, r).mask
    g = torch.Generator().manual_seed(seed)
    for i in range(videos):
        seen = (torch.rand(r, r, generator=g) > 0.3) & chart
        save_tokens(AvatarTokens(maps=torch.rand(14, r, r, generator=g) * chart, visibility=seen.float(),
                                 count=seen.int(), shape=torch.rand(body.default_shape().numel(), generator=g),
                                 body_model=body.name, meta={"caption": "a person"}),
                    base / "tokens" / "d" / f"vid_{i}.safetensors")
    build_token_dataset({"d": base / "tokens" / "d"}, base / "token_dataset", chart=lambda *_: chart)
    return base / "token_dataset"
