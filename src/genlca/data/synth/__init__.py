"""The synthetic "in-the-wild" video drop generator: the project's embedded default data set.

`generate_drop(out, videos, frames, size, regime, seed, ...)` writes DROP_DIR/videos/*.mp4 and
DROP_DIR/ground_truth/<name>/ (subject.json, maps.safetensors, frames.safetensors,
gt_avatar.ply), then DROP_DIR/_READY. Modules: `vocab` (named colours, garments, framings),
`clothing` (garment regions + albedo painting), `subject` (shape, outfit, caption), `motion`,
`cameras` (framings), `scenes` (backdrops, light, occluders), `visibility`, `writer`, `generator`.
"""

from genlca.data.synth.clothing import ClothingSpec, Garment, garment_regions, region_labels
from genlca.data.synth.generator import READY, generate_drop
from genlca.data.synth.subject import caption
from genlca.data.synth.vocab import (
    COLORS,
    FRAMINGS,
    GARMENT_WORDS,
    HAIR_COLORS,
    HAIR_STYLES,
    LEGWEAR,
    PATTERNS,
    REGIMES,
    REGIONS,
    SKIN_TONES,
    SLEEVES,
)
from genlca.data.synth.writer import load_ground_truth

__all__ = [
    "COLORS", "FRAMINGS", "GARMENT_WORDS", "HAIR_COLORS", "HAIR_STYLES", "LEGWEAR", "PATTERNS", "READY", "REGIMES",
    "REGIONS", "SKIN_TONES", "SLEEVES", "ClothingSpec", "Garment", "caption", "garment_regions", "generate_drop",
    "load_ground_truth", "region_labels",
]
