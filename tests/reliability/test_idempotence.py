"""Idempotent materializations: the same partition twice gives the same files; a drop still growing is not
published as if it were complete."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pytest

import assets.drop_assets
from assets.drop_assets import raw_videos
from assets.partitions import drops_partitions
from genlca.data.video import write_video
from orchestration.resources import ArtifactStore, BodyModelResource, DropsFolder
from tests.reliability.harness import fingerprint, leftovers

VOLATILE = ("seconds", "reused")


def _drop(folder: Path) -> Path:
    (folder / "videos").mkdir(parents=True)
    frames = np.zeros((12, 48, 64, 3), np.uint8)
    for t in range(12):
        frames[t, 10:30, 2 * t:2 * t + 20] = (220, 30, 30)
    write_video(folder / "videos" / "a.mp4", frames, fps=12)
    return folder


def test_a_drop_that_grows_while_it_is_ingested_is_not_published(tmp_path, monkeypatch):
    drop = _drop(tmp_path / "drops" / "d1")
    real = assets.drop_assets.ingest_drop

    def ingest_while_a_file_lands(*args, **kwargs):
        df = real(*args, **kwargs)
        write_video(drop / "videos" / "late.mp4", np.zeros((6, 48, 64, 3), np.uint8), fps=12)
        return df

    monkeypatch.setattr(assets.drop_assets, "ingest_drop", ingest_while_a_file_lands)
    resources = {"drops": DropsFolder(root=str(tmp_path / "drops")),
                 "store": ArtifactStore(root=str(tmp_path / "data"))}
    run_config = {"ops": {"raw_videos": {"config": {"dvc_track": False}}}}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(drops_partitions.name, ["d1"])
        result = dg.materialize([raw_videos], instance=instance, partition_key="d1", resources=resources,
                                run_config=run_config, raise_on_error=False)
        assert not result.success
        failure = [e for e in result.all_events if e.is_step_failure][0]
        assert "changed while it was ingested" in str(failure.event_specific_data.error)
        assert not (tmp_path / "data" / "manifests" / "d1.parquet").exists()
        monkeypatch.setattr(assets.drop_assets, "ingest_drop", real)
        again = dg.materialize([raw_videos], instance=instance, partition_key="d1", resources=resources,
                               run_config=run_config)  # once complete, it goes through with both files
    assert again.success
    assert again.asset_materializations_for_node("raw_videos")[0].metadata["valid"].value == 2


@pytest.mark.slow
def test_materializing_a_partition_twice_gives_the_same_files(tmp_path):
    from assets.fit_assets import body_fits
    from assets.token_assets import avatar_tokens
    from genlca.data.synth import generate_drop

    generate_drop(tmp_path / "drops" / "d1", videos=2, frames=6, size=160, regime="full", seed=5, resolution=32)
    store = tmp_path / "data"
    resources = {"drops": DropsFolder(root=str(tmp_path / "drops")), "store": ArtifactStore(root=str(store)),
                 "body_model": BodyModelResource()}
    config = {"ops": {"raw_videos": {"config": {"dvc_track": False}}, "body_fits": {"config": {"iters": 60}}}}
    prints = []
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(drops_partitions.name, ["d1"])
        for _ in range(2):
            assert dg.materialize([raw_videos, body_fits, avatar_tokens], instance=instance, partition_key="d1",
                                  resources=resources, run_config=config).success
            prints.append(fingerprint(store, skip=("previews",), volatile=VOLATILE))
    assert prints[0] == prints[1] and len(prints[0]) >= 6
    assert not leftovers(store)
