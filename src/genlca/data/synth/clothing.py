"""Procedural clothing painted on the UV grid: garment regions (skin, hair, top, bottom, shoes)
from body parts plus template geometry, and colours/patterns from the named vocabularies.

Patterns are evaluated at each texel's anchor on the canonical template (metres, Z up), so
stripes run round the body like real ones instead of following the UV charts."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

from genlca.avatar import texel_frames
from genlca.body.protocol import COCO_KEYPOINTS, PART_NAMES, BodyModel
from genlca.body.uv_layout import UVLayout
from genlca.data.synth.vocab import (
    BOTTOM_COLORS,
    COLORS,
    EYE_COLOR,
    HAIR_COLORS,
    HAIR_STYLES,
    LEGWEAR,
    PATTERNS,
    REGIONS,
    SHOE_COLORS,
    SKIN_TONES,
    SLEEVES,
    TOP_COLORS,
)

_P = {p: i for i, p in enumerate(PART_NAMES)}
_K = {k: i for i, k in enumerate(COCO_KEYPOINTS)}


@dataclass
class Garment:
    color: str
    pattern: str = "solid"
    color2: str | None = None  # second colour of a pattern
    style: str = ""  # sleeves "short"/"long", legwear "trousers"/"shorts", hair "short"/"long"
    period: float = 0.0  # pattern period in metres


@dataclass
class ClothingSpec:
    """One subject's look: a garment per region (skin and hair carry their own vocabularies)."""

    skin: Garment
    hair: Garment
    top: Garment
    bottom: Garment
    shoes: Garment
    noise_seed: int = 0  # fabric noise

    def region(self, name: str) -> Garment:
        return getattr(self, name)

    def to_dict(self) -> dict:
        """{region: {color, pattern, [color2, period], [style]}} (+ noise_seed); unset fields left out."""
        out = {}
        for r in REGIONS:
            d = {k: v for k, v in asdict(self.region(r)).items() if v not in (None, "") and not (k == "period" and not v)}
            if r in ("skin", "hair"):
                d.pop("pattern", None)
            out[r] = d
        return out | {"noise_seed": self.noise_seed}

    @staticmethod
    def from_dict(d: dict) -> "ClothingSpec":
        return ClothingSpec(**{r: Garment(**d[r]) for r in REGIONS}, noise_seed=int(d.get("noise_seed", 0)))


def _pick(rng: np.random.Generator, items, p=None):
    items = list(items)
    return items[int(rng.choice(len(items), p=p))]


def _pattern(rng: np.random.Generator, color: str, p_solid: float, palette) -> tuple[str, str | None, float]:
    pattern = _pick(rng, PATTERNS, p=[p_solid, (1 - p_solid) * 0.6, (1 - p_solid) * 0.4])
    if pattern == "solid":
        return pattern, None, 0.0
    second = [c for c in palette if c != color and _contrast(c, color) > 0.25]
    period = float(rng.uniform(0.04, 0.09) if pattern == "stripes" else rng.uniform(0.05, 0.10))
    return pattern, _pick(rng, second), round(period, 4)


def _contrast(a: str, b: str) -> float:
    return float(np.abs(np.subtract(COLORS[a], COLORS[b])).max())


SKIN_LIKE = ("brown", "beige", "orange", "pink")  # garment colours that can pass for bare skin


def _far_from(color: str, rgb, limit: float = 0.5) -> bool:
    """False for a skin-like garment colour close to the skin tone (it would read as bare skin)."""
    return color not in SKIN_LIKE or float(np.linalg.norm(np.subtract(COLORS[color], rgb))) > limit


def sample_clothing(rng: np.random.Generator) -> ClothingSpec:
    """A random but plausible outfit: garments never in the skin's colour, top and bottom differ."""
    skin = _pick(rng, SKIN_TONES)
    skin_rgb = SKIN_TONES[skin]
    top = _pick(rng, [c for c in TOP_COLORS if _far_from(c, skin_rgb)])
    bottom = _pick(rng, [c for c in BOTTOM_COLORS if c != top and _far_from(c, skin_rgb)])
    tp, tc2, tper = _pattern(rng, top, 0.45, ("white", "black", "dark blue", "red", "yellow", "grey", "green"))
    bp, bc2, bper = _pattern(rng, bottom, 0.85, ("black", "grey", "white", "brown"))
    return ClothingSpec(
        skin=Garment(skin),
        hair=Garment(_pick(rng, HAIR_COLORS, p=[0.3, 0.2, 0.15, 0.15, 0.07, 0.08, 0.05]), style=_pick(rng, HAIR_STYLES)),
        top=Garment(top, tp, tc2, _pick(rng, SLEEVES), tper),
        bottom=Garment(bottom, bp, bc2, _pick(rng, LEGWEAR, p=[0.7, 0.3]), bper),
        shoes=Garment(_pick(rng, [c for c in SHOE_COLORS if _far_from(c, skin_rgb)])),
        noise_seed=int(rng.integers(0, 2**31 - 1)),
    )


