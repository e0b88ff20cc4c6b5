"""Image metrics with torchmetrics: FID and KID of renders of generated avatars against renders of held-out
reference avatars, LPIPS / PSNR / SSIM of reconstructions against ground truth.

    status = metric_availability(ImageMetricConfig())   # per metric: weights found (where) or why skipped
    fid_kid(generated_renders, reference_renders)       # {"fid": {...}, "kid": {...}}
    lpips(pred, target); psnr_ssim(pred, target, mask)
    image_metrics_report(generated=..., reference=..., pred=..., target=..., token_features=(a, b))

Every result is a dict with "value" or with "skipped" (the reason). FID/KID need torch-fidelity's Inception
(weights-inception-2015-12-05-6726825d.pth, also published by pytorch-fid as pt_inception-2015-12-05-6726825d.pth)
and LPIPS a torchvision ImageNet backbone (alexnet-owt-7be5be79.pth; its linear heads ship inside torchmetrics).
Weights come from an explicit path, an environment variable, or the torch hub cache (`torch.hub.get_dir()`/
checkpoints, where torch-fidelity and torchvision save them); nothing is ever downloaded, and a network is only
built once its weights file is known to exist: a metric without its weights is skipped, never computed with
random weights. PSNR and SSIM need no weights and always run.

Images: a (H, W, 3) uint8 numpy array or float tensor (what `render_views` / `render(...).rgb` give), a list of
them, or a batch (N, H, W, 3) / (N, 3, H, W); floats are in [0, 1].
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genlca.eval.metrics import _Features, frechet_distance

FID_ENV = "GENLCA_FID_WEIGHTS"
LPIPS_ENV = "GENLCA_LPIPS_WEIGHTS"
# torch-fidelity saves its download under the first name; pytorch-fid publishes the same file (same sha256 prefix)
# under the second, and torch-fidelity's extractor loads either.
INCEPTION_FILES = ("weights-inception-2015-12-05-6726825d.pth", "pt_inception-2015-12-05-6726825d.pth")
# torchvision's IMAGENET1K_V1 (= DEFAULT) weights of the LPIPS backbones, as torch.hub names them in its cache.
LPIPS_BACKBONE_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth",
                        "squeeze": "squeezenet1_1-b8a52dc0.pth"}


@dataclass
class ImageMetricConfig:
    """Where the backbone weights are; None: the environment variable, else the torch hub cache."""

    fid_weights: str | os.PathLike | None = None  # Inception for FID and KID
    lpips_weights: str | os.PathLike | None = None  # the torchvision backbone of `lpips_net`
    lpips_net: str = "alex"  # "alex" (the LPIPS default), "vgg" or "squeeze"
    hub_dir: str | os.PathLike | None = None  # None: torch.hub.get_dir() (honours TORCH_HOME) at call time
    kid_subsets: int = 100
    kid_subset_size: int = 1000  # capped at the smaller set's size
    seed: int = 0  # KID's subset draws
    batch_size: int = 32
    device: str = "cpu"
    env: Mapping[str, str] | None = field(default=None, repr=False)  # where FID_ENV / LPIPS_ENV are read: os.environ

    def checkpoints_dir(self) -> Path:
        return Path(self.hub_dir if self.hub_dir is not None else torch.hub.get_dir()) / "checkpoints"


#################################################################################
#                       Which metrics can run                                   #
#################################################################################

def _import_error(module: str) -> str | None:
    """None when `module` imports, else why not (a torchvision built for another torch raises at import)."""
    try:
        importlib.import_module(module)
    except Exception as e:  # noqa: BLE001 - any failure to import means the metric cannot run
        return f"{type(e).__name__}: {e}"
    return None


def _find_weights(explicit, env_var: str, names: tuple[str, ...], config: ImageMetricConfig,
                  hint: str) -> tuple[Path | None, str | None]:
    """(path, None) for the first weights file found, or (None, reason naming what was looked for)."""
    if explicit is not None:
        p = Path(explicit).expanduser()
        return (p, None) if p.is_file() else (None, f"configured weights file {p} does not exist")
    env = os.environ if config.env is None else config.env
    if env.get(env_var):
        p = Path(env[env_var]).expanduser()
        return (p, None) if p.is_file() else (None, f"${env_var}={p} does not exist")
    ckpt = config.checkpoints_dir()
    for name in names:
        if (ckpt / name).is_file():
            return ckpt / name, None
    return None, (f"{hint} weights not found: no {' or '.join(names)} in the torch hub cache {ckpt} and ${env_var} "
                  f"is unset; provide the file with ${env_var}=/path/to/file or copy it into {ckpt}")


def _fid_status(config: ImageMetricConfig) -> dict:
    path, missing = _find_weights(config.fid_weights, FID_ENV, INCEPTION_FILES, config, "Inception (FID/KID)")
    reasons = [missing] if missing else []
    if err := _import_error("torch_fidelity.feature_extractor_inceptionv3"):
        reasons.append(f"torch-fidelity (torchmetrics' Inception for FID/KID, which needs torchvision) does not "
                       f"import ({err})")
    return {"available": False, "reason": "; ".join(reasons)} if reasons else {"available": True, "path": str(path)}


def _lpips_status(config: ImageMetricConfig) -> dict:
    if config.lpips_net not in LPIPS_BACKBONE_FILES:
        return {"available": False, "reason": f"unknown LPIPS net {config.lpips_net!r}: one of "
                                              f"{sorted(LPIPS_BACKBONE_FILES)}"}
    names = (LPIPS_BACKBONE_FILES[config.lpips_net],)
    path, missing = _find_weights(config.lpips_weights, LPIPS_ENV, names, config, f"LPIPS {config.lpips_net} backbone")
    reasons = [missing] if missing else []
    if err := _import_error("torchvision.models"):
        reasons.append(f"torchvision (LPIPS backbone) does not import ({err})")
    return {"available": False, "reason": "; ".join(reasons)} if reasons else {"available": True, "path": str(path)}


def metric_availability(config: ImageMetricConfig | None = None) -> dict[str, dict]:
    """Per metric: {"available": True, "path": weights file or None} or {"available": False, "reason": ...}.
    Only looks at files and imports: never builds a network, never downloads."""
    config = config or ImageMetricConfig()
    fid = _fid_status(config)
    free = {"available": True, "path": None}
    return {"fid": fid, "kid": fid, "lpips": _lpips_status(config), "psnr": free, "ssim": free,
            "token_frechet": free}


@contextlib.contextmanager
def _no_downloads():
    """Make any torch.hub download raise: weights are found before a network is built, so reaching one is a bug
    (and here it would hang on the missing network)."""
    def refuse(url, dst, *args, **kwargs):
        raise RuntimeError(f"genlca never downloads weights (attempted {url} -> {dst})")

    before = torch.hub.download_url_to_file
    torch.hub.download_url_to_file = refuse
    try:
        yield
    finally:
        torch.hub.download_url_to_file = before


#################################################################################
#                       Images                                                  #
#################################################################################

def _as_tensor(x) -> Tensor:
    t = torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else torch.as_tensor(x)
    return t.float() / 255 if t.dtype == torch.uint8 else t.float()


def to_float_batch(images) -> Tensor:
    """Images (see the module doc) -> (N, 3, H, W) float in [0, 1]."""
    if isinstance(images, (list, tuple)):
        return torch.stack([to_float_batch(im)[0] for im in images])
    t = _as_tensor(images)
    if t.ndim == 3:
        t = t[None]
    if t.ndim != 4 or 3 not in (t.shape[1], t.shape[-1]):
        raise ValueError(f"expected (H, W, 3), (N, H, W, 3) or (N, 3, H, W) images, got {tuple(t.shape)}")
    return t if t.shape[1] == 3 else t.permute(0, 3, 1, 2).contiguous()


def to_uint8_batch(images) -> Tensor:
    """Images -> (N, 3, H, W) uint8, what the Inception of FID/KID takes."""
    return (to_float_batch(images).clamp(0, 1) * 255 + 0.5).to(torch.uint8)


def _skipped(reason: str) -> dict:
    return {"skipped": reason}


#################################################################################
#                       FID / KID                                               #
#################################################################################

@torch.no_grad()
def _features(extractor: torch.nn.Module, images: Tensor, batch_size: int, device: str) -> Tensor:
    chunks = images.split(batch_size)
    return torch.cat([extractor(c.to(device)).reshape(len(c), -1).double().cpu() for c in chunks])


def _inception(path: str) -> torch.nn.Module:
    """torchmetrics' Inception (torch-fidelity's FID network, pool3: 2048 features) from `path`."""
    from torchmetrics.image import fid as tm_fid

    with _no_downloads():
        return tm_fid.NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                                         feature_extractor_weights_path=path)


def kid_from_features(real: Tensor, fake: Tensor, subsets: int = 100, subset_size: int = 1000,
                      seed: int = 0) -> dict:
    """torchmetrics' KID (unbiased MMD², cubic polynomial kernel) of two feature sets (N, D), (M, D), with the
    subset size capped at the smaller set (>= 2) and seeded subset draws."""
    from torchmetrics.image.kid import KernelInceptionDistance

    m = min(subset_size, len(real), len(fake))
    if m < 2:
        return _skipped(f"KID needs >= 2 images per set, got {len(fake)} generated and {len(real)} reference")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        kid = KernelInceptionDistance(feature=_Features(real.shape[1]), subsets=subsets, subset_size=m)
    kid.update(real.double(), real=True)
    kid.update(fake.double(), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = kid.compute()
    return {"value": float(mean), "std": float(std), "subset_size": m, "subsets": subsets}


def fid_kid(generated_images, reference_images, config: ImageMetricConfig | None = None,
            feature: torch.nn.Module | None = None) -> dict:
    """{"fid": ..., "kid": ...} of generated against reference images (e.g. multi-view renders of generated and of
    held-out avatars). The Inception runs once per image and both metrics read its features: FID through
    torchmetrics' FrechetInceptionDistance (`frechet_distance`), KID through KernelInceptionDistance.
    `feature`: another extractor, (N, 3, H, W) uint8 -> (N, D), used instead of the Inception (tests, ablations);
    the result then says so in "features" and needs no weights."""
    config = config or ImageMetricConfig()
    if feature is None:
        status = _fid_status(config)
        if not status["available"]:
            return {"fid": _skipped(status["reason"]), "kid": _skipped(status["reason"])}
        try:
            extractor, described = _inception(status["path"]), f"inception-v3 pool3 (2048) from {status['path']}"
        except Exception as e:  # noqa: BLE001 - a corrupt or wrong file: report, never fall back
            reason = f"could not load Inception weights {status['path']}: {type(e).__name__}: {e}"
            return {"fid": _skipped(reason), "kid": _skipped(reason)}
    else:
        extractor, described = feature, f"custom {type(feature).__name__}"
    extractor = extractor.to(config.device).eval()
    fake = _features(extractor, to_uint8_batch(generated_images), config.batch_size, config.device)
    real = _features(extractor, to_uint8_batch(reference_images), config.batch_size, config.device)
    info = {"features": described, "n_generated": len(fake), "n_reference": len(real)}
    if len(fake) < 2 or len(real) < 2:
        fid = _skipped(f"FID needs >= 2 images per set, got {len(fake)} generated and {len(real)} reference")
    else:
        fid = {"value": frechet_distance(real, fake), **info}
    kid = kid_from_features(real, fake, config.kid_subsets, config.kid_subset_size, config.seed)
    return {"fid": fid, "kid": {**kid, **info} if "value" in kid else kid}


#################################################################################
#                       LPIPS                                                   #
#################################################################################

@contextlib.contextmanager
def _hub_with(path: Path, name: str):
    """torchvision loads its backbone from the hub cache by file name: when the weights lie elsewhere (an explicit
    path, the environment), show them under that name in a temporary hub dir."""
    if path.parent == Path(torch.hub.get_dir()) / "checkpoints" and path.name == name:
        yield
        return
    before = torch.hub._hub_dir  # set_dir has no "unset": restore the private global to keep TORCH_HOME honoured
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "checkpoints").mkdir()
        (Path(tmp) / "checkpoints" / name).symlink_to(path.resolve())
        torch.hub.set_dir(tmp)
        try:
            yield
        finally:
            torch.hub._hub_dir = before


def lpips(pred, target, config: ImageMetricConfig | None = None) -> dict:
    """torchmetrics' LPIPS of pred against target images (pairs, same sizes): mean over pairs and per pair."""
    config = config or ImageMetricConfig()
    status = _lpips_status(config)
    if not status["available"]:
        return _skipped(status["reason"])
    from torchmetrics.image import lpip as tm_lpip

    path, name = Path(status["path"]), LPIPS_BACKBONE_FILES[config.lpips_net]
    try:
        with _no_downloads(), _hub_with(path, name):
            metric = tm_lpip.LearnedPerceptualImagePatchSimilarity(net_type=config.lpips_net, reduction="none",
                                                                   normalize=True)
    except Exception as e:  # noqa: BLE001
        return _skipped(f"could not load LPIPS {config.lpips_net} backbone {path}: {type(e).__name__}: {e}")
    metric = metric.to(config.device)
    a, b = to_float_batch(pred).clamp(0, 1), to_float_batch(target).clamp(0, 1)
    with torch.no_grad():
        for x, y in zip(a.split(config.batch_size), b.split(config.batch_size)):
            metric.update(x.to(config.device), y.to(config.device))
        per = metric.compute().flatten().cpu()
    return {"value": float(per.mean()), "per_image": per.tolist(), "net": config.lpips_net, "weights": str(path)}


