"""`make demo`: the embedded default end to end through Dagster, recorded in $DAGSTER_HOME so
`make ui` shows the runs: synthesize the default drop (params.yaml `synth:`) if it is not
there, register it as a partition, train the tokenizer (on synthetic drops of its own),
materialize everything per drop, build the token dataset, train the GenLCA diffusion model on it,
then the avatar showcase: the template, and an avatar generated, edited and animated."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import dagster as dg

from assets.partitions import drops_partitions
from genlca.params import stage_params
from orchestration.definitions import DATA, defs


def _run(job_name: str, instance: dg.DagsterInstance, partition_key: str | None = None) -> bool:
    result = defs.resolve_job_def(job_name).execute_in_process(instance=instance, partition_key=partition_key,
                                                               raise_on_error=False)
    status = "succeeded" if result.success else "FAILED"
    print(f"run {result.run_id} of job '{job_name}'{f' [{partition_key}]' if partition_key else ''}: {status}")
    return result.success


def main() -> int:
    from genlca.data.synth import generate_drop

    t0 = time.time()
    synth = stage_params("synth")
    drops_root = Path(os.environ.get("GENLCA_DROPS", f"{DATA}/drops"))
    # The synth parameters of params.yaml, in a drop of its own: `data/drops/<synth.drop>` is
    # the `dvc repro` stage's output, while demo drops are tracked with `dvc add` like user drops.
    drop_dir = drops_root / "demo"
    if not (drop_dir / "_READY").exists():
        print(f"synthesizing drop {drop_dir} ({synth['videos']} videos, regime {synth['regime']}) ...")
        generate_drop(drop_dir, videos=synth["videos"], frames=synth["frames"], size=synth["size"],
                      regime=synth["regime"], seed=synth["seed"], progress=True)
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    with instance:
        if not instance.has_dynamic_partition(drops_partitions.name, drop_dir.name):
            instance.add_dynamic_partitions(drops_partitions.name, [drop_dir.name])
        ok = (_run("train_tokenizer", instance) and _run("ingest_drop", instance, drop_dir.name)
              and _run("build_token_dataset", instance) and _run("train_genlca", instance) and _run("demo", instance))
    root = Path(DATA).resolve()
    if not ok:
        print("demo FAILED; see the log above or `make ui`", file=sys.stderr)
        return 1
    print(f"\ndemo finished in {time.time() - t0:.0f} s. Results under {root}:")
    summarized = {"drops": f"drops/{drop_dir.name}/  (videos + ground truth of the synthetic drop)",
                  "tokenizer/synthetic": "tokenizer/synthetic/  (the tokenizer's synthetic train and val drops)",
                  "models/genlca": "models/genlca/  (GenLCA checkpoint: model.safetensors, checkpoint.json, "
                                   "loss_curve.png, sample.png, checkpoints/, logs/; export/: the ONNX sampler "
                                   "and its parity report)",
                  "models/production": "models/production/  (the promoted checkpoint, with its export and "
                                       "evaluation.json)",
                  "reports/genlca": "reports/genlca/  (evaluation report: report.html, samples.png, regions.png, "
                                    "reconstruction.png, lineage.html)",
                  "monitoring": "monitoring/  (per drop: evidently drift reports, summary.json)"}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not p.name.startswith(".") and not any(rel.startswith(f"{s}/") for s in summarized):
            print(f"  {rel}  ({p.stat().st_size / 1e6:.2f} MB)")
    for line in summarized.values():
        print(f"  {line}")
    print(f"Tokenizer model: {root / 'tokenizer' / 'model'}; tokens: {root / 'tokens' / drop_dir.name}; "
          f"token dataset: {root / 'token_dataset'}")
    print(f"GenLCA checkpoint: {root / 'models' / 'genlca'}")
    gen = root / "avatars" / "generated"
    print(f"Generated avatar: {gen / 'avatar.ply'} (views: {gen / 'avatar.png'})\n"
          f"Edited avatar:    {gen / 'edited.ply'} (before | after: {gen / 'edit.png'})\n"
          f"Animation:        {gen / 'walk.mp4'}\n"
          f"Try: genlca generate --text \"a man in a blue t-shirt and grey shorts\" --out me.ply --grid me.png")
    print("Browse the runs, assets and checks: make ui  (http://127.0.0.1:3000)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
