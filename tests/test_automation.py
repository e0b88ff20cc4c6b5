"""Automation: the retrain schedule (a run only when token_dataset changed since the checkpoint was trained) and
the promotion of a checkpoint to production (only when not worse)."""

import json
import os

import dagster as dg

from assets.promotion_assets import production_checkpoint
from genlca.lineage_state import promotion_decision, retrain_decision
from orchestration.definitions import defs
from orchestration.resources import ArtifactStore
from orchestration.schedules import retrain_schedule


def _dataset(root, version="a" * 64, dvc_version=""):
    f = root / "token_dataset" / "dataset.json"
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps({"version": version, "dvc_version": dvc_version}))
    return f


def _checkpoint(root, version, loss=0.5, weights="w0", folder="genlca"):
    f = root / "models" / folder / "checkpoint.json"
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps({"lineage": {"token_dataset": {"version": version}}, "metrics": {"loss_last": loss},
                             "weights_sha256": weights}))
    return f


def _tick(root):
    with dg.build_schedule_context(resources={"store": ArtifactStore(root=str(root))}) as context:
        return retrain_schedule(context)


def test_decision_without_dagster(tmp_path):
    ds, ck = tmp_path / "token_dataset" / "dataset.json", tmp_path / "models" / "genlca" / "checkpoint.json"
    assert not retrain_decision(ds, ck).retrain  # nothing to train on
    _dataset(tmp_path, version="v1", dvc_version="d1")
    assert retrain_decision(ds, ck) == (True, "no checkpoint yet; token_dataset is d1", "d1")
    _checkpoint(tmp_path, "d1")  # the DVC hash wins when there is one, as in the checkpoint's lineage
    assert not retrain_decision(ds, ck).retrain
    _checkpoint(tmp_path, "v1")
    assert retrain_decision(ds, ck).retrain


def test_schedule_skips_when_versions_match(tmp_path):
    assert isinstance(_tick(tmp_path), dg.SkipReason)  # no dataset
    _dataset(tmp_path, version="v1")
    _checkpoint(tmp_path, "v1")
    skip = _tick(tmp_path)
    assert isinstance(skip, dg.SkipReason) and "already trained" in skip.skip_message
    assert not (tmp_path / "drops").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["models",
                                                                                              "token_dataset"]


def test_schedule_requests_a_run_when_the_dataset_changed(tmp_path):
    _dataset(tmp_path, version="v1")
    first = _tick(tmp_path)  # no checkpoint yet
    assert isinstance(first, dg.RunRequest) and first.run_key == "token_dataset:v1"
    _checkpoint(tmp_path, "v0")
    changed = _tick(tmp_path)
    assert isinstance(changed, dg.RunRequest) and changed.run_key == "token_dataset:v1"
    assert "v0 -> v1" in changed.tags["genlca/retrain_reason"]


def test_schedule_registered_stopped_with_env_cron():
    s = defs.resolve_schedule_def("retrain_schedule")
    assert s.job_name == "train_genlca"
    assert s.default_status == dg.DefaultScheduleStatus.STOPPED
    assert s.cron_schedule == os.environ.get("GENLCA_RETRAIN_CRON", "0 3 * * *")
    assert dg.AssetKey("exported_sampler") in defs.resolve_asset_graph().get(
        dg.AssetKey("production_checkpoint")).parent_keys


def test_promotion_rule():
    meta = lambda version, loss: {"lineage": {"token_dataset": {"version": version}}, "metrics": {"loss_last": loss}}
    assert promotion_decision(meta("v1", 0.5), None).promote
    assert not promotion_decision(meta("v1", float("nan")), None).promote
    assert promotion_decision(meta("v1", 0.52), meta("v1", 0.5)).promote  # within 5 %
    assert not promotion_decision(meta("v1", 0.6), meta("v1", 0.5)).promote
    assert promotion_decision(meta("v2", 0.9), meta("v1", 0.5)).promote  # other data: not comparable


def test_production_checkpoint_promotes_only_when_not_worse(tmp_path):
    store = ArtifactStore(root=str(tmp_path))
    run = lambda: dg.materialize([production_checkpoint], resources={"store": store}, raise_on_error=False)
    _checkpoint(tmp_path, "v1", loss=0.5, weights="w1")
    (tmp_path / "models" / "genlca" / "checkpoints").mkdir()
    first = run()
    [check] = first.get_asset_check_evaluations()
    assert first.success and check.passed
    assert first.asset_materializations_for_node("production_checkpoint")[0].metadata["promoted"].value is True
    prod = tmp_path / "models" / "production"
    assert json.loads((prod / "checkpoint.json").read_text())["weights_sha256"] == "w1"
    assert not (prod / "checkpoints").exists()  # training state is not promoted
    _checkpoint(tmp_path, "v1", loss=0.9, weights="w2")  # worse on the same data: production stays
    worse = run()  # the blocking check fails, and with it the run: a visible "not promoted"
    [check] = worse.get_asset_check_evaluations()
    assert not check.passed and not worse.success
    assert json.loads((prod / "checkpoint.json").read_text())["weights_sha256"] == "w1"
    _checkpoint(tmp_path, "v1", loss=0.4, weights="w3")
    run()
    assert json.loads((prod / "checkpoint.json").read_text())["weights_sha256"] == "w3"
    assert sorted(p.name for p in prod.parent.iterdir()) == ["genlca", "production"]  # no temporary folder left
