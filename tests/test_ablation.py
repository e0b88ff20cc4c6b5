"""The visibility ablation: its metrics on hand-made inputs, its benchmark data, and a --quick run end to end."""

import json

import pytest
import torch

from genlca.avatar import CHANNELS, GaussianAvatar
from genlca.diffusion import ablation
from genlca.diffusion.ablation import (
    AblationConfig,
    BenchmarkConfig,
    build_benchmark,
    method_normalizer,
    method_training_set,
    verdict,
)
from genlca.diffusion.data import MIN_STD
from genlca.eval.metrics import (
    frechet_distance,
    opacity_deficit,
    token_features,
    token_l2,
    unobserved_mask,
    unobserved_render_psnr,
)

torch.set_num_threads(1)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """Benchmarks and runs go to a temporary cache (the body model's cache stays where it is)."""
    monkeypatch.setattr(ablation, "cache_root", lambda: tmp_path / "cache")
    return tmp_path / "cache"


# ----------------------------------------------------------------------------- metrics
def test_frechet_is_zero_for_identical_sets_and_grows_with_a_shift():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(200, 8, generator=g)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    b = torch.randn(200, 8, generator=g)
    d = [frechet_distance(a, b + s) for s in (0.0, 0.5, 1.0, 2.0)]
    assert d == sorted(d) and d[-1] > 10 * d[0]
    # A pure mean shift s in every one of 8 dimensions adds 8 s² (the covariance term stays put).
    assert frechet_distance(a, a + 1.0) == pytest.approx(8.0, rel=1e-6)
    with pytest.raises(ValueError):
        frechet_distance(a[:1], b)


def test_token_features_are_fixed_and_ignore_texels_outside_the_chart():
    chart = torch.zeros(16, 16, dtype=torch.bool)
    chart[2:14, 3:12] = True
    maps = torch.randn(5, 14, 16, 16)
    f = token_features(maps, chart, grid=4, dim=6)
    assert f.shape == (5, 6)
    assert torch.equal(f, token_features(maps, chart, grid=4, dim=6))  # same projection every call
    outside = maps.clone()
    outside[:, :, ~chart] = 100.0
    assert torch.allclose(token_features(outside, chart, grid=4, dim=6), f)


def test_unobserved_mask_excludes_observed_texels_and_the_outside_of_the_chart():
    chart = torch.zeros(4, 4, dtype=torch.bool)
    chart[1:3] = True
    valid = torch.zeros(2, 4, 4, dtype=torch.int32)
    valid[0, 1, :2] = 3  # counts: > 0 is seen
    valid[1, 0, 0] = 1  # outside the chart: still not "unobserved"
    m = unobserved_mask(valid, chart)
    assert m.shape == (2, 4, 4)
    assert not m[0, 1, :2].any() and m[0, 1, 2:].all() and m[0, 2].all()
    assert not (m & ~chart).any()
    assert m[1].sum() == chart.sum()


def test_token_l2_counts_only_the_masked_texels():
    truth = torch.zeros(1, 14, 4, 4)
    gen = truth.clone()
    gen[..., 0, :] = 5.0  # error on row 0 only
    mask = torch.zeros(1, 4, 4, dtype=torch.bool)
    mask[0, 1:] = True
    assert token_l2(gen, truth, mask).item() == 0.0
    mask[0, 0] = True
    assert token_l2(gen, truth, mask).item() == pytest.approx((25 / 4) ** 0.5)


def test_opacity_deficit_is_positive_when_the_generation_is_more_transparent():
    truth = torch.zeros(2, 14, 3, 3)
    truth[:, CHANNELS["opacity"]] = 0.9
    gen = truth.clone()
    gen[0, CHANNELS["opacity"]] = 0.2  # holes
    gen[1, CHANNELS["opacity"]] = 1.7  # clamped to 1 as the avatar draws it
    mask = torch.ones(2, 3, 3, dtype=torch.bool)
    d = opacity_deficit(gen, truth, mask)
    assert d[0].item() == pytest.approx(0.7) and d[1].item() == pytest.approx(-0.1)


def test_render_psnr_of_the_unseen_parts_sees_holes(anny):
    from genlca.avatar import template_avatar
    from genlca.body.uv_layout import uv_layout

    layout = uv_layout(anny, 32)
    truth = template_avatar(anny, layout)
    unseen = layout.mask.clone()
    unseen[:16] = False  # half the UV square counts as seen
    same = unobserved_render_psnr(truth, truth, unseen, anny, layout, views=2, size=48)
    holes = truth.maps.clone()
    holes[CHANNELS["opacity"]] *= ~unseen
    holed = unobserved_render_psnr(GaussianAvatar(holes, truth.shape), truth, unseen, anny, layout, views=2, size=48)
    assert same > 60 and holed < 20
    # Holes where it was seen are not scored.
    seen_holes = truth.maps.clone()
    seen_holes[CHANNELS["opacity"]] *= unseen
    elsewhere = unobserved_render_psnr(GaussianAvatar(seen_holes, truth.shape), truth, unseen, anny, layout, 2, 48)
    assert elsewhere > holed + 5


