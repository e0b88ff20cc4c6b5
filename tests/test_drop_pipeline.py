"""Drops through Dagster: the drop sensor, `raw_videos` materialization, and `dvc repro`."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from assets.drop_assets import raw_videos
from assets.partitions import drops_partitions
from genlca.data.manifest import read_manifest
from genlca.data.video import write_video
from orchestration.resources import ArtifactStore, DropsFolder
from orchestration.sensors import drop_sensor

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tiny_drop(folder: Path, ready: bool = True) -> Path:
    (folder / "videos").mkdir(parents=True)
    frames = np.zeros((12, 48, 64, 3), np.uint8)
    for t in range(12):  # a square moving right: every frame differs
        frames[t, 10:30, 2 * t:2 * t + 20] = (220, 30, 30)
    write_video(folder / "videos" / "a.mp4", frames, fps=12)
    write_video(folder / "videos" / "b.mp4", frames[::-1].copy(), fps=12)
    (folder / "videos" / "broken.mp4").write_bytes(b"this is not a video")
    if ready:
        (folder / "_READY").touch()
    return folder


def test_sensor_adds_a_partition_and_run_for_each_complete_drop(tmp_path):
    _tiny_drop(tmp_path / "drop-1")
    _tiny_drop(tmp_path / "drop-2", ready=False)  # still arriving: no marker yet
    (tmp_path / "bad..name").mkdir()
    with dg.instance_for_test() as instance:
        drops = DropsFolder(root=str(tmp_path), settle_seconds=3600)
        ctx = dg.build_sensor_context(instance=instance, resources={"drops": drops})
        result = drop_sensor(ctx)
        assert [r.partition_key for r in result.run_requests] == ["drop-1"]
        assert result.dynamic_partitions_requests[0].partition_keys == ["drop-1"]
        # Next tick: drop-1 is known; drop-2 has not settled (listing unchanged for < 1 h).
        instance.add_dynamic_partitions(drops_partitions.name, ["drop-1"])
        ctx2 = dg.build_sensor_context(instance=instance, resources={"drops": drops}, cursor=result.cursor)
        again = drop_sensor(ctx2)
        assert not again.run_requests
        # A listing that stayed the same for settle_seconds counts as complete, without a marker.
        state = json.loads(again.cursor)
        state["drop-2"]["since"] -= 7200
        ctx3 = dg.build_sensor_context(instance=instance, resources={"drops": drops}, cursor=json.dumps(state))
        assert [r.partition_key for r in drop_sensor(ctx3).run_requests] == ["drop-2"]


def test_raw_videos_materializes_a_manifest_with_checks(tmp_path):
    drops_root = tmp_path / "drops"
    _tiny_drop(drops_root / "d1")
    before = sorted((p.relative_to(drops_root), p.stat().st_mtime_ns) for p in drops_root.rglob("*"))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(drops_partitions.name, ["d1"])
        result = dg.materialize(
            [raw_videos], instance=instance, partition_key="d1",
            resources={"drops": DropsFolder(root=str(drops_root)), "store": ArtifactStore(root=str(tmp_path / "data"))},
        )
    assert result.success
    df = read_manifest(tmp_path / "data" / "manifests" / "d1.parquet")
    status = dict(zip(df["path"], df["status"]))
    assert status == {"videos/a.mp4": "valid", "videos/b.mp4": "valid", "videos/broken.mp4": "quarantined"}
    md = result.asset_materializations_for_node("raw_videos")[0].metadata
    assert md["valid"].value == 2 and md["quarantined"].value == 1
    assert md["contact_sheet"].value.startswith("![")
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"manifest_schema": True, "manifest_expectations": True, "every_file_accounted": True}
    after = sorted((p.relative_to(drops_root), p.stat().st_mtime_ns) for p in drops_root.rglob("*"))
    assert before == after  # nothing moved, deleted or touched


@pytest.mark.skipif(shutil.which("git") is None, reason="dvc repro needs git")
def test_dvc_repro_synth_and_ingest(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "dvc.yaml", repo)
    params = (ROOT / "params.yaml").read_text()
    params = params.replace("videos: 4", "videos: 1").replace("frames: 24", "frames: 8").replace("size: 256", "size: 64")
    (repo / "params.yaml").write_text(params)
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "DVC_SITE_CACHE_DIR": str(tmp_path / "dvc-site"),
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    run = lambda *cmd: subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert run("git", "init", "-q").returncode == 0
    assert run(str(BIN / "dvc"), "init", "-q").returncode == 0
    r = run(str(BIN / "dvc"), "repro")
    assert r.returncode == 0, r.stdout + r.stderr
    manifest = read_manifest(repo / "data" / "manifests" / "synth-demo.parquet")
    assert (manifest["status"] == "valid").sum() == 1
    lock = (repo / "dvc.lock").read_text()
    assert "data/drops/synth-demo" in lock and "md5" in lock
    r = run(str(BIN / "dvc"), "status")
    assert "up to date" in r.stdout.lower() or r.stdout.strip() == "", r.stdout
    # push to a local remote, lose the data and the cache, pull it back
    remote = tmp_path / "remote"
    assert run(str(BIN / "dvc"), "remote", "add", "--local", "-d", "local", str(remote)).returncode == 0
    r = run(str(BIN / "dvc"), "push")
    assert r.returncode == 0 and any(remote.rglob("*")), r.stdout + r.stderr
    shutil.rmtree(repo / "data")
    shutil.rmtree(repo / ".dvc" / "cache")
    r = run(str(BIN / "dvc"), "pull")
    assert r.returncode == 0, r.stdout + r.stderr
    assert read_manifest(repo / "data" / "manifests" / "synth-demo.parquet").equals(manifest)


def test_a_synthetic_drop_mixed_with_broken_files_ingests_as_expected(tmp_path):
    from genlca.data.ingest import ingest_drop
    from genlca.data.synth import generate_drop

    drop = tmp_path / "drop"
    generate_drop(drop, videos=2, frames=8, size=64, regime="mixed", seed=3)
    (drop / "videos" / "truncated.mp4").write_bytes((drop / "videos" / "vid_000.mp4").read_bytes()[:2000])
    (drop / "videos" / "notes.txt").write_text("hello")
    df = ingest_drop(drop)
    status = dict(zip(df["path"], df["status"]))
    assert status == {"videos/notes.txt": "quarantined", "videos/truncated.mp4": "quarantined",
                      "videos/vid_000.mp4": "valid", "videos/vid_001.mp4": "valid"}  # ground_truth/ is not content
    assert df.set_index("path").loc["videos/vid_000.mp4", "frames"] == 8


def test_body_fits_then_tokens_materialize_after_raw_videos(tmp_path):
    from assets.dataset_assets import token_dataset
    from assets.fit_assets import body_fits
    from assets.token_assets import avatar_tokens
    from genlca.data.synth import generate_drop
    from genlca.fitting.store import load_quality
    from genlca.tokenizer.dataset import read_token_index
    from orchestration.resources import BodyModelResource

    drops_root = tmp_path / "drops"
    generate_drop(drops_root / "d1", videos=1, frames=6, size=192, regime="full", seed=5)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(drops_partitions.name, ["d1"])
        result = dg.materialize(
            [raw_videos, body_fits, avatar_tokens], instance=instance, partition_key="d1",
            resources={"drops": DropsFolder(root=str(drops_root)), "store": ArtifactStore(root=str(tmp_path / "data")),
                       "body_model": BodyModelResource()},
            run_config={"ops": {"body_fits": {"config": {"iters": 60}}}},
        )
    assert result.success
    q = load_quality(tmp_path / "data" / "fits" / "d1")
    assert len(q) == 6 and q["fitted"].mean() >= 0.8
    md = result.asset_materializations_for_node("body_fits")[0].metadata
    assert md["fitted_share"].value >= 0.8 and md["overlays"].value.startswith("![")
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["frames_fitted"] and checks["reprojection_error"]
    # Tokens of the fitted video, with the checks and the pictures people look at.
    assert (tmp_path / "data" / "tokens" / "d1" / "vid_000.safetensors").exists()
    assert checks["finite_and_in_range"] and checks["visibility_distribution"]
    md = result.asset_materializations_for_node("avatar_tokens")[0].metadata
    assert md["videos"].value == 1 and md["render"].value.startswith("![")
    assert md["uv_colour_and_visibility"].value.startswith("![")
    assert md["tokenizer"].value == "unprojection only"  # no tokenizer_model in this store
    # The dataset over every drop's tokens (one video: the split check has nothing to split).
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(drops_partitions.name, ["d1", "no-tokens-yet"])
        result = dg.materialize([token_dataset], instance=instance,
                                resources={"store": ArtifactStore(root=str(tmp_path / "data")),
                                           "body_model": BodyModelResource()})
    assert result.success
    index = read_token_index(tmp_path / "data" / "token_dataset")
    assert index[["drop", "video", "split"]].values.tolist() == [["d1", "vid_000", "train"]]
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    # Unprojection only: offset, rotation and opacity stay the template's, so those channels are constant.
    assert checks == {"splits_non_empty": True, "stats_finite": True, "colours_vary": True}
