"""The evaluation report: a tiny checkpoint on a token folder of true synthetic subjects -> report.html with
samples, the token-space Frechet distance, FID / KID skipped with the reason (no Inception weights here), the
lineage page and the ablation table; the same through the CLI and the `evaluation_report` asset."""

from __future__ import annotations

import json
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
    assert json.loads((tmp_path / "out" / "report.json").read_text())["metrics"]["token_frechet"] == fd


def test_report_cli_and_asset(trained, tmp_path):
    import dagster as dg

    from assets.report_assets import evaluation_report
    from genlca.cli import app
    from orchestration.resources import ArtifactStore

    r = CliRunner().invoke(app, ["evaluate", "report", "--checkpoint", str(trained / "models" / "genlca"),
                                 "--dataset", str(trained / "token_dataset"), "--out", str(tmp_path / "cli"),
                                 "--samples", "2", "--steps", "2", "--size", "48"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "cli" / "report.html").is_file() and "token_frechet" in r.output

    root = tmp_path / "store"
    shutil.copytree(trained, root)
    result = dg.materialize([evaluation_report], resources={"store": ArtifactStore(root=str(root))},
                            run_config={"ops": {"evaluation_report": {"config": {"samples": 2, "steps": 2,
                                                                                 "size": 48}}}})
    assert result.success
    md = result.asset_materializations_for_node("evaluation_report")[0].metadata
    assert "token_frechet" in md["metrics"].value and (root / "reports" / "genlca" / "report.html").is_file()
