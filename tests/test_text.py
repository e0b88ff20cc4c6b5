"""Text conditioning: the wheel's MiniLM model offline, cached per caption."""

from __future__ import annotations

import pytest
import torch

from genlca.diffusion.text import EMBED_DIM, TextEncoder


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    return TextEncoder(cache_dir=tmp_path_factory.mktemp("text"))


def test_captions_embed_with_meaningful_similarity_and_padding(encoder):
    caps = ["a man in a red t-shirt and black trousers", "a man in a red shirt and dark trousers",
            "a woman with long blonde hair in a white striped long-sleeved top", ""]
    t = encoder.encode(caps)
    assert t.pooled.shape == (4, EMBED_DIM) and t.tokens.shape[0] == 4 and t.tokens.shape[2] == EMBED_DIM
    n = t.mask.sum(1)
    assert n[2] > n[0] > 0 and n[3] == 0  # the empty caption: no tokens, zeros (unconditional)
    assert torch.all(t.pooled[3] == 0) and torch.all(t.tokens[0, n[0]:] == 0)
    cos = torch.nn.functional.cosine_similarity
    assert cos(t.pooled[0], t.pooled[1], dim=0) > cos(t.pooled[0], t.pooled[2], dim=0) + 0.1


def test_cache_is_used_and_gives_the_same_embeddings(encoder, monkeypatch):
    first = encoder.encode(["a person in grey shorts"])
    assert any(encoder.cache_dir.rglob("*.safetensors"))
    monkeypatch.setattr(encoder, "_encode_new", lambda caps: pytest.fail(f"re-encoded {caps}"))
    again = encoder.encode(["a person in grey shorts", "a person in grey shorts"])
    assert torch.equal(again.pooled[0], first.pooled[0]) and torch.equal(again.tokens[1], first.tokens[0])


def test_a_bad_model_path_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        TextEncoder(model_path=tmp_path)