def test_verdict_needs_a_margin_beyond_the_seed_spread():
    def s(psnr, psnr_sd, deficit, deficit_sd):
        return {"mean": {"unobs_render_psnr_db": psnr, "unobs_opacity_deficit": deficit},
                "std": {"unobs_render_psnr_db": psnr_sd, "unobs_opacity_deficit": deficit_sd}}

    summary = {"visibility_aware": s(20.0, 0.5, 0.01, 0.01), "naive": s(15.0, 0.5, 0.5, 0.05),
               "drop_partial": s(19.5, 0.5, -0.3, 0.05)}
    v = verdict(summary)
    assert v["unobs_render_psnr_db"]["vs"]["naive"]["outcome"] == "win"
    assert v["unobs_render_psnr_db"]["vs"]["drop_partial"]["outcome"] == "tie"  # 0.5 dB < 1 dB of spread
    assert v["unobs_opacity_deficit"]["vs"]["drop_partial"]["outcome"] == "win"  # too opaque counts too
    assert not v["wins_decisive"] and v["no_loss_decisive"]
    summary["drop_partial"] = s(22.0, 0.1, 0.0, 0.0)
    assert verdict(summary)["unobs_render_psnr_db"]["vs"]["drop_partial"]["outcome"] == "loss"


# ----------------------------------------------------------------------------- benchmark data
def test_benchmark_has_the_configured_shares_masks_and_fill(cache):
    cfg = BenchmarkConfig(train_videos=10, full_share=0.2, test_videos=2, frames=3, size=32, resolution=32)
    b = build_benchmark(cfg)
    chart = b.chart
    assert b.maps.shape == b.truth.shape == (12, 14, 32, 32)
    assert int(b.train.sum()) == 10 and int((b.train & b.full).sum()) == 2 and not (b.full & ~b.train).any()
    assert not (b.valid & ~chart).any()
    assert (b.valid[b.full] == chart).all()  # fully observed: the whole chart counts as seen
    partial = b.valid[~b.full].flatten(1).float().sum(1) / chart.sum()
    assert ((partial > 0.05) & (partial < 0.95)).all()
    seen = b.valid[:, None].expand_as(b.maps)
    assert torch.equal(b.maps[seen], b.truth[seen])  # the truth where the video saw it ...
    unseen = unobserved_mask(b.valid, chart)
    op = CHANNELS["opacity"].start
    assert (b.maps[:, op][unseen] == 0).all()  # ... the transparent fill elsewhere
    assert (b.truth[:, op][unseen] > 0.5).all()
    assert len(set(b.names)) == 12 and all(b.captions)
    # Cached: a second build loads the same tensors.
    again = build_benchmark(cfg)
    assert torch.equal(again.maps, b.maps) and torch.equal(again.valid, b.valid) and again.names == b.names
    assert len(list(cache.glob("ablation/*/benchmark.safetensors"))) == 1

    # drop_partial trains on the fully observed subjects only; naive normalizes the fill as data.
    assert method_training_set(b, "drop_partial").full.all() and len(method_training_set(b, "drop_partial").names) == 2
    assert len(method_training_set(b, "naive").names) == 10
    train = method_training_set(b, "naive")
    assert method_normalizer(train, "visibility_aware").std[op] == pytest.approx(MIN_STD)
    assert method_normalizer(train, "naive").std[op] > 0.1


# ----------------------------------------------------------------------------- end to end
def test_quick_ablation_from_the_command_line(cache, tmp_path):
    from typer.testing import CliRunner

    from genlca.cli import app

    out = tmp_path / "abl.json"
    args = ["evaluate", "ablation", "--json", str(out), "--quick", "--runs", str(tmp_path / "runs")]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    report = json.loads(out.read_text())
    cfg = AblationConfig(**report["config"])
    assert set(report["methods"]) == set(ablation.METHODS)
    for method, v in report["methods"].items():
        assert set(v["mean"]) == set(ablation.METRICS), method
        assert all(len(vals) == cfg.seeds for vals in v["per_seed"].values())
        # Equal compute: every method ran the same steps x batch (drop_partial on fewer, fully observed samples).
        assert len(report["timings"]["per_method"][method]["train_s"]) == cfg.seeds
    assert report["methods"]["drop_partial"]["training"][0]["samples"] < report["methods"]["naive"]["training"][0][
        "samples"]
    assert "wins_decisive" in report["verdict"] and report["reference"]["observation"]["obs_token_l2"] == 0.0
    assert "visibility_aware" in r.output