# ----------------------------------------------------------------------------- regions
@dataclass
class TemplateGeometry:
    """Where each texel sits on the canonical template, plus landmarks for region rules."""

    anchors: Tensor  # (N, 3) texel anchors on the rest-pose template
    parts: Tensor  # (N,) part index per texel
    keypoints: Tensor  # (17, 3) COCO keypoints of the template
    top_z: float  # crown of the head


def template_geometry(body: BodyModel, layout: UVLayout, shape: Tensor | None = None) -> TemplateGeometry:
    shape = body.default_shape(1) if shape is None else shape.reshape(1, -1)
    with torch.no_grad():
        verts = body.template(shape)
        anchors, _, _ = texel_frames(body, layout, verts)
        kp = body.keypoints(verts)[0]
    parts = layout.part.flatten()[layout.texels]
    return TemplateGeometry(anchors[0].cpu(), parts.cpu(), kp.cpu(), float(verts[0, :, 2].max()))


def _hair_mask(g: TemplateGeometry, style: str) -> Tensor:
    kp, a = g.keypoints, g.anchors
    eye_z = float(kp[[_K["left_eye"], _K["right_eye"]], 2].mean())
    ear = kp[[_K["left_ear"], _K["right_ear"]]].mean(dim=0)
    shoulder_z = float(kp[[_K["left_shoulder"], _K["right_shoulder"]], 2].mean())
    head = g.top_z - eye_z
    z_front = eye_z + 0.50 * head  # forehead hairline, above the brows
    z_back = float(ear[2]) - (0.45 * head if style == "short" else 0.55 * (float(ear[2]) - shoulder_z) + 0.3 * head)
    phi = torch.atan2(a[:, 0] - ear[0], -(a[:, 1] - ear[1]))  # 0 = facing front, +-pi = back
    t = ((1 - torch.cos(phi)) / 2) ** 1.5
    line = z_front + (z_back - z_front) * t
    hair = (g.parts == _P["head"]) & (a[:, 2] > line)
    if style == "long":  # hair falling over the upper back
        back = a[:, 1] > float(ear[1]) + 0.05
        hair |= (g.parts == _P["torso"]) & back & (a[:, 2] > shoulder_z - 0.12) & ((a[:, 0] - ear[0]).abs() < 0.1)
    return hair


def garment_regions(body: BodyModel, layout: UVLayout, shape: Tensor | None = None, sleeves: str = "long",
                    legwear: str = "trousers", hair: str = "short",
                    geometry: TemplateGeometry | None = None) -> dict[str, Tensor]:
    """Region name -> (R, R) bool map; the regions partition the in-chart texels.

    top = torso above the waist + upper arms (+ forearms with long sleeves); bottom = torso
    below the waist, hips, thighs (+ shins and the ankle with trousers); shoes = feet below the
    ankle; hair = head above a hairline that runs from the forehead down to the nape;
    skin = the rest (face, neck, hands, bare arms and legs)."""
    g = geometry or template_geometry(body, layout, shape)
    kp, z, parts = g.keypoints, g.anchors[:, 2], g.parts
    hip_z = float(kp[[_K["left_hip"], _K["right_hip"]], 2].mean())
    shoulder_z = float(kp[[_K["left_shoulder"], _K["right_shoulder"]], 2].mean())
    ankle_z = float(kp[[_K["left_ankle"], _K["right_ankle"]], 2].mean())
    waist_z = hip_z + 0.22 * (shoulder_z - hip_z)
    isp = lambda *names: torch.stack([parts == _P[n] for n in names]).any(dim=0)  # noqa: E731

    top = (isp("torso") & (z >= waist_z)) | isp("upper_arm")
    if sleeves == "long":
        top |= isp("lower_arm")
    bottom = (isp("torso") & (z < waist_z)) | isp("hips", "upper_leg")
    shoes = isp("foot") & (z <= ankle_z + 0.012)
    if legwear == "trousers":
        bottom |= isp("lower_leg") | (isp("foot") & ~shoes)
    hair_m = _hair_mask(g, hair)
    top &= ~hair_m  # long hair falls over the top
    skin = ~(top | bottom | shoes | hair_m)
    flat = {"skin": skin, "hair": hair_m, "top": top, "bottom": bottom, "shoes": shoes}
    r = layout.resolution
    out = {}
    for name in REGIONS:
        m = torch.zeros(r * r, dtype=torch.bool)
        m[layout.texels] = flat[name]
        out[name] = m.view(r, r)
    return out


