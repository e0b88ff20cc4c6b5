"""Captions of avatar tokens: named colours (and patterns) of each garment region, garment styles
and shape words, from what the tokens saw.

    cap = caption_tokens(tokens, body, layout)   # {'caption', 'regions', 'styles', 'height_m', 'words', 'light'}
    correct, scored = caption_accuracy(cap["regions"], subject)   # against a synthetic subject.json

Regions come from the body's UV part labels and template geometry, never from ground truth:
only texels that belong to a region whatever the garment styles are used (torso above the waist
= top, thighs = bottom, ...), away from region borders, and only where the tokens saw them well; a
region seen on too few texels gets no colour word. A region's colour is the median of those texels
(means, trimmed means or other visibility thresholds did no better). Colours are named in CIE Lab
with a lighting model (`Lighting`): token colours are the albedo times a gain that varies from
video to video (the de-lit albedo's scale is only fixed up to the light fit), so one gain is chosen
for the whole video jointly with the names; a pattern's two colours are named as a pair, each with
some of the other bled into it. The profile follows how the tokens were made (`lighting_for`):
DELIT for the de-lit unprojection alone, ALBEDO for a refiner's tokens.

Measured with true fits on 20 held-out synthetic videos (drops seed 9, mixed, and seed 5; tokens without a
refiner, DELIT), since the frames are un-mixed from their background (`tokenizer.unproject`): 94.1% of
colour words right (95/101; skin 17/20, hair 14/16, garments 64/65); on drops seed 6 and 10, which chose
the profile, 94.3% (99/105). Before the un-mixing: 88.1% (89/101; skin tones 60-70%: a dark wall or a
bright one shifted their lightness, which is most of what tells them apart). The earlier light
(first-order harmonics fitted per texel as the body turns, and its profile): 90.1% (91/101).
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree
from skimage.color import rgb2lab
from torch import Tensor

from genlca.avatar import CHANNELS
from genlca.body.protocol import BodyModel
from genlca.body.uv_layout import UVLayout
from genlca.data.synth.clothing import TemplateGeometry, garment_regions, template_geometry
from genlca.data.synth.vocab import (
    COLORS,
    GARMENT_WORDS,
    GENDER_WORDS,
    HAIR_COLORS,
    HEIGHT_WORDS,
    PATTERN_WORDS,
    REGIONS,
    SKIN_TONES,
)

MARGIN_M = 0.025  # texels this close to another region are left out (seams bleed, fits are off)
MIN_TEXELS = 40  # well-seen texels a region needs for a colour word
MIN_VISIBILITY = 0.8  # token visibility of a well-seen texel (about two head-on views)
VOCABS: dict[str, dict[str, tuple[float, float, float]]] = {
    "skin": SKIN_TONES, "hair": HAIR_COLORS, "top": COLORS, "bottom": COLORS, "shoes": COLORS}
PATTERNED = ("top", "bottom")  # regions whose garments can be striped or checked


# ----------------------------------------------------------------------------- regions
def _flat(layout: UVLayout, m: Tensor) -> Tensor:
    return m.flatten()[layout.texels]


def _erode(anchors: Tensor, keep: Tensor, margin: float) -> Tensor:
    """keep & (farther than `margin` from every texel outside keep), on template anchors (N, 3)."""
    if margin <= 0 or keep.all() or not keep.any():
        return keep
    points = anchors.double().numpy()
    dist, _ = cKDTree(points[~keep.numpy()]).query(points[keep.numpy()], distance_upper_bound=margin)
    out = keep.clone()
    out[keep] = torch.from_numpy(~np.isfinite(dist))
    return out


def sure_regions(body: BodyModel, layout: UVLayout, shape: Tensor | None = None, margin: float = MARGIN_M,
                 geometry: TemplateGeometry | None = None) -> dict[str, Tensor]:
    """(N,) bool per zone, in layout.texels order: texels in a region whatever the garment styles,
    eroded by `margin` metres: skin (face, hands), hair (scalp above the short hairline), top (torso
    above the waist, upper arms), bottom (hips, thighs), shoes; and the zones a style decides:
    sleeve (forearms), leg (shins, ankles), long_hair (nape, upper back)."""
    g = geometry or template_geometry(body, layout, shape)

    def styled(**kw) -> dict[str, Tensor]:
        return {k: _flat(layout, v) for k, v in garment_regions(body, layout, geometry=g, **kw).items()}

    short = styled(sleeves="short", legwear="shorts", hair="short")
    long_ = styled(sleeves="long", legwear="trousers", hair="long")
    zones = {"skin": long_["skin"], "hair": short["hair"], "top": short["top"] & ~long_["hair"],
             "bottom": short["bottom"], "shoes": short["shoes"], "sleeve": long_["top"] & ~short["top"],
             "leg": long_["bottom"] & ~short["bottom"], "long_hair": long_["hair"] & ~short["hair"]}
    return {k: _erode(g.anchors, v, margin) for k, v in zones.items()}


# ----------------------------------------------------------------------------- colour naming
@dataclass(frozen=True)
class Lighting:
    """How token colours relate to albedo: token = gain * exp(bias[region] + d) * albedo + offset,
    log(gain) ~ N(log(gain), gain_sigma) once per video, d ~ N(0, region_sigma) per colour."""

    name: str
    gain: float = 1.0
    gain_sigma: float = 0.1
    offset: float = 0.0
    bias: tuple[tuple[str, float], ...] = ()  # per-region log gain
    region_offset: tuple[tuple[str, float], ...] = ()  # per-region offset, where not `offset`
    region_sigma: float = 0.05
    color_sigma: float = 6.0  # Lab units

    def region_bias(self, region: str) -> float:
        return dict(self.bias).get(region, 0.0)

    def offset_of(self, region: str) -> float:
        return dict(self.region_offset).get(region, self.offset)


# Refined tokens: the refiner learnt the true albedo (its colours are noisy, not biased).
ALBEDO = Lighting("albedo", gain_sigma=0.15, region_sigma=0.1, color_sigma=10.0)
# The de-lit unprojection (`tokenizer.delight`, true fits on synthetic drops): about 0.9 of the albedo
# (median token/albedo ratio 0.87-0.91 over 24 videos), the scale varying from video to video, plus a little
# grey (seams, chroma bleeding; more on hair, whose strands are noisy). Gain and skin bias chosen on drops
# seed 6 and 10 (20 videos; the landscape is flat: 91-92% of words for gains 0.66-1.0).
DELIT = Lighting("delit", gain=0.9, gain_sigma=0.3, offset=0.06, region_offset=(("hair", 0.1),), region_sigma=0.08,
                 color_sigma=4.0)


def lighting_for(tokenizer: str | None) -> Lighting:
    """The profile for tokens made by `tokenizer` (tokens.meta["tokenizer"]: "unprojection", or
    the refiner's name): DELIT for the unprojection alone (also when none is named), else ALBEDO."""
    return DELIT if tokenizer in (None, "", "unprojection") else ALBEDO


GAINS = np.exp(np.linspace(np.log(0.15), np.log(1.5), 48))
DEVIATIONS = np.linspace(-2.5, 2.5, 11)  # per-colour deviations, in units of region_sigma
MIXES = np.array([0.0, 0.1, 0.2, 0.3])  # share of a pattern's other colour bled into each measured colour


def to_lab(rgb) -> np.ndarray:
    """(..., 3) colours in [0, 1] -> CIE Lab (D65)."""
    x = np.clip(np.asarray(rgb, dtype=np.float64), 0.0, 1.0)
    return rgb2lab(x.reshape(-1, 1, 3)).reshape(x.shape)


def nearest_color(rgb, vocab: dict[str, tuple[float, float, float]]) -> str:
    """The name of the vocabulary colour nearest to `rgb` in CIE Lab (no lighting model)."""
    d = np.linalg.norm(to_lab(list(vocab.values())) - to_lab(rgb), axis=-1)
    return list(vocab)[int(np.argmin(d))]


@functools.lru_cache(maxsize=64)
def _predicted_lab(region: str, scale_log: float, region_sigma: float, offset: float) -> np.ndarray:
    """(G, D, K, 3) Lab of region's vocabulary colours k under gain GAINS[g] and deviation D[d]."""
    ref = np.asarray(list(VOCABS[region].values()))  # (K, 3)
    scale = GAINS[:, None] * np.exp(scale_log + DEVIATIONS * region_sigma)[None]  # (G, D)
    return to_lab(scale[..., None, None] * ref + offset)


def _color_costs(rgb, region: str, light: Lighting) -> np.ndarray:
    """(G, K) cost of naming a measured colour (3,) of `region` with vocabulary colour k if the
    video's gain is GAINS[g]: squared Lab distance / color_sigma² plus the prior of the best deviation."""
    pred = _predicted_lab(region, light.region_bias(region), light.region_sigma, light.offset_of(region))
    d2 = ((pred - to_lab(rgb)) ** 2).sum(-1)
    return (d2 / light.color_sigma ** 2 + (DEVIATIONS ** 2)[None, :, None]).min(axis=1)


@functools.lru_cache(maxsize=16)
def _predicted_pair_lab(region: str, scale_log: float, region_sigma: float, offset: float) -> np.ndarray:
    """(G, D, A, K, K, 3) Lab of colour k1 with the share MIXES[a] of colour k2 bled into it."""
    ref = np.asarray(list(VOCABS[region].values()))  # (K, 3)
    mix = (1 - MIXES)[:, None, None, None] * ref[None, :, None] + MIXES[:, None, None, None] * ref[None, None, :]
    scale = GAINS[:, None] * np.exp(scale_log + DEVIATIONS * region_sigma)[None]  # (G, D)
    return to_lab(scale[:, :, None, None, None, None] * mix + offset)


def _pair_costs(colors, region: str, light: Lighting) -> np.ndarray:
    """(G, K, K) cost of naming a pattern's two measured colours k1 and k2: each is measured
    with some of the other bled into it (stripes are a few pixels wide, video chroma is coarse)."""
    pred = _predicted_pair_lab(region, light.region_bias(region), light.region_sigma, light.offset_of(region))
    d1 = ((pred - to_lab(colors[0])) ** 2).sum(-1)  # (G, D, A, K1, K2)
    d2 = ((pred - to_lab(colors[1])) ** 2).sum(-1).swapaxes(-1, -2)  # colour 2 is k2 with k1 bled in
    cost = (d1 + d2) / light.color_sigma ** 2 + (DEVIATIONS ** 2)[None, :, None, None, None]
    return cost.min(axis=(1, 2))


def name_colors(measured: dict[str, list], light: Lighting = DELIT) -> dict[str, list[str]]:
    """Names of the measured colours of each region ({region: [rgb, ...]}: one colour, or two for
    a pattern), chosen jointly with one gain for the whole video (the most probable one)."""
    total = ((np.log(GAINS) - np.log(light.gain)) / light.gain_sigma) ** 2
    costs = {}
    for region, colors in measured.items():
        cost = _pair_costs(colors, region, light) if len(colors) == 2 else _color_costs(colors[0], region, light)
        costs[region] = cost.reshape(len(GAINS), -1)
        total = total + costs[region].min(axis=1)
    g = int(np.argmin(total))
    names = {}
    for region, cost in costs.items():
        vocab = list(VOCABS[region])
        best = int(np.argmin(cost[g]))
        pair = cost.shape[1] > len(vocab)  # (K * K) costs of a pattern's two colours
        names[region] = [vocab[i] for i in divmod(best, len(vocab))] if pair else [vocab[best]]
    return names


# ----------------------------------------------------------------------------- patterns
PATTERN_RADIUS_M = 0.06  # local mean: wider than a stripe, narrower than shading changes
PATTERN_MIN_CONTRAST = 6.0  # Lab units between the 10th and 90th percentile of the pattern signal
PATTERN_MIN_BANDS = 0.4  # share of the pattern signal explained by height bins: stripes and checks
CHECKS_MIN_CROSS = 0.25  # share of what height leaves that bands round the body explain: checks
PATTERN_PURE = 10  # percentile of the pattern signal beyond which a texel shows one colour unmixed


def pattern_residuals(lab: np.ndarray, anchors: np.ndarray, radius: float = PATTERN_RADIUS_M) -> np.ndarray:
    """(M, 3) Lab colours minus their mean within `radius` metres on the template: what is left
    is pattern (stripes, checks) and noise; shading varies too slowly to leave much."""
    a = torch.from_numpy(np.asarray(anchors, dtype=np.float32))
    w = (torch.cdist(a, a) < radius).double()
    local = (w @ torch.from_numpy(lab)) / w.sum(1, keepdim=True)
    return lab - local.numpy()


def _bin_means(values: np.ndarray, coord: np.ndarray, bin_m: float = 0.01) -> np.ndarray:
    _, inv, n = np.unique(np.floor(coord / bin_m).astype(np.int64), return_inverse=True, return_counts=True)
    return (np.bincount(inv, weights=values) / n)[inv]


def _explained(values: np.ndarray, coord: np.ndarray) -> float:
    """Share of the variance of `values` explained by 1 cm bins of `coord` (metres)."""
    total = ((values - values.mean()) ** 2).sum()
    return float(1 - ((values - _bin_means(values, coord)) ** 2).sum() / max(total, 1e-12))


def measure_region(rgb: np.ndarray, anchors: np.ndarray, patterned: bool = True) -> tuple[str, list[np.ndarray]]:
    """(pattern, colours) of a region from its seen texels' colours (M, 3) and template anchors
    (M, 3). Stripes and checks run in template space (`genlca.data.synth.clothing`): their signal
    is organised in height bands (stripes: only; checks: also in bands round the body)."""
    median = np.median(rgb, axis=0)
    if not patterned or len(rgb) < 2 * MIN_TEXELS:
        return "solid", [median]
    res = pattern_residuals(to_lab(rgb), anchors)
    axis = np.linalg.svd(res - res.mean(0), full_matrices=False)[2][0]
    signal = res @ axis
    lo, hi = np.percentile(signal, [10, 90])
    z, around = anchors[:, 2], anchors[:, 0] + anchors[:, 1]
    if hi - lo < PATTERN_MIN_CONTRAST or _explained(signal, z) < PATTERN_MIN_BANDS:
        return "solid", [median]
    cross = _explained(signal - _bin_means(signal, z), around)
    q1, q3 = np.percentile(signal, [PATTERN_PURE, 100 - PATTERN_PURE])
    colors = [np.median(rgb[signal <= q1], axis=0), np.median(rgb[signal >= q3], axis=0)]
    return ("checks" if cross >= CHECKS_MIN_CROSS else "stripes"), colors


# ----------------------------------------------------------------------------- styles and shape
def _style(zone: np.ndarray, same: list[np.ndarray], other: list[np.ndarray]) -> bool | None:
    """Whether most texels of a style zone (M, 3) are nearer in Lab to the colours `same` (the
    garment would cover the zone) than to `other` (what is there otherwise); None if unknown."""
    if len(zone) < MIN_TEXELS // 2 or not same or not other:
        return None
    lab = to_lab(zone)
    dist = lambda cols: np.linalg.norm(lab[:, None] - to_lab(np.stack(cols))[None], axis=-1).min(1)  # noqa: E731
    return bool((dist(same) < dist(other)).mean() > 0.5)


def _word(table: tuple[tuple[float, str], ...], value: float) -> str:
    return next((w for limit, w in table if value < limit), table[-1][1])


SHORT_M, TALL_M = 1.60, 1.85  # height words from metres for body models without a height phenotype


@torch.no_grad()
def shape_words(body: BodyModel, shape: Tensor) -> dict:
    """Height of the template in metres and the words for it (Anny: its height and gender
    phenotypes, as the synthetic captions; other models: metres, 'person')."""
    verts = body.template(shape.reshape(1, -1).float())[0]
    height_m = float(verts[:, 2].max() - verts[:, 2].min())
    labels = dict(zip(body.shape_labels, (float(x) for x in shape.flatten())))
    if "height" in labels:
        height = _word(HEIGHT_WORDS, labels["height"])
    else:
        height = "short" if height_m < SHORT_M else "tall" if height_m >= TALL_M else ""
    who = _word(GENDER_WORDS, labels["gender"]) if "gender" in labels else "person"
    return {"height_m": round(height_m, 3), "height": height, "who": who}


# ----------------------------------------------------------------------------- captions
def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _phrase(region: dict, noun: str) -> str:
    if region.get("color2"):
        return f"{region['color']} and {region['color2']} {PATTERN_WORDS[region['pattern']]} {noun}"
    return f"{region['color']} {noun}"


def caption_text(regions: dict, styles: dict, words: dict) -> str:
    """'a tall woman with long blonde hair and fair skin in a red and white striped t-shirt, dark
    blue trousers and white shoes', leaving out what was not seen."""
    named = {r: v for r, v in regions.items() if v.get("color")}
    subject = " ".join(w for w in (words.get("height", ""), words.get("who", "person")) if w)
    text = f"{'an' if subject[0] in 'aeiou' else 'a'} {subject}"
    features = []
    if "hair" in named:
        features.append(" ".join(w for w in (styles.get("hair") or "", named["hair"]["color"], "hair") if w))
    if "skin" in named:
        features.append(f"{named['skin']['color']} skin")
    if features:
        text += " with " + " and ".join(features)
    worn = []
    if "top" in named:
        worn.append("a " + _phrase(named["top"], GARMENT_WORDS.get(styles.get("sleeves") or "", "top")))
    if "bottom" in named:
        worn.append(_phrase(named["bottom"], GARMENT_WORDS.get(styles.get("legwear") or "", "bottoms")))
    if "shoes" in named:
        worn.append(_phrase(named["shoes"], "shoes"))
    return text + (" in " + _join(worn) if worn else "")


def _styles(rgb: np.ndarray, take: dict[str, np.ndarray], measured: dict[str, list]) -> dict:
    """Sleeves, legwear and hair length from whether their zones look like the garment (or hair)."""
    got = lambda r: measured.get(r, [])  # noqa: E731
    sleeves = _style(rgb[take["sleeve"]], got("top"), got("skin"))
    legwear = _style(rgb[take["leg"]], got("bottom"), got("skin"))
    hair = _style(rgb[take["long_hair"]], got("hair"), got("skin") + got("top"))
    return {"sleeves": {True: "long", False: "short"}.get(sleeves),
            "legwear": {True: "trousers", False: "shorts"}.get(legwear),
            "hair": {True: "long", False: "short"}.get(hair)}


@torch.no_grad()
def caption_tokens(tokens, body: BodyModel, layout: UVLayout, light: Lighting | None = None,
                   min_texels: int = MIN_TEXELS) -> dict:
    """Caption of one video's tokens (`tokens.AvatarTokens`), colours named under `light` (None:
    `lighting_for` the tokens' meta["tokenizer"]):
    - regions: {region: {color, color2, pattern, seen_texels, used_texels, rgb}}: colours from the
      texels seen head-on enough (visibility >= MIN_VISIBILITY); color None where fewer than
      `min_texels` (no word, not scored);
    - styles: sleeves short/long, legwear trousers/shorts, hair short/long (None: not seen);
    - height_m, words (height, who), caption (`caption_text`), light (the profile's name)."""
    light = light or lighting_for(tokens.meta.get("tokenizer"))
    shape = tokens.shape.float()
    g = template_geometry(body, layout, shape)
    zones = sure_regions(body, layout, geometry=g)
    seen = _flat(layout, tokens.count > 0)
    # Grazing views mix in the background and neighbours: colours come from well-seen texels only.
    well = seen & _flat(layout, tokens.visibility >= MIN_VISIBILITY)
    rgb = tokens.maps[CHANNELS["rgb"]].reshape(3, -1)[:, layout.texels].T.double().numpy()
    anchors = g.anchors.double().numpy()
    take = {k: (well & m).numpy() for k, m in zones.items()}
    measured, regions = {}, {}
    for r in REGIONS:
        n = int(take[r].sum())
        regions[r] = {"color": None, "color2": None, "pattern": "solid", "seen_texels": int((seen & zones[r]).sum()),
                      "used_texels": n, "rgb": None}
        if n >= min_texels:
            pattern, colors = measure_region(rgb[take[r]], anchors[take[r]], r in PATTERNED)
            measured[r] = colors
            regions[r] |= {"pattern": pattern, "rgb": [[round(float(x), 4) for x in c] for c in colors]}
    for r, names in name_colors(measured, light).items():
        if len(names) == 2 and names[0] == names[1]:  # a pattern of one named colour reads as solid
            names, regions[r]["pattern"] = names[:1], "solid"
        regions[r] |= {"color": names[0], "color2": names[1] if len(names) > 1 else None}
    styles = _styles(rgb, take, measured)
    words = shape_words(body, shape)
    return {"caption": caption_text(regions, styles, words), "regions": regions, "styles": styles,
            "height_m": words.pop("height_m"), "words": words, "light": light.name}


# ----------------------------------------------------------------------------- accuracy
def caption_scores(measured: dict, subject: dict) -> dict[str, tuple[int, int]]:
    """{region: (correct, scored)} colour words of `measured` regions (caption_tokens' 'regions')
    against a synthetic subject (subject.json): only regions with a measured colour are scored;
    a pattern's two colours are matched in either order, and a colour too many or too few counts
    as a wrong word."""
    out = {}
    clothing = subject["clothing"]
    for r in REGIONS:
        m = measured.get(r) or {}
        if not m.get("color") or r not in clothing:
            continue
        truth = [clothing[r]["color"]] + ([clothing[r]["color2"]] if clothing[r].get("color2") else [])
        got = [m["color"]] + ([m["color2"]] if m.get("color2") else [])
        out[r] = (sum((Counter(truth) & Counter(got)).values()), max(len(truth), len(got)))
    return out


def caption_accuracy(measured: dict, subject: dict) -> tuple[int, int]:
    """(correct, scored) colour words over all regions (`caption_scores`)."""
    scores = caption_scores(measured, subject).values()
    return sum(c for c, _ in scores), sum(n for _, n in scores)


__all__ = ["ALBEDO", "DELIT", "Lighting", "VOCABS", "caption_accuracy", "caption_scores", "caption_text",
           "caption_tokens", "lighting_for", "measure_region", "name_colors", "nearest_color", "shape_words",
           "sure_regions", "to_lab"]
