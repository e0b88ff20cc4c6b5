"""Scale-out: the executor picked from the environment, the Kubernetes run config, `num_nodes`, the asset's DDP launch
command; slow: a backfill over drops on a local Dask cluster, and DDP on two CPU processes from the asset config."""

import importlib.util
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import dagster as dg
import pytest
import yaml

from orchestration.executors import EXECUTORS, dask_cluster, executor_from_env, executor_name

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def load_definitions(module_name: str = "genlca_definitions_under_test") -> dg.Definitions:
    """orchestration/definitions.py run afresh, so it reads the environment as it is now (the imported module read it
    once); nothing else sees this copy."""
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "orchestration" / "definitions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.defs


def executor_config(executor: dg.ExecutorDefinition) -> dict:
    """The config a `.configured(...)` executor was given (with the executor's defaults)."""
    return executor.config_schema.resolve_config({}).value["config"]


def test_executor_from_environment():
    assert executor_name({}) == "multiprocess" and executor_name({"GENLCA_EXECUTOR": " In_Process "}) == "in_process"
    assert executor_config(executor_from_env({}))["max_concurrent"] == 0  # 0: one step per CPU
    assert executor_config(executor_from_env({"GENLCA_MAX_CONCURRENT": "3"}))["max_concurrent"] == 3
    assert executor_from_env({"GENLCA_EXECUTOR": "in_process"}) is dg.in_process_executor
    # dask: the cluster config only (importing dask takes seconds; the slow test runs the executor itself)
    assert dask_cluster({}) == {"local": {"n_workers": 2, "threads_per_worker": 1, "host": "127.0.0.1",
                                          "dashboard_address": None}}
    assert dask_cluster({"GENLCA_DASK_WORKERS": "4"})["local"]["n_workers"] == 4
    address = "tcp://10.0.0.5:8786"
    assert dask_cluster({"GENLCA_DASK_ADDRESS": address}) == {"existing": {"address": address}}
    assert executor_from_env({"GENLCA_EXECUTOR": "k8s"}).name == "k8s"


def test_unknown_executor_names_the_allowed_ones(monkeypatch):
    with pytest.raises(ValueError, match="spark.*" + ", ".join(EXECUTORS)):
        executor_from_env({"GENLCA_EXECUTOR": "spark"})
    with pytest.raises(ValueError, match="GENLCA_MAX_CONCURRENT='four'"):
        executor_from_env({"GENLCA_MAX_CONCURRENT": "four"})
    monkeypatch.setenv("GENLCA_EXECUTOR", "celery")  # the code location itself refuses to load, saying why
    with pytest.raises(ValueError, match="multiprocess, in_process, dask, k8s"):
        load_definitions()


def test_k8s_executor_takes_the_committed_run_config(monkeypatch):
    executor = yaml.safe_load((DEPLOY / "k8s" / "executor.yaml").read_text())
    training = yaml.safe_load((DEPLOY / "k8s" / "train_ddp.yaml").read_text())
    monkeypatch.setenv("GENLCA_EXECUTOR", "k8s")
    defs = load_definitions()
    for name in ("ingest_drop", "train_tokenizer", "build_token_dataset", "train_genlca", "demo"):
        job = defs.resolve_job_def(name)
        assert job.executor_def.name == "k8s"
        dg.validate_run_config(job, executor)
    dg.validate_run_config(defs.resolve_job_def("train_genlca"), executor | training)
    ops = training["ops"]["genlca_checkpoint"]["config"]
    step = executor["execution"]["config"]["per_step_k8s_config"]["genlca_checkpoint"]
    gpus = step["container_config"]["resources"]["limits"]["nvidia.com/gpu"]
    assert ops["strategy"] == "ddp" and ops["devices"] == gpus  # one DDP process per GPU the pod asks for
    resolved = dg.validate_run_config(defs.resolve_job_def("ingest_drop"), executor)["execution"]
    assert resolved["k8s"]["job_namespace"] == "genlca", resolved  # the executor got it (not silently dropped)


def test_k8s_step_job_is_built_from_the_run_config():
    """The Kubernetes Job the executor would create for the training step, built offline by dagster-k8s (every
    field is checked against the Kubernetes API models): GPUs, shared memory, the data volume, the environment."""
    from dagster_k8s.job import DagsterK8sJobConfig, UserDefinedDagsterK8sConfig, construct_dagster_k8s_job

    cfg = yaml.safe_load((DEPLOY / "k8s" / "executor.yaml").read_text())["execution"]["config"]
    job_config = DagsterK8sJobConfig(job_image="REGISTRY/genlca-ops:TAG", dagster_home="/opt/dagster/dagster_home",
                                     volumes=cfg["volumes"], volume_mounts=cfg["volume_mounts"],
                                     env_vars=cfg["env_vars"])
    step = UserDefinedDagsterK8sConfig.from_dict(cfg["per_step_k8s_config"]["genlca_checkpoint"])
    job = construct_dagster_k8s_job(job_config, ["dagster", "api", "execute_step"], "genlca-step", step)
    pod = job.spec.template.spec
    container = pod.containers[0]
    assert container.resources.limits["nvidia.com/gpu"] == "4"
    assert {m.mount_path for m in container.volume_mounts} == {"/data/genlca", "/dev/shm"}
    assert {e.name: e.value for e in container.env}["GENLCA_EXECUTOR"] == "k8s"
    assert {v.name for v in pod.volumes} == {"genlca-data", "dshm"}
    values = yaml.safe_load((DEPLOY / "k8s" / "values.yaml").read_text())
    assert values["dagsterWebserver"]["service"]["type"] == "ClusterIP"  # the UI is not exposed by the chart
    [location] = values["dagster-user-deployments"]["deployments"]
    assert {e["name"]: e["value"] for e in location["env"]}["GENLCA_EXECUTOR"] == "k8s"
    assert "orchestration.definitions" in location["dagsterApiGrpcArgs"]


