"""Everything around the subject: a backdrop (a cylindrical wall round the scene plus a floor,
ray-cast per pixel so it moves correctly with the camera), lighting, foreground occluders and
sensor effects.

Backdrop kinds: `plain` (a painted wall), `texture` (procedural: noise, stripes, bricks,
gradient), `photo` (a real photograph on the wall: scikit-learn's bundled sample images where
scikit-learn is installed; scikit-image is not installed here, so its `data` images are not
used; without scikit-learn `photo` falls back to `texture`)."""

from __future__ import annotations

import colorsys
import functools
import importlib.util
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter

from genlca.render.camera import Camera

BACKDROPS = ("plain", "texture", "photo")
WALL_PATTERNS = ("noise", "stripes", "bricks", "gradient")
FLOORS = ("tiles", "wood", "asphalt", "grass")
OCCLUDERS = ("pole", "box", "blob")
PHOTO_FILES = ("china.jpg", "flower.jpg")


@dataclass
class SceneSpec:
    backdrop: str = "plain"
    wall_pattern: str = "noise"
    wall_color: tuple[float, float, float] = (0.7, 0.7, 0.7)
    wall_color2: tuple[float, float, float] = (0.5, 0.5, 0.5)
    wall_scale: float = 0.5  # pattern size, metres
    photo: str = ""  # photo file name (backdrop == "photo")
    photo_offset: float = 0.0  # where the photo starts on the wall, [0, 1)
    floor: str = "tiles"
    floor_color: tuple[float, float, float] = (0.6, 0.6, 0.6)
    floor_color2: tuple[float, float, float] = (0.45, 0.45, 0.45)
    floor_scale: float = 0.5
    sky_color: tuple[float, float, float] = (0.75, 0.85, 0.95)
    wall_height: float = 3.0
    wall_radius: float = 0.0  # filled in by the generator from the camera distances
    blur: float = 0.0  # background defocus, pixels
    light_dir: tuple[float, float, float] = (0.3, -0.6, 0.75)  # towards the light, world
    ambient: float = 0.45
    exposure: float = 1.0
    noise: float = 0.01  # sensor noise std
    vignette: float = 0.15
    occluders: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _rgb(h: float, s: float, v: float) -> tuple[float, float, float]:
    return tuple(round(c, 4) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))


@functools.lru_cache(maxsize=1)
def available_photos() -> tuple[str, ...]:
    d = _photo_dir()
    return tuple(p for p in PHOTO_FILES if d is not None and (d / p).is_file())


def _photo_dir() -> Path | None:
    spec = importlib.util.find_spec("sklearn")  # does not import scikit-learn
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).parent / "datasets" / "images"


@functools.lru_cache(maxsize=4)
def _load_photo(name: str) -> np.ndarray:
    with Image.open(_photo_dir() / name) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def sample_scene(rng: np.random.Generator, occluded: bool) -> SceneSpec:
    u = lambda a, b: round(float(rng.uniform(a, b)), 4)  # noqa: E731
    photos = available_photos()
    kind = BACKDROPS[int(rng.choice(3, p=[0.35, 0.45, 0.2]))]
    if kind == "photo" and not photos:
        kind = "texture"
    h = float(rng.uniform())
    spec = SceneSpec(backdrop=kind, wall_pattern=WALL_PATTERNS[int(rng.integers(len(WALL_PATTERNS)))],
                     wall_color=_rgb(h, u(0.05, 0.45), u(0.35, 0.9)),
                     wall_color2=_rgb(h + u(-0.1, 0.1), u(0.05, 0.5), u(0.25, 0.8)),
                     wall_scale=u(0.15, 0.8), floor=FLOORS[int(rng.choice(4, p=[0.35, 0.25, 0.25, 0.15]))],
                     sky_color=_rgb(u(0.53, 0.62), u(0.1, 0.4), u(0.75, 0.98)), wall_height=u(2.6, 6.0),
                     blur=u(0.0, 1.5), ambient=u(0.35, 0.55), exposure=u(0.9, 1.1), noise=u(0.004, 0.02),
                     vignette=u(0.0, 0.3))
    fl = {"tiles": (u(0, 1), u(0.0, 0.2), u(0.5, 0.9)), "wood": (u(0.05, 0.1), u(0.4, 0.7), u(0.35, 0.65)),
          "asphalt": (u(0, 1), u(0.0, 0.08), u(0.25, 0.45)), "grass": (u(0.22, 0.3), u(0.5, 0.8), u(0.3, 0.55))}[
        spec.floor]
    spec.floor_color = _rgb(*fl)
    spec.floor_color2 = _rgb(fl[0], fl[1], fl[2] * u(0.7, 0.9))
    spec.floor_scale = u(0.3, 0.8) if spec.floor == "tiles" else u(0.1, 0.3)
    if kind == "photo":
        spec.photo = str(rng.choice(photos))
        spec.photo_offset = u(0, 1)
        spec.blur = u(1.5, 3.0)  # shallow depth of field: photographs are busy
    az = rng.uniform(0, 2 * math.pi)
    el = rng.uniform(0.5, 1.2)
    spec.light_dir = tuple(round(float(x), 4) for x in (math.cos(az) * math.cos(el), math.sin(az) * math.cos(el),
                                                         math.sin(el)))
    if occluded:
        spec.occluders = [sample_occluder(rng) for _ in range(1 if rng.uniform() < 0.7 else 2)]
    return spec


