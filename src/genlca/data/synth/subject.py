"""A synthetic subject: body shape (plausible adult Anny phenotypes), outfit, and its caption."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from genlca.body.protocol import BodyModel
from genlca.data.synth.clothing import ClothingSpec, sample_clothing
from genlca.data.synth.vocab import GARMENT_WORDS, GENDER_WORDS, HEIGHT_WORDS, PATTERN_WORDS

# Anny phenotype ranges for adults (gender 0 male .. 1 female; age 2/3 young adult .. 1 old).
SHAPE_RANGES: dict[str, tuple[float, float]] = {
    "gender": (0.0, 1.0),
    "age": (0.55, 0.9),
    "muscle": (0.3, 0.7),
    "weight": (0.3, 0.7),
    "height": (0.2, 0.85),
    "proportions": (0.35, 0.65),
}


@dataclass
class Subject:
    shape: Tensor  # (S,) body-model shape parameters
    shape_labels: dict[str, float]
    clothing: ClothingSpec
    caption: str


def sample_shape(rng: np.random.Generator, body: BodyModel) -> tuple[Tensor, dict[str, float]]:
    """Anny: each phenotype uniform in its adult range (gender pushed towards the ends).
    Other models (SMPL-X betas): small Gaussian coefficients."""
    labels = tuple(body.shape_labels)
    if set(labels) == set(SHAPE_RANGES):
        values = {}
        for name in labels:
            lo, hi = SHAPE_RANGES[name]
            u = float(rng.uniform())
            if name == "gender":
                u = float(np.clip(rng.choice([0.1, 0.9]) + rng.normal(0, 0.12), 0, 1))
            values[name] = round(lo + (hi - lo) * u, 4)
        return torch.tensor([values[n] for n in labels], dtype=torch.float32), values
    betas = np.round(rng.normal(0, 0.8, len(labels)), 4)
    return torch.tensor(betas, dtype=torch.float32), dict(zip(labels, map(float, betas)))


def _word(table, value: float) -> str:
    return next(w for limit, w in table if value < limit)


def _garment_phrase(color: str, pattern: str, color2: str | None, noun: str) -> str:
    if pattern == "solid" or not color2:
        return f"{color} {noun}"
    return f"{color} and {color2} {PATTERN_WORDS[pattern]} {noun}"


def caption(clothing: ClothingSpec, shape_labels: dict[str, float]) -> str:
    """e.g. 'a tall woman with long blonde hair and fair skin in a red and white striped t-shirt,
    dark blue trousers and white shoes'. Every colour of the spec is named."""
    who = _word(GENDER_WORDS, shape_labels["gender"]) if "gender" in shape_labels else "person"
    height = _word(HEIGHT_WORDS, shape_labels["height"]) if "height" in shape_labels else ""
    c = clothing
    top = _garment_phrase(c.top.color, c.top.pattern, c.top.color2, GARMENT_WORDS[c.top.style])
    bottom = _garment_phrase(c.bottom.color, c.bottom.pattern, c.bottom.color2, GARMENT_WORDS[c.bottom.style])
    subject = " ".join(w for w in (height, who) if w)
    article = "an" if subject[0] in "aeiou" else "a"
    return (f"{article} {subject} with {c.hair.style} {c.hair.color} hair and {c.skin.color} skin "
            f"in a {top}, {bottom} and {c.shoes.color} shoes")


def sample_subject(rng: np.random.Generator, body: BodyModel) -> Subject:
    shape, labels = sample_shape(rng, body)
    clothing = sample_clothing(rng)
    return Subject(shape, labels, clothing, caption(clothing, labels))

