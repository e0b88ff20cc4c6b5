"""`genlca_checkpoint`: the diffusion model trained on `token_dataset`, with its lineage."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import dagster as dg
import pandas as pd

from assets.preview import image_markdown
from genlca.diffusion.data import load_token_dataset
from genlca.diffusion.train import (META_FILE, TrainConfig, archive_parent, can_resume, config_hash, git_commit,
                                    train_diffusion)
from genlca.eval.lineage import collect_lineage, lineage_markdown
from genlca.generation.generator import AvatarGenerator, SamplerOptions
from genlca.plots import loss_curve_png
from genlca.threads import torch_threads
from genlca.tokenizer.dataset import INDEX_FILE
from orchestration.resources import ArtifactStore, BodyModelResource

REPO = Path(__file__).resolve().parents[1]


class GenLCACheckpointConfig(dg.Config):
    """Defaults: the tiny model for ~1 minute on 2 CPU cores (the demo); raise model and steps for real use."""

    model: str = "tiny"  # tiny | S | B | L
    steps: int = 150
    batch_size: int = 8
    lr: float = 1e-3  # the tiny model learns faster than the DiT default allows in 150 steps
    mode: str = "visibility_aware"  # | naive | drop_partial
    image_cond_prob: float = 0.5
    checkpoint_every: int = 50
    seed: int = 0
    text: bool = True  # condition on the captions (MiniLM, offline)
    devices: int = 1  # processes per machine (GPUs on a GPU node)
    strategy: str = "auto"  # "ddp" with devices > 1 or num_nodes > 1
    num_nodes: int = 1  # > 1: this step is node 0; MASTER_ADDR, MASTER_PORT, NODE_RANK come from its environment
    torch_threads: int = 1  # 1: fastest on a shared CPU; 0: torch's default
    preview: bool = True  # render one unconditional sample into the metadata


def checkpoint_folder(store: ArtifactStore) -> Path:
    return store.path("models", "genlca", META_FILE).parent


@dg.asset(
    group_name="model",
    deps=["token_dataset"],
    kinds={"pytorch"},
    check_specs=[
        dg.AssetCheckSpec("loss_decreased", asset="genlca_checkpoint",
                          description="The final training loss is finite and below the first."),
    ],
)
def genlca_checkpoint(context: dg.AssetExecutionContext, config: GenLCACheckpointConfig, store: ArtifactStore,
                      body_model: BodyModelResource) -> dg.MaterializeResult:
    """The GenLCA diffusion model (EMA weights, normalizer, checkpoint.json) trained on the train split of
    token_dataset. A killed materialization resumes from its last checkpoint; otherwise each run trains
    afresh and records the previous export as its parent (copied to history/ so lineage chains)."""
    data = store.path("token_dataset", INDEX_FILE).parent
    if not (data / INDEX_FILE).is_file():
        raise dg.Failure(description=f"no token dataset at {data}: materialize token_dataset first")
    dataset = load_token_dataset(data, "train", body=body_model.load())
    cfg = TrainConfig(model=config.model, steps=config.steps, batch_size=config.batch_size, lr=config.lr,
                      mode=config.mode, image_cond_prob=config.image_cond_prob,
                      checkpoint_every=config.checkpoint_every, seed=config.seed, devices=config.devices,
                      strategy=config.strategy, num_nodes=config.num_nodes, threads=config.torch_threads)
    if cfg.strategy == "auto" and cfg.devices * cfg.num_nodes > 1:  # as `genlca train` resolves it: same config hash
        cfg.strategy = "ddp"
    out = checkpoint_folder(store)
    resume = can_resume(out, cfg, dataset, text=config.text)
    parent = archive_parent(out)
    info = _dataset_info(data)
    lineage = {
        "token_dataset": {"version": info.get("dvc_version") or info.get("version", ""),
                          "dvc_version": info.get("dvc_version", ""), "content_version": info.get("version", ""),
                          "train_samples": len(dataset), "path": str(data)},
        "git_commit": git_commit(REPO), "config_hash": config_hash(cfg), "parent": parent,
        "dagster_run_id": context.run_id,
    }
    t0 = time.time()
    if cfg.devices * cfg.num_nodes > 1:
        m = _train_distributed(context, data, out, cfg, text=config.text, lineage=lineage, resume=resume)
    else:
        text_encoder = None
        if config.text:
            from genlca.diffusion.text import TextEncoder

            text_encoder = TextEncoder()
        m = train_diffusion(dataset, out, cfg, text_encoder=text_encoder, lineage=lineage, progress=False,
                            resume=resume)
    context.log.info(f"trained {m['steps']} steps ({'resumed at ' + str(m['resumed_from']) if resume else 'fresh'}):"
                     f" loss {m['loss_first']:.3f} -> {m['loss_last']:.3f}")

    metadata = {
        "checkpoint": dg.MetadataValue.path(str(out)),
        "steps": m["steps"], "resumed_from": m["resumed_from"] if m["resumed_from"] is not None else "none",
        "loss_first": m["loss_first"], "loss_last": m["loss_last"],
        "train_seconds": m["seconds"], "samples_per_s": m["samples_per_s"],
        "lineage": dg.MetadataValue.md(_lineage_table(lineage, m)),
        "config": dg.MetadataValue.json(asdict(cfg)),
    }
    # Every checkpoint so far (earlier exports kept in history/, production), side by side with deltas.
    history = collect_lineage([out, Path(store.root) / "models" / "production"], skip_missing=True)
    metadata["lineage_history"] = dg.MetadataValue.md(lineage_markdown(history))
    curve = loss_curve_png(m["losses"], out / "loss_curve.png", ylabel="flow-matching loss", title="GenLCA training")
    if curve is not None:
        metadata["loss_curve"] = dg.MetadataValue.md(image_markdown(str(curve), alt="training loss"))
    if config.preview:
        with torch_threads(config.torch_threads or None):  # one thread: ~10x faster on a busy 2-core machine
            sample_png = _render_sample(out)
        metadata["sample"] = dg.MetadataValue.md(image_markdown(sample_png, alt="an unconditional sample"))
    metadata["seconds"] = round(time.time() - t0, 1)
    weights = _weights_id(out)
    finite = math.isfinite(m["loss_last"])
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(weights), check_results=[
        dg.AssetCheckResult(check_name="loss_decreased", passed=bool(finite and m["loss_last"] < m["loss_first"]),
                            metadata={"loss_first": m["loss_first"], "loss_last": m["loss_last"]}),
    ])


def launch_command(data: Path, out: Path, cfg: TrainConfig, text: bool, resume: bool, lineage: Path,
                   node_rank: str = "0") -> list[str]:
    """`genlca train` under torchrun with this config. Not Lightning's own launcher: it starts the other ranks by
    running this process's command line again, which in a Dagster step is a run worker, code server or Dask worker
    (measured: rank 0 then waits forever). torchrun starts every rank knowing its global rank."""
    if cfg.num_nodes == 1:
        where = ["--standalone"]
    else:  # static rendezvous: every node runs this same command with its own NODE_RANK
        where = [f"--nnodes={cfg.num_nodes}", f"--node-rank={node_rank}", f"--master-addr={os.environ['MASTER_ADDR']}",
                 f"--master-port={os.environ.get('MASTER_PORT', '29500')}"]
    return [sys.executable, "-m", "torch.distributed.run", *where, f"--nproc-per-node={cfg.devices}",
            "-m", "genlca.cli", "train", str(data), "--out", str(out), "--model", cfg.model, "--steps", str(cfg.steps),
            "--batch-size", str(cfg.batch_size), "--lr", repr(cfg.lr), "--mode", cfg.mode,
            "--image-cond-prob", repr(cfg.image_cond_prob), "--checkpoint-every", str(cfg.checkpoint_every),
            "--seed", str(cfg.seed), "--devices", str(cfg.devices), "--num-nodes", str(cfg.num_nodes),
            "--strategy", cfg.strategy, "--accelerator", cfg.accelerator, "--threads", str(cfg.threads),
            "--text" if text else "--no-text", "--lineage", str(lineage), *([] if resume else ["--fresh"])]


def _train_distributed(context: dg.AssetExecutionContext, data: Path, out: Path, cfg: TrainConfig, text: bool,
                       lineage: dict, resume: bool) -> dict:
    """DDP in a torchrun process group; its output goes to OUT/launch/train.log, its metrics come back through
    checkpoint.json (rank 0 writes it last)."""
    if cfg.num_nodes > 1 and not os.environ.get("MASTER_ADDR"):
        raise dg.Failure(description=f"num_nodes={cfg.num_nodes}: set MASTER_ADDR (this node's address), MASTER_PORT "
                                     "and NODE_RANK=0 in the step's environment (README \"Scaling out\")")
    launch = out / "launch"
    launch.mkdir(parents=True, exist_ok=True)
    (launch / "lineage.json").write_text(json.dumps(lineage, indent=1, default=str) + "\n")
    cmd = launch_command(data, out, cfg, text, resume, launch / "lineage.json", os.environ.get("NODE_RANK", "0"))
    context.log.info("training: " + " ".join(cmd))
    if cfg.num_nodes > 1:
        others = launch_command(data, out, cfg, text, resume, launch / "lineage.json", "$NODE_RANK")
        context.log.info(f"start on each other node (NODE_RANK 1..{cfg.num_nodes - 1}): " + " ".join(others))
    env = {**os.environ, "TQDM_DISABLE": "1", "PYTHONUNBUFFERED": "1"}
    with open(launch / "train.log", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            rc = proc.wait()
        except BaseException:  # the run was cancelled: take torchrun and its ranks down with it
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            raise
    tail = (launch / "train.log").read_text(errors="replace")[-3000:]
    meta = json.loads((out / META_FILE).read_text()) if (out / META_FILE).is_file() else {}
    if rc != 0 or meta.get("lineage", {}).get("dagster_run_id") != context.run_id:
        raise dg.Failure(description=f"distributed training failed (exit code {rc}); {launch / 'train.log'}",
                         metadata={"log_tail": dg.MetadataValue.md(f"```\n{tail}\n```")})
    return meta["metrics"]


def _dataset_info(folder: Path) -> dict:
    from genlca.tokenizer.dataset import INFO_FILE

    f = folder / INFO_FILE
    return json.loads(f.read_text()) if f.is_file() else {}


def _weights_id(out: Path) -> str:
    return json.loads((out / META_FILE).read_text())["weights_sha256"][:16]


def _render_sample(out: Path) -> str:
    """One unconditional sample, rendered from 3 sides (its tokens kept as sample.safetensors)."""
    from genlca.showcase import RenderRequest, render_avatar
    from genlca.tokenizer.tokens import save_tokens

    [tokens] = AvatarGenerator(out).from_text([""], SamplerOptions(steps=20))
    save_tokens(tokens, out / "sample.safetensors")
    render_avatar(RenderRequest(avatar=str(out / "sample.safetensors"), out=str(out / "sample.png"), views=3,
                                size=256))
    return str(out / "sample.png")


def _lineage_table(lineage: dict, metrics: dict) -> str:
    parent = lineage["parent"] or {}
    rows = [
        ("token_dataset version", lineage["token_dataset"]["version"][:16] or "none"),
        ("train samples", lineage["token_dataset"]["train_samples"]),
        ("git commit", lineage["git_commit"]),
        ("config hash", lineage["config_hash"]),
        ("parent checkpoint", f"{parent['id']} (step {parent['step']})" if parent else "none"),
        ("run id", metrics["run_id"]),
        ("steps", metrics["steps"]),
    ]
    return pd.DataFrame(rows, columns=["", "value"]).to_markdown(index=False)