def sample_occluder(rng: np.random.Generator) -> dict:
    kind = OCCLUDERS[int(rng.integers(len(OCCLUDERS)))]
    u = lambda a, b: round(float(rng.uniform(a, b)), 4)  # noqa: E731
    color = _rgb(u(0, 1), u(0.0, 0.6), u(0.15, 0.7))
    if kind == "pole":
        return {"kind": kind, "x": u(0.2, 0.8), "vx": u(-0.3, 0.3), "width": u(0.05, 0.12), "color": color}
    if kind == "box":
        return {"kind": kind, "x": u(0.0, 0.6), "vx": u(-0.15, 0.15), "width": u(0.3, 0.7), "height": u(0.15, 0.35),
                "color": color}
    return {"kind": kind, "x": float(rng.choice([u(0.0, 0.25), u(0.75, 1.0)])), "y": u(0.5, 1.0),
            "vx": u(-0.1, 0.1), "radius": u(0.15, 0.3), "color": _rgb(u(0.2, 0.4), u(0.4, 0.8), u(0.2, 0.5)),
            "seed": int(rng.integers(0, 2**31 - 1))}


# ----------------------------------------------------------------------------- backdrop
def _noise2(u: np.ndarray, v: np.ndarray, scale: float, seed: int, n: int = 10) -> np.ndarray:
    """Smooth pseudo-random noise in about [-1, 1] on 2D coordinates (sum of oriented sines)."""
    r = np.random.default_rng(seed)
    ang = r.uniform(0, 2 * np.pi, n)
    freq = r.uniform(0.5, 2.0, n) / scale
    ph = r.uniform(0, 2 * np.pi, n)
    out = np.zeros_like(u)
    for a, f, p in zip(ang, freq, ph):
        out += np.sin((np.cos(a) * u + np.sin(a) * v) * f * 2 * np.pi + p) / f ** 0.5
    return out / np.sqrt(np.sum(1.0 / freq) / 2)


def _lerp(c1, c2, w: np.ndarray) -> np.ndarray:
    c1, c2 = np.asarray(c1, np.float32), np.asarray(c2, np.float32)
    return c1 + (c2 - c1) * w[..., None].astype(np.float32)


