"""Named vocabularies of the synthetic subjects: colours, skin tones, hair, garments, patterns,
framings. Public constants: the captioner and the text-fidelity evaluation reuse them, so a
name here is the word a caption uses. Colours are linear-ish sRGB in [0, 1] (albedo)."""

from __future__ import annotations

# Garment colours (tops, bottoms, shoes, pattern second colours).
COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.78, 0.10, 0.12),
    "dark blue": (0.10, 0.15, 0.38),
    "blue": (0.15, 0.35, 0.78),
    "light blue": (0.55, 0.74, 0.92),
    "black": (0.07, 0.07, 0.08),
    "white": (0.92, 0.92, 0.90),
    "grey": (0.50, 0.50, 0.50),
    "green": (0.15, 0.52, 0.24),
    "yellow": (0.95, 0.82, 0.15),
    "orange": (0.95, 0.48, 0.10),
    "purple": (0.44, 0.20, 0.58),
    "pink": (0.95, 0.56, 0.70),
    "brown": (0.42, 0.26, 0.14),
    "beige": (0.84, 0.75, 0.58),
}
TOP_COLORS: tuple[str, ...] = tuple(COLORS)
BOTTOM_COLORS: tuple[str, ...] = ("dark blue", "blue", "light blue", "black", "grey", "beige", "brown", "green",
                                  "white", "red")
SHOE_COLORS: tuple[str, ...] = ("black", "white", "brown", "grey", "dark blue", "red", "beige")

SKIN_TONES: dict[str, tuple[float, float, float]] = {
    "pale": (0.96, 0.84, 0.76),
    "fair": (0.93, 0.76, 0.64),
    "medium": (0.80, 0.60, 0.45),
    "olive": (0.70, 0.53, 0.36),
    "brown": (0.53, 0.36, 0.23),
    "dark": (0.33, 0.21, 0.13),
}
HAIR_COLORS: dict[str, tuple[float, float, float]] = {
    "black": (0.05, 0.045, 0.045),
    "dark brown": (0.20, 0.13, 0.08),
    "brown": (0.38, 0.24, 0.13),
    "blonde": (0.84, 0.70, 0.42),
    "red": (0.58, 0.22, 0.09),
    "grey": (0.58, 0.58, 0.57),
    "white": (0.86, 0.86, 0.84),
}
EYE_COLOR = (0.12, 0.08, 0.06)

PATTERNS: tuple[str, ...] = ("solid", "stripes", "checks")
PATTERN_WORDS: dict[str, str] = {"solid": "", "stripes": "striped", "checks": "checked"}
HAIR_STYLES: tuple[str, ...] = ("short", "long")
SLEEVES: tuple[str, ...] = ("short", "long")
LEGWEAR: tuple[str, ...] = ("trousers", "shorts")
GARMENT_WORDS: dict[str, str] = {"short": "t-shirt", "long": "long-sleeved top", "trousers": "trousers",
                                 "shorts": "shorts", "shoes": "shoes"}

# Garment regions of the UV map (a partition of the in-chart texels).
REGIONS: tuple[str, ...] = ("skin", "hair", "top", "bottom", "shoes")

# Shape words from Anny phenotypes (gender 0 = male, 1 = female; height in [0, 1]).
HEIGHT_WORDS: tuple[tuple[float, str], ...] = ((0.35, "short"), (0.65, ""), (1.01, "tall"))
GENDER_WORDS: tuple[tuple[float, str], ...] = ((0.3, "man"), (0.7, "person"), (1.01, "woman"))

# Camera framings, as real footage. Whole-body framings show every COCO keypoint.
FRAMINGS: tuple[str, ...] = ("full", "upper", "lower", "back", "side", "crop")
REGIMES: tuple[str, ...] = ("mixed", "full", "partial")
