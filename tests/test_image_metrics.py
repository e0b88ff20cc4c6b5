"""Image metrics (issue 9): the maths of FID/KID through torchmetrics with a small deterministic feature extractor
in place of the Inception (closed forms, identical sets, known shifts), PSNR/SSIM against known noise, and the
path without backbone weights: skipped with a reason that says what to provide, no network built, no download."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import linalg

from genlca.eval import image_metrics as im
from genlca.eval.image_metrics import (
    FID_ENV,
    INCEPTION_FILES,
    LPIPS_BACKBONE_FILES,
    LPIPS_ENV,
    ImageMetricConfig,
    fid_kid,
    image_metrics_report,
    kid_from_features,
    lpips,
    metric_availability,
    psnr_ssim,
)


pytestmark = pytest.mark.usefixtures("one_thread")


class QuadrantMeans(torch.nn.Module):
    """(N, 3, H, W) uint8 -> (N, 12): each channel's mean over the four quadrants, in [0, 1] (float64: linear in
    the pixels, so a pixel shift is the same shift in feature space)."""

    num_features = 12

    def forward(self, x):
        x = x.double() / 255
        h, w = x.shape[-2] // 2, x.shape[-1] // 2
        quads = [x[..., :h, :w], x[..., :h, w:], x[..., h:, :w], x[..., h:, w:]]
        return torch.cat([q.mean(dim=(-2, -1)) for q in quads], dim=1)


def images(n, seed, lo=20, hi=200, size=16):
    """n (size, size, 3) uint8 renders-like images (what render_views returns)."""
    rng = np.random.default_rng(seed)
    return [rng.integers(lo, hi, (size, size, 3), dtype=np.uint8) for _ in range(n)]


def features(imgs):
    return QuadrantMeans()(im.to_uint8_batch(imgs)).numpy()


def frechet_reference(a, b):
    """|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 sqrtm(S_a S_b)) with scipy (unbiased covariances, as torchmetrics)."""
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(sa @ sb).real
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(sa + sb - 2 * covmean))


def mmd2_unbiased(x, y, degree=3, coef=1.0):
    """KID's estimator on whole sets: unbiased MMD^2 with k(a, b) = (a.b / d + coef)^degree."""
    k = lambda a, b: (a @ b.T / x.shape[1] + coef) ** degree  # noqa: E731
    m = len(x)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return float((kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.sum() / m**2)


# ------------------------------------------------------------------ FID / KID

def test_fid_of_identical_sets_is_zero():
    ref = images(40, 0)
    out = fid_kid(ref, ref, feature=QuadrantMeans())
    assert out["fid"]["value"] == pytest.approx(0.0, abs=1e-8)
    assert out["fid"]["features"] == "custom QuadrantMeans" and out["fid"]["n_generated"] == 40


def test_fid_of_a_known_mean_shift_is_its_squared_length():
    """Every pixel +20: each of the 12 features moves by 20/255, the covariance is unchanged -> FID = 12 (20/255)^2."""
    ref = images(40, 1)
    gen = [r + np.uint8(20) for r in ref]  # values stay <= 219: no wrap-around
    out = fid_kid(gen, ref, feature=QuadrantMeans())
    assert out["fid"]["value"] == pytest.approx(12 * (20 / 255) ** 2, rel=1e-6)


def test_fid_matches_the_closed_form_with_different_covariances():
    ref, gen = images(50, 2), images(30, 3, lo=60, hi=150)  # other mean, smaller spread
    expected = frechet_reference(features(gen), features(ref))
    out = fid_kid(gen, ref, feature=QuadrantMeans())
    assert expected > 1e-3
    assert out["fid"]["value"] == pytest.approx(expected, rel=1e-5)


def test_kid_is_the_unbiased_mmd_and_near_zero_for_one_distribution():
    ref, same, shifted = images(30, 4), images(30, 5), [x + np.uint8(30) for x in images(30, 6)]
    whole = fid_kid(same, ref, ImageMetricConfig(kid_subsets=3), feature=QuadrantMeans())["kid"]
    # Subsets of the whole (equal-size) sets are the sets: every subset gives the full-set estimate.
    assert whole["subset_size"] == 30 and whole["std"] == pytest.approx(0.0, abs=1e-12)
    assert whole["value"] == pytest.approx(mmd2_unbiased(features(ref), features(same)), rel=1e-9, abs=1e-12)
    shift = fid_kid(shifted, ref, ImageMetricConfig(kid_subsets=3), feature=QuadrantMeans())["kid"]
    assert shift["value"] > 0 and abs(whole["value"]) < 0.05 * shift["value"]


def test_kid_subset_size_fits_small_sets_and_is_seeded():
    ref, gen = images(25, 7), images(8, 8)
    cfg = ImageMetricConfig(kid_subsets=20, seed=3)
    a = fid_kid(gen, ref, cfg, feature=QuadrantMeans())["kid"]
    b = fid_kid(gen, ref, cfg, feature=QuadrantMeans())["kid"]
    assert a["subset_size"] == 8 and a["subsets"] == 20 and a["std"] > 0
    assert a["value"] == b["value"] and a["std"] == b["std"]
    assert "skipped" in kid_from_features(torch.zeros(1, 4), torch.zeros(5, 4))
    assert "skipped" in fid_kid(gen[:1], ref, feature=QuadrantMeans())["fid"]


# ------------------------------------------------------------------ PSNR / SSIM

def test_psnr_of_a_known_noise_level():
    """pred = target +- d on every value: mse = d^2 exactly, PSNR = 10 log10(1 / mse)."""
    g = torch.Generator().manual_seed(0)
    target = 0.2 + 0.6 * torch.rand(3, 3, 24, 24, generator=g)
    d = 0.05
    pred = target + d * (torch.randint(0, 2, target.shape, generator=g) * 2 - 1)
    out = psnr_ssim(pred, target)
    assert out["psnr"]["value"] == pytest.approx(10 * math.log10(1 / d**2), abs=1e-4)
    assert out["psnr"]["per_image"] == pytest.approx([10 * math.log10(1 / d**2)] * 3, abs=1e-4)
    assert 0 < out["ssim"]["value"] < 1


def test_ssim_of_identical_images_is_one_and_formats_agree():
    ref = images(2, 9, size=32)
    out = psnr_ssim(ref, ref)
    assert out["ssim"]["value"] == pytest.approx(1.0, abs=1e-6)
    # uint8 HWC numpy list == float NCHW tensor in [0, 1]
    batch = torch.stack([torch.from_numpy(r).permute(2, 0, 1).float() / 255 for r in ref])
    noisy = [np.clip(r.astype(int) + 10, 0, 255).astype(np.uint8) for r in ref]
    a, b = psnr_ssim(noisy, ref), psnr_ssim(im.to_float_batch(noisy), batch)
    assert a["psnr"]["value"] == pytest.approx(b["psnr"]["value"]) and a["ssim"]["value"] == pytest.approx(
        b["ssim"]["value"])


def test_masked_psnr_counts_only_the_masked_pixels():
    target = torch.full((2, 3, 16, 16), 0.5)
    mask = torch.zeros(2, 16, 16, dtype=torch.bool)
    mask[:, 4:12, 4:12] = True
    pred = target + torch.where(mask[:, None], 0.1, 0.3)  # error 0.1 inside the mask, 0.3 outside
    out = psnr_ssim(pred, target, mask=mask)
    assert out["psnr"]["value"] == pytest.approx(20.0, abs=1e-4) and out["psnr"]["pixels"] == 2 * 64
    whole = psnr_ssim(pred, target)["psnr"]["value"]
    mse = (64 * 0.1**2 + (256 - 64) * 0.3**2) / 256
    assert whole == pytest.approx(10 * math.log10(1 / mse), abs=1e-4)
    one = psnr_ssim(pred, target, mask=mask[0])  # an (H, W) mask applies to every image
    assert one["psnr"]["value"] == pytest.approx(20.0, abs=1e-4)
    assert "skipped" in psnr_ssim(pred, target, mask=torch.zeros(16, 16, dtype=torch.bool))["psnr"]


# ------------------------------------------------------------------ without weights

@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """An empty torch cache, no env vars, and tripwires on every way to a network or a download."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    monkeypatch.delenv(FID_ENV, raising=False)
    monkeypatch.delenv(LPIPS_ENV, raising=False)
    calls = []
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: calls.append(("download", a)))
    from torchmetrics.image import fid as tm_fid
    from torchmetrics.image import lpip as tm_lpip

    monkeypatch.setattr(tm_fid, "NoTrainInceptionV3", lambda *a, **k: calls.append(("inception", a, k)))
    monkeypatch.setattr(tm_lpip, "LearnedPerceptualImagePatchSimilarity",
                        lambda *a, **k: calls.append(("lpips", a, k)))
    return tmp_path, calls


def test_without_weights_fid_kid_lpips_are_skipped_with_how_to_provide(no_weights):
    tmp_path, calls = no_weights
    ref = images(4, 10)
    out = fid_kid(ref, ref)
    cache = str(tmp_path / "torch" / "hub" / "checkpoints")
    for name in ("fid", "kid"):
        reason = out[name]["skipped"]
        assert INCEPTION_FILES[0] in reason and FID_ENV in reason and cache in reason and "value" not in out[name]
    reason = lpips(ref, ref)["skipped"]
    assert LPIPS_BACKBONE_FILES["alex"] in reason and LPIPS_ENV in reason and cache in reason
    assert calls == []  # no network built, nothing downloaded


def test_found_weights_and_configured_paths(no_weights, monkeypatch):
    tmp_path, calls = no_weights
    missing = tmp_path / "nowhere.pth"
    status = metric_availability(ImageMetricConfig(fid_weights=missing))
    assert f"configured weights file {missing} does not exist" in status["fid"]["reason"]
    monkeypatch.setenv(LPIPS_ENV, str(missing))
    assert f"${LPIPS_ENV}={missing} does not exist" in metric_availability()["lpips"]["reason"]
    # A (fake) file under the hub cache's name is found; whatever still fails (torch-fidelity missing here, or the
    # file not being a checkpoint) is reported as skipped too, never a number.
    ckpt = tmp_path / "torch" / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    (ckpt / INCEPTION_FILES[1]).write_bytes(b"not a checkpoint")
    path, reason = im._find_weights(None, FID_ENV, INCEPTION_FILES, ImageMetricConfig(), "Inception")
    assert path == ckpt / INCEPTION_FILES[1] and reason is None
    status = metric_availability()["fid"]
    assert status["available"] or "weights not found" not in status["reason"]
    out = fid_kid(images(3, 11), images(3, 12))
    assert "skipped" in out["fid"] and "skipped" in out["kid"]
    assert not any(c[0] == "download" for c in calls)


def test_no_downloads_guard_refuses_a_hub_download(tmp_path):
    with im._no_downloads(), pytest.raises(RuntimeError, match="never downloads"):
        torch.hub.load_state_dict_from_url("https://example.invalid/w-0123abcd.pth", model_dir=str(tmp_path))
    assert not list(tmp_path.iterdir())


def test_report_computes_what_it_can_and_lists_the_skipped(no_weights):
    ref = images(6, 13)
    pred = [np.clip(r.astype(int) + 5, 0, 255).astype(np.uint8) for r in ref]
    feats = torch.randn(20, 4, generator=torch.Generator().manual_seed(0))
    rep = image_metrics_report(generated=pred, reference=ref, pred=pred, target=ref, token_features=(feats, feats))
    assert set(rep["skipped"]) == {"fid", "kid", "lpips"}
    m = rep["metrics"]
    assert m["psnr"]["value"] == pytest.approx(10 * math.log10(255**2 / 25), abs=1e-3)
    assert m["ssim"]["value"] < 1 and m["token_frechet"]["value"] == pytest.approx(0.0, abs=1e-8)
    assert not rep["weights"]["fid"]["available"]


def test_hub_with_shows_a_file_elsewhere_under_the_cache_name(tmp_path):
    """How LPIPS's torchvision backbone is loaded from an explicit path: torch.hub finds it, nothing downloads, and
    the hub dir is restored after."""
    mine = tmp_path / "elsewhere" / "my-alexnet.pth"
    mine.parent.mkdir()
    torch.save({"w": torch.arange(3.0)}, mine)
    before = torch.hub.get_dir()
    name = LPIPS_BACKBONE_FILES["alex"]
    with im._no_downloads(), im._hub_with(mine, name):
        sd = torch.hub.load_state_dict_from_url(f"https://download.pytorch.org/models/{name}")
    assert torch.equal(sd["w"], torch.arange(3.0)) and torch.hub.get_dir() == before


def test_with_weights_the_networks_get_the_resolved_files(no_weights, monkeypatch):
    """The branch that runs where weights exist, with stand-ins for the networks (torch-fidelity / torchvision are
    not installable here): Inception is built from the resolved file, LPIPS under the backbone's cache name."""
    tmp_path, calls = no_weights
    from torchmetrics.image import fid as tm_fid
    from torchmetrics.image import lpip as tm_lpip

    monkeypatch.setattr(im, "_import_error", lambda module: None)
    inception = tmp_path / "inception.pth"
    inception.write_bytes(b"stand-in")
    built = []
    monkeypatch.setattr(tm_fid, "NoTrainInceptionV3", lambda **k: built.append(k) or QuadrantMeans())
    out = fid_kid(images(5, 15), images(6, 16), ImageMetricConfig(fid_weights=inception, kid_subsets=2))
    assert built == [{"name": "inception-v3-compat", "features_list": ["2048"],
                      "feature_extractor_weights_path": str(inception)}]
    assert out["fid"]["value"] > 0 and str(inception) in out["fid"]["features"] and out["kid"]["subset_size"] == 5

    class StandIn:  # mean squared error per pair, where LPIPS would be
        def __init__(self, net_type, reduction, normalize):
            self.name = net_type
            self.seen = [p.name for p in (Path(torch.hub.get_dir()) / "checkpoints").iterdir()]
            self.scores = []

        def to(self, device):
            return self

        def update(self, a, b):
            self.scores.append((a - b).square().mean(dim=(1, 2, 3)))

        def compute(self):
            return torch.cat(self.scores)

    metrics = []
    monkeypatch.setattr(tm_lpip, "LearnedPerceptualImagePatchSimilarity",
                        lambda **k: metrics.append(StandIn(**k)) or metrics[-1])
    backbone = tmp_path / "vgg.pth"
    backbone.write_bytes(b"stand-in")
    ref = images(5, 17)
    out = lpips(ref, ref, ImageMetricConfig(lpips_net="vgg", lpips_weights=backbone, batch_size=2))
    assert out["value"] == 0 and len(out["per_image"]) == 5 and out["net"] == "vgg"
    assert metrics[0].seen == [LPIPS_BACKBONE_FILES["vgg"]]
    assert not any(c[0] == "download" for c in calls)


# ------------------------------------------------------------------ with the real weights (where present)

def test_real_backbones_on_identical_sets_where_weights_exist():
    status = metric_availability()
    if not (status["fid"]["available"] or status["lpips"]["available"]):
        pytest.skip(f"no backbone weights here: {status['fid']['reason']} | {status['lpips']['reason']}")
    ref = images(4, 14, size=64)
    if status["fid"]["available"]:
        assert fid_kid(ref, ref)["fid"]["value"] == pytest.approx(0.0, abs=1e-3)
    if status["lpips"]["available"]:
        assert lpips(ref, ref)["value"] == pytest.approx(0.0, abs=1e-6)
