"""Training the GenLCA diffusion model with Lightning, and its checkpoints.

    ds = load_token_dataset("data/token_dataset")
    metrics = train_diffusion(ds, "runs/genlca", TrainConfig(steps=200), text_encoder=TextEncoder())
    model, normalizer, meta = load_checkpoint("runs/genlca")      # the EMA weights

OUT_DIR after a run:
    model.safetensors        EMA weights (the model's state dict, the UV chart included)
    normalizer.safetensors   per-channel mean / std the maps were normalized with
    checkpoint.json          model config, TrainConfig, config hash, data version, lineage, metrics, step, run id
    checkpoints/last.ckpt    Lightning's full state (weights, EMA, AdamW, loop counters, loss history),
                             written every `checkpoint_every` steps and at the end
    checkpoints/run.json     which run the checkpoint belongs to (run id, config hash, data version)
    logs/version_N/          CSVLogger metrics per step

Resume: when checkpoints/last.ckpt exists, training continues from it and ends at the same total step count
as an uninterrupted run, with the same weights (to round-off, on CPU: tested). That holds because nothing random
depends on the process: step k's batch is a function of (seed, k) (`StepBatchSampler`), and so is its
noise, timesteps and condition dropout (a generator seeded per step).

EMA: a hand-written exponential moving average (a frozen copy of the model, a submodule, so it travels in the
Lightning checkpoint and resumes with it), with the usual warm-up decay min(decay, (1 + n) / (10 + n)):
with a plain 0.999 a 200-step run would export weights that are still 80% initialization. AveragedModel can do
this with a custom avg_fn, but the hand version is shorter than the wrapper and keeps buffers (the chart) as is.

DDP: `TrainConfig(devices=2, strategy="ddp", accelerator="cpu")` trains one process per device (gloo on CPU);
batch_size is per process. Rank r takes its share of each step's global batch, so the data order does not
depend on Lightning's distributed sampler (it is off). Some parameters go unused in some modes (no text, naive
mode has no learnable token), so DDP looks for unused parameters. Several machines: `num_nodes` of them, each
running `devices` processes started by torchrun or SLURM's srun (so every process knows its global rank at once).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import time
import uuid
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Sampler

from genlca.data.ingest import sha256_file
from genlca.diffusion.data import Normalizer, TokenMapsDataset, partial_condition
from genlca.diffusion.flow import MODES, FlowConfig, training_loss
from genlca.diffusion.model import GenLCA_models, GenLCADiT, model_from_config

FORMAT_VERSION = 1
WEIGHTS_FILE, NORMALIZER_FILE, META_FILE = "model.safetensors", "normalizer.safetensors", "checkpoint.json"
CKPT_DIR, LAST_CKPT, RUN_FILE = "checkpoints", "last.ckpt", "run.json"
# Fields that change how training runs but not what it computes: left out of the config hash.
NOT_HASHED = ("threads", "checkpoint_every", "log_every")


@dataclass
class TrainConfig:
    model: str = "tiny"  # GenLCA_models key: tiny | XS | S | B | L
    steps: int = 200
    batch_size: int = 8  # per process
    lr: float = 3e-4
    weight_decay: float = 0.0
    mode: str = "visibility_aware"  # | "naive" | "drop_partial" (flow.py)
    ema_decay: float = 0.999
    grad_clip: float = 1.0  # max gradient norm; 0 = off
    checkpoint_every: int = 100
    seed: int = 0
    precision: str = "auto"  # bf16-mixed on CUDA, 32 on CPU
    accelerator: str = "auto"
    devices: int = 1
    strategy: str = "auto"  # DDP: devices=2, strategy="ddp" (gloo on CPU)
    num_nodes: int = 1  # machines, each running `devices` processes (torchrun / SLURM; README "Scaling out")
    flow: dict = field(default_factory=dict)  # FlowConfig fields
    image_cond_prob: float = 0.5  # share of samples conditioned on a random part of their own observed tokens
    threads: int = 0  # torch intra-op threads (0: leave as is; 1 is fastest on a shared CPU)
    model_kwargs: dict = field(default_factory=dict)  # GenLCADiT arguments, e.g. {"patch_size": 4}
    log_every: int = 10  # steps between logged metrics

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.model not in GenLCA_models:
            raise ValueError(f"model must be one of {list(GenLCA_models)}, got {self.model!r}")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be >= 1")
        if self.num_nodes < 1:
            raise ValueError(f"num_nodes must be >= 1, got {self.num_nodes}")
        FlowConfig(**self.flow)  # unknown flow fields fail here, not mid-run


def config_hash(cfg: TrainConfig, exclude: tuple[str, ...] = NOT_HASHED) -> str:
    """16 hex digits naming what the config computes."""
    d = {k: v for k, v in asdict(cfg).items() if k not in exclude}
    if d.get("num_nodes") == 1:  # added later: single-machine configs keep the hash they always had
        del d["num_nodes"]
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _resume_key(cfg: TrainConfig, dataset: TokenMapsDataset, text: bool) -> str:
    """What must match for a run to continue another: the config except its length, the data, text or not."""
    return f"{config_hash(cfg, NOT_HASHED + ('steps',))}:{dataset.version}:{len(dataset)}:{'text' if text else '-'}"


#################################################################################
#                                      Data                                     #
#################################################################################

class StepBatchSampler(Sampler):
    """Endless batches; the batch of step k depends only on (seed, k): the data is walked in seeded
    permutations, step k takes the next batch_size * world indices and rank r every world-th of them.
    `start` (a resumed run's step) skips to where an uninterrupted run would be."""

    def __init__(self, n: int, batch_size: int, seed: int = 0, rank: int = 0, world: int = 1, start: int = 0):
        self.n, self.batch_size, self.seed, self.rank, self.world, self.start = n, batch_size, seed, rank, world, start
        self._perms: dict[int, Tensor] = {}

    def _index(self, i: int) -> int:
        epoch, pos = divmod(i, self.n)
        if epoch not in self._perms:
            if len(self._perms) > 8:  # a batch may span several epochs of a tiny data set: keep a few
                self._perms.pop(min(self._perms))
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perms[epoch] = torch.randperm(self.n, generator=gen)
        return int(self._perms[epoch][pos])

    def batch(self, step: int) -> list[int]:
        first = step * self.batch_size * self.world
        return [self._index(first + j * self.world + self.rank) for j in range(self.batch_size)]

    def __iter__(self):
        step = self.start
        while True:
            yield self.batch(step)
            step += 1


def _step_generator(seed: int, step: int, rank: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 64 + rank)


#################################################################################
#                               Lightning module                                #
#################################################################################

def _lightning_module(model: GenLCADiT, cfg: TrainConfig, dataset: TokenMapsDataset, text=None,
                      caption_rows: Tensor | None = None, run_id: str = ""):
    import lightning as L

    class GenLCAFlowModule(L.LightningModule):
        """The model, its EMA copy, AdamW and one flow-matching loss per step."""

        def __init__(self):
            super().__init__()
            self.model = model
            self.ema = copy.deepcopy(model).requires_grad_(False).eval()
            self.flow_cfg = FlowConfig(**cfg.flow)
            self.text, self.caption_rows = text, caption_rows  # encoded once per dataset
            self.losses: list[float] = []  # per step (rank 0's batch), kept in the checkpoint
            self.run_id = run_id
            self.resumed_from: int | None = None

        def configure_optimizers(self):
            return torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

        def train_dataloader(self):
            # Built after a resumed run's loop counters are restored: global_step is where to go on from.
            sampler = StepBatchSampler(len(dataset), cfg.batch_size, cfg.seed, self.global_rank,
                                            self.trainer.world_size, start=self.global_step)
            return DataLoader(dataset, batch_sampler=sampler, num_workers=0)

        def training_step(self, batch: dict, batch_idx: int) -> Tensor:
            g = _step_generator(cfg.seed, self.global_step, self.global_rank)
            cond = partial_condition(batch["cond_maps"], batch["cond_visibility"], dataset.regions,
                                     cfg.image_cond_prob, generator=g)
            flow_batch = {"maps": batch["maps"], "shape": batch["shape"], "valid": batch["valid"], "cond": cond}
            if self.text is not None:
                flow_batch["text"] = self.text.select(self.caption_rows[batch["index"].cpu()]).to(self.device)
            out = training_loss(self.model, flow_batch, cfg.mode, self.flow_cfg, generator=g)
            self.log("loss", out.loss.detach(), prog_bar=True)
            self.log_dict({"loss_maps": out.maps, "loss_shape": out.shape, "texel_share": out.texel_share})
            self.losses.append(float(out.loss.detach()))
            return out.loss

        def optimizer_step(self, *args, **kwargs):
            super().optimizer_step(*args, **kwargs)
            # Here, not in on_train_batch_end: callbacks (ModelCheckpoint) run before that hook, and a checkpoint
            # must hold the EMA of the step it is saved at.
            self._update_ema(self.global_step + 1)  # the counter moves on after this hook

        @torch.no_grad()
        def _update_ema(self, n: int) -> None:
            decay = min(cfg.ema_decay, (1 + n) / (10 + n))
            for e, p in zip(self.ema.parameters(), self.model.parameters()):
                e.lerp_(p.detach(), 1 - decay)

        def on_save_checkpoint(self, checkpoint: dict) -> None:
            checkpoint["genlca"] = {"losses": list(self.losses), "run_id": self.run_id}

        def on_load_checkpoint(self, checkpoint: dict) -> None:
            saved = checkpoint.get("genlca", {})
            self.losses = list(saved.get("losses", []))
            self.run_id = saved.get("run_id", self.run_id)
            self.resumed_from = int(checkpoint["global_step"])

    return GenLCAFlowModule()


def _step_progress_bar():
    from lightning.pytorch.callbacks import TQDMProgressBar

    class StepProgressBar(TQDMProgressBar):
        """Steps of the whole run, a resumed one included (the data loader is endless: epochs mean nothing)."""

        def on_train_epoch_start(self, trainer, *_):
            bar = self.train_progress_bar
            bar.reset(total=trainer.max_steps)
            bar.initial = bar.n = trainer.global_step  # a resumed run starts part-way (and its rate stays right)
            self.train_progress_bar.set_description("training")

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            step = trainer.global_step
            if self._should_update(step, trainer.max_steps):
                self.train_progress_bar.n = step
                self.train_progress_bar.set_postfix(self.get_metrics(trainer, pl_module))

        def get_metrics(self, trainer, pl_module):
            items = super().get_metrics(trainer, pl_module)
            items.pop("v_num", None)
            return items

    return StepProgressBar()


def _strategy(cfg: TrainConfig):
    if cfg.strategy in ("ddp", "ddp_spawn", "ddp_fork"):
        from lightning.pytorch.strategies import DDPStrategy

        start = {"ddp": "popen", "ddp_spawn": "spawn", "ddp_fork": "fork"}[cfg.strategy]
        return DDPStrategy(find_unused_parameters=True, start_method=start)
    return cfg.strategy


def _precision(cfg: TrainConfig) -> str:
    if cfg.precision != "auto":
        return cfg.precision
    cuda = cfg.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    return "bf16-mixed" if cuda else "32-true"


def _quiet_lightning() -> None:
    """Lightning's notes about CPU runs without workers or GPUs are expected here."""
    import logging

    for pattern in (".*does not have many workers.*", ".*GPU available but not used.*",
                    ".*is smaller than the logging interval.*", ".*Checkpoint directory .* exists and is not empty.*",
                    ".*module\\(s\\) in eval mode.*", ".*LeafSpec.*"):
        warnings.filterwarnings("ignore", message=pattern)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    logging.getLogger("lightning.pytorch.accelerators.cuda").setLevel(logging.WARNING)


#################################################################################
#                                    Training                                   #
#################################################################################

def build_model(cfg: TrainConfig, dataset: TokenMapsDataset) -> GenLCADiT:
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
        torch.manual_seed(cfg.seed)
        return GenLCA_models[cfg.model](input_size=dataset.resolution, shape_dim=dataset.shape_dim,
                                        chart=dataset.chart, **cfg.model_kwargs)


def _encode_captions(dataset: TokenMapsDataset, text_encoder) -> tuple[object, Tensor]:
    """Each distinct caption encoded once (the encoder caches on disk too); rows: caption index per sample."""
    unique = sorted(set(dataset.captions))
    row = {c: i for i, c in enumerate(unique)}
    return text_encoder.encode(unique), torch.tensor([row[c] for c in dataset.captions])


def run_state(out_dir: str | os.PathLike) -> dict | None:
    """checkpoints/run.json when a Lightning checkpoint is there to continue from, else None."""
    ckpt_dir = Path(out_dir) / CKPT_DIR
    if not (ckpt_dir / LAST_CKPT).is_file() or not (ckpt_dir / RUN_FILE).is_file():
        return None
    return json.loads((ckpt_dir / RUN_FILE).read_text())


def train_diffusion(dataset: TokenMapsDataset, out_dir: str | os.PathLike, cfg: TrainConfig, text_encoder=None,
                    lineage: dict | None = None, progress: bool = True, resume: bool = True,
                    callbacks: list | None = None) -> dict:
    """Train (or continue, see the module docstring) and export OUT_DIR. text_encoder: a TextEncoder, or None
    for no text conditioning. lineage: recorded as is in checkpoint.json. resume=False starts over.
    callbacks: extra Lightning callbacks. Returns metrics incl. 'checkpoint' (checkpoint.json's path).
    One training run per OUT_DIR at a time (`genlca.locks`; DDP's other ranks do not take the lock)."""
    import contextlib

    from lightning.pytorch.utilities import rank_zero_only

    from genlca.locks import folder_lock

    # The global first process only (rank_zero_only reads LOCAL_RANK under Lightning's multi-node launcher).
    first = rank_zero_only.rank == 0 and os.environ.get("NODE_RANK", "0") == "0"
    with folder_lock(out_dir) if first else contextlib.nullcontext():
        return _train_diffusion(dataset, out_dir, cfg, text_encoder, lineage, progress, resume, callbacks)


def _train_diffusion(dataset: TokenMapsDataset, out_dir: str | os.PathLike, cfg: TrainConfig, text_encoder,
                     lineage: dict | None, progress: bool, resume: bool, callbacks: list | None) -> dict:
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger
    from lightning.pytorch.utilities import rank_zero_only

    from genlca.diffusion.checkpoint_io import AtomicCheckpointIO
    from genlca.io_utils import write_text_atomic
    from genlca.threads import torch_threads

    out_dir = Path(out_dir)
    ckpt_dir = out_dir / CKPT_DIR
    key = _resume_key(cfg, dataset, text_encoder is not None)
    state = run_state(out_dir) if resume else None
    if state is not None and state.get("key") != key:
        raise ValueError(f"{ckpt_dir / LAST_CKPT} is from another config or data set ({state.get('key')} != {key}): "
                         "train into a new folder, or start over (resume=False / --fresh)")
    # DDP's other processes run this script again: only the first one touches the folder.
    if state is None and ckpt_dir.exists() and rank_zero_only.rank == 0:
        shutil.rmtree(ckpt_dir)  # an unwanted earlier state: start over
    run_id = state["run_id"] if state else uuid.uuid4().hex[:12]

    t0 = time.time()
    with torch_threads(cfg.threads or None), warnings.catch_warnings():
        _quiet_lightning()
        model = build_model(cfg, dataset)
        text, rows = _encode_captions(dataset, text_encoder) if text_encoder is not None else (None, None)
        module = _lightning_module(model, cfg, dataset, text, rows, run_id)
        checkpointing = ModelCheckpoint(dirpath=ckpt_dir, every_n_train_steps=max(1, cfg.checkpoint_every),
                                        save_top_k=0, save_last=True)
        trainer = L.Trainer(
            max_steps=cfg.steps, max_epochs=-1, accelerator=cfg.accelerator, devices=cfg.devices,
            num_nodes=cfg.num_nodes, strategy=_strategy(cfg), precision=_precision(cfg),
            gradient_clip_val=cfg.grad_clip or None,
            plugins=[AtomicCheckpointIO()],  # a kill never leaves a half-written last.ckpt
            callbacks=[checkpointing, *([_step_progress_bar()] if progress else []), *(callbacks or [])],
            logger=CSVLogger(out_dir, name="logs"),
            log_every_n_steps=max(1, min(cfg.log_every, cfg.steps)), enable_progress_bar=progress,
            enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
            use_distributed_sampler=False, default_root_dir=out_dir,
        )
        if trainer.is_global_zero:
            ckpt_dir.mkdir(parents=True, exist_ok=True)
            write_text_atomic(ckpt_dir / RUN_FILE, json.dumps({"run_id": run_id, "key": key,
                                                               "config": asdict(cfg)}, indent=1) + "\n")
        trainer.fit(module, ckpt_path=str(ckpt_dir / LAST_CKPT) if state is not None else None,
                    weights_only=True)  # our own checkpoint, loaded as tensors and plain types only
        # The final state too: a longer run can continue it.
        trainer.save_checkpoint(ckpt_dir / LAST_CKPT, weights_only=False)
    seconds = time.time() - t0

    losses, resumed_from = list(module.losses), module.resumed_from
    k = max(1, min(10, len(losses) // 5))  # a few steps each: single-batch losses are noisy
    steps_now = trainer.global_step - (resumed_from or 0)
    metrics = {
        "steps": int(trainer.global_step), "resumed_from": resumed_from, "run_id": run_id,
        "loss_first": sum(losses[:k]) / k if losses else float("nan"),
        "loss_last": sum(losses[-k:]) / k if losses else float("nan"),
        "seconds": round(seconds, 2),
        "samples_per_s": round(steps_now * cfg.batch_size * trainer.world_size / max(seconds, 1e-9), 2),
        "losses": losses, "checkpoint": str(out_dir / META_FILE),
    }
    if trainer.is_global_zero:
        export(module.ema, dataset.normalizer, out_dir, cfg, dataset, metrics, lineage or {},
               text_model=getattr(text_encoder, "model_id", None))
    return metrics


def export(ema: GenLCADiT, normalizer: Normalizer, out_dir: Path, cfg: TrainConfig, dataset: TokenMapsDataset,
           metrics: dict, lineage: dict, text_model: str | None = None) -> Path:
    """model.safetensors (EMA weights), normalizer.safetensors, then checkpoint.json (last: its presence
    means the other two are complete)."""
    from genlca.io_utils import atomic_path, save_tensors

    state = {k: v.detach().float().cpu() if v.is_floating_point() else v.detach().cpu()
             for k, v in ema.state_dict().items()}
    save_tensors(out_dir / WEIGHTS_FILE, state, {"kind": "genlca_weights"})
    save_tensors(out_dir / NORMALIZER_FILE, normalizer.state(), {"kind": "token_normalizer"})
    meta = {
        "format_version": FORMAT_VERSION, "kind": "genlca_checkpoint",
        "model": ema.config, "train": asdict(cfg), "config_hash": config_hash(cfg),
        "weights": WEIGHTS_FILE, "normalizer": NORMALIZER_FILE, "weights_sha256": sha256_file(out_dir / WEIGHTS_FILE),
        "body_model": dataset.body_model, "resolution": dataset.resolution, "shape_dim": dataset.shape_dim,
        "text_model": text_model,  # None: trained without text conditioning
        "dataset": {"version": dataset.version, "samples": len(dataset)},
        "cond_visibility": dataset.cond_visibility_kind, "tokenizers": dataset.tokenizers,
        "step": metrics["steps"], "run_id": metrics["run_id"], "lineage": lineage, "metrics": metrics,
    }
    with atomic_path(out_dir / META_FILE) as tmp:
        tmp.write_text(json.dumps(meta, indent=1, default=str) + "\n")
    return out_dir / META_FILE


def checkpoint_dir(path: str | os.PathLike) -> Path:
    """The folder of a checkpoint given as the folder, its checkpoint.json or its model.safetensors."""
    path = Path(path)
    return path if path.is_dir() else path.parent


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu"
                    ) -> tuple[GenLCADiT, Normalizer, dict]:
    """(EMA model in eval mode, normalizer, checkpoint.json) of an exported checkpoint."""
    from genlca.safe_files import load_tensors as load_file  # refuses pickles, naming the file

    folder = checkpoint_dir(path)
    meta_file = folder / META_FILE
    if not meta_file.is_file():
        raise FileNotFoundError(f"{folder}: no {META_FILE} (not a trained GenLCA checkpoint)")
    try:
        meta = json.loads(meta_file.read_text())
        model = model_from_config(meta["model"])
    except (ValueError, TypeError, KeyError) as e:  # bad JSON, unknown or missing model keys
        raise ValueError(f"{meta_file}: not a usable GenLCA checkpoint description ({type(e).__name__}: {e})") from e
    files = {}
    for key, default in (("weights", WEIGHTS_FILE), ("normalizer", NORMALIZER_FILE)):
        name = meta.get(key, default)
        if not isinstance(name, str) or Path(name).name != name or name.startswith("."):  # stays in the folder
            raise ValueError(f"{meta_file}: {key!r} must name a file inside the checkpoint folder, not {name!r}")
        files[key] = folder / name
    model.load_state_dict(load_file(str(files["weights"])))
    stats = load_file(str(files["normalizer"]))
    return model.to(device).eval(), Normalizer.from_stats(stats["mean"], stats["std"]), meta


def to_avatar_tokens(maps: Tensor, shape: Tensor, model: GenLCADiT, normalizer: Normalizer, body_model: str,
                     meta: dict | None = None) -> list:
    """Samples in normalized space (N, 14, R, R) -> AvatarTokens files `genlca render` shows: denormalized,
    quaternions unit length, opacity and colour in [0, 1], zero outside the chart, visibility and count 1 on it
    (a generated avatar has no unseen parts)."""
    from genlca.avatar import CHANNELS
    from genlca.tokenizer.tokens import AvatarTokens

    chart = model.chart.cpu()
    x = normalizer.denormalize(maps.detach().float().cpu())
    x[:, CHANNELS["rotation"]] = torch.nn.functional.normalize(x[:, CHANNELS["rotation"]], dim=1)
    for name in ("opacity", "rgb"):
        x[:, CHANNELS[name]] = x[:, CHANNELS[name]].clamp(0, 1)
    x = x * chart
    return [AvatarTokens(maps=m, visibility=chart.float(), count=chart.to(torch.int32), shape=s.detach().float().cpu(),
                         body_model=body_model, meta=dict(meta or {})) for m, s in zip(x, shape)]


@torch.no_grad()
#################################################################################
#                                    Lineage                                    #
#################################################################################

def git_commit(cwd: str | os.PathLike | None = None) -> str:
    """HEAD's commit (with '+dirty' when tracked files changed), or 'unknown' outside git."""
    try:
        run = lambda *a: subprocess.run(["git", *a], cwd=cwd, capture_output=True, text=True, timeout=20)
        head = run("rev-parse", "HEAD")
        if head.returncode != 0:
            return "unknown"
        dirty = run("status", "--porcelain", "--untracked-files=no").stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def archive_parent(out_dir: str | os.PathLike) -> dict | None:
    """Copy the checkpoint.json of OUT_DIR's previous export into OUT_DIR/history/<weights hash>.json (so
    lineage chains after the folder is overwritten); returns {'id', 'path', 'step', 'dataset', 'config_hash'}."""
    out_dir = Path(out_dir)
    meta_file = out_dir / META_FILE
    if not meta_file.is_file():
        return None
    meta = json.loads(meta_file.read_text())
    ident = str(meta.get("weights_sha256", ""))[:16] or meta.get("run_id", "unknown")
    kept = out_dir / "history" / f"{ident}.json"
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(meta_file, kept)
    return {"id": ident, "path": str(kept), "step": meta.get("step"), "run_id": meta.get("run_id"),
            "dataset": meta.get("dataset", {}).get("version"), "config_hash": meta.get("config_hash")}


def can_resume(out_dir: str | os.PathLike, cfg: TrainConfig, dataset: TokenMapsDataset, text: bool = True) -> bool:
    """OUT_DIR holds an unfinished run (a kill) of this config on this data: continue it rather than start over."""
    state = run_state(out_dir)
    return state is not None and state.get("key") == _resume_key(cfg, dataset, text) and not finished(out_dir)


def finished(out_dir: str | os.PathLike) -> bool:
    """True when checkpoints/last.ckpt belongs to the run exported in checkpoint.json (nothing left to resume)."""
    state = run_state(out_dir)
    meta_file = Path(out_dir) / META_FILE
    if state is None or not meta_file.is_file():
        return False
    return json.loads(meta_file.read_text()).get("run_id") == state.get("run_id")


__all__ = ["StepBatchSampler", "TrainConfig", "archive_parent", "build_model", "can_resume", "config_hash", "export",
           "finished", "git_commit", "load_checkpoint", "run_state", "to_avatar_tokens",
           "train_diffusion"]
