"""The evaluation report: a tiny checkpoint on a token folder of true synthetic subjects -> report.html with
samples, the token-space Frechet distance, FID / KID skipped with the reason (no Inception weights here), the
held-out completion error per body region (heat map + bars), the reconstruction metrics (PSNR / SSIM; LPIPS
skipped without weights), the lineage page and the ablation table; the same through the CLI and the
`evaluation_report` asset."""

from __future__ import annotations

import json
import math
import shutil

import pytest
from typer.testing import CliRunner

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, anny):
    import torch

    from genlca.data.synth.subject_tokens import write_subject_tokens
    from genlca.diffusion.data import load_token_dataset
    from genlca.diffusion.text import TextEncoder
    from genlca.diffusion.train import TrainConfig, train_diffusion
    from genlca.tokenizer.dataset import build_token_dataset

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("report")
    write_subject_tokens(root / "subjects", 6, seed=0, resolution=32, body=anny)
    build_token_dataset({"subjects": root / "subjects"}, root / "token_dataset", val_fraction=0.3)
    cfg = TrainConfig(steps=3, batch_size=2, threads=1, checkpoint_every=3, model_kwargs={"patch_size": 8})
    train_diffusion(load_token_dataset(root / "token_dataset", "train", body=anny), root / "models" / "genlca", cfg,
                    text_encoder=TextEncoder(), progress=False, lineage={"git_commit": "test", "parent": None})
    return root


def test_report_has_samples_metrics_lineage_and_ablation(trained, tmp_path):
    from genlca.eval.report import evaluation_report

    ablation = {"methods": {"visibility_aware": {"mean": {"unobs_render_psnr_db": 15.3}, "std": {}},
                            "naive": {"mean": {"unobs_render_psnr_db": 12.4}, "std": {}}}}
    (tmp_path / "abl.json").write_text(json.dumps(ablation))
    r = evaluation_report(trained / "models" / "genlca", trained / "token_dataset", tmp_path / "out", samples=3,
                          steps=2, size=48, ablation_json=tmp_path / "abl.json")
    assert r["reference_split"] == "val+train" and len(r["captions"]) == 3 and all(r["captions"])
    fd = r["metrics"]["token_frechet"]
    assert fd["value"] >= 0 and fd["n_generated"] == 3
    assert "weights" in r["metrics"]["fid"]["skipped"] or "value" in r["metrics"]["fid"]  # never faked
    page = (tmp_path / "out" / "report.html").read_text()
    for text in (r["weights"], "token_frechet", "data:image/png;base64", "lineage.html", "15.3", "naive"):
        assert text in page, text
    assert (tmp_path / "out" / "lineage.html").is_file() and r["lineage_checkpoints"] == 1
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["metrics"]["token_frechet"] == fd

    # Held out: every region's error is there and finite, on the val split only.
    regions = {k: v for k, v in saved["metrics"].items() if k.startswith("region_error.")}
    assert len(regions) == 7 and all(math.isfinite(v["value"]) and v["value"] >= 0 for v in regions.values())
    assert saved["metrics"]["region_error"]["split"] == "val" and set(saved["held_out"]["regions"]) == \
        {k.split(".", 1)[1] for k in regions}
    # No ground truth beside these tokens: the reconstruction says it used the held-out tokens instead.
    assert saved["held_out"]["reconstruction"]["reference"] == "held_out_tokens"
    for k in ("recon_psnr", "recon_ssim"):
        assert math.isfinite(saved["metrics"][k]["value"]) and saved["metrics"][k]["reference"] == "held_out_tokens"
    assert "value" in saved["metrics"]["recon_lpips"] or "weights" in saved["metrics"]["recon_lpips"]["skipped"]
    # The page shows the pictures, and links the files beside it.
    for name in ("regions.png", "reconstruction.png", "samples.png"):
        assert f'href="{name}"' in page and (tmp_path / "out" / name).stat().st_size > 1000, name
    assert "region_error.head" in page and "held-out tokens" in page
    assert saved["protocol"]["hash"] and saved["timings"]["held_out_s"] >= 0


