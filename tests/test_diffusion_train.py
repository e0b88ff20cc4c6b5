"""Diffusion training: normalizer, data, checkpoints, resume after a kill, DDP (slow)."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from genlca.diffusion.data import MIN_STD, Normalizer, TokenMapsDataset, default_regions, partial_condition
from genlca.diffusion.train import StepBatchSampler, TrainConfig, load_checkpoint, train_diffusion

ROOT = Path(__file__).resolve().parents[1]
R, N = 16, 6


pytestmark = pytest.mark.usefixtures("one_thread")


def toy_dataset(n: int = N, seed: int = 0) -> TokenMapsDataset:
    g = torch.Generator().manual_seed(seed)
    maps = torch.randn(n, 14, R, R, generator=g) * 0.3 + torch.linspace(-1, 1, 14)[:, None, None]
    maps[:, 6] = 1.0  # a constant channel, as the synthetic rotation's w
    valid = torch.rand(n, R, R, generator=g) > 0.4
    chart = torch.ones(R, R, dtype=torch.bool)
    chart[:, :2] = False
    return TokenMapsDataset(maps, torch.rand(n, 6, generator=g), valid, [f"caption {i % 2}" for i in range(n)],
                            Normalizer.fit(maps, valid & chart), chart, version="toy")


def small_config(**kw) -> TrainConfig:
    base = dict(steps=6, batch_size=3, lr=1e-3, checkpoint_every=2, model_kwargs={"patch_size": 4}, log_every=1)
    return TrainConfig(**(base | kw))


def test_normalizer_round_trip_and_valid_only_stats():
    maps = torch.randn(3, 14, 8, 8) * 2 + 5
    valid = torch.zeros(3, 8, 8, dtype=torch.bool)
    valid[:, :4] = True
    maps[:, :, 4:] = 1e6  # invalid texels: must not move the statistics
    maps[:, 0] = 7.0  # constant channel: std clamped, not zero
    norm = Normalizer.fit(maps, valid)
    seen = maps.permute(1, 0, 2, 3)[:, valid]
    assert torch.allclose(norm.mean, seen.mean(1), atol=1e-4)
    assert torch.allclose(norm.std[1:], seen.std(1, unbiased=False)[1:], rtol=1e-4)
    assert float(norm.std[0]) == pytest.approx(MIN_STD)
    assert torch.allclose(norm.denormalize(norm.normalize(maps)), maps, rtol=1e-5)
    z = norm.normalize(maps[0])  # (14, R, R) works as well as (N, 14, R, R)
    assert z[1:, valid[0]].mean().abs() < 0.5
    again = Normalizer.from_stats(**norm.state())
    assert torch.equal(again.mean, norm.mean) and torch.equal(again.std, norm.std)


def test_dataset_items_and_partial_condition():
    ds = toy_dataset()
    item = ds[1]
    assert item["maps"].shape == (14, R, R) and item["valid"].dtype == torch.bool
    assert not item["valid"][:, :2].any() and item["maps"][:, :, :2].abs().sum() == 0  # off-chart
    assert torch.equal(item["cond_maps"][:, ~item["valid"]], torch.zeros(14, int((~item["valid"]).sum())))
    batch = torch.utils.data.default_collate([ds[i] for i in range(N)])
    g = torch.Generator().manual_seed(0)
    cond = partial_condition(batch["cond_maps"], batch["cond_visibility"], ds.regions, 1.0, generator=g)
    kept = cond["visibility"] > 0
    assert (kept <= batch["valid"]).all()  # a condition shows only what was observed
    assert 0 < kept.sum() < batch["valid"].sum()  # ... and only part of it
    none = partial_condition(batch["cond_maps"], batch["cond_visibility"], ds.regions, 0.0, generator=g)
    assert none["visibility"].abs().sum() == 0 and none["maps"].abs().sum() == 0
    assert default_regions(8).unique().numel() == 16


def test_step_batches_depend_only_on_the_step():
    full = StepBatchSampler(5, 3, seed=1)
    resumed = StepBatchSampler(5, 3, seed=1, start=4)
    first = [b for _, b in zip(range(7), full)]
    assert [b for _, b in zip(range(3), resumed)] == first[4:]
    ranks = [StepBatchSampler(5, 2, seed=1, rank=r, world=2).batch(3) for r in (0, 1)]
    assert sorted(ranks[0] + ranks[1]) == sorted(StepBatchSampler(5, 4, seed=1).batch(3))


def test_train_exports_a_checkpoint_that_round_trips(tmp_path):
    ds = toy_dataset()
    m = train_diffusion(ds, tmp_path / "run", small_config(steps=8), lineage={"parent": None}, progress=False)
    assert m["steps"] == 8 and len(m["losses"]) == 8 and all(map(torch.isfinite, torch.tensor(m["losses"])))
    model, norm, meta = load_checkpoint(m["checkpoint"])
    assert meta["step"] == 8 and meta["lineage"] == {"parent": None} and meta["dataset"]["version"] == "toy"
    assert torch.equal(norm.mean, ds.normalizer.mean) and torch.equal(model.chart, ds.chart)
    # The same EMA weights as a model built from the Lightning checkpoint's 'ema.' entries.
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    ema = {k.removeprefix("ema."): v for k, v in ckpt["state_dict"].items() if k.startswith("ema.")}
    live = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    assert all(torch.equal(model.state_dict()[k], v) for k, v in ema.items())
    assert any(not torch.equal(ema[k], live[k]) for k in ema if ema[k].is_floating_point())  # EMA is an average
    from genlca.diffusion.flow import sample

    twin, _, _ = load_checkpoint(tmp_path / "run")
    x1, s1 = sample(model, 2, steps=3, seed=5)
    x2, s2 = sample(twin, 2, steps=3, seed=5)
    assert torch.equal(x1, x2) and torch.equal(s1, s2)


class Kill(Exception):
    pass


def test_resume_after_a_kill_ends_like_a_straight_run(tmp_path):
    import lightning as L

    class KillAt(L.Callback):
        def on_train_batch_end(self, trainer, *args):
            if trainer.global_step == 5:
                raise Kill("simulated kill")

    ds, cfg = toy_dataset(), small_config(steps=8, checkpoint_every=3)
    straight = train_diffusion(ds, tmp_path / "straight", cfg, progress=False)
    with pytest.raises(Kill):
        train_diffusion(ds, tmp_path / "killed", cfg, progress=False, callbacks=[KillAt()])
    assert not (tmp_path / "killed" / "checkpoint.json").exists()
    resumed = train_diffusion(ds, tmp_path / "killed", cfg, progress=False)
    assert resumed["resumed_from"] == 3 and resumed["steps"] == straight["steps"] == 8
    assert resumed["run_id"] == json.loads((tmp_path / "killed" / "checkpoints" / "run.json").read_text())["run_id"]
    # Steps 1-3 come from the checkpoint, 4-8 were trained again: the loss history matches step for step.
    assert resumed["losses"] == pytest.approx(straight["losses"], rel=1e-4)
    a, _, _ = load_checkpoint(tmp_path / "straight")
    b, _, _ = load_checkpoint(tmp_path / "killed")
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.allclose(va.float(), vb.float(), atol=1e-5), k
    # Another config cannot continue this run by accident.
    with pytest.raises(ValueError, match="another config"):
        train_diffusion(ds, tmp_path / "killed", small_config(steps=8, lr=5e-4), progress=False)


@pytest.mark.slow
def test_ddp_two_cpu_processes(tmp_path):
    """Lightning's DDP runs the script again per process: a real script, not pytest."""
    script = tmp_path / "ddp_train.py"
    script.write_text(textwrap.dedent(f"""
        import json, sys, torch
        sys.path.insert(0, {str(ROOT / "tests")!r})
        torch.set_num_threads(1)
        from test_diffusion_train import small_config, toy_dataset
        from genlca.diffusion.train import train_diffusion
        m = train_diffusion(toy_dataset(), {str(tmp_path / "run")!r},
                            small_config(steps=4, accelerator="cpu", devices=2, strategy="ddp"), progress=False)
        print("RESULT", json.dumps({{"steps": m["steps"], "loss": m["loss_last"]}}))
    """))
    r = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    results = [json.loads(line.split(" ", 1)[1]) for line in r.stdout.splitlines() if line.startswith("RESULT")]
    assert len(results) == 2 and all(x["steps"] == 4 for x in results)  # both ranks ran all steps
    _, _, meta = load_checkpoint(tmp_path / "run")
    assert meta["step"] == 4 and meta["train"]["devices"] == 2