def region_labels(regions: dict[str, Tensor]) -> Tensor:
    """(R, R) int8 label map: index into REGIONS, -1 outside the charts."""
    first = next(iter(regions.values()))
    lab = torch.full(first.shape, -1, dtype=torch.int8)
    for i, name in enumerate(REGIONS):
        lab[regions[name]] = i
    return lab


# ----------------------------------------------------------------------------- painting
def _soft_wave(x: Tensor, period: float, sharp: float = 6.0) -> Tensor:
    """Soft square wave in [0, 1] (0.5 duty): fewer jaggies on a coarse texel grid."""
    return torch.sigmoid(sharp * torch.sin(2 * math.pi * x / period))


def _pattern_weight(g: Garment, p: Tensor) -> Tensor:
    """(N,) weight of the second colour at template points p (N, 3)."""
    if g.pattern == "stripes":
        return _soft_wave(p[:, 2], g.period)
    if g.pattern == "checks":  # gingham: horizontal bands plus bands round the body, half-tone crossings
        return 0.5 * (_soft_wave(p[:, 2], g.period) + _soft_wave(p[:, 0] + p[:, 1], g.period))
    return torch.zeros(p.shape[0])


def _value_noise(p: Tensor, scale: float, seed: int) -> Tensor:
    """Smooth pseudo-random 3D noise in [-1, 1] at points (N, 3), deterministic per seed."""
    gen = torch.Generator().manual_seed(seed)
    freqs = torch.randn(12, 3, generator=gen) / scale
    phases = torch.rand(12, generator=gen) * 2 * math.pi
    return torch.sin(p @ freqs.T + phases).mean(dim=1) * math.sqrt(2)


def paint_albedo(spec: ClothingSpec, regions: dict[str, Tensor], geometry: TemplateGeometry,
                 layout: UVLayout) -> Tensor:
    """(3, R, R) albedo: region colours, patterns in template space, light fabric noise, eyes."""
    tex = layout.texels
    p = geometry.anchors
    rgb = torch.zeros(tex.numel(), 3)
    palettes = {"skin": SKIN_TONES, "hair": HAIR_COLORS}
    for name in REGIONS:
        g = spec.region(name)
        m = regions[name].flatten()[tex]
        base = torch.tensor(palettes.get(name, COLORS)[g.color])
        col = base.expand(int(m.sum()), 3).clone()
        if g.pattern != "solid" and g.color2:
            w = _pattern_weight(g, p[m])[:, None]
            col = (1 - w) * col + w * torch.tensor(COLORS[g.color2])
        rgb[m] = col
    # Fabric / skin variation: a few percent of low-frequency brightness noise, stronger on hair.
    noise = _value_noise(p, 0.05, spec.noise_seed)
    amp = torch.full((tex.numel(),), 0.04)
    amp[regions["hair"].flatten()[tex]] = 0.10
    rgb = rgb * (1 + amp[:, None] * noise[:, None])
    # Irises: a dark disc on each eye (texels near the COCO eye points, on the front).
    for k in ("left_eye", "right_eye"):
        e = geometry.keypoints[_K[k]]
        d = (p - e).norm(dim=1)
        iris = (d < 0.0075) & (geometry.parts == _P["head"]) & (p[:, 1] < e[1] + 0.004)
        rgb[iris] = torch.tensor(EYE_COLOR)
    out = torch.zeros(3, layout.resolution ** 2)
    out[:, tex] = rgb.clamp(0, 1).T
    return out.view(3, layout.resolution, layout.resolution)