def test_report_cli_and_asset(trained, tmp_path):
    import dagster as dg

    from assets.report_assets import evaluation_report
    from genlca.cli import app
    from orchestration.resources import ArtifactStore, DropsFolder

    r = CliRunner().invoke(app, ["evaluate", "report", "--checkpoint", str(trained / "models" / "genlca"),
                                 "--dataset", str(trained / "token_dataset"), "--out", str(tmp_path / "cli"),
                                 "--samples", "2", "--steps", "2", "--size", "48", "--region-steps", "2",
                                 "--drops", str(tmp_path / "no-drops")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "cli" / "report.html").is_file() and "token_frechet" in r.output
    assert "region_error" in r.output and "held_out_tokens" in r.output

    root = tmp_path / "store"
    shutil.copytree(trained, root)
    result = dg.materialize([evaluation_report], resources={"store": ArtifactStore(root=str(root)),
                                                            "drops": DropsFolder(root=str(root / "drops"))},
                            run_config={"ops": {"evaluation_report": {"config": {"samples": 2, "steps": 2, "size": 48,
                                                                                 "region_steps": 2}}}})
    assert result.success
    md = result.asset_materializations_for_node("evaluation_report")[0].metadata
    table = md["metrics"].value
    assert all(k in table for k in ("token_frechet", "region_error.upper_body", "recon_psnr", "recon_lpips"))
    assert md["preview"].value.startswith("![") and (root / "reports" / "genlca" / "report.html").is_file()
    assert md["reconstruction_reference"].value == "held_out_tokens" and not md["production_reevaluated"].value


def test_region_error_grows_with_a_worse_completion(trained, anny):
    """Scoring is against the held-out tokens: returning them scores 0, the checkpoint's completion lands
    somewhere finite, and noise in the hidden texels (a deliberately bad model) scores worse than the mean token."""
    from dataclasses import replace

    import torch

    from genlca.body.uv_layout import uv_layout
    from genlca.eval.held_out import validation_rows
    from genlca.eval.region_error import region_errors, region_masks
    from genlca.generation.generator import AvatarGenerator, SamplerOptions
    from genlca.tokenizer.tokens import load_tokens

    gen = AvatarGenerator(trained / "models" / "genlca")
    held = [load_tokens(trained / "token_dataset" / p) for p in validation_rows(trained / "token_dataset")["path"]]
    masks = region_masks(held, anny, uv_layout(anny, 32))
    oracle = lambda partial: [held[i // masks.shape[1]] for i in range(len(partial))]  # noqa: E731
    rng = torch.Generator().manual_seed(0)
    noise = lambda partial: [replace(p, maps=gen.normalizer.denormalize(  # noqa: E731
        torch.where(p.count[None] > 0, gen.normalizer.normalize(p.maps), torch.randn(p.maps.shape, generator=rng))))
        for p in partial]
    model = lambda partial: gen.complete(partial, None, SamplerOptions(steps=2, method="euler"))  # noqa: E731
    score = {name: region_errors(held, masks, fn, gen.normalizer, gen.chart)["mean"]
             for name, fn in (("oracle", oracle), ("noise", noise), ("model", model))}
    assert score["oracle"]["token_rmse"] == 0 and score["oracle"]["rgb_rmse"] == 0
    assert math.isfinite(score["model"]["token_rmse"]) and score["model"]["token_rmse"] > 0
    base = score["noise"]["baseline_token_rmse"]
    assert score["noise"]["token_rmse"] > base * 1.2 > 0  # noise adds ~1 per channel on top of the mean's error


def test_psnr_of_identical_renders_is_inf_and_of_a_shifted_render_lower(anny):
    from dataclasses import replace

    from genlca.avatar import CHANNELS, template_avatar
    from genlca.body.uv_layout import uv_layout
    from genlca.eval.reconstruction import paired_renders, reconstruction_metrics

    layout = uv_layout(anny, 32)
    truth = template_avatar(anny, layout)
    maps = truth.maps.clone()
    maps[CHANNELS["rgb"]] = (maps[CHANNELS["rgb"]] + 0.2).clamp(0, 1)
    same = reconstruction_metrics(*paired_renders(truth, truth, layout.mask, anny, layout, 2, 48))
    shifted = reconstruction_metrics(*paired_renders(replace(truth, maps=maps), truth, layout.mask, anny, layout, 2,
                                                     48))
    assert same["psnr"]["value"] == math.inf or same["psnr"]["value"] > 60
    assert same["ssim"]["value"] > 0.999 and shifted["ssim"]["value"] < same["ssim"]["value"]
    assert shifted["psnr"]["value"] < 25 and same["psnr"]["pixels"] > 0
    assert "value" in same["lpips"] or "weights" in same["lpips"]["skipped"]  # never with random weights


def test_reconstruction_against_ground_truth(trained, anny, tmp_path):
    """A synthetic drop keeps its ground truth: a validation video of it is the reference, and the report says so."""
    from genlca.body.uv_layout import uv_layout
    from genlca.data.synth import generate_drop
    from genlca.eval.held_out import HeldOutConfig, held_out_evaluation
    from genlca.generation.generator import AvatarGenerator
    from genlca.generation.image_eval import photo_tokens, synthetic_photos
    from genlca.tokenizer.dataset import build_token_dataset
    from genlca.tokenizer.tokens import save_tokens

    layout = uv_layout(anny, 32)
    generate_drop(tmp_path / "drops" / "gt", videos=2, frames=2, size=64, resolution=32, regime="full", seed=3)
    (tmp_path / "tokens").mkdir()
    for photo in synthetic_photos(tmp_path / "drops" / "gt", anny.name):  # the drop's tokens, one frame each
        save_tokens(photo_tokens(photo, anny, layout), tmp_path / "tokens" / f"{photo.name}.safetensors")
    build_token_dataset({"gt": tmp_path / "tokens"}, tmp_path / "ds", val_fraction=0.5)
    gen = AvatarGenerator(trained / "models" / "genlca")
    cfg = HeldOutConfig(avatars=1, steps=2, regions=("upper_body", "legs"), size=48)
    r = held_out_evaluation(gen, tmp_path / "ds", tmp_path / "out", anny, cfg, drops_dir=tmp_path / "drops")
    assert r["reconstruction"]["reference"] == "ground_truth" and len(r["reconstruction"]["inputs"]) == 1
    psnr = r["metrics"]["recon_psnr"]
    assert 0 < psnr["value"] < 60 and psnr["reference"] == "ground_truth" and "ground truth" in psnr["note"]
    assert set(r["regions"]) == {"upper_body", "legs"} and (tmp_path / "out" / "reconstruction.png").is_file()