def test_checkpoint_asset_trains_and_chains_lineage(tmp_path):
    """genlca_checkpoint on a small token_dataset (random tokens on Anny's UV layout at R = 16): trains, passes its
    check, and a second materialization records the first as its parent."""
    import dagster as dg

    from assets.checkpoint_assets import genlca_checkpoint
    from orchestration.resources import ArtifactStore, BodyModelResource
    from tests.token_fixtures import random_token_dataset

    random_token_dataset(tmp_path, videos=4, resolution=R)
    store = ArtifactStore(root=str(tmp_path))
    config = {"steps": 4, "batch_size": 2, "checkpoint_every": 2, "text": False, "preview": False}
    run = lambda: dg.materialize([genlca_checkpoint], resources={"body_model": BodyModelResource(), "store": store},
                                 run_config={"ops": {"genlca_checkpoint": {"config": config}}})
    first = run()
    assert first.success
    [check] = first.get_asset_check_evaluations()
    assert check.check_name == "loss_decreased"
    md = first.asset_materializations_for_node("genlca_checkpoint")[0].metadata
    assert md["steps"].value == 4 and "config hash" in md["lineage"].value
    second = run()
    out = tmp_path / "models" / "genlca"
    meta = json.loads((out / "checkpoint.json").read_text())
    lineage = meta["lineage"]
    assert lineage["parent"]["step"] == 4 and Path(lineage["parent"]["path"]).is_file()
    assert lineage["parent"]["run_id"] != meta["run_id"]  # trained afresh, not resumed
    assert len(lineage["token_dataset"]["version"]) == 64 and lineage["git_commit"]
    md2 = second.asset_materializations_for_node("genlca_checkpoint")[0].metadata
    assert md2["resumed_from"].value == "none"
    # The lineage table shows both checkpoints: the parent (from history/) and the new one.
    assert lineage["parent"]["id"] in md2["lineage_history"].value and meta["weights_sha256"][:16] in md2[
        "lineage_history"].value
