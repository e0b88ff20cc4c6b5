"""The Dagster code location loads, and its assets materialize in process."""

import subprocess
import sys
from pathlib import Path

import dagster as dg

from assets.avatar_assets import template_avatar, template_turntable
from orchestration.definitions import defs
from orchestration.resources import ArtifactStore, BodyModelResource

ROOT = Path(__file__).resolve().parents[1]


def test_definitions_load_and_validate():
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def("demo") is not None
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert {"template_avatar", "template_turntable", "raw_videos"} <= keys
    assert defs.resolve_job_def("ingest_drop").partitions_def is not None
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