def test_num_nodes_in_config_and_hash():
    from genlca.diffusion.train import NOT_HASHED, TrainConfig, config_hash

    with pytest.raises(ValueError, match="num_nodes"):
        TrainConfig(num_nodes=0)
    assert config_hash(TrainConfig(num_nodes=2)) != config_hash(TrainConfig())
    # A single machine hashes as before num_nodes existed, so earlier checkpoints still resume and compare.
    import hashlib
    from dataclasses import asdict

    d = {k: v for k, v in asdict(TrainConfig()).items() if k not in NOT_HASHED and k != "num_nodes"}
    assert config_hash(TrainConfig()) == hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def test_asset_launch_command_is_genlca_train_with_the_same_config(tmp_path, monkeypatch):
    """The asset's torchrun command ends in `genlca train` options that give back the asset's TrainConfig exactly
    (same config hash: resume and lineage agree), with the lineage file; multi-node adds the rendezvous."""
    from typer.testing import CliRunner

    import genlca.diffusion.data as data_module
    import genlca.diffusion.train as train_module
    from assets.checkpoint_assets import launch_command
    from genlca.cli import app

    cfg = train_module.TrainConfig(model="S", steps=7, batch_size=3, lr=3e-4 / 7, mode="naive", image_cond_prob=0.3,
                                   checkpoint_every=5, seed=4, devices=2, strategy="ddp", threads=1)
    (tmp_path / "lineage.json").write_text(json.dumps({"dagster_run_id": "r1"}))
    cmd = launch_command(tmp_path / "ds", tmp_path / "out", cfg, text=False, resume=False,
                         lineage=tmp_path / "lineage.json")
    assert cmd[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    assert cmd[5:8] == ["-m", "genlca.cli", "train"]
    seen = {}
    monkeypatch.setattr(data_module, "load_token_dataset", lambda *a, **k: [0])
    monkeypatch.setattr(train_module, "train_diffusion", lambda ds, out, c, **kw: seen.update(cfg=c, **kw) or {
        "steps": c.steps, "resumed_from": None, "loss_first": 1.0, "loss_last": 0.5, "seconds": 1.0,
        "samples_per_s": 1.0})
    r = CliRunner().invoke(app, cmd[7:])
    assert r.exit_code == 0, r.output
    assert seen["cfg"] == cfg and train_module.config_hash(seen["cfg"]) == train_module.config_hash(cfg)
    assert seen["lineage"] == {"dagster_run_id": "r1"} and seen["resume"] is False and seen["text_encoder"] is None
    monkeypatch.setenv("MASTER_ADDR", "10.0.0.7")
    monkeypatch.setenv("MASTER_PORT", "29511")
    multi = launch_command(tmp_path / "ds", tmp_path / "out", train_module.TrainConfig(devices=4, num_nodes=3,
                                                                                       strategy="ddp"),
                           text=True, resume=True, lineage=tmp_path / "lineage.json", node_rank="$NODE_RANK")
    assert multi[3:8] == ["--nnodes=3", "--node-rank=$NODE_RANK", "--master-addr=10.0.0.7", "--master-port=29511",
                          "--nproc-per-node=4"]
    assert multi[multi.index("--num-nodes") + 1] == "3" and "--fresh" not in multi and "--text" in multi


#################################################################################
#                                     Slow                                      #
#################################################################################

def ingest_drop_job():
    """What Dagster reconstructs in each Dask worker process (by this module's name): the code location's
    ingest_drop job, loaded in that process from its environment."""
    return load_definitions().resolve_job_def("ingest_drop")


def run_partition(drop: str, run_config: dict) -> str:
    """One run of one partition in its own process, as the daemon launches a backfill's runs (Dagster's execution
    is not thread-safe: runs in threads of one process deadlocked in its logging setup)."""
    with dg.DagsterInstance.get() as instance:
        return dg.execute_job(dg.reconstructable(ingest_drop_job), instance, run_config=run_config,
                              tags={"dagster/partition": drop, "genlca/backfill": "test"}).run_id


@pytest.mark.slow
def test_backfill_over_drops_on_a_local_dask_cluster(tmp_path, monkeypatch):
    """ingest_drop over three synthetic drops, one run per partition as a backfill launches them, all at once on
    one two-worker Dask cluster (processes), through GENLCA_EXECUTOR=dask and GENLCA_DASK_ADDRESS alone."""
    from dask.distributed import Client, LocalCluster

    from genlca.data.synth import generate_drop

    drops = ["drop-a", "drop-b", "drop-c"]
    for i, drop in enumerate(drops):
        generate_drop(tmp_path / "drops" / drop, videos=1, frames=6, size=192, regime="full", seed=5 + i)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    # Set before the cluster starts: its worker processes inherit this environment (and this test's sys.path).
    for key, value in {"DAGSTER_HOME": home, "GENLCA_DATA": tmp_path / "data", "GENLCA_DROPS": tmp_path / "drops",
                       "GENLCA_EXECUTOR": "dask", "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}"}.items():
        monkeypatch.setenv(key, str(value))
    run_config = {"ops": {"body_fits": {"config": {"iters": 60}}, "avatar_tokens": {"config": {"resolution": 64}}}}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        monkeypatch.setenv("GENLCA_DASK_ADDRESS", cluster.scheduler_address)
        worker_pids = set(client.run(os.getpid).values())
        with dg.DagsterInstance.get() as instance:  # made once here: concurrent first opens race on the schema
            instance.add_dynamic_partitions("drops", drops)
        with ProcessPoolExecutor(len(drops), mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {d: pool.submit(run_partition, d, run_config) for d in drops}
            results = {d: f.result(timeout=900) for d, f in futures.items()}
    used = set()
    with dg.DagsterInstance.get() as instance:
        for drop, run_id in results.items():
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS, drop
            assert instance.get_run_by_id(run_id).tags["dagster/partition"] == drop
            events = [e.dagster_event for e in instance.all_logs(run_id) if e.dagster_event]
            started = {e.step_key: e.pid for e in events if e.event_type_value == "STEP_START"}
            # Every step ran, and in a Dask worker: none was skipped as another run's task of the same name.
            assert set(started) == {"raw_videos", "body_fits", "avatar_tokens", "drop_drift"}, (drop, started)
            assert set(started.values()) <= worker_pids, (started, worker_pids)
            used |= set(started.values())
            materialized = {(e.asset_key.to_user_string(), e.partition) for e in events
                            if e.event_type_value == "ASSET_MATERIALIZATION"}
            assert materialized == {(a, drop) for a in ("raw_videos", "body_fits", "avatar_tokens", "drop_drift")}
    assert used == worker_pids  # the drops' steps spread over both workers
    data = tmp_path / "data"
    for drop in drops:
        assert (data / "manifests" / f"{drop}.parquet").is_file()
        assert (data / "fits" / drop / "quality.parquet").is_file()
        assert (data / "tokens" / drop / "vid_000.safetensors").is_file()
        assert (data / "monitoring" / drop / "summary.json").is_file()


@pytest.mark.slow
def test_asset_trains_with_ddp_on_two_cpu_processes(tmp_path):
    """genlca_checkpoint with devices=2, strategy=ddp from its asset config, materialized inside pytest: a host whose
    command line is no training script (Lightning's own launcher would rerun it for rank 1; torchrun does not)."""
    from assets.checkpoint_assets import genlca_checkpoint
    from genlca.diffusion.train import TrainConfig, config_hash
    from orchestration.resources import ArtifactStore, BodyModelResource
    from tests.token_fixtures import random_token_dataset

    random_token_dataset(tmp_path, videos=6)
    config = {"steps": 4, "batch_size": 2, "checkpoint_every": 2, "text": False, "preview": False, "devices": 2,
              "strategy": "ddp"}
    result = dg.materialize([genlca_checkpoint], resources={"body_model": BodyModelResource(),
                                                            "store": ArtifactStore(root=str(tmp_path))},
                            run_config={"ops": {"genlca_checkpoint": {"config": config}}})
    assert result.success
    out = tmp_path / "models" / "genlca"
    meta = json.loads((out / "checkpoint.json").read_text())
    assert meta["step"] == 4 and meta["train"]["devices"] == 2 and meta["train"]["strategy"] == "ddp"
    assert meta["lineage"]["dagster_run_id"] == result.run_id  # the asset's lineage, written by rank 0
    asset_cfg = TrainConfig(steps=4, batch_size=2, lr=1e-3, checkpoint_every=2, devices=2, strategy="ddp", threads=1)
    assert meta["config_hash"] == config_hash(asset_cfg) == meta["lineage"]["config_hash"]
    log = (out / "launch" / "train.log").read_text()
    assert "GLOBAL_RANK: 0" in log and "GLOBAL_RANK: 1" in log  # two processes in one process group
    md = result.asset_materializations_for_node("genlca_checkpoint")[0].metadata
    assert md["steps"].value == 4 and len(meta["metrics"]["losses"]) == 4
