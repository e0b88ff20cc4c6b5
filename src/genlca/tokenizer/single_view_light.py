"""De-lighting one photo (hand-written: no maintained library fits a light to a body seen once).

`tokenizer.delight` learns the light from how each texel's colour changes as the body turns; in a
single frame every texel is seen under one normal, so those statistics say nothing. What a photo
still says: texels of one garment share an albedo, so within such a group colour changes with the
normal are shading. The groups are found per body part by clustering colours (chromaticity, plus a
little log-brightness so black and white stripes part while a shaded side stays with its lit side).

Light model (the clamped cosine, not `delight`'s linear one: from one side the clamp is what
separates a light behind the person from a dark garment):

    shading(n) = ambient * (0.75 + 0.25 * (0.5 + 0.5 n.up)) + (1 - ambient) * max(0, n.l)

in the camera frame, with `up` the image's up (an upright camera). Its brightest value is 1, which
fixes the scale between albedo and light as in `delight`. The direction is searched over a
Fibonacci sphere and the ambient share over AMBIENT_RANGE; each cluster's albedo is eliminated in
closed form (least squares), so the search scores how much colour variance the shading explains.

Measured (12 synthetic photos, `genlca evaluate image-to-avatar`'s photo tokens, visible side): render
PSNR 13.5 dB with colours as seen, 17.5 dB de-lit this way; the true colours on the same texels
(the ceiling of any de-lighting) 22.5-26.9 dB. The ambient share is the weak part: a dark garment
in shade and a light one in brighter shade look alike from one side.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

AMBIENT_RANGE = (0.3, 0.6, 7)  # ambient share of the light searched: from low sun to overcast
DIRECTIONS = 600  # light directions searched (Fibonacci sphere)
UP = (0.0, -1.0, 0.0)  # the image's up in the camera frame (y points down the image)
LOG_BRIGHTNESS_WEIGHT = 0.15  # clustering feature weight: shading spans ~x3, black vs white ~x10
MIN_SPLIT = 0.08  # feature distance between two clusters of a part below which the part is one albedo
MIN_SHADING = 0.15  # albedo = colour / shading: keeps texels in deep shadow from blowing up


def fibonacci_sphere(n: int) -> Tensor:
    """(n, 3) nearly uniform unit vectors."""
    i = torch.arange(n, dtype=torch.float64) + 0.5
    z = 1 - 2 * i / n
    r = torch.sqrt(1 - z * z)
    phi = math.pi * (3 - math.sqrt(5)) * i
    return torch.stack([r * torch.cos(phi), r * torch.sin(phi), z], dim=1)


def shading(normals: Tensor, direction: Tensor, ambient: Tensor) -> Tensor:
    """(N, 3) unit normals, (D, 3) directions, (A,) ambient shares -> (N, D, A) shading."""
    up = torch.tensor(UP, dtype=normals.dtype)
    sky = 0.75 + 0.25 * (0.5 + 0.5 * normals @ up)
    lam = (normals @ direction.T).clamp(min=0)
    return ambient * sky[:, None, None] + (1 - ambient) * lam[:, :, None]


def albedo_clusters(colors: Tensor, part: Tensor) -> Tensor:
    """(N,) cluster labels of texels (N, 3) colours within their body part (N,); one or two per part."""
    from sklearn.cluster import KMeans

    total = colors.sum(dim=1).clamp(min=1e-4)
    feats = torch.cat([colors / total[:, None], LOG_BRIGHTNESS_WEIGHT * torch.log(total)[:, None]], dim=1).numpy()
    labels = torch.zeros(len(colors), dtype=torch.long)
    next_label = 0
    for p in part.unique().tolist():
        idx = torch.nonzero(part == p).squeeze(1)
        lab = np.zeros(len(idx), dtype=np.int64)
        if len(idx) >= 8:
            km = KMeans(2, n_init=3, random_state=0).fit(feats[idx.numpy()])
            apart = np.linalg.norm(km.cluster_centers_[0] - km.cluster_centers_[1]) > MIN_SPLIT
            if apart and np.bincount(km.labels_, minlength=2).min() >= 4:
                lab = km.labels_.astype(np.int64)
        labels[idx] = torch.from_numpy(lab) + next_label
        next_label += 2
    return labels


def fit_single_view_light(colors: Tensor, normals: Tensor, weight: Tensor, part: Tensor) -> tuple[Tensor, float]:
    """Light of one photo from its seen texels: colours (N, 3), camera-frame unit normals (N, 3), weights (N,),
    body-part labels (N,). Returns the direction towards the light (3,) and the ambient share."""
    colors, normals, weight = colors.double(), normals.double(), weight.double()
    directions = fibonacci_sphere(DIRECTIONS)
    ambient = torch.linspace(*AMBIENT_RANGE, dtype=torch.float64)
    labels = albedo_clusters(colors.float(), part)
    k = int(labels.max()) + 1
    s = shading(normals, directions, ambient)  # (N, D, A)
    sw = s * weight[:, None, None]
    per_cluster = torch.zeros(k, *s.shape[1:], dtype=torch.float64)
    cs = torch.stack([per_cluster.index_add(0, labels, colors[:, c, None, None] * sw) for c in range(3)], dim=1)
    ss = per_cluster.index_add(0, labels, sw * s)
    explained = ((cs**2).sum(dim=1) / ss.clamp(min=1e-12)).sum(dim=0)  # (D, A): variance the best albedos explain
    d, a = np.unravel_index(int(explained.argmax()), tuple(explained.shape))
    return directions[d].float(), float(ambient[a])


def single_view_albedo(colors: Tensor, normals: Tensor, weight: Tensor, part: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Albedo (N, 3) in [0, 1], shading (N,) and the light (4,) = (ambient, direction) of one photo's seen texels."""
    if len(colors) == 0:
        return colors.clone(), torch.ones(0), torch.tensor([1.0, 0.0, 0.0, 0.0])
    direction, ambient = fit_single_view_light(colors, normals, weight, part)
    s = shading(normals.float(), direction[None], torch.tensor([ambient]))[:, 0, 0]
    albedo = (colors / s.clamp(min=MIN_SHADING)[:, None]).clamp(0, 1)
    return albedo, s, torch.cat([torch.tensor([ambient]), direction])


__all__ = ["albedo_clusters", "fit_single_view_light", "shading", "single_view_albedo"]