def _wall(spec: SceneSpec, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Wall colour at wall coordinates (u along the wall, v height; metres)."""
    s = spec.wall_scale
    if spec.backdrop == "photo" and spec.photo:
        img = _load_photo(spec.photo)
        h, w = img.shape[:2]
        mpp = spec.wall_height / h  # the photo spans the wall's height
        x = (u / mpp + spec.photo_offset * w) % (2 * w)
        x = np.where(x >= w, 2 * w - 1 - x, x)  # mirror tiling round the cylinder
        y = np.clip((spec.wall_height - v) / mpp, 0, h - 1)
        px = img[y.astype(np.int64), np.clip(x, 0, w - 1).astype(np.int64)]
        return 0.7 * px + 0.3 * px.mean(axis=(0, 1))  # haze: a distant, lower-contrast backdrop
    if spec.backdrop == "plain":
        return _lerp(spec.wall_color, spec.wall_color2, np.clip(v / spec.wall_height, 0, 1) * 0.25)
    p = spec.wall_pattern
    if p == "noise":
        w = 0.5 + 0.35 * _noise2(u, v, s, 1) + 0.1 * _noise2(u, v, s / 6, 2)
    elif p == "stripes":
        w = (np.sin(2 * np.pi * u / s) > 0).astype(np.float32) * 0.8 + 0.1 * _noise2(u, v, s / 4, 3)
    elif p == "bricks":
        row = np.floor(v / (s * 0.35))
        x = u / s + 0.5 * (row % 2)
        mortar = (np.abs(x - np.round(x)) < 0.03) | (np.abs(v / (s * 0.35) - np.round(v / (s * 0.35))) < 0.06)
        w = np.where(mortar, 1.0, 0.15 * _noise2(u, v, s / 3, 4) + 0.1 * ((row * 7 + np.floor(x) * 3) % 3) / 3)
    else:  # gradient
        w = np.clip(v / spec.wall_height, 0, 1) + 0.08 * _noise2(u, v, s, 5)
    return _lerp(spec.wall_color, spec.wall_color2, np.clip(w, 0, 1))


def _floor(spec: SceneSpec, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    s = spec.floor_scale
    if spec.floor == "tiles":
        cx, cy = x / s, y / s
        grout = (np.abs(cx - np.round(cx)) < 0.025) | (np.abs(cy - np.round(cy)) < 0.025)
        w = ((np.floor(cx) + np.floor(cy)) % 2) * 0.3 + 0.08 * _noise2(x, y, s, 6)
        w = np.where(grout, 1.0, w)
    elif spec.floor == "wood":
        w = 0.5 + 0.3 * np.sin(2 * np.pi * x / s + 2 * _noise2(x, y * 0.2, 1.0, 7)) + 0.2 * _noise2(x, y, s, 8)
    else:  # asphalt, grass
        w = 0.5 + 0.4 * _noise2(x, y, s, 9) + 0.3 * _noise2(x, y, s / 8, 10)
    return _lerp(spec.floor_color, spec.floor_color2, np.clip(w, 0, 1))


TEXTURE_RES = 0.02  # metres per texel of the wall and floor tiles
TILE = 8.0  # metres: tiles repeat mirrored beyond this


def _mirror(coord: np.ndarray, n: int) -> np.ndarray:
    """Texel index for a coordinate on a mirrored-repeat tile of n texels."""
    i = np.floor(coord).astype(np.int64) % (2 * n)
    return np.where(i >= n, 2 * n - 1 - i, i)


class Backdrop:
    """A scene's wall (a cylinder of `spec.wall_radius` round `center`) and floor (z = 0),
    pre-rendered into mirrored-repeat tiles once, then ray-cast per camera."""

    def __init__(self, spec: SceneSpec, center: np.ndarray):
        self.spec, self.center = spec, np.asarray(center, np.float64)
        n = int(TILE / TEXTURE_RES)
        c = (np.arange(n, dtype=np.float32) + 0.5) * TEXTURE_RES
        rows = int(math.ceil(spec.wall_height / TEXTURE_RES))
        v = spec.wall_height - (np.arange(rows, dtype=np.float32) + 0.5) * TEXTURE_RES  # row 0 = top
        uu, vv = np.meshgrid(c, v)
        self.wall = _wall(spec, uu, vv).astype(np.float32)
        fx, fy = np.meshgrid(c, c)
        self.floor = _floor(spec, fx, fy).astype(np.float32)

    def render(self, cam: Camera, feet: np.ndarray, ss: int = 2) -> np.ndarray:
        """(H, W, 3) float32 background; `feet`: (P, 2) ground points for a soft contact shadow.
        Supersampled `ss` x `ss`, then defocused by `spec.blur` pixels."""
        spec = self.spec
        h, w = cam.height * ss, cam.width * ss
        k = cam.K.numpy().astype(np.float64).copy()
        k[:2] *= ss
        j, i = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
        d_cam = np.stack([(j - k[0, 2]) / k[0, 0], (i - k[1, 2]) / k[1, 1], np.ones_like(j)], axis=-1)
        d = d_cam @ cam.viewmat[:3, :3].numpy().astype(np.float64)  # world directions
        o = cam.position.numpy().astype(np.float64)
        # Cylinder round `center`: the camera is inside, so take the positive root.
        ox, oy = o[0] - self.center[0], o[1] - self.center[1]
        a = d[..., 0] ** 2 + d[..., 1] ** 2
        b = 2 * (ox * d[..., 0] + oy * d[..., 1])
        c = ox ** 2 + oy ** 2 - spec.wall_radius ** 2
        t_wall = (-b + np.sqrt(np.maximum(b * b - 4 * a * c, 0))) / (2 * np.maximum(a, 1e-12))
        t_floor = np.where(d[..., 2] < -1e-6, -o[2] / np.minimum(d[..., 2], -1e-6), np.inf)
        hit_floor = t_floor < t_wall
        wz = o[2] + t_wall * d[..., 2]
        wall_u = np.arctan2(oy + t_wall * d[..., 1], ox + t_wall * d[..., 0]) * spec.wall_radius
        rows, cols = self.wall.shape[:2]
        ri = np.clip(((spec.wall_height - wz) / TEXTURE_RES).astype(np.int64), 0, rows - 1)
        img = self.wall[ri, _mirror(wall_u / TEXTURE_RES, cols)]
        sky = wz > spec.wall_height
        if sky.any():
            up = np.clip((wz - spec.wall_height) / (spec.wall_radius + 1e-6), 0, 1).astype(np.float32)
            img = np.where(sky[..., None], _lerp(spec.sky_color, np.asarray(spec.sky_color) * 0.8, up), img)
        if hit_floor.any():
            tf = np.where(hit_floor, t_floor, 0.0)
            fx, fy = o[0] + tf * d[..., 0], o[1] + tf * d[..., 1]
            n = self.floor.shape[0]
            fl = self.floor[_mirror(fy / TEXTURE_RES, n), _mirror(fx / TEXTURE_RES, n)]
            shade = np.ones(fx.shape, np.float32)
            for p in feet:  # soft contact shadow under the subject
                shade -= 0.35 * np.exp(-((fx - p[0]) ** 2 + (fy - p[1]) ** 2) / (2 * 0.18 ** 2)).astype(np.float32)
            fl = fl * np.clip(shade, 0.4, 1)[..., None]
            img = np.where(hit_floor[..., None], fl, img)
        img = img.reshape(cam.height, ss, cam.width, ss, 3).mean(axis=(1, 3)).astype(np.float32)
        if spec.blur > 0.05:
            im = Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8))
            img = np.asarray(im.filter(ImageFilter.GaussianBlur(spec.blur)), dtype=np.float32) / 255.0
        return img


# ----------------------------------------------------------------------------- foreground
def occluder_layer(occ: dict, t: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) coverage in [0, 1] and (H, W, 3) colour of one occluder at time t (seconds)."""
    j, i = np.meshgrid((np.arange(size) + 0.5) / size, (np.arange(size) + 0.5) / size)
    x0 = occ["x"] + occ["vx"] * t
    aa = 1.5 / size  # soft edge, in frame units
    col = np.asarray(occ["color"], np.float32)
    if occ["kind"] == "pole":
        dx = (j - x0) / (occ["width"] / 2)
        cov = np.clip((1 - np.abs(dx)) * occ["width"] / 2 / aa, 0, 1)
        shade = np.sqrt(np.clip(1 - dx ** 2, 0, 1)) * 0.6 + 0.4  # a round post
        rgb = col * shade[..., None] * (1 + 0.05 * np.sin(i * 60))[..., None]
    elif occ["kind"] == "box":
        top = 1 - occ["height"]
        cov = np.clip((i - top) / aa, 0, 1) * np.clip((j - x0) / aa, 0, 1) * np.clip((x0 + occ["width"] - j) / aa, 0, 1)
        rgb = col * (0.85 + 0.15 * np.clip((i - top) / occ["height"], 0, 1))[..., None]
    else:  # blob: a bush, noisy outline
        ang = np.arctan2(i - occ["y"], j - x0)
        wobble = 1 + 0.18 * _noise2(np.cos(ang), np.sin(ang), 0.6, occ["seed"] % 1000)
        rr = np.hypot(j - x0, i - occ["y"]) / (occ["radius"] * wobble)
        cov = np.clip((1 - rr) * occ["radius"] / aa, 0, 1)
        leaf = 0.7 + 0.3 * _noise2(j, i, 0.03, occ["seed"] % 997 + 1)
        rgb = col * leaf[..., None]
    return cov.astype(np.float32), np.broadcast_to(rgb, (size, size, 3)).astype(np.float32)


def shade_colors(albedo: torch.Tensor, normals: torch.Tensor, light_dir, ambient: float) -> torch.Tensor:
    """Lambert + ambient + a little sky fill: (N, 3) albedo, (N, 3) world normals."""
    ldir = torch.nn.functional.normalize(torch.tensor(light_dir, dtype=normals.dtype), dim=0)
    lam = (normals @ ldir).clamp(min=0)
    sky = 0.5 + 0.5 * normals[:, 2]
    k = ambient * (0.75 + 0.25 * sky) + (1 - ambient) * lam
    return (albedo * k[:, None]).clamp(0, 1)


def vignette(height: int, width: int, strength: float) -> np.ndarray:
    """(H, W) float64 brightness factor of the synthetic lens: 1 at the centre, 1 - strength in the corners."""
    j, i = np.meshgrid(np.linspace(-1, 1, width), np.linspace(-1, 1, height))
    return 1 - strength * (i ** 2 + j ** 2) / 2


def sensor(img: np.ndarray, spec: SceneSpec, rng: np.random.Generator) -> np.ndarray:
    """Exposure, vignette and sensor noise; returns uint8."""
    h, w = img.shape[:2]
    out = img * spec.exposure * vignette(h, w, spec.vignette)[..., None]
    out = out + rng.normal(0, spec.noise, out.shape).astype(np.float32)
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)