#################################################################################
#                       PSNR / SSIM                                             #
#################################################################################

def psnr_ssim(pred, target, mask=None) -> dict:
    """{"psnr": ..., "ssim": ...} of pred against target images in [0, 1] (torchmetrics, data range 1).
    PSNR pools the squared error over all (masked) pixels and channels, like `masked_render_psnr`; per image too.
    SSIM is the mean of the full SSIM map (11 px Gaussian windows) over the (masked) pixels.
    mask: (H, W) or (N, H, W) bool, the pixels that count (e.g. the true silhouette)."""
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    a, b = to_float_batch(pred), to_float_batch(target)
    if a.shape != b.shape:
        raise ValueError(f"pred and target differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    m = torch.ones(a.shape[0], 1, *a.shape[2:], dtype=torch.bool)
    if mask is not None:
        m = m & torch.as_tensor(mask).bool().reshape(-1, 1, *a.shape[2:])
    m3 = m.expand_as(a)
    if not m.any():
        return {"psnr": _skipped("empty mask"), "ssim": _skipped("empty mask")}
    psnr = float(peak_signal_noise_ratio(a[m3], b[m3], data_range=1.0))
    per_image = [float(peak_signal_noise_ratio(a[i][m3[i]], b[i][m3[i]], data_range=1.0)) if m[i].any()
                 else math.nan for i in range(len(a))]
    _, ssim_map = structural_similarity_index_measure(a, b, data_range=1.0, return_full_image=True)
    ssim = float(ssim_map[m3].mean())
    return {"psnr": {"value": psnr, "per_image": per_image, "pixels": int(m.sum())},
            "ssim": {"value": ssim, "pixels": int(m.sum())}}


#################################################################################
#                       Everything at once                                      #
#################################################################################

def image_metrics_report(generated=None, reference=None, pred=None, target=None, mask=None,
                         token_features: tuple[Tensor, Tensor] | None = None,
                         config: ImageMetricConfig | None = None) -> dict:
    """Every metric whose inputs are given, as {"metrics": {name: result}, "skipped": {name: reason}}:
    FID/KID of generated vs reference renders, LPIPS/PSNR/SSIM of pred vs target (mask: pixels that count),
    token-space Frechet distance of (generated, reference) token features (`metrics.token_features`).
    A metric without its weights is listed in "skipped" with the reason; its result also carries it."""
    config = config or ImageMetricConfig()
    out: dict[str, dict] = {}
    if generated is not None and reference is not None:
        out.update(fid_kid(generated, reference, config))
    if pred is not None and target is not None:
        out["lpips"] = lpips(pred, target, config)
        out.update(psnr_ssim(pred, target, mask))
    if token_features is not None:
        gen, ref = token_features
        try:
            out["token_frechet"] = {"value": frechet_distance(ref, gen), "n_generated": len(gen),
                                    "n_reference": len(ref)}
        except ValueError as e:
            out["token_frechet"] = _skipped(str(e))
    return {"metrics": out, "skipped": {k: v["skipped"] for k, v in out.items() if "skipped" in v},
            "weights": {k: v for k, v in metric_availability(config).items() if k in ("fid", "kid", "lpips")}}


__all__ = ["FID_ENV", "INCEPTION_FILES", "LPIPS_BACKBONE_FILES", "LPIPS_ENV", "ImageMetricConfig", "fid_kid",
           "image_metrics_report", "kid_from_features", "lpips", "metric_availability", "psnr_ssim",
           "to_float_batch", "to_uint8_batch"]
