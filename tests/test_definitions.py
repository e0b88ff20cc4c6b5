"""The Dagster code location loads, and its assets materialize in process."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import dagster as dg

from assets.avatar_assets import template_avatar, template_turntable
from assets.token_assets import tokenizer_folder
from assets.tokenizer_assets import tokenizer_model
from orchestration.definitions import defs
from orchestration.resources import ArtifactStore, BodyModelResource

ROOT = Path(__file__).resolve().parents[1]


def test_definitions_load_and_validate():
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def("demo") is not None
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert {"template_avatar", "template_turntable", "raw_videos", "tokenizer_model", "token_dataset",
            "genlca_checkpoint"} <= keys
    assert defs.resolve_job_def("ingest_drop").partitions_def is not None
    assert all(defs.resolve_job_def(j) is not None for j in ("train_tokenizer", "build_token_dataset", "train_genlca"))
    graph = defs.resolve_asset_graph()
    checks = {k.name for k in graph.asset_check_keys}
    assert {"refined_beats_unprojection", "splits_non_empty", "stats_finite", "colours_vary",
            "loss_decreased"} <= checks
    assert dg.AssetKey("tokenizer_model") in graph.get(dg.AssetKey("avatar_tokens")).parent_keys
    assert dg.AssetKey("avatar_tokens") in graph.get(dg.AssetKey("token_dataset")).parent_keys
    assert dg.AssetKey("token_dataset") in graph.get(dg.AssetKey("genlca_checkpoint")).parent_keys
    assert defs.resolve_sensor_def("drop_sensor") is not None


def test_dagster_cli_validates_the_workspace():
    r = subprocess.run([str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_materialize_template_assets(tmp_path):
    result = dg.materialize(
        [template_avatar, template_turntable],
        resources={"body_model": BodyModelResource(), "store": ArtifactStore(root=str(tmp_path))},
        run_config={"ops": {"template_turntable": {"config": {"size": 64, "views": 2, "frames": 2}}}},
    )
    assert result.success
    assert (tmp_path / "avatars" / "template.ply").exists()
    assert (tmp_path / "avatars" / "template_turntable.mp4").exists()
    md = result.asset_materializations_for_node("template_turntable")[0].metadata
    assert "preview" in md and md["preview"].value.startswith("![")


def test_materialize_tokenizer_model_tiny(tmp_path):
    store = ArtifactStore(root=str(tmp_path))
    assert tokenizer_folder("", store) is None  # nothing trained yet: unprojection only
    tiny = {"train_videos": 1, "val_videos": 1, "frames": 3, "size": 64, "resolution": 32, "steps": 3, "batch_size": 1,
            "photos_per_video": 1}
    run = lambda: dg.materialize([tokenizer_model], resources={"body_model": BodyModelResource(), "store": store},
                                 run_config={"ops": {"tokenizer_model": {"config": tiny}}})
    result = run()
    assert result.success
    model = tmp_path / "tokenizer" / "model"
    assert {p.name for p in model.iterdir()} >= {"model.safetensors", "config.json", "metrics.json"}
    md = result.asset_materializations_for_node("tokenizer_model")[0].metadata
    assert md["steps"].value == 3 and md["val_rgb_psnr_refined_db"].value > 0
    assert md["train_examples"].value == {"videos": 1, "photos": 1}
    assert md["synthetic_drops"].value["train"]["reused"] is False
    if importlib.util.find_spec("matplotlib"):  # optional: the loss curve is drawn when it is there
        assert md["loss_curve"].value.startswith("![")
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "refined_beats_unprojection"
    # The trained folder becomes avatar_tokens' default; "none" and a path still win.
    assert tokenizer_folder("", store) == model
    assert tokenizer_folder("none", store) is None and tokenizer_folder("/x/y", store) == Path("/x/y")
    # Same parameters: the synthetic drops are reused, not synthesized again.
    again = run().asset_materializations_for_node("tokenizer_model")[0].metadata
    assert again["synthetic_drops"].value == {k: {"path": v["path"], "reused": True}
                                              for k, v in md["synthetic_drops"].value.items()}
