"""Automation: the retrain schedule (a run only when token_dataset changed since the checkpoint was trained) and
the promotion of a checkpoint to production (only when not worse on held-out evaluation metrics)."""

import json
import math
import os

import dagster as dg
import pytest

from assets.promotion_assets import production_checkpoint
from assets.report_assets import _evaluate_production
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


def _report(version="v1", error=0.5, weights="w0", protocol="p1", psnr=12.0):
    """An evaluation report (report.json of genlca.eval.report) as promotion reads it."""
    return {"weights": weights[:16], "data_version": version, "protocol": {"hash": protocol},
            "metrics": {"region_error": {"value": error}, "recon_psnr": {"value": psnr},
                        "recon_lpips": {"skipped": "no weights"}}}


def _evaluated(root, version, error, weights, protocol="p1"):
    """A trained candidate and its evaluation report, as train_genlca leaves them before promotion."""
    _checkpoint(root, version, weights=weights)
    f = root / "reports" / "genlca" / "report.json"
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps(_report(version, error, weights, protocol)))


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
    graph = defs.resolve_asset_graph()
    parents = lambda key: graph.get(dg.AssetKey(key)).parent_keys  # noqa: E731
    # train -> export (blocking parity) -> evaluate -> promote: promotion reads the candidate's evaluation.
    assert dg.AssetKey("exported_sampler") in parents("evaluation_report")
    assert {dg.AssetKey("exported_sampler"), dg.AssetKey("evaluation_report")} <= parents("production_checkpoint")
    job = {n.name for n in defs.resolve_job_def("train_genlca").graph.node_defs}
    assert {"genlca_checkpoint", "exported_sampler", "evaluation_report", "production_checkpoint"} <= job


def test_promotion_rule():
    decide = promotion_decision
    assert decide(_report(error=0.5), None).promote
    assert not decide(_report(error=math.nan), None).promote  # never without a finite held-out number
    assert decide(_report(error=0.52), _report(error=0.5)).promote  # within 5 %
    refused = decide(_report(error=0.6), _report(error=0.5))
    assert not refused.promote and "region_error" in refused.reason
    assert decide(_report(error=0.4), _report(error=0.5)).promote
    assert decide(_report("v2", 0.9), _report("v1", 0.5)).promote  # other data: not comparable, newer data wins
    assert not decide(_report(error=0.4, protocol="p2"), _report(error=0.5)).promote  # other settings: re-evaluate
    # Chosen metrics with directions: higher PSNR is better; every chosen metric must hold.
    both = {"region_error": "min", "recon_psnr": "max"}
    assert decide(_report(psnr=12.5), _report(psnr=12.0), both).promote
    assert not decide(_report(psnr=10.0), _report(psnr=12.0), both).promote
    assert not decide(_report(), _report(), {"recon_lpips": "min"}).promote  # skipped: nothing to promote on
    with pytest.raises(ValueError, match="directions"):
        decide(_report(), None, {"region_error": "lower"})


def test_production_checkpoint_promotes_only_when_not_worse(tmp_path):
    store = ArtifactStore(root=str(tmp_path))
    run = lambda config=None: dg.materialize(  # noqa: E731
        [production_checkpoint], resources={"store": store}, raise_on_error=False,
        run_config={"ops": {"production_checkpoint": {"config": config or {}}}})
    _checkpoint(tmp_path, "v1", weights="w1")
    assert not run().success  # no evaluation of the candidate yet: nothing is promoted unevaluated
    assert not (tmp_path / "models" / "production").exists()
    _evaluated(tmp_path, "v1", 0.5, "w1")
    (tmp_path / "models" / "genlca" / "checkpoints").mkdir()
    first = run()
    [check] = first.get_asset_check_evaluations()
    assert first.success and check.passed
    md = first.asset_materializations_for_node("production_checkpoint")[0].metadata
    assert md["promoted"].value is True and md["candidate_region_error"].value == 0.5
    prod = tmp_path / "models" / "production"
    assert json.loads((prod / "checkpoint.json").read_text())["weights_sha256"] == "w1"
    assert json.loads((prod / "evaluation.json").read_text())["metrics"]["region_error"]["value"] == 0.5
    assert not (prod / "checkpoints").exists()  # training state is not promoted
    _evaluated(tmp_path, "v1", 0.9, "w2")  # worse on the held-out metric, same data: production stays
    worse = run()  # the blocking check fails, and with it the run: a visible "not promoted"
    [check] = worse.get_asset_check_evaluations()
    assert not check.passed and not worse.success and "worse on region_error" in check.metadata["reason"].value
    assert json.loads((prod / "checkpoint.json").read_text())["weights_sha256"] == "w1"
    md = worse.asset_materializations_for_node("production_checkpoint")[0].metadata
    assert md["candidate_region_error"].value == 0.9 and md["production_before_region_error"].value == 0.5
    _evaluated(tmp_path, "v1", 0.9, "w2")
    assert run({"metrics": {"recon_psnr": "max"}}).success  # equal on the metric chosen instead: not worse
    assert json.loads((prod / "checkpoint.json").read_text())["weights_sha256"] == "w2"
    _evaluated(tmp_path, "v1", 0.4, "w3")
    run()
    assert json.loads((prod / "checkpoint.json").read_text())["weights_sha256"] == "w3"
    _evaluated(tmp_path, "v1", 0.4, "w3", protocol="p2")  # the same weights under new settings: still comparable
    assert run().success
    assert sorted(p.name for p in prod.parent.iterdir()) == ["genlca", "production"]  # no temporary folder left


def test_production_is_reevaluated_only_when_its_numbers_would_not_compare(tmp_path):
    store = ArtifactStore(root=str(tmp_path))
    calls = []
    run = lambda folder, name: calls.append((folder.name, name))  # noqa: E731
    candidate = _report("v1", 0.5, "w2", "p1")
    assert _evaluate_production(store, candidate, run) is None and not calls  # no production
    _checkpoint(tmp_path, "v1", weights="w1", folder="production")
    assert _evaluate_production(store, candidate, run) == "w1"  # same data, never evaluated
    assert calls == [("production", "production")]
    (tmp_path / "models" / "production" / "evaluation.json").write_text(json.dumps(_report("v1", 0.5, "w1", "p1")))
    assert _evaluate_production(store, candidate, run) is None  # kept with it, same protocol
    assert _evaluate_production(store, _report("v1", 0.5, "w2", "p2"), run) == "w1"  # other settings
    assert _evaluate_production(store, _report("v2", 0.5, "w2", "p2"), run) is None  # other data: no comparison
    assert len(calls) == 2
