"""Kill-anywhere recovery: each stage is SIGKILLed at its publish points and at a random moment, then run again.

The re-run must finish; what it leaves must equal an uninterrupted run's output (training: resume at the step of
its last whole checkpoint and end at the same weights); no temporary may be left or taken as finished; per-video
work finished before the kill is reused, not redone. Ingest runs by default; the other stages are slow.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from tests.reliability.harness import compare, fingerprint, leftovers, run_genlca

ROOT = Path(__file__).resolve().parents[2]
VOLATILE = ("seconds", "reused", "samples_per_s", "run_id", "resumed_from", "created", "wall_s", "elapsed_s",
            "timings", "time_s", "started", "finished", "checkpoint")  # checkpoint: the out folder's own path


@pytest.fixture(scope="module")
def drop(tmp_path_factory) -> Path:
    from genlca.data.synth import generate_drop

    out = tmp_path_factory.mktemp("kill") / "drop"
    generate_drop(out, videos=3, frames=8, size=160, regime="full", seed=1, resolution=32)
    return out


def _fresh(*paths: Path) -> None:
    for p in paths:
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def kill_and_recover(figures, stage: str, args: list[str], out: Path, reference: dict, kills: list, *,
                     skip: tuple = (), per_video: str | None = None, partial_ok=None) -> list:
    """For each kill (a GENLCA_FAULT spec or seconds after start): start from an empty OUT, kill, check what is
    there, run again and compare with REFERENCE. PER_VIDEO: glob of per-video artifacts whose reuse is checked.
    PARTIAL_OK(out) -> number of corrupted files among those the killed run left (default: each published file
    equals the reference's)."""
    reruns = []
    for kill in kills:
        _fresh(out)
        fault, after = (kill, None) if isinstance(kill, str) else (None, kill)
        r = run_genlca(args, fault=fault, kill_after_s=after)
        if after is not None and not r.killed:
            continue  # a noisy machine finished before the timer: no fault was injected
        assert r.killed, f"{stage}: {kill} did not kill the run (rc {r.returncode}):\n{r.output[-2000:]}"
        # Between the kill and the re-run: whatever is published must be whole.
        if partial_ok is not None:
            bad_partial = partial_ok(out)
        else:
            now = fingerprint(out, skip, VOLATILE) if out.exists() else {}
            bad_partial = sum(1 for k, v in now.items() if k in reference and v != reference[k])
        before = {p.name: _stamp(p) for p in out.glob(per_video)} if per_video and out.is_dir() else {}
        rr = run_genlca(args)
        assert rr.returncode == 0, f"{stage}: the re-run after {kill} failed:\n{rr.output[-3000:]}"
        lost, corrupted = compare(reference, fingerprint(out, skip, VOLATILE))
        temps = leftovers(out)
        figures.record(stage, 1, rr.returncode == 0, len(lost), len(corrupted) + bad_partial + len(temps))
        assert not temps, f"{stage}: temporaries left after {kill}: {temps}"
        assert (lost, corrupted, bad_partial) == ([], [], 0), f"{stage}: after {kill}: lost {lost}, differ {corrupted}"
        # Per-video work finished before the kill: still the same file (inode and mtime), so it was not redone.
        kept = sorted(n for n, st in before.items() if (out / n).exists() and _stamp(out / n) == st)
        assert kept == sorted(before), f"{stage}: after {kill} the re-run redid {sorted(set(before) - set(kept))}"
        reruns.append((sorted(before), rr))
    return reruns


def _stamp(p: Path) -> tuple[int, int]:
    st = p.stat()
    return st.st_ino, st.st_mtime_ns


def test_ingest_survives_kills(drop, tmp_path, figures):
    out = tmp_path / "manifest.parquet"
    ref = run_genlca(["ingest", str(drop), "--out", str(out)])
    assert ref.returncode == 0, ref.output
    reference = fingerprint(out)
    kills = ["before_publish:1", "after_publish:1", round(ref.seconds * random.uniform(0.3, 0.7), 2)]
    kill_and_recover(figures, "ingest", ["ingest", str(drop), "--out", str(out)], out, reference, kills)


@pytest.fixture(scope="module")
def fits_reference(drop, tmp_path_factory) -> tuple[Path, dict, float]:
    out = tmp_path_factory.mktemp("fitref") / "fits"
    ref = run_genlca(["fit", str(drop), "--out", str(out), "--max-frames", "8"])
    assert ref.returncode == 0, ref.output
    return out, fingerprint(out, volatile=VOLATILE), ref.seconds


@pytest.mark.slow
def test_fit_survives_kills_and_keeps_finished_videos(drop, fits_reference, tmp_path, figures):
    ref_dir, reference, seconds = fits_reference
    out = tmp_path / "fits"
    args = ["fit", str(drop), "--out", str(out), "--max-frames", "8"]
    kills = ["before_publish:2:vid_*", "after_publish:1:vid_*", "before_publish:1:quality.parquet",
             round(seconds * random.uniform(0.4, 0.8), 2)]
    reruns = kill_and_recover(figures, "fit", args, out, reference, kills, per_video="vid_*.safetensors")
    # Fits finished before the kill (one, one, then all three: killed at quality.parquet) were kept as they were.
    assert [len(done) for done, _ in reruns[:3]] == [1, 1, 3]
    assert sum(v["reused"] for v in json.loads((out / "videos.json").read_text())) == len(reruns[-1][0])


@pytest.mark.slow
def test_tokenize_survives_kills_and_keeps_finished_videos(drop, fits_reference, tmp_path, figures):
    fits, _, _ = fits_reference
    out = tmp_path / "tokens"
    args = ["tokenize", str(drop), "--fits", str(fits), "--out", str(out), "--resolution", "32"]
    ref = run_genlca(args)
    assert ref.returncode == 0, ref.output
    reference = fingerprint(out)
    _fresh(out)
    kills = ["before_publish:2:vid_*", "after_publish:2:vid_*", round(ref.seconds * random.uniform(0.5, 0.9), 2)]
    reruns = kill_and_recover(figures, "tokenize", args, out, reference, kills, per_video="vid_*.safetensors")
    assert [len(d) for d, _ in reruns[:2]] == [1, 2]


@pytest.fixture(scope="module")
def token_dataset(tmp_path_factory) -> Path:
    from tests.token_fixtures import random_token_dataset

    return random_token_dataset(tmp_path_factory.mktemp("ds"), videos=6)


TRAIN = ["--model", "tiny", "--steps", "6", "--checkpoint-every", "2", "--batch-size", "2", "--threads", "1",
         "--no-text"]
TRAIN_SKIP = ("logs", "checkpoints", "history")


@pytest.fixture(scope="module")
def checkpoint(token_dataset, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("ckref") / "ckpt"
    ref = run_genlca(["train", str(token_dataset), "--out", str(out), *TRAIN])
    assert ref.returncode == 0, ref.output
    return out, fingerprint(out, TRAIN_SKIP, VOLATILE)


def _checkpoint_whole(out: Path) -> int:
    """Training's published files while it runs: a last.ckpt that loads, nothing else half-written."""
    import torch

    ckpt = out / "checkpoints" / "last.ckpt"
    if not ckpt.exists():
        return 0
    try:
        torch.load(ckpt, map_location="cpu", weights_only=True)
        return 0
    except Exception:
        return 1


@pytest.mark.slow
def test_train_resumes_at_its_last_whole_checkpoint(token_dataset, checkpoint, tmp_path, figures):
    _, reference = checkpoint
    out = tmp_path / "ckpt"
    args = ["train", str(token_dataset), "--out", str(out), *TRAIN]
    # Killed while writing the step-4 checkpoint: the step-2 one is whole, and the re-run resumes there.
    reruns = kill_and_recover(figures, "train", args, out, reference, ["before_publish:2:last.ckpt"],
                              skip=TRAIN_SKIP, partial_ok=_checkpoint_whole)
    assert "resumed at step 2" in reruns[0][1].output
    # Killed after the step-4 checkpoint was published: resumes at 4.
    reruns = kill_and_recover(figures, "train", args, out, reference, ["after_publish:2:last.ckpt"],
                              skip=TRAIN_SKIP, partial_ok=_checkpoint_whole)
    assert "resumed at step 4" in reruns[0][1].output


@pytest.mark.slow
def test_export_survives_kills(checkpoint, tmp_path, figures):
    ckpt, _ = checkpoint
    out = tmp_path / "export"
    args = ["export", "--checkpoint", str(ckpt), "--out", str(out)]
    ref = run_genlca(args)
    assert ref.returncode == 0, ref.output
    reference = fingerprint(out, volatile=VOLATILE)
    _fresh(out)
    kill_and_recover(figures, "export", args, out, reference,
                     ["before_publish:1", round(ref.seconds * random.uniform(0.5, 0.9), 2)])


@pytest.mark.slow
def test_evaluation_report_survives_kills(checkpoint, token_dataset, tmp_path, figures):
    ckpt, _ = checkpoint
    out = tmp_path / "report"
    args = ["evaluate", "report", "--checkpoint", str(ckpt), "--dataset", str(token_dataset), "--out", str(out),
            "--samples", "2", "--steps", "2", "--size", "64"]
    ref = run_genlca(args)
    assert ref.returncode == 0, ref.output
    reference = fingerprint(out, volatile=VOLATILE)
    _fresh(out)
    kill_and_recover(figures, "evaluate", args, out, reference,
                     ["before_publish:1", "after_publish:2", round(ref.seconds * random.uniform(0.5, 0.9), 2)])
